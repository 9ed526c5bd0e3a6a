"""LeRF-G and LeRF-L (lutsr.lut.lerf): the ``simplex`` lut index, the ``resample`` op, networks of any scale.

Against the authors' code (``tests/net/lerf_ref.py`` runs ``eval_lut_sr.py`` itself):

* with the resizer's ``np.exp`` replaced by lutsr's ``exp_f64``, the whole pipeline (stage 1,
  the hyper-parameters, the resampled output) is bit for bit the authors';
* with their ``np.exp``, only ``exp`` differs (one ulp at most, ``test_exp_f64_ulp``): the float64
  output before rounding then differs by at most ``TOL`` and the uint8 output only where the
  authors' value is within ``TOL`` of a rounding tie.

``TOL``: each weight ``w_k`` changes by a relative ``2**-52`` at most, so each normalised weight
by ``~2**-51`` and the weighted mean of values <= 255 by ``255 * 4 * 2**-51 ~ 4.5e-13``; measured
2.8e-14 (one ulp of 255). ``TOL = 1e-12`` (~35 ulps of 255).

The Numba kernel is compared bit for bit with the NumPy reference on random and adversarial
planes, several output sizes, borders and bands (no shared data needed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lutsr.errors import LutFormatError, LutsrError
from lutsr.lut.frontier import NetBuilder
from lutsr.net.graph import Network
from lutsr.net.reference import run_network, run_ops
from lutsr.net.resample import (exp_f64, lr_rows_needed, resample_float_reference, resample_geometry,
                                resample_reference)
from lutsr.runtime.kernels.resample import run_resample, run_resample_float

from lerf_ref import LERF

TOL = 1e-12
needs_lerf = pytest.mark.skipif(not (LERF / "lerf-g").is_dir() or not (LERF / "reference").is_dir(),
                                reason="../shared/data/luts/LeRF is absent")
SIZES = [(5, 7, 2), (1, 1, 2.5), (6, 4, 3), (9, 5, 4), (3, 8, 2.5), (7, 3, (1.7, 3.3)), (12, 10, 1), (1, 6, 3.7)]
OP = {"kernel": "steered_gaussian", "support": 2, "max_sigma": 10, "border": "zero"}


def _ulps(a, b):
    return np.abs(a.view(np.int64) - b.view(np.int64))


def test_exp_f64_ulp():
    rng = np.random.default_rng(3)
    x = np.concatenate([-rng.random(200_000) * 700, -rng.random(50_000) * 1e-3, rng.random(20_000) * 6,
                        [0.0, -0.0, -1e-300, -700.0, -math.log(2) / 2, math.log(2) / 2]])
    e = exp_f64(x)
    assert _ulps(e, np.array([math.exp(v) for v in x])).max() <= 1
    assert _ulps(e, np.exp(x)).max() <= 1
    assert exp_f64(np.array([0.0]))[0] == 1.0


# ------------------------------------------------------------------------------------------ vs the authors

@pytest.fixture(scope="module")
def lerf_net():
    from lutsr.lut.lerf import import_lerf

    return import_lerf(LERF / "lerf-g")


def _ours(net: Network, img: np.ndarray, scale) -> dict:
    """Our network on each channel of uint8 (H, W, 3): output, stage-1 plane, hyper-parameters."""
    rs = next(op for op in net.ops if op["op"] == "resample")
    geom = resample_geometry(img.shape[0], img.shape[1], scale)
    outs, feats, hyps, flts = [], [], [], []
    for c in range(img.shape[2]):
        planes = {"x": img[None, :, :, c].astype(np.int64)}
        out = run_ops(net.ops, planes, net, geom)
        outs.append(planes[out][0])
        feats.append(planes[rs["src"]][0])
        hyps.append(planes[rs["params"]])
        flts.append(resample_float_reference(planes[rs["src"]], planes[rs["params"]], geom, rs["max_sigma"],
                                             kernel=rs["kernel"])[0])
        assert np.array_equal(run_network(net, np.ascontiguousarray(img[:, :, c]), scale=scale), planes[out][0])
    return {"out": np.stack(outs, -1), "feat": np.stack(feats, -1), "hyper": np.concatenate(hyps, 0),
            "float": np.stack(flts, 0)}


@needs_lerf
@pytest.mark.parametrize("h, w, scale", SIZES)
def test_lerf_g_bit_exact_with_exp_f64(lerf_net, tmp_path, h, w, scale):
    from lerf_ref import run_lerf_g

    rng = np.random.default_rng(h * 100 + w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if h == 9:  # flat, 0 and 255 regions
        img[:3] = 0
        img[3:6] = 255
        img[6:, :, 1] = 128
    a = run_lerf_g(img, scale, tmp_path, exp=exp_f64)
    b = _ours(lerf_net, img, scale)
    assert a["feat"].dtype == np.uint8 and np.array_equal(a["feat"], b["feat"])
    assert a["hyper"].dtype == np.float32 and np.array_equal(a["hyper"], b["hyper"])
    assert a["out"].shape == b["out"].shape and np.array_equal(a["out"], b["out"])


@needs_lerf
@pytest.mark.parametrize("h, w, scale", [(16, 13, 2), (11, 9, 3), (8, 8, 4), (10, 7, 2.5), (9, 12, (1.3, 2.7))])
def test_lerf_g_with_numpy_exp(lerf_net, tmp_path, h, w, scale):
    from lerf_ref import load_modules, run_lerf_g

    rng = np.random.default_rng(7 + h)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a = run_lerf_g(img, scale, tmp_path)  # the authors' code as it is
    b = _ours(lerf_net, img, scale)
    assert np.array_equal(a["feat"], b["feat"]) and np.array_equal(a["hyper"], b["hyper"])
    # the authors' float output: their resizer on their own stage-1 plane and hyper-parameters
    _, rr = load_modules()
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    z = rr.SteeringGaussianResize2dNumpy(support_sz=2, max_sigma=10)
    feat = a["feat"].transpose(2, 0, 1).astype(np.float32)
    z.set_shape(feat.shape, scale_factors=[sh, sw])
    hy = a["hyper"]
    theirs = z.resize(feat, hy[0::3], hy[1::3], hy[2::3])
    assert theirs.shape == b["float"].shape
    assert np.abs(theirs - b["float"]).max() <= TOL
    assert np.array_equal(np.clip(np.round(theirs), 0, 255).astype(np.uint8).transpose(1, 2, 0), a["out"])
    near_tie = np.abs(theirs - np.floor(theirs) - 0.5).transpose(1, 2, 0) <= TOL
    assert np.all((a["out"] == b["out"]) | near_tie)


@needs_lerf
def test_simplex_matches_authors_every_fraction_pattern():
    """The ``simplex`` index against ``FourSimplexInterpFaster`` on all 16**4 fraction patterns (mode s:
    independent 2x2 blocks at even positions), random MSBs, a random 3-output table."""
    from lerf_ref import load_modules

    from lutsr.net.reference import _simplex_term

    mod, _ = load_modules()
    rng = np.random.default_rng(11)
    n = np.arange(16 ** 4)
    frac = np.stack([(n >> 12) & 15, (n >> 8) & 15, (n >> 4) & 15, n & 15], 1)  # a, b, c, d
    val = rng.integers(0, 16, frac.shape) * 16 + frac
    img = np.zeros((512, 512), np.int64)
    p, q = np.divmod(n, 256)
    img[2 * p, 2 * q], img[2 * p, 2 * q + 1], img[2 * p + 1, 2 * q], img[2 * p + 1, 2 * q + 1] = val.T
    table = rng.integers(-128, 128, (17 ** 4, 3)).astype(np.int8)
    padded = np.pad(img, ((0, 1), (0, 1)), mode="edge")[None].astype(np.float32)
    theirs = mod.FourSimplexInterpFaster(table.astype(np.float32), padded, 512, 512, 4, 0, upscale=1, mode="s",
                                         oC=3)
    for o in range(3):
        term = np.array([o, 0, 3, o, 0, 16, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1])
        ours = _simplex_term(table.ravel().astype(np.int64), img[None], term, 4, 17, "edge", 16)
        assert np.array_equal(theirs[o] * 16, ours)


@needs_lerf
def test_import_errors(tmp_path):
    from lutsr.lut.lerf import import_lerf

    with pytest.raises(LutFormatError, match="not a folder"):
        import_lerf(tmp_path / "nothing")
    with pytest.raises(LutFormatError, match="missing file"):
        import_lerf(tmp_path)
    for f in (LERF / "lerf-g").glob("*.npy"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "LUTft_s2_tr1.npy").write_bytes((LERF / "lerf-l" / "LUTft_s2_tr1.npy").read_bytes())
    with pytest.raises(LutFormatError, match="every stage-2 table"):  # LeRF-G and LeRF-L tables mixed
        import_lerf(tmp_path)
    np.save(tmp_path / "LUTft_s1_cr0.npy", np.zeros((83521, 1), np.int16))
    with pytest.raises(LutFormatError, match="dtype int16"):
        import_lerf(tmp_path)


@needs_lerf
def test_lerf_file_roundtrip(lerf_net, tmp_path):
    from lutsr.lut.file import load_lut, network_lut, save_lut

    lut = network_lut("lerf", lerf_net)
    save_lut(tmp_path / "g.lut", lut.header, lut.tables)
    back = load_lut(tmp_path / "g.lut")
    assert back.scale is None and back.network.scale is None and "any-scale" in str(back)
    img = np.random.default_rng(0).integers(0, 256, (6, 5), dtype=np.uint8)
    assert np.array_equal(run_network(back.network, img, out_shape=(13, 11)),
                          run_network(lerf_net, img, out_shape=(13, 11)))


@needs_lerf
@pytest.mark.parametrize("h, w, scale", SIZES[:6] + [(16, 13, 2.5)])
def test_lerf_l_bit_exact(tmp_path, h, w, scale):
    """LeRF-L (``--linear``) has no ``exp``: bit for bit against the authors' code as it is."""
    from lerf_ref import run_lerf_g

    from lutsr.lut.lerf import import_lerf

    net = import_lerf(LERF / "lerf-l")
    assert next(op for op in net.ops if op["op"] == "resample")["kernel"] == "amplified_linear"
    rng = np.random.default_rng(h * 10 + w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a = run_lerf_g(img, scale, tmp_path, linear=True)
    b = _ours(net, img, scale)
    assert np.array_equal(a["feat"], b["feat"]) and np.array_equal(a["hyper"], b["hyper"])
    assert a["out"].shape == b["out"].shape and np.array_equal(a["out"], b["out"])


# ------------------------------------------------------------------------------------------ Numba == NumPy

def _planes(rng, h, w, kind, n):
    src = rng.integers(0, 256, (1, h, w))
    p = rng.integers(0, 256, (n, h, w)).astype(np.float32) / np.float32(255)
    if kind == "flat":
        src[:] = 128
    elif kind == "extreme":
        src = rng.integers(0, 2, (1, h, w)) * 255
        p = rng.integers(0, 2, (n, h, w)).astype(np.float32)  # sigma 0 or 10, rho (alpha) -1 or 1
    elif kind == "zero_sigma":
        p[-2:] = 0
    return src, p


@pytest.mark.parametrize("kernel, max_sigma", [("steered_gaussian", 10), ("amplified_linear", 1)])
@pytest.mark.parametrize("kind", ["random", "flat", "extreme", "zero_sigma"])
@pytest.mark.parametrize("border", ["zero", "edge"])
def test_kernel_matches_reference(kernel, max_sigma, kind, border):
    rng = np.random.default_rng(5)
    op = dict(OP, border=border, kernel=kernel, max_sigma=max_sigma)
    n = 3 if kernel == "steered_gaussian" else 1

    def ref(src, p, g):
        return resample_float_reference(src, p, g, max_sigma, border, kernel=kernel)

    for h, w, scale in SIZES + [(2, 2, 8), (4, 9, 1.01)]:
        src, p = _planes(rng, h, w, kind, n)
        g = resample_geometry(h, w, scale)
        assert np.array_equal(run_resample_float(src, p, op, g), ref(src, p, g))
        assert np.array_equal(run_resample(src, p, op, g),
                              resample_reference(src, p, g, max_sigma, border, kernel=kernel))
        # explicit output sizes (scale = out / in), and both given
        for oh, ow in ((h, w), (2 * h + 1, 3 * w - 1 if w > 1 else 2)):
            g2 = resample_geometry(h, w, out_shape=(oh, ow))
            assert np.array_equal(run_resample_float(src, p, op, g2), ref(src, p, g2))
        g3 = resample_geometry(h, w, scale=2.0, out_shape=(2 * h + 1, 2 * w))
        assert np.array_equal(run_resample_float(src, p, op, g3), ref(src, p, g3))


def test_kernel_bands_and_channels():
    rng = np.random.default_rng(9)
    src = rng.integers(0, 256, (2, 13, 7))
    p = rng.integers(0, 256, (6, 13, 7)).astype(np.float32) / np.float32(255)
    g = resample_geometry(13, 7, 2.5)
    full = run_resample_float(src, p, OP, g)
    assert np.array_equal(full, resample_float_reference(src, p, g))
    for y0, y1 in ((0, 1), (0, 9), (9, 20), (31, 33), (5, 6)):
        r0, r1 = lr_rows_needed(g, y0, y1)
        band = run_resample_float(src[:, r0:r1], p[:, r0:r1], OP, g, rows=(y0, y1), src_row0=r0)
        assert np.array_equal(band, full[:, y0:y1])
    r0, r1 = lr_rows_needed(g, 9, 20)
    with pytest.raises(LutsrError, match="band holds"):
        run_resample_float(src[:, r0 + 1:r1], p[:, r0 + 1:r1], OP, g, rows=(9, 20), src_row0=r0 + 1)
    with pytest.raises(LutsrError, match="do not fit"):
        run_resample_float(src, p[:3], OP, g)


def test_geometry():
    g = resample_geometry(171, 170, 3)
    assert (g.out_h, g.out_w, g.scale_h) == (513, 510, 3.0)
    g = resample_geometry(7, 3, (1.7, 3.3))
    assert (g.out_h, g.out_w) == (math.ceil(1.7 * 7), math.ceil(3.3 * 3))
    g = resample_geometry(4, 6, out_shape=(9, 6))
    assert (g.scale_h, g.scale_w) == (9 / 4, 1.0)
    for bad in (dict(scale=0.5), dict(scale=float("nan")), dict(scale=True), dict(out_shape=(3, 6)),
                dict(out_shape=(9,)), dict(), dict(scale=1e9)):
        with pytest.raises(LutsrError):
            resample_geometry(4, 6, **bad)


# ------------------------------------------------------------------------------------------ validation

def _tiny(scale=None, **resample):
    """x -> simplex lut (3 outputs, bias) -> /255 -> resample(x) -> clamp -> output."""
    b = NetBuilder()
    rng = np.random.default_rng(0)
    terms = [[o, 0, 3, o, 0, 16, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1] for o in range(3)]
    h = b.lut(None, "x", rng.integers(-128, 128, 17 ** 4 * 3), terms, 3, k=4, index="simplex", levels=17,
              divisor=1, bias=127)
    h = b.op(None, "clamp", src=h, lo=0, hi=255)
    prm = b.op(None, "fdiv", src=h, value=255.0)
    fields = dict(OP, **resample)
    y = b.op(None, "resample", src="x", params=prm, **fields)
    b.op(None, "output", src=b.op(None, "clamp", src=y, lo=0, hi=255), out="_")
    return Network(b.ops, b.tables, scale)


def test_validate_any_scale():
    net = _tiny().validate()
    info = net.plane_info(next(op for op in net.ops if op["op"] == "resample"))
    assert info.res is None and info.lo[0] == 0 and info.hi[0] == 255
    assert net.halo() == 2 and net.lookups_per_pixel() == 15 and net.to_json()["scale"] is None
    img = np.random.default_rng(1).integers(0, 256, (5, 4), dtype=np.uint8)
    assert run_network(net, img, scale=2.5).shape == (13, 10)
    with pytest.raises(LutsrError, match="give a scale"):
        run_network(net, img)
    with pytest.raises(LutFormatError, match="expected 1 int channel at x2"):
        _tiny(2).validate()
    for fields, msg in ((dict(kernel="cubic"), "kernel"), (dict(support=4), "support"),
                        (dict(max_sigma=0), "max_sigma"), (dict(border="reflect"), "border"),
                        (dict(kernel="amplified_linear", max_sigma=1), "1 source"),
                        (dict(kernel="amplified_linear", max_sigma=2), "max_sigma")):
        with pytest.raises(LutFormatError, match=msg):
            _tiny(**fields).validate()


def test_validate_refuses():
    base = _tiny()
    ops = [dict(op) for op in base.ops]
    # a spatial op after the resample
    i = next(k for k, op in enumerate(ops) if op["op"] == "resample")
    bad = ops[: i + 1] + [{"op": "upsample", "src": ops[i]["out"], "scale": 2, "out": "u"}] + ops[i + 1:]
    with pytest.raises(LutFormatError, match="only per-pixel ops"):
        Network(bad, base.tables, None).validate()
    # parameters outside 0..1 (no division by 255)
    bad = [dict(op) for op in ops]
    bad[i]["params"] = next(op["src"] for op in ops if op["op"] == "fdiv")
    with pytest.raises(LutFormatError, match="float32 plane"):
        Network(bad, base.tables, None).validate()
    bad = [dict(op) for op in ops]
    fd = next(op for op in bad if op["op"] == "fdiv")
    fd["value"] = 100.0
    with pytest.raises(LutFormatError, match="outside 0..1"):
        Network(bad, base.tables, None).validate()
    # wrong number of parameter channels
    bad = [dict(op) for op in ops]
    bad[i]["src"] = bad[i]["params"]
    with pytest.raises(LutFormatError):
        Network(bad, base.tables, None).validate()
    # resample inside an ensemble body
    body = [dict(op) for op in ops if op["op"] != "output"]
    ens = [{"op": "ensemble", "src": "x", "body": body, "body_out": body[-1]["out"], "rotations": [0], "out": "e"},
           {"op": "output", "src": "e", "out": "_"}]
    with pytest.raises(LutFormatError, match="only allowed at the top level"):
        Network(ens, base.tables, None).validate()
    # simplex rows beyond the table's levels: 255 >> 4 + 1 = 16 needs 17 levels
    bad = [dict(op) for op in ops]
    bad[0]["levels"] = 16
    with pytest.raises(LutFormatError, match="beyond 16 levels"):
        Network(bad, base.tables, None).validate()
    with pytest.raises(LutFormatError, match="out of range"):
        Network(ops, base.tables, 0.5).validate()


def test_simplex_bias_and_range():
    """``bias`` is added before rounding (half to even: 0.5 + 127 -> 128, not 127) and in the inferred range."""
    b = NetBuilder()
    terms = [[0, 0, 1, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1]]
    y = b.lut(None, "x", np.full(17 ** 4, 3, np.int8), terms, 1, k=4, index="simplex", levels=17, divisor=6,
              bias=127)
    b.op(None, "output", src=b.op(None, "clamp", src=y, lo=0, hi=255), out="_")
    net = Network(b.ops, b.tables, 1).validate()
    assert net.plane_info(net.ops[0]).lo[0] == 127 and net.plane_info(net.ops[0]).hi[0] == 128
    img = np.random.default_rng(2).integers(0, 256, (4, 5), dtype=np.uint8)
    assert np.all(run_network(net, img) == 128)  # round(3/6 + 127) = round(127.5) = 128


# ------------------------------------------------------------------------------------------ simplex kernel

def _simplex_kernel_run(op: dict, net: Network, src: np.ndarray) -> np.ndarray:
    """``lut_simplex_kernel`` as the network runtime calls it (int32 tables and terms)."""
    from lutsr.runtime.kernels.net import ROUND_CODES
    from lutsr.runtime.kernels.simplex import lut_simplex_kernel

    terms = np.ascontiguousarray(net.tables[op["terms"]], np.int32)
    k = int(op["k"])
    r = int(np.abs(terms[:, 6:].reshape(len(terms), k, 3)[:, :, 1:]).max())
    return lut_simplex_kernel(np.ascontiguousarray(src, np.int32),
                              np.ascontiguousarray(net.tables[op["table"]].ravel(), np.int32), terms, k,
                              int(op["levels"]), int(op["n_out"]), r, int(terms[:, 5].max()), int(op["divisor"]),
                              int(op.get("bias", 0)), ROUND_CODES[op["rounding"]], op["border"] == "reflect")


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_simplex_kernel_matches_reference(k):
    from lutsr.net.reference import _lut

    rng = np.random.default_rng(20 + k)
    for trial in range(6):
        c = int(rng.integers(1, 3))
        step = int(rng.choice([2, 4, 16] if k > 2 else [1, 2, 4, 16]))
        lo = int(rng.integers(-3, 1))
        vmax = 255 if trial % 2 else 40
        while (-(-(vmax - lo) // max(1, step // 2)) + 2) ** k > 1 << 20:
            vmax //= 2
        levels = -(-(vmax - lo) // max(1, step // 2)) + 1 + int(rng.integers(0, 2))  # room for the half step
        n_out = int(rng.integers(1, 4))
        terms, pos = [], 0
        for t in range(int(rng.integers(1, 5))):
            taps = [(int(rng.integers(0, c)), int(rng.integers(-2, 3)), int(rng.integers(-2, 3))) for _ in range(k)]
            terms.append([int(rng.integers(0, n_out)), pos, n_out, int(rng.integers(0, n_out)), lo,
                          step if t or trial < 3 else max(1, step // 2)] + [v for tap in taps for v in tap])
        b = NetBuilder()
        rows = levels ** k * n_out
        y = b.lut(None, "x", rng.integers(-128, 128, rows), terms, n_out, k=k, index="simplex", levels=levels,
                  border=str(rng.choice(["edge", "reflect"])), divisor=int(rng.integers(1, 13)),
                  rounding=str(rng.choice(["half_even", "half_up", "floor"])), bias=int(rng.integers(-5, 130)))
        b.op(None, "output", src=y, out="_")
        net = Network(b.ops, b.tables, 1)  # not validated: its source is not "x" 0..255 but lo..vmax below;
        op = net.ops[0]  # the levels above hold every vertex (the reference would raise IndexError otherwise)
        for h, w in ((1, 1), (3, 7), (6, 5), (2, 9)):
            src = rng.integers(lo, vmax + 1, (c, h, w))
            if h == 6:
                src[:, :2] = lo
                src[:, 2:4] = vmax
            ref = _lut(op, src, net)
            assert np.array_equal(_simplex_kernel_run(op, net, src), ref), (trial, h, w)


@needs_lerf
def test_simplex_kernel_on_lerf_tables(lerf_net):
    from lutsr.net.reference import _lut

    img = np.random.default_rng(4).integers(0, 256, (1, 9, 11))
    img[0, :3] = 255
    for op in (o for o in lerf_net.ops if o["op"] == "lut"):
        assert np.array_equal(_simplex_kernel_run(op, lerf_net, img), _lut(op, img, lerf_net))
