"""Measure beading and grain of every shipped upscaling LUT (and the published ones ../shared holds).

Usage (from the repository root):

    python tools/make_artefacts.py              # rewrites the "Artefacts" section of docs/results.md
    python tools/make_artefacts.py --print      # prints the section only
    python tools/make_artefacts.py --json F     # also writes every figure (per angle) to F

The scenes and the measures are ``lutsr.artefacts`` (its docstring says what each figure
means): synthetic antialiased edges and 1.5 px lines at 0°..90°, flat areas with slight noise,
a zone plate; LR by the MATLAB-compatible bicubic downscale. Runs in about a minute on two
cores (plus the first compile of each kernel); needs no ../shared for the shipped LUTs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from lutsr.artefacts import measure_artefacts  # noqa: E402
from lutsr.evaluate import bicubic_upscale  # noqa: E402
from lutsr.lut.file import load_lut  # noqa: E402
from lutsr.lut.shipped import SHIPPED_FAMILIES  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402
from common import write_section  # noqa: E402

def candidates(scales, published: bool):
    """``[(label, scale, upscaler)]``: baselines, shipped LUTs, then published ones."""
    out = []
    for s in scales:
        out.append((f"nearest x{s}", s, lambda x, s=s: np.repeat(np.repeat(x, s, 0), s, 1)))
        out.append((f"MATLAB bicubic x{s}", s, lambda x, s=s: bicubic_upscale(x, s)))
        out.append((f"OpenCV bicubic x{s}", s,
                    lambda x, s=s: cv2.resize(x, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)))
        for family in SHIPPED_FAMILIES:
            path = REPO / "luts" / f"{family}_x{s}.lut"
            if path.is_file():
                lut = load_lut(path)
                out.append((f"`{family}_x{s}` (shipped)", s, lambda x, lut=lut: upscale(x, lut)))
    if published:
        try:
            from common import published_luts  # noqa: E402 - imports ../shared's importers lazily
        except Exception as e:  # noqa: BLE001 - ../shared absent or unreadable: shipped LUTs only
            print(f"published LUTs skipped: {e}", file=sys.stderr)
            return out
        for label, lut in published_luts(tuple(scales)):
            out.append((label, lut.scale, lambda x, lut=lut: upscale(x, lut)))
    return sorted(out, key=lambda c: c[1])  # by scale, in the order above within a scale


def section(rows) -> str:
    lines = [
        "## Artefacts: beading along edges, grain on flat areas",
        "",
        "`python tools/make_artefacts.py` (`lutsr.artefacts`): synthetic scenes whose truth is exact, LR by the "
        "MATLAB-compatible bicubic downscale, one channel. **Along-edge error**: RMS (gray levels) of the error "
        "about the best function of the distance to a straight antialiased edge alone (bright 220 on dark 40, "
        "13 angles 0°..90°, within 6 px of the edge); zero for a shift-invariant upscaler, raised by beads that "
        "repeat with the LR grid, jaggies and ringing that varies along the edge. **Lines**: the same for a 1.5 px bright line. **Grain**: output "
        "standard deviation on flat areas (levels 32/128/224, white noise σ = 2 at HR, which the downscale "
        "reduces to about half a gray level; HR: 2.0); *added* = sqrt(var(out) − var(MATLAB bicubic)). "
        "**Zone plate**: PSNR against the HR of a zone plate up to the LR grid's Nyquist frequency.",
        "",
        "| upscaler | edges: along-edge error, mean / worst angle | lines: along-line error, mean / worst | "
        "grain (added) | zone plate PSNR |",
        "|---|---|---|---|---|",
    ]
    for label, sm in rows:
        lines.append(f"| {label} | {sm['edge_along_mean']:.2f} / {sm['edge_along_max']:.2f} | "
                     f"{sm['line_along_mean']:.2f} / {sm['line_along_max']:.2f} | "
                     f"{sm['grain']:.2f} ({sm['added_grain']:.2f}) | {sm['zone_psnr']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="2,3,4")
    ap.add_argument("--no-published", action="store_true", help="shipped LUTs and baselines only")
    ap.add_argument("--print", action="store_true", help="print the section, do not touch docs/results.md")
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    args = ap.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    rows, full = [], {}
    for label, s, fn in candidates(scales, not args.no_published):
        report = measure_artefacts(fn, s)
        rows.append((label, report.summary()))
        full[label] = report.to_json()
        print(f"{label}: edges {rows[-1][1]['edge_along_mean']:.2f}, grain {rows[-1][1]['grain']:.2f}",
              file=sys.stderr, flush=True)
    text = section(rows)
    if args.json:
        args.json.write_text(json.dumps(full, indent=1))
    if args.print:
        print(text)
        return
    doc = REPO / "docs" / "results.md"
    write_section(doc, "artefacts", text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
