"""Denoise and deblock with scale-1 LUTs: choosing the table, blind levels, the public API.

``lutsr denoise`` / ``lutsr deblock`` and :func:`denoise` / :func:`deblock` resolve a LUT the
same way:

* an explicit LUT (file or loaded :class:`~lutsr.lut.file.Lut`) must be a same-size LUT of that
  task (its header's ``task``); a level asked for alongside it must match the file's;
* otherwise the shipped table of the task (``luts/denoise_s{sigma}.lut``,
  ``luts/deblock_q{quality}.lut``) nearest to the level asked for, said once in the log when it
  is not the exact level;
* ``"auto"``: per image, from a blind estimate: the noise sigma
  (:func:`lutsr.tasks.estimate_noise_sigma`), or the JPEG quality read from the file's
  quantisation tables (:func:`lutsr.tasks.jpeg_quality_of`; a file that is not a JPEG has no
  quality to read and is refused with one line). :class:`AutoLut` does the choosing.

Colour images run the table on each channel (R, G, B; alpha as ``lutsr.upscale`` treats it).
Nothing here imports torch.
"""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError, LutsrError
from lutsr.lut.file import Lut, load_lut
from lutsr.tasks import SHIPPED_LEVELS, Task, estimate_noise_sigma, jpeg_quality_of, nearest_level

__all__ = ["AutoLut", "shipped_task_path", "shipped_task_lut", "task_lut", "denoise", "deblock"]

log = logging.getLogger(__name__)

_LOADED: dict[str, Lut] = {}


def shipped_task_path(task: Task) -> Path:
    """Path of the shipped LUT for exactly ``task`` (``luts/{task.name}.lut``).

    Raises:
        LutFormatError: none is shipped at that level.
    """
    p = Path(str(files("lutsr.luts") / f"{task.name}.lut"))
    if not p.is_file():
        raise LutFormatError(f"no {task} LUT is shipped ({p.name}); shipped {task.kind} levels: "
                             f"{', '.join(map(str, SHIPPED_LEVELS[task.kind]))}")
    return p


def shipped_task_lut(kind: str, level: float) -> Lut:
    """The shipped LUT of ``kind`` nearest to ``level`` (loaded once per process)."""
    task = Task(kind, nearest_level(kind, level))
    if task.name not in _LOADED:
        _LOADED[task.name] = load_lut(shipped_task_path(task))
    return _LOADED[task.name]


def _check_task_lut(lut: Lut, kind: str, level: int | None) -> Lut:
    task = lut.task
    if task is None or task.kind != kind:
        what = f"a {task} LUT" if task is not None else (f"a x{lut.scale} upscaling LUT" if lut.scale != 1
                                                         else "a same-size LUT made for no task")
        raise LutsrError(f"{lut.path or lut}: is {what}, not a {kind} LUT")
    if level is not None and level != task.level:
        raise LutsrError(f"{lut.path or lut}: is a {task} LUT, but {task.level_name} {level} was asked for "
                         f"(leave it out to use the file's)")
    return lut


class AutoLut:
    """Chooses, per image, the shipped LUT of a task from a blind estimate of the image's level.

    ``pick(pixels, data)`` returns ``(lut, note)``: ``pixels`` is the decoded image (denoising
    estimates sigma from it), ``data`` the start of the encoded file (deblocking reads the JPEG
    quality from it; ``None`` or a non-JPEG raises ``LutsrError``). Behaves as a scale-1 LUT
    where the batch code asks (``scale``, ``str``); picklable (Dask).
    """

    scale = 1

    def __init__(self, kind: str) -> None:
        if kind not in SHIPPED_LEVELS:
            raise LutsrError(f"unknown task {kind!r}")
        self.kind = kind

    @property
    def luts(self) -> list[Lut]:
        """Every shipped LUT it may pick (for warm-up)."""
        return [shipped_task_lut(self.kind, v) for v in SHIPPED_LEVELS[self.kind]]

    def estimate(self, pixels: np.ndarray | None, data: bytes | None) -> float:
        """The blind level of one image: sigma (from ``pixels``) or JPEG quality (from ``data``)."""
        if self.kind == "denoise":
            return estimate_noise_sigma(pixels)
        q = jpeg_quality_of(data) if data is not None else None
        if q is None:
            raise LutsrError("not a JPEG file, so there is no JPEG quality to read: give --quality")
        return float(q)

    def pick(self, pixels: np.ndarray | None, data: bytes | None = None) -> tuple[Lut, str]:
        level = self.estimate(pixels, data)
        lut = shipped_task_lut(self.kind, level)
        name = "estimated noise sigma" if self.kind == "denoise" else "JPEG quality"
        return lut, f"{name} {level:.1f} -> {lut.task.name}"

    def __str__(self) -> str:
        return f"the shipped {self.kind} LUT chosen per image"


