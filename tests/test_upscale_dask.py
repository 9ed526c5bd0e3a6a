"""``lutsr upscale IN OUT --dask``: the local folder mode's outputs, lines and exit codes, on a LocalCluster."""

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("dask", reason="dask not installed (pip install 'lutsr[dask]')")
pytest.importorskip("distributed", reason="distributed not installed (pip install 'lutsr[dask]')")

from lutsr.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from lutsr.fit.distributed import connect

    cl, c = connect("local:2")  # the CLI's own LocalCluster; the tests reach it by address (tcp://)
    yield c.scheduler_address, cl
    cl.close()
    c.close()


def _folder(root):
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(5):
        cv2.imwrite(str(src / f"g{k}.png"), rng.integers(0, 256, (7 + k, 9, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "sub" / "gray.png"), rng.integers(0, 256, (1, 1), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "empty.jpg").write_bytes(b"")
    (src / "sub" / "text.bmp").write_bytes(b"BM" + b"\0" * 10)
    return src


def _run(args):
    r = CliRunner().invoke(main, ["upscale", *map(str, args)])
    return r.exit_code, r.stderr if hasattr(r, "stderr") else r.output


def _lines(err):
    """The failure lines and the summary without its seconds (the progress bar dropped)."""
    keep = [ln for ln in err.splitlines() if ln.startswith("failed:") or " upscaled, " in ln]
    return [re.sub(r"in [0-9.]+s", "in Ts", ln) for ln in keep]


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_dask_folder_matches_local_folder(cluster, tmp_path, monkeypatch, relative):
    addr, _ = cluster
    src = _folder(tmp_path)
    base = ["-r", "-s", "2", "--suffix", "_x2"]
    if relative:  # workers have their own working folder: paths are made absolute, messages keep them as given
        monkeypatch.chdir(tmp_path)
        src = src.relative_to(tmp_path)
    loc, dsk = (Path("local"), Path("dask")) if relative else (tmp_path / "local", tmp_path / "dask")
    rc_l, err_l = _run([src, loc, *base])
    rc_d, err_d = _run([src, dsk, *base, "--dask", addr])
    assert rc_l == rc_d == 1
    lines_l, lines_d = _lines(err_l), _lines(err_d)
    assert lines_l[-1].startswith("6 upscaled, 0 skipped, 3 failed")
    assert lines_d == [ln.replace(str(loc), str(dsk)) for ln in lines_l]
    if relative:
        assert not any(str(tmp_path) in ln for ln in lines_d)
    assert _tree(tmp_path / "local") == _tree(tmp_path / "dask") and len(_tree(tmp_path / "dask")) == 6


def test_dask_never_overwrites_and_skips_existing(cluster, tmp_path):
    addr, _ = cluster
    src = _folder(tmp_path)
    shutil.rmtree(src / "sub")
    for name in ("broken.png", "empty.jpg"):
        (src / name).unlink()
    out = tmp_path / "out"
    assert _run([src, out, "-s", "2", "--dask", addr])[0] == 0
    before = _tree(out)
    (out / "g1.png").write_bytes(b"keep me")
    rc, err = _run([src, out, "-s", "2", "--dask", addr])
    assert rc == 1 and _lines(err)[-1].startswith("0 upscaled, 0 skipped, 5 failed")
    assert sum("already exists; use --overwrite" in ln for ln in _lines(err)) == 5
    assert (out / "g1.png").read_bytes() == b"keep me" and (out / "g0.png").read_bytes() == before["g0.png"]
    rc, err = _run([src, out, "-s", "2", "--dask", addr, "--skip-existing"])
    assert rc == 0 and _lines(err) and _lines(err)[-1].startswith("0 upscaled, 5 skipped, 0 failed")
    rc, err = _run([src, out, "-s", "2", "--dask", addr, "--overwrite"])
    assert rc == 0 and _tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_the_lut_is_loaded_once_per_worker(cluster, tmp_path):
    addr, client = cluster
    from lutsr.lut.shipped import default_lut_path

    def loads():
        from lutsr import distributed

        return distributed._worker_loads, sorted(distributed._worker_luts)

    src = tmp_path / "in"
    src.mkdir()
    for k in range(12):
        cv2.imwrite(str(src / f"p{k:02}.png"), np.full((3, 4, 3), k, np.uint8))
    lut = tmp_path / "my.lut"
    shutil.copyfile(default_lut_path(3), lut)  # a LUT the workers have not seen in this module
    before = client.run(loads)
    assert _run([src, tmp_path / "out", "-n", lut, "--dask", addr])[0] == 0
    after = client.run(loads)
    new = {w: after[w][0] - before[w][0] for w in after}
    assert sum(new.values()) >= 1 and all(n <= 1 for n in new.values())  # 12 tasks, at most one load per worker
    assert len(_tree(tmp_path / "out")) == 12


def test_dask_local_n_and_bad_specs(tmp_path):
    src = _folder(tmp_path)
    shutil.rmtree(src / "sub")
    rc, err = _run([src, tmp_path / "o", "-s", "2", "--dask", "local:2"])
    assert rc == 1 and _lines(err)[-1].startswith("5 upscaled, 0 skipped, 2 failed")
    for spec, words in [("local:x", "expected local:N"), ("local:0", "at least 1")]:
        rc, err = _run([src, tmp_path / "p", "--dask", spec])
        assert rc == 2 and err.strip().splitlines()[-1].startswith("error: --dask") and words in err
        assert "Traceback" not in err
    rc, err = _run([tmp_path / "missing", tmp_path / "q", "--dask", "local:2"])
    assert rc == 2 and "no such file or folder" in err


def test_dask_json_summary_matches_local(cluster, tmp_path):
    import json

    addr, _ = cluster
    src = _folder(tmp_path)
    got = {}
    for name, extra in (("local", []), ("dask", ["--dask", addr])):
        r = CliRunner().invoke(main, ["upscale", str(src), str(tmp_path / "o"), "-r", "-s", "2", "--suffix", f"_{name}",
                                      "--json", *extra])
        assert r.exit_code == 1
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        summary.pop("seconds")
        got[name] = json.loads(json.dumps(summary).replace("_dask", "_local"))
    assert got["dask"] == got["local"] and len(got["local"]["failed"]) == 3 and len(got["local"]["outputs"]) == 6


def test_dask_blind_denoise_matches_local(cluster, tmp_path):
    """`lutsr denoise IN OUT --dask`: the shipped tables chosen per image on the workers, as locally."""
    from lutsr.tasks import Task

    addr, _ = cluster
    src = tmp_path / "in"
    src.mkdir()
    y, x = np.mgrid[0:48, 0:40]
    clean = np.clip(80 + x + y, 0, 255).astype(np.uint8)
    for k, sigma in enumerate((15, 50)):
        cv2.imwrite(str(src / f"n{k}.png"), Task.denoise(sigma).degrade(clean, seed=k))
    codes = []
    for name, extra in (("local", []), ("dask", ["--dask", addr])):
        r = CliRunner().invoke(main, ["denoise", str(src), str(tmp_path / name), *extra])
        codes.append(r.exit_code)
        assert "2 denoised (denoise_s15: 1, denoise_s50: 1)" in r.output, r.output
    assert codes == [0, 0] and _tree(tmp_path / "local") == _tree(tmp_path / "dask")
