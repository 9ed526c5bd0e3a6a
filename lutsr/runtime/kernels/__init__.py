"""Numba kernels of the runtime, one module per kernel family.

- ``jit``: JIT options and the cache folder (set once, for every kernel here and in ``lutsr.fit``).
- ``common``: padding, the simplex walk, exact rescale (shared with ``lutsr.fit``).
- ``scalar``: the general unit-by-unit path. ``expand``: the ExpandConv patch kernel.
- ``block``: the vector block-simplex kernel. ``emit``: planar sums to interleaved uint8.

Every kernel computes what ``lutsr.runtime.reference`` computes, bit for bit.
"""
