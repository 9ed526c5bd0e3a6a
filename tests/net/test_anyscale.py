"""Any-scale LUT networks (LeRF) through the Numba runtime, ``lutsr.upscale(outscale=, size=)``, the CLI
(``--outscale``, ``--size``) and ``lutsr eval``; named errors for LUTs that only do integer scales."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SHARED, adversarial_images
from test_lerf import _tiny

import lutsr
from lutsr.cli import main
from lutsr.errors import LutsrError
from lutsr.lut.file import network_lut, save_lut
from lutsr.net.reference import run_network

LERF = SHARED / "luts" / "LeRF" / "lerf-g"


def _ref(net, img, **kw):
    img3 = img if img.ndim == 3 else img[..., None]
    out = np.stack([run_network(net, img3[..., c], **kw) for c in range(img3.shape[2])], -1)
    return out if img.ndim == 3 else out[..., 0]


@pytest.fixture(scope="module")
def tiny_lut():
    return network_lut("lerf", _tiny().validate())


@pytest.fixture(scope="module")
def lerf_lut():
    if not LERF.is_dir():
        pytest.skip("../shared/data/luts/LeRF is absent")
    from lutsr.lut.importer import import_network

    return import_network("lerf", LERF)


@pytest.mark.parametrize("which", ["tiny", "lerf"])
def test_runtime_equals_reference_at_any_scale(which, request):
    lut = request.getfixturevalue(f"{which}_lut")
    rng = np.random.default_rng(0)
    imgs = adversarial_images(rng)[:8] if which == "tiny" else [rng.integers(0, 256, (7, 9, 3), dtype=np.uint8),
                                                                np.zeros((1, 1), np.uint8)]
    for img in imgs:
        for kw in ({"outscale": 2.5}, {"outscale": 1.0}, {"size": (img.shape[1] * 3 + 1, img.shape[0] * 2)}):
            ref_kw = {"scale": kw["outscale"]} if "outscale" in kw else {"out_shape": (kw["size"][1], kw["size"][0])}
            for threads in (1, 2):
                out = lutsr.upscale(img, lut, threads=threads, **kw)
                np.testing.assert_array_equal(out, _ref(lut.network, img, **ref_kw), err_msg=f"{img.shape} {kw}")


def test_outscale_errors(tiny_lut):
    img = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(LutsrError, match="resamples to any size"):
        lutsr.upscale(img, tiny_lut)
    with pytest.raises(LutsrError, match="not both"):
        lutsr.upscale(img, tiny_lut, outscale=2, size=(10, 8))
    with pytest.raises(LutsrError, match="downscaling"):
        lutsr.upscale(img, tiny_lut, outscale=0.5)
    with pytest.raises(LutsrError, match="16-bit"):
        lutsr.upscale(img.astype(np.uint16), tiny_lut, outscale=2)
    # integer-scale LUTs: their own scale / size is fine, anything else is a named error
    assert lutsr.upscale(img, None, outscale=4).shape == (16, 20, 3)
    assert lutsr.upscale(img, None, size=(20, 16)).shape == (16, 20, 3)
    with pytest.raises(LutsrError, match="upscales by exactly 4"):
        lutsr.upscale(img, None, outscale=2.5)
    with pytest.raises(LutsrError, match="upscales by exactly 4|makes 20x16"):
        lutsr.upscale(img, None, size=(21, 16))


def test_rgba_any_scale(tiny_lut):
    img = np.random.default_rng(2).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    out = lutsr.upscale(img, tiny_lut, outscale=2.5)
    assert out.shape == (15, 13, 4) and out.dtype == np.uint8


def test_cli_outscale_and_size(tmp_path, tiny_lut):
    path = tmp_path / "tiny.lut"
    save_lut(path, tiny_lut.header, tiny_lut.tables)
    src = tmp_path / "in.png"
    img = np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    cv2.imwrite(str(src), img)
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "a.png"), "-n", str(path), "--outscale", "2.5"])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "a.png")).shape == (25, 30, 3)
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "b.png"), "-n", str(path), "--size", "31x17"])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "b.png")).shape == (17, 31, 3)
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "c.png"), "-n", str(path), "--scale", "3"])
    assert r.exit_code == 0 and cv2.imread(str(tmp_path / "c.png")).shape == (30, 36, 3)
    for args, msg in ((["-n", str(path)], "resamples to any size"), (["--outscale", "2.5"], "upscales by exactly 4"),
                      (["-n", str(path), "--size", "12by3"], "expected WIDTHxHEIGHT")):
        r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "d.png"), *args])
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "d.png").exists()


def test_eval_any_scale_lut(tmp_path, tiny_lut):
    from lutsr.evaluate import evaluate

    hr = tmp_path / "HR"
    hr.mkdir()
    cv2.imwrite(str(hr / "a.png"), np.random.default_rng(4).integers(0, 256, (24, 36, 3), dtype=np.uint8))
    res = evaluate([tiny_lut], [tmp_path], scale=3, baseline=False)
    assert {s.scale for s in res.scores} == {3} and not res.failures
    res = evaluate([tiny_lut], [tmp_path], baseline=False)
    assert {s.scale for s in res.scores} == {2, 3, 4}


def test_info_of_any_scale_lut(tmp_path, tiny_lut):
    from lutsr.info import lut_info, render

    path = tmp_path / "tiny.lut"
    save_lut(path, tiny_lut.header, tiny_lut.tables)
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code == 0 and "any-scale LUT network" in r.output, r.output
    info = lut_info(tiny_lut)
    assert info["scale"] is None and info["table_reads_per_output_pixel"] is None and "resampler" in render(info)
