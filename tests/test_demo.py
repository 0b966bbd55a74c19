"""The demo / planted generator: raw Criteo format, determinism, class balance, planted signal."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from optinter.data import demo

ROOT = Path(__file__).resolve().parents[1]
HEX8 = re.compile(r"^[0-9a-f]{8}$")
INT = re.compile(r"^-?[0-9]+$")


def _read(path: Path) -> pd.DataFrame:
    names = ["label"] + demo.INT_FIELDS + demo.CAT_FIELDS
    return pd.read_csv(path, sep="\t", header=None, names=names, dtype=str, keep_default_na=False)


def _gen(tmp_path: Path, rows: int, seed: int, name: str = "d", **kw) -> tuple[Path, dict]:
    raw = tmp_path / f"{name}.txt"
    truth = demo.generate(raw, tmp_path / f"{name}.truth.json", rows, seed, **kw)
    return raw, truth


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    """The dataset the default target builds, with the parameters config.yaml gives it."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    gen = dict(cfg["datasets"]["demo"]["source"]["generate"])
    d = tmp_path_factory.mktemp("demo")
    raw, truth = _gen(d, gen.pop("rows"), gen.pop("seed"), **gen)
    return _read(raw), truth


def test_same_seed_same_bytes_and_prefix(tmp_path):
    a, ta = _gen(tmp_path, 3000, 11, "a")
    b, tb = _gen(tmp_path, 3000, 11, "b")
    c, tc = _gen(tmp_path, 1000, 11, "c")
    other, to = _gen(tmp_path, 3000, 12, "o")
    assert a.read_bytes() == b.read_bytes() and ta == tb
    assert a.read_bytes().startswith(c.read_bytes())  # a smaller file is a prefix of a larger
    assert a.read_bytes() != other.read_bytes()


def test_raw_criteo_format(tmp_path):
    raw, _ = _gen(tmp_path, 2000, 3)
    lines = raw.read_text().split("\n")
    assert lines[-1] == "" and len(lines) == 2001
    for line in lines[:-1]:
        cols = line.split("\t")
        assert len(cols) == 40, line
        assert cols[0] in ("0", "1")
        assert all(v == "" or INT.match(v) for v in cols[1:14]), cols[1:14]
        assert all(v == "" or HEX8.match(v) for v in cols[14:]), cols[14:]
    df = _read(raw)
    assert (df[demo.CAT_FIELDS] == "").to_numpy().any(), "some categorical values should be empty"
    assert (df[demo.INT_FIELDS] == "").to_numpy().any(), "some integer values should be empty"
    assert (df[demo.INT_FIELDS].replace("", "0").astype(int) < 0).to_numpy().any()


def test_gzip_output_has_same_rows(tmp_path):
    plain, _ = _gen(tmp_path, 500, 5, "p")
    demo.generate(tmp_path / "g.txt.gz", tmp_path / "g.json", 500, 5)
    import gzip
    assert gzip.decompress((tmp_path / "g.txt.gz").read_bytes()) == plain.read_bytes()


@pytest.mark.parametrize("ctr", [0.1, 0.5])
def test_class_balance_near_target(tmp_path, ctr):
    raw, truth = _gen(tmp_path, 20000, 4, ctr=ctr)
    mean = (_read(raw)["label"] == "1").mean()
    assert abs(mean - ctr) < 0.015
    assert truth["ctr"] == pytest.approx(mean)


def test_truth_consistent(tmp_path):
    raw, truth = _gen(tmp_path, 500, 9, memorize_pairs=2, factorize_pairs=3)
    pairs = truth["pairs"]
    assert sorted(pairs.values()) == ["factorize"] * 3 + ["memorize"] * 2
    used = []
    for name, method in pairs.items():
        a, b = name.split("_x_")
        assert int(a[1:]) < int(b[1:]), "pair names follow feature_map order"
        assert truth["fields"][a]["role"] == truth["fields"][b]["role"] == method
        used += [a, b]
    assert len(used) == len(set(used))
    card = {m: truth["structure"][f"{m}_cardinality"] for m in ("memorize", "factorize")}
    for f, info in truth["fields"].items():
        if info["role"] in card:
            assert info["cardinality"] == card[info["role"]]
    distinct = _read(raw)[demo.CAT_FIELDS].nunique()
    assert all(distinct[f] <= truth["fields"][f]["cardinality"] for f in demo.CAT_FIELDS)
    assert json.loads((tmp_path / "d.truth.json").read_text()) == truth


