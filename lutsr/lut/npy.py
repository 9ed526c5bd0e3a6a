"""Checked loading of ``.npy`` arrays from untrusted files (published LUTs).

The header is read first (``numpy.lib.format``) and checked before any data is loaded: the
file must start with the ``.npy`` magic (an ``.npz`` archive, a pickle or a text file is named
as such), must not hold Python objects (never unpickled), and must be at least as long as the
shape and dtype it declares (a 200-byte file declaring 10**12 elements is refused instead of
allocating 933 GiB).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError

__all__ = ["load_npy"]

_MAGIC = b"\x93NUMPY"


def _what_is(head: bytes) -> str:
    """A short description of a file that is not a ``.npy`` array, from its first bytes."""
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "a zip archive (an .npz?), not a .npy array"
    if head[:1] == b"\x80":
        return "a Python pickle, not a .npy array; refusing to load it"
    return "not a .npy array (no NUMPY magic at the start)"


def load_npy(path: str | Path) -> np.ndarray:
    """Load one ``.npy`` array without unpickling, its header checked against the file size first.

    Returns:
        The array, of the shape and dtype its header declares.

    Raises:
        LutFormatError: missing file, not a ``.npy`` array, Python objects, a header that does not
            parse, or declared data larger than the file -- one line naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise LutFormatError(f"{p}: no such file")
    fmt = np.lib.format
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
            if head[:6] != _MAGIC:
                raise LutFormatError(f"{p}: {_what_is(head)}")
            f.seek(0)
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = fmt.read_array_header_2_0(f)
            elif version == (3, 0):  # utf-8 header; numpy has no public reader for it
                impl = getattr(fmt, "_read_array_header", None) or np.lib._format_impl._read_array_header
                shape, _fortran, dtype = impl(f, version)
            else:
                raise LutFormatError(f"{p}: not a valid .npy array (unknown format version {version})")
            offset = f.tell()
    except LutFormatError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, AttributeError) as e:
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise LutFormatError(f"{p}: not a valid .npy array (bad header: {msg})") from None
    if dtype.hasobject:
        raise LutFormatError(f"{p}: holds pickled Python objects; refusing to load it")
    need = math.prod(shape) * dtype.itemsize
    if offset + need > size:
        raise LutFormatError(f"{p}: declares shape {tuple(shape)} of {dtype} ({need} bytes of data), but the file "
                             f"holds only {max(size - offset, 0)} bytes after its header (truncated or corrupt)")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        raise LutFormatError(f"{p}: not a valid .npy array ({str(e).strip()[:120]})") from None
    except (OSError, EOFError) as e:
        raise LutFormatError(f"{p}: not a valid .npy array ({e})") from None
