"""Per-unit bodies (lutsr.train.bodies): each compiles into its LUT exactly; blocks a LUT cannot hold are refused."""

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from conftest import adversarial_images  # noqa: E402
from lutsr.cli import main  # noqa: E402
from lutsr.errors import LutsrError  # noqa: E402
from lutsr.lut.file import Lut, make_header  # noqa: E402
from lutsr.metrics import psnr  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402
from lutsr.train.bodies import BODIES, REFUSED, check_body  # noqa: E402
from lutsr.train.export import export_tables  # noqa: E402
from lutsr.train.loop import network_upscale  # noqa: E402
from lutsr.train.networks import LUTNet, build_model  # noqa: E402


def _random(method: str, scale: int, body: str, seed: int = 0) -> LUTNet:
    """A small network of ``body`` with every layer random (the real init zeroes the last one)."""
    torch.manual_seed(seed)
    net = LUTNet(method, scale, features=8, body=body)
    with torch.no_grad():
        for b in net.bodies:
            for p in b.parameters():
                p.normal_(0, 0.4)
            b.out.weight.normal_(0, 0.3)
            b.out.bias.normal_(0, 0.05)
    return net.eval()


def test_registry():
    assert set(BODIES) == {"mlp", "dense", "pa", "xunit"}
    assert set(REFUSED) >= {"ca", "cbam", "soca", "conv3x3"}
    assert all(BODIES[n].__doc__ for n in BODIES)


@pytest.mark.parametrize("body", sorted(BODIES))
def test_untrained_body_starts_where_mlp_starts(body):
    # the last layer starts at zero: every body's first output is the residual path alone
    img = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    for method in ("srlut-s", "eclut"):
        net = LUTNet(method, 2, features=8, body=body).eval()
        ref = LUTNet(method, 2, features=8, body="mlp").eval()
        out = network_upscale(net, img, quantize=True)
        assert np.array_equal(out, network_upscale(ref, img, quantize=True))


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("method,scale,interval", [("srlut-s", 2, 4), ("eclut", 2, 4)])
def test_exported_lut_equals_the_quantized_network(body, method, scale, interval):
    # On images whose values lie on the sampling grid the runtime must equal the network bit for bit.
    net = _random(method, scale, body)
    lut = Lut(header=make_header(method, scale, interval), tables=export_tables(net, interval))
    q = 2**interval
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (3, 7), (6, 5, 3)]:
        img = rng.integers(0, 256 // q, shape, dtype=np.uint8) * q
        assert np.array_equal(upscale(img, lut), network_upscale(net, img, quantize=True)), (body, shape)


@pytest.mark.parametrize("body", sorted(BODIES))
def test_network_to_lut_fidelity(body):
    # ECLUT at interval 0 holds every input pair: the LUT is the network's own float output, rounded
    net = _random("eclut", 2, body, seed=3)
    lut = Lut(header=make_header("eclut", 2, 0), tables=export_tables(net, 0))
    rng = np.random.default_rng(2)
    for img in adversarial_images(rng)[:4] + [rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)]:
        p = psnr(upscale(img, lut), network_upscale(net, img, quantize=False))
        assert p >= 40.0, (body, img.shape, p)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_blocks_a_lut_cannot_hold_are_refused_with_the_reason(name):
    with pytest.raises(LutsrError) as e:
        check_body(name)
    msg = str(e.value)
    assert "\n" not in msg and name in msg
    assert ("global context" in msg) or ("receptive field" in msg)
    with pytest.raises(LutsrError):
        LUTNet("eclut", 2, features=8, body=name)
    with pytest.raises(LutsrError, match="unknown body 'nope'; expected one of mlp, dense, pa, xunit"):
        check_body("nope")


