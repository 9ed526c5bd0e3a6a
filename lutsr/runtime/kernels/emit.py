"""Rescale planar integer sums into interleaved uint8 rows: 16 pixels at a time with
``simd.emit_u8`` when the divisor is a power of two, exact scalar ``round_div`` otherwise."""

from __future__ import annotations

import numpy as np

from lutsr.runtime.kernels.common import round_div
from lutsr.runtime.kernels.jit import inline, rowfn
from lutsr.runtime.simd import emit_u8


@inline
def shift_rescale(d, bias, half_even, pre):  # pragma: no cover - compiled
    """For a power-of-two divisor ``d = 2**shift``: ``(shift, add, even)`` such that
    ``round_div(v + pre, d, bias, half_even)`` is ``(v + add) >> shift`` (half up) or that
    rounded half to even (``even`` = 1), clipped to 0..255 (``simd.emit_u8``); ``shift`` = -1 otherwise."""
    if (d & (d - 1)) != 0:
        return -1, 0, 0
    shift = 0
    while (1 << shift) < d:
        shift += 1
    if half_even:
        return shift, pre + bias * d, 1
    return shift, pre + bias * d + d // 2, 0


@inline
def _emit16(out, o, buf, b, cstride, nc, vadd, shift, even, ws):  # pragma: no cover - compiled
    """``simd.emit_u8`` over whole runs of 16 pixels (literal ``nc``); returns the first pixel not written."""
    xx = 0
    if even:
        while xx + 16 <= ws:
            emit_u8(out, o + xx * nc, buf, b + xx, cstride, nc, vadd, shift, 1)
            xx += 16
    else:
        while xx + 16 <= ws:
            emit_u8(out, o + xx * nc, buf, b + xx, cstride, nc, vadd, shift, 0)
            xx += 16
    return xx


@inline
def _div_row(buf, o, n, d, add, half_even):  # pragma: no cover - compiled
    """In place, for ``x < n``: ``buf[o + x] = round_div(buf[o + x] + add, d, 0, half_even)``, in
    float64 lanes that LLVM vectorizes. Exact: for an int32 sum ``v`` the correctly rounded
    quotient ``v / d`` is exactly ``k + 1/2`` at a tie (then ``rint`` rounds half to even) and is
    otherwise at least ``1/(2d)`` (far more than its rounding error) from any half-integer;
    likewise ``(v + d/2) / d`` is an exact integer or at least ``1/(2d)`` from one (half up)."""
    df = np.float64(d)
    row = buf[o : o + n]  # a view: non-negative indices, no wrap-around test per element
    if half_even:
        af = np.float64(add)
        for x in range(n):
            row[x] = np.int32(min(max(np.rint((np.float64(row[x]) + af) / df), 0.0), 255.0))
    else:
        hd = np.float64(add) + 0.5 * df
        for x in range(n):
            row[x] = np.int32(min(max(np.floor((np.float64(row[x]) + hd) / df), 0.0), 255.0))


@rowfn
def emit_planar_row(buf, cstride, b, out, r, shift, vadd, even, pre, d, bias, half_even):  # pragma: no cover
    """HR row ``r`` of ``out (Hs, Ws, C)`` from planar sums: channel c's row at ``buf[c*cstride + b :]``.

    ``out[r, x, c] = round_div(buf[c*cstride + b + x] + pre, d, bias, half_even)``; 16 pixels at
    a time with ``simd.emit_u8`` when ``shift >= 0`` (``shift_rescale``), the rest scalar. Any
    other divisor first rescales the row in place (``_div_row``): ``buf``'s row is spent.
    """
    hs, ws, nc = out.shape
    xx = 0
    o = r * ws * nc
    if shift < 0:  # any divisor: rescale in place (vectorized), then interleave as if by a shift of 0
        add = np.int64(pre) + np.int64(bias) * d
        for c in range(nc):
            _div_row(buf, c * cstride + b, ws, d, add, half_even)
        shift, vadd, even, pre, d, bias = 0, 0, 0, 0, 1, 0
    if shift >= 0:
        if nc == 3:
            xx = _emit16(out, o, buf, b, cstride, 3, vadd, shift, even, ws)
        elif nc == 1:
            xx = _emit16(out, o, buf, b, cstride, 1, vadd, shift, even, ws)
        elif nc == 4:
            xx = _emit16(out, o, buf, b, cstride, 4, vadd, shift, even, ws)
        elif nc == 2:
            xx = _emit16(out, o, buf, b, cstride, 2, vadd, shift, even, ws)
    orow = out[r]
    for c in range(nc):
        for x2 in range(xx, ws):
            orow[x2, c] = round_div(np.int64(buf[c * cstride + b + x2]) + pre, d, bias, half_even)

