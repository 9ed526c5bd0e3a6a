import numba
import numpy as np
import pytest

from conftest import adversarial_images, random_eclut, random_lut
from lutsr.errors import LutsrError
from lutsr.runtime.reference import eclut_upscale_reference
from lutsr.runtime import upscale


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("extreme", [False, True])
def test_numba_matches_reference_bit_exactly(scale, extreme, rng):
    lut = random_eclut(scale, rng, extreme=extreme)
    for img in adversarial_images(rng):
        want = eclut_upscale_reference(img, lut.table, scale)
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            got = upscale(img, lut, threads=threads)
            assert got.dtype == np.uint8 and got.shape == want.shape, img.shape
            assert np.array_equal(got, want), (img.shape, threads)


def test_reference_hits_both_clipping_ends(rng):
    # an all-255 table saturates, an all-0 table gives 0: the rescale clips, it does not wrap
    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (5, 5), dtype=np.uint8)
    hi = eclut_upscale_reference(img, np.full_like(lut.table, 255), 2)
    lo = eclut_upscale_reference(img, np.zeros_like(lut.table), 2)
    assert np.all(hi == 255) and np.all(lo == 0)
    lut.table = np.full_like(lut.table, 255)  # the setter drops the compiled form
    assert np.all(upscale(img, lut) == 255)


def test_constant_cells_give_expected_value(rng):
    # every cell = 128 + 7: acc = 36 * 7 = 252, (252 + 2) >> 2 = 63 everywhere (borders too)
    lut = random_eclut(3, rng)
    lut.table = np.full_like(lut.table, 135)
    img = rng.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    assert np.all(upscale(img, lut) == 63)
    assert np.all(eclut_upscale_reference(img, lut.table, 3) == 63)


def test_rgb_is_per_channel(rng):
    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    out = upscale(img, lut)
    for c in range(3):
        assert np.array_equal(out[..., c], upscale(np.ascontiguousarray(img[..., c]), lut))


