"""``lutsr.upscale_bytes``: encoded image in, encoded image out, the same as the file path does."""

import struct

import numpy as np
import pytest

import lutsr
from lutsr.errors import LutsrError
from lutsr.imageio import cv2, load_image, save_image


def _exif_jpeg_bytes(img: np.ndarray, orientation: int, icc: bytes) -> bytes:
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    ok, buf = cv2.imencodeWithMetadata(".jpg", img[..., ::-1].copy(),
                                       [cv2.IMAGE_METADATA_EXIF, cv2.IMAGE_METADATA_ICCP],
                                       [np.frombuffer(b"Exif\0\0" + tiff, np.uint8), np.frombuffer(icc, np.uint8)])
    assert ok
    return buf.tobytes()


def test_bytes_in_bytes_out_matches_the_file_path(tmp_path, lut2, rng):
    if not hasattr(cv2, "imencodeWithMetadata"):
        pytest.skip("this OpenCV has no metadata API")
    lut_path, lut = lut2
    icc = bytes(range(256)) * 2
    data = _exif_jpeg_bytes(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8), 6, icc)
    src = tmp_path / "in.jpg"
    src.write_bytes(data)
    for ext in (".png", "jpg"):
        out = lutsr.upscale_bytes(data, lut, ext=ext)
        assert isinstance(out, bytes)
        # the file path: load_image -> upscale -> save_image
        img = load_image(src)
        ref = tmp_path / f"ref.{ext.lstrip('.')}"
        save_image(ref, lutsr.upscale(img.pixels, lut), img.metadata)
        assert out == ref.read_bytes()
        back = tmp_path / f"back.{ext.lstrip('.')}"
        back.write_bytes(out)
        got = load_image(back)
        assert got.pixels.shape[:2] == (24, 16)  # orientation applied once, then reset
        if ext == "jpg":  # what this OpenCV's PNG writer cannot carry, the file path drops too (equal bytes above)
            assert dict(got.metadata).get(cv2.IMAGE_METADATA_ICCP) == icc
    assert lutsr.upscale_bytes(bytearray(data), str(lut_path)) == lutsr.upscale_bytes(memoryview(data), lut)


def test_bytes_api_errors_are_one_line(lut2):
    with pytest.raises(LutsrError, match="<bytes>: not a readable image"):
        lutsr.upscale_bytes(b"not an image", lut2[1])
    with pytest.raises(LutsrError, match="empty"):
        lutsr.upscale_bytes(b"", lut2[1])
    with pytest.raises(LutsrError, match="expected the bytes"):
        lutsr.upscale_bytes(np.zeros((2, 2), np.uint8), lut2[1])
    ok, png = cv2.imencode(".png", np.zeros((3, 3), np.uint8))
    with pytest.raises(LutsrError, match="unsupported output format"):
        lutsr.upscale_bytes(png.tobytes(), lut2[1], ext=".gif")
    assert "upscale_bytes" in dir(lutsr)


def test_channel_order_is_rgb_and_documented(tmp_path, lut2, rng):
    """read_image returns RGB (not OpenCV's BGR); per-channel LUTs give BGR in -> the same pixels in BGR out;
    the README's Upscale section and lutsr.upscale's docstring say so."""
    from pathlib import Path

    from lutsr.imageio import read_image

    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 2] = 255  # red, in OpenCV's order
    ok, buf = cv2.imencode(".png", bgr)
    (tmp_path / "red.png").write_bytes(buf.tobytes())
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    lut = lut2[1]
    assert np.array_equal(lutsr.upscale(rgb[..., ::-1].copy(), lut)[..., ::-1], lutsr.upscale(rgb, lut))
    doc = lutsr.upscale.__doc__
    assert "RGB" in doc and "BGR" in doc and "cv2.COLOR_BGR2RGB" in doc
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Upscale", 1)[1].split("\n### ", 1)[0]
    assert "BGR" in section and "read_image" in section and "COLOR_BGR2RGB" in section
