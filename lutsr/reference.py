"""Slow, readable NumPy reference of the ECLUT runtime: the specification as code.

It rotates the image, pads it, looks up every row, pixel-shuffles the nine maps,
applies ExpandConv with reflected borders, rotates back, sums and rescales -- literally
as ``docs/eclut.md`` states. The Numba runtime (``lutsr.runtime``) must match it bit
for bit; tests compare the two.
"""

from __future__ import annotations

import numpy as np

from lutsr.spec import ECLUT, EXPAND_DIRECTIONS, reflect_index

__all__ = ["eclut_accumulate_reference", "eclut_upscale_reference"]


def _lookup_maps(rotated: np.ndarray, table: np.ndarray, scale: int, levels: int) -> np.ndarray:
    """Signed cells of every LR pixel of a rotated image, shuffled to ``(9, h*s, w*s)`` int64."""
    k = ECLUT.kernel
    padded = np.pad(rotated, ((0, k.pad_bottom), (0, k.pad_right)), mode=k.pad_mode)
    h, w = rotated.shape
    row = np.zeros((h, w), dtype=np.int64)
    for dy, dx in k.offsets:  # current pixel first: most significant
        row = row * levels + padded[dy : dy + h, dx : dx + w].astype(np.int64)
    cells = table[row].astype(np.int64) - ECLUT.offset  # (h, w, 9*s*s)
    cells = cells.reshape(h, w, ECLUT.n_maps, scale, scale)
    return cells.transpose(2, 0, 3, 1, 4).reshape(ECLUT.n_maps, h * scale, w * scale)


def _expand(maps: np.ndarray) -> np.ndarray:
    """Sum of the nine maps, map g shifted one HR pixel toward direction g (reflected borders)."""
    _, hs, ws = maps.shape
    ys = np.arange(hs)
    xs = np.arange(ws)
    out = np.zeros((hs, ws), dtype=np.int64)
    for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
        yi = reflect_index(ys - dy, hs)
        xi = reflect_index(xs - dx, ws)
        out += maps[g][np.ix_(yi, xi)]
    return out


def eclut_accumulate_reference(channel: np.ndarray, table: np.ndarray, scale: int) -> np.ndarray:
    """Integer accumulator ``acc`` (sum of 36 signed cells) of one channel, ``(H*s, W*s)`` int64."""
    levels = int(round(np.sqrt(table.shape[0])))
    acc = np.zeros((channel.shape[0] * scale, channel.shape[1] * scale), dtype=np.int64)
    for k in range(ECLUT.n_rotations):
        rotated = np.rot90(channel, k)
        expanded = _expand(_lookup_maps(rotated, table, scale, levels))
        acc += np.rot90(expanded, -k)
    return acc


def eclut_upscale_reference(image: np.ndarray, table: np.ndarray, scale: int) -> np.ndarray:
    """Upscale a uint8 ``(H, W)`` or ``(H, W, C)`` image with an ECLUT table (interval 0).

    Args:
        image: uint8, values 0..255.
        table: uint8 ``(257*257, 9*s*s)``.
        scale: the table's scale factor.
    Returns:
        uint8 ``(H*s, W*s[, C])``.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        return ECLUT.rescale(eclut_accumulate_reference(img, table, scale))
    return np.stack([ECLUT.rescale(eclut_accumulate_reference(img[..., c], table, scale))
                     for c in range(img.shape[2])], axis=-1)
