"""Every version-1 stage method (ECLUT, SR-LUT S/F/V, MuLUT, eclut-sdy) written as a LUT network
(``lutsr.net.legacy.stage_network``) computes bit for bit what the version-1 runtime computes."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import REPO, adversarial_images, random_lut

import lutsr
from lutsr.lut.file import load_lut, network_lut
from lutsr.net.legacy import stage_network
from lutsr.net.reference import run_network
from lutsr.runtime.reference import upscale_reference
from lutsr.spec import METHODS


def _ref_net(net, img):
    img3 = img if img.ndim == 3 else img[..., None]
    out = np.stack([run_network(net, img3[..., c]) for c in range(img3.shape[2])], -1)
    return out if img.ndim == 3 else out[..., 0]


CASES = [("eclut", 2, 0), ("eclut", 3, 2), ("srlut-s", 2, 4), ("srlut-s", 3, 5), ("srlut-f", 2, 4), ("srlut-v", 2, 0),
         ("mulut-sdy-x2", 2, 4), ("eclut-sdy", 2, 4)]


@pytest.mark.parametrize("method,scale,interval", CASES)
def test_stage_methods_as_networks(method, scale, interval):
    rng = np.random.default_rng(zlib.crc32(f"{method} {scale} {interval}".encode()))
    lut = random_lut(method, scale, interval, rng)
    net = stage_network(lut)
    assert net.scale == scale
    netlut = network_lut("shiftlut", net)
    for img in adversarial_images(rng)[:9]:
        want = upscale_reference(img, lut)
        np.testing.assert_array_equal(_ref_net(net, img), want, err_msg=f"reference {img.shape}")
        np.testing.assert_array_equal(lutsr.upscale(img, netlut, threads=2), want, err_msg=f"runtime {img.shape}")
        np.testing.assert_array_equal(lutsr.upscale(img, lut, threads=2), want)


def test_every_method_has_a_network_form():
    rng = np.random.default_rng(0)
    for name, m in METHODS.items():
        lut = random_lut(name, 2, m.default_interval if name != "eclut" else 0, rng)
        assert stage_network(lut).validate().receptive_field()[2] >= 1


@pytest.mark.parametrize("name", ["eclut_x2.lut", "eclut-sdy_x2.lut"])
def test_shipped_files_as_networks(name):
    lut = load_lut(REPO / "luts" / name)
    net = stage_network(lut)
    img = np.random.default_rng(1).integers(0, 256, (7, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(lutsr.upscale(img, network_lut("shiftlut", net)), lutsr.upscale(img, lut))
