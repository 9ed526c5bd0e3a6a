"""Training a LUT network in table space: the tables of a :class:`lutsr.net.graph.Network` are the
parameters, and the forward pass executes the network's own description with the runtime's integer
arithmetic.

:class:`TableNetwork` runs the ops of :mod:`lutsr.net.graph` on torch tensors: integer planes are
float64 tensors holding whole numbers (exact: every plane and accumulator stays below 2**30, see
``graph._INT_LIMIT``), float32 planes are float32 tensors with the same IEEE operations in the same
order as the NumPy reference. Every rounding (table values, ``rshift``, the exact rounded division
of a ``lut`` or ``div`` op) is done in the forward pass and passes the gradient straight through;
an interpolated (``linear``) lookup also passes the gradient to its input, with the slope of the
table between its two rows. So with integer tables the forward pass *is* the runtime
(:func:`lutsr.net.reference.run_network`, bit for bit, tested), and exporting is exact by
construction: :meth:`TableNetwork.network` rounds the tables into the same description.

Supported ops: every op but ``resample``; ``lut`` with ``linear`` and ``direct`` indices
(``simplex`` tables are trained as networks, :mod:`lutsr.train.networks`). Import this module only
to train: it imports torch.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from lutsr.errors import LutsrError
from lutsr.net.graph import TERM_FIXED, Network
from lutsr.spec import pad_index
from lutsr.train.lookup import linear_lookup, take

__all__ = ["TableNetwork"]

log = logging.getLogger(__name__)

_F64 = torch.float64


def _ste(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` in the forward pass, the gradient of ``x`` (straight through)."""
    return x + (y - x).detach()


def _round_div(acc: torch.Tensor, d: int, rounding: str) -> torch.Tensor:
    """``round(acc / d)`` of whole-number float64 ``acc``, exact (the quotient of two integers is
    correctly rounded in float64, and a true half is representable), straight-through gradient."""
    q = acc / d
    if rounding == "floor":
        r = torch.floor(q)
    elif rounding == "half_up":
        r = torch.floor(q + 0.5)
    else:
        r = torch.round(q)  # half to even
    return _ste(q, r)


