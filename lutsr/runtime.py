"""The CPU runtime: Numba kernels that upscale with a LUT (no torch).

Public entry point: :func:`upscale`. The kernels compute exactly what the NumPy
reference (``lutsr.reference``) computes; the reference is the specification.

Every method is data (``lutsr.spec.METHODS``): per stage, each unit's table is looked up
in four rotations (with simplex interpolation at coarse intervals) and added to an int32
accumulator, which the stage's rescale rule turns into 8-bit pixels.

The image is never rotated: each rotation's kernel offsets are expressed in the original
frame (``spec.rotation_neighbor_offsets``) and its result is rotated back by -k (cell
permutations from ``_rotate_cells``). ``compile_lut`` prepares each loaded LUT once: 2-input
ExpandConv units (ECLUT) become an ``ExpandPlan`` (patches folded and interpolated at every
value pair, border terms folded) for ``_expand_patch_kernel``; stages of plain units (SR-LUT,
MuLUT) run on ``_block_vec_kernel``. Both read a padded planar copy of the input, work in
bands of rows in parallel with explicit vector instructions (``lutsr._simd``) and never
let two threads write the same pixel. Anything else takes the scalar unit-by-unit kernels.
How they work and where their time goes: ``docs/runtime.md``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit, prange

import numba

from lutsr._simd import emit_u8, patch4_add, prefetch, vertices_block_add
from lutsr.errors import LutsrError
from lutsr.lutfile import SHIPPED_FAMILIES, Lut, default_lut_path, load_lut
from lutsr.spec import levels_for_interval, rotation_neighbor_offsets

__all__ = ["upscale", "compile_lut", "resolve_lut", "CACHE_DIR"]

log = logging.getLogger(__name__)

# Compiled kernels are cached on disk so a second process does not compile again. The cache
# goes to a per-user folder (not beside the installed sources: files left in site-packages
# would outlive `pip uninstall`). NUMBA_CACHE_DIR, when set, wins; LUTSR_CACHE_DIR moves ours.
CACHE_DIR = Path(os.environ.get("LUTSR_CACHE_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lutsr" / "numba")
_USER_CACHE_DIR = numba.config.CACHE_DIR
if not _USER_CACHE_DIR:
    numba.config.CACHE_DIR = str(CACHE_DIR)  # read when each @njit(cache=True) below is decorated


#: How many pixel pairs ahead ``_add_lr_row`` prefetches table rows.
_PREFETCH = 8


def _rotate_cells(table: np.ndarray, k: int, expand: bool, s: int) -> np.ndarray:
    """Reorder the cells of every row for rotation k, so they are in original-frame order."""
    if s == 1 and not expand:
        return np.ascontiguousarray(table)
    if expand:
        t = table.reshape(-1, 3, 3, s, s)
        t = np.rot90(np.rot90(t, -k, axes=(1, 2)), -k, axes=(3, 4))
    else:
        t = np.rot90(table.reshape(-1, s, s), -k, axes=(1, 2))
    return np.ascontiguousarray(t).reshape(table.shape)


def _fold_patches(table: np.ndarray, s: int, offset: int) -> np.ndarray:
    """ExpandConv is linear: fold a row's 9 shifted s x s maps into one (s+2) x (s+2) int16 patch.

    Map g = (gy, gx) lands with its top-left at patch position (gy, gx). Values are signed
    (offset removed); a patch cell sums at most 9 cells, so int16 is exact. Returns
    ``(rows, (s+2)**2)``.
    """
    rows = table.shape[0]
    t = table.reshape(rows, 3, 3, s, s).astype(np.int16) - np.int16(offset)
    patches = np.zeros((rows, s + 2, s + 2), dtype=np.int16)
    for gy in range(3):
        for gx in range(3):
            patches[:, gy : gy + s, gx : gx + s] += t[:, gy, gx]
    return patches.reshape(rows, -1)


def patch_dtype(interval: int) -> np.dtype:
    """dtype of the folded patches: a cell is at most ``q * 9 * 128`` in magnitude (``q = 2**interval``)."""
    return np.dtype(np.int16) if (1 << interval) * 9 * 128 <= np.iinfo(np.int16).max else np.dtype(np.int32)


def _direct_rows(values: np.ndarray, interval: int) -> np.ndarray:
    """Interpolate per-row values of a 2-input unit at every value pair: ``(257*257, m)``.

    Row ``a*257 + b`` holds ``sum_k w_k * values[row_k]`` with the simplex vertices and
    integer weights (summing to q) of inputs ``(a, b)`` (256 is never read). Interpolation is
    linear and happens before the rescale, so looking these rows up directly (divisor still
    ``q * divisor``) gives bit for bit what interpolating at run time gives, at the speed of
    a direct lookup. At interval 0 the rows are direct already and are returned as they are.
    """
    if interval == 0:
        return values.astype(patch_dtype(interval))
    from lutsr.reference import simplex_reference

    v = np.minimum(np.arange(257), 255)
    pairs = np.stack(np.meshgrid(v, v, indexing="ij"), axis=-1).reshape(-1, 2)
    rows, weights = simplex_reference(pairs, interval)
    out = np.zeros((pairs.shape[0], values.shape[1]), dtype=np.int32)
    for k in range(rows.shape[1]):
        out += weights[:, k, None].astype(np.int32) * values[rows[:, k]].astype(np.int32)
    return out.astype(patch_dtype(interval))


def _side_cells(s: int) -> list[list[tuple[int, int]]]:
    """Per side: ``(original-frame cell, t)`` of the terms ExpandConv reflects onto that side.

    Top (HR row 0): the maps with dy = +1 read at map row refl(-1) = 1, i.e. cell row 1 of
    the LR pixels of row 0; the cell ``(oy=1, ox)`` of map ``(gy=2, gx)`` lands on HR column
    ``lx*s - 1 + t`` with ``t = ox + gx``. Bottom: dy = -1, map row refl(H*s) = H*s - 2, cell
    row s-2 of LR row H-1. Left/right: the same with rows and columns exchanged.
    """
    out: list[list[tuple[int, int]]] = [[], [], [], []]
    for gy in range(3):
        for gx in range(3):
            for oy in range(s):
                for ox in range(s):
                    cell = ((gy * 3 + gx) * s + oy) * s + ox
                    if gy == 2 and oy == 1:
                        out[0].append((cell, ox + gx))
                    if gy == 0 and oy == s - 2:
                        out[1].append((cell, ox + gx))
                    if gx == 2 and ox == 1:
                        out[2].append((cell, oy + gy))
                    if gx == 0 and ox == s - 2:
                        out[3].append((cell, oy + gy))
    return out


class ExpandPlan(NamedTuple):
    """Compiled form of a 2-input ExpandConv unit for ``_expand_patch_kernel``.

    - ``tabs``: 1-D, the folded (s+2)^2 patches (``_fold_patches``) at every value pair
      (``_direct_rows``, row ``a*257 + b``) rotated for rotation 0, then for rotation 1
      (``tsize`` elements each), then 16 zeros; rotations 2 and 3 are rotations 0 and 1 by
      180 degrees, i.e. the same rows read backwards. int16 (int32 at intervals > 4).
    - ``side (U, 257*257, s+2)``, ``side_sel (4 sides, 4 rotations, 2)``: the reflected
      border terms folded into rows (``_side_cells``), as (table, reversed) per side and
      rotation; ``corner_cells (4,)``: the original-frame cell of each corner's doubly
      reflected term (top-left, top-right, bottom-left, bottom-right).
    - ``pad``: padding of the planar input; ``noff (4, 2, 2)``: the two inputs' offsets per
      rotation; ``bound``: largest |sum| a window value can reach (4 rotations x 9 maps x q x
      the largest |cell|), which decides int16 windows.
    """

    tabs: np.ndarray
    tsize: int
    side: np.ndarray
    side_sel: np.ndarray
    corner_cells: np.ndarray
    pad: int
    noff: np.ndarray
    bound: int

    @property
    def nbytes(self) -> int:
        return self.tabs.nbytes + self.side.nbytes


def _expand_plan(table: np.ndarray, cperm: np.ndarray, offs: np.ndarray, s: int, interval: int,
                 offset: int) -> ExpandPlan:
    p = s + 2
    patches = _direct_rows(_fold_patches(table, s, offset), interval)
    idx = np.arange(p * p).reshape(p, p)
    pperm = [np.rot90(idx, -k).ravel() for k in range(4)]
    if not (np.array_equal(pperm[2], pperm[0][::-1]) and np.array_equal(pperm[3], pperm[1][::-1])):
        raise AssertionError("rotations 2, 3 must be rotations 0, 1 read backwards")
    tabs = np.concatenate([patches[:, pperm[0]].ravel(), patches[:, pperm[1]].ravel(), np.zeros(16, patches.dtype)])
    signed = table.astype(np.int32) - offset
    mats, side, sel = [], [], np.zeros((4, 4, 2), np.int64)
    for sd, cells in enumerate(_side_cells(s)):
        for k in range(4):
            m = np.zeros((table.shape[1], p), np.int32)
            for cell, t in cells:
                m[cperm[k, cell], t] += 1
            for u, other in enumerate(mats):
                if np.array_equal(m, other) or np.array_equal(m, other[:, ::-1]):
                    sel[sd, k] = (u, 0 if np.array_equal(m, other) else 1)
                    break
            else:
                sel[sd, k] = (len(mats), 0)
                mats.append(m)
                side.append(_direct_rows(signed @ m, interval))
    corner_cells = np.array([((2 * 3 + 2) * s + 1) * s + 1, ((2 * 3 + 0) * s + 1) * s + s - 2,
                             ((0 * 3 + 2) * s + s - 2) * s + 1, ((0 * 3 + 0) * s + s - 2) * s + s - 2], np.int64)
    pad = int(np.abs(offs).max())
    bound = 4 * 9 * (1 << interval) * int(np.abs(signed).max(initial=0))
    return ExpandPlan(tabs, patches.size, np.stack(side), sel, corner_cells, pad, np.ascontiguousarray(offs), bound)


def _fast_expand(unit, s: int, rotations: int) -> bool:
    """Whether a unit gets an ``ExpandPlan`` (``_expand_patch_kernel``): ExpandConv, 2 inputs, scale 2..8."""
    return unit.expand and unit.kernel.n_inputs == 2 and 2 <= s <= 8 and rotations == 4


def _vec_units(specs, shapes, s: int, rotations: int) -> bool:
    """Whether plain units run together on ``_block_vec_kernel``: same table shape, dtype and input
    count, s x s blocks with s <= 4, 2..4 inputs."""
    uniform = len({(sh, u.kernel.n_inputs) for u, sh in zip(specs, shapes)}) == 1
    return (len(specs) > 0 and uniform and not any(u.expand for u in specs) and s <= 4 and rotations == 4
            and 2 <= specs[0].kernel.n_inputs <= 4)


def stage_route(stage, shapes, s: int, rotations: int) -> tuple[str, bool]:
    """How ``_run`` computes a stage; the one rule that ``_run``, ``_streams`` and ``lutsr info`` share.

    ``shapes``: per unit, ``(table shape, dtype name)``. Returns ``(route, rest_vec)``: route
    ``"expand"`` (one ExpandConv unit, first, on ``_expand_patch_kernel``; ``rest_vec`` says
    whether the other units run together on ``_block_vec_kernel``), ``"vec"``
    (``_block_vec_kernel``), ``"stage"`` (same-shaped plain units, ``_block_stage_kernel``) or
    ``"general"`` (unit by unit).
    """
    specs = stage.units
    if sum(u.expand for u in specs) == 1 and _fast_expand(specs[0], s, rotations):
        return "expand", _vec_units(specs[1:], shapes[1:], s, rotations)
    if _vec_units(specs, shapes, s, rotations):
        return "vec", False
    if not any(u.expand for u in specs) and len(set(shapes)) == 1:
        return "stage", False
    return "general", False


def compile_lut(lut: Lut) -> list[list[tuple]]:
    """Per stage, per unit: ``(table, cell_perm, offsets, plan)``.

    ``table`` is the stored ``(rows, cells)`` array, shared by all rotations: rotation k reads
    cell ``cell_perm[k, c]`` of a row for the original-frame cell ``c`` (the s x s block, and
    for ExpandConv units the 3x3 grid of maps, rotated back by -k), so the four rotations
    need no copies of the table. ``offsets (4, n, 2)`` are the kernel's offsets in the
    original frame. 2-input ExpandConv units also get an ``ExpandPlan`` (folded, direct,
    pre-rotated patch rows for the vector kernel); other units get ``None`` there. Cached
    on the ``Lut`` (built once per loaded table).
    """
    cached = lut._compiled.get("stages")
    if cached is not None:
        return cached
    method = lut.method
    out = []
    pos = 0
    for stage in method.stages:
        s = lut.scale if stage.upscale else 1
        units = []
        for unit in stage.units:
            table = np.ascontiguousarray(lut.tables[pos])
            pos += 1
            cells = table.shape[1]
            cperm = np.stack([_rotate_cells(np.arange(cells)[None, :], k, unit.expand, s)[0]
                              for k in range(method.rotations)]).astype(np.int64)
            offs = np.array([rotation_neighbor_offsets(unit.kernel.offsets, k) for k in range(method.rotations)],
                            dtype=np.int64)
            plan = None
            if _fast_expand(unit, s, method.rotations):
                plan = _expand_plan(table, cperm, offs, s, lut.interval, method.value_offset)
            units.append((table, cperm, offs, plan))
        out.append(units)
    lut._compiled["stages"] = out
    return out


@njit(inline="always")
def _pad(i, n, reflect):  # pragma: no cover - compiled
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


@njit(inline="always")
def _simplex(base, frac, strides, n, q, order, rows, wts):  # pragma: no cover - compiled
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


@njit(inline="always")
def _gather(x, c, y, xx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts):  # pragma: no cover
    base = 0
    for i in range(n):
        yy = _pad(y + offs[k, i, 0], h, reflect)
        xq = _pad(xx + offs[k, i, 1], w, reflect)
        v = np.int64(x[yy, xq, c])
        base += (v >> interval) * strides[i]
        frac[i] = v & (q - 1)
    return _simplex(base, frac, strides, n, q, order, rows, wts)


@njit(inline="always")
def _madd_cells(local, row, ck, wt, ncell):  # pragma: no cover - compiled
    for cell in range(ncell):
        local[cell] += wt * np.int64(row[ck[cell]])


@njit(inline="always")
def _accumulate_unit(x, c, y, xx, table, cperm, offs, reflect, interval, q, strides, frac, order, rows, wts,
                     local):  # pragma: no cover - compiled
    """Add one unit's 4 rotations x simplex vertices at LR pixel (y, xx) into ``local``; return the weight sum."""
    h, w, _ = x.shape
    n = offs.shape[1]
    ncell = table.shape[1]
    wsum = 0
    for k in range(4):
        m = _gather(x, c, y, xx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
        ck = cperm[k]
        for j in range(m):
            wt = wts[j]
            wsum += wt
            row = table[rows[j]]
            # literal widths let LLVM unroll the common cell counts (1, x2, x3, x4)
            if ncell == 16:
                _madd_cells(local, row, ck, wt, 16)
            elif ncell == 9:
                _madd_cells(local, row, ck, wt, 9)
            elif ncell == 4:
                _madd_cells(local, row, ck, wt, 4)
            elif ncell == 1:
                _madd_cells(local, row, ck, wt, 1)
            else:
                _madd_cells(local, row, ck, wt, ncell)
    return wsum


@njit(parallel=True, cache=True, nogil=True)
def _block_kernel(x, table, cperm, offs, reflect, interval, levels, cell_off, s_out, acc):  # pragma: no cover
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
        strides, frac, order, rows, wts = _work_buffers(n, levels)
        local = np.empty(ncell, np.int64)
        for c in range(nc):
            for xx in range(w):
                local[:] = 0
                wsum = _accumulate_unit(x, c, y, xx, table, cperm, offs, reflect, interval, q, strides, frac, order,
                                        rows, wts, local)
                # the offset of every cell is removed once: sum of weights x offset
                for cell in range(ncell):
                    oy = cell // s_out
                    ox = cell - oy * s_out
                    acc[y * s_out + oy, xx * s_out + ox, c] += local[cell] - wsum * cell_off


@njit(inline="always")
def _sum_units(x, c, y, xx, tables, cperms, offs, reflect, interval, q, cell_off, strides, frac, order, rows, wts,
               local):  # pragma: no cover - compiled
    """All units x 4 rotations x vertices of LR pixel (y, xx) summed into ``local``, offsets removed."""
    local[:] = 0
    wsum = 0
    for u in range(tables.shape[0]):
        wsum += _accumulate_unit(x, c, y, xx, tables[u], cperms[u], offs[u], reflect, interval, q, strides, frac,
                                 order, rows, wts, local)
    local -= wsum * cell_off


@njit(parallel=True, cache=True, nogil=True)
def _block_stage_kernel(x, tables, cperms, offs, reflect, interval, levels, cell_off, s_out, d, bias, half_even,
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
        strides, frac, order, rows, wts = _work_buffers(n, levels)
        local = np.empty(ncell, np.int64)
        for xx in range(w):
            for c in range(nc):
                _sum_units(x, c, y, xx, tables, cperms, offs, reflect, interval, q, cell_off, strides, frac, order,
                           rows, wts, local)
                for cell in range(ncell):
                    oy = cell // s_out
                    ox = cell - oy * s_out
                    out[y * s_out + oy, xx * s_out + ox, c] = _round_div(local[cell], d, bias, half_even)


@njit(inline="always")
def _expand_pixel(x, c, yy, xx, table, cperm, offs, reflect, interval, cell_off, s, strides, frac, order, rows, wts):  # pragma: no cover
    """Sum of 9 maps x 4 rotations at HR pixel (yy, xx) by gathering (reflected ExpandConv borders)."""
    h, w, _ = x.shape
    n = offs.shape[1]
    q = 1 << interval
    hs = h * s
    ws = w * s
    tot = 0
    for gy in range(3):
        ys = _pad(yy - (gy - 1), hs, True)
        ly = ys // s
        oy = ys - ly * s
        for gx in range(3):
            xs = _pad(xx - (gx - 1), ws, True)
            lx = xs // s
            ox = xs - lx * s
            cell = ((gy * 3 + gx) * s + oy) * s + ox
            for k in range(4):
                m = _gather(x, c, ly, lx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                for j in range(m):
                    tot += wts[j] * (np.int64(table[rows[j], cperm[k, cell]]) - cell_off)
    return tot


@njit(inline="always")
def _strides(n, levels):  # pragma: no cover - compiled
    strides = np.empty(n, np.int64)
    st = 1
    for i in range(n - 1, -1, -1):
        strides[i] = st
        st *= levels
    return strides


@njit(inline="always")
def _work_buffers(n, levels):  # pragma: no cover - compiled
    """Per-task scratch for gathering an n-input kernel: strides, fractions, order, vertices, weights."""
    return (_strides(n, levels), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n + 1, np.int64),
            np.empty(n + 1, np.int64))


@njit(inline="always")
def _round_div(num, d, bias, half_even):  # pragma: no cover - compiled
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


@njit(parallel=True, cache=True, nogil=True)
def _expand_kernel(x, table, cperm, offs, reflect, interval, levels, cell_off, s, acc):  # pragma: no cover
    """Add one ExpandConv unit's 4 rotations to ``acc`` by gathering (the general, slow path)."""
    h, w, nc = x.shape
    n = offs.shape[1]
    for yy in prange(h * s):
        strides, frac, order, rows, wts = _work_buffers(n, levels)
        for c in range(nc):
            for xx in range(w * s):
                acc[yy, xx, c] += _expand_pixel(x, c, yy, xx, table, cperm, offs, reflect, interval, cell_off, s, strides,
                                                frac, order, rows, wts)


@njit(inline="always")
def _patch4_add(win, wofs, stride, tabs, t0, t1, t2, t3, p):  # pragma: no cover - compiled
    """``_simd.patch4_add`` with literal widths: p = s+2 lanes of a vector of 4, 8 or 16."""
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


@njit(inline="always")
def _pair_rows(xp, c, ly, noff, pad, ridx):  # pragma: no cover - compiled
    """Direct rows ``a*257 + b`` of the 2-input unit at every pixel of LR row ``ly``, 4 rotations -> ``ridx (4, w)``.

    ``xp`` is the padded planar image (``_planar``): no index is ever out of range.
    """
    w = ridx.shape[1]
    for k in range(4):
        arow = xp[c, ly + pad + noff[k, 0, 0]]
        ax = pad + noff[k, 0, 1]
        brow = xp[c, ly + pad + noff[k, 1, 0]]
        bx = pad + noff[k, 1, 1]
        rk = ridx[k]
        for lx in range(w):
            rk[lx] = np.int32(arow[lx + ax]) * 257 + np.int32(brow[lx + bx])


@njit(inline="always")
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


@njit(inline="always")
def _add_lr_patch_row(xp, c, ly, pr, win, wofs, tabs, tsize, noff, pad, s, ridx):  # pragma: no cover - compiled
    """Only patch row ``pr`` of every pixel of LR row ``ly`` (band halos), into the window row at ``win[wofs:]``."""
    w = ridx.shape[1]
    p = s + 2
    pp = p * p
    _pair_rows(xp, c, ly, noff, pad, ridx)
    for k in range(4):
        tb = (k & 1) * tsize
        rev = k >= 2
        sr = p - 1 - pr if rev else pr
        rk = ridx[k]
        for lx in range(w):
            t0 = tb + rk[lx] * pp + sr * p
            for pc in range(p):
                win[wofs + lx * s + pc] += tabs[t0 + (p - 1 - pc if rev else pc)]


@njit(inline="always")
def _pair_row(xp, c, ly, lx, noff, pad, k):  # pragma: no cover - compiled
    """Direct row ``a*257 + b`` of LR pixel (ly, lx) for rotation k (see ``_pair_rows``)."""
    return (np.int64(xp[c, ly + pad + noff[k, 0, 0], lx + pad + noff[k, 0, 1]]) * 257
            + np.int64(xp[c, ly + pad + noff[k, 1, 0], lx + pad + noff[k, 1, 1]]))


@njit(inline="always")
def _side_val(side, side_sel, sd, k, row, t, p):  # pragma: no cover - compiled
    """Value t of the folded border row of side ``sd`` for rotation k at direct row ``row``."""
    u = side_sel[sd, k, 0]
    return side[u, row, p - 1 - t if side_sel[sd, k, 1] else t]


@njit(inline="always")
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
    for k in range(4):
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
                for k in range(4):
                    for lx in range(w):
                        row = _pair_row(xp, c, ly, lx, noff, pad, k)
                        for t in range(p):  # HR column lx*s - 1 + t is window column lx*s + t
                            win[wr + lx * s + t] += _side_val(side, side_sel, sd, k, row, t, p)
                win[wr + 1] += corners[c, 2 * sd]
                win[wr + ws] += corners[c, 2 * sd + 1]


@njit(inline="always")
def _shift_rescale(d, bias, half_even, pre):  # pragma: no cover - compiled
    """For a power-of-two divisor ``d = 2**shift``: ``(shift, add, even)`` such that
    ``_round_div(v + pre, d, bias, half_even)`` is ``(v + add) >> shift`` (half up) or that
    rounded half to even (``even`` = 1), clipped to 0..255 (``_simd.emit_u8``); ``shift`` = -1 otherwise."""
    if (d & (d - 1)) != 0:
        return -1, 0, 0
    shift = 0
    while (1 << shift) < d:
        shift += 1
    if half_even:
        return shift, pre + bias * d, 1
    return shift, pre + bias * d + d // 2, 0


@njit(inline="always")
def _emit16(out, o, buf, b, cstride, nc, vadd, shift, even, ws):  # pragma: no cover - compiled
    """``_simd.emit_u8`` over whole runs of 16 pixels (literal ``nc``); returns the first pixel not written."""
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


@njit(inline="always")
def _emit_planar_row(buf, cstride, b, out, r, shift, vadd, even, pre, d, bias, half_even):  # pragma: no cover
    """HR row ``r`` of ``out (Hs, Ws, C)`` from planar sums: channel c's row at ``buf[c*cstride + b :]``.

    ``out[r, x, c] = _round_div(buf[c*cstride + b + x] + pre, d, bias, half_even)``; 16 pixels at
    a time with ``_simd.emit_u8`` when ``shift >= 0`` (``_shift_rescale``), the rest scalar.
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
            orow[x2, c] = _round_div(np.int64(buf[c * cstride + b + x2]) + pre, d, bias, half_even)


@njit(inline="always")
def _emit_hr_row(win, L, wr, W2, out, r, shift, vadd, even, d, bias, half_even, add, has_add):  # pragma: no cover
    """Rescale window row ``wr`` (HR row ``r``, every channel) into ``out``."""
    hs, ws, nc = out.shape
    b = wr * W2 + 1
    if has_add:  # the stage's other units, accumulated beforehand
        arow = add[r]
        for c in range(nc):
            for xx in range(ws):
                win[c * L + b + xx] += arow[xx, c]
    _emit_planar_row(win, L, b, out, r, shift, vadd, even, 0, d, bias, half_even)


@njit(cache=True, nogil=True)
def _expand_corners(x, table, cperm, offs, reflect, interval, levels, cell_off, corner_cells):  # pragma: no cover
    """``(C, 4)``: each HR corner's doubly reflected ExpandConv term (``ExpandPlan.corner_cells``), summed
    over the 4 rotations and interpolated from the stored ``table`` (top-left, top-right, bottom-left,
    bottom-right)."""
    h, w, nc = x.shape
    n = offs.shape[1]
    q = 1 << interval
    out = np.zeros((nc, 4), np.int64)
    strides, frac, order, rows, wts = _work_buffers(n, levels)
    for c in range(nc):
        for corner in range(4):
            ly = 0 if corner < 2 else h - 1
            lx = 0 if corner % 2 == 0 else w - 1
            tot = 0
            for k in range(4):
                m = _gather(x, c, ly, lx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                cell = cperm[k, corner_cells[corner]]
                for j in range(m):
                    tot += wts[j] * (np.int64(table[rows[j], cell]) - cell_off)
            out[c, corner] = tot
    return out


@njit(parallel=True, cache=True, nogil=True)
def _expand_patch_kernel(xp, pad, noff, tabs, tsize, side, side_sel, corners, s, d, bias, half_even, nbands, add,
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
    ``ExpandPlan``, ``corners`` from ``_expand_corners``), so every pixel is exact.
    With ``has_add``, the int32 accumulator ``add`` of the stage's other units (shape of ``out``)
    is added to every row before it is rescaled.
    """
    nc, hp, wpd = xp.shape
    h = hp - 2 * pad
    w = wpd - 2 * pad
    p = s + 2
    ws = w * s
    W2 = ws + 18  # room for the zero lanes written past a patch row (vector width <= 16)
    L = p * W2 + 16
    shift, vadd, even = _shift_rescale(d, bias, half_even, 0)
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
                _add_border_terms(xp, c, ly, 0, p, win, c * L, W2, side, side_sel, corners, noff, pad, s, h, w)
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
                _add_lr_patch_row(xp, c, y1, 0, win, c * L, tabs, tsize, noff, pad, s, ridx)
                _add_border_terms(xp, c, y1, 0, 1, win, c * L, W2, side, side_sel, corners, noff, pad, s, h, w)
        _emit_hr_row(win, L, 0, W2, out, y1 * s - 1, shift, vadd, even, d, bias, half_even, add, has_add)


@njit(inline="always")
def _vb_k(dst, dofs, stride, tab, rows, wts, s, k):  # pragma: no cover - compiled
    if k == 0:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 0)
    elif k == 1:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 1)
    elif k == 2:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 2)
    else:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, s, 3)


