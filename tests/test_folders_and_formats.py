"""Parallel folders (-j), encoder options (--quality, --png-compression), the formats OpenCV can
write (AVIF where built in), and ICC profiles through TIFF (issue 15, section 4)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from lutsr.batch import process_files
from lutsr.cli import main
from lutsr.errors import ImageError
from lutsr.imageio import IMAGE_EXTENSIONS, EncodeOptions, decode_image, encode_image, load_image, write_image

ICC = bytes(range(256)) * 3  # any bytes: TIFF and JPEG carry the profile without parsing it


def _smooth(h=40, w=56):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 4, y * 5, (x + y) * 2]).astype(np.uint8)


@pytest.fixture
def folder(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(7):
        write_image(src / f"f{k}.png", rng.integers(0, 256, (9 + k, 13 - k, 3), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"not an image")
    return src


@pytest.mark.parametrize("jobs", ["2", "4"])
def test_parallel_folder_writes_the_same_bytes_and_lists_failures(runner, tmp_path, folder, lut2, jobs):
    lut_path, _ = lut2
    outs = {}
    for j in ("1", jobs):
        out = tmp_path / f"out{j}"
        r = runner.invoke(main, ["upscale", str(folder), str(out), "-n", str(lut_path), "-j", j])
        assert r.exit_code == 1, r.output  # the broken file fails; the others are written
        assert "7 upscaled, 0 skipped, 1 failed" in r.output
        assert "broken.png: not a readable image" in r.output
        outs[j] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outs["1"]) == 7 and outs["1"] == outs[jobs]
    assert not [p for p in (tmp_path / f"out{jobs}").iterdir() if p.name.startswith(".")]  # no temporaries left
    # again: every output exists, so -j N with --skip-existing skips them all, and without it fails them all
    r = runner.invoke(main, ["upscale", str(folder), str(tmp_path / f"out{jobs}"), "-n", str(lut_path), "-j", jobs,
                             "--skip-existing"])
    assert "0 upscaled, 7 skipped, 1 failed" in r.output, r.output
    r = runner.invoke(main, ["upscale", str(folder), str(tmp_path / f"out{jobs}"), "-n", str(lut_path), "-j", jobs])
    assert "0 upscaled, 0 skipped, 8 failed" in r.output and r.exit_code == 1, r.output


def test_process_files_runs_one_image_of_kernels_at_a_time_while_files_overlap(monkeypatch, tmp_path, folder, lut2):
    """The kernels hold a lock (one image at a time, on all threads); decoding and encoding of
    other files go on meanwhile; every file is reported once."""
    import lutsr.imageio as io
    import lutsr.runtime as rt

    _, lut = lut2
    state = {"kernels": 0, "max_kernels": 0, "files": 0, "max_files": 0}
    guard = threading.Lock()
    real_run, real_load = rt.upscale, io.load_image

    def count(key, delta):
        with guard:
            state[key] += delta
            state["max_" + key] = max(state["max_" + key], state[key])

    def slow_run(*a, **k):
        count("kernels", 1)
        time.sleep(0.02)
        try:
            return real_run(*a, **k)
        finally:
            count("kernels", -1)

    def slow_load(*a, **k):
        count("files", 1)
        time.sleep(0.05)
        try:
            return real_load(*a, **k)
        finally:
            count("files", -1)

    monkeypatch.setattr(rt, "upscale", slow_run)
    monkeypatch.setattr(io, "load_image", slow_load)
    plan = [(p, tmp_path / "o" / p.name) for p in sorted(folder.iterdir())]
    seen = sorted(process_files(plan, lut, jobs=3, threads=1), key=lambda t: t[0])
    assert [i for i, _ in seen] == list(range(len(plan)))
    assert [r.status for _, r in seen].count("written") == 7 and seen[0][1].status == "failed"  # broken.png sorts first
    assert state["max_kernels"] == 1
    assert state["max_files"] >= 2


def test_encode_options_change_the_file_not_the_pixels():
    img = _smooth()
    png0 = encode_image(img, ".png", options=EncodeOptions(png_compression=0))
    png9 = encode_image(img, ".png", options=EncodeOptions(png_compression=9))
    assert len(png9) < len(png0)
    assert np.array_equal(decode_image(png0).pixels, img) and np.array_equal(decode_image(png9).pixels, img)
    q10 = encode_image(img, ".jpg", options=EncodeOptions(quality=10))
    q95 = encode_image(img, ".jpg", options=EncodeOptions(quality=95))
    assert len(q10) < len(q95)
    from lutsr.tasks import jpeg_quality_of

    assert jpeg_quality_of(q10) == 10 and jpeg_quality_of(q95) == 95
    w10 = encode_image(img, ".webp", options=EncodeOptions(quality=10))
    assert len(w10) < len(encode_image(img, ".webp", options=EncodeOptions(quality=95)))
    for bad in (dict(quality=0), dict(quality=101), dict(png_compression=10), dict(png_compression=-1)):
        with pytest.raises(ImageError):
            EncodeOptions(**bad)


def test_cli_output_quality_and_png_compression(runner, tmp_path, lut2):
    from lutsr.tasks import jpeg_quality_of

    lut_path, _ = lut2
    src = tmp_path / "in.png"
    write_image(src, _smooth())
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "a.jpg"), "-n", str(lut_path), "--quality", "33"])
    assert r.exit_code == 0, r.output
    assert jpeg_quality_of((tmp_path / "a.jpg").read_bytes()) == 33
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "b.jpg"), "-n", str(lut_path), "--out-quality", "61"])
    assert jpeg_quality_of((tmp_path / "b.jpg").read_bytes()) == 61
    for level in ("0", "9"):
        r = runner.invoke(main, ["upscale", str(src), str(tmp_path / f"c{level}.png"), "-n", str(lut_path),
                                 "--png-compression", level])
        assert r.exit_code == 0, r.output
    a, b = (load_image(tmp_path / f"c{v}.png").pixels for v in "09")
    assert np.array_equal(a, b) and (tmp_path / "c9.png").stat().st_size < (tmp_path / "c0.png").stat().st_size
    for bad in (["--png-compression", "10"], ["--quality", "0"], ["--quality", "20", "--out-quality", "30"]):
        r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "d.jpg"), "-n", str(lut_path), *bad])
        assert r.exit_code == 2 and not (tmp_path / "d.jpg").exists(), (bad, r.output)
    # deblock's --quality is the input's JPEG quality; the output's is --out-quality
    jpg = tmp_path / "in.jpg"
    jpg.write_bytes(encode_image(_smooth(), ".jpg", options=EncodeOptions(quality=10)))
    r = runner.invoke(main, ["deblock", str(jpg), str(tmp_path / "e.jpg"), "--quality", "auto", "--out-quality", "77"])
    assert r.exit_code == 0, r.output
    assert "deblock_q10" in r.output and jpeg_quality_of((tmp_path / "e.jpg").read_bytes()) == 77


@pytest.mark.skipif(".avif" not in IMAGE_EXTENSIONS, reason="this OpenCV build has no AVIF encoder")
def test_avif_is_written_read_and_listed_in_folders(runner, tmp_path, lut2):
    lut_path, _ = lut2
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", _smooth())
    r = runner.invoke(main, ["upscale", str(src / "a.png"), str(src / "b.avif"), "-n", str(lut_path)])
    assert r.exit_code == 0, r.output
    assert load_image(src / "b.avif").pixels.shape == (80, 112, 3)
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "out"), "-n", str(lut_path), "-f", "avif"])
    assert "2 upscaled" in r.output, r.output  # the AVIF input is listed like any other image
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.avif", "b.avif"]


def test_unknown_output_format_is_refused(runner, tmp_path, lut2):
    lut_path, _ = lut2
    src = tmp_path / "in.png"
    write_image(src, _smooth())
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "a.xyz"), "-n", str(lut_path)])
    assert r.exit_code == 2 and "unsupported output extension '.xyz'" in r.output


def test_tiff_keeps_the_icc_profile(runner, tmp_path, lut2):
    """OpenCV's TIFF codec neither reads nor writes ICC profiles; lutsr reads and embeds them itself."""
    lut_path, _ = lut2
    tif = encode_image(_smooth(), ".tif", [(cv2.IMAGE_METADATA_ICCP, ICC)])
    got = decode_image(tif)
    assert np.array_equal(got.pixels, _smooth()) and (cv2.IMAGE_METADATA_ICCP, ICC) in got.metadata
    (tmp_path / "in.tif").write_bytes(tif)
    jpg = encode_image(_smooth(), ".jpg", [(cv2.IMAGE_METADATA_ICCP, ICC)])
    (tmp_path / "in.jpg").write_bytes(jpg)
    for name in ("in.tif", "in.jpg"):
        out = tmp_path / f"out_{name}.tiff"
        r = runner.invoke(main, ["upscale", str(tmp_path / name), str(out), "-n", str(lut_path)])
        assert r.exit_code == 0, r.output
        assert (cv2.IMAGE_METADATA_ICCP, ICC) in load_image(out).metadata, name
    # a second profile replaces the first; the pixels are untouched
    from lutsr.imageio import tiff_with_icc

    twice = tiff_with_icc(tif, b"other profile bytes")
    assert [m for m in decode_image(twice).metadata if m[0] == cv2.IMAGE_METADATA_ICCP] == \
        [(cv2.IMAGE_METADATA_ICCP, b"other profile bytes")]
    assert np.array_equal(decode_image(twice).pixels, _smooth())
