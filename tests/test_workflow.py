"""Workflow mechanics from Snakemake dry runs in a temporary copy of the workflow (no training).

Helpers here are shared with test_workflow_caching.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from optinter import config as oc

REPO = Path(__file__).resolve().parents[1]
# The whole package goes along: Snakemake puts the Snakefile's folder first on sys.path, so a
# partial optinter/ folder there would shadow the installed package.
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "optinter", "envs"]
TRAIN_RULES = {"search", "train_model", "train_model_seed"}
HEAVY_RULES = TRAIN_RULES | {"ingest", "vocab", "encode", "mutual_info", "extract_member",
                             "extract_logs", "extract_split"}
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
FETCH_RULES = {"generate_dataset", "download", "extract_member", "extract_logs", "fetch_kaggle",
               "download_split", "extract_split"}


def copy_workflow(dest: Path) -> Path:
    """What a fresh clone holds for the workflow (Snakefile, rules, config, package), no outputs."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def snakemake(cwd: Path, *args: str, check: bool = True, env: dict | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def dry_run_jobs(cwd: Path, *args: str, env: dict | None = None) -> list[dict]:
    """Jobs of a dry run, each {rule, local, <key>: <value>} from Snakemake's job blocks."""
    proc = snakemake(cwd, "--dry-run", *args, env=env)
    jobs, job = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(local)?rule (\w+):$", line)
        if m:
            job = {"rule": m.group(2), "local": bool(m.group(1))}
            jobs.append(job)
        elif job is not None and (kv := re.match(r"^    (\w+): (.*)$", line)):
            job[kv.group(1)] = kv.group(2)
        elif job is not None and not line.startswith("    "):
            job = None
    return jobs


def first(job: dict) -> str:
    """A job's first output (a training job's results JSON; its model bundle comes second)."""
    return job.get("output", "").split(", ")[0]


def resources(job: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in job.get("resources", "").split(", ") if "=" in item)


@pytest.fixture(scope="module")
def wf(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf"))


@pytest.fixture(scope="module")
def cfg() -> dict:
    return oc.load(REPO / "config.yaml")


def test_default_target_builds_the_demo_results(wf, cfg):
    jobs = dry_run_jobs(wf, "--forceall")
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["rule"]] = counts.get(job["rule"], 0) + 1
    demo = cfg["default_dataset"]
    # a dataset's own models / seeds override the top-level lists
    models = cfg["datasets"][demo].get("models", cfg["models"]) + cfg["ablations"]
    seeds = cfg["datasets"][demo].get("seeds", cfg["seeds"])
    # a picked run (runs.<name>.pick) trains nothing itself: its candidates are ordinary runs
    runs_cfg = cfg["runs"]
    picked = [m for m in models if "pick" in runs_cfg[m]]
    trained = list(dict.fromkeys([m for m in models if m not in picked]
                                 + [c for m in picked for c in runs_cfg[m]["pick"]]))
    assert counts.pop("train_model_seed") == len(trained) * len(seeds)
    assert counts.pop("pick_run_seed", 0) == len(picked) * len(seeds)
    # one paper search and one decision (search.recipe) at search.seed, and one of each per seed
    assert counts.pop("search_paper_seed") == counts.pop("search_seed") == len(seeds)
    # AutoFIS's gate search: its own rule and declared file, one per seed, and one per seed of
    # every AutoFIS run with its own hp (a tuned AutoFIS's candidates)
    own = [m for m in trained if runs_cfg[m].get("architecture") == "search_autofis"
           and runs_cfg[m].get("hp")]
    assert counts.pop("search_autofis_seed") == (len(seeds) if "autofis" in trained else 0)
    assert counts.pop("search_autofis_own_seed", 0) == len(own) * len(seeds)
    # the shortlist recipe: one screen, one scan and its finalist re-trains per search
    n_fin = cfg["search"]["shortlist"]["finalists"]
    assert counts.pop("shortlist_seed") == counts.pop("scan_seed") == len(seeds)
    assert counts.pop("finalist_seed") == n_fin * len(seeds)
    assert counts == {"generate_dataset": 1, "ingest": 1, "vocab": 1, "encode": 1, "search": 1,
                      # optinter.json, and optinter_paper.json its finalists are measured on
                      "search_paper": 1, "shortlist": 1, "scan": 1, "finalist": n_fin,
                      "train_model": 2,
                      "tables": 1, "mutual_info": 1, "mutual_info_figures": 1, "all": 1}
    # the finalists wait for the screen and the scan, not for each other, and are measured on
    # the paper re-train
    second = next(j for j in jobs if j["rule"] == "finalist_seed"
                  and j["output"].endswith("seed1/finalists/f1.json"))
    assert f"results/{demo}/search/seed1/finalists/f0.json" not in second["input"]
    for needed in (f"results/{demo}/search/seed1/scan.json",
                   f"results/{demo}/search/seed1/shortlist.json",
                   f"results/{demo}/runs/optinter_paper/seed1.json"):
        assert needed in second["input"]
    runs = {(re.search(r"runs/(\w+)/seed(\d+)\.json", j["output"]).groups())
            for j in jobs if j["rule"] == "train_model_seed"}
    assert runs == {(m, str(s)) for m in trained for s in seeds}
    assert all(f"/{demo}/" in j.get("output", f"/{demo}/") for j in jobs)
    retrain = next(j for j in jobs if j["rule"] == "train_model"
                   and j["output"].startswith(f"results/{demo}/optinter.json"))
    # a training job's outputs: its results JSON, then its model bundle beside it
    assert retrain["output"] == f"results/{demo}/optinter.json, results/{demo}/optinter.model"
    assert f"results/{demo}/search/architecture.json" in retrain["input"]


