"""``lutsr train --arch shiftnet``: a table-space architecture (:mod:`lutsr.net.archs`) as a model of the
training loop (imports torch).

:class:`TableArchModel` wraps a :class:`lutsr.train.tables.TableNetwork` of the architecture's
description so that :func:`lutsr.train.loop.train` drives it like the LUT networks of
:mod:`lutsr.train.networks`: ``forward`` takes and returns ``[0, 1]`` images, ``upscale`` is the
exact uint8 output (what the exported LUT computes, bit for bit), ``network`` the trained
description that ``lutsr export`` writes. Its ``state_dict`` holds the tables (float parameters,
rounded in every forward pass), so checkpoints resume exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lutsr.errors import LutsrError
from lutsr.net.archs import get_arch
from lutsr.net.graph import Network
from lutsr.train.tables import TableNetwork

__all__ = ["TableArchModel"]


class TableArchModel(nn.Module):
    """A table-space architecture ready to train.

    Args:
        arch: a name in :data:`lutsr.net.archs.TABLE_ARCHS`.
        scale: 1 (same-size restoration), 2, 3 or 4.
        params: the architecture's parameters (e.g. ``{"stacks": 1, "step": 2}``); defaults for
            those not given.
        dtype: of the planes in training (float32: exact while accumulators stay below 2**24, as
            ShiftLUT-class networks' do; float64 for the reference's arithmetic everywhere).
    """

    def __init__(self, arch: str, scale: int, params: dict | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.arch = get_arch(arch)
        self.scale = int(scale)
        self.params = {k: int((params or {}).get(k, v)) for k, v in self.arch.params.items()}
        self.tn = TableNetwork(self.arch.network(self.scale, **self.params), dtype=dtype)

    def warm_start(self, init: Network) -> None:
        """Set the tables to ``init``'s, which must be this architecture's description with the same
        parameters (e.g. an earlier run's export); a one-line :class:`LutsrError` otherwise."""
        net = self.tn._source
        if init.to_json() != net.to_json() or init.tables.keys() != net.tables.keys() or any(
                init.tables[k].shape != net.tables[k].shape or init.tables[k].dtype != net.tables[k].dtype
                for k in net.tables):
            raise LutsrError(f"--init: the LUT is not a {self.arch.name} x{self.scale} network with "
                             f"{self.params} (another architecture or parameters)")
        with torch.no_grad():
            for name, p in self.tn.tables.items():
                p.copy_(torch.from_numpy(np.asarray(init.tables[name], np.float64)).to(p.dtype))

    def forward(self, x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """``(N, 1, H, W)`` float in [0, 1] (multiples of 1/255) -> ``(N, 1, H*s, W*s)`` in [0, 1].

        The network's integer output divided by 255; every rounding is in the forward pass with
        straight-through gradients (``quantize`` is always on: the tables are integers).
        """
        q = torch.round(x * 255.0)
        return self.tn(q) / 255.0

    def upscale(self, image: np.ndarray) -> np.ndarray:
        """uint8 ``(H, W)`` or ``(H, W, C)`` -> uint8 ``(H*s, W*s[, C])``, channel by channel, exactly as
        the exported network (:func:`lutsr.net.reference.run_network`)."""
        img = np.asarray(image)
        chans = img[..., None] if img.ndim == 2 else img
        x = torch.from_numpy(np.ascontiguousarray(chans.transpose(2, 0, 1)).astype(np.float32))[:, None]
        with torch.no_grad():
            y = self.tn(x.to(next(self.parameters()).device))[:, 0].cpu().numpy()
        out = np.clip(y, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return out[..., 0] if img.ndim == 2 else out

    def roughness(self) -> torch.Tensor:
        """The tables' smoothness penalty (:meth:`lutsr.train.tables.TableNetwork.roughness`)."""
        return self.tn.roughness()

    def network(self) -> Network:
        """The trained description (tables rounded into their dtypes, validated)."""
        return self.tn.network()

    def config(self) -> dict:
        """JSON-serialisable architecture (stored with checkpoints)."""
        return {"arch": self.arch.name, "scale": self.scale, "arch_params": dict(self.params)}
