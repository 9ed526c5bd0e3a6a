"""JIT options and the on-disk cache folder of every Numba kernel in lutsr, set in this one place.

Compiled kernels are cached on disk so that a second process does not compile again. The cache
goes to a per-user folder, not beside the installed sources (files left in site-packages would
outlive ``pip uninstall``): ``$LUTSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/lutsr/numba``, else
``~/.cache/lutsr/numba``. ``NUMBA_CACHE_DIR``, when set, wins (Numba reads it itself).

Numba picks a function's cache folder when the function is decorated, from
``numba.config.CACHE_DIR``; :func:`kernel` sets it for that moment only and restores the user's
setting, so importing lutsr never changes Numba's configuration for other code.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numba
from numba import njit

__all__ = ["CACHE_DIR", "kernel", "inline"]

CACHE_DIR = Path(os.environ.get("LUTSR_CACHE_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lutsr" / "numba")


@contextmanager
def _cache_dir() -> Iterator[None]:
    user = numba.config.CACHE_DIR
    if not user:
        numba.config.CACHE_DIR = str(CACHE_DIR)
    try:
        yield
    finally:
        numba.config.CACHE_DIR = user


def kernel(*, parallel: bool = False) -> Callable:
    """Decorator for a compiled entry point: cached on disk, releases the GIL, ``prange`` when ``parallel``."""

    def deco(fn: Callable) -> Callable:
        with _cache_dir():
            return njit(cache=True, nogil=True, parallel=parallel)(fn)

    return deco


#: Decorator for a helper that is always inlined into the kernels that call it (never called from Python).
inline = njit(inline="always")
