"""The runtime of LUT networks (format-2 LUT files, ``lutsr.net.graph``).

``compile_network`` turns a validated :class:`~lutsr.net.graph.Network` into a
:class:`CompiledNet`: every op's arrays converted once to what its kernel reads (int32 tables and
term lists, padding radii, rounding codes). ``run_net`` executes it on an ``(H, W, C)`` uint8 image:
every channel and every band of rows (with the network's halo) is an independent task, run on a
pool of threads (the kernels release the GIL), so the output does not depend on the thread or
band count. Table lookups run in the Numba kernels of ``lutsr.runtime.kernels.net``; elementwise
integer and float32 ops run as NumPy array operations, which are the same operations as the
reference (``lutsr.net.reference``) executes.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from lutsr.errors import LutsrError
from lutsr.lut.file import Lut
from lutsr.net.graph import Network
from lutsr.net.graph import OPS
from lutsr.net.reference import round_div_array
from lutsr.net.resample import resample_geometry
from lutsr.runtime.kernels.resample import run_resample
from lutsr.runtime.kernels.simplex import lut_simplex_kernel
from lutsr.runtime.kernels.net import (ROUND_CODES, add_clamp, ensemble_add, ensemble_add_perm, lut_direct_kernel,
                                      lut_gather_kernel, lut_pass_kernel, magic_divisor, remap_kernel, shift_kernel)

_DUMMY = np.zeros((1, 1, 1), np.int32)
_NO_REMAP = np.zeros((1, 1), np.int32)  # an epilogue without a value map: never read

__all__ = ["CompiledNet", "compile_network", "run_net"]


@dataclass
class CompiledNet:
    """A LUT network ready to run: ``steps`` (op, arrays) and the network's geometry.

    Attributes:
        lut: the source LUT. scale: output / input size. halo: input rows a band needs beyond
        itself. steps: per top-level op ``(op, prepared)``; an ensemble's ``prepared`` holds its
        body's steps.
    """

    lut: Lut
    net: Network
    scale: int
    halo: int
    steps: list = field(repr=False)
    channels: int = 1  # the most channels any plane has

    @property
    def nbytes(self) -> int:
        """Memory held: the stored tables plus the int32 copies the kernels read."""
        def size(steps):
            n = 0
            for op, prep in steps:
                if isinstance(prep, dict):
                    n += sum(v.nbytes for v in prep.values() if isinstance(v, np.ndarray))
                    if "body" in prep:
                        n += size(prep["body"])
            return n

        return int(sum(t.nbytes for t in self.lut.tables) + size(self.steps))

    @property
    def streams(self) -> bool:
        return False

    @property
    def routes(self) -> tuple[str, ...]:
        return ("network",)


def _narrow(a: np.ndarray) -> np.ndarray:
    """int16 when every value fits (half the cache footprint), else int32."""
    if a.size == 0 or (a.min() >= -32768 and a.max() <= 32767):
        return np.ascontiguousarray(a, dtype=np.int16)
    return np.ascontiguousarray(a, dtype=np.int32)


def _linear_passes(op: dict, net: Network) -> dict:
    """Passes of a linear-index ``lut`` op (see ``kernels.net``): tables expanded to every input value."""
    table = net.tables[op["table"]].ravel().astype(np.int64)
    terms = net.tables[op["terms"]].astype(np.int64)
    info = net.input_info(op)
    n_out = int(op["n_out"])
    big = int(terms[:, 5].max())
    vlo = info.lo.astype(np.int64)
    vhi = info.hi.astype(np.int64)

    def expanded(t) -> tuple[int, np.ndarray]:
        out, off, stride, cell, lo, step, ch = (int(v) for v in t[:7])
        v = np.arange(vlo[ch], vhi[ch] + 1)
        u = v - lo
        row, f = u // step, u % step
        val = table[off + row * stride + cell] * (step - f) + table[off + np.where(f > 0, row + 1, row) * stride + cell] * f
        return int(vlo[ch]), val * (big // step)

    groups: dict = {}
    for i, t in enumerate(terms):
        groups.setdefault((int(t[7]), int(t[8]), int(t[6])), []).append(i)
    # (kind, dy, dx, [(term, channel)]) with distinct outputs per pass
    passes = []
    pool: dict = {}
    for (dy, dx, ch), idx in groups.items():
        if len(idx) == 1 and n_out > 1:
            pool.setdefault((dy, dx), []).append(idx[0])
            continue
        while idx:
            seen, take, rest = set(), [], []
            for i in idx:
                (rest if int(terms[i, 0]) in seen else take).append(i)
                seen.add(int(terms[i, 0]))
            passes.append((0, dy, dx, take))
            idx = rest
    for (dy, dx), idx in pool.items():
        while idx:
            seen, take, rest = set(), [], []
            for i in idx:
                (rest if int(terms[i, 0]) in seen else take).append(i)
                seen.add(int(terms[i, 0]))
            passes.append((1 if len(take) > 1 else 0, dy, dx, take))
            idx = rest
    lanes = 4 if n_out <= 4 else -(-n_out // 16) * 16  # rows padded for the vector adds
    meta, cmaps, blocks, pos = [], [], [], 0
    for kind, dy, dx, take in passes:
        chans = sorted({int(terms[i, 6]) for i in take})
        base = int(min(vlo[c] for c in chans))
        top = int(max(vhi[c] for c in chans))
        block = np.zeros((top - base + 1, lanes), np.int64)
        cmap = np.full(n_out, chans[0], np.int64)
        for i in take:
            lo_c, vals = expanded(terms[i])
            o = int(terms[i, 0])
            block[lo_c - base : lo_c - base + len(vals), o] += vals
            cmap[o] = int(terms[i, 6])
        meta.append([kind, dy, dx, chans[0], base, pos])
        cmaps.append(cmap)
        blocks.append(block.ravel())
        pos += block.size
    taps = terms[:, 7:9]
    meta, cmaps = np.array(meta, np.int64), np.array(cmaps, np.int64)
    flat = np.concatenate(blocks)
    # depthwise: every pass gathers output o from channel o of a 16-channel plane: 16 lanes at once
    gather = (info.channels == 16 and n_out == 16 and lanes == 16 and bool(np.all(meta[:, 0] == 1))
              and bool(np.all(cmaps == np.arange(16))))
    return {"passes": meta, "cmap": cmaps, "gather": gather,
            "table": np.ascontiguousarray(flat, dtype=np.int32) if gather else _narrow(flat), "r": int(np.abs(taps).max()), "d": big * int(op["divisor"]),
            "lanes": lanes}


def _direct_passes(op: dict, net: Network) -> dict:
    """Passes of a direct-index ``lut`` op: terms sharing a row index (same table block and taps) form one."""
    terms = net.tables[op["terms"]].astype(np.int64)
    k = int(op["k"])
    n_out = int(op["n_out"])
    groups: dict = {}
    for t in terms:
        key = (int(t[1]), int(t[2]), int(t[4]), tuple(int(v) for v in t[6:]))
        groups.setdefault(key, []).append((int(t[0]), int(t[3])))
    taps, cells, offs, strides, los = [], [], [], [], []
    for (off, stride, lo, tp), outs in groups.items():
        while outs:
            row = np.full(n_out, -1, np.int64)
            rest = []
            for o, cl in outs:
                if row[o] >= 0:
                    rest.append((o, cl))
                else:
                    row[o] = cl
            taps.append(np.array(tp, np.int64).reshape(k, 3))
            cells.append(row)
            offs.append(off)
            strides.append(stride)
            los.append(lo)
            outs = rest
    taps = np.array(taps, np.int64)
    return {"taps": taps, "cells": np.array(cells, np.int64), "base_off": np.array(offs, np.int64),
            "stride": np.array(strides, np.int64), "lo": np.array(los, np.int64),
            "table": _narrow(net.tables[op["table"]].ravel()), "r": int(np.abs(taps[:, :, 1:]).max()),
            "d": int(op["divisor"])}


def _sum_bound(prep: dict) -> int:
    """A bound on every partial sum of a linear-index op's passes: the sum over passes of the largest
    magnitude in the pass's block of rows; -1 (no bound) unless the rows are int16 (direct-index and
    gather ops, int32 tables)."""
    if "passes" not in prep or prep.get("gather") or prep["table"].dtype != np.int16:
        return -1
    t = prep["table"].astype(np.int64)
    ends = [*prep["passes"][1:, 5], t.size]
    return int(sum(np.abs(t[int(a):int(b)]).max(initial=0) for a, b in zip(prep["passes"][:, 5], ends)))


def _magic(d: int, net: Network, op: dict, sum_bound: int = -1) -> np.ndarray:
    """``[m, k, K, bias * d, vec, narrow]``: the exact multiply that replaces ``// d`` for this op's
    accumulator range (``m = 0``: none fits), the op's bias in accumulator units, 1 when the float32
    vector rounding is exact for that range, and 1 when the passes may sum in int16 lanes
    (``sum_bound``, from :func:`_sum_bound`, below 2**15)."""
    info = net.plane_info(op)
    bd = int(op.get("bias", 0)) * d
    bound = int(max(abs(info.lo.min()), abs(info.hi.max())) + 1) * d  # |acc + bd| <= that (before dividing)
    vec = int(bound + abs(bd) < (1 << 21))  # simd.round_div_f32's exactness condition
    # int16 sums: rows stored as int16, every partial sum below 2**15 (then no lane can wrap)
    narrow = int(0 <= sum_bound < (1 << 15) and vec == 1)
    try:
        return np.array(magic_divisor(d, bound) + (bd, vec, narrow), np.int64)
    except ValueError:
        return np.array([0, 0, 0, bd, vec, narrow], np.int64)


def _reads(ops: list, extra: tuple = ()) -> dict:
    """How many times each plane is read in one scope (ops' inputs, plus ``extra`` names)."""
    n: dict = {}
    for op in ops:
        for key in OPS[op["op"]]:
            n[op[key]] = n.get(op[key], 0) + 1
    for name in extra:
        n[name] = n.get(name, 0) + 1
    return n


def _fuse_epilogue(ops: list, i: int, reads: dict, net: Network, n_out: int) -> tuple[int, dict]:
    """Fold the ops after the ``lut`` op ``ops[i]`` into its epilogue while each reads only the
    previous result and nothing else reads that: [clamp] [add R1] [add R2] [clamp] [remap]
    [pixel_shuffle]. Returns the index of the last op folded and the epilogue fields."""
    epi = np.zeros(13, np.int64)
    res = {"r1": None, "r2": None, "s": 1, "rmt": _NO_REMAP}
    cur, j, stage = ops[i]["out"], i, 0  # stage: 0 start, 1 after clamp0, 2 after r1, 3 after r2, 4 after clamp1

    def single(name):
        return reads.get(name, 0) == 1

    while j + 1 < len(ops) and single(cur):
        nxt = ops[j + 1]
        kind = nxt["op"]
        if kind == "clamp" and nxt["src"] == cur and stage in (0, 2, 3):
            k = 0 if stage == 0 else 7
            epi[k : k + 3] = (1, int(nxt["lo"]), int(nxt["hi"]))
            stage = 1 if stage == 0 else 4
        elif kind == "add" and stage < 3 and cur in (nxt["a"], nxt["b"]) and nxt["a"] != nxt["b"]:
            other = nxt["b"] if nxt["a"] == cur else nxt["a"]
            c_other = net.input_info(nxt, "b" if nxt["a"] == cur else "a").channels
            if c_other not in (1, n_out) or net.input_info(nxt, "a" if nxt["a"] == cur else "b").channels != n_out:
                break
            slot = "r1" if stage < 2 else "r2"
            res[slot] = other
            k = 3 if slot == "r1" else 5
            epi[k : k + 2] = (1, 1 if c_other > 1 else 0)
            stage = 2 if slot == "r1" else 3
        elif kind == "remap" and nxt["src"] == cur and stage < 5:
            t = np.asarray(net.tables[nxt["table"]], np.int32)
            if t.shape[0] not in (1, n_out):
                break
            res["rmt"] = np.ascontiguousarray(np.broadcast_to(t, (n_out, t.shape[1])))
            epi[10:13] = (1, int(nxt["lo"]), t.shape[1])
            stage = 5
        elif kind == "pixel_shuffle" and nxt["src"] == cur and n_out % (int(nxt["scale"]) ** 2) == 0:
            res["s"] = int(nxt["scale"])
            cur, j = nxt["out"], j + 1
            break
        else:
            break
        cur, j = nxt["out"], j + 1
    res["epi"] = epi
    res["out"] = cur
    return j, res


def _prepare(ops: list, net: Network, extra: tuple = ()) -> list:
    """Compiled steps of one scope (``extra``: planes read from outside it, e.g. the body output)."""
    steps = []
    reads = _reads(ops, extra)
    i = 0
    while i < len(ops):
        op = ops[i]
        kind = op["op"]
        prep = None
        if kind == "lut" and op["index"] == "simplex":
            terms = np.ascontiguousarray(net.tables[op["terms"]], dtype=np.int32)
            k = int(op["k"])
            prep = {"simplex": True, "terms": terms, "k": k,  # the stored table as is (int8: a quarter of int32)
                    "table": np.ascontiguousarray(net.tables[op["table"]].ravel()),
                    "r": int(np.abs(terms[:, 6:].reshape(len(terms), k, 3)[:, :, 1:]).max()),
                    "big": int(terms[:, 5].max()), "bias": int(op.get("bias", 0)),
                    "reflect": op["border"] == "reflect", "mode": ROUND_CODES[op["rounding"]]}
        elif kind == "lut":
            prep = _linear_passes(op, net) if op["index"] == "linear" else _direct_passes(op, net)
            if op["rounding"] == "none":
                prep["d"] = 1  # the raw sum (units of 1/S): nothing to divide
            prep.update(reflect=op["border"] == "reflect", mode=ROUND_CODES[op["rounding"]],
                        magic=_magic(prep["d"], net, op, _sum_bound(prep)))
            i, fused = _fuse_epilogue(ops, i, reads, net, int(op["n_out"]))
            prep.update(fused)
        elif kind == "add":
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            prep = {"clamp": None, "out": op["out"]}
            if nxt is not None and nxt["op"] == "clamp" and nxt["src"] == op["out"] and reads.get(op["out"]) == 1:
                prep = {"clamp": (int(nxt["lo"]), int(nxt["hi"])), "out": nxt["out"]}
                i += 1
        elif kind == "remap":
            prep = {"table": np.ascontiguousarray(net.tables[op["table"]], dtype=np.int32)}
        elif kind == "shift":
            prep = {"offsets": np.ascontiguousarray(net.tables[op["offsets"]], dtype=np.int64)}
        elif kind == "ensemble":
            prep = {"body": _prepare(op["body"], net, (op["body_out"],))}
            prep.update(_lr_ensemble(prep["body"], op))
        steps.append((op, prep))
        i += 1
    return steps


#: ``np.rot90(m, k, axes=(0, 1))`` as views, without its argument handling (k = 0..3)
_ROT90 = (lambda m: m, lambda m: m[:, ::-1].transpose(1, 0, 2), lambda m: m[::-1, ::-1],
          lambda m: m[::-1].transpose(1, 0, 2))


@functools.lru_cache(maxsize=64)
def _subpixel_perm(s: int, n: int, r: int) -> np.ndarray:
    """Where channel ``c*s*s + i*s + j`` (sub-pixel (i, j), PyTorch order) of an LR plane goes when its
    pixel-shuffled HR plane is rotated by ``np.rot90(., -r)``: the LR grid rotates with the same
    rule, and within each s x s block (i, j) goes to (i, j), (j, s-1-i), (s-1-i, s-1-j), (s-1-j, i)
    for r = 0, 1, 2, 3."""
    perm = np.empty(n * s * s, np.int64)
    for c in range(n):
        for i in range(s):
            for j in range(s):
                ti, tj = [(i, j), (j, s - 1 - i), (s - 1 - i, s - 1 - j), (s - 1 - j, i)][r % 4]
                perm[c * s * s + i * s + j] = c * s * s + ti * s + tj
    perm.flags.writeable = False  # cached: shared by every call
    return perm


def _lr_ensemble(body: list, op: dict) -> dict:
    """An ensemble whose body ends in a pixel shuffle sums its rotations at LR resolution: the body's
    last step runs without the shuffle, each rotation's ``(h, w, n*s*s)`` result is rotated back as
    an LR grid with its sub-pixel channels permuted (``_subpixel_perm``), clamped and summed, and
    one pixel shuffle follows. Clamping and summing are per element, so this is the same sum as
    rotating and adding the HR planes; it saves a pixel shuffle and an HR transpose per rotation."""
    for k in range(len(body) - 1, -1, -1):  # the step that writes body_out
        o, p = body[k]
        out = p["out"] if isinstance(p, dict) and "out" in p else o["out"]
        if out == op["body_out"]:
            break
    else:
        return {"lr_scale": 1}
    if any(oo[key] == op["body_out"] for oo, _ in body for key in OPS.get(oo["op"], ())):
        return {"lr_scale": 1}  # the HR plane is also read inside the body: keep it
    if o["op"] == "pixel_shuffle":
        sc = int(o["scale"])
        body[k] = ({"op": "alias", "out": o["out"], "src": o["src"]}, None)
    elif o["op"] == "lut" and isinstance(p, dict) and p.get("s", 1) > 1:
        sc = int(p["s"])
        body[k] = (o, {**p, "s": 1})
    else:
        return {"lr_scale": 1}
    return {"lr_scale": sc}


def compile_network(lut: Lut) -> CompiledNet:
    """Compile the network of a format-2 ``lut`` (cached on the ``Lut``)."""
    cached = lut._compiled.get(("compiled", "network"))
    if cached is not None:
        return cached
    net = lut.network
    out = CompiledNet(lut=lut, net=net, scale=net.scale, halo=(net.halo() + 1) if net.scale else 0,
                      steps=_prepare(net.ops, net), channels=max(i.channels for i in net._info.values()))
    lut._compiled[("compiled", "network")] = out
    return out


def _pixel_shuffle(a: np.ndarray, s: int) -> np.ndarray:
    """(H, W, C*s*s) -> (H*s, W*s, C); channel ``c*s*s + i*s + j`` goes to sub-pixel (i, j) (PyTorch order)."""
    h, w, c = a.shape
    n = c // (s * s)
    return np.ascontiguousarray(a.reshape(h, w, n, s, s).transpose(0, 3, 1, 4, 2)).reshape(h * s, w * s, n)


def _chw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, -1, 0))


