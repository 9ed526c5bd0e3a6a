"""Benchmark evaluation as published SR tables do it (``lut-methods.md`` section 5).

HR images are modcropped; LR images are read from ``lr_dir`` when given, otherwise made
with the MATLAB-compatible bicubic downscale; every LUT (and a MATLAB-bicubic upsampling
baseline) upscales them; Y-PSNR and Y-SSIM are measured with a border crop of ``scale``.
No torch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lutsr.errors import LutsrError
from lutsr.datasets import eval_pair, find_lr, hr_folder, restore_eval_pair
from lutsr.imageio import IMAGE_EXTENSIONS, write_image
from lutsr.imresize import imresize
from lutsr.lut.file import Lut
from lutsr.metrics import psnr, psnr_b, ssim, y_psnr, y_ssim
from lutsr.runtime import upscale

__all__ = ["Score", "EvalResult", "evaluate", "unique_labels", "provenance", "bicubic_upscale", "find_lr", "comparison_image", "summarize"]

log = logging.getLogger(__name__)

BICUBIC = "bicubic"


@dataclass
class Score:
    """One image upscaled by one method."""

    dataset: str
    image: str
    method: str
    scale: int
    psnr: float
    ssim: float
    seconds: float
    psnr_b: float | None = None  # deblocking (PSNR-B); None elsewhere


@dataclass
class EvalResult:
    """All scores, plus the images that could not be evaluated (``(path, reason)``)."""

    scores: list[Score]
    failures: list[tuple[str, str]]
    provenance: dict | None = None

    def to_json(self) -> dict:
        return {"provenance": self.provenance, "scores": [asdict(s) for s in self.scores],
                "means": summarize(self.scores),
                "failures": [{"path": p, "reason": r} for p, r in self.failures]}


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(lr, scale, 'bicubic')`` (the baseline published tables use)."""
    return imresize(lr, float(scale), rounding="double")


def _label(lut: Lut) -> str:
    return lut.path.stem if lut.path else f"{lut.header['method']}_x{lut.scale}"


def unique_labels(luts: list[Lut], labels: list[str | None] | None = None) -> list[str]:
    """One distinct row label per LUT.

    An explicit label (``labels[i]``, e.g. from ``--label``) wins; otherwise the file stem, and
    when two LUTs share a stem, parent folders are prepended (``a/m``, ``b/m``) until the labels
    differ; a last resort appends ``#2``, ``#3``.

    Raises:
        LutsrError: two explicit labels are equal, or more labels than LUTs.
    """
    labels = list(labels or [])
    if len(labels) > len(luts):
        raise LutsrError(f"{len(labels)} labels for {len(luts)} LUTs")
    labels += [None] * (len(luts) - len(labels))
    explicit = [x for x in labels if x]
    if len(set(explicit)) != len(explicit):
        raise LutsrError("two LUTs have the same --label")
    out = [x if x else _label(lut) for lut, x in zip(luts, labels)]
    for depth in range(1, 4):
        dup = {x for x in out if out.count(x) > 1}
        if not dup:
            return out
        for i, lut in enumerate(luts):
            if out[i] in dup and not labels[i] and lut.path:
                parts = Path(lut.path).resolve().parts
                out[i] = "/".join(parts[-1 - depth : -1] + (Path(lut.path).stem,))
    seen: dict[str, int] = {}
    for i, x in enumerate(out):
        seen[x] = seen.get(x, 0) + 1
        if seen[x] > 1:
            out[i] = f"{x}#{seen[x]}"
    return out