def test_explicit_placement_and_bad_input(tmp_path):
    _, truth = _gen(tmp_path, 200, 1, memorize=[["C3", "C1"]], factorize=[["C5", "C9"]])
    assert truth["pairs"] == {"C1_x_C3": "memorize", "C5_x_C9": "factorize"}
    for bad in ({"colour": 1}, {"ctr": 1.5}, {"memorize": [["C1", "C2"], ["C2", "C3"]]},
                {"factorize": [["C1", "X7"]]}):
        with pytest.raises(ValueError):
            _gen(tmp_path, 100, 1, "bad", **bad)
    with pytest.raises(ValueError):
        _gen(tmp_path, 0, 1, "bad")
    assert not list(tmp_path.glob("bad*")), "no partial output after a failure"


def test_oracle_logit_matches_truth(tmp_path):
    raw, truth = _gen(tmp_path, 4000, 21)
    df = _read(raw)
    z = demo.oracle_logit(df.to_numpy(), truth)
    y = (df["label"] == "1").to_numpy()
    assert demo.auc(y, z) == pytest.approx(truth["bayes_auc"], abs=1e-12)
    # an independent check that the logit is calibrated: predicted rate ≈ observed rate by decile
    p = 1 / (1 + np.exp(-z))
    bins = pd.qcut(p, 5, labels=False)
    obs = pd.Series(y).groupby(bins).mean().to_numpy()
    pred = pd.Series(p).groupby(bins).mean().to_numpy()
    assert np.all(np.diff(obs) > 0) and np.max(np.abs(obs - pred)) < 0.06


def _interaction_excess(df: pd.DataFrame, a: str, b: str) -> float:
    """Variance of the double-centred combination label means, over its sampling variance."""
    y = (df["label"] == "1").astype(float)
    g = pd.DataFrame({"a": df[a], "b": df[b], "y": y}).groupby(["a", "b"])["y"]
    m = g.mean().unstack()
    n = g.size().unstack()
    r = m.sub(m.mean(axis=1), axis=0).sub(m.mean(axis=0), axis=1) + m.to_numpy().mean()
    noise = (y.mean() * (1 - y.mean()) / n).to_numpy().mean()
    return float(np.nanmean(r.to_numpy() ** 2) / noise)


def test_memorize_pairs_informative_and_frequent(default_demo):
    df, truth = default_demo
    mem = [p.split("_x_") for p, m in truth["pairs"].items() if m == "memorize"]
    assert mem, "the default demo plants memorize pairs"
    mem_fields = [f for p in mem for f in p]
    # irrelevant pairs of the same cardinality: fields of different planted memorize pairs
    control = [(a, b) for a, b in combinations(mem_fields, 2) if [a, b] not in mem]
    assert control
    planted_x = [_interaction_excess(df, a, b) for a, b in mem]
    control_x = [_interaction_excess(df, a, b) for a, b in control]
    assert min(control_x) > 0.5 and max(control_x) < 2.0, control_x  # pure sampling noise ≈ 1
    assert min(planted_x) > 5 * max(control_x), (planted_x, control_x)
    for a, b in mem:
        # every combination clears cross_min_count=5 in an 80% train split with a wide margin
        counts = df.groupby([a, b]).size()
        card = truth["fields"][a]["cardinality"] * truth["fields"][b]["cardinality"]
        assert len(counts) == card and counts.min() * 0.8 >= 20


