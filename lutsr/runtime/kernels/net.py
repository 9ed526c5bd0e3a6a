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
from lutsr.runtime.simd import (lane_gather, lane_lookup, pixel_gathers, pixel_passes, pixel_passes2, round_div_f32,
                               round_shift, row_add, subpixel_rotate_add)

__all__ = ["lut_pass_kernel", "lut_gather_kernel", "lut_direct_kernel", "pad_hwc", "remap_kernel", "shift_kernel",
           "ensemble_add", "ensemble_add_perm", "add_clamp", "magic_divisor", "ROUND_CODES", "NO_EPILOGUE"]

#: an epilogue that does nothing (``_epilogue``)
NO_EPILOGUE = np.zeros(13, np.int64)

#: rounding name -> code the kernels take
ROUND_CODES = {"half_even": 0, "half_up": 1, "floor": 2, "none": 3}  # "none": divisor 1, the raw sum


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
def _round_row(rowv, acc, w, n_out, lanes, d, inv_d, mode, magic):  # pragma: no cover - compiled
    """``rowv[x*n_out + o] = round((acc[x*lanes + o] + bd) / d)`` (``magic``: ``magic_divisor``,
    ``bd = magic[3]`` the op's bias times ``d``, and ``magic[4]`` = 1 when float32 lanes are exact for
    this op's accumulator range (``simd.round_div_f32``); m = 0: no multiply fits, divide; ``acc``
    int32 or int16)."""
    m, k, kk, bd = magic[0], magic[1], magic[2], magic[3]
    n = w * n_out
    if magic[4] != 0 and lanes == n_out and n % 8 == 0 and (d & (d - 1)) == 0:  # a power of two: shifts
        kb = 0
        while (1 << kb) < d:
            kb += 1
        for i in range(0, n, 8):
            round_shift(rowv, i, acc, i, bd, kb, mode, 8)
    elif magic[4] != 0 and lanes == n_out and n % 8 == 0:  # float32 lanes are exact (``_magic``)
        inv = np.float32(1.0) / np.float32(d)
        for i in range(0, n, 8):
            round_div_f32(rowv, i, acc, i, bd, d, inv, mode, 8)
    elif m > 0 and lanes == n_out:
        for i in range(w * n_out):
            rowv[i] = _round_magic(np.int64(acc[i]) + bd, d, m, k, kk, mode)
    else:
        for x in range(w):
            for o in range(n_out):
                rowv[x * n_out + o] = _round_div(np.int64(acc[x * lanes + o]) + bd, d, inv_d, mode)


@inline
def _add_row(rowv, r, y, w, n_out, per_channel):  # pragma: no cover - compiled
    if per_channel:
        rr = r[y].reshape(-1)
        for i in range(w * n_out):
            rowv[i] += rr[i]
    else:
        for x in range(w):
            v = r[y, x, 0]
            for o in range(n_out):
                rowv[x * n_out + o] += v


@inline
def _clamp_row(rowv, n, lo, hi):  # pragma: no cover - compiled
    for i in range(n):
        rowv[i] = min(max(rowv[i], lo), hi)


@inline
def _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s):  # pragma: no cover - compiled
    """The ops fused after a ``lut`` op, on one row: clamp, residual adds, clamp, pixel shuffle.

    ``epi``: [clamp0, lo0, hi0, add r1, r1 per-channel, add r2, r2 per-channel, clamp1, lo1, hi1,
    remap, lo, n]; ``r1``/``r2`` (H, W, 1 or n_out) residual planes; ``rmt`` int32 (n_out, n): the
    value map ``v -> rmt[o, v - lo]`` of output channel ``o`` (validation proved ``v - lo`` in range); ``s`` the pixel-shuffle factor (1: none), output
    channel ``o`` going to sub-pixel ``((o // s) % s, o % s)`` of channel ``o // (s*s)``.
    """
    n = w * n_out
    if epi[0]:
        _clamp_row(rowv, n, np.int32(epi[1]), np.int32(epi[2]))
    if epi[3]:
        _add_row(rowv, r1, y, w, n_out, epi[4])
    if epi[5]:
        _add_row(rowv, r2, y, w, n_out, epi[6])
    if epi[7]:
        _clamp_row(rowv, n, np.int32(epi[8]), np.int32(epi[9]))
    if epi[10]:  # per-channel value map rmt[o, v - lo] (requantisation)
        tf = rmt.reshape(-1)
        lo, nv = epi[11], epi[12]
        for x in range(w):
            for o in range(n_out):
                i = x * n_out + o
                rowv[i] = tf[np.uint64(o * nv + rowv[i] - lo)]
    if s == 1:
        orow = out[y].reshape(-1)
        for i in range(n):
            orow[i] = rowv[i]
        return
    ss = s * s
    nc = n_out // ss
    for i in range(s):
        orow = out[y * s + i].reshape(-1)
        if nc == 1:
            for x in range(w):
                b = x * n_out + i * s
                for j in range(s):
                    orow[x * s + j] = rowv[b + j]
        else:
            for x in range(w):
                for j in range(s):
                    for cc in range(nc):
                        orow[(x * s + j) * nc + cc] = rowv[x * n_out + cc * ss + i * s + j]


