"""Fit the tables of a single-stage LUT method directly, by sparse linear least squares (no torch).

For a single-stage method the upscaled image *before* the final rounding and clipping is
linear in the signed table values ``v`` (``stored - value_offset``)::

    pred = A v / (q * divisor) + bias

where ``A`` holds the simplex-interpolation weights of every rotation of every unit, the
ExpandConv overlaps and the sums over units (``docs/fit.md``). The table minimising

    || A v / (q d) + bias - hr ||^2 + ridge / d^2 * || v - prior ||^2

over a training set solves the normal equations, which :func:`fit` solves by conjugate
gradients preconditioned by the diagonal of ``A^T A`` (how often, and with what weight,
each cell is used). Each iteration streams the training set once: for every image, the
forward operator (table -> HR image) and its adjoint (HR image -> table gradient) run as
Numba kernels; nothing the size of the training set is held beyond a bounded cache. The
ridge term pulls cells that natural images rarely use toward the prior (a LUT exported
from a trained network, or a nearest-neighbour table). At the end the values are rounded
and clipped to the table's dtype and the loss that costs is reported.

Shapes: ``lr`` images are ``(h, w)`` uint8, ``hr`` images ``(h*s, w*s)`` uint8 (one colour
channel each); parameter vectors are flat float64 holding every unit's ``(rows, cells)``
table in file order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numba
import numpy as np

from lutsr.datasets import load_eval_pairs, restore_eval_pairs
from lutsr.errors import LutsrError
from lutsr.fit.data import TrainingSet
from lutsr.fit.operator import LinearLut
from lutsr.fit.passes import LocalPasses
from lutsr.lut.file import Lut, make_header, save_lut
from lutsr.metrics import psnr, y_psnr
from lutsr.runtime import upscale
from lutsr.spec import get_method, level_values, levels_for_interval
from lutsr.tasks import Task

__all__ = ["FitConfig", "FitResult", "fit", "fit_cascade", "prior_table", "quantize", "cg_solve", "train_psnr"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Priors, quantization
# --------------------------------------------------------------------------------------

PRIORS = ("nearest", "linear")


def prior_table(op: LinearLut, init: Lut | None = None, kind: str = "nearest") -> np.ndarray:
    """The ridge prior, flat float64 signed values.

    Without ``init``, ``kind`` says which: ``"nearest"``, the nearest-neighbour table (every
    cell of a row holds the current pixel's share ``(value - bias) * divisor / terms``), or
    ``"linear"``: every cell holds the share of the affine plane fitted by least squares
    through the unit's input pixels (at their kernel offsets), evaluated at the centre of the
    cell's HR sub-pixel, ``((i + 0.5) / s - 0.5, (j + 0.5) / s - 0.5)`` LR pixels from the
    current pixel; the rotation ensemble then averages the planes of the rotated footprints.
    A cell the data rarely visits keeps an interpolating value instead of a block of the
    current pixel (which beads along edges). ``"linear"`` needs units whose inputs are not
    collinear and that are not ECLUT expand units (those fall back to nearest). With
    ``init`` (a LUT of the same method and scale, at any interval): its values, re-sampled
    to ``op.interval`` by multilinear interpolation between its levels. ``init`` may also be a LUT whose
    method's units are a subset of ``op``'s (matched by name, same kernel, divisor and
    bias, e.g. an ``eclut`` LUT for ``eclut-sdy``); the other units start at zero.
    """
    vec = np.zeros(op.size, dtype=np.float64)
    tables = op.split(vec)
    if kind not in PRIORS:
        raise LutsrError(f"prior must be one of {', '.join(PRIORS)}, got {kind!r}")
    if init is None:
        share = op.stage.divisor / op.stage.terms(op.method.rotations)
        vals = level_values(op.interval).astype(np.float64)
        for unit, t in zip(op.stage.units, tables):
            n = unit.kernel.n_inputs
            weights = _plane_weights(unit, op.scale) if kind == "linear" else None
            if weights is None:
                current = np.repeat(vals, op.levels ** (n - 1))  # row index: current pixel most significant
                t[:] = ((current - op.stage.bias) * share)[:, None]
                continue
            grid = np.stack(np.meshgrid(*([vals] * n), indexing="ij"), axis=-1).reshape(-1, n)  # row order
            t[:] = (grid @ weights.T - op.stage.bias) * share
        return vec
    if kind != "nearest":
        raise LutsrError(f"--prior goes without --init (the --init LUT is the prior; got --prior {kind})")
    if init.scale != op.scale:
        raise LutsrError(f"--init LUT is x{init.scale}, the fit is x{op.scale}")
    im = init.method
    if len(im.stages) != 1:
        raise LutsrError(f"--init LUT method {im.name} is not single-stage")
    ist = im.stages[0]
    if (ist.divisor, ist.bias) != (op.stage.divisor, op.stage.bias) or im.rotations != op.method.rotations:
        raise LutsrError(f"--init LUT method {im.name} rescales differently from {op.method.name} "
                         f"(divisor/bias {ist.divisor}/{ist.bias} vs {op.stage.divisor}/{op.stage.bias})")
    by_name = {u.name: (u, t) for u, t in zip(ist.units, init.tables)}
    matched = 0
    for unit, t in zip(op.stage.units, tables):
        if unit.name not in by_name:
            continue
        iu, it = by_name[unit.name]
        if iu.kernel.offsets != unit.kernel.offsets or iu.expand != unit.expand:
            raise LutsrError(f"--init LUT unit {unit.name} has a different kernel")
        signed = it.astype(np.float64) - im.value_offset
        t[:] = _resample_rows(signed, unit.kernel.n_inputs, init.interval, op.interval)
        matched += 1
    if not matched:
        raise LutsrError(f"--init LUT method {im.name} shares no unit with {op.method.name}")
    return vec


def _plane_weights(unit, scale: int) -> np.ndarray | None:
    """``(s*s, n)`` weights: cell ``i*s+j``'s value of the least-squares affine plane through the
    unit's ``n`` inputs, as a combination of the inputs; None where no plane is defined."""
    if unit.expand:
        return None
    offs = np.asarray(unit.kernel.offsets, dtype=np.float64)  # (n, 2): (dy, dx)
    design = np.column_stack([np.ones(len(offs)), offs])
    if np.linalg.matrix_rank(design) < 3:
        return None
    c = (np.arange(scale) + 0.5) / scale - 0.5
    py, px = np.meshgrid(c, c, indexing="ij")
    at = np.column_stack([np.ones(scale * scale), py.ravel(), px.ravel()])
    return at @ np.linalg.pinv(design)


def _resample_rows(table: np.ndarray, n: int, interval_from: int, interval_to: int) -> np.ndarray:
    """Re-sample an n-input table to another interval by multilinear interpolation between levels."""
    if interval_from == interval_to:
        return table.copy()
    _, l_f = levels_for_interval(interval_from)
    _, l_t = levels_for_interval(interval_to)
    src = level_values(interval_from).astype(np.float64)  # 0, q, 2q, ..., 255 (the last level)
    vals = level_values(interval_to).astype(np.float64)
    lo = np.clip(np.searchsorted(src, vals, side="right") - 1, 0, l_f - 2)
    step = src[lo + 1] - src[lo]  # 0 between the two top levels of interval 0 (both 255)
    fr = np.divide(vals - src[lo], step, out=np.zeros_like(vals), where=step > 0)
    out = table.reshape((l_f,) * n + table.shape[1:])
    for axis in range(n):
        a = np.take(out, lo, axis=axis)
        b = np.take(out, lo + 1, axis=axis)
        shape = [1] * out.ndim
        shape[axis] = l_t
        out = a * (1 - fr.reshape(shape)) + b * fr.reshape(shape)
    return out.reshape(l_t**n, -1)


def quantize(op: LinearLut, vec: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Round and clip signed values to the method's dtype; returns the stored tables and the clipped fraction."""
    dtype = np.dtype(op.method.table_dtype)
    off = op.method.value_offset
    lo, hi = op.method.cell_range
    r = np.floor(vec + 0.5)
    clipped = float(np.mean((r < lo) | (r > hi)))
    stored = np.clip(r, lo, hi) + off
    return [np.ascontiguousarray(t).astype(dtype) for t in op.split(stored)], clipped


# --------------------------------------------------------------------------------------
# Solver
# --------------------------------------------------------------------------------------

@dataclass
class FitConfig:
    """Options of a fit (saved in the LUT header and the resume state)."""

    method: str
    scale: int
    interval: int
    iterations: int = 8
    ridge: float = 1.0
    flip: bool = True
    init: str | None = None
    prior: str = "nearest"  # the prior without init: "nearest" or "linear" (prior_table)
    data: str = ""
    data_fingerprint: str = ""
    task: dict | None = None  # Task.to_json() of a restoration fit (scale 1); None: upscaling


@dataclass
class FitResult:
    """What a fit produced: the float solution, per-iteration history, final figures."""

    vec: np.ndarray
    history: list[dict] = field(default_factory=list)
    tables: list[np.ndarray] | None = None
    clipped: float = 0.0
    train_psnr_float: float = float("nan")
    train_psnr_quantized: float = float("nan")
    seconds: float = 0.0


def _threads() -> int:
    return numba.get_num_threads()


_STATE_KEYS = ("v", "r", "p", "dg", "rz", "f", "npix", "iteration", "config", "history")


def _state_arrays(path: Path, size: int | None = None) -> dict | None:
    """The arrays of a resume state, or ``None`` (with a one-line warning) if it is unreadable.

    A truncated or corrupt file, missing arrays, vectors of another length than ``size`` or a
    history that does not parse all mean: start over.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("not an .npz archive")
            missing = [k for k in _STATE_KEYS if k not in z.files]
            if missing:
                raise ValueError(f"missing arrays {', '.join(missing)}")
            state = {k: z[k] for k in z.files}
        if size is not None and any(state[k].shape != (size,) for k in ("v", "r", "p", "dg")):
            raise ValueError(f"vectors of another length than {size}")
        json.loads(str(state["history"]))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        log.warning("ignoring unreadable fit state %s (%s); starting over", path, msg)
        return None
    return state


def _save_state(path: Path, **arrays) -> None:
    """Write the resume state to a temporary file, fsync it and rename it into place."""
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cg_solve(op: LinearLut, data, prior: np.ndarray, ridge: float, iterations: int,
             state_path: Path | None = None, config_json: str = "",
             callback: Callable[[int, np.ndarray, dict], None] | None = None,
             passes=None) -> FitResult:
    """Preconditioned conjugate gradients on ``(A^T A + lam I) v = A^T b + lam prior``.

    Units: with ``a = gain`` (``1 / (q*divisor)``), the model is ``a A v + bias`` and
    ``b = hr - bias``; ``lam = ridge * a**2 * q**2`` (``ridge`` full-weight observations
    per cell). The quadratic objective ``f(v) = ||a A v - b||^2 + lam ||v - prior||^2`` is
    tracked exactly through the iteration (``f`` drops by ``alpha * r.z`` each step) and
    reported per pixel. ``state_path``: resume from / save to this ``.npz`` after every
    iteration. ``callback(iteration, v, record)`` runs after each iteration. ``passes``:
    who runs the passes (default :class:`LocalPasses`; ``lutsr.fit.distributed.DaskPasses``
    runs them on a Dask cluster with the same partitions and summation order, bit for bit).
    ``data`` must support ``len`` and indexing (a list of pairs) or be a ``TrainingSet``.
    """
    t_start = time.perf_counter()
    a = op.gain
    lam = ridge * (a * op.q) ** 2
    nt = _threads()
    if passes is None:
        passes = LocalPasses(op, data, nt)
    state = _state_arrays(state_path, prior.size) if state_path is not None else None
    if state is not None and str(state["config"]) != config_json:
        log.warning("fit state %s was made with other options; starting over", state_path)
        state = None
    history: list[dict] = []
    if state is not None:
        v, r, p, dg = state["v"], state["r"], state["p"], state["dg"]
        rz, f, npix, it0 = float(state["rz"]), float(state["f"]), int(state["npix"]), int(state["iteration"])
        history = json.loads(str(state["history"]))
        log.info("resuming the fit at iteration %d from %s", it0, state_path)
    else:
        # one pass: A^T b, diag(A^T A) and ||b||^2
        c_raw, d_raw, bb, npix = passes.first()
        c = c_raw * a + lam * prior
        dg = d_raw * a * a + lam
        del c_raw, d_raw
        # r = c - M v at v = prior
        v = prior.copy()
        mv = passes.ata(v) * a * a + lam * v
        r = c - mv
        # f(v) = v.M v - 2 c.v + ||b||^2 + lam ||prior||^2, with M v = c - r
        f = float(v @ (c - r) - 2 * (c @ v) + bb + lam * (prior @ prior))
        del c, mv
        z = r / dg
        p = z.copy()
        rz = float(r @ z)
        it0 = 0
        history.append({"iteration": 0, "loss": f / npix, "mse": f / npix,  # v = prior: no ridge term
                        "seconds": time.perf_counter() - t_start})
        if callback:
            callback(0, v, history[-1])
    for it in range(it0 + 1, iterations + 1):
        t0 = time.perf_counter()
        mp = passes.ata(p) * a * a + lam * p
        pmp = float(p @ mp)
        if not pmp > 0:
            log.info("conjugate gradients converged at iteration %d", it - 1)
            break
        alpha = rz / pmp
        v += alpha * p
        r -= alpha * mp
        f -= alpha * rz
        z = r / dg
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
        dev = v - prior
        rec = {"iteration": it, "loss": f / npix, "mse": (f - lam * float(dev @ dev)) / npix,
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        if state_path is not None:
            _save_state(state_path, v=v, r=r, p=p, dg=dg, rz=rz, f=f, npix=npix, iteration=it,
                        config=config_json, history=json.dumps(history))
        if callback:
            callback(it, v, rec)
    return FitResult(vec=v, history=history, seconds=time.perf_counter() - t_start)


def _psnr(mse: float) -> float:
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def train_psnr(op: LinearLut, data, vec: np.ndarray, tables: list[np.ndarray]) -> tuple[float, float]:
    """Training-set PSNR (all channels) of the float solution and of the quantized LUT as the runtime runs it."""

    lut = Lut(header=make_header(op.method.name, op.scale, op.interval), tables=tables)  # no task: runs the same
    se_f = se_q = 0.0
    n = 0
    for lr, hr in data:
        pred = np.clip(op.forward(lr, vec) * op.gain + op.stage.bias, 0, 255)
        ref = hr.astype(np.float64)
        se_f += float(np.sum((pred - ref) ** 2))
        se_q += float(np.sum((upscale(lr, lut).astype(np.float64) - ref) ** 2))
        n += hr.size
    return _psnr(se_f / n), _psnr(se_q / n)


def fit(config: FitConfig, data: TrainingSet, out: str | Path, val: str | Path | None = None,
        init: Lut | None = None, state_path: str | Path | None = None, resume: bool = True,
        progress: Callable[[str], None] | None = None, dask: str | None = None) -> FitResult:
    """Fit the tables of ``config.method`` to ``data`` and write the LUT file ``out``.

    Args:
        config: method, scale, interval, iterations, ridge, flip.
        data: the training set (``TrainingSet``), streamed once per iteration.
        out: the LUT file to write (atomically).
        val: a folder of HR images: Y-PSNR of the quantized LUT after every iteration
            (a restoration fit: PSNR over all channels of the images degraded by the task, seed 0).
        init: prior / starting point (see ``prior_table``); default nearest-neighbour.
        state_path: resume state (default ``out`` + ``.fitstate.npz``), deleted on success.
        resume: continue from ``state_path`` when it matches the options.
        progress: called with one line per iteration.
        dask: ``"local:N"`` or a scheduler address: run the passes on a Dask cluster
            (``lutsr.fit.distributed``); the result is bit-identical to the local fit.
    """
    out = Path(out)
    task = Task.from_json(config.task) if config.task is not None else None
    if task is not None and data.task != task:
        raise LutsrError(f"the fit is for {task}, the training set for {data.task or 'upscaling'}")
    op = LinearLut(config.method, config.scale, config.interval)
    prior = prior_table(op, init, config.prior)
    config.data_fingerprint = data.fingerprint()
    cfg = {k: v for k, v in asdict(config).items() if k not in ("iterations", "data")}
    config_json = json.dumps(cfg, sort_keys=True)
    state = Path(state_path) if state_path else out.with_name(out.name + ".fitstate.npz")
    if not resume and state.exists():
        state.unlink()
    val_pairs = None
    if val is not None:

        val_dir = Path(val) / "HR" if (Path(val) / "HR").is_dir() else Path(val)  # a dataset folder or its HR/
        val_pairs = load_eval_pairs(val_dir, op.scale) if task is None else restore_eval_pairs(val_dir, task)
        val_pairs = [(n, data.apply_pre(lr), hr) for n, lr, hr in val_pairs]  # a cascade's later stage
        if not val_pairs:
            raise LutsrError(f"{val}: no validation images")

    def report(it: int, vec: np.ndarray, rec: dict) -> None:
        if val_pairs is not None:
            rec["val_psnr"] = _val_psnr(op, vec, val_pairs)
        line = (f"iteration {it}/{config.iterations}: train MSE {rec['mse']:.3f} "
                f"(PSNR {_psnr(rec['mse']):.3f} dB), loss {rec['loss']:.4f}")
        if "val_psnr" in rec:
            line += f", val {'Y-' if task is None else ''}PSNR {rec['val_psnr']:.3f} dB"
        line += f", {rec['seconds']:.1f} s"
        log.info(line)
        if progress:
            progress(line)

    log.info("fitting %s x%d interval %d: %d unknowns, ridge %g, %d threads", op.method.name, op.scale,
             op.interval, op.size, config.ridge, _threads())
    if dask:
        from lutsr.fit.distributed import dask_passes  # lazy: importing lutsr.fit never imports dask
        with dask_passes(dask, op, data, _threads()) as passes:
            result = cg_solve(op, data, prior, config.ridge, config.iterations, state, config_json, report,
                              passes=passes)
    else:
        result = cg_solve(op, data, prior, config.ridge, config.iterations, state, config_json, report)
    tables, clipped = quantize(op, result.vec)
    result.tables, result.clipped = tables, clipped
    result.train_psnr_float, result.train_psnr_quantized = train_psnr(op, data, result.vec, tables)
    if init is not None and init.path is not None:
        cfg["init_sha256"] = hashlib.sha256(Path(init.path).read_bytes()).hexdigest()
    source = {"fit": {**cfg, "iterations": len(result.history) - 1, "data": str(config.data),
                      "seconds": round(result.seconds, 1), "clipped_fraction": clipped,
                      "train_psnr_float": round(result.train_psnr_float, 4),
                      "train_psnr_quantized": round(result.train_psnr_quantized, 4),
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {_threads()} threads",
                      "history": result.history}}
    save_lut(out, make_header(op.method.name, op.scale, op.interval, source=source, task=task), tables)
    if state.exists():
        state.unlink()
    return result


def fit_cascade(config: FitConfig, data: TrainingSet, out: str | Path, val: str | Path | None = None,
                init: Lut | None = None, resume: bool = True, progress: Callable[[str], None] | None = None,
                dask: str | None = None) -> list[FitResult]:
    """Fit any fittable method: a single stage (:func:`fit`), or a cascade stage by stage.

    A cascade (``MethodSpec.stage_method``, e.g. ``sdy2`` = two ``sdy`` stages; scale 1 only)
    is fitted one stage at a time: stage ``k`` as the single-stage ``stage_method``, on the
    training inputs run through stages ``1..k-1`` (``TrainingSet.with_pre``), so each
    least-squares solve is exact for the stages before it (joint training could do better;
    this is what a CPU solves in minutes). Each finished stage is kept as ``OUT.stageK.lut``
    until the end: a cascade interrupted in stage ``k`` resumes there (and stage ``k``'s own
    iterations from its fit state). ``OUT`` holds the stages' tables in order, with the task and
    every stage's fit record. ``init`` seeds the first stage only. Returns one result per stage
    (a reused stage's result has its saved history and an empty vector).
    """
    from lutsr.lut.file import load_lut

    out = Path(out)
    method = get_method(config.method)
    if method.stage_method is None:
        return [fit(config, data, out, val=val, init=init, resume=resume, progress=progress, dask=dask)]
    if config.scale != 1:
        raise LutsrError(f"{method.name} is a same-size cascade: scale must be 1 (a --task fit), got {config.scale}")
    stages = len(method.stages)
    luts: list[Lut] = []
    results: list[FitResult] = []
    parts = [out.with_name(f"{out.name}.stage{k + 1}.lut") for k in range(stages)]
    for k, part in enumerate(parts):
        stage_cfg = FitConfig(**{**asdict(config), "method": method.stage_method,
                                 "init": config.init if k == 0 else None})
        stage_data = data.with_pre(luts)
        reused = _reusable_stage(part, stage_cfg, stage_data) if resume else None
        if reused is not None:
            log.info("stage %d/%d: reusing %s (fitted earlier with the same options)", k + 1, stages, part)
            results.append(FitResult(vec=np.zeros(0), history=reused.header["source"]["fit"]["history"]))
            luts.append(reused)
            continue
        log.info("stage %d/%d of %s", k + 1, stages, method.name)
        results.append(fit(stage_cfg, stage_data, part, val=val, init=init if k == 0 else None, resume=resume,
                           progress=progress, dask=dask))
        luts.append(load_lut(part))
    task = Task.from_json(config.task) if config.task is not None else None
    stage_records = [lut.header["source"]["fit"] for lut in luts]
    source = {"fit": {"method": method.name, "stage_method": method.stage_method, "task": config.task,
                      "interval": config.interval, "data": str(config.data),
                      "seconds": round(sum(r["seconds"] for r in stage_records), 1), "stages": stage_records}}
    save_lut(out, make_header(method.name, config.scale, config.interval, source=source, task=task),
             [t for lut in luts for t in lut.tables])
    for part in parts:
        part.unlink(missing_ok=True)
    return results


def _reusable_stage(part: Path, cfg: FitConfig, data: TrainingSet) -> Lut | None:
    """The finished stage LUT ``part`` if it was fitted with ``cfg`` on ``data``, else ``None``."""
    from lutsr.lut.file import load_lut

    if not part.exists():
        return None
    try:
        lut = load_lut(part)
    except LutsrError:
        return None
    rec = lut.header["source"].get("fit", {})
    want = {k: v for k, v in asdict(cfg).items() if k not in ("data", "data_fingerprint")}
    if rec.get("data_fingerprint") != data.fingerprint() or any(rec.get(k) != v for k, v in want.items()):
        return None
    return lut


def _val_psnr(op: LinearLut, vec: np.ndarray, pairs) -> float:

    tables, _ = quantize(op, vec)
    lut = Lut(header=make_header(op.method.name, op.scale, op.interval), tables=tables)
    if op.scale == 1:  # restoration: PSNR over the whole image, all channels
        return float(np.mean([psnr(upscale(lr, lut), hr) for _, lr, hr in pairs]))
    return float(np.mean([y_psnr(upscale(lr, lut), hr, op.scale) for _, lr, hr in pairs]))
