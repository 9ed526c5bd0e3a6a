"""The house plan holds: no import cycle, torch only under ``lutsr/train/``, and nothing outside
``train/`` (but the CLI's training commands) imports from it. Read from the source (AST)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "lutsr"
sys.path.insert(0, str(REPO / "tools"))

from import_graph import cyclic_groups, find_cycle, import_graph, module_name  # noqa: E402


def _imports_anywhere(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import statement in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, id(node) in top))
    return out


def test_the_package_has_no_import_cycle():
    graph = import_graph(PKG)
    assert "lutsr.runtime.api" in graph and "lutsr.lut.file" in graph  # the graph sees the whole package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles(tmp_path):
    # the check above can fail: a two-module cycle through a function-level import is found
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.b\n")
    graph = import_graph(pkg)
    assert graph["pkg.c"] == {"pkg.b"}
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
    assert cyclic_groups(graph) == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_torch_is_imported_only_under_train(path):
    inside_train = path.relative_to(PKG).parts[0] == "train"
    for mod, _ in _imports_anywhere(path):
        if mod == "torch" or mod.startswith("torch."):
            assert inside_train, f"{path.relative_to(REPO)} imports {mod}"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_only_train_and_the_cli_commands_import_train(path):
    rel = path.relative_to(PKG)
    if rel.parts[0] == "train":
        return
    for mod, at_top in _imports_anywhere(path):
        if mod == "lutsr.train" or mod.startswith("lutsr.train."):
            assert rel.name == "cli.py" and not at_top, (
                f"{path.relative_to(REPO)} imports {mod} (only the CLI's commands may, inside the command)")


def test_tests_mirror_the_package():
    # every subpackage of lutsr has a folder of tests of the same name
    for sub in sorted(p for p in PKG.iterdir() if (p / "__init__.py").is_file() and p.name not in ("luts", "samples")):
        assert (REPO / "tests" / sub.name).is_dir(), f"tests/{sub.name}/ is missing for {module_name(sub / '__init__.py', PKG)}"


def test_every_subpackage_is_installed():
    # a non-editable install (the README's first command) only ships the packages pyproject lists
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p, PKG) for p in PKG.rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml: {sorted(found - listed)}"
