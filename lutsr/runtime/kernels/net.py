"""Kernels of LUT networks (``lutsr.net.graph``) on channel-last int32 planes ``(H, W, C)``.

A ``lut`` op is compiled (``lutsr.runtime.netrun``) into *passes*. A pass reads one input value per
pixel and output channel at one tap and adds one pre-expanded table row to the accumulator:

* ``uniform`` pass: every output channel reads the same input channel (pointwise layers, the first
  depthwise layer, HKLUT units): one contiguous row ``E[v, 0:n_out]`` per pixel (vector loads);
* ``gather`` pass: output channel ``o`` reads channel ``cmap[o]`` (depthwise layers): ``E[v_o, o]``.

``E`` holds, for every input value the pass can see, each term's interpolated table value in units
of ``1/S`` (``S`` the op's largest step): linear interpolation is folded into the table at compile
time, exactly (integers). Direct-index passes (``lut_direct_kernel``) build a multi-input row index.

NumPy meaning: ``lutsr.net.reference``; the tests compare them bit for bit. ``Network.validate``
has proved every index in bounds and every sum inside int32, so the kernels do not check.
"""

from __future__ import annotations

import numpy as np

from lutsr.runtime.kernels.common import pad_at
from lutsr.runtime.kernels.jit import inline, kernel
from lutsr.runtime.simd import row_add

__all__ = ["lut_pass_kernel", "lut_direct_kernel", "pad_hwc", "remap_kernel", "shift_kernel", "ROUND_CODES"]

#: rounding name -> code the kernels take
ROUND_CODES = {"half_even": 0, "half_up": 1, "floor": 2}


@inline
def _round_div(a, d, inv_d, mode):  # pragma: no cover - compiled
    """``round(a / d)`` exactly (|a| < 2**30): a float estimate of the floor, corrected by one step."""
    q = np.int64(np.floor(a * inv_d))
    if q * d > a:
        q -= 1
    elif (q + 1) * d <= a:
        q += 1
    if mode != 2:
        r2 = 2 * (a - q * d)
        if r2 > d or (r2 == d and (mode == 1 or (q & 1) == 1)):
            q += 1
    return q


