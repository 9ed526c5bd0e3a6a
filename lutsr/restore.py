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

__all__ = ["AutoLut", "OpponentPlan", "OPPONENT_NOISE", "to_opponent", "from_opponent", "run_runner",
           "FAST_KINDS", "shipped_task_path", "shipped_task_lut", "task_lut", "denoise", "deblock"]

log = logging.getLogger(__name__)

_LOADED: dict[str, Lut] = {}


#: Task kinds with a fast variant shipped (``luts/{kind}-fast_{s|q}{level}.lut``: ``srlut-v`` tables,
#: two-pixel direct lookups, many times faster and less sharp than the default ``sdy2`` cascades).
FAST_KINDS: tuple[str, ...] = ("denoise",)


def shipped_task_path(task: Task, fast: bool = False) -> Path:
    """Path of the shipped LUT for exactly ``task`` (``luts/{task.name}.lut``; ``fast``: the fast
    variant ``luts/{kind}-fast_...``).

    Raises:
        LutFormatError: none is shipped at that level.
    """
    if fast and task.kind not in FAST_KINDS:
        raise LutFormatError(f"no fast {task.kind} LUTs are shipped (only for: {', '.join(FAST_KINDS)})")
    name = task.name.replace("_", "-fast_", 1) if fast else task.name
    p = Path(str(files("lutsr.luts") / f"{name}.lut"))
    if not p.is_file():
        raise LutFormatError(f"no {task} LUT is shipped ({p.name}); shipped {task.kind} levels: "
                             f"{', '.join(map(str, SHIPPED_LEVELS[task.kind]))}")
    return p


def shipped_task_lut(kind: str, level: float, fast: bool = False) -> Lut:
    """The shipped LUT of ``kind`` nearest to ``level`` (``fast``: the fast variant; loaded once per process)."""
    task = Task(kind, nearest_level(kind, level))
    key = f"{task.name}{'-fast' if fast else ''}"
    if key not in _LOADED:
        _LOADED[key] = load_lut(shipped_task_path(task, fast))
    return _LOADED[key]


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


#: Noise sigma of each opponent colour channel per unit of RGB noise sigma (:func:`to_opponent`).
OPPONENT_NOISE: tuple[float, float, float] = (1 / np.sqrt(3), 1 / np.sqrt(2), np.sqrt(6) / 4)


