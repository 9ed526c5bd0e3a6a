"""The explicit-vector helpers (lutsr.runtime.simd) against their NumPy meaning, bit for bit."""

import numpy as np
import pytest
from numba import njit

from lutsr.net.reference import round_div_array
from lutsr.runtime.simd import (emit_u8, patch4_add, pixel_passes2, prefetch, round_div_f32, round_shift,
                               subpixel_rotate_add, verts4_run, vertices_block_add,
                               windows_block_add)


@njit
def _emit(out, oofs, win, wofs, cstride, nc, add, shift, even):
    if even:
        if nc == 1:
            emit_u8(out, oofs, win, wofs, cstride, 1, add, shift, 1)
        else:
            emit_u8(out, oofs, win, wofs, cstride, 3, add, shift, 1)
    elif nc == 1:
        emit_u8(out, oofs, win, wofs, cstride, 1, add, shift, 0)
    elif nc == 2:
        emit_u8(out, oofs, win, wofs, cstride, 2, add, shift, 0)
    elif nc == 3:
        emit_u8(out, oofs, win, wofs, cstride, 3, add, shift, 0)
    else:
        emit_u8(out, oofs, win, wofs, cstride, 4, add, shift, 0)


@pytest.mark.parametrize("wdtype", [np.int16, np.int32])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
def test_emit_rescales_clips_and_interleaves(wdtype, nc):
    rng = np.random.default_rng(nc)
    cstride, wofs, oofs = 50, 5, 7
    win = rng.integers(-3000, 3000, cstride * nc).astype(wdtype)
    win[wofs] = np.iinfo(wdtype).max - 8  # no overflow with add = 2: extreme values still clip to 255
    out = np.zeros(200, np.uint8)
    _emit(out, oofs, win, wofs, cstride, nc, 2, 3, 0)
    vals = win.astype(np.int64).reshape(nc, cstride)[:, wofs : wofs + 16]
    want = np.clip((vals + 2) >> 3, 0, 255).T.ravel()
    assert np.array_equal(out[oofs : oofs + 16 * nc], want)
    assert not out[:oofs].any() and not out[oofs + 16 * nc :].any()  # writes nothing else


@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("shift", [0, 1, 4])
def test_emit_half_even_matches_the_reference_rescale(nc, shift):
    from lutsr.runtime.reference import rescale_reference

    rng = np.random.default_rng(shift)
    win = rng.integers(-600, 5000, 16 * nc).astype(np.int32)
    k = min(2 * (1 << shift), win.size)
    win[:k] = np.arange(k)  # every remainder with odd and even quotients (all of them for nc = 3)
    bias = 3
    out = np.zeros(16 * nc, np.uint8)
    _emit(out, 0, win, 0, 16, nc, bias << shift, shift, 1)
    want = rescale_reference(win.reshape(nc, 16), 1 << shift, 1, bias, "half_even").T.ravel()
    assert np.array_equal(out, want)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("interval", [1, 4])
