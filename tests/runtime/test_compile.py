"""Each compile step against its own small NumPy reference (the end-to-end tests check the whole)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_eclut, random_lut
from lutsr.runtime import compile_lut
from lutsr.runtime.compile import ROUTES, direct_rows, fold_patches, side_cells
from lutsr.runtime.kernels.expand import expand_corners
from lutsr.runtime.reference import simplex_reference
from lutsr.spec import EXPAND_DIRECTIONS, levels_for_interval, pad_index, reflect_index


def _cell(gy: int, gx: int, oy: int, ox: int, s: int) -> int:
    return ((gy * 3 + gx) * s + oy) * s + ox


@pytest.mark.parametrize("s", [2, 3, 4])
def test_fold_patches_sums_the_nine_shifted_maps(s, rng):
    table = rng.integers(0, 256, (7, 9 * s * s), dtype=np.uint8)
    got = fold_patches(table, s, 128).reshape(7, s + 2, s + 2)
    want = np.zeros((7, s + 2, s + 2), np.int64)
    for r in range(7):  # map g lands with its top-left at (gy, gx); values are signed
        for gy in range(3):
            for gx in range(3):
                for oy in range(s):
                    for ox in range(s):
                        want[r, gy + oy, gx + ox] += int(table[r, _cell(gy, gx, oy, ox, s)]) - 128
    assert got.dtype == np.int16 and np.array_equal(got, want)


def _triangle(a: int, b: int, interval: int) -> list[tuple[int, int]]:
    """(row, weight) of the 2-input simplex written out: two triangles of a grid square."""
    q, lv = levels_for_interval(interval)
    ia, fa, ib, fb = a >> interval, a & (q - 1), b >> interval, b & (q - 1)
    if fa >= fb:  # a's fraction first (ties: a)
        return [(ia * lv + ib, q - fa), ((ia + 1) * lv + ib, fa - fb), ((ia + 1) * lv + ib + 1, fb)]
    return [(ia * lv + ib, q - fb), (ia * lv + ib + 1, fb - fa), ((ia + 1) * lv + ib + 1, fa)]


@pytest.mark.parametrize("interval", [0, 1, 3, 4])
def test_direct_rows_interpolate_every_value_pair(interval, rng):
    _, lv = levels_for_interval(interval)
    values = rng.integers(-1000, 1000, (lv * lv, 5)).astype(np.int32)
    got = direct_rows(values, interval)
    assert got.shape == (257 * 257, 5) if interval else got.shape == values.shape
    pairs = [(0, 0), (255, 255), (255, 0), (0, 255), (17, 200), (128, 127)] + [
        tuple(int(v) for v in rng.integers(0, 256, 2)) for _ in range(200)]
    for a, b in pairs:
        want = sum(w * values[r].astype(np.int64) for r, w in _triangle(a, b, interval))
        assert np.array_equal(got[a * 257 + b], want), (a, b)


def test_direct_rows_reproduce_a_linear_table_exactly():
    interval = 4
    q, lv = levels_for_interval(interval)
    la, lb = np.meshgrid(np.arange(lv), np.arange(lv), indexing="ij")
    values = (3 * la - 2 * lb).reshape(-1, 1).astype(np.int32)  # linear in the level indices
    got = direct_rows(values, interval)[:, 0].reshape(257, 257)[:256, :256]
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    assert np.array_equal(got, 3 * a - 2 * b)  # q * (3 a/q - 2 b/q)


@pytest.mark.parametrize("s", [2, 3, 4, 5])
def test_side_cells_are_the_terms_expandconv_reflects(s):
    # brute force from the definition: output (Y, X) reads map g at (refl(Y - dy), refl(X - dx));
    # a term is "reflected" when that index is outside the image. LR image of h x w = 4 x 4.
    h = w = 4
    hs, ws = h * s, w * s
    found = [[], [], [], []]  # top, bottom, left, right
    for gy, gx in [(g // 3, g % 3) for g in range(9)]:
        dy, dx = EXPAND_DIRECTIONS[gy * 3 + gx]
        for oy in range(s):
            for ox in range(s):
                cell = _cell(gy, gx, oy, ox, s)
                # top: LR row 0 reflected onto HR row 0, column X = s*lx - 1 + t (lx = 0 here)
                if 0 - dy < 0 and reflect_index(0 - dy, hs) == oy:
                    found[0].append((cell, ox + dx + 1))
                if hs - 1 - dy > hs - 1 and reflect_index(hs - 1 - dy, hs) == (h - 1) * s + oy:
                    found[1].append((cell, ox + dx + 1))
                if 0 - dx < 0 and reflect_index(0 - dx, ws) == ox:
                    found[2].append((cell, oy + dy + 1))
                if ws - 1 - dx > ws - 1 and reflect_index(ws - 1 - dx, ws) == (w - 1) * s + ox:
                    found[3].append((cell, oy + dy + 1))
    assert [sorted(c) for c in side_cells(s)] == [sorted(c) for c in found]


@pytest.mark.parametrize("scale,interval", [(2, 0), (3, 1), (4, 4)])
def test_expand_plan_rows_sides_and_corners(scale, interval, rng):
    from lutsr.lut.file import Lut, make_eclut_header

    header = make_eclut_header(scale, interval)
    table = rng.integers(0, 256, tuple(header["tables"][0]["shape"]), dtype=np.uint8)
    lut = Lut(header=header, tables=[table])
    stage = compile_lut(lut).stages[0]
    plan, unit = stage.expand, stage.units[0]
    p = scale + 2
    pp = p * p
    patches = direct_rows(fold_patches(table, scale, 128), interval)
    # patch rows: rotation 0, then rotation 1 (turned by -90 degrees); 2 and 3 are those read backwards
    for r in rng.integers(0, 257 * 257, 20):
        patch = patches[r].reshape(p, p)
        assert np.array_equal(plan.tabs[r * pp : r * pp + pp], patch.ravel())
        assert np.array_equal(plan.tabs[plan.tsize + r * pp : plan.tsize + r * pp + pp], np.rot90(patch, -1).ravel())
        assert np.array_equal(np.rot90(patch, -2).ravel(), patch.ravel()[::-1])
    # side rows: per side and rotation, the reflected cells of the rotated table, interpolated and summed by t
    signed = direct_rows(table.astype(np.int32) - 128, interval)
    for sd, cells in enumerate(side_cells(scale)):
        for k in range(4):
            u, rev = plan.side_sel[sd, k]
            row = plan.side[u][:, ::-1] if rev else plan.side[u]
            want = np.zeros((257 * 257, p), np.int64)
            for cell, t in cells:
                want[:, t] += signed[:, unit.cell_perm[k, cell]]
            assert np.array_equal(row, want), (sd, k)
    # corners: the doubly reflected term of each HR corner, found from the definition
    hs = ws = 3 * scale
    for i, (Y, X) in enumerate([(0, 0), (0, ws - 1), (hs - 1, 0), (hs - 1, ws - 1)]):
        hits = []
        for g, (dy, dx) in enumerate(EXPAND_DIRECTIONS):
            if not (0 <= Y - dy < hs) and not (0 <= X - dx < ws):
                sy, sx = int(reflect_index(Y - dy, hs)), int(reflect_index(X - dx, ws))
                hits.append(_cell(g // 3, g % 3, sy % scale, sx % scale, scale))
        assert [int(plan.corner_cells[i])] == hits


@pytest.mark.parametrize("interval", [0, 2, 4])
def test_expand_corners_kernel_matches_numpy(interval, rng):
    from lutsr.lut.file import Lut, make_eclut_header

    header = make_eclut_header(3, interval)
    table = rng.integers(0, 256, tuple(header["tables"][0]["shape"]), dtype=np.uint8)
    lut = Lut(header=header, tables=[table])
    stage = compile_lut(lut).stages[0]
    unit = stage.units[0]
    for img in (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), np.full((1, 1, 1), 255, np.uint8),
                rng.integers(0, 256, (1, 6, 2), dtype=np.uint8)):
        got = expand_corners(img, unit.table, unit.cell_perm, unit.offsets, stage.reflect, interval, stage.levels,
                             128, stage.expand.corner_cells)
        h, w, nc = img.shape
        for c in range(nc):
            for i, (ly, lx) in enumerate([(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)]):
                tot = 0
                for k in range(4):
                    vals = [img[pad_index(ly + oy, h, "edge"), pad_index(lx + ox, w, "edge"), c]
                            for oy, ox in unit.offsets[k]]
                    rows, wts = simplex_reference(np.array([vals]), interval)
                    cell = unit.cell_perm[k, stage.expand.corner_cells[i]]
                    tot += int(sum(int(wt) * (int(table[r, cell]) - 128) for r, wt in zip(rows[0], wts[0])))
                assert got[c, i] == tot, (img.shape, c, i)


@pytest.mark.parametrize("method,routes", [("eclut", ("expand", "general")), ("eclut-sdy", ("expand", "general")),
                                           ("srlut-s", ("vec", "stage", "general")),
                                           ("mulut-sdy-x2", ("vec", "stage", "general"))])
def test_routes_can_be_forced_and_others_are_refused(method, routes, rng):
    lut = random_lut(method, 2, 4, rng)
    assert compile_lut(lut).routes[0] == routes[0]  # the fastest route by default
    for route in ROUTES:
        if route in routes:
            assert set(compile_lut(lut, route=route).routes) == {route}
        else:
            with pytest.raises(ValueError, match="cannot run this stage"):
                compile_lut(lut, route=route)
    with pytest.raises(ValueError, match="unknown route"):
        compile_lut(lut, route="fast")


def test_compiled_lut_is_cached_until_the_table_changes(rng):
    lut = random_eclut(2, rng)
    first = compile_lut(lut)
    assert compile_lut(lut) is first and compile_lut(lut, route="general") is not first
    lut.table = np.zeros_like(lut.table)
    assert compile_lut(lut) is not first
