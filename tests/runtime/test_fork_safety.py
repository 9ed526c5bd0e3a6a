"""Fork safety: Numba's GNU OpenMP layer cannot run in a child forked after it started. Such a child
gets a one-line LutsrError (a fork pool reports it instead of hanging); a spawn pool works."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import multiprocessing as mp
    import sys

    import numba
    import numpy as np

    import lutsr

    IMG = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)


    def work(_):
        return int(lutsr.upscale(IMG, "eclut", threads=1).sum())


    if __name__ == "__main__":
        want = int(lutsr.upscale(IMG, "eclut").sum())  # starts the threading layer in the parent
        print("layer", numba.threading_layer(), flush=True)
        try:
            from lutsr.runtime.api import fork_unsafe_layer
            print("unsafe", fork_unsafe_layer(), flush=True)
        except ImportError:
            print("unsafe ?", flush=True)
        if sys.argv[1] == "fork":
            with mp.get_context("fork").Pool(2) as pool:
                try:
                    got = pool.map_async(work, range(2)).get(timeout=60)
                    print("fork ok", got == [want] * 2, flush=True)
                except mp.TimeoutError:
                    print("fork hung", flush=True)
                    pool.terminate()
                except Exception as e:  # noqa: BLE001
                    print("fork error", type(e).__name__, str(e), flush=True)
        else:
            with mp.get_context(sys.argv[1]).Pool(2) as pool:
                print(sys.argv[1], "ok", pool.map(work, range(2)) == [want] * 2, flush=True)
''')


def _run(tmp_path, method: str) -> str:
    script = tmp_path / "forkcheck.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True, timeout=240, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_fork_pool_after_upscale_fails_cleanly_or_works(tmp_path):
    out = _run(tmp_path, "fork")
    if "unsafe None" in out:  # a fork-safe layer (TBB, workqueue, non-GNU OpenMP): the fork pool just works
        assert "fork ok True" in out, out
        return
    assert "layer omp" in out, out
    assert "fork hung" not in out, out
    [line] = [l for l in out.splitlines() if l.startswith("fork ")]
    assert line.startswith("fork error LutsrError") and "'spawn'" in line and "fork()" in line, line


@pytest.mark.parametrize("method", ["spawn"])
def test_spawn_pool_after_upscale_works(tmp_path, method):
    assert f"{method} ok True" in _run(tmp_path, method)


def test_local_dask_cluster_never_forks(monkeypatch):
    """lutsr's own process pool (fit --dask local:N) spawns its workers even where dask is set to fork."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    from lutsr.fit import distributed as fd

    seen = []

    class FakeCluster:
        def __init__(self, **kw):
            seen.append(dask.config.get("distributed.worker.multiprocessing-method"))

    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", lambda cluster: ("client", cluster))
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        fd.connect("local:2")
    assert seen == ["spawn"]
