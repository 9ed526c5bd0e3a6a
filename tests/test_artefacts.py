"""lutsr.artefacts: the scenes are what they claim, and the measures see what they should."""

from __future__ import annotations

import numpy as np
import pytest

from lutsr.artefacts import (BRIGHT, DARK, _pixel_distance, along_edge_error, edge_image, flat_image,
                             line_image, measure_artefacts, zone_plate)
from lutsr.imresize import imresize

S = 4


def _coverage(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float64) - DARK) / (BRIGHT - DARK)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 90.0])
def test_edge_covers_half_the_image(angle):
    img = edge_image(64, angle)
    assert img.dtype == np.uint8 and img.shape == (64, 64)
    assert abs(_coverage(img).mean() - 0.5) < 0.01
    assert set(np.unique(img)) >= {int(DARK), int(BRIGHT)}  # both sides reached, antialiased between


def test_edge_pixels_follow_the_distance():
    d = _pixel_distance(64, 22.5, 0.37)
    cov = _coverage(edge_image(64, 22.5, 0.37))
    assert np.all(cov[d > 0.75] == 1) and np.all(cov[d < -0.75] == 0)
    assert np.all(np.abs(cov[np.abs(d) < 0.2] - 0.5) < 0.3)


def test_horizontal_line_has_its_width():
    cov = _coverage(line_image(64, 0.0, 0.37, width=1.5))
    np.testing.assert_allclose(cov.sum(axis=0), 1.5, atol=0.02)  # every column holds 1.5 px of line


def test_flat_and_zone_plate():
    f = flat_image(128, 128, sigma=2.0, seed=1)
    assert abs(f.mean() - 128) < 0.1 and abs(f.std() - 2.0) < 0.1
    assert np.array_equal(f, flat_image(128, 128, sigma=2.0, seed=1))
    z = zone_plate(128, 0.125)
    assert z.min() >= 28 and z.max() <= 228 and z[64, 64] == 228


def _profile(d: np.ndarray) -> np.ndarray:
    return 130 + 90 * np.tanh(d)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 80.0])
def test_along_edge_error_sees_beads_not_a_shift_invariant_profile(angle):
    n = 96
    d = _pixel_distance(n, angle, 0.37)
    hr = np.zeros((n, n))
    smooth = _profile(d)  # any function of the distance alone: no along-edge error
    assert along_edge_error(smooth, hr, d, 8) < 0.2
    rng = np.random.default_rng(0)
    pattern = rng.standard_normal((S, S))
    pattern = 3.0 * (pattern - pattern.mean()) / pattern.std()  # RMS 3 beads, period S on the grid
    ys, xs = np.mgrid[:n, :n]
    beads = smooth + pattern[ys % S, xs % S]
    # what a pattern on the grid puts along the edge: all of it, except, where the edge runs
    # along a grid direction, its mean over each grid line parallel to the edge (shift-invariant)
    py, px = np.mgrid[:S, :S]
    if angle == 0.0:
        line = py
    elif angle == 45.0:
        line = (py - px) % S
    else:
        line = np.arange(S * S).reshape(S, S)  # no grid line parallel to the edge: nothing absorbed
    means = np.bincount(line.ravel(), pattern.ravel()) / np.bincount(line.ravel())
    expected = float(np.sqrt(np.mean((pattern - means[line]) ** 2))) if angle in (0.0, 45.0) else 3.0
    assert along_edge_error(beads, hr, d, 8) == pytest.approx(expected, abs=0.4)
    noisy = smooth + 2.0 * rng.standard_normal((n, n))
    assert along_edge_error(noisy, hr, d, 8) == pytest.approx(2.0, abs=0.3)


def _bicubic(x):
    return imresize(x, float(S))


def test_measure_ranks_nearest_worse_than_bicubic_and_sees_added_grain():
    nearest = measure_artefacts(lambda x: np.repeat(np.repeat(x, S, 0), S, 1), S, size=96).summary()
    bic = measure_artefacts(_bicubic, S, size=96).summary()
    assert nearest["edge_along_mean"] > 2 * bic["edge_along_mean"]
    assert nearest["zone_psnr"] < bic["zone_psnr"] - 3
    assert bic["added_grain"] == 0.0  # bicubic is its own reference
    assert bic["edge_along_mean"] == pytest.approx(bic["edge_bicubic_along_mean"])
    rng = np.random.default_rng(3)

    def grainy(x):
        return np.clip(_bicubic(x) + np.round(rng.normal(0, 1.5, (x.shape[0] * S, x.shape[1] * S))), 0,
                       255).astype(np.uint8)

    g = measure_artefacts(grainy, S, size=96).summary()
    assert g["added_grain"] == pytest.approx(1.5, abs=0.15)


def test_shipped_default_is_measured_against_bicubic():
    """The shipped default runs through the measure (scores are reported in docs/results.md)."""
    import lutsr

    lut = lutsr.default_lut(S)
    r = measure_artefacts(lambda x: lutsr.upscale(x, lut), S, size=96)
    assert len(r.edges) == 26 and all(e.along > 0 and e.bicubic_along > 0 for e in r.edges)
    assert r.to_json()["summary"]["edge_along_mean"] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale must be 2..8"):
        measure_artefacts(_bicubic, 1)
    with pytest.raises(ValueError, match=r"upscale returned shape \(24, 24\), expected \(96, 96\)"):
        measure_artefacts(lambda x: x, S, size=96)


def test_cli_artefacts_table_and_json(tmp_path):
    import json

    from click.testing import CliRunner

    from lutsr.cli import main

    out = tmp_path / "a.json"
    r = CliRunner().invoke(main, ["artefacts", "--lut", "eclut", "--scale", "2", "--json", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].split()[:3] == ["upscaler", "edge", "error"] and len(lines) == 4  # header, rule, 2 rows
    assert lines[2].startswith("bicubic x2") and "eclut_x2.lut" in lines[3]
    data = json.loads(out.read_text())
    assert len(data) == 2 and all(len(v["edges"]) == 26 for v in data.values())
    bad = CliRunner().invoke(main, ["artefacts", "--lut", str(tmp_path / "missing.lut")])
    assert bad.exit_code == 2 and "no such LUT file" in bad.output and "Traceback" not in bad.output
