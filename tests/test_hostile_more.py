"""Issue 16, the remaining cases: pixel limits before decoding for every format, .npy headers,
corrupt fit states, tiny images in eval, alpha in JPEG, exclusive creation, the Numba cache,
ValueError, (H, W, 2) arrays, disk full, OUT inside IN, multi-frame inputs."""

import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lutsr.cli import main
from lutsr.errors import ImageError, LutFormatError, LutsrError
from lutsr.imageio import declared_size, load_image, write_image

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from lutsr.cli import main; main()"]


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def _jpeg_with_fill_bytes(w: int, h: int) -> bytes:
    """A small JPEG whose SOF0 is preceded by legal 0xFF fill bytes and declares ``w`` x ``h``."""
    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", h, w)
    return bytes(data[:at] + b"\xff" * 7 + data[at:])


def _tiff_declaring(w: int, h: int) -> bytes:
    """A small TIFF whose first IFD declares ``w`` x ``h`` (the strips hold 8x8 pixels)."""
    ok, buf = cv2.imencode(".tif", np.full((8, 8, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    end = "<" if data[:2] == b"II" else ">"
    (off,) = struct.unpack(end + "I", data[4:8])
    (count,) = struct.unpack(end + "H", data[off : off + 2])
    for e in range(count):
        at = off + 2 + 12 * e
        tag, typ = struct.unpack(end + "HH", data[at : at + 4])
        if tag in (256, 257):
            val = w if tag == 256 else h
            data[at + 2 : at + 4] = struct.pack(end + "H", 4)
            data[at + 4 : at + 8] = struct.pack(end + "I", 1)
            data[at + 8 : at + 12] = struct.pack(end + "I", val)
    return bytes(data)


# ---- item 3: --max-pixels holds before decoding for every format ----

def test_jpeg_fill_bytes_before_sof_are_skipped_by_the_header_parser(tmp_path):
    data = _jpeg_with_fill_bytes(4000, 3000)
    assert declared_size(data) == (4000, 3000)
    p = tmp_path / "fill.jpg"
    p.write_bytes(data)
    with pytest.raises(ImageError, match="declares 4000x3000"):
        load_image(p, max_pixels=10**6)


def test_tiff_declaring_a_huge_size_is_refused_from_the_header(runner, tmp_path, lut2):
    data = _tiff_declaring(5000, 4000)
    assert declared_size(data) == (5000, 4000)
    p = tmp_path / "big.tif"
    p.write_bytes(data)
    r = runner.invoke(main, ["upscale", str(p), str(tmp_path / "o.png"), "--lut", str(lut2[0]),
                             "--max-pixels", "1000000"])
    _one_line_error(r, "declares 5000x4000")
    assert not (tmp_path / "o.png").exists()


def test_max_pixels_reaches_opencv_before_cv2_is_imported(tmp_path, lut2):
    # A PPM (content decides the format) declaring 20000x20000: lutsr's own parser does not read
    # PPM headers, so only OpenCV's limit, set from --max-pixels before cv2 is imported, stops it.
    p = tmp_path / "big.png"
    p.write_bytes(b"P6\n20000 20000\n255\n" + b"\0" * 100)
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    r = subprocess.run([*CLI, "upscale", str(p), str(tmp_path / "o.png"), "--lut", str(lut2[0]),
                        "--max-pixels", "1000000"], cwd=REPO, capture_output=True, text=True, env=env,
                       timeout=300)
    err = r.stderr.strip()
    assert r.returncode == 2 and err.startswith("error:") and len(err.splitlines()) == 1, err
    assert "limit of 1000000" in err, err


def test_a_user_set_opencv_limit_is_not_clobbered(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((30, 30, 3), np.uint8))
    code = ("import os\nfrom lutsr._opencv import preset_pixel_limit\n"
            "assert not preset_pixel_limit(10**9)\n"
            "from lutsr.imageio import load_image\n"
            "assert os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'] == '500'\n"
            "try:\n    load_image(os.environ['P'])\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OPENCV_IO_MAX_IMAGE_PIXELS": "500", "P": str(tmp_path / "a.png")})
    assert r.returncode == 0, r.stderr[-800:]
    assert "ImageError" in r.stdout and "limit of 500" in r.stdout, r.stdout


# ---- item 10: .npy headers read and checked before loading ----

def _npy_declaring(shape, descr="|i1", body=b"\0" * 100) -> bytes:
    import io

    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue() + body


def test_import_of_hostile_npy_files_is_one_line(runner, tmp_path):
    npz = tmp_path / "renamed.npy"
    np.savez(tmp_path / "real.npz", a=np.zeros(3))
    npz.write_bytes((tmp_path / "real.npz").read_bytes())
    huge = tmp_path / "huge.npy"
    huge.write_bytes(_npy_declaring((10**12,)))
    assert huge.stat().st_size < 300
    text = tmp_path / "text.npy"
    text.write_text("hello, I am a text file\n")
    cases = [(npz, "zip archive"), (huge, "declares shape (1000000000000,)"), (text, "not a .npy array")]
    for p, fragment in cases:
        out = tmp_path / f"{p.stem}.lut"
        r = runner.invoke(main, ["import", "--method", "srlut-s", str(p), "-o", str(out)])
        _one_line_error(r, p.name, fragment)
        assert "pickled" not in r.stderr
        assert not out.exists()


def test_network_importers_use_the_checked_npy_loader(tmp_path):
    from lutsr.lut.frontier import _npy

    huge = tmp_path / "huge.npy"
    huge.write_bytes(_npy_declaring((10**6, 10**6)))
    with pytest.raises(LutFormatError, match="declares shape"):
        _npy(huge)
    text = tmp_path / "t.npy"
    text.write_text("x")
    with pytest.raises(LutFormatError, match="not a .npy array"):
        _npy(text)


# ---- item 11: a corrupt fit state means start over, with one warning ----

def test_corrupt_fit_state_warns_and_starts_over(tmp_path, caplog, monkeypatch):
    import logging

    import lutsr.fit.solver as solver
    from lutsr.fit import LinearLut, cg_solve, prior_table

    rng = np.random.default_rng(2)
    op = LinearLut("srlut-s", 2, 6)
    data = [(rng.integers(0, 256, (10, 10), dtype=np.uint8), rng.integers(0, 256, (20, 20), dtype=np.uint8))]
    prior = prior_table(op)
    straight = cg_solve(op, data, prior, 1.0, iterations=2).vec
    state = tmp_path / "fit.lut.fitstate.npz"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(solver.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    cg_solve(op, data, prior, 1.0, iterations=1, state_path=state, config_json="x")
    assert synced, "the fit state must be fsynced before it is renamed into place"
    good = state.read_bytes()
    np.savez(tmp_path / "partial.npz", v=prior, config=np.array("x"))
    cases = {"truncated": good[: len(good) // 2], "missing arrays": (tmp_path / "partial.npz").read_bytes(),
             "garbage": b"not a zip at all"}
    for name, blob in cases.items():
        state.write_bytes(blob)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lutsr"):
            res = cg_solve(op, data, prior, 1.0, iterations=2, state_path=state, config_json="x")
        assert np.array_equal(res.vec, straight), name
        assert [h["iteration"] for h in res.history] == [0, 1, 2], name
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "starting over" in warnings[0] and len(warnings[0].splitlines()) == 1, warnings
    assert not list(tmp_path.glob("*.tmp.npz"))


# ---- item 12: eval skips an image too small for the scale ----

def test_eval_skips_a_1x1_image_and_names_it(runner, tmp_path, lut2, rng):
    d = tmp_path / "bench"
    d.mkdir()
    write_image(d / "a.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    write_image(d / "tiny.png", np.zeros((1, 1, 3), np.uint8))
    r = runner.invoke(main, ["eval", "--data", str(d), "--lut", str(lut2[0])])
    assert r.exit_code == 1, (r.exit_code, r.output)
    failed = [ln for ln in r.stderr.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1 and "tiny.png" in failed[0] and "smaller than the scale 2" in failed[0], r.stderr
    assert "mean of 1" in r.stdout and "error:" not in r.stderr


# ---- item 13: RGBA written as JPEG says that alpha is dropped ----

def test_rgba_to_jpeg_warns_that_alpha_is_dropped(runner, tmp_path, lut2, rng):
    img = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    img[:4, :, 3] = 0
    src = tmp_path / "t.png"
    write_image(src, img)
    out = tmp_path / "t.jpg"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.exit_code == 0, r.output
    warned = [ln for ln in r.stderr.splitlines() if "alpha" in ln]
    assert len(warned) == 1 and "t.jpg" in warned[0] and "dropped" in warned[0], r.stderr
    assert load_image(out).pixels.shape == (16, 16, 3)
    # PNG keeps alpha: no warning
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "o.png"), "--lut", str(lut2[0])])
    assert r.exit_code == 0 and "alpha" not in r.stderr, r.stderr
    assert load_image(tmp_path / "o.png").pixels.shape == (16, 16, 4)


def test_opaque_rgba_to_jpeg_loses_nothing_and_does_not_warn(tmp_path, caplog, rng):
    import logging

    from lutsr.imageio import save_image

    img = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    img[..., 3] = 255
    with caplog.at_level(logging.WARNING, logger="lutsr"):
        save_image(tmp_path / "o.jpg", img)
    assert not caplog.records
    img[0, 0, 3] = 254
    with caplog.at_level(logging.WARNING, logger="lutsr"):
        save_image(tmp_path / "p.jpg", img)
    assert len(caplog.records) == 1 and "alpha" in caplog.records[0].getMessage()


# ---- item 14: without --overwrite, the final name is created exclusively ----

def test_an_output_that_appears_while_writing_is_not_replaced(runner, tmp_path, lut2, rng, monkeypatch):
    import lutsr.runtime

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir(), out.mkdir()
    for n in "ab":
        write_image(src / f"{n}.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    real = lutsr.runtime.upscale

    def racing(*a, **kw):  # another run writes the destinations after they were checked
        for n in "ab":
            if not (out / f"{n}.png").exists():
                (out / f"{n}.png").write_bytes(b"the other run's output")
        return real(*a, **kw)

    monkeypatch.setattr(lutsr.runtime, "upscale", racing)
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.exit_code == 1, r.output
    assert "0 upscaled" in r.stderr and "2 failed" in r.stderr and "already exists" in r.stderr, r.stderr
    assert all((out / f"{n}.png").read_bytes() == b"the other run's output" for n in "ab")
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    for n in "ab":
        (out / f"{n}.png").unlink()
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0]), "--skip-existing"])
    assert r.exit_code == 0 and "0 upscaled, 2 skipped" in r.stderr, r.stderr
    assert all((out / f"{n}.png").read_bytes() == b"the other run's output" for n in "ab")
    r = runner.invoke(main, ["upscale", str(src / "a.png"), str(tmp_path / "single.png"), "--lut", str(lut2[0])])
    assert r.exit_code == 0  # nothing raced: written
    (tmp_path / "single.png").unlink()
    monkeypatch.setattr(lutsr.runtime, "upscale", lambda *a, **kw: (
        (tmp_path / "single.png").write_bytes(b"x"), real(*a, **kw))[1])
    r = runner.invoke(main, ["upscale", str(src / "a.png"), str(tmp_path / "single.png"), "--lut", str(lut2[0])])
    _one_line_error(r, "single.png", "already exists")
    assert (tmp_path / "single.png").read_bytes() == b"x"
    r = runner.invoke(main, ["upscale", str(src / "a.png"), str(tmp_path / "single.png"), "--lut", str(lut2[0]),
                             "--overwrite"])
    assert r.exit_code == 0 and load_image(tmp_path / "single.png").pixels.shape == (12, 12, 3)


