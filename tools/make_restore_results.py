"""Regenerate the results tables of docs/restore.md: every shipped denoising and deblocking LUT on
every benchmark of ../shared/data/bench/{denoise,deblock}, with the published anchors beside them.

Usage (repository root, ../shared beside it):

    python tools/make_restore_results.py            # rewrites the part of docs/restore.md between the markers
    python tools/make_restore_results.py --print    # prints it instead

Protocol: ``lutsr eval --task`` (``lutsr.evaluate.evaluate_restore``): noise seeded 0 per image
(``lutsr.tasks``), JPEG by OpenCV at the quality (LIVE1's colour images on their BT.601 Y);
PSNR / SSIM over the whole image and every channel; PSNR-B for deblocking.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lutsr.evaluate import evaluate_restore, summarize  # noqa: E402
from lutsr.restore import AutoLut, shipped_task_lut  # noqa: E402
from lutsr.tasks import SHIPPED_LEVELS, Task  # noqa: E402

BENCH = REPO.parent / "shared" / "data" / "bench"
SHIFTLUT = REPO.parent / "shared" / "data" / "luts" / "ShiftLUT"
SHIFTLUT_SETS = {("denoise", 15): "ShiftLUT_ultra_sigma=15_int", ("deblock", 10): "ShiftLUT_ultra_qf=10_dncnn_v3_int4"}


def _others(kind: str, level: int) -> list:
    """ShiftLUT's published x1 set at this level, imported (run by lutsr's runtime on lutsr's protocol)."""
    folder = SHIFTLUT / SHIFTLUT_SETS.get((kind, level), "-")
    if not folder.is_dir():
        return []
    from lutsr.lut.importer import import_network

    return [("ShiftLUT (published tables, imported; this protocol)", import_network("shiftlut", folder))]
DENOISE_SETS = ["BSD68", "Set12", "CBSD68", "McMaster", "Kodak24"]
DEBLOCK_SETS = ["classic5", "LIVE1"]
BEGIN, END = "<!-- results:begin (tools/make_restore_results.py) -->", "<!-- results:end -->"

# Published anchors (PSNR dB; deblocking: PSNR-B for the LUTs, PSNR for DnCNN-3), from the issue tracker's table
ANCHORS_DENOISE = {  # BSD68 gray sigma 15 / 25 / 50; CBSD68 colour
    "SR-LUT": ({15: 29.78, 25: 26.85, 50: 22.39}, {}),
    "MuLUT": ({15: 30.63, 25: 28.18, 50: 24.97}, {}),
    "TinyLUT-F": ({15: 31.20, 25: 28.65, 50: 25.53}, {}),
    "DnCNN / CDnCNN (CNN)": ({15: 31.73, 25: 29.23, 50: 26.23}, {15: 33.89, 25: 31.23, 50: 27.92}),
}
ANCHORS_DEBLOCK = {  # q=10: classic5, LIVE1
    "SR-LUT (PSNR-B)": (27.58, 27.69), "MuLUT (PSNR-B)": (28.29, 28.39), "TinyLUT-F (PSNR-B)": (28.74, 28.67),
    "DnCNN-3 (CNN, PSNR)": (29.40, 29.19),
}


def denoise_table() -> list[str]:
    sets = [s for s in DENOISE_SETS if (BENCH / "denoise" / s).is_dir()]
    head = "| sigma | method | " + " | ".join(sets) + " |"
    lines = [head, "|" + "---|" * (len(sets) + 2)]
    for sigma in SHIPPED_LEVELS["denoise"]:
        task = Task.denoise(sigma)
        runs = [("**lutsr denoise** (sdy2; colour: opponent channels)", AutoLut("denoise", level=sigma)),
                ("lutsr denoise --colour rgb (sdy2 on R, G, B)", AutoLut("denoise", level=sigma, colour="rgb")),
                ("lutsr denoise --fast (srlut-v; colour: opponent)", AutoLut("denoise", fast=True, level=sigma))]
        runs += _others("denoise", sigma)
        res = evaluate_restore([r for _, r in runs], [BENCH / "denoise" / s for s in sets], task,
                               labels=[n for n, _ in runs])
        means = {(m["dataset"], m["method"]): m for m in summarize(res.scores)}
        for method in ("input", *(n for n, _ in runs)):
            cells = [f"{means[(s, method)]['psnr']:.2f} / {means[(s, method)]['ssim']:.3f}" for s in sets]
            name = "noisy input" if method == "input" else method
            lines.append(f"| {sigma} | {name} | " + " | ".join(cells) + " |")
        for name, (gray, colour) in ANCHORS_DENOISE.items():
            if sigma not in gray:
                continue
            cells = [f"{gray[sigma]:.2f}" if s == "BSD68" else f"{colour[sigma]:.2f}" if s == "CBSD68" and colour
                     else "" for s in sets]
            lines.append(f"| {sigma} | {name} (published) | " + " | ".join(cells) + " |")
    return lines


def deblock_table() -> list[str]:
    sets = [s for s in DEBLOCK_SETS if (BENCH / "deblock" / s).is_dir()]
    head = "| quality | method | " + " | ".join(f"{s} PSNR / PSNR-B / SSIM" for s in sets) + " |"
    lines = [head, "|" + "---|" * (len(sets) + 2)]
    for q in SHIPPED_LEVELS["deblock"]:
        task = Task.deblock(q)
        lut = shipped_task_lut("deblock", q)
        others = _others("deblock", q)
        res = evaluate_restore([lut] + [o for _, o in others], [BENCH / "deblock" / s for s in sets], task,
                               labels=["lutsr"] + [n for n, _ in others])
        means = {(m["dataset"], m["method"]): m for m in summarize(res.scores)}
        for method in ("input", "lutsr", *(n for n, _ in others)):
            cells = [f"{means[(s, method)]['psnr']:.2f} / {means[(s, method)]['psnr_b']:.2f} / "
                     f"{means[(s, method)]['ssim']:.3f}" for s in sets]
            name = ("JPEG input" if method == "input" else f"**lutsr `{task.name}`** (sdy2)" if method == "lutsr"
                    else method)
            lines.append(f"| {q} | {name} | " + " | ".join(cells) + " |")
        if q == 10:
            for name, vals in ANCHORS_DEBLOCK.items():
                lines.append(f"| 10 | {name} (published) | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--print", action="store_true")
    args = ap.parse_args()
    text = [BEGIN, "", "### Denoising (PSNR dB / SSIM; gray sets: one channel, colour sets: RGB)", ""]
    text += denoise_table()
    text += ["", "### Deblocking (one channel; LIVE1 on its BT.601 Y)", ""]
    text += deblock_table()
    text += ["", END]
    block = "\n".join(text)
    if args.print:
        print(block)
        return
    doc = REPO / "docs" / "restore.md"
    old = doc.read_text()
    a, b = old.index(BEGIN), old.index(END) + len(END)
    doc.write_text(old[:a] + block + old[b:])
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
