"""The end-of-run summary (optinter/analysis/summary.py, the Snakefile's onsuccess handler)."""

from __future__ import annotations

import io
import json
import re
import types
from pathlib import Path

import pytest

from optinter.analysis import summary, tables

SEEDS = [1, 2, 3]


def _write(root: Path, model: str, aucs, params: int) -> None:
    for seed, auc in zip(SEEDS, aucs):
        path = tables.run_path(root, "toy", model, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "dataset": "toy", "model": model, "seed": seed, "valid_auc": auc,
            "valid_logloss": 0.5, "test_auc": auc, "test_logloss": 1.2 - auc, "params": params,
            "architecture_counts": None, "epochs": 2, "best_epoch": 1, "train_seconds": 1.0,
            "samples_per_second": 1.0, "device": "cpu", "config": {"hp": {"s2": 8}}}))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """results/toy with Table V built by tables.build (so the CSV columns are the real ones)."""
    _write(tmp_path, "fm", [0.70, 0.71, 0.72], 9000)
    _write(tmp_path, "optinter", [0.7505, 0.7590, 0.7705], 1_250_000)
    (tmp_path / "toy" / "optinter.json").write_text("{}")
    tables.build(tmp_path, "toy", ["fm", "optinter"], SEEDS, tmp_path / "toy" / "tables")
    return tmp_path


def test_headline_is_table_vs_line_of_optinter(results):
    line = summary.headline(results / "toy" / "tables" / "table5.csv")
    assert line.startswith("OptInter: AUC 0.7600 ± 0.0100, log loss 0.4400 ± 0.0100, 1.2M params "
                           "(3 seeds); best baseline FM AUC 0.7100, paired t-test p = ")
    # the same numbers as the Markdown table's row
    md = (results / "toy" / "tables" / "table5.md").read_text()
    row = next(r for r in md.splitlines() if r.startswith("| OptInter |"))
    assert "0.7600 ± 0.0100" in row and "0.4400 ± 0.0100" in row and "1.2M" in row


def test_summary_names_the_files_and_the_report(results):
    text = summary.summary(["toy"], results)
    assert text.splitlines()[0] == "optinter results for toy:"
    for rel in ("toy/optinter.json", "toy/tables/table5.md"):
        assert re.search(rf"^  {re.escape(str(results / rel))}\s+\S", text, re.M), rel
    assert "  Table V: OptInter: AUC 0.7600" in text
    assert text.splitlines()[-1].endswith("snakemake --report report.html")


def test_no_table_no_headline_and_no_results_no_text(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "optinter.json").write_text("{}")
    text = summary.summary(["toy", "other"], tmp_path)
    assert "optinter.json" in text and "Table V:" not in text and "other" not in text
    assert summary.summary(["other"], tmp_path) == ""
    assert summary.headline(tmp_path / "missing.csv") is None


def test_datasets_come_from_the_targets():
    targets = ["results/demo/optinter.json", "results/demo/tables", "results/planted/recovery.json",
               "data/processed/criteo/train.parquet", "results/unknown/x.json"]
    assert summary.datasets_in(targets, {"demo": {}, "criteo": {}}) == ["demo", "criteo"]


def test_on_success_prints_and_never_raises(results, monkeypatch):
    monkeypatch.chdir(results)
    wf = types.SimpleNamespace(dag=types.SimpleNamespace(
        derived_targetfiles={"toy/optinter.json"}))
    out = io.StringIO()
    summary.on_success(wf, {"datasets": {"toy": {}}}, out=out)
    assert out.getvalue() == ""                 # targets outside results/ name no dataset
    wf.dag.derived_targetfiles = {"results/toy/optinter.json"}
    monkeypatch.setattr(summary, "summary", lambda ds: (_ for _ in ()).throw(OSError("boom")))
    summary.on_success(wf, {"datasets": {"toy": {}}}, out=out)
    assert "no run summary: OSError: boom" in out.getvalue()


@pytest.mark.slow
def test_snakemake_prints_the_summary_when_a_run_succeeds(tmp_path, results):
    """The Snakefile's onsuccess handler, end to end on the cheapest real job (~3 s)."""
    from test_workflow import copy_workflow, snakemake

    wf = copy_workflow(tmp_path / "wf")
    (wf / "results" / "demo").mkdir(parents=True)
    tables_dir = results / "toy" / "tables"
    (wf / "results" / "demo" / "tables").mkdir()
    for f in ("table5.csv", "table5.md"):
        (wf / "results" / "demo" / "tables" / f).write_text((tables_dir / f).read_text())
    proc = snakemake(wf, "--cores", "1", "data/raw/demo/truth.json")
    out = proc.stdout
    assert "optinter results for demo:" in out
    assert "  Table V: OptInter: AUC 0.7600 ± 0.0100" in out
    assert "snakemake --report report.html" in out