def test_exclusive_creation_falls_back_to_rename_without_hard_links(tmp_path, monkeypatch):
    import errno

    import lutsr.imageio as imageio
    from lutsr.imageio import OutputExistsError, atomic_write_bytes

    def no_links(a, b):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(imageio.os, "link", no_links)
    atomic_write_bytes(tmp_path / "f.bin", b"one", overwrite=False)
    assert (tmp_path / "f.bin").read_bytes() == b"one"
    with pytest.raises(OutputExistsError, match="f.bin: already exists"):
        atomic_write_bytes(tmp_path / "f.bin", b"two", overwrite=False)
    assert (tmp_path / "f.bin").read_bytes() == b"one"
    atomic_write_bytes(tmp_path / "f.bin", b"three")
    assert (tmp_path / "f.bin").read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


# ---- item 22: disk full, fsync before rename, OUT inside IN, multi-frame inputs ----

def test_disk_full_says_no_space_left_and_names_the_output(tmp_path, monkeypatch):
    import errno

    import lutsr.imageio as imageio
    from lutsr.imageio import save_image

    calls = []

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imageio.os, "fsync", full)
    with pytest.raises(ImageError) as e:
        save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert str(e.value) == f"{tmp_path / 'out.png'}: cannot write: no space left on device"
    assert list(tmp_path.iterdir()) == []
    # fsync comes before the file gets its final name
    monkeypatch.setattr(imageio.os, "fsync", lambda fd: calls.append("fsync"))
    real_replace, real_link = os.replace, os.link
    monkeypatch.setattr(imageio.os, "replace", lambda a, b: (calls.append("rename"), real_replace(a, b))[1])
    monkeypatch.setattr(imageio.os, "link", lambda a, b: (calls.append("link"), real_link(a, b))[1])
    save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    save_image(tmp_path / "new.png", np.zeros((4, 4, 3), np.uint8), overwrite=False)
    assert calls == ["fsync", "rename", "fsync", "link"], calls


