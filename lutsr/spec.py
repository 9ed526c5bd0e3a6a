"""The one source of truth for kernel shapes, padding, rotations, methods and value encodings.

Everything that decides *which pixels a table reads* and *how table values turn into
output pixels* lives here as data, and is imported by the networks (``lutsr.train.networks``),
the exporter (``lutsr.export``), the importer of published tables (``lutsr.lut.importer``),
the NumPy reference runtime (``lutsr.runtime.reference``) and the Numba runtime
(``lutsr.runtime``). Geometry that follows from a method (``rotate_cells``,
``receptive_field``) lives here too. Written forms: ``docs/eclut.md`` and ``docs/methods.md``.

This module only depends on NumPy: the upscale path imports it without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "KernelShape",
    "KERNELS",
    "UnitSpec",
    "StageSpec",
    "MethodSpec",
    "METHODS",
    "get_method",
    "levels_for_interval",
    "level_values",
    "rotation_neighbor_offsets",
    "EXPAND_DIRECTIONS",
    "reflect_index",
    "pad_index",
    "rotate_cells",
    "receptive_field",
    "trainable_methods",
    "importable_methods",
    "fittable_methods",
    "NetworkFamily",
    "NETWORK_FAMILIES",
    "simplex_reference",
]


@dataclass(frozen=True)
class KernelShape:
    """Which LR pixels a LUT is indexed by, relative to the current pixel (y, x).

    Attributes:
        name: short name ("2x1", "S", "F", "V", "D", "Y").
        offsets: ``(dy, dx)`` of each input, the current pixel first. The table row of
            level indices ``(l0, l1, ...)`` is ``sum(l_i * L**(k-1-i))`` (``l0`` most significant).
    """

    name: str
    offsets: tuple[tuple[int, int], ...]

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

    def to_json(self) -> dict:
        return {"name": self.name, "offsets": [list(o) for o in self.offsets]}


#: Kernel shapes by name.
KERNELS: dict[str, KernelShape] = {
    # ECLUT: the current pixel and the one below it.
    "2x1": KernelShape("2x1", ((0, 0), (1, 0))),
    # SR-LUT
    "S": KernelShape("S", ((0, 0), (0, 1), (1, 0), (1, 1))),
    "F": KernelShape("F", ((0, 0), (0, 1), (0, 2))),
    "V": KernelShape("V", ((0, 0), (0, 1))),
    # MuLUT
    "D": KernelShape("D", ((0, 0), (0, 2), (2, 0), (2, 2))),
    "Y": KernelShape("Y", ((0, 0), (1, 1), (1, 2), (2, 1))),
}


def levels_for_interval(interval: int) -> tuple[int, int]:
    """Return ``(q, L)`` for a sampling interval (bits dropped from each 8-bit input).

    ``q = 2**interval`` is the step between sampled input values and
    ``L = 256 // q + 1`` the number of levels per input (the last level, 256, is
    evaluated at 255). Interval 0 means every value has its own row (L = 257);
    this is what the ECLUT paper calls "interval 1" (a step of 1).
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or not 0 <= int(interval) <= 8:
        raise ValueError(f"interval must be an integer in 0..8, got {interval!r}")
    q = 2 ** int(interval)
    return q, 256 // q + 1


def level_values(interval: int) -> np.ndarray:
    """Input value of each sampling level: ``0, q, 2q, ...``, the last (256) clamped to 255 (int64)."""
    q, levels = levels_for_interval(interval)
    return np.minimum(np.arange(levels, dtype=np.int64) * q, 255)


#: ExpandConv directions: map g (0..8) is read as a 3x3 grid, g = 3*(dy+1) + (dx+1).
EXPAND_DIRECTIONS: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
)


def reflect_index(i, n: int):
    """Reflect an index into ``0..n-1`` like ``np.pad(mode="reflect")`` (``-1 -> 1``, ``n -> n-2``).

    Works for any distance (the pattern is periodic with period ``2*(n-1)``) and for
    ``n == 1`` (everything maps to 0).
    """
    if n == 1:
        return np.zeros_like(np.asarray(i))
    p = 2 * (n - 1)
    i = np.mod(i, p)
    return np.where(i > n - 1, p - i, i)


