"""What a LUT costs (``lutsr info LUT``): tables, stages, receptive field, bytes on disk, in memory and
compiled, reads per output pixel; and the text rendering of it and of checkpoint accounting
(``lutsr.train.accounting``, which needs torch).
"""

from __future__ import annotations

from lutsr.lut.file import Lut
from lutsr.runtime.compile import compile_lut
from lutsr.spec import NETWORK_FAMILIES, MethodSpec, levels_for_interval, receptive_field

__all__ = ["lut_info", "network_info", "table_bytes", "render", "format_bytes"]


def table_bytes(method: MethodSpec, scale: int, interval: int) -> int:
    """Bytes of all tables at ``interval`` (1 byte per cell)."""
    return int(sum(r * c for r, c in method.table_shapes(scale, interval)))


def _per_pixel_cost(method: MethodSpec, scale: int, interval: int) -> float:
    """Table reads per output pixel (each read is one addition; a multiply-add when interpolating)."""
    q, _ = levels_for_interval(interval)
    reads = 0.0
    for stage in method.stages:
        vertices = sum(method.rotations * u.maps * (1 if q == 1 else u.kernel.n_inputs + 1) for u in stage.units)
        reads += vertices if stage.upscale else vertices / (scale * scale)
    return reads


def network_info(lut: Lut) -> dict:
    """Facts about a LUT network (format 2): family, ops, tables, bytes, reads per pixel, receptive field."""
    net = lut.network
    counts: dict = {}

    def visit(ops):
        for op in ops:
            counts[op["op"]] = counts.get(op["op"], 0) + 1
            if op["op"] == "ensemble":
                visit(op["body"])

    visit(net.ops)
    ens = [op for op in net.ops if op["op"] == "ensemble"]
    rf = net.receptive_field()
    reads = net.lookups_per_pixel()
    fam = NETWORK_FAMILIES[lut.header["method"]]
    return {
        "file": str(lut.path) if lut.path else None,
        "method": fam.name,
        "description": fam.description,
        "format_version": lut.header["format_version"],
        "scale": lut.scale,
        "ops": counts,
        "rotations": len(ens[0]["rotations"]) if ens else 1,
        "arrays": len(lut.tables),
        "table_bytes": net.table_bytes(),
        "value_map_bytes": net.table_bytes(("remap",)),
        "receptive_field": {"height": rf[0], "width": rf[1], "pixels": rf[2]},
        "bytes_on_disk": lut.path.stat().st_size if lut.path else None,
        "bytes_in_memory": int(sum(t.nbytes for t in lut.tables)),
        "bytes_compiled": compile_lut(lut).nbytes,
        "table_reads_per_input_pixel": reads,
        # an any-scale network (scale None): per output pixel depends on the size asked for
        "table_reads_per_output_pixel": None if lut.scale is None else reads / (lut.scale * lut.scale),
        "source": lut.header.get("source", {}),
    }


def lut_info(lut: Lut) -> dict:
    """Facts about a loaded LUT (method, shapes, receptive field, sizes, per-pixel cost).

    ``bytes_compiled`` is what the runtime holds once the LUT is compiled (``CompiledLut.nbytes``:
    the stored tables plus folded patches, side rows and packed copies); it compiles the LUT.
    LUT networks (format 2) are described by :func:`network_info`.
    """
    if lut.is_network:
        return {**network_info(lut), "task": lut.header.get("task")}
    return {**_stage_lut_info(lut), "task": lut.header.get("task")}


def _stage_lut_info(lut: Lut) -> dict:
    m = lut.method
    rf = receptive_field(m)
    reads = madds = _per_pixel_cost(m, lut.scale, lut.interval)
    mem = int(sum(t.nbytes for t in lut.tables))
    comp = compile_lut(lut)
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
        "bytes_compiled": comp.nbytes,
        "compiled_parts": _compiled_parts(comp),
        "table_reads_per_output_pixel": reads,
        "multiply_adds_per_output_pixel": madds if lut.interval > 0 else 0.0,
        "additions_per_output_pixel": madds,
        "source": lut.header.get("source", {}),
    }


def _compiled_parts(comp) -> str:
    """What a compiled LUT holds besides its stored tables, in words (from its stage plans)."""
    parts = ["stored tables shared by the 4 rotations"]
    if any(p.route == "expand" for p in comp.stages):
        parts.append("ExpandConv patches folded at every value pair for rotations 0 and 1, and their border rows")
    if any(p.vec is not None and len(p.vec.packed) for p in comp.stages):
        parts.append("the square units' rows packed for the 4 rotations of a shared window (4x those tables)")
    if any(p.route == "stage" for p in comp.stages):
        parts.append("the units' tables stacked for the fused stage kernel")
    return ", plus ".join(parts)


def format_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)


def _task_text(task: dict) -> str:
    from lutsr.tasks import Task

    return f"{Task.from_json(task)} (same size; lutsr {task['kind']} picks it by its level)"


