"""LUT networks in files (format version 2): round trip, validation on load (ranges, bounds, structure),
and one-line errors from the importers and the CLI for malformed published folders."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SHARED, needs_shared
from netgen import random_network

import lutsr
from lutsr.cli import main
from lutsr.errors import LutFormatError
from lutsr.lut.file import load_lut, network_lut, save_lut
from lutsr.net.graph import Network


def _net(seed=0, scale=2):
    return random_network(np.random.default_rng(seed), scale)


def test_round_trip_is_exact(tmp_path):
    net = _net()
    path = tmp_path / "n.lut"
    lut = network_lut("shiftlut", net, source={"test": True})
    save_lut(path, lut.header, lut.tables)
    back = load_lut(path)
    assert back.is_network and back.scale == 2 and back.interval is None
    assert back.header["format_version"] == 2
    img = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(lutsr.upscale(img, back), lutsr.upscale(img, lut))
    assert str(back).startswith("shiftlut x2 LUT network")


def _saved(tmp_path, net, mutate=None):
    lut = network_lut("tinylut", net)
    header = copy.deepcopy(lut.header)
    tables = [np.array(t) for t in lut.tables]
    if mutate:
        mutate(header, dict(zip([t["name"] for t in header["tables"]], tables)))
    path = tmp_path / "bad.lut"
    # write without validating the network (save_lut checks the header fields only)
    save_lut(path, header, tables)
    return path


def _first(ops, kind):
    for op in ops:
        if op["op"] == kind:
            return op
        if op["op"] == "ensemble":
            hit = _first(op["body"], kind)
            if hit:
                return hit
    return None


@pytest.mark.parametrize("case,msg", [
    ("term_out_of_table", "reads element"),
    ("unknown_op", "unknown op"),
    ("missing_plane", "no earlier op writes"),
    ("no_output_clamp", "outside 0..255"),
    ("nested_ensemble", "cannot hold another ensemble"),
    ("bad_rounding", "rounding"),
    ("remap_out_of_range", "fall outside the table"),
    ("low_lo", "starts its table"),
])
def test_load_refuses_invalid_networks(tmp_path, case, msg):
    def mutate(header, tables):
        ops = header["network"]["ops"]
        lut_op = _first(ops, "lut")
        if case == "term_out_of_table":
            tables[lut_op["terms"]][0, 1] = tables[lut_op["table"]].size  # offset past the end
        elif case == "unknown_op":
            ops.insert(0, {"op": "conv2d", "out": "y", "src": "x"})
        elif case == "missing_plane":
            ops[0]["src"] = "nowhere"
        elif case == "no_output_clamp":
            out = _first(ops, "output")
            out["src"] = next(o["out"] for o in ops if o["op"] == "ensemble")  # the raw sum, up to 4 x 127
        elif case == "nested_ensemble":
            ens = _first(ops, "ensemble")
            ens["body"].insert(0, copy.deepcopy(ens))
        elif case == "bad_rounding":
            lut_op["rounding"] = "stochastic"
        elif case == "remap_out_of_range":
            _first(ops, "remap")["lo"] = -20
        elif case == "low_lo":
            tables[lut_op["terms"]][:, 4] = -10  # tables start above the inputs' range (-32)

    path = _saved(tmp_path, _net(3), mutate)
    with pytest.raises(LutFormatError, match=msg) as e:
        load_lut(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_validate_tracks_per_channel_ranges():
    net = _net(4)
    net.validate()
    ens = _first(net.ops, "ensemble")
    info = net.plane_info(ens)
    assert info.lo.min() >= -4 * 128 and info.hi.max() <= 4 * 127
    assert net.halo() >= 1 and net.lookups_per_pixel() > 0 and net.table_bytes() > 0


def test_network_rejects_float_tables():
    net = _net(5)
    name = next(iter(net.tables))
    net.tables[name] = net.tables[name].astype(np.float32)
    with pytest.raises(LutFormatError, match="must be an int8"):
        net.validate()


def test_tampered_network_file_fails_checksum(tmp_path):
    lut = network_lut("shiftlut", _net(6))
    path = tmp_path / "n.lut"
    save_lut(path, lut.header, lut.tables, compress=False)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(LutFormatError, match="checksum"):
        load_lut(path)


def test_lerf_like_header_fields_are_checked(tmp_path):
    lut = network_lut("shiftlut", _net(7))
    h = copy.deepcopy(lut.header)
    h["method"] = "resnet"
    with pytest.raises(LutFormatError, match="method"):
        save_lut(tmp_path / "x.lut", h, lut.tables)
    h = copy.deepcopy(lut.header)
    h["network"]["scale"] = 3
    with pytest.raises(LutFormatError, match="network"):
        save_lut(tmp_path / "x.lut", h, lut.tables)


# ------------------------------------------------------------------------------------ importers and CLI

@needs_shared
@pytest.mark.parametrize("method,folder,scale", [("shiftlut", "ShiftLUT/ShiftLUT_sr_s0_int", 4),
                                                 ("tinylut", "TinyLUT", 4),
                                                 ("hklut", "HKLUT/msb-hdb_lsb-hd_relu_nf64_2x2", 4)])
def test_cli_import_writes_a_network_lut(tmp_path, method, folder, scale):
    out = tmp_path / f"{method}.lut"
    r = CliRunner().invoke(main, ["import", "--method", method, str(SHARED / "luts" / folder), "-o", str(out)])
    assert r.exit_code == 0, r.output
    lut = load_lut(out)
    assert lut.is_network and lut.scale == scale and lut.header["method"] == method
    assert lut.header["source"]["files"]  # sha256 of every published file it came from
    img = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    assert lutsr.upscale(img, lut).shape == (5 * scale, 6 * scale, 3)


@needs_shared
def test_import_errors_are_one_line(tmp_path):
    src = SHARED / "luts" / "ShiftLUT" / "ShiftLUT_sr_s0_int"
    bad = tmp_path / "shift"
    shutil.copytree(src, bad)
    (bad / "PW0_MSB.json").write_text("{not json")
    runner = CliRunner()
    r = runner.invoke(main, ["import", "--method", "shiftlut", str(bad), "-o", str(tmp_path / "o.lut")])
    assert r.exit_code == 2 and "PW0_MSB.json" in r.output and "JSON" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.lut").exists()
    # a table of the wrong length (the interpolation would read past it)
    shutil.rmtree(bad)
    shutil.copytree(src, bad)
    z = dict(np.load(bad / "DW0_MSB.npz"))
    z["i0o0"] = z["i0o0"][:3]  # step 16 over 64 values needs 5
    np.savez(bad / "DW0_MSB.npz", **z)
    r = runner.invoke(main, ["import", "--method", "shiftlut", str(bad), "-o", str(tmp_path / "o.lut")])
    assert r.exit_code == 2 and "table i0o0: 3 entries, expected at least 5" in r.output, r.output
    # TinyLUT: clip scales that do not match the tables' row counts
    tiny = tmp_path / "tiny"
    shutil.copytree(SHARED / "luts" / "TinyLUT", tiny, ignore=shutil.ignore_patterns("reference"))
    s = dict(np.load(tiny / "clip_scales.npz"))
    s["clip_hh1"] = s["clip_hh1"] * 2
    np.savez(tiny / "clip_scales.npz", **s)
    r = runner.invoke(main, ["import", "--method", "tinylut", str(tiny), "-o", str(tmp_path / "o.lut")])
    assert r.exit_code == 2 and "rows, expected" in r.output, r.output
    # a file instead of a folder; HKLUT folder without its tables
    r = runner.invoke(main, ["import", "--method", "hklut", str(tiny / "clip_scales.npz"), "-o", str(tmp_path / "o.lut")])
    assert r.exit_code == 2 and "not a folder" in r.output
    r = runner.invoke(main, ["import", "--method", "hklut", str(tiny), "-o", str(tmp_path / "o.lut")])
    assert r.exit_code == 2 and "S0_MSB_HDB" in r.output


def test_pickled_npz_is_refused(tmp_path):
    from lutsr.lut.frontier import import_tinylut

    d = tmp_path / "t"
    d.mkdir()
    np.save(d / "Model_V_L1_Depth_x4_H6.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(d / "clip_scales.npz", **{k: np.ones((1, 16, 1, 1), np.float32) for k in
                                       ("clip_hh1", "clip_hl1", "clip_hh2", "clip_hl2")})
    with pytest.raises(LutFormatError, match="Model_V_L1_Depth_x4_H6.npy"):
        import_tinylut(d)


def test_builder_output_is_json_clean():
    net = _net(8)
    text = json.dumps(net.to_json())
    again = Network(json.loads(text)["ops"], net.tables, net.scale).validate()
    assert again.halo() == net.halo()


def _tiny_net(taps, rotations=None, scale=1):
    """x -> [ensemble] lut over ``taps`` (direct, 256 levels, identity table on the first tap) -> output."""
    from lutsr.lut.frontier import NetBuilder

    b = NetBuilder()
    ops = [] if rotations else None
    k = len(taps)
    terms = [[0, 0, 1, 0, 0, 1] + [v for dy, dx in taps for v in (0, dy, dx)]]
    levels = 256 if k == 1 else 2
    src = "x" if k == 1 else b.op(ops, "rshift", src="x", bits=7)
    y = b.lut(ops, src, np.arange(levels ** k) % 256 if k == 1 else np.zeros(levels ** k), terms, 1, k=k,
              index="direct", levels=levels)
    if rotations:
        y = b.op(None, "ensemble", src="x", body=ops, body_out=y, rotations=rotations, clamp=[0, 63])
    b.op(None, "output", src=y, out="_")
    return b.network(scale)


def test_receptive_field_and_halo():
    assert _tiny_net([(0, 0)]).receptive_field() == (1, 1, 1)
    assert _tiny_net([(0, 0), (0, 2)]).receptive_field() == (1, 3, 2)
    net = _tiny_net([(0, 0), (0, 1)], rotations=[0, 1, 2, 3])
    assert net.receptive_field() == (3, 3, 5)  # the pixel and its 4 neighbours
    assert net.halo() == 1


def test_info_describes_networks(tmp_path):
    from lutsr.info import lut_info, render

    lut = network_lut("tinylut", _net(9))
    path = tmp_path / "n.lut"
    save_lut(path, lut.header, lut.tables)
    info = lut_info(load_lut(path))
    assert info["method"] == "tinylut" and info["format_version"] == 2 and info["scale"] == 2
    assert info["ops"]["lut"] == 5 and info["ops"]["ensemble"] == 1 and info["rotations"] == 4
    assert info["table_bytes"] > 0 and info["bytes_compiled"] > info["bytes_in_memory"] > 0
    assert info["receptive_field"]["pixels"] > 9 and info["table_reads_per_input_pixel"] > 0
    text = render(info)
    assert "LUT network" in text and "receptive field" in text
    r = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["method"] == "tinylut"


def test_npy_renamed_npz_is_one_line(tmp_path):
    from lutsr.lut.frontier import import_tinylut

    d = tmp_path / "t"
    d.mkdir()
    np.save(d / "x.npy", np.ones((1, 16, 1, 1), np.float32))
    (d / "x.npy").rename(d / "clip_scales.npz")
    with pytest.raises(LutFormatError, match="got a single .npy array"):
        import_tinylut(d)
