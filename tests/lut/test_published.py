"""Published SR-LUT and MuLUT tables: import checks and reproduction of their Set5 figures.

Needs ``../shared/data/luts`` (their licences keep them out of the repository); skips without it.
Figures recorded in docs/results.md; the acceptance tolerances are the issue's.
"""

import numpy as np
import pytest

from conftest import SET5, SHARED, needs_shared
from lutsr.errors import LutFormatError
from lutsr.imageio import read_image
from lutsr.lut.importer import import_tables, import_to_file
from lutsr.imresize import modcrop
from lutsr.lut.file import Lut
from lutsr.metrics import y_psnr, y_ssim
from lutsr.runtime import upscale

SRLUT = SHARED / "luts" / "SR-LUT"
MULUT = SHARED / "luts" / "MuLUT"
MULUT_FILES = [MULUT / f"LUT_ft_x4_4bit_int8_s{s}_{u}.npy" for s in (1, 2) for u in "sdy"]


def set5_scores(lut: Lut, lr_dir, scale: int, suffix: str = "", ssim_border: int | None = None):
    """Mean Y-PSNR (border = scale) and Y-SSIM on Set5; SR is cropped to the modcropped HR."""
    ps, ss = [], []
    for name in SET5:
        lr = read_image(lr_dir / f"{name}{suffix}.png")
        hr = modcrop(read_image(SHARED / "bench/Set5/HR" / f"{name}.png"), scale)
        sr = upscale(lr, lut)[: hr.shape[0], : hr.shape[1]]
        ps.append(y_psnr(sr, hr, scale))
        ss.append(y_ssim(sr, hr, scale if ssim_border is None else ssim_border))
    return float(np.mean(ps)), float(np.mean(ss))


def _lut(method, files):
    header, tables = import_tables(method, files)
    return Lut(header=header, tables=tables)


@needs_shared
def test_srlut_s_x4_reproduces_published_figure():
    lut = _lut("srlut-s", [SRLUT / "Model_S_x4_4bit_int8.npy"])
    assert lut.scale == 4 and lut.interval == 4
    psnr, _ = set5_scores(lut, SRLUT / "input_LR_x4", 4)
    assert psnr == pytest.approx(29.83, abs=0.01)


@needs_shared
def test_mulut_sdy_x2_reproduces_published_figures():
    lut = _lut("mulut-sdy-x2", list(reversed(MULUT_FILES)))  # files are matched by name, not order
    assert [t["name"] for t in lut.header["tables"]] == ["s1_s", "s1_d", "s1_y", "s2_s", "s2_d", "s2_y"]
    # MuLUT's own script measures SSIM on the whole image (no border crop) and PSNR with a crop of 4.
    psnr, ssim = set5_scores(lut, MULUT / "input_LR_x4", 4, ssim_border=0)
    assert psnr == pytest.approx(30.61, abs=0.01)
    assert ssim == pytest.approx(0.8655, abs=0.0005)


@needs_shared
@pytest.mark.parametrize("method,file,lr,scale,suffix,want", [
    ("srlut-s", "Model_S_x2_4bit_int8.npy", "input_LR_x2", 2, "_GT", 35.5175),
    ("srlut-s", "Model_S_x3_4bit_int8.npy", "input_LR_x3", 3, "_GT", 31.9685),
    ("srlut-f", "Model_F_x4_4bit_int8.npy", "input_LR_x4", 4, "", 29.7852),
    ("srlut-v", "Model_V_x4_0bit_int8.npy", "input_LR_x4", 4, "", 29.2350),
    ("srlut-s", "Model_S_x4_5bit_int8.npy", "input_LR_x4", 4, "", 29.6339),
    ("srlut-s", "Model_S_x4_8bit_int8.npy", "input_LR_x4", 4, "", 26.5294),
])
def test_other_published_tables_match_recorded_figures(method, file, lr, scale, suffix, want):
    lut = _lut(method, [SRLUT / file])
    psnr, _ = set5_scores(lut, SRLUT / lr, scale, suffix)
    assert psnr == pytest.approx(want, abs=0.002)  # golden figures from docs/results.md


@needs_shared
def test_import_refuses_mismatches(tmp_path):
    with pytest.raises(LutFormatError, match="expected"):
        import_tables("srlut-f", [SRLUT / "Model_S_x4_4bit_int8.npy"])  # 2x2 table named as 1x3
    with pytest.raises(LutFormatError, match="needs 6 table files"):
        import_tables("mulut-sdy-x2", MULUT_FILES[:3])
    with pytest.raises(LutFormatError, match="shape"):
        import_tables("srlut-s", [SRLUT / "Model_S_x4_4bit_int8.npy"], scale=2)
    with pytest.raises(LutFormatError, match="dtype"):
        import_tables("eclut", [SRLUT / "Model_V_x4_0bit_int8.npy"])  # int8, ECLUT stores uint8


@needs_shared
def test_imported_file_roundtrips(tmp_path):
    out = tmp_path / "mulut.lut"
    lut = import_to_file("mulut-sdy-x2", MULUT_FILES, out)
    ref = _lut("mulut-sdy-x2", MULUT_FILES)
    img = read_image(MULUT / "input_LR_x4" / "bird.png")
    assert np.array_equal(upscale(img, lut), upscale(img, ref))
    assert lut.header["source"]["imported_from"][0] == "LUT_ft_x4_4bit_int8_s1_s.npy"


def test_import_refuses_pickles_and_garbage(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(LutFormatError, match="pickled"):
        import_tables("srlut-v", [evil])
    assert not marker.exists()
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(LutFormatError, match="junk.npy"):
        import_tables("srlut-v", [junk])
    odd = tmp_path / "odd.npy"
    np.save(odd, np.zeros((1000, 16), np.int8))
    with pytest.raises(LutFormatError, match="interval"):
        import_tables("srlut-v", [odd])


def test_import_synthetic_table_infers_scale_and_interval(tmp_path):
    f = tmp_path / "v.npy"
    np.save(f, np.zeros((17 * 17, 1, 3, 3), np.int8))
    header, tables = import_tables("srlut-v", [f])
    assert header["scale"] == 3 and header["interval"] == 4 and tables[0].shape == (289, 9)


SET14 = SHARED / "bench" / "Set14"


@needs_shared
@pytest.mark.slow
@pytest.mark.skipif(not (SET14 / "HR" / "bridge.png").is_file(), reason="needs ../shared/data/bench/Set14")
def test_set14_x4_anchors_under_both_gray_conventions():
    """Set14's bridge.png is one-channel: MuLUT's 27.60 is the BasicSR convention (default),
    SR-LUT S's 27.01 the gray-as-Y one (``lutsr eval --gray-as-y``)."""
    from lutsr.evaluate import evaluate, summarize

    def mean(lut, gray_as_y):
        res = evaluate([lut], [SET14], baseline=False, gray_as_y=gray_as_y, repeats=1)
        assert not res.failures
        return summarize(res.scores)[0]["psnr"]

    assert mean(_lut("mulut-sdy-x2", MULUT_FILES), False) == pytest.approx(27.60, abs=0.01)
    assert mean(_lut("srlut-s", [SRLUT / "Model_S_x4_4bit_int8.npy"]), True) == pytest.approx(27.01, abs=0.01)
