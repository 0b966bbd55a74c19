"""format: table (issue 24): any file DuckDB reads, its columns declared by the dataset, read by
the same reader as the built-in formats (optinter.data.table), whose presets they are."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optinter.data import example
from optinter.data.prepare import prepare
from optinter.data.readers import DataError

SPLIT = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
SPEC = {"label": "clicked", "categorical": list(example.CATEGORICAL),
        "numeric": list(example.NUMERIC)}
DUCK = {"threads": 1, "memory_limit": "1GB"}


def _prepare(src, out: Path, spec=SPEC, fmt="table", **kw):
    kw.setdefault("min_split_rows", 10)
    return prepare(fmt, src, out, 5, 5, kw.pop("split", SPLIT), duckdb_cfg=DUCK,
                   spec=spec if fmt == "table" else None, **kw)


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> Path:
    return example.write(tmp_path_factory.mktemp("own") / "clicks.parquet", rows=3000)


def test_parquet_of_its_own_naming_goes_through_ingest_vocab_encode(clicks, tmp_path):
    fm = _prepare(clicks, tmp_path / "out")
    kinds = {f["name"]: f["type"] for f in fm["fields"]}
    assert [n for n, k in kinds.items() if k == "continuous"] == list(example.NUMERIC)
    assert [n for n, k in kinds.items() if k == "categorical"] == list(example.CATEGORICAL)
    assert len(fm["pairs"]) == 12 * 11 // 2 and fm["format"] == "table"
    train = pq.read_table(tmp_path / "out" / "train.parquet")
    assert train.column_names[:2] == ["row_id", "label"]
    assert sum(fm["rows"].values()) == 3000
    assert set(train["label"].to_pylist()) == {0, 1}
    # a missing browser is its own category '' (a value like any other), a missing number 0.0
    raw = pq.read_table(tmp_path / ".out-work" / "raw.parquet")
    assert raw["browser"].null_count == 0 and "" in set(raw["browser"].to_pylist())
    assert raw["dwell_seconds"].null_count > 0 and raw.schema.field("price").type == pa.float64()


@pytest.mark.parametrize("name", ["clicks.csv", "clicks.tsv.gz", "clicks.jsonl"])
def test_csv_tsv_and_json_lines_give_the_parquets_processed_files(clicks, tmp_path, name):
    want = tmp_path / "parquet"
    _prepare(clicks, want)
    src = example.write(tmp_path / name, rows=3000)
    _prepare(src, tmp_path / "other")
    for s in ("train", "valid", "test"):
        assert (tmp_path / "other" / f"{s}.parquet").read_bytes() == \
            (want / f"{s}.parquet").read_bytes(), s


def test_declared_pairs_min_count_and_missing(clicks, tmp_path):
    spec = {**SPEC, "categorical": [*SPEC["categorical"][:-1],
                                    {"name": "weekday", "min_count": 100000}],
            "missing": "unknown"}
    fm = _prepare(clicks, tmp_path / "out", spec,
                  pairs=[["site", "ad_category"], ["device", "placement"]],
                  field_min_count={"weekday": 100000})
    assert [p["name"] for p in fm["pairs"]] == ["ad_category_x_site", "device_x_placement"]
    by_name = {f["name"]: f for f in fm["fields"]}
    assert by_name["weekday"]["vocab_size"] == 1        # every value under its own min_count
    assert fm["thresholds"]["min_count_by_field"] == {"weekday": 100000}
    raw = pq.read_table(tmp_path / ".out-work" / "raw.parquet")
    assert "unknown" in set(raw["browser"].to_pylist())
    with pytest.raises(ValueError, match=r"pairs: \['site', 'price'\] is not a pair of two "
                                         r"categorical fields"):
        _prepare(clicks, tmp_path / "bad", pairs=[["site", "price"]])


def test_criteo_sample_through_format_table_is_byte_identical(samples_dir, tmp_path):
    """The built-in criteo format is a preset of this reader: the shared Criteo sample declared
    as a table (TSV, no header) gives the same processed files; feature_map.json differs in
    `format` only."""
    src = samples_dir / "criteo/dac_head10000/train.txt"
    names = ["label", *(f"I{k}" for k in range(1, 14)), *(f"C{k}" for k in range(1, 27))]
    spec = {"label": "label", "numeric": names[1:14], "categorical": names[14:],
            "read": {"format": "tsv", "header": False, "names": names}}
    split = {**SPLIT, "order": "shuffled"}
    for log_bucket in (False, True):
        out = {k: tmp_path / f"{k}{log_bucket}" / "sample" for k in ("criteo", "table")}
        a = _prepare(src, out["criteo"], fmt="criteo", split=split, log_bucket=log_bucket)
        b = _prepare(src, out["table"], spec, split=split, log_bucket=log_bucket)
        for s in ("train", "valid", "test"):
            assert (out["criteo"] / f"{s}.parquet").read_bytes() == \
                (out["table"] / f"{s}.parquet").read_bytes(), s
        assert (a.pop("format"), b.pop("format")) == ("criteo", "table")
        assert a == b


# ----------------------------------------------------------------------- messages, no output

def _csv(tmp_path: Path, text: str, name="bad.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


HEAD = "clicked,a,b,x\n"
SMALL = {"label": "clicked", "categorical": ["a", "b"], "numeric": ["x"]}


@pytest.mark.parametrize("body,where,what", [
    ("1,u,v,3\n2,u,v,1\n", "line 3", "column clicked (the label): expected 0 or 1, found '2'"),
    ("1,u,v,3\n,u,v,1\n", "line 3", "column clicked (the label): expected 0 or 1, found a "
                                    "missing value"),
    ("1,u,v,3\n0,u,v,1\n1,u,v,abc\n", "line 4", "column x: expected a number or empty, found "
                                                "'abc'"),
    ("1,u,v,3\n0,u,v,inf\n", "line 3", "column x: expected a number or empty, found 'inf'"),
])
def test_bad_values_name_file_line_column_and_expectation(tmp_path, body, where, what):
    src = _csv(tmp_path, HEAD + body)
    with pytest.raises(DataError) as e:
        _prepare(src, tmp_path / "out", SMALL)
    assert str(e.value) == f"{src}: {where}: {what}"
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists() and not list((tmp_path / ".out-work").glob("raw*"))


def test_a_missing_column_and_a_ragged_line_are_named(tmp_path):
    src = _csv(tmp_path, "clicked,a,x\n1,u,3\n")
    with pytest.raises(DataError, match=rf"^{src}: line 1 \(the header\): missing column b "
                                        r"\(expected the columns the dataset declares: label, "
                                        r"numeric, categorical\); found clicked, a, x$"):
        _prepare(src, tmp_path / "out", SMALL)
    src = _csv(tmp_path, HEAD + "1,u,v,3\n" * 50 + "0,u,v\n", "ragged.csv")
    with pytest.raises(DataError, match=rf"^{src}: line 52: Expected Number of Columns: 4 "
                                        r"Found: 3 \(expected every line"):
        _prepare(src, tmp_path / "out", SMALL)
    pq.write_table(pa.table({"clicked": [1, 0], "a": ["u", "v"]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t\.parquet: columns: missing columns x, b"):
        _prepare(tmp_path / "t.parquet", tmp_path / "out", SMALL)


def test_parquet_rows_are_rows_and_booleans_are_labels(tmp_path):
    pq.write_table(pa.table({"clicked": [True, False, None], "a": ["u", "v", "w"],
                             "b": [1, 2, 3], "x": [1.0, None, 2.0]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t\.parquet: row 3: column clicked \(the label\): "
                                        "expected 0 or 1, found a missing value"):
        _prepare(tmp_path / "t.parquet", tmp_path / "out", SMALL)


def test_gzip_json_lines_with_numbers_as_categories(tmp_path):
    p = tmp_path / "rows.jsonl.gz"
    with gzip.open(p, "wt") as f:
        for i in range(400):
            f.write(json.dumps({"clicked": i % 3 == 0, "a": i % 7, "b": f"b{i % 5}",
                                "x": i / 10}) + "\n")
    fm = _prepare(p, tmp_path / "out", SMALL)
    assert [f["name"] for f in fm["fields"]] == ["x", "a", "b"]
    assert json.loads((tmp_path / "out" / "feature_map.json").read_text())["label"] == "label"


def test_zstd_csv_as_duckdb_writes_it(clicks, tmp_path):
    import duckdb

    src = tmp_path / "clicks.csv.zst"
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{clicks}')) TO '{src}' "
               "(FORMAT csv, COMPRESSION zstd)")
    _prepare(clicks, tmp_path / "want")
    _prepare(src, tmp_path / "got")
    assert (tmp_path / "got/train.parquet").read_bytes() == \
        (tmp_path / "want/train.parquet").read_bytes()


# ------------------------------------------------------------------------------ config

def _cfg(**mine) -> dict:
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    cfg["datasets"]["mine"] = {"format": "table", "source": {"path": "clicks.parquet"},
                               "label": "clicked", "categorical": ["a", "b", "c"], **mine}
    return cfg


def test_a_table_dataset_needs_a_few_lines_and_gets_defaults():
    from optinter import config as oc

    cfg = oc.validate(_cfg(numeric=["x"], pairs=[["a", "c"]],
                           categorical=["a", {"name": "b", "min_count": 2}, "c"]))
    ds = cfg["datasets"]["mine"]
    assert (ds["min_count"], ds["cross_min_count"], ds["hparams"]) == (5, 5, "criteo")
    assert oc.table_spec(ds) == {"label": "clicked", "numeric": ["x"],
                                 "categorical": ["a", {"name": "b", "min_count": 2}, "c"]}
    assert oc.field_min_counts(ds) == {"b": 2}
    # the preset's Table IV rows come along (OptInter at lr 1e-4)
    assert oc.model_hparams(cfg, "mine", "optinter")["lr"] == 1.0e-4
    assert oc.table_spec(cfg["datasets"]["criteo"]) is None


@pytest.mark.parametrize("mine,message", [
    ({"label": None}, r"datasets\.mine\.label: None is not of type 'string'"),
    ({"categorical": ["a"]}, r"datasets\.mine\.categorical: \['a'\] is too short"),
    ({"numeric": ["a"]}, r"datasets\.mine: column 'a' is declared more than once"),
    ({"numeric": ["row_id"]}, r"datasets\.mine: a feature column cannot be called 'row_id'"),
    ({"categorical": ["a", "b c"]}, r"datasets\.mine\.categorical\.1: 'b c' is not valid"),
    ({"pairs": [["a", "z"]]}, r"datasets\.mine\.pairs\[0\]: 'z' is not a categorical column"),
    ({"pairs": [["a", "a"]]}, r"datasets\.mine\.pairs\[0\]: \[a, a\] crosses a column with "
                              r"itself"),
    ({"pairs": [["a", "b"], ["b", "a"]]}, r"datasets\.mine\.pairs: a pair is listed twice"),
    ({"read": {"header": False}}, r"datasets\.mine\.read: header: false needs names"),
    ({"format": "criteo"}, r"datasets\.mine\.label: only format table declares its columns "
                           r"\(format criteo has its own\)"),
])
def test_table_config_problems_name_the_key(mine, message):
    from optinter import config as oc

    cfg = _cfg(**mine)
    with pytest.raises(oc.ConfigError, match=message):
        oc.validate(cfg)


@pytest.mark.slow
def test_snakemake_dry_run_of_a_table_dataset(tmp_path):
    from test_workflow import copy_workflow, dry_run_jobs

    wf = copy_workflow(tmp_path / "wf")
    src = example.write(tmp_path / "clicks.parquet", rows=500)
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "datasets:\n  clicks:\n    format: table\n"
        f"    source: {{path: {src}}}\n    label: clicked\n"
        f"    categorical: {json.dumps(list(example.CATEGORICAL))}\n"
        f"    numeric: {json.dumps(list(example.NUMERIC))}\n"
        "    pairs: [[ad_category, site], [device, placement]]\n    seeds: [1]\n")
    jobs = dry_run_jobs(wf, "results/clicks/optinter.json", "--configfile",
                        str(wf / "config.yaml"), str(extra))
    rules = {j["rule"] for j in jobs}
    assert {"ingest", "vocab", "encode", "search_paper", "search", "train_model"} <= rules
    ingest = next(j for j in jobs if j["rule"] == "ingest")
    assert ingest["input"].split(", ")[0] == str(src)
    assert "optinter/data/sql/read_table_parquet.sql" in ingest["input"]
