"""One file of a batch: read, upscale, write atomically, with the folder mode's rules.

:func:`process_file` is the single per-file step of ``lutsr upscale IN_FOLDER OUT`` and of
:func:`lutsr.distributed.upscale_files` (one Dask task per file), so both follow the same
rules: an existing output is skipped (``skip_existing``), replaced (``overwrite``) or a
failure; the output appears atomically and, without ``overwrite``, never over a file that
appeared meanwhile; a failure is one line and never stops the batch. :func:`upscale_one`
is the raising step underneath (the single-image CLI mode uses it directly).

This module imports neither OpenCV nor the runtime at import time (the CLI sets OpenCV's
pixel limit before cv2 is first imported).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lutsr.errors import LutsrError

__all__ = ["FileOutcome", "default_memory_budget", "estimate_memory", "check_budget", "pick_lut", "upscale_one",
           "process_file", "process_files", "run_pixels", "default_jobs"]

log = logging.getLogger(__name__)


def default_memory_budget() -> int:
    """Bytes one image may need: 80% of the machine's physical memory (8 GiB if unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.8)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def estimate_memory(width: int, height: int, scale: int, channels: int = 3, itemsize: int = 1) -> int:
    """Bytes an upscale of a ``width`` x ``height`` image needs: decoded input, output, and the
    encoded output held in memory before it is written (bounded by the raw output size)."""
    in_bytes = width * height * channels * itemsize
    return in_bytes + 2 * in_bytes * scale * scale


