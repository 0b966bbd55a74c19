"""Mutual-information analysis: DuckDB MI against numpy on real rows, estimator invariants,
the architecture join and summary, error handling, determinism and the figures."""

from __future__ import annotations

import itertools
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from optinter.analysis import mutual_info as mi_mod

LN2 = math.log(2)


# ---------------------------------------------------------------- independent reference (numpy)
def mi_numpy(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Plug-in MI as sum p(x,y) log2(p(x,y) / p(x)p(y)) and Miller-Madow MI as
    H_MM(X) + H_MM(Y) - H_MM(X,Y), each entropy corrected by (occupied cells - 1) / 2N."""
    _, xi = np.unique(x, return_inverse=True)
    joint = np.zeros((xi.max() + 1, 2))
    np.add.at(joint, (xi, y.astype(int)), 1)
    n = joint.sum()
    p = joint / n
    px, py = p.sum(1), p.sum(0)
    nz = p > 0
    plug = float((p[nz] * np.log2(p[nz] / np.outer(px, py)[nz])).sum())

    def h_mm(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log2(q)).sum() + (q.size - 1) / (2 * n * LN2))

    return plug, h_mm(px) + h_mm(py) - h_mm(p.ravel()), int(px.size)


# ---------------------------------------------------------------- processed data from raw rows
def _ids(keys: np.ndarray, min_count: int) -> np.ndarray:
    """Thresholded ids as in the contract: 0 = OOV (count < min_count), known values 1.. by
    frequency desc (ties by key; MI does not depend on which id a value gets)."""
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(1, order.size + 1)
    return np.where(counts >= min_count, rank, 0)[inverse].astype(np.int32)


def write_processed(out: Path, label: np.ndarray, cats: pd.DataFrame, min_count: int = 5,
                    dataset: str = "sample") -> dict:
    """train.parquet + feature_map.json in the design.md layout, built with numpy/pandas only."""
    out.mkdir(parents=True, exist_ok=True)
    fields = list(cats.columns)
    codes = {f: pd.factorize(cats[f])[0].astype(np.int64) for f in fields}
    cols = {"row_id": np.arange(len(label), dtype=np.int64), "label": label.astype(np.int8),
            "I1": np.linspace(0, 1, len(label), dtype=np.float32)}  # a continuous field: never used
    fmap_fields = [{"name": "I1", "type": "continuous", "min": 0.0, "max": 1.0, "missing_value": 0.0}]
    for f in fields:
        cols[f] = _ids(codes[f], min_count)
        fmap_fields.append({"name": f, "type": "categorical", "vocab_size": int(cols[f].max()) + 1,
                            "oov_id": 0, "crossed": True})
    pairs = []
    for a, b in itertools.combinations(fields, 2):
        name = f"{a}_x_{b}"
        cols[name] = _ids(codes[a] * (codes[b].max() + 1) + codes[b], min_count)
        pairs.append({"name": name, "fields": [a, b], "vocab_size": int(cols[name].max()) + 1,
                      "oov_id": 0})
    pq.write_table(pa.table(cols), out / "train.parquet")
    fmap = {"dataset": dataset, "label": "label", "fields": fmap_fields, "pairs": pairs,
            "rows": {"train": len(label)}, "files": {"train": "train.parquet"}}
    (out / "feature_map.json").write_text(json.dumps(fmap))
    return fmap


def write_architecture(path: Path, fmap: dict, seed: int = 0, memorize: set[str] = frozenset()) -> None:
    """A searched-architecture file: random probabilities, argmax choice; `memorize` pairs forced."""
    rng = np.random.default_rng(seed)
    methods = ["memorize", "factorize", "naive"]
    pairs = []
    for p in fmap["pairs"]:
        probs = rng.dirichlet([1, 1, 1])
        if p["name"] in memorize:
            probs = np.array([0.9, 0.05, 0.05])
        pairs.append({"name": p["name"], "fields": p["fields"], "probs": probs.tolist(),
                      "choice": methods[int(np.argmax(probs))]})
    path.write_text(json.dumps({"dataset": fmap["dataset"], "methods": methods, "pairs": pairs}))


def _criteo(samples: Path) -> tuple[np.ndarray, pd.DataFrame]:
    raw = pd.read_csv(samples / "criteo/dac_head10000/train.txt", sep="\t", header=None,
                      dtype=str, keep_default_na=False)
    return raw[0].astype(int).to_numpy(), raw.iloc[:, 14:].set_axis(
        [f"C{i}" for i in range(1, 27)], axis=1)


def _avazu(samples: Path) -> tuple[np.ndarray, pd.DataFrame]:
    raw = pd.read_csv(samples / "avazu/head10000/train.csv", dtype=str, keep_default_na=False)
    cats = raw.drop(columns=["id", "click", "hour"])
    return raw["click"].astype(int).to_numpy(), cats


@pytest.fixture(scope="module")
def criteo_mi(samples_dir, tmp_path_factory):
    """The real Criteo sample processed (26 fields, 325 pairs) and analysed once per module."""
    out = tmp_path_factory.mktemp("criteo_mi")
    label, cats = _criteo(samples_dir)
    fmap = write_processed(out / "data", label, cats, dataset="criteo_sample")
    write_architecture(out / "arch.json", fmap)
    table = mi_mod.compute(out / "data", out / "arch.json", out / "mi.parquet", out / "mi.json",
                           {"threads": 2, "memory_limit": "1GB"})
    return out, table


# ---------------------------------------------------------------- DuckDB MI == numpy on real rows
@pytest.mark.parametrize("reader", [_criteo, _avazu], ids=["criteo", "avazu"])
def test_mi_matches_numpy_on_real_samples(samples_dir, tmp_path, reader):
    label, cats = reader(samples_dir)
    fmap = write_processed(tmp_path / "data", label, cats)
    train = pd.read_parquet(tmp_path / "data/train.parquet")
    cols = [f["name"] for f in fmap["fields"] if f["type"] == "categorical"]
    cols += [p["name"] for p in fmap["pairs"]]
    got = mi_mod.column_mi(tmp_path / "data/train.parquet", cols).set_index("column")
    assert list(got.index) == cols
    y = train["label"].to_numpy()
    for c in cols:
        plug, mm, distinct = mi_numpy(train[c].to_numpy(), y)
        assert got.at[c, "mi"] == pytest.approx(plug, abs=1e-10), c
        assert got.at[c, "mi_mm"] == pytest.approx(mm, abs=1e-10), c
        assert got.at[c, "distinct"] == distinct, c
    assert got["mi"].max() > 0.01  # real rows carry signal: the comparison is not all zeros


def test_mi_matches_numpy_on_data_layer_output(samples_dir, tmp_path):
    """The same comparison over the real pipeline's ids (skips until optinter.data.prepare exists)."""
    prepare = pytest.importorskip("optinter.data.prepare").prepare
    out = tmp_path / "processed"
    prepare("criteo", samples_dir / "criteo/dac_head10000/train.txt", out, min_count=5,
            cross_min_count=5, split={"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022},
            log_bucket=False, duckdb_cfg={"threads": 2, "memory_limit": "1GB"},
            work_dir=tmp_path / "work")
    fmap = json.loads((out / "feature_map.json").read_text())
    write_architecture(tmp_path / "arch.json", fmap)
    table = mi_mod.compute(out, tmp_path / "arch.json", tmp_path / "mi.parquet", tmp_path / "mi.json")
    train = pd.read_parquet(out / fmap["files"]["train"])
    assert len(table) == len(fmap["pairs"]) > 0
    for r in table.itertuples():
        plug, mm, distinct = mi_numpy(train[r.pair].to_numpy(), train["label"].to_numpy())
        assert (r.mi, r.mi_mm, r.distinct) == (pytest.approx(plug, abs=1e-10),
                                                pytest.approx(mm, abs=1e-10), distinct), r.pair


def test_compute_on_real_sample_matches_numpy_and_architecture(criteo_mi):
    out, table = criteo_mi
    assert list(table.columns) == mi_mod.COLUMNS and len(table) == 325
    train = pd.read_parquet(out / "data/train.parquet")
    y = train["label"].to_numpy()
    for r in table.sample(40, random_state=0).itertuples():
        plug, mm, distinct = mi_numpy(train[r.pair].to_numpy(), y)
        assert (r.mi, r.mi_mm, r.distinct) == (pytest.approx(plug, abs=1e-10),
                                                pytest.approx(mm, abs=1e-10), distinct)
    arch = json.loads((out / "arch.json").read_text())
    expect = pd.DataFrame([{"pair": p["name"], "choice": p["choice"], "p_memorize": p["probs"][0],
                            "p_factorize": p["probs"][1], "p_naive": p["probs"][2]}
                           for p in arch["pairs"]])
    pd.testing.assert_frame_equal(table[expect.columns].reset_index(drop=True), expect)
    assert list(table["field_a"] + "_x_" + table["field_b"]) == list(table["pair"])


def test_corrected_below_plugin_for_high_cardinality_real_pairs(criteo_mi):
    _, table = criteo_mi
    high = table[table["distinct"] >= 50]
    assert len(high) >= 20, "the sample should have many high-cardinality pairs"
    assert (high["mi_mm"] < high["mi"]).all()


def test_summary_matches_table(criteo_mi):
    out, table = criteo_mi
    summary = json.loads((out / "mi.json").read_text(), parse_constant=pytest.fail)
    assert summary["units"] == "bits"
    for m in mi_mod.METHODS:
        sub = table[table["choice"] == m]
        got = summary["by_method"][m]
        assert got["count"] == len(sub)
        assert got["mean"] == pytest.approx(sub["mi"].mean())
        assert got["std"] == pytest.approx(sub["mi"].std(ddof=1))
        assert got["mean_mm"] == pytest.approx(sub["mi_mm"].mean())
    rho, p = stats.spearmanr(table["mi"], table["p_memorize"])
    sp = summary["spearman_p_memorize"]["mi"]
    assert (sp["rho"], sp["p_value"], sp["n"]) == (pytest.approx(rho), pytest.approx(p), 325)
    train = pd.read_parquet(out / "data/train.parquet")
    assert set(summary["fields"]) == {f"C{i}" for i in range(1, 27)}  # categorical only
    plug, _, distinct = mi_numpy(train["C6"].to_numpy(), train["label"].to_numpy())
    assert summary["fields"]["C6"]["mi"] == pytest.approx(plug, abs=1e-10)
    assert summary["fields"]["C6"]["distinct"] == distinct
    h = stats.entropy(np.bincount(train["label"]), base=2)
    assert summary["h_y"] == pytest.approx(h, abs=1e-12)
    assert summary["top_pairs"][0]["mi_mm"] == pytest.approx(table["mi_mm"].max())
    rho, _ = stats.spearmanr(table["mi"], table["distinct"])
    assert summary["spearman_distinct"]["mi"]["rho"] == pytest.approx(rho)


# ---------------------------------------------------------------- estimator invariants
def _write_columns(path: Path, label: np.ndarray, **cols: np.ndarray) -> Path:
    table = {"label": label.astype(np.int8), **{k: v.astype(np.int32) for k, v in cols.items()}}
    pq.write_table(pa.table(table), path)
    return path


def test_independent_pair_is_zero_and_determining_pair_is_h_y(tmp_path):
    rng = np.random.default_rng(1)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(np.int8)
    indep = rng.integers(0, 4, n)
    determines = 2 * rng.integers(0, 3, n) + y  # each value implies the label
    path = _write_columns(tmp_path / "t.parquet", y, indep=indep, determines=determines)
    got = mi_mod.column_mi(path, ["indep", "determines"]).set_index("column")
    h_y = stats.entropy(np.bincount(y), base=2)
    # Under independence 2 N ln2 * MI ~ chi2(3): a bound the plug-in passes 99.99 % of the time.
    bound = stats.chi2.ppf(0.9999, 3) / (2 * n * LN2)
    assert 0 <= got.at["indep", "mi"] < bound
    # the correction subtracts the expected bias (3 / 2N ln2 here), centring the estimate on 0
    assert abs(got.at["indep", "mi_mm"]) < bound
    assert got.at["indep", "mi_mm"] == pytest.approx(got.at["indep", "mi"] - 3 / (2 * n * LN2))
    assert got.at["determines", "mi"] == pytest.approx(h_y, abs=1e-12)
    # Miller-Madow of a determining pair is the Miller-Madow entropy of the label itself.
    assert got.at["determines", "mi_mm"] == pytest.approx(h_y + 1 / (2 * n * LN2), abs=1e-12)
    assert got.at["determines", "distinct"] == 6 and got.at["indep", "distinct"] == 4


def test_corrected_estimate_removes_most_high_cardinality_bias(tmp_path):
    rng = np.random.default_rng(2)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(np.int8)
    wide = rng.integers(0, 2_000, n)  # ~10 rows per value, independent of y
    got = mi_mod.column_mi(_write_columns(tmp_path / "t.parquet", y, wide=wide), ["wide"]).iloc[0]
    assert got["mi"] > 0.03  # plug-in bias ~ (2000 - 1) / (2 N ln2)
    assert got["mi_mm"] < got["mi"]
    assert abs(got["mi_mm"]) < got["mi"] / 3


# ---------------------------------------------------------------- bad input, atomicity, determinism
def test_architecture_mismatch_names_file_and_pair(tiny_processed, tmp_path):
    fmap = json.loads((tiny_processed / "feature_map.json").read_text())
    arch = tmp_path / "arch.json"
    write_architecture(arch, fmap)
    doc = json.loads(arch.read_text())
    dropped = doc["pairs"].pop(3)["name"]
    arch.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"arch\.json.*{dropped}"):
        mi_mod.compute(tiny_processed, arch, tmp_path / "o.parquet", tmp_path / "o.json")
    assert not any(tmp_path.glob("o*")) and not any(tmp_path.glob(".o*"))

    doc["pairs"].append({"name": dropped, "probs": [0.5, 0.5], "choice": "naive"})
    arch.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"arch\.json.*'probs'"):
        mi_mod.compute(tiny_processed, arch, tmp_path / "o.parquet", tmp_path / "o.json")


