"""Dask benchmark: one fit pass local vs a LocalCluster, files per second, the per-task overhead.

Usage (repository root, ``pip install ".[dask]"``, ../shared beside it for the images):

    python tools/bench_distributed.py                          # defaults below
    python tools/bench_distributed.py --fit-images 8 --files 50  # smaller
    python tools/bench_distributed.py --skip-fit                 # batch upscaling only

1. Fit pass: ``LinearLut(--method, --scale, --interval)`` on the first ``--fit-images`` of
   ``--data`` (default ../shared/data/train/T91). A warm-up first pass (``A^T b``: reads and
   prepares the images, compiles the kernels; on Dask in every worker) is timed apart, then
   ``--repeat`` passes ``A^T A v`` with a random ``v``, local and Dask interleaved: :class:`lutsr.fit.passes.LocalPasses`
   in this process against ``lutsr.fit.distributed.DaskPasses`` on ``local:--workers``
   (what ``lutsr fit`` and ``lutsr fit --dask local:N`` run). The two results must be
   bit-identical (checked).
2. Files per second: ``--files`` PNG crops of ``--size`` x ``--size`` (from a B100 photo, or a
   synthetic picture without ../shared), upscaled x4 with the shipped default LUT: the CLI's
   folder loop (``lutsr.batch.process_file`` per file, Numba threads ``-j`` = all cores and 1)
   against ``lutsr.distributed.map_files`` on the same cluster (what ``lutsr upscale IN OUT
   --dask`` runs), each into a fresh folder, after a warm-up batch (LUT loaded, kernels
   compiled in every worker).
3. Per-task overhead: the same with ``--files`` 1x1 images, and ``--files`` no-op Dask tasks.

Cluster start-up is timed apart and left out of the rates. On a shared or small machine the
figures are noisy; they say what the scheduler costs, not what a real cluster gains.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

SHARED = REPO.parent / "shared" / "data"


def _noop(i):
    return i


def _images(folder: Path, n: int, size: int) -> list[Path]:
    """``n`` PNG crops ``size`` x ``size`` (RGB), cut from a real photo when ../shared has one."""
    import cv2

    from lutsr.imageio import read_image

    src = SHARED / "bench" / "B100" / "HR" / "img_001.png"
    if src.is_file():
        photo = read_image(src)[..., :3]
    else:
        yy, xx = np.mgrid[0:320, 0:480]
        photo = np.stack([(xx * 255 // 479), (yy * 255 // 319), ((xx // 40 + yy // 40) % 2) * 200], -1).astype(np.uint8)
    h, w = photo.shape[:2]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    out = []
    for k in range(n):
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        p = folder / f"c{k:04}.png"
        cv2.imwrite(str(p), np.ascontiguousarray(photo[y:y + size, x:x + size, ::-1]))
        out.append(p)
    return out


def bench_fit(args, client) -> list[str]:
    import numba

    from lutsr.fit import LinearLut, TrainingSet
    from lutsr.fit.distributed import DaskPasses
    from lutsr.fit.passes import PARTITION_ITEMS, LocalPasses

    op = LinearLut(args.method, args.scale, args.interval)
    data = TrainingSet(args.data, args.scale, limit=args.fit_images)
    nt = numba.get_num_threads()
    vec = np.random.default_rng(0).standard_normal(op.size)
    lines = [f"fit pass: {op.method.name} x{op.scale} interval {op.interval}, {op.size} cells "
             f"({op.size * 8 / 2**20:.1f} MiB float64 per vector), first {len(data.files)} images of {args.data} "
             f"({-(-len(data.files) // PARTITION_ITEMS)} partitions of {PARTITION_ITEMS}), {nt} Numba threads"]
    sides = {"local": LocalPasses(op, data, nt), f"dask local:{args.workers}": DaskPasses(client, op, data, nt)}
    res, times = {}, {name: [] for name in sides}
    for name, passes in sides.items():
        t = time.perf_counter()
        passes.first()
        lines.append(f"  {name:>14}: first pass (reads images, compiles) {time.perf_counter() - t:.2f} s")
    for _ in range(args.repeat):  # interleaved: a shared machine's load hits both sides alike
        for name, passes in sides.items():
            t = time.perf_counter()
            res[name] = passes.ata(vec)
            times[name].append(time.perf_counter() - t)
    for name, ts in times.items():
        lines.append(f"  {name:>14}: A^T A v pass " + ", ".join(f"{x:.2f}" for x in ts) + f" s (best {min(ts):.2f})")
    a, b = res.values()
    lines.append(f"  bit-identical: {np.array_equal(a, b)}")
    return lines


def bench_files(args, client, tmp: Path) -> list[str]:
    from lutsr.batch import process_file
    from lutsr.distributed import map_files
    from lutsr.lut.shipped import resolve_lut

    lut = resolve_lut(None, 4)
    lines = []
    warm_in = _images(tmp / "warm", 4 * args.workers, 8)
    for k, s in enumerate(warm_in[:2]):  # compile here, load + compile in every worker
        process_file(s, tmp / "warm_out" / f"l{k}.png", lut, threads=1)
        process_file(s, tmp / "warm_out" / f"m{k}.png", lut)
    list(map_files(client, [(s, tmp / "warm_out" / f"d{k}.png") for k, s in enumerate(warm_in)], lut))
    for size in (args.size, 1):
        srcs = _images(tmp / f"in{size}", args.files, size)
        row = []
        for name, run in (("local -j all", lambda plan: [process_file(s, d, lut) for s, d in plan]),
                          ("local -j 1", lambda plan: [process_file(s, d, lut, threads=1) for s, d in plan]),
                          (f"dask local:{args.workers} -j 1", lambda plan: list(map_files(client, plan, lut)))):
            out = tmp / f"out{size}_{len(row)}"
            plan = [(s, out / s.name) for s in srcs]
            t = time.perf_counter()
            results = run(plan)
            dt = time.perf_counter() - t
            statuses = [r[1].status if isinstance(r, tuple) else r.status for r in results]
            assert statuses.count("written") == len(plan), statuses
            row.append(f"{name} {len(plan) / dt:.0f} files/s ({dt / len(plan) * 1e3:.1f} ms/file)")
        lines.append(f"{args.files} PNG {size}x{size} -> x4: " + "; ".join(row))
        shutil.rmtree(tmp / f"in{size}")
    t = time.perf_counter()
    client.gather([client.submit(_noop, i, pure=False) for i in range(args.files)])
    dt = time.perf_counter() - t
    lines.append(f"{args.files} no-op Dask tasks: {dt / args.files * 1e3:.2f} ms/task")
    task = (str(tmp / "in" / "c0000.png"), str(tmp / "out" / "c0000.png"), "0" * 64,
            {"threads": 1, "max_pixels": None, "budget": -1, "outscale": None, "overwrite": False,
             "skip_existing": False})
    lines.append(f"per file task: arguments {len(pickle.dumps(task))} B pickled (+ the LUT's key), "
                 f"result {len(pickle.dumps(('written', '')))} B; the LUT ({Path(lut.path).stat().st_size} B) "
                 "once per worker")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    ap.add_argument("--data", type=Path, default=SHARED / "train" / "T91")
    ap.add_argument("--fit-images", type=int, default=16)
    ap.add_argument("--method", default="eclut-sdy")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--interval", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2, help="timed A^T A v passes per side")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--skip-files", action="store_true")
    args = ap.parse_args()

    from common import format_machine, machine_info
    from lutsr.fit.distributed import connect

    print("command: python tools/bench_distributed.py " + " ".join(sys.argv[1:]))
    print(format_machine(machine_info()))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    client, cluster = connect(f"local:{args.workers}")
    print(f"LocalCluster of {args.workers} processes started in {time.perf_counter() - t:.1f} s")
    try:
        if not args.skip_fit:
            print("\n".join(bench_fit(args, client)))
        if not args.skip_files:
            with tempfile.TemporaryDirectory() as tmp:
                print("\n".join(bench_files(args, client, Path(tmp))))
    finally:
        client.close()
        cluster.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
