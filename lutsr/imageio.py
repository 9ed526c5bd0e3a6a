"""Reading and writing images (OpenCV), in RGB channel order, with atomic writes."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from lutsr.errors import ImageError

__all__ = ["read_image", "write_image", "atomic_write_bytes", "IMAGE_EXTENSIONS"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit image as ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8.

    Raises:
        ImageError: missing, unreadable, empty, or not an 8-bit image.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file")
    data = np.fromfile(p, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{p}: empty file")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{p}: not a readable image (unknown format or corrupt data)")
    if img.size == 0:
        raise ImageError(f"{p}: image has no pixels")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ImageError(f"{p}: unsupported sample type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 3:
        c = img.shape[2]
        if c == 1:
            img = img[..., 0]
        elif c == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif c == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
        else:
            raise ImageError(f"{p}: unsupported channel count {c}")
    return np.ascontiguousarray(img)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode ``image`` (uint8 gray / RGB / RGBA) by the extension of ``path`` and write it atomically.

    Raises:
        ImageError: unknown extension, missing folder, or encoding failure.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ImageError(f"{p}: unsupported output extension {ext or '(none)'!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    if not p.parent.is_dir():
        raise ImageError(f"{p}: output folder {p.parent} does not exist")
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise ImageError(f"{p}: could not encode image as {ext}")
    try:
        atomic_write_bytes(p, buf.tobytes())
    except OSError as e:
        raise ImageError(f"{p}: cannot write ({e.strerror or e})") from None
