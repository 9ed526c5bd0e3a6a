"""The command line through click's test runner: outputs, errors, exit codes, no partial files."""

import numpy as np
import pytest

from lutsr.cli import main
from lutsr.imageio import read_image, write_image
from lutsr.runtime import upscale


@pytest.fixture
def image(tmp_path, rng):
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    write_image(path, img)
    return path, img


def _assert_clean_failure(result, *fragments):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in err, err


def test_sample_and_default_lut_upscale(runner, tmp_path):
    sample = tmp_path / "sample.png"
    out = tmp_path / "sample_x4.png"
    assert runner.invoke(main, ["sample", str(sample)]).exit_code == 0
    r = runner.invoke(main, ["upscale", str(sample), str(out)])
    assert r.exit_code == 0, r.output
    a, b = read_image(sample), read_image(out)
    assert b.shape == (a.shape[0] * 4, a.shape[1] * 4, 3)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_upscale_with_lut_file_matches_library(runner, tmp_path, lut2, image, ext):
    lut_path, lut = lut2
    src, img = image
    out = tmp_path / f"out{ext}"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut_path), "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_image(out), upscale(img, lut))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_gray_stays_gray(runner, tmp_path, lut2, rng):
    src = tmp_path / "g.png"
    write_image(src, rng.integers(0, 256, (5, 6), dtype=np.uint8))
    out = tmp_path / "g2.png"
    assert runner.invoke(main, ["upscale", str(src), str(out), "--lut", str(lut2[0])]).exit_code == 0
    assert read_image(out).shape == (10, 12)


def test_bad_inputs_exit_2_without_output(runner, tmp_path, lut2, image):
    lut_path, _ = lut2
    src, _ = image
    out = tmp_path / "out.png"
    text = tmp_path / "text.png"
    text.write_text("just text")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(src.read_bytes()[:40])
    cases = [
        ([str(tmp_path / "missing.png"), str(out)], ["missing.png", "no such file"]),
        ([str(text), str(out)], ["text.png"]),
        ([str(empty), str(out)], ["empty"]),
        ([str(truncated), str(out)], ["trunc.png"]),
        ([str(src), str(tmp_path / "out.xyz")], ["extension"]),
        ([str(src), str(tmp_path / "nodir" / "o.png")], ["does not exist"]),
        ([str(src), str(out), "--lut", str(text)], ["magic"]),
        ([str(src), str(out), "--lut", str(tmp_path / "none.lut")], ["no such"]),
        ([str(src), str(src), "--lut", str(lut_path)], ["overwrite"]),
    ]
    for args, fragments in cases:
        r = runner.invoke(main, ["upscale", *args, "--lut", str(lut_path)] if "--lut" not in args else ["upscale", *args])
        _assert_clean_failure(r, *fragments)
        assert not out.exists()


def test_corrupt_lut_is_refused(runner, tmp_path, lut2, image):
    lut_path, _ = lut2
    data = bytearray(lut_path.read_bytes())
    data[-5] ^= 0x55
    bad = tmp_path / "bad.lut"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o.png"
    r = runner.invoke(main, ["upscale", str(image[0]), str(out), "--lut", str(bad)])
    _assert_clean_failure(r, "bad.lut")
    assert not out.exists()


def test_export_bad_source(runner, tmp_path):
    pytest.importorskip("torch")
    r = runner.invoke(main, ["export", str(tmp_path / "norun"), "-o", str(tmp_path / "x.lut")])
    _assert_clean_failure(r, "no checkpoint")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    r = runner.invoke(main, ["export", str(junk), "-o", str(tmp_path / "x.lut")])
    _assert_clean_failure(r, "junk.pt")
    assert not (tmp_path / "x.lut").exists()


