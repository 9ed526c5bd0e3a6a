"""Importers of the 2024-2026 LUT families (ShiftLUT, TinyLUT, HKLUT): published files -> :class:`Network`.

Each reads the authors' files as published (``../shared/data/luts/README.md`` lists them) and
writes the network the authors' inference scripts compute, as data (:mod:`lutsr.net.graph`).
Every arithmetic choice below (padding, index offsets, rounding, clamps, the order of float
operations) follows the authors' reference code; the tests compare the results bit for bit.
Files are read with ``allow_pickle=False``; anything malformed raises a one-line
:class:`LutFormatError`.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError
from lutsr.lut.npy import load_npy
from lutsr.net.graph import Network, rot_offset

__all__ = ["import_shiftlut", "shiftlut_network", "import_tinylut", "import_hklut", "NetBuilder"]

log = logging.getLogger(__name__)


class NetBuilder:
    """Collects ops and tables with unique names while an importer (or a trainer's exporter) writes a network."""

    def __init__(self):
        self.ops: list = []
        self.tables: dict = {}
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def table(self, stem: str, arr: np.ndarray) -> str:
        """Store ``arr`` (integers, in the smallest of int8/int16/int32 that holds it; int32 term lists
        stay int32) under a new name; returns the name."""
        n = self.name(stem)
        arr = np.asarray(arr)
        if arr.dtype != np.int32 or stem != "terms":
            for dt in (np.int8, np.int16, np.int32):
                if arr.size == 0 or (arr.min() >= np.iinfo(dt).min and arr.max() <= np.iinfo(dt).max):
                    arr = arr.astype(dt)
                    break
        self.tables[n] = np.ascontiguousarray(arr)
        return n

    def op(self, ops: list | None, kind: str, **fields) -> str:
        """Append op ``kind`` to ``ops`` (default: the top level); returns the plane it writes."""
        out = fields.pop("out", None) or self.name(kind + "_")
        (self.ops if ops is None else ops).append({"op": kind, "out": out, **fields})
        return out

    def lut(self, ops, src: str, table: np.ndarray, terms, n_out: int, *, k: int = 1, index: str = "linear",
            levels: int | None = None, border: str = "edge", divisor: int = 1, rounding: str = "half_even",
            bias: int = 0) -> str:
        terms = np.asarray(terms, np.int32).reshape(len(terms), -1)
        table = np.asarray(table).ravel()
        fields = dict(src=src, table=self.table("t", table.ravel()), terms=self.table("terms", terms), n_out=n_out,
                      k=k, index=index, border=border, divisor=divisor, rounding=rounding)
        if levels is not None:
            fields["levels"] = levels
        if bias:
            fields["bias"] = bias
        return self.op(ops, "lut", **fields)

    def network(self, scale: int | None) -> Network:
        return Network(self.ops, self.tables, scale).validate()


def _fail(path, msg: str):
    raise LutFormatError(f"{path}: {msg}")


def _npy(path: Path, shape=None, dtype=None) -> np.ndarray:
    if not path.is_file():
        _fail(path, "missing file")
    a = load_npy(path)  # header checked against the file size first; never unpickled
    if not isinstance(a, np.ndarray):
        _fail(path, "expected one array (.npy), got an archive")
    if dtype is not None and a.dtype != np.dtype(dtype):
        _fail(path, f"dtype {a.dtype}, expected {np.dtype(dtype)}")
    if shape is not None and (len(a.shape) != len(shape) or any(s is not None and s != g for s, g in zip(shape, a.shape))):
        _fail(path, f"shape {a.shape}, expected {tuple('N' if s is None else s for s in shape)}")
    return a


def _npz(path: Path) -> dict:
    if not path.is_file():
        _fail(path, "missing file")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        _fail(path, f"not a readable .npz archive ({e.__class__.__name__})")
    if not hasattr(z, "files"):  # a .npy array under an .npz name (checked outside the try: LutFormatError
        _fail(path, "expected an .npz archive, got a single .npy array")  # is a ValueError)
    try:
        with z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        _fail(path, f"not a readable .npz archive ({e.__class__.__name__})")


def _json(path: Path) -> dict:
    if not path.is_file():
        _fail(path, "missing file")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        _fail(path, f"not valid JSON ({e.__class__.__name__})")
    if not isinstance(d, dict):
        _fail(path, "expected a JSON object")
    return d


def _as_int_table(path: Path, key: str, a: np.ndarray) -> np.ndarray:
    if a.ndim != 1 or a.size < 1 or a.size > 4096:
        _fail(path, f"table {key}: shape {a.shape}, expected a 1-D table of 1..4096 entries")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.abs(a).max() > 32767:
            _fail(path, f"table {key}: float values that are not whole numbers within int16")
    elif a.dtype.kind not in "iu":
        _fail(path, f"table {key}: dtype {a.dtype}, expected integers")
    return a.astype(np.int16)


# --------------------------------------------------------------------------------------------- ShiftLUT

_TAPS3 = [(i // 3 - 1, i % 3 - 1) for i in range(9)]  # F.unfold 3x3 order, centred


def shift_table_entries(span: int, step: int) -> int:
    """Entries of a 1-D table sampled at ``step`` over ``span`` input values: ``ceil((span - 1) / step) + 1``."""
    return -(-(span - 1) // step) + 1


def _shift_layer(folder: Path, stem: str, n_in_expected: set[int], n_out_expected: int | None = None,
                 span: int = 64):
    """Load one ShiftLUT layer ``stem.{npz,json}``: (IN, OUT, {(i, o): (int16 table, step)}).

    ``span``: how many input values the layer sees (64 for the 6-bit MSB, 4 for the 2-bit LSB); a
    table sampled at ``step`` needs ``ceil((span - 1) / step) + 1`` entries.
    """
    meta_path, arr_path = folder / f"{stem}.json", folder / f"{stem}.npz"
    meta, arrs = _json(meta_path), _npz(arr_path)
    n_in, n_out = meta.get("IN"), meta.get("OUT")
    if n_in not in n_in_expected or (n_out_expected is not None and n_out != n_out_expected) or \
            not isinstance(n_out, int) or not 1 <= n_out <= 64:
        _fail(meta_path, f"IN {n_in!r} / OUT {n_out!r}, expected IN in {sorted(n_in_expected)}"
                         + (f" and OUT {n_out_expected}" if n_out_expected else ""))
    steps = {}
    for info in meta.get("LUTs", []):
        if not isinstance(info, dict) or not all(isinstance(info.get(k), int) for k in ("in", "out", "step")):
            _fail(meta_path, f"malformed LUTs entry {info!r}")
        steps[(info["in"], info["out"])] = info["step"]
    tables = {}
    for i in range(n_in):
        for o in range(n_out):
            key = f"i{i}o{o}"
            if key not in arrs:
                _fail(arr_path, f"table {key} is missing")
            step = steps.get((i, o), 1)
            if step not in (1, 2, 4, 8, 16, 32, 64):
                _fail(meta_path, f"table {key}: step {step}, expected a power of two up to 64")
            t = _as_int_table(arr_path, key, arrs[key])
            need = shift_table_entries(span, step)
            if t.size < need:
                _fail(arr_path, f"table {key}: {t.size} entries, expected at least {need} for step {step} "
                                f"over {span} values")
            tables[(i, o)] = (t, step)
    return n_in, n_out, tables


def _shift_lut(b: NetBuilder, ops, src: str, layer, depthwise: bool, lo: int, divisor: int,
               one_channel: bool = False) -> str:
    """A ShiftLUT DW (``depthwise``: 9 taps of channel o, or of channel 0 when ``one_channel``) or PW
    (every input channel at the pixel) layer."""
    n_in, n_out, tables = layer
    flat, terms, pos = [], [], 0
    for o in range(n_out):
        for i in range(n_in):
            t, step = tables[(i, o)]
            if depthwise:
                ch, (dy, dx) = (0 if one_channel else o), _TAPS3[i]
            else:
                ch, (dy, dx) = i, (0, 0)
            terms.append([o, pos, 1, 0, lo, step, ch, dy, dx])
            flat.append(t)
            pos += t.size
    return b.lut(ops, src, np.concatenate(flat), terms, n_out, border="edge", divisor=divisor)


def import_shiftlut(folder: str | Path, scale: int | None = None) -> Network:
    """ShiftLUT (Sailor-t/ShiftLUT ``LUT_test``): a folder of ``{DW,PW}{i}_MSB``, ``DW0_LSB``, ``UP_MSB``, ``offset.npy``.

    The stack count comes from the files present; ``scale`` from ``UP_MSB``'s OUT (16 -> x4, the
    ``sr`` models; 1 -> x1, the ``denoising`` and ``deblocking`` models, whose ``model_LUT.py`` is
    one file). Arithmetic of ``model_LUT.py``: the input ``x - 128`` is split into ``x >> 2`` (MSB)
    and ``x & 3``; each DW layer sums 9 taps (replicate borders) of 1-D tables sampled at a step
    (1..64) with linear interpolation and divides by 9, each PW layer sums 16 channels and divides
    by 16, both rounding half to even, with residuals and clamps to -32..31; before the first 8 PW
    layers every channel is shifted by its learned offset (replicate borders). Then:

    * x4 (``sr/``): the UP layer (/16) plus the MSB residual, clamped to -128..127, pixel-shuffled;
      the rotation ensemble sums the four outputs clamped to -128..127, plus 128, clamped to 0..255
      (``sr/eval_LUT.py``).
    * x1 (``denoising/``, ``deblocking/``): the UP layer's one channel (/16) with no residual and no
      clamp of its own; the ensemble sums the four outputs clamped to -128..127 (no +128), and
      ``eval_LUT.py`` adds the input image and clamps to 0..255: ``clamp(x + sum_r clamp(UP_r,
      -128, 127), 0, 255)`` for the uint8 input ``x``.

    The x1 input. ``eval_LUT.py`` feeds ``q = torch.round(val_L * 255)`` (float32, half to even),
    ``val_L`` its benchmark loader's float32 image. Deblocking (``DBBenchmark``): ``val_L =
    float32(jpeg_u8) / 255``, so ``q`` is the decoded JPEG's uint8 value exactly and this network
    reproduces the authors' output bit for bit. Denoising (``DNBenchmark``): ``val_L =
    float32(hr / 255 + N(0, sigma / 255))`` (float64 noise, no clipping), so ``q`` is an integer
    that can fall outside 0..255. The LUTs read ``clamp(q, 0, 255)`` (``inference``'s ``LUTclip``
    of ``q - 128``), but the residual adds the unclamped ``q``. lutsr's input is the uint8 image
    ``u = clamp(q, 0, 255)``, and the network computes ``clamp(u + S(u), 0, 255)``, with ``S`` the
    ensemble sum. That equals the authors' ``clamp(q + S(u), 0, 255)`` wherever ``0 <= q <= 255``.
    At the saturated pixels it can differ, since a uint8 input cannot carry ``q``. So it is bit-exact
    on every uint8 input, and on noisy data only where the noisy value stays inside 0..255.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LutFormatError(f"{folder}: not a folder (ShiftLUT tables are a folder of .npz/.json files)")
    stacks = 0
    while (folder / f"DW{stacks + 1}_MSB.json").is_file():
        stacks += 1
    offsets = _npy(folder / "offset.npy", dtype=None)
    if offsets.ndim != 3 or offsets.shape[1:] != (2, 16) or offsets.dtype.kind not in "iu":
        _fail(folder / "offset.npy", f"{offsets.dtype}{offsets.shape}, expected integers (N, 2, 16)")
    if np.abs(offsets).max(initial=0) > 16:
        _fail(folder / "offset.npy", "shifts beyond 16 pixels")
    up = _shift_layer(folder, "UP_MSB", {16})
    s2 = up[1]
    s = int(round(s2 ** 0.5))
    if s * s != s2:
        _fail(folder / "UP_MSB.json", f"OUT {s2} is not a square (scale * scale)")
    if scale is not None and scale != s:
        _fail(folder, f"the tables are x{s}, not x{scale}")
    layers = {"UP_MSB": up, "DW0_LSB": _shift_layer(folder, "DW0_LSB", {9}, 16, span=4)}
    for i in range(stacks + 1):
        for kind in ("DW", "PW"):
            layers[f"{kind}{i}_MSB"] = _shift_layer(folder, f"{kind}{i}_MSB", {9} if kind == "DW" else {16}, 16)
    net = shiftlut_network(layers, offsets, stacks)
    log.info("ShiftLUT: %d stacks, x%d%s, %s", stacks, s, " (restoration: input + residual)" if s == 1 else "", folder)
    return net


def shiftlut_network(layers: dict, offsets: np.ndarray, stacks: int, feature_residual: bool | None = None) -> Network:
    """The ShiftLUT network (arithmetic in :func:`import_shiftlut`'s docstring) from its layers.

    Args:
        layers: ``{"DW0_LSB", "DW{i}_MSB", "PW{i}_MSB" (i = 0..stacks), "UP_MSB"}`` -> ``(IN, OUT,
            {(i, o): (int table, step)})``: DW layers 9 in / 16 out, PW 16 / 16, UP 16 / ``s * s``.
        offsets: ``(N, 2, 16)`` integer ``(dy, dx)`` shifts of the 16 channels before each of the
            first ``min(N, 8)`` PW layers.
        stacks: how many DW/PW pairs follow the first.
        feature_residual: add the features to the upscale layer's ``s * s = 16`` channels
            (ShiftLUT's x4; the default at x4). False: the ensemble is added to the
            nearest-upsampled input instead (the only choice at x1, x2, x3).

    Returns:
        the validated :class:`Network` at scale ``s`` (``UP_MSB``'s OUT is ``s * s``). ShiftLUT's
        scales are 4 and 1 (a residual restorer: input + output); at 2 and 3 (lutsr's own
        :mod:`lutsr.net.archs`) the upscale layer has no residual of its own and the ensemble is
        added to the nearest-upsampled input, as at 1.
    """
    s = int(round(layers["UP_MSB"][1] ** 0.5))
    if feature_residual is None:
        feature_residual = s == 4
    if feature_residual and s != 4:
        raise LutFormatError(f"x{s}: the feature residual needs 16 = s * s upscale channels (x4)")
    b = NetBuilder()
    body: list = []
    xl = b.op(body, "mask", src="x", bits=2)
    xh = b.op(body, "rshift", src="x", bits=2)
    lsb = layers["DW0_LSB"]
    cnt = 0
    for i in range(stacks + 1):
        for kind in ("DW", "PW"):
            layer = layers[f"{kind}{i}_MSB"]
            if kind == "PW":
                if cnt < 8 and cnt < len(offsets):
                    sh = b.table("offsets", offsets[cnt].T)
                    xh = b.op(body, "shift", src=xh, offsets=sh, border="edge")
                cnt += 1
            t = _shift_lut(b, body, xh, layer, kind == "DW", -32, 9 if kind == "DW" else 16, one_channel=i == 0)
            xh = b.op(body, "add", a=t, b=xh)
            if kind == "DW" and i == 0:
                tl = _shift_lut(b, body, xl, lsb, True, 0, 9, one_channel=True)
                xl = b.op(body, "clamp", src=b.op(body, "add", a=tl, b=xl), lo=0, hi=3)
                xh = b.op(body, "add", a=xh, b=xl)
            xh = b.op(body, "clamp", src=xh, lo=-32, hi=31)
    y = _shift_lut(b, body, xh, layers["UP_MSB"], False, -32, 16)
    if feature_residual:  # sr/model_LUT.py: residual and LUTclip, pixel shuffle
        y = b.op(body, "clamp", src=b.op(body, "add", a=y, b=xh), lo=-128, hi=127)
    if s > 1:
        y = b.op(body, "pixel_shuffle", src=y, scale=s)
    x = b.op(None, "clamp", src=b.op(None, "add_const", src="x", value=-128), lo=-128, hi=127)
    e = b.op(None, "ensemble", src=x, body=body, body_out=y, rotations=[0, 1, 2, 3], clamp=[-128, 127])
    if feature_residual:  # inference() adds 128
        e = b.op(None, "add_const", src=e, value=128)
    else:  # x1: eval_LUT.py adds the input image (a residual restorer); lutsr's shiftnet at x2, x3 (and
        # x4 without the feature residual): the same on the nearest-upsampled input
        e = b.op(None, "add", a=e, b="x" if s == 1 else b.op(None, "upsample", src="x", scale=s))
    out = b.op(None, "clamp", src=e, lo=0, hi=255)
    b.op(None, "output", src=out, out="_")
    return b.network(s)


# --------------------------------------------------------------------------------------------- TinyLUT

def _requant_table(scales: np.ndarray, lo: int, hi: int, clamp: tuple[int, int]) -> np.ndarray:
    """``clamp(round_half_even(float32(v) * float32(scale_c)))`` for v in lo..hi: (C, hi - lo + 1) int16."""
    v = np.arange(lo, hi + 1, dtype=np.float32)
    return np.clip(np.round(v[None, :] * scales.astype(np.float32)[:, None]), *clamp).astype(np.int16)


def _sub_ranges(scales: np.ndarray, base: np.ndarray) -> list[tuple[int, int]]:
    """Per channel the value range ``min..max`` of ``round(base * scale)`` (TinyLUT's ``first_``)."""
    out = []
    for sc in scales.astype(np.float32):
        r = np.round(base.astype(np.float32) * sc)
        out.append((int(r.min()), int(r.max())))
    return out


def import_tinylut(folder: str | Path) -> Network:
    """TinyLUT-S x4 (Jonas-KD/TinyLUT): ``Model_V_{L1_Depth,L1_Point,UP}_x4_{H6,L2}.npy`` and ``clip_scales.npz``.

    Arithmetic of ``test_TinyLUT.py``: the input ``x - 128`` is split into ``x >> 2`` (6 bits, H) and
    ``x & 3`` (L); per branch a depthwise layer (9 taps of the current pixel and the two above and
    to the left, reflected at the top-left edge, /9), a residual and clamp, a requantisation by a
    per-channel float32 scale, a pointwise layer (/16), residual, requantisation, the upscale
    layer (/16, clamp -128..127) and residual; the branches are added and pixel-shuffled. Rounding
    is half to even throughout; the rotation ensemble sums outputs clamped to -128..127.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LutFormatError(f"{folder}: not a folder")
    scales_path = folder / "clip_scales.npz"
    z = _npz(scales_path)
    sc = {}
    for key in ("clip_hh1", "clip_hl1", "clip_hh2", "clip_hl2"):
        if key not in z or z[key].size != 16 or z[key].dtype != np.float32 or not np.all(np.isfinite(z[key])):
            _fail(scales_path, f"{key}: expected 16 finite float32 scales")
        sc[key] = z[key].reshape(16)
    dw = {br: _npy(folder / f"Model_V_L1_Depth_x4_{br}.npy", (None, 16, 1, 1), np.int8) for br in ("H6", "L2")}
    pw = {br: _npy(folder / f"Model_V_L1_Point_x4_{br}.npy", (None, 16, 1, 1), np.int8) for br in ("H6", "L2")}
    upt = {br: _npy(folder / f"Model_V_UP_x4_{br}.npy", (None, 16, 1, 1), np.int8) for br in ("H6", "L2")}
    b = NetBuilder()
    body: list = []
    taps = [(i // 3 - 2, i % 3 - 2) for i in range(9)]
    branch_out = []
    for br, src_op, L, lo, vrange, s1, s2 in (
            ("H6", "rshift", 64, -32, (-32, 31), sc["clip_hh1"], sc["clip_hh2"]),
            ("L2", "mask", 4, 0, (0, 3), sc["clip_hl1"], sc["clip_hl2"])):
        xin = b.op(body, src_op, src="x", bits=2)
        t = dw[br].reshape(-1, 16)
        if t.shape[0] != 9 * L:
            _fail(folder / f"Model_V_L1_Depth_x4_{br}.npy", f"{t.shape[0]} rows, expected {9 * L}")
        terms = [[o, i * L * 16, 16, o, lo, 1, 0, dy, dx] for o in range(16) for i, (dy, dx) in enumerate(taps)]
        d = b.lut(body, xin, t, terms, 16, border="reflect", divisor=9)
        h = b.op(body, "clamp", src=b.op(body, "add", a=d, b=xin), lo=vrange[0], hi=vrange[1])
        base = np.arange(vrange[0], vrange[1] + 1)
        h = b.op(body, "remap", src=h, lo=vrange[0], table=b.table("requant", _requant_table(s1, *vrange, vrange)))
        for stage, table, scales, last in (("pw", pw[br], s1, False), ("up", upt[br], s2, True)):
            ranges = _sub_ranges(scales, base)
            t = table.reshape(-1, 16)
            need = sum(hi - lo_ + 1 for lo_, hi in ranges)
            if t.shape[0] != need:
                _fail(folder / f"Model_V_{'L1_Point' if stage == 'pw' else 'UP'}_x4_{br}.npy",
                      f"{t.shape[0]} rows, expected {need} for these clip scales")
            terms, pos = [], 0
            for c, (lo_c, hi_c) in enumerate(ranges):
                # the H branch indexes a channel's rows from its range's minimum, the L branch from 0
                first = lo_c if br == "H6" else 0
                if br == "L2" and lo_c != 0:
                    _fail(scales_path, f"channel {c}: the L branch's range starts at {lo_c}, not 0")
                terms += [[o, pos * 16, 16, o, first, 1, c, 0, 0] for o in range(16)]
                pos += hi_c - lo_c + 1
            p = b.lut(body, h, t, terms, 16, divisor=16)
            if last:
                p = b.op(body, "clamp", src=p, lo=-128, hi=127)
                h = b.op(body, "clamp", src=b.op(body, "add", a=p, b=h), lo=-128, hi=127)
            else:
                h = b.op(body, "clamp", src=b.op(body, "add", a=p, b=h), lo=vrange[0], hi=vrange[1])
                h = b.op(body, "remap", src=h, lo=vrange[0],
                         table=b.table("requant", _requant_table(s2, *vrange, vrange)))
        branch_out.append(h)
    y = b.op(body, "clamp", src=b.op(body, "add", a=branch_out[0], b=branch_out[1]), lo=-128, hi=127)
    y = b.op(body, "pixel_shuffle", src=y, scale=4)
    x = b.op(None, "add_const", src="x", value=-128)
    e = b.op(None, "ensemble", src=x, body=body, body_out=y, rotations=[0, 1, 2, 3], clamp=[-128, 127])
    e = b.op(None, "clamp", src=e, lo=-128, hi=127)
    b.op(None, "output", src=b.op(None, "add_const", src=e, value=128), out="_")
    return b.network(4)


# --------------------------------------------------------------------------------------------- HKLUT

_HK_TAPS = {"h2": ((0, 0), (0, 1)), "d2": ((0, 0), (1, 1)),
            "h3": ((0, 0), (0, 1), (0, 2)), "d3": ((0, 0), (1, 1), (2, 2)), "b3": ((0, 0), (1, 2), (2, 1))}


def _hk_branch(b: NetBuilder, ops, src: str, tables: list, kinds: str, s: int, border: str) -> str:
    """One HKLUT branch: units ``kinds`` x 4 rotations summed (direct 4-bit index), s*s sub-pixel channels."""
    k = 2 if border == "edge" else 3
    flat, terms, pos = [], [], 0
    cells = np.arange(s * s).reshape(s, s)
    for kind, t in zip(kinds, tables):
        taps = _HK_TAPS[f"{kind}{k}"]
        for r in range(4):
            back = np.rot90(cells, -r)  # back[i, j]: the rotated-frame cell that lands on (i, j)
            rt = [rot_offset(dy, dx, r) for dy, dx in taps]
            for i in range(s):
                for j in range(s):
                    terms.append([i * s + j, pos, s * s, int(back[i, j]), 0, 1] + [v for dy, dx in rt for v in (0, dy, dx)])
        flat.append(t.reshape(-1))
        pos += t.size
    return b.lut(ops, src, np.concatenate(flat), terms, s * s, k=k, index="direct", levels=16, border=border)


def import_hklut(folder: str | Path) -> Network:
    """HKLUT-S (jasonli0707/hklut, msb hdb / lsb hd, two x2 stages = x4): ``S{0,1}_{MSB_HDB,LSB_HD}_LUT_*_x2_4bit_int8.npy``.

    Arithmetic of ``models/hklut.py``: per stage the image in 0..1 (float32) is taken to 0..255
    with ``floor(x * 255)``, split into its high and low 4 bits; the MSB branch sums H, D, B
    3-input units over 4 rotations (reflected borders) and divides by 3, the LSB branch H, D
    2-input units (replicate borders) divided by 2; both are divided by 255 and added to the
    nearest-upsampled input, clamped to 0..1, all in float32. The output is ``round(x * 255)``.
    HKLUT is CC BY-NC-ND: lutsr converts a user's own download and never ships converted files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LutFormatError(f"{folder}: not a folder")
    b = NetBuilder()
    img = b.op(None, "fdiv", src="x", value=255.0)
    stages = 0
    while (folder / f"S{stages}_MSB_HDB_LUT_H_x2_4bit_int8.npy").is_file():
        stages += 1
    if stages == 0:
        _fail(folder, "no S0_MSB_HDB_LUT_H_x2_4bit_int8.npy: not an HKLUT msb-hdb/lsb-hd folder")
    for st in range(stages):
        msb_t = [_npy(folder / f"S{st}_MSB_HDB_LUT_{u}_x2_4bit_int8.npy", (4096, 1, 2, 2), np.int8) for u in "HDB"]
        lsb_t = [_npy(folder / f"S{st}_LSB_HD_LUT_{u}_x2_4bit_int8.npy", (256, 1, 2, 2), np.int8) for u in "HD"]
        v = b.op(None, "floor", src=b.op(None, "fmul", src=img, value=255.0))
        hi = b.op(None, "rshift", src=v, bits=4)
        lo = b.op(None, "mask", src=v, bits=4)
        m = b.op(None, "pixel_shuffle", src=_hk_branch(b, None, hi, msb_t, "hdb", 2, "reflect"), scale=2)
        ls = b.op(None, "pixel_shuffle", src=_hk_branch(b, None, lo, lsb_t, "hd", 2, "edge"), scale=2)
        mf = b.op(None, "fdiv", src=b.op(None, "fdiv", src=m, value=3.0), value=255.0)
        lf = b.op(None, "fdiv", src=b.op(None, "fdiv", src=ls, value=2.0), value=255.0)
        up = b.op(None, "upsample", src=img, scale=2)
        img = b.op(None, "fclamp", src=b.op(None, "fadd", a=b.op(None, "fadd", a=mf, b=lf), b=up), lo=0.0, hi=1.0)
    out = b.op(None, "clamp", src=b.op(None, "round", src=b.op(None, "fmul", src=img, value=255.0)), lo=0, hi=255)
    b.op(None, "output", src=out, out="_")
    return b.network(2 ** stages)