def magic_divisor(d: int, bound: int) -> tuple[int, int, int]:
    """``(m, k, K)`` such that ``floor(a / d) == ((a + K*d) * m >> k) - K`` for every ``|a| <= bound``.

    ``K*d > bound`` makes the dividend non-negative; ``m = ceil(2**k / d)`` with ``2**k >= 2**N * d``
    (``a + K*d < 2**N``) makes the product exact (Granlund-Montgomery); every product stays below
    2**63. Raises ValueError when no such ``k`` fits (the kernels then take ``d`` as is).
    """
    kk = bound // d + 1
    n = int(bound + kk * d + 1).bit_length()
    k = n + int(d).bit_length()
    m = -(-(1 << k) // d)
    if n + m.bit_length() > 62:
        raise ValueError("divisor too large for an exact multiply")
    return m, k, kk


@inline
def _round_magic(a, d, m, k, kk, mode):  # pragma: no cover - compiled
    """``round(a / d)`` exactly with the multiply of ``magic_divisor`` (no division)."""
    q = ((a + kk * d) * m >> k) - kk
    if mode != 2:
        r2 = 2 * (a - q * d)
        up = (r2 > d) | ((r2 == d) & ((mode == 1) | ((q & 1) == 1)))
        q += np.int64(up)
    return q


@kernel()
def pad_hwc(src, r, reflect):  # pragma: no cover - compiled
    """``(H, W, C)`` -> ``(H + 2r, W + 2r, C)`` padded with ``pad_at`` (edge or reflect)."""
    h, w, c = src.shape
    out = np.empty((h + 2 * r, w + 2 * r, c), src.dtype)
    for y in range(h + 2 * r):
        yy = pad_at(y - r, h, reflect)
        for x in range(w + 2 * r):
            xx = pad_at(x - r, w, reflect)
            for ch in range(c):
                out[y, x, ch] = src[yy, xx, ch]
    return out


@inline
def _emit(out, y, acc, w, n_out, lanes, d, inv_d, mode, magic):  # pragma: no cover - compiled
    """``out[y, x, o] = round(acc[x*lanes + o] / d)`` (``magic``: ``magic_divisor``, or m = 0: none)."""
    orow = out[y].reshape(-1)
    m, k, kk = magic[0], magic[1], magic[2]
    if m > 0 and lanes == n_out:
        for i in range(w * n_out):
            orow[i] = _round_magic(np.int64(acc[i]), d, m, k, kk, mode)
    else:
        for x in range(w):
            for o in range(n_out):
                orow[x * n_out + o] = _round_div(acc[x * lanes + o], d, inv_d, mode)


@inline
def _uniform_rows(acc, p, yy, x0, ch, base, off, table, w, lanes, width):  # pragma: no cover - compiled
    """Uniform pass over a row: ``acc[x*lanes : x*lanes + lanes] += table[off + (v - base)*lanes :]``."""
    for x in range(w):
        e = off + (p[yy, x0 + x, ch] - base) * lanes
        a = x * lanes
        for j in range(0, lanes, width):
            row_add(acc, a + j, table, e + j, width)


@kernel()
def lut_pass_kernel(src, r, reflect, passes, cmap, table, n_out, lanes, d, mode, magic):  # pragma: no cover - compiled
    """Linear-index ``lut`` op: ``src`` int32 (H, W, C) -> int32 (H, W, n_out).

    ``passes`` int64 (n, 6): kind (0 uniform, 1 gather), dy, dx, channel (uniform), base value,
    offset of the pass's block in ``table`` (rows of ``lanes`` values (``n_out`` padded to 4 or a
    multiple of 16 with zeros), row ``v - base``); ``cmap`` int64 (n, n_out): the channel output ``o``
    reads in a gather pass.
    """
    h, w, c = src.shape
    p = pad_hwc(src, r, reflect)
    out = np.empty((h, w, n_out), np.int32)
    acc = np.zeros(w * lanes, np.int32)
    inv_d = 1.0 / d
    for y in range(h):
        acc[:] = 0
        for k in range(passes.shape[0]):
            yy = y + r + passes[k, 1]
            x0 = r + passes[k, 2]
            base = passes[k, 4]
            off = passes[k, 5]
            if passes[k, 0] == 0:
                if lanes == 4:
                    _uniform_rows(acc, p, yy, x0, passes[k, 3], base, off, table, w, lanes, 4)
                else:
                    _uniform_rows(acc, p, yy, x0, passes[k, 3], base, off, table, w, lanes, 16)
            else:
                for x in range(w):
                    a = x * lanes
                    for o in range(n_out):
                        acc[a + o] += table[off + (p[yy, x0 + x, cmap[k, o]] - base) * lanes + o]
        _emit(out, y, acc, w, n_out, lanes, d, inv_d, mode, magic)
    return out


@kernel()
def lut_direct_kernel(src, r, reflect, taps, cells, table, base_off, stride, levels, lo, n_out, d,
                      mode):  # pragma: no cover - compiled
    """Direct-index ``lut`` op: ``src`` int32 (H, W, C) -> int32 (H, W, n_out).

    Pass ``k`` builds ``row = sum_i (src[y+dy_i, x+dx_i, ch_i] - lo[k]) * levels**(K-1-i)`` from
    ``taps[k]`` ((K, 3): channel, dy, dx) and adds ``table[base_off[k] + row * stride[k] + cells[k, o]]``
    to output ``o`` where ``cells[k, o] >= 0``.
    """
    h, w, c = src.shape
    p = pad_hwc(src, r, reflect)
    kk = taps.shape[1]
    out = np.empty((h, w, n_out), np.int32)
    acc = np.zeros((w, n_out), np.int32)
    idx = np.empty(w, np.int64)
    inv_d = 1.0 / d
    for y in range(h):
        acc[:] = 0
        for k in range(taps.shape[0]):
            idx[:] = 0
            for i in range(kk):
                ch = taps[k, i, 0]
                yy = y + r + taps[k, i, 1]
                x0 = r + taps[k, i, 2]
                for x in range(w):
                    idx[x] = idx[x] * levels + (p[yy, x0 + x, ch] - lo[k])
            for x in range(w):
                e = base_off[k] + idx[x] * stride[k]
                for o in range(n_out):
                    cl = cells[k, o]
                    if cl >= 0:
                        acc[x, o] += table[e + cl]
        for x in range(w):
            for o in range(n_out):
                out[y, x, o] = _round_div(acc[x, o], d, inv_d, mode)
    return out


@kernel()
def remap_kernel(src, table, lo):  # pragma: no cover - compiled
    """Per-channel value map: ``out[y, x, c] = table[c or 0, src[y, x, c] - lo]`` (int32)."""
    h, w, c = src.shape
    out = np.empty((h, w, c), np.int32)
    one = table.shape[0] == 1
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                out[y, x, ch] = table[0 if one else ch, src[y, x, ch] - lo]
    return out


@kernel()
def shift_kernel(src, offsets, reflect):  # pragma: no cover - compiled
    """Per-channel shift: ``out[y, x, c] = src[pad(y + dy_c), pad(x + dx_c), c]``."""
    h, w, c = src.shape
    out = np.empty((h, w, c), src.dtype)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                out[y, x, ch] = src[pad_at(y + offsets[ch, 0], h, reflect), pad_at(x + offsets[ch, 1], w, reflect), ch]
    return out
