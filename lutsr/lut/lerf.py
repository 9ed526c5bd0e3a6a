"""Importer of LeRF-G and LeRF-L (ddlee-cn/LeRF-PyTorch, MIT): published tables -> :class:`~lutsr.net.graph.Network`.

LeRF-G resamples to any size: two stages of MuLUT-style 4-input tables sampled at interval 4
(``17**4 = 83521`` rows) predict, per LR pixel, the three hyper-parameters of a steered Gaussian
kernel; the resampler (:mod:`lutsr.net.resample`) weights each output pixel's 2x2 LR neighbours
by the kernels they carry. Arithmetic of ``resample/eval_lut_sr.py`` (options at their defaults
``--modes sct --modes2 sct --interval 4 --stages 2 --suppSize 2 --maxSigma 10``, the published
``lerf-g`` command line), per image channel:

1. Stage 1 ("pre-filter"): for modes ``s`` (taps (0,0) (0,1) (1,0) (1,1)), ``c`` (0,0)..(0,3) and
   ``t`` (0,0)..(3,3), each in 4 rotations (image rotated, padded bottom/right by replication,
   rotated back: replicated taps at rotated offsets here), the 4-simplex interpolation of
   ``LUTft_s1_{mode}r0`` (exact integer sums in units of 1/16, as the authors' float32 and
   float64 arithmetic is exact on them); the sum of the 12 is divided by 3 (not 12: the
   authors' ``avg_factor`` of the last pre-stage), clipped to 0..255 and rounded half to even.
2. Stage 2 ("hyper"): the same modes on the stage-1 output, rotations 0 and 2 with
   ``LUTft_s2_{mode}r0``, 1 and 3 with ``LUTft_s2_{mode}r1``, 3 outputs each; the sum is divided by
   12, plus 127, clipped and rounded half to even, then divided by 255 in float32: ``rho``,
   ``sigma_x``, ``sigma_y`` in [0, 1].
3. ``resample`` the stage-1 output (not the input) with those parameters: kernel
   ``steered_gaussian``, support 2, ``max_sigma`` 10, zero padding; ``np.round``; clip 0..255.

LeRF-L (``--linear``) is the same with one stage-2 output, ``alpha``, and the kernel
``amplified_linear`` (``AmplifiedLinearResize2dNumpy``: support 2, ``max_sigma`` 1).

The rounding of ``x / 48`` and ``x / 192 + 127`` in float64 equals the exact rational rounding
(an exact tie is representable and every non-tie is at least 1/192 from one), so both stages
are integer ``lut`` ops (``index: "simplex"``, ``divisor`` 3 and 12, ``bias`` 127).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError
from lutsr.lut.frontier import NetBuilder, _npy
from lutsr.net.graph import Network, rot_offset

__all__ = ["import_lerf", "LERF_MODES"]

log = logging.getLogger(__name__)

#: sampling mode -> its 4 taps (``mode_pad_dict`` and ``FourSimplexInterpFaster``)
LERF_MODES = {"s": ((0, 0), (0, 1), (1, 0), (1, 1)),
              "c": ((0, 0), (0, 1), (0, 2), (0, 3)),
              "t": ((0, 0), (1, 1), (2, 2), (3, 3))}
_INTERVAL = 4
_LEVELS = 2 ** (8 - _INTERVAL) + 1
_ROWS = _LEVELS ** 4


def _simplex_stage(b: NetBuilder, src: str, tables: dict, n_out: int, divisor: int, bias: int) -> str:
    """Sum over modes x 4 rotations of 4-simplex lookups; ``tables[(mode, r)]`` is ``(rows, n_out)``."""
    flat, terms, pos, where = [], [], 0, {}
    for mode, taps in LERF_MODES.items():
        for r in range(4):
            t = tables[(mode, r)]
            if id(t) not in where:
                where[id(t)] = pos
                flat.append(t.reshape(-1))
                pos += t.size
            rt = [rot_offset(dy, dx, r) for dy, dx in taps]
            for o in range(n_out):
                terms.append([o, where[id(t)], n_out, o, 0, 2 ** _INTERVAL] + [v for dy, dx in rt for v in (0, dy, dx)])
    y = b.lut(None, src, np.concatenate(flat), terms, n_out, k=4, index="simplex", levels=_LEVELS, border="edge",
              divisor=divisor, rounding="half_even", bias=bias)
    return b.op(None, "clamp", src=y, lo=0, hi=255)


def import_lerf(folder: str | Path) -> Network:
    """LeRF-G or LeRF-L: a folder of ``LUTft_s1_{s,c,t}r0.npy`` (int8 (83521, 1)) and
    ``LUTft_s2_{s,c,t}r{0,1}.npy`` (int8 (83521, 3) for LeRF-G, ``models/lerf-g``; (83521, 1) for
    LeRF-L, ``models/lerf-l``: kernel ``amplified_linear``, ``max_sigma`` 1, the ``--linear``
    evaluation). Returns a network of scale ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LutFormatError(f"{folder}: not a folder (LeRF tables are a folder of LUTft_*.npy files)")
    s1 = {}
    for mode in LERF_MODES:
        t = _npy(folder / f"LUTft_s1_{mode}r0.npy", (_ROWS, 1), np.int8)
        for r in range(4):
            s1[(mode, r)] = t
    s2, n_out = {}, None
    for mode in LERF_MODES:
        for half in (0, 1):
            path = folder / f"LUTft_s2_{mode}r{half}.npy"
            t = _npy(path, (_ROWS, None), np.int8)
            if t.shape[1] not in (1, 3) or (n_out is not None and t.shape[1] != n_out):
                raise LutFormatError(f"{path}: shape {t.shape}, expected ({_ROWS}, {n_out or 3}): 3 Gaussian "
                                     "parameters (LeRF-G) or 1 linear one (LeRF-L) in every stage-2 table")
            n_out = t.shape[1]
            s2[(mode, half)] = s2[(mode, half + 2)] = t
    b = NetBuilder()
    feat = _simplex_stage(b, "x", s1, 1, divisor=3, bias=0)
    hyper = _simplex_stage(b, feat, s2, n_out, divisor=12, bias=127)
    params = b.op(None, "fdiv", src=hyper, value=255.0)
    kernel, max_sigma = ("steered_gaussian", 10) if n_out == 3 else ("amplified_linear", 1)
    y = b.op(None, "resample", src=feat, params=params, kernel=kernel, support=2, max_sigma=max_sigma,
             border="zero")
    b.op(None, "output", src=b.op(None, "clamp", src=y, lo=0, hi=255), out="_")
    log.info("LeRF-%s: %s", "G" if n_out == 3 else "L", folder)
    return b.network(None)