def pad_index(i, n: int, mode: str):
    """Index into ``0..n-1`` for padding mode ``"edge"`` (clamp) or ``"reflect"``."""
    if mode == "edge":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":
        return reflect_index(i, n)
    raise ValueError(f"unknown pad mode {mode!r}")


def rotation_neighbor_offsets(offsets: tuple[tuple[int, int], ...], k: int) -> tuple[tuple[int, int], ...]:
    """Express kernel offsets of the image rotated by ``k*90`` degrees in original coordinates.

    With ``R = np.rot90(I, k)`` (counter-clockwise), the pixel ``R[i+dy, j+dx]`` is the
    pixel ``I[y+oy, x+ox]`` when ``R[i, j] = I[y, x]``; this returns the ``(oy, ox)``.
    The runtime uses it to read rotated neighbourhoods without rotating the image.
    """
    out = []
    for dy, dx in offsets:
        oy, ox = dy, dx
        for _ in range(k % 4):
            # inverse of one counter-clockwise rotation of a displacement
            oy, ox = ox, -oy
        out.append((oy, ox))
    return tuple(out)


# --------------------------------------------------------------------------------------
# Methods as data
# --------------------------------------------------------------------------------------

#: Value encodings: how a stored cell becomes a signed value (``stored - offset``).
VALUE_ENCODINGS: dict[str, tuple[str, int]] = {
    "uint8-excess128": ("uint8", 128),
    "int8": ("int8", 0),
}


@dataclass(frozen=True)
class UnitSpec:
    """One table of a stage: a kernel shape, looked up in every rotation.

    Attributes:
        name: table name within the stage ("2x1", "s", "d", "y" ...).
        kernel: the kernel shape.
        expand: ECLUT ExpandConv: each row holds 9 maps per HR sub-pixel, shifted one HR
            pixel toward their direction (borders reflect) and summed.
    """

    name: str
    kernel: KernelShape
    expand: bool = False

    @property
    def maps(self) -> int:
        """Maps per row: 9 shifted maps for an ExpandConv unit, 1 otherwise."""
        return len(EXPAND_DIRECTIONS) if self.expand else 1

    def to_json(self) -> dict:
        return {"name": self.name, "kernel": self.kernel.to_json(), "expand": self.expand}


@dataclass(frozen=True)
class StageSpec:
    """A stage: several units x 4 rotations summed into one integer accumulator, then rescaled.

    ``pixel = clip(round((acc / q) / divisor + bias), 0, 255)`` computed exactly in integers
    (``acc`` holds interpolation sums not yet divided by ``q``), rounding ``half_up``
    (ECLUT's ``(acc + 2) >> 2``) or ``half_even`` (NumPy's ``np.round``, as the published
    SR-LUT and MuLUT scripts round).

    Attributes:
        units: the tables of this stage.
        upscale: True if the stage enlarges by the LUT's scale (rows hold s*s cells per
            map), False if it keeps the size (one cell per row).
        pad_mode: how each rotated image is padded at bottom/right ("edge" or "reflect").
        divisor, bias, rounding: the rescale rule above.
    """

    units: tuple[UnitSpec, ...]
    upscale: bool
    pad_mode: str
    divisor: int
    bias: int
    rounding: str

    def terms(self, rotations: int) -> int:
        """Table cells summed into one output pixel before interpolation: units x rotations x maps."""
        return sum(rotations * u.maps for u in self.units)

    def to_json(self) -> dict:
        d = asdict(self)
        d["units"] = [u.to_json() for u in self.units]
        return d


