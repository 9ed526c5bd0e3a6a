"""First-run experience: a one-line notice before kernels compile, and ``lutsr warmup`` to compile ahead."""

from __future__ import annotations

import importlib

import numpy as np
from click.testing import CliRunner

import lutsr
from lutsr.cli import main
from lutsr.imageio import write_image
from lutsr.runtime.compile import compile_lut
from lutsr.runtime.kernels.expand import expand_patch_kernel
from lutsr.runtime.kernels.jit import is_cached
from lutsr.runtime.run import cold_kernels

RUN = importlib.import_module("lutsr.runtime.run")  # the module (lutsr.runtime.run is also a function name)


def test_cold_kernels_names_what_a_lut_compiles(monkeypatch):
    lut = lutsr.default_lut(4, "eclut")
    lutsr.upscale(np.zeros((4, 4, 3), np.uint8), lut)  # now on disk
    assert is_cached(expand_patch_kernel)
    assert cold_kernels(compile_lut(lut)) == []
    monkeypatch.setattr("lutsr.runtime.kernels.jit.os.path.exists", lambda p: False)
    assert cold_kernels(compile_lut(lut)) == ["expand_corners", "expand_patch_kernel"]
    assert cold_kernels(compile_lut(lutsr.default_lut())) == ["block_vec_kernel"]  # srlut-s: one kernel


def test_notice_only_when_kernels_are_cold(tmp_path, monkeypatch):
    src = tmp_path / "a.png"
    write_image(src, np.zeros((6, 5, 3), np.uint8))
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "b.png")])
    assert r.exit_code == 0 and "compiling kernels" not in r.output
    monkeypatch.setattr(RUN, "cold_kernels", lambda comp: ["expand_patch_kernel"])
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "c.png")])
    assert r.exit_code == 0 and r.output.count("compiling kernels for srlut-s x4") == 1, r.output
    r = CliRunner().invoke(main, ["-q", "upscale", str(src), str(tmp_path / "d.png")])
    assert r.exit_code == 0 and "compiling" not in r.output


def test_warmup(monkeypatch):
    r = CliRunner().invoke(main, ["warmup", "--lut", "eclut"])
    assert r.exit_code == 0 and "eclut x4" in r.output and ("compiled" in r.output), r.output
    monkeypatch.setattr(RUN, "cold_kernels", lambda comp: ["expand_patch_kernel"])
    r = CliRunner().invoke(main, ["warmup"])
    assert r.exit_code == 0 and "compiled expand_patch_kernel" in r.output
    r = CliRunner().invoke(main, ["warmup", "--lut", "no-such.lut"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_warmup_restoration_tables(runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["warmup", "--lut", "denoise", "--lut", "deblock", "--lut", "denoise-fast"])
    assert r.exit_code == 0, r.output
    assert "sdy2 denoise" in r.output and "sdy2 deblock" in r.output and "srlut-v denoise" in r.output
