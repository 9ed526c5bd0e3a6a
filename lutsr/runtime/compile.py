"""Compile a loaded LUT once into what the kernels read: a ``CompiledLut`` of ``StagePlan`` s.

``compile_lut`` decides, per stage and once, which kernel runs it (the *route*), and prepares
that kernel's arrays:

- every unit: its stored ``(rows, cells)`` table, shared by all rotations (rotation k reads cell
  ``cell_perm[k, c]`` for the original-frame cell ``c``: ``spec.rotate_cells``), and its inputs'
  offsets per rotation in the original frame (``spec.rotation_neighbor_offsets``): the image is
  never rotated;
- ``"expand"`` (a 2-input ExpandConv unit first: ECLUT, ``eclut-sdy``): an ``ExpandPlan``, the
  patches folded (``fold_patches``), interpolated at every value pair (``direct_rows``),
  pre-rotated, and the reflected border terms folded into side rows (``side_cells``);
- ``"vec"`` (same-shaped plain units, s <= 4: SR-LUT, MuLUT): the tables flattened with padding
  for the vector block kernel; ``"stage"``: stacked for the fused scalar stage kernel;
  ``"general"``: unit by unit.

The result is cached on the ``Lut`` and reports its memory (``nbytes``); ``lutsr info`` asks it.
Each compile step has a small NumPy reference in ``tests/runtime/test_compile.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from lutsr.lut.file import Lut
from lutsr.runtime.kernels.common import FAST_ROTATIONS
from lutsr.runtime.reference import simplex_reference
from lutsr.spec import StageSpec, UnitSpec, levels_for_interval, receptive_field, rotate_cells, rotation_neighbor_offsets

__all__ = ["ROUTES", "CompiledLut", "StagePlan", "UnitPlan", "ExpandPlan", "VecPlan", "compile_lut", "stage_route",
           "window_shifts", "pack_rotations", "PACK_LIMIT",
           "fold_patches", "direct_rows", "side_cells", "patch_dtype", "planar"]

#: Kernel routes, fastest first (``stage_route``).
ROUTES = ("expand", "vec", "stage", "general")

def fold_patches(table: np.ndarray, s: int, offset: int) -> np.ndarray:
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


def direct_rows(values: np.ndarray, interval: int) -> np.ndarray:
    """Interpolate per-row values of a 2-input unit at every value pair: ``(257*257, m)``.

    Row ``a*257 + b`` holds ``sum_k w_k * values[row_k]`` with the simplex vertices and
    integer weights (summing to q) of inputs ``(a, b)`` (256 is never read). Interpolation is
    linear and happens before the rescale, so looking these rows up directly (divisor still
    ``q * divisor``) gives bit for bit what interpolating at run time gives, at the speed of
    a direct lookup. At interval 0 the rows are direct already and are returned as they are.
    """
    if interval == 0:
        return values.astype(patch_dtype(interval))
    v = np.minimum(np.arange(257), 255)
    pairs = np.stack(np.meshgrid(v, v, indexing="ij"), axis=-1).reshape(-1, 2)
    rows, weights = simplex_reference(pairs, interval)
    out = np.zeros((pairs.shape[0], values.shape[1]), dtype=np.int32)
    for k in range(rows.shape[1]):
        out += weights[:, k, None].astype(np.int32) * values[rows[:, k]].astype(np.int32)
    return out.astype(patch_dtype(interval))


def side_cells(s: int) -> list[list[tuple[int, int]]]:
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
    """Compiled form of a 2-input ExpandConv unit for ``kernels.expand.expand_patch_kernel``.

    - ``tabs``: 1-D, the folded (s+2)^2 patches (``fold_patches``) at every value pair
      (``direct_rows``, row ``a*257 + b``) rotated for rotation 0, then for rotation 1
      (``tsize`` elements each), then 16 zeros; rotations 2 and 3 are rotations 0 and 1 by
      180 degrees, i.e. the same rows read backwards. int16 (int32 at intervals > 4).
    - ``side (U, 257*257, s+2)``, ``side_sel (4 sides, 4 rotations, 2)``: the reflected
      border terms folded into rows (``side_cells``), as (table, reversed) per side and
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
        """Bytes of every array the plan holds."""
        return int(sum(a.nbytes for a in self if isinstance(a, np.ndarray)))


