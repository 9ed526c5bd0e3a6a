"""Numba kernel of the ``resample`` op of LUT networks (LeRF's steered Gaussian and amplified linear
resampling).

NumPy meaning: :func:`lutsr.net.resample.resample_reference` (read its module docstring for the
arithmetic); the tests compare the two bit for bit. The geometry (per output row and column: the
two input pixels read and the float64 distances to them) and the float32 kernel parameters are
computed once per call with the reference's own NumPy functions (``axis_taps``,
``steered_params``); the kernel does the per-pixel float64 work in the reference's order, with the
same fdlibm ``exp`` (only ``+ - * /``, floor and ldexp, no fused multiply-add: Numba does not
contract without ``fastmath``).

:func:`run_resample` is what the network runtime calls, once per channel plane (or per band of
output rows, see its docstring).
"""

from __future__ import annotations

import math

import numpy as np

from lutsr.errors import LutsrError
from lutsr.net.resample import (_INV_LN2, _LN2_HI, _LN2_LO, _P1, _P2, _P3, _P4, _P5, KERNELS, ResampleGeometry,
                                axis_taps, linear_params, lr_rows_needed, steered_params)
from lutsr.runtime.kernels.jit import inline, kernel

__all__ = ["resample_kernel", "run_resample", "run_resample_float"]


@inline
def _exp(x):  # pragma: no cover - compiled
    """``lutsr.net.resample.exp_f64`` for one float64."""
    k = math.floor(x * _INV_LN2 + 0.5)
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, int(k))


@inline
def _linear(alpha, t):  # pragma: no cover - compiled
    """``lutsr.net.resample._amplified_linear`` for one float64."""
    at = alpha * t
    if t >= -1.0 and t < 0.0:
        v = at + 1.0
    elif t >= 0.0 and t <= 1.0:
        v = 1.0 - at
    else:
        v = 0.0
    return v if v > 0.0 else 0.0


@kernel()
def resample_kernel(src, rho, sx, sy, linear, ri, rd, ci, cd, in_h, row0, zero_border, y0, out):  # pragma: no cover
    """Resampling of output rows ``y0 .. y0 + out.shape[1] - 1`` (steered Gaussian, or amplified linear).

    Args:
        src: int32 ``(C, h, W)``, rows ``row0 .. row0 + h - 1`` of the ``(C, in_h, W)`` source.
        rho, sx, sy: float32 ``(C, h, W)``, the same rows of the kernel parameters (``steered_params``);
            with ``linear`` (``amplified_linear``), ``rho`` is ``alpha`` (``linear_params``) and the
            others are not read.
        ri, rd: int64 / float64 ``(OH, 2)``: per output row the input rows read (unclamped) and the distances.
        ci, cd: the same ``(OW, 2)`` per output column.
        zero_border: read 0 outside the source (else replicate its edge). Parameters always replicate.
        out: float64 ``(C, n_rows, OW)``, written.
    """
    n_ch, _, w = src.shape
    n_rows, ow = out.shape[1], out.shape[2]
    ws = np.empty(4, np.float64)
    vs = np.empty(4, np.float64)
    for ch in range(n_ch):
        for ii in range(n_rows):
            i = y0 + ii
            for j in range(ow):
                k = 0
                for a in range(2):
                    col = ci[j, a]
                    y = cd[j, a]
                    cc = min(max(col, 0), w - 1)
                    for b in range(2):
                        row = ri[i, b]
                        x = rd[i, b]
                        rr = min(max(row, 0), in_h - 1) - row0
                        f_rho = np.float64(rho[ch, rr, cc])
                        if linear:
                            ws[k] = _linear(f_rho, x) * _linear(f_rho, y)
                        else:
                            f_sx = np.float64(sx[ch, rr, cc])
                            f_sy = np.float64(sy[ch, rr, cc])
                            tx = f_sx * x
                            ty = f_sy * y
                            q = (tx * tx - (2.0 * f_rho) * ((tx * f_sy) * y)) + ty * ty
                            ws[k] = _exp(-0.5 * q)
                        if zero_border and (row < 0 or row >= in_h or col < 0 or col >= w):
                            vs[k] = 0.0
                        else:
                            vs[k] = np.float64(src[ch, rr, cc])
                        k += 1
                total = ws[0]
                for m in range(1, 4):
                    total = total + ws[m]
                acc = vs[0] * (ws[0] / total)
                for m in range(1, 4):
                    acc = acc + vs[m] * (ws[m] / total)
                out[ch, ii, j] = acc


