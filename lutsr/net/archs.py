"""lutsr's own LUT-network architectures: descriptions (:class:`lutsr.net.graph.Network`) with
untrained tables, which :mod:`lutsr.train.tables` trains in table space and ``lutsr export`` writes.

An architecture is data like every published family: a function of a few integers that returns
the network's description (ops and zero tables). The trainer (``lutsr train --arch NAME``), the
exporter, the NumPy reference and the Numba runtime all execute that one description, so a
trained network exports exactly (the trainer's forward pass is the runtime's arithmetic).

``shiftnet``: the ShiftLUT structure (:func:`lutsr.lut.frontier.shiftlut_network`) -- the
input ``x - 128`` split into 6 high and 2 low bits, depthwise 3x3 and pointwise 16-channel layers
of interpolated 1-D tables with residuals and clamps, per-channel spatial shifts before the
pointwise layers, an upscale layer to ``s * s`` channels with a residual, pixel shuffle and a
4-rotation ensemble -- with lutsr's own choices: every high-bit table sampled at one ``step``,
int8 tables, and *fixed* shifts (:func:`fixed_offsets`; ShiftLUT learns them). With every table
zero it is close to nearest-neighbour upscaling, the starting point of training.

No torch here: the upscale path may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutsr.errors import LutsrError
from lutsr.net.graph import Network

__all__ = ["TableArch", "TABLE_ARCHS", "get_arch", "fixed_offsets", "shiftnet_network"]

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def fixed_offsets(n: int) -> np.ndarray:
    """``(n, 2, 16)`` int64 channel shifts ``(dy, dx)`` before each pointwise layer: set ``k`` moves 8
    of the 16 channels one pixel toward each of the 8 neighbours (channels 8..15 in even sets, 0..7
    in odd ones) and leaves the other 8 in place, so after two layers every channel has looked
    one pixel away and the receptive field grows by one pixel per set."""
    out = np.zeros((n, 2, 16), np.int64)
    for k in range(n):
        first = 8 if k % 2 == 0 else 0
        for j, (dy, dx) in enumerate(_NEIGHBOURS):
            out[k, 0, first + j] = dy
            out[k, 1, first + j] = dx
    return out


def _zero_layer(n_in: int, n_out: int, span: int, step: int) -> tuple:
    """A ShiftLUT layer of zero int8 tables sampled at ``step`` over ``span`` input values."""
    from lutsr.lut.frontier import shift_table_entries

    size = shift_table_entries(span, step)
    return n_in, n_out, {(i, o): (np.zeros(size, np.int8), step) for i in range(n_in) for o in range(n_out)}


def shiftnet_network(scale: int, stacks: int = 1, step: int = 2, input_residual: int = 1) -> Network:
    """The untrained ``shiftnet`` description (module docstring).

    Args:
        scale: 1 (a same-size restorer: the output is input + the ensemble's residual), 2, 3 or 4.
        stacks: DW/PW pairs after the first (ShiftLUT-S has 0, M 1, L 7); 0..7.
        step: sampling step of every high-bit table (1, 2, 4 or 8): ``ceil(63 / step) + 1`` entries.
        input_residual: 1 (default): the ensemble is a correction added to the nearest-upsampled
            input (full 8-bit precision; zero tables give nearest neighbour exactly); 0 (x4 only):
            ShiftLUT's residual on the 6-bit features (zero tables: the features' 4-level steps, 4
            rotations summed); x4 Set5 30.58 with 1 against 30.40 with 0 (docs/methods.md).

    Returns:
        a validated :class:`Network` with int8 zero tables.
    """
    from lutsr.lut.frontier import shiftlut_network

    if scale not in (1, 2, 3, 4):
        raise LutsrError(f"shiftnet: scale {scale}, expected 1, 2, 3 or 4")
    if not 0 <= stacks <= 7:
        raise LutsrError(f"shiftnet: stacks {stacks}, expected 0..7")
    if step not in (1, 2, 4, 8):
        raise LutsrError(f"shiftnet: step {step}, expected 1, 2, 4 or 8")
    if input_residual not in (0, 1) or (input_residual == 0 and scale != 4):
        raise LutsrError(f"shiftnet: input_residual {input_residual} at x{scale}, expected 1 (or 0, only at x4)")
    layers = {"UP_MSB": _zero_layer(16, scale * scale, 64, step), "DW0_LSB": _zero_layer(9, 16, 4, 1)}
    for i in range(stacks + 1):
        layers[f"DW{i}_MSB"] = _zero_layer(9, 16, 64, step)
        layers[f"PW{i}_MSB"] = _zero_layer(16, 16, 64, step)
    feature_residual = input_residual == 0
    return shiftlut_network(layers, fixed_offsets(min(stacks + 1, 8)), stacks, feature_residual)


@dataclass(frozen=True)
class TableArch:
    """An architecture ``lutsr train --arch NAME`` trains in table space.

    Attributes:
        name: the ``--arch`` name and the LUT file's ``method`` (``spec.NETWORK_FAMILIES``).
        build: ``build(scale, **params) -> Network`` with untrained tables.
        params: the architecture's integer parameters and their defaults (stored in the run's
            config and the LUT file's header).

    Its one-line description is its family's (``spec.NETWORK_FAMILIES[name]``).
    """

    name: str
    build: object
    params: dict

    def network(self, scale: int, **params) -> Network:
        """The untrained description at ``scale`` with ``params`` (defaults for those not given)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise LutsrError(f"{self.name}: unknown parameters {sorted(unknown)}; expected {sorted(self.params)}")
        return self.build(int(scale), **{k: int(params.get(k, v)) for k, v in self.params.items()})


TABLE_ARCHS: dict[str, TableArch] = {
    a.name: a
    for a in (
        TableArch("shiftnet", shiftnet_network, {"stacks": 1, "step": 2, "input_residual": 1}),
    )
}


def get_arch(name: str) -> TableArch:
    """The table-space architecture ``name``; a one-line error naming the known ones."""
    if name not in TABLE_ARCHS:
        raise LutsrError(f"unknown table-space architecture {name!r}; expected one of {', '.join(TABLE_ARCHS)}")
    return TABLE_ARCHS[name]
