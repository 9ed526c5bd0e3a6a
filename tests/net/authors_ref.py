"""Run the LUT authors' own inference code (in ``../shared/data/luts/*/reference``, read there, never
copied) on small images, for the bit-exactness tests. Needs torch; the callers skip without it.

ShiftLUT and HKLUT: their model modules are imported as they are (ShiftLUT's imports PIL for
nothing it uses, so an empty stand-in module is provided when PIL is absent; HKLUT's utils imports
scipy.signal for SSIM only, likewise). TinyLUT's test script runs its whole evaluation at import,
so its ``Round`` and ``SRNet`` classes are taken from the file's syntax tree and executed with
``torch.load`` answering from ``clip_scales.npz`` (the published ``.pth`` holds nothing else
that the network reads).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

LUTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "luts"


def _stub(name: str, **attrs) -> None:
    if name not in sys.modules:
        try:
            __import__(name)
            return
        except ImportError:
            mod = types.ModuleType(name)
            mod.__dict__.update(attrs)
            sys.modules[name] = mod


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@functools.lru_cache(maxsize=8)
def _shiftlut_model(folder: str, task: str):
    """The authors' module and ``LUT`` model for a tables folder (loaded once: loading takes seconds)."""
    _stub("PIL", Image=None)
    mod = _load(f"shiftlut_ref_{task}", LUTS / "ShiftLUT" / "reference" / task / "model_LUT.py")
    path = LUTS / "ShiftLUT" / folder
    stacks = 0
    while (path / f"DW{stacks + 1}_MSB.json").is_file():
        stacks += 1
    return mod, mod.LUT(str(path), stacks, 4 if task == "sr" else 1)


def shiftlut(folder: str, task: str, img: np.ndarray) -> np.ndarray:
    """ShiftLUT's ``inference`` (``reference/{sr,denoising,deblocking}/model_LUT.py``) on (C, H, W).

    ``sr``: ``img`` uint8, returns ``inference(x - 128).clamp(0, 255)`` (float32, as ``sr/eval_LUT.py``).
    ``denoising`` / ``deblocking``: as their ``eval_LUT.py``, ``q = img`` (uint8, or whole numbers
    of any range: the script's ``torch.round(val_L * 255)``), returns ``round(clamp(inference(q -
    128) + q, 0, 255))`` as uint8.
    """
    import torch

    mod, model = _shiftlut_model(folder, task)
    q = torch.from_numpy(np.asarray(img).astype(np.float32))[None]
    with torch.no_grad():
        if task == "sr":
            return mod.inference(model, q - 128.0).clamp(0, 255)[0].numpy()
        out = torch.clamp(mod.inference(model, q - 128.0) + q, 0, 255)
    return out[0].numpy().round().astype(np.uint8)


def tinylut(img: np.ndarray) -> np.ndarray:
    """TinyLUT's ``SRNet`` and rotation ensemble (``reference/test_TinyLUT.py``) on uint8 (C, H, W)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.autograd import Function

    root = LUTS / "TinyLUT"
    tree = ast.parse((root / "reference" / "test_TinyLUT.py").read_text())
    keep = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in ("Round", "SRNet")]
    scales = np.load(root / "clip_scales.npz")
    ns = {"torch": torch, "nn": nn, "F": F, "np": np, "Function": Function, "path": str(root),
          "MODEL_PATH_X1_L": "unused.pth"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "test_TinyLUT.py", "exec"), ns)
    real_load = torch.load
    torch.load = lambda *a, **k: {f"module.{key}": torch.from_numpy(scales[key]) for key in scales.files}
    try:
        model = ns["SRNet"](UPSCALE=4)
    finally:
        torch.load = real_load
    val_l = torch.from_numpy(img.astype(np.float32) - 128.0)[None]
    outs = []
    with torch.no_grad():
        for r in range(4):
            y = model(F.pad(torch.rot90(val_l, r, [2, 3]), (2, 0, 2, 0), mode="reflect"))
            outs.append(torch.clamp(torch.rot90(y, (4 - r) % 4, [2, 3]), -128, 127))
        s = (outs[0] + outs[1]) + (outs[2] + outs[3])  # the script's grouping
        s = torch.clamp(s, -128, 127)
    return (s + 128.0)[0].numpy().astype(np.uint8)


def hklut(img: np.ndarray) -> np.ndarray:
    """HKLUT's two x2 stages (``reference/models/hklut.py``, as ``test.py`` runs them) on uint8 (C, H, W)."""
    import torch

    _stub("scipy")
    _stub("scipy.signal")
    ref = str(LUTS / "HKLUT" / "reference")
    sys.path.insert(0, ref)
    try:
        for name in ("utils", "models", "models.hklut", "models.luts"):
            sys.modules.pop(name, None)
        from models.hklut import HKLUT
    finally:
        sys.path.remove(ref)
        sys.modules.pop("utils", None)
    folder = LUTS / "HKLUT" / "msb-hdb_lsb-hd_relu_nf64_2x2"
    models = []
    for st in range(2):
        msb = [torch.tensor(np.load(folder / f"S{st}_MSB_HDB_LUT_{k}_x2_4bit_int8.npy").astype(np.int_)) for k in "HDB"]
        lsb = [torch.tensor(np.load(folder / f"S{st}_LSB_HD_LUT_{k}_x2_4bit_int8.npy").astype(np.int_)) for k in "HD"]
        models.append(HKLUT(msb, lsb, msb="hdb", lsb="hd", upscale=2))
    x = torch.Tensor(img.astype(np.float32)[None] / 255.0)
    with torch.no_grad():
        for m in models:
            x = m(x)
    out = np.round(x.numpy() * 255)
    return np.clip(out[0], 0, 255).astype(np.uint8)
