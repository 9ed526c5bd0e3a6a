"""The Numba runtime of LUT networks equals the NumPy reference bit for bit: every op (random networks),
every thread and band count, adversarial images; and the published families (when ../shared is here)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, adversarial_images, needs_shared
from netgen import random_network

import lutsr
from lutsr.lut.file import network_lut
from lutsr.lut.frontier import NetBuilder
from lutsr.net.graph import Network
from lutsr.net.reference import run_network
from lutsr.runtime.netrun import compile_network, run_net


def _reference(net, img: np.ndarray) -> np.ndarray:
    img3 = img if img.ndim == 3 else img[..., None]
    out = np.stack([run_network(net, img3[..., c]) for c in range(img3.shape[2])], -1)
    return out if img.ndim == 3 else out[..., 0]


@pytest.mark.parametrize("seed,scale,channels", [(0, 2, 3), (1, 3, 3), (2, 1, 3), (3, 4, 16)])
def test_random_network_runtime_equals_reference(seed, scale, channels):
    rng = np.random.default_rng(seed)
    net = random_network(rng, scale, channels)
    lut = network_lut("shiftlut", net)
    comp = compile_network(lut)
    kinds = {("gather" if prep.get("gather") else "passes" if "passes" in prep else "direct")
             for _, body in comp.steps if isinstance(body, dict) and "body" in body
             for op, prep in body["body"] if op["op"] == "lut"}
    assert kinds == ({"gather", "passes", "direct"} if channels == 16 else {"passes", "direct"})
    (ens,) = [body for op, body in comp.steps if op["op"] == "ensemble"]
    assert ens["lr_scale"] == scale  # the rotations are summed at LR resolution (x1: nothing to shuffle)
    assert any(op["op"] == "lut" and prep["epi"][10] for op, prep in ens["body"])  # a value map fused
    for img in adversarial_images(rng):
        img3 = img if img.ndim == 3 else img[..., None]
        ref = _reference(net, img3)
        assert ref.shape == (img3.shape[0] * scale, img3.shape[1] * scale, img3.shape[2])
        for threads in (1, 2):
            for bands in (1, 2, 3, img3.shape[0]):
                out = run_net(comp, np.ascontiguousarray(img3), bands=bands, threads=threads)
                np.testing.assert_array_equal(out, ref, err_msg=f"{img.shape} threads {threads} bands {bands}")


def test_random_network_through_upscale_and_banding():
    rng = np.random.default_rng(5)
    net = random_network(rng, 2)
    lut = network_lut("shiftlut", net)
    img = rng.integers(0, 256, (23, 17, 3), dtype=np.uint8)
    ref = _reference(net, img)
    np.testing.assert_array_equal(lutsr.upscale(img, lut), ref)
    # bands of the public API (a few rows each, with the network's halo) change nothing
    np.testing.assert_array_equal(lutsr.upscale(img, lut, band_samples=3 * 17 * 2), ref)
    np.testing.assert_array_equal(lutsr.upscale(img[..., 0], lut, threads=1), ref[..., 0])


def test_halo_is_enough_and_needed():
    """Bands with the declared halo are exact; the halo is not larger than the receptive field needs."""
    rng = np.random.default_rng(9)
    net = random_network(rng, 2)
    comp = compile_network(network_lut("shiftlut", net))
    img = rng.integers(0, 256, (40, 9, 1), dtype=np.uint8)
    whole = run_net(comp, img, bands=1, threads=1)
    np.testing.assert_array_equal(run_net(comp, img, bands=8, threads=2), whole)
    for tile in (1, 5, 7, 64):  # square tiles (at least 4 halos) with halos on every side
        np.testing.assert_array_equal(run_net(comp, img, tile=tile, threads=2), whole)
    comp.halo = 0  # without a halo, band edges are padded as if they were the image's edges
    assert not np.array_equal(run_net(comp, img, bands=8, threads=1), whole)


FAMILY_FOLDERS = {
    "shiftlut-s": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s0_int"),
    "shiftlut-m": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s1_int"),
    "shiftlut-l": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s7_int"),
    "tinylut-s": ("tinylut", "TinyLUT"),
    "hklut-s": ("hklut", "HKLUT/msb-hdb_lsb-hd_relu_nf64_2x2"),
}


def imported(name: str):
    from lutsr.lut.importer import import_network

    family, folder = FAMILY_FOLDERS[name]
    return import_network(family, SHARED / "luts" / folder)


@needs_shared
@pytest.mark.parametrize("name", list(FAMILY_FOLDERS))
def test_published_family_runtime_equals_reference(name):
    rng = np.random.default_rng(3)
    lut = imported(name)
    comp = compile_network(lut)
    imgs = [rng.integers(0, 256, (6, 5, 2), dtype=np.uint8), np.zeros((1, 1, 1), np.uint8),
            np.full((3, 4, 1), 255, np.uint8), (rng.integers(0, 2, (5, 7, 1), dtype=np.uint8) * 255)]
    for img in imgs:
        ref = _reference(lut.network, img)
        for threads, bands in ((1, 1), (2, 2), (2, img.shape[0])):
            np.testing.assert_array_equal(run_net(comp, img, bands=bands, threads=threads), ref)


def _pointwise_net(amplitude: int) -> Network:
    """x >> 2 -> a ``lut`` of uniform passes (16 terms per output over a 3x3 window, tables of
    ``amplitude``-sized values at step 4, divisor 16) -> 16 outputs pixel-shuffled x4, in a rotation
    ensemble: the int16 sums of the fast path are taken or not by ``amplitude``."""
    rng = np.random.default_rng(amplitude)
    b = NetBuilder()
    body: list = []
    h = b.op(body, "rshift", src="x", bits=2)  # -32..31
    flat, terms, pos = [], [], 0
    for o in range(16):
        for k in range(16):  # 16 terms per output over the 9 taps of a 3x3 window
            flat.append(rng.integers(-amplitude, amplitude + 1, 17))
            terms.append([o, pos, 1, 0, -32, 4, 0, k % 3 - 1, k // 3 % 3 - 1])
            pos += 17
    p = b.lut(body, h, np.concatenate(flat), terms, 16, divisor=16, rounding="half_even")
    y = b.op(body, "pixel_shuffle", src=b.op(body, "clamp", src=p, lo=-128, hi=127), scale=4)
    x = b.op(None, "add_const", src="x", value=-128)
    e = b.op(None, "ensemble", src=x, body=body, body_out=y, rotations=[0, 1, 2, 3], clamp=[-128, 127])
    b.op(None, "output", src=b.op(None, "clamp", src=b.op(None, "add_const", src=e, value=128), lo=0, hi=255), out="_")
    return b.network(4)


@pytest.mark.parametrize("amplitude,narrow", [(100, 1), (6000, 0)])
def test_int16_sums_and_lr_ensemble_equal_the_reference(amplitude, narrow):
    """The pointwise op sums in int16 lanes only when every partial sum provably fits (16 passes of
    rows up to 100 in units of 1/4: yes; up to 6000: no), the ensemble adds its rotations at LR
    resolution before one pixel shuffle; both bit-exact against the reference."""
    net = _pointwise_net(amplitude)
    comp = compile_network(network_lut("shiftlut", net))
    (ens_op, ens), = [(o, p) for o, p in comp.steps if o["op"] == "ensemble"]
    assert ens["lr_scale"] == 4
    (lut_prep,) = [p for o, p in ens["body"] if o["op"] == "lut"]
    assert lut_prep["table"].dtype == np.int16 and lut_prep["magic"][5] == narrow and lut_prep["magic"][4] == 1
    rng = np.random.default_rng(1)
    for img in adversarial_images(rng):
        img3 = np.ascontiguousarray(img if img.ndim == 3 else img[..., None])
        ref = _reference(net, img3)
        for threads, bands in ((1, 1), (2, 3)):
            np.testing.assert_array_equal(run_net(comp, img3, bands=bands, threads=threads), ref)


def test_lr_ensemble_keeps_an_hr_output_that_the_body_reads_again():
    """A body that reads its pixel-shuffled output again (here a second, unused clamp of it) keeps the
    HR sum: the LR sum would hand that reader an unshuffled plane."""
    net = _pointwise_net(100)
    ens = next(o for o in net.ops if o["op"] == "ensemble")
    ens["body"].append({"op": "clamp", "out": "reread", "src": ens["body_out"], "lo": -1, "hi": 1})
    net = Network(net.ops, net.tables, net.scale).validate()
    comp = compile_network(network_lut("shiftlut", net))
    (ens_prep,) = [p for o, p in comp.steps if o["op"] == "ensemble"]
    assert ens_prep["lr_scale"] == 1
    img = np.random.default_rng(2).integers(0, 256, (7, 9, 1), dtype=np.uint8)
    np.testing.assert_array_equal(run_net(comp, img, threads=2, bands=2), _reference(net, img))


def test_direct_index_four_cell_rows_equal_the_reference():
    """HKLUT's shape of direct-index op (4 outputs, each pass adding a permutation of a row's 4
    cells) takes the 4-cell path; bit-exact against the reference without ../shared."""
    rng = np.random.default_rng(7)
    b = NetBuilder()
    body: list = []
    q = b.op(body, "rshift", src=b.op(body, "add_const", src="x", value=128), bits=5)  # 0..7
    perms = [(0, 1, 2, 3), (2, 0, 3, 1), (3, 2, 1, 0), (1, 3, 0, 2)]
    terms = [[o, 0, 4, perm[o], 0, 1, 0, 0, 0, 0, dy, dx] for perm, (dy, dx) in zip(perms, [(0, 1), (1, 0), (0, -1), (-1, 0)])
             for o in range(4)]
    y = b.lut(body, q, rng.integers(-128, 128, 64 * 4), terms, 4, k=2, index="direct", levels=8, border="edge",
              divisor=4)
    y = b.op(body, "pixel_shuffle", src=b.op(body, "clamp", src=y, lo=-128, hi=127), scale=2)
    x = b.op(None, "add_const", src="x", value=-128)
    e = b.op(None, "ensemble", src=x, body=body, body_out=y, rotations=[0, 1, 2, 3], clamp=[-128, 127])
    b.op(None, "output", src=b.op(None, "clamp", src=b.op(None, "add_const", src=e, value=128), lo=0, hi=255), out="_")
    net = b.network(2)
    comp = compile_network(network_lut("shiftlut", net))
    (ens,) = [p for o, p in comp.steps if o["op"] == "ensemble"]
    (prep,) = [p for o, p in ens["body"] if o["op"] == "lut"]
    assert prep["cells"].shape == (4, 4) and sorted(map(tuple, np.sort(prep["cells"], 1))) == [(0, 1, 2, 3)] * 4
    for img in adversarial_images(rng):
        img3 = np.ascontiguousarray(img if img.ndim == 3 else img[..., None])
        np.testing.assert_array_equal(run_net(comp, img3, threads=2, bands=2), _reference(net, img3))
