"""Training and evaluation data: image folders, random HR crops, on-the-fly MATLAB-bicubic LR."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lutsr.errors import ImageError, LutsrError
from lutsr.imageio import IMAGE_EXTENSIONS, read_image
from lutsr.imresize import imresize, modcrop, resize_weights

__all__ = ["find_images", "load_training_channels", "PatchSampler", "load_eval_pairs"]

log = logging.getLogger(__name__)


def find_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (any common extension, case-insensitive), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise LutsrError(f"{root}: not a folder")
    it = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _channels(img: np.ndarray) -> list[np.ndarray]:
    if img.ndim == 2:
        return [img]
    return [np.ascontiguousarray(img[..., c]) for c in range(min(img.shape[2], 3))]


def load_training_channels(folder: str | Path, min_side: int = 1) -> list[np.ndarray]:
    """All colour channels of all images under ``folder`` as 2-D uint8 arrays.

    Each channel is one grayscale training sample. Unreadable images are skipped with a
    warning; images smaller than ``min_side`` on either side are skipped.
    """
    files = find_images(folder)
    chans: list[np.ndarray] = []
    skipped_small = 0
    for f in files:
        try:
            img = read_image(f)
        except ImageError as e:
            log.warning("skipping training image: %s", e)
            continue
        if min(img.shape[:2]) < min_side:
            skipped_small += 1
            continue
        chans.extend(_channels(img))
    if skipped_small:
        log.info("skipped %d images smaller than %d px", skipped_small, min_side)
    if not chans:
        raise LutsrError(f"{folder}: no usable training images (need at least {min_side}x{min_side} px)")
    log.info("loaded %d training channels from %s", len(chans), folder)
    return chans


class PatchSampler:
    """Random HR crops with augmentation and MATLAB-bicubic (double precision) LR.

    The HR crop is taken with ``MARGIN`` LR pixels of context on every side, downscaled,
    and the margin cut off, so patch borders carry no artificial border handling.
    All randomness comes from ``self.rng`` (a NumPy Generator), whose state is saved in
    checkpoints for exact resumption.
    """

    MARGIN = 2

    def __init__(self, channels: list[np.ndarray], scale: int, patch_size: int, seed: int = 0) -> None:
        self.channels = channels
        self.scale = int(scale)
        self.patch = int(patch_size)
        self.rng = np.random.default_rng(seed)
        self.crop = (self.patch + 2 * self.MARGIN) * self.scale
        w = resize_weights(self.crop, self.crop // self.scale, 1.0 / self.scale)
        self._w = w

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(lr, hr)`` float32 arrays in [0, 1]: ``(n, p, p)`` and ``(n, p*s, p*s)``."""
        m, p, s, c = self.MARGIN, self.patch, self.scale, self.crop
        crops = np.empty((n, c, c), dtype=np.float64)
        for i in range(n):
            ch = self.channels[int(self.rng.integers(len(self.channels)))]
            y = int(self.rng.integers(ch.shape[0] - c + 1))
            x = int(self.rng.integers(ch.shape[1] - c + 1))
            crop = ch[y : y + c, x : x + c]
            k = int(self.rng.integers(4))
            if self.rng.integers(2):
                crop = crop[:, ::-1]
            crops[i] = np.rot90(crop, k)
        lr = np.einsum("ij,njk,lk->nil", self._w, crops, self._w, optimize=True)
        lr = np.clip(np.floor(lr + 0.5), 0, 255)
        lr = lr[:, m : m + p, m : m + p]
        hr = crops[:, m * s : (m + p) * s, m * s : (m + p) * s]
        return (lr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32)


def load_eval_pairs(folder: str | Path, scale: int, rounding: str = "double") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, lr, hr)`` for every HR image in ``folder``: HR modcropped, LR by MATLAB bicubic."""
    pairs = []
    for f in find_images(folder, recursive=False):
        try:
            hr = read_image(f)
        except ImageError as e:
            log.warning("skipping: %s", e)
            continue
        if hr.ndim == 3:
            hr = hr[..., :3]
        hr = modcrop(hr, scale)
        pairs.append((f.stem, imresize(hr, 1.0 / scale, rounding=rounding), hr))
    return pairs
