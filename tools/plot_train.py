"""Plot a training run's metrics (``RUN/metrics.jsonl`` written by ``lutsr train``).

Usage: python tools/plot_train.py runs/eclut_x4 [-o runs/eclut_x4/metrics.png]

Draws the smoothed training loss as PSNR (dB) and the validation Y-PSNR against the
iteration. Needs matplotlib (``pip install '.[docs]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(run: Path) -> list[dict]:
    """The records of ``run/metrics.jsonl`` (one JSON object per line)."""
    f = run / "metrics.jsonl" if run.is_dir() else run
    if not f.is_file():
        sys.exit(f"{f}: no metrics file (written by lutsr train)")
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run folder (or its metrics.jsonl)")
    ap.add_argument("-o", "--out", type=Path, default=None, help="PNG to write (default RUN/metrics.png)")
    args = ap.parse_args()
    recs = load(args.run)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("matplotlib is not installed: pip install '.[docs]'")
    train = [(r["iteration"], r["psnr_train"]) for r in recs if "psnr_train" in r]
    val = [(r["iteration"], r["val_psnr"]) for r in recs if "val_psnr" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="training (smoothed loss as PSNR, all channels)", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation Y-PSNR", ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("dB")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = args.out or ((args.run if args.run.is_dir() else args.run.parent) / "metrics.png")
    fig.savefig(out)
    print(f"wrote {out} ({len(train)} training and {len(val)} validation points)")


if __name__ == "__main__":
    main()
