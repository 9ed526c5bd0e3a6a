"""Regenerate the bundled sample image ``lutsr/samples/sample.png`` (synthetic, no licence issues).

Usage: python tools/make_sample.py
"""

from pathlib import Path

import cv2
import numpy as np


def make_sample(h: int = 120, w: int = 160) -> np.ndarray:
    """A small RGB test card: smooth gradients, hard edges, thin lines, text and a soft blob."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 60 + 150 * x / w
    img[..., 1] = 80 + 120 * y / h
    img[..., 2] = 180 - 100 * (x + y) / (w + h)
    blob = np.exp(-(((x - 0.72 * w) ** 2) + (y - 0.3 * h) ** 2) / (2 * (0.12 * w) ** 2))
    img += blob[..., None] * np.array([90.0, 40.0, -60.0])
    img = np.clip(img, 0, 255).astype(np.uint8)
    bgr = np.ascontiguousarray(img[..., ::-1])
    cv2.circle(bgr, (40, 40), 22, (30, 30, 200), -1, cv2.LINE_AA)
    cv2.rectangle(bgr, (80, 60), (140, 100), (250, 250, 250), 2, cv2.LINE_8)
    for i in range(6):
        cv2.line(bgr, (10 + 4 * i, 75), (30 + 9 * i, 115), (20, 20, 20), 1, cv2.LINE_AA)
    cv2.putText(bgr, "lutsr", (84, 90), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return bgr[..., ::-1]


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "lutsr" / "samples" / "sample.png"
    cv2.imwrite(str(out), np.ascontiguousarray(make_sample()[..., ::-1]))
    print(f"wrote {out}")
