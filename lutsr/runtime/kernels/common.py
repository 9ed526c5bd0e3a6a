"""Scalar helpers every kernel shares, and the fitter too: padding, the simplex walk, the exact rescale.

Each has a NumPy meaning in ``lutsr.runtime.reference`` (``pad_index``, ``simplex_reference``,
``rescale_reference``); the kernels that use them are tested bit for bit against it.
"""

from __future__ import annotations

import numpy as np

from lutsr.runtime.kernels.jit import inline

#: Rotation-ensemble size of the fast kernels (``expand``, ``block``): they read rotations 2 and 3
#: as rotations 0 and 1 turned by 180 degrees, so ``compile`` routes other ensembles to ``scalar``.
FAST_ROTATIONS = 4


@inline
def pad_at(i, n, reflect):  # pragma: no cover - compiled
    """Index ``i`` into ``0..n-1``: clamped (edge) or reflected, as ``spec.pad_index``."""
    if i >= 0 and i < n:  # the common case: no padding, no division
        return i
    if reflect:
        if n == 1:
            return 0
        p = 2 * (n - 1)
        i = i % p
        if i > n - 1:
            i = p - i
        return i
    if i < 0:
        return 0
    return n - 1


@inline
def simplex_walk(base, frac, strides, n, q, order, rows, wts):  # pragma: no cover - compiled
    """Vertices (rows) and integer weights of simplex interpolation; returns the vertex count."""
    if q == 1:
        rows[0] = base
        wts[0] = 1
        return 1
    for i in range(n):  # stable insertion sort of input indices by descending fraction
        j = i
        while j > 0 and frac[order[j - 1]] < frac[i]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    rows[0] = base
    wts[0] = q - frac[order[0]]
    for k in range(1, n + 1):
        rows[k] = rows[k - 1] + strides[order[k - 1]]
        nxt = frac[order[k]] if k < n else 0
        wts[k] = frac[order[k - 1]] - nxt
    return n + 1


@inline
def gather_vertices(x, c, y, xx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts):  # pragma: no cover
    base = 0
    for i in range(n):
        yy = pad_at(y + offs[k, i, 0], h, reflect)
        xq = pad_at(xx + offs[k, i, 1], w, reflect)
        v = np.int64(x[yy, xq, c])
        base += (v >> interval) * strides[i]
        frac[i] = v & (q - 1)
    return simplex_walk(base, frac, strides, n, q, order, rows, wts)


@inline
def level_strides(n, levels):  # pragma: no cover - compiled
    strides = np.empty(n, np.int64)
    st = 1
    for i in range(n - 1, -1, -1):
        strides[i] = st
        st *= levels
    return strides


@inline
def work_buffers(n, levels):  # pragma: no cover - compiled
    """Per-task scratch for gathering an n-input kernel: strides, fractions, order, vertices, weights."""
    return (level_strides(n, levels), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n + 1, np.int64),
            np.empty(n + 1, np.int64))


@inline
def round_div(num, d, bias, half_even):  # pragma: no cover - compiled
    """clip(round(num / d + bias), 0, 255) in exact integers (half up or half even).

    The floor quotient is estimated with a float multiply and corrected exactly, which is
    much faster than an integer division by a run-time divisor.
    """
    num = num + bias * d
    if (d & (d - 1)) == 0:  # power of two: shift and mask
        sh = 0
        while (1 << sh) < d:
            sh += 1
        r = num >> sh
        tr = 2 * (num & (d - 1))
        if tr > d or (tr == d and ((not half_even) or (r & 1) == 1)):
            r += 1
        if r < 0:
            r = 0
        elif r > 255:
            r = 255
        return r
    r = np.int64(np.floor(num * (1.0 / d)))
    while r * d > num:
        r -= 1
    while (r + 1) * d <= num:
        r += 1
    tr = 2 * (num - r * d)
    if tr > d or (tr == d and ((not half_even) or (r & 1) == 1)):
        r += 1
    if r < 0:
        r = 0
    elif r > 255:
        r = 255
    return r

