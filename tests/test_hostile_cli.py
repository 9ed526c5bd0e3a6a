"""Issue 16 through the real command line, in a child process (a segfault or a signal cannot take
pytest down with it): non-UTF-8 file names, SIGTERM mid-run, repeated destinations."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lutsr.cli import main
from lutsr.imageio import TEMP_SUFFIX, read_image, write_image

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from lutsr.cli import main; main()"]


def _run(args, **kw):
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, timeout=300, **kw)


def test_cli_upscale_to_a_non_utf8_name_exits_0_and_writes_it(tmp_path, lut2, rng):
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    good = tmp_path / "good.png"
    write_image(good, img)
    dst = os.fsencode(tmp_path) + b"/\xff\xfe.png"
    r = _run(["upscale", os.fsencode(good), dst, "--lut", str(lut2[0])])
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert os.path.isfile(dst)
    out = read_image(os.fsdecode(dst))
    assert out.shape == (12, 14, 3)
    names = os.listdir(os.fsencode(tmp_path))
    assert not [n for n in names if n.startswith(b".")], names


def test_cli_folder_with_a_non_utf8_name_completes_with_a_summary(tmp_path, lut2, rng):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_image(src / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    write_image(tmp_path / "b.png", rng.integers(0, 256, (5, 4, 3), dtype=np.uint8))
    # the odd name is made by plain Python, not by the code under test
    (tmp_path / "b.png").rename(os.fsdecode(os.fsencode(src) + b"/\xff\xfe.png"))
    r = _run(["upscale", str(src), str(out), "--lut", str(lut2[0])])
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert b"2 upscaled, 0 skipped, 0 failed" in r.stderr, r.stderr
    assert sorted(os.listdir(os.fsencode(out))) == sorted([b"a.png", b"\xff\xfe.png"])
    assert read_image(os.fsdecode(os.fsencode(out) + b"/\xff\xfe.png")).shape == (10, 8, 3)


def test_cli_sigterm_mid_run_leaves_no_temp_file(tmp_path, lut2, rng):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    n = 40
    for i in range(n):
        write_image(src / f"im{i:02d}.png", rng.integers(0, 256, (400, 400, 3), dtype=np.uint8))
    p = subprocess.Popen([*CLI, "upscale", str(src), str(out), "--lut", str(lut2[0]), "--threads", "1"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        # wait until the run is past start-up (kernels compiled, first image written)
        while time.monotonic() < deadline and p.poll() is None:
            if out.is_dir() and any(q.suffix == ".png" for q in out.iterdir()):
                break
            time.sleep(0.05)
        assert p.poll() is None, p.communicate()[1][-500:]
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, (p.returncode, err[-500:])
    assert b"terminated" in err and b"Traceback" not in err, err[-500:]
    left = sorted(q.name for q in out.iterdir())
    assert not [x for x in left if x.startswith(".") or x.endswith(TEMP_SUFFIX)], left
    assert 1 <= len(left) < n, left  # stopped mid-run; every file left is a complete image
    for name in left:
        assert read_image(out / name).shape == (800, 800, 3)


def test_png_and_jpg_of_one_stem_to_one_ext_are_refused(runner, tmp_path, lut2, rng):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    write_image(src / "a.png", img)
    write_image(src / "a.jpg", img)
    for extra in ([], ["--overwrite"]):
        r = runner.invoke(main, ["upscale", str(src), str(out), "--ext", "png", "--lut", str(lut2[0]), *extra])
        assert r.exit_code == 2, r.output
        err = r.stderr.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err
        assert "a.png" in err and "a.jpg" in err, err
        assert not out.exists() or not list(out.iterdir())
