"""Real files and folders: formats, metadata, orientation, batches, overwrite rules, malformed inputs."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from lutsr.cli import main
from lutsr.imageio import load_image, read_image, save_image, write_image
from lutsr.runtime import upscale


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_size(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + \
        _png_chunk(b"IEND", b"")


def _exif_jpeg(path, img, orientation: int) -> None:
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    if not hasattr(cv2, "imencodeWithMetadata"):
        pytest.skip("this OpenCV cannot write EXIF")
    ok, buf = cv2.imencodeWithMetadata(".jpg", img[..., ::-1].copy(), [cv2.IMAGE_METADATA_EXIF],
                                       [np.frombuffer(b"Exif\0\0" + tiff, np.uint8)])
    path.write_bytes(buf.tobytes())


def _clean_failure(r, *fragments):
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in r.output, err
    for f in fragments:
        assert f in err, err


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif", ".bmp"])
def test_formats_round_trip_through_the_cli(runner, tmp_path, lut2, rng, ext):
    img = rng.integers(0, 256, (9, 10, 3), dtype=np.uint8)
    src = tmp_path / f"in{ext}"
    write_image(src, img)
    out = tmp_path / f"out{ext}"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.exit_code == 0, r.output
    assert read_image(out).shape == (18, 20, 3)


def test_exif_orientation_applied_and_reset(runner, tmp_path, lut2):
    img = np.zeros((8, 12, 3), np.uint8)
    img[:3, :3] = 255  # bright top-left corner in the stored (landscape) pixels
    src = tmp_path / "rot.jpg"
    _exif_jpeg(src, img, 6)  # "rotate 90 clockwise to display"
    loaded = load_image(src)
    assert loaded.pixels.shape[:2] == (12, 8) and loaded.pixels[:3, -3:].mean() > 200
    out = tmp_path / "rot_x2.jpg"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.exit_code == 0, r.output
    back = load_image(out)
    assert back.pixels.shape[:2] == (24, 16)  # upright, and not rotated a second time
    assert any(len(m) > 0 for _, m in back.metadata)  # EXIF carried (orientation now 1)


def test_16bit_png_stays_16bit(runner, tmp_path, lut2):
    img = (np.arange(6 * 7 * 3).reshape(6, 7, 3) * 300).astype(np.uint16)
    src = tmp_path / "deep.png"
    save_image(src, img)
    out = tmp_path / "deep_x2.png"
    assert runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])]).exit_code == 0
    got = load_image(out).pixels
    assert got.dtype == np.uint16 and got.shape == (12, 14, 3)


def _png(w: int, h: int, color_type: int, pixels: bytes, plte: bytes | None = None) -> bytes:
    """A hand-made 8-bit PNG: one filter byte (0) per row followed by the row's samples."""
    row = len(pixels) // h
    raw = b"".join(b"\x00" + pixels[i * row : (i + 1) * row] for i in range(h))
    chunks = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
    if plte is not None:
        chunks += _png_chunk(b"PLTE", plte)
    return b"\x89PNG\r\n\x1a\n" + chunks + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b"")


def test_palette_and_gray_alpha_inputs(runner, tmp_path, lut2):
    # palette PNG (colour type 3) is converted to RGB
    pal = tmp_path / "pal.png"
    pal.write_bytes(_png(4, 3, 3, bytes([0, 1, 2, 1] * 3), plte=bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])))
    img = read_image(pal)
    assert img.shape == (3, 4, 3) and tuple(img[0, 0]) == (255, 0, 0) and tuple(img[0, 2]) == (0, 0, 255)
    # gray + alpha PNG (colour type 4) comes back as RGBA and upscales as RGBA
    ga = tmp_path / "ga.png"
    ga.write_bytes(_png(3, 2, 4, bytes([100, 200] * 6)))
    img = read_image(ga)
    assert img.shape == (2, 3, 4) and tuple(img[0, 0]) == (100, 100, 100, 200)
    out = tmp_path / "ga2.png"
    assert runner.invoke(main, ["upscale", str(ga), str(out), "--lut", str(lut2[0])]).exit_code == 0
    assert read_image(out).shape == (4, 6, 4)
    # grayscale stays grayscale
    g = tmp_path / "g.png"
    write_image(g, np.full((4, 4), 7, np.uint8))
    assert read_image(g).shape == (4, 4)


def test_folder_mode(runner, tmp_path, lut2, rng):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    write_image(src / "a.png", rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    write_image(src / "b.jpg", rng.integers(0, 256, (7, 4, 3), dtype=np.uint8))
    write_image(src / "sub" / "c.png", rng.integers(0, 256, (3, 3), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"not a png")
    (src / "notes.txt").write_text("ignored: not an image name")
    out = tmp_path / "big"
    lut = ["--lut", str(lut2[0])]
    r = runner.invoke(main, ["upscale", str(src), str(out), "--recursive", "--suffix", "_x2", "--ext", "png", *lut])
    assert r.exit_code == 1, r.output  # broken.png failed, the rest went on
    assert "broken.png" in r.stderr and "3 upscaled, 0 skipped, 1 failed" in r.stderr
    assert read_image(out / "a_x2.png").shape == (10, 12, 3)
    assert read_image(out / "b_x2.png").shape == (14, 8, 3)
    assert read_image(out / "sub" / "c_x2.png").shape == (6, 6)
    (src / "broken.png").unlink()
    before = (out / "a_x2.png").stat().st_mtime_ns
    r = runner.invoke(main, ["upscale", str(src), str(out), "-r", "--suffix", "_x2", "--ext", "png", *lut])
    assert r.exit_code == 1 and "already exists" in r.stderr  # never overwrite without --overwrite
    assert (out / "a_x2.png").stat().st_mtime_ns == before
    r = runner.invoke(main, ["upscale", str(src), str(out), "-r", "--suffix", "_x2", "--ext", "png", "--skip-existing", *lut])
    assert r.exit_code == 0 and "0 upscaled, 3 skipped" in r.stderr
    r = runner.invoke(main, ["upscale", str(src), str(out), "-r", "--suffix", "_x2", "--ext", "png", "--overwrite", *lut])
    assert r.exit_code == 0 and "3 upscaled" in r.stderr
    # non-recursive: only the top level
    r = runner.invoke(main, ["upscale", str(src), str(tmp_path / "flat"), *lut])
    assert r.exit_code == 0 and not (tmp_path / "flat" / "sub").exists()
    # writing into the input folder with the same names would overwrite inputs: refused up front
    r = runner.invoke(main, ["upscale", str(src), str(src), "--overwrite", *lut])
    _clean_failure(r, "over an input")
    assert read_image(src / "a.png").shape == (5, 6, 3)


def test_single_file_never_overwrites_without_flag(runner, tmp_path, lut2, rng):
    src = tmp_path / "in.png"
    write_image(src, rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
    _clean_failure(r, "already exists")
    assert out.read_bytes() == b"precious"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0]), "--overwrite"])
    assert r.exit_code == 0 and read_image(out).shape == (8, 8, 3)


