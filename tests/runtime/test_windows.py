"""Shared-window block kernel (#20): units whose four rotations read translated copies of one
footprint (S, D) are interpolated once per window from packed four-rotation rows.

Each compile step is checked against a direct NumPy reading of the rotations; the kernel is
checked bit for bit against ``upscale_reference`` and against the per-rotation path, for every
band and thread count, on the adversarial images.
"""

import numba
import numpy as np
import pytest

from conftest import adversarial_images, random_lut
from lutsr.runtime import compile_lut, run
from lutsr.runtime import compile as comp
from lutsr.runtime.kernels.emit import emit_planar_row
from lutsr.runtime.reference import rescale_reference, upscale_reference
from lutsr.spec import KERNELS, levels_for_interval, rotate_cells, rotation_neighbor_offsets


def _rot_offsets(name):
    return np.array([rotation_neighbor_offsets(KERNELS[name].offsets, k) for k in range(4)], np.int64)


@pytest.mark.parametrize("name", ["S", "D"])
def test_square_kernels_share_windows(name):
    offs = _rot_offsets(name)
    shifts, perms = comp.window_shifts(offs)
    for k in range(4):
        for i in range(offs.shape[1]):  # rotation k's input i is the window pixel perms[k, i]
            assert tuple(offs[k, i]) == tuple(shifts[k] + offs[0, perms[k, i]]), (k, i)
    assert tuple(shifts[0]) == (0, 0) and list(perms[0]) == list(range(offs.shape[1]))
    # the four rotations of one window are four different pixels (its corners for S)
    assert len({tuple(t) for t in shifts}) == 4


@pytest.mark.parametrize("name", ["Y", "F", "V", "2x1"])
def test_other_kernels_do_not_share_windows(name):
    assert comp.window_shifts(_rot_offsets(name)) is None


