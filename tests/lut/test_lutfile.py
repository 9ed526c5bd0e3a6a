import json
import struct

import numpy as np
import pytest

from conftest import random_eclut
from lutsr.errors import LutFormatError
from lutsr.lut.file import MAGIC, load_lut, save_lut


@pytest.fixture
def lut_file(tmp_path, rng):
    lut = random_eclut(2, rng)
    path = tmp_path / "t.lut"
    save_lut(path, lut.header, lut.table)
    return path, lut


def _rewrite_header(path, mutate):
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])
    mutate(header)
    hb = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(hb)) + hb + data[12 + hlen :])


@pytest.mark.parametrize("compress", [True, False])
def test_roundtrip(tmp_path, rng, compress):
    lut = random_eclut(3, rng)
    path = tmp_path / "x.lut"
    save_lut(path, lut.header, lut.table, compress=compress)
    back = load_lut(path)
    assert np.array_equal(back.table, lut.table)
    assert back.header["method"] == "eclut" and back.scale == 3 and back.interval == 0
    assert back.header["compression"] == ("zlib" if compress else "none")
    assert not back.table.flags.writeable
    for key in ("format_version", "method", "method_spec", "scale", "interval", "levels", "tables", "source",
                "lutsr_version", "compression"):
        assert key in back.header
    spec = back.header["method_spec"]
    assert spec["value_encoding"] == "uint8-excess128" and spec["alpha"] == pytest.approx(255 / 9)
    assert spec["stages"][0]["units"][0]["kernel"]["offsets"] == [[0, 0], [1, 0]]
    t = back.header["tables"][0]
    assert t["shape"] == [257 * 257, 81] and t["dtype"] == "uint8" and len(t["sha256"]) == 64


def _expect_error(path, fragment):
    with pytest.raises(LutFormatError) as e:
        load_lut(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and fragment in msg, msg


def test_wrong_checksum(lut_file):
    path, _ = lut_file
    def mutate(h):
        h["tables"][0]["sha256"] = "0" * 64
    _rewrite_header(path, mutate)
    _expect_error(path, "checksum")


def test_flipped_table_byte_fails_checksum(tmp_path, rng):
    lut = random_eclut(2, rng)
    path = tmp_path / "raw.lut"
    save_lut(path, lut.header, lut.table, compress=False)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    _expect_error(path, "checksum")


def test_truncated(lut_file):
    path, _ = lut_file
    path.write_bytes(path.read_bytes()[:-10])
    _expect_error(path, "truncated")
    path.write_bytes(path.read_bytes()[:20])
    _expect_error(path, "header")


def test_wrong_version(lut_file):
    path, _ = lut_file
    _rewrite_header(path, lambda h: h.update(format_version=99))
    _expect_error(path, "version 99")


def test_wrong_shape(lut_file):
    path, _ = lut_file
    def mutate(h):
        h["tables"][0]["shape"] = [257 * 257, 35]
    _rewrite_header(path, mutate)
    _expect_error(path, "shape")


@pytest.mark.parametrize("field,value,fragment", [
    ("method", "pickle", "method"),
    ("scale", "4", "scale"),
    ("scale", 1, "scale"),
    ("interval", 12, "interval"),
    ("levels", 17, "levels"),
    ("compression", "lzma", "compression"),
    ("method_spec", {}, "method_spec"),
])
def test_invalid_fields(lut_file, field, value, fragment):
    path, _ = lut_file
    _rewrite_header(path, lambda h: h.update({field: value}))
    _expect_error(path, fragment)


def test_method_spec_must_match_the_method(lut_file):
    path, _ = lut_file

    def mutate(h):
        h["method_spec"]["alpha"] = 3.0
    _rewrite_header(path, mutate)
    _expect_error(path, "alpha")


def test_missing_field(lut_file):
    path, _ = lut_file
    _rewrite_header(path, lambda h: h.pop("source"))
    _expect_error(path, "source")


def test_not_a_lut(tmp_path):
    p = tmp_path / "text.lut"
    p.write_text("hello world, this is not a table")
    _expect_error(p, "magic")
    e = tmp_path / "empty.lut"
    e.write_bytes(b"")
    _expect_error(e, "magic")
    _expect_error(tmp_path / "missing.lut", "no such")


def test_pickled_npy_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "evil.npy"
    np.save(p, np.array([Evil()], dtype=object), allow_pickle=True)
    _expect_error(p, ".npy")
    assert not marker.exists()


def test_bad_json_header(tmp_path):
    p = tmp_path / "bad.lut"
    body = b"{not json"
    p.write_bytes(MAGIC + struct.pack("<I", len(body)) + body)
    _expect_error(p, "JSON")


def test_save_refuses_mismatched_table(tmp_path, rng):
    lut = random_eclut(2, rng)
    with pytest.raises(LutFormatError):
        save_lut(tmp_path / "x.lut", lut.header, lut.table[:, :10])
    assert not (tmp_path / "x.lut").exists()


def test_used_lut_pickles_without_compiled_caches(rng):
    import pickle

    import lutsr

    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    ref = lutsr.upscale(img, lut)
    assert lut._compiled  # the run above filled the caches
    table_bytes = sum(t.nbytes for t in lut.tables)
    data = pickle.dumps(lut)
    # tables + header + pickle framing only: the caches (several times the tables) are not in it
    assert table_bytes <= len(data) < table_bytes * 1.05 + 100_000
    back = pickle.loads(data)
    assert back._compiled == {} and lut._compiled  # pickling does not clear the original
    assert back.header == lut.header
    assert np.array_equal(lutsr.upscale(img, back), ref)
