"""lutsr's imports of ShiftLUT, TinyLUT and HKLUT compute exactly what the authors' own inference code
computes (run here from ../shared with torch; ``authors_ref.py`` says how)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, needs_shared
from test_net_runtime import imported

import lutsr

torch = pytest.importorskip("torch")
authors_ref = pytest.importorskip("authors_ref")

pytestmark = needs_shared


def _images(rng):
    # the authors' reflect padding needs 3 pixels per side; odd sizes, extremes and flat planes
    return [rng.integers(0, 256, (3, 13, 11), dtype=np.uint8), np.zeros((1, 5, 4), np.uint8),
            np.full((1, 4, 6), 255, np.uint8), (rng.integers(0, 2, (1, 7, 9), dtype=np.uint8) * 255),
            rng.integers(120, 136, (1, 9, 3), dtype=np.uint8)]


def _ours(lut, img_chw: np.ndarray) -> np.ndarray:
    return np.moveaxis(lutsr.upscale(np.ascontiguousarray(np.moveaxis(img_chw, 0, -1)), lut), -1, 0)


@pytest.mark.parametrize("name,folder", [("shiftlut-s", "ShiftLUT_sr_s0_int"), ("shiftlut-m", "ShiftLUT_sr_s1_int"),
                                         ("shiftlut-l", "ShiftLUT_sr_s7_int")])
def test_shiftlut_matches_authors(name, folder):
    lut = imported(name)
    for img in _images(np.random.default_rng(0)):
        np.testing.assert_array_equal(_ours(lut, img), authors_ref.shiftlut(folder, "sr", img))


def test_tinylut_matches_authors():
    lut = imported("tinylut-s")
    for img in _images(np.random.default_rng(1)):
        np.testing.assert_array_equal(_ours(lut, img), authors_ref.tinylut(img))


def test_hklut_matches_authors():
    lut = imported("hklut-s")
    for img in _images(np.random.default_rng(2)):
        np.testing.assert_array_equal(_ours(lut, img), authors_ref.hklut(img))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shiftlut-s", "shiftlut-m", "shiftlut-l", "tinylut-s", "hklut-s"])
def test_matches_authors_on_set5_lr(name):
    """Bit for bit on the Set5 LR images (MATLAB bicubic 'double' of the modcropped HR)."""
    import cv2

    lut = imported(name)
    for p in sorted((SHARED / "luts" / "SR-LUT" / "input_LR_x4").glob("*.png")):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1].transpose(2, 0, 1).copy()
        ref = {"shiftlut-s": lambda: authors_ref.shiftlut("ShiftLUT_sr_s0_int", "sr", img),
               "shiftlut-m": lambda: authors_ref.shiftlut("ShiftLUT_sr_s1_int", "sr", img),
               "shiftlut-l": lambda: authors_ref.shiftlut("ShiftLUT_sr_s7_int", "sr", img),
               "tinylut-s": lambda: authors_ref.tinylut(img), "hklut-s": lambda: authors_ref.hklut(img)}[name]()
        np.testing.assert_array_equal(_ours(lut, img), ref, err_msg=p.name)