def to_opponent(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 RGB -> uint8 opponent channels ``((R+G+B)/3, (R-B)/2 + 128, (R-2G+B)/4 + 128)``.

    The three rows are orthogonal, so white noise of sigma ``s`` on R, G, B stays white and
    independent, with sigma ``s * OPPONENT_NOISE[c]`` in channel ``c``; natural images put most of
    their structure in the first channel and little in the other two (CBM3D's colour transform, in
    8-bit form). Rounded half to even, clipped to 0..255, computed in integers (the tests check it
    against the float formula).
    """
    x = np.asarray(rgb).astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    out = np.empty(x.shape[:-1] + (3,), np.int16)
    out[..., 0] = (r + g + b + 1) // 3  # s/3 never ties
    d = r - b  # round(d / 2), half to even
    q = d >> 1
    out[..., 1] = q + (d & q & 1) + 128
    e = r - 2 * g + b  # round(e / 4), half to even
    q, rem = e >> 2, e & 3
    out[..., 2] = q + ((rem == 3) | ((rem == 2) & (q & 1 == 1))) + 128
    return np.clip(out, 0, 255).astype(np.uint8)


def from_opponent(t: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_opponent` (exact before rounding): uint8 ``(..., 3)`` RGB.

    ``R = y + c1 + 2 c2 / 3``, ``G = y - 4 c2 / 3``, ``B = y - c1 + 2 c2 / 3`` (``c1``, ``c2`` without
    their 128 offset), rounded (thirds never tie) and clipped, computed in integers.
    """
    x = np.asarray(t).astype(np.int16)
    y3, c1, c2 = 3 * x[..., 0], x[..., 1] - 128, x[..., 2] - 128
    out = np.empty(x.shape[:-1] + (3,), np.int16)
    out[..., 0] = (y3 + 3 * c1 + 2 * c2 + 1) // 3
    out[..., 1] = (y3 - 4 * c2 + 1) // 3
    out[..., 2] = (y3 - 3 * c1 + 2 * c2 + 1) // 3
    return np.clip(out, 0, 255).astype(np.uint8)


#: Opponent channels are denoised only when every channel's sigma is within this fraction of a shipped
#: level (a table made for a quite different sigma does worse than R, G, B with the right one: at sigma 50
#: with tables 15/25/50, -0.9 dB on CBSD68, before the sigma 35 table was shipped).
OPPONENT_TOLERANCE = 0.2


def _levels_fit(sigmas) -> bool:
    return all(abs(nearest_level("denoise", s) - s) <= OPPONENT_TOLERANCE * s for s in sigmas)


class OpponentPlan:
    """Denoise a colour image on its opponent channels, each with the shipped table nearest to its
    own noise sigma (``apply``); alpha, if any, is kept as it is."""

    scale = 1

    def __init__(self, luts: tuple[Lut, Lut, Lut]) -> None:
        self.luts = luts

    def apply(self, pixels: np.ndarray, threads: int | None = None, engine: str = "kernels") -> np.ndarray:
        from lutsr.runtime.api import upscale

        t = to_opponent(pixels[..., :3])
        out = np.stack([upscale(np.ascontiguousarray(t[..., c]), lut, threads=threads, engine=engine)
                        for c, lut in enumerate(self.luts)], axis=-1)
        rgb = from_opponent(out)
        return np.concatenate([rgb, pixels[..., 3:]], axis=-1) if pixels.shape[-1] > 3 else rgb

    def __str__(self) -> str:
        return "+".join(_stem(lut) for lut in self.luts) + " on opponent colour channels"


def _stem(lut: Lut) -> str:
    return lut.path.stem if lut.path else lut.task.name


class AutoLut:
    """Chooses, per image, the shipped table(s) of a task: at a given level, or from a blind estimate.

    ``pick(pixels, data)`` returns ``(runner, note)``: ``pixels`` is the decoded image (denoising
    estimates sigma from it when ``level`` is ``"auto"``), ``data`` the start of the encoded file
    (deblocking reads the JPEG quality from it; ``None`` or a non-JPEG raises ``LutsrError``).
    ``runner`` is a LUT, or for denoising a uint8 colour image with ``colour="opponent"`` an
    :class:`OpponentPlan` (``runner.apply(pixels, threads)``). Behaves as a scale-1 LUT where the
    batch code asks (``scale``, ``str``); picklable (Dask).
    """

    scale = 1

    def __init__(self, kind: str, fast: bool = False, level: float | str = "auto", colour: str = "opponent") -> None:
        if kind not in SHIPPED_LEVELS:
            raise LutsrError(f"unknown task {kind!r}")
        if fast and kind not in FAST_KINDS:
            raise LutsrError(f"no fast {kind} LUTs are shipped (only for: {', '.join(FAST_KINDS)})")
        if colour not in ("opponent", "rgb"):
            raise LutsrError(f"colour mode {colour!r}: expected 'opponent' or 'rgb'")
        if level != "auto":
            Task(kind, level)  # one-line error for an out-of-range level
        self.kind, self.fast, self.level, self.colour = kind, fast, level, colour

    @property
    def luts(self) -> list[Lut]:
        """Every shipped LUT it may pick (for warm-up)."""
        return [shipped_task_lut(self.kind, v, self.fast) for v in SHIPPED_LEVELS[self.kind]]

    def estimate(self, pixels: np.ndarray | None, data: bytes | None) -> float:
        """The blind level of one image: sigma (from ``pixels``) or JPEG quality (from ``data``)."""
        if self.kind == "denoise":
            return estimate_noise_sigma(pixels)
        q = jpeg_quality_of(data) if data is not None else None
        if q is None:
            raise LutsrError("not a JPEG file, so there is no JPEG quality to read: give --quality")
        return float(q)

    def pick(self, pixels: np.ndarray | None, data: bytes | None = None):
        blind = self.level == "auto"
        level = self.estimate(pixels, data) if blind else float(self.level)
        if blind:
            what = f"estimated noise sigma {level:.1f}" if self.kind == "denoise" else f"JPEG quality {int(level)}"
        else:
            what = f"{'sigma' if self.kind == 'denoise' else 'quality'} {int(level)}"
        px = np.asarray(pixels) if pixels is not None else None
        sig = [level * k for k in OPPONENT_NOISE]
        if (self.kind == "denoise" and self.colour == "opponent" and px is not None and px.dtype == np.uint8
                and px.ndim == 3 and px.shape[2] >= 3 and _levels_fit(sig)):
            plan = OpponentPlan(tuple(shipped_task_lut("denoise", v, self.fast) for v in sig))
            names = {_stem(lut) for lut in plan.luts}
            return plan, (f"{'+'.join(_stem(lut) for lut in plan.luts) if len(names) > 1 else names.pop()} LUT on "
                          f"opponent colour channels ({what}; channel sigmas {'/'.join(f'{v:.1f}' for v in sig)})")
        lut = shipped_task_lut(self.kind, level, self.fast)
        return lut, f"{_stem(lut)} LUT ({what})"

    path = None  # for code that labels LUTs by file (lutsr eval)

    @property
    def header(self) -> dict:
        """A LUT-like description for provenance records."""
        return {"method": f"shipped {'fast ' if self.fast else ''}{self.kind} tables", "level": self.level,
                "colour": self.colour}

    def __str__(self) -> str:
        lvl = "chosen per image" if self.level == "auto" else f"for {'sigma' if self.kind == 'denoise' else 'quality'} {self.level}"
        return f"the shipped {'fast ' if self.fast else ''}{self.kind} LUTs {lvl}"


def task_lut(kind: str, level: int | str | None, lut: Lut | str | os.PathLike | None = None,
             fast: bool = False, colour: str = "opponent") -> Lut | AutoLut:
    """The LUT ``lutsr denoise`` / ``lutsr deblock`` use (see the module docstring).

    Args:
        kind: ``"denoise"`` or ``"deblock"``.
        level: sigma / quality (validated by :class:`~lutsr.tasks.Task`), ``"auto"`` for a blind
            choice per image, or ``None`` (with ``lut``: the file's; without: ``"auto"``).
        lut: a LUT file or loaded LUT of that task.
        fast: the shipped fast variant (``FAST_KINDS``) instead of the default tables.
        colour: denoising colour images with the shipped tables: ``"opponent"`` (default: on the
            opponent colour channels, :class:`OpponentPlan`) or ``"rgb"`` (each of R, G, B). A LUT
            file always runs on R, G, B (its table is for one sigma).
    """
    if isinstance(level, str) and level != "auto":
        raise LutsrError(f"{kind}: level {level!r} is neither a number nor 'auto'")
    if lut is not None:
        if fast:
            raise LutsrError("fast chooses among the shipped tables; it does not go with a LUT file")
        if level == "auto":
            raise LutsrError(f"'auto' chooses among the shipped {kind} LUTs; it does not go with a LUT file")
        if level is not None:
            Task(kind, level)  # one-line error for an out-of-range level
        loaded = lut if isinstance(lut, Lut) else load_lut(Path(lut))
        return _check_task_lut(loaded, kind, level)
    if level is None or level == "auto":
        return AutoLut(kind, fast, colour=colour)
    task = Task(kind, level)
    if kind == "denoise":
        return AutoLut(kind, fast, level=task.level, colour=colour)  # per image: gray or colour
    chosen = shipped_task_lut(kind, task.level, fast)
    if chosen.task.level != task.level:
        log.info("no %s LUT is shipped; using the nearest, %s", task, chosen.task)
    return chosen


def run_runner(runner, pixels: np.ndarray, threads: int | None = None, **kw) -> np.ndarray:
    """``runner.apply(pixels)`` for a plan (:class:`OpponentPlan`), else ``lutsr.upscale(pixels, runner)``."""
    if hasattr(runner, "apply"):
        return runner.apply(pixels, threads)
    from lutsr.runtime.api import upscale

    return upscale(pixels, runner, threads=threads, **kw)


def _run(kind: str, image: np.ndarray, level, lut, threads: int | None, fast: bool = False,
         colour: str = "opponent") -> np.ndarray:
    chosen = task_lut(kind, level, lut, fast, colour)
    if isinstance(chosen, AutoLut):
        chosen, note = chosen.pick(np.asarray(image), None)
        log.debug("%s", note)
    return run_runner(chosen, np.asarray(image), threads)


def denoise(image: np.ndarray, sigma: int | str | None = 25, lut: Lut | str | os.PathLike | None = None,
            threads: int | None = None, fast: bool = False, colour: str = "opponent") -> np.ndarray:
    """Remove white Gaussian noise from an image with a LUT.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` uint8 (or what :func:`lutsr.upscale` takes); each
            channel is denoised by the same table.
        sigma: noise sigma in 0..255 steps (the nearest shipped table: 15, 25 or 50), or
            ``"auto"`` to estimate it from the image; ``None`` with ``lut``: the file's.
        lut: a denoising LUT file or :class:`~lutsr.lut.file.Lut` instead of a shipped one.
        threads: runtime threads (default: all cores).
        fast: the shipped fast tables (``srlut-v``: many times faster, less sharp; docs/restore.md).
        colour: ``"opponent"`` (default) denoises a uint8 colour image on its opponent colour
            channels (:func:`to_opponent`), each with the table nearest to its own sigma;
            ``"rgb"`` runs the sigma table on R, G and B. Ignored for gray images and LUT files.

    Returns:
        An array of ``image``'s shape and dtype.
    """
    return _run("denoise", image, sigma, lut, threads, fast, colour)


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