def _extremes(arr: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``arr``'s shape and dtype, alternating ``lo`` and ``hi``: every slice of it spans the range."""
    return np.where(np.arange(arr.size).reshape(arr.shape) % 2 == 1, hi, lo).astype(arr.dtype)


def _safe_ranges(net: Network, names: set[str]) -> dict[str, tuple[int, int]]:
    """For each trainable table, the values its entries may take without any lookup downstream
    reading outside its table: its dtype's whole range where the network still validates with
    every such table spanning it (greedily, table by table), else the stored values' own range.
    Trained tables are clamped to these ranges, so the exported network always validates."""
    from lutsr.errors import LutFormatError

    trial = dict(net.tables)
    ranges: dict[str, tuple[int, int]] = {}
    for name in sorted(names):
        arr = net.tables[name]
        info = np.iinfo(arr.dtype)
        trial[name] = _extremes(arr, int(info.min), int(info.max))
        try:
            Network(net.ops, trial, net.scale).validate()
            ranges[name] = (int(info.min), int(info.max))
        except LutFormatError:
            trial[name] = arr
            ranges[name] = (int(arr.min(initial=0)), int(arr.max(initial=0)))
            log.debug("table %s keeps its stored range %s", name, ranges[name])
    return ranges


class TableNetwork(nn.Module):
    """A :class:`Network` whose tables train with torch.

    Args:
        net: the description (validated); its ``lut`` and ``remap`` tables become parameters
            (initialised with the stored values), everything else stays constant.
        trainable: names of the tables to train (default: every ``lut`` and ``remap`` table).
            Each is clamped to the values that keep every later lookup inside its table
            (``_safe_ranges``), so the trained network always validates.
        dtype: of the integer planes and tables. ``float64`` (default) is exact (the reference bit
            for bit); ``float32`` is about twice as fast for training and exact while every
            accumulator stays below 2**24 (export and evaluation go through the runtime anyway).

    ``forward(x)``: ``x (N, 1, H, W)`` whole numbers 0..255 (any float dtype) -> ``(N, 1, H*s,
    W*s)`` whole numbers 0..255 in ``dtype`` (the network's output plane).
    """

    def __init__(self, net: Network, trainable: set[str] | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.dtype = dtype
        net.validate()
        if net.scale is None:
            raise LutsrError("networks that resample (LeRF) cannot be trained in table space yet")
        self.ops = copy.deepcopy(net.ops)
        self.scale = net.scale
        self._source = net
        self._check(self.ops)
        learnable = self._table_names(self.ops)
        trainable = learnable if trainable is None else set(trainable)
        if not trainable <= learnable:
            raise LutsrError(f"not lut/remap tables: {sorted(trainable - learnable)}")
        self.tables = nn.ParameterDict()
        self._const: dict[str, torch.Tensor] = {}
        self._range = _safe_ranges(net, trainable)
        for name, arr in net.tables.items():
            t = torch.from_numpy(np.asarray(arr, np.float64).copy()).to(dtype)
            if name in trainable:
                self.tables[name] = nn.Parameter(t)
            else:
                self._const[name] = t
        self._dtypes = {name: np.asarray(arr).dtype for name, arr in net.tables.items()}
        self._gather_cache: dict = {}
        self._term_cache: dict = {}
        self._geom_cache: dict = {}
        #: run ``linear`` lookups on a CPU through the compiled kernels (:mod:`lutsr.train.lookup`);
        #: False takes the torch formula (what other devices run; the tests compare the two)
        self.compiled_lookup = True

    # ------------------------------------------------------------------ description
    @staticmethod
    def _check(ops) -> None:
        for op in ops:
            if op["op"] == "resample":
                raise LutsrError("op 'resample' cannot be trained in table space yet")
            if op["op"] == "lut" and op["index"] == "simplex":
                raise LutsrError("simplex lut ops are trained as networks (lutsr train --arch ...), not in table "
                                 "space")
            if op["op"] == "ensemble":
                TableNetwork._check(op["body"])

    @staticmethod
    def _table_names(ops) -> set[str]:
        names: set[str] = set()
        for op in ops:
            if op["op"] in ("lut", "remap"):
                names.add(op["table"])
            elif op["op"] == "ensemble":
                names |= TableNetwork._table_names(op["body"])
        return names

    def _table(self, name: str) -> torch.Tensor:
        """A table as the runtime reads it: the parameter rounded to whole numbers within its dtype."""
        if name in self.tables:
            p = self.tables[name]
            lo, hi = self._range[name]
            return _ste(p, torch.clamp(torch.round(p), lo, hi))
        return self._const[name]

    def network(self) -> Network:
        """The description with the trained tables rounded into their stored dtypes (validated)."""
        tables = {}
        for name, dtype in self._dtypes.items():
            if name in self.tables:
                lo, hi = self._range[name]
                v = np.clip(np.round(self.tables[name].detach().cpu().numpy()), lo, hi)
                tables[name] = np.ascontiguousarray(v.astype(dtype))
            else:
                tables[name] = self._source.tables[name]
        return Network(copy.deepcopy(self.ops), tables, self.scale).validate()

    def _curvature_triplets(self) -> list[tuple[str, np.ndarray]]:
        """Per trainable ``linear`` lut table, ``(3, K)`` int64 indices ``(i - 1, i, i + 1)`` of every
        entry with both neighbours in its own 1-D table. A term's table starts at its offset and
        runs to the next term's offset (or the table's end); only terms with stride 1 and cell 0
        (one value per row: ShiftLUT's layout) count."""
        if hasattr(self, "_triplets"):
            return self._triplets
        out = []

        def visit(ops):
            for op in ops:
                if op["op"] == "ensemble":
                    visit(op["body"])
                elif op["op"] == "lut" and op["index"] == "linear" and op["table"] in self.tables:
                    terms = self._source.tables[op["terms"]].astype(np.int64)
                    if not (np.all(terms[:, 2] == 1) and np.all(terms[:, 3] == 0)):
                        continue
                    starts = np.unique(terms[:, 1])
                    ends = np.append(starts[1:], self._source.tables[op["table"]].size)
                    mids = np.concatenate([np.arange(a + 1, b - 1) for a, b in zip(starts, ends)] or [np.zeros(0)])
                    mids = mids.astype(np.int64)
                    out.append((op["table"], np.stack([mids - 1, mids, mids + 1])))

        visit(self.ops)
        self._triplets = out
        return out

    def roughness(self) -> torch.Tensor:
        """Mean squared second difference ``(T[i-1] - 2 T[i] + T[i+1])**2`` of the trainable
        interpolated tables' float parameters (table units), over every entry with two neighbours
        in its own 1-D table: a smoothness penalty for training (0 when no table qualifies)."""
        total, count = None, 0
        for name, (a, b, c) in self._curvature_triplets():
            p = self.tables[name]
            d2 = p[torch.from_numpy(a).to(p.device)] - 2 * p[torch.from_numpy(b).to(p.device)] + \
                p[torch.from_numpy(c).to(p.device)]
            s2 = (d2 * d2).sum()
            total = s2 if total is None else total + s2
            count += a.size
        if total is None or count == 0:
            return torch.zeros((), dtype=self.dtype)
        return total / count

    # ------------------------------------------------------------------ execution
    def _taps(self, src: torch.Tensor, taps: np.ndarray, border: str) -> torch.Tensor:
        """``(N, T, H, W)``: for each row ``(ch, dy, dx)`` of ``taps (T, 3)``, ``src[:, ch, y + dy, x + dx]``
        at every pixel, padded at the plane's edges; one gather for all T taps."""
        n, c, h, w = src.shape
        key = (taps.tobytes(), taps.shape[0], h, w, border, str(src.device))
        fidx = self._gather_cache.get(key)
        if fidx is None:
            ys = np.stack([pad_index(np.arange(h) + int(dy), h, border) for _, dy, _ in taps])  # (T, H)
            xs = np.stack([pad_index(np.arange(w) + int(dx), w, border) for _, _, dx in taps])  # (T, W)
            f = taps[:, 0, None, None] * (h * w) + ys[:, :, None] * w + xs[:, None, :]
            fidx = torch.from_numpy(f.astype(np.int64)).to(src.device)
            if len(self._gather_cache) > 256:
                self._gather_cache.clear()
            self._gather_cache[key] = fidx
        return src.reshape(n, c * h * w).index_select(1, fidx.reshape(-1)).reshape(n, *fidx.shape)

    def _terms(self, name: str, device) -> tuple[np.ndarray, tuple[torch.Tensor, ...]]:
        """A ``lut`` op's term list (int64 NumPy) and its offset, stride, cell, lo and step columns as
        ``(1, T, 1, 1)`` tensors, made once per term table and device."""
        key = (name, str(device))
        got = self._term_cache.get(key)
        if got is None:
            terms = self._source.tables[name].astype(np.int64)
            cols = tuple(torch.from_numpy(terms[:, i].astype(np.float64)).to(device, self.dtype)[None, :, None, None]
                         for i in range(1, TERM_FIXED))
            got = self._term_cache[key] = (terms, cols)
        return got

    def _geometry(self, name: str, terms: np.ndarray, h: int, w: int, border: str):
        """A ``linear`` op's padded tap rows and columns ``(T, H)``, ``(T, W)`` and its ``(T, 8)``
        column block for :func:`lutsr.train.lookup.linear_lookup`, made once per plane size."""
        key = (name, h, w, border)
        got = self._geom_cache.get(key)
        if got is None:
            taps = terms[:, TERM_FIXED : TERM_FIXED + 3]
            ys = np.stack([pad_index(np.arange(h) + int(dy), h, border) for dy in taps[:, 1]]).astype(np.int64)
            xs = np.stack([pad_index(np.arange(w) + int(dx), w, border) for dx in taps[:, 2]]).astype(np.int64)
            big = float(terms[:, 5].max())
            cols = np.concatenate([terms[:, :6], taps[:, :1], big / terms[:, 5:6]], axis=1).astype(np.float64)
            if len(self._geom_cache) > 256:
                self._geom_cache.clear()
            got = self._geom_cache[key] = (np.ascontiguousarray(ys), np.ascontiguousarray(xs),
                                           np.ascontiguousarray(cols))
        return got

    def _lut(self, op: dict, src: torch.Tensor) -> torch.Tensor:
        """All terms of one ``lut`` op at once (``(N, T, H, W)`` taps), summed per output channel."""
        table = self._table(op["table"]).to(src.device)
        k, border, index = int(op["k"]), op["border"], op["index"]
        n, _, h, w = src.shape
        dev = src.device
        terms, cols = self._terms(op["terms"], dev)
        big = int(terms[:, 5].max()) if index == "linear" else 1
        off, stride, cell, lo, step = cols
        compiled = index == "linear" and dev.type == "cpu" and self.compiled_lookup
        if compiled:
            ys, xs, cols = self._geometry(op["terms"], terms, h, w, border)
            acc = linear_lookup(src, table, ys, xs, cols, int(op["n_out"]))
        elif index == "linear":
            u = self._taps(src, terms[:, TERM_FIXED : TERM_FIXED + 3], border) - lo
            ud = u.detach()
            row = torch.div(ud, step, rounding_mode="floor")
            f = ud - row * step
            base = off + row * stride + cell
            nxt = torch.where(f > 0, base + stride, base)  # the next row is read only with a weight
            a, b = take(table, base.long()), take(table, nxt.long())
            slope = take(table, torch.clamp(base + stride, max=table.shape[0] - 1).long()) - a
            val = (a * (step - f) + b * f + (u - ud) * slope) * (big / step)  # (u - ud): the input's gradient
        else:  # direct: row = sum_i (v_i - lo) * levels**(k-1-i); no gradient to the inputs
            row = torch.zeros((n, terms.shape[0], h, w), dtype=self.dtype, device=dev)
            for i in range(k):
                tap = self._taps(src, terms[:, TERM_FIXED + 3 * i : TERM_FIXED + 3 * i + 3], border).detach()
                row = row * int(op["levels"]) + (tap - lo)
            val = take(table, (off + row * stride + cell).long())
        if not compiled:
            acc = torch.zeros((n, int(op["n_out"]), h, w), dtype=self.dtype, device=dev)
            acc = acc.index_add(1, torch.from_numpy(terms[:, 0]).to(dev), val)
        bias = int(op.get("bias", 0))
        if op["rounding"] == "none":
            return acc + bias
        d = big * int(op["divisor"])
        return _round_div(acc + bias * d, d, op["rounding"])

    def _run(self, ops, planes: dict) -> str | None:
        result = None
        for op in ops:
            kind, g = op["op"], planes.get
            if kind == "output":
                result = op["src"]
                continue
            if kind == "add_const":
                v = g(op["src"]) + int(op["value"])
            elif kind in ("add", "fadd"):
                v = g(op["a"]) + g(op["b"])
            elif kind == "clamp":
                v = torch.clamp(g(op["src"]), int(op["lo"]), int(op["hi"]))
            elif kind == "rshift":
                q = g(op["src"]) / (1 << int(op["bits"]))
                v = _ste(q, torch.floor(q))
            elif kind == "mask":
                x = g(op["src"])
                m = 1 << int(op["bits"])
                v = x - (torch.floor(x / m) * m).detach()
            elif kind == "remap":
                t = self._table(op["table"]).to(g(op["src"]).device)
                src = g(op["src"])
                lo = int(op["lo"])
                rows = t.shape[0]
                v = torch.stack([take(t[c if rows > 1 else 0], (src[:, c].detach() - lo).long())
                                 for c in range(src.shape[1])], dim=1)
            elif kind == "lut":
                v = self._lut(op, g(op["src"]))
            elif kind == "shift":
                src = g(op["src"])
                offs = self._const[op["offsets"]].cpu().numpy().astype(np.int64)
                taps = np.concatenate([np.arange(src.shape[1])[:, None], offs[:, :2]], axis=1)
                v = self._taps(src, taps, op["border"])
            elif kind == "pixel_shuffle":
                v = torch.nn.functional.pixel_shuffle(g(op["src"]), int(op["scale"]))
            elif kind == "upsample":
                s = int(op["scale"])
                v = g(op["src"]).repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)
            elif kind == "ensemble":
                src = g(op["src"])
                total = None
                for r in op["rotations"]:
                    inner = {"x": torch.rot90(src, r, dims=(2, 3))}
                    self._run(op["body"], inner)
                    y = torch.rot90(inner[op["body_out"]], -r, dims=(2, 3))
                    if op.get("clamp") is not None:
                        y = torch.clamp(y, op["clamp"][0], op["clamp"][1])
                    total = y if total is None else total + y
                v = total
            elif kind == "div":
                d = int(op["divisor"])
                v = _round_div(g(op["src"]) + int(op.get("bias", 0)) * d, d, op["rounding"])
            elif kind == "sum_channels":
                v = g(op["src"]).sum(dim=1, keepdim=True)
            elif kind == "fdiv":
                v = g(op["src"]).to(torch.float32) / torch.tensor(op["value"], dtype=torch.float32)
            elif kind == "fmul":
                v = g(op["src"]).to(torch.float32) * torch.tensor(op["value"], dtype=torch.float32)
            elif kind == "fclamp":
                v = torch.clamp(g(op["src"]), float(np.float32(op["lo"])), float(np.float32(op["hi"])))
            elif kind == "floor":
                x = g(op["src"])
                v = _ste(x, torch.floor(x)).to(self.dtype)
            elif kind == "round":
                x = g(op["src"])
                v = _ste(x, torch.round(x)).to(self.dtype)
            else:  # pragma: no cover - _check refuses the rest
                raise LutsrError(f"op {kind!r} cannot be trained in table space")
            planes[op["out"]] = v
        return result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, 1, H, W)`` whole numbers 0..255 -> ``(N, 1, H*s, W*s)`` whole numbers 0..255 (``dtype``)."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise LutsrError(f"expected (N, 1, H, W) pixel values, got shape {tuple(x.shape)}")
        planes = {"x": x.to(self.dtype)}
        out = self._run(self.ops, planes)
        return planes[out]
