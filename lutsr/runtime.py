"""The CPU runtime: Numba kernels that upscale with a LUT (no torch).

Public entry point: :func:`upscale`. The kernels compute exactly what the NumPy
reference (``lutsr.reference``) computes; the reference is the specification.

Every method is data (``lutsr.spec.METHODS``): per stage, each unit's table is looked up
in four rotations (with simplex interpolation at coarse intervals) and added to an int32
accumulator, which the stage's rescale rule turns into 8-bit pixels.

The image is never rotated: for rotation k each table is pre-rotated once per loaded LUT
(``compile_lut``; the s x s block, and for ExpandConv units the 3x3 grid of maps, are
rotated back by -k) and the kernel's offsets are expressed in the original frame
(``spec.rotation_neighbor_offsets``); padding becomes an index rule (``_pad``, the same
as ``spec.pad_index``). Units without ExpandConv write their own s x s block per LR pixel
(rows of LR pixels in parallel); ExpandConv units gather 9 maps x 4 rotations per HR pixel
(rows of HR pixels in parallel). No two threads write the same pixel.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from numba import njit, prange

import numba

from lutsr.errors import LutsrError
from lutsr.lutfile import Lut, default_lut_path, load_lut
from lutsr.spec import levels_for_interval, rotation_neighbor_offsets

__all__ = ["upscale", "compile_lut", "resolve_lut"]

log = logging.getLogger(__name__)


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


def _fold_patches(tabs: np.ndarray, s: int, offset: int) -> np.ndarray:
    """ExpandConv is linear: fold a row's 9 shifted s x s maps into one (s+2) x (s+2) int16 patch.

    Map g = (gy, gx) lands with its top-left at patch position (gy, gx). Values are signed
    (offset removed); a patch cell sums at most 9 cells, so int16 is exact.
    """
    r = tabs.shape[:2]
    t = tabs.reshape(*r, 3, 3, s, s).astype(np.int16) - np.int16(offset)
    patches = np.zeros((*r, s + 2, s + 2), dtype=np.int16)
    for gy in range(3):
        for gx in range(3):
            patches[:, :, gy : gy + s, gx : gx + s] += t[:, :, gy, gx]
    return patches


def compile_lut(lut: Lut) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per stage, per unit: pre-rotated tables ``(4, rows, cells)``, offsets ``(4, n, 2)`` int64, and
    for ExpandConv units the folded patches ``(4, rows, s+2, s+2)`` int16 (else ``None``).

    Rotation k's table has its cells rotated back by -k (for ExpandConv units the 3x3 grid
    of maps too), and the kernel's offsets are expressed in the original frame, so the
    kernels never rotate or copy the image. Cached on the ``Lut`` (built once per table).
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
            table = lut.tables[pos]
            pos += 1
            tabs = np.stack([_rotate_cells(table, k, unit.expand, s) for k in range(method.rotations)])
            offs = np.array([rotation_neighbor_offsets(unit.kernel.offsets, k) for k in range(method.rotations)],
                            dtype=np.int64)
            patches = _fold_patches(tabs, s, method.value_offset) if unit.expand else None
            units.append((tabs, offs, patches))
        out.append(units)
    lut._compiled["stages"] = out
    return out


@njit(inline="always")
def _pad(i, n, reflect):  # pragma: no cover - compiled
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
    if i > n - 1:
        return n - 1
    return i


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


@njit(parallel=True, cache=True, nogil=True)
def _block_kernel(x, tabs, offs, reflect, interval, levels, cell_off, s_out, acc):  # pragma: no cover
    """Add one unit's 4 rotations to ``acc`` (H*s_out, W*s_out, C) int32; every LR pixel owns its block.

    Per LR pixel the 4 rotations x (n+1) interpolation vertices are summed into a local
    block first (vertex-major, so the inner loop runs over a contiguous table row), then
    the block is added to ``acc`` once.
    """
    h, w, nc = x.shape
    n = offs.shape[1]
    q = 1 << interval
    ncell = tabs.shape[2]
    for y in prange(h):
        strides = _strides(n, levels)
        frac = np.empty(n, np.int64)
        order = np.empty(n, np.int64)
        rows = np.empty(n + 1, np.int64)
        wts = np.empty(n + 1, np.int64)
        local = np.empty(ncell, np.int64)
        for c in range(nc):
            for xx in range(w):
                local[:] = 0
                wsum = 0
                for k in range(4):
                    m = _gather(x, c, y, xx, offs, k, n, h, w, reflect, interval, q, strides, frac, order, rows, wts)
                    tk = tabs[k]
                    for j in range(m):
                        wt = wts[j]
                        wsum += wt
                        row = tk[rows[j]]
                        for cell in range(ncell):
                            local[cell] += wt * np.int64(row[cell])
                # the offset of every cell is removed once: sum of weights x offset
                for cell in range(ncell):
                    oy = cell // s_out
                    ox = cell - oy * s_out
                    acc[y * s_out + oy, xx * s_out + ox, c] += local[cell] - wsum * cell_off


@njit(inline="always")
def _expand_pixel(x, c, yy, xx, tabs, offs, reflect, interval, cell_off, s, strides, frac, order, rows, wts):  # pragma: no cover
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
                    tot += wts[j] * (np.int64(tabs[k, rows[j], cell]) - cell_off)
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
def _round_div(num, d, bias, half_even):  # pragma: no cover - compiled
    """clip(round(num / d + bias), 0, 255) in integers (half up or half even)."""
    num = num + bias * d
    r = num // d
    tr = 2 * (num - r * d)
    if tr > d or (tr == d and ((not half_even) or (r & 1) == 1)):
        r += 1
    if r < 0:
        r = 0
    elif r > 255:
        r = 255
    return r


@njit(parallel=True, cache=True, nogil=True)
def _expand_kernel(x, tabs, offs, reflect, interval, levels, cell_off, s, acc):  # pragma: no cover
    """Add one ExpandConv unit's 4 rotations to ``acc`` by gathering (the general, slow path)."""
    h, w, nc = x.shape
    n = offs.shape[1]
    for yy in prange(h * s):
        strides = _strides(n, levels)
        frac = np.empty(n, np.int64)
        order = np.empty(n, np.int64)
        rows = np.empty(n + 1, np.int64)
        wts = np.empty(n + 1, np.int64)
        for c in range(nc):
            for xx in range(w * s):
                acc[yy, xx, c] += _expand_pixel(x, c, yy, xx, tabs, offs, reflect, interval, cell_off, s, strides,
                                                frac, order, rows, wts)


