"""The passes of a fit over fixed image partitions, summed in partition order.

Local (:class:`LocalPasses`) and Dask (``lutsr.fit.distributed.DaskPasses``) fits use the
same partitions, the same ``(nt, size)`` accumulator per partition and the same
left-to-right reduction, so they produce the same bytes.
"""

from __future__ import annotations

import numpy as np

from lutsr.errors import LutsrError
from lutsr.fit.operator import LinearLut

__all__ = ["PARTITION_ITEMS", "partitions", "partition_ata", "partition_first", "ordered_sum", "reduce_first",
           "LocalPasses"]


PARTITION_ITEMS = 8
"""Images (``TrainingSet``) or pairs (a plain list) per partition: the unit of work and of summation."""


def partitions(data, size: int | None = None) -> list[range]:
    """The fixed partition of ``data`` into consecutive item ranges (local and Dask fits use the same)."""
    size = PARTITION_ITEMS if size is None else size
    n = len(data)
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _items(data, part: range):
    """The ``(lr, hr)`` pairs of one partition."""
    if hasattr(data, "image_pairs"):
        for i in part:
            yield from data.image_pairs(i)
    else:
        for i in part:
            yield data[i]


def partition_ata(op: LinearLut, data, part: range, vec: np.ndarray, nt: int) -> np.ndarray:
    """``A^T A vec`` over one partition, summed over a fresh ``(nt, size)`` buffer: flat float64.

    The kernels split work by the buffer's first dimension, so the result depends only on
    ``nt`` and the partition, never on the machine or the number of Numba threads.
    """
    grads = np.zeros((nt, op.size), dtype=np.float64)
    for lr, _ in _items(data, part):
        op.adjoint(lr, op.forward(lr, vec), grads)
    return grads.sum(axis=0)


def partition_first(op: LinearLut, data, part: range, nt: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """One partition's ``A^T b``, ``diag(A^T A)`` (squared weights), ``||b||^2`` and pixel count."""
    bias = op.stage.bias
    c_buf = np.zeros((nt, op.size), dtype=np.float64)
    d_buf = np.zeros((nt, op.size), dtype=np.float64)
    bb = 0.0
    npix = 0
    for lr, hr in _items(data, part):
        b = hr.astype(np.float64) - bias
        bb += float(np.dot(b.ravel(), b.ravel()))
        npix += b.size
        op.adjoint(lr, b, c_buf)
        op.adjoint(lr, np.ones_like(b), d_buf, square=True)
    return c_buf.sum(axis=0), d_buf.sum(axis=0), bb, npix


def ordered_sum(parts) -> np.ndarray:
    """Sum partial vectors left to right, in partition order (the one reduction order of every fit)."""
    total = None
    for x in parts:
        total = np.array(x, dtype=np.float64, copy=True) if total is None else total.__iadd__(x)
    return total


class LocalPasses:
    """The passes of a fit run in this process, partition by partition, summed in partition order."""

    def __init__(self, op: LinearLut, data, nt: int) -> None:
        self.op, self.data, self.nt = op, data, nt
        self.parts = partitions(data)

    def first(self) -> tuple[np.ndarray, np.ndarray, float, int]:
        """Summed ``A^T b``, diagonal, ``||b||^2``, pixel count."""
        return reduce_first(partition_first(self.op, self.data, p, self.nt) for p in self.parts)

    def ata(self, vec: np.ndarray) -> np.ndarray:
        """``A^T A vec`` over the whole data set."""
        return ordered_sum(partition_ata(self.op, self.data, p, vec, self.nt) for p in self.parts)


def reduce_first(res) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Combine per-partition first-pass results in partition order, as they arrive (an iterable:
    only the running sums are held, not every partition's vectors)."""
    c = d = None
    bb = 0.0
    npix = 0
    for rc, rd, rbb, rnpix in res:
        c = np.array(rc, dtype=np.float64, copy=True) if c is None else c.__iadd__(rc)
        d = np.array(rd, dtype=np.float64, copy=True) if d is None else d.__iadd__(rd)
        bb += rbb
        npix += rnpix
    if npix == 0:
        raise LutsrError("no usable training images")
    return c, d, bb, npix
