"""lutsr eval / info on tiny synthetic data with known answers."""

import json

import cv2
import numpy as np
import pytest

from conftest import held_arrays, random_lut
from click.testing import CliRunner

from lutsr.cli import main
from lutsr.errors import LutsrError
from lutsr.evaluate import evaluate, find_lr, summarize
from lutsr.imageio import write_image
from lutsr.imresize import imresize
from lutsr.info import lut_info
from lutsr.lut.file import Lut, make_header, save_lut
from lutsr.metrics import y_psnr
from lutsr.spec import get_method, receptive_field


def nearest_lut(scale: int) -> Lut:
    """An SR-LUT-V table at interval 2 whose value is the current pixel's level: exact nearest-neighbour."""
    levels = 65
    l0 = np.repeat(np.arange(levels), levels)
    table = np.repeat(l0[:, None], scale * scale, axis=1).astype(np.int8)
    return Lut(header=make_header("srlut-v", scale, 2), tables=[table])


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "Tiny" / "HR"
    d.mkdir(parents=True)
    y, x = np.mgrid[0:26, 0:30]
    write_image(d / "ramp.png", np.stack([(x * 8) % 256, (y * 9) % 256, (x + y) * 4 % 256], -1).astype(np.uint8))
    write_image(d / "noise.png", rng.integers(0, 256, (24, 24), dtype=np.uint8))
    write_image(d / "flat.png", np.full((24, 28, 3), 90, np.uint8))
    return d.parent


def test_nearest_lut_gives_the_nearest_neighbour_answer(dataset):
    lut = nearest_lut(2)
    res = evaluate([lut], [dataset])
    assert not res.failures
    for s in res.scores:
        hr = cv2.imread(str(dataset / "HR" / f"{s.image}.png"), cv2.IMREAD_UNCHANGED)
        if hr.ndim == 3:
            hr = hr[..., ::-1]
        hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
        lr = imresize(hr, 0.5)
        if s.method == "bicubic":
            want = y_psnr(imresize(lr, 2.0), hr, 2)
        else:
            want = y_psnr(cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_NEAREST), hr, 2)
        assert s.psnr == pytest.approx(want, abs=1e-9), (s.image, s.method)
        if s.image == "flat":
            assert s.psnr == float("inf") and s.ssim == pytest.approx(1.0)  # both reproduce a flat image exactly
    means = summarize(res.scores)
    assert {m["method"] for m in means} == {"bicubic", "srlut-v_x2"} and all(m["images"] == 3 for m in means)