def task_lut(kind: str, level: int | str | None, lut: Lut | str | os.PathLike | None = None) -> Lut | AutoLut:
    """The LUT ``lutsr denoise`` / ``lutsr deblock`` use (see the module docstring).

    Args:
        kind: ``"denoise"`` or ``"deblock"``.
        level: sigma / quality (validated by :class:`~lutsr.tasks.Task`), ``"auto"`` for a blind
            choice per image, or ``None`` (with ``lut``: the file's; without: ``"auto"``).
        lut: a LUT file or loaded LUT of that task.
    """
    if isinstance(level, str) and level != "auto":
        raise LutsrError(f"{kind}: level {level!r} is neither a number nor 'auto'")
    if lut is not None:
        if level == "auto":
            raise LutsrError(f"'auto' chooses among the shipped {kind} LUTs; it does not go with a LUT file")
        if level is not None:
            Task(kind, level)  # one-line error for an out-of-range level
        loaded = lut if isinstance(lut, Lut) else load_lut(Path(lut))
        return _check_task_lut(loaded, kind, level)
    if level is None or level == "auto":
        return AutoLut(kind)
    task = Task(kind, level)
    chosen = shipped_task_lut(kind, task.level)
    if chosen.task.level != task.level:
        log.info("no %s LUT is shipped; using the nearest, %s", task, chosen.task)
    return chosen


def _run(kind: str, image: np.ndarray, level, lut, threads: int | None) -> np.ndarray:
    from lutsr.runtime.api import upscale

    chosen = task_lut(kind, level, lut)
    if isinstance(chosen, AutoLut):
        chosen, note = chosen.pick(np.asarray(image), None)
        log.info("%s", note)
    return upscale(image, chosen, threads=threads)


def denoise(image: np.ndarray, sigma: int | str | None = 25, lut: Lut | str | os.PathLike | None = None,
            threads: int | None = None) -> np.ndarray:
    """Remove white Gaussian noise from an image with a LUT.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` uint8 (or what :func:`lutsr.upscale` takes); each
            channel is denoised by the same table.
        sigma: noise sigma in 0..255 steps (the nearest shipped table: 15, 25 or 50), or
            ``"auto"`` to estimate it from the image; ``None`` with ``lut``: the file's.
        lut: a denoising LUT file or :class:`~lutsr.lut.file.Lut` instead of a shipped one.
        threads: runtime threads (default: all cores).

    Returns:
        An array of ``image``'s shape and dtype.
    """
    return _run("denoise", image, sigma, lut, threads)


def deblock(image: np.ndarray, quality: int | None = None, lut: Lut | str | os.PathLike | None = None,
            threads: int | None = None) -> np.ndarray:
    """Remove JPEG compression artefacts from a decoded image with a LUT.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` uint8 decoded JPEG; each channel runs the same table.
        quality: the JPEG quality it was saved at (1..100; the nearest shipped table: 10, 20, 30,
            40), or ``None`` with ``lut`` (the file's). The quality of a JPEG file can be read
            with :func:`lutsr.tasks.jpeg_quality_of`.
        lut: a deblocking LUT file or :class:`~lutsr.lut.file.Lut` instead of a shipped one.
        threads: runtime threads.

    Returns:
        An array of ``image``'s shape and dtype.
    """
    if quality is None and lut is None:
        raise LutsrError("deblock: give quality (the JPEG quality the image was saved at) or a lut")
    if quality == "auto":
        raise LutsrError("deblock: 'auto' reads the quality from a JPEG file; here pass quality=jpeg_quality_of(data)")
    return _run("deblock", image, quality, lut, threads)
