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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numba
import numpy as np
from numba import njit, prange

from lutsr.errors import LutsrError
from lutsr.lutfile import Lut, load_lut, make_header, save_lut
from lutsr.runtime import CACHE_DIR, _pad, _simplex, _work_buffers
from lutsr.spec import EXPAND_DIRECTIONS, MethodSpec, get_method, level_values, levels_for_interval

__all__ = ["LinearLut", "TrainingSet", "FitConfig", "FitResult", "fit", "prior_table", "quantize",
           "forward_reference", "adjoint_reference", "cg_solve"]

log = logging.getLogger(__name__)

_USER_CACHE_DIR = numba.config.CACHE_DIR
if not _USER_CACHE_DIR:
    numba.config.CACHE_DIR = str(CACHE_DIR)


# --------------------------------------------------------------------------------------
# Numba kernels (NumPy references below: forward_reference / adjoint_reference)
# --------------------------------------------------------------------------------------

@njit(inline="always")
def _vertices(x, y, xx, offs, reflect, interval, strides, frac, order, rows, wts):  # pragma: no cover - compiled
    """Simplex vertices/weights of the kernel at (y, xx) of a 2-D uint8 image; returns the count.

    Padding and the simplex walk are the runtime's (``runtime._pad``, ``runtime._simplex``).
    """
    h, w = x.shape
    n = offs.shape[0]
    q = 1 << interval
    base = 0
    for i in range(n):
        v = np.int64(x[_pad(y + offs[i, 0], h, reflect), _pad(xx + offs[i, 1], w, reflect)])
        base += (v >> interval) * strides[i]
        frac[i] = v & (q - 1)
    return _simplex(base, frac, strides, n, q, order, rows, wts)


@njit(parallel=True, cache=True)
def _maps_forward(x, table, offs, reflect, interval, levels, s, maps):  # pragma: no cover - compiled
    """``maps[g, y*s+i, x*s+j] = sum_v w_v * table[row_v, (g*s+i)*s+j]`` for every LR pixel (y, x)."""
    h, w = x.shape
    n = offs.shape[0]
    nmaps = maps.shape[0]
    ss = s * s
    for y in prange(h):
        strides, frac, order, rows, wts = _work_buffers(n, levels)
        acc = np.empty(table.shape[1], np.float64)
        for xx in range(w):
            m = _vertices(x, y, xx, offs, reflect, interval, strides, frac, order, rows, wts)
            acc[:] = 0.0
            for v in range(m):
                wt = np.float64(wts[v])
                if wt != 0.0:
                    row = table[rows[v]]
                    for c in range(acc.shape[0]):
                        acc[c] += wt * row[c]
            for g in range(nmaps):
                for i in range(s):
                    for j in range(s):
                        maps[g, y * s + i, xx * s + j] = acc[g * ss + i * s + j]


