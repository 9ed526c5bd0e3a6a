"""What a training checkpoint costs (``lutsr info RUN``): parameters, MACs and training activation
memory per pixel, and the LUT size it compiles to at each interval (imports torch)."""

from __future__ import annotations

from pathlib import Path

from lutsr.info import table_bytes
from lutsr.spec import get_method, receptive_field
from lutsr.train.loop import load_checkpoint
from lutsr.train.networks import build_model

__all__ = ["checkpoint_info"]


def checkpoint_info(source: str | Path) -> dict:
    """Accounting for a training checkpoint: parameters, MACs, training memory, LUT sizes (imports torch)."""
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
        act_train += m.rotations * 4 * (n + 10 * f + 3 * cells + (unit.maps * s * s if unit.expand else 0))
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