def test_train_export_upscale_end_to_end(runner, tmp_path, rng):
    pytest.importorskip("torch")
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        write_image(data / f"{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    run = tmp_path / "run"
    args = ["train", "--arch", "eclut", "--scale", "2", "--data", str(data), "--out", str(run), "--iterations", "4",
            "--batch-size", "2", "--patch-size", "8", "--features", "8", "--device", "cpu", "--checkpoint-every", "2"]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, args)  # a second run into the same folder must not clobber it
    _assert_clean_failure(r, "--resume")
    r = runner.invoke(main, ["train", "--out", str(run), "--iterations", "6", "--resume", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    lut = tmp_path / "x2.lut"
    r = runner.invoke(main, ["export", str(run), "--interval", "0", "-o", str(lut), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "up.png"
    r = runner.invoke(main, ["upscale", str(data / "0.png"), str(out), "--lut", str(lut)])
    assert r.exit_code == 0, r.output
    assert read_image(out).shape == (80, 80, 3)


def test_export_coarse_interval_is_refused_for_now(runner, tmp_path):
    pytest.importorskip("torch")
    r = runner.invoke(main, ["export", str(tmp_path), "--interval", "9", "-o", str(tmp_path / "x.lut")])
    assert r.exit_code == 2


def test_version_and_help(runner):
    assert runner.invoke(main, ["--version"]).exit_code == 0
    r = runner.invoke(main, ["--help"])
    assert r.exit_code == 0 and "upscale" in r.output and "export" in r.output and "train" in r.output


def test_srlut_s_train_export_upscale_same_commands(runner, tmp_path, rng):
    pytest.importorskip("torch")
    data = tmp_path / "data"
    data.mkdir()
    write_image(data / "a.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    run = tmp_path / "srs"
    r = runner.invoke(main, ["train", "--arch", "srlut-s", "--scale", "2", "--data", str(data), "--out", str(run),
                             "--iterations", "3", "--batch-size", "2", "--patch-size", "8", "--features", "8",
                             "--device", "cpu"])
    assert r.exit_code == 0, r.output
    lut = tmp_path / "s.lut"
    r = runner.invoke(main, ["export", str(run), "--interval", "4", "-o", str(lut), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    from lutsr.lut.file import load_lut

    loaded = load_lut(lut)
    assert loaded.header["method"] == "srlut-s" and loaded.interval == 4 and loaded.table.shape == (17**4, 4)
    out = tmp_path / "o.png"
    r = runner.invoke(main, ["upscale", str(data / "a.png"), str(out), "--lut", str(lut)])
    assert r.exit_code == 0, r.output
    assert read_image(out).shape == (80, 80, 3)


def test_import_command(runner, tmp_path):
    f = tmp_path / "v.npy"
    np.save(f, np.zeros((17 * 17, 1, 2, 2), np.int8))
    out = tmp_path / "v.lut"
    r = runner.invoke(main, ["import", "--method", "srlut-v", str(f), "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["import", "--method", "srlut-s", str(f), "-o", str(tmp_path / "bad.lut")])
    _assert_clean_failure(r, "v.npy", "expected")
    assert not (tmp_path / "bad.lut").exists()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_scale_picks_the_shipped_default(runner, tmp_path, image, scale):
    from lutsr.lut.shipped import default_lut_path
    from lutsr.errors import LutFormatError

    src, img = image
    out = tmp_path / f"o{scale}.png"
    r = runner.invoke(main, ["upscale", str(src), str(out), "--scale", str(scale)])
    try:
        default_lut_path(scale)
    except LutFormatError:
        _assert_clean_failure(r, "no default LUT")
        return
    assert r.exit_code == 0, r.output
    assert read_image(out).shape == (img.shape[0] * scale, img.shape[1] * scale, 3)


def test_scale_must_match_the_lut(runner, tmp_path, lut2, image):
    r = runner.invoke(main, ["upscale", str(image[0]), str(tmp_path / "o.png"), "--lut", str(lut2[0]), "--scale", "4"])
    _assert_clean_failure(r, "x2 LUT")


def test_quiet_and_verbose_before_or_after_the_command(tmp_path):
    """-q anywhere: errors only (no summary line); errors still shown; -v accepted after the command."""
    from pathlib import Path

    from click.testing import CliRunner

    cli_main = main
    src = tmp_path / "in.png"
    write_image(src, np.random.default_rng(0).integers(0, 256, (6, 7), dtype=np.uint8))
    runner = CliRunner()
    loud = runner.invoke(cli_main, ["upscale", str(src), str(tmp_path / "a.png")])
    assert loud.exit_code == 0 and "->" in loud.output
    for args in (["-q", "upscale", str(src), str(tmp_path / "b.png")],
                 ["upscale", "-q", str(src), str(tmp_path / "c.png")],
                 ["upscale", str(src), str(tmp_path / "d.png"), "--quiet"]):
        r = runner.invoke(cli_main, args)
        assert r.exit_code == 0, r.output
        assert r.output == "", r.output
        assert Path(args[-2] if args[-1] == "--quiet" else args[-1]).is_file()
    bad = runner.invoke(cli_main, ["upscale", "-q", str(tmp_path / "missing.png"), str(tmp_path / "e.png")])
    assert bad.exit_code == 2 and "error:" in bad.output
    v = runner.invoke(cli_main, ["upscale", str(src), str(tmp_path / "f.png"), "-v"])
    assert v.exit_code == 0 and "->" in v.output


def test_upscaler_short_flags(tmp_path):
    """-n model, -s scale, -j jobs, -t threads, -f output format."""
    from click.testing import CliRunner

    src = tmp_path / "in.png"
    write_image(src, np.random.default_rng(1).integers(0, 256, (6, 7, 3), dtype=np.uint8))
    r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "out"), "-n", "eclut", "-s", "2", "-j", "1", "-t", "1",
                                  "-f", "bmp"])
    assert r.exit_code == 0, r.output
    out = read_image(tmp_path / "out.bmp")
    assert out.shape == (12, 14, 3)


def test_input_output_options_or_arguments(runner, tmp_path, lut2, image):
    """-i/-o as alternatives to IN OUT; both forms, mixed; both or neither: one-line error, exit 2."""
    src, img = image
    lut_path, lut = lut2
    want = upscale(img, lut)
    forms = {"io": ["-i", str(src), "-o", "{out}"], "pos": [str(src), "{out}"], "i_pos": ["-i", str(src), "{out}"],
             "o_pos": ["-o", "{out}", str(src)]}
    for name, form in forms.items():
        out = tmp_path / f"{name}.png"
        r = runner.invoke(main, ["upscale", *[a.format(out=out) for a in form], "-n", str(lut_path)])
        assert r.exit_code == 0, (name, r.output)
        assert np.array_equal(read_image(out), want)
    o = str(tmp_path / "x.png")
    for args, fragment in ((["-i", str(src), str(src), o], "both"), (["-i", str(src), "-o", o, o], "both"),
                           ([str(src), o, "-o", o], "both"), ([], "missing IN"), (["-i", str(src)], "missing OUT"),
                           ([str(src)], "missing OUT"), (["-o", o], "missing IN")):
        r = runner.invoke(main, ["upscale", *args, "-n", str(lut_path)])
        _assert_clean_failure(r, fragment)
    assert not (tmp_path / "x.png").exists()


def test_dash_reads_stdin_and_writes_stdout(runner, tmp_path, lut2, image):
    """'-' as IN: one image from stdin; '-' as OUT: the encoded image alone on stdout (format from -f,
    default PNG); progress and summary on stderr only; no file written."""
    from lutsr.imageio import decode_image

    src, img = image
    lut_path, lut = lut2
    want = upscale(img, lut)
    data = src.read_bytes()
    before = sorted(p.name for p in tmp_path.iterdir())
    r = runner.invoke(main, ["upscale", "-", "-", "-n", str(lut_path)], input=data)
    assert r.exit_code == 0, r.stderr
    assert r.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_image(r.stdout_bytes).pixels, want)
    assert "<stdin>" in r.stderr and "<stdout>" in r.stderr
    r = runner.invoke(main, ["upscale", str(src), "-", "-n", str(lut_path), "-f", "bmp"])
    assert r.exit_code == 0 and r.stdout_bytes[:2] == b"BM", r.stderr
    assert np.array_equal(decode_image(r.stdout_bytes).pixels, want)
    r = runner.invoke(main, ["upscale", "-i", "-", "-o", "-", "-n", str(lut_path), "-q"], input=data)
    assert r.exit_code == 0 and r.stderr == "" and decode_image(r.stdout_bytes).pixels.shape == want.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary or output file
    out = tmp_path / "from_stdin"
    r = runner.invoke(main, ["upscale", "-", str(out), "-n", str(lut_path)], input=data)
    assert r.exit_code == 0, r.stderr
    assert np.array_equal(read_image(tmp_path / "from_stdin.png"), want) and r.stdout_bytes == b""
    r = runner.invoke(main, ["upscale", "-", "-", "-n", str(lut_path)], input=b"not an image")
    _assert_clean_failure(r, "<stdin>")
    assert r.stdout_bytes == b""
    r = runner.invoke(main, ["upscale", str(tmp_path), "-", "-n", str(lut_path)])
    _assert_clean_failure(r, "stdout")


def test_dry_run_lists_the_plan_and_writes_nothing(runner, tmp_path, lut2, rng):
    """--dry-run: what would be written, replaced, skipped or refused, and why; nothing written
    (not even stale temporary files removed); exit 0, or 2 on bad input."""
    lut_path, _ = lut2
    src_dir, out_dir = tmp_path / "in", tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    for name in ("a", "b", "c"):
        write_image(src_dir / f"{name}.png", rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    (out_dir / "b.png").write_bytes(b"old")
    stale = out_dir / ".c.png.abcd1234.lutsr-part"
    stale.write_bytes(b"x")

    def listing():
        return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))

    before = listing()
    r = runner.invoke(main, ["upscale", str(src_dir), str(out_dir), "-n", str(lut_path), "--dry-run"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert any(l.startswith("would write") and "a.png" in l and "(7x5 -> 14x10)" in l for l in lines), lines
    assert any(l.startswith("would fail") and "b.png" in l and "already exists" in l for l in lines), lines
    assert len(lines) == 3 and listing() == before
    r = runner.invoke(main, ["upscale", str(src_dir), str(out_dir), "-n", str(lut_path), "--dry-run",
                             "--skip-existing"])
    assert r.exit_code == 0 and "would skip" in r.stdout and "b.png" in r.stdout, r.output
    r = runner.invoke(main, ["upscale", str(src_dir), str(out_dir), "-n", str(lut_path), "--dry-run", "--overwrite"])
    assert r.exit_code == 0 and any(l.startswith("would replace") and "b.png" in l for l in r.stdout.splitlines())
    r = runner.invoke(main, ["upscale", str(src_dir / "a.png"), str(tmp_path / "one.png"), "-n", str(lut_path),
                             "--dry-run"])
    assert r.exit_code == 0 and r.stdout.startswith("would write") and "one.png" in r.stdout, r.output
    assert listing() == before
    r = runner.invoke(main, ["upscale", str(tmp_path / "missing.png"), str(tmp_path / "x.png"), "--dry-run"])
    _assert_clean_failure(r, "no such file")
    r = runner.invoke(main, ["upscale", str(src_dir / "a.png"), str(out_dir / "b.png"), "-n", str(lut_path),
                             "--dry-run"])
    _assert_clean_failure(r, "already exists")
    assert listing() == before


def test_json_summary_on_stdout(runner, tmp_path, lut2, rng):
    """--json: one JSON object on stdout at the end (inputs, outputs, skipped, failed with reasons,
    seconds), for folders, single files and --dry-run; messages stay on stderr; not with '-' as OUT."""
    import json

    lut_path, _ = lut2
    src_dir, out_dir = tmp_path / "in", tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    for name in ("a", "b"):
        write_image(src_dir / f"{name}.png", rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    (src_dir / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (out_dir / "b.png").write_bytes(b"old")
    args = ["upscale", str(src_dir), str(out_dir), "-n", str(lut_path), "--json"]
    plan = json.loads(runner.invoke(main, [*args, "--dry-run", "--skip-existing"]).stdout)
    assert plan["dry_run"] is True and plan["outputs"] == [str(out_dir / "a.png"), str(out_dir / "bad.png")]
    assert not (out_dir / "a.png").exists()
    r = runner.invoke(main, [*args, "--skip-existing"])
    assert r.exit_code == 1, r.output
    [line] = r.stdout.splitlines()
    res = json.loads(line)
    assert res["dry_run"] is False
    assert sorted(res["inputs"]) == sorted(str(p) for p in src_dir.iterdir())
    assert res["outputs"] == [str(out_dir / "a.png")] and (out_dir / "a.png").is_file()
    assert res["skipped"] == [{"input": str(src_dir / "b.png"), "output": str(out_dir / "b.png"), "reason": "exists"}]
    [fail] = res["failed"]
    assert fail["input"] == str(src_dir / "bad.png") and "bad.png" in fail["reason"]
    assert isinstance(res["seconds"], float) and res["seconds"] >= 0
    assert "failed:" in r.stderr and "upscaled" in r.stderr
    one = tmp_path / "one.png"
    r = runner.invoke(main, ["upscale", str(src_dir / "a.png"), str(one), "-n", str(lut_path), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["outputs"] == [str(one)] and one.is_file(), r.output
    r = runner.invoke(main, ["upscale", str(src_dir / "bad.png"), str(tmp_path / "two.png"), "-n", str(lut_path),
                             "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["failed"][0]["input"] == str(src_dir / "bad.png")
    r = runner.invoke(main, ["upscale", str(src_dir / "a.png"), "-", "--json"])
    _assert_clean_failure(r, "--json")
    assert r.stdout_bytes == b""
