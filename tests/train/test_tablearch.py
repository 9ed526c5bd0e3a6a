"""lutsr's own table-space architectures (lutsr.net.archs, lutsr.train.tablearch): the description is
the one the ShiftLUT importer writes, training moves the tables, the trained model's output is the
exported LUT file's output bit for bit (NumPy reference and Numba runtime), runs resume exactly,
and the CLI refuses what does not apply with one line."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from lutsr.cli import main  # noqa: E402
from lutsr.errors import LutsrError  # noqa: E402
from lutsr.net.archs import TABLE_ARCHS, fixed_offsets, get_arch  # noqa: E402
from lutsr.net.reference import run_network  # noqa: E402
from lutsr.train.loop import TrainConfig, load_checkpoint, train  # noqa: E402
from lutsr.train.tablearch import TableArchModel  # noqa: E402

from conftest import adversarial_images  # noqa: E402


def _lut_bytes(net) -> int:
    return sum(net.tables[op["table"]].nbytes for op in _ops(net.ops) if op["op"] == "lut")


def _ops(ops):
    for op in ops:
        yield op
        if op["op"] == "ensemble":
            yield from _ops(op["body"])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tablearch_data")
    y, x = np.mgrid[0:64, 0:72]
    for i in range(2):
        img = np.stack([np.sin(x / (3 + i) + c) * 60 + np.cos(y / (4 + c)) * 60 + 128 for c in range(3)], -1)
        cv2.imwrite(str(d / f"img{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return d


@pytest.mark.parametrize("scale,stacks,step", [(4, 1, 2), (4, 0, 4), (2, 0, 8), (1, 1, 2)])
def test_shiftnet_description_sizes_and_untrained_output(scale, stacks, step):
    net = get_arch("shiftnet").network(scale, stacks=stacks, step=step)
    assert net.scale == scale
    luts = [op for op in _ops(net.ops) if op["op"] == "lut"]
    assert len(luts) == 2 * (stacks + 1) + 2  # DW, PW per stack, the LSB DW, UP
    entries = -(-63 // step) + 1
    n_tables = 9 * 16 + 9 * 16 * stacks + 16 * 16 * (stacks + 1) + 16 * scale * scale
    assert _lut_bytes(net) == n_tables * entries + 9 * 16 * 4  # int8 tables
    assert all(net.tables[op["table"]].dtype == np.int8 for op in luts)
    # zero tables: a smooth image comes out close to nearest-neighbour (the starting point)
    y, x = np.mgrid[0:24, 0:24]
    img = np.clip(128 + 40 * np.sin(x / 6.0) * np.cos(y / 7.0), 0, 255).astype(np.uint8)
    out = run_network(net, img)
    near = np.kron(img, np.ones((scale, scale), np.uint8)).astype(int)
    assert out.shape == near.shape
    assert np.abs(out.astype(int) - near).mean() < 8


def test_the_default_shiftnet_fits_the_issue_budget():
    assert _lut_bytes(get_arch("shiftnet").network(4)) <= 64 * 1024


def test_fixed_offsets_move_every_channel_within_two_sets():
    off = fixed_offsets(2)
    assert off.shape == (2, 2, 16) and np.abs(off).max() == 1
    moved = (np.abs(off).sum(axis=1) > 0)  # (sets, channels)
    assert moved.sum(axis=1).tolist() == [8, 8] and moved.any(axis=0).all()


def test_bad_architecture_parameters_are_one_line_errors():
    with pytest.raises(LutsrError, match="stacks 9"):
        get_arch("shiftnet").network(4, stacks=9)
    with pytest.raises(LutsrError, match="step 3"):
        get_arch("shiftnet").network(4, step=3)
    with pytest.raises(LutsrError, match="scale 5"):
        get_arch("shiftnet").network(5)
    with pytest.raises(LutsrError, match="unknown parameters"):
        get_arch("shiftnet").network(4, width=3)
    with pytest.raises(LutsrError, match="expected one of shiftnet"):
        get_arch("nope")


@pytest.mark.parametrize("scale", [4, 1])
def test_a_trained_model_is_its_exported_network_bit_for_bit(scale, rng):
    from lutsr.lut.file import network_lut
    from lutsr.runtime.api import upscale

    model = TableArchModel("shiftnet", scale, {"stacks": 1, "step": 4})
    opt = torch.optim.Adam(model.parameters(), lr=3.0)
    x = torch.from_numpy(rng.integers(0, 256, (4, 1, 12, 12)).astype(np.float32) / 255)
    if scale == 1:  # a restorer that smooths (the untrained one is the identity)
        target = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    else:
        target = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    losses = []
    for _ in range(6):
        loss = torch.mean((model(x) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert min(losses[1:]) < losses[0]
    net = model.network()
    assert any(np.any(net.tables[op["table"]]) for op in _ops(net.ops) if op["op"] == "lut")
    lut = network_lut("shiftnet", net)
    imgs = [rng.integers(0, 256, (9, 11), dtype=np.uint8)] + adversarial_images(rng)
    for img in imgs:
        want = model.upscale(img)
        assert np.array_equal(want, run_network(net, img) if img.ndim == 2 else
                              np.stack([run_network(net, img[..., c]) for c in range(img.shape[2])], -1)), img.shape
        if img.ndim == 2 or img.shape[2] in (1, 3):
            for threads in (1, 2):
                assert np.array_equal(upscale(img, lut, threads=threads), want), (img.shape, threads)


def _cfg(data_dir, iterations, **kw):
    return TrainConfig(arch="shiftnet", scale=2, data=str(data_dir), iterations=iterations, batch_size=2,
                       patch_size=8, lr=2.0, seed=4, checkpoint_every=2, val_every=100, log_every=1,
                       arch_params={"stacks": 0, "step": 4}, **kw)


def test_shiftnet_runs_resume_exactly(tmp_path, data_dir):
    straight, killed = tmp_path / "a", tmp_path / "b"
    train(_cfg(data_dir, 6), straight, device="cpu")

    def die(info):
        if info.get("iteration") == 3 and "loss" in info:
            raise KeyboardInterrupt  # killed after iteration 3's step, before its checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data_dir, 6), killed, device="cpu", progress=die)
    assert load_checkpoint(killed)[1]["iteration"] == 2
    train(_cfg(data_dir, 6), killed, device="cpu", resume=True)
    a, b = load_checkpoint(straight)[1]["model"], load_checkpoint(killed)[1]["model"]
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(killed)[0]["arch_params"] == {"stacks": 0, "step": 4, "input_residual": 1}


def test_cli_train_export_upscale_shiftnet(tmp_path, data_dir):
    from lutsr.imageio import read_image

    run, lut_path = tmp_path / "run", tmp_path / "sn.lut"
    r = CliRunner().invoke(main, ["train", "--arch", "shiftnet", "--stacks", "0", "--step", "4", "--scale", "2",
                                  "--data", str(data_dir), "--val", str(data_dir), "--iterations", "3",
                                  "--batch-size", "2", "--patch-size", "8", "--lr", "2", "--val-every", "3",
                                  "--device", "cpu", "--out", str(run)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["export", str(run), "-o", str(lut_path)])
    assert r.exit_code == 0, r.output
    for what in (lut_path, run):  # the LUT file, and the run folder (what its export would say)
        r = CliRunner().invoke(main, ["info", str(what)])
        assert r.exit_code == 0 and "shiftnet x2 LUT network" in r.output, r.output
    src, out = data_dir / "img0.png", tmp_path / "out.png"
    r = CliRunner().invoke(main, ["upscale", str(src), str(out), "--lut", str(lut_path)])
    assert r.exit_code == 0, r.output
    config, ckpt = load_checkpoint(run)
    model = TableArchModel("shiftnet", 2, config["arch_params"])
    model.load_state_dict(ckpt["model"])
    assert np.array_equal(read_image(out), model.upscale(read_image(src)))


def test_cli_refuses_what_does_not_apply(tmp_path, data_dir):
    r = CliRunner().invoke(main, ["train", "--arch", "eclut", "--stacks", "1", "--data", str(data_dir),
                                  "--out", str(tmp_path / "r")])
    assert r.exit_code != 0 and "--stacks, --step, --init and --smooth go with a table-space arch" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["import", "--method", "shiftnet", str(tmp_path), "-o", str(tmp_path / "x.lut")])
    assert r.exit_code != 0 and "shiftnet" in r.output and "Traceback" not in r.output
    assert set(TABLE_ARCHS) == {"shiftnet"}


def test_cli_init_starts_from_an_exported_lut_and_refuses_another_architecture(tmp_path, data_dir):
    from lutsr.lut.file import load_lut

    common = ["--arch", "shiftnet", "--scale", "2", "--data", str(data_dir), "--batch-size", "2",
              "--patch-size", "8", "--device", "cpu"]
    a_lut = tmp_path / "a.lut"
    assert CliRunner().invoke(main, ["train", *common, "--stacks", "0", "--step", "4", "--iterations", "3",
                                     "--lr", "2", "--out", str(tmp_path / "a")]).exit_code == 0
    assert CliRunner().invoke(main, ["export", str(tmp_path / "a"), "-o", str(a_lut)]).exit_code == 0
    # a step too small to move any rounded table: the warm-started run exports the same tables
    r = CliRunner().invoke(main, ["train", *common, "--stacks", "0", "--step", "4", "--iterations", "1",
                                  "--lr", "1e-9", "--init", str(a_lut), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(main, ["export", str(tmp_path / "b"), "-o", str(tmp_path / "b.lut")]).exit_code == 0
    a, b = load_lut(a_lut).network, load_lut(tmp_path / "b.lut").network
    assert any(np.any(v) for v in a.tables.values() if v.dtype == np.int8)
    assert all(np.array_equal(a.tables[k], b.tables[k]) for k in a.tables)
    # another architecture's parameters: one line, no run folder left behind
    r = CliRunner().invoke(main, ["train", *common, "--stacks", "1", "--iterations", "1", "--init", str(a_lut),
                                  "--out", str(tmp_path / "c")])
    assert r.exit_code != 0 and "--init: the LUT is not a shiftnet x2 network" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "c").exists()


def test_cli_shiftnet_trains_a_denoiser_that_lutsr_denoise_runs(tmp_path, data_dir):
    from lutsr.imageio import read_image
    from lutsr.lut.file import load_lut

    run, lut_path = tmp_path / "dn", tmp_path / "dn.lut"
    r = CliRunner().invoke(main, ["train", "--arch", "shiftnet", "--stacks", "0", "--step", "4", "--task", "denoise",
                                  "--sigma", "25", "--data", str(data_dir), "--val", str(data_dir),
                                  "--iterations", "2", "--val-every", "2", "--batch-size", "2", "--patch-size", "8",
                                  "--lr", "2", "--device", "cpu", "--out", str(run)])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(main, ["export", str(run), "-o", str(lut_path)]).exit_code == 0
    lut = load_lut(lut_path)
    assert lut.scale == 1 and lut.header["task"]["kind"] == "denoise" and lut.header["task"]["sigma"] == 25
    src, out = data_dir / "img1.png", tmp_path / "clean.png"
    r = CliRunner().invoke(main, ["denoise", str(src), str(out), "--lut", str(lut_path)])
    assert r.exit_code == 0, r.output
    config, ckpt = load_checkpoint(run)
    model = TableArchModel("shiftnet", 1, config["arch_params"])
    model.load_state_dict(ckpt["model"])
    assert np.array_equal(read_image(out), model.upscale(read_image(src)))


def test_roughness_is_the_mean_squared_second_difference_within_each_1d_table():
    from lutsr.lut.frontier import NetBuilder
    from lutsr.train.tables import TableNetwork

    b = NetBuilder()
    t = np.array([0, 1, 2, 0, 5, 0])  # two 3-entry tables (step 128 over 0..255): a ramp and a bump
    y = b.lut(None, "x", t, [[0, 0, 1, 0, 0, 128, 0, 0, 0], [0, 3, 1, 0, 0, 128, 0, 0, 1]], 1, divisor=2)
    b.op(None, "output", src=b.op(None, "clamp", src=y, lo=0, hi=255), out="_")
    tn = TableNetwork(b.network(1))
    r = tn.roughness()
    # (0**2 + 10**2) / 2: the middle entries of the ramp and the bump; nothing across the join
    assert float(r.detach()) == pytest.approx(50.0)
    r.backward()
    assert torch.count_nonzero(next(iter(tn.tables.values())).grad) > 0


def test_smooth_training_runs_and_lowers_the_roughness(tmp_path, data_dir):
    rough = {}
    for smooth in (0.0, 1.0):
        run = tmp_path / f"s{smooth}"
        train(_cfg(data_dir, 6, smooth=smooth), run, device="cpu")
        config, ckpt = load_checkpoint(run)
        model = TableArchModel("shiftnet", 2, config["arch_params"])
        model.load_state_dict(ckpt["model"])
        rough[smooth] = float(model.roughness().detach())
    assert rough[1.0] < rough[0.0], rough


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shiftnet_with_the_input_residual_starts_at_nearest_neighbour_exactly(scale, rng):
    net = get_arch("shiftnet").network(scale, stacks=0, step=4, input_residual=1)
    img = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    assert np.array_equal(run_network(net, img), np.kron(img, np.ones((scale, scale), np.uint8)))
    if scale != 4:
        with pytest.raises(LutsrError, match="0, only at x4"):
            get_arch("shiftnet").network(scale, input_residual=0)
    else:  # ShiftLUT's residual on the 6-bit features: near nearest neighbour on a smooth image
        y, x = np.mgrid[0:24, 0:24]
        smooth = np.clip(128 + 40 * np.sin(x / 6.0) * np.cos(y / 7.0), 0, 255).astype(np.uint8)
        out = run_network(get_arch("shiftnet").network(4, stacks=0, step=4, input_residual=0), smooth)
        diff = np.abs(out.astype(int) - np.kron(smooth, np.ones((4, 4), np.uint8)).astype(int))
        assert 0 < diff.mean() < 8


def test_threads_sets_torch_and_the_numba_lookup_kernels_in_a_fresh_process(tmp_path, data_dir):
    """``threads=1`` used to set torch's count only: in a fresh process the first Numba parallel
    kernel started Numba's OpenMP layer, which put torch back to every core, and the lookup
    kernels used every core too ([2, 2] here; two 1-thread runs side by side ran 6x slower each
    than one 2-thread run)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, numba, torch\n"
        "from pathlib import Path\n"
        "from lutsr.train.loop import TrainConfig, train\n"
        "cfg = TrainConfig(**json.loads(sys.argv[1]))\n"
        "train(cfg, Path(sys.argv[2]), device='cpu', threads=1)\n"
        "print(json.dumps([torch.get_num_threads(), numba.get_num_threads()]))\n"
    )
    cfg = vars(_cfg(data_dir, 2))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg, default=str), str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [1, 1]
