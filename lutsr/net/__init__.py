"""LUT networks as data (format-2 LUT files): the description (:mod:`lutsr.net.graph`) and its NumPy
reference (:mod:`lutsr.net.reference`). The Numba runtime is :mod:`lutsr.runtime.netrun`."""

from lutsr.net.graph import Network

__all__ = ["Network"]