def test_bad_label_and_missing_column_are_named(tmp_path):
    y = np.array([0, 1, 1, 2, 0])
    path = _write_columns(tmp_path / "bad.parquet", y, a=np.arange(5))
    with pytest.raises(ValueError, match=r"bad\.parquet: row 3 .*label 2.*expected 0 or 1"):
        mi_mod.column_mi(path, ["a"])
    with pytest.raises(ValueError, match=r"bad\.parquet: column 'b' is missing"):
        mi_mod.column_mi(path, ["a", "b"])
    pq.write_table(pa.table({"label": pa.array([0, 1], pa.int8()),
                             "a": pa.array([1, None], pa.int32())}), tmp_path / "null.parquet")
    with pytest.raises(ValueError, match=r"null\.parquet: column 'a' has NULL ids"):
        mi_mod.column_mi(tmp_path / "null.parquet", ["a"])


def test_same_input_same_output(tiny_processed, tmp_path):
    fmap = json.loads((tiny_processed / "feature_map.json").read_text())
    write_architecture(tmp_path / "arch.json", fmap)
    outs = []
    for run, threads in enumerate((1, 2)):
        mi_mod.compute(tiny_processed, tmp_path / "arch.json", tmp_path / f"{run}.parquet",
                       tmp_path / f"{run}.json", {"threads": threads})
        outs.append((pd.read_parquet(tmp_path / f"{run}.parquet"),
                     (tmp_path / f"{run}.json").read_text()))
    pd.testing.assert_frame_equal(outs[0][0], outs[1][0], check_exact=True)
    assert outs[0][1] == outs[1][1]
    # the planted memorise-only pair of the tiny dataset is the most informative one
    assert outs[0][0].sort_values("mi").iloc[-1]["pair"] == "C1_x_C2"


