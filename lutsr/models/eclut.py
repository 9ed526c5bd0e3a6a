"""The ECLUT network (PyTorch), following the lutsr ECLUT specification in ``lutsr.spec``.

Import this module only to train or export: it imports torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lutsr.spec import ECLUT, EXPAND_DIRECTIONS, EclutSpec

__all__ = ["ECLUTNet"]


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """floor(x + 0.5) in the forward pass, identity gradient (straight-through)."""
    return x + (torch.floor(x + 0.5) - x).detach()


class ECLUTNet(nn.Module):
    """Expanded-convolution LUT network.

    One channel in (values in [0, 1]); a 2x1 convolution over the current pixel and the
    one below it, four 1x1 convolutions with ReLU, a last 1x1 convolution to
    ``9 * scale**2`` channels, pixel shuffle to nine HR maps. A residual adds the current
    pixel to every map, so the untrained network is nearest-neighbour upsampling. The
    whole body is a function of the two input pixels only, so it compiles into a
    257 x 257 table exactly.

    Args:
        scale: upscaling factor (2, 3 or 4).
        features: hidden width (64 in the paper).
        spec: the ECLUT specification (alpha, encoding, kernel shape).
    """

    def __init__(self, scale: int = 4, features: int = 64, spec: EclutSpec = ECLUT) -> None:
        super().__init__()
        if scale < 2:
            raise ValueError(f"scale must be >= 2, got {scale}")
        self.scale = int(scale)
        self.features = int(features)
        self.spec = spec
        kh, kw = spec.kernel.height, spec.kernel.width
        self.conv1 = nn.Conv2d(1, features, (kh, kw))
        self.convs = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(4))
        self.out = nn.Conv2d(features, spec.n_cells(scale), 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    # -- the function the table stores -------------------------------------------------
    def body(self, patches: torch.Tensor) -> torch.Tensor:
        """Kernel-shaped inputs -> map values.

        Args:
            patches: ``(N, 1, H+1, W)`` float in [0, 1]: the image already padded at the
                bottom (or ``(N, 1, 2, 1)`` pairs ``(current, below)`` for export).
        Returns:
            ``(N, 9*s*s, H, W)`` float, about the pixel value in [0, 1] per map
            (channel order: map g, sub-row i, sub-col j).
        """
        x = F.relu(self.conv1(patches))
        for conv in self.convs:
            x = F.relu(conv(x))
        current = patches[:, :, : patches.shape[2] - self.spec.kernel.pad_bottom, :]
        return self.out(x) + current

    def cells(self, patches: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """Signed cell values ``alpha*o`` (table units, offset removed), clipped to the range.

        With ``quantize=True`` they are rounded with ``floor(v + 0.5)`` (straight-through
        gradient), exactly the values the exporter stores.
        """
        v = self.body(patches) * self.spec.alpha
        if quantize:
            v = _round_ste(v)
        lo = -float(self.spec.offset)
        return torch.clamp(v, lo, 255.0 + lo)

    # -- one rotation, as the runtime computes it --------------------------------------
    def expand(self, maps: torch.Tensor) -> torch.Tensor:
        """ExpandConv: ``(N, 9, Hs, Ws)`` maps -> ``(N, 1, Hs, Ws)`` sum of shifted maps.

        Map g moves one HR pixel toward its direction; borders reflect.
        """
        hs, ws = maps.shape[-2:]
        p = F.pad(maps, (1, 1, 1, 1), mode="reflect")
        out = torch.zeros_like(maps[:, :1])
        for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
            out = out + p[:, g : g + 1, 1 - dy : 1 - dy + hs, 1 - dx : 1 - dx + ws]
        return out

    def accumulate(self, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """Rotation-ensembled accumulator in table units (``acc`` of the specification).

        Args:
            x: ``(N, 1, H, W)`` float in [0, 1].
        Returns:
            ``(N, 1, H*s, W*s)`` float: sum over 4 rotations x 9 maps of signed cells.
        """
        s = self.scale
        acc = None
        for k in range(self.spec.n_rotations):
            r = torch.rot90(x, k, dims=(2, 3))
            p = F.pad(r, (0, self.spec.kernel.pad_right, 0, self.spec.kernel.pad_bottom), mode="replicate")
            maps = F.pixel_shuffle(self.cells(p, quantize), s)
            e = torch.rot90(self.expand(maps), -k, dims=(2, 3))
            acc = e if acc is None else acc + e
        return acc

    def forward(self, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """``(N, 1, H, W)`` in [0, 1] -> ``(N, 1, H*s, W*s)`` in [0, 1] (float, unrounded).

        This is ``acc / 4`` clipped to 0..255 and divided by 255: the runtime computes
        the same value rounded half up.
        """
        acc = self.accumulate(x, quantize)
        return torch.clamp(acc / (1 << self.spec.shift), 0.0, 255.0) / 255.0

    def config(self) -> dict:
        """JSON-serialisable architecture description (stored with checkpoints)."""
        return {"arch": "eclut", "scale": self.scale, "features": self.features}