@pytest.fixture(scope="module")
def all_jobs(wf, cfg) -> list[dict]:
    """Every job that builds optinter.json for every configured dataset, plus the demo tables."""
    targets = [f"results/{ds}/optinter.json" for ds in cfg["datasets"]]
    return dry_run_jobs(wf, "--forceall", *targets, f"results/{cfg['default_dataset']}/tables")


def _dataset(job: dict) -> str:
    return re.search(r"(?:^|, )dataset=(\w+)", job["wildcards"]).group(1)


def test_every_job_has_log_resources_and_benchmarks_where_heavy(all_jobs, cfg):
    assert {j["rule"] for j in all_jobs} >= HEAVY_RULES - {"mutual_info"}
    for job in all_jobs:
        res = resources(job)
        assert "log" in job, job
        assert {"mem_mb", "runtime"} <= set(res), job
        if job["rule"] in TRAIN_RULES:
            ds_res = cfg["datasets"][_dataset(job)].get("resources", {})
            assert res.get("gpu") == str(ds_res.get("train_gpus", cfg["resources"]["train_gpus"]))
        if job["rule"] in HEAVY_RULES:
            assert "benchmark" in job, job


def test_fetch_rules_follow_each_dataset_source(all_jobs, cfg):
    found: dict[str, set[str]] = {ds: set() for ds in cfg["datasets"]}
    for job in all_jobs:
        if job["rule"] in FETCH_RULES:
            found[_dataset(job)].add(job["rule"])
    expected = {}
    for ds, dcfg in cfg["datasets"].items():
        kind, src = oc.source_kind(dcfg), dcfg["source"]
        if "splits" in src:  # pre-split: members of the source's archive and/or own downloads
            parts = src["splits"].values()
            expected[ds] = ({"download"} if "url" in src else set()) | \
                ({"download_split"} if any("url" in e for e in parts) else set()) | \
                ({"extract_split"} if any("member" in e for e in parts) else set())
            continue
        expected[ds] = ({"generate_dataset"} if kind == "generate" else
                        {"fetch_kaggle"} if kind == "kaggle" else
                        {"download", "extract_member"} if "member" in src else
                        {"download", "extract_logs"} if "logs" in src else {"download"})
    assert found == expected


def test_a_local_path_replaces_any_download(wf, tmp_path):
    local = tmp_path / "train.gz"
    local.write_bytes(b"")
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"avazu": {"source": {"path": str(local)}}}}))
    jobs = dry_run_jobs(wf, "--forceall", "data/interim/avazu/raw.parquet", "--configfile",
                        str(wf / "config.yaml"), str(extra))
    assert [j["rule"] for j in jobs] == ["ingest"]
    ingest = jobs[0]
    assert ingest["input"].split(", ")[0] == str(local)


