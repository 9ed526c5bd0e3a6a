"""Tiny training runs (needs torch): checkpoints, exact resume, loss going down."""

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lutsr.train.loop import TrainConfig, load_checkpoint, train  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:56]
    for i in range(3):
        img = np.stack([(np.sin(x / (3 + i)) * 60 + np.cos(y / (4 + c)) * 60 + 128) for c in range(3)], -1)
        img += rng.normal(0, 4, img.shape)
        cv2.imwrite(str(d / f"img{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    (d / "sub").mkdir()
    cv2.imwrite(str(d / "sub" / "gray.jpg"), (x * 4 % 256).astype(np.uint8))
    (d / "broken.png").write_bytes(b"not an image")  # skipped with a warning
    return d


def _cfg(data_dir, **kw):
    base = dict(arch="eclut", scale=2, data=str(data_dir), features=8, iterations=6, batch_size=2, patch_size=8,
                lr=1e-3, seed=3, checkpoint_every=3, val_every=3, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


def _weights(run):
    _, ckpt = load_checkpoint(run)
    return {k: v.clone() for k, v in ckpt["model"].items()}


def test_checkpoints_and_config(tmp_path, data_dir):
    run = tmp_path / "run"
    train(_cfg(data_dir, val=str(data_dir)), run, device="cpu")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["arch"] == "eclut" and cfg["scale"] == 2 and cfg["iterations"] == 6
    assert (run / "checkpoints" / "iter_0000003.pt").is_file()
    assert (run / "checkpoints" / "iter_0000006.pt").is_file()
    config, ckpt = load_checkpoint(run)
    assert ckpt["iteration"] == 6 and config["features"] == 8


def test_resume_after_kill_gives_identical_weights(tmp_path, data_dir):
    straight = tmp_path / "straight"
    train(_cfg(data_dir), straight, device="cpu")

    killed = tmp_path / "killed"

    def die(info):
        if info.get("iteration") == 5 and "loss" in info:
            raise KeyboardInterrupt  # the process is killed after iteration 5's step, before its checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data_dir), killed, device="cpu", progress=die)
    assert load_checkpoint(killed)[1]["iteration"] == 3
    train(_cfg(data_dir), killed, device="cpu", resume=True)
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loss_decreases_on_a_tiny_run(tmp_path, data_dir):
    losses = []
    train(_cfg(data_dir, iterations=60, batch_size=4, lr=3e-3, checkpoint_every=60, log_every=1), tmp_path / "r",
          device="cpu", progress=lambda i: losses.append(i["loss"]) if "loss" in i else None)
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < first, (first, last)


def test_missing_data_folder_is_a_clear_error(tmp_path):
    from lutsr.errors import LutsrError

    with pytest.raises(LutsrError, match="not a folder"):
        train(_cfg(tmp_path / "nope"), tmp_path / "r", device="cpu")


def test_unreadable_training_images_are_skipped_with_a_warning(data_dir, caplog):
    import logging

    from lutsr.train.data import load_training_channels

    with caplog.at_level(logging.WARNING, logger="lutsr"):
        chans = load_training_channels(data_dir)
    assert len(chans) == 3 * 3 + 1  # three RGB images and one gray JPEG
    assert any("broken.png" in r.getMessage() for r in caplog.records)


def test_resume_without_iterations_keeps_the_saved_value(tmp_path, data_dir):
    from click.testing import CliRunner

    from lutsr.cli import main

    run = tmp_path / "run"
    args = ["train", "--arch", "eclut", "--scale", "2", "--data", str(data_dir), "--features", "8",
            "--batch-size", "2", "--patch-size", "8", "--checkpoint-every", "3", "--val-every", "3",
            "--log-every", "1", "--device", "cpu", "--out", str(run)]
    r = CliRunner().invoke(main, [*args, "--iterations", "3"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "config.json").read_text())["iterations"] == 3
    assert load_checkpoint(run)[1]["iteration"] == 3


def test_failed_start_writes_no_config(tmp_path):
    from click.testing import CliRunner

    from lutsr.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", str(empty), "--out", str(run), "--device", "cpu"])
    assert r.exit_code == 2, r.output
    assert not (run / "config.json").exists()


def test_metrics_jsonl_in_the_run_folder(tmp_path, data_dir):
    run = tmp_path / "run"
    seen = []
    train(_cfg(data_dir, val=str(data_dir)), run, device="cpu", progress=seen.append)
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in recs if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert [r["iteration"] for r in recs if "val_psnr" in r] == [3, 6]
    assert len(seen) == len(recs)  # the caller's callback still gets every record
    assert all(isinstance(r["time"], float) for r in recs)


@pytest.mark.parametrize("task_args", [["--task", "denoise", "--sigma", "25"], ["--task", "deblock", "--quality", "20"]],
                         ids=["denoise", "deblock"])
def test_train_a_restoration_task_export_and_run_it(tmp_path, data_dir, task_args):
    """`lutsr train --task ...`: scale 1, pairs degraded on the fly (seeded: exact resume), PSNR
    validation; `lutsr export` writes the task; `lutsr denoise/deblock --lut` runs the table, and
    the table's output equals the network's quantized forward pass bit for bit (on the table's
    lattice: srlut-s stores interval 4)."""
    from click.testing import CliRunner

    from lutsr.cli import main
    from lutsr.imageio import read_image, write_image
    from lutsr.lut.file import load_lut
    from lutsr.runtime import upscale
    from lutsr.train.loop import network_upscale

    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--arch", "srlut-s", "--data", str(data_dir), "--val", str(data_dir),
                                  "--out", str(run), "--iterations", "3", "--batch-size", "2", "--patch-size", "8",
                                  "--features", "4", "--val-every", "3", "--log-every", "1", "--device", "cpu",
                                  *task_args])
    assert r.exit_code == 0, r.output
    cfg = json.loads((run / "config.json").read_text())
    kind = task_args[1]
    assert cfg["scale"] == 1 and cfg["task"]["kind"] == kind
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_psnr" in m and np.isfinite(m["val_psnr"]) for m in metrics)
    lut_path = tmp_path / "t.lut"
    r = CliRunner().invoke(main, ["export", str(run), "-o", str(lut_path)])
    assert r.exit_code == 0, r.output
    lut = load_lut(lut_path)
    assert lut.scale == 1 and lut.task is not None and lut.task.kind == kind
    rng = np.random.default_rng(2)
    img = (rng.integers(0, 16, (12, 10)) * 16).astype(np.uint8)  # lattice points of interval 4: no interpolation
    config, ckpt = load_checkpoint(run)
    from lutsr.train.networks import build_model as build

    model = build({k: config[k] for k in ("arch", "scale", "features")})
    model.load_state_dict(ckpt["model"])
    assert np.array_equal(upscale(img, lut), network_upscale(model, img))
    src = tmp_path / ("in.jpg" if kind == "deblock" else "in.png")
    write_image(src, img)
    r = CliRunner().invoke(main, [kind, str(src), str(tmp_path / "out.png"), "--lut", str(lut_path)])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "out.png").shape == img.shape


def test_train_task_options_are_checked(tmp_path, data_dir):
    from click.testing import CliRunner

    from lutsr.cli import main

    for bad, msg in ((["--task", "denoise"], "needs --sigma"), (["--task", "deblock", "--sigma", "5"], "--sigma"),
                     (["--sigma", "25"], "go with --task"), (["--task", "denoise", "--sigma", "0"], "sigma")):
        r = CliRunner().invoke(main, ["train", "--data", str(data_dir), "--out", str(tmp_path / "r"),
                                      "--iterations", "1", *bad])
        assert r.exit_code == 2 and msg in r.output, (bad, r.output)
        assert not (tmp_path / "r").exists()