def test_train_and_export_refuse_with_one_line(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), np.zeros((16, 16, 3), np.uint8))
    r = CliRunner().invoke(main, ["train", "--body", "ca", "--data", str(d), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "body 'ca' cannot be compiled into a LUT" in r.output and "global context" in r.output
    assert not (tmp_path / "r").exists()
    r = CliRunner().invoke(main, ["train", "--body", "conv3x3", "--data", str(d), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "receptive field beyond the unit's kernel" in r.output
    # a checkpoint whose config names a refused block (edited by hand, or from another tool)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    net = LUTNet("eclut", 2, features=8)
    (run / "config.json").write_text(json.dumps({"arch": "eclut", "scale": 2, "features": 8, "body": "soca"}))
    torch.save({"model": net.state_dict(), "iteration": 1}, run / "checkpoints" / "last.pt")
    r = CliRunner().invoke(main, ["export", str(run), "-o", str(tmp_path / "x.lut")])
    assert r.exit_code == 2 and "body 'soca' cannot be compiled into a LUT" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "x.lut").exists()


def test_train_each_body_end_to_end(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    y, x = np.mgrid[0:40, 0:40]
    cv2.imwrite(str(d / "a.png"), np.stack([(x * 6 + y * c) % 256 for c in range(3)], -1).astype(np.uint8))
    for body in ("dense", "pa", "xunit"):
        run = tmp_path / body
        r = CliRunner().invoke(main, ["train", "--arch", "srlut-s", "--body", body, "--scale", "2", "--data", str(d),
                                      "--out", str(run), "--iterations", "2", "--batch-size", "2",
                                      "--patch-size", "8", "--features", "8", "--device", "cpu"])
        assert r.exit_code == 0, r.output
        assert json.loads((run / "config.json").read_text())["body"] == body
        out = tmp_path / f"{body}.lut"
        r = CliRunner().invoke(main, ["export", str(run), "-o", str(out)])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["info", str(run), "--json"])
        info = json.loads(r.stdout)
        assert info["body"] == body and info["bodies"][0]["body"] == body
        model = build_model({"arch": "srlut-s", "scale": 2, "features": 8, "body": body})
        assert info["parameters"] == sum(p.numel() for p in model.parameters())


def test_info_counts_each_body(tmp_path):
    counts = {}
    for body in BODIES:
        net = LUTNet("eclut", 4, features=16, body=body)
        run = tmp_path / body
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(net.config()))
        torch.save({"model": net.state_dict(), "iteration": 0}, run / "checkpoints" / "last.pt")
        r = CliRunner().invoke(main, ["info", str(run), "--json"])
        assert r.exit_code == 0, r.output
        counts[body] = json.loads(r.stdout)
    # MACs of the 1x1 convolutions per LR pixel, written out (n = 2 inputs, f = 16, 144 cells, 4 rotations)
    assert counts["mlp"]["macs_per_lr_pixel"] == 4 * (2 * 16 + 4 * 16 * 16 + 16 * 144)
    growth = 8
    dense = 2 * 16 + sum((16 + i * growth) * growth for i in range(4)) + (16 + 4 * growth) * 16 + 16 * 144
    assert counts["dense"]["macs_per_lr_pixel"] == 4 * dense
    pa = 2 * 16 + 4 * 16 * 16 + 16 * 144 + 5 * (16 * 2 + 2 * 1)
    assert counts["pa"]["macs_per_lr_pixel"] == 4 * pa
    assert counts["xunit"]["macs_per_lr_pixel"] == 4 * (2 * 16 + 4 * 16 * 16 + 16 * 144 + 5 * 16)
    # measured activation memory: every body keeps more for backward than the plain mlp
    base = counts["mlp"]["training_forward_bytes_per_lr_pixel"]
    assert base > 0 and all(counts[b]["training_forward_bytes_per_lr_pixel"] > base for b in ("dense", "pa", "xunit"))
    assert all(c["training_backward_peak_bytes_per_lr_pixel"] > c["training_forward_bytes_per_lr_pixel"]
               for c in counts.values())
