"""Make the README's before/after picture ``docs/before_after.png``: bicubic | LUT | HR crops.

Usage: python tools/make_readme_figure.py [--lut eclut-sdy] [--out docs/before_after.png]

Source: the bundled synthetic sample ``lutsr/samples/sample.png`` (made by tools/make_sample.py,
no licence restrictions), used as HR; LR is its MATLAB-compatible bicubic x4 downscale. The crop
is the most detailed region (``lutsr.evaluate.comparison_image``), zoomed with nearest neighbour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lutsr.evaluate import bicubic_upscale, comparison_image  # noqa: E402
from lutsr.imageio import read_image, write_image  # noqa: E402
from lutsr.imresize import imresize, modcrop  # noqa: E402
from lutsr.lut.shipped import resolve_lut  # noqa: E402
from lutsr.metrics import y_psnr  # noqa: E402
from lutsr.runtime import upscale  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lut", default=None, help="LUT file or shipped family (default: the shipped x4 ECLUT)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "before_after.png")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--zoom", type=int, default=3)
    args = ap.parse_args()
    lut = resolve_lut(Path(args.lut) if args.lut and Path(args.lut).is_file() else args.lut)
    s = lut.scale
    hr = modcrop(read_image(REPO / "lutsr" / "samples" / "sample.png")[..., :3], s)
    lr = imresize(hr, 1.0 / s)
    bic = bicubic_upscale(lr, s)[: hr.shape[0], : hr.shape[1]]
    sr = upscale(lr, lut)[: hr.shape[0], : hr.shape[1]]
    label = f"{lut.header['method']} x{s} LUT"
    # comparison_image lays out HR | bicubic | LUT; the README reads left to right bicubic | LUT | HR
    pic = comparison_image(hr, bic, sr, label, crop=args.crop, zoom=args.zoom)
    w = (pic.shape[1] - 8) // 3
    tiles = [pic[:, i * (w + 4): i * (w + 4) + w] for i in range(3)]
    gap = np.full((pic.shape[0], 4, 3), 255, np.uint8)
    out = np.concatenate([tiles[1], gap, tiles[2], gap, tiles[0]], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():
        args.out.unlink()  # save_image never overwrites; this tool regenerates its own output
    write_image(args.out, out)
    print(f"wrote {args.out} ({out.shape[1]}x{out.shape[0]}); Y-PSNR bicubic {y_psnr(bic, hr, s):.2f}, "
          f"LUT {y_psnr(sr, hr, s):.2f} dB")


if __name__ == "__main__":
    main()
