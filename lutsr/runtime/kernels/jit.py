"""JIT options and the on-disk cache folder of every Numba kernel in lutsr, set in this one place.

Compiled kernels are cached on disk so that a second process does not compile again. The cache
goes to a per-user folder, not beside the installed sources (files left in site-packages would
outlive ``pip uninstall``): ``$LUTSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/lutsr/numba``, else
``~/.cache/lutsr/numba``, in a sub-folder named by a hash of the kernels' sources (``CACHE_DIR``),
so an upgrade or an edited helper never loads a stale kernel. ``NUMBA_CACHE_DIR``, when set, wins
(Numba reads it itself; then keep one folder per lutsr version yourself).

Numba picks a function's cache folder when the function is decorated, from
``numba.config.CACHE_DIR``; :func:`kernel` sets it for that moment only and restores the user's
setting, so importing lutsr never changes Numba's configuration for other code.

A cache entry that cannot be loaded (a truncated or corrupt ``.nbi`` / ``.nbc`` file: a full
disk, a killed process, a copy gone wrong) is not fatal: :func:`kernel` guards each kernel's
cache, logs one warning, deletes that kernel's cache files and compiles again (the fresh
result is cached). The cache files are pickles that every lutsr process loads and runs, so
the cache folder must not be writable by others (see docs/files.md, "The kernel cache folder").
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numba
from numba import njit

__all__ = ["CACHE_DIR", "CACHE_ROOT", "kernel", "inline", "rowfn", "is_cached"]

log = logging.getLogger(__name__)

def _kernel_digest() -> str:
    """A short hash of every source file compiled into lutsr's kernels (``lutsr/runtime/kernels``,
    ``lutsr/runtime/simd.py``, ``lutsr/fit/*.py``). Numba checks a cached kernel only against its own
    file's time stamp, not against the helpers it inlined or linked from other files; a folder per
    digest means a changed helper can never come back from the cache stale."""
    root = Path(__file__).resolve().parent.parent.parent  # lutsr/
    h = hashlib.sha256(numba.__version__.encode())
    files = sorted([*(root / "runtime" / "kernels").glob("*.py"), root / "runtime" / "simd.py",
                    *(root / "fit").glob("*.py")])
    for f in files:
        try:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        except OSError:  # pragma: no cover - an unreadable install: still a stable name
            h.update(f.name.encode())
    return h.hexdigest()[:12]


#: lutsr's kernel cache: one sub-folder per build of the kernels' sources (:func:`_kernel_digest`)
#: under ``$LUTSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/lutsr/numba``, else ``~/.cache/lutsr/numba``
CACHE_ROOT = Path(os.environ.get("LUTSR_CACHE_DIR")
                  or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lutsr" / "numba")
CACHE_DIR = CACHE_ROOT / f"k{_kernel_digest()}"


@contextmanager
def _cache_dir() -> Iterator[None]:
    user = numba.config.CACHE_DIR
    if not user:
        numba.config.CACHE_DIR = str(CACHE_DIR)
    try:
        yield
    finally:
        numba.config.CACHE_DIR = user


def _cache_files(cache) -> tuple[str, list[str]]:
    """The cache folder of one kernel's Numba cache and the files (index and data) it owns."""
    f = cache._cache_file
    base = f._index_name[: -len(".nbi")]
    folder = f._cache_path
    return folder, [f._index_path, *glob.glob(os.path.join(glob.escape(folder), glob.escape(base) + ".*.nbc"))]


def is_cached(dispatcher) -> bool:
    """Whether ``dispatcher`` (a :func:`kernel`) has an on-disk cache index here, i.e. will most likely
    load instead of compiling (a new argument type still compiles). True when it cannot tell."""
    cache = getattr(dispatcher, "_cache", None)
    try:
        return os.path.exists(cache._cache_file._index_path)
    except Exception:  # noqa: BLE001 - Numba internals changed: do not claim a compile
        return True


def _drop_bad_entry(cache, name: str, err: BaseException, when: str) -> None:
    """Warn (one line) and delete a kernel's unreadable cache files, so the next save starts clean."""
    try:
        folder, files = _cache_files(cache)
    except Exception:  # noqa: BLE001 - Numba internals changed: just warn
        folder, files = "?", []
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass
    msg = str(err).strip().splitlines()[0][:100] if str(err).strip() else ""
    log.warning("Numba cache of kernel %s in %s could not be %s (%s%s); deleted it, compiling again",
                name, folder, when, type(err).__name__, f": {msg}" if msg else "")


def _guard_cache(dispatcher) -> None:
    """Make a corrupt on-disk cache entry a cache miss (warn, delete, recompile) instead of an error."""
    cache = getattr(dispatcher, "_cache", None)
    load, save = getattr(cache, "load_overload", None), getattr(cache, "save_overload", None)
    if load is None or save is None or not hasattr(cache, "_cache_file"):
        return
    name = getattr(dispatcher, "__name__", "?")

    def guarded_load(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception as e:  # noqa: BLE001 - UnpicklingError, EOFError, ... from a truncated file
            _drop_bad_entry(cache, name, e, "read")
            return None

    def guarded_save(sig, data):
        try:
            return save(sig, data)
        except Exception as e:  # noqa: BLE001 - the kernel runs; only its cache entry is lost
            _drop_bad_entry(cache, name, e, "updated")
            return None

    cache.load_overload = guarded_load
    cache.save_overload = guarded_save


_warned_no_cache = False


def _warn_no_cache(err: BaseException) -> None:
    """One warning per process: no folder can hold the kernel cache, so kernels compile in memory."""
    global _warned_no_cache
    if not _warned_no_cache:
        _warned_no_cache = True
        log.warning("no writable folder for lutsr's kernel cache (%s; tried %s): kernels compile in memory in "
                    "every process; set LUTSR_CACHE_DIR (or NUMBA_CACHE_DIR) to a writable folder, or pre-fill one "
                    "with 'lutsr warmup' (docs/runtime.md)", str(err).split(":")[0], CACHE_DIR)


def kernel(*, parallel: bool = False) -> Callable:
    """Decorator for a compiled entry point: cached on disk, releases the GIL, ``prange`` when ``parallel``.

    A truncated or corrupt cache entry is deleted with a warning and the kernel compiled again. Where
    no folder can hold a cache (read-only home, venv and cache folder), the kernels compile in memory
    with one warning instead of failing at import.
    """

    def deco(fn: Callable) -> Callable:
        with _cache_dir():
            try:
                dispatcher = njit(cache=True, nogil=True, parallel=parallel)(fn)
            except RuntimeError as e:  # "cannot cache function ...: no locator available" (no writable folder)
                _warn_no_cache(e)
                return njit(nogil=True, parallel=parallel)(fn)
        _guard_cache(dispatcher)
        return dispatcher

    return deco


#: Decorator for a helper that is always inlined into the kernels that call it (never called from Python).
inline = njit(inline="always")

#: Decorator for a helper called once per row or band (never per pixel): compiled as a function of its
#: own, not inlined into its callers' Numba IR. Numba-level inlining retypes the whole caller and
#: multiplies compile time (the ECLUT patch kernel took 46 s to compile with every helper inlined,
#: about 10 s without the per-row ones); a call per row costs nothing measurable.
rowfn = njit(nogil=True)
