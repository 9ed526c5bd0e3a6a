"""Evaluation metrics as published SR tables compute them (``lut-methods.md`` section 5).

Y channel of BT.601 YCbCr as MATLAB's ``rgb2ycbcr`` computes it (unrounded), border
crop of ``scale`` pixels, PSNR with peak 255, SSIM of Wang et al. (Gaussian 11x11,
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_y", "psnr", "psnr_b", "blocking_effect_factor", "ssim", "y_psnr", "y_ssim", "shave"]


def rgb_to_y(image: np.ndarray, gray_as_y: bool = False) -> np.ndarray:
    """``(H, W, 3)`` RGB (0..255) -> ``(H, W)`` float64 Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255.

    A ``(H, W)`` (or ``(H, W, 1)``) grayscale image follows one of the two conventions of the
    literature:

    - ``gray_as_y=False`` (default, BasicSR / MuLUT): the gray image is read as three equal
      channels R = G = B = v, so Y = 16 + 219 v / 255 (unrounded), as ``cv2.imread`` in colour
      mode followed by BasicSR's ``bgr2ycbcr(y_only=True)`` gives.
    - ``gray_as_y=True`` (SR-LUT's published table): the gray values are Y, returned unchanged.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        if gray_as_y:
            return img
        return 16.0 + (65.481 + 128.553 + 24.966) * img / 255.0
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected (H, W) or (H, W, 3) image, got shape {img.shape}")
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Crop ``border`` pixels from every side."""
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two same-shape arrays (inf when identical)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))


def blocking_effect_factor(image: np.ndarray, block: int = 8) -> float:
    """Blocking effect factor (Yim and Bovik 2011) of one ``(H, W)`` channel, in pixel^2 units.

    Mean squared difference across the ``block``-pixel grid's boundaries minus that across
    the other neighbour pairs, scaled by ``log2(block) / log2(min(H, W))``; 0 when the
    boundaries are no rougher than the rest. As BasicSR's ``calculate_psnrb``.
    """
    im = np.asarray(image, dtype=np.float64)
    h, w = im.shape
    bx, by = np.arange(block - 1, w - 1, block), np.arange(block - 1, h - 1, block)
    nbx, nby = np.setdiff1d(np.arange(w - 1), bx), np.setdiff1d(np.arange(h - 1), by)
    d_bound = np.sum((im[:, bx] - im[:, bx + 1]) ** 2) + np.sum((im[by] - im[by + 1]) ** 2)
    d_other = np.sum((im[:, nbx] - im[:, nbx + 1]) ** 2) + np.sum((im[nby] - im[nby + 1]) ** 2)
    n_bh, n_bv = h * (w // block - 1), w * (h // block - 1)
    n_oh, n_ov = h * (w - 1) - n_bh, w * (h - 1) - n_bv
    if n_bh + n_bv <= 0 or n_oh + n_ov <= 0 or min(h, w) < 2:
        return 0.0
    bound, other = d_bound / (n_bh + n_bv), d_other / (n_oh + n_ov)
    if bound <= other:
        return 0.0
    return float(np.log2(block) / np.log2(min(h, w)) * (bound - other))


def psnr_b(restored: np.ndarray, clean: np.ndarray, peak: float = 255.0) -> float:
    """PSNR-B (Yim and Bovik 2011), the deblocking literature's metric, in dB.

    Per channel ``10 log10(peak^2 / (MSE + BEF(restored)))``, averaged over channels.
    ``restored``, ``clean``: same-shape ``(H, W)`` or ``(H, W, C)`` arrays in 0..peak.
    """
    a, b = np.asarray(restored, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    vals = []
    for c in range(a.shape[2]):
        mse = float(np.mean((a[..., c] - b[..., c]) ** 2)) + blocking_effect_factor(a[..., c])
        vals.append(float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse))
    return float(np.mean(vals))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(ax**2) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D correlation with the separable window ``outer(g, g)``, 'valid' region
    (MATLAB ``filter2(outer(g, g), x, 'valid')``)."""
    k = len(g)
    h, w = x.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i in range(k):
        rows += g[i] * x[i : i + h - k + 1, :]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j in range(k):
        out += g[j] * rows[:, j : j + w - k + 1]
    return out


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Mean SSIM of two same-shape 2-D images (Wang et al. 2004, Gaussian 11x11, sigma 1.5)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two equal 2-D images, got {a.shape} and {b.shape}")
    if min(a.shape) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11, got {a.shape}")
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    w = _gaussian_1d()
    mu1, mu2 = _filter_valid(a, w), _filter_valid(b, w)
    s11 = _filter_valid(a * a, w) - mu1 * mu1
    s22 = _filter_valid(b * b, w) - mu2 * mu2
    s12 = _filter_valid(a * b, w) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def y_psnr(sr: np.ndarray, hr: np.ndarray, border: int, gray_as_y: bool = False) -> float:
    """Y-channel PSNR of uint8 images (RGB or gray) with ``border`` pixels cropped (``rgb_to_y`` for gray)."""
    return psnr(shave(rgb_to_y(sr, gray_as_y), border), shave(rgb_to_y(hr, gray_as_y), border))


def y_ssim(sr: np.ndarray, hr: np.ndarray, border: int, gray_as_y: bool = False) -> float:
    """Y-channel SSIM of uint8 images (RGB or gray) with ``border`` pixels cropped (``rgb_to_y`` for gray)."""
    return ssim(shave(rgb_to_y(sr, gray_as_y), border), shave(rgb_to_y(hr, gray_as_y), border))