def expand_plan(table: np.ndarray, cperm: np.ndarray, offs: np.ndarray, s: int, interval: int,
                offset: int) -> ExpandPlan:
    """The ``ExpandPlan`` of a 2-input ExpandConv unit: ``table (rows, 9*s*s)`` stored, ``cperm (4, cells)``,
    ``offs (4, 2, 2)`` from ``compile_lut``; ``offset`` is the method's value offset."""
    p = s + 2
    patches = direct_rows(fold_patches(table, s, offset), interval)
    idx = np.arange(p * p).reshape(p, p)
    pperm = [np.rot90(idx, -k).ravel() for k in range(FAST_ROTATIONS)]
    if not (np.array_equal(pperm[2], pperm[0][::-1]) and np.array_equal(pperm[3], pperm[1][::-1])):
        raise AssertionError("rotations 2, 3 must be rotations 0, 1 read backwards")
    tabs = np.concatenate([patches[:, pperm[0]].ravel(), patches[:, pperm[1]].ravel(), np.zeros(16, patches.dtype)])
    signed = table.astype(np.int32) - offset
    mats, side, sel = [], [], np.zeros((4, 4, 2), np.int64)
    for sd, cells in enumerate(side_cells(s)):
        for k in range(FAST_ROTATIONS):
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
                side.append(direct_rows(signed @ m, interval))
    corner_cells = np.array([((2 * 3 + 2) * s + 1) * s + 1, ((2 * 3 + 0) * s + 1) * s + s - 2,
                             ((0 * 3 + 2) * s + s - 2) * s + 1, ((0 * 3 + 0) * s + s - 2) * s + s - 2], np.int64)
    pad = int(np.abs(offs).max())
    bound = 4 * 9 * (1 << interval) * int(np.abs(signed).max(initial=0))
    return ExpandPlan(tabs, patches.size, np.stack(side), sel, corner_cells, pad, np.ascontiguousarray(offs), bound)




def _fast_expand(unit: UnitSpec, s: int, rotations: int) -> bool:
    """Whether a unit gets an ``ExpandPlan``: ExpandConv, 2 inputs, scale 2..8, the fast kernels' rotations."""
    return unit.expand and unit.kernel.n_inputs == 2 and 2 <= s <= 8 and rotations == FAST_ROTATIONS


def _vec_units(specs, shapes, s: int, rotations: int) -> bool:
    """Whether plain units run together on ``block_vec_kernel``: same table shape, dtype and input
    count, s x s blocks with s <= 4, 2..4 inputs."""
    uniform = len({(sh, u.kernel.n_inputs) for u, sh in zip(specs, shapes)}) == 1
    return (len(specs) > 0 and uniform and not any(u.expand for u in specs) and s <= 4
            and rotations == FAST_ROTATIONS and 2 <= specs[0].kernel.n_inputs <= 4)


def stage_route(stage: StageSpec, shapes: list[tuple], s: int, rotations: int) -> tuple[str, bool]:
    """Which kernel computes a stage: the one rule, from table shapes only.

    ``shapes``: per unit, ``(table shape, dtype name)``; ``s``: the stage's output block size.
    Returns ``(route, rest_vec)``: ``"expand"`` (one ExpandConv unit, first, on the patch
    kernel; ``rest_vec`` says whether the other units run together on the vector block
    kernel), ``"vec"`` (vector block kernel), ``"stage"`` (same-shaped plain units, fused
    scalar kernel) or ``"general"`` (unit by unit).
    """
    specs = stage.units
    if sum(u.expand for u in specs) == 1 and _fast_expand(specs[0], s, rotations):
        return "expand", _vec_units(specs[1:], shapes[1:], s, rotations)
    if _vec_units(specs, shapes, s, rotations):
        return "vec", False
    if not any(u.expand for u in specs) and len(set(shapes)) == 1:
        return "stage", False
    return "general", False


def _can_take(route: str, stage: StageSpec, shapes: list[tuple], s: int, rotations: int) -> bool:
    """Whether ``route`` can compute the stage (``compile_lut(..., route=...)`` forces a slower one)."""
    specs = stage.units
    if route == "expand":
        return sum(u.expand for u in specs) == 1 and _fast_expand(specs[0], s, rotations)
    if route == "vec":
        return _vec_units(specs, shapes, s, rotations)
    if route == "stage":
        return not any(u.expand for u in specs) and len(set(shapes)) == 1
    return True


def planar(x: np.ndarray, pad: int, reflect: bool) -> np.ndarray:
    """``(H, W, C)`` uint8 -> ``(C, H+2*pad, W+2*pad)`` uint8, padded like the stage (edge or reflect)."""
    return np.ascontiguousarray(np.pad(x.transpose(2, 0, 1), ((0, 0), (pad, pad), (pad, pad)),
                                       mode="reflect" if reflect else "edge"))


