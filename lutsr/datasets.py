"""Image folders and evaluation pairs: HR modcropped, LR by MATLAB bicubic (or read from an LR folder).

Training patches (random crops) live in ``lutsr.train.data``; ``lutsr.fit`` streams its own pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lutsr.errors import ImageError, LutsrError
from lutsr.imageio import IMAGE_EXTENSIONS, is_temp_name, read_image
from lutsr.imresize import imresize, modcrop
from lutsr.metrics import rgb_to_y

__all__ = ["find_images", "hr_folder", "find_lr", "eval_pair", "load_eval_pairs", "restore_eval_pair",
           "restore_eval_pairs"]

log = logging.getLogger(__name__)


def find_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (any common extension, case-insensitive), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise LutsrError(f"{root}: not a folder")
    it = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in it if p.suffix.lower() in IMAGE_EXTENSIONS and not _is_temp(p.name) and p.is_file())


def _is_temp(name: str) -> bool:
    """Temporary files of an interrupted write (this version's and older ``.NAME.XXXX.tmp.EXT``)."""
    return name.startswith(".") and (is_temp_name(name) or ".tmp." in name)


def hr_folder(dataset: str | Path) -> Path:
    """The HR images of a benchmark folder: ``dataset/HR`` when it exists, else ``dataset`` itself."""
    dataset = Path(dataset)
    return dataset / "HR" if (dataset / "HR").is_dir() else dataset


def find_lr(lr_dir: Path, stem: str, scale: int) -> Path | None:
    """The LR file for HR ``stem`` in ``lr_dir``: ``stem``, ``stemx4``, ``stem_x4``, ``stem_GT``, any extension."""
    for cand in (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_GT", f"{stem}_LR"):
        for ext in IMAGE_EXTENSIONS:
            p = Path(lr_dir) / f"{cand}{ext}"
            if p.is_file():
                return p
    return None


def eval_pair(hr_path: str | Path, scale: int, rounding: str = "double",
              lr_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, hr)`` uint8 for one HR image, as published tables evaluate it.

    HR is read (alpha dropped) and modcropped to a multiple of ``scale``; LR is the
    MATLAB-compatible bicubic downscale of that (``rounding``: ``"double"`` or ``"per_pass"``),
    or the matching file in ``lr_dir`` (``find_lr``).

    Raises:
        LutsrError: an image cannot be read, is smaller than ``scale``, or ``lr_dir`` has no LR image for it.
    """
    hr_path = Path(hr_path)
    hr = read_image(hr_path)
    if hr.ndim == 3:
        hr = hr[..., :3]
    h, w = hr.shape[:2]
    hr = modcrop(hr, scale)
    if hr.size == 0:
        raise LutsrError(f"{hr_path}: {w}x{h} is smaller than the scale {scale} (nothing is left after "
                         f"cropping to a multiple of {scale})")
    if lr_dir is None:
        return imresize(hr, 1.0 / scale, rounding=rounding), hr
    lp = find_lr(Path(lr_dir), hr_path.stem, scale)
    if lp is None:
        raise LutsrError(f"{hr_path.name}: no LR image for it in {lr_dir}")
    lr = read_image(lp)
    return (lr[..., :3] if lr.ndim == 3 else lr), hr


def load_eval_pairs(folder: str | Path, scale: int, rounding: str = "double") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, lr, hr)`` for every HR image in ``folder`` (``eval_pair``); unreadable ones are skipped."""
    pairs = []
    for f in find_images(folder, recursive=False):
        try:
            lr, hr = eval_pair(f, scale, rounding)
        except ImageError as e:
            log.warning("skipping: %s", e)
            continue
        pairs.append((f.stem, lr, hr))
    return pairs


def restore_eval_pair(path: str | Path, task) -> tuple[np.ndarray, np.ndarray]:
    """``(degraded, clean)`` uint8 for one clean benchmark image and a ``lutsr.tasks.Task``.

    The clean image is read as stored (gray stays one channel, alpha dropped). Denoising:
    ``task.degrade(clean, seed=0)`` over all channels at once (RGB order). Deblocking: a
    colour image is first reduced to its BT.601 Y channel (``metrics.rgb_to_y``, rounded to
    uint8), as JPEG-artefact papers score LIVE1; then ``task.degrade``.
    """
    clean = read_image(Path(path))
    if clean.ndim == 3:
        clean = clean[..., :3]
        if task.kind == "deblock":
            clean = np.clip(np.round(rgb_to_y(clean)), 0, 255).astype(np.uint8)
    return task.degrade(clean, seed=0), clean


def restore_eval_pairs(folder: str | Path, task) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, degraded, clean)`` for every image in ``folder`` (``restore_eval_pair``); unreadable ones skipped."""
    pairs = []
    for f in find_images(folder, recursive=False):
        try:
            lr, hr = restore_eval_pair(f, task)
        except ImageError as e:
            log.warning("skipping: %s", e)
            continue
        pairs.append((f.stem, lr, hr))
    return pairs