@njit(inline="always")
def _vertex_block(dst, dofs, stride, tab, rows, wts, s, k):  # pragma: no cover - compiled
    """``_simd.vertices_block_add`` with literal s (1..4) and k (0..3)."""
    if s == 4:
        _vb_k(dst, dofs, stride, tab, rows, wts, 4, k)
    elif s == 2:
        _vb_k(dst, dofs, stride, tab, rows, wts, 2, k)
    elif s == 3:
        _vb_k(dst, dofs, stride, tab, rows, wts, 3, k)
    else:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, 1, 0)


@njit(inline="always")
def _before(fi, fj):  # pragma: no cover - compiled
    """1 if input i (index below j) comes before input j in the descending, stable order of fractions."""
    return np.int64(fi >= fj)


@njit(inline="always")
def _verts2(v0, v1, interval, q, lv):  # pragma: no cover - compiled
    """``_simplex`` of a 2-input lookup, in registers: ``(rows, weights)`` tuples of 3."""
    f0 = v0 & (q - 1)
    f1 = v1 & (q - 1)
    base = (v0 >> interval) * lv + (v1 >> interval)
    c01 = _before(f0, f1)
    fs0 = f0 * c01 + f1 * (1 - c01)  # the larger fraction (input 0 on ties)
    fs1 = f0 + f1 - fs0
    x1 = base + lv * c01 + (1 - c01)
    return (base, x1, base + lv + 1), (q - fs0, fs0 - fs1, fs1)