@njit(parallel=True, cache=True, nogil=True)
def _expand_border_kernel(x, tabs, offs, reflect, interval, levels, cell_off, s, d, bias, half_even, out):  # pragma: no cover
    """Exact outputs of the HR border pixels (first/last row and column), where ExpandConv reflects."""
    h, w, nc = x.shape
    n = offs.shape[1]
    hs = h * s
    ws = w * s
    for yy in prange(hs):
        strides = _strides(n, levels)
        frac = np.empty(n, np.int64)
        order = np.empty(n, np.int64)
        rows = np.empty(n + 1, np.int64)
        wts = np.empty(n + 1, np.int64)
        full = yy == 0 or yy == hs - 1
        step = 1 if full else ws - 1
        for c in range(nc):
            for xx in range(0, ws, step):
                tot = _expand_pixel(x, c, yy, xx, tabs, offs, reflect, interval, cell_off, s, strides, frac, order,
                                    rows, wts)
                out[yy, xx, c] = _round_div(tot, d, bias, half_even)


@njit(parallel=True, cache=True, nogil=True)
def _expand_patch_kernel(x, patches, offs, reflect, interval, levels, s, d, bias, half_even, out):  # pragma: no cover
    """Fast single-unit ExpandConv stage: every LR pixel adds its 4 rotated (s+2)^2 patches.

    Each parallel task owns one block row of the output (s HR rows) and adds the patch rows
    of LR rows Y-1, Y, Y+1 that land in it, so no two tasks write the same pixel. Pixels on
    the image border are wrong here (ExpandConv reflects there) and are overwritten by
    ``_expand_border_kernel``.
    """
    h, w, nc = x.shape
    n = offs.shape[1]
    q = 1 << interval
    p = s + 2
    ws = w * s
    # rescale by shifting when the divisor is a power of two and the rounding is half up (ECLUT)
    shift = -1
    if bias == 0 and not half_even and (d & (d - 1)) == 0:
        shift = 0
        while (1 << shift) < d:
            shift += 1
    half = d // 2
    for yb in prange(h):
        strides = _strides(n, levels)
        frac = np.empty(n, np.int64)
        order = np.empty(n, np.int64)
        rows = np.empty(n + 1, np.int64)
        wts = np.empty(n + 1, np.int64)
        buf = np.empty((s, ws + 2), np.int32)
        ridx = np.empty((3, 4, w), np.int64)
        for c in range(nc):
            buf[:, :] = 0
            if q == 1:
                # direct lookup: row indices of LR rows yb-1 .. yb+1 first, then whole patch rows
                for t in range(3):
                    ly = yb - 1 + t
                    if ly < 0 or ly >= h:
                        continue
                    for k in range(4):
                        for lx in range(w):
                            r = 0
                            for i in range(n):
                                yy = _pad(ly + offs[k, i, 0], h, reflect)
                                xq = _pad(lx + offs[k, i, 1], w, reflect)
                                r += np.int64(x[yy, xq, c]) * strides[i]
                            ridx[t, k, lx] = r
                for t in range(3):
                    ly = yb - 1 + t
                    if ly < 0 or ly >= h:
                        continue
                    lo = max(0, (yb - ly) * s + 1)
                    hi = min(p, (yb - ly) * s + 1 + s)
                    base_row = ly * s - 1 - yb * s
                    for k in range(4):
                        pk = patches[k]
                        for lx in range(w):
                            prow = pk[ridx[t, k, lx]]
                            col = lx * s
                            for pr in range(lo, hi):
                                b = buf[base_row + pr]
                                src = prow[pr]
                                for pc in range(p):
                                    b[col + pc] += src[pc]
            else:
                for ly in range(max(yb - 1, 0), min(yb + 2, h)):
                    lo = max(0, (yb - ly) * s + 1)
                    hi = min(p, (yb - ly) * s + 1 + s)
                    base_row = ly * s - 1 - yb * s
                    for lx in range(w):
                        col = lx * s
                        for k in range(4):
                            m = _gather(x, c, ly, lx, offs, k, n, h, w, reflect, interval, q, strides, frac, order,
                                        rows, wts)
                            for j in range(m):
                                wt = np.int32(wts[j])
                                pw = patches[k, rows[j]]
                                for pr in range(lo, hi):
                                    b = buf[base_row + pr]
                                    src = pw[pr]
                                    for pc in range(p):
                                        b[col + pc] += wt * np.int32(src[pc])
            for br in range(s):
                orow = out[yb * s + br]
                brow = buf[br]
                if shift >= 0:
                    for xx in range(ws):
                        v = (brow[xx + 1] + half) >> shift
                        if v < 0:
                            v = 0
                        elif v > 255:
                            v = 255
                        orow[xx, c] = v
                else:
                    for xx in range(ws):
                        orow[xx, c] = _round_div(np.int64(brow[xx + 1]), d, bias, half_even)


