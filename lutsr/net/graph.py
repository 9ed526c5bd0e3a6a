"""LUT networks as data: a small graph of integer (and float32) planes, table lookups and the
few layers the 2024-2026 LUT families use between them (``docs/methods.md``, "LUT networks").

A :class:`Network` is a list of ops, each a JSON object, plus named tables (NumPy arrays). It is
run once per image channel on an ``(H, W)`` plane ``x`` of pixel values 0..255 and produces an
``(H*s, W*s)`` plane of pixel values 0..255. Every op names the planes it reads and the plane it
writes; planes are ``(C, H, W)`` integers (or float32 for the ``f*`` ops).

The same description is executed by the NumPy reference (:mod:`lutsr.net.reference`) and the
Numba runtime (:mod:`lutsr.runtime.netrun`), written by the importers of published tables
(:mod:`lutsr.lut.frontier`) and stored in LUT files (format version 2). :meth:`Network.validate`
infers every plane's shape and value range from the ops and the tables, and proves that no
lookup can read outside its table: a file that passes it cannot make the runtime read out of
bounds.

Ops (``"op"`` field; every op has ``"out"``):

``add_const {src, value}``, ``add {a, b}`` (a 1-channel operand broadcasts), ``clamp {src, lo, hi}``,
``rshift {src, bits}`` (floor division by ``2**bits``), ``mask {src, bits}`` (``v mod 2**bits``),
``remap {src, table, lo}`` (per-channel value map ``T[c, v - lo]``: requantisation, nonlinearities),
``lut {src, table, terms, n_out, index, k, levels, border, divisor, rounding}`` (sum of table
lookups per output channel, then an exact rounded division), ``shift {src, offsets, border}``
(per-channel spatial shift), ``pixel_shuffle {src, scale}``, ``upsample {src, scale}`` (nearest),
``ensemble {src, body, body_out, rotations, clamp}`` (run ``body`` on each rotation of ``src``,
rotate back, clamp, sum), ``fdiv {src, value}``, ``fmul {src, value}``, ``fadd {a, b}``,
``fclamp {src, lo, hi}``, ``floor {src}``, ``round {src}`` (float32 arithmetic, IEEE, in this
order), ``resample {src, params, kernel, support, max_sigma, border}`` (arbitrary-scale resampling with
per-pixel steered kernels, LeRF: :mod:`lutsr.net.resample`), ``div {src, divisor, bias, rounding}``
(exact ``round(v / divisor + bias)``), ``sum_channels {src}`` (one channel: the sum of all),
``output {src}``.

A network with a ``resample`` has ``scale`` ``None``: its output size is chosen when it runs. Its
planes after the ``resample`` have resolution ``None``; only per-pixel ops may follow it.

``lut`` terms (an int32 table ``(n_terms, 6 + 3k)``): ``[out, offset, stride, cell, lo, step,
(channel, dy, dx) * k]``. One term adds the table element ``offset + row * stride + cell``:

* ``index: "linear"`` (k = 1; ShiftLUT, TinyLUT): ``u = v - lo``, ``row = u // step``,
  ``f = u % step``; the term adds ``T[row] * (step - f) + T[row + 1] * f`` in units of ``1/step``
  (the op's accumulator counts in units of ``1/S``, ``S`` the largest step; steps are powers of 2).
* ``index: "direct"`` (HKLUT, SR-LUT V): ``row = sum_i (v_i - lo) * levels**(k-1-i)``.
* ``index: "simplex"`` (SR-LUT/MuLUT/LeRF 4-D interpolation; ``step`` = ``2**interval``): ``u_i = v_i - lo``
  splits into ``m_i = u_i // step`` and ``f_i = u_i % step``; from the base row
  ``sum_i m_i * levels**(k-1-i)`` walk to the far corner, adding the stride of the input with the
  largest fraction first (ties: the earlier input first); vertex ``j = 0..k`` gets weight
  ``f(j) - f(j+1)``, ``f(1) >= ... >= f(k)`` the fractions sorted, ``f(0) = step``, ``f(k+1) = 0``,
  in units of ``1/step`` like ``linear`` (``lutsr.spec.simplex_reference``). Vertices
  of weight 0 are not read.

The optional integer ``bias`` (default 0) is added before rounding: the output channel ``out`` gets
``round(acc / (S * divisor) + bias)``, computed exactly, with ``rounding`` ``half_even``,
``half_up`` or ``floor``. Taps read ``src[channel, y + dy, x + dx]`` with ``border`` ``edge``
(replicate) or ``reflect`` at the plane's edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lutsr.errors import LutFormatError

__all__ = ["Network", "OPS", "TERM_FIXED", "ROUNDINGS", "BORDERS", "PlaneInfo", "rot_offset"]

TERM_FIXED = 6  # out, offset, stride, cell, lo, step
ROUNDINGS = ("half_even", "half_up", "floor")
#: a ``lut`` op's rounding: one of ``ROUNDINGS``, or ``"none"`` (no division: the raw sum in units of
#: ``1/S``, divisor 1; a later ``div`` op divides, e.g. after ECLUT's ExpandConv maps are summed)
LUT_ROUNDINGS = ROUNDINGS + ("none",)
BORDERS = ("edge", "reflect")
_MAX_PLANES = 4096
_MAX_CHANNELS = 1024
_INT_LIMIT = 1 << 30  # every int plane and accumulator stays well inside int32 / float64-exact


@dataclass(frozen=True, eq=False)
class PlaneInfo:
    """What validation knows about a plane: channels, resolution factor, dtype and per-channel value range.

    ``lo`` and ``hi`` are float64 arrays of length ``channels`` (or scalars, broadcast to it).
    """

    channels: int
    res: int | None  # size relative to the network input (1 = LR, s = HR; None: any, after a resample)
    kind: str  # "int" or "f32"
    lo: np.ndarray
    hi: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "lo", np.broadcast_to(np.asarray(self.lo, np.float64), (self.channels,)).copy())
        object.__setattr__(self, "hi", np.broadcast_to(np.asarray(self.hi, np.float64), (self.channels,)).copy())


def rot_offset(dy: int, dx: int, k: int) -> tuple[int, int]:
    """Offset ``(dy, dx)`` read in the image rotated by ``k*90`` degrees (``np.rot90``), in the
    original image's coordinates (same rule as ``spec.rotation_neighbor_offsets``)."""
    for _ in range(k % 4):
        dy, dx = dx, -dy
    return dy, dx


