"""Denoising and deblocking: tasks, degradations, blind levels, PSNR-B, task LUT files, the cascade fit,
``lutsr denoise`` / ``lutsr deblock`` / ``lutsr eval --task`` and the public API."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import lutsr
from lutsr.errors import LutFormatError, LutsrError
from lutsr.lut.file import Lut, load_lut, make_header, save_lut, validate_header
from lutsr.metrics import blocking_effect_factor, psnr, psnr_b
from lutsr.tasks import Task, estimate_noise_sigma, jpeg_quality_of, nearest_level

from conftest import random_lut

REPO = Path(__file__).resolve().parent.parent


def _smooth(h=96, w=80, seed=0):
    """A smooth gradient image with a few soft edges (natural-image-like, little fine texture)."""
    y, x = np.mgrid[0:h, 0:w]
    img = 60 + 0.8 * x + 0.5 * y + 40 * (x > w // 2) + 20 * np.sin(y / 9.0)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _task_lut(method: str, task: Task, rng, interval: int = 4) -> Lut:
    lut = random_lut(method, 1, interval, rng)
    lut.header.update(make_header(method, 1, interval, task=task))
    return lut


# --------------------------------------------------------------------------------------
# Tasks and the protocol
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,level", [("denoise", 0), ("denoise", 256), ("deblock", 0), ("deblock", 101),
                                        ("denoise", True), ("denoise", 2.5), ("blur", 3)])
def test_task_levels_are_validated(kind, level):
    with pytest.raises(LutsrError, match=r"sigma|quality|unknown task"):
        Task(kind, level)


def test_task_json_round_trip_and_names():
    for t in (Task.denoise(25), Task.deblock(10)):
        assert Task.from_json(json.loads(json.dumps(t.to_json()))) == t
    assert Task.denoise(25).name == "denoise_s25" and Task.deblock(10).name == "deblock_q10"
    for bad in ({"kind": "denoise"}, {"kind": "denoise", "quality": 3}, {"kind": "x", "sigma": 3}, [1],
                {"kind": "denoise", "sigma": 25, "extra": 1}):
        with pytest.raises(LutsrError):
            Task.from_json(bad)


def test_denoise_degradation_is_the_documented_protocol():
    rng = np.random.default_rng(0)
    for shape in [(17, 23), (9, 8, 3)]:
        clean = rng.integers(0, 256, shape, dtype=np.uint8)
        np.random.seed(5)  # the NumPy legacy stream ShiftLUT's DNBenchmark uses
        noisy = (clean / 255.0 + np.random.normal(0, 25 / 255.0, clean.shape)).astype(np.float32)
        want = np.clip(np.round(noisy * np.float32(255)), 0, 255).astype(np.uint8)
        got = Task.denoise(25).degrade(clean, seed=5)
        assert got.dtype == np.uint8 and np.array_equal(got, want)
        assert not np.array_equal(got, Task.denoise(25).degrade(clean, seed=6))


def test_deblock_degradation_is_opencv_jpeg():
    clean = _smooth()
    ok, enc = cv2.imencode(".jpg", clean, [int(cv2.IMWRITE_JPEG_QUALITY), 20])
    assert ok
    assert np.array_equal(Task.deblock(20).degrade(clean), cv2.imdecode(enc, cv2.IMREAD_UNCHANGED))
    with pytest.raises(LutsrError, match="one channel"):
        Task.deblock(20).degrade(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(LutsrError, match="uint8"):
        Task.deblock(20).degrade(np.zeros((8, 8), np.float32))


def test_nearest_level_prefers_the_stronger_table_on_ties():
    assert nearest_level("denoise", 20) == 25 and nearest_level("denoise", 42.5) == 50
    assert nearest_level("denoise", 3) == 10 and nearest_level("denoise", 12.5) == 15 and nearest_level("denoise", 90) == 50
    assert nearest_level("deblock", 15) == 10 and nearest_level("deblock", 77) == 40


def test_noise_estimate_follows_sigma_and_ignores_smooth_structure():
    clean = _smooth(160, 160)
    assert estimate_noise_sigma(clean) < 1.5
    for sigma in (5, 15, 25, 40):
        est = estimate_noise_sigma(Task.denoise(sigma).degrade(clean, seed=1))
        assert abs(est - sigma) < 0.15 * sigma + 1, (sigma, est)
    colour = np.stack([clean, clean[::-1], clean[:, ::-1]], axis=2)
    assert abs(estimate_noise_sigma(Task.denoise(25).degrade(colour)) - 25) < 4
    assert estimate_noise_sigma(np.zeros((1, 1), np.uint8)) == 0.0
    assert estimate_noise_sigma(np.full((40, 40), 255, np.uint8)) == 0.0  # all clipped, flat


@pytest.mark.parametrize("q", [1, 5, 10, 33, 50, 75, 95, 100])
def test_jpeg_quality_is_read_from_the_quantisation_table(q):
    ok, enc = cv2.imencode(".jpg", _smooth(), [int(cv2.IMWRITE_JPEG_QUALITY), q])
    assert jpeg_quality_of(enc.tobytes()) == q


def test_jpeg_quality_of_other_data_is_none():
    ok, png = cv2.imencode(".png", _smooth())
    ok, jpg = cv2.imencode(".jpg", _smooth())
    for data in (png.tobytes(), b"", b"\xff\xd8", jpg.tobytes()[:20], b"\xff\xd8\xff\xda\x00\x02"):
        assert jpeg_quality_of(data) is None


# --------------------------------------------------------------------------------------
# PSNR-B
# --------------------------------------------------------------------------------------

def _bef_loops(im: np.ndarray, b: int = 8) -> float:
    """Blocking effect factor written pair by pair (an independent check of the vectorised one)."""
    im = im.astype(np.float64)
    h, w = im.shape
    sums = {True: [0.0, 0], False: [0.0, 0]}
    for y in range(h):
        for x in range(w - 1):
            sums[x % b == b - 1 and x < (w // b) * b - 1][0] += (im[y, x] - im[y, x + 1]) ** 2
            sums[x % b == b - 1 and x < (w // b) * b - 1][1] += 1
    for y in range(h - 1):
        for x in range(w):
            sums[y % b == b - 1 and y < (h // b) * b - 1][0] += (im[y, x] - im[y + 1, x]) ** 2
            sums[y % b == b - 1 and y < (h // b) * b - 1][1] += 1
    bound, other = sums[True][0] / sums[True][1], sums[False][0] / sums[False][1]
    return max(0.0, np.log2(b) / np.log2(min(h, w)) * (bound - other))


def test_psnr_b_matches_a_pairwise_reference_and_punishes_blocks():
    rng = np.random.default_rng(3)
    clean = _smooth(48, 40)
    blocky = clean.reshape(6, 8, 5, 8).mean(axis=(1, 3)).repeat(8, 0).repeat(8, 1).astype(np.uint8)
    assert blocking_effect_factor(blocky) > 0
    assert blocking_effect_factor(blocky) == pytest.approx(_bef_loops(blocky), rel=1e-12)
    noisy = np.clip(clean + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
    assert blocking_effect_factor(noisy) == pytest.approx(_bef_loops(noisy), rel=1e-12, abs=1e-12)
    assert psnr_b(blocky, clean) < psnr(blocky, clean)
    flat = np.full((16, 16), 7, np.uint8)
    assert blocking_effect_factor(flat) == 0.0 and psnr_b(flat, flat) == float("inf")
    rgb = np.stack([blocky] * 3, axis=2)
    assert psnr_b(rgb, np.stack([clean] * 3, axis=2)) == pytest.approx(psnr_b(blocky, clean))


# --------------------------------------------------------------------------------------
# Task LUT files
# --------------------------------------------------------------------------------------

def test_task_lut_files_round_trip_and_are_validated(tmp_path):
    rng = np.random.default_rng(0)
    lut = _task_lut("sdy2", Task.denoise(25), rng)
    save_lut(tmp_path / "d.lut", lut.header, lut.tables)
    back = load_lut(tmp_path / "d.lut")
    assert back.task == Task.denoise(25) and "denoise sigma=25" in str(back)
    assert load_lut(REPO / "luts" / "eclut_x2.lut").task is None
    with pytest.raises(LutFormatError, match="scale 1"):
        make_header("sdy", 4, 4, task=Task.deblock(10))
    for bad in ({"kind": "denoise", "sigma": 0}, {"kind": "denoise"}, "denoise"):
        with pytest.raises(LutFormatError, match="task"):
            validate_header(dict(lut.header, task=bad), tmp_path / "bad.lut", payload=False)
    with pytest.raises(LutFormatError, match="scale 1"):
        validate_header(dict(make_header("sdy", 2, 4), task=Task.denoise(15).to_json()), None, payload=False)


def test_cascade_runs_its_stages_in_turn():
    """sdy2 computes exactly sdy followed by sdy (the fit solves the stages in that order)."""
    rng = np.random.default_rng(4)
    lut = random_lut("sdy2", 1, 4, rng)
    first = Lut(header=make_header("sdy", 1, 4), tables=lut.tables[:3])
    second = Lut(header=make_header("sdy", 1, 4), tables=lut.tables[3:])
    for img in (rng.integers(0, 256, (13, 11), dtype=np.uint8), rng.integers(0, 256, (5, 9, 3), dtype=np.uint8)):
        assert np.array_equal(lutsr.upscale(img, lut), lutsr.upscale(lutsr.upscale(img, first), second))


# --------------------------------------------------------------------------------------
# Fitting for a task
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(7)
    for i in range(3):
        img = np.stack([_smooth(40, 48, i)] * 3, axis=2).astype(np.int16) + rng.integers(-20, 20, (40, 48, 3))
        cv2.imwrite(str(d / f"{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return d


def test_training_pairs_are_fixed_per_image_and_differ_per_task(clean_folder):
    from lutsr.fit import TrainingSet

    a = TrainingSet(clean_folder, 1, task=Task.denoise(25))
    b = TrainingSet(clean_folder, 1, task=Task.denoise(25))
    pa, pb = a.image_pairs(0), b.image_pairs(0)
    assert len(pa) == 6  # 3 channels x (as is, transposed)
    for (la, ha), (lb, hb) in zip(pa, pb):
        assert np.array_equal(la, lb) and np.array_equal(ha, hb) and la.shape == ha.shape
    assert not np.array_equal(pa[0][0], pa[1][0].T)  # each variant has its own noise
    assert a.fingerprint() == b.fingerprint() != TrainingSet(clean_folder, 1, task=Task.denoise(15)).fingerprint()
    assert TrainingSet(clean_folder, 1, task=Task.deblock(10)).image_pairs(0)[0][0].dtype == np.uint8
    assert len(TrainingSet(clean_folder, 1, task=Task.denoise(25), every=2)) == 2
    with pytest.raises(LutsrError, match="scale must be 1"):
        TrainingSet(clean_folder, 4, task=Task.denoise(25))


def test_fit_a_cascade_for_denoising(clean_folder, tmp_path, runner):
    from lutsr.cli import main

    out = tmp_path / "dn.lut"
    r = runner.invoke(main, ["fit", "--method", "sdy2", "--task", "denoise", "--sigma", "25", "--iterations", "2",
                             "--data", str(clean_folder), "--val", str(clean_folder), "-o", str(out)])
    assert r.exit_code == 0, r.output
    lut = load_lut(out)
    assert lut.task == Task.denoise(25) and lut.header["method"] == "sdy2" and lut.scale == 1
    rec = lut.header["source"]["fit"]
    assert len(rec["stages"]) == 2 and rec["stages"][1]["method"] == "sdy"
    assert not list(tmp_path.glob("dn.lut.stage*"))  # the stage files are gone
    # the fit beats the noisy input on the images it was fitted on
    clean = cv2.imread(str(clean_folder / "0.png"), cv2.IMREAD_GRAYSCALE)
    noisy = Task.denoise(25).degrade(clean, seed=3)
    assert psnr(lutsr.denoise(noisy, lut=out), clean) > psnr(noisy, clean) + 2


def test_a_cascade_resumes_from_its_finished_stages(clean_folder, tmp_path, caplog):
    import logging

    from lutsr.fit import FitConfig, TrainingSet, fit, fit_cascade

    task = Task.deblock(10)
    cfg = FitConfig(method="sdy2", scale=1, interval=4, iterations=1, task=task.to_json(), data=str(clean_folder))
    data = TrainingSet(clean_folder, 1, task=task)
    out = tmp_path / "db.lut"
    stage1 = FitConfig(**{**cfg.__dict__, "method": "sdy"})
    fit(stage1, data, out.with_name("db.lut.stage1.lut"))
    with caplog.at_level(logging.INFO, logger="lutsr.fit.solver"):
        res = fit_cascade(cfg, data, out)
    assert any("reusing" in r.message for r in caplog.records)
    assert len(res) == 2 and load_lut(out).task == task


@pytest.mark.parametrize("args,msg", [
    (["--task", "denoise"], "needs --sigma"),
    (["--task", "deblock", "--sigma", "3"], "--sigma is for --task denoise"),
    (["--task", "denoise", "--sigma", "0"], "sigma must be"),
    (["--task", "deblock", "--quality", "101"], "quality must be"),
    (["--sigma", "25"], "go with --task"),
    (["--task", "denoise", "--sigma", "25", "--scale", "2"], "--scale must be 1"),
    (["--scale", "1"], "keeps the size"),
])
def test_fit_task_options_are_checked(args, msg, clean_folder, tmp_path, runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["fit", "--method", "sdy", "--data", str(clean_folder), "-o", str(tmp_path / "x.lut")]
                      + args)
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output


def test_a_cascade_method_needs_a_task(clean_folder, tmp_path, runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["fit", "--method", "sdy2", "--data", str(clean_folder), "-o", str(tmp_path / "x.lut")])
    assert r.exit_code == 2 and "same-size cascade" in r.output


# --------------------------------------------------------------------------------------
# lutsr denoise / deblock, the API, eval --task
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def task_luts(tmp_path_factory):
    d = tmp_path_factory.mktemp("tluts")
    rng = np.random.default_rng(11)
    paths = {}
    for task in (Task.denoise(25), Task.deblock(10)):
        lut = _task_lut("sdy", task, rng)
        # near-identity tables: every cell holds the current pixel's share, plus noise
        from lutsr.fit.operator import LinearLut
        from lutsr.fit.solver import prior_table, quantize

        op = LinearLut("sdy", 1, 4)
        lut.tables, _ = quantize(op, prior_table(op) + rng.normal(0, 2, op.size))
        p = d / f"{task.name}.lut"
        save_lut(p, lut.header, lut.tables)
        paths[task.kind] = p
    return paths


@pytest.fixture
def noisy_png(tmp_path):
    img = Task.denoise(25).degrade(np.stack([_smooth(30, 34)] * 3, axis=2), seed=2)
    (tmp_path / "in").mkdir()
    p = tmp_path / "in" / "noisy.png"
    cv2.imwrite(str(p), img)
    return p


def test_denoise_cli_file_and_folder(task_luts, noisy_png, tmp_path, runner):
    from lutsr.cli import main

    out = tmp_path / "out.png"
    r = runner.invoke(main, ["denoise", str(noisy_png), str(out), "--lut", str(task_luts["denoise"])])
    assert r.exit_code == 0, r.output
    img = cv2.imread(str(noisy_png), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1],
                          lutsr.upscale(img[..., ::-1], load_lut(task_luts["denoise"])))
    folder_out = tmp_path / "folder_out"
    r = runner.invoke(main, ["denoise", str(noisy_png.parent), str(folder_out), "--lut", str(task_luts["denoise"]),
                             "--suffix", "_dn"])
    assert r.exit_code == 0 and "1 denoised" in r.output, r.output
    assert (folder_out / "noisy_dn.png").is_file()


@pytest.mark.parametrize("args,msg", [
    (["--sigma", "0"], "sigma must be"),
    (["--sigma", "x"], "expected an integer or 'auto'"),
    (["--sigma", "15"], "but sigma 15 was asked for"),
    (["--sigma", "auto"], "does not go with a LUT file"),
])
def test_denoise_cli_errors(args, msg, task_luts, noisy_png, tmp_path, runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["denoise", str(noisy_png), str(tmp_path / "o.png"), "--lut", str(task_luts["denoise"])]
                      + args)
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "o.png").exists()


def test_a_lut_of_another_task_is_refused(task_luts, noisy_png, tmp_path, runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["deblock", str(noisy_png), str(tmp_path / "o.png"), "--lut", str(task_luts["denoise"])])
    assert r.exit_code == 2 and "not a deblock LUT" in r.output
    r = runner.invoke(main, ["denoise", str(noisy_png), str(tmp_path / "o.png"), "--lut",
                             str(REPO / "luts" / "eclut_x2.lut")])
    assert r.exit_code == 2 and "upscaling LUT, not a denoise LUT" in r.output


def test_deblock_auto_needs_a_jpeg(noisy_png, tmp_path, runner):
    from lutsr.cli import main

    r = runner.invoke(main, ["deblock", str(noisy_png), str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "not a JPEG" in r.output and "--quality" in r.output, r.output
    assert not (tmp_path / "o.png").exists()


def test_api_checks_and_runs(task_luts):
    img = Task.denoise(25).degrade(_smooth(20, 22))
    lut = load_lut(task_luts["denoise"])
    assert np.array_equal(lutsr.denoise(img, sigma=None, lut=lut), lutsr.upscale(img, lut))
    assert np.array_equal(lutsr.denoise(img, sigma=25, lut=task_luts["denoise"]), lutsr.upscale(img, lut))
    with pytest.raises(LutsrError, match="quality"):
        lutsr.deblock(img)
    with pytest.raises(LutsrError, match="not a deblock LUT"):
        lutsr.deblock(img, lut=lut)


def test_eval_task_tables(task_luts, tmp_path, runner):
    from lutsr.cli import main

    d = tmp_path / "bench"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), _smooth(32, 40))
    cv2.imwrite(str(d / "b.png"), np.stack([_smooth(24, 32)] * 3, axis=2))
    r = runner.invoke(main, ["eval", "--task", "deblock", "--quality", "10", "--lut", str(task_luts["deblock"]),
                             "--data", str(d), "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert "PSNR-B" in r.output and "deblock_q10" in r.output and "input (mean of 2)" in r.output
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["provenance"]["options"]["task"] == {"kind": "deblock", "quality": 10}
    from lutsr.datasets import restore_eval_pair

    deg, clean = restore_eval_pair(d / "b.png", Task.deblock(10))
    assert clean.ndim == 2  # colour is scored on Y for deblocking
    row = [s for s in res["scores"] if s["image"] == "b" and s["method"] == "input"][0]
    assert row["psnr"] == pytest.approx(psnr(deg, clean)) and row["psnr_b"] == pytest.approx(psnr_b(deg, clean))
    r = runner.invoke(main, ["eval", "--task", "denoise", "--sigma", "25", "--lut", str(task_luts["denoise"]),
                             "--data", str(d), "--opencv"])
    assert r.exit_code == 0 and "opencv-nlm" in r.output and "PSNR-B" not in r.output, r.output
    r = runner.invoke(main, ["eval", "--task", "denoise", "--sigma", "25", "--lut", str(REPO / "luts" / "eclut_x2.lut"),
                          "--data", str(d)])
    assert r.exit_code == 2 and "not a denoise LUT" in r.output


# --------------------------------------------------------------------------------------
# The shipped tables
# --------------------------------------------------------------------------------------

SHIPPED = [Task("denoise", s) for s in (10, 15, 25, 35, 50)] + [Task("deblock", q) for q in (10, 20, 30, 40)]


@pytest.mark.parametrize("task", SHIPPED, ids=str)
def test_every_shipped_restore_lut_is_valid_and_exact(task):
    from lutsr.restore import shipped_task_path
    from lutsr.runtime.reference import upscale_reference

    path = shipped_task_path(task)
    lut = load_lut(path)
    assert lut.task == task and lut.scale == 1 and lut.header["method"] == "sdy2"
    assert len(lut.header["source"]["fit"]["stages"]) == 2
    assert path.stat().st_size < 1 << 20  # the repository stays lean
    yy, xx = np.mgrid[0:13, 0:21]
    img = np.stack([(xx * 13) % 256, (yy * 19 + xx * 3) % 256, ((xx // 5 + yy // 4) % 2) * 255], -1).astype(np.uint8)
    assert np.array_equal(lutsr.upscale(img, lut), upscale_reference(img, lut))


def test_opponent_colour_transform():
    from lutsr.restore import OPPONENT_NOISE, from_opponent, to_opponent

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    # the integer code equals the float formulas rounded half to even, on every RGB triple's residues
    every = np.stack(np.meshgrid(*[np.arange(0, 256, 5)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(np.uint8)
    for x in (rgb.reshape(-1, 3), every):
        f = x.astype(np.float64)
        want = np.stack([(f[:, 0] + f[:, 1] + f[:, 2]) / 3, (f[:, 0] - f[:, 2]) / 2 + 128,
                         (f[:, 0] - 2 * f[:, 1] + f[:, 2]) / 4 + 128], -1)
        assert np.array_equal(to_opponent(x), np.clip(np.round(want), 0, 255).astype(np.uint8))
        t = to_opponent(x).astype(np.float64)
        y, c1, c2 = t[:, 0], t[:, 1] - 128, t[:, 2] - 128
        inv = np.stack([y + c1 + 2 * c2 / 3, y - 4 * c2 / 3, y - c1 + 2 * c2 / 3], -1)
        assert np.array_equal(from_opponent(t.astype(np.uint8)), np.clip(np.round(inv), 0, 255).astype(np.uint8))
    back = from_opponent(to_opponent(rgb))
    assert np.abs(back.astype(int) - rgb).max() <= 1  # 8-bit rounding of the three channels only
    for v in ([0, 0, 0], [255, 255, 255], [255, 0, 255], [0, 255, 0], [255, 0, 0], [0, 0, 255]):
        px = np.array([[v]], np.uint8)
        assert np.abs(from_opponent(to_opponent(px)).astype(int) - px).max() <= 1
    flat = np.full((200, 200, 3), 128.0)
    noise = rng.normal(0, 20, flat.shape)
    t = to_opponent(np.clip(np.round(flat + noise), 0, 255).astype(np.uint8)).astype(float)
    for c in range(3):
        assert t[..., c].std() == pytest.approx(20 * OPPONENT_NOISE[c], rel=0.05)
    assert abs(np.corrcoef(t[..., 1].ravel(), t[..., 2].ravel())[0, 1]) < 0.03  # independent channels


def test_shipped_denoisers_remove_noise_and_keep_clean_images():
    clean = np.stack([_smooth(64, 72, 0), _smooth(64, 72, 1)[::-1], _smooth(64, 72, 2)[:, ::-1]], axis=2)
    for sigma in (15, 25, 50):
        noisy = Task.denoise(sigma).degrade(clean, seed=9)
        out = lutsr.denoise(noisy, sigma=sigma)
        assert psnr(out, clean) > psnr(noisy, clean) + 3, sigma
        rgba = np.concatenate([noisy, np.full(noisy.shape[:2] + (1,), 200, np.uint8)], axis=2)
        out4 = lutsr.denoise(rgba, sigma=sigma)
        assert np.array_equal(out4[..., :3], out) and (out4[..., 3] == 200).all()  # alpha kept
    # a clean smooth image comes back close to itself through the mildest table
    assert psnr(lutsr.denoise(clean, sigma=15), clean) > 35


def test_blind_denoise_and_deblock_name_the_table(tmp_path, runner):
    from lutsr.cli import main

    clean = np.stack([_smooth(96, 96)] * 3, axis=2)
    cv2.imwrite(str(tmp_path / "n.png"), Task.denoise(50).degrade(clean[..., 0], seed=1))  # gray
    r = runner.invoke(main, ["denoise", str(tmp_path / "n.png"), str(tmp_path / "o.png")])
    assert r.exit_code == 0 and "denoise_s50 LUT (estimated noise sigma" in r.output, r.output
    cv2.imwrite(str(tmp_path / "c.png"), Task.denoise(50).degrade(clean, seed=1))  # colour: opponent channels
    r = runner.invoke(main, ["denoise", str(tmp_path / "c.png"), str(tmp_path / "oc.png")])
    assert r.exit_code == 0 and "LUT on opponent colour channels" in r.output, r.output
    r = runner.invoke(main, ["denoise", str(tmp_path / "c.png"), str(tmp_path / "or.png"), "--colour", "rgb"])
    assert r.exit_code == 0 and "denoise_s50 LUT (estimated" in r.output, r.output
    cv2.imwrite(str(tmp_path / "j.jpg"), clean, [int(cv2.IMWRITE_JPEG_QUALITY), 22])
    r = runner.invoke(main, ["deblock", str(tmp_path / "j.jpg"), str(tmp_path / "d.png")])
    assert r.exit_code == 0 and "deblock_q20 LUT (JPEG quality 22)" in r.output, r.output
    got = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    dec = cv2.imread(str(tmp_path / "j.jpg"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(got[..., ::-1], lutsr.deblock(dec[..., ::-1], quality=20))
    # stdin: the quality is read from the piped bytes
    r = runner.invoke(main, ["deblock", "-", str(tmp_path / "s.png")], input=(tmp_path / "j.jpg").read_bytes())
    assert r.exit_code == 0 and "deblock_q20" in r.output, r.output
    r = runner.invoke(main, ["denoise", str(tmp_path / "n.png"), str(tmp_path / "o2.png"), "--sigma", "20"])
    assert r.exit_code == 0 and "denoise_s25 LUT (sigma 20)" in r.output, r.output  # nearest shipped, ties stronger


@pytest.mark.slow
def test_shipped_tables_on_the_benchmarks():
    """The figures docs/restore.md gives, on a subset (within 0.1 dB of the whole set's mean there)."""
    from conftest import SHARED

    from lutsr.evaluate import evaluate_restore, summarize
    from lutsr.restore import shipped_task_lut

    bsd, classic = SHARED / "bench" / "denoise" / "BSD68", SHARED / "bench" / "deblock" / "classic5"
    if not (bsd.is_dir() and classic.is_dir()):
        pytest.skip("../shared/data/bench is absent")
    m = summarize(evaluate_restore([shipped_task_lut("denoise", 25)], [bsd], Task.denoise(25), labels=["l"]).scores)
    lut_row = [x for x in m if x["method"] == "l"][0]
    assert lut_row["psnr"] > 27.8, lut_row
    m = summarize(evaluate_restore([shipped_task_lut("deblock", 10)], [classic], Task.deblock(10), labels=["l"]).scores)
    lut_row = [x for x in m if x["method"] == "l"][0]
    assert lut_row["psnr_b"] > 27.9 and lut_row["psnr"] > 28.6, lut_row


def test_blind_folder_mode_counts_the_tables(tmp_path, runner):
    from lutsr.cli import main

    clean = _smooth(80, 80)
    (tmp_path / "in").mkdir()
    for i, sigma in enumerate((15, 50, 50)):
        cv2.imwrite(str(tmp_path / "in" / f"{i}.png"), Task.denoise(sigma).degrade(clean, seed=i))
    r = runner.invoke(main, ["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    assert "3 denoised (denoise_s15: 1, denoise_s50: 2)" in r.output, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert sorted(v.split(" LUT")[0] for v in summary["tables"].values()) == ["denoise_s15", "denoise_s50",
                                                                            "denoise_s50"]


@pytest.mark.parametrize("sigma", [10, 15, 25, 35, 50])
def test_shipped_fast_denoisers(sigma, tmp_path, runner):
    from lutsr.cli import main
    from lutsr.restore import shipped_task_path

    lut = load_lut(shipped_task_path(Task.denoise(sigma), fast=True))
    assert lut.task == Task.denoise(sigma) and lut.header["method"] == "srlut-v" and lut.interval == 0
    clean = np.stack([_smooth(64, 64)] * 3, axis=2)
    noisy = Task.denoise(sigma).degrade(clean, seed=4)
    out = lutsr.denoise(noisy, sigma=sigma, fast=True, colour="rgb")
    assert np.array_equal(out, lutsr.upscale(noisy, lut)) and psnr(out, clean) > psnr(noisy, clean) + 2
    assert psnr(lutsr.denoise(noisy, sigma=sigma, fast=True), clean) > psnr(noisy, clean) + 2
    cv2.imwrite(str(tmp_path / "n.png"), noisy)
    r = runner.invoke(main, ["denoise", str(tmp_path / "n.png"), str(tmp_path / "o.png"), "--fast"])
    assert r.exit_code == 0 and "denoise-fast_s" in r.output, r.output
    r = runner.invoke(main, ["denoise", str(tmp_path / "n.png"), str(tmp_path / "o2.png"), "--fast", "--lut",
                             str(shipped_task_path(Task.denoise(sigma)))])
    assert r.exit_code == 2 and "does not go with a LUT file" in r.output


def test_opponent_channels_only_where_the_tables_fit():
    from lutsr.restore import AutoLut, OpponentPlan

    colour = np.zeros((32, 32, 3), np.uint8)
    for sigma, want in ((25, True), (15, True), (10, False), (50, True)):
        runner, note = AutoLut("denoise", level=sigma).pick(colour)
        assert isinstance(runner, OpponentPlan) == want, (sigma, note)
    runner, _ = AutoLut("denoise", level=25).pick(colour[..., 0])  # gray: the sigma table itself
    assert runner.task == Task.denoise(25)
    runner, _ = AutoLut("denoise", level=25).pick(colour.astype(np.uint16) * 257)  # 16-bit: per channel
    assert runner.task == Task.denoise(25)
