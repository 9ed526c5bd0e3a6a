"""ShiftLUT's x1 models on ShiftLUT's own benchmark recipe, run by lutsr's runtime.

Usage (repository root, ../shared beside it):

    python tools/eval_restore_shiftlut.py                          # BSD68 sigma=15 and classic5 QF=10
    python tools/eval_restore_shiftlut.py --task denoising --limit 10 --threads 2
    python tools/eval_restore_shiftlut.py --check-authors 2 --crop 128   # also the authors' code (torch)

The inputs are made as ShiftLUT's ``DNBenchmark`` / ``DBBenchmark`` and ``eval_LUT.py`` make them:

* denoising (``bench/denoise/BSD68``, gray): ``np.random.seed(0)`` before each image, ``noisy =
  float32(hr / 255 + np.random.normal(0, sigma / 255, hr.shape))`` (no clipping), then ``q =
  round_half_even(noisy * 255)`` in float32. lutsr's input is ``u = clip(q, 0, 255)`` (uint8);
* deblocking (``bench/deblock/classic5``, gray): ``cv2.imencode('.jpg', hr, QF)`` then
  ``cv2.imdecode(..., 0)``; ``q`` is that uint8 image, which is also lutsr's input.

PSNR is over the whole image (no border), per image, then averaged, as ``eval_LUT.py``'s
``PSNR(.., 0)``. Denoising also prints the authors' score: their output is ``clamp(q + S, 0, 255)``
and lutsr's ``clamp(u + S, 0, 255)`` (``import_shiftlut``'s docstring), so wherever lutsr's output
is not clamped, ``S = out - u`` and the authors' pixel follows. The pixels that do not follow
(lutsr's output clamped at the other extreme from ``q``) are counted as "unknown" and given lutsr's value.
``--check-authors K`` runs the authors' ``model_LUT.py`` (``tests/net/authors_ref.py``, needs
torch) on central crops of the first K images and compares it with lutsr's output and with the
score above.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lutsr.lut.file import network_lut  # noqa: E402
from lutsr.lut.frontier import import_shiftlut  # noqa: E402
from lutsr.metrics import psnr  # noqa: E402
from lutsr.runtime.netrun import compile_network, run_net  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
TASKS = {  # task -> (tables folder, images folder, noise sigma or JPEG QF)
    "denoising": ("ShiftLUT_ultra_sigma=15_int", "bench/denoise/BSD68", 15),
    "deblocking": ("ShiftLUT_ultra_qf=10_dncnn_v3_int4", "bench/deblock/classic5", 10),
}


def degrade(task: str, hr: np.ndarray, level: int) -> np.ndarray:
    """The authors' network input ``q`` (int64, (H, W)) for a clean uint8 gray ``hr``."""
    if task == "denoising":
        np.random.seed(0)
        noisy = (hr / 255.0 + np.random.normal(0, level / 255.0, hr.shape)).astype(np.float32)
        return np.round(noisy * np.float32(255)).astype(np.int64)
    ok, enc = cv2.imencode(".jpg", hr, [int(cv2.IMWRITE_JPEG_QUALITY), level])
    assert ok
    return cv2.imdecode(enc, 0).astype(np.int64)


def authors_from_lutsr(out: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, int]:
    """The authors' output ``clamp(q + S)`` from lutsr's ``clamp(u + S)``; and the count of unknown pixels."""
    u = np.clip(q, 0, 255)
    o = out.astype(np.int64)
    res = np.clip(q + (o - u), 0, 255)  # exact where 0 < out < 255
    res = np.where((o == 0) & (q <= u), 0, res)  # S <= -u and q <= u: q + S <= 0
    res = np.where((o == 255) & (q >= u), 255, res)
    unknown = ((o == 0) & (q > u)) | ((o == 255) & (q < u))
    return np.where(unknown, o, res).astype(np.uint8), int(unknown.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=[*TASKS, "both"], default="both")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-authors", type=int, default=0, metavar="K")
    ap.add_argument("--crop", type=int, default=128, help="crop size for --check-authors")
    args = ap.parse_args()
    for task in TASKS if args.task == "both" else [args.task]:
        folder, images, level = TASKS[task]
        comp = compile_network(network_lut("shiftlut", import_shiftlut(SHARED / "luts" / "ShiftLUT" / folder)))
        files = sorted((SHARED / images).glob("*.png"))[: args.limit or None]
        rows, t0 = [], time.perf_counter()
        for i, f in enumerate(files):
            hr = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            q = degrade(task, hr, level)
            u = np.clip(q, 0, 255).astype(np.uint8)
            out = run_net(comp, u[:, :, None], threads=args.threads)[:, :, 0]
            auth, unknown = authors_from_lutsr(out, q)
            rows.append((psnr(u, hr), psnr(out, hr), psnr(auth, hr), unknown))
            if i < args.check_authors:
                check(task, folder, comp, hr, q, args.crop, f.name)
        r = np.array(rows)
        note = f", authors {r[:, 2].mean():.2f} dB ({int(r[:, 3].sum())} unknown px)" if task == "denoising" else ""
        print(f"{task} {images} ({len(files)} images, level {level}): input {r[:, 0].mean():.2f} dB, "
              f"lutsr {r[:, 1].mean():.2f} dB{note}  [{time.perf_counter() - t0:.0f} s]")


def check(task: str, folder: str, comp, hr: np.ndarray, q: np.ndarray, c: int, name: str) -> None:
    """The authors' code on the central ``c x c`` crop of ``q``, against lutsr on the same crop."""
    sys.path.insert(0, str(REPO / "tests" / "net"))
    import authors_ref

    y0, x0 = (hr.shape[0] - c) // 2, (hr.shape[1] - c) // 2
    qc, hc = q[y0:y0 + c, x0:x0 + c], hr[y0:y0 + c, x0:x0 + c]
    want = authors_ref.shiftlut(folder, task, qc[None])[0]
    uc = np.clip(qc, 0, 255).astype(np.uint8)
    got = run_net(comp, uc[:, :, None], threads=1)[:, :, 0]
    inside = (qc >= 0) & (qc <= 255)
    rec, unknown = authors_from_lutsr(got, qc)
    print(f"  check {name} {c}x{c} crop: authors {psnr(want, hc):.3f} dB, lutsr {psnr(got, hc):.3f} dB; "
          f"{int((got != want).sum())} px differ ({int((got != want)[inside].sum())} where 0<=q<=255, "
          f"{int((~inside).sum())} px outside); authors' output recovered from lutsr's: "
          f"{int((rec != want).sum())} px differ ({unknown} unknown)")


if __name__ == "__main__":
    main()
