"""Artefact measures for upscalers: beading along edges, grain on flat areas, zone-plate fidelity.

A LUT upscaler works on a fixed LR grid: each output pixel's table row depends on where it
lies relative to that grid, so a method can reproduce a straight edge differently every ``s``
output pixels along it — a row of "beads" — although its PSNR is good. And a table that
amplifies small differences adds grain to flat areas. This module measures both on synthetic
scenes whose truth is known exactly (``docs/results.md``, "Artefacts"):

* **Edges and thin lines** at angles 0°, 7.5°, ..., 90°: a bright antialiased half-plane
  (or a 1.5 px line) on a dark background, rendered at HR by 8×8 supersampling, downscaled
  by the MATLAB-compatible bicubic, upscaled by the method. Along a straight edge, a
  shift-invariant upscaler makes the same error at every pixel at the same distance from the
  edge; the **along-edge error** is the RMS of the error about the best function of that
  distance alone (piecewise linear, knots every 1/8 px, within 6 px of the edge). It is zero
  for a shift-invariant method; beads that repeat with the LR grid, ringing that varies along
  the edge and jagged steps raise it.
* **Flat areas with slight noise**: levels 32, 128 and 224 with white Gaussian noise σ = 2 at
  HR; the downscale leaves LR fluctuations of about half a gray level.
  **Grain** is the standard deviation of the output over the area; bicubic (which smooths)
  and the HR itself are the references; ``added grain`` = sqrt(max(0, var(out) - var(bicubic))).
* **Zone plate** (cos(k r²), from 0 up to the LR grid's Nyquist frequency, ``0.5 / s`` cycles
  per HR pixel, at the corners: every orientation and every frequency the LR can hold): PSNR
  against the HR.

Everything is single-channel uint8 (the methods run per channel); ``upscale`` is any callable
``(h, w) uint8 -> (h*s, w*s) uint8``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from lutsr.evaluate import bicubic_upscale
from lutsr.imresize import imresize

__all__ = ["ANGLES", "edge_image", "line_image", "flat_image", "zone_plate", "along_edge_error",
           "EdgeScore", "ArtefactReport", "measure_artefacts"]

log = logging.getLogger(__name__)

ANGLES: tuple[float, ...] = tuple(7.5 * k for k in range(13))
"""Edge and line angles in degrees (0 = horizontal edge, 90 = vertical)."""

DARK, BRIGHT = 40.0, 220.0
LINE_WIDTH = 1.5
BAND = 6.0
KNOT = 1.0 / 8.0
SUPERSAMPLE = 8

Upscaler = Callable[[np.ndarray], np.ndarray]


def _distance(size: int, angle: float, offset: float = 0.0) -> np.ndarray:
    """Signed distance (HR px) of supersampled points to the line through the centre at ``angle``.

    Returns ``(size, size, SUPERSAMPLE**2)`` float64; positive on the bright side.
    """
    t = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    y = np.arange(size)[:, None] + t[None, :]  # (size, ss)
    th = np.deg2rad(angle)
    c = size / 2.0 + offset
    ny, nx = np.cos(th), -np.sin(th)  # unit normal
    dy = (y - c) * ny  # (size, ss)
    dx = (y - c) * nx
    d = dy[:, None, :, None] + dx[None, :, None, :]  # (Y, X, sy, sx)
    return d.reshape(size, size, -1)


def _pixel_distance(size: int, angle: float, offset: float = 0.0) -> np.ndarray:
    """Signed distance of each pixel centre to the line: ``(size, size)`` float64."""
    th = np.deg2rad(angle)
    c = size / 2.0 + offset
    y = np.arange(size) + 0.5 - c
    return y[:, None] * np.cos(th) - y[None, :] * np.sin(th)


def _render(coverage: np.ndarray) -> np.ndarray:
    return np.floor(DARK + (BRIGHT - DARK) * coverage + 0.5).astype(np.uint8)


def edge_image(size: int, angle: float, offset: float = 0.0) -> np.ndarray:
    """A bright half-plane on a dark background, antialiased: ``(size, size)`` uint8 in [40, 220]."""
    return _render(np.mean(_distance(size, angle, offset) > 0, axis=2))


def line_image(size: int, angle: float, offset: float = 0.0, width: float = LINE_WIDTH) -> np.ndarray:
    """A bright line ``width`` HR px wide through the centre, antialiased: ``(size, size)`` uint8."""
    return _render(np.mean(np.abs(_distance(size, angle, offset)) < width / 2, axis=2))


def flat_image(size: int, level: float, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """A flat area at ``level`` with white Gaussian noise ``sigma`` (seeded): ``(size, size)`` uint8.

    The downscale averages most of the noise away: the LR is flat up to fluctuations of about
    half a gray level, which no upscaler can turn back into the HR's noise; what an upscaler
    makes of them beyond what bicubic does is grain.
    """
    rng = np.random.default_rng(seed)
    return np.clip(np.floor(level + sigma * rng.standard_normal((size, size)) + 0.5), 0, 255).astype(np.uint8)


def zone_plate(size: int, max_frequency: float) -> np.ndarray:
    """``128 + 100 cos(pi f_max r^2 / R)``, r from the centre: ``f_max`` cycles/px at radius R (corners).

    Returns ``(size, size)`` uint8 in [28, 228].
    """
    y = np.arange(size) + 0.5 - size / 2.0
    r2 = y[:, None] ** 2 + y[None, :] ** 2
    big_r = size / 2.0 * np.sqrt(2.0)
    return np.floor(128 + 100 * np.cos(np.pi * max_frequency * r2 / big_r) + 0.5).astype(np.uint8)


def along_edge_error(out: np.ndarray, hr: np.ndarray, distance: np.ndarray, margin: int) -> float:
    """RMS of the error about the best shift-invariant error profile: what varies *along* the edge.

    Args:
        out, hr: ``(H, W)`` arrays (any numeric dtype) of the same shape.
        distance: ``(H, W)`` signed distance of each pixel to the edge, HR px.
        margin: pixels ignored at each border.

    The error ``out - hr`` of the pixels within 6 px of the edge is fitted by a piecewise-linear
    function of the distance alone (knots every 1/8 px, least squares): a shift-invariant
    upscaler's whole error is such a function. The RMS of what is left is returned (gray levels).
    """
    err = out.astype(np.float64) - hr.astype(np.float64)
    h, w = err.shape
    sl = (slice(margin, h - margin), slice(margin, w - margin))
    d = distance[sl].ravel()
    e = err[sl].ravel()
    keep = np.abs(d) < BAND
    d, e = d[keep], e[keep]
    nk = int(round(2 * BAND / KNOT)) + 1
    k = (d + BAND) / KNOT
    i0 = np.minimum(np.floor(k).astype(np.int64), nk - 2)
    b = k - i0  # hat-function weights: 1 - b on knot i0, b on knot i0 + 1
    a = 1.0 - b
    # normal equations of the hat basis: tridiagonal (no BLAS, which oversubscribes next to Numba threads)
    diag = np.bincount(i0, a * a, nk) + np.bincount(i0 + 1, b * b, nk) + 1e-9
    off = np.bincount(i0, a * b, nk)[:-1]
    rhs = np.bincount(i0, a * e, nk) + np.bincount(i0 + 1, b * e, nk)
    coef = _tridiagonal_solve(off, diag, rhs)
    fitted = coef[i0] * a + coef[i0 + 1] * b
    return float(np.sqrt(np.mean((e - fitted) ** 2)))


def _tridiagonal_solve(off: np.ndarray, diag: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive definite tridiagonal system (Thomas algorithm): float64 ``(n,)``."""
    n = diag.size
    x = np.zeros(n)
    dd = diag.astype(np.float64).copy()
    r = rhs.astype(np.float64).copy()
    for i in range(1, n):
        m = off[i - 1] / dd[i - 1]
        dd[i] -= m * off[i - 1]
        r[i] -= m * r[i - 1]
    x[-1] = r[-1] / dd[-1]
    for i in range(n - 2, -1, -1):
        x[i] = (r[i] - off[i] * x[i + 1]) / dd[i]
    return x