def test_out_inside_in_with_recursive_resumes_with_skip_existing(runner, tmp_path, lut2, rng):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    write_image(src / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    write_image(src / "sub" / "b.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    out = src / "x2"
    args = ["upscale", str(src), str(out), "-r", "--skip-existing", "--lut", str(lut2[0])]
    r = runner.invoke(main, args)
    assert r.exit_code == 0 and "2 upscaled" in r.stderr, r.stderr
    (out / "sub" / "b.png").unlink()  # as if the first run had been killed before b
    r = runner.invoke(main, args)
    assert r.exit_code == 0 and "1 upscaled, 1 skipped, 0 failed" in r.stderr, r.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.png"]


@pytest.mark.parametrize("kind", ["tiff", "webp", "png", "gif"])
def test_multi_frame_input_notes_that_only_the_first_frame_is_used(runner, tmp_path, lut2, kind):
    frames = [np.full((6, 6, 3), 40 * i, np.uint8) for i in range(3)]
    if kind == "tiff":
        ok, buf = cv2.imencodemulti(".tif", frames)
    else:
        anim = cv2.Animation()
        anim.frames, anim.durations = frames, [100] * 3
        ok, buf = cv2.imencodeanimation(f".{kind}", anim)
    assert ok
    src = tmp_path / f"anim.{'tif' if kind == 'tiff' else kind}"
    src.write_bytes(bytes(np.asarray(buf, dtype=np.uint8).ravel()))
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "o.png"), "--lut", str(lut2[0])])
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.stderr.splitlines() if "frames" in ln]
    assert len(notes) == 1 and "3 frames" in notes[0] and "only the first" in notes[0], r.stderr
    # a single-frame file gets no note
    write_image(tmp_path / "one.png", frames[0])
    r = runner.invoke(main, ["upscale", str(tmp_path / "one.png"), str(tmp_path / "p.png"), "--lut", str(lut2[0])])
    assert r.exit_code == 0 and "frames" not in r.stderr


