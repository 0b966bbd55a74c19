"""The trained model as an artifact (optinter/model/bundle.py), scoring raw rows with it
(optinter/predict.py) and its exported program (optinter/model/export.py).

The round trip: a dataset is prepared and models are trained by run_model with a bundle; the
raw lines of the test split (picked by row_id from the raw file) are scored through the bundle
alone, and the AUC and log loss must be the ones run_model reported for its test split, the
encoded rows must be the processed test rows, and each probability the model's on that row.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from optinter.data.demo import generate
from optinter.data.encode import encode_rows
from optinter.data.ingest import ingest
from optinter.data.prepare import prepare
from optinter.model import bundle as mb
from optinter.model.export import example_inputs
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.stages import run_model
from optinter import predict as op

CFG = {"threads": 1, "memory_limit": "512MB"}
SPLIT = {"train": 0.7, "valid": 0.15, "test": 0.15, "seed": 11}
HP = dict(batch_size=128, s1=4, s2=3, mlp=[8, 6], lr=2e-2, lr_c=2e-2, lr_a=1e-2, l2_o=0.0,
          l2_c=0.0, eps=1e-8, epochs=2, patience=1)
TC = {"seed": 1, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": "cpu"}
SERVED = ["fnn", "deepfm", "optinter"]  # the three: each must export


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _architecture(fmap: FeatureMap) -> dict:
    """Every method on some pair (a searched architecture's shape, drawn at random)."""
    rng = random.Random(3)
    methods = ["memorize", "factorize", "naive"]
    return {"pairs": [{"name": p.name, "fields": list(p.fields),
                       "choice": methods[i % 3] if i < 3 else rng.choice(methods)}
                      for i, p in enumerate(fmap.pairs)]}


def _train(root: Path, fmt: str, raw: Path, models: list[str], log_bucket: bool = False,
           header: bool = False) -> dict:
    data, work = root / "processed", root / "work"
    prepare(fmt, raw, data, 3, 3, SPLIT, log_bucket, CFG, work, min_split_rows=None)
    fmap = FeatureMap.load(data)
    arch = root / "architecture.json"
    arch.write_text(json.dumps(_architecture(fmap)))
    runs = {}
    for name in models:
        out = run_model(name, data, HP, TC, 1, root / f"{name}.json", root / f"ck_{name}",
                        architecture=arch if name == "optinter" else None,
                        run={"name": name, "model": name},
                        bundle_out=root / f"{name}.model", vocab_dir=work / "vocab")
        runs[name] = out
    # the test split's raw lines, picked by row_id (the 0-based data line) from the raw file
    test_ids = pq.read_table(data / "test.parquet", columns=["row_id"])["row_id"].to_numpy()
    keep = set(test_ids.tolist())
    lines = raw.read_text().splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    test_raw = root / ("test_rows" + raw.suffix)
    test_raw.write_text("".join(head + [l for i, l in enumerate(body) if i in keep]))
    return {"root": root, "data": data, "work": work, "runs": runs, "test_raw": test_raw,
            "test_ids": np.sort(test_ids)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bundle_demo")
    raw = root / "train.txt"
    generate(raw, root / "truth.json", rows=3000, seed=5)
    return _train(root, "criteo", raw, SERVED)


def _logits(model, fmap_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The model on a processed split (the training side's own encoding), by row_id."""
    fmap = FeatureMap.load(fmap_dir)
    z = []
    model.eval()
    with torch.no_grad():
        for cat, cont, cross, _ in ParquetBatches(fmap, split, 512).iterate(0):
            z.append(model(cat, cont, cross))
    ids = pq.read_table(fmap.path(split), columns=["row_id"])["row_id"].to_numpy()
    return ids, torch.cat(z).numpy()


@pytest.mark.parametrize("name", SERVED)
def test_scoring_the_raw_test_rows_gives_the_reported_test_metrics(demo, tmp_path, name):
    run = demo["runs"][name]
    out = tmp_path / "scored.parquet"
    report = op.predict(demo["root"] / f"{name}.model", demo["test_raw"], out,
                        tmp_path / "scored.json", CFG)
    assert report["rows"] == len(demo["test_ids"])
    assert report["auc"] == pytest.approx(run["test_auc"], abs=1e-9)
    assert report["logloss"] == pytest.approx(run["test_logloss"], abs=1e-6)
    assert json.loads((tmp_path / "scored.json").read_text())["auc"] == report["auc"]
    t = pq.read_table(out)
    assert t.column_names == ["row_id", "label", "click_probability"]
    # row i of the scored file is the i-th test line: the original row_id is test_ids[i]
    assert t["row_id"].to_pylist() == list(range(len(demo["test_ids"])))
    ids, z = _logits(mb.load(demo["root"] / f"{name}.model").model, demo["data"], "test")
    order = np.argsort(ids)
    assert np.array_equal(ids[order], demo["test_ids"])
    expect = 1 / (1 + np.exp(-z[order].astype(np.float64)))
    np.testing.assert_allclose(t["click_probability"].to_numpy(), expect, rtol=1e-5, atol=1e-7)
    labels = pq.read_table(demo["data"] / "test.parquet", columns=["row_id", "label"])
    by_id = dict(zip(labels["row_id"].to_pylist(), labels["label"].to_pylist()))
    assert t["label"].to_pylist() == [by_id[i] for i in demo["test_ids"].tolist()]


def test_new_rows_are_encoded_as_the_training_rows(demo, tmp_path):
    """encode_rows on the raw test lines gives the processed test rows, column by column;
    a value no vocabulary holds becomes id 0 (OOV) in its field and in every pair with it."""
    raw = tmp_path / "raw.parquet"
    ingest("criteo", demo["test_raw"], raw, CFG)
    encode_rows(raw, demo["work"] / "vocab", tmp_path / "rows.parquet", CFG)
    got = pq.read_table(tmp_path / "rows.parquet")
    want = pq.read_table(demo["data"] / "test.parquet").sort_by("row_id")
    assert got.column_names == want.column_names
    for c in want.column_names:
        if c != "row_id":
            assert got[c].equals(want[c]), c
    # an unseen C3 value in line 0, an unseen number far above I2's train maximum in line 1
    lines = demo["test_raw"].read_text().splitlines(keepends=True)
    cols = lines[0].rstrip("\n").split("\t")
    cols[1 + 13 + 2] = "never_seen"
    lines[0] = "\t".join(cols) + "\n"
    cols = lines[1].rstrip("\n").split("\t")
    cols[2] = str(10**9)
    lines[1] = "\t".join(cols) + "\n"
    changed = tmp_path / "changed.txt"
    changed.write_text("".join(lines))
    ingest("criteo", changed, raw, CFG)
    encode_rows(raw, demo["work"] / "vocab", tmp_path / "changed.parquet", CFG)
    new = pq.read_table(tmp_path / "changed.parquet")
    fmap = json.loads((demo["data"] / "feature_map.json").read_text())
    c3_pairs = {p["name"] for p in fmap["pairs"] if "C3" in p["fields"]}
    assert c3_pairs
    for c in want.column_names:
        if c == "row_id":
            continue
        a, b = new[c].to_pylist(), got[c].to_pylist()
        if c == "C3" or c in c3_pairs:
            assert a[0] == 0, c
        else:
            assert a[0] == b[0], c
        if c == "I2":
            assert a[1] == 1.0  # min-max with the train statistics, clipped into [0, 1]
        else:
            assert a[1] == b[1], c
        assert a[2:] == b[2:], c


@pytest.mark.parametrize("case", ["criteo_log_bucket", "avazu_header"])
def test_real_samples_round_trip(samples_dir, tmp_path, case):
    """Real rows: a Criteo sample with log-bucketed numbers (the bucket SQL in encode_rows)
    and an Avazu CSV with its header line (row_id counts data lines only)."""
    if case == "criteo_log_bucket":
        src, fmt, kw = samples_dir / "criteo/dac_head10000/train.txt", "criteo", {"log_bucket": True}
    else:
        src, fmt, kw = samples_dir / "avazu/head10000/train.csv", "avazu", {"header": True}
    if not src.exists():
        pytest.skip(f"{src} not in the samples")
    raw = tmp_path / src.name
    # the first 4000 lines keep this quick; the header (Avazu) stays the first line
    with open(src) as f:
        raw.write_text("".join(line for _, line in zip(range(4000), f)))
    d = _train(tmp_path, fmt, raw, ["fnn"], **kw)
    report = op.predict(tmp_path / "fnn.model", d["test_raw"], tmp_path / "s.parquet", None, CFG)
    assert report["rows"] == len(d["test_ids"])
    assert report["auc"] == pytest.approx(d["runs"]["fnn"]["test_auc"], abs=1e-9)
    assert report["logloss"] == pytest.approx(d["runs"]["fnn"]["test_logloss"], abs=1e-6)


def test_bundle_is_self_contained(demo, tmp_path):
    """A copied bundle loads with no data/ folder and no config; it holds what it says."""
    copy = tmp_path / "elsewhere" / "fnn.model"
    shutil.copytree(demo["root"] / "fnn.model", copy)
    b = mb.load(copy)
    assert b.meta["model"] == "fnn" and b.meta["metrics"]["test_auc"] == demo["runs"]["fnn"]["test_auc"]
    assert b.meta["versions"]["torch"] == torch.__version__
    assert b.input_format == "criteo"
    man = json.loads((copy / "manifest.json").read_text())
    assert {"weights.safetensors", "model.json", "feature_map.json", "vocab/fields.parquet",
            "vocab/crosses.parquet", "vocab/stats.json", "model.pt2"} <= set(man["files"])
    # the same weights as the trained model: the same outputs on a batch
    trained = mb.load(demo["root"] / "fnn.model").model
    x = example_inputs(b.fmap, rows=16, seed=2)
    with torch.no_grad():
        assert torch.equal(b.model(*x), trained(*x))
    assert "architecture.json" in json.loads(
        (demo["root"] / "optinter.model" / "manifest.json").read_text())["files"]


def _refit_manifest(root: Path) -> None:
    """Recompute the manifest over what is now in the folder (a forger's careful edit)."""
    (root / "manifest.json").write_text(json.dumps(mb._manifest(root)))


def _one_line_error(root: Path, *words: str) -> str:
    with pytest.raises(mb.BundleError) as err:
        mb.load(root)
    msg = str(err.value)
    assert "\n" not in msg and str(root) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_tampered_or_pickled_bundles_are_refused(demo, tmp_path):
    src = demo["root"] / "fnn.model"

    def fresh(tag: str) -> Path:
        dst = tmp_path / tag
        shutil.copytree(src, dst)
        return dst

    b = fresh("digest")  # the manifest's digest edited
    man = json.loads((b / "manifest.json").read_text())
    man["digest"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(man))
    _one_line_error(b, "digest")

    b = fresh("entry")  # a file's checksum edited in the table (the digest no longer fits)
    man = json.loads((b / "manifest.json").read_text())
    man["files"]["model.json"]["sha256"] = "f" * 64
    (b / "manifest.json").write_text(json.dumps(man))
    _one_line_error(b, "digest")

    b = fresh("flip")  # one byte of the weights changed
    data = bytearray((b / "weights.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (b / "weights.safetensors").write_bytes(bytes(data))
    _one_line_error(b, "weights.safetensors", "sha256")

    state = {k: v for k, v in mb.load(src).model.state_dict().items()}
    b = fresh("torch_save")  # torch.save's zip of pickles, with a manifest made to match
    torch.save(state, b / "weights.safetensors")
    _refit_manifest(b)
    _one_line_error(b, "zip", "pickle")

    b = fresh("pickle")  # a bare pickle whose loading would run code
    (b / "weights.safetensors").write_bytes(pickle.dumps(state, protocol=4))
    _refit_manifest(b)
    _one_line_error(b, "pickle")

    b = fresh("json_pickle")  # model.json replaced by a pickle
    (b / "model.json").write_bytes(pickle.dumps({"model": "fnn"}))
    _refit_manifest(b)
    _one_line_error(b, "model.json", "pickle")

    b = fresh("extra")  # a file the manifest does not list
    (b / "vocab" / "extra.pkl").write_bytes(pickle.dumps(1))
    _one_line_error(b, "not in the manifest")

    b = fresh("missing")
    (b / "vocab" / "stats.json").unlink()
    _one_line_error(b, "missing")

    # the command line says it in one line and exits 1, before reading the input
    r = subprocess.run([sys.executable, "-m", "optinter.predict", str(tmp_path / "pickle"),
                        str(demo["test_raw"]), str(tmp_path / "x.parquet")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and not (tmp_path / "x.parquet").exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "pickle" in r.stderr, r.stderr


# Run in a fresh interpreter that cannot import optinter (a meta-path hook refuses it, and the
# repository is off sys.path): load each exported program with torch alone and run it.
_SERVE = r"""
import sys, json
jobs, repo = json.loads(sys.argv[1]), sys.argv[2]
sys.path[:] = [p for p in sys.path if p not in ("", ".", repo)]
class NoOptinter:
    def find_spec(self, name, path=None, target=None):
        if name == "optinter" or name.startswith("optinter."):
            raise ImportError("optinter is not installed here")
sys.meta_path.insert(0, NoOptinter())
import torch
from safetensors.torch import load_file, save_file
for program, inputs, out in jobs:
    ep = torch.export.load(program)
    x = load_file(inputs)
    with torch.no_grad():
        save_file({"y": ep.module()(x["cat"], x["cont"], x["cross"]).contiguous()}, out)
print(json.dumps({"optinter_loaded": any(m.split(".")[0] == "optinter" for m in sys.modules)}))
"""


def test_exported_programs_run_without_optinter(demo, tmp_path):
    """OptInter, FNN and DeepFM: model.pt2 runs in an interpreter without optinter, for batch
    sizes 1 and 37 (the batch dimension is dynamic), with the bundle model's outputs."""
    from safetensors.torch import load_file, save_file
    jobs, expect = [], {}
    for name in SERVED:
        root = demo["root"] / f"{name}.model"
        b = mb.load(root)
        assert b.meta["serving"]["program"] == "model.pt2", b.meta["serving"]
        for rows in (1, 37):
            x = example_inputs(b.fmap, rows=rows, seed=rows)
            tag = f"{name}_{rows}"
            save_file(dict(zip(("cat", "cont", "cross"), x)), str(tmp_path / f"{tag}.in"))
            jobs.append([str(root / "model.pt2"), str(tmp_path / f"{tag}.in"),
                         str(tmp_path / f"{tag}.out")])
            with torch.no_grad():
                expect[tag] = b.model(*x)
        # load_program verifies the bundle first, then gives the same program
        x = example_inputs(b.fmap, rows=5, seed=9)
        with torch.no_grad():
            torch.testing.assert_close(mb.load_program(root).module()(*x), b.model(*x))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", _SERVE, json.dumps(jobs),
                        str(Path(__file__).resolve().parents[1])],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"optinter_loaded": False}
    for tag, want in expect.items():
        y = load_file(str(tmp_path / f"{tag}.out"))["y"]
        assert y.shape == want.shape == (int(tag.rsplit("_", 1)[1]),), tag
        torch.testing.assert_close(y, want, rtol=1e-6, atol=1e-6, msg=tag)


def test_workflow_declares_bundles_and_scores_configured_files(tmp_path):
    """Dry runs: every training rule declares its bundle beside its results JSON, and rule
    predict scores a file named in datasets.<ds>.predict through the run's bundle."""
    from test_workflow import copy_workflow, dry_run_jobs, snakemake
    wf = copy_workflow(tmp_path / "wf")
    new = tmp_path / "new_rows.txt"
    new.write_text("")
    target = "results/demo/predictions/fnn/seed2/new_rows.parquet"
    override = f"datasets={{demo: {{predict: {{new_rows: {new}}}}}}}"
    jobs = dry_run_jobs(wf, "--forceall", target, "results/demo/optinter.json",
                        "--config", override)
    by_rule = {}
    for j in jobs:
        by_rule.setdefault(j["rule"], []).append(j)
    (pred,) = by_rule["predict"]
    assert pred["input"] == f"results/demo/runs/fnn/seed2.model, {new}"
    assert pred["output"] == f"{target}, results/demo/predictions/fnn/seed2/new_rows.json"
    trained = by_rule["train_model_seed"] + by_rule["train_model"]
    assert trained
    for j in trained:
        out = j["output"].split(", ")
        assert len(out) == 2 and out[1] == out[0][:-len(".json")] + ".model", j
        assert "data/interim/demo/vocab/stats.json" in j["input"], j
    # a name that is not configured: one message naming the key to set
    r = snakemake(wf, "--dry-run", "results/demo/predictions/fnn/seed2/other.parquet",
                  check=False)
    assert r.returncode != 0 and "datasets.demo.predict.other is not set" in r.stdout + r.stderr


def test_every_registered_model_round_trips_through_a_bundle(demo, tmp_path):
    """Each model of the registry (its weights perturbed from the initialisation, so a
    re-initialised model would differ) loads back from its bundle with the same outputs."""
    from optinter.model.registry import MODELS
    fmap = FeatureMap.load(demo["data"])
    arch = _architecture(fmap)
    autofis_arch = {"pairs": [{**p, "choice": "factorize" if i % 2 else "naive", "gate": 0.5}
                              for i, p in enumerate(arch["pairs"])]}
    x = example_inputs(fmap, rows=9, seed=4)
    torch.manual_seed(0)
    for name, cls in sorted(MODELS.items()):
        a = {"optinter": arch, "autofis": autofis_arch}.get(name)
        hp = {**HP, "pin_subnet": [4, 2]}
        model = cls(fmap, hp, architecture=a, search_cfg={"factorize_table": "separate"})
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        results = {"model": name, "dataset": "demo", "config": {"hp": hp, "search": {
            "factorize_table": "separate"}}, "run": {"name": name, "model": name}}
        mb.save(tmp_path / name, model, demo["data"], demo["work"] / "vocab", results,
                architecture=a, export_program=False)
        back = mb.load(tmp_path / name)
        model.eval()
        with torch.no_grad():
            assert torch.equal(back.model(*x), model(*x)), name
