"""lutsr fit on a Dask LocalCluster: byte-identical to the local fit; a killed worker's partition is recomputed."""

import os
import re
import signal
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask", reason="dask not installed (pip install 'lutsr[dask]')")
pytest.importorskip("distributed", reason="distributed not installed (pip install 'lutsr[dask]')")

from lutsr.fit import FitConfig, LinearLut, TrainingSet, fit  # noqa: E402
from lutsr.fit import passes as solver  # noqa: E402
from tests.fit.test_fit import _training_folder  # noqa: E402


def _strip_seconds(lines):
    return [re.sub(r", [0-9.]+ s$", "", ln) for ln in lines]


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(c)
    yield client
    client.close()
    c.close()


def test_importing_fit_does_not_import_dask():
    import subprocess

    code = "import sys, lutsr.fit, lutsr.fit.solver; print('distributed' in sys.modules or 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dask_fit_byte_identical(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(solver, "PARTITION_ITEMS", 2)  # 6 images -> 3 partitions over 2 workers
    data_dir = _training_folder(tmp_path / "train", n=6, size=24)
    results = {}
    for name, dask in (("local", None), ("dask", cluster)):
        lines = []
        cfg = FitConfig(method="srlut-v", scale=2, interval=5, iterations=3, data=str(data_dir))
        out = tmp_path / f"{name}.lut"
        res = fit(cfg, TrainingSet(data_dir, 2), out, progress=lines.append, dask=dask)
        results[name] = (out.read_bytes(), _strip_seconds(lines), res.vec)
    lb, ll, lv = results["local"]
    db, dl, dv = results["dask"]
    assert np.array_equal(lv, dv)
    assert ll == dl and len(ll) == 4
    # the LUT headers hold the wall time and machine; the tables and everything else agree
    from lutsr.lut.file import load_lut

    a, b = load_lut(tmp_path / "local.lut"), load_lut(tmp_path / "dask.lut")
    assert all(np.array_equal(x, y) for x, y in zip(a.tables, b.tables))
    ha, hb = dict(a.header["source"]["fit"]), dict(b.header["source"]["fit"])
    for h in (ha, hb):
        h.pop("seconds")
        h["history"] = [{k: v for k, v in r.items() if k != "seconds"} for r in h["history"]]
    assert ha == hb


def test_partition_order_matters_and_is_fixed(tmp_path):
    """The reduction is in partition order: the local passes equal an explicit left-to-right sum."""
    op = LinearLut("srlut-v", 2, 5)
    data = TrainingSet(_training_folder(tmp_path / "t", n=5, size=20), 2)
    vec = np.random.default_rng(0).normal(size=op.size)
    parts = solver.partitions(data, 2)
    expected = solver.partition_ata(op, data, parts[0], vec, 3)
    for p in parts[1:]:
        expected = expected + solver.partition_ata(op, data, p, vec, 3)
    monkey = solver.LocalPasses(op, data, 3)
    monkey.parts = parts
    assert np.array_equal(monkey.ata(vec), expected)


def test_killed_worker_partition_recomputed(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    from lutsr.fit.distributed import DaskPasses

    op = LinearLut("srlut-v", 2, 5)
    data = TrainingSet(_training_folder(tmp_path / "t", n=6, size=24), 2)
    monkeypatch.setattr(solver, "PARTITION_ITEMS", 1)
    vec = np.random.default_rng(1).normal(size=op.size)
    expected = solver.LocalPasses(op, data, 2).ata(vec)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            Client(c) as client:
        passes = DaskPasses(client, op, data, 2)
        assert np.array_equal(passes.ata(vec), expected)  # warm: both workers hold the data
        # kill a worker process while the next pass is in flight
        pid = next(iter(c.workers.values())).process.pid
        timer = threading.Timer(0.05, os.kill, (pid, signal.SIGKILL))
        timer.start()
        got = passes.ata(vec)
        timer.join()
        for _ in range(200):  # the worker really died (its nanny reaps it: poll, a zombie still answers kill 0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"worker {pid} is still alive")
        assert np.array_equal(got, expected)


def test_cli_fit_dask_local(runner, tmp_path):
    from lutsr.cli import main
    from lutsr.lut.file import load_lut

    data = _training_folder(tmp_path / "train", n=3, size=24)
    base = ["fit", "--method", "srlut-v", "--scale", "2", "--interval", "5", "--data", str(data), "--iterations", "1"]
    assert runner.invoke(main, base + ["-o", str(tmp_path / "a.lut")]).exit_code == 0
    r = runner.invoke(main, base + ["--dask", "local:1", "-o", str(tmp_path / "b.lut")])
    assert r.exit_code == 0, r.output
    a, b = load_lut(tmp_path / "a.lut"), load_lut(tmp_path / "b.lut")
    assert all(np.array_equal(x, y) for x, y in zip(a.tables, b.tables))
    r = runner.invoke(main, base + ["--dask", "local:x", "-o", str(tmp_path / "c.lut")])
    assert r.exit_code == 2 and "error:" in r.output and "local:N" in r.output