@njit(parallel=True, cache=True)
def _maps_adjoint(x, maps, offs, reflect, interval, levels, s, square, grads):  # pragma: no cover - compiled
    """Adjoint of ``_maps_forward``: ``grads[t, row_v, cell] += w_v * maps[...]`` (``w_v**2`` if square).

    ``grads`` is ``(T, rows, cells)``: task t owns ``grads[t]`` and a contiguous range of LR
    rows, so no two threads write the same memory. The caller sums over t.
    """
    h, w = x.shape
    n = offs.shape[0]
    nmaps = maps.shape[0]
    ss = s * s
    ncell = grads.shape[2]
    nt = grads.shape[0]
    for t in prange(nt):
        strides, frac, order, rows, wts = _work_buffers(n, levels)
        vals = np.empty(ncell, np.float64)
        g_t = grads[t]
        for y in range(t * h // nt, (t + 1) * h // nt):
            for xx in range(w):
                m = _vertices(x, y, xx, offs, reflect, interval, strides, frac, order, rows, wts)
                for g in range(nmaps):
                    for i in range(s):
                        for j in range(s):
                            vals[g * ss + i * s + j] = maps[g, y * s + i, xx * s + j]
                for v in range(m):
                    wt = np.float64(wts[v])
                    if wt != 0.0:
                        if square:
                            wt = wt * wt
                        row = g_t[rows[v]]
                        for c in range(ncell):
                            row[c] += wt * vals[c]


@njit(parallel=True, cache=True)
def _expand_gather(maps, out):  # pragma: no cover - compiled
    """ExpandConv: ``out[Y, X] += sum_g maps[g, refl(Y - dy_g), refl(X - dx_g)]``."""
    hs, ws = out.shape
    for yy in prange(hs):
        for g in range(9):
            dy = g // 3 - 1
            dx = g % 3 - 1
            sy = _pad(yy - dy, hs, True)
            for xx in range(ws):
                out[yy, xx] += maps[g, sy, _pad(xx - dx, ws, True)]


@njit(parallel=True, cache=True)
def _expand_scatter(res, maps):  # pragma: no cover - compiled
    """Adjoint of ``_expand_gather``: ``maps[g, refl(Y - dy), refl(X - dx)] += res[Y, X]`` (maps zeroed first)."""
    hs, ws = res.shape
    for g in prange(9):
        dy = g // 3 - 1
        dx = g % 3 - 1
        m = maps[g]
        m[:, :] = 0.0
        for yy in range(hs):
            sy = _pad(yy - dy, hs, True)
            for xx in range(ws):
                m[sy, _pad(xx - dx, ws, True)] += res[yy, xx]


numba.config.CACHE_DIR = _USER_CACHE_DIR


# --------------------------------------------------------------------------------------
# The linear operator
# --------------------------------------------------------------------------------------

class LinearLut:
    """The linear map from a single-stage method's signed table values to HR images.

    Args:
        method: a method name or ``MethodSpec`` with one stage that upscales.
        scale: 2..8. interval: 0..8 (bits dropped).

    The parameter vector is flat float64 of length :attr:`size`: every unit's
    ``(rows, cells)`` table, in file order. :meth:`forward` and :meth:`adjoint` are in
    *accumulator* units (interpolation sums, not yet divided by ``q * divisor``);
    :attr:`gain` ``= 1 / (q * divisor)`` turns them into pixel units.
    """

    def __init__(self, method: str | MethodSpec, scale: int, interval: int) -> None:
        self.method = get_method(method) if isinstance(method, str) else method
        if len(self.method.stages) != 1 or not self.method.stages[0].upscale:
            raise LutsrError(f"{self.method.name} has {len(self.method.stages)} stages; "
                             "lutsr fit solves single-stage methods only")
        if not 2 <= int(scale) <= 8:
            raise LutsrError(f"scale must be 2..8, got {scale}")
        self.scale = int(scale)
        self.interval = int(interval)
        self.q, self.levels = levels_for_interval(interval)
        self.stage = self.method.stages[0]
        self.shapes = self.method.table_shapes(self.scale, self.interval)
        self.offsets = np.cumsum([0] + [r * c for r, c in self.shapes])
        self.size = int(self.offsets[-1])
        self.gain = 1.0 / (self.q * self.stage.divisor)
        self.reflect = self.stage.pad_mode == "reflect"
        self._offs = [np.array(u.kernel.offsets, dtype=np.int64) for u in self.stage.units]

    def split(self, vec: np.ndarray) -> list[np.ndarray]:
        """Views of ``vec`` (or of the last axis of a ``(T, size)`` array) as the units' tables."""
        out = []
        for (r, c), a, b in zip(self.shapes, self.offsets[:-1], self.offsets[1:]):
            out.append(vec[..., a:b].reshape(vec.shape[:-1] + (r, c)))
        return out

    def forward(self, lr: np.ndarray, vec: np.ndarray) -> np.ndarray:
        """``A vec``: ``(h, w)`` uint8 LR, flat float64 ``vec`` -> ``(h*s, w*s)`` float64 accumulator."""
        s = self.scale
        h, w = lr.shape
        out = np.zeros((h * s, w * s), dtype=np.float64)
        tables = [np.ascontiguousarray(t) for t in self.split(vec)]
        for r in range(self.method.rotations):
            xr = np.ascontiguousarray(np.rot90(lr, r))
            hs, ws = xr.shape[0] * s, xr.shape[1] * s
            part = np.zeros((hs, ws), dtype=np.float64)  # every unit of this rotation, rotated frame
            for unit, table, offs in zip(self.stage.units, tables, self._offs):
                maps = np.empty((9 if unit.expand else 1, hs, ws), dtype=np.float64)
                _maps_forward(xr, table, offs, self.reflect, self.interval, self.levels, s, maps)
                if unit.expand:
                    _expand_gather(maps, part)
                else:
                    part += maps[0]
            out += np.rot90(part, -r)
        return out

    def adjoint(self, lr: np.ndarray, res: np.ndarray, grads: np.ndarray, square: bool = False) -> None:
        """Add ``A^T res`` to ``grads`` (``(T, size)`` float64, summed over T by the caller).

        With ``square=True`` adds ``(A*A)^T res`` (weights squared): with ``res`` all ones,
        the diagonal of ``A^T A`` up to cells used twice for one output pixel.
        """
        s = self.scale
        for r in range(self.method.rotations):
            xr = np.ascontiguousarray(np.rot90(lr, r))
            rr = np.ascontiguousarray(np.rot90(res, r))  # adjoint of rotating the result back by -r
            for unit, g_tab, offs in zip(self.stage.units, self.split(grads), self._offs):
                if unit.expand:
                    maps = np.empty((9,) + rr.shape, dtype=np.float64)
                    _expand_scatter(rr, maps)
                else:
                    maps = rr[None]
                _maps_adjoint(xr, maps, offs, self.reflect, self.interval, self.levels, s, square, g_tab)


# --------------------------------------------------------------------------------------
# NumPy references (the specification the kernels are tested against)
# --------------------------------------------------------------------------------------

def forward_reference(lr: np.ndarray, vec: np.ndarray, op: LinearLut) -> np.ndarray:
    """``A vec`` through ``lutsr.reference`` (float tables, value offset 0): ``(h*s, w*s)`` float64."""
    from lutsr.reference import stage_accumulate_reference

    tables = [t + op.method.value_offset for t in op.split(np.asarray(vec, dtype=np.float64))]
    return stage_accumulate_reference(lr, tables, op.method, op.stage, op.scale, op.interval).astype(np.float64)


def adjoint_reference(lr: np.ndarray, res: np.ndarray, op: LinearLut) -> np.ndarray:
    """``A^T res`` written out with ``np.add.at``: flat float64 of length ``op.size``."""
    from lutsr.reference import simplex_reference
    from lutsr.spec import pad_index, reflect_index

    s = op.scale
    grads = [np.zeros(shape, dtype=np.float64) for shape in op.shapes]
    for unit, grad in zip(op.stage.units, grads):
        k = unit.kernel
        for r in range(op.method.rotations):
            x = np.rot90(lr, r)
            rr = np.rot90(res, r)  # adjoint of rotating the result back by -r
            h, w = x.shape
            if unit.expand:  # adjoint of out[Y, X] += map_g[refl(Y - dy), refl(X - dx)]
                maps = np.zeros((9,) + rr.shape)
                ys, xs = np.arange(rr.shape[0]), np.arange(rr.shape[1])
                for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
                    np.add.at(maps[g], np.ix_(reflect_index(ys - dy, rr.shape[0]), reflect_index(xs - dx, rr.shape[1])),
                              rr)
            else:
                maps = rr[None]
            # cells of LR pixel (y, x): map g, sub-pixel (i, j) -> cell (g*s + i)*s + j
            cells = maps.reshape(-1, h, s, w, s).transpose(1, 3, 0, 2, 4).reshape(h * w, -1)
            ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            values = np.stack([x[pad_index(ys + dy, h, op.stage.pad_mode), pad_index(xs + dx, w, op.stage.pad_mode)]
                               .ravel() for dy, dx in k.offsets], axis=1)
            rows, weights = simplex_reference(values, op.interval)
            for v in range(rows.shape[1]):
                np.add.at(grad, rows[:, v], weights[:, v, None] * cells)
    return np.concatenate([g.ravel() for g in grads])


# --------------------------------------------------------------------------------------
# Training data, streamed
# --------------------------------------------------------------------------------------

class TrainingSet:
    """``(lr, hr)`` uint8 channel pairs from an image folder, produced image by image.

    Every colour channel of every image is a sample; with ``flip`` the transposed channel
    is one more (the rotation ensemble makes other flips and rotations nearly redundant).
    HR is modcropped, LR is the MATLAB-compatible bicubic downscale (double precision).
    Prepared pairs are kept in memory up to ``cache_bytes``; the rest is re-read each pass.
    """

    def __init__(self, folder: str | Path, scale: int, flip: bool = True, cache_bytes: int = 1 << 30,
                 limit: int | None = None) -> None:
        from lutsr.data import find_images

        self.folder = Path(folder)
        self.scale = int(scale)
        self.flip = bool(flip)
        self.files = find_images(self.folder)[:limit]
        if not self.files:
            raise LutsrError(f"{self.folder}: no training images")
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._cached = 0
        self.pixels: int | None = None  # HR samples per pass, known after the first pass

    def fingerprint(self) -> str:
        """Identifies the file list (names and sizes) and options, for resuming."""
        h = hashlib.sha256(json.dumps([self.scale, self.flip]).encode())
        for f in self.files:
            h.update(f"{f.relative_to(self.folder)}:{f.stat().st_size}".encode())
        return h.hexdigest()

    def _prepare(self, path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
        from lutsr.imageio import read_image
        from lutsr.imresize import imresize, modcrop

        img = read_image(path)
        chans = [img] if img.ndim == 2 else [img[..., c] for c in range(min(3, img.shape[2]))]
        pairs = []
        for ch in chans:
            variants = [ch, ch.T] if self.flip else [ch]
            for hr in variants:
                hr = np.ascontiguousarray(modcrop(hr, self.scale))
                if min(hr.shape) < self.scale:
                    continue
                pairs.append((imresize(hr, 1.0 / self.scale), hr))
        return pairs

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pixels = 0
        for i, f in enumerate(self.files):
            pairs = self._cache.get(i)
            if pairs is None:
                try:
                    pairs = self._prepare(f)
                except LutsrError as e:
                    log.warning("skipping training image: %s", e)
                    pairs = []
                size = sum(a.nbytes + b.nbytes for a, b in pairs)
                if self._cached + size <= self.cache_bytes:
                    self._cache[i] = pairs
                    self._cached += size
            for lr, hr in pairs:
                pixels += hr.size
                yield lr, hr
        if pixels == 0:
            raise LutsrError(f"{self.folder}: no usable training images")
        self.pixels = pixels


# --------------------------------------------------------------------------------------
# Priors, quantization
# --------------------------------------------------------------------------------------

def _terms(op: LinearLut) -> int:
    """Table cells summed into one output pixel (units x rotations x maps)."""
    return sum(op.method.rotations * (9 if u.expand else 1) for u in op.stage.units)


def prior_table(op: LinearLut, init: Lut | None = None) -> np.ndarray:
    """The ridge prior, flat float64 signed values.

    Without ``init``: the nearest-neighbour table (every cell of a row holds the current
    pixel's share ``(value - bias) * divisor / terms``). With ``init`` (a LUT of the same
    method and scale, at any interval): its values, re-sampled to ``op.interval`` by
    multilinear interpolation between its levels. ``init`` may also be a LUT whose
    method's units are a subset of ``op``'s (matched by name, same kernel, divisor and
    bias, e.g. an ``eclut`` LUT for ``eclut-sdy``); the other units start at zero.
    """
    vec = np.zeros(op.size, dtype=np.float64)
    tables = op.split(vec)
    if init is None:
        share = op.stage.divisor / _terms(op)
        vals = level_values(op.interval).astype(np.float64)
        for unit, t in zip(op.stage.units, tables):
            n = unit.kernel.n_inputs
            current = np.repeat(vals, op.levels ** (n - 1))  # row index: current pixel most significant
            t[:] = ((current - op.stage.bias) * share)[:, None]
        return vec
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
    info = np.iinfo(dtype)
    off = op.method.value_offset
    lo, hi = info.min - off, info.max - off
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
    data: str = ""
    data_fingerprint: str = ""


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


def _pass(op: LinearLut, data, vec: np.ndarray, grads: np.ndarray) -> None:
    """``grads[:] = A^T A vec`` over the data set (in accumulator units, T-buffered)."""
    grads[:] = 0.0
    for lr, _ in data:
        op.adjoint(lr, op.forward(lr, vec), grads)


def _threads() -> int:
    return numba.get_num_threads()


def _state_arrays(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable fit state %s (%s)", path, e)
        return None


def _save_state(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def cg_solve(op: LinearLut, data, prior: np.ndarray, ridge: float, iterations: int,
             state_path: Path | None = None, config_json: str = "",
             callback: Callable[[int, np.ndarray, dict], None] | None = None) -> FitResult:
    """Preconditioned conjugate gradients on ``(A^T A + lam I) v = A^T b + lam prior``.

    Units: with ``a = gain`` (``1 / (q*divisor)``), the model is ``a A v + bias`` and
    ``b = hr - bias``; ``lam = ridge * a**2 * q**2`` (``ridge`` full-weight observations
    per cell). The quadratic objective ``f(v) = ||a A v - b||^2 + lam ||v - prior||^2`` is
    tracked exactly through the iteration (``f`` drops by ``alpha * r.z`` each step) and
    reported per pixel. ``state_path``: resume from / save to this ``.npz`` after every
    iteration. ``callback(iteration, v, record)`` runs after each iteration.
    """
    t_start = time.perf_counter()
    a = op.gain
    lam = ridge * (a * op.q) ** 2
    nt = _threads()
    grads = np.zeros((nt, op.size), dtype=np.float64)
    state = _state_arrays(state_path) if state_path is not None else None
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
        bias = op.stage.bias
        c_buf = np.zeros((nt, op.size), dtype=np.float64)
        bb = 0.0
        npix = 0
        for lr, hr in data:
            b = hr.astype(np.float64) - bias
            bb += float(np.dot(b.ravel(), b.ravel()))
            npix += b.size
            op.adjoint(lr, b, c_buf)
            op.adjoint(lr, np.ones_like(b), grads, square=True)
        c = c_buf.sum(axis=0) * a + lam * prior
        del c_buf
        dg = grads.sum(axis=0) * a * a + lam
        # r = c - M v at v = prior
        v = prior.copy()
        _pass(op, data, v, grads)
        mv = grads.sum(axis=0) * a * a + lam * v
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
        _pass(op, data, p, grads)
        mp = grads.sum(axis=0) * a * a + lam * p
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
    from lutsr.runtime import upscale

    lut = Lut(header=make_header(op.method.name, op.scale, op.interval), tables=tables)
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
        progress: Callable[[str], None] | None = None) -> FitResult:
    """Fit the tables of ``config.method`` to ``data`` and write the LUT file ``out``.

    Args:
        config: method, scale, interval, iterations, ridge, flip.
        data: the training set (``TrainingSet``), streamed once per iteration.
        out: the LUT file to write (atomically).
        val: a folder of HR images: Y-PSNR of the quantized LUT after every iteration.
        init: prior / starting point (see ``prior_table``); default nearest-neighbour.
        state_path: resume state (default ``out`` + ``.fitstate.npz``), deleted on success.
        resume: continue from ``state_path`` when it matches the options.
        progress: called with one line per iteration.
    """
    out = Path(out)
    op = LinearLut(config.method, config.scale, config.interval)
    prior = prior_table(op, init)
    config.data_fingerprint = data.fingerprint()
    cfg = {k: v for k, v in asdict(config).items() if k not in ("iterations", "data")}
    config_json = json.dumps(cfg, sort_keys=True)
    state = Path(state_path) if state_path else out.with_name(out.name + ".fitstate.npz")
    if not resume and state.exists():
        state.unlink()
    val_pairs = None
    if val is not None:
        from lutsr.data import load_eval_pairs

        val_dir = Path(val) / "HR" if (Path(val) / "HR").is_dir() else Path(val)  # a dataset folder or its HR/
        val_pairs = load_eval_pairs(val_dir, op.scale)
        if not val_pairs:
            raise LutsrError(f"{val}: no validation images")

    def report(it: int, vec: np.ndarray, rec: dict) -> None:
        if val_pairs is not None:
            rec["val_psnr"] = _val_psnr(op, vec, val_pairs)
        line = (f"iteration {it}/{config.iterations}: train MSE {rec['mse']:.3f} "
                f"(PSNR {_psnr(rec['mse']):.3f} dB), loss {rec['loss']:.4f}")
        if "val_psnr" in rec:
            line += f", val Y-PSNR {rec['val_psnr']:.3f} dB"
        line += f", {rec['seconds']:.1f} s"
        log.info(line)
        if progress:
            progress(line)

    log.info("fitting %s x%d interval %d: %d unknowns, ridge %g, %d threads", op.method.name, op.scale,
             op.interval, op.size, config.ridge, _threads())
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
    save_lut(out, make_header(op.method.name, op.scale, op.interval, source=source), tables)
    if state.exists():
        state.unlink()
    return result


def _val_psnr(op: LinearLut, vec: np.ndarray, pairs) -> float:
    from lutsr.metrics import y_psnr
    from lutsr.runtime import upscale

    tables, _ = quantize(op, vec)
    lut = Lut(header=make_header(op.method.name, op.scale, op.interval), tables=tables)
    return float(np.mean([y_psnr(upscale(lr, lut), hr, op.scale) for _, lr, hr in pairs]))
