"""The ``resample`` op of LUT networks: arbitrary-scale resampling with per-pixel steered kernels
(LeRF, ddlee-cn/LeRF-PyTorch ``resize_right/resize_right2d_numpy.py``), NumPy reference.

An op ``resample {src, params, kernel, support, max_sigma, border}`` maps an int plane ``src``
``(C, H, W)`` and a float32 plane ``params`` ``(3C, H, W)`` of per-pixel kernel hyper-parameters
in ``[0, 1]`` to an int plane ``(C, OH, OW)``. The output size is chosen when the network runs
(:func:`resample_geometry`); networks that hold a ``resample`` have ``scale`` ``None``.

Geometry (per axis, float64, in this order of operations; ``n`` input pixels, ``m`` output
pixels, scale ``s``, support ``S`` = 2):

* output pixel ``i`` sits at ``g = (i / s + (n - 1) / 2) - (m - 1) / (2 * s)`` in input pixels;
* it reads the ``S`` input pixels ``left + o`` (``o = 0..S-1``), ``left = ceil((g - S/2) - eps)``,
  ``eps`` = float32 machine epsilon (``2**-23``);
* its distance to pixel ``left + o`` is ``(g + p) - (left + o + p)`` with ``p = -left(0)`` (the
  authors shift both by their padding before subtracting; the float64 sum is kept).

Kernel ``steered_gaussian`` (LeRF-G): output ``(i, j)`` reads the ``S*S`` pixels ``(r_b, c_a)`` =
``(left_i + b, left_j + a)`` in the order ``k = a*S + b`` (column offset major: the authors'
meshgrid). Each neighbour brings its own parameters, read with edge replication: float32
``rho = p0 * 2 - 1``, ``sx = p1 * max_sigma``, ``sy = p2 * max_sigma`` (``p`` = params channels
``3c, 3c+1, 3c+2``); with float64 ``x``, ``y`` its row and column distances::

    tx = sx * x;  ty = sy * y
    w  = exp(-0.5 * ((tx * tx - (2 * rho) * ((tx * sy) * y)) + ty * ty))

(products of a float32 and a float64 in float64). The weights are normalised, ``w_k / sum``,
the sum taken in order ``((w0 + w1) + w2) + w3``; the output is ``sum_k v_k * (w_k / sum)`` in
the same order, ``v_k`` the neighbour's value (0 outside the plane with ``border: "zero"``, the
authors' constant padding; edge-replicated with ``border: "edge"``), rounded half to even.

Kernel ``amplified_linear`` (LeRF-L; one parameter channel per source channel): float32
``alpha = (p0 * 2 - 1) * max_sigma``; per axis ``l(t) = alpha*t + 1`` for ``-1 <= t < 0``,
``1 - alpha*t`` for ``0 <= t <= 1``, else 0 (float64), clipped below at 0; ``w = l(x) * l(y)``;
normalised and summed as above.

``exp`` is :func:`exp_f64`, fdlibm's algorithm written with basic IEEE float64 operations only,
so the NumPy reference, the Numba kernel (``lutsr.runtime.kernels.resample``) and any other
backend compute the same bits on every platform. (The authors' ``np.exp`` is a platform's
libm or SIMD routine; on x86 with AVX-512 NumPy's differs from glibc's in ~5% of arguments by one
ulp. ``exp_f64`` is within one ulp of both, see ``tests/net/test_lerf.py``.)

Downscaling (``s < 1``: the authors' antialiasing widens the support) is not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lutsr.errors import LutsrError

__all__ = ["KERNELS", "ResampleGeometry", "resample_geometry", "axis_taps", "exp_f64", "steered_params",
           "linear_params", "resample_reference", "resample_float_reference", "lr_rows_needed", "infer_resample"]

#: kernel name -> number of parameter channels per source channel
KERNELS = {"steered_gaussian": 3, "amplified_linear": 1}
#: kernel name -> largest ``max_sigma`` for which the weights cannot all vanish (params within 0..1.01)
_MAX_SIGMA = {"steered_gaussian": 16.0, "amplified_linear": 1.9}
EPS32 = float(np.finfo(np.float32).eps)  # the authors' ``self.eps``
MAX_OUT = 1 << 16  # output pixels per side

# fdlibm e_exp.c constants
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08


def exp_f64(x: np.ndarray) -> np.ndarray:
    """``exp(x)`` for float64 ``x`` in ``[-700, 0]`` (fdlibm ``__ieee754_exp``, error < 1 ulp).

    ``x = k ln2 + r`` with ``k = floor(x / ln2 + 1/2)`` and ``ln2`` split in two so that ``x - k ln2_hi``
    is exact; ``exp(r) = 1 + r + r c / (2 - c)``, ``c = r - r^2 (P1 + ... + P5 r^8)``; times ``2**k``
    (exact: the results here are normal numbers). Only ``+ - * /``, floor and ldexp: reproducible.
    """
    x = np.asarray(x, np.float64)
    k = np.floor(x * _INV_LN2 + 0.5)
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return np.ldexp(y, k.astype(np.int64))


@dataclass(frozen=True)
class ResampleGeometry:
    """Input and output sizes and the scale factors the grid uses (the authors' ``set_shape``)."""

    in_h: int
    in_w: int
    out_h: int
    out_w: int
    scale_h: float
    scale_w: float


def _pair(v, what: str) -> tuple:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise LutsrError(f"resample {what} {v!r}: expected one value or (height, width)")
        return tuple(v)
    return (v, v)


def resample_geometry(in_h: int, in_w: int, scale=None, out_shape=None) -> ResampleGeometry:
    """The output size and scale factors for an ``in_h x in_w`` input, as the authors' ``set_shape``.

    ``scale`` (a number or ``(sh, sw)``) alone: ``out = ceil(scale * in)``. ``out_shape`` alone:
    ``scale = out / in``. Both: both as given. Scales below 1 (downscaling) are refused.
    """
    if in_h < 1 or in_w < 1:
        raise LutsrError(f"resample: empty input {in_h}x{in_w}")
    if scale is None and out_shape is None:
        raise LutsrError("this network resamples to any size: give a scale or an output size")
    if scale is not None:
        sh, sw = _pair(scale, "scale")
        for v in (sh, sw):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v) or not 1.0 <= float(v) <= MAX_OUT:
                raise LutsrError(f"resample scale {v!r}: expected a number from 1 (downscaling is not implemented)")
        sh, sw = float(sh), float(sw)
    if out_shape is not None:
        oh, ow = _pair(out_shape, "output size")
        for v, n in ((oh, in_h), (ow, in_w)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not n <= v <= MAX_OUT:
                raise LutsrError(f"resample output size {v!r}: expected an integer from the input size {n} "
                                 f"to {MAX_OUT}")
        oh, ow = int(oh), int(ow)
        if scale is None:
            sh, sw = oh / in_h, ow / in_w
    else:
        oh, ow = math.ceil(sh * in_h), math.ceil(sw * in_w)
        if max(oh, ow) > MAX_OUT:
            raise LutsrError(f"resample output {oh}x{ow} is larger than {MAX_OUT} pixels a side")
    return ResampleGeometry(int(in_h), int(in_w), oh, ow, sh, sw)


def axis_taps(n: int, m: int, s: float, support: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Along one axis: ``idx (m, support)`` int64 input pixels (unclamped, may be -1 or n) and
    ``dis (m, support)`` float64 distances, exactly as ``get_projected_grid2d`` /
    ``get_field_of_view2d`` / ``calc_pad_sz`` / ``get_distance`` compute them."""
    i = np.arange(m, dtype=np.int64)
    g = i / float(s) + (n - 1) / 2 - (m - 1) / (2 * float(s))
    left = np.ceil(g - support / 2 - EPS32).astype(np.int64)
    pad = -int(left[0])
    idx = left[:, None] + np.arange(support, dtype=np.int64)[None, :]
    dis = (g + pad)[:, None] - (idx + pad).astype(np.float64)
    return idx, dis


def lr_rows_needed(geom: ResampleGeometry, y0: int, y1: int, support: int = 2) -> tuple[int, int]:
    """Input rows ``[r0, r1)`` (clamped to the plane) that output rows ``[y0, y1)`` read (for banding)."""
    idx, _ = axis_taps(geom.in_h, geom.out_h, geom.scale_h, support)
    lo, hi = int(idx[y0:y1].min()), int(idx[y0:y1].max())
    return max(lo, 0), min(hi, geom.in_h - 1) + 1


def steered_params(params: np.ndarray, max_sigma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 ``(3C, H, W)`` -> float32 ``rho, sx, sy`` each ``(C, H, W)``: ``p*2 - 1``, ``p*max_sigma``."""
    p = np.asarray(params, np.float32)
    ms = np.float32(max_sigma)
    return p[0::3] * np.float32(2) - np.float32(1), p[1::3] * ms, p[2::3] * ms


def linear_params(params: np.ndarray, max_sigma) -> np.ndarray:
    """float32 ``(C, H, W)`` -> float32 ``alpha = (p*2 - 1) * max_sigma``."""
    p = np.asarray(params, np.float32)
    return (p * np.float32(2) - np.float32(1)) * np.float32(max_sigma)


def _amplified_linear(alpha: np.ndarray, t: np.ndarray) -> np.ndarray:
    """LeRF-L's ``linear_alpha`` clipped at 0 (float64; only the sign of a zero can differ from theirs)."""
    at = alpha * t
    v = np.where((t >= -1) & (t < 0), at + 1, np.where((t >= 0) & (t <= 1), 1 - at, 0.0))
    return np.maximum(v, 0.0)


def resample_float_reference(src: np.ndarray, params: np.ndarray, geom: ResampleGeometry, max_sigma=10,
                             border: str = "zero", support: int = 2, kernel: str = "steered_gaussian") -> np.ndarray:
    """The float64 resampled planes ``(C, OH, OW)`` before rounding (module docstring)."""
    src = np.asarray(src)
    c, h, w = src.shape
    if kernel == "amplified_linear":
        alpha = linear_params(params, max_sigma)
        rho = sx = sy = alpha
    else:
        rho, sx, sy = steered_params(params, max_sigma)
    ri, rd = axis_taps(h, geom.out_h, geom.scale_h, support)
    ci, cd = axis_taps(w, geom.out_w, geom.scale_w, support)
    rc, cc = np.clip(ri, 0, h - 1), np.clip(ci, 0, w - 1)
    inside = ((ri >= 0) & (ri < h))[:, None, :, None] & ((ci >= 0) & (ci < w))[None, :, None, :]
    out = np.empty((c, geom.out_h, geom.out_w), np.float64)
    for ch in range(c):
        ws, vs = [], []
        for a in range(support):
            for b in range(support):
                R, C = np.ix_(rc[:, b], cc[:, a])
                x, y = rd[:, b][:, None], cd[:, a][None, :]
                v = src[ch][R, C].astype(np.float64)
                if border == "zero":
                    v = np.where(inside[:, :, b, a], v, 0.0)
                vs.append(v)
                if kernel == "amplified_linear":
                    f_alpha = alpha[ch][R, C].astype(np.float64)
                    ws.append(_amplified_linear(f_alpha, x) * _amplified_linear(f_alpha, y))
                    continue
                f_rho = rho[ch][R, C].astype(np.float64)
                f_sx = sx[ch][R, C].astype(np.float64)
                f_sy = sy[ch][R, C].astype(np.float64)
                tx, ty = f_sx * x, f_sy * y
                q = (tx * tx - (2 * f_rho) * ((tx * f_sy) * y)) + ty * ty
                ws.append(exp_f64(-0.5 * q))
        total = ws[0]
        for wk in ws[1:]:
            total = total + wk
        acc = vs[0] * (ws[0] / total)
        for vk, wk in zip(vs[1:], ws[1:]):
            acc = acc + vk * (wk / total)
        out[ch] = acc
    return out


def resample_reference(src: np.ndarray, params: np.ndarray, geom: ResampleGeometry, max_sigma=10,
                       border: str = "zero", support: int = 2, kernel: str = "steered_gaussian") -> np.ndarray:
    """The ``resample`` op: int ``(C, H, W)`` and float32 ``(nC, H, W)`` -> int64 ``(C, OH, OW)``,
    ``np.round`` (half to even) of :func:`resample_float_reference`."""
    return np.round(resample_float_reference(src, params, geom, max_sigma, border, support, kernel)).astype(np.int64)


def infer_resample(op: dict, src, params, fail) -> tuple[int, float, float]:
    """Check a ``resample`` op's fields against its planes' :class:`~lutsr.net.graph.PlaneInfo`;
    returns ``(channels, lo, hi)`` of its output (``fail(msg)`` raises)."""
    name = op.get("out")
    if op.get("kernel") not in KERNELS:
        fail(f"op 'resample' -> {name!r}: kernel {op.get('kernel')!r}, expected one of {list(KERNELS)}")
    if op.get("support") != 2 or isinstance(op.get("support"), bool):
        fail(f"op 'resample' -> {name!r}: support {op.get('support')!r}, expected 2 (the only size implemented)")
    ms, top = op.get("max_sigma"), _MAX_SIGMA[op["kernel"]]
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 < ms <= top:
        fail(f"op 'resample' -> {name!r}: max_sigma {ms!r}, expected a number in (0, {top:g}]")
    if op.get("border") not in ("zero", "edge"):
        fail(f"op 'resample' -> {name!r}: border {op.get('border')!r}, expected 'zero' or 'edge'")
    if src.kind != "int" or params.kind != "f32":
        fail(f"op 'resample' -> {name!r}: src must be an int plane and params a float32 plane")
    if src.res != 1 or params.res != 1:
        fail(f"op 'resample' -> {name!r}: src and params must be at the input resolution")
    if params.channels != KERNELS[op["kernel"]] * src.channels:
        fail(f"op 'resample' -> {name!r}: {params.channels} parameter channels for {src.channels} source "
             f"channel(s), expected {KERNELS[op['kernel']] * src.channels}")
    # params in [0, 1] (a little slack for float32 rounding): then |rho| <= 1.02 and sigma <= 16.2, the
    # exponent stays above -1100 * 0.5, no weight underflows to 0 and the normalising sum is > 0; for
    # amplified_linear |alpha| < 2, so one of the two taps of each axis keeps a weight > 0
    if params.lo.min() < -0.01 or params.hi.max() > 1.01:
        fail(f"op 'resample' -> {name!r}: parameters may take {params.lo.min():g}..{params.hi.max():g}, "
             "outside 0..1")
    # a normalised weighted mean of the neighbours (0 outside the plane with the zero border)
    lo, hi = src.lo.copy(), src.hi.copy()
    if op["border"] == "zero":
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    return src.channels, np.floor(lo), np.ceil(hi)