def test_config_errors_stop_snakemake_with_the_key_named(wf):
    proc = snakemake(wf, "--dry-run", "--config", "seeds=[]", check=False)
    assert proc.returncode != 0
    assert "seeds: [] should be non-empty" in proc.stderr + proc.stdout


def test_slurm_profile_asks_for_partitions_and_gpus(wf, cfg):
    env = {"OPTINTER_SLURM_PARTITION": "cpuq", "OPTINTER_SLURM_GPU_PARTITION": "gpuq",
           "OPTINTER_SLURM_ACCOUNT": "proj"}
    jobs = dry_run_jobs(wf, "--profile", "profiles/slurm", "--forceall",
                        "results/criteo/search/architecture.json", env=env)
    by_rule = {j["rule"]: j for j in jobs}
    search = resources(by_rule["search"])
    assert (search["slurm_partition"], search["slurm_account"]) == ("gpuq", "proj")
    assert search["gpu"] == str(cfg["resources"]["train_gpus"])
    # resources.train_mem_mb: auto: the job's memory estimate, evaluated once the data stage
    # wrote feature_map.json (to be determined in a dry run from scratch)
    assert cfg["resources"]["train_mem_mb"] == "auto" and search["mem_mb"] == "<TBD>"
    assert resources(by_rule["ingest"])["slurm_partition"] == "cpuq"
    assert "gpu" not in resources(by_rule["ingest"])
    # every job that asks for a GPU goes to the GPU partition (each training rule is listed in
    # the profile's set-resources), every other one to the default partition
    jobs += dry_run_jobs(wf, "--profile", "profiles/slurm", "--forceall",
                         "results/demo/tables", "results/demo/optinter.json",
                         "results/demo/runs/optinter_validated/seed1.json",
                         "results/demo/runs/optinter_bilevel/seed1.json",
                         "results/demo/runs/optinter_random/seed1.json",
                         "results/planted_n60000_s1/runs/random1/seed1.json", env=env)
    for job in jobs:
        res = resources(job)
        want = "gpuq" if "gpu" in res else "cpuq"
        assert res.get("slurm_partition") == want, (job["rule"], res)
    trained = {j["rule"] for j in jobs if "gpu" in resources(j)}
    assert {"search_seed", "finalist_seed", "search_autofis_own_seed", "pick_run_seed"} \
        - trained == {"pick_run_seed"}


def test_tables_declare_every_run_they_read(wf, cfg):
    """The tables job's inputs are exactly the per-seed runs of models + ablations (nothing is
    found by listing folders), and AutoFIS re-trains its declared search architecture."""
    jobs = dry_run_jobs(wf, "--forceall", "results/demo/tables")
    tables_job = next(j for j in jobs if j["rule"] == "tables")
    inputs = set(tables_job["input"].split(", "))
    names = oc.run_names(cfg, "demo")
    seeds = cfg["datasets"]["demo"].get("seeds", cfg["seeds"])
    assert {i for i in inputs if "/runs/" in i} == {
        f"results/demo/runs/{n}/seed{s}.json" for n in names for s in seeds}
    autofis = next(j for j in jobs if first(j) == "results/demo/runs/autofis/seed2.json")
    assert "results/demo/search_autofis/seed2/architecture.json" in autofis["input"]


def test_a_new_ablation_is_one_runs_entry(wf, tmp_path):
    """A run named freely, declared under runs: and listed in ablations, is trained per seed
    with its hp over the model's and read by the tables; no rule or regex knows its name."""
    extra = tmp_path / "ablation.yaml"
    extra.write_text(yaml.safe_dump({
        "runs": {"wide_cross": {"model": "optinter", "architecture": "search", "hp": {"s2": 16}}},
        "ablations": ["wide_cross"]}))
    jobs = dry_run_jobs(wf, "--forceall", "results/demo/tables", "--configfile",
                        str(wf / "config.yaml"), str(extra))
    runs = [j for j in jobs if "/runs/wide_cross/" in j.get("output", "")]
    assert len(runs) == 3 and all(j["rule"] == "train_model_seed" for j in runs)
    assert "results/demo/search/seed1/architecture.json" in next(
        j for j in runs if first(j).endswith("seed1.json"))["input"]
    assert "results/demo/runs/wide_cross/seed3.json" in next(
        j for j in jobs if j["rule"] == "tables")["input"]
    # an undeclared name is refused before any job, naming the key
    proc = snakemake(wf, "--dry-run", "--config", "ablations=[nameless]", check=False)
    assert proc.returncode != 0
    assert "ablations: 'nameless' is not a key of runs" in proc.stdout + proc.stderr