@dataclass(frozen=True)
class EdgeScore:
    """Along-edge error of one scene (gray levels, RMS over the band within 6 px of the edge)."""

    kind: str  # "edge" or "line"
    angle: float
    along: float
    bicubic_along: float


@dataclass(frozen=True)
class ArtefactReport:
    """What :func:`measure_artefacts` found (gray levels; PSNR in dB)."""

    scale: int
    edges: tuple[EdgeScore, ...]
    grain: dict[str, float]  # per level: output std
    grain_bicubic: dict[str, float]
    grain_hr: dict[str, float]
    zone_psnr: float
    zone_psnr_bicubic: float

    def summary(self) -> dict[str, float]:
        """Aggregates: mean and worst along-edge error (edges and lines), the same for bicubic,
        mean grain and added grain, and the zone-plate PSNRs."""
        def agg(kind: str) -> dict[str, float]:
            es = [e for e in self.edges if e.kind == kind]
            return {f"{kind}_along_mean": float(np.mean([e.along for e in es])),
                    f"{kind}_along_max": float(max(e.along for e in es)),
                    f"{kind}_bicubic_along_mean": float(np.mean([e.bicubic_along for e in es]))}

        added = [np.sqrt(max(0.0, self.grain[k] ** 2 - self.grain_bicubic[k] ** 2)) for k in self.grain]
        return {**agg("edge"), **agg("line"), "added_grain": float(np.mean(added)),
                "grain": float(np.mean(list(self.grain.values()))),
                "grain_bicubic": float(np.mean(list(self.grain_bicubic.values()))),
                "grain_hr": float(np.mean(list(self.grain_hr.values()))),
                "zone_psnr": self.zone_psnr, "zone_psnr_bicubic": self.zone_psnr_bicubic}

    def to_json(self) -> dict:
        return {**asdict(self), "edges": [asdict(e) for e in self.edges], "summary": self.summary()}


