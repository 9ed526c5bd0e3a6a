"""The vector block-simplex kernel: stages of same-shaped plain units (SR-LUT, MuLUT, the S/D/Y
units of ``eclut-sdy``) with s x s blocks, s <= 4.

Per LR row, channel, unit and rotation one pass computes every pixel's simplex vertices in
registers (branch-free rank counting) and a second sums their table rows, rotated back, into a
planar row buffer (``simd.vertices_block_add``), which ``emit`` rescales.

Units whose four rotations read translated copies of one footprint (the 2x2 squares S and D;
``compile.window_shifts``) are computed once per *window* instead of once per pixel and
rotation: one vertex pass over the window's four values, then one packed row per vertex holding
all four rotations' blocks (``compile.pack_rotations``, ``simd.windows_block_add``), added to the
four pixels whose rotations read that window. Interpolation is symmetric in its inputs (ties
only reorder vertices of weight 0), so this is bit for bit the per-rotation sum.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from lutsr.runtime.kernels.common import FAST_ROTATIONS
from lutsr.runtime.kernels.emit import emit_planar_row, shift_rescale
from lutsr.runtime.kernels.jit import inline, kernel
from lutsr.runtime.simd import verts4_run, vertices_block_add, windows_block_add


@inline
def _vb_k(dst, dofs, stride, tab, rows, wts, s, k):  # pragma: no cover - compiled
    if k == 0:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 0)
    elif k == 1:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 1)
    elif k == 2:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 2)
    else:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 3)


@inline
def _vertex_block(dst, dofs, stride, tab, rows, wts, s, k):  # pragma: no cover - compiled
    """``simd.vertices_block_add`` with literal s (1..4) and k (0..3)."""
    if s == 4:
        _vb_k(dst, dofs, stride, tab, rows, wts, 4, k)
    elif s == 2:
        _vb_k(dst, dofs, stride, tab, rows, wts, 2, k)
    elif s == 3:
        _vb_k(dst, dofs, stride, tab, rows, wts, 3, k)
    else:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, 1, 0)


@inline
def _before(fi, fj):  # pragma: no cover - compiled
    """1 if input i (index below j) comes before input j in the descending, stable order of fractions."""
    return np.int64(fi >= fj)


@inline
def _verts2(v0, v1, interval, q, lv):  # pragma: no cover - compiled
    """``simplex_walk`` of a 2-input lookup, in registers: ``(rows, weights)`` tuples of 3."""
    f0 = v0 & (q - 1)
    f1 = v1 & (q - 1)
    base = (v0 >> interval) * lv + (v1 >> interval)
    c01 = _before(f0, f1)
    fs0 = f0 * c01 + f1 * (1 - c01)  # the larger fraction (input 0 on ties)
    fs1 = f0 + f1 - fs0
    x1 = base + lv * c01 + (1 - c01)
    return (base, x1, base + lv + 1), (q - fs0, fs0 - fs1, fs1)


@inline
def _verts3(v0, v1, v2, interval, q, lv):  # pragma: no cover - compiled
    """``simplex_walk`` of a 3-input lookup, in registers: ``(rows, weights)`` tuples of 4."""
    f0 = v0 & (q - 1)
    f1 = v1 & (q - 1)
    f2 = v2 & (q - 1)
    s0 = lv * lv
    base = (v0 >> interval) * s0 + (v1 >> interval) * lv + (v2 >> interval)
    c01 = _before(f0, f1)
    c02 = _before(f0, f2)
    c12 = _before(f1, f2)
    r0 = 2 - c01 - c02  # how many inputs come before input i
    r1 = c01 + 1 - c12
    r2 = c02 + c12
    fs0 = f0 * (r0 == 0) + f1 * (r1 == 0) + f2 * (r2 == 0)
    fs1 = f0 * (r0 == 1) + f1 * (r1 == 1) + f2 * (r2 == 1)
    fs2 = f0 + f1 + f2 - fs0 - fs1
    x1 = base + s0 * (r0 < 1) + lv * (r1 < 1) + (r2 < 1)
    x2 = base + s0 * (r0 < 2) + lv * (r1 < 2) + (r2 < 2)
    return (base, x1, x2, base + s0 + lv + 1), (q - fs0, fs0 - fs1, fs1 - fs2, fs2)


@inline
def _verts4(v0, v1, v2, v3, interval, q, lv):  # pragma: no cover - compiled
    """``simplex_walk`` of a 4-input lookup, in registers: ``(rows, weights)`` tuples of 5. Each
    input's place in the descending stable order of fractions is counted (no sort, no branch)."""
    f0 = v0 & (q - 1)
    f1 = v1 & (q - 1)
    f2 = v2 & (q - 1)
    f3 = v3 & (q - 1)
    s1 = lv * lv
    s0 = s1 * lv
    base = (v0 >> interval) * s0 + (v1 >> interval) * s1 + (v2 >> interval) * lv + (v3 >> interval)
    c01 = _before(f0, f1)
    c02 = _before(f0, f2)
    c03 = _before(f0, f3)
    c12 = _before(f1, f2)
    c13 = _before(f1, f3)
    c23 = _before(f2, f3)
    r0 = 3 - c01 - c02 - c03  # how many inputs come before input i
    r1 = c01 + 2 - c12 - c13
    r2 = c02 + c12 + 1 - c23
    r3 = c03 + c13 + c23
    fs0 = f0 * (r0 == 0) + f1 * (r1 == 0) + f2 * (r2 == 0) + f3 * (r3 == 0)
    fs1 = f0 * (r0 == 1) + f1 * (r1 == 1) + f2 * (r2 == 1) + f3 * (r3 == 1)
    fs2 = f0 * (r0 == 2) + f1 * (r1 == 2) + f2 * (r2 == 2) + f3 * (r3 == 2)
    fs3 = f0 + f1 + f2 + f3 - fs0 - fs1 - fs2
    x1 = base + s0 * (r0 < 1) + s1 * (r1 < 1) + lv * (r2 < 1) + (r3 < 1)
    x2 = base + s0 * (r0 < 2) + s1 * (r1 < 2) + lv * (r2 < 2) + (r3 < 2)
    x3 = base + s0 * (r0 < 3) + s1 * (r1 < 3) + lv * (r2 < 3) + (r3 < 3)
    return (base, x1, x2, x3, base + s0 + s1 + lv + 1), (q - fs0, fs0 - fs1, fs1 - fs2, fs2 - fs3, fs3)


