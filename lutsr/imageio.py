"""Reading and writing images (OpenCV), in RGB channel order, with atomic writes.

- Formats: PNG, JPEG, WebP, TIFF, BMP, plus whichever of AVIF, JPEG 2000, JPEG XL and the
  Netpbm / Sun raster formats the installed OpenCV can write (checked at import:
  ``IMAGE_EXTENSIONS``). What OpenCV decodes is read; the content decides, not the extension.
  Palette images come out as RGB(A); 2-channel gray+alpha as RGBA.
- Encoder settings (:class:`EncodeOptions`): quality for JPEG, WebP, AVIF and JPEG XL, and the
  PNG compression level.
- 8- and 16-bit samples are kept (``load_image``); ``read_image`` returns 8 bits.
- EXIF orientation is applied on load; EXIF (with orientation reset to 1) and ICC profiles
  are carried to the output where the format and the installed OpenCV allow.
- Declared dimensions are read from the file header before decoding, so absurd sizes
  (decompression bombs) are refused with a clear message (``max_pixels``).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lutsr._opencv import DEFAULT_MAX_PIXELS, cv2_module, opencv_pixel_limit
from lutsr.errors import ImageError

cv2 = cv2_module()  # OPENCV_IO_MAX_IMAGE_PIXELS is set before the first ``import cv2``

__all__ = ["read_image", "load_image", "decode_image", "write_image", "save_image", "encode_image",
           "atomic_write_bytes", "IMAGE_EXTENSIONS",
           "LoadedImage", "DEFAULT_MAX_PIXELS", "declared_size", "TEMP_SUFFIX", "is_temp_name", "OutputExistsError",
           "frame_count", "EncodeOptions", "tiff_with_icc"]

log = logging.getLogger(__name__)

_BASE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: formats lutsr also reads and writes when the installed OpenCV has an encoder for them
_OPTIONAL_EXTENSIONS = (".avif", ".jp2", ".jxl", ".ppm", ".pnm", ".pgm", ".pam", ".sr", ".ras")


def _writable(ext: str) -> bool:
    try:
        return bool(cv2.haveImageWriter("x" + ext))
    except (cv2.error, AttributeError):  # pragma: no cover - very old OpenCV
        return False


#: every extension lutsr reads (folder listings) and writes: the base formats plus the optional
#: ones this OpenCV build can encode
IMAGE_EXTENSIONS = _BASE_EXTENSIONS + tuple(e for e in _OPTIONAL_EXTENSIONS if _writable(e))
_HAS_METADATA = hasattr(cv2, "imdecodeWithMetadata") and hasattr(cv2, "imencodeWithMetadata")
_EXIF = getattr(cv2, "IMAGE_METADATA_EXIF", 0)
_ICC = getattr(cv2, "IMAGE_METADATA_ICCP", 2)
_SIXTEEN_BIT_EXT = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings for the output file (``None``: OpenCV's default).

    Attributes:
        quality: 1..100 for JPEG, WebP (lossy), AVIF and JPEG XL (default: OpenCV's, 95 for JPEG
            and WebP); ignored by lossless formats.
        png_compression: zlib level 0..9 for PNG (OpenCV's default 1; 9 is smallest and slowest;
            the pixels are the same at every level).
    """

    quality: int | None = None
    png_compression: int | None = None

    def __post_init__(self) -> None:
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ImageError(f"output quality {self.quality}: expected 1..100")
        if self.png_compression is not None and not 0 <= self.png_compression <= 9:
            raise ImageError(f"PNG compression {self.png_compression}: expected 0..9")

    def params(self, ext: str) -> list[int]:
        """The ``cv2.imencode`` parameters for extension ``ext`` (``".jpg"``, ...)."""
        out: list[int] = []
        if self.quality is not None:
            flag = {".jpg": "IMWRITE_JPEG_QUALITY", ".jpeg": "IMWRITE_JPEG_QUALITY", ".webp": "IMWRITE_WEBP_QUALITY",
                    ".avif": "IMWRITE_AVIF_QUALITY", ".jxl": "IMWRITE_JPEGXL_QUALITY"}.get(ext)
            if flag and hasattr(cv2, flag):
                out += [getattr(cv2, flag), int(self.quality)]
        if self.png_compression is not None and ext == ".png":
            out += [cv2.IMWRITE_PNG_COMPRESSION, int(self.png_compression)]
        return out


