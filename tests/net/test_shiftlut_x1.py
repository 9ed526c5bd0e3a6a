"""ShiftLUT's x1 models (denoising sigma=15, deblocking JPEG QF=10) imported as networks: bit-exact
against the authors' ``denoising/`` and ``deblocking/`` code (run with torch through
``authors_ref.shiftlut``), and the Numba runtime equal to the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED

torch = pytest.importorskip("torch")

import authors_ref  # noqa: E402  (tests/net is on sys.path)
from lutsr.errors import LutFormatError  # noqa: E402
from lutsr.lut.file import network_lut  # noqa: E402
from lutsr.lut.frontier import import_shiftlut  # noqa: E402
from lutsr.net.reference import run_network  # noqa: E402
from lutsr.runtime.netrun import compile_network, run_net  # noqa: E402

ROOT = SHARED / "luts" / "ShiftLUT"
MODELS = {"denoising": "ShiftLUT_ultra_sigma=15_int", "deblocking": "ShiftLUT_ultra_qf=10_dncnn_v3_int4"}

pytestmark = pytest.mark.skipif(not all((ROOT / f).is_dir() for f in MODELS.values()),
                                reason="../shared/data/luts/ShiftLUT is absent (published tables are not in the repo)")

_NETS: dict = {}


def _net(task: str):
    if task not in _NETS:
        _NETS[task] = import_shiftlut(ROOT / MODELS[task])
    return _NETS[task]


def _lutsr(net, img: np.ndarray) -> np.ndarray:
    """The NumPy reference on every channel of uint8 (C, H, W)."""
    return np.stack([run_network(net, c) for c in img])


def _images(rng: np.random.Generator) -> list[np.ndarray]:
    """Small (C, H, W) uint8 inputs: random, then flat, 1-pixel-wide and 0/255-only ones."""
    return [
        rng.integers(0, 256, (3, 13, 11), dtype=np.uint8),
        np.zeros((1, 4, 5), np.uint8),
        np.full((1, 4, 5), 255, np.uint8),
        np.full((1, 1, 1), 17, np.uint8),
        rng.integers(0, 256, (1, 1, 7), dtype=np.uint8),
        rng.integers(0, 256, (1, 6, 1), dtype=np.uint8),
        rng.integers(0, 256, (1, 2, 2), dtype=np.uint8),
        rng.integers(0, 2, (1, 9, 7), dtype=np.uint8) * 255,
    ]


@pytest.mark.parametrize("task", sorted(MODELS))
def test_x1_network_shape(task):
    net = _net(task)
    assert net.scale == 1
    with pytest.raises(LutFormatError, match="x1, not x4"):
        import_shiftlut(ROOT / MODELS[task], scale=4)


@pytest.mark.parametrize("task", sorted(MODELS))
def test_bit_exact_vs_authors(task, rng):
    net = _net(task)
    for img in _images(rng):
        want = authors_ref.shiftlut(MODELS[task], task, img)
        got = _lutsr(net, img)
        assert got.shape == img.shape
        np.testing.assert_array_equal(got, want, err_msg=f"{task} {img.shape}")


def test_denoising_noisy_input_outside_0_255(rng):
    """The denoiser's input ``q = round(noisy * 255)`` may leave 0..255: the tables read ``clamp(q)``,
    the residual adds ``q``. lutsr on ``clamp(q)`` equals the authors' output wherever q is in range."""
    q = rng.integers(-40, 296, (1, 16, 12)).astype(np.int64)
    q[0, :3, :3] = -40
    q[0, -3:, -3:] = 295
    want = authors_ref.shiftlut(MODELS["denoising"], "denoising", q)
    got = _lutsr(_net("denoising"), np.clip(q, 0, 255).astype(np.uint8))
    inside = (q >= 0) & (q <= 255)
    assert inside.sum() > 100 and (~inside).sum() > 10
    np.testing.assert_array_equal(got[inside], want[inside])
    # where q < 0 the authors' residual is smaller, where q > 255 larger
    assert np.all(want[q < 0] <= got[q < 0]) and np.all(want[q > 255] >= got[q > 255])


def test_deblocking_input_is_the_jpeg_image():
    """``DBBenchmark`` stores ``float32(jpeg) / 255``; ``eval_LUT.py`` feeds ``torch.round(val_L * 255)``:
    the uint8 JPEG back, for every value, so the deblocker's lutsr input is the decoded JPEG itself."""
    v = np.arange(256, dtype=np.uint8)
    val_l = v.astype(np.float32)[:, None] / 255.0
    q = torch.round(torch.from_numpy(val_l) * 255).numpy()[:, 0]
    np.testing.assert_array_equal(q, v.astype(np.float32))


@pytest.mark.parametrize("task", sorted(MODELS))
def test_runtime_equals_reference(task, rng):
    import lutsr

    net = _net(task)
    lut = network_lut("shiftlut", net)
    comp = compile_network(lut)
    # a tall gray image: with 3 bands of 40 rows the middle one's window (halo ~30 rows) is cut on both sides
    tall = rng.integers(0, 256, (120, 5, 1), dtype=np.uint8)
    assert comp.halo < 40
    rgb = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
    for img in (tall, rgb):
        want = np.stack([run_network(net, img[:, :, c]) for c in range(img.shape[2])], axis=2)
        for bands in (1, 2, 3):
            for threads in (1, 2):
                got = run_net(comp, img, bands=bands, threads=threads)
                np.testing.assert_array_equal(got, want, err_msg=f"{task} {img.shape} bands={bands} threads={threads}")
    np.testing.assert_array_equal(lutsr.upscale(tall[:, :, 0], lut, threads=2),
                                  run_network(net, tall[:, :, 0]))


def test_imported_x1_sets_carry_their_task(tmp_path, runner):
    """`lutsr import` reads the task from ShiftLUT's folder names (or --task), and `lutsr denoise`
    / `lutsr deblock` then run the imported file as they run the shipped ones."""
    import cv2

    from lutsr.cli import main
    from lutsr.lut.file import load_lut
    from lutsr.runtime import upscale
    from lutsr.tasks import Task

    want = {"denoising": Task.denoise(15), "deblocking": Task.deblock(10)}
    for task, folder in MODELS.items():
        out = tmp_path / f"{task}.lut"
        r = runner.invoke(main, ["import", "--method", "shiftlut", str(ROOT / folder), "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert load_lut(out).task == want[task]
    r = runner.invoke(main, ["import", "--method", "shiftlut", str(ROOT / MODELS["denoising"]), "--task", "deblock",
                             "--quality", "20", "-o", str(tmp_path / "q20.lut")])
    assert r.exit_code == 0 and load_lut(tmp_path / "q20.lut").task == Task.deblock(20), r.output
    r = runner.invoke(main, ["import", "--method", "shiftlut", str(ROOT / "ShiftLUT_sr_s0_int"), "--task", "denoise",
                             "--sigma", "15", "-o", str(tmp_path / "bad.lut")])
    assert r.exit_code == 2 and "keeps the size" in r.output
    img = np.random.default_rng(0).integers(0, 256, (9, 10), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), img)
    r = runner.invoke(main, ["denoise", str(tmp_path / "in.png"), str(tmp_path / "o.png"), "--lut",
                             str(tmp_path / "denoising.lut")])
    assert r.exit_code == 0, r.output
    got = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(got, upscale(img, load_lut(tmp_path / "denoising.lut")))
