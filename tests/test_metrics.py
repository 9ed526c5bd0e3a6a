import math

import numpy as np
import pytest

from lutsr.metrics import psnr, rgb_to_y, shave, ssim, y_psnr, y_ssim


def test_rgb_to_y_matches_matlab_formula():
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    y = rgb_to_y(img)[0]
    np.testing.assert_allclose(y, [16.0, 16 + 65.481 + 128.553 + 24.966, 16 + 65.481, 16 + 128.553, 16 + 24.966])
    gray = np.array([[3, 200]], np.uint8)
    np.testing.assert_array_equal(rgb_to_y(gray, gray_as_y=True), [[3.0, 200.0]])
    # BasicSR / MuLUT: gray read as R = G = B, so Y is the BT.601 formula of three equal channels
    np.testing.assert_allclose(rgb_to_y(gray), rgb_to_y(np.repeat(gray[..., None], 3, axis=2)))
    np.testing.assert_allclose(rgb_to_y(gray[..., None]), [[16 + 219 * 3 / 255, 16 + 219 * 200 / 255]])


def test_gray_conventions_differ_by_the_bt601_gain():
    hr = np.full((8, 8), 100, np.uint8)
    sr = hr.copy()
    sr[0, 0] = 110  # error 10 in gray = error 10 * 219 / 255 in BasicSR's Y
    mse = 100 / 64
    assert y_psnr(sr, hr, 0, gray_as_y=True) == pytest.approx(10 * math.log10(255**2 / mse))
    assert y_psnr(sr, hr, 0) == pytest.approx(10 * math.log10(255**2 / (mse * (219 / 255) ** 2)))


def test_psnr_hand_computed():
    a = np.zeros((4, 4))
    b = np.ones((4, 4))
    assert psnr(a, b) == pytest.approx(20 * math.log10(255))
    b[0, 0] = 5  # mse = (15 + 25) / 16 = 2.5
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 2.5))
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError):
        psnr(a, np.zeros((3, 3)))


def test_y_psnr_crops_border():
    hr = np.full((12, 12, 3), 100, np.uint8)
    sr = hr.copy()
    sr[0, :, :] = 0  # damage only the top row: invisible after a crop of 2
    assert y_psnr(sr, hr, border=2) == math.inf
    assert y_psnr(sr, hr, border=0) < 40
    assert shave(hr, 2).shape == (8, 8, 3)


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 20)).astype(float)
    assert ssim(a, a) == pytest.approx(1.0)
    # two constant images: variances vanish, SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    c1 = (0.01 * 255) ** 2
    m1, m2 = 100.0, 110.0
    want = (2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1)
    assert ssim(np.full((15, 15), m1), np.full((15, 15), m2)) == pytest.approx(want, rel=1e-12)


def test_ssim_hand_computed_single_window():
    # an 11x11 image has exactly one valid window: compute the Gaussian-weighted statistics by hand
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (11, 11)).astype(float)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    ax = np.arange(11) - 5.0
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu1, mu2 = (w * a).sum(), (w * b).sum()
    s11 = (w * a * a).sum() - mu1**2
    s22 = (w * b * b).sum() - mu2**2
    s12 = (w * a * b).sum() - mu1 * mu2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    want = (2 * mu1 * mu2 + c1) * (2 * s12 + c2) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    assert ssim(a, b) == pytest.approx(want, rel=1e-12)
    assert y_ssim(a.astype(np.uint8), a.astype(np.uint8), border=0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
