"""The package's import graph, from the source (AST, nothing is executed).

Usage: ``python tools/import_graph.py [PACKAGE_DIR]`` prints every module with the lutsr modules it
imports (module level and inside functions), the graph's depth (longest import chain) and any
cycle. ``tests/test_layout.py`` uses the same functions to fail on a cycle.

An import of ``a.b.c`` is an edge to ``a.b.c`` only: Python also runs the parent packages'
``__init__`` first, but those only re-export their submodules and are not edges here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """``lutsr/runtime/api.py`` -> ``lutsr.runtime.api``; ``lutsr/lut/__init__.py`` -> ``lutsr.lut``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The package modules that ``path`` imports anywhere in its body (functions too)."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path, root)
    pkg = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for n in names:
            while n and n not in modules:  # `import a.b.c` of a name inside a module
                n = n.rpartition(".")[0]
            if n and n != me:
                out.add(n)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: {imported package modules}}`` for every ``.py`` file under the package folder ``root``."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): imports(f, root, modules) for f in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def cyclic_groups(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (each holds at least one cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on.add(m)
        for n in sorted(graph.get(m, ())):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            group = []
            while True:
                n = stack.pop()
                on.discard(n)
                group.append(n)
                if n == m:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return groups


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain ``[a, b, ...]`` (a imports b ...); the graph must be acyclic."""
    memo: dict[str, list[str]] = {}

    def chain(m: str) -> list[str]:
        if m not in memo:
            memo[m] = [m] + max((chain(n) for n in sorted(graph.get(m, ()))), key=len, default=[])
        return memo[m]

    return max((chain(m) for m in sorted(graph)), key=len, default=[])


def depth(graph: dict[str, set[str]]) -> int:
    """Length of the longest import chain (edges); the graph must be acyclic."""
    memo: dict[str, int] = {}

    def d(m: str) -> int:
        if m not in memo:
            memo[m] = 1 + max((d(n) for n in graph.get(m, ())), default=-1)
        return memo[m]

    return max((d(m) for m in graph), default=0)


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "lutsr")
    g = import_graph(root)
    for m in sorted(g):
        print(f"{m}: {', '.join(sorted(g[m])) or '-'}")
    groups = cyclic_groups(g)
    print(f"\n{len(g)} modules, {sum(len(v) for v in g.values())} imports")
    for grp in groups:
        print(f"cyclic group: {', '.join(grp)}")
    if not groups:
        print(f"no cycle; depth {depth(g)}: {' -> '.join(longest_chain(g))}")
