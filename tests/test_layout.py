"""Package layout: docs/design.md lists every module, each imports on its own, the layers keep
their import rules (data without torch, model without duckdb / snakemake), no import circles,
and no module reaches into another's underscore-private names."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "optinter"
FORBIDDEN = {"data": ["torch"], "model": ["duckdb", "snakemake"]}


def modules() -> list[str]:
    """Dotted names of every module file under optinter/ (packages by their __init__)."""
    out = []
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def layout_entries() -> list[str]:
    """Paths named in the tree of design.md's "Package layout" section, relative to the
    repository root (`optinter/data/sql.py`, `optinter/data/sql/*.sql`, `optinter/model/`)."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    tree = section.split("```\n", 2)[1]
    stack: list[tuple[int, str]] = []
    out = []
    for line in tree.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name = line.split()[0]
        if not re.fullmatch(r"[\w*.]+/?|[\w]+/\*\.\w+", name) or indent > (stack[-1][0] + 2
                                                                       if stack else 0):
            continue  # a continuation line of the description column
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "".join(p for _, p in stack) + name
        out.append(path)
        if name.endswith("/"):
            stack.append((indent, name))
    return out


def test_design_layout_lists_every_module():
    entries = layout_entries()
    assert entries[0] == "optinter/", entries[:3]
    listed = {e for e in entries if e.endswith(".py")}
    on_disk = {str(f.relative_to(ROOT)) for f in PKG.rglob("*.py") if f.name != "__init__.py"}
    assert not on_disk - listed, f"modules missing from docs/design.md: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"design.md names modules that do not exist: {sorted(listed - on_disk)}"
    for e in entries:
        if e.endswith("/"):
            assert (ROOT / e).is_dir(), e
            assert (ROOT / e / "__init__.py").exists(), f"{e} is not a package"
        elif "*" in e:
            assert list(ROOT.glob(e)), f"design.md: {e} matches no file"


def test_layout_names_only_existing_helpers():
    """The io.py line names helpers that exist (it once named an atomic_write)."""
    import optinter.io as oio
    line = next(l for l in (ROOT / "docs" / "design.md").read_text().splitlines()
                if l.strip().startswith("io.py"))
    for name in re.findall(r"\b[a-z]+_[a-z_]+\b", line):
        assert hasattr(oio, name), f"design.md io.py line names {name}, which optinter.io lacks"


# Imports every module of one layer alone: optinter's entries are cleared from sys.modules
# before each import, so each one really starts from nothing of optinter; reports the
# forbidden third-party modules found loaded after it.
_PROBE = r"""
import importlib, json, sys
names, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bad = {}
for name in names:
    for k in [k for k in sys.modules if k == "optinter" or k.startswith("optinter.")]:
        del sys.modules[k]
    try:
        importlib.import_module(name)
    except Exception as e:  # report every failing module, not only the first
        bad[name] = f"{type(e).__name__}: {e}"
        continue
    loaded = [m for m in forbidden if m in sys.modules]
    if loaded:
        bad[name] = f"imports {loaded}"
print(json.dumps(bad))
"""


def probe(names: list[str], forbidden: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(names), json.dumps(forbidden)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_each_module_imports_alone_within_its_layer_rules():
    """Two interpreters: one for everything that must not import torch (data, and the modules
    it depends on: config, io), checked after each import before torch could have come in;
    one for the model layer (duckdb / snakemake must stay out) and the rest."""
    mods = modules()
    data = [m for m in mods if m == "optinter.data" or m.startswith("optinter.data.")]
    torchless = ["optinter", "optinter.io", "optinter.config"] + data
    rest = [m for m in mods if m not in torchless]
    model = [m for m in rest if m.startswith("optinter.model")]
    assert probe(torchless, FORBIDDEN["data"]) == {}
    assert probe(model, FORBIDDEN["model"]) == {}
    assert probe([m for m in rest if m not in model], []) == {}


def _imports(path: Path, name: str) -> tuple[set[str], list[str]]:
    """optinter modules that `path` imports anywhere (top level or inside functions), and its
    uses of another optinter module's underscore-private names."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    known = set(modules())
    deps: set[str] = set()
    aliases: dict[str, str] = {}
    private: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("optinter"):
                    deps.add(a.name)
                    if a.asname:
                        aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([mod] if mod else []))
            if not mod.startswith("optinter"):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in known:  # `from optinter.model import train as T`
                    deps.add(sub)
                    aliases[a.asname or a.name] = sub
                else:
                    deps.add(mod)
                    if a.name.startswith("_"):
                        private.append(f"line {node.lineno}: from {mod} import {a.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            private.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return {d for d in deps if d != name}, private


def test_no_import_circles_and_no_private_reach():
    """No cycle in the graph of optinter's imports, lazy ones included (AutoFIS's search once
    imported train from baselines, which train imports through the registry), and no module
    uses another module's underscore-private names (it called train._setup, _loaders,
    _fingerprint)."""
    graph, private = {}, {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name], priv = _imports(f, name)
        if priv:
            private[name] = priv
    assert private == {}
    # a package import runs its __init__ only; edges to packages are kept, packages are leaves
    state: dict[str, int] = {}
    cycles = []

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [n, d])
            elif d not in state:
                visit(d, path + [d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == [], cycles
    # the loop serves the stages: no model module but stages.py reaches into it
    assert {m for m in graph if "optinter.model.train" in graph[m]
            and m.startswith("optinter.model")} <= {"optinter.model.stages"}
