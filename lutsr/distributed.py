"""Batch upscaling on a Dask cluster: one task decodes, upscales and encodes one file.

Same guarantees as the local folder mode of ``lutsr upscale``: outputs appear atomically
(``lutsr.imageio.save_image`` writes a temporary file, then renames), nothing is
overwritten without ``overwrite=True``, an input is never written over, existing outputs
are left alone with ``skip_existing=True``, and a failed file is listed and returned, the
others processed. The LUT file's bytes are scattered once (broadcast) and each worker
loads and compiles it once, cached by its sha256; tasks carry only the hash's future.
Requires ``pip install "lutsr[dask]"``; importing ``lutsr`` never imports dask.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lutsr.errors import LutsrError

__all__ = ["BatchResult", "upscale_files"]

log = logging.getLogger(__name__)

_worker_luts: dict[str, object] = {}


@dataclass
class BatchResult:
    """What a batch did: outputs written, skipped (existing), and ``(input, message)`` failures."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _lut_on_worker(sha: str, blob: bytes):
    """The LUT with content hash ``sha``, loaded (and validated) once per worker process."""
    lut = _worker_luts.get(sha)
    if lut is None:
        from lutsr.lut.file import load_lut

        if hashlib.sha256(blob).hexdigest() != sha:
            raise LutsrError("LUT bytes do not match their hash")
        fd, tmp = tempfile.mkstemp(suffix=".lut")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            lut = load_lut(tmp)
        finally:
            os.unlink(tmp)
        _worker_luts[sha] = lut
    return lut


def _task(src: str, dst: str, sha: str, blob, threads: int | None, overwrite: bool, skip_existing: bool,
          max_pixels: int | None) -> tuple[str, str, str]:
    """Upscale one file; returns ``(status, src, message)`` with status written/skipped/failed. Never raises."""
    from lutsr.imageio import load_image, save_image
    from lutsr.runtime import upscale

    s, d = Path(src), Path(dst)
    try:
        if d.exists():
            if skip_existing:
                return "skipped", src, ""
            if not overwrite:
                return "failed", src, f"{d} exists (use overwrite=True to replace it)"
        if d.exists() and s.exists() and d.resolve() == s.resolve():
            return "failed", src, f"{d} is the input; an input is never written over"
        lut = _lut_on_worker(sha, blob) if sha else None
        kw = {} if max_pixels is None else {"max_pixels": max_pixels}
        img = load_image(s, **kw)
        try:
            out = upscale(img.pixels, lut, threads=threads)
        except LutsrError as e:
            raise LutsrError(f"{s}: {e}") from None
        save_image(d, out, img.metadata, inplace=True)
        return "written", src, ""
    except (LutsrError, OSError, ValueError) as e:
        return "failed", src, str(e).splitlines()[0] if str(e) else type(e).__name__


def _default_dst(src: Path, root: Path | None, out_dir: Path, suffix: str, ext: str | None) -> Path:
    rel = src.relative_to(root) if root is not None else Path(src.name)
    return out_dir / rel.with_name(rel.stem + suffix + (ext or src.suffix))


def upscale_files(paths: str | os.PathLike | Iterable[str | os.PathLike], out_dir: str | os.PathLike, client,
                  lut: str | os.PathLike | None = None, skip_existing: bool = False, overwrite: bool = False,
                  suffix: str = "", ext: str | None = None, threads: int | None = 1,
                  max_pixels: int | None = None) -> BatchResult:
    """Upscale many files on a Dask ``distributed.Client``, one task per file.

    Args:
        paths: a folder (its images, recursively; the tree is kept under ``out_dir``) or
            an iterable of image paths (written flat into ``out_dir``). Paths must be
            readable by the workers (a shared file system or object-store mount).
        out_dir: output folder (created); outputs are ``stem + suffix + (ext or input's)``.
        client: a ``distributed.Client``.
        lut: a LUT file (sent once, by content); None: the shipped default LUT.
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
    sha, blob = "", None
    if lut is not None:
        data = Path(lut).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        [blob] = client.scatter([data], broadcast=True, hash=False)  # once per worker, not per task
    futs = [client.submit(_task, str(s), str(d), sha, blob, threads, overwrite, skip_existing, max_pixels,
                          pure=False, retries=2) for s, d in zip(srcs, dsts)]
    res = BatchResult()
    for (status, src, msg), d in zip(client.gather(futs), dsts):
        if status == "written":
            res.written.append(d)
        elif status == "skipped":
            res.skipped.append(d)
        else:
            res.failed.append((Path(src), msg))
            log.warning("%s", msg)
    return res
