"""The general, unit-by-unit kernels: any stage the fast kernels do not take (and the forced
``route="general"`` of the tests).

Per LR pixel, every unit is looked up in each rotation (simplex interpolation at coarse intervals)
and its block added to an int32 accumulator image, which ``rescale_kernel`` turns into pixels.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from lutsr.runtime.kernels.common import gather_vertices, pad_at, round_div, work_buffers
from lutsr.runtime.kernels.jit import inline, kernel


@inline
def madd_cells(local, row, ck, wt, ncell):  # pragma: no cover - compiled
    for cell in range(ncell):
        local[cell] += wt * np.int64(row[ck[cell]])


@inline
def accumulate_unit(x, c, y, xx, table, cperm, offs, reflect, interval, q, strides, frac, order, rows, wts,
                     local):  # pragma: no cover - compiled
    """Add one unit's 4 rotations x simplex vertices at LR pixel (y, xx) into ``local``; return the weight sum."""
    h, w, _ = x.shape
    n = offs.shape[1]
    ncell = table.shape[1]
    wsum = 0
    for k in range(offs.shape[0]):  # the method's rotations
        m = gather_vertices(x, c, y, xx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
        ck = cperm[k]
        for j in range(m):
            wt = wts[j]
            wsum += wt
            row = table[rows[j]]
            # literal widths let LLVM unroll the common cell counts (1, x2, x3, x4)
            if ncell == 16:
                madd_cells(local, row, ck, wt, 16)
            elif ncell == 9:
                madd_cells(local, row, ck, wt, 9)
            elif ncell == 4:
                madd_cells(local, row, ck, wt, 4)
            elif ncell == 1:
                madd_cells(local, row, ck, wt, 1)
            else:
                madd_cells(local, row, ck, wt, ncell)
    return wsum


@kernel(parallel=True)
def block_kernel(x, table, cperm, offs, reflect, interval, levels, cell_off, s_out, acc):  # pragma: no cover
    """Add one unit's 4 rotations to ``acc`` (H*s_out, W*s_out, C) int32; every LR pixel owns its block.

    Per LR pixel the 4 rotations x (n+1) interpolation vertices are summed into a local
    block first (vertex-major, so the inner loop runs over a contiguous table row), then
    the block is added to ``acc`` once.
    """
    h, w, nc = x.shape
    n = offs.shape[1]
    q = 1 << interval
    ncell = table.shape[1]
    for y in prange(h):
        strides, frac, order, rows, wts = work_buffers(n, levels)
        local = np.empty(ncell, np.int64)
        for c in range(nc):
            for xx in range(w):
                local[:] = 0
                wsum = accumulate_unit(x, c, y, xx, table, cperm, offs, reflect, interval, q, strides, frac, order,
                                        rows, wts, local)
                # the offset of every cell is removed once: sum of weights x offset
                for cell in range(ncell):
                    oy = cell // s_out
                    ox = cell - oy * s_out
                    acc[y * s_out + oy, xx * s_out + ox, c] += local[cell] - wsum * cell_off


@inline
def _sum_units(x, c, y, xx, tables, cperms, offs, reflect, interval, q, cell_off, strides, frac, order, rows, wts,
               local):  # pragma: no cover - compiled
    """All units x 4 rotations x vertices of LR pixel (y, xx) summed into ``local``, offsets removed."""
    local[:] = 0
    wsum = 0
    for u in range(tables.shape[0]):
        wsum += accumulate_unit(x, c, y, xx, tables[u], cperms[u], offs[u], reflect, interval, q, strides, frac,
                                 order, rows, wts, local)
    local -= wsum * cell_off


@kernel(parallel=True)
def block_stage_kernel(x, tables, cperms, offs, reflect, interval, levels, cell_off, s_out, d, bias, half_even,
                        out):  # pragma: no cover - compiled
    """A whole stage of same-shaped non-ExpandConv units, rescaled straight into uint8 ``out``.

    ``tables (U, rows, cells)``, ``cperms (U, 4, cells)``, ``offs (U, 4, n, 2)``. Per LR pixel
    the U units x 4 rotations x (n+1) vertices are summed into a local block (vertex-major,
    contiguous table rows) and the block is rescaled once: no accumulator image.
    """
    h, w, nc = x.shape
    n = offs.shape[2]
    q = 1 << interval
    ncell = tables.shape[2]
    for y in prange(h):
        strides, frac, order, rows, wts = work_buffers(n, levels)
        local = np.empty(ncell, np.int64)
        for xx in range(w):
            for c in range(nc):
                _sum_units(x, c, y, xx, tables, cperms, offs, reflect, interval, q, cell_off, strides, frac, order,
                           rows, wts, local)
                for cell in range(ncell):
                    oy = cell // s_out
                    ox = cell - oy * s_out
                    out[y * s_out + oy, xx * s_out + ox, c] = round_div(local[cell], d, bias, half_even)


@inline
def _expand_pixel(x, c, yy, xx, table, cperm, offs, reflect, interval, cell_off, s, strides, frac, order, rows, wts):  # pragma: no cover
    """Sum of 9 maps x 4 rotations at HR pixel (yy, xx) by gathering (reflected ExpandConv borders)."""
    h, w, _ = x.shape
    n = offs.shape[1]
    q = 1 << interval
    hs = h * s
    ws = w * s
    tot = 0
    for gy in range(3):
        ys = pad_at(yy - (gy - 1), hs, True)
        ly = ys // s
        oy = ys - ly * s
        for gx in range(3):
            xs = pad_at(xx - (gx - 1), ws, True)
            lx = xs // s
            ox = xs - lx * s
            cell = ((gy * 3 + gx) * s + oy) * s + ox
            for k in range(offs.shape[0]):  # the method's rotations
                m = gather_vertices(x, c, ly, lx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                for j in range(m):
                    tot += wts[j] * (np.int64(table[rows[j], cperm[k, cell]]) - cell_off)
    return tot


@kernel(parallel=True)
def expand_kernel(x, table, cperm, offs, reflect, interval, levels, cell_off, s, acc):  # pragma: no cover
    """Add one ExpandConv unit's 4 rotations to ``acc`` by gathering (the general, slow path)."""
    h, w, nc = x.shape
    n = offs.shape[1]
    for yy in prange(h * s):
        strides, frac, order, rows, wts = work_buffers(n, levels)
        for c in range(nc):
            for xx in range(w * s):
                acc[yy, xx, c] += _expand_pixel(x, c, yy, xx, table, cperm, offs, reflect, interval, cell_off, s, strides,
                                                frac, order, rows, wts)


@kernel(parallel=True)
def rescale_kernel(acc, d, bias, half_even, out):  # pragma: no cover - compiled
    """out = clip(round(acc / d + bias), 0, 255), exact integer rounding (half up or half even)."""
    h, w, nc = acc.shape
    for y in prange(h):
        for xx in range(w):
            for c in range(nc):
                out[y, xx, c] = round_div(np.int64(acc[y, xx, c]), d, bias, half_even)

