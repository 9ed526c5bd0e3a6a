"""With no folder that can hold Numba's cache ("no locator available"), lutsr still imports and runs,
compiling in memory, and says so once."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

SCRIPT = r"""
import logging, numba.core.caching as c
c.CacheImpl._locator_classes = []          # as in a read-only home, venv and cache folder
logging.basicConfig(level=logging.WARNING)
import numpy as np, lutsr
out = lutsr.upscale(np.zeros((3, 4, 3), np.uint8), "eclut")
print("shape", out.shape)
"""


def test_runs_without_any_cache_folder():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "shape (12, 16, 3)" in r.stdout
    assert r.stderr.count("no writable folder for lutsr's kernel cache") == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
