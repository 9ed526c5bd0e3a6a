"""Compiled forward and backward passes of a ``linear`` ``lut`` op for table-space training.

:class:`lutsr.train.tables.TableNetwork` once ran a ``linear`` lookup as a dozen torch operations
on a ``(N, T, H, W)`` tensor of taps, whose backward pass (``index_put`` with accumulation) took
two thirds of every training step. :func:`linear_lookup` does the same arithmetic per pixel and
term in one Numba loop and its backward pass in another, so nothing of size ``T`` per pixel is
ever stored.

The arithmetic is the reference's (:func:`lutsr.net.reference.run_network`), term by term in the
term list's order: with ``u = src[n, ch, ys[t, y], xs[t, x]] - lo``, ``row = floor(u / step)``,
``f = u - row * step``, ``base = off + row * stride + cell`` and ``nxt = base + stride`` when
``f > 0`` (else ``base``), each term adds ``(T[base] * (step - f) + T[nxt] * f) * (big / step)`` to
output channel ``out``. Everything is float64 and whole numbers below 2**53, so the sum is exact in
any order. Gradients: to ``T[base]`` and ``T[nxt]`` the weights above; to the input, the table's
slope ``T[min(base + stride, L - 1)] - T[base]`` times ``big / step`` (straight through the
rounding of ``floor``), as :class:`TableNetwork` always did.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import prange

from lutsr.runtime.kernels.jit import kernel

__all__ = ["linear_lookup", "take"]


@kernel(parallel=False)
def _dense(table, cols, cmin, r):  # pragma: no cover - compiled
    """Per term and input value ``cmin[ch] + v`` (``v < r``): the term's value and the table's slope
    there (``(T, r)`` each); 0 where the row would fall outside the table (no valid plane reads it)."""
    nt = cols.shape[0]
    last = table.shape[0] - 1
    val = np.zeros((nt, r), np.float64)
    slope = np.zeros((nt, r), np.float64)
    rows = np.full((nt, r), -1, np.int64)
    for t in range(nt):
        off, stride, cell, lo, step, ch, sc = cols[t, 1], cols[t, 2], cols[t, 3], cols[t, 4], cols[t, 5], \
            int(cols[t, 6]), cols[t, 7]
        for v in range(r):
            u = cmin[ch] + v - lo
            row = np.floor(u / step)
            f = u - row * step
            ib = int(off + row * stride + cell)
            inx = ib + int(stride) if f > 0 else ib
            if ib < 0 or inx > last:
                continue
            a = table[ib]
            val[t, v] = (a * (step - f) + table[inx] * f) * sc
            slope[t, v] = (table[min(ib + int(stride), last)] - a) * sc
            rows[t, v] = ib
    return val, slope, rows


@kernel(parallel=True)
def _fwd(srci, ys, xs, cols, val, n_out):  # pragma: no cover - compiled
    n, _, h, w = srci.shape
    nt = cols.shape[0]
    acc = np.zeros((n, n_out, h, w), np.float64)
    for b in prange(n):
        for t in range(nt):
            o, ch = int(cols[t, 0]), int(cols[t, 6])
            vt = val[t]
            for y in range(h):
                s_row = srci[b, ch, ys[t, y]]
                a_row = acc[b, o, y]
                for x in range(w):
                    a_row[x] += vt[s_row[xs[t, x]]]
    return acc


@kernel(parallel=True)
def _bwd(srci, ys, xs, cols, slope, grad, need_src):  # pragma: no cover - compiled
    """Per sample the sum of the output gradient at each term and input value ``(N, T, r)``, and the
    input's gradient (when ``need_src``)."""
    n, c, h, w = srci.shape
    nt, r = slope.shape
    hist = np.zeros((n, nt, r), np.float64)
    gs = np.zeros((n, c, h, w) if need_src else (1, 1, 1, 1), np.float64)
    for b in prange(n):
        for t in range(nt):
            o, ch, sc = int(cols[t, 0]), int(cols[t, 6]), cols[t, 7]
            ht = hist[b, t]
            st = slope[t]
            for y in range(h):
                yy = ys[t, y]
                s_row = srci[b, ch, yy]
                g_row = grad[b, o, y]
                for x in range(w):
                    xx = xs[t, x]
                    v = s_row[xx]
                    ht[v] += g_row[x]
                    if need_src:
                        gs[b, ch, yy, xx] += g_row[x] * st[v]
    return hist, gs


