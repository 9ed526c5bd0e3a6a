"""lutsr: lookup-table super-resolution -- train, compile to LUTs, upscale on any CPU.

Public API (``import lutsr`` stays cheap: these load on first use):

- :func:`upscale` -- upscale an image with a LUT (``lutsr.runtime``).
- :func:`upscale_bytes` -- the same from and to encoded bytes (PNG, JPEG, ...), metadata kept.
- :func:`load_lut`, :class:`Lut` -- read and validate a LUT file (``lutsr.lut``).
- :func:`default_lut` -- a shipped LUT by scale and family.
- :func:`denoise`, :func:`deblock` -- remove Gaussian noise / JPEG artefacts with a same-size LUT
  (``lutsr.restore``; the shipped tables by level, or a blind choice).

``import lutsr`` and :func:`lutsr.upscale` never import torch.
"""

from __future__ import annotations

import logging

from lutsr._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__", "upscale", "upscale_bytes", "load_lut", "Lut", "default_lut", "denoise", "deblock"]

_LAZY = {"upscale": "lutsr.runtime.api", "upscale_bytes": "lutsr.runtime.api", "default_lut": "lutsr.lut.shipped",
         "load_lut": "lutsr.lut.file", "denoise": "lutsr.restore", "deblock": "lutsr.restore",
         "Lut": "lutsr.lut.file"}


def __getattr__(name: str):
    # Lazy: importing lutsr stays cheap (no numba, no cv2) until used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lutsr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
