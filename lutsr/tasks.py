"""Restoration tasks beside upscaling: Gaussian denoising and JPEG deblocking, as data.

A :class:`Task` names what a scale-1 LUT restores and at which level (noise sigma in 8-bit
steps, or JPEG quality). It is stored in the LUT header (``"task"``), chosen by
``lutsr denoise`` / ``lutsr deblock``, and it owns the one definition of the degradation
that makes training pairs (``lutsr fit --task``) and benchmark inputs (``lutsr eval --task``):

* **denoise, sigma s** (the benchmark protocol of DnCNN as ShiftLUT's ``DNBenchmark``
  writes it in NumPy): a ``numpy.random.RandomState(seed)`` draws ``normal(0, s/255)`` of
  the image's shape (``seed`` 0 for every benchmark image); ``noisy = float32(clean/255 +
  noise)``; the LUT's uint8 input is ``clip(round_half_even(noisy * 255), 0, 255)``. A LUT
  reads 8-bit pixels, so the clipping is part of every LUT method's protocol (a CNN such
  as DnCNN may see the unclipped float image: its figures are an upper reference).
* **deblock, quality q**: ``cv2.imencode('.jpg', clean, [IMWRITE_JPEG_QUALITY, q])`` of the
  one-channel image, decoded with ``cv2.imdecode`` (OpenCV's libjpeg, 4:2:0 irrelevant for one
  channel). Colour benchmark images (LIVE1) are first turned into their BT.601 Y channel.

This module needs NumPy and OpenCV only (the restore path does not import torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutsr.errors import LutsrError

__all__ = ["Task", "TASK_KINDS", "SHIPPED_LEVELS", "estimate_noise_sigma", "jpeg_quality_of",
           "nearest_level"]

#: Task kinds a LUT can be made for ("sr" is plain upscaling, stored as no ``task`` field).
TASK_KINDS: tuple[str, ...] = ("denoise", "deblock")

#: The levels shipped in ``luts/`` per task kind: ``denoise_s{sigma}.lut``, ``deblock_q{quality}.lut``.
SHIPPED_LEVELS: dict[str, tuple[int, ...]] = {"denoise": (10, 15, 25, 35, 50), "deblock": (10, 20, 30, 40)}

_LEVEL_NAME = {"denoise": "sigma", "deblock": "quality"}
_LEVEL_RANGE = {"denoise": (1, 255), "deblock": (1, 100)}


@dataclass(frozen=True)
class Task:
    """A restoration task: ``kind`` ("denoise" or "deblock") at ``level`` (sigma 1..255 or quality 1..100)."""

    kind: str
    level: int

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise LutsrError(f"unknown task {self.kind!r}; expected one of {', '.join(TASK_KINDS)}")
        lo, hi = _LEVEL_RANGE[self.kind]
        if isinstance(self.level, bool) or not isinstance(self.level, (int, np.integer)) or not lo <= self.level <= hi:
            raise LutsrError(f"{self.kind}: {_LEVEL_NAME[self.kind]} must be an integer in {lo}..{hi}, "
                             f"got {self.level!r}")
        object.__setattr__(self, "level", int(self.level))

    @classmethod
    def denoise(cls, sigma: int) -> Task:
        """Gaussian denoising of noise with standard deviation ``sigma`` (in 0..255 pixel steps)."""
        return cls("denoise", sigma)

    @classmethod
    def deblock(cls, quality: int) -> Task:
        """Removing the artefacts of JPEG compression at ``quality`` (OpenCV / libjpeg scale, 1..100)."""
        return cls("deblock", quality)

    @property
    def level_name(self) -> str:
        """``"sigma"`` or ``"quality"``."""
        return _LEVEL_NAME[self.kind]

    @property
    def name(self) -> str:
        """Short name used in file names and tables: ``denoise_s25``, ``deblock_q10``."""
        return f"{self.kind}_{self.level_name[0]}{self.level}"

    def __str__(self) -> str:
        return f"{self.kind} {self.level_name}={self.level}"

    def to_json(self) -> dict:
        """The LUT header's ``task`` field: ``{"kind": "denoise", "sigma": 25}``."""
        return {"kind": self.kind, self.level_name: self.level}

    @classmethod
    def from_json(cls, d: object) -> Task:
        """Parse a header ``task`` field (raises ``LutsrError`` naming what is wrong)."""
        if not isinstance(d, dict) or d.get("kind") not in TASK_KINDS:
            raise LutsrError(f"task field {d!r} must be an object with 'kind' one of {', '.join(TASK_KINDS)}")
        key = _LEVEL_NAME[d["kind"]]
        if set(d) != {"kind", key}:
            raise LutsrError(f"task field {d!r} must hold exactly 'kind' and {key!r}")
        return cls(d["kind"], d[key])

    def degrade(self, clean: np.ndarray, seed: int = 0) -> np.ndarray:
        """The degraded input for a clean image, as the benchmark protocol makes it.

        Args:
            clean: ``(H, W)`` or ``(H, W, C)`` uint8 image (deblocking: one channel only;
                a colour image must be turned into Y first, see :func:`lutsr.metrics.rgb_to_y`).
            seed: the noise generator's seed (denoising; 0 for every benchmark image).

        Returns:
            uint8 array of ``clean``'s shape.
        """
        clean = np.asarray(clean)
        if clean.dtype != np.uint8:
            raise LutsrError(f"{self}: expected a uint8 image, got {clean.dtype}")
        if self.kind == "denoise":
            noise = np.random.RandomState(seed).normal(0, self.level / 255.0, clean.shape)
            noisy = (clean / 255.0 + noise).astype(np.float32)
            return np.clip(np.round(noisy * np.float32(255)), 0, 255).astype(np.uint8)
        if clean.ndim != 2:
            raise LutsrError(f"{self}: JPEG degradation takes one channel, got shape {clean.shape}")
        from lutsr._opencv import cv2_module

        cv2 = cv2_module()
        ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(clean), [int(cv2.IMWRITE_JPEG_QUALITY), self.level])
        if not ok:  # pragma: no cover - OpenCV encodes any non-empty uint8 image
            raise LutsrError(f"{self}: OpenCV could not encode a {clean.shape} image")
        return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


