"""Denoising speed and quality: lutsr's shipped LUTs against OpenCV's non-local means, same process.

Usage (repository root, ../shared beside it; run on a quiet machine):

    python tools/bench_restore.py                     # CBSD68 sigma=25, first 10 images
    python tools/bench_restore.py --limit 0           # all 68
    python tools/bench_restore.py --lut other.lut     # also another denoising LUT

Inputs follow ``lutsr eval --task denoise`` (``lutsr.tasks``: noise seeded 0 per image). Per image,
in one process and interleaved: ``cv2.fastNlMeansDenoisingColored`` with its documented defaults
(h = hColor = 3, template 7, search 21; OpenCV limited to ``--threads`` threads) once, then each
LUT ``--repeats`` times (best time; one untimed warm-up per LUT first, which also compiles).
Both get the same uint8 RGB input and allocate a fresh output each call. The LUT rows are what
``lutsr denoise --sigma S`` runs (opponent colour channels; ``--colour rgb``; ``--fast``). PSNR is RGB PSNR over
the whole image. Prints per-method mean PSNR, total seconds and the ratio to OpenCV.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lutsr.datasets import restore_eval_pair  # noqa: E402
from lutsr.evaluate import opencv_nlm  # noqa: E402
from lutsr.lut.file import load_lut  # noqa: E402
from lutsr.metrics import psnr  # noqa: E402
from lutsr.restore import AutoLut, run_runner  # noqa: E402
from lutsr.tasks import Task  # noqa: E402
from tools.common import format_machine, machine_info  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def run(lut, img: np.ndarray, threads: int) -> np.ndarray:
    """What ``lutsr denoise`` does with one decoded image: choose the table(s), run them."""
    runner = lut.pick(img, None)[0] if hasattr(lut, "pick") else lut
    return run_runner(runner, img, threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(SHARED / "bench" / "denoise" / "CBSD68"))
    ap.add_argument("--sigma", type=int, default=25)
    ap.add_argument("--limit", type=int, default=10, help="first N images (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lut", action="append", default=[], help="extra denoising LUT files")
    args = ap.parse_args()

    import cv2
    import numba

    cv2.setNumThreads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    task = Task.denoise(args.sigma)
    luts = [("lutsr denoise", AutoLut("denoise", level=args.sigma)),
            ("lutsr denoise --colour rgb", AutoLut("denoise", level=args.sigma, colour="rgb")),
            ("lutsr denoise --fast", AutoLut("denoise", fast=True, level=args.sigma)),
            ("lutsr denoise --fast --colour rgb", AutoLut("denoise", fast=True, level=args.sigma, colour="rgb"))]
    luts += [(Path(p).stem, load_lut(p)) for p in args.lut]
    files = sorted(Path(args.data).glob("*.png"))[: args.limit or None]
    if not files:
        sys.exit(f"{args.data}: no images")
    rows: dict[str, list[tuple[float, float]]] = {"input": [], "opencv-nlm": []}
    rows.update({name: [] for name, _ in luts})
    first = restore_eval_pair(files[0], task)[0]
    for _, lut in luts:  # warm-up: compile the kernels before anything is timed
        run(lut, first, args.threads)
    for f in files:
        noisy, clean = restore_eval_pair(f, task)
        rows["input"].append((psnr(noisy, clean), 0.0))
        t0 = time.perf_counter()
        out = opencv_nlm(noisy)
        rows["opencv-nlm"].append((psnr(out, clean), time.perf_counter() - t0))
        for name, lut in luts:
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = run(lut, noisy, args.threads)  # choosing the table(s) is part of the time
                best = min(best, time.perf_counter() - t0)
            rows[name].append((psnr(out, clean), best))
    print(f"# {Path(args.data).name} sigma={args.sigma}, {len(files)} images, {args.threads} threads; "
          f"{format_machine(machine_info())}")
    base = sum(t for _, t in rows["opencv-nlm"])
    print(f"{'method':<34} {'PSNR':>7} {'seconds':>8} {'ms/image':>9} {'OpenCV / method':>16}")
    for name, vals in rows.items():
        p = float(np.mean([v for v, _ in vals]))
        t = sum(s for _, s in vals)
        ratio = f"{base / t:.1f}x" if t > 0 else "-"
        print(f"{name:<34} {p:7.3f} {t:8.3f} {1000 * t / len(vals):9.1f} {ratio:>16}")


if __name__ == "__main__":
    main()
