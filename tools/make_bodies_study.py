"""The unit-body study (issue: richer unit networks): one ECLUT x4 training budget per body, on a CPU.

Usage (from the repository root, with ../shared beside it and torch installed):

    python tools/make_bodies_study.py                       # trains what is missing, writes docs/results.md
    python tools/make_bodies_study.py --runs DIR --iterations 1000 --print

For each body (``lutsr train --body``: mlp, dense, pa, xunit) it trains ``lutsr train --arch eclut
--scale 4`` with the same schedule (the shipped one's batch 32, patch 24, lr 1e-3, seed 0; the
iterations are the budget), exports at interval 0, scores Set5 / Set14 / B100 (Y-PSNR, the
published protocol) and reads parameters, MACs and training memory per pixel from ``lutsr info``.
A run folder that already holds a finished run with the same options is reused. The
section "Unit bodies" of docs/results.md is rewritten; the rest is left as it is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from common import SHARED, write_section  # noqa: E402

BODIES = ("mlp", "dense", "pa", "xunit")


def _run(args: list[str]) -> None:
    print("+ lutsr " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "lutsr", "-q", *args], check=True)


def _finished(run: Path, iterations: int) -> float | None:
    """Training seconds of a finished run of ``iterations`` (from its metrics), else None."""
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return None
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "loss" in r]
    if not steps or steps[-1]["iteration"] < iterations:
        return None
    return float(steps[-1]["time"] - steps[0]["time"]) * iterations / max(1, iterations - steps[0]["iteration"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "bodies")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--print", action="store_true", help="print the section, do not touch docs/results.md")
    args = ap.parse_args()
    from lutsr.evaluate import evaluate, summarize
    from lutsr.lut.file import load_lut
    from lutsr.train.accounting import checkpoint_info

    rows = []
    for body in BODIES:
        run = args.runs / body
        seconds = _finished(run, args.iterations)
        if seconds is None:
            t0 = time.perf_counter()
            _run(["train", "--arch", "eclut", "--body", body, "--scale", "4", "--data", str(SHARED / "train"),
                  "--val", str(SHARED / "bench/Set5/HR"), "--out", str(run), "--iterations", str(args.iterations),
                  "--batch-size", "32", "--patch-size", "24", "--lr", "1e-3", "--seed", "0",
                  "--checkpoint-every", "500", "--val-every", "500", "--log-every", "100", "--device", "cpu",
                  "--threads", str(args.threads)])
            seconds = time.perf_counter() - t0
        lut_path = args.runs / f"{body}.lut"
        if not lut_path.is_file():
            _run(["export", str(run), "--interval", "0", "-o", str(lut_path), "--overwrite"])
        info = checkpoint_info(run)
        res = evaluate([load_lut(lut_path)], [SHARED / "bench" / d for d in ("Set5", "Set14", "B100")],
                       baseline=False, labels=[body])
        psnr = {m["dataset"]: m["psnr"] for m in summarize(res.scores)}
        rows.append((body, psnr, info, seconds))
        print(f"{body}: {psnr}", file=sys.stderr, flush=True)
    lines = [
        "## Unit bodies: what a LUT unit can hold",
        "",
        f"`python tools/make_bodies_study.py --iterations {args.iterations}`: `lutsr train --arch eclut --scale 4 "
        f"--body NAME`, {args.iterations} iterations of the shipped schedule (batch 32, LR patch 24, Adam 1e-3 "
        "cosine, seed 0; the shipped `eclut_x4` had 5000 and a least-squares fine-tune), this project's 2-core CPU, "
        f"{args.threads} torch threads; exported at interval 0 (257×257 rows, the same LUT size for every body: "
        "the body is compiled away). Y-PSNR with the published protocol. Parameters, MACs (the 1×1 convolutions) "
        "and the bytes autograd keeps for backward (measured with saved-tensor hooks) per LR pixel, all four "
        "rotations, from `lutsr info RUN`.",
        "",
        "| body | Set5 | Set14 | B100 | parameters | MACs / LR px | training memory / LR px (fwd, bwd peak) | "
        "training time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for body, psnr, info, seconds in rows:
        lines.append(f"| `{body}` | {psnr.get('Set5', float('nan')):.3f} | {psnr.get('Set14', float('nan')):.3f} | "
                     f"{psnr.get('B100', float('nan')):.3f} | {info['parameters']:,} | {info['macs_per_lr_pixel']:,} | "
                     f"{info['training_forward_bytes_per_lr_pixel'] / 1024:.1f} KiB, "
                     f"{info['training_backward_peak_bytes_per_lr_pixel'] / 1024:.1f} KiB | {seconds / 60:.1f} min |")
    text = "\n".join(lines)
    if args.print:
        print(text)
        return
    doc = REPO / "docs" / "results.md"
    write_section(doc, "bodies", text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