class UnitPlan(NamedTuple):
    """One unit as the kernels read it.

    ``table (rows, cells)``: the stored table (not copied); ``cell_perm (R, cells)`` int64: cell
    of a row that rotation k reads for original-frame cell c; ``offsets (R, n, 2)`` int64: the
    inputs' offsets per rotation in the original frame; ``spec``: the unit's description.
    """

    spec: UnitSpec
    table: np.ndarray
    cell_perm: np.ndarray
    offsets: np.ndarray


#: Largest packed table (``pack_rotations``) a unit gets, in bytes: four times the stored table, so
#: the shared-window path is kept for tables that stay cache-friendly (SR-LUT S / MuLUT at interval 4:
#: 5.3 MB at x4); larger ones (interval 3 and below) run per rotation.
PACK_LIMIT = 8 << 20


def window_shifts(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Whether every rotation of a kernel reads a translated copy of rotation 0's footprint.

    ``offsets (4, n, 2)``: the inputs' offsets per rotation (``UnitPlan.offsets``). Returns
    ``(shifts (4, 2), perms (4, n))`` int64 such that rotation k's input i at pixel p is the
    pixel ``p + shifts[k] + offsets[0, perms[k, i]]`` (so the window at ``w`` is read by
    rotation k of pixel ``w - shifts[k]``), or ``None`` when some rotation's footprint is a
    different shape (Y, F, V). True for the squares S (2x2) and D (2x2 dilated by 2).
    """
    base = [tuple(int(v) for v in o) for o in offsets[0]]
    if len(offsets) != FAST_ROTATIONS or len(set(base)) != len(base):
        return None
    lo = np.min(offsets[0], axis=0)
    shifts, perms = [], []
    for k in range(FAST_ROTATIONS):
        t = np.min(offsets[k], axis=0) - lo
        moved = [tuple(int(v) for v in o - t) for o in offsets[k]]
        if set(moved) != set(base):
            return None
        shifts.append(t)
        perms.append([base.index(m) for m in moved])
    return np.array(shifts, np.int64), np.array(perms, np.int64)


def pack_rotations(table: np.ndarray, cell_perm: np.ndarray, perms: np.ndarray, levels: int) -> np.ndarray:
    """One row per window index holding all four rotations' blocks: ``(rows, 4, cells)``.

    ``table (rows, cells)`` stored (``rows = levels**n``), ``cell_perm (4, cells)`` and ``perms
    (4, n)`` from ``window_shifts``. Row ``j`` (the index of the window's values in rotation 0's
    input order, digit i most significant first) holds, for rotation k, the row that rotation k
    reads — the same digits in its own input order ``perms[k]`` — with its cells in the original
    frame: ``out[j, k, c] = table[row_k(j), cell_perm[k, c]]``. The simplex vertices of a window
    are the same in every input order (ties only reorder vertices of weight 0), so interpolating
    this table once per window gives each rotation's interpolated block bit for bit.
    """
    rows, cells = table.shape
    n = perms.shape[1]
    j = np.arange(rows, dtype=np.int64)
    digits = [(j // levels ** (n - 1 - m)) % levels for m in range(n)]
    out = np.empty((rows, FAST_ROTATIONS, cells), table.dtype)
    for k in range(FAST_ROTATIONS):
        rk = sum(digits[int(perms[k, i])] * levels ** (n - 1 - i) for i in range(n))
        out[:, k, :] = table[rk][:, cell_perm[k]]
    return out


class VecPlan(NamedTuple):
    """Plain units for ``kernels.block.block_vec_kernel``.

    - ``flat (U, rows*cells + 16)``, ``offsets (U, 4, n, 2)``: the units computed per rotation,
      tables flattened with 16 elements of padding;
    - ``packed (P, rows*4*cells)``, ``window (P, n, 2)``, ``shifts (P, 4, 2)``: the units whose
      rotations share windows (``window_shifts``, ``pack_rotations``); ``narrow``: their packed
      sums fit int16 lanes (``max|stored| * q <= 32767``); ``pad``: the largest offset any
      rotation of any unit reads.
    """

    flat: np.ndarray
    offsets: np.ndarray
    packed: np.ndarray
    window: np.ndarray
    shifts: np.ndarray
    narrow: bool
    pad: int


def _flat(units, q: int, levels: int, pack: bool = True) -> VecPlan:
    """The ``VecPlan`` of same-shaped plain units; ``pack=False`` keeps every unit per rotation."""
    shared, plain = [], []
    for u in units:
        small = u.table.nbytes * FAST_ROTATIONS <= PACK_LIMIT
        ws = window_shifts(u.offsets) if pack and small and q > 1 and u.offsets.shape[1] == 4 else None
        (shared if ws is not None else plain).append((u, ws))
    t0 = units[0].table
    n = units[0].offsets.shape[1]
    cells = t0.shape[1]
    if plain:
        t = np.stack([u.table for u, _ in plain])
        flat = np.concatenate([t.reshape(t.shape[0], -1), np.zeros((t.shape[0], 16), t.dtype)], axis=1)
        offs = np.ascontiguousarray(np.stack([u.offsets for u, _ in plain]))
    else:
        flat, offs = np.zeros((0, 16), t0.dtype), np.zeros((0, FAST_ROTATIONS, n, 2), np.int64)
    if shared:
        packed = np.stack([pack_rotations(u.table, u.cell_perm, ws[1], levels).reshape(-1) for u, ws in shared])
        window = np.ascontiguousarray(np.stack([u.offsets[0] for u, _ in shared]))
        shifts = np.ascontiguousarray(np.stack([ws[0] for _, ws in shared]))
        big = max(int(np.abs(u.table.astype(np.int32)).max(initial=0)) for u, _ in shared)
    else:
        packed = np.zeros((0, FAST_ROTATIONS * cells), t0.dtype)
        window, shifts, big = np.zeros((0, n, 2), np.int64), np.zeros((0, FAST_ROTATIONS, 2), np.int64), 0
    pad = int(max(np.abs(u.offsets).max() for u in units))
    return VecPlan(flat, offs, packed, window, shifts, big * q <= np.iinfo(np.int16).max, pad)


@dataclass(frozen=True)
class StagePlan:
    """One stage, compiled for its route (``ROUTES``); ``runtime.run`` makes one kernel call per plan.

    Attributes:
        route: the kernel route; ``scale``: output block size (the LUT's scale, or 1);
        reflect: padding mode; ``divisor``: ``q * stage.divisor``; ``bias``, ``half_even``: the
        rescale rule; ``interval``, ``levels``, ``cell_offset``: sampling and value offset;
        units: every unit's ``UnitPlan`` in file order.
        pad: padding of the planar input (``expand``, ``vec``).
        expand: the ``ExpandPlan`` of the first unit (``expand``).
        narrow: ``expand`` windows fit int16 (no other units add in and no sum can overflow).
        vec: plain units for the vector block kernel (``VecPlan``; ``vec``: all units;
            ``expand``: the other units when they share a shape), else ``None``.
        stacked: ``(tables, cell_perms, offsets)`` stacked for the fused stage kernel (``stage``).
    """

    route: str
    scale: int
    reflect: bool
    divisor: int
    bias: int
    half_even: bool
    interval: int
    levels: int
    cell_offset: int
    units: tuple[UnitPlan, ...]
    pad: int = 0
    expand: ExpandPlan | None = None
    narrow: bool = False
    vec: VecPlan | None = None
    stacked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def arrays(self) -> list[np.ndarray]:
        """Every array this plan holds beyond the stored tables (folded patches, side rows, packed
        copies, permutations, offsets), each once."""
        found = [u.cell_perm for u in self.units] + [u.offsets for u in self.units]
        if self.expand is not None:
            found += [a for a in self.expand if isinstance(a, np.ndarray)]
        found += [a for a in (self.vec or ()) if isinstance(a, np.ndarray)]
        found += list(self.stacked or ())
        stored = {id(u.table) for u in self.units}
        unique = {id(a): a for a in found if id(a) not in stored}
        return list(unique.values())

    @property
    def nbytes(self) -> int:
        """Bytes this plan holds beyond the stored tables (``arrays``)."""
        return int(sum(a.nbytes for a in self.arrays()))

    @property
    def streams(self) -> bool:
        """Temporaries do not grow with the image (only a few rows per band): the patch kernel
        alone (ECLUT) or the vector block kernel (SR-LUT)."""
        return self.route == "vec" or (self.route == "expand" and len(self.units) == 1)


@dataclass(frozen=True)
class CompiledLut:
    """A LUT as the runtime runs it: one ``StagePlan`` per stage, built once per loaded LUT.

    Attributes:
        lut: the source ``Lut``; ``stages``: the plans, in order; ``halo``: LR rows of context a
        band of rows needs above and below so that its output equals the whole image's.
    """

    lut: Lut
    stages: tuple[StagePlan, ...]
    halo: int = field(default=0)

    @property
    def scale(self) -> int:
        return self.lut.scale

    @property
    def nbytes(self) -> int:
        """Memory the runtime holds for this LUT: the stored tables plus every plan's arrays."""
        return int(sum(t.nbytes for t in self.lut.tables) + sum(p.nbytes for p in self.stages))

    @property
    def streams(self) -> bool:
        """One pass whose temporaries do not grow with the image: large 8-bit gray/RGB images need no bands."""
        return len(self.stages) == 1 and self.stages[0].streams

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(p.route for p in self.stages)


def _unit_plans(lut: Lut, stage: StageSpec, tables: list[np.ndarray], s: int) -> tuple[UnitPlan, ...]:
    method = lut.method
    out = []
    for unit, table in zip(stage.units, tables):
        table = np.ascontiguousarray(table)
        cells = table.shape[1]
        cperm = np.stack([rotate_cells(np.arange(cells)[None, :], k, unit.expand, s)[0]
                          for k in range(method.rotations)]).astype(np.int64)
        offs = np.array([rotation_neighbor_offsets(unit.kernel.offsets, k) for k in range(method.rotations)],
                        dtype=np.int64)
        out.append(UnitPlan(unit, table, cperm, offs))
    return tuple(out)


def _stage_plan(lut: Lut, stage: StageSpec, tables: list[np.ndarray], route: str | None, pack: bool) -> StagePlan:
    method = lut.method
    q, levels = levels_for_interval(lut.interval)
    s = lut.scale if stage.upscale else 1
    units = _unit_plans(lut, stage, tables, s)
    shapes = [(tuple(u.table.shape), u.table.dtype.name) for u in units]
    best, rest_vec = stage_route(stage, shapes, s, method.rotations)
    if route is None:
        route = best
    elif not _can_take(route, stage, shapes, s, method.rotations):
        raise ValueError(f"route {route!r} cannot run this stage of {method.name} (its fastest route is {best!r})")
    d = q * stage.divisor
    common = dict(route=route, scale=s, reflect=stage.pad_mode == "reflect", divisor=d, bias=stage.bias,
                  half_even=stage.rounding == "half_even", interval=lut.interval, levels=levels,
                  cell_offset=method.value_offset, units=units)
    if route == "expand":
        first, rest = units[0], units[1:]
        plan = expand_plan(first.table, first.cell_perm, first.offsets, s, lut.interval, method.value_offset)
        pad = max([plan.pad] + [int(np.abs(u.offsets).max()) for u in rest])
        vec = _flat(rest, q, levels, pack) if rest and rest_vec else None
        # int16 windows when no sum can overflow them (the shipped ECLUT tables), else int32
        narrow = not rest and plan.bound + (1 + abs(stage.bias)) * d <= np.iinfo(np.int16).max
        return StagePlan(**common, pad=max(pad, vec.pad if vec else 0), expand=plan, narrow=narrow, vec=vec)
    if route == "vec":
        vec = _flat(units, q, levels, pack)
        return StagePlan(**common, pad=vec.pad, vec=vec)
    if route == "stage":
        stacked = (np.stack([u.table for u in units]), np.stack([u.cell_perm for u in units]),
                   np.stack([u.offsets for u in units]))
        return StagePlan(**common, stacked=stacked)
    return StagePlan(**common)


def compile_lut(lut: Lut, route: str | None = None, pack: bool = True) -> CompiledLut:
    """Compile ``lut`` for the runtime (cached on the ``Lut``: built once per loaded table).

    Args:
        lut: a loaded, validated LUT.
        route: ``None`` picks each stage's fastest route (``stage_route``); a name from
            ``ROUTES`` forces it for every stage that can take it (``"general"`` always can:
            the tests use this seam to run the slow path against the fast one).
        pack: give the vector block kernel packed shared-window tables (``pack_rotations``) where
            a unit allows it; ``False`` computes every unit per rotation (same output; a seam for
            tests and benchmarks).

    Returns:
        The ``CompiledLut``; its ``nbytes`` is the memory it holds.
    """
    if lut.is_network:
        from lutsr.runtime.netrun import compile_network

        return compile_network(lut)
    if route is not None and route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")
    key = ("compiled", route, pack)
    cached = lut._compiled.get(key)
    if cached is not None:
        return cached
    method = lut.method
    plans = []
    pos = 0
    for stage in method.stages:
        tables = list(lut.tables[pos : pos + len(stage.units)])
        pos += len(stage.units)
        plans.append(_stage_plan(lut, stage, tables, route, pack))
    h, _, _ = receptive_field(method)
    out = CompiledLut(lut=lut, stages=tuple(plans), halo=h // 2 + 2)
    lut._compiled[key] = out
    return out