def test_rgba_is_premultiplied_upscale_of_colour_and_alpha(rng):
    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    out = upscale(img, lut)
    assert out.shape == (12, 10, 4)
    a = img[..., 3:].astype(np.int64)
    prem = ((img[..., :3] * a + 127) // 255).astype(np.uint8)
    up = eclut_upscale_reference(np.concatenate([prem, img[..., 3:]], axis=2), lut.table, 2).astype(np.int64)
    ua = up[..., 3:]
    rgb = np.where(ua > 0, (up[..., :3] * 255 + ua // 2) // np.maximum(ua, 1), 0)
    assert np.array_equal(out, np.concatenate([np.clip(rgb, 0, 255), ua], axis=2).astype(np.uint8))


def test_rgba_edges_have_no_dark_fringe():
    # an opaque red disc on fully transparent black: visible edge pixels must stay red
    import cv2

    img = np.zeros((32, 32, 4), np.uint8)
    cv2.circle(img, (16, 16), 9, (255, 0, 0, 255), -1)
    out = upscale(img)  # shipped default LUT
    edge = (out[..., 3] > 64) & (out[..., 3] < 250)
    assert edge.sum() > 20
    assert out[..., 0][edge].min() >= 200, out[..., 0][edge].min()
    assert np.all(out[..., 1:3][out[..., 3] > 64] <= 40)


def test_16bit_keeps_precision_and_bands_no_more_than_8bit():
    # a 16-bit ramp finer than 8-bit steps keeps its extra precision (many more distinct levels
    # than the 8-bit path), its steps are no larger than the 8-bit path's, and it agrees with
    # the 8-bit path to within one 8-bit level
    x = np.tile(np.linspace(10000, 12000, 64).astype(np.uint16), (12, 1))
    out = upscale(x)
    assert out.dtype == np.uint16 and out.shape == (48, 256)
    x8 = ((x.astype(np.uint32) + 128) // 257).astype(np.uint8)
    out8 = upscale(x8).astype(int)
    row, row8 = out[24, 8:-8].astype(int), out8[24, 8:-8] * 257
    assert len(np.unique(row)) > 4 * len(np.unique(row8))
    # 257 * LUT(high byte) + bicubic(low byte): the LUT sees floor(x / 257) where the 8-bit
    # path sees round(x / 257), so a step may differ from the 8-bit path's by up to one level
    assert np.abs(np.diff(row)).max() <= np.abs(np.diff(row8)).max() + 257
    assert np.abs((out.astype(int) + 128) // 257 - out8).max() <= 1


def test_non_contiguous_input(rng):
    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    view = img[::2, ::3]
    assert np.array_equal(upscale(view, lut), eclut_upscale_reference(np.ascontiguousarray(view), lut.table, 2))


@pytest.mark.parametrize("bad,fragment", [
    (np.zeros((4, 4), np.float32), "uint8 or uint16"),
    (np.zeros((4,), np.uint8), "shape"),
    (np.zeros((0, 4), np.uint8), "no pixels"),
    (np.zeros((4, 4, 5), np.uint8), "channels"),
    ([[1, 2]], "numpy array"),
])
def test_bad_images_are_refused(bad, fragment, rng):
    lut = random_eclut(2, rng)
    with pytest.raises(LutsrError, match=fragment):
        upscale(bad, lut)


def test_threads_must_be_positive(rng):
    with pytest.raises(LutsrError):
        upscale(np.zeros((2, 2), np.uint8), random_eclut(2, rng), threads=0)


@pytest.mark.parametrize("bad,fragments", [
    (np.zeros((4, 4), np.float32), ["uint8 or uint16", "got dtype float32", "* 255", "astype(np.uint8)"]),
    (np.zeros((4, 4, 3), np.float64), ["got dtype float64", "astype(np.uint8)"]),
    (np.zeros((4, 4), bool), ["got dtype bool", "astype(np.uint8) * 255"]),
    (np.zeros((4, 4), np.int32), ["got dtype int32", "astype(np.uint8)"]),
    (np.zeros((4, 4, 5), np.uint8), ["1 (gray), 3 (RGB) or 4 (RGBA) channels", "got 5", "channels-last"]),
    (np.zeros((4, 4, 2), np.uint8), ["1 (gray), 3 (RGB) or 4 (RGBA) channels", "got 2"]),
    (np.zeros((2, 4, 4, 3), np.uint8), ["(H, W) or (H, W, C)", "one image at a time"]),
])
def test_bad_image_errors_say_expected_got_and_what_to_pass(bad, fragments, rng):
    with pytest.raises(LutsrError) as err:
        upscale(bad, random_eclut(2, rng))
    msg = str(err.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


@pytest.mark.parametrize("threads", [1.5, "2", 2.0, True])
def test_threads_must_be_a_whole_number(threads, rng):
    with pytest.raises(LutsrError, match="threads must be a whole number >= 1 or None, got"):
        upscale(np.zeros((2, 2), np.uint8), random_eclut(2, rng), threads=threads)


def test_threads_accepts_numpy_integers(rng):
    lut = random_eclut(2, rng)
    img = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    assert np.array_equal(upscale(img, lut, threads=np.int64(1)), eclut_upscale_reference(img, lut.table, 2))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_band_count_does_not_change_the_output(scale, rng):
    from lutsr.runtime import compile_lut, run

    lut = random_eclut(scale, rng)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    want = eclut_upscale_reference(img, lut.table, scale)
    for bands in range(1, 10):  # more bands than rows too (empty bands)
        assert np.array_equal(run(compile_lut(lut), img, bands=bands), want), bands


def test_mixed_stage_band_count_does_not_change_the_output():
    # eclut-sdy: S, D, Y accumulated first, then added inside the ExpandConv patch kernel
    from lutsr.runtime.reference import upscale_reference
    from lutsr.runtime import compile_lut, run

    rng = np.random.default_rng(4)
    lut = random_lut("eclut-sdy", 2, 4, rng)
    assert compile_lut(lut).routes == ("expand",)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    want = upscale_reference(img, lut)
    for bands in range(1, 10):
        assert np.array_equal(run(compile_lut(lut), img, bands=bands), want), bands


def test_shipped_families_by_name():
    from lutsr.errors import LutsrError
    from lutsr.lut.shipped import SHIPPED_FAMILIES, SHIPPED_SCALES, default_lut_path
    from lutsr.runtime import default_lut, resolve_lut

    for family in SHIPPED_FAMILIES:
        for scale in SHIPPED_SCALES[family]:
            lut = resolve_lut(family, scale=scale)
            assert lut.header["method"] == family and lut.scale == scale
            assert lut is default_lut(scale, family)  # loaded once per process
    assert resolve_lut(None, scale=3).header["method"] == "srlut-s"
    with pytest.raises(LutsrError, match="no srlut-s LUT is shipped for scale 5"):
        default_lut_path(5)
    with pytest.raises(LutsrError, match="no shipped LUT family"):
        default_lut_path(4, "mulut")
    with pytest.raises(LutsrError, match="no shiftnet LUT is shipped for scale 5"):
        default_lut_path(5, "shiftnet")


@pytest.mark.parametrize("method,scale,interval", [("eclut", 2, 0), ("eclut", 3, 4), ("srlut-s", 2, 4),
                                                   ("srlut-f", 2, 4), ("mulut-sdy-x2", 2, 4),
                                                   ("eclut-sdy", 3, 4)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_banded_processing_is_bit_identical(method, scale, interval, channels):
    rng = np.random.default_rng(7)
    lut = random_lut(method, scale, interval, rng)
    img = rng.integers(0, 256, (23, 9, channels), dtype=np.uint8)
    whole = upscale(img, lut, band_samples=10**9)
    for rows in (1, 2, 3, 5, 8):
        assert np.array_equal(upscale(img, lut, band_samples=rows * 9 * channels), whole), rows
    img16 = (img.astype(np.uint16) * 257 + rng.integers(0, 200, img.shape).astype(np.uint16))
    assert np.array_equal(upscale(img16, lut, band_samples=3 * 9 * channels), upscale(img16, lut, band_samples=10**9))


@pytest.mark.parametrize("interval,cell", [(2, 0), (2, 255), (2, None), (3, None)])
def test_expand_windows_do_not_overflow(interval, cell):
    # interval 2 is the coarsest at which the ECLUT patch kernel keeps int16 windows; with all
    # cells at an extreme every output sum reaches its bound (4 rotations x 9 maps x q x 128)
    from lutsr.lut.file import Lut, make_eclut_header
    from lutsr.runtime.reference import upscale_reference
    from lutsr.runtime import compile_lut, run

    rng = np.random.default_rng(interval)
    header = make_eclut_header(4, interval)
    shape = tuple(header["tables"][0]["shape"])
    table = rng.integers(0, 256, shape, dtype=np.uint8) if cell is None else np.full(shape, cell, np.uint8)
    lut = Lut(header=header, tables=[table])
    stage = compile_lut(lut).stages[0]
    plan = stage.expand
    assert (plan.bound <= 36 * 4 * 128) == (interval == 2)
    assert stage.narrow == (interval == 2)  # int16 windows exactly where no sum can overflow them
    img = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    for bands in (1, 4):
        assert np.array_equal(run(compile_lut(lut), img, bands=bands), upscale_reference(img, lut))


def test_one_pass_luts_skip_banding_with_the_same_result(monkeypatch):
    # ECLUT and SR-LUT kernels hold a few rows at a time: large 8-bit images are not cut into
    # bands (no second output-sized buffer); multi-stage or accumulating methods still are
    import lutsr.runtime.api as rt
    from lutsr.runtime import compile_lut

    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (21, 10, 3), dtype=np.uint8)
    monkeypatch.setattr(rt, "BAND_SAMPLES", 2 * 10 * 3)  # bands of 2 rows when banding applies
    for method, streams in [("eclut", True), ("srlut-s", True), ("eclut-sdy", False), ("mulut-sdy-x2", False)]:
        lut = random_lut(method, 2, 4, rng)
        assert compile_lut(lut).streams == streams, method
        calls = []
        real = rt._upscale_banded
        monkeypatch.setattr(rt, "_upscale_banded", lambda s, c_, n: calls.append(n) or real(s, c_, n))
        got = rt.upscale(img, lut)
        monkeypatch.setattr(rt, "_upscale_banded", real)
        assert (calls[0] >= img.size) == streams, method
        assert np.array_equal(got, rt.upscale(img, lut, band_samples=2 * 10 * 3)), method
