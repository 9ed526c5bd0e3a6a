"""Regenerate docs/results.md: quality, size and speed of every shipped and importable LUT.

Usage (from the repository root, with ../shared beside it):

    python tools/make_results.py                # writes docs/results.md
    python tools/make_results.py --quick        # Set5 only, fewer timing runs (for a look)

Quality: Set5, Set14 and B100 HR (modcropped), LR by the MATLAB-compatible bicubic downscale
("double" variant, the one SR-LUT's published inputs use), Y-PSNR / Y-SSIM with a border
crop of the scale (docs: lut-methods.md section 5). Speed: median wall time of lutsr.upscale
on a 320x180 RGB photo crop, divided by the median of cv2.resize(INTER_CUBIC) on the same
input in the same process (both after a warm-up call). CI does not run this.
"""

from __future__ import annotations

import argparse
import re
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from lutsr.evaluate import evaluate, summarize  # noqa: E402
from lutsr.imageio import read_image  # noqa: E402
from lutsr.imresize import modcrop  # noqa: E402
from lutsr.lut.importer import import_tables  # noqa: E402
from lutsr.lut.file import Lut, load_lut  # noqa: E402
from lutsr.metrics import y_psnr, y_ssim  # noqa: E402
from lutsr.lut.coarsen import coarsen  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402
from common import SHARED, published_luts, timings  # noqa: E402

SET5 = ["baby", "bird", "butterfly", "head", "woman"]


def speed_input() -> np.ndarray:
    img = read_image(SHARED / "bench" / "B100" / "HR" / "img_001.png")[..., :3]
    return cv2.resize(img, (320, 180), interpolation=cv2.INTER_AREA)


def set5_on(lut: Lut, lr_dir: Path, scale: int, suffix: str = "", ssim_border: int | None = None):
    ps, ss = [], []
    for n in SET5:
        lr = read_image(lr_dir / f"{n}{suffix}.png")
        hr = modcrop(read_image(SHARED / "bench/Set5/HR" / f"{n}.png"), scale)
        sr = upscale(lr, lut)[: hr.shape[0], : hr.shape[1]]
        ps.append(y_psnr(sr, hr, scale))
        ss.append(y_ssim(sr, hr, scale if ssim_border is None else ssim_border))
    return float(np.mean(ps)), float(np.mean(ss))