def test_register_simplex_matches_the_reference(n, interval):
    # the kernels' branch-free simplex (kernels.block._verts2/3/4) against lutsr.runtime.reference, with many ties
    from lutsr.runtime.reference import simplex_reference
    from lutsr.runtime.kernels.block import _verts2, _verts3, _verts4

    fn = {2: _verts2, 3: _verts3, 4: _verts4}[n]

    @njit
    def verts(v, interval, q, lv):
        out_r = np.empty((v.shape[0], n + 1), np.int64)
        out_w = np.empty_like(out_r)
        for p in range(v.shape[0]):
            if n == 2:
                r, w = fn(v[p, 0], v[p, 1], interval, q, lv)
            elif n == 3:
                r, w = fn(v[p, 0], v[p, 1], v[p, 2], interval, q, lv)
            else:
                r, w = fn(v[p, 0], v[p, 1], v[p, 2], v[p, 3], interval, q, lv)
            for j in range(n + 1):
                out_r[p, j] = r[j]
                out_w[p, j] = w[j]
        return out_r, out_w

    rng = np.random.default_rng(n * 10 + interval)
    q = 1 << interval
    v = rng.integers(0, 256, (3000, n)).astype(np.int64)
    v[:1000] = (v[:1000] // q) * q + rng.integers(0, 3, (1000, n))  # few distinct fractions: ties
    v[1000:1100] = 255
    rows, wts = simplex_reference(v, interval)
    got_r, got_w = verts(v, interval, q, 256 // q + 1)
    assert np.array_equal(got_w, wts)
    assert np.array_equal(got_r[wts > 0], rows[wts > 0])  # a vertex of weight 0 may be any row


@njit
def _patch4(win, wofs, stride, tab, t0, t1, t2, t3):
    prefetch(tab, t0)
    patch4_add(win, wofs, stride, tab, t0, t1, t2, t3, 5, 8)


@pytest.mark.parametrize("tdtype,wdtype", [(np.int16, np.int16), (np.int16, np.int32)])
def test_patch4_add_sums_two_patches_and_two_rotated_by_180(tdtype, wdtype):
    rng = np.random.default_rng(5)
    p, stride = 5, 17
    hi = 8000 if wdtype == np.int16 else 32000  # int32 windows: sums would overflow int16
    tab = rng.integers(-hi, hi, 6 * p * p + 8).astype(tdtype)
    win = rng.integers(-50, 50, stride * p + 20).astype(wdtype)
    offs = [0, 2 * p * p, 3 * p * p + 1, 5 * p * p]
    pat = [tab[o : o + p * p].astype(np.int64).reshape(p, p) for o in offs]
    total = pat[0] + pat[1] + np.rot90(pat[2], 2) + np.rot90(pat[3], 2)
    want = win.astype(np.int64)
    for pr in range(p):
        want[3 + pr * stride : 3 + pr * stride + p] += total[pr]
    _patch4(win, 3, stride, tab, *offs)
    assert np.array_equal(win.astype(np.int64), want)


@njit
def _vblock(dst, dofs, stride, tab, rows, wts, s, k):
    if s == 3:
        if k == 1:
            vertices_block_add(dst, dofs, stride, tab, rows, wts, 3, 1)
        else:
            vertices_block_add(dst, dofs, stride, tab, rows, wts, 3, 2)
    elif s == 4:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, 4, 3)
    else:
        vertices_block_add(dst, dofs, stride, tab, rows, wts, 2, 3)


@pytest.mark.parametrize("s,k", [(2, 3), (3, 1), (3, 2), (4, 3)])
@pytest.mark.parametrize("tdtype", [np.int8, np.uint8])
def test_vertices_block_add_sums_weighted_rows_and_rotates_like_the_runtime(s, k, tdtype):
    from lutsr.spec import rotate_cells

    rng = np.random.default_rng(s * 4 + k)
    n = s * s
    tab = rng.integers(np.iinfo(tdtype).min, np.iinfo(tdtype).max + 1, 20 * n + 16).astype(tdtype)
    rows, wts = (3, 7, 8, 19, 0), (5, 0, 2, 16, 1)
    acc = sum(w * tab[r * n : r * n + n].astype(np.int64) for r, w in zip(rows, wts))
    perm = rotate_cells(np.arange(n)[None, :], k, False, s)[0]
    stride, dofs = 11, 3
    dst = rng.integers(-100, 100, stride * s + 8).astype(np.int32)
    want = dst.astype(np.int64)
    for oy in range(s):
        want[dofs + oy * stride : dofs + oy * stride + s] += acc[perm[oy * s : oy * s + s]]
    _vblock(dst, dofs, stride, tab, rows, wts, s, k)
    assert np.array_equal(dst, want)


@njit
def _verts4_runs(R, Wt, a0, a1, a2, a3, interval):
    for j in range(0, a0.size - 7, 8):
        verts4_run(R, Wt, R.shape[1], j, a0, a1, a2, a3, interval)


@pytest.mark.parametrize("interval", [1, 2, 3, 4, 5, 8])
def test_verts4_run_is_the_simplex_walk(interval, rng):
    # every ordering and tie of fractions, low and high cells, then random values
    import itertools

    from lutsr.runtime.reference import simplex_reference

    q = 1 << interval
    fr = sorted({0, 1, q // 2, q - 1})
    combos = np.array(list(itertools.product(fr, repeat=4)))
    hi = rng.integers(0, 256 // q, combos.shape) * q
    vals = np.concatenate([np.minimum(hi + combos, 255), rng.integers(0, 256, (300, 4)), np.full((5, 4), 255),
                           np.zeros((3, 4), np.int64)])
    vals = vals[: len(vals) // 8 * 8].astype(np.uint8)
    a = [np.ascontiguousarray(vals[:, i]) for i in range(4)]
    R = np.zeros((5, len(vals)), np.int32)
    Wt = np.zeros_like(R)
    _verts4_runs(R, Wt, *a, interval)
    rows, wts = simplex_reference(vals.astype(np.int64), interval)
    assert np.array_equal(Wt.T, wts)
    used = wts > 0  # a vertex of weight 0 is never read for its value
    assert np.array_equal(R.T[used], rows[used])


@njit
def _windows(dst, dofs, dstride, tab, rows, wts, s, narrow):
    if narrow:
        if s == 4:
            windows_block_add(dst, dofs, dstride, tab, rows, wts, 4, 1)
        else:
            windows_block_add(dst, dofs, dstride, tab, rows, wts, 2, 1)
    elif s == 4:
        windows_block_add(dst, dofs, dstride, tab, rows, wts, 4, 0)
    else:
        windows_block_add(dst, dofs, dstride, tab, rows, wts, 2, 0)


@pytest.mark.parametrize("s", [2, 4])
@pytest.mark.parametrize("narrow", [0, 1])
def test_windows_block_add_meaning(s, narrow, rng):
    N = s * s
    tab = rng.integers(-128, 128, 7 * 4 * N, dtype=np.int8)
    if narrow == 0:
        tab[:4 * N] = -128  # int32 lanes: 128 * 256 does not fit int16
    rows = (0, 3, 6, 2, 5)
    wts = (100, 20, 0, 6, 130) if narrow == 0 else (7, 3, 0, 4, 2)
    stride = 3 * s + 5
    dst = rng.integers(-1000, 1000, 4 * s * stride + 8, dtype=np.int32)
    dofs = (1, s * stride + 2, 2 * s * stride, 3 * s * stride + 3)
    want = dst.copy()
    acc = sum(w * tab[r * 4 * N : (r + 1) * 4 * N].astype(np.int64) for r, w in zip(rows, wts))
    for k in range(4):
        for oy in range(s):
            want[dofs[k] + oy * stride : dofs[k] + oy * stride + s] += acc[k * N + oy * s : k * N + oy * s + s].astype(np.int32)
    _windows(dst, dofs, stride, tab, rows, wts, s, narrow)
    assert np.array_equal(dst, want)


@njit
def _round_rows(out, acc, bd, d, mode):
    inv = np.float32(1.0) / np.float32(d)
    for i in range(0, acc.size, 8):
        round_div_f32(out, i, acc, i, bd, d, inv, mode, 8)


@pytest.mark.parametrize("mode,rounding", [(0, "half_even"), (1, "half_up"), (2, "floor")])
def test_round_div_f32_is_exact_over_its_whole_range(mode, rounding):
    """Every divisor 1..300 and some large ones (odd, even, powers of two), with biases: random
    values over the documented range |a + bd| < 2**21, both ends of it, and every tie (n + 1/2)."""
    rng = np.random.default_rng(mode)
    lim = (1 << 21) - 1
    for d in [*range(1, 301), 1000, 1024, 4095, 65536, 99991, 1 << 20]:
        for bd in (0, 7 * d, -3 * d):
            a = np.concatenate([rng.integers(-lim, lim + 1, 512), np.arange(-lim, -lim + 64), np.arange(lim - 63, lim + 1),
                                np.arange(-64, 64) * d + d // 2, np.arange(-64, 64) * d, np.arange(-64, 64) * d - 1])
            a = np.clip(a, -lim, lim)
            a = a[: a.size // 8 * 8]
            acc = (a - bd).astype(np.int32)
            out = np.zeros_like(acc)
            _round_rows(out, acc, bd, d, mode)
            want = round_div_array(a, d, rounding)
            bad = np.flatnonzero(out != want)
            assert bad.size == 0, (d, bd, a[bad[:3]], out[bad[:3]], want[bad[:3]])


@njit
def _shift_rows(out, acc, bd, k, mode):
    for i in range(0, acc.size, 8):
        round_shift(out, i, acc, i, bd, k, mode, 8)


@pytest.mark.parametrize("mode,rounding", [(0, "half_even"), (1, "half_up"), (2, "floor")])
@pytest.mark.parametrize("src_dtype", [np.int16, np.int32])
def test_round_shift_is_the_reference_rounding_by_powers_of_two(mode, rounding, src_dtype):
    """Division by 2**k (k = 0..20) with biases, on random values, every tie and the int16 range ends."""
    rng = np.random.default_rng(mode)
    lim = min(np.iinfo(src_dtype).max, (1 << 30) - 1)  # the documented range: |a + bd| + 2**k < 2**31
    for k in range(21):
        d = 1 << k
        for bd in (0, 3 * d, -5 * d, 7):
            a = np.concatenate([rng.integers(-lim, lim + 1, 256), [-lim, -lim + 1, lim - 1, lim] * 2,
                                np.clip(np.arange(-64, 64) * d + d // 2, -lim, lim),
                                np.clip(np.arange(-64, 64) * d - 1, -lim, lim)])
            a = a[: a.size // 8 * 8]
            src = a.astype(src_dtype)
            out = np.zeros(a.size, np.int32)
            _shift_rows(out, src, bd, k, mode)
            want = round_div_array(a.astype(np.int64) + bd, d, rounding)
            bad = np.flatnonzero(out != want)
            assert bad.size == 0, (k, bd, a[bad[:3]], out[bad[:3]], want[bad[:3]])


@njit
def _passes2(acc, aofs, tab, src, sofs, sstep, pofs, tb, npass):
    pixel_passes2(acc, aofs, tab, src, sofs, sstep, pofs, tb, npass, 16)


@pytest.mark.parametrize("acc_dtype", [np.int16, np.int32])
def test_pixel_passes2_sums_rows_of_two_pixels(acc_dtype):
    rng = np.random.default_rng(4)
    tab = rng.integers(-300, 300, 40 * 16).astype(np.int16)
    src = rng.integers(0, 10, 64).astype(np.int32)
    pofs = np.array([0, 3, 7, 11, 2], np.int64)
    tb = np.array([0, 160, 320, 48, 400], np.int64)  # row of value v: tb[k] + 16 v
    acc = np.full(48, 99, acc_dtype)
    _passes2(acc, 8, tab, src, 20, 5, pofs, tb, 5)
    for px, sofs in ((0, 20), (1, 25)):
        want = sum(tab[tb[k] + 16 * src[sofs + pofs[k]]:][:16].astype(np.int64) for k in range(5))
        np.testing.assert_array_equal(acc[8 + 16 * px : 24 + 16 * px], want)
    assert (acc[:8] == 99).all() and (acc[40:] == 99).all()  # writes nothing else


@njit
def _rot_add(dst, src, lo, hi, first, r, s):
    if s == 4:
        if r == 0:
            subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 0, 4)
        elif r == 1:
            subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 1, 4)
        elif r == 2:
            subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 2, 4)
        else:
            subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 3, 4)
    elif r == 1:
        subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 1, 2)
    else:
        subpixel_rotate_add(dst, 16, src, 0, lo, hi, first, 3, 2)


@pytest.mark.parametrize("s,r", [(4, 0), (4, 1), (4, 2), (4, 3), (2, 1), (2, 3)])
@pytest.mark.parametrize("first", [True, False])
def test_subpixel_rotate_add_is_rot90_of_the_block(s, r, first):
    """One pixel's s*s sub-pixels, clamped, rotated back by np.rot90(., -r) as an s x s block, added."""
    rng = np.random.default_rng(s * 10 + r)
    src = rng.integers(-300, 300, s * s).astype(np.int32)
    dst = rng.integers(-50, 50, 64).astype(np.int32)
    before = dst.copy()
    _rot_add(dst, src, np.int32(-128), np.int32(127), first, r, s)
    block = np.rot90(np.clip(src, -128, 127).reshape(s, s), -r).ravel()
    np.testing.assert_array_equal(dst[16 : 16 + s * s], block + (0 if first else before[16 : 16 + s * s]))
    assert (dst[:16] == before[:16]).all() and (dst[16 + s * s :] == before[16 + s * s :]).all()