def nearest_level(kind: str, level: float, levels: tuple[int, ...] | None = None) -> int:
    """The shipped level of ``kind`` closest to ``level`` (ties go to the stronger table:
    higher sigma, lower quality)."""
    levels = SHIPPED_LEVELS[kind] if levels is None else levels
    stronger = (lambda v: -v) if kind == "denoise" else (lambda v: v)
    return min(levels, key=lambda v: (abs(v - level), stronger(v)))


def estimate_noise_sigma(img: np.ndarray) -> float:
    """Blind estimate of white Gaussian noise sigma (0..255 steps) from one image.

    The finest diagonal Haar wavelet sub-band (``(a - b - c + d) / 2`` over 2x2 blocks) holds
    the noise at its full sigma and little image structure. It is cut into 8x8 blocks of
    coefficients; the 10th percentile of the blocks' RMS, divided by the same percentile for
    pure unit Gaussian noise, is the estimate: flat parts of the image set it and textured
    parts, which only add to a block's RMS, cannot. Blocks touching a clipped pixel (0 or 255)
    are left out while at least a tenth of the blocks remain (clipping removes noise).

    Measured on BSD68 (68 gray images): mean estimate 15.9 / 25.7 for sigma 15 / 25, worst
    image 19.2 / 28.9; 1.7 on the clean images. ``img``: ``(H, W)`` or ``(H, W, C)`` uint8;
    channels are pooled. Returns 0.0 for an image smaller than 16x16.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    b = 8
    h, w = (a.shape[0] // (2 * b)) * 2 * b, (a.shape[1] // (2 * b)) * 2 * b
    if h == 0 or w == 0:
        return 0.0
    x = a[:h, :w].astype(np.float64)
    p, q, r, s = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    hh = (p - q - r + s) / 2.0
    clipped = np.zeros(hh.shape, dtype=bool)
    for t in (p, q, r, s):
        clipped |= (t == 0) | (t == 255)

    def blocks(arr: np.ndarray) -> np.ndarray:
        hb, wb = arr.shape[0] // b, arr.shape[1] // b
        return arr.reshape(hb, b, wb, b, -1).transpose(0, 2, 4, 1, 3).reshape(-1, b * b)

    coef, bad = blocks(hh), blocks(clipped).any(axis=1)
    if (~bad).sum() >= max(1, len(bad) // 10):
        coef = coef[~bad]
    rms = np.sqrt(np.mean(coef**2, axis=1))
    return float(np.percentile(rms, 10) / _unit_rms_percentile(b * b, 10))


_UNIT_RMS: dict[tuple[int, int], float] = {}


def _unit_rms_percentile(n: int, pct: int) -> float:
    """The ``pct`` percentile of the RMS of ``n`` unit normal samples (simulated once, fixed seed)."""
    key = (n, pct)
    if key not in _UNIT_RMS:
        sim = np.random.RandomState(12345).normal(size=(20000, n))
        _UNIT_RMS[key] = float(np.percentile(np.sqrt(np.mean(sim**2, axis=1)), pct))
    return _UNIT_RMS[key]


# libjpeg's standard luminance quantisation table (Annex K), in natural (row-major) order
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)


def _libjpeg_table(quality: int) -> np.ndarray:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_STD_LUMA * scale + 50) // 100, 1, 255)


def jpeg_quality_of(data: bytes) -> int | None:
    """The libjpeg quality a JPEG file was saved at, from its first quantisation table.

    Reads the DQT segments of ``data`` (the file's bytes) and returns the quality 1..100
    whose standard libjpeg luminance table is closest (exact for files written by libjpeg,
    OpenCV, Pillow, ImageMagick...; the nearest one for other encoders). ``None`` if
    ``data`` is not a JPEG or holds no luminance table before its first scan.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA or length < 2:  # start of scan: no table before it
            return None
        if marker == 0xDB:
            seg = data[i + 4:i + 2 + length]
            if not seg:
                return None
            precision, table_id = seg[0] >> 4, seg[0] & 15
            size = 128 if precision else 64
            if len(seg) < 1 + size or table_id != 0:
                i += 2 + length
                continue
            raw = seg[1:1 + size]
            zz = np.frombuffer(raw, dtype=">u2" if precision else np.uint8).astype(np.int64)
            table = np.empty(64, np.int64)
            table[_ZIGZAG] = zz
            errs = [int(np.abs(_libjpeg_table(q) - table).sum()) for q in range(1, 101)]
            return int(np.argmin(errs)) + 1
        i += 2 + length
    return None


def _zigzag() -> np.ndarray:
    """Natural index of each zig-zag position of an 8x8 block."""
    order = sorted(((y, x) for y in range(8) for x in range(8)),
                   key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]))
    return np.array([y * 8 + x for y, x in order], dtype=np.int64)


_ZIGZAG = _zigzag()

