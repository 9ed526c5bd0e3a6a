"""The NumPy reference of LUT networks: every op of :mod:`lutsr.net.graph`, written to be read.

Slow (whole-plane NumPy passes, one per lookup term) and exact: integer planes are int64,
float planes float32 with NumPy's IEEE arithmetic in the order the ops give (``resample``:
float64 inside, :mod:`lutsr.net.resample`). The Numba
runtime (:mod:`lutsr.runtime.netrun`) is tested bit for bit against :func:`run_network`.
"""

from __future__ import annotations

import numpy as np

from lutsr.errors import LutsrError
from lutsr.net.graph import TERM_FIXED, Network
from lutsr.net.resample import ResampleGeometry, resample_geometry, resample_reference
from lutsr.spec import simplex_reference
from lutsr.spec import pad_index

__all__ = ["run_network", "run_ops", "round_div_array"]


def round_div_array(acc: np.ndarray, d: int, rounding: str) -> np.ndarray:
    """``round(acc / d)`` in exact integers: ``half_even`` (np.round), ``half_up`` or ``floor``."""
    acc = np.asarray(acc, np.int64)
    q = acc // d
    r = acc - q * d
    if rounding == "floor":
        return q
    up = 2 * r > d
    if rounding == "half_up":
        up |= 2 * r == d
    else:
        up |= (2 * r == d) & (q % 2 == 1)
    return q + up


def _tap(plane: np.ndarray, ch: int, dy: int, dx: int, border: str) -> np.ndarray:
    """``plane[ch, y + dy, x + dx]`` for every ``(y, x)``, padded at the plane's edges."""
    _, h, w = plane.shape
    ys = pad_index(np.arange(h) + dy, h, border)
    xs = pad_index(np.arange(w) + dx, w, border)
    return plane[ch][np.ix_(ys, xs)]


