"""The shipped default LUT: valid, self-describing, and better than bicubic on Set5 x4."""

import numpy as np

from conftest import SET5, SHARED, needs_shared
from lutsr.imageio import read_image
from lutsr.imresize import imresize, modcrop
from lutsr.lutfile import default_lut_path, load_lut
from lutsr.metrics import y_psnr
from lutsr.runtime import upscale


def test_default_lut_is_shipped_and_valid():
    lut = load_lut(default_lut_path(4))
    assert lut.header["method"] == "eclut" and lut.scale == 4 and lut.interval == 0
    assert lut.table.shape == (257 * 257, 144) and lut.table.dtype == np.uint8
    assert lut.header["source"].get("checkpoint_sha256")


def test_default_lut_upscales_a_smooth_ramp_smoothly():
    # a gentle horizontal ramp must stay a monotone ramp (no ringing, no offset drift)
    x = np.tile(np.linspace(40, 200, 32).round().astype(np.uint8), (16, 1))
    out = upscale(x).astype(int)
    row = out[32]
    assert np.all(np.diff(row[8:-8]) >= -1)
    assert abs(int(out[8:-8, 8:-8].mean()) - int(x[2:-2, 2:-2].mean())) <= 3


@needs_shared
def test_default_lut_beats_bicubic_on_set5_x4():
    lut = load_lut(default_lut_path(4))
    ours, bic = [], []
    for name in SET5:
        lr = read_image(SHARED / "bench/Set5/LR_bicubic/X4" / f"{name}x4.png")
        hr = modcrop(read_image(SHARED / "bench/Set5/HR" / f"{name}.png"), 4)
        ours.append(y_psnr(upscale(lr, lut), hr, 4))
        bic.append(y_psnr(imresize(lr, 4.0), hr, 4))
    assert np.mean(bic) == __import__("pytest").approx(28.42, abs=0.02)
    assert np.mean(ours) > 29.0 > np.mean(bic)
