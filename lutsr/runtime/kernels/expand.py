"""The ExpandConv patch kernel (ECLUT and the 2x1 unit of ``eclut-sdy``).

Every LR pixel adds its 4 rotated (s+2)^2 patches (``compile.ExpandPlan``: folded, direct,
pre-rotated rows) into a window of s+2 HR rows per channel with vector rows
(``simd.patch4_add``); ExpandConv's reflected border terms are added from folded side tables
inside the same pass. How it works and where its time goes: ``docs/runtime.md``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from lutsr.runtime.kernels.common import FAST_ROTATIONS, gather_vertices, work_buffers
from lutsr.runtime.kernels.emit import emit_planar_row, shift_rescale
from lutsr.runtime.kernels.jit import inline, kernel, rowfn
from lutsr.runtime.simd import patch4_add, prefetch


_PREFETCH = 8


@inline
def _patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, p):  # pragma: no cover - compiled
    """``simd.patch4_add`` with literal widths: p = s+2 lanes of a vector of 4, 8 or 16."""
    if p == 6:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 6, 8)
    elif p == 5:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 5, 8)
    elif p == 4:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 4, 4)
    elif p == 7:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 7, 8)
    elif p == 8:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 8, 8)
    elif p == 9:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 9, 16)
    else:
        patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, 10, 16)


@rowfn
def _pair_rows(xp, c, ly, noff, pad, ridx):  # pragma: no cover - compiled
    """Direct rows ``a*257 + b`` of the 2-input unit at every pixel of LR row ``ly``, 4 rotations -> ``ridx (4, w)``.

    ``xp`` is the padded planar image (``compile.planar``): no index is ever out of range.
    """
    w = ridx.shape[1]
    for k in range(FAST_ROTATIONS):
        arow = xp[c, ly + pad + noff[k, 0, 0]]
        ax = pad + noff[k, 0, 1]
        brow = xp[c, ly + pad + noff[k, 1, 0]]
        bx = pad + noff[k, 1, 1]
        rk = ridx[k]
        for lx in range(w):
            rk[lx] = np.int32(arow[lx + ax]) * 257 + np.int32(brow[lx + bx])


@rowfn
def _add_lr_row(xp, c, ly, win, wofs, W2, tabs, tsize, noff, pad, s, ridx):  # pragma: no cover - compiled
    """Add the 4 rotated (s+2)^2 patches of every pixel of LR row ``ly`` into channel window ``win[wofs:]``
    (window row i = HR row ``ly*s - 1 + i``, window column j = HR column ``j - 1``)."""
    w = ridx.shape[1]
    p = s + 2
    pp = p * p
    _pair_rows(xp, c, ly, noff, pad, ridx)
    r0, r1, r2, r3 = ridx[0], ridx[1], ridx[2], ridx[3]
    for par in range(2):  # even pixels, then odd: consecutive writes never overlap (no store stalls)
        for lx in range(par, w, 2):
            ahead = lx + 2 * _PREFETCH
            if ahead < w:
                for o in (r0[ahead] * pp, tsize + r1[ahead] * pp, r2[ahead] * pp, tsize + r3[ahead] * pp):
                    prefetch(tabs, o)
                    prefetch(tabs, o + pp - 1)
            # rotations 1, 3 read the pre-rotated copy; 2, 3 read rows backwards (patch4_add)
            _patch4_add(win, wofs + lx * s, W2, tabs, r0[lx] * pp, tsize + r1[lx] * pp, r2[lx] * pp,
                        tsize + r3[lx] * pp, p)


@rowfn
def _add_lr_patch_row(xp, c, ly, pr, win, wofs, tabs, tsize, noff, pad, s, ridx):  # pragma: no cover - compiled
    """Only patch row ``pr`` of every pixel of LR row ``ly`` (band halos), into the window row at ``win[wofs:]``."""
    w = ridx.shape[1]
    p = s + 2
    pp = p * p
    _pair_rows(xp, c, ly, noff, pad, ridx)
    for k in range(FAST_ROTATIONS):
        tb = (k & 1) * tsize
        rev = k >= 2
        sr = p - 1 - pr if rev else pr
        rk = ridx[k]
        for lx in range(w):
            t0 = tb + rk[lx] * pp + sr * p
            for pc in range(p):
                win[wofs + lx * s + pc] += tabs[t0 + (p - 1 - pc if rev else pc)]


@inline
def _pair_row(xp, c, ly, lx, noff, pad, k):  # pragma: no cover - compiled
    """Direct row ``a*257 + b`` of LR pixel (ly, lx) for rotation k (see ``_pair_rows``)."""
    return (np.int64(xp[c, ly + pad + noff[k, 0, 0], lx + pad + noff[k, 0, 1]]) * 257
            + np.int64(xp[c, ly + pad + noff[k, 1, 0], lx + pad + noff[k, 1, 1]]))


@inline
def _side_val(side, side_sel, sd, k, row, t, p):  # pragma: no cover - compiled
    """Value t of the folded border row of side ``sd`` for rotation k at direct row ``row``."""
    u = side_sel[sd, k, 0]
    return side[u, row, p - 1 - t if side_sel[sd, k, 1] else t]


@rowfn
def _add_border_terms(xp, c, ly, t_lo, t_hi, win, wofs, W2, side, side_sel, corners, noff, pad, s, h,
                      w):  # pragma: no cover - compiled
    """Add what ExpandConv's reflection gives the HR border pixels touched by LR row ``ly``.

    Window row ``t`` (``win[wofs + t*W2:]``, t in ``t_lo..t_hi-1``) is HR row ``ly*s - 1 + t``.
    Left/right: the folded border rows (``ExpandPlan.side``) of pixels 0 and w-1 go down window
    columns 1 and ws (HR columns 0 and ws-1). Top (ly = 0) and bottom (ly = h-1, full rows
    only): the border rows of every pixel go along window row 1 / s (HR rows 0 / hs-1), and the
    corners' doubly reflected terms (``corners (C, 4)``) into the corner pixels.
    """
    p = s + 2
    ws = w * s
    for k in range(FAST_ROTATIONS):
        for sd in range(2):  # left, right
            lx = 0 if sd == 0 else w - 1
            col = 1 if sd == 0 else ws
            row = _pair_row(xp, c, ly, lx, noff, pad, k)
            for t in range(t_lo, t_hi):
                win[wofs + t * W2 + col] += _side_val(side, side_sel, 2 + sd, k, row, t, p)
    if t_lo == 0 and t_hi == p:
        for sd in range(2):  # top, bottom
            if (ly == 0) if sd == 0 else (ly == h - 1):
                wr = wofs + (1 if sd == 0 else s) * W2
                for k in range(FAST_ROTATIONS):
                    for lx in range(w):
                        row = _pair_row(xp, c, ly, lx, noff, pad, k)
                        for t in range(p):  # HR column lx*s - 1 + t is window column lx*s + t
                            win[wr + lx * s + t] += _side_val(side, side_sel, sd, k, row, t, p)
                win[wr + 1] += corners[c, 2 * sd]
                win[wr + ws] += corners[c, 2 * sd + 1]


@rowfn
def _emit_hr_row(win, L, wr, W2, out, r, shift, vadd, even, d, bias, half_even, add, has_add):  # pragma: no cover
    """Rescale window row ``wr`` (HR row ``r``, every channel) into ``out``."""
    hs, ws, nc = out.shape
    b = wr * W2 + 1
    if has_add:  # the stage's other units, accumulated beforehand (planar: contiguous rows)
        for c in range(nc):
            arow = add[c, r]
            o = c * L + b
            for xx in range(ws):
                win[o + xx] += arow[xx]
    emit_planar_row(win, L, b, out, r, shift, vadd, even, 0, d, bias, half_even)


@kernel()
def expand_corners(x, table, cperm, offs, reflect, interval, levels, cell_off, corner_cells):  # pragma: no cover
    """``(C, 4)``: each HR corner's doubly reflected ExpandConv term (``ExpandPlan.corner_cells``), summed
    over the 4 rotations and interpolated from the stored ``table`` (top-left, top-right, bottom-left,
    bottom-right)."""
    h, w, nc = x.shape
    n = offs.shape[1]
    q = 1 << interval
    out = np.zeros((nc, 4), np.int64)
    strides, frac, order, rows, wts = work_buffers(n, levels)
    for c in range(nc):
        for corner in range(4):
            ly = 0 if corner < 2 else h - 1
            lx = 0 if corner % 2 == 0 else w - 1
            tot = 0
            for k in range(FAST_ROTATIONS):
                m = gather_vertices(x, c, ly, lx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                cell = cperm[k, corner_cells[corner]]
                for j in range(m):
                    tot += wts[j] * (np.int64(table[rows[j], cell]) - cell_off)
            out[c, corner] = tot
    return out


@kernel(parallel=True)
def expand_patch_kernel(xp, pad, noff, tabs, tsize, side, side_sel, corners, s, d, bias, half_even, nbands, add,
                         has_add, wproto, out):  # pragma: no cover - compiled
    """A 2-input ExpandConv stage: every LR pixel adds its 4 rotated (s+2)^2 patches, vector rows.

    ``xp (C, H+2*pad, W+2*pad)`` uint8 is the padded planar input; ``tabs`` holds the direct
    patch rows of rotation 0 then of rotation 1 (``ExpandPlan``); rotations 2 and 3 are those
    read backwards. The image is cut into ``nbands`` bands of LR rows, processed in parallel;
    a band owns HR rows ``[y0*s, y1*s)`` and streams through its LR rows with a window of
    s+2 HR rows per channel (dtype of ``wproto``): after LR row ``ly`` is added, HR rows up to
    ``ly*s + s - 2`` are complete and are rescaled into ``out (H*s, W*s, C)``. At the band
    edges only the patch rows that land in the band are read from the neighbouring LR rows
    (halos), so no two bands write the same pixel and the result does not depend on the band
    count. On the image border, where ExpandConv reflects, the reflected terms are added
    into the window like the patches (``_add_border_terms``; ``side``, ``side_sel`` of the
    ``ExpandPlan``, ``corners`` from ``expand_corners``), so every pixel is exact.
    With ``has_add``, the int32 accumulator ``add (C, H*s, W*s)`` of the stage's other units
    (planar) is added to every row before it is rescaled.
    """
    nc, hp, wpd = xp.shape
    h = hp - 2 * pad
    w = wpd - 2 * pad
    p = s + 2
    ws = w * s
    W2 = ws + 18  # room for the zero lanes written past a patch row (vector width <= 16)
    L = p * W2 + 16
    shift, vadd, even = shift_rescale(d, bias, half_even, 0)
    ZERO, ONE = np.int64(0), np.int64(1)  # one signature per row helper (a literal 0 would be another)
    for band in prange(nbands):
        y0 = band * h // nbands
        y1 = (band + 1) * h // nbands
        if y1 <= y0:
            continue
        ridx = np.empty((4, w), np.int32)
        win = np.zeros(nc * L, wproto.dtype)
        if y0 > 0:  # halo: the last patch row of LR row y0-1 lands on HR row y0*s (window row 1)
            for c in range(nc):
                _add_lr_patch_row(xp, c, y0 - 1, s + 1, win, c * L + W2, tabs, tsize, noff, pad, s, ridx)
                _add_border_terms(xp, c, y0 - 1, s + 1, s + 2, win, c * L - s * W2, W2, side, side_sel, corners, noff,
                                  pad, s, h, w)
        for ly in range(y0, y1):
            for c in range(nc):
                _add_lr_row(xp, c, ly, win, c * L, W2, tabs, tsize, noff, pad, s, ridx)
                _add_border_terms(xp, c, ly, ZERO, p, win, c * L, W2, side, side_sel, corners, noff, pad, s, h, w)
            # window rows 0..s-1 (HR rows ly*s-1 .. ly*s+s-2) are complete; row 0 belongs to the
            # previous band when ly == y0
            for i in range(1 if ly == y0 else 0, s):
                _emit_hr_row(win, L, i, W2, out, ly * s - 1 + i, shift, vadd, even, d, bias, half_even, add, has_add)
            for c in range(nc):  # roll the window by s rows
                o = c * L
                win[o : o + 2 * W2] = win[o + s * W2 : o + (s + 2) * W2]
                win[o + 2 * W2 : o + p * W2] = 0
        # HR row y1*s - 1 (window row 0) also gets the first patch row of LR row y1 (halo)
        if y1 < h:
            for c in range(nc):
                _add_lr_patch_row(xp, c, y1, ZERO, win, c * L, tabs, tsize, noff, pad, s, ridx)
                _add_border_terms(xp, c, y1, ZERO, ONE, win, c * L, W2, side, side_sel, corners, noff, pad, s, h, w)
        _emit_hr_row(win, L, ZERO, W2, out, y1 * s - 1, shift, vadd, even, d, bias, half_even, add, has_add)