@njit(parallel=True, cache=True, nogil=True)
def _rescale_kernel(acc, d, bias, half_even, out):  # pragma: no cover - compiled
    """out = clip(round(acc / d + bias), 0, 255), exact integer rounding (half up or half even)."""
    h, w, nc = acc.shape
    for y in prange(h):
        for xx in range(w):
            for c in range(nc):
                out[y, xx, c] = _round_div(np.int64(acc[y, xx, c]), d, bias, half_even)


def _run(lut: Lut, src: np.ndarray) -> np.ndarray:
    method = lut.method
    q, levels = levels_for_interval(lut.interval)
    x = src
    for stage, units in zip(method.stages, compile_lut(lut)):
        s_out = lut.scale if stage.upscale else 1
        reflect = stage.pad_mode == "reflect"
        d = q * stage.divisor
        half_even = stage.rounding == "half_even"
        out = np.empty((x.shape[0] * s_out, x.shape[1] * s_out, x.shape[2]), dtype=np.uint8)
        if len(stage.units) == 1 and stage.units[0].expand:
            tabs, offs, patches = units[0]
            _expand_patch_kernel(x, patches, offs, reflect, lut.interval, levels, s_out, d, stage.bias, half_even, out)
            _expand_border_kernel(x, tabs, offs, reflect, lut.interval, levels, method.value_offset, s_out, d,
                                  stage.bias, half_even, out)
        else:
            acc = np.zeros(out.shape, dtype=np.int32)
            for unit, (tabs, offs, _) in zip(stage.units, units):
                kernel = _expand_kernel if unit.expand else _block_kernel
                kernel(x, tabs, offs, reflect, lut.interval, levels, method.value_offset, s_out, acc)
            _rescale_kernel(acc, d, stage.bias, half_even, out)
        x = out
    return x


