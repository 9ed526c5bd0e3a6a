"""Numba kernel of the ``lut`` op with ``index: "simplex"`` (SR-LUT / MuLUT / LeRF k-simplex
interpolation), in the calling convention of ``lutsr.runtime.kernels.net`` (``lut_direct_kernel``),
for the network runtime to dispatch to.

NumPy meaning: ``lutsr.net.reference._lut`` (``_simplex_term``, i.e.
``lutsr.spec.simplex_reference``); the tests compare them bit for bit. Validation
(``Network.validate``) has proved every vertex of non-zero weight inside the table and every sum
(bias included) inside int32. Vertices of weight 0 are not read.
"""

from __future__ import annotations

import numpy as np

from lutsr.runtime.kernels.common import pad_at
from lutsr.runtime.kernels.jit import kernel
from lutsr.runtime.kernels.net import _round_div

__all__ = ["lut_simplex_kernel"]


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
def lut_simplex_kernel(src, table, terms, k, levels, n_out, r, big, divisor, bias, mode,
                       reflect):  # pragma: no cover - compiled
    """The ``lut`` op with ``index: simplex``: ``src`` int32 (C, H, W) -> int32 (n_out, H, W).

    ``terms`` int32 (n, 6 + 3k): out, offset, stride, cell, lo, step (a power of two), then
    (channel, dy, dx) per input; ``r`` the largest tap distance; ``big`` the largest step (the
    accumulator's unit is ``1/big``); output ``round(acc / (big * divisor) + bias)``.
    """
    c, h, w = src.shape
    p = pad_planes(src, r, reflect)
    n = terms.shape[0]
    out = np.empty((n_out, h, w), np.int32)
    acc = np.zeros((n_out, w), np.int32)
    msb = np.empty((k, w), np.int32)
    frac = np.empty((k, w), np.int32)
    pw = np.empty(k, np.int32)  # levels ** (k - 1 - i): input 0 most significant
    f = np.empty(k, np.int32)
    order = np.empty(k, np.int32)
    v = 1
    for i in range(k - 1, -1, -1):
        pw[i] = v
        v *= levels
    d = 1 if mode == 3 else big * divisor  # rounding "none": the raw sum in units of 1/big
    for y in range(h):
        acc[:] = 0
        for t in range(n):
            o = terms[t, 0]
            base = terms[t, 1] + terms[t, 3]
            stride = terms[t, 2]
            lo = terms[t, 4]
            step = terms[t, 5]
            mul = big // step
            sh = 0
            while (1 << sh) < step:
                sh += 1
            m = step - 1
            for i in range(k):
                row = p[terms[t, 6 + 3 * i], y + r + terms[t, 7 + 3 * i]]
                x0 = r + terms[t, 8 + 3 * i]
                for x in range(w):
                    u = row[x0 + x] - lo
                    msb[i, x] = u >> sh
                    frac[i, x] = u & m
            a = acc[o]
            for x in range(w):
                idx = 0
                for i in range(k):
                    idx += msb[i, x] * pw[i]
                    f[i] = frac[i, x]
                    # insertion sort, descending fraction; ties keep the earlier input first (stable)
                    j = i
                    while j > 0 and f[order[j - 1]] < f[i]:
                        order[j] = order[j - 1]
                        j -= 1
                    order[j] = i
                prev = step
                s = 0
                for j in range(k):
                    fj = f[order[j]]
                    wgt = prev - fj
                    if wgt != 0:
                        s += table[base + idx * stride] * wgt
                    idx += pw[order[j]]
                    prev = fj
                if prev != 0:
                    s += table[base + idx * stride] * prev
                a[x] += s * mul
        for o in range(n_out):
            for x in range(w):
                out[o, y, x] = _round_div(acc[o, x] + bias * d, d, 1.0 / d, mode)
    return out
