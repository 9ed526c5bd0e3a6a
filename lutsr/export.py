"""Compile a trained network into a LUT file (imports torch).

For ECLUT the network is a function of two pixels (current, below); the exporter
evaluates it on every pair of levels in chunks (bounded memory, any device) and
quantizes with the specification's rule (``spec.EclutSpec.quantize``), which the
network's training-mode forward pass also uses.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from lutsr.errors import CheckpointError
from lutsr.lutfile import Lut, make_eclut_header, save_lut
from lutsr.models import build_model
from lutsr.spec import ECLUT, levels_for_interval
from lutsr.train import load_checkpoint, pick_device

__all__ = ["eclut_table", "export_checkpoint", "level_values"]

log = logging.getLogger(__name__)


def level_values(interval: int) -> np.ndarray:
    """Input value of each sampling level: ``0, q, 2q, ...``, the last (256) clamped to 255."""
    q, levels = levels_for_interval(interval)
    return np.minimum(np.arange(levels) * q, 255)


def eclut_table(model, interval: int = 0, chunk: int = 16384, device=None) -> np.ndarray:
    """Enumerate all ``L x L`` input pairs of an ECLUT network -> uint8 ``(L*L, 9*s*s)`` table.

    Row ``a*L + b`` holds the quantized cells for (current = level a, below = level b).
    """
    if interval != 0:
        raise CheckpointError(f"ECLUT export at interval {interval} is not supported yet (use --interval 0)")
    device = device or next(model.parameters()).device
    vals = level_values(interval).astype(np.float32) / 255.0
    levels = len(vals)
    a, b = np.meshgrid(vals, vals, indexing="ij")  # row index a*L + b
    pairs = np.stack([a.ravel(), b.ravel()], axis=1)  # (L*L, 2): current, below
    out = np.empty((levels * levels, ECLUT.n_cells(model.scale)), dtype=np.uint8)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(pairs), chunk):
            p = torch.from_numpy(pairs[start : start + chunk]).to(device)
            patches = p.view(-1, 1, 2, 1)  # kernel "2x1": (current, below) down the column
            cells = model.cells(patches, quantize=True)[:, :, 0, 0]
            out[start : start + chunk] = (cells + ECLUT.offset).round().to(torch.uint8).cpu().numpy()
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_checkpoint(source: str | Path, out: str | Path, interval: int = 0, device: str = "auto",
                      compress: bool = True) -> Lut:
    """Export a run directory or checkpoint file to a LUT file; return the in-memory ``Lut``."""
    dev = pick_device(device)
    config, ckpt = load_checkpoint(source, map_location=dev)
    model = build_model({k: config[k] for k in ("arch", "scale", "features") if k in config}).to(dev)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{source}: weights do not match the {config.get('arch')} architecture ({str(e).splitlines()[0]})") from None
    src = Path(source)
    ckpt_file = src / "checkpoints" / "last.pt" if src.is_dir() else src
    table = eclut_table(model, interval)
    header = make_eclut_header(model.scale, interval, source={
        "checkpoint": ckpt_file.name,
        "checkpoint_sha256": _sha256(ckpt_file),
        "iteration": int(ckpt.get("iteration", 0)),
        "arch": config.get("arch"),
        "features": int(config.get("features", 64)),
    })
    save_lut(out, header, table, compress=compress)
    from lutsr.lutfile import load_lut

    return load_lut(out)