@dataclass(frozen=True)
class MethodSpec:
    """A LUT method: stages, encoding and the network-output scale.

    Attributes:
        name: method name used on the command line and in LUT headers.
        stages: the stages, applied in order (the last one must upscale).
        value_encoding: key of ``VALUE_ENCODINGS``.
        alpha: network output scale: a cell's signed value is ``round(alpha * o)``.
        default_interval: the interval the method is usually exported / published at.
        rotations: rotation-ensemble size (always 4 here).
        trainable: ``lutsr train`` has a network for it (``lutsr.train.networks``).
        importable: ``lutsr import`` accepts published tables of it.
        stage_method: for a same-size cascade (denoising, deblocking), the single-stage method
            every stage equals: ``lutsr fit`` solves the stages one after another as that
            method, each on the previous stages' output.
    """

    name: str
    stages: tuple[StageSpec, ...]
    value_encoding: str
    alpha: float
    default_interval: int
    description: str = ""
    rotations: int = 4
    trainable: bool = False
    importable: bool = True
    stage_method: str | None = None

    @property
    def table_dtype(self) -> str:
        return VALUE_ENCODINGS[self.value_encoding][0]

    @property
    def value_offset(self) -> int:
        return VALUE_ENCODINGS[self.value_encoding][1]

    @property
    def fittable(self) -> bool:
        """``lutsr fit`` solves it: one stage, which upscales (the output is linear in the tables),
        or a same-size cascade of such stages (``stage_method``), solved stage by stage."""
        return (len(self.stages) == 1 and self.stages[0].upscale) or self.stage_method is not None

    @property
    def cell_range(self) -> tuple[int, int]:
        """Signed value range of a cell (``stored - value_offset``), e.g. ``(-128, 127)``."""
        info = np.iinfo(np.dtype(self.table_dtype))
        return int(info.min) - self.value_offset, int(info.max) - self.value_offset

    def table_names(self) -> list[str]:
        """Names of the tables in file order: ``s{stage}_{unit}``."""
        return [f"s{si + 1}_{u.name}" for si, st in enumerate(self.stages) for u in st.units]

    def cells(self, stage: StageSpec, unit: UnitSpec, scale: int) -> int:
        """Cells per table row: ``unit.maps * (s*s if the stage upscales else 1)``."""
        return unit.maps * (scale * scale if stage.upscale else 1)

    def table_shapes(self, scale: int, interval: int) -> list[tuple[int, int]]:
        """``(rows, cells)`` of every table, in file order."""
        _, levels = levels_for_interval(interval)
        return [(levels ** u.kernel.n_inputs, self.cells(st, u, scale)) for st in self.stages for u in st.units]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "rotations": self.rotations,
            "value_encoding": self.value_encoding,
            "value_offset": self.value_offset,
            "alpha": self.alpha,
            "stages": [s.to_json() for s in self.stages],
        }


def _single(name: str, kernel: str, pad: str, enc: str, alpha: float, interval: int, desc: str,
            expand: bool = False, divisor: int = 1, rounding: str = "half_even") -> MethodSpec:
    unit = UnitSpec(kernel if expand else kernel.lower(), KERNELS[kernel], expand=expand)
    stage = StageSpec((unit,), upscale=True, pad_mode=pad, divisor=divisor, bias=0, rounding=rounding)
    return MethodSpec(name, (stage,), enc, alpha, interval, desc, trainable=True)


_SDY = tuple(UnitSpec(n, KERNELS[n.upper()]) for n in ("s", "d", "y"))


def _sdy_stage(upscale: bool) -> StageSpec:
    """MuLUT's first-stage rule: S, D, Y units x 4 rotations averaged (divisor 12) around 127."""
    return StageSpec(_SDY, upscale=upscale, pad_mode="edge", divisor=12, bias=127, rounding="half_even")

METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        _single("eclut", "2x1", "edge", "uint8-excess128", 255.0 / 9.0, 0,
                "ECLUT: 2x1 kernel with ExpandConv, uint8 cells, (acc + 2) >> 2 rescale (docs/eclut.md)",
                expand=True, divisor=4, rounding="half_up"),
        _single("srlut-s", "S", "reflect", "int8", 127.0, 4, "SR-LUT S: 2x2 kernel, int8, 4-simplex"),
        _single("srlut-f", "F", "reflect", "int8", 127.0, 4, "SR-LUT F: 1x3 kernel, int8, 3-simplex"),
        _single("srlut-v", "V", "reflect", "int8", 127.0, 0, "SR-LUT V: 1x2 kernel, int8, direct lookup"),
        MethodSpec(
            "eclut-sdy",
            (StageSpec((UnitSpec("2x1", KERNELS["2x1"], expand=True),) + _SDY, upscale=True, pad_mode="edge",
                       divisor=4, bias=0, rounding="half_up"),),
            "int8", 255.0 / 48.0, 4,
            "lutsr's composite: ECLUT's 2x1 ExpandConv unit plus S, D, Y units summed in one stage, int8, "
            "fitted by least squares (docs/methods.md)",
            importable=False,
        ),
        MethodSpec(
            "mulut-sdy-x2",
            (
                StageSpec(_SDY, upscale=False, pad_mode="edge", divisor=12, bias=127, rounding="half_even"),
                StageSpec(_SDY, upscale=True, pad_mode="edge", divisor=3, bias=0, rounding="half_even"),
            ),
            "int8", 127.0, 4, "MuLUT SDY-X2: S, D, Y kernels in two stages, int8, 4-simplex",
        ),
        MethodSpec(
            "sdy", (_sdy_stage(True),), "int8", 127.0, 4,
            "S, D, Y units summed in one stage, int8, 4-simplex, MuLUT's rescale (divisor 12, bias 127); "
            "fitted by least squares; lutsr's restoration tables (docs/restore.md)",
            importable=False,
        ),
        MethodSpec(
            "sdy2", (_sdy_stage(False), _sdy_stage(True)), "int8", 127.0, 4,
            "two sdy stages, the second reading the first's 8-bit output (receptive field 9x9); each fitted "
            "by least squares on the previous one's output (scale 1: denoising, deblocking; docs/restore.md)",
            importable=False, stage_method="sdy",
        ),
    )
}


@dataclass(frozen=True)
class NetworkFamily:
    """A family of LUT networks (format version 2): the file holds its whole description (``lutsr.net``).

    Attributes:
        name: the ``method`` written in LUT headers and given to ``lutsr import --method``.
        description: one line for ``lutsr info`` and the docs.
        shippable: False where the published tables' licence forbids redistributing conversions.
        importable: ``lutsr import --method NAME`` converts the authors' published files (False:
            lutsr's own architectures, :mod:`lutsr.net.archs`, which ``lutsr train`` makes).
    """

    name: str
    description: str
    shippable: bool = True
    importable: bool = True


NETWORK_FAMILIES: dict[str, NetworkFamily] = {
    f.name: f
    for f in (
        NetworkFamily("shiftlut", "ShiftLUT (CVPR'26): stacks of depthwise/pointwise 1-D tables over the 6 high bits, "
                                  "learned per-channel shifts, interpolated tables (S/M/L, x4; x1 denoise/deblock)"),
        NetworkFamily("tinylut", "TinyLUT (NeurIPS'24): separable depthwise/pointwise 1-D tables on 6 high and 2 low "
                                 "bits with per-channel float32 requantisation (S, x4)"),
        NetworkFamily("hklut", "HKLUT (IJCAI'24): MSB H/D/B and LSB H/D 4-bit direct tables, two x2 stages "
                               "(CC BY-NC-ND: convert your own download; never redistributed)", shippable=False),
        NetworkFamily("lerf", "LeRF-G / LeRF-L (CVPR'23): 4-D simplex tables predict per-pixel steered Gaussian "
                              "(G) or amplified linear (L) kernels; resamples to any size (two stages, interval 4)"),
        NetworkFamily("shiftnet", "lutsr's ShiftLUT-class network (lutsr train --arch shiftnet): 6+2-bit split, "
                                  "depthwise/pointwise interpolated 1-D int8 tables, fixed channel shifts, trained in "
                                  "table space", importable=False),
    )
}


