"""The first run (issue 15, section 1): a small image whose kernels are not compiled yet runs on
the NumPy reference, bit for bit the kernels' pixels, while ``lutsr warmup`` compiles them in a
background process; ``engine="reference"`` of the library is the same path."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import lutsr
from lutsr.cli import main
from lutsr.imageio import read_image, write_image
from lutsr.lut.file import save_lut

from conftest import REPO, random_eclut, random_lut


def _images(rng):
    return [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), rng.integers(0, 256, (4, 6), dtype=np.uint8),
            rng.integers(0, 256, (3, 5, 4), dtype=np.uint8), rng.integers(0, 65536, (4, 3, 3), dtype=np.uint16),
            np.zeros((1, 1), np.uint8), np.full((2, 3, 3), 255, np.uint8)]


@pytest.mark.parametrize("make", [lambda rng: random_eclut(2, rng), lambda rng: random_lut("srlut-s", 3, 4, rng)],
                         ids=["eclut", "srlut-s"])
def test_reference_engine_gives_the_kernels_pixels(rng, make):
    lut = make(rng)
    for img in _images(rng):
        assert np.array_equal(lutsr.upscale(img, lut, engine="reference"), lutsr.upscale(img, lut)), img.shape


def test_reference_engine_for_a_network(rng):
    from lutsr.lut.file import network_lut
    from lutsr.net.legacy import stage_network

    lut = network_lut("shiftlut", stage_network(random_lut("srlut-s", 2, 4, rng)))
    img = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    assert np.array_equal(lutsr.upscale(img, lut, engine="reference"), lutsr.upscale(img, lut))


def test_bad_engine_is_refused(rng):
    from lutsr.errors import LutsrError

    with pytest.raises(LutsrError, match="engine 'gpu'"):
        lutsr.upscale(np.zeros((2, 2), np.uint8), random_eclut(2, rng), engine="gpu")


def _cli(tmp_path, args, mode):
    env = {**os.environ, "LUTSR_CACHE_DIR": str(tmp_path / "cache"), "LUTSR_FIRST_RUN": mode,
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-m", "lutsr", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cold_small_image_runs_on_the_reference_and_compiles_nothing(tmp_path, rng):
    lut = random_eclut(2, rng)
    save_lut(tmp_path / "r.lut", lut.header, lut.tables)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    write_image(tmp_path / "in.png", img)
    r = _cli(tmp_path, ["upscale", "in.png", "out.png", "-n", "r.lut"], "reference")
    assert r.returncode == 0, r.stderr
    assert "not compiled yet: this image runs on the NumPy reference" in r.stderr
    assert "(on the NumPy reference)" in r.stderr and "in the background" not in r.stderr
    assert np.array_equal(read_image(tmp_path / "out.png"), lutsr.upscale(img, lut))
    assert not list((tmp_path / "cache").rglob("*.nbi"))  # no kernel was compiled


def test_first_run_starts_one_background_warmup(monkeypatch, tmp_path, rng, runner):
    """Cold and small: the reference runs and ``lutsr warmup -n LUT`` is started, detached, once;
    cold and large: the kernels compile in the foreground, with the one-line notice."""
    import lutsr.cli as cli
    import lutsr.runtime.kernels.jit as jit

    lut = random_eclut(2, rng)
    save_lut(tmp_path / "r.lut", lut.header, lut.tables)
    write_image(tmp_path / "in.png", rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    started = []

    class FakePopen:
        pid = 4242

        def __init__(self, args, **kw):
            started.append((args, kw))

    monkeypatch.setenv("LUTSR_FIRST_RUN", "auto")
    monkeypatch.setattr(jit, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.setattr(cli, "_cold", lambda lut: (__import__("lutsr.runtime.compile", fromlist=["x"]).compile_lut(
        lut), ["expand_patch_kernel"]))
    for k in range(2):
        r = runner.invoke(main, ["upscale", str(tmp_path / "in.png"), str(tmp_path / f"o{k}.png"), "-n",
                                 str(tmp_path / "r.lut")])
        assert r.exit_code == 0, r.output
        assert "they compile in the background for the next run" in r.output
    assert len(started) == 1  # the second run finds the first one's stamp
    args, kw = started[0]
    assert args[1:] == ["-m", "lutsr", "-q", "warmup", "-n", str(tmp_path / "r.lut")]
    assert kw["start_new_session"] and kw["stdout"] == subprocess.DEVNULL
    monkeypatch.setattr(cli, "REFERENCE_SAMPLES", 10)  # now the image is "large"
    r = runner.invoke(main, ["upscale", str(tmp_path / "in.png"), str(tmp_path / "o2.png"), "-n",
                             str(tmp_path / "r.lut")])
    assert r.exit_code == 0 and "compiling kernels for" in r.output and "reference" not in r.output, r.output
    assert np.array_equal(read_image(tmp_path / "o0.png"), read_image(tmp_path / "o2.png"))
