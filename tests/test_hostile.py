"""Hostile file names, signals, memory errors, repeated destinations and stray temp files (issue 16)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lutsr.cli import _friendly, _shown, main
from lutsr.datasets import find_images
from lutsr.imageio import TEMP_SUFFIX, atomic_write_bytes, read_image, save_image, write_image
from lutsr.errors import ImageError

REPO = Path(__file__).resolve().parents[1]


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def test_non_utf8_output_name_is_written_from_python(tmp_path, rng):
    # OpenCV's binding segfaults on a str with lone surrogates; the bytes must be written by Python.
    # Run in a child so the old behaviour (exit -11) fails the test instead of killing pytest.
    code = (
        "import os, numpy as np\n"
        "from lutsr.imageio import save_image, load_image\n"
        "d = os.fsencode(os.environ['D'])\n"
        "p = os.fsdecode(d + b'/\\xff\\xfe.png')\n"
        "img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)\n"
        "save_image(p, img)\n"
        "assert (load_image(p).pixels == img).all()\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "D": str(tmp_path)}, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, (r.returncode, r.stderr[-500:])
    assert os.listdir(os.fsencode(tmp_path)) == [b"\xff\xfe.png"]


def test_temp_names_are_not_images_and_are_skipped(tmp_path, rng):
    img = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", img)
    # what a killed run of an older version left behind, and what this version would leave
    (tmp_path / ".b.png.abcd1234.tmp.png").write_bytes(b"\x89PNG partial")
    (tmp_path / f".c.png.abcd1234{TEMP_SUFFIX}").write_bytes(b"partial")
    assert [p.name for p in find_images(tmp_path)] == ["a.png"]
    assert not TEMP_SUFFIX.lower().endswith((".png", ".jpg", ".tif", ".webp", ".bmp"))


def test_folder_run_cleans_stale_temp_files_of_its_destination(runner, tmp_path, lut2, rng):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir(), out.mkdir()
    write_image(src / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    stale = out / f".a.png.zz99{TEMP_SUFFIX}"
    stale.write_bytes(b"partial")
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_repeated_destinations_are_refused_when_planning(runner, tmp_path, lut2, rng):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    write_image(src / "a.png", img)
    write_image(src / "a.bmp", img)
    r = runner.invoke(main, ["upscale", str(src), str(out), "--ext", "png", "--overwrite", "--lut", str(lut2[0])])
    _one_line_error(r, "a.bmp", "a.png", "both")
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("suffix", ["/../../escaped", "_x4/sub", "..\\x"])
def test_suffix_with_separator_is_refused(runner, tmp_path, lut2, rng, suffix):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_image(src / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    r = runner.invoke(main, ["upscale", str(src), str(out), "--suffix", suffix, "--lut", str(lut2[0])])
    _one_line_error(r, "--suffix")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped.png").exists()


def test_sample_does_not_write_over_an_existing_file(runner, tmp_path):
    dest = tmp_path / "mine.png"
    dest.write_bytes(b"precious")
    _one_line_error(runner.invoke(main, ["sample", str(dest)]), "already exists", "--overwrite")
    assert dest.read_bytes() == b"precious"
    assert runner.invoke(main, ["sample", str(dest), "--overwrite"]).exit_code == 0
    assert read_image(dest).ndim == 3


def test_memory_error_becomes_one_line(capsys):
    @_friendly
    def greedy():
        raise MemoryError()

    with pytest.raises(SystemExit) as e:
        greedy()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "memory" in err and len(err.splitlines()) == 1


def test_sigterm_unwinds_like_sigint(tmp_path):
    # A SIGTERM during a write must unwind (temp file removed, exit 143), not kill the process.
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "import lutsr.imageio as io\n"
        "from lutsr.cli import _friendly\n"
        "class Slow:\n"
        "    def __len__(self): return 1\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    import time; time.sleep(5)\n"
        "io.os.fsync = fsync\n"
        "f = _friendly(lambda: io.atomic_write_bytes(Path(os.environ['D']) / 'x.bin', b'data'))\n"
        "f()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "D": str(tmp_path)}, timeout=120)
    assert r.returncode == 143, (r.returncode, r.stderr[-500:])
    assert "terminated" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_failed_lines_escape_newlines_and_bad_bytes():
    assert _shown("a\nb.png: bad") == "a\\nb.png: bad"
    assert "\n" not in _shown(os.fsdecode(b"x\xff\n.png"))
    assert "\\xff" in _shown(os.fsdecode(b"x\xff.png"))


def test_write_errors_name_the_output_not_the_temp_file(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ImageError) as e:
            save_image(ro / "out.png", np.zeros((3, 3, 3), np.uint8))
        assert str(e.value).startswith(str(ro / "out.png")) and "tmp" not in str(e.value)
        with pytest.raises(ImageError):
            atomic_write_bytes(ro / "out.bin", b"x")
    finally:
        ro.chmod(0o700)


def test_long_output_names_fit_with_the_temp_name(tmp_path):
    name = "n" * 251 + ".png"  # 255 bytes: the longest name most file systems allow
    save_image(tmp_path / name, np.zeros((3, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_import_never_writes_over_its_input_or_an_existing_file(runner, tmp_path):
    f = tmp_path / "t.npy"
    np.save(f, np.zeros((17 * 17, 1, 2, 2), np.int8))
    before = f.read_bytes()
    _one_line_error(runner.invoke(main, ["import", "--method", "srlut-v", str(f), "-o", str(f)]), "input")
    _one_line_error(runner.invoke(main, ["import", "--method", "srlut-v", str(f), "-o", str(f), "--overwrite"]),
                    "input")
    assert f.read_bytes() == before
    out = tmp_path / "existing.lut"
    out.write_bytes(b"mine")
    _one_line_error(runner.invoke(main, ["import", "--method", "srlut-v", str(f), "-o", str(out)]), "--overwrite")
    assert out.read_bytes() == b"mine"
    assert runner.invoke(main, ["import", "--method", "srlut-v", str(f), "-o", str(out), "--overwrite"]).exit_code == 0
    assert out.read_bytes() != b"mine"


def test_export_never_writes_over_its_source_or_an_existing_file(runner, tmp_path, lut2):
    src = lut2[0]
    before = src.read_bytes()
    for extra in ([], ["--overwrite"]):
        r = runner.invoke(main, ["export", str(src), "--interval", "5", "-o", str(src), *extra])
        _one_line_error(r, "input")
    assert src.read_bytes() == before
    out = tmp_path / "other.lut"
    out.write_bytes(b"mine")
    _one_line_error(runner.invoke(main, ["export", str(src), "--interval", "5", "-o", str(out)]), "--overwrite")
    assert out.read_bytes() == b"mine"


def _png_header_only(w, h):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_memory_budget_is_checked_from_the_header_before_decoding(runner, tmp_path, lut2):
    from lutsr.cli import estimate_memory

    src = tmp_path / "wide.png"
    src.write_bytes(_png_header_only(20000, 20000))  # under 2**30 pixels, but ~9 GiB to upscale x2
    out = tmp_path / "o.png"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0]), "--max-memory", "2"])
    _one_line_error(r, "wide.png", "memory budget", "--max-memory")
    assert not out.exists()
    assert estimate_memory(20000, 20000, 2) > 2 * 2**30 > estimate_memory(1000, 1000, 4)


def _rewrite_lut(src, dst, edit_header=None, payload=None, raw_header=None):
    import json
    import struct

    from lutsr.lut.file import MAGIC

    data = src.read_bytes()
    (hlen,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(data[start:start + hlen])
    body = data[start + hlen:] if payload is None else payload
    if edit_header:
        edit_header(header)
    header["payload_bytes"] = len(body)
    hb = raw_header if raw_header is not None else json.dumps(header).encode()
    dst.write_bytes(MAGIC + struct.pack("<I", len(hb)) + hb + body)
    return header


def test_lut_header_with_float_shapes_or_deep_nesting_is_one_line(runner, tmp_path, lut2):
    from lutsr.errors import LutFormatError
    from lutsr.lut.file import load_lut

    floaty = tmp_path / "floaty.lut"

    def to_float(h):
        for t in h["tables"]:
            t["shape"] = [float(x) for x in t["shape"]]

    _rewrite_lut(lut2[0], floaty, to_float)
    with pytest.raises(LutFormatError, match="not a list of integers"):
        load_lut(floaty)
    deep = tmp_path / "deep.lut"
    _rewrite_lut(lut2[0], deep, raw_header=b"[" * 200000)
    with pytest.raises(LutFormatError, match="not valid JSON"):
        load_lut(deep)
    _one_line_error(runner.invoke(main, ["info", str(deep)]), "deep.lut")


def test_zlib_bomb_stops_at_the_declared_size(tmp_path, lut2):
    import zlib

    from lutsr.errors import LutFormatError
    from lutsr.lut.file import load_lut

    bomb = tmp_path / "bomb.lut"
    lut = load_lut(lut2[0])
    want = sum(t.nbytes for t in lut.tables)
    _rewrite_lut(lut2[0], bomb, lambda h: h.update(compression="zlib"),
                 payload=zlib.compress(b"\0" * (want * 20), 9))
    with pytest.raises(LutFormatError, match="inflate to more than"):
        load_lut(bomb)