@inline
def _verts4_row(xf, o, n, dl, interval, q, lv, R, Wt):  # pragma: no cover - compiled
    """Vertices and weights of ``n`` pixels of a 4-input lookup (interval > 0) into ``R``, ``Wt``
    ``(5, >= n)`` int32: input i of pixel x is ``xf[o + x + dl[i]]``. Runs of 8 pixels in int32
    vector lanes (``simd.verts4_run``), the rest with ``_verts4``; the same numbers."""
    a0, a1, a2, a3 = xf[o + dl[0]:], xf[o + dl[1]:], xf[o + dl[2]:], xf[o + dl[3]:]
    rs = R.shape[1]
    n8 = n // 8 * 8
    for x in range(0, n8, 8):
        verts4_run(R, Wt, rs, x, a0, a1, a2, a3, interval)
    for x in range(n8, n):
        r4, w4 = _verts4(np.int64(a0[x]), np.int64(a1[x]), np.int64(a2[x]), np.int64(a3[x]), interval, q, lv)
        for t in range(5):
            R[t, x] = r4[t]
            Wt[t, x] = w4[t]


@kernel()  # a call, not inlined: parfors' array analysis cannot handle its tuples
def _unit_row_pass(xf, o, w, dl, tab, buf, bofs, RB, s, k, n, interval, q, lv, R, Wt):  # pragma: no cover
    """One unit, one rotation, one LR row of one channel: every pixel's vertices added into ``buf``.

    Input i of pixel xx is ``xf[o + xx + dl[i]]``; its s x s block goes to ``buf[bofs + xx*s]``
    (rows ``RB`` apart). n = 2, 3, 4 inputs; one vertex at interval 0. Two loops: the first
    computes every pixel's vertices and weights into ``R``, ``Wt (5, W)`` (no memory
    dependence between pixels, so it pipelines and vectorizes), the second sums the rows.
    """
    if q == 1:  # direct lookup: one vertex
        for xx in range(w):
            r = 0
            for i in range(n):
                r = r * lv + np.int64(xf[o + xx + dl[i]])
            _vertex_block(buf, bofs + xx * s, RB, tab, (r,), (1,), s, k)
    elif n == 4:
        _verts4_row(xf, o, w, dl, interval, q, lv, R, Wt)
        for xx in range(w):
            _vertex_block(buf, bofs + xx * s, RB, tab, (R[0, xx], R[1, xx], R[2, xx], R[3, xx], R[4, xx]),
                          (Wt[0, xx], Wt[1, xx], Wt[2, xx], Wt[3, xx], Wt[4, xx]), s, k)
    elif n == 3:
        d0, d1, d2 = dl[0], dl[1], dl[2]
        for xx in range(w):
            r3, w3 = _verts3(np.int64(xf[o + xx + d0]), np.int64(xf[o + xx + d1]), np.int64(xf[o + xx + d2]),
                                interval, q, lv)
            for j in range(4):
                R[j, xx] = r3[j]
                Wt[j, xx] = w3[j]
        for xx in range(w):
            _vertex_block(buf, bofs + xx * s, RB, tab, (R[0, xx], R[1, xx], R[2, xx], R[3, xx]),
                          (Wt[0, xx], Wt[1, xx], Wt[2, xx], Wt[3, xx]), s, k)
    else:
        d0, d1 = dl[0], dl[1]
        for xx in range(w):
            r2, w2 = _verts2(np.int64(xf[o + xx + d0]), np.int64(xf[o + xx + d1]), interval, q, lv)
            for j in range(3):
                R[j, xx] = r2[j]
                Wt[j, xx] = w2[j]
        for xx in range(w):
            _vertex_block(buf, bofs + xx * s, RB, tab, (R[0, xx], R[1, xx], R[2, xx]), (Wt[0, xx], Wt[1, xx], Wt[2, xx]),
                          s, k)