def test_ablation_runs_get_their_own_search_or_s2(wf):
    jobs = dry_run_jobs(wf, "--forceall", "results/demo/runs/optinter_bilevel/seed1.json",
                        "results/demo/runs/optinter_m_s2_4/seed1.json")
    by_output = {first(j): j for j in jobs}
    bilevel = by_output["results/demo/runs/optinter_bilevel/seed1.json"]
    assert "results/demo/search_bilevel/seed1/architecture.json" in bilevel["input"]
    assert by_output["results/demo/search_bilevel/seed1/architecture.json"]["rule"] == "search_mode_seed"
    s2 = by_output["results/demo/runs/optinter_m_s2_4/seed1.json"]
    assert "architecture.json" not in s2["input"]
    assert not any(j["rule"] in ("search", "search_seed") for j in jobs)


def test_a_picked_run_gathers_its_candidates_each_an_ordinary_job(wf, cfg):
    """runs.<name>.pick: each candidate is its own training job (an AutoFIS candidate with its
    own hp searches its own gates); one small job keeps the best on validation."""
    name = next(n for n, r in cfg["runs"].items() if "pick" in r and r["model"] == "autofis")
    cands = cfg["runs"][name]["pick"]
    jobs = dry_run_jobs(wf, "--forceall", f"results/demo/runs/{name}/seed2.json")
    by_output = {first(j): j for j in jobs}
    picked = by_output[f"results/demo/runs/{name}/seed2.json"]
    assert picked["rule"] == "pick_run_seed"
    inputs = picked["input"].split(", ")
    assert inputs == ([f"results/demo/runs/{c}/seed2.json" for c in cands]
                      + [f"results/demo/runs/{c}/seed2.model" for c in cands])
    for c in cands:
        job = by_output[f"results/demo/runs/{c}/seed2.json"]
        assert job["rule"] == "train_model_seed"
        own = bool(cfg["runs"][c].get("hp"))
        arch = (f"results/demo/search_autofis/{c}/seed2/architecture.json" if own
                else "results/demo/search_autofis/seed2/architecture.json")
        assert arch in job["input"]
        assert by_output[arch]["rule"] == ("search_autofis_own_seed" if own
                                           else "search_autofis_seed")
    assert sum(j["rule"] == "search_autofis_own_seed" for j in jobs) == \
        sum(bool(cfg["runs"][c].get("hp")) for c in cands)


def test_unreachable_download_fails_with_a_message_not_a_traceback(wf, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/dac.tar.gz"
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"criteo": {"source": {"url": url}}}}))
    target = "data/raw/criteo/download/dac.tar.gz"
    proc = snakemake(wf, "--cores", "1", target, "--configfile", str(wf / "config.yaml"),
                     str(extra), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"error: could not reach {url}" in out and "source.path" in out
    assert "Traceback" not in out
    assert not (wf / target).exists() and not list((wf / "data/raw/criteo/download").glob("*"))


def test_a_missing_source_path_names_its_config_key(wf, tmp_path):
    missing = tmp_path / "nowhere" / "train.gz"
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"avazu": {"source": {"path": str(missing)}}}}))
    proc = snakemake(wf, "--dry-run", "data/interim/avazu/raw.parquet", "--configfile",
                     str(wf / "config.yaml"), str(extra), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"datasets.avazu.source.path: {missing} does not exist" in out
    assert "MissingInputException" not in out
    assert not (wf / "data/interim/avazu").exists()


def test_profiles_rerun_a_killed_job_by_themselves(tmp_path):
    import base64
    import json
    import time

    for name in ("default", "slurm"):
        assert yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())[
            "rerun-incomplete"] is True
    wf = copy_workflow(tmp_path / "wf")
    (wf / "src.csv").write_text("x\n")
    target = "data/interim/avazu/raw.parquet"
    (wf / target).parent.mkdir(parents=True)
    (wf / target).write_bytes(b"partial")
    future = time.time() + 3600  # newer than every input: only the marker can make it rerun
    os.utime(wf / target, (future, future))
    # what Snakemake's file persistence keeps for the output of a job killed while running
    marker = wf / ".snakemake/incomplete" / base64.urlsafe_b64encode(target.encode()).decode()
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"external_jobid": None}))
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"avazu": {"source": {"path": "src.csv"}}}}))
    # without rerun-incomplete this dry run stops with IncompleteFilesException (check=True)
    jobs = dry_run_jobs(wf, target, "--configfile", str(wf / "config.yaml"), str(extra))
    assert [(j["rule"], j["reason"]) for j in jobs] == [("ingest", "Forced execution")]


