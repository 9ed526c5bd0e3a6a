"""Cold-start benchmark: the first ``lutsr upscale`` of the bundled sample in a fresh cache folder.

Usage (repository root; nothing else should be running):

    python tools/bench_cold_start.py            # the default LUT
    python tools/bench_cold_start.py --lut eclut-sdy

Each row is one fresh process (``python -m lutsr upscale``), timed end to end (interpreter start,
imports, LUT load, compile or not, upscale, PNG encode), with ``LUTSR_CACHE_DIR`` pointing at a new
empty folder:

* ``first run (default)``: the kernels are not compiled, so the sample runs on the NumPy reference
  and ``lutsr warmup`` compiles them in a background process (the row waits for it to finish and
  reports how long that took, but the command itself returned after the first figure);
* ``first run, LUTSR_FIRST_RUN=compile``: the kernels compile in the foreground (the old behaviour,
  and what a large first image gets);
* ``second run``: the cache is warm.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(args, env) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lutsr", *args], env=env, capture_output=True, text=True, cwd=REPO)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"lutsr {' '.join(args)} failed:\n{r.stderr}")
    return dt, r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""


def _wait_background(cache: Path, timeout: float = 600) -> float:
    """Seconds until no ``lutsr ... warmup`` process of this cache folder is left."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if not any("lutsr -q warmup" in line for line in out.splitlines()):
            return time.perf_counter() - t
        time.sleep(0.25)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lut", default=None, help="LUT file or shipped family (default: the shipped default)")
    a = ap.parse_args()
    lut = ["-n", a.lut] if a.lut else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sample = tmp / "sample.png"
        subprocess.run([sys.executable, "-m", "lutsr", "sample", str(sample)], check=True, capture_output=True)
        rows = []
        for label, mode in (("first run (default)", "auto"), ("first run, LUTSR_FIRST_RUN=compile", "compile")):
            cache = tmp / f"cache-{mode}"
            env = {**os.environ, "LUTSR_CACHE_DIR": str(cache), "LUTSR_FIRST_RUN": mode}
            env.pop("NUMBA_CACHE_DIR", None)
            dt, msg = _run(["upscale", str(sample), str(tmp / f"out-{mode}.png"), *lut, "--overwrite"], env)
            if mode == "auto":
                bg = _wait_background(cache)
                rows.append((label, dt, f"[background compile finished {bg:.1f} s later] " + msg))
                dt2, _ = _run(["upscale", str(sample), str(tmp / "out-2.png"), *lut, "--overwrite"], env)
                rows.append(("second run (after the background compile)", dt2, ""))
            else:
                rows.append((label, dt, msg))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; sample 160x120 RGB x4")
        for label, dt, msg in rows:
            print(f"{label:45s} {dt:6.2f} s  {msg[:110]}")


if __name__ == "__main__":
    main()