def run_resample_float(src: np.ndarray, params: np.ndarray, op: dict, geom: ResampleGeometry,
                       rows: tuple[int, int] | None = None, src_row0: int = 0) -> np.ndarray:
    """The float64 output of a ``resample`` op before rounding: ``(C, y1 - y0, OW)``.

    Args:
        src: int ``(C, h, in_w)``: rows ``src_row0 .. src_row0 + h - 1`` of the op's source plane
            (the whole plane, ``src_row0 = 0``, by default).
        params: float32 ``(3C, h, in_w)``: the same rows of the op's ``params`` plane.
        op: the validated ``resample`` op (``kernel``, ``support``, ``max_sigma``, ``border``).
        geom: the run's :class:`~lutsr.net.resample.ResampleGeometry` (``resample_geometry`` of the
            network input's full size and the asked scale or size).
        rows: output rows ``[y0, y1)`` to compute (default all); the band must hold the input rows
            :func:`lutsr.net.resample.lr_rows_needed` gives for them.
    """
    src = np.asarray(src)
    params = np.asarray(params)
    n = KERNELS.get(op.get("kernel"), 0)
    if src.ndim != 3 or params.ndim != 3 or n == 0 or params.shape != (n * src.shape[0],) + src.shape[1:] \
            or src.shape[2] != geom.in_w or int(op.get("support", 0)) != 2:
        raise LutsrError(f"resample: source {src.shape} / parameters {params.shape} / kernel {op.get('kernel')!r} "
                         f"do not fit a {geom.in_h}x{geom.in_w} input")
    y0, y1 = (0, geom.out_h) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= y0 < y1 <= geom.out_h:
        raise LutsrError(f"resample: output rows {y0}..{y1} outside 0..{geom.out_h}")
    r0, r1 = lr_rows_needed(geom, y0, y1)
    if src_row0 > r0 or src_row0 + src.shape[1] < r1:
        raise LutsrError(f"resample: output rows {y0}..{y1} read input rows {r0}..{r1}, the band holds "
                         f"{src_row0}..{src_row0 + src.shape[1]}")
    ri, rd = axis_taps(geom.in_h, geom.out_h, geom.scale_h)
    ci, cd = axis_taps(geom.in_w, geom.out_w, geom.scale_w)
    linear = op["kernel"] == "amplified_linear"
    if linear:
        rho = sx = sy = np.ascontiguousarray(linear_params(params, op["max_sigma"]))
    else:
        rho, sx, sy = (np.ascontiguousarray(a) for a in steered_params(params, op["max_sigma"]))
    out = np.empty((src.shape[0], y1 - y0, geom.out_w), np.float64)
    resample_kernel(np.ascontiguousarray(src, np.int32), rho, sx, sy, linear, ri, rd, ci, cd, geom.in_h,
                    src_row0, op["border"] == "zero", y0, out)
    return out


def run_resample(src: np.ndarray, params: np.ndarray, op: dict, geom: ResampleGeometry,
                 rows: tuple[int, int] | None = None, src_row0: int = 0) -> np.ndarray:
    """A ``resample`` op: int32 ``(C, y1 - y0, OW)``, :func:`run_resample_float` rounded half to even
    (``np.round``, as the reference)."""
    return np.round(run_resample_float(src, params, op, geom, rows, src_row0)).astype(np.int32)
