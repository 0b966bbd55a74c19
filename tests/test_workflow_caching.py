"""End to end: run the demo workflow once (tiny config) in a temporary copy, then prove the
caching contract from Snakemake's own dry-run `reason:` lines, and build the HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from test_workflow import copy_workflow, dry_run_jobs, snakemake

pytestmark = pytest.mark.slow

PREPROCESSING = {"generate_dataset", "ingest", "vocab", "encode"}
RESULT_KEYS = {"dataset", "model", "seed", "valid_auc", "valid_logloss", "test_auc",
               "test_logloss", "params", "architecture_counts", "epochs", "best_epoch",
               "train_seconds", "samples_per_second", "device", "config"}


def tiny(cfg: dict) -> dict:
    """The repository config shrunk to seconds: few rows, one epoch, one seed, three models."""
    cfg["datasets"]["demo"]["source"]["generate"]["rows"] = 4000
    cfg["hparams"]["demo"].update(epochs=1, batch_size=512, mlp=[32])
    cfg["search"]["tau_decay_steps"] = 50
    cfg["train"].update(device="cpu", num_workers=0)
    cfg["datasets"]["demo"]["models"] = ["lr", "fm", "optinter"]
    cfg["datasets"]["demo"]["seeds"] = [1]
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    wf = copy_workflow(tmp_path_factory.mktemp("demo_run"))
    cfg = tiny(yaml.safe_load((wf / "config.yaml").read_text()))
    (wf / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(wf, "--cores", "2", timeout=1200)
    return wf


def _override(run: Path, tmp_path: Path, change: dict) -> list[dict]:
    """Jobs a dry run plans with `change` merged over the config the run used."""
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump(change))
    return dry_run_jobs(run, "--configfile", str(run / "config.yaml"), str(extra))


def _label(job: dict) -> str:
    """The rule, and for training jobs the run: `train_model_seed:optinter/seed1`."""
    # the results JSON is a training job's first output (its model bundle the second)
    m = re.match(r"results/\w+/(?:runs/)?(.+)\.json$", job.get("output", "").split(", ")[0])
    return f"{job['rule']}:{m.group(1)}" if job["rule"].startswith("train_model") else job["rule"]


def test_demo_outputs_exist_and_follow_the_contract(run):
    res = json.loads((run / "results/demo/optinter.json").read_text())
    assert RESULT_KEYS <= set(res)
    assert (res["dataset"], res["model"]) == ("demo", "optinter")
    assert 0.0 <= res["test_auc"] <= 1.0
    assert (run / "results/demo/tables/table5.csv").is_file()
    for fig in ("fig5_mi_by_method.png", "fig6_mi_heatmap.png"):
        assert (run / "results/demo/analysis" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "data/processed/demo/feature_map.json").is_file()
    assert not list(run.glob("**/.*.tmp")), "a temporary file survived"


def test_second_run_does_nothing(run):
    proc = snakemake(run, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_search_change_reruns_search_and_what_follows_only(run, tmp_path):
    jobs = _override(run, tmp_path, {"search": {"tau_end": 0.02}})
    rules = {_label(j) for j in jobs}
    search = next(j for j in jobs if j["rule"] == "search_paper")
    assert "Params have changed" in search["reason"]
    # the paper search and each seed's, the screens, scans (their budget is the search's
    # samples), finalists and decisions that follow them, optinter's re-trains and the paper
    # recipe's (the finalists' budget is measured on it); lr and fm do not depend on the search
    assert rules == {"search_paper", "search_paper_seed", "shortlist", "shortlist_seed",
                     "scan", "scan_seed", "finalist", "finalist_seed", "search", "search_seed",
                     "train_model:optinter", "train_model_seed:optinter/seed1",
                     "train_model:optinter_paper", "train_model_seed:optinter_paper/seed1",
                     "tables", "mutual_info", "mutual_info_figures", "all"}
    assert not PREPROCESSING & {j["rule"] for j in jobs}


def test_oov_threshold_change_reruns_from_the_vocabulary_on(run, tmp_path):
    jobs = _override(run, tmp_path, {"datasets": {"demo": {"min_count": 3}}})
    rules = {j["rule"] for j in jobs}
    vocab = next(j for j in jobs if j["rule"] == "vocab")
    assert "Params have changed" in vocab["reason"]
    assert {"vocab", "encode", "search", "train_model", "train_model_seed", "tables",
            "mutual_info", "mutual_info_figures"} <= rules
    assert not {"generate_dataset", "ingest"} & rules
    # every model re-runs, and the paper recipe's re-train the finalists are measured on
    assert len([j for j in jobs if j["rule"] == "train_model_seed"]) == 4


def _sql_users(run: Path) -> dict[str, set[str]]:
    """SQL file -> rules that declare it as input, from a forced dry run of the whole DAG."""
    users: dict[str, set[str]] = {}
    for job in dry_run_jobs(run, "--forceall"):
        for f in job.get("input", "").split(", "):
            if f.endswith(".sql"):
                users.setdefault(f, set()).add(job["rule"])
    return users


def test_editing_a_sql_file_reruns_the_rules_that_run_it(run):
    users = _sql_users(run)
    assert {"ingest", "vocab", "encode", "mutual_info"} <= set().union(*users.values())
    # one file per stage: the one the fewest rules declare (a stage's own SQL, not shared macros)
    picks = {}
    for f, rules in sorted(users.items(), key=lambda kv: len(kv[1])):
        for rule in rules:
            picks.setdefault(rule, f)
    for rule in ("vocab", "mutual_info"):
        path = Path(picks[rule])
        original = path.read_text()
        try:
            path.write_text(original + "\n-- edited by test\n")
            jobs = dry_run_jobs(run)
        finally:
            path.write_text(original)
        ran = {j["rule"] for j in jobs}
        for user in users[str(path)]:
            job = next(j for j in jobs if j["rule"] == user)
            assert "Updated input files" in job["reason"] and path.name in job["reason"]
        upstream = {"generate_dataset"} | ({"ingest"} - users[str(path)])
        assert not upstream & ran, (path, ran)
        if rule == "mutual_info":
            assert ran == {"mutual_info", "mutual_info_figures", "all"}
    assert "Nothing to be done" in snakemake(run, "--dry-run").stdout  # restored content


def test_report_holds_tables_and_figures(run):
    snakemake(run, "--report", "report.html")
    html = (run / "report.html").read_text(errors="replace")
    for name in ("table5.csv", "fig5_mi_by_method.png", "fig6_mi_heatmap.png"):
        assert name in html
