"""LUT networks (PyTorch), driven by the method descriptions in ``lutsr.spec``.

A network has one small body per unit (table) of a single-stage method: the unit's kernel
pixels are gathered into channels, then a per-pixel network (``lutsr.train.bodies``: by
default a 1x1 convolution to ``features``, equivalent to a convolution of the kernel's shape,
four 1x1 convolutions with ReLU between layers, and a last 1x1 convolution to the row's
cells). The training-mode forward pass runs the method
exactly as the runtime does -- rotations, padding, per-cell quantization (straight-through
gradient), ExpandConv, integer-style combination and rescale -- so the loss is computed on
what the LUT will produce.

Import this module only to train or export: it imports torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lutsr.spec import EXPAND_DIRECTIONS, MethodSpec, StageSpec, UnitSpec, get_method, pad_index, trainable_methods
from lutsr.train.bodies import MLPBody, get_body

__all__ = ["LUTNet", "ECLUTNet", "UnitBody", "ARCHS", "build_model"]

#: Methods that ``lutsr train`` can train (``MethodSpec.trainable`` in ``lutsr.spec``).
ARCHS: tuple[str, ...] = trainable_methods()


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """floor(x + 0.5) in the forward pass, identity gradient (straight-through)."""
    return x + (torch.floor(x + 0.5) - x).detach()


UnitBody = MLPBody
"""The default body (``mlp``); the other bodies are in ``lutsr.train.bodies``."""


class LUTNet(nn.Module):
    """A trainable single-stage LUT method (``eclut``, ``srlut-s``, ``srlut-f``, ``srlut-v``).

    Args:
        method: method name from ``lutsr.spec.METHODS``.
        scale: upscaling factor.
        features: hidden width (64 in the papers).
        body: the per-unit network, a name from ``lutsr.train.bodies.BODIES`` (``mlp``, ``dense``,
            ``pa``, ``xunit``); blocks a LUT cannot hold are refused with the reason.
    """

    def __init__(self, method: str, scale: int = 4, features: int = 64, body: str = "mlp") -> None:
        super().__init__()
        m = get_method(method)
        if len(m.stages) != 1:
            raise ValueError(f"method {method!r} has {len(m.stages)} stages; only single-stage methods train")
        if scale < 1:
            raise ValueError(f"scale must be >= 1 (1: a restoration task), got {scale}")
        self.method: MethodSpec = m
        self.stage: StageSpec = m.stages[0]
        self.scale = int(scale)
        self.features = int(features)
        self.body = str(body)
        body_cls = get_body(self.body)
        self.cell_range = tuple(float(v) for v in m.cell_range)
        # cells that make the untrained network nearest-neighbour: the sum over units x rotations
        # x maps of alpha * r * x, divided by the stage's divisor, equals 255 * x.
        maps = max(u.maps for u in self.stage.units)
        r = 255.0 * self.stage.divisor / (m.alpha * len(self.stage.units) * m.rotations * maps)
        self.bodies = nn.ModuleList(
            body_cls(u.kernel.n_inputs, m.cells(self.stage, u, self.scale), features, residual=r)
            for u in self.stage.units
        )

    @property
    def out(self) -> nn.Conv2d:
        """The last layer of the first unit (convenience for single-unit methods)."""
        return self.bodies[0].out

    def cells(self, inputs: torch.Tensor, unit: int = 0, quantize: bool = True) -> torch.Tensor:
        """Signed cell values ``alpha * o`` (offset removed), rounded (if ``quantize``) and clipped.

        Args:
            inputs: ``(N, n, H, W)`` kernel pixels in [0, 1], current pixel first (for export:
                ``(N, n, 1, 1)``, one row per input combination).
        Returns:
            ``(N, cells, H, W)`` float; with ``quantize=True`` exactly the stored values minus the offset.
        """
        v = self.bodies[unit](inputs) * self.method.alpha
        if quantize:
            v = _round_ste(v)
        return torch.clamp(v, *self.cell_range)

    def gather(self, x: torch.Tensor, unit: UnitSpec) -> torch.Tensor:
        """``(N, 1, H, W)`` -> ``(N, n, H, W)``: each kernel pixel of every position, after padding."""
        h, w = x.shape[-2:]
        mode = self.stage.pad_mode
        parts = []
        for dy, dx in unit.kernel.offsets:
            # spec.pad_index is the runtime's padding rule (also for 1-pixel images, where
            # torch's reflect padding refuses to work)
            iy = torch.from_numpy(np.asarray(pad_index(np.arange(h) + dy, h, mode))).to(x.device)
            ix = torch.from_numpy(np.asarray(pad_index(np.arange(w) + dx, w, mode))).to(x.device)
            parts.append(x.index_select(2, iy).index_select(3, ix))
        return torch.cat(parts, dim=1)

    @staticmethod
    def expand(maps: torch.Tensor) -> torch.Tensor:
        """ExpandConv: ``(N, 9, Hs, Ws)`` -> ``(N, 1, Hs, Ws)``, map g shifted toward g, borders reflect."""
        hs, ws = maps.shape[-2:]
        p = F.pad(maps, (1, 1, 1, 1), mode="reflect")
        out = torch.zeros_like(maps[:, :1])
        for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
            out = out + p[:, g : g + 1, 1 - dy : 1 - dy + hs, 1 - dx : 1 - dx + ws]
        return out

    def accumulate(self, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """Sum over units x rotations of the arranged cells (the runtime's ``acc``, in cell units).

        Args:
            x: ``(N, 1, H, W)`` float in [0, 1].
        Returns:
            ``(N, 1, H*s, W*s)`` float.
        """
        acc = None
        for i, unit in enumerate(self.stage.units):
            for k in range(self.method.rotations):
                r = torch.rot90(x, k, dims=(2, 3))
                shuffled = F.pixel_shuffle(self.cells(self.gather(r, unit), i, quantize), self.scale)
                e = self.expand(shuffled) if unit.expand else shuffled
                e = torch.rot90(e, -k, dims=(2, 3))
                acc = e if acc is None else acc + e
        return acc

    def forward(self, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """``(N, 1, H, W)`` in [0, 1] -> ``(N, 1, H*s, W*s)`` in [0, 1] (float, before the final rounding).

        ``clip(acc / divisor + bias, 0, 255) / 255``: the runtime computes the same value and
        rounds it to an integer with the method's rounding rule.
        """
        y = self.accumulate(x, quantize) / self.stage.divisor + self.stage.bias
        return torch.clamp(y, 0.0, 255.0) / 255.0

    def config(self) -> dict:
        """JSON-serialisable architecture description (stored with checkpoints)."""
        return {"arch": self.method.name, "scale": self.scale, "features": self.features, "body": self.body}


class ECLUTNet(LUTNet):
    """The ECLUT network: 2x1 kernel, 64 features, 9*s*s outputs, ExpandConv (``docs/eclut.md``)."""

    def __init__(self, scale: int = 4, features: int = 64) -> None:
        super().__init__("eclut", scale, features)


def build_model(config: dict) -> nn.Module:
    """Build a network from its JSON config (``{"arch": "eclut", "scale": 4, "features": 64, "body": "mlp"}``;
    ``body`` defaults to ``mlp``, the only one before it was a choice). Other keys (a run's whole
    ``config.json``) are ignored. A table-space architecture (:data:`lutsr.net.archs.TABLE_ARCHS`,
    ``{"arch": "shiftnet", "scale": 4, "arch_params": {"stacks": 1}}``) is a
    :class:`lutsr.train.tablearch.TableArchModel`."""
    from lutsr.net.archs import TABLE_ARCHS

    arch = config.get("arch")
    if arch in TABLE_ARCHS:
        from lutsr.train.tablearch import TableArchModel

        return TableArchModel(arch, int(config["scale"]), dict(config.get("arch_params") or {}))
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS + tuple(TABLE_ARCHS))}")
    return LUTNet(arch, scale=int(config["scale"]), features=int(config.get("features", 64)),
                  body=str(config.get("body", "mlp")))
