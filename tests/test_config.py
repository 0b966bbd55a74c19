"""optinter.config: config.yaml against workflow/schemas/config.schema.yaml."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from optinter import config as oc

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw_cfg() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_repository_config_is_valid(raw_cfg):
    cfg = oc.validate(copy.deepcopy(raw_cfg))
    assert cfg["default_dataset"] in cfg["datasets"]
    for name in cfg["datasets"]:
        preset = cfg["hparams"][cfg["datasets"][name]["hparams"]]
        assert oc.hparams(cfg, name) == {k: v for k, v in preset.items() if k != "models"}


def _resolve(root: dict, schema: dict) -> dict:
    """`schema` with its $ref (if any) merged in, local keys winning."""
    if "$ref" not in schema:
        return schema
    target = root
    for part in schema["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(root, target), **{k: v for k, v in schema.items() if k != "$ref"}}


def _undescribed(schema: dict, root: dict, path: str) -> list[str]:
    """Paths of schema properties without a description."""
    schema, missing = _resolve(root, schema), []
    for key, sub in schema.get("properties", {}).items():
        if "description" not in _resolve(root, sub):
            missing.append(f"{path}.{key}")
        missing += _undescribed(sub, root, f"{path}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        missing += _undescribed(schema["additionalProperties"], root, f"{path}.*")
    return missing


def test_every_schema_key_is_described():
    schema = oc.load_schema()
    assert _undescribed(schema, schema, "config") == []


def _keys(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{prefix}{k}"
            yield from _keys(v, f"{prefix}{k}.")


def test_every_config_key_is_known_to_the_schema(raw_cfg):
    # additionalProperties: false everywhere, so a typo anywhere must fail: try one per key
    for key in _keys(raw_cfg):
        parent_path = key.split(".")[:-1]
        cfg = copy.deepcopy(raw_cfg)
        parent = cfg
        for part in parent_path:
            parent = parent[part]
        if parent_path and parent_path[-1] in {"datasets", "hparams", "generate"}:
            continue  # maps keyed by names, or free-form generator options
        parent[key.split(".")[-1] + "_typo"] = 1
        with pytest.raises(oc.ConfigError, match="_typo"):
            oc.validate(cfg)


def test_defaults_are_filled_in(raw_cfg):
    cfg = copy.deepcopy(raw_cfg)
    del cfg["duckdb"], cfg["resources"], cfg["datasets"]["avazu"]["split"]["seed"]
    with pytest.raises(oc.ConfigError, match=r"datasets\.avazu\.split: 'seed' is a required"):
        oc.validate(copy.deepcopy(cfg))
    cfg["datasets"]["avazu"]["split"]["seed"] = 1
    out = oc.validate(cfg)
    schema = oc.load_schema()
    props = schema["properties"]
    assert out["duckdb"]["memory_limit"] == props["duckdb"]["properties"]["memory_limit"]["default"]
    assert out["resources"]["train_gpus"] == props["resources"]["properties"]["train_gpus"]["default"]
    assert out["datasets"]["avazu"]["log_bucket"] is False


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["datasets"]["demo"].update(min_count=0),
     r"datasets\.demo\.min_count: 0 is less than the minimum of 1"),
    (lambda c: c["datasets"]["demo"].update(format="parquet"),
     r"datasets\.demo\.format: 'parquet' is not one of"),
    (lambda c: c["datasets"]["demo"]["split"].update(train=0.7),
     r"datasets\.demo\.split: train \+ valid \+ test = 0\.9, expected 1"),
    (lambda c: c["datasets"]["demo"].update(hparams="nope"),
     r"datasets\.demo\.hparams: 'nope' is not a key of hparams"),
    (lambda c: c.update(default_dataset="nope"), r"default_dataset: 'nope' is not a key"),
    (lambda c: c["search"].update(relaxation="gumble"), r"search\.relaxation: 'gumble' is not one of"),
    (lambda c: c.update(seeds=[]), r"seeds: \[\] should be non-empty"),
    (lambda c: c["datasets"]["criteo"]["source"].update(md5="xyz"), r"datasets\.criteo\.source\.md5"),
    (lambda c: c["datasets"]["criteo"]["source"].update(url="ftp://x/y"), r"datasets\.criteo\.source\.url"),
    (lambda c: c["datasets"]["demo"].update(source={}), r"datasets\.demo\.source"),
    (lambda c: c["datasets"]["avazu"].update(format="criteo", source={"generate": {"rows": 5, "seed": 1}})
     or c["datasets"]["avazu"].update(format="avazu"),
     r"datasets\.avazu\.source\.generate: the generator writes the criteo layout"),
    (lambda c: c["datasets"]["demo"]["source"]["generate"].update(layout="avazu"),
     r"datasets\.demo\.source\.generate: the generator writes the avazu layout, but format "
     r"is 'criteo'"),
    (lambda c: c["datasets"]["demo"].update(models=["lr", "lr_typo"]),
     r"datasets\.demo\.models: 'lr_typo' is not a key of runs"),
    (lambda c: c["runs"].update(x={"model": "fm", "architecture": "search"}),
     r"runs\.x\.architecture: search is an architecture of model 'optinter', not of 'fm'"),
    (lambda c: c["runs"].update(x={"model": "autofis"}),
     r"runs\.x: model autofis re-trains a searched architecture: set architecture \(e\.g\. search_autofis\)"),
    (lambda c: c["runs"].update(x={"model": "optinter", "hp": {"s3": 1}}),
     r"runs\.x\.hp: Additional properties are not allowed \('s3'"),
    (lambda c: c["runs"]["fm"].update(architecture="search_everything"), r"runs\.fm\.architecture"),
    (lambda c: c["runs"].update(x={"model": "autofis", "pick": ["autofis", "nope"]}),
     r"runs\.x\.pick: 'nope' is not a key of runs"),
    (lambda c: c["runs"].update(x={"model": "fm", "pick": ["autofis"]}),
     r"runs\.x\.pick: 'autofis' trains model 'autofis', not 'fm'"),
    (lambda c: c["runs"].update(x={"model": "autofis", "architecture": "search_autofis",
                                   "pick": ["autofis"]}),
     r"runs\.x\.architecture: a picked run trains nothing itself"),
    (lambda c: c["runs"].update(x={"model": "fm", "pick": ["fm"]}, y={"model": "fm", "pick": ["x"]}),
     r"runs\.y\.pick: 'x' is itself picked"),
])
def test_bad_values_name_the_key(raw_cfg, edit, message):
    cfg = copy.deepcopy(raw_cfg)
    edit(cfg)
    with pytest.raises(oc.ConfigError, match=message):
        oc.validate(cfg)


def test_load_reports_yaml_syntax_errors_with_file_and_line(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("default_dataset: demo\ndatasets:\n  demo: [unclosed\n")
    with pytest.raises(oc.ConfigError, match=rf"{bad}: line \d+, column \d+: not valid YAML"):
        oc.load(bad)
    with pytest.raises(oc.ConfigError, match="config file not found"):
        oc.load(tmp_path / "absent.yaml")


def test_source_kind_prefers_a_local_path(raw_cfg):
    cfg = oc.validate(copy.deepcopy(raw_cfg))
    kinds = {name: oc.source_kind(ds) for name, ds in cfg["datasets"].items()
             if not name.startswith("planted_")}
    assert kinds == {"demo": "generate", "criteo": "url", "avazu": "kaggle", "ipinyou": "url",
                     "criteo_x4": "url", "avazu_x4": "url"}
    cfg["datasets"]["avazu"]["source"]["path"] = "/data/train.gz"
    assert oc.source_kind(oc.validate(cfg)["datasets"]["avazu"]) == "path"


def test_planted_cases_are_ordinary_generated_datasets(raw_cfg):
    """planted: sizes x seeds become datasets planted_n{size}_s{seed} with the case's rows and
    seed, the planted thresholds, split and hp, one training seed (the case's), and the
    oracle / random runs; an entry of that name already in datasets is kept as it is."""
    raw = copy.deepcopy(raw_cfg)
    raw["planted"].update(sizes=[1000, 5000], seeds=[4, 7], random_architectures=2,
                          search={"complexity": 0.5},
                          variants={"wide": {"sizes": [2000], "generate": {"factorize_pairs": 4}},
                                    "av": {"sizes": [3000], "seeds": [1],
                                           "generate": {"layout": "avazu"}}})
    raw["datasets"]["planted_n5000_s7"] = {"format": "criteo",
                                           "source": {"generate": {"rows": 123, "seed": 9}}}
    cfg = oc.validate(raw)
    pl = cfg["planted"]
    names = sorted(n for n in cfg["datasets"] if n.startswith("planted_"))
    assert names == ["planted_av_n3000_s1", "planted_n1000_s4", "planted_n1000_s7",
                     "planted_n5000_s4", "planted_n5000_s7", "planted_wide_n2000_s4",
                     "planted_wide_n2000_s7"]
    # a generated layout is the case's format
    assert cfg["datasets"]["planted_av_n3000_s1"]["format"] == "avazu"
    assert cfg["datasets"]["planted_wide_n2000_s7"]["format"] == "criteo"
    # a variant: its own cases, the keys it sets over the planted configuration's
    wide = cfg["datasets"]["planted_wide_n2000_s7"]
    assert wide["source"] == {"generate": {"rows": 2000, "seed": 7, "factorize_pairs": 4}}
    assert wide["search"] == {"complexity": 0.5} and wide["seeds"] == [7]
    case = cfg["datasets"]["planted_n5000_s4"]
    assert case["source"] == {"generate": {"rows": 5000, "seed": 4, **pl["generate"]}}
    assert (case["min_count"], case["cross_min_count"], case["split"]) == (
        pl["min_count"], pl["cross_min_count"], pl["split"])
    assert case["seeds"] == [4]
    assert case["models"] == ["optinter", "optinter_paper", "oracle", *pl["baselines"],
                              "random1", "random2"]
    assert cfg["runs"]["random2"] == {"model": "optinter", "architecture": "search_random",
                                      "draw": 2, "label": "Random 2"}
    assert cfg["runs"]["oracle"]["architecture"] == "oracle"
    for model in ("optinter", "fnn"):
        assert oc.model_hparams(cfg, "planted_n5000_s4", model) == {
            **cfg["hparams"][pl["hparams"]], **pl["hp"]}
    assert oc.search_settings(cfg, "planted_n5000_s4") == {**cfg["search"], "complexity": 0.5}
    assert cfg["datasets"]["planted_n5000_s7"]["source"]["generate"]["rows"] == 123
    # the oracle needs a generated dataset's truth
    bad = copy.deepcopy(raw_cfg)
    bad["datasets"]["criteo"]["models"] = ["oracle"]
    with pytest.raises(oc.ConfigError, match="datasets.criteo.models: 'oracle' re-trains the "
                                             "oracle architecture"):
        oc.validate(bad)
