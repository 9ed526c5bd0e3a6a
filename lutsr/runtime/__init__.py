"""The CPU runtime: upscale with a LUT through Numba kernels (no torch).

- ``api``: the public entry point ``upscale`` (input checks, pixel formats, 16-bit, RGBA, banding).
- ``compile``: a loaded LUT compiled once into a ``CompiledLut`` (route per stage, packed tables, ``nbytes``).
- ``run``: one kernel call per stage plan. ``kernels/``: the Numba kernels, one module per family.
- ``simd``: LLVM vector intrinsics. ``reference``: the NumPy reference, the specification.

Every output is bit for bit what ``lutsr.runtime.reference`` computes. How the kernels work
and where their time goes: ``docs/runtime.md``.
"""

from lutsr.lut.shipped import default_lut, resolve_lut
from lutsr.runtime.compile import CompiledLut, StagePlan, compile_lut
from lutsr.runtime.kernels.jit import CACHE_DIR
from lutsr.runtime.run import run
from lutsr.runtime.api import BAND_SAMPLES, upscale, upscale_bytes

__all__ = ["upscale", "upscale_bytes", "compile_lut", "run", "CompiledLut", "StagePlan", "resolve_lut", "default_lut",
           "CACHE_DIR", "BAND_SAMPLES"]