# ---- item 20: input errors are ValueErrors; wrong types are also TypeErrors; (H, W, 2) refused ----

def test_lutsr_errors_are_value_errors_and_type_errors_where_the_type_is_wrong(lut2):
    from lutsr.errors import CheckpointError, InputTypeError
    from lutsr.runtime import upscale

    for cls in (LutsrError, ImageError, LutFormatError, CheckpointError, InputTypeError):
        assert issubclass(cls, ValueError), cls
    lut = lut2[1]
    with pytest.raises(ValueError, match="dtype float32"):
        upscale(np.zeros((4, 4), np.float32), lut)
    with pytest.raises(ValueError, match="got 2"):
        upscale(np.zeros((4, 4, 2), np.uint8), lut)  # not gray + alpha: the check's own message
    for bad in ([[0, 1], [2, 3]], "img"):
        with pytest.raises(TypeError, match="expected a numpy array"):
            upscale(bad, lut)
    for threads in (1.5, "2"):
        with pytest.raises(TypeError, match="whole number"):
            upscale(np.zeros((4, 4), np.uint8), lut, threads=threads)
    with pytest.raises(ValueError, match=">= 1"):
        upscale(np.zeros((4, 4), np.uint8), lut, threads=0)


# ---- item 19: a truncated Numba cache entry is deleted with a warning and compiled again ----

