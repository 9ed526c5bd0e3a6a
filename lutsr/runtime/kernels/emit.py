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


@rowfn
def emit_planar_row(buf, cstride, b, out, r, shift, vadd, even, pre, d, bias, half_even):  # pragma: no cover
    """HR row ``r`` of ``out (Hs, Ws, C)`` from planar sums: channel c's row at ``buf[c*cstride + b :]``.

    ``out[r, x, c] = round_div(buf[c*cstride + b + x] + pre, d, bias, half_even)``; 16 pixels at
    a time with ``simd.emit_u8`` when ``shift >= 0`` (``shift_rescale``), the rest scalar.
    """
    hs, ws, nc = out.shape
    xx = 0
    o = r * ws * nc
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

