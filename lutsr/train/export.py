"""Compile a trained network into a LUT file (imports torch).

Every unit of a LUT network is a function of its kernel's pixels only (ECLUT: current
and below); the exporter evaluates it on every combination of sampling levels in chunks
(bounded memory, any device) with the same per-cell quantization the network's
training-mode forward pass uses (``LUTNet.cells``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from lutsr.errors import CheckpointError, LutsrError
from lutsr.lut.file import Lut, load_lut, make_header, save_lut
from lutsr.spec import level_values
from lutsr.train.loop import load_checkpoint, pick_device
from lutsr.train.networks import build_model

__all__ = ["export_tables", "eclut_table", "export_checkpoint"]

log = logging.getLogger(__name__)

#: Refuse to enumerate tables with more rows than this (e.g. a 4-input table at interval 0).
MAX_ROWS = 1 << 26


def export_tables(model, interval: int, chunk: int = 16384, device=None) -> list[np.ndarray]:
    """Enumerate every input combination of every unit of a ``LUTNet`` -> one table per unit.

    Row ``l0*L**(n-1) + ... + l_{n-1}`` holds the quantized cells for kernel pixels at levels
    ``(l0, ..., l_{n-1})`` (current pixel first, then the kernel's offsets in order), stored
    as ``cell + value_offset`` in the method's dtype. Bounded memory: ``chunk`` rows at a time.
    """
    device = device or next(model.parameters()).device
    method = model.method
    vals = level_values(interval).astype(np.float32) / 255.0
    levels = len(vals)
    dtype = np.dtype(method.table_dtype)
    tables = []
    model.eval()
    for ui, unit in enumerate(model.stage.units):
        n = unit.kernel.n_inputs
        rows = levels**n
        if rows > MAX_ROWS:
            raise CheckpointError(f"{method.name} at interval {interval} needs {rows} rows per table "
                                  f"(more than {MAX_ROWS}); use a coarser --interval")
        cells = method.cells(model.stage, unit, model.scale)
        out = np.empty((rows, cells), dtype=dtype)
        with torch.no_grad():
            for start in range(0, rows, chunk):
                idx = np.arange(start, min(start + chunk, rows))
                digits = np.stack([(idx // levels ** (n - 1 - i)) % levels for i in range(n)], axis=1)
                inputs = torch.from_numpy(vals[digits]).to(device).view(-1, n, 1, 1)
                c = model.cells(inputs, ui, quantize=True)[:, :, 0, 0] + method.value_offset
                out[start : start + len(idx)] = c.round().cpu().numpy().astype(np.int64).astype(dtype)
        tables.append(out)
    return tables


def eclut_table(model, interval: int = 0, chunk: int = 16384, device=None) -> np.ndarray:
    """The single table of an ECLUT network: uint8 ``(L*L, 9*s*s)``; row ``a*L + b`` (current, below)."""
    return export_tables(model, interval, chunk, device)[0]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_checkpoint(source: str | Path, out: str | Path, interval: int | None = None, device: str = "auto",
                      compress: bool = True) -> Lut:
    """Export a run directory or checkpoint file to a LUT file; return the loaded ``Lut``.

    ``interval`` defaults to the method's usual one (ECLUT 0, SR-LUT S 4).
    """
    dev = pick_device(device)
    config, ckpt = load_checkpoint(source, map_location=dev)
    try:
        model = build_model(config).to(dev)
    except LutsrError:
        raise  # e.g. a body a LUT cannot hold: its own one-line reason
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{source}: bad model config ({e})") from None
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{source}: weights do not match the {config.get('arch')} architecture "
                              f"({str(e).splitlines()[0]})") from None
    src = Path(source)
    ckpt_file = src / "checkpoints" / "last.pt" if src.is_dir() else src
    task = None
    if config.get("task") is not None:
        from lutsr.tasks import Task

        task = Task.from_json(config["task"])
    if hasattr(model, "network"):  # a table-space architecture: its description, tables rounded
        if interval is not None:
            raise LutsrError(f"{config.get('arch')} has no single interval: each table has its own step "
                             "(leave out --interval)")
        from lutsr.lut.file import network_lut

        lut = network_lut(model.arch.name, model.network(), task=task, source={
            "checkpoint": ckpt_file.name, "checkpoint_sha256": _sha256(ckpt_file),
            "iteration": int(ckpt.get("iteration", 0)), "arch": model.arch.name, "arch_params": model.params})
        save_lut(out, lut.header, lut.tables, compress=compress)
        return load_lut(out)
    if interval is None:
        interval = model.method.default_interval
    tables = export_tables(model, interval)
    header = make_header(model.method.name, model.scale, interval, task=task, source={
        "checkpoint": ckpt_file.name,
        "checkpoint_sha256": _sha256(ckpt_file),
        "iteration": int(ckpt.get("iteration", 0)),
        "arch": config.get("arch"),
        "features": int(config.get("features", 64)),
        "body": str(config.get("body", "mlp")),
    })
    save_lut(out, header, tables, compress=compress)
    return load_lut(out)
