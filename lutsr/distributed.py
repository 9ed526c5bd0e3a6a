"""Batch upscaling on a Dask cluster: one task decodes, upscales and encodes one file.

Each task runs :func:`lutsr.batch.process_file`, the very step of the local folder mode of
``lutsr upscale`` (which uses :func:`map_files` for ``--dask``), so the guarantees are the
same: outputs appear atomically (``lutsr.imageio.save_image`` writes a temporary file, then
links or renames it, never over a file that appeared meanwhile), nothing is
overwritten without ``overwrite=True``, an input is never written over, existing outputs
are left alone with ``skip_existing=True``, and a failed file is listed and returned, the
others processed. The LUT file's bytes are scattered once (broadcast) and each worker
loads and compiles it once, cached by its sha256; tasks carry only the hash's future.
Requires ``pip install "lutsr[dask]"``; importing ``lutsr`` never imports dask.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from lutsr.batch import FileOutcome
from lutsr.errors import LutsrError

__all__ = ["BatchResult", "client_for", "map_files", "upscale_files"]

log = logging.getLogger(__name__)

_worker_luts: dict[str, object] = {}
_worker_lock = threading.Lock()
_worker_loads = 0  # how many times this worker process loaded a LUT (tests: once per LUT, not per task)


@dataclass
class BatchResult:
    """What a batch did: outputs written, skipped (existing), and ``(input, message)`` failures."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _lut_on_worker(sha: str, blob: bytes):
    """The LUT with content hash ``sha``, loaded (and validated) once per worker process."""
    global _worker_loads
    with _worker_lock:  # a worker running several threads still loads it once
        lut = _worker_luts.get(sha)
        if lut is None:
            from lutsr.lut.file import load_lut

            if hashlib.sha256(blob).hexdigest() != sha:
                raise LutsrError("LUT bytes do not match their hash")
            _worker_loads += 1
            fd, tmp = tempfile.mkstemp(suffix=".lut")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                lut = load_lut(tmp)
            finally:
                os.unlink(tmp)
            _worker_luts[sha] = lut
        return lut


def _task(src: str, dst: str, sha: str | None, blob, opts: dict) -> tuple[str, str, str]:
    """One file on a worker: :func:`lutsr.batch.process_file` (the local folder mode's step) with the
    worker's cached LUT (``sha`` given), or with ``blob`` itself, an ``lutsr.restore.AutoLut`` that
    picks a shipped table per image on the worker (``sha`` None). Returns ``(status, message, note)``;
    expected failures are returned, not raised."""
    from lutsr.batch import default_memory_budget, process_file

    opts = dict(opts)
    if opts.get("budget", -1) == -1:
        opts["budget"] = default_memory_budget()  # 80% of this worker's memory
    try:
        lut = blob if sha is None else _lut_on_worker(sha, blob)
    except (LutsrError, OSError) as e:
        return "failed", f"{src}: {e}", ""
    r = process_file(Path(src), Path(dst), lut, **opts)
    return r.status, r.message, r.note


def _lut_bytes(lut) -> bytes:
    """The bytes of a LUT file: a path, a ``Lut`` loaded from a file, a shipped family name or None (default x4)."""
    from lutsr.lut.file import Lut
    from lutsr.lut.shipped import resolve_lut

    if not isinstance(lut, Lut):
        lut = resolve_lut(lut)
    if lut.path is None:
        raise LutsrError("a LUT built in memory cannot be sent to workers: save it with save_lut first")
    return Path(lut.path).read_bytes()


