"""Helpers shared by the tools: the published tables in ../shared and wall-clock timing."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from lutsr.lut.importer import import_tables
from lutsr.lut.file import Lut

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"

_SRLUT = [("srlut-s", "Model_S_x2_4bit_int8.npy"), ("srlut-s", "Model_S_x3_4bit_int8.npy"),
          ("srlut-s", "Model_S_x4_4bit_int8.npy"), ("srlut-f", "Model_F_x4_4bit_int8.npy"),
          ("srlut-v", "Model_V_x4_0bit_int8.npy")]


def published_luts(scales=(2, 3, 4)) -> list[tuple[str, Lut]]:
    """Every published table that ../shared holds, imported in memory: ``[(label, Lut)]``."""
    out = []
    sr = SHARED / "luts" / "SR-LUT"
    for method, f in _SRLUT:
        if (sr / f).is_file():
            h, t = import_tables(method, [sr / f])
            if h["scale"] in scales:
                out.append((f"SR-LUT {method[-1].upper()} x{h['scale']} (published, imported)", Lut(h, t)))
    mu = sorted((SHARED / "luts" / "MuLUT").glob("*.npy"))
    if len(mu) == 6 and 4 in scales:
        h, t = import_tables("mulut-sdy-x2", mu)
        out.append(("MuLUT SDY-X2 x4 (published, imported)", Lut(h, t)))
    return out


def timings(fn, runs: int) -> tuple[float, float]:
    """(median, best) wall time in seconds of ``runs`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)
