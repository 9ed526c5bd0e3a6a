"""The passes of ``lutsr fit`` on a Dask cluster, bit-identical to the local fit.

Every pass is a map over the fixed partitions of :func:`lutsr.fit.passes.partitions`
(consecutive images) and a reduction of the per-partition vectors **in partition order**,
exactly as :class:`lutsr.fit.passes.LocalPasses` does, with the same ``(nt, size)``
accumulator shape; so the float solution and the LUT are the same bytes as a local fit.

Per pass the client scatters the search direction once (broadcast to every worker), each
task returns one table-sized float64 partial sum, and the client adds them up. A task whose
worker dies is recomputed elsewhere (``retries``); a pass whose partitions do not all come
back raises, it is never silently short. Requires ``pip install "lutsr[dask]"``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

import numpy as np

from lutsr.errors import LutsrError
from lutsr.fit.operator import LinearLut
from lutsr.fit.passes import ordered_sum, partition_ata, partition_first, partitions, reduce_first

__all__ = ["DaskPasses", "dask_passes", "connect"]

log = logging.getLogger(__name__)

RETRIES = 3

_worker_ops: dict[tuple, LinearLut] = {}


def _op(key: tuple) -> LinearLut:
    """A worker-side ``LinearLut`` per (method, scale, interval), built once per worker process."""
    op = _worker_ops.get(key)
    if op is None:
        op = _worker_ops[key] = LinearLut(*key)
    return op


def _task_first(key, data, part, nt):
    return partition_first(_op(key), data, part, nt)


def _task_ata(key, data, part, vec, nt):
    return partition_ata(_op(key), data, part, vec, nt)


def connect(spec: str):
    """A ``distributed.Client`` for ``"local:N"`` (a new LocalCluster, N processes, 1 thread each) or an address.

    Returns ``(client, cluster_or_None)``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the install
        raise LutsrError('--dask needs dask and distributed: pip install "lutsr[dask]"') from e
    if spec.startswith("local:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise LutsrError(f"--dask {spec}: expected local:N") from None
        if n < 1:
            raise LutsrError(f"--dask {spec}: N must be at least 1")
        import dask

        # the cores shared out: N processes of cores/N Numba threads (the results depend on the
        # accumulator shape, not on the thread count); N x cores OpenMP threads on the same cores
        # wait on each other at every barrier, many times slower. No dashboard; the scheduler's
        # small HTTP server on a free port (not 8787, maybe taken).
        threads = max(1, (os.cpu_count() or 1) // n)
        # workers are spawned, never forked: a fork of this process after lutsr's kernels ran cannot
        # use Numba's GNU OpenMP threading layer (see lutsr.runtime.api, fork safety)
        method = dask.config.get("distributed.worker.multiprocessing-method", "spawn")
        with dask.config.set({"distributed.worker.multiprocessing-method": "spawn" if method == "fork" else method}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": ":0"},
                                   env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})
        return Client(cluster), cluster
    try:
        return Client(spec, timeout=30), None
    except OSError as e:
        raise LutsrError(f"--dask {spec}: cannot reach the scheduler ({e})") from None


class DaskPasses:
    """The passes of a fit as Dask tasks: same partitions, same accumulator shape, same summation order."""

    def __init__(self, client, op: LinearLut, data, nt: int) -> None:
        self.client = client
        self.key = (op.method.name, op.scale, op.interval)
        self.nt = nt
        self.parts = partitions(data)
        # the data description (file list, options; never pixels) goes to every worker once
        [self.data] = client.scatter([data], broadcast=True, hash=False)

    def _gather(self, futures) -> list:
        results = self.client.gather(futures)  # raises when a task failed beyond its retries
        if len(results) != len(self.parts):
            raise LutsrError(f"a fit pass returned {len(results)} of {len(self.parts)} partitions")
        return results

    def first(self):
        """Summed ``A^T b``, diagonal, ``||b||^2``, pixel count (see ``LocalPasses.first``)."""
        futs = [self.client.submit(_task_first, self.key, self.data, p, self.nt, pure=False, retries=RETRIES)
                for p in self.parts]
        return reduce_first(self._gather(futs))

    def ata(self, vec: np.ndarray) -> np.ndarray:
        """``A^T A vec``: ``vec`` scattered once to every worker, partial sums added in partition order."""
        [v] = self.client.scatter([np.ascontiguousarray(vec)], broadcast=True, hash=False)
        futs = [self.client.submit(_task_ata, self.key, self.data, p, v, self.nt, pure=False, retries=RETRIES)
                for p in self.parts]
        try:
            return ordered_sum(self._gather(futs))
        finally:
            del futs
            self.client.cancel([v])


@contextlib.contextmanager
def dask_passes(spec_or_client, op: LinearLut, data, nt: int) -> Iterator[DaskPasses]:
    """``DaskPasses`` on ``spec_or_client`` (``"local:N"``, an address, or a ``Client``), closed afterwards."""
    if isinstance(spec_or_client, str):
        client, cluster = connect(spec_or_client)
    else:
        client, cluster = spec_or_client, None
    try:
        log.info("fit passes on Dask: %s, %d partitions", client, len(partitions(data)))
        yield DaskPasses(client, op, data, nt)
    finally:
        if isinstance(spec_or_client, str):
            client.close()
            if cluster is not None:
                cluster.close()