@pytest.mark.parametrize("name,s", [("S", 2), ("D", 3), ("S", 1)])
def test_packed_rows_are_what_each_rotation_reads(name, s, rng):
    # Read the table the plain way: rotation k at pixel p takes its inputs at p + rot_k(offsets),
    # looks up that row and rotates its cells back; the packed row of the window rotation k of p
    # reads (at p + shifts[k], inputs in rotation 0's order) must hold exactly that.
    interval = 4
    q, L = levels_for_interval(interval)
    offs = _rot_offsets(name)
    n = offs.shape[1]
    table = rng.integers(-128, 128, (L**n, s * s), dtype=np.int8)
    cperm = np.stack([rotate_cells(np.arange(s * s)[None, :], k, False, s)[0] for k in range(4)])
    shifts, perms = comp.window_shifts(offs)
    packed = comp.pack_rotations(table, cperm, perms, L)
    assert packed.shape == (L**n, 4, s * s) and packed.dtype == table.dtype
    img = rng.integers(0, L, (9, 9)) * q  # grid values: one vertex, the row itself
    img = np.minimum(img, 256)
    strides = L ** np.arange(n - 1, -1, -1)
    for y, x in [(3, 3), (4, 5), (5, 4), (6, 6)]:
        for k in range(4):
            row = int(sum(img[y + oy, x + ox] // q * st for (oy, ox), st in zip(offs[k], strides)))
            want = rotate_cells(table[row : row + 1], k, False, s)[0]
            wy, wx = y + shifts[k, 0], x + shifts[k, 1]
            j = int(sum(img[wy + oy, wx + ox] // q * st for (oy, ox), st in zip(offs[0], strides)))
            assert np.array_equal(packed[j, k], want), (y, x, k)


CASES = [("srlut-s", 1, 4), ("srlut-s", 2, 4), ("srlut-s", 3, 6), ("srlut-s", 4, 5), ("srlut-s", 2, 8),
         ("mulut-sdy-x2", 2, 4), ("mulut-sdy-x2", 4, 5), ("eclut-sdy", 3, 4), ("sdy", 1, 4)]


@pytest.mark.parametrize("method,scale,interval", CASES)
def test_packed_kernel_matches_reference_every_band_and_thread(method, scale, interval):
    rng = np.random.default_rng(hash((method, scale, interval, "w")) % 2**32)
    lut = random_lut(method, scale, interval, rng)
    packed, plain = compile_lut(lut), compile_lut(lut, pack=False)
    vecs = [p.vec for p in packed.stages if p.vec is not None]
    assert vecs and all(v.packed.shape[0] > 0 for v in vecs)  # S (and D) really take the packed path
    assert all(p.vec is None or p.vec.packed.shape[0] == 0 for p in plain.stages)
    imgs = adversarial_images(rng) + [rng.integers(0, 256, (23, 13, 3), dtype=np.uint8)]
    for img in imgs:
        x = np.ascontiguousarray(img if img.ndim == 3 else img[..., None])
        want = upscale_reference(img, lut)
        want = want if img.ndim == 3 else want[..., None]
        assert np.array_equal(run(plain, x), want), img.shape
        for bands in (None, 1, 2, 3, 5, 40):  # bands of 1 row up to bands taller than the image
            for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
                numba.set_num_threads(threads)
                try:
                    got = run(packed, x, bands)
                finally:
                    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
                assert np.array_equal(got, want), (img.shape, bands, threads)


@pytest.mark.parametrize("low", [-128, -127])
def test_int16_lanes_only_when_no_sum_can_overflow_them(low, rng):
    # interval 8 (q = 256): 127 * 256 fits int16, 128 * 256 does not -> int32 lanes
    lut = random_lut("srlut-s", 2, 8, rng)
    t = lut.tables[0]
    t[...] = rng.integers(low, 128, t.shape, dtype=np.int8)
    t.flat[0] = low
    t.flat[-1] = 127
    lut._compiled.clear()
    v = compile_lut(lut).stages[0].vec
    assert v.narrow == (low == -127)
    img = np.array([[0, 255, 1, 254], [255, 0, 128, 127], [3, 250, 0, 255]], np.uint8)
    for im in (img, rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)):
        assert np.array_equal(run(compile_lut(lut), np.ascontiguousarray(im if im.ndim == 3 else im[..., None]))
                              [..., 0 if im.ndim == 2 else slice(None)], upscale_reference(im, lut))


def test_tables_over_the_pack_limit_run_per_rotation(monkeypatch, rng):
    lut = random_lut("mulut-sdy-x2", 2, 4, rng)
    monkeypatch.setattr(comp, "PACK_LIMIT", 4 * lut.tables[0].nbytes)  # stage 1 (x1 cells) packs, stage 2 not
    c = comp.compile_lut(lut)
    assert [p.vec.packed.shape[0] for p in c.stages] == [2, 0]
    img = rng.integers(0, 256, (9, 8, 3), dtype=np.uint8)
    assert np.array_equal(run(c, img), upscale_reference(img, lut))


def test_packed_tables_count_in_the_compiled_size(rng):
    lut = random_lut("srlut-s", 4, 4, rng)
    table = lut.tables[0]
    assert compile_lut(lut).nbytes >= table.nbytes + 4 * table.nbytes
    assert compile_lut(lut, pack=False).nbytes < 2 * table.nbytes + 4096  # the flat copy, offsets, perms


@pytest.mark.parametrize("d", [3, 12, 48, 192, 1000, 65537, 4, 64])
@pytest.mark.parametrize("half_even", [False, True])
@pytest.mark.parametrize("nc", [1, 3, 4])
def test_emit_rescales_any_divisor_exactly(d, half_even, nc, rng):
    # the vector rescale of non-power-of-two divisors (float64 division) against the integer reference
    ws = 37  # two runs of 16 and a tail
    bias, pre = 127, -5
    ties = (np.arange(-6, 6) * d + d // 2)[:, None]
    vals = np.concatenate([rng.integers(-2**31 + 2**24, 2**31 - 2**24, (40, 1)), ties, ties - 1, ties + 1,
                           (np.arange(-6, 6) * d)[:, None], [[0], [-1], [1], [-bias * d], [(255 - bias) * d]]])
    vals = np.resize(vals.ravel(), (nc, ws * 3)).astype(np.int32)
    for part in range(3):
        src = np.ascontiguousarray(vals[:, part * ws : (part + 1) * ws])
        cstride = ws + 16
        buf = np.zeros(nc * cstride, np.int32)
        for c in range(nc):
            buf[c * cstride + 5 : c * cstride + 5 + ws] = src[c]
        out = np.zeros((2, ws, nc), np.uint8)
        pw = (d & (d - 1)) == 0
        shift = int(np.log2(d)) if pw else -1
        vadd = (pre + bias * d + (0 if half_even else d // 2)) if pw else 0
        emit_planar_row(buf, cstride, 5, out, 1, shift, vadd, int(bool(half_even and pw)), pre, d, bias, half_even)
        want = rescale_reference(src.astype(np.int64) + pre, 1, d, bias, "half_even" if half_even else "half_up")
        assert np.array_equal(out[1], want.T), (d, half_even, part)
        assert not out[0].any()


def test_expand_stage_addend_from_the_scalar_units_is_planar_too(rng):
    # eclut-sdy whose S, D, Y units go unit by unit (block_kernel, interleaved accumulator,
    # then made planar for the patch kernel) gives the same pixels as the vector path
    import dataclasses

    lut = random_lut("eclut-sdy", 3, 4, rng)
    c = compile_lut(lut)
    assert c.stages[0].route == "expand" and c.stages[0].vec is not None
    scalar = dataclasses.replace(c, stages=(dataclasses.replace(c.stages[0], vec=None),))
    for img in (rng.integers(0, 256, (7, 9, 3), dtype=np.uint8), rng.integers(0, 256, (1, 5, 1), dtype=np.uint8)):
        want = upscale_reference(img, lut)
        assert np.array_equal(run(scalar, img), want)
        assert np.array_equal(run(c, img), want)


@pytest.mark.parametrize("bands", [None, 1, 3])
def test_addend_is_written_everywhere(bands, rng):
    # the S/D/Y addend of eclut-sdy is allocated uninitialized: the kernel must write every element
    from lutsr.runtime.compile import planar
    from lutsr.runtime.run import _vec_call

    lut = random_lut("eclut-sdy", 2, 4, rng)
    p = compile_lut(lut).stages[0]
    img = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    out = np.empty((18, 14, 3), np.uint8)
    sentinel = np.iinfo(np.int32).min
    add = np.full((3, 18, 14), sentinel, np.int32)
    _vec_call(p, planar(img, p.pad, p.reflect), 9, bands, True, add, out)
    assert not (add == sentinel).any()
    again = np.zeros_like(add)
    _vec_call(p, planar(img, p.pad, p.reflect), 9, None, True, again, out)
    assert np.array_equal(add, again)  # written, not added: the starting contents do not matter