@njit(inline="always")
def _verts3(v0, v1, v2, interval, q, lv):  # pragma: no cover - compiled
    """``_simplex`` of a 3-input lookup, in registers: ``(rows, weights)`` tuples of 4."""
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


@njit(inline="always")
def _verts4(v0, v1, v2, v3, interval, q, lv):  # pragma: no cover - compiled
    """``_simplex`` of a 4-input lookup, in registers: ``(rows, weights)`` tuples of 5. Each
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


@njit(nogil=True, cache=True)  # a call, not inlined: parfors' array analysis cannot handle its tuples
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
        d0, d1, d2, d3 = dl[0], dl[1], dl[2], dl[3]
        for xx in range(w):
            r4, w4 = _verts4(np.int64(xf[o + xx + d0]), np.int64(xf[o + xx + d1]), np.int64(xf[o + xx + d2]),
                                np.int64(xf[o + xx + d3]), interval, q, lv)
            for j in range(5):
                R[j, xx] = r4[j]
                Wt[j, xx] = w4[j]
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


@njit(parallel=True, cache=True, nogil=True)
def _block_vec_kernel(xp, pad, tabs, offs, interval, levels, cell_off, s, d, bias, half_even, to_acc, acc,
                      out):  # pragma: no cover - compiled
    """A stage of same-shaped plain (non-ExpandConv) units with s x s blocks, s <= 4, vector rows.

    ``xp (C, H+2*pad, W+2*pad)`` uint8 is the padded planar input (no index is out of range),
    ``tabs (U, rows*s*s + 16)`` the stored tables flattened (16 elements of padding),
    ``offs (U, 4, n, 2)`` the inputs' offsets per rotation (n = 2..4). LR rows run in
    parallel; for each channel, unit and rotation, a pass over the row computes every
    pixel's simplex vertices in registers (``_verts4`` ...), sums their table rows and adds
    the block, rotated back, into a planar buffer of the LR row's s HR rows
    (``_simd.vertices_block_add``). Finished rows are rescaled into ``out`` (``_simd.emit_u8``),
    or with ``to_acc`` added to the int32 accumulator ``acc`` (the shape of ``out``) for a later
    kernel to rescale. Every LR row owns its s HR rows: no races.
    """
    nc, hp, wpd = xp.shape
    h = hp - 2 * pad
    w = wpd - 2 * pad
    U = tabs.shape[0]
    n = offs.shape[2]
    q = 1 << interval
    ws = w * s
    RB = ws + 16
    pre = -4 * U * q * cell_off  # every rotation's weights sum to q: remove the value offset once
    shift, vadd, even = _shift_rescale(d, bias, half_even, pre)
    xf = xp.reshape(-1)
    delta = np.empty((U, 4, n), np.int64)  # flat offsets of the inputs in a channel plane
    for u in range(U):
        for k in range(4):
            for i in range(n):
                delta[u, k, i] = offs[u, k, i, 0] * wpd + offs[u, k, i, 1]
    for y in prange(h):
        buf = np.zeros(nc * s * RB, np.int32)  # channel c, HR row oy at (c*s + oy) * RB
        R = np.empty((5, w), np.int64)  # vertices and weights of a row's pixels
        Wt = np.empty((5, w), np.int64)
        for c in range(nc):
            o = (c * hp + y + pad) * wpd + pad
            for u in range(U):
                for k in range(4):
                    _unit_row_pass(xf, o, w, delta[u, k], tabs[u], buf, c * s * RB, RB, s, k, n, interval, q, levels,
                                   R, Wt)
        for oy in range(s):
            r = y * s + oy
            if to_acc:
                arow = acc[r]
                for c in range(nc):
                    ob = (c * s + oy) * RB
                    for x2 in range(ws):
                        arow[x2, c] += buf[ob + x2] + pre
            else:
                _emit_planar_row(buf, s * RB, oy * RB, out, r, shift, vadd, even, pre, d, bias, half_even)


@njit(parallel=True, cache=True, nogil=True)
def _rescale_kernel(acc, d, bias, half_even, out):  # pragma: no cover - compiled
    """out = clip(round(acc / d + bias), 0, 255), exact integer rounding (half up or half even)."""
    h, w, nc = acc.shape
    for y in prange(h):
        for xx in range(w):
            for c in range(nc):
                out[y, xx, c] = _round_div(np.int64(acc[y, xx, c]), d, bias, half_even)


_NO_ADD = np.zeros((1, 1, 1), dtype=np.int32)
_WIN16 = np.zeros(0, dtype=np.int16)  # window dtype carriers for _expand_patch_kernel
_WIN32 = np.zeros(0, dtype=np.int32)


def _planar(x: np.ndarray, pad: int, reflect: bool) -> np.ndarray:
    """``(H, W, C)`` -> ``(C, H+2*pad, W+2*pad)`` uint8, padded like the stage (edge or reflect)."""
    return np.ascontiguousarray(np.pad(x.transpose(2, 0, 1), ((0, 0), (pad, pad), (pad, pad)),
                                       mode="reflect" if reflect else "edge"))


def _packed(lut: Lut, si: int, units: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same-shaped units of stage ``si`` stacked into (U, ...) arrays, once per LUT."""
    packed = lut._compiled.get(("packed", si))
    if packed is None:
        packed = (np.stack([u[0] for u in units]), np.stack([u[1] for u in units]), np.stack([u[2] for u in units]))
        lut._compiled[("packed", si)] = packed
    return packed


