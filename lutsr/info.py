"""Model accounting: what a LUT file or a training checkpoint costs (``lutsr info``).

LUT files need no torch; checkpoints import torch to count parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lutsr.lutfile import Lut
from lutsr.spec import MethodSpec, get_method, levels_for_interval, rotation_neighbor_offsets

__all__ = ["receptive_field", "lut_info", "checkpoint_info", "table_bytes"]


def _stage_footprint(method: MethodSpec, stage) -> set[tuple[int, int]]:
    pts: set[tuple[int, int]] = set()
    for unit in stage.units:
        for k in range(method.rotations):
            pts |= set(rotation_neighbor_offsets(unit.kernel.offsets, k))
        if unit.expand:  # an HR pixel at a block edge also receives the neighbouring LR pixel's patch
            pts = {(y + dy, x + dx) for y, x in pts for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    return pts


def receptive_field(method: MethodSpec) -> tuple[int, int, int]:
    """LR receptive field of one output pixel with rotations (and ExpandConv, stages): ``(height, width, pixels)``."""
    total = {(0, 0)}
    for stage in method.stages:
        fp = _stage_footprint(method, stage)
        total = {(y + a, x + b) for y, x in total for a, b in fp}
    ys = [p[0] for p in total]
    xs = [p[1] for p in total]
    return max(ys) - min(ys) + 1, max(xs) - min(xs) + 1, len(total)


def table_bytes(method: MethodSpec, scale: int, interval: int) -> int:
    """Bytes of all tables at ``interval`` (1 byte per cell)."""
    return int(sum(r * c for r, c in method.table_shapes(scale, interval)))


def _per_pixel_cost(method: MethodSpec, scale: int, interval: int) -> tuple[float, float]:
    """(table reads, multiply-adds) per output pixel."""
    q, _ = levels_for_interval(interval)
    reads = 0.0
    for stage in method.stages:
        for unit in stage.units:
            v = 1 if q == 1 else unit.kernel.n_inputs + 1
            per = method.rotations * v * (9 if unit.expand else 1)
            reads += per if stage.upscale else per / (scale * scale)
    return reads, reads


def _patch_bytes(lut) -> int:
    """Extra memory of the runtime's compiled form (``runtime.compile_lut`` and the packed tables).

    Each 2-input ExpandConv unit holds an ``ExpandPlan``: folded patches at all 257^2 value
    pairs for rotations 0 and 1 plus 16 padding values, and 4 side tables of s+2 values per
    pair. Plain units that run on the vector block kernel (``runtime.stage_route``) are also
    held flattened with 16 padding values (``runtime._packed_flat``).
    """
    from lutsr.runtime import _fast_expand, patch_dtype, stage_route

    m = lut.method
    total = 0
    tables = iter(lut.header["tables"])
    for stage in m.stages:
        s = lut.scale if stage.upscale else 1
        entries = [next(tables) for _ in stage.units]
        shapes = [(tuple(t["shape"]), np.dtype(t["dtype"]).name) for t in entries]
        for unit in stage.units:
            if _fast_expand(unit, s, m.rotations):
                p = s + 2
                total += (2 * 257 * 257 * p * p + 16 + 4 * 257 * 257 * p) * patch_dtype(lut.interval).itemsize
        route, rest_vec = stage_route(stage, shapes, s, m.rotations)
        flat = shapes if route == "vec" else shapes[1:] if rest_vec else []
        total += sum((sh[0] * sh[1] + 16) * np.dtype(dt).itemsize for sh, dt in flat)
    return total


def lut_info(lut: Lut) -> dict:
    """Facts about a loaded LUT (method, shapes, receptive field, sizes, per-pixel cost)."""
    m = lut.method
    rf = receptive_field(m)
    reads, madds = _per_pixel_cost(m, lut.scale, lut.interval)
    mem = int(sum(t.nbytes for t in lut.tables))
    stages = []
    for si, stage in enumerate(m.stages):
        stages.append({
            "stage": si + 1, "upscale": stage.upscale, "pad_mode": stage.pad_mode,
            "rescale": f"round(acc / (q*{stage.divisor}) + {stage.bias}), {stage.rounding}",
            "units": [{"name": u.name, "kernel": u.kernel.name, "offsets": [list(o) for o in u.kernel.offsets],
                       "expand": u.expand} for u in stage.units],
        })
    return {
        "file": str(lut.path) if lut.path else None,
        "method": m.name,
        "description": m.description,
        "scale": lut.scale,
        "interval": lut.interval,
        "levels": lut.header["levels"],
        "value_encoding": m.value_encoding,
        "tables": [{"name": t["name"], "rows": t["shape"][0], "cells": t["shape"][1], "dtype": t["dtype"]}
                   for t in lut.header["tables"]],
        "stages": stages,
        "receptive_field": {"height": rf[0], "width": rf[1], "pixels": rf[2]},
        "bytes_on_disk": lut.path.stat().st_size if lut.path else None,
        "bytes_in_memory": mem,
        "bytes_compiled": mem + _patch_bytes(lut),
        "table_reads_per_output_pixel": reads,
        "multiply_adds_per_output_pixel": madds if lut.interval > 0 else 0.0,
        "additions_per_output_pixel": madds,
        "source": lut.header.get("source", {}),
    }


def checkpoint_info(source: str | Path) -> dict:
    """Accounting for a training checkpoint: parameters, MACs, training memory, LUT sizes (imports torch)."""
    from lutsr.models import build_model
    from lutsr.train import load_checkpoint

    config, ckpt = load_checkpoint(source)
    model = build_model({k: config[k] for k in ("arch", "scale", "features") if k in config})
    model.load_state_dict(ckpt["model"])
    m = get_method(model.method.name)
    s, f = model.scale, model.features
    params = int(sum(p.numel() for p in model.parameters()))
    macs_lr = 0
    act_train = 0
    act_infer = 0
    grad_peak = 0
    for unit in model.stage.units:
        n = unit.kernel.n_inputs
        cells = m.cells(model.stage, unit, s)
        per_rot = n * f + 4 * f * f + f * cells
        macs_lr += m.rotations * per_rot
        # float32 tensors kept for backward per LR pixel and rotation: inputs, 5 conv outputs and
        # their ReLU outputs, the last conv's cells, the quantized cells and the shuffled/expanded maps.
        act_train += m.rotations * 4 * (n + 10 * f + 3 * cells + (9 * s * s if unit.expand else 0))
        act_infer = max(act_infer, 4 * (n + 2 * f + cells))
        # backward: the stored activations plus the gradient of the widest layer in flight
        grad_peak = max(grad_peak, 4 * 2 * max(f, cells))
    sizes = {}
    for interval in range(9):
        b = table_bytes(m, s, interval)
        sizes[str(interval)] = b
    rf = receptive_field(m)
    return {
        "checkpoint": str(source),
        "arch": m.name,
        "scale": s,
        "features": f,
        "iteration": int(ckpt.get("iteration", 0)),
        "parameters": params,
        "macs_per_lr_pixel": macs_lr,
        "macs_per_output_pixel": macs_lr / (s * s),
        "training_forward_bytes_per_lr_pixel": act_train,
        "training_backward_peak_bytes_per_lr_pixel": act_train + grad_peak,
        "training_forward_bytes_per_output_pixel": act_train / (s * s),
        "inference_peak_activation_bytes_per_lr_pixel": act_infer,
        "receptive_field": {"height": rf[0], "width": rf[1], "pixels": rf[2]},
        "lut_bytes_by_interval": sizes,
    }


def format_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)


def render(info: dict) -> str:
    """Human-readable text of an info dict."""
    lines = []
    if "method" in info:
        lines.append(f"{info['file'] or 'LUT'}: {info['method']} x{info['scale']}, interval {info['interval']} "
                     f"({info['levels']} levels per input), {info['value_encoding']}")
        if info["description"]:
            lines.append(f"  {info['description']}")
        for st in info["stages"]:
            units = ", ".join(f"{u['name']} [{u['kernel']} {u['offsets']}{' +ExpandConv' if u['expand'] else ''}]"
                              for u in st["units"])
            lines.append(f"  stage {st['stage']} ({'upscales' if st['upscale'] else 'keeps size'}, pad {st['pad_mode']}, "
                         f"{st['rescale']}): {units}")
        for t in info["tables"]:
            lines.append(f"  table {t['name']}: {t['rows']} rows x {t['cells']} cells {t['dtype']}")
        rf = info["receptive_field"]
        lines.append(f"  receptive field (4 rotations): {rf['height']}x{rf['width']} LR pixels ({rf['pixels']} pixels)")
        lines.append(f"  size: {format_bytes(info['bytes_on_disk'])} on disk, {format_bytes(info['bytes_in_memory'])} "
                     f"in memory, {format_bytes(info['bytes_compiled'])} compiled (stored tables shared by the 4 "
                     "rotations, plus ExpandConv patches folded at every value pair for rotations 0 and 1, and their "
                     "border rows)")
        lines.append(f"  per output pixel: {info['table_reads_per_output_pixel']:g} table reads, "
                     f"{info['additions_per_output_pixel']:g} additions, "
                     f"{info['multiply_adds_per_output_pixel']:g} integer multiplications (interpolation)")
    else:
        lines.append(f"{info['checkpoint']}: {info['arch']} x{info['scale']}, {info['features']} features, "
                     f"iteration {info['iteration']}")
        lines.append(f"  parameters: {info['parameters']:,}")
        lines.append(f"  multiply-accumulates: {info['macs_per_lr_pixel']:,} per LR pixel, "
                     f"{info['macs_per_output_pixel']:,.0f} per output pixel (4 rotations)")
        lines.append(f"  training activations per LR pixel (float32, 4 rotations): forward (kept for backward) "
                     f"{format_bytes(info['training_forward_bytes_per_lr_pixel'])}, backward peak "
                     f"{format_bytes(info['training_backward_peak_bytes_per_lr_pixel'])}; inference peak "
                     f"{format_bytes(info['inference_peak_activation_bytes_per_lr_pixel'])}")
        rf = info["receptive_field"]
        lines.append(f"  receptive field: {rf['height']}x{rf['width']} LR pixels")
        sizes = ", ".join(f"{k}: {format_bytes(v)}" for k, v in info["lut_bytes_by_interval"].items())
        lines.append(f"  LUT size by interval: {sizes}")
    return "\n".join(lines)