def test_malformed_inputs(runner, tmp_path, lut2, rng):
    good = tmp_path / "good.png"
    write_image(good, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    jpg = tmp_path / "good.jpg"
    write_image(jpg, rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    cases = {
        "empty.png": (b"", "empty"),
        "trunc.png": (good.read_bytes()[:60], "trunc.png"),
        "trunc.jpg": (jpg.read_bytes()[:100], "trunc.jpg"),
        "text.png": (b"hello, I am text", "not a readable image"),
        "zero.png": (_png_with_size(0, 0), "no pixels"),
        "bomb.png": (_png_with_size(100000, 100000), "more than the limit"),
    }
    for name, (data, fragment) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out = tmp_path / f"out_{name}"
        r = runner.invoke(main, ["upscale", str(p), str(out), "--lut", str(lut2[0])])
        _clean_failure(r, name, fragment)
        assert not out.exists()
        assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]
    # wrong extension: the content decides, so a PNG named .jpg still works
    wrong = tmp_path / "really_png.jpg"
    wrong.write_bytes(good.read_bytes())
    assert runner.invoke(main, ["upscale", str(wrong), str(tmp_path / "w.png"), "--lut", str(lut2[0])]).exit_code == 0
    # a custom pixel limit
    r = runner.invoke(main, ["upscale", str(good), str(tmp_path / "lim.png"), "--lut", str(lut2[0]), "--max-pixels", "10"])
    _clean_failure(r, "limit")
    # tiny but valid images upscale normally
    for shape in [(1, 1, 3), (1, 7), (5, 1, 3)]:
        p = tmp_path / f"tiny{len(shape)}{shape[0]}{shape[1]}.png"
        write_image(p, rng.integers(0, 256, shape, dtype=np.uint8))
        o = tmp_path / f"o_{p.name}"
        assert runner.invoke(main, ["upscale", str(p), str(o), "--lut", str(lut2[0])]).exit_code == 0
        assert read_image(o).shape[:2] == (shape[0] * 2, shape[1] * 2)


def test_rgba_file_keeps_transparency(runner, tmp_path, lut2):
    img = np.zeros((6, 6, 4), np.uint8)
    img[2:4, 2:4] = (10, 200, 30, 255)
    src = tmp_path / "t.png"
    write_image(src, img)
    out = tmp_path / "t2.png"
    assert runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])]).exit_code == 0
    got = read_image(out)
    assert got.shape == (12, 12, 4)
    assert np.array_equal(got, upscale(img, lut2[1]))


def test_malformed_luts_through_the_cli(runner, tmp_path, lut2, rng):
    import json

    from lutsr.lut.file import MAGIC

    src = tmp_path / "in.png"
    write_image(src, rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    data = lut2[0].read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])

    def with_header(**changes):
        h = json.loads(json.dumps(header))
        for k, v in changes.items():
            if k == "shape":
                h["tables"][0]["shape"] = v
            elif k == "sha":
                h["tables"][0]["sha256"] = v
            else:
                h[k] = v
        hb = json.dumps(h).encode()
        return MAGIC + struct.pack("<I", len(hb)) + hb + data[12 + hlen :]

    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases = {
        "truncated.lut": (data[: len(data) // 2], "truncated"),
        "checksum.lut": (with_header(sha="0" * 64), "checksum"),
        "version.lut": (with_header(format_version=7), "version 7"),
        "shape.lut": (with_header(shape=[10, 36]), "shape"),
        "evil.npy": (evil.read_bytes(), ".npy"),
    }
    for name, (blob, fragment) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        out = tmp_path / f"o_{name}.png"
        r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(p)])
        _clean_failure(r, name, fragment)
        assert not out.exists()


def test_icc_profile_is_carried(runner, tmp_path, lut2, rng):
    if not hasattr(cv2, "imwriteWithMetadata"):
        pytest.skip("this OpenCV has no metadata API")
    icc = bytes(range(256)) * 2
    src = tmp_path / "icc.jpg"
    img = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    assert cv2.imwriteWithMetadata(str(src), img, [cv2.IMAGE_METADATA_ICCP], [np.frombuffer(icc, np.uint8)])
    for out_ext, carried in ((".jpg", True), (".bmp", False)):
        out = tmp_path / f"icc_x2{out_ext}"
        r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])])
        assert r.exit_code == 0, r.output
        meta = dict(load_image(out).metadata)
        assert (meta.get(cv2.IMAGE_METADATA_ICCP) == icc) is carried
