"""Shared fixtures. Tests that need ``../shared`` (datasets, published LUTs) skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# A cold first `lutsr upscale` of a small image runs on the NumPy reference and compiles the kernels
# in a background process; in the suite (and the CLI subprocesses it starts) kernels compile in the
# foreground instead, so no background compiles compete with the tests. tests/test_first_run.py
# tests the default.
os.environ.setdefault("LUTSR_FIRST_RUN", "compile")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
SET5 = ["baby", "bird", "butterfly", "head", "woman"]

needs_shared = pytest.mark.skipif(not (SHARED / "bench" / "Set5" / "HR").is_dir(),
                                  reason="../shared/data is absent (datasets are not part of the repository)")


def adversarial_images(rng: np.random.Generator) -> list[np.ndarray]:
    """Small images that stress borders, sizes and value extremes (gray and RGB)."""
    imgs = [
        np.zeros((1, 1), np.uint8),
        np.full((1, 1), 255, np.uint8),
        rng.integers(0, 256, (1, 7), dtype=np.uint8),
        rng.integers(0, 256, (6, 1), dtype=np.uint8),
        rng.integers(0, 256, (2, 2), dtype=np.uint8),
        rng.integers(0, 256, (5, 9), dtype=np.uint8),
        rng.integers(0, 256, (11, 4, 3), dtype=np.uint8),
        np.full((4, 6), 128, np.uint8),
        np.full((3, 5, 3), 255, np.uint8),
        np.zeros((3, 5, 3), np.uint8),
        (rng.integers(0, 2, (9, 7), dtype=np.uint8) * 255),  # only 0 and 255
        rng.integers(0, 256, (7, 5, 1), dtype=np.uint8),
    ]
    return imgs


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_eclut(scale: int, rng: np.random.Generator, extreme: bool = False):
    """An in-memory ECLUT ``Lut`` with random cells (optionally only 0/255 to hit clipping)."""
    from lutsr.lut.file import Lut, make_eclut_header

    shape = (257 * 257, 9 * scale * scale)
    if extreme:
        table = (rng.integers(0, 2, shape, dtype=np.uint8) * 255).astype(np.uint8)
    else:
        table = rng.integers(0, 256, shape, dtype=np.uint8)
    return Lut(header=make_eclut_header(scale), tables=[table])


def random_lut(method: str, scale: int, interval: int, rng):
    """An in-memory ``Lut`` of ``method`` with uniformly random cells of the method's dtype."""
    from lutsr.lut.file import Lut, make_header
    from lutsr.spec import get_method

    m = get_method(method)
    dtype = np.dtype(m.table_dtype)
    info = np.iinfo(dtype)
    tables = [rng.integers(info.min, info.max + 1, shape, dtype=dtype) for shape in m.table_shapes(scale, interval)]
    return Lut(header=make_header(method, scale, interval), tables=tables)


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def lut2(tmp_path, rng):
    """A random ECLUT x2 LUT saved to a file: ``(path, Lut)``."""
    from lutsr.lut.file import save_lut

    lut = random_eclut(2, rng)
    path = tmp_path / "r2.lut"
    save_lut(path, lut.header, lut.tables)
    return path, lut


def held_arrays(obj, exclude=()) -> list[np.ndarray]:
    """Every NumPy array reachable from ``obj`` through dataclass fields, tuples and lists, once each,
    leaving out those that share memory with an array in ``exclude``."""
    import dataclasses

    seen, out = set(), []

    def walk(o):
        if isinstance(o, np.ndarray):
            if id(o) not in seen and not any(np.shares_memory(o, e) for e in exclude):
                seen.add(id(o))
                out.append(o)
        elif dataclasses.is_dataclass(o) and not isinstance(o, type):
            for f in dataclasses.fields(o):
                if f.name != "lut":
                    walk(getattr(o, f.name))
        elif isinstance(o, (tuple, list)):
            for v in o:
                walk(v)

    walk(obj)
    return out