_KERNEL_SCRIPT = '''
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from lutsr.runtime.kernels.jit import kernel

@kernel()
def plus_one(x):
    return x + 1

print("result", plus_one(41), plus_one(1.5))
'''


@pytest.mark.parametrize("which", [".nbc", ".nbi"])
def test_truncated_numba_cache_is_deleted_and_recompiled(tmp_path, which):
    script = tmp_path / "k.py"
    script.write_text(_KERNEL_SCRIPT)
    cache = tmp_path / "cache"
    env = {**os.environ, "LUTSR_CACHE_DIR": str(cache), "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("NUMBA_CACHE_DIR", None)

    def run():
        r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-1500:]
        assert "result 42 2.5" in r.stdout, r.stdout
        return [ln for ln in r.stderr.splitlines() if ln.strip()]

    assert run() == []
    files = sorted(cache.rglob(f"*{which}"))
    assert len(files) >= 1, list(cache.rglob("*"))
    for f in files:
        f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])
    warned = run()
    assert warned and all("could not be read" in w and "compiling again" in w and str(cache) in w for w in warned), warned
    assert "Traceback" not in "\n".join(warned)
    assert run() == []  # the fresh entry was cached and loads cleanly


def test_lutsr_kernels_have_guarded_caches():
    from lutsr.runtime.kernels import expand

    assert expand.expand_corners._cache.load_overload.__name__ == "guarded_load"


# ---- item 21: scale 1 is a valid LUT scale, as docs/lut-format.md says ----

def test_scale_1_luts_agree_with_the_format_doc(runner, tmp_path, rng):
    import re

    from conftest import random_lut
    from lutsr.lut.file import load_lut, save_lut

    row = next(ln for ln in (REPO / "docs" / "lut-format.md").read_text().splitlines() if ln.startswith("| `scale`"))
    lo, hi = map(int, re.search(r"(\d+)\.\.(\d+)", row).groups())
    assert (lo, hi) == (1, 8), row
    lut = random_lut("srlut-s", lo, 4, rng)
    save_lut(tmp_path / "x1.lut", lut.header, lut.tables)
    assert load_lut(tmp_path / "x1.lut").scale == 1
    src = tmp_path / "in.png"
    write_image(src, rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "o.png"), "--lut", str(tmp_path / "x1.lut"),
                             "--scale", "1"])
    assert r.exit_code == 0, r.output
    assert load_image(tmp_path / "o.png").pixels.shape == (5, 6, 3)
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "p.png"), "--scale", "1"])
    _one_line_error(r, "scale 1")
