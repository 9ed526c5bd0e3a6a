"""The one source of truth for kernel shapes, padding, rotations and value encodings.

Everything that decides *which pixels a table reads* and *how table values turn into
output pixels* lives here, and is imported by the network (``lutsr.models``), the
exporter (``lutsr.export``), the NumPy reference runtime (``lutsr.reference``) and
the Numba runtime (``lutsr.runtime``). The written form of this specification is
``docs/eclut.md``.

This module only depends on NumPy: the upscale path imports it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "KernelShape",
    "KERNELS",
    "ECLUT",
    "EclutSpec",
    "levels_for_interval",
    "rotation_neighbor_offsets",
    "EXPAND_DIRECTIONS",
    "reflect_index",
]


@dataclass(frozen=True)
class KernelShape:
    """Which LR pixels a LUT is indexed by, relative to the current pixel (y, x).

    Attributes:
        name: short name ("2x1", "S", ...).
        offsets: ``(dy, dx)`` of each input, the current pixel first. The table row of
            inputs ``(v0, v1, ...)`` is ``sum(v_i * L**(k-1-i))`` (``v0`` most significant).
        pad_mode: how the rotated LR image is padded at the bottom/right before lookup
            (``"edge"`` replicates the last row/column; works on 1-pixel images).
    """

    name: str
    offsets: tuple[tuple[int, int], ...]
    pad_mode: str = "edge"

    @property
    def n_inputs(self) -> int:
        return len(self.offsets)

    @property
    def pad_bottom(self) -> int:
        return max(dy for dy, _ in self.offsets)

    @property
    def pad_right(self) -> int:
        return max(dx for _, dx in self.offsets)

    @property
    def height(self) -> int:
        return self.pad_bottom + 1

    @property
    def width(self) -> int:
        return self.pad_right + 1


#: Kernel shapes by name. ECLUT reads the current pixel and the one below it.
KERNELS: dict[str, KernelShape] = {
    "2x1": KernelShape("2x1", ((0, 0), (1, 0)), pad_mode="edge"),
}


def levels_for_interval(interval: int) -> tuple[int, int]:
    """Return ``(q, L)`` for a sampling interval (bits dropped from each 8-bit input).

    ``q = 2**interval`` is the step between sampled input values and
    ``L = 256 // q + 1`` the number of levels per input (the last level, 256, is
    evaluated at 255). Interval 0 means every value has its own row (L = 257);
    this is what the ECLUT paper calls "interval 1" (a step of 1).
    """
    if not isinstance(interval, (int, np.integer)) or not 0 <= int(interval) <= 8:
        raise ValueError(f"interval must be an integer in 0..8, got {interval!r}")
    q = 2 ** int(interval)
    return q, 256 // q + 1


#: ExpandConv directions: map g (0..8) is read as a 3x3 grid, g = 3*(dy+1) + (dx+1).
EXPAND_DIRECTIONS: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
)


def reflect_index(i: np.ndarray | int, n: int):
    """Reflect an index that is at most one step outside ``0..n-1`` (``-1 -> 1``, ``n -> n-2``).

    Matches ``torch.nn.functional.pad(mode="reflect")`` and ``np.pad(mode="reflect")``
    for a pad of one. Requires ``n >= 2`` (HR sizes always are, since scale >= 2).
    """
    i = np.where(i < 0, -i, i)
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


def rotation_neighbor_offsets(offsets: tuple[tuple[int, int], ...], k: int) -> tuple[tuple[int, int], ...]:
    """Express kernel offsets of the image rotated by ``k*90`` degrees in original coordinates.

    With ``R = np.rot90(I, k)`` (counter-clockwise), the pixel ``R[i+dy, j+dx]`` is the
    pixel ``I[y+oy, x+ox]`` when ``R[i, j] = I[y, x]``; this returns the ``(oy, ox)``.
    The runtime uses it to read rotated neighbourhoods without rotating the image.
    """
    out = []
    for dy, dx in offsets:
        # rot90 by k maps original displacement (oy, ox) to rotated displacement:
        # k=1: (oy, ox) -> (-ox, oy). Invert by applying the rotation 4-k times.
        oy, ox = dy, dx
        for _ in range(k % 4):
            # inverse of one ccw rotation of displacement: (dy, dx) -> (dx, -dy)
            oy, ox = ox, -oy
        out.append((oy, ox))
    return tuple(out)


@dataclass(frozen=True)
class EclutSpec:
    """The lutsr ECLUT specification (see ``docs/eclut.md``).

    Network output ``o`` (per ExpandConv map, per HR sub-pixel; ``o`` is about the pixel
    value in 0..1) becomes a table cell ``u = clip(floor(alpha*o + 0.5), -128, 127) + 128``
    stored as uint8 ("excess-128"). At run time the four rotations x nine ExpandConv maps
    give 36 cells per HR pixel; ``acc = sum(u) - 36*128`` and the output pixel is
    ``clip((acc + 2) >> 2, 0, 255)``.
    """

    kernel: KernelShape = KERNELS["2x1"]
    alpha: float = 255.0 / 9.0
    offset: int = 128
    n_maps: int = 9
    n_rotations: int = 4
    shift: int = 2  # (acc + 2) >> 2 == round-half-up(acc / 4)
    value_encoding: str = "uint8-excess128"

    def n_cells(self, scale: int) -> int:
        """Values per table row: ``9 * scale**2``, ordered (map g, sub-row i, sub-col j)."""
        return self.n_maps * scale * scale

    def quantize(self, o: np.ndarray) -> np.ndarray:
        """Float network outputs -> uint8 table cells (NumPy version of the network's rule)."""
        v = np.floor(np.asarray(o, dtype=np.float64) * self.alpha + 0.5)
        return (np.clip(v, -self.offset, 255 - self.offset) + self.offset).astype(np.uint8)

    def rescale(self, acc: np.ndarray) -> np.ndarray:
        """Signed accumulator (sum of 36 signed cells) -> uint8 pixels: ``clip((acc+2)>>2)``."""
        acc = np.asarray(acc, dtype=np.int64)
        half = 1 << (self.shift - 1)
        return np.clip((acc + half) >> self.shift, 0, 255).astype(np.uint8)


ECLUT = EclutSpec()