def check_budget(src: Path, scale: int, budget: int | None, max_pixels: int) -> None:
    """Refuse, from the header alone, an image whose upscale would need more than ``budget`` bytes
    (``None``: no check). Raises ``LutsrError`` naming the file."""
    from lutsr.imageio import declared_size

    if budget is None:
        return
    try:
        with open(src, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return  # load_image reports it
    size = declared_size(head)
    if size is None:
        return
    w, h = size
    if w * h > max_pixels:
        return  # load_image refuses it against --max-pixels, with its own message
    need = estimate_memory(w, h, scale)
    if need > budget:
        raise LutsrError(f"{src}: {w}x{h} at x{scale} needs about {need / 2**30:.1f} GiB, over the memory budget "
                         f"of {budget / 2**30:.1f} GiB (--max-memory to change it)")


def pick_lut(lut, pixels, head: bytes | None):
    """``(lut, note)``: a loaded ``Lut`` as is (note ``""``), or the one an ``lutsr.restore.AutoLut``
    chooses for this image (``pixels``: decoded image; ``head``: the start of the encoded file)."""
    if not hasattr(lut, "pick"):
        return lut, ""
    chosen, note = lut.pick(pixels, head)
    log.debug("%s", note)
    return chosen, note


def _head(src: Path) -> bytes | None:
    try:
        with open(src, "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def run_pixels(lut, pixels, head: bytes | None, threads: int | None, outscale: float | None = None,
               size: tuple[int, int] | None = None, notes: list | None = None, lock=None, engine: str = "kernels"):
    """The restored or upscaled pixels of one decoded image: ``lut`` a loaded ``Lut``, or an
    ``lutsr.restore.AutoLut`` that picks one per image (its choice is appended to ``notes``).
    ``head``: the start of the encoded file (for AutoLut). ``lock``: held while the kernels run
    (parallel folders run one image's kernels at a time, on all threads, while other files
    decode and encode). ``engine``: as ``lutsr.upscale``. Raises ``LutsrError``."""
    from lutsr.runtime import upscale as run_upscale

    lut, note = pick_lut(lut, pixels, head)
    if note and notes is not None:
        notes.append(note)
    with lock if lock is not None else contextlib.nullcontext():
        if hasattr(lut, "apply"):  # a restoration plan (lutsr.restore.OpponentPlan)
            return lut.apply(pixels, threads, engine=engine)
        return run_upscale(pixels, lut, threads=threads, outscale=outscale, size=size, engine=engine)


def upscale_one(src: Path, dst: Path, lut, threads: int | None, max_pixels: int, budget: int | None = None,
                outscale: float | None = None, size: tuple[int, int] | None = None,
                overwrite: bool = False, notes: list | None = None, options=None,
                lock=None, engine: str = "kernels") -> tuple[tuple[int, int], tuple[int, int]]:
    """Read ``src``, run ``lut`` on it (a loaded ``Lut``, or an ``lutsr.restore.AutoLut`` that picks
    one per image), write ``dst`` atomically (without ``overwrite``, never over a file that appeared
    meanwhile: ``OutputExistsError``). ``notes``: the AutoLut's choice is appended here.
    ``options``: ``lutsr.imageio.EncodeOptions``; ``lock``, ``engine``: as :func:`run_pixels`.

    Returns the input and output ``(width, height)``. Raises ``LutsrError`` / ``OSError``.
    """
    from lutsr.imageio import load_image, save_image

    check_budget(src, lut.scale or math.ceil(outscale or 8), budget, max_pixels)
    img = load_image(src, max_pixels=max_pixels)
    try:
        out = run_pixels(lut, img.pixels, _head(src) if hasattr(lut, "pick") else None, threads, outscale, size,
                         notes, lock, engine)
    except LutsrError as e:
        raise LutsrError(f"{src}: {e}") from None
    in_size, out_size = img.pixels.shape[1::-1], out.shape[1::-1]
    del img.pixels
    save_image(dst, out, img.metadata, inplace=True, overwrite=overwrite, options=options)
    return in_size, out_size


@dataclass(frozen=True)
class FileOutcome:
    """What :func:`process_file` did with one file.

    Attributes:
        status: ``"written"``, ``"skipped"`` (the output exists and ``skip_existing``) or ``"failed"``.
        src, dst: the input and output paths.
        message: the failure's message (naming the file; one line unless a file name holds a
            newline: print it escaped), ``""`` otherwise.
        note: with an ``lutsr.restore.AutoLut``, the table it chose and why; ``""`` otherwise.
    """

    status: str
    src: Path
    dst: Path
    message: str = ""
    note: str = ""  # the table an AutoLut chose for this file ("denoise_s25 LUT (estimated ...)")


def process_file(src: Path, dst: Path, lut, *, threads: int | None = None, max_pixels: int | None = None,
                 budget: int | None = None, outscale: float | None = None, overwrite: bool = False,
                 skip_existing: bool = False, options=None, lock=None) -> FileOutcome:
    """One file of a folder run: the existence rules, the output folder, :func:`upscale_one`.

    Args:
        src, dst: input image and output path (``dst``'s parent is created).
        lut: a loaded ``Lut``.
        threads: Numba threads for this image (``None``: the runtime's default).
        max_pixels: refuse larger inputs (``None``: ``lutsr.imageio.DEFAULT_MAX_PIXELS``).
        budget: memory budget in bytes, checked from the header (``None``: no check).
        outscale: output scale for a LUT that resamples.
        overwrite, skip_existing: as ``lutsr upscale`` (exclusive).
        options: encoder settings (``lutsr.imageio.EncodeOptions``); ``lock``: as :func:`run_pixels`.

    Returns:
        A :class:`FileOutcome`. Expected failures (``LutsrError``, ``OSError``) are returned as
        ``"failed"`` with their message; anything else propagates.
    """
    from lutsr.imageio import DEFAULT_MAX_PIXELS, OutputExistsError

    src, dst = Path(src), Path(dst)
    try:
        if dst.exists():
            if skip_existing:
                return FileOutcome("skipped", src, dst)
            if not overwrite:
                raise LutsrError(f"{dst}: already exists; use --overwrite to replace it")
            if src.exists() and dst.resolve() == src.resolve():
                raise LutsrError(f"{dst}: refusing to write over an input")
        dst.parent.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        upscale_one(src, dst, lut, threads, max_pixels or DEFAULT_MAX_PIXELS, budget, outscale,
                    overwrite=overwrite, notes=notes, options=options, lock=lock)
        return FileOutcome("written", src, dst, note=notes[-1] if notes else "")
    except OutputExistsError as e:  # another run wrote it meanwhile
        if skip_existing:
            return FileOutcome("skipped", src, dst)
        return FileOutcome("failed", src, dst, _one_line(e))
    except (LutsrError, OSError) as e:
        msg = _one_line(e) if isinstance(e, LutsrError) else f"{src}: {_one_line(e)}"
        return FileOutcome("failed", src, dst, msg)


def _one_line(e: BaseException) -> str:
    """The exception's message as is (a file name may hold a newline: callers escape it when printing)."""
    return str(e) or type(e).__name__


def default_jobs() -> int:
    """Files in flight in a local folder run when ``-j`` is not given: twice the cores, at most 4
    (decoding and encoding of some files overlap the kernels of another; on the 2-core development
    machine 36 photos ran 1.56x faster with 2, 1.75x with 4, ``tools/bench_folders.py``)."""
    return min(4, 2 * (os.cpu_count() or 1))


def process_files(plan, lut, *, jobs: int = 1, **opts) -> Iterator[tuple[int, FileOutcome]]:
    """:func:`process_file` for every ``(src, dst)`` in ``plan``, ``jobs`` files at a time.

    With ``jobs > 1`` a thread pool decodes, encodes and writes up to ``jobs`` files at once while
    one image at a time runs the kernels (on all of their threads): OpenCV's codecs release the
    GIL, so PNG encoding, most of a folder's time, overlaps the lookups. Every guarantee of
    :func:`process_file` holds per file; the outputs are the same bytes as with ``jobs=1``.
    Yields ``(index in plan, FileOutcome)`` as files complete (in plan order when ``jobs == 1``).
    ``opts``: :func:`process_file`'s keywords (``budget`` is per file).
    """
    plan = list(plan)
    if jobs <= 1 or len(plan) <= 1:
        for i, (s, d) in enumerate(plan):
            yield i, process_file(s, d, lut, **opts)
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    lock = threading.Lock()
    todo = iter(enumerate(plan))
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lutsr-file") as pool:
        running: dict = {}

        def submit() -> None:  # a new file only when one finishes: at most `jobs` decoded at once
            nxt = next(todo, None)
            if nxt is not None:
                i, (s, d) = nxt
                running[pool.submit(process_file, s, d, lut, lock=lock, **opts)] = i

        for _ in range(jobs):
            submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                i = running.pop(fut)
                submit()
                yield i, fut.result()
