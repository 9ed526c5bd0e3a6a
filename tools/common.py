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
    return out + network_luts(scales)


#: the published LUT networks: label -> (family, folder under ../shared/data/luts)
NETWORKS = {
    "ShiftLUT-S": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s0_int"),
    "ShiftLUT-M": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s1_int"),
    "ShiftLUT-L": ("shiftlut", "ShiftLUT/ShiftLUT_sr_s7_int"),
    "TinyLUT-S": ("tinylut", "TinyLUT"),
    "HKLUT-S": ("hklut", "HKLUT/msb-hdb_lsb-hd_relu_nf64_2x2"),
}


def network_luts(scales=(4,)) -> list[tuple[str, Lut]]:
    """The published LUT networks ../shared holds, imported in memory: ``[(label, Lut)]``."""
    from lutsr.lut.importer import import_network

    out = []
    for label, (family, folder) in NETWORKS.items():
        path = SHARED / "luts" / folder
        if path.is_dir():
            lut = import_network(family, path)
            if lut.scale in scales:
                out.append((f"{label} x{lut.scale} (published, imported)", lut))
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


def machine_info() -> dict:
    """Where a speed figure was measured: CPU model, LLVM's target name and vector features, cache sizes,
    core count, Numba's threading layer (after a parallel kernel ran) and the library versions."""
    import os
    import platform

    import cv2
    import llvmlite
    import llvmlite.binding as llvm
    import numba
    import numpy as np

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    caches = []
    for d in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((d / n).read_text().strip() for n in ("level", "type", "size"))
        except OSError:
            continue
        caches.append(f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''} {size}")
    feats = llvm.get_host_cpu_features()
    vector = sorted(k for k, v in feats.items() if v and k in ("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw",
                                                                "avx512vl", "neon", "sve", "sve2"))
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = f"not started (configured: {numba.config.THREADING_LAYER})"
    return {"cpu": model, "llvm_cpu": llvm.get_host_cpu_name(), "vector_features": vector, "caches": caches,
            "cpus": os.cpu_count(), "machine": platform.machine(), "threading_layer": layer,
            "numba": numba.__version__, "llvmlite": llvmlite.__version__, "numpy": np.__version__,
            "opencv": cv2.__version__, "python": platform.python_version(),
            "NUMBA_CPU_NAME": os.environ.get("NUMBA_CPU_NAME", "")}


def format_machine(info: dict) -> str:
    """One line of ``machine_info()``."""
    return (f"{info['cpu']} ({info['machine']}, LLVM target {info['llvm_cpu']}, {', '.join(info['vector_features'])}; "
            f"{', '.join(info['caches'])}; {info['cpus']} CPUs), Numba {info['numba']} "
            f"(threading layer {info['threading_layer']}), NumPy {info['numpy']}, OpenCV {info['opencv']}, "
            f"Python {info['python']}" + (f", NUMBA_CPU_NAME={info['NUMBA_CPU_NAME']}" if info["NUMBA_CPU_NAME"] else ""))


def interleaved(fn_a, fn_b, runs: int) -> tuple[float, float, float]:
    """Time ``fn_a`` and ``fn_b`` alternately (a, b, a, b ...), as a user's loop calls an upscaler and then
    OpenCV on each image (both allocating fresh outputs, neither with a warm allocator of its own).
    Returns ``(median a, median b, median of the per-pair ratios a/b)`` in seconds."""
    fn_a()
    fn_b()
    ta, tb = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn_a()
        t1 = time.perf_counter()
        fn_b()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return statistics.median(ta), statistics.median(tb), statistics.median(a / b for a, b in zip(ta, tb))


def write_section(doc: Path, name: str, body: str) -> None:
    """Replace the ``<!-- name:begin -->`` ... ``<!-- name:end -->`` section of ``doc`` (append it if absent).

    ``tools/make_results.py`` regenerates the rest of docs/results.md and keeps such sections as they are.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = f"{begin}\n{body.strip()}\n\n{end}"
    old = doc.read_text() if doc.exists() else ""
    if begin in old and end in old:
        new = old[: old.index(begin)] + text + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(new)