def _psnr(a: np.ndarray, b: np.ndarray, margin: int) -> float:
    sl = (slice(margin, a.shape[0] - margin), slice(margin, a.shape[1] - margin))
    mse = float(np.mean((a[sl].astype(np.float64) - b[sl].astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def _check(out: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    out = np.asarray(out)
    if out.shape != shape:
        raise ValueError(f"{what} returned shape {out.shape}, expected {shape}")
    return out


def measure_artefacts(upscale: Upscaler, scale: int, size: int = 192,
                      bicubic: Upscaler | None = None) -> ArtefactReport:
    """Measure beading, grain and zone-plate fidelity of ``upscale`` at ``scale``.

    Args:
        upscale: ``(h, w) uint8 -> (h*scale, w*scale) uint8``, e.g.
            ``lambda x: lutsr.upscale(x, lut)``.
        scale: 2..8. size: HR side of each scene (a multiple of ``scale`` is taken).
        bicubic: the reference upscaler (default ``lutsr.evaluate.bicubic_upscale``, MATLAB's).

    LR is the MATLAB-compatible bicubic downscale of each HR scene (the evaluation protocol).
    """
    if not 2 <= int(scale) <= 8:
        raise ValueError(f"scale must be 2..8, got {scale}")
    scale = int(scale)
    size = size - size % scale
    if bicubic is None:
        def bicubic(x: np.ndarray) -> np.ndarray:
            return bicubic_upscale(x, scale)
    margin = 3 * scale
    shape = (size, size)
    edges = []
    for kind, render in (("edge", edge_image), ("line", line_image)):
        for angle in ANGLES:
            offset = 0.37  # the line does not pass through a pixel corner or centre
            hr = render(size, angle, offset)
            lr = imresize(hr, 1.0 / scale)
            dist = _pixel_distance(size, angle, offset)
            out = _check(upscale(lr), shape, "upscale")
            ref = _check(bicubic(lr), shape, "bicubic")
            edges.append(EdgeScore(kind, angle, along_edge_error(out, hr, dist, margin),
                                   along_edge_error(ref, hr, dist, margin)))
    grain, grain_b, grain_h = {}, {}, {}
    for level in (32, 128, 224):
        hr = flat_image(size, level, seed=level)
        lr = imresize(hr, 1.0 / scale)
        sl = (slice(margin, size - margin),) * 2
        grain[str(level)] = float(np.std(_check(upscale(lr), shape, "upscale")[sl].astype(np.float64)))
        grain_b[str(level)] = float(np.std(_check(bicubic(lr), shape, "bicubic")[sl].astype(np.float64)))
        grain_h[str(level)] = float(np.std(hr[sl].astype(np.float64)))
    zp = zone_plate(size, 0.5 / scale)
    lr = imresize(zp, 1.0 / scale)
    zone = _psnr(_check(upscale(lr), shape, "upscale"), zp, margin)
    zone_b = _psnr(_check(bicubic(lr), shape, "bicubic"), zp, margin)
    return ArtefactReport(scale, tuple(edges), grain, grain_b, grain_h, zone, zone_b)