@inline
def _uniform_rows(acc, p, yy, x0, ch, base, off, table, w, lanes, width):  # pragma: no cover - compiled
    """Uniform pass over a row: ``acc[x*lanes : x*lanes + lanes] += table[off + (v - base)*lanes :]``."""
    for x in range(w):
        e = off + (p[yy, x0 + x, ch] - base) * lanes
        a = x * lanes
        for j in range(0, lanes, width):
            row_add(acc, a + j, table, e + j, width)


@kernel()
def lut_pass_kernel(src, r, reflect, passes, cmap, table, n_out, lanes, d, mode, magic, epi, r1, r2, rmt,
                    s):  # pragma: no cover - compiled
    """Linear-index ``lut`` op: ``src`` int32 (H, W, C) -> int32 (H, W, n_out).

    ``passes`` int64 (n, 6): kind (0 uniform, 1 gather), dy, dx, channel (uniform), base value,
    offset of the pass's block in ``table`` (rows of ``lanes`` values (``n_out`` padded to 4 or a
    multiple of 16 with zeros), row ``v - base``); ``cmap`` int64 (n, n_out): the channel output ``o``
    reads in a gather pass. ``magic``: ``_round_row``'s, and ``magic[5]`` = 1 when ``table`` is int16
    and the sum of every pass's largest magnitude is below 2**15, so uniform passes may sum in int16.
    """
    h, w, c = src.shape
    p = src if r == 0 else pad_hwc(src, r, reflect)  # nothing to pad: read the plane itself
    out = np.empty((h * s, w * s, n_out // (s * s)), np.int32)
    acc = np.zeros(w * lanes, np.int32)
    rowv = np.empty(w * n_out, np.int32)
    inv_d = 1.0 / d
    npass = passes.shape[0]
    uniform = True
    for k in range(npass):
        if passes[k, 0] != 0:
            uniform = False
    if uniform and (lanes == 4 or lanes == 16):
        # every pass reads one value per pixel: sum all passes of a pixel in registers
        wp = w + 2 * r
        pflat = p.reshape(-1)
        pofs = np.empty(npass, np.int64)
        toff = np.empty(npass, np.int64)
        base = np.empty(npass, np.int64)
        for k in range(npass):
            pofs[k] = (passes[k, 1] * wp + passes[k, 2]) * c + passes[k, 3]
            toff[k] = passes[k, 5]
            base[k] = passes[k, 4]
        tb = toff - base * lanes  # row of value v: tb[k] + v * lanes
        w2 = w - w % 2
        if magic[5] != 0 and lanes == 16:  # int16 rows whose sums fit int16: 16 lanes in one vector
            acc16 = np.zeros(w * 16, np.int16)
            for y in range(h):
                so = ((y + r) * wp + r) * c
                for x in range(0, w2, 2):  # two pixels per loop: each pass's offsets loaded once
                    pixel_passes2(acc16, x * 16, table, pflat, so + x * c, c, pofs, tb, npass, 16)
                if w2 < w:
                    pixel_passes(acc16, w2 * 16, table, pflat, so + w2 * c, pofs, toff, base, npass, 16)
                _round_row(rowv, acc16, w, n_out, lanes, d, inv_d, mode, magic)
                _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s)
            return out
        for y in range(h):
            so = ((y + r) * wp + r) * c
            if lanes == 4:
                for x in range(0, w2, 2):
                    pixel_passes2(acc, x * 4, table, pflat, so + x * c, c, pofs, tb, npass, 4)
                if w2 < w:
                    pixel_passes(acc, w2 * 4, table, pflat, so + w2 * c, pofs, toff, base, npass, 4)
            else:
                for x in range(0, w2, 2):
                    pixel_passes2(acc, x * 16, table, pflat, so + x * c, c, pofs, tb, npass, 16)
                if w2 < w:
                    pixel_passes(acc, w2 * 16, table, pflat, so + w2 * c, pofs, toff, base, npass, 16)
            _round_row(rowv, acc, w, n_out, lanes, d, inv_d, mode, magic)
            _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s)
        return out
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
        _round_row(rowv, acc, w, n_out, lanes, d, inv_d, mode, magic)
        _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s)
    return out


