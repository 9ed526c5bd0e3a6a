"""Slow, readable NumPy reference of the LUT runtime: the specification as code.

For every stage of a method, for every unit (table) and rotation: rotate the image, pad
it at the bottom/right, read the kernel's pixels, look the table up (simplex
interpolation when the interval is coarser than 1), arrange the cells into HR blocks
(ExpandConv for ECLUT), rotate back, and add to an integer accumulator; then rescale the
accumulator with the stage's rule. Literally as ``docs/eclut.md`` and
``docs/methods.md`` state. The Numba runtime (``lutsr.runtime``) must match this bit for
bit; tests compare the two.
"""

from __future__ import annotations

import numpy as np

from lutsr.spec import (EXPAND_DIRECTIONS, MethodSpec, StageSpec, UnitSpec, levels_for_interval, reflect_index,
                         simplex_reference)

__all__ = ["simplex_reference", "rescale_reference", "stage_accumulate_reference", "upscale_reference",
           "eclut_upscale_reference"]


def rescale_reference(acc: np.ndarray, q: int, divisor: int, bias: int, rounding: str) -> np.ndarray:
    """``clip(round(acc / (q*divisor) + bias), 0, 255)`` in exact integer arithmetic -> uint8."""
    d = q * divisor
    num = np.asarray(acc, dtype=np.int64) + bias * d
    r = num // d
    twice_rem = 2 * (num - r * d)
    if rounding == "half_up":
        r = r + (twice_rem >= d)
    elif rounding == "half_even":
        r = r + ((twice_rem > d) | ((twice_rem == d) & (r % 2 == 1)))
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    return np.clip(r, 0, 255).astype(np.uint8)


def _expand(maps: np.ndarray) -> np.ndarray:
    """Sum of the nine maps, map g shifted one HR pixel toward direction g (reflected borders)."""
    _, hs, ws = maps.shape
    ys = np.arange(hs)
    xs = np.arange(ws)
    out = np.zeros((hs, ws), dtype=np.int64)
    for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
        out += maps[g][np.ix_(reflect_index(ys - dy, hs), reflect_index(xs - dx, ws))]
    return out


def _unit_rotation(rotated: np.ndarray, table: np.ndarray, offset: int, stage: StageSpec, unit: UnitSpec,
                   scale: int, interval: int) -> np.ndarray:
    """One unit on one rotated image -> int64 HR (or same-size) contribution, not divided by q."""
    k = unit.kernel
    h, w = rotated.shape
    padded = np.pad(rotated, ((0, k.pad_bottom), (0, k.pad_right)), mode=stage.pad_mode)
    values = np.stack([padded[dy : dy + h, dx : dx + w].ravel() for dy, dx in k.offsets], axis=1)
    rows, weights = simplex_reference(values, interval)
    cells = table[rows].astype(np.int64) - offset  # (N, n+1, cells)
    summed = np.einsum("nv,nvc->nc", weights, cells)  # (N, cells)
    s = scale if stage.upscale else 1
    if unit.expand:
        maps = summed.reshape(h, w, 9, s, s).transpose(2, 0, 3, 1, 4).reshape(9, h * s, w * s)
        return _expand(maps)
    return summed.reshape(h, w, s, s).transpose(0, 2, 1, 3).reshape(h * s, w * s)


def stage_accumulate_reference(channel: np.ndarray, tables: list[np.ndarray], method: MethodSpec, stage: StageSpec,
                               scale: int, interval: int) -> np.ndarray:
    """Integer accumulator of one stage on one channel: sum over units x rotations (int64)."""
    acc = None
    for unit, table in zip(stage.units, tables):
        for r in range(method.rotations):
            part = np.rot90(_unit_rotation(np.rot90(channel, r), table, method.value_offset, stage, unit, scale,
                                           interval), -r)
            acc = part if acc is None else acc + part
    return acc


def upscale_reference(image: np.ndarray, lut) -> np.ndarray:
    """Upscale a uint8 ``(H, W)`` or ``(H, W, C)`` image with a ``Lut`` (any method, any interval).

    Returns uint8 ``(H*s, W*s[, C])``; every channel is processed independently. LUT networks
    (format 2) run through ``lutsr.net.reference.run_network``.
    """
    if lut.is_network:
        from lutsr.net.reference import run_network

        img = np.asarray(image)
        if img.ndim == 2:
            return run_network(lut.network, img)
        return np.stack([run_network(lut.network, img[..., c]) for c in range(img.shape[2])], axis=-1)
    method = lut.method
    q, _ = levels_for_interval(lut.interval)
    img = np.asarray(image)
    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    outs = []
    for x in chans:
        pos = 0
        for stage in method.stages:
            tabs = lut.tables[pos : pos + len(stage.units)]
            pos += len(stage.units)
            acc = stage_accumulate_reference(x, tabs, method, stage, lut.scale, lut.interval)
            x = rescale_reference(acc, q, stage.divisor, stage.bias, stage.rounding)
        outs.append(x)
    return outs[0] if img.ndim == 2 else np.stack(outs, axis=-1)


def eclut_upscale_reference(image: np.ndarray, table: np.ndarray, scale: int) -> np.ndarray:
    """Upscale with a bare ECLUT interval-0 table ``(257*257, 9*s*s)`` uint8 (convenience)."""
    from lutsr.lut.file import Lut, make_eclut_header

    return upscale_reference(image, Lut(header=make_eclut_header(scale), tables=[table]))
