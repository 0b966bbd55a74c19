"""The schema and the code agree: every train / search / hyper-parameter key the code reads is
in workflow/schemas/config.schema.yaml (so a user can set it), and every key the schema
accepts in those sections is read somewhere (so setting it does something).

Keys are collected from the source with `ast` (`X.get("key", ...)` and `X["key"]` where X is
one of the names that hold that section, see SCOPES) and, for the workflow, with a regex over
`config["train"]["key"]`.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

from optinter import config as oc

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "optinter" / "model"

# section -> [(file glob under optinter/model, function qualname or "*", names holding it)]
SCOPES = {
    "train": [("*.py", "*", {"train_cfg", "self.cfg"})],
    "search": [("*.py", "*", {"search_cfg"}),
               ("optinter.py", "Supernet.__init__", {"cfg"})],   # cfg = dict(search_cfg or {})
    "search.select": [("selection.py", "*", {"cfg", "out"}),       # selection.settings(...)
                      ("stages.py", "_validated", {"cfg"})],
    "search.shortlist": [("shortlist.py", "*", {"cfg", "out"}),    # shortlist.settings(...)
                         ("stages.py", "run_shortlist", {"cfg"}),
                         ("stages.py", "run_finalist", {"cfg"}),
                         ("stages.py", "run_scan", {"cfg"}),
                         ("stages.py", "scan_hp", {"cfg"})],
    "hp": [("*.py", "*", {"hp", "self.hp", "search_hp", "sel_hp"})],
}
# hp keys read through tables: GROUP_HP (layers.py: param group -> (lr key, l2 key)),
# GRDA_DEFAULTS (AutoFIS: key -> default)
HP_TABLES = {"GROUP_HP": lambda t: {k for pair in t.values() for k in pair if k},
             "GRDA_DEFAULTS": lambda t: set(t)}
WORKFLOW_SOURCES = ["Snakefile", "workflow/rules/*.smk", "workflow/scripts/*.py"]


def _name(node: ast.AST) -> str | None:
    """`x` or `self.x` (also the first operand of `(x or {})`)."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return _name(node.values[0])
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _reads(tree: ast.AST, names: set[str], function: str) -> set[str]:
    """String keys read from `names` in `function` ("*" = anywhere) of a parsed module."""
    found: set[str] = set()

    def visit(node: ast.AST, qual: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qual = f"{qual}.{node.name}" if qual else node.name
        inside = function == "*" or qual == function or qual.startswith(function + ".")
        if inside:
            key = None
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and _name(node.func.value) in names
                    and node.args and isinstance(node.args[0], ast.Constant)):
                key = node.args[0].value
            elif (isinstance(node, ast.Subscript) and _name(node.value) in names
                  and isinstance(node.slice, ast.Constant)):
                key = node.slice.value
            if isinstance(key, str):
                found.add(key)
        for child in ast.iter_child_nodes(node):
            visit(child, qual)

    visit(tree, "")
    return found


def code_keys() -> dict[str, set[str]]:
    trees = {p.name: ast.parse(p.read_text(), str(p)) for p in sorted(MODEL.glob("*.py"))}
    out: dict[str, set[str]] = {}
    for section, scopes in SCOPES.items():
        keys: set[str] = set()
        for pattern, function, names in scopes:
            for fname, tree in trees.items():
                if Path(fname).match(pattern):
                    keys |= _reads(tree, names, function)
        out[section] = keys
    # hp keys read through module-level tables rather than literals (found wherever they live)
    for tree in trees.values():
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in HP_TABLES and isinstance(node.value, ast.Dict)):
                table = ast.literal_eval(node.value)
                out["hp"] |= HP_TABLES[node.targets[0].id](table)
    # the workflow reads a few directly: config["train"]["seed"], config["search"]["..."]
    for pattern in WORKFLOW_SOURCES:
        for path in REPO.glob(pattern):
            for section, key in re.findall(r'config\["(train|search)"\]\["(\w+)"\]',
                                           path.read_text()):
                out[section].add(key)
    return out


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def schema_keys() -> dict[str, set[str]]:
    root = oc.load_schema()
    props = root["properties"]
    mh = _resolve(root["$defs"]["models_hparams"], root)["additionalProperties"]
    return {
        "train": set(props["train"]["properties"]),
        "search": set(props["search"]["properties"]),
        "search.select": set(props["search"]["properties"]["select"]["properties"]),
        "search.shortlist": set(props["search"]["properties"]["shortlist"]["properties"]),
        # `models` of a preset holds its per-model rows (read by optinter.config), no hp key
        "hp": (set(root["$defs"]["hparams_preset"]["properties"]) - {"models"})
              | set(mh["properties"]),
    }


CODE, SCHEMA = code_keys(), schema_keys()


def test_the_walk_finds_the_keys_it_must():
    # guards the walker itself: a refactor that hides reads from it must fail here first
    assert {"seed", "device", "in_memory_max_mb", "eval_batch_size"} <= CODE["train"]
    assert {"relaxation", "factorize_table", "tau_decay_steps", "recipe"} <= CODE["search"]
    assert {"growth", "patience", "rankings", "importance_rows"} <= CODE["search.select"]
    assert {"finalists", "screen_rows", "screen_z", "scan_z", "scan_lr"} <= CODE["search.shortlist"]
    assert {"batch_size", "s1", "lr_a", "grda_c", "poly2_cross"} <= CODE["hp"]


@pytest.mark.parametrize("section", sorted(SCOPES))
def test_every_key_the_code_reads_is_in_the_schema(section):
    assert sorted(CODE[section] - SCHEMA[section]) == [], (
        f"{section}: read by the code but refused by the schema")


@pytest.mark.parametrize("section", sorted(SCOPES))
def test_every_schema_key_is_read_by_the_code(section):
    assert sorted(SCHEMA[section] - CODE[section]) == [], (
        f"{section}: accepted by the schema but read by nothing")


def test_the_code_defaults_are_the_documented_ones():
    """The new train keys carry no schema `default` (filling one in would change every
    training job's params and re-run it); their descriptions state the code's defaults."""
    train = oc.load_schema()["properties"]["train"]["properties"]
    src = (MODEL / "stages.py").read_text()
    for key, default in [("in_memory_max_mb", "1024"), ("shuffle_buffer_rows", "500_000")]:
        assert re.search(rf'train_cfg\.get\("{key}", {default}\)', src), key
        assert default.replace("_", "") in train[key]["description"], key
        assert "default" not in train[key]
    assert re.search(r'train_cfg\.get\("eval_batch_size", max\(bs, 8192\)\)', src)
    assert "max(batch_size, 8192)" in train["eval_batch_size"]["description"]


def test_the_new_train_keys_validate_and_reach_the_config():
    import copy
    import yaml
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg = copy.deepcopy(raw)
    cfg["train"].update(in_memory_max_mb=64, shuffle_buffer_rows=1000, eval_batch_size=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = oc.validate(cfg)
    assert out["train"]["in_memory_max_mb"] == 64 and out["train"]["eval_batch_size"] == 4096
    bad = copy.deepcopy(raw)
    bad["train"]["eval_batch_size"] = 0
    with pytest.raises(oc.ConfigError, match="train.eval_batch_size"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        oc.validate(bad)


def test_a_retired_key_is_dropped_with_a_warning():
    import yaml
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["train"]["num_workers"] = 0
    with pytest.warns(FutureWarning, match=r"train\.num_workers is no longer a setting"):
        out = oc.validate(cfg)
    assert "num_workers" not in out["train"]
