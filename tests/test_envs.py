"""envs/*.yaml (conda environments for `snakemake --sdm conda`) against the rules that use
them and against pyproject.toml: every file parses and pins its packages, every script rule
names one, every third-party package its script imports (through the optinter package, found
with `ast`) is in it, and every pinned version satisfies pyproject.toml's requirement (so this
fails when the two drift apart). conda itself is not run (it cannot be installed here)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
# import name -> conda-forge package; the pyproject.toml name where it differs from the import
CONDA = {"duckdb": "python-duckdb", "torch": "pytorch", "yaml": "pyyaml",
         "matplotlib": "matplotlib-base"}
PYPI = {"python-duckdb": "duckdb", "pytorch": "torch", "matplotlib-base": "matplotlib"}


def env_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: {dep!r}: conda packages only (no pip section)"
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)=([0-9][^=\s]*)(=\S+)?", dep)
        assert m, f"{path.name}: {dep!r} is not pinned as name=version"
        pins[m.group(1)] = m.group(2)
    return pins


def rule_blocks() -> dict[str, dict]:
    """rule name -> {file, script, conda} for every `rule NAME:` block (use-rule blocks
    inherit both from their parent)."""
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=\S)", smk.read_text()):
            m = re.match(r"rule (\w+):", block)
            if not m:
                continue
            get = lambda key: (re.search(rf'\n    {key}:\n        "([^"]+)"', block) or [None, None])[1]
            rules[m.group(1)] = {"file": smk, "script": get("script"), "conda": get("conda")}
    return rules


def _module_file(name: str) -> Path | None:
    base = REPO / Path(*name.split("."))
    for cand in (base / "__init__.py", base.with_suffix(".py"),
                 REPO / "workflow" / "scripts" / f"{name}.py"):
        if cand.exists():
            return cand
    return None


def third_party_imports(path: Path, seen: set | None = None) -> set[str]:
    """Top-level third-party modules `path` imports, following optinter (and the workflow's
    helper scripts) transitively; imports inside functions count too."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            parts = name.split(".")
            local = [f for i in range(1, len(parts) + 1) if (f := _module_file(".".join(parts[:i])))]
            if local:
                for f in local:
                    out |= third_party_imports(f, seen)
            elif top not in ("optinter", "snakemake"):
                out.add(top)
    return out


def pyproject() -> tuple[dict[str, SpecifierSet], SpecifierSet]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = {Requirement(r).name.lower(): Requirement(r).specifier for r in meta["dependencies"]}
    return reqs, SpecifierSet(meta["requires-python"])


ENV_FILES = sorted(ENVS.glob("*.yaml"))
RULES = rule_blocks()


def test_env_files_parse_and_pin_every_package():
    assert {p.stem for p in ENV_FILES} >= {"data", "train", "analysis"}
    for path in ENV_FILES:
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path.name
        assert "python" in env_pins(path), path.name


def test_every_script_rule_names_an_env_file():
    scripted = {name: r for name, r in RULES.items() if r["script"]}
    assert len(scripted) > 15
    for name, r in scripted.items():
        assert r["conda"], f"rule {name} ({r['file'].name}) has no conda: directive"
        assert (r["file"].parent / r["conda"]).resolve().parent == ENVS, (name, r["conda"])
        assert (r["file"].parent / r["conda"]).exists(), (name, r["conda"])


@pytest.mark.parametrize("rule", sorted(n for n, r in RULES.items() if r["script"]))
def test_a_rules_env_holds_what_its_script_imports(rule):
    r = RULES[rule]
    script = (r["file"].parent / r["script"]).resolve()
    needed = {CONDA.get(m, m) for m in third_party_imports(script)}
    pins = env_pins((r["file"].parent / r["conda"]).resolve())
    assert sorted(needed - set(pins)) == [], f"{rule}: {script.name} imports these, {r['conda']} lacks them"


def test_the_walk_sees_the_heavy_imports():
    scripts = REPO / "workflow" / "scripts"
    assert {"torch", "duckdb", "pyarrow"} <= third_party_imports(scripts / "train_model.py")
    assert {"matplotlib", "scipy"} <= third_party_imports(scripts / "mutual_info_figures.py")


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_versions_agree_with_pyproject(path):
    reqs, python = pyproject()
    pins = env_pins(path)
    assert python.contains(pins["python"] + ".0"), f"python={pins['python']} vs {python}"
    for conda_name, version in pins.items():
        if conda_name == "python":
            continue
        name = PYPI.get(conda_name, conda_name)
        assert name in reqs, f"{path.name}: {conda_name} is not a dependency in pyproject.toml"
        assert reqs[name].contains(version, prereleases=True), (
            f"{path.name}: {conda_name}={version} does not satisfy pyproject.toml's "
            f"{name}{reqs[name]}")