def _timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[np.ndarray, float]:
    """``fn()``'s result and its best wall time over ``repeats`` runs after one untimed warm-up run
    (the warm-up pays Numba compilation and first-touch costs, which are not the method's speed)."""
    out = fn()
    best = float("inf")
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def provenance(luts: list[Lut], labels: list[str], options: dict) -> dict:
    """Where a table of scores comes from: lutsr version, every LUT (label, file, sha256 of the
    file, method, scale, interval), the options (LR source etc.) and the machine."""
    import hashlib
    import os
    import platform

    from lutsr._version import __version__

    def sha(lut: Lut) -> str | None:
        if lut.path and Path(lut.path).is_file():
            return hashlib.sha256(Path(lut.path).read_bytes()).hexdigest()
        return None

    return {
        "lutsr_version": __version__,
        "luts": [{"label": lb, "path": str(lut.path) if lut.path else None, "sha256": sha(lut),
                  "method": lut.header.get("method"), "scale": lut.scale,
                  "interval": lut.header.get("interval")} for lut, lb in zip(luts, labels)],
        "options": options,
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "processor": platform.processor(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "numpy": np.__version__},
    }


def comparison_image(hr: np.ndarray, bicubic: np.ndarray, sr: np.ndarray, label: str, crop: int = 96,
                     zoom: int = 2) -> np.ndarray:
    """Side-by-side crop ``HR | bicubic | LUT`` (RGB uint8), labelled, around the most detailed region."""
    from lutsr._opencv import cv2_module

    cv2 = cv2_module()

    def rgb(x):
        return np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x[..., :3]

    hr, bicubic, sr = rgb(hr), rgb(bicubic), rgb(sr)
    h, w = hr.shape[:2]
    c = min(crop, h, w)
    gray = hr.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    step = max(c // 2, 1)
    best, by, bx = -1.0, 0, 0
    for y in range(0, max(h - c, 0) + 1, step):
        for x in range(0, max(w - c, 0) + 1, step):
            e = float(energy[y : y + c - 1, x : x + c - 1].sum())
            if e > best:
                best, by, bx = e, y, x
    tiles = []
    for name, img in (("HR", hr), ("bicubic", bicubic), (label, sr)):
        tile = cv2.resize(np.ascontiguousarray(img[by : by + c, bx : bx + c]), (c * zoom, c * zoom),
                          interpolation=cv2.INTER_NEAREST)
        banner = np.full((22, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(banner, name[:28], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([banner, tile], axis=0))
        tiles.append(np.full((tiles[-1].shape[0], 4, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


_SLIDER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>lutsr eval</title>
<style>
body{font-family:sans-serif;margin:16px;background:#fafafa}
.cmp{position:relative;display:inline-block;user-select:none;cursor:ew-resize;margin:4px 0 18px}
.cmp img{display:block;image-rendering:pixelated}
.cmp .top{position:absolute;left:0;top:0;overflow:hidden;height:100%%;width:50%%;border-right:2px solid #fff}
.cmp .top img{max-width:none}
.cap{font-size:13px;color:#333}
</style></head><body>
<h1>lutsr eval</h1>
<p>Drag across an image: left of the line the first method, right of it the second. Images are shown
at %(zoom)dx (nearest neighbour). Works offline: everything is in this page and the images beside it.</p>
%(body)s
<script>
document.querySelectorAll('.cmp').forEach(function(c){
  var top=c.querySelector('.top');
  function at(x){var r=c.getBoundingClientRect();var f=Math.max(0,Math.min(1,(x-r.left)/r.width));
    top.style.width=(100*f)+'%%';}
  var down=false;
  c.addEventListener('mousedown',function(e){down=true;at(e.clientX);e.preventDefault();});
  window.addEventListener('mouseup',function(){down=false;});
  c.addEventListener('mousemove',function(e){if(down)at(e.clientX);});
  c.addEventListener('touchmove',function(e){at(e.touches[0].clientX);e.preventDefault();},{passive:false});
});
</script></body></html>
"""


def write_slider_page(save: Path, entries: list[tuple[str, str, list[tuple[str, str, str]]]], zoom: int = 2) -> Path:
    """Write ``save/index.html``: per image one before/after slider per pair.

    ``entries``: ``(title, width_px, [(left_label, left_rel_path, right_label, right_rel_path)])``;
    paths are relative to ``save`` (the page works offline, opened from the folder).
    """
    import html

    parts = []
    for title, width, pairs in entries:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        for a_label, a_path, b_label, b_path in pairs:
            w = int(width) * zoom
            parts.append(
                f'<div class="cap">{html.escape(a_label)} | {html.escape(b_label)}</div>'
                f'<div class="cmp" style="width:{w}px"><img src="{html.escape(b_path)}" width="{w}" alt="{html.escape(b_label)}">'
                f'<div class="top"><img src="{html.escape(a_path)}" width="{w}" alt="{html.escape(a_label)}"></div></div>')
    out = save / "index.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(_SLIDER_PAGE % {"body": "\n".join(parts), "zoom": zoom}, encoding="utf-8")
    tmp.replace(out)
    return out


def evaluate(luts: list[Lut], datasets: list[str | Path], lr_dir: str | Path | None = None,
             scale: int | None = None, lr_rounding: str = "double", baseline: bool = True,
             save_dir: str | Path | None = None, threads: int | None = None,
             progress: Callable[[int, int, str], None] | None = None, gray_as_y: bool = False,
             labels: list[str | None] | None = None, repeats: int = 1) -> EvalResult:
    """Evaluate LUTs on benchmark folders.

    Args:
        luts: loaded LUTs (their scales may differ; each is evaluated at its own scale; a LUT that
            resamples to any size (LeRF) at ``scale``, or at the other LUTs' scales, or at x2, x3, x4).
        datasets: folders of HR images (or folders containing ``HR/``).
        lr_dir: ready-made LR images (only with a single dataset and a single scale).
        scale: only evaluate LUTs of this scale (default: every LUT's own).
        lr_rounding: MATLAB-bicubic variant for generated LR (``double`` or ``per_pass``).
        baseline: add the MATLAB-bicubic upsampling row.
        save_dir: write upscaled images and ``HR | bicubic | LUT`` comparison crops here.
        threads: runtime threads.
        progress: ``progress(done, total, item)`` callback.
        gray_as_y: score a one-channel image's gray values as Y (SR-LUT's convention); default
            BasicSR's (gray read as R = G = B, Y by the BT.601 formula; see ``metrics.rgb_to_y``).
        labels: explicit row labels, one per LUT (``None`` entries: automatic; ``unique_labels``).
        repeats: timed runs per image and method after one untimed warm-up run; ``seconds`` is the best.
    """
    if not luts:
        raise LutsrError("no LUT to evaluate")
    fixed = {lut.scale for lut in luts if lut.scale is not None and (scale is None or lut.scale == scale)}
    if any(lut.scale is None for lut in luts):  # any-scale LUTs (LeRF): at --scale, or with the others, or x2, x3, x4
        fixed |= {scale} if scale is not None else (fixed or {2, 3, 4})
    scales = sorted(fixed)
    if not scales:
        raise LutsrError(f"no LUT of scale {scale} among the given LUTs")
    if lr_dir is not None and (len(datasets) != 1 or len(scales) != 1):
        raise LutsrError("--lr-dir works with one dataset and LUTs of one scale")
    names = unique_labels(luts, labels)
    prov = provenance(luts, names, {
        "datasets": [str(d) for d in datasets], "scale": scale,
        "lr_source": f"--lr-dir {lr_dir}" if lr_dir is not None else f"generated (MATLAB bicubic, rounding={lr_rounding})",
        "gray": "gray-as-y" if gray_as_y else "basicsr (R=G=B, BT.601 Y)", "border": "scale",
        "repeats": repeats, "threads": threads, "baseline": baseline})
    jobs = []
    for ds in datasets:
        ds = Path(ds)
        hr_dir = hr_folder(ds)
        if not hr_dir.is_dir():
            raise LutsrError(f"{ds}: not a folder")
        files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise LutsrError(f"{hr_dir}: no images")
        for s in scales:
            jobs.extend((ds, f, s) for f in files)
    save = Path(save_dir) if save_dir else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    scores: list[Score] = []
    failures: list[tuple[str, str]] = []
    page: list = []
    for i, (ds, f, s) in enumerate(jobs):
        name = ds.name if ds.name != "HR" else ds.parent.name
        if progress:
            progress(i, len(jobs), f"{name}/{f.name} x{s}")
        try:
            lr, hr = eval_pair(f, s, lr_rounding, lr_dir)
        except LutsrError as e:
            failures.append((str(f), str(e)))
            log.warning("skipped: %s", e)
            continue
        outputs = []
        try:
            if baseline:
                outputs.append((BICUBIC, *_timed(lambda: bicubic_upscale(lr, s), repeats)))
            for lut, label in zip(luts, names):
                if lut.scale is not None and lut.scale != s:
                    continue
                kw = {"outscale": float(s)} if lut.scale is None else {}
                outputs.append((label, *_timed(lambda: upscale(lr, lut, threads=threads, **kw), repeats)))
        except LutsrError as e:  # an image this LUT cannot take: skip it, named, and go on
            failures.append((str(f), f"{f}: {e}"))
            log.warning("skipped: %s: %s", f, e)
            continue
        bic = None
        saved: dict[str, str] = {}
        for label, sr, dt in outputs:
            sr = sr[: hr.shape[0], : hr.shape[1]]
            if sr.shape != hr.shape:
                failures.append((str(f), f"{label}: output {sr.shape} smaller than HR {hr.shape}"))
                continue
            scores.append(Score(name, f.stem, label, s, y_psnr(sr, hr, s, gray_as_y), y_ssim(sr, hr, s, gray_as_y), dt))
            if label == BICUBIC:
                bic = sr
            if save:
                d = save / name / f"x{s}"
                d.mkdir(parents=True, exist_ok=True)
                fn = d / f"{f.stem}_{label.replace('/', '_')}.png"
                if fn.exists():
                    fn.unlink()  # a re-run replaces its own outputs
                write_image(fn, sr)
                saved[label] = fn.relative_to(save).as_posix()
                if label != BICUBIC and bic is not None:
                    cmp_path = d / f"{f.stem}_{label.replace('/', '_')}_compare.png"
                    if cmp_path.exists():
                        cmp_path.unlink()
                    write_image(cmp_path, comparison_image(hr, bic, sr, label))
        if save and saved:
            hr_path = save / name / f"x{s}" / f"{f.stem}_HR.png"
            if hr_path.exists():
                hr_path.unlink()
            write_image(hr_path, hr)
            hr_rel = hr_path.relative_to(save).as_posix()
            pairs = [(BICUBIC, saved[BICUBIC], lb, p) for lb, p in saved.items() if lb != BICUBIC and BICUBIC in saved]
            pairs += [(lb, p, "HR", hr_rel) for lb, p in saved.items() if lb != BICUBIC]
            page.append((f"{name} / {f.stem} x{s}", str(hr.shape[1]), pairs))
    if save and page:
        write_slider_page(save, page)
    if progress:
        progress(len(jobs), len(jobs), "done")
    return EvalResult(scores, failures, prov)


def summarize(scores: list[Score]) -> list[dict]:
    """Mean PSNR/SSIM per (dataset, scale, method), in first-seen order."""
    groups: dict[tuple, list[Score]] = {}
    for s in scores:
        groups.setdefault((s.dataset, s.scale, s.method), []).append(s)
    out = []
    for (d, sc, m), v in groups.items():
        row = {"dataset": d, "scale": sc, "method": m, "images": len(v),
               "psnr": float(np.mean([x.psnr for x in v])), "ssim": float(np.mean([x.ssim for x in v])),
               "seconds": float(np.sum([x.seconds for x in v]))}
        if all(x.psnr_b is not None for x in v):
            row["psnr_b"] = float(np.mean([x.psnr_b for x in v]))
        out.append(row)
    return out


INPUT = "input"
OPENCV_NLM = "opencv-nlm"


def _channel_ssim(a: np.ndarray, b: np.ndarray) -> float:
    if a.ndim == 2:
        return ssim(a, b)
    return float(np.mean([ssim(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def opencv_nlm(noisy: np.ndarray) -> np.ndarray:
    """OpenCV's non-local-means denoiser with its documented defaults: ``fastNlMeansDenoisingColored``
    (h = hColor = 3, 7x7 template, 21x21 search) for RGB, ``fastNlMeansDenoising`` (h = 3) for gray."""
    from lutsr._opencv import cv2_module

    cv2 = cv2_module()
    if noisy.ndim == 2:
        return cv2.fastNlMeansDenoising(np.ascontiguousarray(noisy))
    return cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(noisy[..., ::-1]))[..., ::-1]


def evaluate_restore(luts: list[Lut], datasets: list[str | Path], task, baseline: bool = True,
                     opencv: bool = False, threads: int | None = None,
                     progress: Callable[[int, int, str], None] | None = None,
                     labels: list[str | None] | None = None, repeats: int = 1) -> EvalResult:
    """Evaluate same-size LUTs on a restoration task (``lutsr.tasks.Task``) over clean benchmark folders.

    Inputs are made by ``datasets.restore_eval_pair`` (the documented protocol: noise seeded 0 per
    image; JPEG by OpenCV, colour reduced to Y first). Scores are over the whole image (no border)
    and every channel: PSNR (RGB PSNR for colour), SSIM averaged over channels, and PSNR-B for
    deblocking. ``baseline``: an ``input`` row (the degraded image itself); ``opencv``: OpenCV's
    non-local means with its defaults (denoising). ``seconds`` as in :func:`evaluate`. ``luts`` may
    hold ``lutsr.restore.AutoLut`` entries (the shipped tables as ``lutsr denoise`` chooses them,
    opponent colour channels included; label ``lutsr-denoise`` unless given).
    """
    from lutsr.restore import run_runner

    if not luts:
        raise LutsrError("no LUT to evaluate")
    for lut in luts:
        if lut.scale != 1:
            raise LutsrError(f"{lut.path or lut}: a x{lut.scale} LUT cannot {task.kind}; give a same-size LUT")
    labels = list(labels or []) + [None] * (len(luts) - len(labels or []))
    labels = [lb or (f"lutsr-{task.kind}" if hasattr(lut, "pick") else None) for lut, lb in zip(luts, labels)]
    names = unique_labels(luts, labels)
    prov = provenance(luts, names, {
        "datasets": [str(d) for d in datasets], "task": task.to_json(),
        "protocol": ("noise: RandomState(0).normal(0, sigma/255) per image, added to clean/255 in float32, "
                     "rounded half-even and clipped to uint8" if task.kind == "denoise" else
                     "cv2.imencode JPEG at the quality, one channel (colour: BT.601 Y, rounded)"),
        "metrics": "whole image, all channels" + (", PSNR-B" if task.kind == "deblock" else ""),
        "repeats": repeats, "threads": threads, "baseline": baseline, "opencv": opencv})
    jobs = []
    for ds in datasets:
        ds = Path(ds)
        folder = hr_folder(ds)
        if not folder.is_dir():
            raise LutsrError(f"{ds}: not a folder")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise LutsrError(f"{folder}: no images")
        jobs.extend((ds, f) for f in files)
    scores: list[Score] = []
    failures: list[tuple[str, str]] = []
    for i, (ds, f) in enumerate(jobs):
        name = ds.name if ds.name != "HR" else ds.parent.name
        if progress:
            progress(i, len(jobs), f"{name}/{f.name}")
        try:
            degraded, clean = restore_eval_pair(f, task)
        except LutsrError as e:
            failures.append((str(f), str(e)))
            log.warning("skipped: %s", e)
            continue
        outputs = []
        if baseline:
            outputs.append((INPUT, degraded, 0.0))
        if opencv and task.kind == "denoise":
            outputs.append((OPENCV_NLM, *_timed(lambda: opencv_nlm(degraded), repeats)))
        for lut, label in zip(luts, names):
            runner = lut.pick(degraded, None)[0] if hasattr(lut, "pick") else lut  # shipped tables: per image
            outputs.append((label, *_timed(lambda: run_runner(runner, degraded, threads), repeats)))
        for label, out, dt in outputs:
            pb = psnr_b(out, clean) if task.kind == "deblock" else None
            scores.append(Score(name, f.stem, label, 1, psnr(out, clean), _channel_ssim(out, clean), dt, pb))
    if progress:
        progress(len(jobs), len(jobs), "done")
    return EvalResult(scores, failures, prov)
