"""lutsr: lookup-table super-resolution -- train, compile to LUTs, upscale on any CPU.

``import lutsr`` and :func:`lutsr.upscale` never import torch.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__", "upscale", "load_lut", "Lut", "default_lut"]


def __getattr__(name: str):
    # Lazy: importing lutsr stays cheap (no numba compile, no cv2) until used.
    if name == "upscale":
        from lutsr.runtime import upscale

        return upscale
    if name == "default_lut":
        from lutsr.runtime import default_lut

        return default_lut
    if name in ("load_lut", "Lut"):
        from lutsr import lutfile

        return getattr(lutfile, name)
    raise AttributeError(f"module 'lutsr' has no attribute {name!r}")
