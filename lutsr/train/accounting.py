"""What a training checkpoint costs (``lutsr info RUN``): parameters, MACs and training activation
memory per pixel, and the LUT size it compiles to at each interval (imports torch)."""

from __future__ import annotations

from pathlib import Path

import torch

from lutsr.info import table_bytes
from lutsr.spec import get_method, receptive_field
from lutsr.train.loop import load_checkpoint
from lutsr.train.networks import build_model

__all__ = ["checkpoint_info"]


def _saved_bytes_per_pixel(module: torch.nn.Module, channels: int, side: int = 8) -> int:
    """Bytes autograd keeps for backward per input pixel in training mode, measured, not estimated.

    Runs ``module`` on a ``(1, channels, side, side)`` input inside ``saved_tensors_hooks`` and adds up
    the distinct non-parameter tensors it saves (a tensor saved by two ops counts once).
    """
    params = {p.data_ptr() for p in module.parameters()}
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    was = module.training
    module.train()
    x = torch.rand(1, channels, side, side)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    module.train(was)
    return int(round(sum(seen.values()) / (side * side)))


def checkpoint_info(source: str | Path) -> dict:
    """Accounting for a training checkpoint: parameters, MACs, training memory, LUT sizes (imports torch)."""
    config, ckpt = load_checkpoint(source)
    model = build_model(config)  # reads the model keys, ignores the rest
    model.load_state_dict(ckpt["model"])
    if hasattr(model, "network"):  # a table-space architecture: what its exported LUT file would say
        from lutsr.info import lut_info
        from lutsr.lut.file import network_lut

        info = lut_info(network_lut(model.arch.name, model.network()))
        info.update(file=str(source), checkpoint=str(source), iteration=int(ckpt.get("iteration", 0)),
                    arch_params=dict(model.params),
                    parameters=int(sum(p.numel() for p in model.parameters())))
        return info
    m = get_method(model.method.name)
    s, f = model.scale, model.features
    params = int(sum(p.numel() for p in model.parameters()))
    macs_lr = 0
    act_infer = 0
    grad_peak = 0
    body_rows = []
    for unit, body in zip(model.stage.units, model.bodies):
        n = unit.kernel.n_inputs
        cells = m.cells(model.stage, unit, s)
        per_rot = body.macs_per_pixel()  # the 1x1 convolutions: n*f + 4*f*f + f*cells for mlp
        macs_lr += m.rotations * per_rot
        widest = max(c.out_channels + c.in_channels for c in body.modules() if isinstance(c, torch.nn.Conv2d))
        act_infer = max(act_infer, 4 * (n + widest + cells))
        # backward: the stored activations plus the gradient of the widest layer in flight
        grad_peak = max(grad_peak, 4 * 2 * max(widest, cells))
        body_rows.append({"unit": unit.name, "body": model.body, "parameters": int(sum(p.numel() for p in
                          body.parameters())), "macs_per_pixel": per_rot,
                          "training_forward_bytes_per_pixel": _saved_bytes_per_pixel(body, n)})
    act_train = _saved_bytes_per_pixel(model, 1)
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
        "body": model.body,
        "bodies": body_rows,
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
