"""Run LeRF's own evaluation code (``../shared/data/luts/LeRF/reference``, read there, never copied)
on small images, for the bit-exactness tests of ``lutsr.lut.lerf``. Pure NumPy: no torch needed.

``resample/eval_lut_sr.py`` is imported as it is, with stand-ins for what it imports but the
tested path does not use: ``PIL.Image`` (its ``open``/``fromarray().save`` answer from and to an
in-memory dict, so ``eltr._worker`` runs unchanged on arrays), ``common.utils`` (PSNR/SSIM; they
need torch and scipy) and ``common.option`` (argument parsing). Its options are the published
``lerf-g`` command line's (``common/option.py`` defaults: modes ``sct``, interval 4, 2 stages,
support 2, max sigma 10).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

LERF = Path(__file__).resolve().parents[3] / "shared" / "data" / "luts" / "LeRF"
REF = LERF / "reference"


class _Store:
    """In-memory stand-in for ``PIL.Image``: ``open(path)`` returns the array put there."""

    files: dict = {}

    @classmethod
    def open(cls, path):
        return cls.files[os.path.normpath(path)]

    @classmethod
    def fromarray(cls, a):
        arr = np.array(a)
        return types.SimpleNamespace(save=lambda path: cls.files.__setitem__(os.path.normpath(path), arr))


def load_modules(exp=None):
    """Import ``eval_lut_sr`` (and the ``resize_right2d_numpy`` it uses); ``exp`` replaces the
    resizer's ``np.exp`` when given (everything else in it stays NumPy)."""
    for name in ("PIL", "PIL.Image", "common", "common.utils", "common.option"):
        sys.modules.pop(name, None)
    pil = types.ModuleType("PIL")
    pil.Image = _Store
    sys.modules["PIL"] = pil
    sys.modules["PIL.Image"] = _Store
    common = types.ModuleType("common")
    utils = types.ModuleType("common.utils")
    utils.PSNR = lambda *a, **k: 0.0
    utils.cal_ssim = lambda *a, **k: 0.0
    utils._rgb2ycbcr = lambda img, maxVal=255: np.asarray(img, np.float64)
    option = types.ModuleType("common.option")
    option.TestOptions = None
    common.utils, common.option = utils, option
    sys.modules.update({"common": common, "common.utils": utils, "common.option": option})
    sys.path.insert(0, str(REF))
    try:
        for name in ("resize_right", "resize_right.interp_methods", "resize_right.resize_right2d_numpy"):
            sys.modules.pop(name, None)
        spec = importlib.util.spec_from_file_location("lerf_eval_lut_sr", REF / "resample" / "eval_lut_sr.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        rr = sys.modules["resize_right.resize_right2d_numpy"]
    finally:
        sys.path.remove(str(REF))
        for name in ("PIL", "PIL.Image", "common", "common.utils", "common.option"):
            sys.modules.pop(name, None)
    if exp is not None:
        class _NP:
            def __getattr__(self, k):
                return getattr(np, k)

        proxy = _NP()
        proxy.exp = exp
        rr.np = proxy
    return mod, rr


def options(exp_dir: Path, test_dir: Path, result_root: Path, linear: bool = False):
    """The published ``lerf-g`` (``lerf-l``: ``--linear``) evaluation options (``common/option.py`` defaults)."""
    return types.SimpleNamespace(modes="sct", modes2="sct", stages=2, interval=4, suppSize=2, maxSigma=10,
                                 linear=linear, norm=255, testDir=str(test_dir), resultRoot=str(result_root),
                                 expDir=str(exp_dir), lutName="LUTft")


def load_luts(opt) -> dict:
    """``lutDict`` as the script's ``__main__`` builds it (float32, ``reshape(-1, oC)``)."""
    d = {}
    for s in range(opt.stages):
        stage = s + 1
        modes, rots, oc = opt.modes, ["0"], 1
        if stage == opt.stages:
            modes, rots, oc = opt.modes2, ["0", "1"], 1 if opt.linear else 3
        for mode in modes:
            for r in rots:
                p = Path(opt.expDir) / f"{opt.lutName}_s{stage}_{mode}r{r}.npy"
                d[f"s{stage}_{mode}r{r}"] = np.array(np.load(p)).astype(np.float32).reshape(-1, oc)
    return d


def run_lerf_g(img: np.ndarray, scale, tmp: Path, exp=None, linear: bool = False) -> dict:
    """The authors' ``eltr._worker`` on one uint8 ``(H, W, 3)`` image at ``scale`` (number or (sh, sw));
    LeRF-L (``models/lerf-l``, ``--linear``) with ``linear``.

    Returns ``{"out": uint8 (OH, OW, 3), "feat": uint8 (H, W, 3) (stage 1, the resampler's input),
    "hyper": float32 (9, H, W) (stage 2 / 255: rho, sigma_x, sigma_y of each channel at 3c, 3c+1, 3c+2;
    LeRF-L: (3, H, W), alpha)}``.
    """
    variant = "lerf-l" if linear else "lerf-g"
    mod, _ = load_modules(exp)
    sh, sw = scale if isinstance(scale, (tuple, list)) else (scale, scale)
    test_dir, results = tmp / "rr", tmp / "results"
    hr = test_dir / "Set5" / "HR"
    hr.mkdir(parents=True, exist_ok=True)
    (hr / "img.png").write_bytes(b"")  # listed by eltr.run's os.listdir; its pixels come from _Store
    opt = options(LERF / variant, test_dir, results, linear)
    mod.opt, mod.dataset = opt, "Set5"  # eltr.run and _worker read the globals of its __main__ block
    _Store.files.clear()
    lr_path = test_dir / "Set5" / "LR_bicubic" / f"rrLR_X{sh:.2f}_{sw:.2f}" / "img.png"
    _Store.files[os.path.normpath(lr_path)] = img
    _Store.files[os.path.normpath(hr / "img.png")] = np.zeros((1, 1, 3), np.uint8)
    etr = mod.eltr(opt, load_luts(opt))
    etr.run("Set5", sh, sw)
    res = Path(opt.resultRoot) / variant / f"X{sh:.2f}_{sw:.2f}" / "Set5"
    out = _Store.files[os.path.normpath(res / "img_LUTft.png")]
    feat = _Store.files[os.path.normpath(res / "img_lr.png")]
    hyper = np.load(res / "img_LUTft_hyper.npy")
    return {"out": out, "feat": feat, "hyper": hyper}