def test_lr_dir_and_failures(dataset, tmp_path):
    lr_dir = tmp_path / "LR"
    lr_dir.mkdir()
    hr = cv2.imread(str(dataset / "HR" / "noise.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(lr_dir / "noisex2.png"), imresize(hr, 0.5))
    assert find_lr(lr_dir, "noise", 2) == lr_dir / "noisex2.png"
    res = evaluate([nearest_lut(2)], [dataset], lr_dir=lr_dir)
    assert {s.image for s in res.scores} == {"noise"}
    assert len(res.failures) == 2 and all("no LR image" in r for _, r in res.failures)


def test_eval_cli_outputs_and_exit_codes(dataset, tmp_path):
    lut_path = tmp_path / "nn.lut"
    lut = nearest_lut(2)
    save_lut(lut_path, lut.header, lut.tables)
    (dataset / "HR" / "broken.png").write_bytes(b"garbage")
    runner = CliRunner()
    js, cs, save = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "save"
    r = runner.invoke(main, ["eval", "--lut", str(lut_path), "--data", str(dataset), "--json", str(js),
                             "--csv", str(cs), "--save-dir", str(save), "--per-image"])
    assert r.exit_code == 1, r.output  # one image failed to load: reported, skipped, exit status says so
    assert "broken.png" in r.stderr and "Traceback" not in r.output
    assert "nn (mean of 3)" in r.stdout and "bicubic" in r.stdout
    data = json.loads(js.read_text())
    assert len(data["scores"]) == 6 and len(data["failures"]) == 1
    assert cs.read_text().count("\n") == 7
    assert (save / "Tiny" / "x2" / "ramp_nn.png").is_file()
    assert (save / "Tiny" / "x2" / "ramp_nn_compare.png").is_file()
    (dataset / "HR" / "broken.png").unlink()
    r = runner.invoke(main, ["eval", "--lut", str(lut_path), "--data", str(dataset), "--no-bicubic"])
    assert r.exit_code == 0 and "bicubic" not in r.stdout
    r = runner.invoke(main, ["eval", "--lut", str(lut_path), "--data", str(tmp_path / "none")])
    assert r.exit_code == 2


def test_info_lut_and_receptive_fields(tmp_path):
    assert receptive_field(get_method("srlut-s"))[:2] == (3, 3)  # 2x2 kernel, 4 rotations
    assert receptive_field(get_method("eclut")) == (5, 5, 21)  # plus-shape of 2x1 rotations, +-1 for ExpandConv
    assert receptive_field(get_method("mulut-sdy-x2"))[:2] == (9, 9)  # two stages of 5x5
    lut = nearest_lut(2)
    path = tmp_path / "nn.lut"
    save_lut(path, lut.header, lut.tables)
    from lutsr.lut.file import load_lut

    info = lut_info(load_lut(path))
    assert info["tables"][0]["rows"] == 65 * 65 and info["bytes_in_memory"] == 65 * 65 * 4
    assert info["table_reads_per_output_pixel"] == 4 * 3  # 4 rotations x 3 triangle vertices
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code == 0 and "srlut-v x2" in r.stdout and "3x3 LR pixels" in r.stdout
    r = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert json.loads(r.stdout)["levels"] == 65


def test_info_takes_a_shipped_family_and_says_what_compiling_adds():
    from lutsr.cli import main

    r = CliRunner().invoke(main, ["info", "srlut-s"])
    assert r.exit_code == 0 and "srlut-s x4" in r.stdout, r.output
    assert "packed for the 4 rotations" in r.stdout and "ExpandConv" not in r.stdout  # it has no expand unit
    r = CliRunner().invoke(main, ["info", "eclut"])
    assert r.exit_code == 0 and "ExpandConv patches folded" in r.stdout and "packed" not in r.stdout
    r = CliRunner().invoke(main, ["info", "no-such-family"])
    assert r.exit_code == 2 and "no such file" in r.output


@pytest.mark.parametrize("method,scale,interval", [("eclut", 2, 3), ("eclut-sdy", 3, 6), ("srlut-s", 2, 4),
                                                   ("srlut-v", 4, 0), ("mulut-sdy-x2", 2, 4)])
def test_info_compiled_bytes_are_what_the_runtime_holds(method, scale, interval):
    from lutsr.runtime import compile_lut, upscale

    lut = random_lut(method, scale, interval, np.random.default_rng(0))
    upscale(np.zeros((3, 4, 3), np.uint8), lut)  # builds every compiled form the kernels use
    compiled = compile_lut(lut)
    assert compiled is compile_lut(lut)  # compiled once per loaded LUT
    # every array the compiled LUT holds, found by walking it (stored tables counted once)
    held = sum(t.nbytes for t in lut.tables) + sum(a.nbytes for a in held_arrays(compiled, exclude=lut.tables))
    assert lut_info(lut)["bytes_compiled"] == compiled.nbytes == held


def test_info_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    from lutsr.train.networks import ECLUTNet

    net = ECLUTNet(4, features=16)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "eclut", "scale": 4, "features": 16}))
    torch.save({"model": net.state_dict(), "iteration": 3}, run / "checkpoints" / "last.pt")
    r = CliRunner().invoke(main, ["info", str(run), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["parameters"] == sum(p.numel() for p in net.parameters())
    # 4 rotations x (2*16 + 4*16*16 + 16*144) MACs per LR pixel
    assert d["macs_per_lr_pixel"] == 4 * (2 * 16 + 4 * 16 * 16 + 16 * 144)
    assert d["lut_bytes_by_interval"]["0"] == 257 * 257 * 144 and d["lut_bytes_by_interval"]["4"] == 17 * 17 * 144


def test_gray_image_conventions(dataset):
    """noise.png is one-channel: default scores it as R=G=B (BasicSR), --gray-as-y as raw Y."""
    lut = nearest_lut(2)
    hr = cv2.imread(str(dataset / "HR" / "noise.png"), cv2.IMREAD_UNCHANGED)
    lr = imresize(hr, 0.5)
    sr = cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_NEAREST)
    mse = np.mean(((sr.astype(float) - hr)[2:-2, 2:-2]) ** 2)
    basic = {(s.image, s.method): s.psnr for s in evaluate([lut], [dataset]).scores}
    gray = {(s.image, s.method): s.psnr for s in evaluate([lut], [dataset], gray_as_y=True).scores}
    assert gray[("noise", "srlut-v_x2")] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    assert basic[("noise", "srlut-v_x2")] == pytest.approx(10 * np.log10(255**2 / (mse * (219 / 255) ** 2)), abs=1e-9)
    assert basic[("ramp", "srlut-v_x2")] == gray[("ramp", "srlut-v_x2")]  # RGB images: the same either way


def test_labels_unique_and_explicit(tmp_path, dataset):
    from lutsr.evaluate import unique_labels
    from lutsr.lut.file import load_lut

    lut = nearest_lut(2)
    paths = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        save_lut(tmp_path / sub / "m.lut", lut.header, lut.tables)
        paths.append(tmp_path / sub / "m.lut")
    luts = [load_lut(p) for p in paths]
    assert unique_labels(luts) == ["a/m", "b/m"]
    assert unique_labels(luts, ["first", None]) == ["first", "m"]
    with pytest.raises(LutsrError):
        unique_labels(luts, ["x", "x"])
    res = evaluate(luts, [dataset])
    means = summarize(res.scores)
    assert {m["method"] for m in means} == {"bicubic", "a/m", "b/m"} and all(m["images"] == 3 for m in means)
    r = CliRunner().invoke(main, ["eval", "--lut", str(paths[0]), "--lut", str(paths[1]), "--label", "one",
                                  "--label", "two", "--data", str(dataset)])
    assert r.exit_code == 0, r.output
    assert "one (mean of 3)" in r.output and "two (mean of 3)" in r.output


def test_timing_excludes_warmup_and_provenance(dataset, monkeypatch):
    import time as _time

    import lutsr.evaluate as ev

    calls = []
    real = ev.upscale

    def slow_first(lr, lut, threads=None):
        calls.append(1)
        if len(calls) == 1:
            _time.sleep(0.5)  # a "compile" on the very first call
        return real(lr, lut, threads=threads)

    monkeypatch.setattr(ev, "upscale", slow_first)
    res = evaluate([nearest_lut(2)], [dataset], repeats=2, baseline=False)
    assert len(calls) == 3 * 3  # per image: one warm-up + two timed runs
    assert max(s.seconds for s in res.scores) < 0.4
    p = res.to_json()["provenance"]
    assert p["lutsr_version"] and p["machine"]["cpus"] and p["luts"][0]["method"] == "srlut-v"
    assert p["options"]["lr_source"].startswith("generated") and p["options"]["gray"].startswith("basicsr")


def test_csv_json_carry_sha256(dataset, tmp_path):
    import csv
    import hashlib

    lut = nearest_lut(2)
    save_lut(tmp_path / "nn.lut", lut.header, lut.tables)
    sha = hashlib.sha256((tmp_path / "nn.lut").read_bytes()).hexdigest()
    r = CliRunner().invoke(main, ["eval", "--lut", str(tmp_path / "nn.lut"), "--data", str(dataset),
                                  "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json"), "--gray-as-y"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    nn = [x for x in rows if x["method"] == "nn"]
    assert nn and all(x["lut_sha256"] == sha and x["lut_method"] == "srlut-v" and x["gray"] == "gray-as-y" for x in nn)
    js = json.loads((tmp_path / "r.json").read_text())
    assert js["provenance"]["luts"][0]["sha256"] == sha


def test_save_dir_writes_an_offline_slider_page(dataset, tmp_path):
    save = tmp_path / "save"
    res = evaluate([nearest_lut(2)], [dataset], save_dir=save, repeats=1)
    assert not res.failures
    page = (save / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # offline: no remote script, style or image
    import re

    srcs = re.findall(r'src="([^"]+)"', page)
    assert srcs and all((save / s).is_file() for s in srcs)  # relative paths that exist
    assert "Tiny/x2/noise_HR.png" in srcs and "Tiny/x2/noise_bicubic.png" in srcs
    assert page.count('class="cmp"') == 3 * 2  # per image: bicubic | LUT and LUT | HR


def _chromium():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="needs headless Chromium (apt-get install -y chromium)")
def test_slider_drag_changes_the_picture_in_chromium(dataset, tmp_path):
    """Open index.html in headless Chromium, drag a slider (mouse events on the element), and check
    the screenshot differs from the undragged one."""
    import subprocess

    save = tmp_path / "save"
    evaluate([nearest_lut(2)], [dataset], save_dir=save, repeats=1)
    page = (save / "index.html").read_text()
    drag = """<script>
var c=document.querySelector('.cmp');var r=c.getBoundingClientRect();
function ev(t,x){var e=new MouseEvent(t,{clientX:x,clientY:r.top+5,bubbles:true});(t=='mouseup'?window:c).dispatchEvent(e);}
ev('mousedown',r.left+r.width*0.5);ev('mousemove',r.left+r.width*0.02);ev('mouseup',r.left+r.width*0.02);
</script></body>"""
    (save / "dragged.html").write_text(page.replace("</body>", drag))

    def shot(name):
        png = tmp_path / f"{name}.png"
        subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--allow-file-access-from-files", f"--screenshot={png}", "--window-size=800,900",
                        (save / name).as_uri()], check=True, capture_output=True, timeout=120)
        return cv2.imread(str(png))

    a, b = shot("index.html"), shot("dragged.html")
    assert a is not None and b is not None and a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 0