@dataclass
class LoadedImage:
    """Decoded pixels plus the metadata to carry to the output.

    Attributes:
        pixels: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; uint8 or uint16.
        metadata: ``[(kind, bytes)]`` with kind an OpenCV ``IMAGE_METADATA_*`` value (EXIF with
            its orientation reset to 1, ICC profile).
    """

    pixels: np.ndarray
    metadata: list = field(default_factory=list)


def declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, JPEG, BMP, WebP or TIFF header, or ``None`` if unknown.

    JPEG fill bytes (``0xFF`` repeated before a marker) are skipped; for TIFF the first
    image (IFD) is read, classic or BigTIFF.
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                while i + 9 < len(data) and data[i + 1] == 0xFF:  # fill bytes before a marker are legal
                    i += 1
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                (length,) = struct.unpack(">H", data[i + 2 : i + 4])
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                    return w, h
                i += 2 + length
    except struct.error:
        return None
    return None


def _tiff_first_ifd(data: bytes) -> tuple[str, bool, int]:
    """Byte order (``<``/``>``), BigTIFF flag and offset of the first IFD of a TIFF file."""
    end = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    if big:
        (off,) = struct.unpack(end + "Q", data[8:16])
    else:
        (off,) = struct.unpack(end + "I", data[4:8])
    return end, big, off


