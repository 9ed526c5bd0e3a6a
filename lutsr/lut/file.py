"""The lutsr LUT file format (``docs/lut-format.md``): a JSON header plus the raw table.

Layout::

    8 bytes   magic  b"\\x89LUTSR\\r\\n"
    4 bytes   header length N, uint32 little-endian
    N bytes   header, UTF-8 JSON object
    rest      payload: the method's tables one after another, C order (zlib-compressed
              as a whole when the header says ``"compression": "zlib"``)

Loading parses JSON and raw bytes only: it never executes code. Every header field is
validated against the method registry (``lutsr.spec.METHODS``), and the SHA-256 of every
(uncompressed) table must match.
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

from lutsr._version import __version__
from lutsr.errors import LutFormatError, LutsrError
from lutsr.imageio import atomic_write_bytes
from lutsr.spec import METHODS, NETWORK_FAMILIES, MethodSpec, get_method, levels_for_interval

__all__ = ["Lut", "load_lut", "save_lut", "make_header", "make_eclut_header", "make_network_header",
           "network_lut", "validate_header", "MAGIC", "FORMAT_VERSION", "NETWORK_FORMAT_VERSION"]

log = logging.getLogger(__name__)

MAGIC = b"\x89LUTSR\r\n"
FORMAT_VERSION = 1  # stages of simplex units (``lutsr.spec.METHODS``)
NETWORK_FORMAT_VERSION = 2  # LUT networks: the header carries the description (``lutsr.net``)
_TABLE_DTYPES = ("int8", "uint8", "int16", "int32")
_MAX_TABLES = 4096
_MAX_HEADER = 1 << 20
_COMPRESSIONS = ("none", "zlib")


@dataclass
class Lut:
    """A loaded, validated LUT.

    Attributes:
        header: the validated JSON header (dict).
        tables: read-only arrays, one per table of the method (``method.table_names()``
            order), each ``(rows, cells)`` of the method's dtype (uint8 or int8). Row of
            input levels ``(l0, l1, ...)`` is ``l0*L**(k-1) + ... + l_{k-1}``; cells are
            ordered (map g, sub-row i, sub-col j) for ExpandConv units, (i, j) otherwise.
        path: where it was loaded from (``None`` if built in memory).
    """

    header: dict
    tables: list
    path: Path | None = None
    _compiled: dict = field(default_factory=dict, repr=False)

    @property
    def is_network(self) -> bool:
        """True for a LUT network (format version 2), whose header describes the whole computation."""
        return self.header.get("format_version") == NETWORK_FORMAT_VERSION

    @property
    def network(self):
        """The validated :class:`lutsr.net.graph.Network` of a format-2 LUT (built once, cached)."""
        if "network" not in self._compiled:
            from lutsr.net.graph import Network

            names = [t["name"] for t in self.header["tables"]]
            net = Network(self.header["network"]["ops"], dict(zip(names, self.tables)), self.scale)
            self._compiled["network"] = net.validate()
        return self._compiled["network"]

    @property
    def method(self) -> MethodSpec:
        if self.is_network:
            raise LutFormatError(f"{self.header['method']} is a LUT network: it has no stage description")
        return get_method(self.header["method"])

    @property
    def table(self) -> np.ndarray:
        """The first (for single-table methods: the only) table."""
        return self.tables[0]

    @table.setter
    def table(self, value: np.ndarray) -> None:
        self.tables[0] = value
        self._compiled.clear()

    @property
    def scale(self) -> int | None:
        """Output size / input size; ``None`` for a LUT network that resamples to any size (LeRF)."""
        return None if self.header["scale"] is None else int(self.header["scale"])

    @property
    def task(self):
        """The :class:`lutsr.tasks.Task` a scale-1 LUT restores (denoise / deblock), or ``None`` for upscaling."""
        from lutsr.tasks import Task

        return Task.from_json(self.header["task"]) if self.header.get("task") is not None else None

    @property
    def interval(self) -> int | None:
        """Sampling interval of a stage LUT; None for a LUT network (its tables say their own steps)."""
        return None if self.is_network else int(self.header["interval"])

    def __getstate__(self) -> dict:
        # Pickle header, tables and path only: the compiled caches (``_compiled``, several
        # times the tables' size) are rebuilt on first use in the receiving process.
        state = self.__dict__.copy()
        state["_compiled"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["_compiled"] = {}
        self.__dict__.update(state)

    def __str__(self) -> str:
        src = f" ({self.path.name})" if self.path else ""
        if self.is_network:
            return f"{self.header['method']} {'any-scale' if self.scale is None else f'x{self.scale}'} LUT network{src}"
        if self.header.get("task") is not None:
            return f"{self.header['method']} {self.task} LUT{src}"
        return f"{self.header['method']} x{self.scale} interval {self.interval} LUT{src}"


def make_header(method: str, scale: int, interval: int | None = None, source: dict | None = None,
                task=None) -> dict:
    """Header for a LUT of ``method`` (everything but the payload fields, filled by ``save_lut``).

    ``task``: a :class:`lutsr.tasks.Task` for a scale-1 restoration LUT (stored as ``"task"``).
    """
    m = get_method(method)
    interval = m.default_interval if interval is None else int(interval)
    _, levels = levels_for_interval(interval)
    return _with_task({
        "format": "lutsr-lut",
        "format_version": FORMAT_VERSION,
        "method": m.name,
        "method_spec": m.to_json(),
        "scale": int(scale),
        "interval": interval,
        "levels": levels,
        "tables": [{"name": n, "shape": list(sh), "dtype": m.table_dtype}
                   for n, sh in zip(m.table_names(), m.table_shapes(scale, interval))],
        "source": source or {},
        "lutsr_version": __version__,
    }, task, scale)


def _with_task(header: dict, task, scale) -> dict:
    if task is not None:
        if scale != 1:
            raise LutFormatError(f"a {task} LUT must keep the size (scale 1), got scale {scale}")
        header["task"] = task.to_json()
    return header


def _validate_task(header: dict, path) -> None:
    """The optional ``task`` field: a valid task, on a scale-1 LUT only."""
    if header.get("task") is None:
        return
    from lutsr.tasks import Task

    try:
        task = Task.from_json(header["task"])
    except LutsrError as e:
        _fail(path, str(e))
    if header.get("scale") != 1:
        _fail(path, f"a {task} LUT must have scale 1, header says {header.get('scale')!r}")


def make_network_header(family: str, net, source: dict | None = None, task=None) -> dict:
    """Header of a LUT network (format version 2) of ``family`` (``spec.NETWORK_FAMILIES``) for ``net``.

    ``task``: a :class:`lutsr.tasks.Task` for a scale-1 restoration network.
    """
    if family not in NETWORK_FAMILIES:
        raise LutFormatError(f"unknown LUT network family {family!r}; expected one of {', '.join(NETWORK_FAMILIES)}")
    return _with_task({
        "format": "lutsr-lut",
        "format_version": NETWORK_FORMAT_VERSION,
        "method": family,
        "scale": None if net.scale is None else int(net.scale),
        "network": json.loads(json.dumps(net.to_json())),
        "tables": [{"name": n, "shape": list(t.shape), "dtype": t.dtype.name} for n, t in net.tables.items()],
        "source": source or {},
        "lutsr_version": __version__,
    }, task, net.scale)


def network_lut(family: str, net, source: dict | None = None, task=None) -> Lut:
    """An in-memory :class:`Lut` holding ``net`` (what ``save_lut`` writes and ``load_lut`` reads back)."""
    h = make_network_header(family, net, source, task)
    lut = Lut(header=h, tables=[net.tables[t["name"]] for t in h["tables"]])
    lut._compiled["network"] = net
    return lut


def _validate_network_header(header: dict, path, payload: bool) -> None:
    _expect(path, header, "method", str, tuple(NETWORK_FAMILIES))
    scale = _expect(path, header, "scale", (int, type(None)))  # null: resamples to any size
    if scale is not None and (isinstance(scale, bool) or not 1 <= scale <= 8):
        _fail(path, f"scale {scale} is out of range 1..8")
    net = _expect(path, header, "network", dict)
    if not isinstance(net.get("ops"), list) or net.get("scale") != scale:
        _fail(path, "header field 'network' must hold 'ops' (a list) and the file's 'scale'")
    tables = _expect(path, header, "tables", list)
    if not 1 <= len(tables) <= _MAX_TABLES:
        _fail(path, f"{len(tables)} tables, expected 1..{_MAX_TABLES}")
    names = set()
    for t in tables:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or t["name"] in names:
            _fail(path, f"table entry {str(t)[:60]!r} is not an object with a unique name")
        names.add(t["name"])
        shape = t.get("shape")
        if not (isinstance(shape, list) and 1 <= len(shape) <= 4 and all(type(x) is int and 0 < x < 1 << 28
                                                                          for x in shape)):
            _fail(path, f"table {t['name']}: shape {shape!r} is not a list of 1..4 positive integers")
        if int(np.prod(shape)) > 1 << 28:
            _fail(path, f"table {t['name']}: {int(np.prod(shape))} cells is too many")
        if t.get("dtype") not in _TABLE_DTYPES:
            _fail(path, f"table {t['name']}: dtype {t.get('dtype')!r}, expected one of {list(_TABLE_DTYPES)}")
        if payload and not (isinstance(t.get("sha256"), str) and len(t["sha256"]) == 64):
            _fail(path, f"table {t['name']}: sha256 is missing or malformed")
    if payload:
        _expect(path, header, "compression", str, _COMPRESSIONS)
        _expect(path, header, "payload_bytes", int)
    _expect(path, header, "source", dict)
    _expect(path, header, "lutsr_version", str)


def make_eclut_header(scale: int, interval: int = 0, source: dict | None = None) -> dict:
    """Header for an ECLUT table."""
    return make_header("eclut", scale, interval, source)


def _fail(path, msg: str):
    where = f"{path}: " if path else ""
    raise LutFormatError(f"{where}{msg}")


def _expect(path, header: dict, key: str, kind, allowed=None):
    if key not in header:
        _fail(path, f"header field {key!r} is missing")
    val = header[key]
    if (kind is int and isinstance(val, bool)) or not isinstance(val, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        _fail(path, f"header field {key!r} has type {type(val).__name__}, expected {name}")
    if allowed is not None and val not in allowed:
        _fail(path, f"header field {key!r} is {val!r}, expected one of {list(allowed)!r}")
    return val


def validate_header(header: dict, path=None, payload: bool = True) -> None:
    """Check every field of a header; raise LutFormatError naming the first problem."""
    if not isinstance(header, dict):
        _fail(path, "header is not a JSON object")
    _expect(path, header, "format", str, ("lutsr-lut",))
    version = _expect(path, header, "format_version", int)
    _validate_task(header, path)
    if version == NETWORK_FORMAT_VERSION:
        return _validate_network_header(header, path, payload)
    if version != FORMAT_VERSION:
        _fail(path, f"format version {version} is not supported (this lutsr reads versions {FORMAT_VERSION} "
                    f"and {NETWORK_FORMAT_VERSION})")
    method = _expect(path, header, "method", str, tuple(METHODS))
    scale = _expect(path, header, "scale", int)
    if not 1 <= scale <= 8:
        _fail(path, f"scale {scale} is out of range 1..8")
    interval = _expect(path, header, "interval", int)
    try:
        levels_for_interval(interval)
    except ValueError as e:
        _fail(path, str(e))
    want = make_header(method, scale, interval)
    spec = _expect(path, header, "method_spec", dict)
    for key, val in want["method_spec"].items():
        if spec.get(key) != val:
            _fail(path, f"method_spec field {key!r} is {spec.get(key)!r}, expected {val!r} for {method}")
    if header.get("levels") != want["levels"]:
        _fail(path, f"header field 'levels' is {header.get('levels')!r}, expected {want['levels']} for interval {interval}")
    tables = _expect(path, header, "tables", list)
    if len(tables) != len(want["tables"]):
        _fail(path, f"{len(tables)} tables, expected {len(want['tables'])} for {method}")
    for got, exp in zip(tables, want["tables"]):
        if not isinstance(got, dict):
            _fail(path, "table entry is not a JSON object")
        shape = got.get("shape")
        if not (isinstance(shape, list) and all(type(x) is int for x in shape)):
            _fail(path, f"table {exp['name']}: shape {shape!r} is not a list of integers")
        for key in ("name", "shape", "dtype"):
            if got.get(key) != exp[key]:
                _fail(path, f"table {exp['name']}: {key} is {got.get(key)!r}, expected {exp[key]!r} "
                            f"for {method} x{scale} interval {interval}")
        if payload and not (isinstance(got.get("sha256"), str) and len(got["sha256"]) == 64):
            _fail(path, f"table {exp['name']}: sha256 is missing or malformed")
    if payload:
        _expect(path, header, "compression", str, _COMPRESSIONS)
        _expect(path, header, "payload_bytes", int)
    _expect(path, header, "source", dict)
    _expect(path, header, "lutsr_version", str)


def save_lut(path: str | os.PathLike, header: dict, tables, compress: bool = True) -> None:
    """Write a LUT file atomically. ``header`` comes from ``make_header``; payload fields are filled in.

    ``tables``: one array, or a list in the method's table order, with the header's shapes/dtypes.
    """
    if isinstance(tables, np.ndarray):
        tables = [tables]
    h = json.loads(json.dumps(header))
    validate_header(h, path, payload=False)
    raws = []
    for entry, t in zip(h["tables"], tables):
        t = np.ascontiguousarray(t)
        if list(t.shape) != entry["shape"] or t.dtype.name != entry["dtype"]:
            raise LutFormatError(f"table {entry['name']} is {t.dtype}{list(t.shape)}, "
                                 f"header says {entry['dtype']}{entry['shape']}")
        raw = t.tobytes()
        entry["sha256"] = hashlib.sha256(raw).hexdigest()
        raws.append(raw)
    if len(raws) != len(h["tables"]):
        raise LutFormatError(f"got {len(raws)} tables, the method needs {len(h['tables'])}")
    raw = b"".join(raws)
    payload = zlib.compress(raw, 9) if compress else raw
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
            _fail(p, "this is a raw .npy array, not a lutsr LUT file (convert it with 'lutsr import')")
        _fail(p, "not a lutsr LUT file (bad magic bytes)")
    (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > _MAX_HEADER or start + hlen > len(data):
        _fail(p, f"truncated or corrupt header (declares {hlen} bytes)")
    try:
        header = json.loads(data[start : start + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        _fail(p, f"header is not valid JSON ({e.__class__.__name__})")
    validate_header(header, p)
    payload = data[start + hlen :]
    if len(payload) != header["payload_bytes"]:
        _fail(p, f"payload is {len(payload)} bytes, header says {header['payload_bytes']} (truncated file?)")
    want = sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in header["tables"])
    if header["compression"] == "zlib":
        # bounded by the size the (validated) header declares: a zlib bomb stops at want + 1 bytes
        try:
            d = zlib.decompressobj()
            raw = d.decompress(payload, want + 1)
        except zlib.error:
            _fail(p, "compressed table is corrupt")
        if len(raw) > want or d.unconsumed_tail:
            _fail(p, f"compressed tables inflate to more than the {want} bytes the header declares")
    else:
        raw = payload
    if len(raw) != want:
        _fail(p, f"tables hold {len(raw)} bytes, expected {want} for the shapes in the header")
    tables = []
    pos = 0
    for t in header["tables"]:
        n = int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
        chunk = raw[pos : pos + n]
        pos += n
        if hashlib.sha256(chunk).hexdigest() != t["sha256"]:
            _fail(p, f"table {t['name']}: checksum (sha256) does not match the header: the file is corrupt")
        tables.append(np.frombuffer(chunk, dtype=np.dtype(t["dtype"])).reshape(t["shape"]))
    lut = Lut(header=header, tables=tables, path=p)
    if lut.is_network:
        try:
            lut.network  # noqa: B018 - validates the description against the tables (ranges, bounds)
        except LutFormatError as e:
            _fail(p, str(e))
        except (TypeError, KeyError, ValueError, IndexError, AttributeError) as e:
            _fail(p, f"malformed network description ({e.__class__.__name__}: {str(e)[:80]})")
    return lut