def _hwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 0, -1))


def _exec(steps: list, planes: dict, geom=None) -> str | None:
    """Run compiled steps on channel-last planes ``(H, W, C)`` (int32, or float32 for the f-ops);
    ``geom`` the output geometry of a ``resample`` op (any-scale networks)."""
    result = None
    for op, prep in steps:
        kind = op["op"]
        g = planes.get
        if kind == "output":
            result = op["src"]
            continue
        if kind == "lut" and prep.get("simplex"):
            v = _hwc(lut_simplex_kernel(_chw(g(op["src"])), prep["table"], prep["terms"], prep["k"], int(op["levels"]),
                                        int(op["n_out"]), prep["r"], prep["big"], int(op["divisor"]), prep["bias"],
                                        prep["mode"], prep["reflect"]))
        elif kind == "resample":
            v = _hwc(run_resample(_chw(g(op["src"])), _chw(g(op["params"])), op, geom))
        elif kind == "lut":
            src = g(op["src"])
            r1 = g(prep["r1"]) if prep["r1"] else _DUMMY
            r2 = g(prep["r2"]) if prep["r2"] else _DUMMY
            if prep.get("gather"):
                v = lut_gather_kernel(src, prep["r"], prep["reflect"], prep["passes"], prep["table"], int(op["n_out"]),
                                      prep["d"], prep["mode"], prep["magic"], prep["epi"], r1, r2, prep["rmt"],
                                      prep["s"])
            elif "passes" in prep:
                v = lut_pass_kernel(src, prep["r"], prep["reflect"], prep["passes"], prep["cmap"], prep["table"],
                                    int(op["n_out"]), prep["lanes"], prep["d"], prep["mode"], prep["magic"],
                                    prep["epi"], r1, r2, prep["rmt"], prep["s"])
            else:
                v = lut_direct_kernel(src, prep["r"], prep["reflect"], prep["taps"], prep["cells"], prep["table"],
                                      prep["base_off"], prep["stride"], int(op["levels"]), prep["lo"],
                                      int(op["n_out"]), prep["d"], prep["mode"], prep["magic"], prep["epi"], r1, r2,
                                      prep["rmt"], prep["s"])
            planes[prep["out"]] = v
            continue
        elif kind == "add_const":
            v = g(op["src"]) + np.int32(op["value"])
        elif kind == "add":
            cl = prep["clamp"]
            v = add_clamp(g(op["a"]), g(op["b"]), np.int32(cl[0] if cl else 0), np.int32(cl[1] if cl else 0),
                          cl is not None)
            planes[prep["out"]] = v
            continue
        elif kind == "clamp":
            v = np.clip(g(op["src"]), np.int32(op["lo"]), np.int32(op["hi"]))
        elif kind == "rshift":
            v = g(op["src"]) >> np.int32(op["bits"])
        elif kind == "mask":
            v = g(op["src"]) & np.int32((1 << int(op["bits"])) - 1)
        elif kind == "remap":
            v = remap_kernel(g(op["src"]), prep["table"], np.int32(op["lo"]))
        elif kind == "shift":
            v = shift_kernel(g(op["src"]), prep["offsets"], op["border"] == "reflect")
        elif kind == "pixel_shuffle":
            v = _pixel_shuffle(g(op["src"]), int(op["scale"]))
        elif kind == "upsample":
            s = int(op["scale"])
            v = g(op["src"]).repeat(s, axis=0).repeat(s, axis=1)
        elif kind == "ensemble":
            src = g(op["src"])
            total = None
            cl = op.get("clamp") or (-(1 << 30), 1 << 30)
            sc = prep["lr_scale"]
            for r in op["rotations"]:
                inner = {"x": np.ascontiguousarray(_ROT90[r % 4](src))}
                _exec(prep["body"], inner)
                y = inner[op["body_out"]]
                if total is None:
                    hy, wy = y.shape[:2]
                    total = np.empty((wy, hy, y.shape[2]) if r % 2 else y.shape, np.int32)
                if sc > 1:  # LR planes of sub-pixel channels (_lr_ensemble)
                    ensemble_add_perm(total, y, r, sc, _subpixel_perm(sc, y.shape[2] // (sc * sc), r % 4),
                                      np.int32(cl[0]), np.int32(cl[1]), r == op["rotations"][0])
                else:
                    ensemble_add(total, y, r, np.int32(cl[0]), np.int32(cl[1]), r == op["rotations"][0])
            v = _pixel_shuffle(total, sc) if sc > 1 else total
        elif kind == "alias":  # a pixel shuffle that _lr_ensemble moved after the rotations' sum
            v = g(op["src"])
        elif kind == "div":
            d = int(op["divisor"])
            v = round_div_array(g(op["src"]).astype(np.int64) + int(op.get("bias", 0)) * d, d, op["rounding"])
        elif kind == "sum_channels":
            v = g(op["src"]).sum(axis=2, keepdims=True, dtype=np.int64)
        elif kind == "fdiv":
            v = g(op["src"]).astype(np.float32) / np.float32(op["value"])
        elif kind == "fmul":
            v = g(op["src"]).astype(np.float32) * np.float32(op["value"])
        elif kind == "fadd":
            v = g(op["a"]) + g(op["b"])
        elif kind == "fclamp":
            v = np.clip(g(op["src"]), np.float32(op["lo"]), np.float32(op["hi"]))
        elif kind == "floor":
            v = np.floor(g(op["src"])).astype(np.int32)
        elif kind == "round":
            v = np.round(g(op["src"])).astype(np.int32)
        else:  # pragma: no cover - validate() refuses unknown ops
            raise ValueError(f"unknown op {kind!r}")
        if v.dtype.kind == "f":
            v = v.astype(np.float32, copy=False)
        else:
            v = np.ascontiguousarray(v, dtype=np.int32)
        planes[op["out"]] = v
    return result


def _run_plane(comp: CompiledNet, plane: np.ndarray, geom=None) -> np.ndarray:
    planes = {"x": np.ascontiguousarray(plane[..., None], dtype=np.int32)}
    out = _exec(comp.steps, planes, geom)
    return planes[out][..., 0].astype(np.uint8)




def run_net(comp: CompiledNet, image: np.ndarray, bands: int | None = None, threads: int | None = None,
            tile: int | None = None, scale=None, out_shape=None) -> np.ndarray:
    """Run a compiled network on ``(H, W, C)`` uint8 (every channel independently) -> ``(H*s, W*s, C)`` uint8.

    A network that resamples (LeRF, ``comp.scale is None``) needs ``scale`` (a number or ``(sh, sw)``)
    or ``out_shape`` ``(OH, OW)`` and returns ``(OH, OW, C)``; it runs one task per channel.

    The image is cut into tiles (each with the network's halo on every side) that run as
    independent tasks on a thread pool; the output does not depend on the tiling.

    Args:
        bands: bands of rows per channel (full-width tiles). Default: square tiles of
            ``max(80, 10 * halo)`` pixels for networks with wide (8+ channel) planes, else as many
            bands as threads when each stays thicker than 8 halos.
        threads: worker threads (default: Numba's thread count).
        tile: square tiles of this side instead of bands (at least 4 halos).
    """
    h, w, c = image.shape
    s = comp.scale
    threads = int(threads or numba.get_num_threads() or os.cpu_count() or 1)
    halo = comp.halo
    if s is None:
        geom = resample_geometry(h, w, scale, out_shape)
        out = np.empty((geom.out_h, geom.out_w, c), np.uint8)

        def whole(ch: int) -> None:
            out[:, :, ch] = _run_plane(comp, image[:, :, ch], geom)

        if threads == 1 or c == 1:
            for ch in range(c):
                whole(ch)
        else:
            with ThreadPoolExecutor(max_workers=min(threads, c)) as pool:
                for f in [pool.submit(whole, ch) for ch in range(c)]:
                    f.result()
        return out
    if scale is not None or out_shape is not None:
        raise LutsrError(f"{comp.lut.header['method']} x{s} upscales by exactly {s}; only networks that resample "
                         "(LeRF) take another scale or an output size")
    if tile is None and bands is None and comp.channels >= 8:
        # wide (16-channel) planes: square tiles keep a tile's planes in L2 (measured on ShiftLUT-S x4:
        # 138 ms untiled, 70-90 ms with 80-pixel tiles; ShiftLUT-L, halo 18, gains nothing below 10 halos)
        tile = max(80, 10 * halo)
    if tile is not None:
        side = max(int(tile), 4 * halo)
        rows, cols = min(h, side), min(w, side)
    else:
        if bands is None:
            bands = threads if h * w >= 4096 and h >= 8 * halo * threads else 1
        rows, cols = -(-h // max(1, min(int(bands), h))), w
    out = np.empty((h * s, w * s, c), np.uint8)

    def task(ch: int, y0: int, x0: int) -> None:
        y1, x1 = min(h, y0 + rows), min(w, x0 + cols)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        l, r = max(0, x0 - halo), min(w, x1 + halo)
        res = _run_plane(comp, image[a:b, l:r, ch])
        out[y0 * s : y1 * s, x0 * s : x1 * s, ch] = res[(y0 - a) * s : (y1 - a) * s, (x0 - l) * s : (x1 - l) * s]

    jobs = [(ch, y0, x0) for ch in range(c) for y0 in range(0, h, rows) for x0 in range(0, w, cols)]
    if threads == 1 or len(jobs) == 1:
        for j in jobs:
            task(*j)
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
            for f in [pool.submit(task, *j) for j in jobs]:
                f.result()
    return out