def _unit_shapes(units: list[tuple]) -> list[tuple]:
    """``(table shape, dtype name)`` per compiled unit, for ``stage_route``."""
    return [(tuple(t.shape), t.dtype.name) for t, _, _, _ in units]


def _packed_flat(lut: Lut, si: int, units: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """For ``_block_vec_kernel``: ``(tables (U, rows*cells + 16), offsets (U, 4, n, 2))``, once per LUT."""
    packed = lut._compiled.get(("flat", si))
    if packed is None:
        t = np.stack([u[0] for u in units])
        flat = np.concatenate([t.reshape(t.shape[0], -1), np.zeros((t.shape[0], 16), t.dtype)], axis=1)
        offs = np.ascontiguousarray(np.stack([u[2] for u in units]))
        packed = (flat, offs)
        lut._compiled[("flat", si)] = packed
    return packed


def _run(lut: Lut, src: np.ndarray, bands: int | None = None, general: bool = False) -> np.ndarray:
    """Run every stage on a ``(H, W, C)`` uint8 image.

    Stages with one ExpandConv unit take the patch kernel, stages of same-shaped plain units
    the fused stage kernel; anything else (e.g. mixed units) accumulates unit by unit into an
    int32 image and rescales it. ``bands`` overrides the band count and ``general=True``
    forces the unit-by-unit path (both for tests).
    """
    method = lut.method
    q, levels = levels_for_interval(lut.interval)
    x = src
    for si, (stage, units) in enumerate(zip(method.stages, compile_lut(lut))):
        s_out = lut.scale if stage.upscale else 1
        reflect = stage.pad_mode == "reflect"
        d = q * stage.divisor
        half_even = stage.rounding == "half_even"
        out = np.empty((x.shape[0] * s_out, x.shape[1] * s_out, x.shape[2]), dtype=np.uint8)
        route, rest_vec = stage_route(stage, _unit_shapes(units), s_out, method.rotations)
        if general:
            route = "general"
        if route == "expand":
            # ExpandConv unit by the patch kernel; any other units first into an int32 accumulator
            plan = units[0][3]
            rest = units[1:]
            pad = max([plan.pad] + [int(np.abs(o).max()) for _, _, o, _ in rest])
            xp = _planar(x, pad, reflect)  # one padded copy serves both kernels
            add = _NO_ADD
            has_add = len(rest) > 0
            if has_add:
                add = np.zeros(out.shape, dtype=np.int32)
                if rest_vec:  # e.g. S, D, Y: one pass
                    tabs, offss = _packed_flat(lut, si, rest)
                    _block_vec_kernel(xp, pad, tabs, offss, lut.interval, levels, method.value_offset, s_out, d,
                                      stage.bias, half_even, True, add, out)
                else:
                    for table, cperm, offs, _ in rest:
                        _block_kernel(x, table, cperm, offs, reflect, lut.interval, levels, method.value_offset,
                                      s_out, add)
            table, cperm, offs, _ = units[0]
            nbands = bands if bands is not None else max(1, min(x.shape[0], 2 * numba.get_num_threads()))
            # int16 windows when no sum can overflow them (the shipped ECLUT tables), else int32
            narrow = not has_add and plan.bound + (1 + abs(stage.bias)) * d <= np.iinfo(np.int16).max
            wproto = _WIN16 if narrow else _WIN32
            corners = _expand_corners(x, table, cperm, offs, reflect, lut.interval, levels, method.value_offset,
                                      plan.corner_cells)
            # the patches are direct rows (compile_lut); d keeps the interval's q
            _expand_patch_kernel(xp, pad, plan.noff, plan.tabs, plan.tsize, plan.side, plan.side_sel, corners,
                                 s_out, d, stage.bias, half_even, nbands, add, has_add, wproto, out)
        elif route == "vec":
            tabs, offss = _packed_flat(lut, si, units)
            pad = int(np.abs(offss).max())
            _block_vec_kernel(_planar(x, pad, reflect), pad, tabs, offss, lut.interval, levels, method.value_offset,
                              s_out, d, stage.bias, half_even, False, _NO_ADD, out)
        elif route == "stage":
            tables, cperms, offss = _packed(lut, si, units)
            _block_stage_kernel(x, tables, cperms, offss, reflect, lut.interval, levels, method.value_offset, s_out,
                                d, stage.bias, half_even, out)
        else:
            acc = np.zeros(out.shape, dtype=np.int32)
            for unit, (table, cperm, offs, _) in zip(stage.units, units):
                kernel = _expand_kernel if unit.expand else _block_kernel
                kernel(x, table, cperm, offs, reflect, lut.interval, levels, method.value_offset, s_out, acc)
            _rescale_kernel(acc, d, stage.bias, half_even, out)
        x = out
    return x


numba.config.CACHE_DIR = _USER_CACHE_DIR  # leave numba's setting as we found it


def resolve_lut(lut: Lut | str | os.PathLike | None, scale: int = 4) -> Lut:
    """A ``Lut`` as given, loaded from a path, a shipped family by name (``"eclut"``,
    ``"eclut-sdy"``) at ``scale``, or the shipped default for ``scale`` when ``None``."""
    if isinstance(lut, Lut):
        return lut
    if lut is None:
        return _load_default(scale, "eclut")
    p = Path(lut)
    if not p.exists() and str(lut) in SHIPPED_FAMILIES:
        return _load_default(scale, str(lut))
    return load_lut(p)


_DEFAULTS: dict[tuple[int, str], Lut] = {}


def default_lut(scale: int = 4, family: str = "eclut") -> Lut:
    """The shipped LUT of ``family`` for ``scale`` (loaded once per process).

    ``"eclut"`` (default) is the fastest; ``"eclut-sdy"`` (lutsr's fitted composite) is
    sharper and slower; see ``docs/results.md``.
    """
    return _load_default(scale, family)


def _load_default(scale: int, family: str) -> Lut:
    if (scale, family) not in _DEFAULTS:
        _DEFAULTS[(scale, family)] = load_lut(default_lut_path(scale, family))
    return _DEFAULTS[(scale, family)]


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise LutsrError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise LutsrError(f"expected a uint8 or uint16 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise LutsrError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        raise LutsrError(f"expected 1, 3 or 4 channels, got {image.shape[2]}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LutsrError(f"image has no pixels (shape {image.shape})")
    return image


def _upscale8(img: np.ndarray, lut: Lut) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (H*s, W*s, C) through the LUT, channel by channel."""
    return _run(lut, np.ascontiguousarray(img))


def _upscale16(img: np.ndarray, lut: Lut) -> np.ndarray:
    """uint16 (H, W, C): the LUT on the nearest 8-bit level, bicubic on the remainder.

    ``v = 257*hi + r`` with ``hi = round(v / 257)`` and ``|r| <= 128``. The output is
    ``257 * LUT(hi) + bicubic(r)``: the LUT supplies the detail, the remainder (the bits an
    8-bit table cannot see) is carried smoothly, so 16-bit gradients do not band.
    """
    import cv2

    s = lut.scale
    v = img.astype(np.int32)
    hi = ((v + 128) // 257).astype(np.uint8)
    rem = (v - 257 * hi.astype(np.int32)).astype(np.float32)
    base = _upscale8(hi, lut).astype(np.int32) * 257
    up = cv2.resize(rem, (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)
    up = up.reshape(base.shape)
    return np.clip(base + np.rint(up).astype(np.int32), 0, 65535).astype(np.uint16)


def _upscale_any(img: np.ndarray, lut: Lut) -> np.ndarray:
    return _upscale16(img, lut) if img.dtype == np.uint16 else _upscale8(img, lut)


def _upscale_rgba(img: np.ndarray, lut: Lut) -> np.ndarray:
    """RGBA: premultiply, upscale colour and alpha with the LUT, un-premultiply.

    Transparent pixels' colour (often black) then cannot bleed into visible edges: colour is
    weighted by its own alpha before the LUT mixes neighbours, and divided by the upscaled
    alpha afterwards. Fully transparent output pixels get colour 0.
    """
    top = 65535 if img.dtype == np.uint16 else 255
    a = img[..., 3:].astype(np.int64)
    prem = ((img[..., :3].astype(np.int64) * a + top // 2) // top).astype(img.dtype)
    up = _upscale_any(np.concatenate([prem, img[..., 3:]], axis=2), lut).astype(np.int64)
    ua = up[..., 3:]
    rgb = np.where(ua > 0, (up[..., :3] * top + ua // 2) // np.maximum(ua, 1), 0)
    return np.concatenate([np.clip(rgb, 0, top), ua], axis=2).astype(img.dtype)


#: Images with more input samples than this are processed in bands of rows (bounded temporaries).
BAND_SAMPLES = 1 << 22


def halo_rows(lut: Lut) -> int:
    """LR rows of context a band needs above and below so that its output equals whole-image output."""
    from lutsr.info import receptive_field

    h, _, _ = receptive_field(lut.method)
    return h // 2 + 2


def _streams(lut: Lut) -> bool:
    """Whether the LUT runs in one pass whose temporaries do not grow with the image (per band
    of rows only): a single stage on ``_expand_patch_kernel`` without other units (ECLUT) or on
    ``_block_vec_kernel`` (SR-LUT). Such LUTs need no banding of large uint8 gray/RGB images."""
    stages = compile_lut(lut)
    if len(stages) != 1:
        return False
    route, _ = stage_route(lut.method.stages[0], _unit_shapes(stages[0]), lut.scale, lut.method.rotations)
    return route == "vec" or (route == "expand" and len(stages[0]) == 1)


def _upscale_banded(src: np.ndarray, lut: Lut, band_samples: int) -> np.ndarray:
    """Process ``src`` in bands of LR rows with halos; bit-identical to whole-image processing."""
    h, w, c = src.shape
    s = lut.scale
    rows = max(1, band_samples // max(1, w * c))
    if rows >= h:
        return _upscale_rgba(src, lut) if c == 4 else _upscale_any(src, lut)
    halo = halo_rows(lut)
    out = np.empty((h * s, w * s, c), dtype=src.dtype)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        part = src[a:b]
        up = _upscale_rgba(part, lut) if c == 4 else _upscale_any(part, lut)
        out[y0 * s : y1 * s] = up[(y0 - a) * s : (y1 - a) * s]
    return out


def upscale(image: np.ndarray, lut: Lut | str | os.PathLike | None = None, threads: int | None = None) -> np.ndarray:
    """Upscale an image with a LUT.

    Args:
        image: ``(H, W)`` gray or ``(H, W, C)`` with C in 1, 3 (RGB), 4 (RGBA); uint8
            (0..255) or uint16 (0..65535). Every colour channel goes through the LUT. RGBA:
            colour is premultiplied by alpha, alpha is upscaled with the LUT too, then colour
            is un-premultiplied (no dark fringes). uint16: the LUT runs on the nearest 8-bit
            level and the remainder is added back bicubically (no banding); see docs/runtime.md.
        lut: a loaded :class:`~lutsr.lutfile.Lut`, a path to a LUT file, or ``None`` for
            the shipped default x4 LUT.
        threads: worker threads for the kernels (default: Numba's default, all cores).

    Large images are processed in bands of rows (``BAND_SAMPLES`` input samples each) with
    the halo the method's receptive field needs, so temporaries stay bounded; the output
    is bit-identical to processing the whole image at once. 8-bit gray/RGB images through a
    one-pass LUT (ECLUT, SR-LUT) need no bands: those kernels only hold a few rows at a time.

    Returns:
        ``(H*s, W*s)`` or ``(H*s, W*s, C)`` of the input's dtype, where s is the LUT's scale.

    Raises:
        LutsrError: the image or the LUT is invalid (message says expected vs. got).
    """
    img = _check_image(image)
    lut = resolve_lut(lut)
    src = img if img.ndim == 3 else img[..., None]
    prev = None
    if threads is not None:
        if threads < 1:
            raise LutsrError(f"threads must be >= 1, got {threads}")
        prev = numba.get_num_threads()
        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        streaming = src.dtype == np.uint8 and src.shape[2] != 4 and _streams(lut)
        out = _upscale_banded(src, lut, src.size if streaming else BAND_SAMPLES)
    finally:
        if prev is not None:
            numba.set_num_threads(prev)
    return out[..., 0] if image.ndim == 2 else out
