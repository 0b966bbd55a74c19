"""The hyper-parameters each model trains with are the paper's Table IV (issue 12).

TABLE_IV is the table as read in docs/deviations.md ("Table IV as read"), in config key names
(lr = lr_o, mlp = net). Each model is resolved the way the workflow resolves it
(optinter.config.model_hparams, which rules train_model* and search* call), trained for one
epoch on tiny data, and the hp its results JSON records is compared with the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optinter import config as oc
from optinter.model.stages import run_model, run_search, search_stage

REPO = Path(__file__).resolve().parents[1]
CFG = oc.load(REPO / "config.yaml")
TRAIN = {"seed": 1, "checkpoint_every_steps": 1000, "sparse_embeddings": True, "device": "cpu"}


def _column(s1: int, s2: int, net: list[int], general: dict, rows: dict) -> dict:
    opt = {"s1": s1, "s2": s2, "mlp": net, "l2_c": 3e-8}   # the OptInter-M / -F / OptInter block
    out = {"lr": {}, "fm": {"s1": s1}, "poly2": {"poly2_cross": "general"},
           "fnn": {"s1": s1, "mlp": net}, "ipnn": {"s1": s1, "mlp": net},
           "deepfm": {"s1": s1, "mlp": net}, "pin": {"s1": s1, "mlp": net, "pin_subnet": [40, 5]},
           "autofis": {}, "optinter_m": dict(opt), "optinter_f": dict(opt), "optinter": dict(opt)}
    for model, extra in rows.items():
        out[model].update(extra)
    return {m: {**general, **v} for m, v in out.items()}


CRITEO_AVAZU = {"autofis": {"grda_mu": 0.8, "grda_c": 5e-4}, "deepfm": {"lr": 5e-4},
                **{m: {"lr": 1e-4, "lr_c": 1e-4} for m in ("optinter_m", "optinter_f")},
                "optinter": {"lr": 1e-4, "lr_c": 1e-4, "lr_a": 3e-5}}
GENERAL = {"batch_size": 2000, "lr": 5e-4, "l2_o": 0.0, "eps": 1e-8}
TABLE_IV = {
    "criteo": _column(20, 10, [700] * 5, GENERAL, CRITEO_AVAZU),
    "avazu": _column(40, 4, [500] * 5, GENERAL, CRITEO_AVAZU),
    "ipinyou": _column(20, 2, [300] * 3, {"batch_size": 2000, "lr": 1e-5, "l2_o": 1e-6, "eps": 1e-4}, {
        "lr": {"lr": 1e-4}, "fm": {"lr": 1e-4, "l2_o": 1e-9, "eps": 1e-6},
        "deepfm": {"l2_o": 1e-7}, "pin": {"l2_o": 1e-9},
        "autofis": {"grda_mu": 0.535, "grda_c": 5e-3},
        **{m: {"lr_c": 1e-6} for m in ("optinter_m", "optinter_f")},
        "optinter": {"lr_c": 1e-6, "lr_a": 1e-3}}),
}
CASES = [(ds, m) for ds, rows in TABLE_IV.items() for m in rows]


def recorded(ds: str, model: str, data: Path, tmp: Path) -> dict:
    """hp in the results JSON of a 1-epoch run with the workflow's hp; for optinter, also the
    search's (architecture.json settings.hp), which must be the same."""
    hp = {**oc.model_hparams(CFG, ds, model), "epochs": 1}
    arch = None
    if model == "optinter":
        search = {**CFG["search"], "recipe": "paper", "seed": 1}
        arch = tmp / "architecture.json"
        got = run_search(data, hp, search, TRAIN, arch, tmp / "ck_search")["settings"]["hp"]
        assert got == hp
    if model == "autofis":  # its first stage (rule search_autofis) trains with the same hp
        arch = tmp / "architecture.json"
        search_stage(model, data, hp, TRAIN, 1, tmp / "ck_search", out_arch=arch)
    run_model(model, data, hp, TRAIN, 1, tmp / "run.json", tmp / "ck", architecture=arch,
              search_cfg=CFG["search"] if model.startswith("optinter") else None)
    return json.loads((tmp / "run.json").read_text())["config"]["hp"]


@pytest.mark.parametrize("ds,model", CASES, ids=[f"{d}-{m}" for d, m in CASES])
def test_models_train_with_table_iv(ds, model, tiny_processed, tmp_path):
    hp = recorded(ds, model, tiny_processed, tmp_path)
    want = TABLE_IV[ds][model]
    assert {k: hp.get(k) for k in want} == want


def test_demo_and_planted_keep_their_settings():
    """Their numbers are being recorded: no per-model rows, row_id order, 0.8/0.1/0.1, l2_o 0."""
    demo = CFG["datasets"]["demo"]
    assert "models_hparams" not in demo and not CFG["models_hparams"]
    for split in (demo["split"], CFG["planted"]["split"]):
        assert split == {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
    for model in TABLE_IV["criteo"]:
        assert oc.model_hparams(CFG, "demo", model) == CFG["hparams"]["demo"]
    assert CFG["hparams"]["demo"]["l2_o"] == 0.0
    assert {**CFG["hparams"][CFG["planted"]["hparams"]], **CFG["planted"]["hp"]}["l2_o"] == 0.0


def test_table_iv_rows_live_in_the_presets_once():
    """A preset is a whole column of Table IV (issue 24): the per-model rows are under
    hparams.<preset>.models, no dataset copies them, and criteo / criteo_x4 (avazu /
    avazu_x4) train every model with the same hp."""
    for ds in CFG["datasets"].values():
        assert "models_hparams" not in ds
    for preset in TABLE_IV:
        assert CFG["hparams"][preset]["models"]
    for a, b in (("criteo", "criteo_x4"), ("avazu", "avazu_x4")):
        for model in TABLE_IV["criteo"]:
            assert oc.model_hparams(CFG, a, model) == oc.model_hparams(CFG, b, model)
    assert "models" not in oc.hparams(CFG, "criteo")


def test_real_datasets_split_as_the_paper():
    for ds in TABLE_IV:
        split = CFG["datasets"][ds]["split"]
        assert (split["train"] + split["valid"], split["test"], split["order"]) == \
            (pytest.approx(0.8), 0.2, "shuffled")