@kernel()
def lut_gather_kernel(src, r, reflect, passes, table, n_out, d, mode, magic, epi, r1, r2, rmt, s):  # pragma: no cover
    """A depthwise ``lut`` op (every pass a gather pass, output ``o`` reading channel ``o``; 16
    channels): ``lut_pass_kernel``'s meaning, the 16 lanes of a pass gathered at once (int32 ``table``)."""
    h, w, c = src.shape
    p = src if r == 0 else pad_hwc(src, r, reflect)  # nothing to pad: read the plane itself
    out = np.empty((h * s, w * s, n_out // (s * s)), np.int32)
    acc = np.zeros(w * 16, np.int32)
    rowv = np.empty(w * n_out, np.int32)
    inv_d = 1.0 / d
    npass = passes.shape[0]
    wp = w + 2 * r
    pflat = p.reshape(-1)
    pofs = np.empty(npass, np.int64)
    toff = np.empty(npass, np.int64)
    base = np.empty(npass, np.int64)
    for k in range(npass):
        pofs[k] = (passes[k, 1] * wp + passes[k, 2]) * c
        toff[k] = passes[k, 5]
        base[k] = passes[k, 4]
    for y in range(h):
        for x in range(w):
            pixel_gathers(acc, x * 16, table, pflat, ((y + r) * wp + x + r) * c, pofs, toff, base, npass, 16)
        _round_row(rowv, acc, w, n_out, 16, d, inv_d, mode, magic)
        _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s)
    return out


@kernel()
def lut_direct_kernel(src, r, reflect, taps, cells, table, base_off, stride, levels, lo, n_out, d,
                      mode, magic, epi, r1, r2, rmt, s):  # pragma: no cover - compiled
    """Direct-index ``lut`` op: ``src`` int32 (H, W, C) -> int32 (H, W, n_out).

    Pass ``k`` builds ``row = sum_i (src[y+dy_i, x+dx_i, ch_i] - lo[k]) * levels**(K-1-i)`` from
    ``taps[k]`` ((K, 3): channel, dy, dx) and adds ``table[base_off[k] + row * stride[k] + cells[k, o]]``
    to output ``o`` where ``cells[k, o] >= 0``.
    """
    h, w, c = src.shape
    p = src if r == 0 else pad_hwc(src, r, reflect)  # nothing to pad: read the plane itself
    kk = taps.shape[1]
    out = np.empty((h * s, w * s, n_out // (s * s)), np.int32)
    acc = np.zeros(w * n_out, np.int32)
    rowv = np.empty(w * n_out, np.int32)
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
            bo, st = base_off[k], stride[k]
            if n_out == 4 and cells[k, 0] >= 0 and cells[k, 1] >= 0 and cells[k, 2] >= 0 and cells[k, 3] >= 0:
                c0, c1, c2, c3 = cells[k, 0], cells[k, 1], cells[k, 2], cells[k, 3]  # HKLUT: 4 cells per row
                for x in range(w):
                    e = bo + idx[x] * st
                    acc[x * 4] += table[np.uint64(e + c0)]
                    acc[x * 4 + 1] += table[np.uint64(e + c1)]
                    acc[x * 4 + 2] += table[np.uint64(e + c2)]
                    acc[x * 4 + 3] += table[np.uint64(e + c3)]
            else:
                for x in range(w):
                    e = bo + idx[x] * st
                    for o in range(n_out):
                        cl = cells[k, o]
                        if cl >= 0:
                            acc[x * n_out + o] += table[e + cl]
        _round_row(rowv, acc, w, n_out, n_out, d, inv_d, mode, magic)
        _epilogue(out, y, rowv, w, n_out, epi, r1, r2, rmt, s)
    return out


@kernel()
def remap_kernel(src, table, lo):  # pragma: no cover - compiled
    """Per-channel value map: ``out[y, x, c] = table[c or 0, src[y, x, c] - lo]`` (int32)."""
    h, w, c = src.shape
    out = np.empty((h, w, c), np.int32)
    n = table.shape[1]
    one = table.shape[0] == 1
    tf = np.ascontiguousarray(table).reshape(-1)
    toff = np.empty(c, np.int64)
    for ch in range(c):
        toff[ch] = (0 if one else ch) * n - lo
    sf = src.reshape(-1)
    of = out.reshape(-1)
    for i in range(h * w):
        if c == 16:
            lane_lookup(of, i * 16, tf, toff, sf, i * 16, 16)
        else:
            for ch in range(c):
                of[i * c + ch] = tf[toff[ch] + sf[i * c + ch]]
    return out


@kernel()
def shift_kernel(src, offsets, reflect):  # pragma: no cover - compiled
    """Per-channel shift: ``out[y, x, c] = src[pad(y + dy_c), pad(x + dx_c), c]``.

    Pixels whose every channel's source is inside the plane gather straight from it (16 lanes at
    once); only the ``r``-wide frame (``r`` the largest shift) goes through ``pad_at``.
    """
    h, w, c = src.shape
    r = 0
    for ch in range(c):
        r = max(r, abs(offsets[ch, 0]), abs(offsets[ch, 1]))
    out = np.empty((h, w, c), src.dtype)
    offs = np.empty(c, np.int64)  # element offset of channel ch's source from the pixel's own position
    for ch in range(c):
        offs[ch] = (offsets[ch, 0] * w + offsets[ch, 1]) * c + ch
    sf = src.reshape(-1)
    of = out.reshape(-1)
    for y in range(h):
        inner_y = y >= r and y < h - r
        for x in range(w):
            if inner_y and x >= r and x < w - r and c == 16:
                lane_gather(of, (y * w + x) * 16, sf, (y * w + x) * 16, offs, 16)
            else:
                for ch in range(c):
                    yy = pad_at(y + offsets[ch, 0], h, reflect)
                    xx = pad_at(x + offsets[ch, 1], w, reflect)
                    of[(y * w + x) * c + ch] = sf[(yy * w + xx) * c + ch]
    return out


@inline
def _acc(total, i, j, ch, v, lo, hi, first):  # pragma: no cover - compiled
    v = min(max(v, lo), hi)
    if first:
        total[i, j, ch] = v
    else:
        total[i, j, ch] += v


@kernel()
def ensemble_add(total, y, r, lo, hi, first):  # pragma: no cover - compiled
    """``total += clip(rot90(y, -r), lo, hi)`` (``first``: ``total =``); ``y`` is (W', H', C) for odd ``r``.

    ``rot90(y, -r)[i, j]`` is ``y[i, j]`` (r = 0), ``y[hy-1-j, i]`` (1), ``y[hy-1-i, wy-1-j]`` (2),
    ``y[j, wy-1-i]`` (3); each loop nest reads ``y`` row by row (odd rotations write ``total`` by
    columns). Even rotations of a one-channel plane are one flat loop (forwards or backwards).
    """
    hy, wy, c = y.shape
    if c == 1 and (r == 0 or r == 2):
        yf = y.reshape(-1)
        tf = total.reshape(-1)
        n = hy * wy
        if r == 0:
            for i in range(n):
                v = min(max(yf[i], lo), hi)
                tf[i] = v if first else tf[i] + v
        else:
            for i in range(n):
                v = min(max(yf[np.uint64(n - 1 - i)], lo), hi)  # unsigned: no wraparound check
                tf[i] = v if first else tf[i] + v
    elif c == 1:  # odd rotations of a one-channel plane: a transpose, by blocks that stay in L1
        for a0 in range(0, hy, 16):
            a1 = min(hy, a0 + 16)
            for b0 in range(0, wy, 16):
                b1 = min(wy, b0 + 16)
                for a in range(a0, a1):
                    for b in range(b0, b1):
                        v = min(max(y[a, b, 0], lo), hi)
                        if r == 1:  # y[a, b] lands at total[b, hy-1-a]
                            ti, tj = np.uint64(b), np.uint64(hy - 1 - a)
                        else:  # r == 3: y[a, b] lands at total[wy-1-b, a]
                            ti, tj = np.uint64(wy - 1 - b), np.uint64(a)
                        total[ti, tj, 0] = v if first else total[ti, tj, 0] + v
    elif r == 0:
        for a in range(hy):
            for b in range(wy):
                for ch in range(c):
                    _acc(total, a, b, ch, y[a, b, ch], lo, hi, first)
    elif r == 2:
        for a in range(hy):
            for b in range(wy):
                for ch in range(c):
                    _acc(total, hy - 1 - a, wy - 1 - b, ch, y[a, b, ch], lo, hi, first)
    elif r == 1:  # y[a, b] lands at total[b, hy-1-a]
        for a in range(hy):
            for b in range(wy):
                for ch in range(c):
                    _acc(total, b, hy - 1 - a, ch, y[a, b, ch], lo, hi, first)
    else:  # r == 3: y[a, b] lands at total[wy-1-b, a]
        for a in range(hy):
            for b in range(wy):
                for ch in range(c):
                    _acc(total, wy - 1 - b, a, ch, y[a, b, ch], lo, hi, first)


@inline
def _rotated_lr_pixel(a, b, hy, wy, tw, r):  # pragma: no cover - compiled
    """Flat pixel index in ``total`` (width ``tw``) where pixel ``(a, b)`` of a rotation-``r`` plane lands."""
    if r == 0:
        return a * tw + b
    if r == 1:
        return b * tw + hy - 1 - a
    if r == 2:
        return (hy - 1 - a) * tw + wy - 1 - b
    return (wy - 1 - b) * tw + a


@inline
def _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, r, s):  # pragma: no cover - compiled
    c = s * s
    for a in range(hy):
        for b in range(wy):
            subpixel_rotate_add(tf, _rotated_lr_pixel(a, b, hy, wy, tw, r) * c, yf, (a * wy + b) * c, lo, hi,
                                first, r, s)


@kernel()
def ensemble_add_perm(total, y, r, s, perm, lo, hi, first):  # pragma: no cover - compiled
    """``ensemble_add`` of LR planes of sub-pixel channels: pixel ``(a, b)`` of ``y`` moves as in
    ``ensemble_add`` and its channel ``ch`` goes to ``perm[ch]`` (``netrun._subpixel_perm``).
    One output channel at x2, x3 or x4 (``s*s`` channels) takes vector shuffles
    (``simd.subpixel_rotate_add``); any other shape a scalar loop."""
    hy, wy, c = y.shape
    tw = total.shape[1]
    yf = y.reshape(-1)
    tf = total.reshape(-1)
    if c == s * s and (s == 2 or s == 4) and r >= 0 and r <= 3:
        if s == 4:
            if r == 0:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 0, 4)
            elif r == 1:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 1, 4)
            elif r == 2:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 2, 4)
            else:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 3, 4)
        else:
            if r == 0:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 0, 2)
            elif r == 1:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 1, 2)
            elif r == 2:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 2, 2)
            else:
                _perm_rows(tf, yf, hy, wy, tw, lo, hi, first, 3, 2)
        return
    for a in range(hy):
        for b in range(wy):
            t0 = _rotated_lr_pixel(a, b, hy, wy, tw, r) * c
            s0 = (a * wy + b) * c
            for ch in range(c):  # unsigned indices: no wraparound checks
                v = min(max(yf[np.uint64(s0 + ch)], lo), hi)
                k = np.uint64(t0 + perm[ch])
                tf[k] = v if first else tf[k] + v


@kernel()
def add_clamp(a, b, lo, hi, clamp):  # pragma: no cover - compiled
    """``a + b`` (a 1-channel operand broadcasts), clipped to ``lo..hi`` when ``clamp``; int32 (H, W, C)."""
    h, w, ca = a.shape
    cb = b.shape[2]
    c = max(ca, cb)
    sa = 1 if ca > 1 else 0
    sb = 1 if cb > 1 else 0
    out = np.empty((h, w, c), np.int32)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                v = a[y, x, ch * sa] + b[y, x, ch * sb]
                if clamp:
                    v = min(max(v, lo), hi)
                out[y, x, ch] = v
    return out
