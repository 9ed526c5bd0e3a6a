"""Folder throughput: ``lutsr upscale IN_FOLDER OUT -j N`` for several N, files per second.

Usage (repository root; ../shared for real photos, else synthetic pictures; nothing else running):

    python tools/bench_folders.py                   # 12 B100 photos (481x321 -> 1924x1284 PNG)
    python tools/bench_folders.py --files 24 --jobs 1 2 3 4 --png-compression 1

Each run is a fresh ``python -m lutsr`` process on the same folder into an empty output folder
(kernels already compiled: one warm-up run first), timed by the command's own summary line (which
leaves out interpreter start-up); the outputs of every ``-j`` are checked to be the same bytes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import numpy as np  # noqa: E402

from common import SHARED, format_machine, machine_info  # noqa: E402
from lutsr.imageio import read_image, write_image  # noqa: E402


def _inputs(folder: Path, n: int) -> None:
    files = sorted((SHARED / "bench" / "B100" / "HR").glob("*.png"))
    for i in range(n):
        if files:
            img = read_image(files[i % len(files)])
        else:
            yy, xx = np.mgrid[0:321, 0:481]
            img = np.stack([(xx * 0.5 + i) % 256, (yy * 0.8) % 256, ((xx // 40 + yy // 40) % 2) * 200], -1)
            img = img.astype(np.uint8)
        write_image(folder / f"p{i:03d}.png", img)


def _run(src: Path, dst: Path, jobs: int, extra: list[str]) -> float:
    r = subprocess.run([sys.executable, "-m", "lutsr", "upscale", str(src), str(dst), "-j", str(jobs), *extra],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    m = re.search(r"in ([0-9.]+)s ->", r.stderr)
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--lut", default=None)
    ap.add_argument("--png-compression", type=int, default=None)
    a = ap.parse_args()
    extra = (["-n", a.lut] if a.lut else []) + (["--png-compression", str(a.png_compression)]
                                                 if a.png_compression is not None else [])
    print(format_machine(machine_info()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        src.mkdir()
        _inputs(src, a.files)
        _run(src, tmp / "warm", 1, extra + ["--overwrite"])
        ref = None
        base = None
        for j in a.jobs:
            out = tmp / f"out{j}"
            dt = _run(src, out, j, extra)
            got = {p.name: p.read_bytes() for p in out.iterdir()}
            ref = ref or got
            assert got == ref, f"-j {j} wrote different bytes"
            base = base or dt
            print(f"-j {j}: {a.files / dt:6.2f} files/s ({dt:.2f} s for {a.files} files, {base / dt:.2f}x -j {a.jobs[0]})")


if __name__ == "__main__":
    main()
