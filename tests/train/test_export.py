"""Exporter <-> network <-> runtime agreement (needs torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import SET5, SHARED, adversarial_images, needs_shared  # noqa: E402
from lutsr.train.export import eclut_table, export_checkpoint  # noqa: E402
from lutsr.imageio import read_image  # noqa: E402
from lutsr.lut.file import Lut, make_eclut_header  # noqa: E402
from lutsr.metrics import psnr  # noqa: E402
from lutsr.train.networks import ECLUTNet  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402
from lutsr.train.loop import network_upscale  # noqa: E402


def _random_net(scale: int, seed: int = 0, features: int = 16) -> ECLUTNet:
    """A small network with a non-trivial output layer (the real init zeroes it)."""
    torch.manual_seed(seed)
    net = ECLUTNet(scale, features=features)
    with torch.no_grad():
        net.out.weight.normal_(0, 0.3)
        net.out.bias.normal_(0, 0.05)
    return net.eval()


@pytest.fixture(scope="module")
def net4():
    return _random_net(4)


@pytest.fixture(scope="module")
def table4(net4):
    return eclut_table(net4)


def test_table_rows_are_the_network_on_each_pair(net4, table4):
    # Index order: row a*257 + b holds (current = a, below = b); columns (map, sub-row, sub-col).
    rng = np.random.default_rng(0)
    pairs = [(0, 0), (255, 255), (0, 255), (255, 0), (256, 3)] + [tuple(rng.integers(0, 257, 2)) for _ in range(20)]
    for a, b in pairs:
        va, vb = min(a, 255), min(b, 255)
        x = torch.tensor([va, vb], dtype=torch.float32).view(1, 2, 1, 1) / 255.0
        with torch.no_grad():
            cells = net4.cells(x, quantize=True)[0, :, 0, 0].numpy() + 128
        assert np.array_equal(table4[a * 257 + b], cells.astype(np.uint8)), (a, b)
    assert table4.shape == (257 * 257, 144) and table4.dtype == np.uint8


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_runtime_equals_quantized_network_bit_exactly(scale):
    net = net4_ = _random_net(scale, seed=scale)
    lut = Lut(header=make_eclut_header(scale), tables=[eclut_table(net4_)])
    rng = np.random.default_rng(scale)
    for img in adversarial_images(rng) + [rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)]:
        assert np.array_equal(upscale(img, lut), network_upscale(net, img, quantize=True)), img.shape


def test_chunking_does_not_change_the_table(net4, table4):
    assert np.array_equal(eclut_table(net4, chunk=1000), table4)


def _fidelity(net, lut, images):
    vals = [psnr(upscale(img, lut), network_upscale(net, img, quantize=False)) for img in images]
    return min(vals), float(np.mean(vals))


@needs_shared
def test_network_to_lut_fidelity_on_set5(net4, table4):
    # Runtime vs the network's own float rotation-ensembled output rounded to uint8.
    lut = Lut(header=make_eclut_header(4), tables=[table4])
    images = [read_image(SHARED / "bench/Set5/LR_bicubic/X4" / f"{n}x4.png") for n in SET5]
    worst, mean = _fidelity(net4, lut, images)
    assert worst >= 40.0, f"worst {worst:.2f} dB, mean {mean:.2f} dB"


def test_network_to_lut_fidelity_on_synthetic_images(net4, table4):
    lut = Lut(header=make_eclut_header(4), tables=[table4])
    y, x = np.mgrid[0:40, 0:48]
    imgs = [((x * 5 + y * 3) % 256).astype(np.uint8),
            np.random.default_rng(3).integers(0, 256, (24, 24, 3), dtype=np.uint8)]
    worst, _ = _fidelity(net4, lut, imgs)
    assert worst >= 40.0


def test_export_checkpoint_writes_valid_lut(tmp_path, net4):
    import json

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "eclut", "scale": 4, "features": 16}))
    torch.save({"model": net4.state_dict(), "iteration": 7}, run / "checkpoints" / "last.pt")
    out = tmp_path / "x4.lut"
    lut = export_checkpoint(run, out, device="cpu")
    assert out.is_file() and lut.scale == 4
    assert lut.header["source"]["iteration"] == 7 and len(lut.header["source"]["checkpoint_sha256"]) == 64
    assert np.array_equal(lut.table, eclut_table(net4))


def _random_lutnet(method: str, scale: int, seed: int = 0):
    from lutsr.train.networks import LUTNet

    torch.manual_seed(seed)
    net = LUTNet(method, scale, features=8)
    with torch.no_grad():
        for body in net.bodies:
            body.out.weight.normal_(0, 0.3)
            body.out.bias.normal_(0, 0.05)
    return net.eval()


@pytest.mark.parametrize("method,scale,interval", [
    ("srlut-s", 2, 4), ("srlut-s", 4, 4), ("srlut-f", 3, 4), ("srlut-v", 2, 0), ("eclut", 2, 4), ("eclut", 3, 3),
])
def test_exported_index_order_equals_runtime_for_every_method(method, scale, interval):
    # On images whose values lie on the sampling grid, interpolation is exact, so the runtime must
    # reproduce the quantized network bit for bit: this pins the exporter's row and cell order
    # (kernel offsets, current pixel first, sub-pixel layout) to the runtime's.
    from lutsr.train.export import export_tables
    from lutsr.lut.file import make_header

    net = _random_lutnet(method, scale)
    lut = Lut(header=make_header(method, scale, interval), tables=export_tables(net, interval))
    q = 2**interval
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256 // q, shape, dtype=np.uint8) * q for shape in [(1, 1), (3, 7), (6, 5, 3), (2, 9)]]
    for img in imgs:
        assert np.array_equal(upscale(img, lut), network_upscale(net, img, quantize=True)), (method, img.shape)


def test_export_refuses_huge_tables():
    from lutsr.errors import CheckpointError
    from lutsr.train.export import export_tables

    with pytest.raises(CheckpointError, match="coarser"):
        export_tables(_random_lutnet("srlut-s", 2), 0)


def test_coarsening_a_lut_equals_exporting_the_network_at_that_interval(net4, table4, tmp_path):
    from click.testing import CliRunner

    from lutsr.cli import main
    from lutsr.train.export import export_tables
    from lutsr.lut.file import load_lut, save_lut
    from lutsr.lut.coarsen import coarsen

    fine = Lut(header=make_eclut_header(4), tables=[table4])
    for interval in (1, 3, 4, 8):
        assert np.array_equal(coarsen(fine, interval).table, export_tables(net4, interval)[0]), interval
    src = tmp_path / "fine.lut"
    save_lut(src, fine.header, fine.tables)
    out = tmp_path / "i4.lut"
    r = CliRunner().invoke(main, ["export", str(src), "--interval", "4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert load_lut(out).table.shape == (17 * 17, 144)
    r = CliRunner().invoke(main, ["export", str(out), "--interval", "2", "-o", str(tmp_path / "x.lut")])
    assert r.exit_code == 2 and "without the network" in r.stderr


def test_cell_quantization_rule():
    # cell = clip(floor(alpha * o + 0.5), -128, 127) + 128; with a zero input and a zero last
    # layer the output o is the last layer's bias, so the rule can be probed directly
    from lutsr.train.networks import LUTNet

    net = LUTNet("eclut", 2, features=4)
    alpha = net.method.alpha
    # (exact .5 ties are left out: float32 cannot hit them reliably)
    probes = [0.0, 0.6 / alpha, -0.6 / alpha, 0.4 / alpha, -0.4 / alpha, 1.4 / alpha, 100.0, -100.0]
    want = [128, 129, 127, 128, 128, 129, 255, 0]
    x = torch.zeros(1, 2, 1, 1)
    for o, w in zip(probes, want):
        with torch.no_grad():
            net.out.bias.fill_(o)
            got = net.cells(x, quantize=True)[0, 0, 0, 0].item() + 128
        assert got == w, (o, got, w)