def _tiff_ifd(data: bytes, end: str, big: bool, off: int, want_tags: bool = True) -> tuple[dict[int, int], int]:
    """The integer tags of the IFD at ``off`` (first value of each; none unless ``want_tags``) and
    the offset of the next IFD (0 when there is none or it cannot be read)."""
    count_fmt, entry, head = ("Q", 20, 8) if big else ("H", 12, 2)
    (count,) = struct.unpack(end + count_fmt, data[off : off + head])
    tags: dict[int, int] = {}
    for e in range(min(count, 4096) if want_tags else 0):
        at = off + head + entry * e
        tag, typ = struct.unpack(end + "HH", data[at : at + 4])
        val = data[at + (12 if big else 8) : at + entry]
        if typ == 3:
            tags[tag] = struct.unpack(end + "H", val[:2])[0]
        elif typ == 4:
            tags[tag] = struct.unpack(end + "I", val[:4])[0]
        elif typ == 16 and big:
            tags[tag] = struct.unpack(end + "Q", val[:8])[0]
    at = off + head + entry * count
    try:
        (nxt,) = struct.unpack(end + ("Q" if big else "I"), data[at : at + (8 if big else 4)])
    except struct.error:
        nxt = 0
    return tags, nxt


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of the first image of a TIFF file (tags 256 and 257)."""
    end, big, off = _tiff_first_ifd(data)
    tags, _ = _tiff_ifd(data, end, big, off)
    if 256 in tags and 257 in tags:
        return tags[256], tags[257]
    return None


def _tiff_icc(data: bytes) -> bytes | None:
    """The ICC profile (tag 34675) of the first image of a classic TIFF, or ``None``. OpenCV's TIFF
    decoder does not return it, so lutsr reads it to carry it to the output."""
    try:
        end, big, off = _tiff_first_ifd(data)
        if big:
            return None
        (count,) = struct.unpack(end + "H", data[off : off + 2])
        for i in range(min(count, 4096)):
            tag, typ, n, at = struct.unpack(end + "HHII", data[off + 2 + 12 * i : off + 14 + 12 * i])
            if tag == _TIFF_ICC_TAG and typ in (1, 7) and 4 < n <= len(data) - at:
                return bytes(data[at : at + n])
    except struct.error:
        return None
    return None


def _png_frames(data: bytes) -> int:
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        if kind == b"acTL":
            return struct.unpack(">I", data[i + 8 : i + 12])[0]
        if kind in (b"IDAT", b"IEND"):
            return 1
        i += 12 + length
    return 1


def _webp_frames(data: bytes) -> int:
    n, i = 0, 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        (length,) = struct.unpack("<I", data[i + 4 : i + 8])
        n += kind == b"ANMF"
        i += 8 + length + (length & 1)
    return max(n, 1)


def _gif_frames(data: bytes, limit: int) -> int:
    n = 0
    flags = data[10]
    i = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    while i < len(data) and n < limit:
        b = data[i]
        if b == 0x3B:  # trailer
            break
        if b == 0x21:  # extension: label, then sub-blocks
            i += 2
        elif b == 0x2C:  # image: descriptor, local colour table, LZW code size, then sub-blocks
            n += 1
            f = data[i + 9]
            i += 10 + (3 * (2 << (f & 7)) if f & 0x80 else 0) + 1
        else:
            break
        while i < len(data) and data[i]:
            i += data[i] + 1
        i += 1
    return max(n, 1)


def frame_count(data: bytes, limit: int = 10000) -> int:
    """How many frames (pages) a multi-page TIFF, animated PNG, WebP or GIF holds, from its headers; else 1.

    Counting stops at ``limit``. Only the first frame is ever decoded.
    """
    try:
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            end, big, off = _tiff_first_ifd(data)
            n, seen = 0, set()
            while off and off not in seen and n < limit:
                seen.add(off)
                _, off = _tiff_ifd(data, end, big, off, want_tags=False)
                n += 1
            return max(n, 1)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png_frames(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] == b"VP8X" and data[20] & 0x02:
            return _webp_frames(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif_frames(data, limit)
    except (struct.error, IndexError):
        return 1
    return 1


def _exif_orientation(exif: bytes) -> tuple[int, bytes]:
    """Orientation tag of an EXIF block and the block with the tag reset to 1."""
    b = bytearray(exif)
    start = 6 if b[:6] == b"Exif\x00\x00" else 0
    tiff = b[start:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1, exif
    end = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1, exif
    (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
    for e in range(count):
        off = ifd + 2 + 12 * e
        if off + 12 > len(tiff):
            break
        tag, typ = struct.unpack(end + "HH", tiff[off : off + 4])
        if tag == 0x0112 and typ == 3:
            (val,) = struct.unpack(end + "H", tiff[off + 8 : off + 10])
            b[start + off + 8 : start + off + 10] = struct.pack(end + "H", 1)
            return int(val), bytes(b)
    return 1, exif


def _orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) so the pixels are upright."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(img)) if op else img


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image with its metadata; 8- or 16-bit samples kept.

    Raises:
        ImageError: missing, empty, corrupt, too large (``max_pixels``), no pixels, or an
            unsupported sample type or channel count -- one line naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file")
    return decode_image(p.read_bytes(), name=str(p), max_pixels=max_pixels)


def decode_image(data: bytes | bytearray | memoryview, name: str = "<bytes>",
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an encoded image held in memory, exactly as :func:`load_image` decodes a file.

    Args:
        data: the bytes of a PNG, JPEG, WebP, TIFF or BMP file.
        name: how messages name the image (a file name, ``"<stdin>"``).
        max_pixels: refuse images declaring more pixels than this, from the header.

    Returns:
        A :class:`LoadedImage`: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA,
        uint8 or uint16, EXIF orientation applied; EXIF (orientation reset) and ICC kept.

    Raises:
        ImageError: empty, corrupt, too large, no pixels, unsupported sample type or channels.
    """
    p = name
    data = bytes(data) if not isinstance(data, bytes) else data
    if not data:
        raise ImageError(f"{p}: empty file")
    size = declared_size(data)
    if size is not None:
        w, h = size
        if w == 0 or h == 0:
            raise ImageError(f"{p}: image has no pixels ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(f"{p}: declares {w}x{h} = {w * h} pixels, more than the limit of {max_pixels} "
                             f"(raise it with --max-pixels if the file is genuine)")
    buf = np.frombuffer(data, dtype=np.uint8)
    metadata: list = []
    orientation = 1
    try:
        if _HAS_METADATA:
            img, types, chunks = cv2.imdecodeWithMetadata(buf, cv2.IMREAD_UNCHANGED)
            for kind, chunk in zip(list(np.asarray(types).ravel()) if types is not None else [], chunks or []):
                raw = bytes(np.asarray(chunk, dtype=np.uint8).ravel())
                if int(kind) == _EXIF:
                    orientation, raw = _exif_orientation(raw)
                    metadata.append((_EXIF, raw))
                elif int(kind) == _ICC:
                    metadata.append((_ICC, raw))
        else:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if data[:4] in (b"II*\0", b"MM\0*") and not any(k == _ICC for k, _ in metadata):
            icc = _tiff_icc(data)
            if icc is not None:
                metadata.append((_ICC, icc))
    except cv2.error as e:
        if "CV_IO_MAX_IMAGE" in str(e):
            raise ImageError(f"{p}: more pixels than OpenCV's limit of {opencv_pixel_limit()} "
                             f"(OPENCV_IO_MAX_IMAGE_PIXELS; raise --max-pixels if the file is genuine)") from None
        raise ImageError(f"{p}: cannot decode ({str(e).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ImageError(f"{p}: not a readable image (unknown format or corrupt data)")
    if img.size == 0:
        raise ImageError(f"{p}: image has no pixels")
    frames = frame_count(data)
    if frames > 1:
        log.warning("%s: holds %d frames (pages or animation); only the first is used", p, frames)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{p}: {img.shape[1]}x{img.shape[0]} pixels, more than the limit of {max_pixels}")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{p}: unsupported sample type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 3:
        c = img.shape[2]
        if c == 1:
            img = img[..., 0]
        elif c == 2:  # gray + alpha
            img = np.concatenate([np.repeat(img[..., :1], 3, axis=2), img[..., 1:]], axis=2)
        elif c == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif c == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
        else:
            raise ImageError(f"{p}: unsupported channel count {c} (expected 1, 2, 3 or 4)")
    return LoadedImage(_orient(np.ascontiguousarray(img), orientation), metadata)


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as uint8 ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (16-bit rounded to 8)."""
    img = load_image(path, max_pixels).pixels
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return img


#: Temporary files end with this suffix (not an image extension, so never listed as inputs).
TEMP_SUFFIX = ".lutsr-part"


def is_temp_name(name: str) -> bool:
    """True for the names of temporary files that ``atomic_write_bytes`` creates."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


class OutputExistsError(ImageError):
    """The destination appeared while it was written (another run) and ``overwrite`` was not allowed."""


#: ``os.link`` failures that mean "this file system has no hard links": fall back to a rename.
_NO_LINK = {getattr(errno, n) for n in ("EPERM", "EOPNOTSUPP", "ENOTSUP", "ENOSYS", "EXDEV", "EMLINK", "EACCES")
            if hasattr(errno, n)}


def _write_error(p: Path, e: OSError) -> ImageError:
    """One line naming the output (not the temporary file), with disk-full spelt out."""
    if e.errno == errno.ENOSPC:
        return ImageError(f"{p}: cannot write: no space left on device")
    if e.errno == getattr(errno, "EDQUOT", None):
        return ImageError(f"{p}: cannot write: disk quota exceeded")
    return ImageError(f"{p}: cannot write ({e.strerror or e})")


def _place(tmp: str, p: Path, overwrite: bool) -> None:
    """Move the finished temporary file to ``p``: replace it, or create it exclusively."""
    if overwrite:
        os.replace(tmp, p)
        return
    try:
        os.link(tmp, p)  # fails if p exists, atomically: a concurrent run's output is never replaced
    except FileExistsError:
        raise OutputExistsError(f"{p}: already exists (written meanwhile by another run?); "
                                "use --overwrite to replace it") from None
    except (OSError, AttributeError, NotImplementedError) as e:
        if isinstance(e, OSError) and e.errno not in _NO_LINK:
            raise
        if os.path.lexists(p):  # no hard links here: the check and the rename are not one step
            raise OutputExistsError(f"{p}: already exists; use --overwrite to replace it") from None
        os.rename(tmp, p)
        return
    os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data, overwrite: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it and move it into place.

    The temporary name is ``.NAME.XXXXXXXX.lutsr-part`` (``NAME`` shortened so long output
    names still fit). Errors name ``path``, not the temporary file. With ``overwrite=False``
    the final name is created exclusively (a hard link to the temporary file, then the
    temporary name is removed; a rename where the file system has no hard links), so a file
    that appeared at ``path`` meanwhile -- another run's output -- is never replaced.

    Raises:
        OutputExistsError: ``overwrite`` is false and ``path`` exists.
        ImageError: the file cannot be written (disk full, read-only folder, ...).
    """
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:160]}.", suffix=TEMP_SUFFIX, dir=p.parent)
    except OSError as e:
        raise _write_error(p, e) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _place(tmp, p, overwrite)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(p, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_image(path: str | os.PathLike, image: np.ndarray, metadata=(), ext: str | None = None,
               inplace: bool = False, overwrite: bool = True, options: EncodeOptions | None = None) -> None:
    """Encode ``image`` (uint8/uint16 gray, RGB, RGBA) by extension and write it atomically.

    16-bit images are written as 16-bit to PNG and TIFF, and rounded to 8 bits for formats
    without 16-bit samples. RGBA written as JPEG loses its alpha channel, with a warning
    unless the image is fully opaque. ``metadata`` (from ``load_image``) is embedded where possible.
    The image is encoded in memory (:func:`encode_image`) and the bytes are written from Python to a temporary
    file beside ``path``, fsynced and renamed into place (file names never reach OpenCV). With ``inplace=True`` the channel
    order of ``image`` is swapped in place instead of copying it (the caller gives it up).
    With ``overwrite=False`` an existing ``path`` is never replaced, even one that appears while
    the image is encoded (``atomic_write_bytes``). ``options``: encoder quality / compression.

    Raises:
        ImageError: unknown extension, missing folder, or encoding failure.
    """
    p = Path(path)
    ext = (ext or p.suffix).lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ImageError(f"{p}: unsupported output extension {ext or '(none)'!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    if not p.parent.is_dir():
        raise ImageError(f"{p}: output folder {p.parent} does not exist")
    buf = _encode(image, ext, metadata, str(p), inplace, options)
    # The path never reaches OpenCV (its binding crashes on names that are not valid UTF-8):
    # the bytes are written from Python.
    atomic_write_bytes(p, memoryview(buf), overwrite=overwrite)


def encode_image(image: np.ndarray, ext: str = ".png", metadata=(), name: str = "<bytes>",
                 inplace: bool = False, options: EncodeOptions | None = None) -> bytes:
    """Encode ``image`` in memory, exactly as :func:`save_image` encodes a file, and return the bytes.

    Args:
        image: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8 or uint16
            (RGB order, as :func:`load_image` returns; not OpenCV's BGR).
        ext: the format, by extension (``".png"``, ``"jpg"``, ...).
        metadata: ``[(kind, bytes)]`` from :func:`load_image` / :func:`decode_image`.
        name: how messages name the image.
        inplace: swap ``image``'s channel order in place instead of copying it (the caller gives it up).
        options: encoder quality / compression (:class:`EncodeOptions`).

    Raises:
        ImageError: unknown extension or encoding failure.
    """
    e = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
    if e not in IMAGE_EXTENSIONS:
        raise ImageError(f"{name}: unsupported output format {ext!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    return bytes(_encode(image, e, metadata, name, inplace, options))


def _encode(image: np.ndarray, ext: str, metadata, p: str, inplace: bool,
            options: EncodeOptions | None = None) -> np.ndarray:
    """The encoded bytes (a uint8 array from OpenCV) of ``image`` as ``ext``; ``p`` names it in messages."""
    img = np.asarray(image)
    if img.dtype == np.uint16 and ext not in _SIXTEEN_BIT_EXT:
        log.info("%s: %s holds 8-bit samples only; rounding the 16-bit result", p, ext)
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
        inplace = True
    if img.ndim == 3 and img.shape[2] == 4 and ext in (".jpg", ".jpeg"):
        opaque = np.iinfo(img.dtype).max
        if not (img[..., 3] == opaque).all():
            log.warning("%s: JPEG has no alpha channel: the transparency is dropped (transparent areas keep their "
                        "colour, black where fully transparent); write PNG, WebP or TIFF to keep it", p)
        img = img[..., :3]
        inplace = False
    if img.ndim == 3 and img.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        if inplace and img.flags.c_contiguous and img.flags.writeable:
            cv2.cvtColor(img, code, dst=img)
        else:
            img = cv2.cvtColor(img, code)
    params = options.params(ext) if options is not None else []
    buf = None
    icc = [b for k, b in metadata if int(k) == _ICC]
    if ext in (".tif", ".tiff"):  # OpenCV's TIFF encoder drops ICC profiles (with a warning of its own)
        metadata = [(k, b) for k, b in metadata if int(k) != _ICC]
    if metadata and _HAS_METADATA:
        try:
            ok, buf = cv2.imencodeWithMetadata(ext, img, [int(k) for k, _ in metadata],
                                               [np.frombuffer(b, dtype=np.uint8) for _, b in metadata], params)
        except cv2.error:
            ok = False
        if not ok:
            buf = None
            log.info("%s: this format cannot carry the input's metadata; writing without it", p)
    if buf is None:
        try:
            ok, buf = cv2.imencode(ext, img, params)
        except cv2.error as e:
            raise ImageError(f"{p}: could not encode image as {ext} ({str(e).strip().splitlines()[-1][:100]})") from None
        if not ok:
            raise ImageError(f"{p}: could not encode image as {ext}")
    if icc and ext in (".tif", ".tiff"):
        try:
            buf = np.frombuffer(tiff_with_icc(bytes(buf), icc[0]), dtype=np.uint8)
        except (ValueError, struct.error):
            log.warning("%s: could not embed the input's ICC profile in this TIFF; colours may look different "
                        "in colour-managed viewers (write PNG, JPEG or WebP to keep it)", p)
    return buf


_TIFF_ICC_TAG = 34675  # InterColorProfile, type UNDEFINED (7)


def tiff_with_icc(data: bytes, icc: bytes) -> bytes:
    """``data`` (a classic little- or big-endian TIFF, as OpenCV writes) with ``icc`` stored as the
    first image's ICC profile (tag 34675), replacing one already there.

    The first IFD is rewritten at the end of the file with the new entry (entries stay sorted by
    tag) and the header points to it; everything else keeps its offset. Raises ``ValueError``
    for a BigTIFF or a file too large for 32-bit offsets.
    """
    end, big, off = _tiff_first_ifd(data)
    if big or data[:2] not in (b"II", b"MM"):
        raise ValueError("not a classic TIFF")
    (count,) = struct.unpack(end + "H", data[off : off + 2])
    entries = [data[off + 2 + 12 * i : off + 14 + 12 * i] for i in range(count)]
    nxt = data[off + 2 + 12 * count : off + 6 + 12 * count]
    entries = [e for e in entries if struct.unpack(end + "H", e[:2])[0] != _TIFF_ICC_TAG]
    out = bytearray(data)
    if len(out) % 2:
        out += b"\0"  # TIFF offsets are word-aligned
    icc_at = len(out)
    out += icc
    if len(out) % 2:
        out += b"\0"
    ifd_at = len(out)
    if ifd_at + 6 + 12 * (len(entries) + 1) >= 2**32:
        raise ValueError("too large for a classic TIFF")
    entries.append(struct.pack(end + "HHII", _TIFF_ICC_TAG, 7, len(icc), icc_at))
    entries.sort(key=lambda e: struct.unpack(end + "H", e[:2])[0])
    out += struct.pack(end + "H", len(entries)) + b"".join(entries) + nxt
    out[4:8] = struct.pack(end + "I", ifd_at)
    return bytes(out)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """``save_image`` without metadata."""
    save_image(path, image)
