"""The explicit-vector helpers (lutsr._simd) against their NumPy meaning, bit for bit."""

import numpy as np
import pytest
from numba import njit

from lutsr._simd import emit_u8, patch_add, prefetch, row_add


@njit
def _row_add(win, wofs, tab, tofs, rev):
    if rev:
        row_add(win, wofs, tab, tofs, 8, 6, 1)
    else:
        row_add(win, wofs, tab, tofs, 8, 6, 0)


@njit
def _patch_add(win, wofs, stride, tab, tofs, rev):
    prefetch(tab, tofs)
    if rev:
        patch_add(win, wofs, stride, tab, tofs, 5, 8, 1)
    else:
        patch_add(win, wofs, stride, tab, tofs, 5, 8, 0)


@njit
def _emit(out, oofs, win, wofs, cstride, nc, half, shift):
    if nc == 1:
        emit_u8(out, oofs, win, wofs, cstride, 1, half, shift)
    elif nc == 2:
        emit_u8(out, oofs, win, wofs, cstride, 2, half, shift)
    elif nc == 3:
        emit_u8(out, oofs, win, wofs, cstride, 3, half, shift)
    else:
        emit_u8(out, oofs, win, wofs, cstride, 4, half, shift)


@pytest.mark.parametrize("wdtype", [np.int16, np.int32])
@pytest.mark.parametrize("rev", [0, 1])
def test_row_add_is_a_masked_optionally_reversed_add(wdtype, rev):
    rng = np.random.default_rng(rev)
    tab = rng.integers(-2000, 2000, 40).astype(np.int16)
    for wofs, tofs in [(0, 0), (3, 7), (11, 30)]:
        win = rng.integers(-1000, 1000, 30).astype(wdtype)
        want = win.astype(np.int64)
        r = tab[tofs : tofs + 6][::-1] if rev else tab[tofs : tofs + 6]
        want[wofs : wofs + 6] += r  # lanes 6, 7 add zero
        _row_add(win, wofs, tab, tofs, rev)
        assert np.array_equal(win, want.astype(wdtype))


@pytest.mark.parametrize("rev", [0, 1])
def test_patch_add_adds_rows_at_a_stride_and_rotates_by_180(rev):
    rng = np.random.default_rng(3)
    p, stride = 5, 13
    tab = rng.integers(-3000, 3000, 3 * p * p + 8).astype(np.int16)
    win = rng.integers(-100, 100, stride * p + 20).astype(np.int32)
    tofs, wofs = p * p, 4
    patch = tab[tofs : tofs + p * p].reshape(p, p)
    if rev:
        patch = np.rot90(patch, 2)
    want = win.copy()
    for pr in range(p):
        want[wofs + pr * stride : wofs + pr * stride + p] += patch[pr]
    _patch_add(win, wofs, stride, tab, tofs, rev)
    assert np.array_equal(win, want)


@pytest.mark.parametrize("wdtype", [np.int16, np.int32])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
def test_emit_rescales_clips_and_interleaves(wdtype, nc):
    rng = np.random.default_rng(nc)
    cstride, wofs, oofs = 50, 5, 7
    win = rng.integers(-3000, 3000, cstride * nc).astype(wdtype)
    win[wofs] = np.iinfo(wdtype).max - 8  # no overflow with half = 2: extreme values still clip to 255
    out = np.zeros(200, np.uint8)
    _emit(out, oofs, win, wofs, cstride, nc, 2, 3)
    vals = win.astype(np.int64).reshape(nc, cstride)[:, wofs : wofs + 16]
    want = np.clip((vals + 2) >> 3, 0, 255).T.ravel()
    assert np.array_equal(out[oofs : oofs + 16 * nc], want)
    assert not out[:oofs].any() and not out[oofs + 16 * nc :].any()  # writes nothing else
