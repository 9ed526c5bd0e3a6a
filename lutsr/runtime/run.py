"""Run a ``CompiledLut`` on an image: one kernel call per ``StagePlan`` (its route was chosen at compile time)."""

from __future__ import annotations

import numba
import numpy as np

from lutsr.runtime.compile import CompiledLut, StagePlan, planar
from lutsr.runtime.kernels.block import block_vec_kernel
from lutsr.runtime.kernels.expand import expand_corners, expand_patch_kernel
from lutsr.runtime.kernels.scalar import block_kernel, block_stage_kernel, expand_kernel, rescale_kernel

__all__ = ["run", "cold_kernels"]


def cold_kernels(compiled) -> list[str]:
    """Names of the kernels ``compiled`` will call that have no on-disk cache yet (a first run compiles them)."""
    from lutsr.runtime.kernels import net as netk
    from lutsr.runtime.kernels.jit import is_cached
    from lutsr.runtime.netrun import CompiledNet

    if isinstance(compiled, CompiledNet):
        ks = [netk.lut_pass_kernel, netk.lut_gather_kernel, netk.lut_direct_kernel, netk.ensemble_add,
              netk.ensemble_add_perm]
    else:
        ks = []
        for p in compiled.stages:
            if p.route == "expand":
                ks += [expand_patch_kernel, expand_corners]
                if len(p.units) > 1:
                    ks.append(block_vec_kernel if p.vec is not None else block_kernel)
            else:
                ks += {"vec": [block_vec_kernel], "stage": [block_stage_kernel],
                       "general": [block_kernel, expand_kernel, rescale_kernel]}[p.route]
    return sorted({k.__name__ for k in ks if not is_cached(k)})

_NO_ADD = np.zeros((1, 1, 1), dtype=np.int32)  # (C, H*s, W*s) planar addends; this one is never read
_WIN16 = np.zeros(0, dtype=np.int16)  # window dtype carriers for expand_patch_kernel
_WIN32 = np.zeros(0, dtype=np.int32)


def _expand(p: StagePlan, x: np.ndarray, out: np.ndarray, bands: int | None) -> None:
    """The ExpandConv unit on the patch kernel; the stage's other units first into an int32 addend."""
    plan = p.expand
    first, rest = p.units[0], p.units[1:]
    xp = planar(x, p.pad, p.reflect)  # one padded copy serves both kernels
    add = _NO_ADD
    if rest:  # the addend is planar (C, H*s, W*s): both kernels read and write it in contiguous rows
        hs, ws, nc = out.shape
        if p.vec is not None:  # e.g. S, D, Y: one pass
            add = np.empty((nc, hs, ws), dtype=np.int32)  # the kernel writes every element
            _vec_call(p, xp, x.shape[0], bands, True, add, out)
        else:
            inter = np.zeros(out.shape, dtype=np.int32)
            for u in rest:
                block_kernel(x, u.table, u.cell_perm, u.offsets, p.reflect, p.interval, p.levels, p.cell_offset,
                             p.scale, inter)
            add = np.ascontiguousarray(inter.transpose(2, 0, 1))
    nbands = bands if bands is not None else max(1, min(x.shape[0], 2 * numba.get_num_threads()))
    corners = expand_corners(x, first.table, first.cell_perm, first.offsets, p.reflect, p.interval, p.levels,
                             p.cell_offset, plan.corner_cells)
    # the patches are direct rows (compile_lut); the divisor keeps the interval's q
    expand_patch_kernel(xp, p.pad, plan.noff, plan.tabs, plan.tsize, plan.side, plan.side_sel, corners, p.scale,
                        p.divisor, p.bias, p.half_even, nbands, add, len(rest) > 0, _WIN16 if p.narrow else _WIN32,
                        out)


#: LR rows per task of the vector block kernel when no band count is asked for: its shared-window
#: units compute a band's windows plus one or two rows of halo (S, D), so taller bands waste less;
#: 16 rows of 1280 HR pixels keep a band's int32 buffer of one channel near 330 KiB at x4.
VEC_BAND_ROWS = 16


def _vec_call(p: StagePlan, xp: np.ndarray, h: int, bands: int | None, to_acc: bool, acc: np.ndarray,
              out: np.ndarray) -> None:
    v = p.vec
    band = VEC_BAND_ROWS if bands is None else max(1, -(-h // max(1, bands)))
    block_vec_kernel(xp, p.pad, v.flat, v.offsets, v.packed, v.window, v.shifts, p.interval, p.levels, p.cell_offset,
                     p.scale, p.divisor, p.bias, p.half_even, v.narrow, band, to_acc, acc, out)


def _vec(p: StagePlan, x: np.ndarray, out: np.ndarray, bands: int | None) -> None:
    _vec_call(p, planar(x, p.pad, p.reflect), x.shape[0], bands, False, _NO_ADD, out)


def _stage(p: StagePlan, x: np.ndarray, out: np.ndarray) -> None:
    tables, cperms, offss = p.stacked
    block_stage_kernel(x, tables, cperms, offss, p.reflect, p.interval, p.levels, p.cell_offset, p.scale, p.divisor,
                       p.bias, p.half_even, out)


def _general(p: StagePlan, x: np.ndarray, out: np.ndarray) -> None:
    acc = np.zeros(out.shape, dtype=np.int32)
    for u in p.units:
        kernel = expand_kernel if u.spec.expand else block_kernel
        kernel(x, u.table, u.cell_perm, u.offsets, p.reflect, p.interval, p.levels, p.cell_offset, p.scale, acc)
    rescale_kernel(acc, p.divisor, p.bias, p.half_even, out)


def run(compiled: CompiledLut, image: np.ndarray, bands: int | None = None) -> np.ndarray:
    """Every stage of ``compiled`` on a ``(H, W, C)`` C-contiguous uint8 image.

    Args:
        compiled: from ``compile_lut``.
        image: ``(H, W, C)`` uint8, C-contiguous, C >= 1 (every channel independently).
        bands: band count of the patch kernel (default ``2 * threads``) and of the vector block
            kernel (default bands of ``VEC_BAND_ROWS`` rows); the output does not depend on it
            (the tests check every count).

    Returns:
        ``(H*s, W*s, C)`` uint8.
    """
    from lutsr.runtime.netrun import CompiledNet, run_net

    if isinstance(compiled, CompiledNet):
        return run_net(compiled, image, bands)
    x = image
    for p in compiled.stages:
        out = np.empty((x.shape[0] * p.scale, x.shape[1] * p.scale, x.shape[2]), dtype=np.uint8)
        if p.route == "expand":
            _expand(p, x, out, bands)
        elif p.route == "vec":
            _vec(p, x, out, bands)
        elif p.route == "stage":
            _stage(p, x, out)
        else:
            _general(p, x, out)
        x = out
    return x