def test_factorize_pairs_low_rank_signal_and_rare_combinations(default_demo):
    df, truth = default_demo
    s = demo.structure_from_truth(truth)
    y = (df["label"] == "1").astype(float)
    for a, b, u, v in s.factorize:
        ia = {h: i for i, h in enumerate(s.hexes[a])}
        ib = {h: i for i, h in enumerate(s.hexes[b])}
        # group values by the sign of their first latent factor; the 2x2 label means must show
        # the planted product interaction, measured on the labels alone
        ga = u[df[a].map(ia).to_numpy(int), 0] > 0
        gb = v[df[b].map(ib).to_numpy(int), 0] > 0
        m = y.groupby([ga, gb]).mean()
        contrast = m[(True, True)] + m[(False, False)] - m[(True, False)] - m[(False, True)]
        assert contrast > 0.1, (a, b, contrast)
        # memorising sees too few rows: most combinations fall under cross_min_count in train
        combos = df.groupby([a, b]).size()
        assert (combos * 0.8 < 5).mean() > 0.9
        assert df[a].value_counts().min() * 0.8 >= 5  # each value itself is learnable


def test_dense_graded_structure_shares_fields_and_grades_effects():
    s = demo.build_structure(3, memorize_pairs=24, factorize_pairs=16, memorize_fields=9,
                             factorize_fields=8, strength_spread=4.0,
                             memorize_cardinality=[7, 60], factorize_cardinality=[150, 800],
                             planted_zipf=1.0)
    truth = s.truth_pairs()
    assert sum(m == "memorize" for m in truth.values()) == 24
    assert sum(m == "factorize" for m in truth.values()) == 16
    mem_fields = {f for a, b, _ in s.memorize for f in (a, b)}
    fac_fields = {f for a, b, _, _ in s.factorize for f in (a, b)}
    assert len(mem_fields) <= 9 and len(fac_fields) <= 8 and not mem_fields & fac_fields
    assert all(7 <= len(s.hexes[f]) <= 60 for f in mem_fields)
    assert all(150 <= len(s.hexes[f]) <= 800 for f in fac_fields)
    # graded: the i-th memorize table's sd is scale x 4^(-i/23)
    sds = np.array([t.std() for _, _, t in s.memorize])
    assert np.allclose(sds, 1.2 * 4.0 ** -np.linspace(0, 1, 24))
    # Zipf values on planted fields: the first value is the most frequent
    f = sorted(fac_fields)[0]
    assert s.probs[f][0] > 10 * s.probs[f][-1]
    with pytest.raises(ValueError, match="need more than"):
        demo.build_structure(1, memorize_pairs=10, memorize_fields=4)


def test_avazu_layout_is_read_by_the_avazu_format_with_every_planted_pair(tmp_path):
    """layout avazu: raw Avazu CSV (header, id, click, YYMMDDHH hour, integer and hex columns)
    that format avazu ingests; the planted pairs are pairs of its feature map (named as the
    feature map names them), and the oracle logit read back from the raw file scores the rows
    exactly as the generator did."""
    from optinter.data.prepare import prepare

    raw, truth = _gen(tmp_path, 6000, 4, layout="avazu", memorize_pairs=2, factorize_pairs=2,
                      factorize_cardinality=[150, 300])
    header = raw.read_text().split("\n", 1)[0]
    assert header.split(",")[:4] == ["id", "click", "hour", "C1"] and len(header.split(",")) == 24
    fmap = prepare("avazu", raw, tmp_path / "processed", 5, 5,
                   {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 1},
                   duckdb_cfg={"memory_limit": "1GB", "threads": 1})
    names = {p["name"] for p in fmap["pairs"]}
    assert len(names) == 24 * 23 // 2  # hour, weekday, is_weekend and 21 columns
    assert set(truth["pairs"]) <= names and len(truth["pairs"]) == 4
    assert not truth["int_effects"]
    labels, rows = demo.read_raw(raw, truth)
    assert rows.shape == (6000, 24) and labels.mean() == pytest.approx(truth["ctr"])
    assert demo.auc(labels, demo.oracle_logit(rows, truth)) == pytest.approx(truth["bayes_auc"],
                                                                              abs=1e-12)
    with pytest.raises(ValueError, match="expected rows of 40 columns"):
        demo.oracle_logit(rows, _gen(tmp_path, 10, 4, "c")[1])
