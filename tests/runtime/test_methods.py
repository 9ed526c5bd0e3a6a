"""SR-LUT / MuLUT / ECLUT methods: simplex interpolation, Numba vs reference at every interval."""

import itertools

import numba
import numpy as np
import pytest

from conftest import adversarial_images, random_lut
from lutsr.runtime.reference import rescale_reference, simplex_reference, upscale_reference
from lutsr.runtime import upscale
from lutsr.spec import KERNELS, METHODS, levels_for_interval


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("interval", [1, 3, 4, 8])
def test_simplex_reproduces_linear_tables_for_every_ordering(n, interval):
    # A table that is linear in the level indices is reproduced exactly by a correct simplex
    # interpolation, whatever the ordering of the fractions (the published SR-LUT bug breaks this).
    q, levels = levels_for_interval(interval)
    coef = np.array([7, -3, 5, 2][:n])
    fracs = [0, 1, q // 3, q // 2, q - 1] if q > 1 else [0]
    vals = []
    for perm in itertools.permutations(range(n)):
        for f in itertools.combinations_with_replacement(sorted(set(fracs)), n):
            msb = np.arange(n) % max(levels - 2, 1)
            v = msb * q + np.array(f)[list(perm)]
            vals.append(np.minimum(v, 255 if q == 1 else v))
    vals = np.unique(np.array(vals), axis=0)
    vals = vals[(vals <= 255).all(axis=1)]
    rows, w = simplex_reference(vals, interval)
    assert np.all(w >= 0) and np.all(w.sum(axis=1) == q)
    digits = np.stack([(rows // levels ** (n - 1 - i)) % levels for i in range(n)], axis=-1)  # level indices
    table_at_vertices = (digits * q * coef).sum(-1)  # linear function of the input values
    interp = (w * table_at_vertices).sum(axis=1)  # = q * value
    assert np.array_equal(interp, q * (vals * coef).sum(axis=1))


def test_simplex_hand_example():
    # q = 16: values (40, 20, 33, 17) -> msb (2, 1, 2, 1), fractions (8, 4, 1, 1)
    rows, w = simplex_reference(np.array([[40, 20, 33, 17]]), 4)
    L = 17
    base = 2 * L**3 + 1 * L**2 + 2 * L + 1
    assert list(w[0]) == [16 - 8, 8 - 4, 4 - 1, 1 - 1, 1]
    # walk: +a (frac 8), +b (frac 4), then c and d (tie at 1, stable order: c first)
    assert list(rows[0]) == [base, base + L**3, base + L**3 + L**2, base + L**3 + L**2 + L,
                             base + L**3 + L**2 + L + 1]


def test_rescale_rounding_modes():
    acc = np.array([2, 6, 10, -2, -6, 7])
    assert list(rescale_reference(acc, 1, 4, 0, "half_up")) == [1, 2, 3, 0, 0, 2]
    assert list(rescale_reference(np.array([2, 6, 10, 14]), 1, 4, 0, "half_even")) == [0, 2, 2, 4]
    assert list(rescale_reference(np.array([0, -127 * 12 * 16]), 16, 12, 127, "half_even")) == [127, 0]


CASES = [
    ("eclut", 2, 0), ("eclut", 3, 4), ("eclut", 4, 2), ("eclut", 2, 8),
    ("srlut-s", 2, 4), ("srlut-s", 4, 4), ("srlut-s", 3, 6), ("srlut-s", 2, 8),
    ("srlut-f", 4, 4), ("srlut-f", 2, 3),
    ("srlut-v", 4, 0), ("srlut-v", 3, 2),
    ("mulut-sdy-x2", 2, 4), ("mulut-sdy-x2", 4, 5),
    ("eclut-sdy", 2, 4), ("eclut-sdy", 4, 4), ("eclut-sdy", 3, 6),
    # same-size LUTs (denoising, deblocking): scale 1 on every route
    ("sdy", 1, 4), ("sdy2", 1, 4), ("sdy2", 1, 3), ("sdy", 2, 4), ("eclut-sdy", 1, 4), ("eclut", 1, 0),
    ("srlut-s", 1, 4),
]


@pytest.mark.parametrize("method,scale,interval", CASES)
def test_numba_matches_reference_for_every_method(method, scale, interval):
    rng = np.random.default_rng(hash((method, scale, interval)) % 2**32)
    lut = random_lut(method, scale, interval, rng)
    for img in adversarial_images(rng):
        want = upscale_reference(img, lut)
        assert want.shape[:2] == (img.shape[0] * scale, img.shape[1] * scale)
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            got = upscale(img, lut, threads=threads)
            assert np.array_equal(got, want), (img.shape, threads)


def test_methods_are_data():
    for name, m in METHODS.items():
        assert m.stages[-1].upscale, name
        assert len(m.table_names()) == len(set(m.table_names()))
        for st in m.stages:
            assert st.pad_mode in ("edge", "reflect") and st.rounding in ("half_up", "half_even")
    assert METHODS["srlut-s"].stages[0].pad_mode == "reflect"
    assert METHODS["mulut-sdy-x2"].stages[0].pad_mode == "edge"
    assert KERNELS["D"].pad_bottom == 2 and KERNELS["Y"].pad_right == 2 and KERNELS["F"].pad_bottom == 0
    assert METHODS["mulut-sdy-x2"].table_names() == ["s1_s", "s1_d", "s1_y", "s2_s", "s2_d", "s2_y"]
    assert METHODS["mulut-sdy-x2"].table_shapes(4, 4) == [(83521, 1)] * 3 + [(83521, 16)] * 3


@pytest.mark.parametrize("method,scale,interval", CASES)
def test_general_unit_by_unit_path_matches_reference(method, scale, interval):
    # the path for stages that the fast kernels do not cover (mixed units) must agree too
    from lutsr.runtime import compile_lut, run

    rng = np.random.default_rng(99)
    lut = random_lut(method, scale, interval, rng)
    general = compile_lut(lut, route="general")
    assert general.routes == ("general",) * len(lut.method.stages)
    for img in adversarial_images(rng)[:6]:
        x = img if img.ndim == 3 else img[..., None]
        want = upscale_reference(img, lut)
        got = run(general, np.ascontiguousarray(x))
        assert np.array_equal(got if img.ndim == 3 else got[..., 0], want), img.shape
