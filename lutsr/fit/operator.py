"""The linear operator of ``lutsr fit``: a single-stage method's signed table values -> HR accumulator.

``LinearLut.forward`` (``A v``) and ``LinearLut.adjoint`` (``A^T r``) are Numba kernels built from
the runtime's gather and padding (``lutsr.runtime.kernels.common``); ``forward_reference`` (the
NumPy runtime reference on float tables) and ``adjoint_reference`` (``np.add.at``) are their
specification. Shapes: ``lr (h, w)`` uint8, results ``(h*s, w*s)`` float64; parameter vectors are
flat float64 holding every unit's ``(rows, cells)`` table in file order.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from lutsr.errors import LutsrError
from lutsr.runtime.kernels.common import gather_vertices, pad_at, work_buffers
from lutsr.runtime.kernels.jit import kernel
from lutsr.runtime.reference import simplex_reference, stage_accumulate_reference
from lutsr.spec import EXPAND_DIRECTIONS, MethodSpec, get_method, levels_for_interval, pad_index, reflect_index

__all__ = ["LinearLut", "forward_reference", "adjoint_reference"]


# --------------------------------------------------------------------------------------
# Numba kernels (NumPy references below: forward_reference / adjoint_reference)
# --------------------------------------------------------------------------------------

@kernel(parallel=True)
def _maps_forward(x, table, offs, reflect, interval, levels, s, maps):  # pragma: no cover - compiled
    """``maps[g, y*s+i, x*s+j] = sum_v w_v * table[row_v, (g*s+i)*s+j]`` for every LR pixel (y, x).

    ``x (h, w, 1)`` uint8, ``offs (1, n, 2)``: the runtime's gather (``kernels.common``) at rotation 0.
    """
    h, w, _ = x.shape
    n = offs.shape[1]
    q = 1 << interval
    nmaps = maps.shape[0]
    ss = s * s
    for y in prange(h):
        strides, frac, order, rows, wts = work_buffers(n, levels)
        acc = np.empty(table.shape[1], np.float64)
        for xx in range(w):
            m = gather_vertices(x, 0, y, xx, offs, 0, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
            acc[:] = 0.0
            for v in range(m):
                wt = np.float64(wts[v])
                if wt != 0.0:
                    row = table[rows[v]]
                    for c in range(acc.shape[0]):
                        acc[c] += wt * row[c]
            for g in range(nmaps):
                for i in range(s):
                    for j in range(s):
                        maps[g, y * s + i, xx * s + j] = acc[g * ss + i * s + j]


@kernel(parallel=True)
def _maps_adjoint(x, maps, offs, reflect, interval, levels, s, square, grads):  # pragma: no cover - compiled
    """Adjoint of ``_maps_forward``: ``grads[t, row_v, cell] += w_v * maps[...]`` (``w_v**2`` if square).

    ``grads`` is ``(T, rows, cells)``: task t owns ``grads[t]`` and a contiguous range of LR
    rows, so no two threads write the same memory. The caller sums over t.
    """
    h, w, _ = x.shape
    n = offs.shape[1]
    q = 1 << interval
    nmaps = maps.shape[0]
    ss = s * s
    ncell = grads.shape[2]
    nt = grads.shape[0]
    for t in prange(nt):
        strides, frac, order, rows, wts = work_buffers(n, levels)
        vals = np.empty(ncell, np.float64)
        g_t = grads[t]
        for y in range(t * h // nt, (t + 1) * h // nt):
            for xx in range(w):
                m = gather_vertices(x, 0, y, xx, offs, 0, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                for g in range(nmaps):
                    for i in range(s):
                        for j in range(s):
                            vals[g * ss + i * s + j] = maps[g, y * s + i, xx * s + j]
                for v in range(m):
                    wt = np.float64(wts[v])
                    if wt != 0.0:
                        if square:
                            wt = wt * wt
                        row = g_t[rows[v]]
                        for c in range(ncell):
                            row[c] += wt * vals[c]


@kernel(parallel=True)
def _expand_gather(maps, out):  # pragma: no cover - compiled
    """ExpandConv: ``out[Y, X] += sum_g maps[g, refl(Y - dy_g), refl(X - dx_g)]``."""
    hs, ws = out.shape
    for yy in prange(hs):
        for g in range(9):
            dy = g // 3 - 1
            dx = g % 3 - 1
            sy = pad_at(yy - dy, hs, True)
            for xx in range(ws):
                out[yy, xx] += maps[g, sy, pad_at(xx - dx, ws, True)]


@kernel(parallel=True)
def _expand_scatter(res, maps):  # pragma: no cover - compiled
    """Adjoint of ``_expand_gather``: ``maps[g, refl(Y - dy), refl(X - dx)] += res[Y, X]`` (maps zeroed first)."""
    hs, ws = res.shape
    for g in prange(9):
        dy = g // 3 - 1
        dx = g % 3 - 1
        m = maps[g]
        m[:, :] = 0.0
        for yy in range(hs):
            sy = pad_at(yy - dy, hs, True)
            for xx in range(ws):
                m[sy, pad_at(xx - dx, ws, True)] += res[yy, xx]




# --------------------------------------------------------------------------------------
# The linear operator
# --------------------------------------------------------------------------------------

class LinearLut:
    """The linear map from a single-stage method's signed table values to HR images.

    Args:
        method: a method name or ``MethodSpec`` with one stage that upscales.
        scale: 1..8 (1: denoising / deblocking). interval: 0..8 (bits dropped).

    The parameter vector is flat float64 of length :attr:`size`: every unit's
    ``(rows, cells)`` table, in file order. :meth:`forward` and :meth:`adjoint` are in
    *accumulator* units (interpolation sums, not yet divided by ``q * divisor``);
    :attr:`gain` ``= 1 / (q * divisor)`` turns them into pixel units.
    """

    def __init__(self, method: str | MethodSpec, scale: int, interval: int) -> None:
        self.method = get_method(method) if isinstance(method, str) else method
        if len(self.method.stages) != 1 or not self.method.stages[0].upscale:
            raise LutsrError(f"{self.method.name} has {len(self.method.stages)} stages; "
                             "lutsr fit solves single-stage methods only")
        if not 1 <= int(scale) <= 8:
            raise LutsrError(f"scale must be 1..8, got {scale}")
        self.scale = int(scale)
        self.interval = int(interval)
        self.q, self.levels = levels_for_interval(interval)
        self.stage = self.method.stages[0]
        self.shapes = self.method.table_shapes(self.scale, self.interval)
        self.offsets = np.cumsum([0] + [r * c for r, c in self.shapes])
        self.size = int(self.offsets[-1])
        self.gain = 1.0 / (self.q * self.stage.divisor)
        self.reflect = self.stage.pad_mode == "reflect"
        self._offs = [np.array(u.kernel.offsets, dtype=np.int64)[None] for u in self.stage.units]

    def split(self, vec: np.ndarray) -> list[np.ndarray]:
        """Views of ``vec`` (or of the last axis of a ``(T, size)`` array) as the units' tables."""
        out = []
        for (r, c), a, b in zip(self.shapes, self.offsets[:-1], self.offsets[1:]):
            out.append(vec[..., a:b].reshape(vec.shape[:-1] + (r, c)))
        return out

    def forward(self, lr: np.ndarray, vec: np.ndarray) -> np.ndarray:
        """``A vec``: ``(h, w)`` uint8 LR, flat float64 ``vec`` -> ``(h*s, w*s)`` float64 accumulator."""
        s = self.scale
        h, w = lr.shape
        out = np.zeros((h * s, w * s), dtype=np.float64)
        tables = [np.ascontiguousarray(t) for t in self.split(vec)]
        for r in range(self.method.rotations):
            xr = np.ascontiguousarray(np.rot90(lr, r))
            hs, ws = xr.shape[0] * s, xr.shape[1] * s
            part = np.zeros((hs, ws), dtype=np.float64)  # every unit of this rotation, rotated frame
            for unit, table, offs in zip(self.stage.units, tables, self._offs):
                maps = np.empty((unit.maps, hs, ws), dtype=np.float64)
                _maps_forward(xr[:, :, None], table, offs, self.reflect, self.interval, self.levels, s, maps)
                if unit.expand:
                    _expand_gather(maps, part)
                else:
                    part += maps[0]
            out += np.rot90(part, -r)
        return out

    def adjoint(self, lr: np.ndarray, res: np.ndarray, grads: np.ndarray, square: bool = False) -> None:
        """Add ``A^T res`` to ``grads`` (``(T, size)`` float64, summed over T by the caller).

        With ``square=True`` adds ``(A*A)^T res`` (weights squared): with ``res`` all ones,
        the diagonal of ``A^T A`` up to cells used twice for one output pixel.
        """
        s = self.scale
        for r in range(self.method.rotations):
            xr = np.ascontiguousarray(np.rot90(lr, r))
            rr = np.ascontiguousarray(np.rot90(res, r))  # adjoint of rotating the result back by -r
            for unit, g_tab, offs in zip(self.stage.units, self.split(grads), self._offs):
                if unit.expand:
                    maps = np.empty((9,) + rr.shape, dtype=np.float64)
                    _expand_scatter(rr, maps)
                else:
                    maps = rr[None]
                _maps_adjoint(xr[:, :, None], maps, offs, self.reflect, self.interval, self.levels, s, square, g_tab)