def map_files(client, plan, lut, *, threads: int | None = 1, max_pixels: int | None = None,
              budget: int | None = -1, outscale: float | None = None, overwrite: bool = False,
              skip_existing: bool = False, options=None) -> Iterator[tuple[int, FileOutcome]]:
    """Run :func:`lutsr.batch.process_file` on ``plan`` (``(src, dst)`` pairs), one Dask task per file.

    The LUT file's bytes are scattered once (broadcast to every worker); each worker loads it
    once, cached by sha256. Yields ``(index in plan, FileOutcome)`` as tasks complete.

    Args:
        client: a ``distributed.Client``.
        plan: ``(src, dst)`` pairs; paths must be readable and writable by the workers.
        lut: a LUT file path, a ``Lut`` loaded from a file, a shipped family name, None (default x4),
            or an ``lutsr.restore.AutoLut`` (each worker picks the shipped table per image).
        threads: Numba threads per task (1: Dask runs one task per worker thread).
        max_pixels, outscale, overwrite, skip_existing, options: as :func:`lutsr.batch.process_file`.
        budget: memory budget per image in bytes; -1: 80% of each worker's memory; None: no check.
    """
    from distributed import as_completed

    plan = [(Path(s), Path(d)) for s, d in plan]
    if hasattr(lut, "pick"):  # lutsr.restore.AutoLut: small and picklable; workers load the shipped tables
        sha, data = None, lut
    else:
        data = _lut_bytes(lut)
        sha = hashlib.sha256(data).hexdigest()
    [blob] = client.scatter([data], broadcast=True, hash=False)  # once per worker, not per task
    opts = {"threads": threads, "max_pixels": max_pixels, "budget": budget, "outscale": outscale,
            "overwrite": overwrite, "skip_existing": skip_existing, "options": options}
    # workers have their own working folder: they get absolute paths, and messages name the paths as given
    absolute = [(str(s.absolute()), str(d.absolute())) for s, d in plan]
    futs = [client.submit(_task, s, d, sha, blob, opts, pure=False, retries=2) for s, d in absolute]
    index = {f.key: i for i, f in enumerate(futs)}
    try:
        for fut, (status, msg, note) in as_completed(futs, with_results=True):
            i = index[fut.key]
            (src, dst), (a_src, a_dst) = plan[i], absolute[i]
            yield i, FileOutcome(status, src, dst, msg.replace(a_src, str(src)).replace(a_dst, str(dst)), note)
    finally:
        client.cancel(futs + [blob])


@contextlib.contextmanager
def client_for(spec: str):
    """A ``distributed.Client`` for ``"local:N"`` (a LocalCluster of N processes, closed afterwards)
    or a scheduler address (``tcp://HOST:PORT``), as :func:`lutsr.fit.distributed.connect`."""
    from lutsr.fit.distributed import connect

    client, cluster = connect(spec)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _default_dst(src: Path, root: Path | None, out_dir: Path, suffix: str, ext: str | None) -> Path:
    rel = src.relative_to(root) if root is not None else Path(src.name)
    return out_dir / rel.with_name(rel.stem + suffix + (ext or src.suffix))


def upscale_files(paths: str | os.PathLike | Iterable[str | os.PathLike], out_dir: str | os.PathLike, client,
                  lut=None, skip_existing: bool = False, overwrite: bool = False,
                  suffix: str = "", ext: str | None = None, threads: int | None = 1,
                  max_pixels: int | None = None) -> BatchResult:
    """Upscale many files on a Dask ``distributed.Client``, one task per file.

    Args:
        paths: a folder (its images, recursively; the tree is kept under ``out_dir``) or
            an iterable of image paths (written flat into ``out_dir``). Paths must be
            readable by the workers (a shared file system or object-store mount).
        out_dir: output folder (created); outputs are ``stem + suffix + (ext or input's)``.
        client: a ``distributed.Client``.
        lut: a LUT file (sent once, by content), a ``Lut`` loaded from a file, a shipped
            family name, or None: the shipped default x4 LUT.
        skip_existing, overwrite: as ``lutsr upscale``.
        threads: Numba threads per task (1: let Dask run one task per worker thread).
        max_pixels: refuse larger inputs (default: ``lutsr.imageio``'s limit).

    Returns:
        A ``BatchResult``; failures are listed, never raised (bad options raise ``LutsrError``).
    """
    from lutsr.datasets import find_images

    if skip_existing and overwrite:
        raise LutsrError("skip_existing and overwrite are exclusive")
    out = Path(out_dir)
    if isinstance(paths, (str, os.PathLike)) and Path(paths).is_dir():
        root = Path(paths)
        srcs = list(find_images(root))
    else:
        root = None
        srcs = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if ext is not None and not ext.startswith("."):
        ext = "." + ext
    dsts = [_default_dst(s, root, out, suffix, ext) for s in srcs]
    if len(set(dsts)) != len(dsts):
        raise LutsrError("two inputs map to the same output name")
    for d in {d.parent for d in dsts}:
        d.mkdir(parents=True, exist_ok=True)
    res = BatchResult()
    for _, r in sorted(map_files(client, list(zip(srcs, dsts)), lut, threads=threads, max_pixels=max_pixels,
                                 overwrite=overwrite, skip_existing=skip_existing), key=lambda t: t[0]):
        if r.status == "written":
            res.written.append(r.dst)
        elif r.status == "skipped":
            res.skipped.append(r.dst)
        else:
            res.failed.append((r.src, r.message))
            log.warning("%s", r.message)
    return res
