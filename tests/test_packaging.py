"""Packaging: what an installed lutsr carries (py.typed, python -m lutsr, licence, data folders)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from conftest import REPO

import lutsr

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_py_typed_is_shipped_as_package_data():
    assert (REPO / "lutsr" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["lutsr"]
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]


def test_python_dash_m_lutsr_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "lutsr", "--version"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"lutsr, version {lutsr.__version__}"


def test_python_dash_m_lutsr_bad_command_exits_2():
    out = subprocess.run([sys.executable, "-m", "lutsr", "no-such-command"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_licence_is_an_spdx_expression_with_its_file():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"  # a string (SPDX), not the deprecated table form
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the lutsr developers" in text
    # license-files and SPDX expressions need setuptools >= 77
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # superseded by the expression


def test_every_data_folder_is_a_listed_package():
    # setuptools warns about (and will stop shipping) data folders inside the package that are not
    # listed as packages: every folder under lutsr/ holding files is in the packages list
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    pkg = REPO / "lutsr"
    for d in [pkg, *(p for p in pkg.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        if any(f.is_file() and f.suffix != ".pyc" for f in d.iterdir()):
            name = ".".join(("lutsr", *d.relative_to(pkg).parts))
            assert name in listed, f"{name} holds files but is not in [tool.setuptools] packages"
    assert "*.png" in PYPROJECT["tool"]["setuptools"]["package-data"]["lutsr.samples"]
    assert list((pkg / "samples").glob("*.png"))


def test_citation_file_is_valid_cff():
    text = (REPO / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in text
    assert f'version: "{lutsr.__version__}"' in text
    assert "license: MIT" in text


def _lower_bound(dist: str) -> tuple[int, ...]:
    for dep in PYPROJECT["project"]["dependencies"]:
        if dep.startswith(dist + ">="):
            return tuple(int(x) for x in dep.split(">=")[1].split(",")[0].split("."))
    raise AssertionError(f"{dist} has no lower bound in pyproject.toml")


def test_installed_opencv_meets_the_declared_bound_and_has_the_metadata_api():
    # the declared lower bound is the oldest OpenCV the suite runs on: the installed cv2 must meet it,
    # and it must have the metadata API in the form lutsr.imageio calls it (flags second, positional)
    import cv2
    import numpy as np

    bound = _lower_bound("opencv-python-headless")
    assert bound >= (5, 0)
    installed = tuple(int(x) for x in cv2.__version__.split(".")[:2])
    assert installed >= bound[:2], f"cv2 {cv2.__version__} is older than the declared {bound}"
    img = np.zeros((4, 4, 3), np.uint8)
    exif = b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"
    ok, buf = cv2.imencodeWithMetadata(".jpg", img, [cv2.IMAGE_METADATA_EXIF], [np.frombuffer(exif, np.uint8)])
    assert ok
    out, types, chunks = cv2.imdecodeWithMetadata(buf, cv2.IMREAD_UNCHANGED)
    assert out.shape == img.shape and [int(t) for t in types] == [cv2.IMAGE_METADATA_EXIF]
    assert bytes(np.asarray(chunks[0]).ravel()) == exif


def test_readme_warns_about_mixing_opencv_flavours():
    text = " ".join((REPO / "README.md").read_text().split())
    assert "opencv-python-headless` and another OpenCV flavour" in text
    assert "conflict" in text


def test_built_wheel_carries_py_typed_samples_licence_and_main(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building offline needs setuptools >= 77 installed")
    # build from a copy (setuptools writes build/ and *.egg-info next to pyproject.toml)
    import shutil
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for name in ("lutsr", "luts"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    assert "SetuptoolsDeprecationWarning" not in log and "is absent from the `packages`" not in log
    (wheel,) = (tmp_path / "dist").glob("lutsr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for want in ("lutsr/py.typed", "lutsr/__main__.py", "lutsr/samples/sample.png",
                 f"lutsr-{lutsr.__version__}.dist-info/licenses/LICENSE"):
        assert want in names, want
    meta = zipfile.ZipFile(wheel).read(f"lutsr-{lutsr.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert any(n.startswith("lutsr/luts/") and n.endswith(".lut") for n in names)