# --------------------------------------------------------------------------------------
# NumPy references (the specification the kernels are tested against)
# --------------------------------------------------------------------------------------

def forward_reference(lr: np.ndarray, vec: np.ndarray, op: LinearLut) -> np.ndarray:
    """``A vec`` through ``lutsr.runtime.reference`` (float tables, value offset 0): ``(h*s, w*s)`` float64."""
    tables = [t + op.method.value_offset for t in op.split(np.asarray(vec, dtype=np.float64))]
    return stage_accumulate_reference(lr, tables, op.method, op.stage, op.scale, op.interval).astype(np.float64)


def adjoint_reference(lr: np.ndarray, res: np.ndarray, op: LinearLut) -> np.ndarray:
    """``A^T res`` written out with ``np.add.at``: flat float64 of length ``op.size``."""
    s = op.scale
    grads = [np.zeros(shape, dtype=np.float64) for shape in op.shapes]
    for unit, grad in zip(op.stage.units, grads):
        k = unit.kernel
        for r in range(op.method.rotations):
            x = np.rot90(lr, r)
            rr = np.rot90(res, r)  # adjoint of rotating the result back by -r
            h, w = x.shape
            if unit.expand:  # adjoint of out[Y, X] += map_g[refl(Y - dy), refl(X - dx)]
                maps = np.zeros((9,) + rr.shape)
                ys, xs = np.arange(rr.shape[0]), np.arange(rr.shape[1])
                for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
                    np.add.at(maps[g], np.ix_(reflect_index(ys - dy, rr.shape[0]), reflect_index(xs - dx, rr.shape[1])),
                              rr)
            else:
                maps = rr[None]
            # cells of LR pixel (y, x): map g, sub-pixel (i, j) -> cell (g*s + i)*s + j
            cells = maps.reshape(-1, h, s, w, s).transpose(1, 3, 0, 2, 4).reshape(h * w, -1)
            ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            values = np.stack([x[pad_index(ys + dy, h, op.stage.pad_mode), pad_index(xs + dx, w, op.stage.pad_mode)]
                               .ravel() for dy, dx in k.offsets], axis=1)
            rows, weights = simplex_reference(values, op.interval)
            for v in range(rows.shape[1]):
                np.add.at(grad, rows[:, v], weights[:, v, None] * cells)
    return np.concatenate([g.ravel() for g in grads])
