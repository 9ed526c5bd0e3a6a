"""Table-space training (lutsr.train.tables): the torch forward pass executes a network's own
description bit for bit as the NumPy reference does, gradients reach the tables (and, through
interpolated lookups, earlier layers), and the exported description is exact by construction."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lutsr.errors import LutsrError  # noqa: E402
from lutsr.net.reference import run_network  # noqa: E402
from lutsr.train.tables import TableNetwork  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
from netgen import random_network  # noqa: E402

from conftest import SHARED, adversarial_images  # noqa: E402


def _forward(tn, planes):
    x = torch.from_numpy(np.stack(planes)[:, None].astype(np.float64))
    return tn(x)[:, 0].detach().numpy()


@pytest.mark.parametrize("seed,dtype", [(0, "float64"), (1, "float64"), (2, "float64"), (3, "float32")])
def test_forward_equals_the_reference_on_random_networks(seed, dtype):
    """float64 is exact by design; float32 too while sums stay below 2**24 (these networks' do)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, scale=2, channels=3)
    tn = TableNetwork(net, dtype=getattr(torch, dtype))
    imgs = [rng.integers(0, 256, (7, 9), dtype=np.uint8), np.zeros((7, 9), np.uint8), np.full((7, 9), 255, np.uint8)]
    assert np.array_equal(_forward(tn, imgs), np.stack([run_network(net, im) for im in imgs]))
    for im in adversarial_images(rng):  # 1x1, odd sizes, flat, extremes (one plane each)
        im = im if im.ndim == 2 else im[..., 0]
        assert np.array_equal(_forward(tn, [im])[0], run_network(net, im)), im.shape


@pytest.mark.skipif(not (SHARED / "luts" / "ShiftLUT").is_dir(), reason="../shared/data/luts is absent")
@pytest.mark.parametrize("family", ["shiftlut", "tinylut", "hklut"])
def test_forward_equals_the_reference_on_published_networks(family, rng):
    from lutsr.lut.frontier import import_hklut, import_shiftlut, import_tinylut

    net = {"shiftlut": lambda: import_shiftlut(SHARED / "luts" / "ShiftLUT" / "ShiftLUT_sr_s0_int"),
           "tinylut": lambda: import_tinylut(SHARED / "luts" / "TinyLUT"),
           "hklut": lambda: import_hklut(SHARED / "luts" / "HKLUT" / "msb-hdb_lsb-hd_relu_nf64_2x2")}[family]()
    img = rng.integers(0, 256, (11, 13), dtype=np.uint8)
    assert np.array_equal(_forward(TableNetwork(net), [img])[0], run_network(net, img))


def test_gradients_reach_tables_and_training_is_exported_exactly():
    rng = np.random.default_rng(5)
    net = random_network(rng, scale=2, channels=2)
    tn = TableNetwork(net)
    x = torch.from_numpy(rng.integers(0, 256, (4, 1, 8, 8)).astype(np.float64))
    target = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    opt = torch.optim.Adam(tn.parameters(), lr=2.0)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = torch.mean((tn(x) - target) ** 2)
        loss.backward()
        losses.append(float(loss.detach()))
        opt.step()
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in tn.tables.values())
    assert min(losses[1:]) < losses[0]  # the tables learned something
    trained = tn.network()
    assert any(not np.array_equal(trained.tables[k], net.tables[k]) for k in net.tables)
    imgs = [im[0] for im in x.numpy().astype(np.uint8)]
    assert np.array_equal(_forward(tn, imgs), np.stack([run_network(trained, im) for im in imgs]))
    # the exported tables keep their dtypes (a LUT file stores them as they are)
    assert all(trained.tables[k].dtype == net.tables[k].dtype for k in net.tables)


def test_linear_lookups_pass_the_gradient_to_their_input():
    from lutsr.lut.frontier import NetBuilder

    b = NetBuilder()
    t = np.arange(0, 256 * 3, 3)  # T[v] = 3v: d out / d in = 3 / divisor
    y = b.lut(None, "x", t, [[0, 0, 1, 0, 0, 1, 0, 0, 0]], 1, divisor=3)
    b.op(None, "output", src=b.op(None, "clamp", src=y, lo=0, hi=255), out="_")
    tn = TableNetwork(b.network(1))
    x = torch.full((1, 1, 2, 2), 100.0, dtype=torch.float64, requires_grad=True)
    tn(x).sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x.grad))


def test_what_cannot_train_in_table_space_is_refused(rng):
    from conftest import random_lut
    from lutsr.net.legacy import stage_network

    with pytest.raises(LutsrError, match="simplex"):
        TableNetwork(stage_network(random_lut("srlut-s", 2, 4, rng)))
    with pytest.raises(LutsrError, match="not lut/remap tables"):
        TableNetwork(random_network(rng), trainable={"nope"})


def _grads(tn, x):
    """Output, gradient of a fixed random projection of the output to every table and to the input."""
    x = x.clone().requires_grad_(True)
    tn.zero_grad()
    y = tn(x)
    w = torch.from_numpy(np.random.default_rng(9).standard_normal(tuple(y.shape))).to(y.dtype)
    (y * w).sum().backward()
    return y.detach(), {k: p.grad.clone() for k, p in tn.tables.items() if p.grad is not None}, x.grad.clone()


@pytest.mark.parametrize("seed,shape", [(0, (3, 1, 7, 9)), (1, (1, 1, 1, 1)), (2, (2, 1, 5, 2)), (3, (2, 1, 6, 6))])
def test_compiled_linear_lookup_equals_the_torch_formula(seed, shape):
    """lutsr.train.lookup's Numba forward and backward passes against the torch formula they replace
    (what non-CPU devices run): the same outputs bit for bit, and the same gradients to every table and
    to the input (float64: the sums are in another order, so to rounding of the float64 gradients)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, scale=2, channels=3)
    fast, slow = TableNetwork(net), TableNetwork(net)
    slow.compiled_lookup = False
    pix = rng.integers(0, 256, shape)
    if seed == 3:
        pix[0] = 255  # flat and extreme sample beside a random one
    x = torch.from_numpy(pix.astype(np.float64))
    yf, gf, xf = _grads(fast, x)
    ys, gs, xs = _grads(slow, x)
    assert torch.equal(yf, ys)
    assert gf.keys() == gs.keys() and gf
    for k in gf:
        assert torch.allclose(gf[k], gs[k], rtol=1e-12, atol=1e-9), k
    assert torch.allclose(xf, xs, rtol=1e-12, atol=1e-9)
    if pix.size > 1:  # (a 1x1 image may saturate every clamp)
        assert any(torch.count_nonzero(g) for g in gf.values())


def test_take_adds_repeated_indices_in_its_backward_pass():
    from lutsr.train.lookup import take

    t = torch.arange(5.0, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([[0, 4, 4], [2, 4, 0]])
    y = take(t, idx)
    assert torch.equal(y.detach(), torch.tensor([[0.0, 4, 4], [2, 4, 0]], dtype=torch.float64))
    (y * torch.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=torch.float64)).sum().backward()
    assert torch.equal(t.grad, torch.tensor([7.0, 0, 4, 0, 10], dtype=torch.float64))
