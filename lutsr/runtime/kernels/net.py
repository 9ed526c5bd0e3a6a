"""Kernels of LUT networks (``lutsr.net.graph``): the ``lut`` op (linear and direct index) and the
elementwise ops, on int32 planes ``(C, H, W)``.

NumPy meaning: ``lutsr.net.reference`` (``_lut``, ``run_ops``); the tests compare them bit for bit.
Validation (``Network.validate``) has proved every index in bounds and every sum inside int32, so
the kernels do not check. Each kernel pads its source once (edge or reflect, ``pad_at``) so the
inner loops read contiguous rows.
"""

from __future__ import annotations

import numpy as np

from lutsr.runtime.kernels.common import pad_at
from lutsr.runtime.kernels.jit import inline, kernel

__all__ = ["lut_linear_kernel", "lut_direct_kernel", "pad_planes", "remap_kernel", "shift_kernel",
           "ROUND_CODES"]

#: rounding name -> code the kernels take
ROUND_CODES = {"half_even": 0, "half_up": 1, "floor": 2}


@inline
def _round_div(a, d, mode):  # pragma: no cover - compiled
    q = a // d  # floor division (Python semantics for signed integers)
    if mode == 2:
        return q
    r2 = 2 * (a - q * d)
    if r2 > d or (r2 == d and (mode == 1 or (q & 1) == 1)):
        q += 1
    return q


@kernel()
def pad_planes(src, r, reflect):  # pragma: no cover - compiled
    """``(C, H, W)`` -> ``(C, H + 2r, W + 2r)`` padded with ``pad_at`` (edge or reflect)."""
    c, h, w = src.shape
    out = np.empty((c, h + 2 * r, w + 2 * r), src.dtype)
    for ch in range(c):
        for y in range(h + 2 * r):
            yy = pad_at(y - r, h, reflect)
            for x in range(w + 2 * r):
                out[ch, y, x] = src[ch, yy, pad_at(x - r, w, reflect)]
    return out


@kernel()
def lut_linear_kernel(src, table, terms, n_out, r, big, divisor, mode, reflect):  # pragma: no cover - compiled
    """The ``lut`` op with ``index: linear``: ``src`` int32 (C, H, W) -> int32 (n_out, H, W).

    ``terms`` int32 (n, 9): out, offset, stride, cell, lo, step, channel, dy, dx; ``r`` the largest
    tap distance; ``big`` the largest step (the accumulator's unit is ``1/big``).
    """
    c, h, w = src.shape
    p = pad_planes(src, r, reflect)
    n = terms.shape[0]
    out = np.empty((n_out, h, w), np.int32)
    acc = np.zeros((n_out, w), np.int32)
    d = big * divisor
    for y in range(h):
        acc[:] = 0
        for t in range(n):
            o = terms[t, 0]
            base = terms[t, 1] + terms[t, 3]
            stride = terms[t, 2]
            lo = terms[t, 4]
            step = terms[t, 5]
            row = p[terms[t, 6], y + r + terms[t, 7]]
            x0 = r + terms[t, 8]
            a = acc[o]
            if step == 1:
                mul = big
                for x in range(w):
                    a[x] += table[base + (row[x0 + x] - lo) * stride] * mul
            else:
                mul = big // step
                sh = 0
                while (1 << sh) < step:
                    sh += 1
                m = step - 1
                for x in range(w):
                    u = row[x0 + x] - lo
                    f = u & m
                    i0 = base + (u >> sh) * stride
                    nx = i0 + stride if f > 0 else i0
                    a[x] += (table[i0] * (step - f) + table[nx] * f) * mul
        for o in range(n_out):
            for x in range(w):
                out[o, y, x] = _round_div(acc[o, x], d, mode)
    return out


@kernel()
def lut_direct_kernel(src, table, terms, k, levels, n_out, r, divisor, mode, reflect):  # pragma: no cover - compiled
    """The ``lut`` op with ``index: direct``: ``src`` int32 (C, H, W) -> int32 (n_out, H, W).

    ``terms`` int32 (n, 6 + 3k): out, offset, stride, cell, lo, step, then (channel, dy, dx) per input.
    """
    c, h, w = src.shape
    p = pad_planes(src, r, reflect)
    n = terms.shape[0]
    out = np.empty((n_out, h, w), np.int32)
    acc = np.zeros((n_out, w), np.int32)
    idx = np.empty(w, np.int32)
    for y in range(h):
        acc[:] = 0
        for t in range(n):
            o = terms[t, 0]
            base = terms[t, 1] + terms[t, 3]
            stride = terms[t, 2]
            lo = terms[t, 4]
            idx[:] = 0
            for i in range(k):
                row = p[terms[t, 6 + 3 * i], y + r + terms[t, 7 + 3 * i]]
                x0 = r + terms[t, 8 + 3 * i]
                for x in range(w):
                    idx[x] = idx[x] * levels + (row[x0 + x] - lo)
            a = acc[o]
            for x in range(w):
                a[x] += table[base + idx[x] * stride]
        for o in range(n_out):
            for x in range(w):
                out[o, y, x] = _round_div(acc[o, x], divisor, mode)
    return out


@kernel()
def remap_kernel(src, table, lo):  # pragma: no cover - compiled
    """Per-channel value map: ``out[c] = table[c or 0, src[c] - lo]`` (int32)."""
    c, h, w = src.shape
    out = np.empty((c, h, w), np.int32)
    one = table.shape[0] == 1
    for ch in range(c):
        tr = table[0] if one else table[ch]
        for y in range(h):
            for x in range(w):
                out[ch, y, x] = tr[src[ch, y, x] - lo]
    return out


@kernel()
def shift_kernel(src, offsets, reflect):  # pragma: no cover - compiled
    """Per-channel shift: ``out[c, y, x] = src[c, pad(y + dy_c), pad(x + dx_c)]``."""
    c, h, w = src.shape
    out = np.empty((c, h, w), src.dtype)
    for ch in range(c):
        dy = offsets[ch, 0]
        dx = offsets[ch, 1]
        for y in range(h):
            yy = pad_at(y + dy, h, reflect)
            for x in range(w):
                out[ch, y, x] = src[ch, yy, pad_at(x + dx, w, reflect)]
    return out