def render(info: dict) -> str:
    """Human-readable text of an info dict."""
    lines = []
    if "ops" in info:
        scale = "any-scale" if info["scale"] is None else f"x{info['scale']}"
        lines.append(f"{info['file'] or 'LUT'}: {info['method']} {scale} LUT network (format "
                     f"{info['format_version']})")
        lines.append(f"  {info['description']}")
        if info.get("task"):
            lines.append(f"  task: {_task_text(info['task'])}")
        ops = ", ".join(f"{n} {k}" for k, n in sorted(info["ops"].items(), key=lambda kv: -kv[1]))
        rot = (f"rotation ensemble of {info['rotations']}" if "ensemble" in info["ops"]
               else "rotations unrolled into the lookup terms")
        lines.append(f"  ops: {ops}; {rot}")
        maps = f" + {format_bytes(info['value_map_bytes'])} of value maps" if info["value_map_bytes"] else ""
        lines.append(f"  tables: {format_bytes(info['table_bytes'])} of lookup tables{maps}, in {info['arrays']} arrays")
        rf = info["receptive_field"]
        lines.append(f"  receptive field: {rf['height']}x{rf['width']} LR pixels ({rf['pixels']} pixels)")
        lines.append(f"  size: {format_bytes(info['bytes_on_disk'])} on disk, {format_bytes(info['bytes_in_memory'])} "
                     f"in memory, {format_bytes(info['bytes_compiled'])} compiled (tables expanded to every input "
                     "value, interpolation folded in)")
        per_out = info["table_reads_per_output_pixel"]
        lines.append(f"  per input pixel: {info['table_reads_per_input_pixel']:g} table reads"
                     + (f" ({per_out:g} per output pixel)" if per_out is not None else
                        " (then the resampler: per output pixel, 4 weighted input pixels)"))
    elif "method" in info:
        lines.append(f"{info['file'] or 'LUT'}: {info['method']} x{info['scale']}, interval {info['interval']} "
                     f"({info['levels']} levels per input), {info['value_encoding']}")
        if info["description"]:
            lines.append(f"  {info['description']}")
        if info.get("task"):
            lines.append(f"  task: {_task_text(info['task'])}")
        for st in info["stages"]:
            units = ", ".join(f"{u['name']} [{u['kernel']} {u['offsets']}{' +ExpandConv' if u['expand'] else ''}]"
                              for u in st["units"])
            lines.append(f"  stage {st['stage']} ({'upscales' if st['upscale'] and info['scale'] != 1 else 'keeps size'}, "
                         f"pad {st['pad_mode']}, "
                         f"{st['rescale']}): {units}")
        for t in info["tables"]:
            lines.append(f"  table {t['name']}: {t['rows']} rows x {t['cells']} cells {t['dtype']}")
        rf = info["receptive_field"]
        lines.append(f"  receptive field (4 rotations): {rf['height']}x{rf['width']} LR pixels ({rf['pixels']} pixels)")
        lines.append(f"  size: {format_bytes(info['bytes_on_disk'])} on disk, {format_bytes(info['bytes_in_memory'])} "
                     f"in memory, {format_bytes(info['bytes_compiled'])} compiled ({info['compiled_parts']})")
        lines.append(f"  per output pixel: {info['table_reads_per_output_pixel']:g} table reads, "
                     f"{info['additions_per_output_pixel']:g} additions, "
                     f"{info['multiply_adds_per_output_pixel']:g} integer multiplications (interpolation)")
    else:
        lines.append(f"{info['checkpoint']}: {info['arch']} x{info['scale']}, {info['features']} features, "
                     f"body {info.get('body', 'mlp')}, iteration {info['iteration']}")
        lines.append(f"  parameters: {info['parameters']:,}")
        for b in info.get("bodies", []):
            lines.append(f"    unit {b['unit']} ({b['body']}): {b['parameters']:,} parameters, {b['macs_per_pixel']:,} "
                         f"MACs and {format_bytes(b['training_forward_bytes_per_pixel'])} kept for backward per "
                         "pixel and rotation")
        lines.append(f"  multiply-accumulates: {info['macs_per_lr_pixel']:,} per LR pixel, "
                     f"{info['macs_per_output_pixel']:,.0f} per output pixel (4 rotations)")
        lines.append(f"  training activations per LR pixel (float32, 4 rotations, measured): forward (kept for backward) "
                     f"{format_bytes(info['training_forward_bytes_per_lr_pixel'])}, backward peak "
                     f"{format_bytes(info['training_backward_peak_bytes_per_lr_pixel'])}; inference peak "
                     f"{format_bytes(info['inference_peak_activation_bytes_per_lr_pixel'])}")
        rf = info["receptive_field"]
        lines.append(f"  receptive field: {rf['height']}x{rf['width']} LR pixels")
        sizes = ", ".join(f"{k}: {format_bytes(v)}" for k, v in info["lut_bytes_by_interval"].items())
        lines.append(f"  LUT size by interval: {sizes}")
    return "\n".join(lines)
