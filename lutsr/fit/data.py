"""Training data of ``lutsr fit``, streamed: ``(lr, hr)`` uint8 channel pairs, image by image.

For upscaling, ``lr`` is the MATLAB-compatible bicubic downscale of the modcropped ``hr``; for
a restoration task (``lutsr.tasks.Task``: denoising, deblocking) ``lr`` is ``hr`` degraded by
the task, same size, with a seed fixed per image, channel and flip, so that every pass of the
fit (and every Dask worker) sees the same pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from lutsr.datasets import find_images
from lutsr.errors import LutsrError
from lutsr.imageio import read_image
from lutsr.imresize import imresize, modcrop
from lutsr.tasks import Task

__all__ = ["TrainingSet"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Training data, streamed
# --------------------------------------------------------------------------------------

class TrainingSet:
    """``(lr, hr)`` uint8 channel pairs from an image folder, produced image by image.

    Every colour channel of every image is a sample; with ``flip`` the transposed channel
    is one more (the rotation ensemble makes other flips and rotations nearly redundant).
    HR is modcropped, LR is the MATLAB-compatible bicubic downscale (double precision);
    with ``task`` (scale 1) LR is the degraded HR (``Task.degrade``). ``every``: use every
    n-th image file only (a quick fit on a subset). Prepared pairs are kept in memory up to
    ``cache_bytes``; the rest is re-read each pass. ``pre``: LUTs already fitted (the first
    stages of a cascade, ``lutsr fit --stages``), applied in turn to every LR image, so that
    the next stage is fitted on their output.
    """

    def __init__(self, folder: str | Path, scale: int, flip: bool = True, cache_bytes: int = 1 << 30,
                 limit: int | None = None, task: Task | None = None, every: int = 1, pre: list | None = None) -> None:
        self.folder = Path(folder)
        self.scale = int(scale)
        self.flip = bool(flip)
        self.task = task
        if task is not None and self.scale != 1:
            raise LutsrError(f"a {task} fit keeps the size: scale must be 1, got {self.scale}")
        if every < 1:
            raise LutsrError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.pre = list(pre or [])
        self.files = find_images(self.folder)[::self.every][:limit]
        if not self.files:
            raise LutsrError(f"{self.folder}: no training images")
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._cached = 0
        self.pixels: int | None = None  # HR samples per pass, known after the first pass

    def fingerprint(self) -> str:
        """Identifies the file list (names and sizes) and options, for resuming."""
        task = self.task.to_json() if self.task else None
        opts = [self.scale, self.flip] + ([task, self.every] if self.task or self.every > 1 else [])
        h = hashlib.sha256(json.dumps(opts).encode())
        for lut in self.pre:  # a later stage of a cascade: the data depends on the stages before it
            h.update(b"pre")
            for t in lut.tables:
                h.update(np.ascontiguousarray(t).tobytes())
        for f in self.files:
            h.update(f"{f.relative_to(self.folder)}:{f.stat().st_size}".encode())
        return h.hexdigest()

    def _prepare(self, path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
        img = read_image(path)
        chans = [img] if img.ndim == 2 else [img[..., c] for c in range(min(3, img.shape[2]))]
        pairs = []
        name = str(path.relative_to(self.folder))
        for c, ch in enumerate(chans):
            variants = [ch, ch.T] if self.flip else [ch]
            for v, hr in enumerate(variants):
                hr = np.ascontiguousarray(modcrop(hr, self.scale))
                if min(hr.shape) < self.scale:
                    continue
                if self.task is not None:
                    seed = zlib.crc32(f"{name}:{c}:{v}".encode())  # fixed per image, channel and flip
                    lr = self.task.degrade(hr, seed)
                else:
                    lr = imresize(hr, 1.0 / self.scale)
                pairs.append((self.apply_pre(lr), hr))
        return pairs

    def apply_pre(self, lr: np.ndarray) -> np.ndarray:
        """``lr`` run through the ``pre`` LUTs in turn (unchanged without them)."""
        if not self.pre:
            return lr
        from lutsr.runtime import upscale  # lazy: the runtime's kernels compile on first use

        for lut in self.pre:
            lr = upscale(lr, lut)
        return lr

    def with_pre(self, pre: list) -> "TrainingSet":
        """The same images and options with ``pre`` applied to every LR image (an empty cache)."""
        other = TrainingSet.__new__(TrainingSet)
        other.__dict__.update(self.__getstate__())
        other.pre = list(pre)
        other.pixels = None
        return other

    def __len__(self) -> int:
        """Number of image files (the unit the fit partitions the data by)."""
        return len(self.files)

    def __getstate__(self) -> dict:
        # sent to Dask workers: the file list and options, never the cache
        state = self.__dict__.copy()
        state["_cache"], state["_cached"] = {}, 0
        return state

    def image_pairs(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``(lr, hr)`` pairs of image file ``i`` (cached within ``cache_bytes``; [] if unreadable)."""
        pairs = self._cache.get(i)
        if pairs is None:
            try:
                pairs = self._prepare(self.files[i])
            except LutsrError as e:
                log.warning("skipping training image: %s", e)
                pairs = []
            size = sum(a.nbytes + b.nbytes for a, b in pairs)
            if self._cached + size <= self.cache_bytes:
                self._cache[i] = pairs
                self._cached += size
        return pairs

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pixels = 0
        for i in range(len(self.files)):
            for lr, hr in self.image_pairs(i):
                pixels += hr.size
                yield lr, hr
        if pixels == 0:
            raise LutsrError(f"{self.folder}: no usable training images")
        self.pixels = pixels
