"""The shipped LUTs: valid, self-describing, and as good on Set5 as docs/results.md says."""

import numpy as np
import pytest

from conftest import SET5, SHARED, needs_shared
from lutsr.imageio import read_image
from lutsr.imresize import imresize, modcrop
from lutsr.lut.file import load_lut
from lutsr.lut.shipped import DEFAULT_FAMILY, SHIPPED_FAMILIES, SHIPPED_SCALES, default_lut_path
from lutsr.metrics import y_psnr
from lutsr.runtime import upscale


def test_default_lut_is_shipped_and_valid():
    lut = load_lut(default_lut_path(4))
    # SR-LUT's S structure at interval 4 (17**4 rows of 4x4 int8 cells), fitted from the linear prior
    assert lut.header["method"] == "srlut-s" and lut.scale == 4 and lut.interval == 4
    assert lut.table.shape == (17**4, 16) and lut.table.dtype == np.int8
    fit = lut.header["source"]["fit"]
    assert fit["prior"] == "linear" and not fit["init"] and fit["iterations"] >= 1
    for scale in (2, 3):
        assert load_lut(default_lut_path(scale)).header["method"] == DEFAULT_FAMILY


def test_the_old_default_stays_available_by_name():
    from lutsr.lut.shipped import resolve_lut

    for family in ("eclut", "eclut-sdy"):
        assert resolve_lut(family, 3).header["method"] == family
    ecl = load_lut(default_lut_path(4, "eclut"))
    assert ecl.interval == 1 and ecl.table.shape == (129 * 129, 144) and ecl.header["source"]["fit"]["init"]


SHIPPED = [(f, s) for f in SHIPPED_FAMILIES for s in SHIPPED_SCALES[f]]


def test_every_family_is_shipped_at_x4_and_its_files_are_exactly_the_shipped_scales():
    from pathlib import Path

    luts = Path(default_lut_path(4)).parent
    assert set(SHIPPED_SCALES) == set(SHIPPED_FAMILIES) and all(4 in v for v in SHIPPED_SCALES.values())
    for family in SHIPPED_FAMILIES:
        on_disk = {int(p.stem.rsplit("_x", 1)[1]) for p in luts.glob(f"{family}_x*.lut")}
        assert on_disk == set(SHIPPED_SCALES[family]), family


@pytest.mark.parametrize("family,scale", SHIPPED)
def test_every_shipped_lut_is_valid(family, scale):
    lut = load_lut(default_lut_path(scale, family))
    assert lut.header["method"] == family and lut.scale == scale
    # where it came from: a fit's record, or a trained network's checkpoint
    assert "fit" in lut.header["source"] or "checkpoint_sha256" in lut.header["source"]
    assert default_lut_path(scale, family).stat().st_size < 3 << 20  # the repository stays lean


@pytest.mark.parametrize("family,scale", SHIPPED)
def test_shipped_luts_run_exactly_as_the_reference(family, scale):
    # the shipped configurations themselves (interval 1 ECLUT on int16 windows, the composite's
    # mixed stage): an image with edges, gradients and flat parts, 21 wide (a 16-pixel vector
    # run plus a scalar tail at every scale), bit for bit against lutsr.runtime.reference
    from lutsr.runtime.reference import upscale_reference

    lut = load_lut(default_lut_path(scale, family))
    yy, xx = np.mgrid[0:13, 0:21]
    img = np.stack([(xx * 13) % 256, (yy * 19 + xx * 3) % 256, ((xx // 5 + yy // 4) % 2) * 255], -1).astype(np.uint8)
    img[4:8, 6:12] = 128
    assert np.array_equal(upscale(img, lut), upscale_reference(img, lut))


def test_default_lut_upscales_a_smooth_ramp_smoothly():
    # a gentle horizontal ramp must stay a monotone ramp (no ringing, no offset drift)
    x = np.tile(np.linspace(40, 200, 32).round().astype(np.uint8), (16, 1))
    for family in SHIPPED_FAMILIES:
        out = upscale(x, load_lut(default_lut_path(4, family))).astype(int)
        row = out[32]
        # a LUT network on 6 + 2 bits steps back by up to 2 levels where the ramp crosses a multiple
        # of 4 (the published ShiftLUT-S, -M and TinyLUT-S do too); the fitted tables by at most 1
        assert np.all(np.diff(row[8:-8]) >= (-2 if family == "shiftnet" else -1)), family
        assert abs(int(out[8:-8, 8:-8].mean()) - int(x[2:-2, 2:-2].mean())) <= 3, family


def _set5(lut, scale):
    ours, bic = [], []
    for name in SET5:
        lr = read_image(SHARED / f"bench/Set5/LR_bicubic/X{scale}" / f"{name}x{scale}.png")
        hr = modcrop(read_image(SHARED / "bench/Set5/HR" / f"{name}.png"), scale)
        ours.append(y_psnr(upscale(lr, lut)[: hr.shape[0], : hr.shape[1]], hr, scale))
        bic.append(y_psnr(imresize(lr, float(scale))[: hr.shape[0], : hr.shape[1]], hr, scale))
    return float(np.mean(ours)), float(np.mean(bic))


@needs_shared
def test_shipped_luts_on_set5():
    gain = {}
    for family in SHIPPED_FAMILIES:
        for scale in SHIPPED_SCALES[family]:
            ours, bic = _set5(load_lut(default_lut_path(scale, family)), scale)
            gain[family, scale] = ours - bic
    assert _set5(load_lut(default_lut_path(4)), 4)[1] == pytest.approx(28.42, abs=0.02)
    assert gain["eclut", 4] > 0.85  # ECLUT x4: 29.3 or better
    assert gain["srlut-s", 4] > gain["eclut", 4] + 0.3  # the default: SR-LUT S structure, fitted (29.8)
    assert gain["eclut-sdy", 4] > 29.82 - 28.42  # the composite beats SR-LUT S (29.82)
    for s in (2, 3, 4):  # lutsr's LUT network beats the composite at every scale (x4 30.58 vs 30.09)
        assert gain["shiftnet", s] > gain["eclut-sdy", s] + 0.3, (s, gain)
    for family in SHIPPED_FAMILIES:  # x2 and x3 gain at least as much over bicubic as x4
        for s in set(SHIPPED_SCALES[family]) & {2, 3}:
            assert gain[family, s] >= gain[family, 4], (family, s, gain)