def test_planted_cases_flow_through_the_ordinary_rules(wf, cfg):
    """results/planted/recovery.json plans each case as a generated dataset: the same rules as
    the demo, plus its oracle architecture and random draws; no rule of its own but the report."""
    jobs = dry_run_jobs(wf, "--forceall", "results/planted/recovery.json")
    pl = cfg["planted"]
    cases = len(pl["sizes"]) * len(pl["seeds"])
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["rule"]] = counts.get(job["rule"], 0) + 1
    n_runs = len(oc.planted_models(pl))
    assert counts == {"generate_dataset": cases, "ingest": cases, "vocab": cases,
                      "encode": cases, "search_paper_seed": cases, "search_seed": cases,
                      "shortlist_seed": cases, "scan_seed": cases,
                      "finalist_seed": cases * cfg["search"]["shortlist"]["finalists"],
                      "oracle_architecture": cases,
                      "search_random_draw_seed": cases * pl["random_architectures"],
                      "train_model_seed": cases * n_runs, "planted_recovery": 1}
    size, seed = pl["sizes"][0], pl["seeds"][0]
    case = oc.planted_name(size, seed)
    by_output = {first(j): j for j in jobs}
    oracle = by_output[f"results/{case}/runs/oracle/seed{seed}.json"]
    assert f"results/{case}/oracle/architecture.json" in oracle["input"]
    rand = by_output[f"results/{case}/runs/random2/seed{seed}.json"]
    assert f"results/{case}/search_random/draw2/seed{seed}/architecture.json" in rand["input"]
    assert f"data/raw/{case}/truth.json" in by_output[
        f"results/{case}/oracle/architecture.json"]["input"]
    # only the oracle and the report read truth.json
    readers = {j["rule"] for j in jobs if "truth.json" in j.get("input", "")}
    assert readers == {"oracle_architecture", "planted_recovery"}


def test_training_jobs_ask_for_their_memory_estimate(wf, cfg):
    """With the feature map written, each training job's mem_mb is optinter.model.memory's
    estimate for its model (+15 %): the supernet's for the search, the model's own for a
    baseline; a number in resources.train_mem_mb fixes it."""
    import shutil
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from synth import make_processed

    from optinter.model import memory
    data = wf / "data" / "processed" / "criteo"
    make_processed(data, rows=2000, n_cont=13, n_cat=26, vocab=8)
    try:
        jobs = dry_run_jobs(wf, "results/criteo/search/architecture.json",
                            "results/criteo/runs/fnn/seed1.json")
        by_rule = {j["rule"]: resources(j) for j in jobs}
        hp_opt = oc.model_hparams(cfg, "criteo", "optinter")
        want = memory.mem_mb("optinter", data, hp_opt, cfg["train"], search=True,
                             search_cfg=oc.search_settings(cfg, "criteo"))
        assert by_rule["search_paper"]["mem_mb"] == str(want)
        fnn = memory.mem_mb("fnn", data, oc.run_hparams(cfg, "criteo", "fnn"), cfg["train"])
        assert by_rule["train_model_seed"]["mem_mb"] == str(fnn) != str(want)
        extra = wf / "fixed_mem.yaml"
        extra.write_text("resources:\n  train_mem_mb: 5000\n")
        fixed = dry_run_jobs(wf, "results/criteo/runs/fnn/seed1.json", "--configfile",
                             str(wf / "config.yaml"), str(extra))
        assert resources(next(j for j in fixed if j["rule"] == "train_model_seed"))["mem_mb"] \
            == "5000"
    finally:
        shutil.rmtree(wf / "data" / "processed" / "criteo")