def resolve_lut(lut: Lut | str | os.PathLike | None, scale: int = 4) -> Lut:
    """A ``Lut`` as given, loaded from a path, or the shipped default for ``scale``."""
    if isinstance(lut, Lut):
        return lut
    if lut is None:
        return _load_default(scale)
    return load_lut(Path(lut))


_DEFAULTS: dict[int, Lut] = {}


def _load_default(scale: int) -> Lut:
    if scale not in _DEFAULTS:
        _DEFAULTS[scale] = load_lut(default_lut_path(scale))
    return _DEFAULTS[scale]


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise LutsrError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise LutsrError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise LutsrError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        raise LutsrError(f"expected 1, 3 or 4 channels, got {image.shape[2]}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LutsrError(f"image has no pixels (shape {image.shape})")
    return image


def upscale(image: np.ndarray, lut: Lut | str | os.PathLike | None = None, threads: int | None = None) -> np.ndarray:
    """Upscale an 8-bit image with a LUT.

    Args:
        image: uint8 ``(H, W)`` gray, ``(H, W, C)`` with C in 1..4 (RGB; RGBA's alpha is
            resized with OpenCV bicubic, the colour channels with the LUT), values 0..255.
        lut: a loaded :class:`~lutsr.lutfile.Lut`, a path to a LUT file, or ``None`` for
            the shipped default x4 LUT.
        threads: worker threads for the kernel (default: Numba's default, all cores).

    Returns:
        uint8 ``(H*s, W*s)`` or ``(H*s, W*s, C)``, where s is the LUT's scale.

    Raises:
        LutsrError: the image or the LUT is invalid (message says expected vs. got).
    """
    img = _check_image(image)
    lut = resolve_lut(lut)
    s = lut.scale
    alpha = None
    if img.ndim == 3 and img.shape[2] == 4:
        import cv2

        alpha = cv2.resize(img[..., 3], (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)
        img = img[..., :3]
    src = np.ascontiguousarray(img if img.ndim == 3 else img[..., None])
    if threads is not None:
        if threads < 1:
            raise LutsrError(f"threads must be >= 1, got {threads}")
        prev = numba.get_num_threads()
        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        try:
            out = _run(lut, src)
        finally:
            numba.set_num_threads(prev)
    else:
        out = _run(lut, src)
    if alpha is not None:
        return np.concatenate([out, alpha[..., None]], axis=2)
    if image.ndim == 2:
        return out[..., 0]
    return out
