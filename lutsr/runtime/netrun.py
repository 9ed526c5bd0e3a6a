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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from lutsr.lut.file import Lut
from lutsr.net.graph import TERM_FIXED, Network
from lutsr.runtime.kernels.net import ROUND_CODES, lut_direct_kernel, lut_linear_kernel, remap_kernel, shift_kernel

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


def _prepare(ops: list, net: Network) -> list:
    steps = []
    for op in ops:
        kind = op["op"]
        prep = None
        if kind == "lut":
            terms = np.ascontiguousarray(net.tables[op["terms"]], dtype=np.int32)
            k = int(op["k"])
            taps = terms[:, TERM_FIXED:].reshape(len(terms), k, 3)[:, :, 1:]
            prep = {"table": np.ascontiguousarray(net.tables[op["table"]].ravel(), dtype=np.int32),
                    "terms": terms, "r": int(np.abs(taps).max()), "reflect": op["border"] == "reflect",
                    "mode": ROUND_CODES[op["rounding"]], "k": k,
                    "big": int(terms[:, 5].max()) if op["index"] == "linear" else 1}
        elif kind == "remap":
            prep = {"table": np.ascontiguousarray(net.tables[op["table"]], dtype=np.int32)}
        elif kind == "shift":
            prep = {"offsets": np.ascontiguousarray(net.tables[op["offsets"]], dtype=np.int64)}
        elif kind == "ensemble":
            prep = {"body": _prepare(op["body"], net)}
        steps.append((op, prep))
    return steps


def compile_network(lut: Lut) -> CompiledNet:
    """Compile the network of a format-2 ``lut`` (cached on the ``Lut``)."""
    cached = lut._compiled.get(("compiled", "network"))
    if cached is not None:
        return cached
    net = lut.network
    out = CompiledNet(lut=lut, net=net, scale=net.scale, halo=net.halo() + 1, steps=_prepare(net.ops, net))
    lut._compiled[("compiled", "network")] = out
    return out


def _pixel_shuffle(a: np.ndarray, s: int) -> np.ndarray:
    c, h, w = a.shape
    return np.ascontiguousarray(a.reshape(c // (s * s), s, s, h, w).transpose(0, 3, 1, 4, 2)).reshape(
        c // (s * s), h * s, w * s)


def _exec(steps: list, planes: dict) -> str | None:
    result = None
    for op, prep in steps:
        kind = op["op"]
        g = planes.get
        if kind == "output":
            result = op["src"]
            continue
        if kind == "lut":
            src = g(op["src"])
            if op["index"] == "linear":
                v = lut_linear_kernel(src, prep["table"], prep["terms"], int(op["n_out"]), prep["r"], prep["big"],
                                      int(op["divisor"]), prep["mode"], prep["reflect"])
            else:
                v = lut_direct_kernel(src, prep["table"], prep["terms"], prep["k"], int(op["levels"]),
                                      int(op["n_out"]), prep["r"], int(op["divisor"]), prep["mode"], prep["reflect"])
        elif kind == "add_const":
            v = g(op["src"]) + np.int32(op["value"])
        elif kind == "add":
            v = g(op["a"]) + g(op["b"])
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
            v = g(op["src"]).repeat(s, axis=1).repeat(s, axis=2)
        elif kind == "ensemble":
            src = g(op["src"])
            total = None
            cl = op.get("clamp")
            for r in op["rotations"]:
                inner = {"x": np.ascontiguousarray(np.rot90(src, r, axes=(1, 2)))}
                _exec(prep["body"], inner)
                y = np.rot90(inner[op["body_out"]], -r, axes=(1, 2))
                if cl is not None:
                    y = np.clip(y, np.int32(cl[0]), np.int32(cl[1]))
                total = y.copy() if total is None else total + y
            v = total
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


def _run_plane(comp: CompiledNet, plane: np.ndarray) -> np.ndarray:
    planes = {"x": np.ascontiguousarray(plane[None], dtype=np.int32)}
    out = _exec(comp.steps, planes)
    return planes[out][0].astype(np.uint8)


def run_net(comp: CompiledNet, image: np.ndarray, bands: int | None = None, threads: int | None = None) -> np.ndarray:
    """Run a compiled network on ``(H, W, C)`` uint8 (every channel independently) -> ``(H*s, W*s, C)`` uint8.

    Args:
        bands: bands of rows per channel (default: enough for every thread); the output does not
            depend on it.
        threads: worker threads (default: Numba's thread count).
    """
    h, w, c = image.shape
    s = comp.scale
    threads = int(threads or numba.get_num_threads() or os.cpu_count() or 1)
    if bands is None:
        bands = max(1, min(h, -(-threads // c) if h * w >= 4096 else 1))
    bands = max(1, min(int(bands), h))
    rows = -(-h // bands)
    out = np.empty((h * s, w * s, c), np.uint8)
    halo = comp.halo

    def task(ch: int, y0: int) -> None:
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        res = _run_plane(comp, image[a:b, :, ch])
        out[y0 * s : y1 * s, :, ch] = res[(y0 - a) * s : (y1 - a) * s]

    jobs = [(ch, y0) for ch in range(c) for y0 in range(0, h, rows)]
    if threads == 1 or len(jobs) == 1:
        for j in jobs:
            task(*j)
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
            for f in [pool.submit(task, *j) for j in jobs]:
                f.result()
    return out
