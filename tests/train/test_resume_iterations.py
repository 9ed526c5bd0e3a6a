"""``train --resume`` and the iteration count (issue 16, item 7): kept unless one is given, and a
change is said in the log."""

import json
import logging

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from lutsr.cli import main  # noqa: E402
from lutsr.train.loop import TrainConfig, load_checkpoint, train  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume_data")
    y, x = np.mgrid[0:48, 0:56]
    for i in range(2):
        img = np.stack([(np.sin(x / (3 + i)) * 60 + np.cos(y / (4 + c)) * 60 + 128) for c in range(3)], -1)
        cv2.imwrite(str(d / f"img{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return d


def _cfg(data_dir, iterations):
    return TrainConfig(arch="eclut", scale=2, data=str(data_dir), features=8, iterations=iterations, batch_size=2,
                       patch_size=8, lr=1e-3, seed=3, checkpoint_every=2, val_every=100, log_every=1)


def test_resume_with_more_iterations_extends_and_logs_it(tmp_path, data_dir, caplog):
    run = tmp_path / "run"
    train(_cfg(data_dir, 2), run, device="cpu")
    with caplog.at_level(logging.INFO, logger="lutsr"):
        train(_cfg(data_dir, 4), run, device="cpu", resume=True)
    msgs = [r.getMessage() for r in caplog.records]
    assert any("2 -> 4" in m for m in msgs), msgs
    assert json.loads((run / "config.json").read_text())["iterations"] == 4
    assert load_checkpoint(run)[1]["iteration"] == 4


def test_cli_resume_without_iterations_keeps_saved_value_and_says_nothing_changed(tmp_path, data_dir, caplog):
    run = tmp_path / "run"
    args = ["train", "--arch", "eclut", "--scale", "2", "--data", str(data_dir), "--features", "8",
            "--batch-size", "2", "--patch-size", "8", "--checkpoint-every", "2", "--val-every", "100",
            "--log-every", "1", "--device", "cpu", "--out", str(run)]
    assert CliRunner().invoke(main, [*args, "--iterations", "2"]).exit_code == 0
    before = json.loads((run / "config.json").read_text())
    with caplog.at_level(logging.INFO, logger="lutsr"):
        r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "config.json").read_text()) == before  # iterations 2, not the default 2000
    assert load_checkpoint(run)[1]["iteration"] == 2
    assert not [r.getMessage() for r in caplog.records if "->" in r.getMessage()]
