"""A dataset needs only `format` and `source`: the rest defaults to the paper's values for its
format (optinter.config.FORMAT_DEFAULTS), explicit settings win."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import yaml

from optinter import config as oc

REPO = Path(__file__).resolve().parents[1]
DEFAULTED = ("min_count", "cross_min_count", "split", "hparams")


@pytest.fixture()
def raw_cfg() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _validate(cfg: dict) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # retired keys in config.yaml
        return oc.validate(cfg)


@pytest.mark.parametrize("fmt,count,preset", [("criteo", 20, "criteo"), ("avazu", 5, "avazu"),
                                             ("ipinyou", 5, "ipinyou")])
def test_a_two_line_dataset_gets_its_formats_paper_defaults(raw_cfg, fmt, count, preset):
    raw_cfg["datasets"]["mine"] = yaml.safe_load(
        f"format: {fmt}\nsource: {{path: /data/mine/train.gz}}\n")
    ds = _validate(raw_cfg)["datasets"]["mine"]
    assert ds["min_count"] == ds["cross_min_count"] == count
    assert ds["hparams"] == preset
    assert ds["split"] == {"train": 0.7, "valid": 0.1, "test": 0.2, "seed": 2022,
                           "order": "shuffled"}
    assert ds["min_split_rows"] == 100 and ds["log_bucket"] is False   # the schema's defaults
    general = {k: v for k, v in raw_cfg["hparams"][preset].items() if k != "models"}
    rows = raw_cfg["hparams"][preset]["models"]
    assert oc.model_hparams(raw_cfg, "mine", "fnn") == general   # no per-model row
    for model, row in rows.items():   # the preset's Table IV rows come along (issue 24)
        assert oc.model_hparams(raw_cfg, "mine", model) == {**general, **row}


def test_own_dataset_with_a_preset_trains_table_iv_rows(raw_cfg):
    """`hparams: criteo` on a user's dataset gives OptInter-M Table IV's lr 1e-4, not the
    general 5e-4; the dataset's own models_hparams overrides only what it names."""
    raw_cfg["datasets"]["mine"] = {"format": "criteo", "source": {"path": "x"},
                                   "hparams": "criteo",
                                   "models_hparams": {"optinter_m": {"lr_c": 3.0e-4}}}
    cfg = _validate(raw_cfg)
    hp = oc.model_hparams(cfg, "mine", "optinter_m")
    assert (hp["lr"], hp["lr_c"], hp["lr_a"]) == (1.0e-4, 3.0e-4, 3.0e-5)
    assert oc.model_hparams(cfg, "mine", "optinter") == oc.model_hparams(cfg, "criteo", "optinter")
    assert oc.model_hparams(cfg, "mine", "fm")["lr"] == 5.0e-4


def test_explicit_settings_win(raw_cfg):
    split = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 1}
    raw_cfg["datasets"]["mine"] = {"format": "criteo", "source": {"path": "x"}, "min_count": 3,
                                   "split": split, "hparams": "demo"}
    ds = _validate(raw_cfg)["datasets"]["mine"]
    assert (ds["min_count"], ds["cross_min_count"], ds["hparams"]) == (3, 20, "demo")
    assert ds["split"] == split          # a given split replaces the default whole: no order


def test_the_defaults_are_the_configured_paper_datasets(raw_cfg):
    """The defaults are the protocol the criteo / avazu / ipinyou entries already carry."""
    for name in ("criteo", "avazu", "ipinyou"):
        ds = raw_cfg["datasets"][name]
        assert {k: ds[k] for k in DEFAULTED} == oc.FORMAT_DEFAULTS[ds["format"]], name


def test_a_missing_default_preset_is_named_as_the_formats_default(raw_cfg):
    del raw_cfg["hparams"]["avazu"], raw_cfg["datasets"]["avazu"]
    raw_cfg["datasets"]["mine"] = {"format": "avazu", "source": {"path": "x"}}
    with pytest.raises(oc.ConfigError, match=r"datasets\.mine\.hparams: 'avazu' is not a key of "
                                             r"hparams .*\(the default of format avazu"):
        _validate(raw_cfg)


def test_a_two_line_dataset_still_needs_format_and_source(raw_cfg):
    raw_cfg["datasets"]["mine"] = {"source": {"path": "x"}}
    with pytest.raises(oc.ConfigError, match=r"datasets\.mine: 'format' is a required property"):
        _validate(copy.deepcopy(raw_cfg))


@pytest.mark.slow
def test_snakemake_dry_run_with_a_two_line_dataset(tmp_path):
    from test_workflow import copy_workflow, dry_run_jobs

    wf = copy_workflow(tmp_path / "wf")
    raw = tmp_path / "train.txt"
    raw.write_text("")
    extra = tmp_path / "mine.yaml"
    extra.write_text(f"datasets:\n  mine:\n    format: criteo\n    source: {{path: {raw}}}\n")
    jobs = dry_run_jobs(wf, "results/mine/optinter.json", "--configfile",
                        str(wf / "config.yaml"), str(extra))
    rules = {j["rule"] for j in jobs}
    assert {"ingest", "vocab", "encode", "search_paper", "search", "train_model"} <= rules
    ingest = next(j for j in jobs if j["rule"] == "ingest")
    assert ingest["input"].split(", ")[0] == str(raw)
    # split.order: shuffled (the default) gives encode the shuffle SQL as input
    encode = next(j for j in jobs if j["rule"] == "encode")
    assert "shuffle" in encode["input"]
