"""Training patches for ``lutsr train``: every colour channel of a folder's images, random HR crops
with flips and rotations, LR by MATLAB bicubic on the fly. NumPy only (the loop feeds torch)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lutsr.datasets import find_images
from lutsr.errors import ImageError, LutsrError
from lutsr.imageio import read_image
from lutsr.imresize import resize_weights

__all__ = ["load_training_channels", "PatchSampler"]

log = logging.getLogger(__name__)


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
    """Random HR crops with augmentation and MATLAB-bicubic (double precision) LR, or with a
    ``task`` (:class:`lutsr.tasks.Task`, scale 1) the crop degraded by the task's protocol.

    The HR crop is taken with ``MARGIN`` LR pixels of context on every side, downscaled,
    and the margin cut off, so patch borders carry no artificial border handling.
    All randomness comes from ``self.rng`` (a NumPy Generator), whose state is saved in
    checkpoints for exact resumption.
    """

    MARGIN = 2

    def __init__(self, channels: list[np.ndarray], scale: int, patch_size: int, seed: int = 0, task=None) -> None:
        self.channels = channels
        self.task = task  # a lutsr.tasks.Task: scale 1, the input is the degraded crop
        if task is not None and int(scale) != 1:
            raise LutsrError(f"a {task.kind} task keeps the size: scale 1, not {scale}")
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
        if self.task is not None:  # the degraded crop (seeded by this sampler's RNG: exact resume)
            seeds = self.rng.integers(0, 2**31, n)
            lr = np.stack([self.task.degrade(crops[i].astype(np.uint8), seed=int(seeds[i])) for i in range(n)])
            lr = lr.astype(np.float64)
        else:
            lr = np.einsum("ij,njk,lk->nil", self._w, crops, self._w, optimize=True)
            lr = np.clip(np.floor(lr + 0.5), 0, 255)
        lr = lr[:, m : m + p, m : m + p]
        hr = crops[:, m * s : (m + p) * s, m * s : (m + p) * s]
        return (lr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32)
