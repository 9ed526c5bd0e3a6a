"""Training data of ``lutsr fit``, streamed: ``(lr, hr)`` uint8 channel pairs, image by image."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from lutsr.datasets import find_images
from lutsr.errors import LutsrError
from lutsr.imageio import read_image
from lutsr.imresize import imresize, modcrop

__all__ = ["TrainingSet"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Training data, streamed
# --------------------------------------------------------------------------------------

class TrainingSet:
    """``(lr, hr)`` uint8 channel pairs from an image folder, produced image by image.

    Every colour channel of every image is a sample; with ``flip`` the transposed channel
    is one more (the rotation ensemble makes other flips and rotations nearly redundant).
    HR is modcropped, LR is the MATLAB-compatible bicubic downscale (double precision).
    Prepared pairs are kept in memory up to ``cache_bytes``; the rest is re-read each pass.
    """

    def __init__(self, folder: str | Path, scale: int, flip: bool = True, cache_bytes: int = 1 << 30,
                 limit: int | None = None) -> None:
        self.folder = Path(folder)
        self.scale = int(scale)
        self.flip = bool(flip)
        self.files = find_images(self.folder)[:limit]
        if not self.files:
            raise LutsrError(f"{self.folder}: no training images")
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._cached = 0
        self.pixels: int | None = None  # HR samples per pass, known after the first pass

    def fingerprint(self) -> str:
        """Identifies the file list (names and sizes) and options, for resuming."""
        h = hashlib.sha256(json.dumps([self.scale, self.flip]).encode())
        for f in self.files:
            h.update(f"{f.relative_to(self.folder)}:{f.stat().st_size}".encode())
        return h.hexdigest()

    def _prepare(self, path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
        img = read_image(path)
        chans = [img] if img.ndim == 2 else [img[..., c] for c in range(min(3, img.shape[2]))]
        pairs = []
        for ch in chans:
            variants = [ch, ch.T] if self.flip else [ch]
            for hr in variants:
                hr = np.ascontiguousarray(modcrop(hr, self.scale))
                if min(hr.shape) < self.scale:
                    continue
                pairs.append((imresize(hr, 1.0 / self.scale), hr))
        return pairs

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
