"""The CPU runtime: Numba kernels that upscale with a LUT (no torch).

Public entry point: :func:`upscale`. The kernels compute exactly what the NumPy
reference (``lutsr.reference``) computes; the reference is the specification.

How the ECLUT kernel avoids rotating the image: for rotation k the table is
pre-rotated once per process ("compiled" on first use and cached on the ``Lut``): the
3x3 grid of ExpandConv maps and each s x s block are rotated back by -k, and the
"pixel below" of the rotated frame becomes a neighbour offset in the original frame
(``spec.rotation_neighbor_offsets``). Each output pixel then gathers 4 x 9 cells.
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
from lutsr.spec import ECLUT, rotation_neighbor_offsets

__all__ = ["upscale", "compile_eclut", "resolve_lut"]

log = logging.getLogger(__name__)


def compile_eclut(lut: Lut) -> tuple[np.ndarray, np.ndarray]:
    """Pre-rotated tables ``(4, rows, 3, 3, s, s)`` uint8 and neighbour offsets ``(4, 2)`` int64.

    Cached on the ``Lut`` object, so it is built once per loaded table.
    """
    cached = lut._compiled.get("eclut")
    if cached is not None:
        return cached
    s = lut.scale
    t = lut.table.reshape(-1, 3, 3, s, s)
    tabs = np.empty((ECLUT.n_rotations,) + t.shape, dtype=np.uint8)
    noff = np.empty((ECLUT.n_rotations, 2), dtype=np.int64)
    below = ECLUT.kernel.offsets[1]
    for k in range(ECLUT.n_rotations):
        tabs[k] = np.rot90(np.rot90(t, -k, axes=(1, 2)), -k, axes=(3, 4))
        noff[k] = rotation_neighbor_offsets((below,), k)[0]
    lut._compiled["eclut"] = (tabs, noff)
    return tabs, noff


@njit(parallel=True, cache=True, nogil=True)
def _eclut_kernel(img, tabs, noff, scale, levels, bias, out):  # pragma: no cover - compiled
    """img (H, W, C) uint8 -> out (H*s, W*s, C) uint8. ``bias`` = 36 * offset."""
    h, w, nc = img.shape
    hs = h * scale
    ws = w * scale
    for yy in prange(hs):
        for c in range(nc):
            for xx in range(ws):
                acc = -bias
                for gy in range(3):
                    ys = yy - (gy - 1)
                    if ys < 0:
                        ys = -ys
                    elif ys > hs - 1:
                        ys = 2 * (hs - 1) - ys
                    ly = ys // scale
                    oy = ys - ly * scale
                    for gx in range(3):
                        xs = xx - (gx - 1)
                        if xs < 0:
                            xs = -xs
                        elif xs > ws - 1:
                            xs = 2 * (ws - 1) - xs
                        lx = xs // scale
                        ox = xs - lx * scale
                        a = np.int64(img[ly, lx, c]) * levels
                        for k in range(4):
                            ny = min(max(ly + noff[k, 0], 0), h - 1)
                            nx = min(max(lx + noff[k, 1], 0), w - 1)
                            b = np.int64(img[ny, nx, c])
                            acc += np.int64(tabs[k, a + b, gy, gx, oy, ox])
                v = (acc + 2) >> 2
                if v < 0:
                    v = 0
                elif v > 255:
                    v = 255
                out[yy, xx, c] = v


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
    if lut.method != "eclut":
        raise LutsrError(f"{lut}: method {lut.method!r} is not supported by this runtime")
    s = lut.scale
    alpha = None
    if img.ndim == 3 and img.shape[2] == 4:
        import cv2

        alpha = cv2.resize(img[..., 3], (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)
        img = img[..., :3]
    src = np.ascontiguousarray(img if img.ndim == 3 else img[..., None])
    tabs, noff = compile_eclut(lut)
    out = np.empty((src.shape[0] * s, src.shape[1] * s, src.shape[2]), dtype=np.uint8)
    levels = int(lut.header["levels"])
    bias = ECLUT.n_rotations * ECLUT.n_maps * ECLUT.offset
    if threads is not None:
        if threads < 1:
            raise LutsrError(f"threads must be >= 1, got {threads}")
        prev = numba.get_num_threads()
        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        try:
            _eclut_kernel(src, tabs, noff, s, levels, bias, out)
        finally:
            numba.set_num_threads(prev)
    else:
        _eclut_kernel(src, tabs, noff, s, levels, bias, out)
    if alpha is not None:
        return np.concatenate([out, alpha[..., None]], axis=2)
    if image.ndim == 2:
        return out[..., 0]
    return out