@inline
def _wb_n(dst, dofs, stride, tab, rows, wts, s, narrow):  # pragma: no cover - compiled
    if narrow:
        windows_block_add(dst, dofs, stride, tab, rows, wts, s, 1)
    else:
        windows_block_add(dst, dofs, stride, tab, rows, wts, s, 0)


@inline
def _window_block(dst, dofs, stride, tab, rows, wts, s, narrow):  # pragma: no cover - compiled
    """``simd.windows_block_add`` with literal s (1..4) and narrow (0, 1)."""
    if s == 4:
        _wb_n(dst, dofs, stride, tab, rows, wts, 4, narrow)
    elif s == 2:
        _wb_n(dst, dofs, stride, tab, rows, wts, 2, narrow)
    elif s == 3:
        _wb_n(dst, dofs, stride, tab, rows, wts, 3, narrow)
    else:
        _wb_n(dst, dofs, stride, tab, rows, wts, 1, narrow)


@kernel()
def _window_row_pass(xf, o, nw, dl, tab, buf, d0, d1, d2, d3, RB, s, interval, q, lv, narrow, R,
                     Wt):  # pragma: no cover - compiled
    """One shared-window unit (4 inputs, interval > 0: a footprint that turns into a translated copy
    of itself has 4-fold symmetry), one row of ``nw`` windows of one channel: window j's values are
    ``xf[o + j + dl[i]]``; its four rotations' blocks go to ``buf[dk + j*s]`` (rows ``RB`` apart)."""
    _verts4_row(xf, o, nw, dl, interval, q, lv, R, Wt)
    for j in range(nw):
        js = j * s
        _window_block(buf, (d0 + js, d1 + js, d2 + js, d3 + js), RB, tab,
                      (R[0, j], R[1, j], R[2, j], R[3, j], R[4, j]), (Wt[0, j], Wt[1, j], Wt[2, j], Wt[3, j], Wt[4, j]),
                      s, narrow)