def quality_speed_size(points, dataset: str, out: Path) -> Path | None:
    """Scatter quality vs speed vs size (one point per LUT) into ``out``; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib absent (pip install '.[docs]'): no quality/speed/size plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    colours = {2: "tab:blue", 3: "tab:orange", 4: "tab:green"}
    for label, scale, p, t, kib in points:
        ax.scatter(t, p, s=20 + kib / 15, color=colours.get(scale, "gray"), alpha=0.7, edgecolors="black")
        ax.annotate(label.replace(" (published, imported)", " (pub.)").replace("lutsr ", ""), (t, p),
                    fontsize=7, xytext=(4, 3), textcoords="offset points")
    for s, c in colours.items():
        ax.scatter([], [], color=c, label=f"x{s}")
    ax.set_xscale("log")
    ax.set_xlabel("time relative to OpenCV bicubic (log)")
    ax.set_ylabel(f"{dataset} Y-PSNR (dB)")
    ax.set_title("quality vs speed; marker area ~ file size")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results.md")
    ap.add_argument("--extra-lut", type=Path, action="append", default=[], help="also evaluate this LUT file")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: the benchmarks live there")
    datasets = [SHARED / "bench" / d for d in (["Set5"] if args.quick else ["Set5", "Set14", "B100"])]
    runs = 3 if args.quick else 11

    # upscalers only: the x1 restoration tables (denoise_*, deblock_*) have their own benchmarks
    # (docs/restore.md, tools/make_restore_results.py)
    shipped = [(f"lutsr {p.stem} (shipped)", lut) for p in sorted((REPO / "luts").glob("*.lut"))
               if (lut := load_lut(p)).scale > 1]
    shipped += [(f"{p.stem} (extra)", load_lut(p)) for p in args.extra_lut]
    entries = shipped + published_luts()
    x = speed_input()
    lines = []
    t_start = time.perf_counter()

    # ---------------------------------------------------------------- main table
    rows = []
    points = []  # (label, scale, PSNR on the first dataset, time ratio, KiB)
    bicubic_done = set()
    for label, lut in entries:
        res = evaluate([lut], datasets, baseline=lut.scale not in bicubic_done, repeats=1)
        if res.failures:
            raise SystemExit(f"failures: {res.failures}")
        means = {(m["dataset"], m["method"]): m for m in summarize(res.scores)}
        lut_label = lut.path.stem if lut.path else f"{lut.header['method']}_x{lut.scale}"
        t_cv = timings(lambda: cv2.resize(x, (x.shape[1] * lut.scale, x.shape[0] * lut.scale),
                                          interpolation=cv2.INTER_CUBIC), runs)[0]
        t_lut = timings(lambda: upscale(x, lut), runs)[0]
        size = sum(t.nbytes for t in lut.tables)
        disk = lut.path.stat().st_size if lut.path else None
        if lut.scale not in bicubic_done:
            bicubic_done.add(lut.scale)
            cells = [f"{means[(d.name, 'bicubic')]['psnr']:.2f} / {means[(d.name, 'bicubic')]['ssim']:.4f}" for d in datasets]
            rows.append([f"bicubic (MATLAB) x{lut.scale}", *cells, "-", "-", "-"])
        cells = [f"{means[(d.name, lut_label)]['psnr']:.2f} / {means[(d.name, lut_label)]['ssim']:.4f}" for d in datasets]
        points.append((label, lut.scale, means[(datasets[0].name, lut_label)]["psnr"], t_lut / t_cv, (disk or size) / 1024))
        kind = "LUT network" if lut.is_network else f"interval {lut.interval}"
        rows.append([f"{label}, {kind}", *cells, f"{size / 1024:.0f} KiB",
                     f"{disk / 1024:.0f} KiB" if disk else "-", f"{t_lut / t_cv:.1f}x"])
    head = ["LUT", *[f"{d.name} PSNR / SSIM" for d in datasets], "tables in memory", "file", "time vs cv2 bicubic"]
    lines += ["## Quality, size and speed", "",
              "Y-PSNR (dB) / Y-SSIM; LR made with MATLAB-compatible bicubic (`double` variant) from the "
              "modcropped HR; border crop = scale; a one-channel image (Set14 `bridge`) scored as R=G=B with "
              "BT.601 Y (BasicSR's convention, `lutsr eval`'s default; see the next section). Speed: median of "
              f"{runs} runs, 320x180 RGB input ({x.shape[1]}x{x.shape[0]} crop of B100 img_001), "
              f"{os.cpu_count()} threads, ratio to `cv2.resize(INTER_CUBIC)` on the same input in the same process.",
              "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]

    plot = quality_speed_size(points, datasets[0].name, REPO / "docs" / "quality_speed_size.png")
    if plot:
        lines += ["", f"![{datasets[0].name} Y-PSNR vs time vs size]({plot.name})", "",
                  f"`{plot.name}`: one point per LUT, {datasets[0].name} Y-PSNR against time relative to OpenCV bicubic "
                  "(log scale); the marker area grows with the file size, the colour is the scale."]

    # ---------------------------------------------------------------- gray conventions
    set14 = SHARED / "bench" / "Set14"
    pub4 = [(label, lut) for label, lut in published_luts((4,)) if "SR-LUT S" in label or "MuLUT" in label]
    if not args.quick and set14.is_dir() and pub4:
        lines += ["", "## Set14 and its one-channel image: the two conventions", "",
                  "Set14's `bridge.png` is a one-channel PNG. **BasicSR convention** (default of `lutsr eval`): "
                  "it is read as three equal channels (as `cv2.imread` in colour mode does, and MuLUT's test script "
                  "by stacking the gray plane three times), and Y = 16 + (65.481 + 128.553 + 24.966) v / 255, "
                  "unrounded. **Gray-as-Y** (`lutsr eval --gray-as-y`): the gray values are Y. Every other image of "
                  "Set5 / Set14 / B100 is RGB and scores the same either way. Published anchors: MuLUT's 27.60 on "
                  "Set14 x4 was measured with the BasicSR convention; SR-LUT's paper figure 27.01 with gray-as-Y. "
                  "The other tables of this page use the BasicSR convention.", "",
                  "| Set14 x4 Y-PSNR / Y-SSIM | BasicSR (default) | gray-as-Y | published |", "|---|---|---|---|"]
        anchors = {"SR-LUT S": "27.01 (SR-LUT paper, gray-as-Y)", "MuLUT": "27.60 (MuLUT paper, BasicSR)"}
        first = True
        for label, lut in pub4:
            cols = {}
            for g in (False, True):
                res = evaluate([lut], [set14], baseline=first, gray_as_y=g, repeats=1)
                for m in summarize(res.scores):
                    cols.setdefault(m["method"], []).append(f"{m['psnr']:.2f} / {m['ssim']:.4f}")
            for method, c in cols.items():
                name = "bicubic (MATLAB)" if method == "bicubic" else label.split(" (")[0]
                note = next((v for k, v in anchors.items() if name.startswith(k)), "") if method != "bicubic" else ""
                lines.append(f"| {name} | {c[0]} | {c[1]} | {note} |")
            first = False

    # ---------------------------------------------------------------- fitted LUTs
    fitted = [(label, lut) for label, lut in shipped if "fit" in lut.header.get("source", {})]
    if fitted:
        lines += ["", "## How the fitted LUTs were made (`lutsr fit`, docs/fit.md)", "",
                  "From each LUT's header (`source.fit`). Training data: T91 + BSD200 (291 images, all three "
                  "channels). Solve time: wall clock of the conjugate-gradient solve (every pass over the data and the "
                  "validation after each iteration) on the machine named, which was shared with other work at the "
                  "time (an upper bound). The prior of the eclut-sdy rows, `eclut_x{s}.lut`, is the trained network's "
                  "table that was shipped before the fits (`tools/fit_shipped.sh` re-creates it as "
                  "`runs/fit/eclut_x{s}_net.lut`). Train PSNR: all channels of "
                  "the training set, float solution vs the stored table as the runtime runs it (the difference is "
                  "the cost of quantization). Set5 Y-PSNR per iteration: the progress line of the fit.", "",
                  "| LUT | method, interval | prior (--init) | ridge | iterations | solve time | clipped cells | "
                  "train PSNR float -> stored | Set5 Y-PSNR by iteration |", "|---|---|---|---|---|---|---|---|---|"]
        for label, lut in fitted:
            f = lut.header["source"]["fit"]
            hist = f.get("history", [])
            curve = " ".join(f"{h['val_psnr' if 'val_psnr' in h else 'val']:.2f}" for h in hist
                             if "val_psnr" in h or "val" in h)
            tp = (f"{f['train_psnr_float']:.3f} -> {f['train_psnr_quantized']:.3f}"
                  if "train_psnr_float" in f else "-")
            init = Path(f["init"]).name if f.get("init") else f"{f.get('prior', 'nearest')} prior"
            where = f.get("machine", "2-core CPU (this project's)")
            lines.append(f"| {lut.path.name} | {f['method']}, {f['interval']} | {init} | {f['ridge']:g} | "
                         f"{f['iterations']} | {f.get('seconds', 0) / 60:.1f} min, {where} | "
                         f"{100 * f.get('clipped_fraction', 0):.3f}% | {tp} | {curve} |")

    # ---------------------------------------------------------------- ECLUT intervals
    ecl4 = next((lut for label, lut in shipped if lut.header["method"] == "eclut" and lut.scale == 4), None)
    if ecl4 is not None:
        lines += ["", "## ECLUT x4 at coarser intervals", "",
                  "The shipped table re-sampled with `lutsr export luts/eclut_x4.lut --interval N -o ...`; "
                  "triangular interpolation for N > 0. "
                  "Set5 LR: `bench/Set5/LR_bicubic/X4`.", "",
                  "| interval | rows | table bytes | Set5 Y-PSNR | Set5 Y-SSIM |", "|---|---|---|---|---|"]
        for i in range(ecl4.interval, 5):
            c = coarsen(ecl4, i)
            p, s = set5_on(c, SHARED / "bench/Set5/LR_bicubic/X4", 4, "x4")
            lines.append(f"| {i} | {c.table.shape[0]} ({int(round(c.table.shape[0] ** 0.5))}²) | "
                         f"{c.table.nbytes:,} | {p:.2f} | {s:.4f} |")

    # ---------------------------------------------------------------- published reproduction
    pub = dict(published_luts())
    if pub:
        sr = SHARED / "luts" / "SR-LUT"
        lines += ["", "## Published tables on their own LR inputs", "",
                  "Set5, on the LR files each project published its results from (`luts/SR-LUT/input_LR_x*`, "
                  "`luts/MuLUT/input_LR_x4`); SR cropped to the modcropped HR. Reproduced in "
                  "`tests/lut/test_published.py`.", "",
                  "| table | Set5 Y-PSNR | Set5 Y-SSIM | published |", "|---|---|---|---|"]
        checks = [("SR-LUT S x4 (published, imported)", sr / "input_LR_x4", 4, "", None, "29.82 (paper), 29.83 (correct runtime)"),
                  ("SR-LUT S x2 (published, imported)", sr / "input_LR_x2", 2, "_GT", None, ""),
                  ("SR-LUT S x3 (published, imported)", sr / "input_LR_x3", 3, "_GT", None, ""),
                  ("SR-LUT F x4 (published, imported)", sr / "input_LR_x4", 4, "", None, ""),
                  ("SR-LUT V x4 (published, imported)", sr / "input_LR_x4", 4, "", None, ""),
                  ("MuLUT SDY-X2 x4 (published, imported)", SHARED / "luts/MuLUT/input_LR_x4", 4, "", 0,
                   "30.61 / 0.8655 (SSIM without border crop, as MuLUT's script measures it)")]
        for label, lr_dir, scale, suffix, sb, note in checks:
            if label in pub:
                p, s = set5_on(pub[label], lr_dir, scale, suffix, sb)
                lines.append(f"| {label.split(' (')[0]} | {p:.4f} | {s:.4f}{' (no crop)' if sb == 0 else ''} | {note} |")
        for i in (5, 6, 7, 8):
            f = sr / f"Model_S_x4_{i}bit_int8.npy"
            if f.is_file():
                h, t = import_tables("srlut-s", [f])
                p, s = set5_on(Lut(h, t), sr / "input_LR_x4", 4)
                lines.append(f"| SR-LUT S x4 interval {i} ({t[0].shape[0]} rows) | {p:.4f} | {s:.4f} | |")

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = ["# Results", "",
            f"Generated by `python tools/make_results.py` on {when} ({platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}; "
            f"took {time.perf_counter() - t_start:.0f} s). Do not edit by hand: re-run the tool.", ""] + lines
    old = args.out.read_text() if args.out.exists() else ""
    # sections other tools write (make_artefacts.py, make_bodies_study.py): kept as they are
    text += [m.group(0) for m in re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", old, flags=re.S)]
    args.out.write_text("\n".join(text) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
