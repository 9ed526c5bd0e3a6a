"""The stage methods of format version 1 (ECLUT, SR-LUT S/F/V, MuLUT, ``eclut-sdy``) written as LUT
networks: the same description (:mod:`lutsr.net.graph`) as ShiftLUT, TinyLUT, HKLUT and LeRF.

:func:`stage_network` reads a version-1 :class:`~lutsr.lut.file.Lut` through ``lutsr.spec`` and
writes, per stage, one ``lut`` op whose terms are every unit in every rotation (taps at the rotated
offsets, ``spec.rotation_neighbor_offsets``; output cells permuted as ``spec.rotate_cells`` says),
``index: "simplex"`` at the LUT's interval, the stage's border, divisor, bias and rounding, then a
clamp to 0..255 and, for an upscaling stage, a pixel shuffle. ExpandConv units (ECLUT's 9 shifted
maps per sub-pixel) become 9 extra HR channels: the raw sums (``rounding: "none"``) are pixel-shuffled,
each map ``g`` is shifted one HR pixel toward its direction (reflected borders, ``shift``), the maps and
the plain units are summed (``sum_channels``) and divided once (``div``), exactly as
``lutsr.runtime.reference`` computes a stage.

The tests (``tests/net/test_legacy.py``) prove the network computes bit for bit what the version-1
runtime computes, for every method, on random tables and on the shipped files. Version-1 files keep
their own fast kernels (``lutsr.runtime.compile``); this is their description in the common form.
"""

from __future__ import annotations

import numpy as np

from lutsr.errors import LutFormatError
from lutsr.lut.frontier import NetBuilder
from lutsr.net.graph import Network
from lutsr.spec import EXPAND_DIRECTIONS, levels_for_interval, rotate_cells, rotation_neighbor_offsets

__all__ = ["stage_network"]


def _unit_terms(unit, table_pos: int, cells: int, s: int, rotations: int, q: int, first_out: int) -> list:
    """Terms of one unit in every rotation: output ``first_out + c`` for original-frame cell ``c``."""
    terms = []
    for k in range(rotations):
        perm = rotate_cells(np.arange(cells)[None, :], k, unit.expand, s)[0]
        taps = rotation_neighbor_offsets(unit.kernel.offsets, k)
        for c in range(cells):
            terms.append([first_out + c, table_pos, cells, int(perm[c]), 0, q] + [v for dy, dx in taps for v in (0, dy, dx)])
    return terms


def stage_network(lut) -> Network:
    """The network form of a version-1 stage LUT (any method of ``spec.METHODS``), validated."""
    if lut.is_network:
        raise LutFormatError("this LUT is already a network")
    m = lut.method
    q, levels = levels_for_interval(lut.interval)
    b = NetBuilder()
    x = "x"
    pos = 0
    for stage in m.stages:
        tables = lut.tables[pos : pos + len(stage.units)]
        pos += len(stage.units)
        s = lut.scale if stage.upscale else 1
        border = "edge" if stage.pad_mode == "edge" else "reflect"
        k = {u.kernel.n_inputs for u in stage.units}
        expand = any(u.expand for u in stage.units)
        ops_out = []
        # one lut op per input count (the op's terms share k); outputs: 9 maps x s*s (ExpandConv) then s*s
        for kk in sorted(k):
            units = [(u, t) for u, t in zip(stage.units, tables) if u.kernel.n_inputs == kk]
            flat, terms, tpos = [], [], 0
            n_out = 0
            for u, t in units:
                cells = t.shape[1]
                first = 0 if u.expand else (len(EXPAND_DIRECTIONS) * s * s if expand else 0)
                terms += _unit_terms(u, tpos, cells, s, m.rotations, q, first)
                flat.append(t.astype(np.int16).ravel() - m.value_offset)
                tpos += t.size
                n_out = max(n_out, first + cells)
            if expand:
                n_out = (len(EXPAND_DIRECTIONS) + 1) * s * s
            raw = expand
            ops_out.append(b.lut(None, x, np.concatenate(flat), terms, n_out, k=kk, index="simplex", levels=levels,
                                 border=border, divisor=1 if raw else stage.divisor,
                                 rounding="none" if raw else stage.rounding, **({} if raw else {"bias": stage.bias})))
        if expand:
            y = ops_out[0]
            for other in ops_out[1:]:
                y = b.op(None, "add", a=y, b=other)
            y = b.op(None, "pixel_shuffle", src=y, scale=s)  # 10 HR channels: 9 maps, then the plain units
            offs = np.array([(-dy, -dx) for dy, dx in EXPAND_DIRECTIONS] + [(0, 0)], np.int32)
            y = b.op(None, "shift", src=y, offsets=b.table("expand", offs), border="reflect")
            y = b.op(None, "sum_channels", src=y)
            y = b.op(None, "div", src=y, divisor=q * stage.divisor, bias=stage.bias, rounding=stage.rounding)
        else:
            if len(ops_out) != 1:
                raise LutFormatError(f"{m.name}: units with different input counts in one stage need ExpandConv's "
                                     "raw sums; not expressible here")
            y = ops_out[0]
            if s > 1:
                y = b.op(None, "pixel_shuffle", src=y, scale=s)
        x = b.op(None, "clamp", src=y, lo=0, hi=255)
    b.op(None, "output", src=x, out="_")
    return b.network(lut.scale)