@kernel(parallel=True)
def block_vec_kernel(xp, pad, tabs, offs, packs, poffs, pshift, interval, levels, cell_off, s, d, bias, half_even,
                     narrow, band, to_acc, acc, out):  # pragma: no cover - compiled
    """A stage of same-shaped plain (non-ExpandConv) units with s x s blocks, s <= 4, vector rows.

    ``xp (C, H+2*pad, W+2*pad)`` uint8 is the padded planar input (no index is out of range).
    Per-rotation units: ``tabs (U, rows*s*s + 16)`` the stored tables flattened (16 elements of
    padding), ``offs (U, 4, n, 2)`` the inputs' offsets per rotation. Shared-window units
    (``compile.window_shifts``): ``packs (P, rows*4*s*s)`` the packed tables
    (``compile.pack_rotations``), ``poffs (P, n, 2)`` the window's offsets, ``pshift (P, 4, 2)``
    each rotation's window shift (rotation k of pixel p reads the window at p + shift[k]);
    ``narrow`` = 1 sums packed rows in int16 lanes. U or P may be 0; n = 2..4 (4 when P > 0, and
    interval > 0).

    Bands of ``band`` LR rows run in parallel; each owns its rows' s HR rows (no races), kept in a
    ring of planar row buffers (one slot per LR row, as many as the shared units' rows of shift
    span, plus one): for each channel, the per-rotation units pass over each LR row
    (``simd.vertices_block_add``), the shared units over every window row that reaches the band
    (``simd.windows_block_add``; blocks of pixels outside the band go to a scratch row). Finished
    rows are rescaled into ``out`` (``simd.emit_u8``), or with ``to_acc`` written (not added: every
    element is written once, so ``acc`` need not be zeroed) to the int32 addend
    ``acc (C, H*s, W*s)`` (planar) for a later kernel to rescale. The output does not depend on
    ``band``.
    """
    nc, hp, wpd = xp.shape
    h = hp - 2 * pad
    w = wpd - 2 * pad
    U = tabs.shape[0]
    P = packs.shape[0]
    n = offs.shape[2]
    q = 1 << interval
    ws = w * s
    xpad = 0  # columns of buffer margin: a window row also feeds pixels up to its shifts' span outside 0..w-1
    for u in range(P):
        lo, hi = pshift[u, 0, 1], pshift[u, 0, 1]
        for k in range(1, FAST_ROTATIONS):
            lo = min(lo, pshift[u, k, 1])
            hi = max(hi, pshift[u, k, 1])
        xpad = max(xpad, hi - lo)
    RB = (w + 2 * xpad) * s + 16
    pre = -4 * (U + P) * q * cell_off  # every rotation's weights sum to q: remove the value offset once
    shift, vadd, even = shift_rescale(d, bias, half_even, pre)
    xf = xp.reshape(-1)
    delta = np.empty((U, 4, n), np.int64)  # flat offsets of the inputs in a channel plane
    for u in range(U):
        for k in range(FAST_ROTATIONS):
            for i in range(n):
                delta[u, k, i] = offs[u, k, i, 0] * wpd + offs[u, k, i, 1]
    pdelta = np.empty((P, n), np.int64)
    for u in range(P):
        for i in range(n):
            pdelta[u, i] = poffs[u, i, 0] * wpd + poffs[u, i, 1]
    # per shared unit: the range of its rotations' shifts, rows and columns
    tymin = np.empty(P, np.int64)
    tymax = np.empty(P, np.int64)
    txmin = np.empty(P, np.int64)
    txmax = np.empty(P, np.int64)
    SP = 0
    for u in range(P):
        tymin[u], tymax[u] = pshift[u, 0, 0], pshift[u, 0, 0]
        txmin[u], txmax[u] = pshift[u, 0, 1], pshift[u, 0, 1]
        for k in range(1, FAST_ROTATIONS):
            tymin[u] = min(tymin[u], pshift[u, k, 0])
            tymax[u] = max(tymax[u], pshift[u, k, 0])
            txmin[u] = min(txmin[u], pshift[u, k, 1])
            txmax[u] = max(txmax[u], pshift[u, k, 1])
        SP = max(SP, tymax[u] - tymin[u])
    NS = SP + 1  # ring of LR-row slots: row r is complete SP steps after its first window row
    SL = nc * s * RB  # one slot: channel c, HR row oy at c*s*RB + oy*RB
    nb = (h + band - 1) // band
    for b in prange(nb):
        y0 = b * band
        y1 = min(h, y0 + band)
        buf = np.zeros(NS * SL + s * RB, np.int32)  # the slots, then a scratch row for blocks outside the band
        scratch = NS * SL
        R = np.empty((5, w + 2 * xpad + 1), np.int32)  # vertices and weights of a row's pixels or windows
        Wt = np.empty((5, w + 2 * xpad + 1), np.int32)
        dk = np.empty(4, np.int64)
        # step i completes LR row i: the per-rotation units read row i, each shared unit the window row
        # i + tymax (its last one for row i; it also feeds rows up to i + span, still in the ring)
        for i in range(y0 - SP, y1):
            for c in range(nc):
                if i >= y0:
                    o = (c * hp + i + pad) * wpd + pad
                    for u in range(U):
                        for k in range(FAST_ROTATIONS):
                            _unit_row_pass(xf, o, w, delta[u, k], tabs[u], buf, (i % NS) * SL + c * s * RB + xpad * s,
                                           RB, s, k, n, interval, q, levels, R, Wt)
                for u in range(P):
                    if i < y0 - (tymax[u] - tymin[u]):
                        continue
                    wy = i + tymax[u]
                    for k in range(FAST_ROTATIONS):
                        py = wy - pshift[u, k, 0]  # the LR row whose rotation k reads this window row
                        col = (xpad + txmin[u] - pshift[u, k, 1]) * s  # window j = wx - txmin feeds pixel wx - shift
                        if py >= y0 and py < y1:
                            dk[k] = (py % NS) * SL + c * s * RB + col
                        else:
                            dk[k] = scratch + col
                    o = (c * hp + wy + pad) * wpd + pad + txmin[u]
                    _window_row_pass(xf, o, w + txmax[u] - txmin[u], pdelta[u], packs[u], buf, dk[0], dk[1], dk[2],
                                     dk[3], RB, s, interval, q, levels, narrow, R, Wt)
            if i < y0:
                continue
            sb = (i % NS) * SL
            for oy in range(s):
                r = i * s + oy
                if to_acc:
                    for c in range(nc):
                        arow = acc[c, r]
                        ob = sb + c * s * RB + oy * RB + xpad * s
                        for x2 in range(ws):
                            arow[x2] = buf[ob + x2] + pre
                else:
                    emit_planar_row(buf, s * RB, sb + oy * RB + xpad * s, out, r, shift, vadd, even, pre, d, bias,
                                    half_even)
            buf[sb : sb + SL] = 0