def _fail(msg: str):
    raise LutFormatError(msg)


def _int(op: dict, key: str, lo: int | None = None, hi: int | None = None) -> int:
    v = op.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(f"op {op.get('op')!r} -> {op.get('out')!r}: field {key!r} is {v!r}, expected an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        _fail(f"op {op.get('op')!r} -> {op.get('out')!r}: field {key!r} is {v}, expected {lo}..{hi}")
    return v


def _num(op: dict, key: str) -> float:
    v = op.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _fail(f"op {op.get('op')!r} -> {op.get('out')!r}: field {key!r} is {v!r}, expected a finite number")
    return float(v)


def _choice(op: dict, key: str, allowed) -> str:
    v = op.get(key)
    if v not in allowed:
        _fail(f"op {op.get('op')!r} -> {op.get('out')!r}: field {key!r} is {v!r}, expected one of {list(allowed)}")
    return v


#: op name -> fields it reads planes from
OPS: dict[str, tuple[str, ...]] = {
    "add_const": ("src",), "add": ("a", "b"), "clamp": ("src",), "rshift": ("src",), "mask": ("src",),
    "remap": ("src",), "lut": ("src",), "shift": ("src",), "pixel_shuffle": ("src",), "upsample": ("src",),
    "ensemble": ("src",), "fdiv": ("src",), "fmul": ("src",), "fadd": ("a", "b"), "fclamp": ("src",),
    "floor": ("src",), "round": ("src",), "output": ("src",), "resample": ("src", "params"),
    "div": ("src",), "sum_channels": ("src",),
}
#: ops that read neighbouring pixels or change resolution: refused on planes after a ``resample``
_SPATIAL = ("lut", "shift", "pixel_shuffle", "upsample", "ensemble", "resample")


@dataclass
class Network:
    """A LUT network: ops (JSON-able dicts) and the tables they name.

    Attributes:
        ops: the top-level ops, in execution order; the input plane is ``"x"`` ((1, H, W) ints 0..255).
        tables: name -> C-contiguous array (int8/int16/int32 tables and term lists, float32 never).
        scale: output size / input size; ``None`` for a network that resamples to any size.
    """

    ops: list
    tables: dict
    scale: int | None
    _info: dict = field(default_factory=dict, repr=False)
    _inputs: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Network":
        """Infer every plane's shape, kind and range; check fields, tables and lookup bounds.

        Raises :class:`LutFormatError` (one line) on the first problem. Returns ``self``.
        """
        if self.scale is not None and (isinstance(self.scale, bool) or not isinstance(self.scale, int)
                                       or not 1 <= self.scale <= 8):
            _fail(f"network scale {self.scale!r} is out of range 1..8 (or null: any size)")
        if not isinstance(self.ops, list) or not self.ops:
            _fail("network has no ops")
        for name, t in self.tables.items():
            if not isinstance(t, np.ndarray) or t.dtype not in (np.int8, np.int16, np.int32, np.uint8):
                _fail(f"table {name!r} must be an int8/uint8/int16/int32 array, got "
                      f"{getattr(t, 'dtype', type(t).__name__)}")
        planes = {"x": PlaneInfo(1, 1, "int", 0, 255)}
        self._info = {}
        self._inputs = {}
        out = self._walk(self.ops, planes, top=True)
        if out is None:
            _fail("network has no 'output' op")
        info = planes[out]
        if info.kind != "int" or info.channels != 1 or info.res != self.scale:
            _fail(f"network output {out!r} is {info.channels} {info.kind} channel(s) at x{info.res or 'any'}, "
                  f"expected 1 int channel at x{self.scale or 'any'}")
        if info.lo.min() < 0 or info.hi.max() > 255:
            _fail(f"network output {out!r} may take values {info.lo.min():g}..{info.hi.max():g}, outside 0..255 "
                  "(add a clamp before 'output')")
        return self

    def _walk(self, ops, planes: dict, top: bool) -> str | None:
        result = None
        if len(planes) + len(ops) > _MAX_PLANES:
            _fail("network has too many ops")
        for op in ops:
            if not isinstance(op, dict):
                _fail(f"op {op!r} is not a JSON object")
            kind = op.get("op")
            if kind not in OPS:
                _fail(f"unknown op {kind!r}; expected one of {', '.join(OPS)}")
            if kind == "ensemble" and not top:
                _fail("an ensemble body cannot hold another ensemble")
            for key in OPS[kind]:
                if op.get(key) not in planes:
                    _fail(f"op {kind!r} -> {op.get('out')!r}: reads plane {op.get(key)!r}, which no earlier op writes")
            if kind == "resample" and not top:
                _fail("'resample' is only allowed at the top level")
            if kind in _SPATIAL and any(planes[op[key]].res is None for key in OPS[kind]):
                _fail(f"op {kind!r} -> {op.get('out')!r}: only per-pixel ops may follow a 'resample'")
            if kind == "output":
                if not top:
                    _fail("'output' is only allowed at the top level")
                result = op["src"]
                continue
            name = op.get("out")
            if not isinstance(name, str) or not name or name == "x":
                _fail(f"op {kind!r}: 'out' must be a plane name other than 'x', got {name!r}")
            self._inputs[id(op)] = {key: planes[op[key]] for key in OPS[kind]}
            info = getattr(self, "_infer_" + kind)(op, planes)
            if info.channels < 1 or info.channels > _MAX_CHANNELS:
                _fail(f"op {kind!r} -> {name!r}: {info.channels} channels")
            if info.kind == "int" and max(np.abs(info.lo).max(), np.abs(info.hi).max()) >= _INT_LIMIT:
                _fail(f"op {kind!r} -> {name!r}: values may reach {info.lo.min():g}..{info.hi.max():g}, beyond int32")
            planes[name] = info
            self._info[id(op)] = info
        return result

    def plane_info(self, op: dict) -> PlaneInfo:
        """The inferred :class:`PlaneInfo` of the plane ``op`` writes (after :meth:`validate`)."""
        return self._info[id(op)]

    def input_info(self, op: dict, key: str = "src") -> PlaneInfo:
        """The inferred :class:`PlaneInfo` of the plane ``op`` reads as ``key`` (after :meth:`validate`)."""
        return self._inputs[id(op)][key]

    def _need(self, op, planes, key, kind="int") -> PlaneInfo:
        p = planes[op[key]]
        if p.kind != kind:
            _fail(f"op {op['op']!r} -> {op['out']!r}: {key} {op[key]!r} is {p.kind}, expected {kind}")
        return p

    def _table(self, op, key, ndim=None) -> np.ndarray:
        name = op.get(key)
        if name not in self.tables:
            _fail(f"op {op['op']!r} -> {op['out']!r}: table {name!r} is not in the file")
        t = self.tables[name]
        if ndim is not None and t.ndim != ndim:
            _fail(f"op {op['op']!r} -> {op['out']!r}: table {name!r} has shape {t.shape}, expected {ndim} dims")
        return t

    def _infer_add_const(self, op, planes):
        p = self._need(op, planes, "src")
        v = _int(op, "value", -_INT_LIMIT, _INT_LIMIT)
        return PlaneInfo(p.channels, p.res, "int", p.lo + v, p.hi + v)

    def _binary(self, op, planes, kind):
        a, b = self._need(op, planes, "a", kind), self._need(op, planes, "b", kind)
        if a.res != b.res:
            _fail(f"op {op['op']!r} -> {op['out']!r}: adds planes at x{a.res} and x{b.res}")
        if a.channels != b.channels and 1 not in (a.channels, b.channels):
            _fail(f"op {op['op']!r} -> {op['out']!r}: adds {a.channels} and {b.channels} channels")
        return PlaneInfo(max(a.channels, b.channels), a.res, kind, a.lo + b.lo, a.hi + b.hi)

    def _infer_add(self, op, planes):
        return self._binary(op, planes, "int")

    def _infer_div(self, op, planes):
        p = self._need(op, planes, "src")
        d = _int(op, "divisor", 1, 1 << 20)
        bias = _int(op, "bias", -_INT_LIMIT, _INT_LIMIT) if "bias" in op else 0
        _choice(op, "rounding", ROUNDINGS)
        if max(np.abs(p.lo).max(), np.abs(p.hi).max()) + abs(bias) * d >= _INT_LIMIT:
            _fail(f"op 'div' -> {op['out']!r}: bias {bias} times {d} may leave int32")
        return PlaneInfo(p.channels, p.res, "int", np.floor(p.lo / d) + bias, np.ceil(p.hi / d) + bias)

    def _infer_sum_channels(self, op, planes):
        p = self._need(op, planes, "src")
        return PlaneInfo(1, p.res, "int", p.lo.sum(), p.hi.sum())

    def _infer_fadd(self, op, planes):
        p = self._binary(op, planes, "f32")
        return PlaneInfo(p.channels, p.res, "f32", p.lo - np.abs(p.lo) * 1e-6, p.hi + np.abs(p.hi) * 1e-6)

    def _infer_clamp(self, op, planes):
        p = self._need(op, planes, "src")
        lo, hi = _int(op, "lo", -_INT_LIMIT, _INT_LIMIT), _int(op, "hi", -_INT_LIMIT, _INT_LIMIT)
        if lo > hi:
            _fail(f"op 'clamp' -> {op['out']!r}: lo {lo} > hi {hi}")
        return PlaneInfo(p.channels, p.res, "int", np.clip(p.lo, lo, hi), np.clip(p.hi, lo, hi))

    def _infer_fclamp(self, op, planes):
        p = self._need(op, planes, "src", "f32")
        lo, hi = _num(op, "lo"), _num(op, "hi")
        if lo > hi:
            _fail(f"op 'fclamp' -> {op['out']!r}: lo {lo} > hi {hi}")
        return PlaneInfo(p.channels, p.res, "f32", np.clip(p.lo, lo, hi), np.clip(p.hi, lo, hi))

    def _infer_rshift(self, op, planes):
        p = self._need(op, planes, "src")
        b = _int(op, "bits", 0, 16)
        return PlaneInfo(p.channels, p.res, "int", np.floor(p.lo / 2 ** b), np.floor(p.hi / 2 ** b))

    def _infer_mask(self, op, planes):
        p = self._need(op, planes, "src")
        b = _int(op, "bits", 0, 16)
        m = (1 << b) - 1
        same = np.floor(p.lo / 2 ** b) == np.floor(p.hi / 2 ** b)  # no wrap-around: the range maps in order
        lo = np.where(same, p.lo.astype(np.int64) & m, 0)
        hi = np.where(same, p.hi.astype(np.int64) & m, m)
        return PlaneInfo(p.channels, p.res, "int", lo, hi)

    def _infer_remap(self, op, planes):
        p = self._need(op, planes, "src")
        t = self._table(op, "table", 2)
        lo = _int(op, "lo", -_INT_LIMIT, _INT_LIMIT)
        if t.shape[0] not in (1, p.channels):
            _fail(f"op 'remap' -> {op['out']!r}: table {op['table']!r} has {t.shape[0]} rows for {p.channels} channels")
        if p.lo.min() < lo or p.hi.max() - lo >= t.shape[1]:
            _fail(f"op 'remap' -> {op['out']!r}: values {p.lo.min():g}..{p.hi.max():g} fall outside the table "
                  f"({lo}..{lo + t.shape[1] - 1})")
        rows = [t[c if t.shape[0] > 1 else 0, int(p.lo[c]) - lo: int(p.hi[c]) - lo + 1] for c in range(p.channels)]
        return PlaneInfo(p.channels, p.res, "int", [int(r.min()) for r in rows], [int(r.max()) for r in rows])

    def _infer_shift(self, op, planes):
        p = self._need(op, planes, "src")
        offs = self._table(op, "offsets", 2)
        _choice(op, "border", BORDERS)
        if offs.shape != (p.channels, 2) or offs.dtype.kind not in "iu":
            _fail(f"op 'shift' -> {op['out']!r}: offsets {op['offsets']!r} have shape {offs.shape}, "
                  f"expected ({p.channels}, 2)")
        if np.abs(offs).max(initial=0) > 16:
            _fail(f"op 'shift' -> {op['out']!r}: shifts beyond 16 pixels")
        return PlaneInfo(p.channels, p.res, "int", p.lo, p.hi)

    def _infer_pixel_shuffle(self, op, planes):
        p = self._need(op, planes, "src")
        s = _int(op, "scale", 1, 8)
        if p.channels % (s * s):
            _fail(f"op 'pixel_shuffle' -> {op['out']!r}: {p.channels} channels is not a multiple of {s * s}")
        c = p.channels // (s * s)
        return PlaneInfo(c, p.res * s, "int", p.lo.reshape(c, -1).min(1), p.hi.reshape(c, -1).max(1))

    def _infer_upsample(self, op, planes):
        p = planes[op["src"]]
        s = _int(op, "scale", 1, 8)
        return PlaneInfo(p.channels, p.res * s, p.kind, p.lo, p.hi)

    def _infer_fdiv(self, op, planes):
        p = planes[op["src"]]
        v = _num(op, "value")
        if v == 0:
            _fail(f"op 'fdiv' -> {op['out']!r}: division by zero")
        a, b = np.minimum(p.lo / v, p.hi / v), np.maximum(p.lo / v, p.hi / v)
        return PlaneInfo(p.channels, p.res, "f32", a - np.abs(a) * 1e-6, b + np.abs(b) * 1e-6)

    def _infer_fmul(self, op, planes):
        p = planes[op["src"]]
        v = _num(op, "value")
        a, b = np.minimum(p.lo * v, p.hi * v), np.maximum(p.lo * v, p.hi * v)
        return PlaneInfo(p.channels, p.res, "f32", a - np.abs(a) * 1e-6, b + np.abs(b) * 1e-6)

    def _infer_floor(self, op, planes):
        p = self._need(op, planes, "src", "f32")
        return PlaneInfo(p.channels, p.res, "int", np.floor(p.lo), np.floor(p.hi))

    def _infer_round(self, op, planes):
        p = self._need(op, planes, "src", "f32")
        return PlaneInfo(p.channels, p.res, "int", np.floor(p.lo), np.ceil(p.hi))

    def _infer_lut(self, op, planes):
        p = self._need(op, planes, "src")
        name = op["out"]
        t = self._table(op, "table", 1)
        terms = self._table(op, "terms", 2)
        k = _int(op, "k", 1, 6)
        n_out = _int(op, "n_out", 1, _MAX_CHANNELS)
        index = _choice(op, "index", ("linear", "direct", "simplex"))
        _choice(op, "border", BORDERS)
        raw = _choice(op, "rounding", LUT_ROUNDINGS) == "none"
        divisor = _int(op, "divisor", 1, 1 if raw else 1 << 16)
        bias = _int(op, "bias", -_INT_LIMIT, _INT_LIMIT) if "bias" in op else 0
        if terms.dtype != np.int32 or terms.shape[1] != TERM_FIXED + 3 * k or terms.shape[0] < 1:
            _fail(f"op 'lut' -> {name!r}: terms {op['terms']!r} is {terms.dtype}{terms.shape}, expected int32 "
                  f"(n, {TERM_FIXED + 3 * k})")
        out, off, stride, cell, lo, step = (terms[:, i].astype(np.int64) for i in range(TERM_FIXED))
        ch = terms[:, TERM_FIXED::3]
        taps = terms[:, TERM_FIXED:].reshape(-1, k, 3)[:, :, 1:]
        if out.min() < 0 or out.max() >= n_out:
            _fail(f"op 'lut' -> {name!r}: a term writes channel outside 0..{n_out - 1}")
        if ch.min() < 0 or ch.max() >= p.channels:
            _fail(f"op 'lut' -> {name!r}: a term reads channel outside 0..{p.channels - 1}")
        if np.abs(taps).max() > 16:
            _fail(f"op 'lut' -> {name!r}: a tap is more than 16 pixels away")
        if stride.min() < 1 or cell.min() < 0 or off.min() < 0:
            _fail(f"op 'lut' -> {name!r}: negative offset/cell or stride < 1")
        # per term, per input: the value range of the channel it reads
        vlo = p.lo[ch].astype(np.int64)  # (n, k)
        vhi = p.hi[ch].astype(np.int64)
        if np.any(vlo < lo[:, None]):
            bad = int(np.argmax(np.any(vlo < lo[:, None], axis=1)))
            _fail(f"op 'lut' -> {name!r}: term {bad} starts its table at value {lo[bad]}, but its input goes "
                  f"down to {int(vlo[bad].min())}")
        if index == "linear":
            if k != 1:
                _fail(f"op 'lut' -> {name!r}: linear index takes k = 1 input, got {k}")
            if step.min() < 1 or np.any(step & (step - 1)):
                _fail(f"op 'lut' -> {name!r}: steps must be powers of two")
            first = (vlo[:, 0] - lo) // step
            rows = -((lo - vhi[:, 0]) // step)  # ceil((vhi - lo) / step): the last row read, with its neighbour
            op_scale = int(step.max())
        elif index == "simplex":
            levels = _int(op, "levels", 2, 1 << 12)
            if step.min() < 1 or np.any(step & (step - 1)):
                _fail(f"op 'lut' -> {name!r}: steps must be powers of two")
            # a vertex of weight > 0 moves input i to row ceil(u_i / step) at most
            top = -((lo[:, None] - vhi) // step[:, None])
            if np.any(top >= levels):
                bad = int(np.argmax(np.any(top >= levels, axis=1)))
                _fail(f"op 'lut' -> {name!r}: term {bad}'s input reaches {int(vhi[bad].max())}, beyond {levels} "
                      f"levels of step {int(step[bad])} from {int(lo[bad])}")
            if levels ** k > (1 << 31):
                _fail(f"op 'lut' -> {name!r}: {levels}**{k} rows")
            w = levels ** np.arange(k - 1, -1, -1, dtype=np.int64)
            first = (((vlo - lo[:, None]) // step[:, None]) * w).sum(axis=1)
            rows = (top * w).sum(axis=1)
            op_scale = int(step.max())
        else:
            levels = _int(op, "levels", 1, 1 << 12)
            if np.any(vhi - lo[:, None] >= levels):
                bad = int(np.argmax(np.any(vhi - lo[:, None] >= levels, axis=1)))
                _fail(f"op 'lut' -> {name!r}: term {bad}'s input reaches {int(vhi[bad].max())}, beyond {levels} "
                      f"levels from {int(lo[bad])}")
            if np.any(step != 1):
                _fail(f"op 'lut' -> {name!r}: direct index terms must have step 1")
            if levels ** k > (1 << 31):
                _fail(f"op 'lut' -> {name!r}: {levels}**{k} rows")
            w = levels ** np.arange(k - 1, -1, -1, dtype=np.int64)
            first = ((vlo - lo[:, None]) * w).sum(axis=1)
            rows = ((vhi - lo[:, None]) * w).sum(axis=1)
            op_scale = 1
        end = off + rows * stride + cell
        if end.max() >= t.size:
            bad = int(np.argmax(end >= t.size))
            _fail(f"op 'lut' -> {name!r}: term {bad} reads element {int(end[bad])} of table {op['table']!r}, "
                  f"which has {t.size}")
        # value range of each output channel: sum over its terms of the extreme cells it can read
        tt = t.astype(np.int64)
        lo_o = np.zeros(n_out, np.int64)
        hi_o = np.zeros(n_out, np.int64)
        for i in range(len(out)):
            a = int(off[i] + first[i] * stride[i] + cell[i])
            b = int(off[i] + rows[i] * stride[i] + cell[i])
            seg = tt[a : b + 1 : int(stride[i])]
            lo_o[out[i]] += int(seg.min()) * op_scale
            hi_o[out[i]] += int(seg.max()) * op_scale
        acc = int(max(abs(lo_o.min()), abs(hi_o.max())))
        if acc >= _INT_LIMIT:
            _fail(f"op 'lut' -> {name!r}: sums may reach {acc}, beyond int32")
        d = 1 if raw else op_scale * divisor
        if acc + abs(bias) * d >= _INT_LIMIT:
            _fail(f"op 'lut' -> {name!r}: bias {bias} times {d} may take the sums beyond int32")
        return PlaneInfo(n_out, p.res, "int", lo_o // d + bias, -((-hi_o) // d) + bias)

    def _infer_ensemble(self, op, planes):
        p = self._need(op, planes, "src")
        rots = op.get("rotations")
        if not (isinstance(rots, list) and rots and all(r in (0, 1, 2, 3) for r in rots)
                and len(set(rots)) == len(rots)):
            _fail(f"op 'ensemble' -> {op['out']!r}: rotations {rots!r}, expected distinct values of 0..3")
        body = op.get("body")
        if not isinstance(body, list) or not body:
            _fail(f"op 'ensemble' -> {op['out']!r}: empty body")
        inner = {"x": PlaneInfo(p.channels, 1, p.kind, p.lo, p.hi)}
        self._walk(body, inner, top=False)
        bo = op.get("body_out")
        if bo not in inner:
            _fail(f"op 'ensemble' -> {op['out']!r}: body_out {bo!r} is not written by the body")
        q = inner[bo]
        if q.kind != "int":
            _fail(f"op 'ensemble' -> {op['out']!r}: body output is {q.kind}")
        lo, hi = q.lo, q.hi
        cl = op.get("clamp")
        if cl is not None:
            if not (isinstance(cl, list) and len(cl) == 2 and all(type(v) is int for v in cl) and cl[0] <= cl[1]):
                _fail(f"op 'ensemble' -> {op['out']!r}: clamp {cl!r}, expected [lo, hi]")
            lo, hi = np.clip(lo, cl[0], cl[1]), np.clip(hi, cl[0], cl[1])
        n = len(rots)
        return PlaneInfo(q.channels, p.res * q.res, "int", lo * n, hi * n)

    def _infer_resample(self, op, planes):
        from lutsr.net.resample import infer_resample

        c, lo, hi = infer_resample(op, planes[op["src"]], planes[op["params"]], _fail)
        return PlaneInfo(c, None, "int", lo, hi)

    # ------------------------------------------------------------------ geometry and accounting
    def halo(self) -> int:
        """Input rows/columns beyond a band that can change its output (receptive-field radius, LR pixels)."""
        return int(math.ceil(self._radius(self.ops, 1)))

    def _radius(self, ops, res) -> float:
        r = 0.0
        res_of = {"x": res}
        for op in ops:
            kind = op["op"]
            src = op.get("src", op.get("a"))
            cur = res_of.get(src, res)
            if kind == "lut":
                taps = self.tables[op["terms"]][:, TERM_FIXED:].reshape(-1, int(op["k"]), 3)[:, :, 1:]
                # a band's edge pads wrongly only the pixels within one tap radius of it
                r += int(np.abs(taps).max()) / cur
            elif kind == "shift":
                r += float(np.abs(self.tables[op["offsets"]]).max(initial=0)) / cur
            elif kind == "ensemble":
                r += self._radius(op["body"], cur)
            elif kind == "resample":
                r += int(op["support"]) // 2  # input pixels an output pixel reads beyond its position, rounded down
            if kind == "resample":
                res_of[op["out"]] = None  # per-pixel ops only from here on: they add no radius
            elif kind in ("pixel_shuffle", "upsample"):
                res_of[op["out"]] = cur * int(op["scale"])
            elif kind == "ensemble":
                res_of[op["out"]] = cur * self.scale  # bodies upscale by the network scale at most
            elif "out" in op:
                res_of[op["out"]] = cur
        return r

    def receptive_field(self) -> tuple[int, int, int]:
        """Input pixels one output pixel can depend on: ``(height, width, pixels)`` of the footprint
        (every rotation, interpolation and sub-pixel position counted; an upper bound for HR taps)."""
        fp = self._footprint(self.ops, {(0, 0)}, 1)
        ys = [y for y, _ in fp]
        xs = [x for _, x in fp]
        return max(ys) - min(ys) + 1, max(xs) - min(xs) + 1, len(fp)

    def _footprint(self, ops, start: set, res: int, result: str | None = None) -> set:
        fps = {"x": (frozenset(start), res)}
        out = None

        def taps_at(fp, r, offsets):
            if r == 1:
                return {(y + dy, x + dx) for y, x in fp for dy, dx in offsets}
            return {(y + (u + dy) // r, x + (v + dx) // r) for y, x in fp for dy, dx in offsets
                    for u in range(r) for v in range(r)}

        for op in ops:
            kind = op["op"]
            if kind == "output":
                out = op["src"]
                continue
            ins = [fps[op[k]] for k in OPS[kind]]
            fp = set().union(*[f for f, _ in ins])
            r = max(rr for _, rr in ins)
            if kind == "lut":
                t = self.tables[op["terms"]][:, TERM_FIXED:].reshape(-1, int(op["k"]), 3)[:, :, 1:]
                fp = taps_at(fp, r, {(int(a), int(b)) for a, b in t.reshape(-1, 2)})
            elif kind == "shift":
                fp = taps_at(fp, r, {(int(a), int(b)) for a, b in self.tables[op["offsets"]]})
            elif kind in ("pixel_shuffle", "upsample"):
                r *= int(op["scale"])
            elif kind == "ensemble":
                body = self._footprint(op["body"], {(0, 0)}, 1, op["body_out"])
                rot = {rot_offset(dy, dx, k) for k in op["rotations"] for dy, dx in body}
                fp = taps_at(fp, r, rot)
                r *= self.scale
            fps[op["out"]] = (frozenset(fp), r)
        return set(fps[result or out][0])

    def lookups_per_pixel(self) -> int:
        """Table reads per input pixel (per channel), counting every rotation and interpolation vertex."""
        return self._reads(self.ops)

    def _reads(self, ops) -> int:
        n = 0
        for op in ops:
            if op["op"] == "lut":
                terms = self.tables[op["terms"]]
                if op["index"] == "simplex":
                    n += len(terms) * (int(op["k"]) + 1 if terms[:, 5].max() > 1 else 1)
                else:
                    n += len(terms) * (2 if op["index"] == "linear" and terms[:, 5].max() > 1 else 1)
            elif op["op"] == "remap":
                n += 1
            elif op["op"] == "ensemble":
                n += len(op["rotations"]) * self._reads(op["body"])
        return n

    def table_bytes(self, kinds: tuple = ("lut",)) -> int:
        """Bytes of the lookup tables of ``kinds`` ops (default the ``lut`` tables proper: not value maps,
        term lists or offsets)."""
        names = set()

        def visit(ops):
            for op in ops:
                if op["op"] in kinds:
                    names.add(op["table"])
                elif op["op"] == "ensemble":
                    visit(op["body"])

        visit(self.ops)
        return int(sum(self.tables[n].nbytes for n in names))

    def to_json(self) -> dict:
        """The ``network`` header field: ops and scale (tables travel in the payload)."""
        return {"scale": self.scale, "ops": self.ops}
