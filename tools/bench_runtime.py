"""Runtime benchmark: lutsr.upscale against OpenCV bicubic and the NumPy reference.

Usage (repository root, ../shared beside it for the photos and published tables):

    python tools/bench_runtime.py                 # all cases, all methods
    python tools/bench_runtime.py --quick         # 720p RGB only, fewer runs
    python tools/bench_runtime.py --threads 1
    python tools/bench_runtime.py --quick --only eclut --only MuLUT   # some LUTs only

For each case (x4 to 1280x720 RGB, to 3840x2160 RGB, and a 1280x720 grayscale) and each
LUT (the shipped default, plus every published table that ../shared holds, imported in
memory) it reports the median wall time over repeated runs, the ratio to
``cv2.resize(..., INTER_CUBIC)`` measured in the same process on the same input, the ratio
to the NumPy reference (``lutsr.runtime.reference``, measured once, on the 720p case only), and the
thread count; "best" is the ratio of the fastest runs (less sensitive to a noisy machine).
It also measures the first call in a fresh process (import + load the LUT
+ upscale, with Numba's on-disk cache warm). Inputs are real photos (B100) resized with
INTER_AREA, not noise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import numba  # noqa: E402

from lutsr.imageio import read_image  # noqa: E402
from lutsr.lut.file import Lut, load_lut  # noqa: E402
from lutsr.lut.shipped import DEFAULT_FAMILY, SHIPPED_FAMILIES, default_lut_path  # noqa: E402
from lutsr.runtime.reference import upscale_reference  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402
from common import SHARED, format_machine, interleaved, machine_info, published_luts, timings  # noqa: E402


def photo(w: int, h: int, gray: bool = False) -> np.ndarray:
    src = SHARED / "bench" / "B100" / "HR" / "img_001.png"
    if src.is_file():
        img = read_image(src)[..., :3]
    else:  # no ../shared: a synthetic but structured picture (gradients and edges), not noise
        yy, xx = np.mgrid[0:320, 0:480]
        img = np.stack([(xx * 0.5) % 256, (yy * 0.8) % 256, ((xx // 40 + yy // 40) % 2) * 200], -1).astype(np.uint8)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gray else img


def photo_tiles(w: int, h: int, n: int = 8) -> list[np.ndarray]:
    """``n`` w x h RGB tiles cut from different B100 photos (INTER_AREA to half size first), or synthetic tiles."""
    files = sorted((SHARED / "bench" / "B100" / "HR").glob("*.png"))[:n]
    tiles = []
    for i, f in enumerate(files):
        img = read_image(f)[..., :3]
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if img.shape[0] >= h and img.shape[1] >= w:
            tiles.append(np.ascontiguousarray(img[:h, :w]))
    return tiles or [photo(w, h)]


def luts() -> list[tuple[str, Lut]]:
    return [(f"default ({DEFAULT_FAMILY} x4)", load_lut(default_lut_path(4)))] + [
        (f"{family} x4 (shipped)", load_lut(default_lut_path(4, family))) for family in SHIPPED_FAMILIES[1:]] + [
        (label.split(" (")[0], lut) for label, lut in published_luts(scales=(4,))]


def first_call() -> float:
    code = ("import time; t0 = time.perf_counter(); import numpy as np, lutsr; "
            "from lutsr.runtime import resolve_lut; lut = resolve_lut(None); "
            "lutsr.upscale(np.zeros((180, 320, 3), np.uint8), lut); print(time.perf_counter() - t0)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm the cache
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(r.stdout.strip())


def peak_memory_8k() -> tuple[float, float, float, float]:
    """Peak memory of an 8K upscale (1920x1080 -> 7680x4320 RGB, default LUT) in a fresh process.

    Returns MiB: (memory used = input + compiled table + peak RSS growth during the upscale,
    input + output images, compiled table, budget = (images + table) * 1.2). The baseline RSS
    is taken after the LUT is compiled and the input exists, and the kernel's peak RSS (VmHWM)
    is reset there, so the growth is the output plus every temporary of the upscale (Linux).
    """
    code = (
        "import numpy as np, lutsr\n"
        "from lutsr.runtime import resolve_lut\n"
        "from lutsr.info import lut_info\n"
        "lut = resolve_lut(None); lutsr.upscale(np.zeros((8, 8, 3), np.uint8), lut)\n"
        "img = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)\n"
        "kib = lambda key: int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]) * 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS\n"
        "base = kib('VmRSS')\n"
        "out = lutsr.upscale(img, lut)\n"
        "print(kib('VmHWM') - base, img.nbytes + out.nbytes, lut_info(lut)['bytes_compiled'])\n")
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    grow, images, table = (int(v) / 2**20 for v in r.stdout.split())
    return images / 17 + table + grow, images, table, 1.2 * (images + table)  # input = 1/17 of in + out at x4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--only", action="append", default=None, metavar="TEXT",
                    help="only LUTs whose label contains TEXT (repeat), e.g. --only eclut --only MuLUT")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    runs = 3 if args.quick else 15
    cases = [("720p RGB (320x180 -> 1280x720)", [photo(320, 180)])]
    if not args.quick:
        cases += [("4K RGB (960x540 -> 3840x2160)", [photo(960, 540)]),
                  ("720p gray (320x180 -> 1280x720)", [photo(320, 180, gray=True)]),
                  ("720p RGB, 8 photo tiles in turn", photo_tiles(320, 180))]
    print(f"lutsr runtime benchmark: {threads} threads, median of {runs} runs")
    print(f"{'case':34} {'LUT':22} {'lutsr ms':>9} {'cv2 ms':>8} {'x cv2 sep':>10} {'best sep':>9} "
          f"{'lutsr ms':>9} {'cv2 ms':>8} {'x cv2 intl':>11} {'x numpy ref':>12}")
    for case, imgs in cases:
        for name, lut in luts():
            if args.only and not any(t in name for t in args.only):
                continue
            s = lut.scale
            turn = [0]

            def nxt():
                turn[0] += 1
                return imgs[turn[0] % len(imgs)]

            def run_cv(img=None):
                img = imgs[turn[0] % len(imgs)] if img is None else img
                return cv2.resize(img, (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)

            t_cv, b_cv = timings(lambda: run_cv(nxt()), runs * len(imgs))
            t_lut, b_lut = timings(lambda: upscale(nxt(), lut, threads=threads), runs * len(imgs))
            i_lut, i_cv, i_ratio = interleaved(lambda: upscale(nxt(), lut, threads=threads), run_cv,
                                               runs * len(imgs))
            ref = ""
            if case.startswith("720p RGB ("):
                t0 = time.perf_counter()
                upscale_reference(imgs[0], lut)
                ref = f"{(time.perf_counter() - t0) / t_lut:.0f}x faster"
            print(f"{case:34} {name:22} {t_lut * 1000:9.1f} {t_cv * 1000:8.2f} {t_lut / t_cv:10.1f} "
                  f"{b_lut / b_cv:9.1f} {i_lut * 1000:9.1f} {i_cv * 1000:8.2f} {i_ratio:11.1f} {ref:>12}")
    print(f"first call in a fresh process (import + load default LUT + 320x180 RGB upscale, warm cache): "
          f"{first_call():.2f} s")
    if not args.quick and sys.platform.startswith("linux"):
        used, images, table, budget = peak_memory_8k()
        print(f"8K output (1920x1080 -> 7680x4320 RGB, default LUT): peak memory {used:.0f} MiB (input + compiled "
              f"table + peak growth); input + output {images:.0f} MiB, compiled table {table:.0f} MiB, "
              f"budget (+20%) {budget:.0f} MiB")
    print(f"machine: {format_machine(machine_info())}")


if __name__ == "__main__":
    main()
