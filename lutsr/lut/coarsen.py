"""Re-sample a LUT at a coarser interval without the network (no torch).

A table at interval ``i`` stores the network at input values ``0, q, 2q, ..., 255``; every
one of those values is also a row of any finer table, so a coarser table is an exact
subset of rows of a finer one. This lets users trade size for quality from a LUT file alone.
"""

from __future__ import annotations

import numpy as np

from lutsr.errors import LutsrError
from lutsr.lut.file import Lut, make_header
from lutsr.spec import levels_for_interval

__all__ = ["coarsen"]


def coarsen(lut: Lut, interval: int) -> Lut:
    """Return ``lut`` re-sampled at ``interval`` (must be at least the current interval)."""
    if interval < lut.interval:
        raise LutsrError(f"{lut}: cannot refine interval {lut.interval} to {interval} without the network")
    q_old, l_old = levels_for_interval(lut.interval)
    q_new, l_new = levels_for_interval(interval)
    values = np.minimum(np.arange(l_new) * q_new, 255)
    # value 255 sits at old level 255 // q_old only when it is on the old grid; the last old
    # level (256 clamped to 255) holds it otherwise
    old_idx = np.where(values % q_old == 0, values // q_old, l_old - 1)
    if np.any((values % q_old != 0) & (values != 255)):
        raise LutsrError(f"{lut}: interval {interval} levels are not on the interval {lut.interval} grid")
    tables = []
    for t, entry in zip(lut.tables, lut.header["tables"]):
        n = round(np.log(t.shape[0]) / np.log(l_old))
        idx = np.zeros(1, dtype=np.int64)
        for _ in range(n):
            idx = (idx[:, None] * l_old + old_idx[None, :]).ravel()
        tables.append(np.ascontiguousarray(t[idx]))
    source = dict(lut.header.get("source", {}))
    source["coarsened_from_interval"] = lut.interval
    return Lut(header=make_header(lut.header["method"], lut.scale, interval, source=source), tables=tables)