def _simplex_term(table: np.ndarray, src: np.ndarray, t: np.ndarray, k: int, levels: int, border: str,
                  big: int) -> np.ndarray:
    """One ``simplex`` term in units of ``1/big``: ``simplex_reference`` over the term's k taps."""
    _, off, stride, cell, lo, step = (int(v) for v in t[:TERM_FIXED])
    taps = t[TERM_FIXED:].reshape(k, 3)
    u = np.stack([_tap(src, *tap, border).ravel() - lo for tap in taps], axis=1)  # (N, k), >= 0
    rows, weights = simplex_reference(u, step.bit_length() - 1, levels)
    rows = np.where(weights > 0, rows, rows[:, :1])  # vertices of weight 0 are not read
    val = (table[off + rows * stride + cell] * weights).sum(axis=1)
    return (val * (big // step)).reshape(src.shape[1:])


def _lut(op: dict, src: np.ndarray, net: Network) -> np.ndarray:
    table = net.tables[op["table"]].astype(np.int64).ravel()
    terms = net.tables[op["terms"]].astype(np.int64)
    k, border = int(op["k"]), op["border"]
    steps = terms[:, 5]
    big = int(steps.max()) if op["index"] in ("linear", "simplex") else 1
    acc = np.zeros((int(op["n_out"]),) + src.shape[1:], np.int64)
    for t in terms:
        out, off, stride, cell, lo, step = (int(v) for v in t[:TERM_FIXED])
        taps = t[TERM_FIXED:].reshape(k, 3)
        if op["index"] == "linear":
            u = _tap(src, *taps[0], border) - lo
            row, f = u // step, u % step
            val = table[off + row * stride + cell] * (step - f)
            nxt = np.where(f > 0, row + 1, row)  # the next row is only read when it has a weight
            val = val + table[off + nxt * stride + cell] * f
            acc[out] += val * (big // step)
        elif op["index"] == "simplex":
            acc[out] += _simplex_term(table, src, t, k, int(op["levels"]), border, big)
        else:
            row = np.zeros(src.shape[1:], np.int64)
            for ch, dy, dx in taps:
                row = row * int(op["levels"]) + (_tap(src, ch, dy, dx, border) - lo)
            acc[out] += table[off + row * stride + cell]
    d = big * int(op["divisor"])
    if op["rounding"] == "none":  # the raw sum, in units of 1/big (a later 'div' op divides)
        return acc + int(op.get("bias", 0))
    return round_div_array(acc + int(op.get("bias", 0)) * d, d, op["rounding"])


def _pixel_shuffle(a: np.ndarray, s: int) -> np.ndarray:
    c, h, w = a.shape
    return a.reshape(c // (s * s), s, s, h, w).transpose(0, 3, 1, 4, 2).reshape(c // (s * s), h * s, w * s)


def _f32(a) -> np.ndarray:
    return np.asarray(a).astype(np.float32)


def run_ops(ops: list, planes: dict, net: Network, geom: ResampleGeometry | None = None) -> str | None:
    """Execute ``ops`` on ``planes`` (name -> array, updated in place); return the 'output' plane name.

    ``geom``: the output size of ``resample`` ops (networks of scale ``None``)."""
    result = None
    for op in ops:
        kind = op["op"]
        g = planes.get
        if kind == "output":
            result = op["src"]
            continue
        if kind == "add_const":
            v = g(op["src"]) + int(op["value"])
        elif kind == "add":
            v = g(op["a"]) + g(op["b"])
        elif kind == "clamp":
            v = np.clip(g(op["src"]), int(op["lo"]), int(op["hi"]))
        elif kind == "rshift":
            v = g(op["src"]) >> int(op["bits"])
        elif kind == "mask":
            v = g(op["src"]) & ((1 << int(op["bits"])) - 1)
        elif kind == "remap":
            t = net.tables[op["table"]].astype(np.int64)
            src = g(op["src"])
            rows = np.arange(src.shape[0]) if t.shape[0] > 1 else np.zeros(src.shape[0], np.int64)
            v = np.stack([t[rows[c]][src[c] - int(op["lo"])] for c in range(src.shape[0])])
        elif kind == "lut":
            v = _lut(op, g(op["src"]), net)
        elif kind == "shift":
            src = g(op["src"])
            offs = net.tables[op["offsets"]]
            v = np.stack([_tap(src, c, int(offs[c, 0]), int(offs[c, 1]), op["border"]) for c in range(src.shape[0])])
        elif kind == "pixel_shuffle":
            v = _pixel_shuffle(g(op["src"]), int(op["scale"]))
        elif kind == "upsample":
            s = int(op["scale"])
            v = g(op["src"]).repeat(s, axis=1).repeat(s, axis=2)
        elif kind == "ensemble":
            src = g(op["src"])
            total = None
            for r in op["rotations"]:
                inner = {"x": np.rot90(src, r, axes=(1, 2)).copy()}
                run_ops(op["body"], inner, net)
                y = np.rot90(inner[op["body_out"]], -r, axes=(1, 2))
                if op.get("clamp") is not None:
                    y = np.clip(y, op["clamp"][0], op["clamp"][1])
                total = y.astype(np.int64) if total is None else total + y
            v = total
        elif kind == "div":
            d = int(op["divisor"])
            v = round_div_array(g(op["src"]) + int(op.get("bias", 0)) * d, d, op["rounding"])
        elif kind == "sum_channels":
            v = g(op["src"]).sum(axis=0, keepdims=True)
        elif kind == "fdiv":
            v = _f32(g(op["src"])) / np.float32(op["value"])
        elif kind == "fmul":
            v = _f32(g(op["src"])) * np.float32(op["value"])
        elif kind == "fadd":
            v = g(op["a"]) + g(op["b"])
        elif kind == "fclamp":
            v = np.clip(g(op["src"]), np.float32(op["lo"]), np.float32(op["hi"]))
        elif kind == "floor":
            v = np.floor(g(op["src"])).astype(np.int64)
        elif kind == "round":
            v = np.round(g(op["src"])).astype(np.int64)
        elif kind == "resample":
            v = resample_reference(g(op["src"]), g(op["params"]), geom, op["max_sigma"], op["border"],
                                   int(op["support"]), op["kernel"])
        else:  # pragma: no cover - validate() refuses unknown ops
            raise ValueError(f"unknown op {kind!r}")
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = v.astype(np.float32)
        elif isinstance(v, np.ndarray):
            v = v.astype(np.int64)
        planes[op["out"]] = v
    return result


def run_network(net: Network, img: np.ndarray, scale=None, out_shape=None) -> np.ndarray:
    """Run ``net`` on one channel: uint8 ``(H, W)`` -> uint8 ``(H*s, W*s)``.

    A network of scale ``None`` (it resamples) needs ``scale`` (a number or ``(sh, sw)``) or
    ``out_shape`` ``(OH, OW)``: :func:`lutsr.net.resample.resample_geometry`.
    """
    img = np.asarray(img)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W) plane, got {img.dtype}{img.shape}")
    geom = None
    if net.scale is None:
        geom = resample_geometry(img.shape[0], img.shape[1], scale, out_shape)
    elif (scale is not None and scale != net.scale) or out_shape is not None:
        raise LutsrError(f"this network upscales x{net.scale} only")
    planes = {"x": img[None].astype(np.int64)}
    out = run_ops(net.ops, planes, net, geom)
    res = planes[out][0]
    assert res.min(initial=0) >= 0 and res.max(initial=0) <= 255, "validate() guarantees 0..255"
    return res.astype(np.uint8)
