"""The per-unit networks (bodies) a LUT unit can hold, and the blocks it cannot.

A LUT unit stores *any* function of its kernel pixels: everything a network does after its
first layer that works pixel by pixel compiles into the table exactly, because export
evaluates the body on every input combination. So the building blocks of the restoration
literature that are per-pixel fit inside a unit:

* ``mlp`` — SR-LUT's and ECLUT's body: a 1x1 convolution to ``features`` (equivalent to a
  convolution of the kernel's shape), four 1x1 convolutions with ReLU, a 1x1 convolution to the
  table row's cells.
* ``dense`` — RDN's residual dense block (Zhang et al., "Residual Dense Network for Image
  Super-Resolution", CVPR 2018): each of four 1x1 layers reads the concatenation of all earlier
  ones (growth ``features / 2``), a 1x1 local feature fusion back to ``features`` and a local
  residual from the block's input.
* ``pa`` — FFA-Net's pixel attention (Qin et al., "FFA-Net: Feature Fusion Attention Network for
  Single Image Dehazing", AAAI 2020): after each layer the features are reweighted per pixel
  by ``sigmoid(conv(relu(conv(x))))`` (``features -> features / 8 -> 1``).
* ``xunit`` — xUnit (Kligvasser et al., "xUnit: Learning a Spatial Activation Function for
  Efficient Image Restoration", CVPR 2018) in place of ReLU: ``x * exp(-d(relu(x))^2)``, where
  ``d`` is xUnit's depthwise convolution restricted to 1x1 (a per-channel affine map) so that
  the gate stays per pixel; without xUnit's batch normalisation, whose batch statistics would
  make training differ from the table.

Blocks that look beyond the unit's pixels cannot be tabulated, and :func:`get_body` refuses them
by name with the reason: channel attention (RCAN's ``ca``), ``cbam`` and SAN's second-order
channel attention ``soca`` pool over the whole image (global context); a spatial convolution
after the first layer (``conv3x3``, ``conv7x7``) reads neighbouring positions' features, a
receptive field beyond the kernel.

Every body maps kernel pixels ``(N, n, H, W)`` in [0, 1] to outputs ``(N, cells, H, W)``;
its last layer ``out`` starts at zero, so that with ``residual`` the untrained network is
nearest-neighbour upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lutsr.errors import LutsrError

__all__ = ["BODIES", "REFUSED", "Body", "MLPBody", "DenseBody", "PABody", "XUnitBody", "get_body",
           "body_names", "check_body"]


class Body(nn.Module):
    """Base of the unit bodies: ``out`` (zero-initialised) and the nearest-neighbour residual.

    Subclasses define :meth:`features_of` (``(N, n, H, W) -> (N, width, H, W)``) and set
    ``self.out`` to a 1x1 convolution from that width to ``cells``.
    """

    name = ""

    def __init__(self, residual: float) -> None:
        super().__init__()
        self.residual = float(residual)

    def _zero_out(self) -> None:
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def features_of(self, inputs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out(self.features_of(inputs)) + self.residual * inputs[:, :1]

    def macs_per_pixel(self) -> int:
        """Multiply-accumulates of the 1x1 convolutions per pixel (elementwise ops not counted)."""
        total = 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                total += m.in_channels // m.groups * m.out_channels
        return total


class MLPBody(Body):
    """SR-LUT / ECLUT: 1x1 conv to ``features``, four 1x1 convs, ReLU between, 1x1 conv to the cells."""

    name = "mlp"

    def __init__(self, n_inputs: int, cells: int, features: int = 64, residual: float = 0.0) -> None:
        super().__init__(residual)
        self.conv1 = nn.Conv2d(n_inputs, features, 1)
        self.convs = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(4))
        self.out = nn.Conv2d(features, cells, 1)
        self._zero_out()

    def features_of(self, inputs: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(inputs))
        for conv in self.convs:
            x = F.relu(conv(x))
        return x


class DenseBody(Body):
    """RDN's residual dense block, 1x1: four densely connected layers, local fusion, local residual."""

    name = "dense"

    def __init__(self, n_inputs: int, cells: int, features: int = 64, residual: float = 0.0,
                 layers: int = 4) -> None:
        super().__init__(residual)
        growth = max(1, features // 2)
        self.conv1 = nn.Conv2d(n_inputs, features, 1)
        self.dense = nn.ModuleList(nn.Conv2d(features + i * growth, growth, 1) for i in range(layers))
        self.fuse = nn.Conv2d(features + layers * growth, features, 1)
        self.out = nn.Conv2d(features, cells, 1)
        self._zero_out()

    def features_of(self, inputs: torch.Tensor) -> torch.Tensor:
        x0 = F.relu(self.conv1(inputs))
        feats = [x0]
        for conv in self.dense:
            feats.append(F.relu(conv(torch.cat(feats, dim=1))))
        return x0 + self.fuse(torch.cat(feats, dim=1))


class _PixelAttention(nn.Module):
    """FFA-Net's PALayer: ``x * sigmoid(conv(relu(conv(x))))``, ``features -> features/8 -> 1``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        mid = max(1, features // 8)
        self.down = nn.Conv2d(features, mid, 1)
        self.up = nn.Conv2d(mid, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.up(F.relu(self.down(x))))


class PABody(MLPBody):
    """The ``mlp`` body with FFA-Net pixel attention after each of its five hidden layers."""

    name = "pa"

    def __init__(self, n_inputs: int, cells: int, features: int = 64, residual: float = 0.0) -> None:
        super().__init__(n_inputs, cells, features, residual)
        self.attention = nn.ModuleList(_PixelAttention(features) for _ in range(5))

    def features_of(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.attention[0](F.relu(self.conv1(inputs)))
        for conv, att in zip(self.convs, self.attention[1:]):
            x = att(F.relu(conv(x)))
        return x


class _XUnit(nn.Module):
    """xUnit restricted to 1x1 and without batch norm: ``x * exp(-(a * relu(x) + b)^2)`` per channel."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(features, features, 1, groups=features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.exp(-self.depthwise(F.relu(x)) ** 2)


class XUnitBody(MLPBody):
    """The ``mlp`` body with xUnit gating in place of each ReLU."""

    name = "xunit"

    def __init__(self, n_inputs: int, cells: int, features: int = 64, residual: float = 0.0) -> None:
        super().__init__(n_inputs, cells, features, residual)
        self.gates = nn.ModuleList(_XUnit(features) for _ in range(5))

    def features_of(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.gates[0](self.conv1(inputs))
        for conv, gate in zip(self.convs, self.gates[1:]):
            x = gate(conv(x))
        return x


BODIES: dict[str, type[Body]] = {b.name: b for b in (MLPBody, DenseBody, PABody, XUnitBody)}
"""The bodies ``lutsr train --body`` builds, by name."""

_GLOBAL = "pools over the whole image (global context), which a LUT unit that sees only its kernel pixels cannot hold"
_SPATIAL = ("a spatial convolution after the first layer reads neighbouring positions' features: a receptive "
            "field beyond the unit's kernel, which its table cannot hold")
REFUSED: dict[str, str] = {
    "ca": f"channel attention (RCAN) {_GLOBAL}",
    "cbam": f"CBAM's channel and spatial attention {_GLOBAL} and convolves the feature map spatially",
    "soca": f"second-order channel attention (SAN) {_GLOBAL}",
    "conv3x3": _SPATIAL,
    "conv7x7": _SPATIAL,
}
"""Blocks that cannot be compiled into a LUT unit, with the reason."""


def body_names() -> tuple[str, ...]:
    """Names ``--body`` accepts (the compilable ones) followed by the refused ones."""
    return tuple(BODIES) + tuple(REFUSED)


def check_body(name: str) -> None:
    """Raise a one-line ``LutsrError`` unless ``name`` is a body a LUT unit can hold."""
    if name in REFUSED:
        raise LutsrError(f"body {name!r} cannot be compiled into a LUT: {REFUSED[name]}")
    if name not in BODIES:
        raise LutsrError(f"unknown body {name!r}; expected one of {', '.join(BODIES)}")


def get_body(name: str) -> type[Body]:
    """The body class called ``name``; refuses blocks a LUT cannot hold (:func:`check_body`)."""
    check_body(name)
    return BODIES[name]