@kernel(parallel=False)
def _table_grad(hist, cols, cmin, rows, n_table):  # pragma: no cover - compiled
    nt, r = rows.shape
    gt = np.zeros(n_table, np.float64)
    for t in range(nt):
        lo, step, ch, stride, sc = cols[t, 4], cols[t, 5], int(cols[t, 6]), int(cols[t, 2]), cols[t, 7]
        for v in range(r):
            ib = rows[t, v]
            if ib < 0:
                continue
            g = 0.0
            for b in range(hist.shape[0]):
                g += hist[b, t, v]
            if g == 0.0:
                continue
            u = cmin[ch] + v - lo
            f = u - np.floor(u / step) * step
            gt[ib] += g * sc * (step - f)
            if f > 0:
                gt[ib + stride] += g * sc * f
    return gt


class _LinearLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src, table, ys, xs, cols, n_out):  # noqa: D401 - torch's signature
        s = src.detach().double().numpy()
        n, c = s.shape[:2]
        flat = s.reshape(n, c, -1)
        cmin = flat.min(axis=(0, 2)) if flat.shape[2] else np.zeros(c)
        r = int((flat.max(axis=(0, 2)) - cmin).max(initial=0)) + 1 if flat.shape[2] else 1
        srci = np.ascontiguousarray((s - cmin[None, :, None, None]).astype(np.int64))
        val, slope, rows = _dense(table.detach().double().contiguous().numpy(), cols, cmin, r)
        acc = _fwd(srci, ys, xs, cols, val, int(n_out))
        ctx.geom = (srci, ys, xs, cols, cmin, slope, rows, table.shape[0])
        ctx.dtypes = (src.dtype, table.dtype)
        return torch.from_numpy(acc).to(src.dtype)

    @staticmethod
    def backward(ctx, grad):
        srci, ys, xs, cols, cmin, slope, rows, n_table = ctx.geom
        need_src = bool(ctx.needs_input_grad[0])
        hist, gs = _bwd(srci, ys, xs, cols, slope, grad.detach().double().contiguous().numpy(), need_src)
        g_src = torch.from_numpy(gs).to(ctx.dtypes[0]) if need_src else None
        g_tab = None
        if ctx.needs_input_grad[1]:
            g_tab = torch.from_numpy(_table_grad(hist, cols, cmin, rows, n_table)).to(ctx.dtypes[1])
        return g_src, g_tab, None, None, None, None


def linear_lookup(src: torch.Tensor, table: torch.Tensor, ys: np.ndarray, xs: np.ndarray, cols: np.ndarray,
                  n_out: int) -> torch.Tensor:
    """Sum of interpolated 1-D table lookups (see the module docstring), with gradients.

    Args:
        src: ``(N, C, H, W)`` whole numbers (float32 or float64, CPU).
        table: ``(L,)`` whole numbers (the rounded table), same dtype.
        ys, xs: ``(T, H)`` and ``(T, W)`` int64 padded row and column of each term's tap.
        cols: ``(T, 8)`` float64 per term: out channel, offset, stride, cell, lo, step, input
            channel, ``big / step``.
        n_out: output channels.

    Returns:
        ``(N, n_out, H, W)`` in ``src``'s dtype: each channel's sum, not yet divided.
    """
    return _LinearLookup.apply(src, table, ys, xs, cols, int(n_out))


class _Take(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table, idx):  # noqa: D401
        ctx.save_for_backward(idx)
        ctx.n = table.shape[0]
        return table.take(idx)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        g = torch.zeros(ctx.n, dtype=grad.dtype, device=grad.device)
        return g.scatter_add_(0, idx.reshape(-1), grad.reshape(-1)), None


def take(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` of a 1-D ``table`` with int64 ``idx`` of any shape; its backward pass adds with
    ``scatter_add`` (about 20x faster on a CPU than ``index_put``'s accumulation)."""
    return _Take.apply(table, idx)
