"""The lutsr LUT file format (``docs/lut-format.md``): a JSON header plus the raw table.

Layout::

    8 bytes   magic  b"\\x89LUTSR\\r\\n"
    4 bytes   header length N, uint32 little-endian
    N bytes   header, UTF-8 JSON object
    rest      payload: the table, C order, little-endian (zlib-compressed when the
              header says ``"compression": "zlib"``)

Loading parses JSON and raw bytes only: it never executes code. Every header field is
validated, and the SHA-256 of the (uncompressed) table must match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError
from lutsr.imageio import atomic_write_bytes
from lutsr.spec import ECLUT, KERNELS, levels_for_interval

__all__ = ["Lut", "load_lut", "save_lut", "make_eclut_header", "MAGIC", "FORMAT_VERSION", "default_lut_path"]

log = logging.getLogger(__name__)

MAGIC = b"\x89LUTSR\r\n"
FORMAT_VERSION = 1
_MAX_HEADER = 1 << 20
_METHODS = ("eclut",)
_COMPRESSIONS = ("none", "zlib")


@dataclass
class Lut:
    """A loaded, validated LUT.

    Attributes:
        header: the validated JSON header (dict).
        table: read-only uint8 array of shape ``header["table_shape"]``; for ECLUT
            ``(L*L, 9*s*s)`` with row ``a*L + b`` (a = current pixel level, b = the one below)
            and columns ordered (map g, sub-row i, sub-col j).
        path: where it was loaded from (``None`` if built in memory).
    """

    header: dict
    table: np.ndarray
    path: Path | None = None
    _compiled: dict = field(default_factory=dict, repr=False)

    @property
    def method(self) -> str:
        return self.header["method"]

    @property
    def scale(self) -> int:
        return int(self.header["scale"])

    @property
    def interval(self) -> int:
        return int(self.header["interval"])

    def __str__(self) -> str:
        src = f" from {self.path}" if self.path else ""
        return f"{self.method} x{self.scale} interval {self.interval} LUT{src}"


def make_eclut_header(scale: int, interval: int = 0, source: dict | None = None) -> dict:
    """Header for an ECLUT table (everything but the payload fields)."""
    from lutsr import __version__

    _, levels = levels_for_interval(interval)
    k = ECLUT.kernel
    return {
        "format": "lutsr-lut",
        "format_version": FORMAT_VERSION,
        "method": "eclut",
        "scale": int(scale),
        "kernel": {"name": k.name, "offsets": [list(o) for o in k.offsets], "pad_mode": k.pad_mode},
        "rotations": ECLUT.n_rotations,
        "interval": int(interval),
        "levels": levels,
        "value_encoding": ECLUT.value_encoding,
        "value_offset": ECLUT.offset,
        "alpha": ECLUT.alpha,
        "rescale": {"add": 1 << (ECLUT.shift - 1), "shift": ECLUT.shift},
        "table_shape": [levels ** k.n_inputs, ECLUT.n_cells(scale)],
        "table_dtype": "uint8",
        "source": source or {},
        "lutsr_version": __version__,
    }


def _fail(path, msg: str):
    where = f"{path}: " if path else ""
    raise LutFormatError(f"{where}{msg}")


def _expect(path, header: dict, key: str, kind, allowed=None):
    if key not in header:
        _fail(path, f"header field {key!r} is missing")
    val = header[key]
    if kind is int and isinstance(val, bool) or not isinstance(val, kind):
        _fail(path, f"header field {key!r} has type {type(val).__name__}, expected {getattr(kind, '__name__', kind)}")
    if allowed is not None and val not in allowed:
        _fail(path, f"header field {key!r} is {val!r}, expected one of {list(allowed)!r}")
    return val


def validate_header(header: dict, path=None) -> None:
    """Check every field of a header; raise LutFormatError naming the first problem."""
    if not isinstance(header, dict):
        _fail(path, "header is not a JSON object")
    _expect(path, header, "format", str, ("lutsr-lut",))
    version = _expect(path, header, "format_version", int)
    if version != FORMAT_VERSION:
        _fail(path, f"format version {version} is not supported (this lutsr reads version {FORMAT_VERSION})")
    method = _expect(path, header, "method", str, _METHODS)
    scale = _expect(path, header, "scale", int)
    if not 2 <= scale <= 8:
        _fail(path, f"scale {scale} is out of range 2..8")
    interval = _expect(path, header, "interval", int)
    try:
        _, levels = levels_for_interval(interval)
    except ValueError as e:
        _fail(path, str(e))
    if method == "eclut":
        want = make_eclut_header(scale, interval)
        if interval != 0:
            _fail(path, f"ECLUT tables at interval {interval} are not supported yet (only interval 0, 257x257 rows)")
        for key in ("kernel", "rotations", "levels", "value_encoding", "value_offset", "rescale", "table_shape", "table_dtype"):
            if header.get(key) != want[key]:
                _fail(path, f"header field {key!r} is {header.get(key)!r}, expected {want[key]!r} for {method} x{scale}")
        alpha = _expect(path, header, "alpha", (int, float))
        if not np.isfinite(alpha) or alpha <= 0:
            _fail(path, f"alpha {alpha!r} must be a positive number")
    _expect(path, header, "sha256", str)
    _expect(path, header, "compression", str, _COMPRESSIONS)
    _expect(path, header, "payload_bytes", int)
    _expect(path, header, "source", dict)
    _expect(path, header, "lutsr_version", str)


def save_lut(path: str | os.PathLike, header: dict, table: np.ndarray, compress: bool = True) -> None:
    """Write a LUT file atomically. ``header`` comes from ``make_*_header``; payload fields are filled in."""
    table = np.ascontiguousarray(table)
    if list(table.shape) != list(header["table_shape"]) or table.dtype.name != header["table_dtype"]:
        raise LutFormatError(
            f"table is {table.dtype}{list(table.shape)}, header says {header['table_dtype']}{header['table_shape']}"
        )
    raw = table.astype(table.dtype.newbyteorder("<"), copy=False).tobytes()
    payload = zlib.compress(raw, 9) if compress else raw
    h = dict(header)
    h["sha256"] = hashlib.sha256(raw).hexdigest()
    h["compression"] = "zlib" if compress else "none"
    h["payload_bytes"] = len(payload)
    validate_header(h, path)
    hb = json.dumps(h, indent=1, sort_keys=True).encode("utf-8")
    atomic_write_bytes(path, MAGIC + struct.pack("<I", len(hb)) + hb + payload)
    log.info("wrote %s (%d bytes)", path, len(MAGIC) + 4 + len(hb) + len(payload))


def load_lut(path: str | os.PathLike) -> Lut:
    """Read and validate a LUT file. Raises LutFormatError with a one-line message on any problem."""
    p = Path(path)
    if not p.is_file():
        _fail(p, "no such LUT file")
    data = p.read_bytes()
    if len(data) < len(MAGIC) + 4 or data[: len(MAGIC)] != MAGIC:
        if data[:6] == b"\x93NUMPY":
            _fail(p, "this is a raw .npy array, not a lutsr LUT file")
        _fail(p, "not a lutsr LUT file (bad magic bytes)")
    (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > _MAX_HEADER or start + hlen > len(data):
        _fail(p, f"truncated or corrupt header (declares {hlen} bytes)")
    try:
        header = json.loads(data[start : start + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(p, f"header is not valid JSON ({e.__class__.__name__})")
    validate_header(header, p)
    payload = data[start + hlen :]
    if len(payload) != header["payload_bytes"]:
        _fail(p, f"payload is {len(payload)} bytes, header says {header['payload_bytes']} (truncated file?)")
    if header["compression"] == "zlib":
        try:
            raw = zlib.decompress(payload)
        except zlib.error:
            _fail(p, "compressed table is corrupt")
    else:
        raw = payload
    shape = tuple(header["table_shape"])
    if len(raw) != int(np.prod(shape)):
        _fail(p, f"table has {len(raw)} bytes, expected {int(np.prod(shape))} for shape {list(shape)}")
    if hashlib.sha256(raw).hexdigest() != header["sha256"]:
        _fail(p, "table checksum (sha256) does not match the header: the file is corrupt")
    table = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    return Lut(header=header, table=table, path=p)


def default_lut_path(scale: int = 4) -> Path:
    """Path of the shipped default LUT for ``scale``."""
    from importlib.resources import files

    p = Path(str(files("lutsr.luts") / f"eclut_x{scale}.lut"))
    if not p.is_file():
        raise LutFormatError(f"no default LUT is shipped for scale {scale} ({p.name}); pass --lut FILE")
    return p