def get_method(name: str) -> MethodSpec:
    """The method called ``name``; raises ValueError listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None


def trainable_methods() -> tuple[str, ...]:
    """Names of the methods ``lutsr train`` can train (``MethodSpec.trainable``)."""
    return tuple(n for n, m in METHODS.items() if m.trainable)


def fittable_methods() -> tuple[str, ...]:
    """Names of the methods ``lutsr fit`` solves (``MethodSpec.fittable``)."""
    return tuple(n for n, m in METHODS.items() if m.fittable)


def importable_methods() -> tuple[str, ...]:
    """Names of the methods ``lutsr import`` accepts (``MethodSpec.importable``)."""
    return tuple(n for n, m in METHODS.items() if m.importable)


# --------------------------------------------------------------------------------------
# Geometry that follows from a method
# --------------------------------------------------------------------------------------

def rotate_cells(table: np.ndarray, k: int, expand: bool, s: int) -> np.ndarray:
    """Reorder the cells of every row of a ``(rows, cells)`` table for rotation ``k``.

    A table row holds a unit's output block in the rotated frame: ``(3, 3, s, s)`` (map grid,
    then sub-pixels) for an ExpandConv unit, ``(s, s)`` otherwise. Rotating the block (and the
    map grid) back by ``-k`` puts the cells in original-frame order. Returns a new C-contiguous
    array of the same shape.
    """
    if s == 1 and not expand:
        return np.ascontiguousarray(table)
    if expand:
        t = table.reshape(-1, 3, 3, s, s)
        t = np.rot90(np.rot90(t, -k, axes=(1, 2)), -k, axes=(3, 4))
    else:
        t = np.rot90(table.reshape(-1, s, s), -k, axes=(1, 2))
    return np.ascontiguousarray(t).reshape(table.shape)


def _stage_footprint(method: MethodSpec, stage: StageSpec) -> set[tuple[int, int]]:
    pts: set[tuple[int, int]] = set()
    for unit in stage.units:
        for k in range(method.rotations):
            pts |= set(rotation_neighbor_offsets(unit.kernel.offsets, k))
        if unit.expand:  # an HR pixel at a block edge also receives the neighbouring LR pixel's patch
            pts = {(y + dy, x + dx) for y, x in pts for dy, dx in EXPAND_DIRECTIONS}
    return pts


def receptive_field(method: MethodSpec) -> tuple[int, int, int]:
    """LR receptive field of one output pixel with rotations (and ExpandConv, stages): ``(height, width, pixels)``."""
    total = {(0, 0)}
    for stage in method.stages:
        fp = _stage_footprint(method, stage)
        total = {(y + a, x + b) for y, x in total for a, b in fp}
    ys = [p[0] for p in total]
    xs = [p[1] for p in total]
    return max(ys) - min(ys) + 1, max(xs) - min(xs) + 1, len(total)


# --------------------------------------------------------------------------------------
# Index schemes: the simplex walk (SR-LUT, MuLUT, LeRF; the NumPy meaning of the kernels' walk)
# --------------------------------------------------------------------------------------

def simplex_reference(values: np.ndarray, interval: int, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simplex interpolation vertices and integer weights.

    Args:
        values: ``(N, n)`` input values 0..255 (current pixel first).
        interval: bits dropped; ``q = 2**interval``.
        levels: rows per input of the table (default ``2**(8-interval) + 1``; LUT networks give
            their own, for inputs that are not 0..255).
    Returns:
        ``rows (N, n+1)`` int64 table rows and ``weights (N, n+1)`` int64 summing to ``q``.
        The interpolated value is ``sum(weights * table[rows]) / q``. At interval 0 the
        first vertex has weight 1 and the others weight 0 (direct lookup).

    Method: split each value into MSB ``v // q`` and fraction ``f = v % q``; walk from the
    base vertex, incrementing the MSB of the input with the largest fraction first, then the
    next largest, ...; weights ``q - f(1), f(1) - f(2), ..., f(n)`` for the fractions sorted
    in descending order.
    """
    q, default_levels = levels_for_interval(interval)
    levels = default_levels if levels is None else levels
    v = np.asarray(values, dtype=np.int64)
    n_pix, n = v.shape
    msb, frac = v // q, v % q
    strides = levels ** np.arange(n - 1, -1, -1, dtype=np.int64)  # current pixel most significant
    order = np.argsort(-frac, axis=1, kind="stable")
    fs = np.take_along_axis(frac, order, axis=1)  # descending fractions
    rows = np.empty((n_pix, n + 1), dtype=np.int64)
    weights = np.empty((n_pix, n + 1), dtype=np.int64)
    rows[:, 0] = msb @ strides
    weights[:, 0] = q - fs[:, 0]
    for k in range(1, n + 1):
        rows[:, k] = rows[:, k - 1] + strides[order[:, k - 1]]
        weights[:, k] = fs[:, k - 1] - (fs[:, k] if k < n else 0)
    return rows, weights