# ---------------------------------------------------------------- figures
def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_figures_written_for_5_and_26_fields(tiny_processed, criteo_mi, tmp_path):
    fmap = json.loads((tiny_processed / "feature_map.json").read_text())
    write_architecture(tmp_path / "arch.json", fmap)
    mi_mod.compute(tiny_processed, tmp_path / "arch.json", tmp_path / "tiny.parquet",
                   tmp_path / "tiny.json")
    out, _ = criteo_mi
    widths = {}
    for name, parquet in (("tiny", tmp_path / "tiny.parquet"), ("criteo", out / "mi.parquet")):
        fig5, fig6 = tmp_path / f"{name}_fig5.png", tmp_path / f"{name}_fig6.png"
        mi_mod.plot(parquet, fig5, fig6)
        for fig in (fig5, fig6):
            w, h = _png_size(fig)
            assert 300 < w < 4000 and 250 < h < 3000, (fig, w, h)
            assert fig.stat().st_size > 10_000
        widths[name] = _png_size(fig6)[0]
    assert widths["criteo"] > 1.5 * widths["tiny"]  # the heat map grows with the field count
    assert not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------- planted demo (optinter.data.demo)
def test_demo_planted_memorise_pairs_have_the_highest_corrected_mi(tmp_path):
    from optinter.data import demo

    truth = demo.generate(tmp_path / "train.txt", tmp_path / "truth.json", rows=20_000, seed=7)
    raw = pd.read_csv(tmp_path / "train.txt", sep="\t", header=None, dtype=str,
                      keep_default_na=False)
    fmap = write_processed(tmp_path / "data", raw[0].astype(int).to_numpy(),
                           raw.iloc[:, 14:].set_axis([f"C{i}" for i in range(1, 27)], axis=1))
    methods = ["memorize", "factorize", "naive"]
    oracle = [{"name": p["name"], "fields": p["fields"], "choice": truth["pairs"].get(p["name"], "naive"),
               "probs": [0.8 if m == truth["pairs"].get(p["name"], "naive") else 0.1 for m in methods]}
              for p in fmap["pairs"]]
    (tmp_path / "arch.json").write_text(json.dumps({"methods": methods, "pairs": oracle}))
    table = mi_mod.compute(tmp_path / "data", tmp_path / "arch.json", tmp_path / "mi.parquet",
                           tmp_path / "mi.json")
    planted = {p for p, m in truth["pairs"].items() if m == "memorize"}
    assert len(planted) >= 2
    summary = json.loads((tmp_path / "mi.json").read_text())
    assert {p["pair"] for p in summary["top_pairs"][:len(planted)]} == planted
    by = summary["by_method"]
    assert by["memorize"]["mean_mm"] > 2 * max(by["factorize"]["mean_mm"], by["naive"]["mean_mm"])
    # plug-in MI alone is pulled up by cardinality: the widest pairs outrank the planted ones
    assert summary["spearman_distinct"]["mi"]["rho"] > summary["spearman_distinct"]["mi_mm"]["rho"]
    assert len(table) == 325
