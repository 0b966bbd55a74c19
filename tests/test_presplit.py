"""Pre-split sources (reczoo/BARS Criteo_x4 / Avazu_x4 layouts): downloaded from 127.0.0.1,
md5-checked, preprocessed; the processed splits are exactly the rows of their files."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from optinter import config as oc
from optinter.data import readers
from optinter.data.download import DownloadError, extract_member, fetch
from optinter.data.prepare import prepare
from optinter.data.readers import DataError
from test_download import Server
from test_workflow import REPO, copy_workflow, dry_run_jobs

SPLITS = ("train", "valid", "test")
ROWS = {"train": 260, "valid": 120, "test": 130}
AVAZU_HEADER = readers.AVAZU_HEADER


def criteo_csv(n: int, rng: random.Random) -> tuple[str, list[int]]:
    """A Criteo_x4-layout CSV: header line, integers (some written as '5.0', some empty)."""
    lines, labels = [readers.CRITEO_CSV_HEADER], []
    for _ in range(n):
        y = int(rng.random() < 0.3)
        ints = [rng.choice(["", str(rng.randint(0, 40)), f"{rng.randint(0, 9)}.0"])
                for _ in range(13)]
        cats = [rng.choice(["", f"{rng.randrange(16**8):08x}"[:2] + "aa"]) if k % 5 == 0
                else f"c{k}v{rng.randint(0, 4)}" for k in range(26)]
        lines.append(",".join([str(y), *ints, *cats]))
        labels.append(y)
    return "\n".join(lines) + "\n", labels


def avazu_csv(n: int, rng: random.Random) -> tuple[str, list[int]]:
    """An Avazu_x4-layout CSV (the Avazu header and fields)."""
    lines, labels = [AVAZU_HEADER], []
    for i in range(n):
        y = int(rng.random() < 0.2)
        hour = f"1410{21 + rng.randint(0, 9):02d}{rng.randint(0, 23):02d}"
        cats = [f"v{rng.randint(0, 3)}" for _ in range(9)]
        ints = [str(rng.randint(0, 3)) for _ in range(10)]
        row = [f"{10**19 + i}", str(y), hour, ints[0], ints[1], *cats, ints[2], ints[3],
               *(str(rng.randint(0, 5)) for _ in range(8))]
        lines.append(",".join(row))
        labels.append(y)
    return "\n".join(lines) + "\n", labels


def bars_zip(make, seed: int) -> tuple[bytes, dict[str, str], dict[str, list[int]]]:
    """A reczoo-style zip (folder/train.csv, valid.csv, test.csv), member md5s, labels."""
    rng = random.Random(seed)
    buf, md5s, labels = io.BytesIO(), {}, {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for s in SPLITS:
            text, labels[s] = make(ROWS[s], rng)
            zf.writestr(f"BARS_x4/{s}.csv", text)
            md5s[s] = hashlib.md5(text.encode()).hexdigest()
    return buf.getvalue(), md5s, labels


def label_digest(labels) -> str:
    return hashlib.sha256(bytes(int(x) for x in labels)).hexdigest()


def fetch_splits(srv: Server, tmp: Path, md5s: dict[str, str]) -> dict[str, Path]:
    archive = tmp / "download" / "BARS_x4.zip"
    fetch(srv.url("/BARS_x4.zip"), archive)
    out = {}
    for s in SPLITS:
        out[s] = tmp / "splits" / s / f"{s}.csv"
        out[s].parent.mkdir(parents=True, exist_ok=True)
        extract_member(archive, f"{s}.csv", out[s], md5=md5s[s])
    return out


def check_processed(out: Path, fmap: dict, labels: dict[str, list[int]]) -> None:
    assert fmap["rows"] == ROWS
    assert fmap["split"]["from"] == "files"
    start = 0
    for s in SPLITS:
        table = pq.read_table(out / f"{s}.parquet", columns=["row_id", "label"])
        assert table.num_rows == ROWS[s]
        rows = sorted(zip(table["row_id"].to_pylist(), table["label"].to_pylist()))
        # the split's rows are exactly the file's: row_ids run on over train, valid, test
        assert [r for r, _ in rows] == list(range(start, start + ROWS[s]))
        assert label_digest(y for _, y in rows) == label_digest(labels[s])
        start += ROWS[s]


@pytest.mark.parametrize("fmt, make, log_bucket", [("criteo", criteo_csv, True),
                                                   ("avazu", avazu_csv, False)])
def test_bars_splits_download_check_and_stay_the_split(tmp_path, fmt, make, log_bucket):
    body, md5s, labels = bars_zip(make, seed=3)
    srv = Server({"/BARS_x4.zip": body})
    srv.thread.start()
    try:
        files = fetch_splits(srv, tmp_path, md5s)
    finally:
        srv.httpd.shutdown()
    out = tmp_path / "processed"
    fmap = prepare(fmt, {s: files[s] for s in SPLITS}, out, min_count=2, cross_min_count=2,
                   split={"from": "files", "seed": 2022, "order": "shuffled"},
                   log_bucket=log_bucket, work_dir=tmp_path / "work")
    check_processed(out, fmap, labels)
    if fmt == "criteo":  # bucketed integers: categorical, never crossed
        kinds = {f["name"]: f["type"] for f in fmap["fields"]}
        assert kinds["I1"] == "categorical" and len(fmap["pairs"]) == 26 * 25 // 2
    # a wrong member md5 names the archive member and leaves nothing behind
    bad = tmp_path / "bad.csv"
    with pytest.raises(DownloadError, match=r"BARS_x4/valid\.csv: md5 mismatch"):
        extract_member(tmp_path / "download" / "BARS_x4.zip", "valid.csv", bad, md5="0" * 32)
    assert not bad.exists()


def test_a_fraction_split_of_presplit_data_is_refused(tmp_path):
    rng = random.Random(1)
    files = {}
    for s in SPLITS:
        files[s] = tmp_path / f"{s}.csv"
        files[s].write_text(criteo_csv(ROWS[s], rng)[0])
    with pytest.raises(ValueError, match=r"set split: \{from: files\}"):
        prepare("criteo", files, tmp_path / "out", 2, 2,
                {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 1}, work_dir=tmp_path / "w")


def test_wrong_header_names_the_file_and_the_missing_and_extra_columns(tmp_path):
    rng = random.Random(2)
    files = {}
    for s in SPLITS:
        files[s] = tmp_path / f"{s}.csv"
        files[s].write_text(criteo_csv(ROWS[s], rng)[0])
    text = files["valid"].read_text().split("\n", 1)[1]
    header = readers.CRITEO_CSV_HEADER.replace("Label,", "label,").replace(",C26", ",C26,C27")
    files["valid"].write_text(header + "\n" + text)
    with pytest.raises(DataError) as err:
        prepare("criteo", files, tmp_path / "out", 2, 2, {"from": "files", "seed": 1},
                work_dir=tmp_path / "w")
    msg = str(err.value)
    assert msg.startswith(f"{files['valid']}: line 1: expected the Criteo_x4 header")
    assert "missing column Label" in msg
    assert "unexpected columns 'label' (field 1), 'C27' (field 41)" in msg
    assert not (tmp_path / "w" / "raw.parquet").exists()

    # Avazu_x4: a test file without `hour`
    afiles = {}
    for s in SPLITS:
        afiles[s] = tmp_path / f"a_{s}.csv"
        afiles[s].write_text(avazu_csv(ROWS[s], rng)[0])
    lines = afiles["test"].read_text().split("\n")
    lines[0] = lines[0].replace(",hour,", ",")
    afiles["test"].write_text("\n".join(lines))
    with pytest.raises(DataError, match=rf"^{afiles['test']}: line 1: .*missing column hour"):
        prepare("avazu", afiles, tmp_path / "aout", 2, 2, {"from": "files", "seed": 1},
                work_dir=tmp_path / "aw")


def test_a_bad_csv_line_names_its_file_and_line(tmp_path):
    rng = random.Random(4)
    files = {}
    for s in SPLITS:
        files[s] = tmp_path / f"{s}.csv"
        files[s].write_text(criteo_csv(ROWS[s], rng)[0])
    lines = files["test"].read_text().split("\n")
    p = lines[5].split(",")
    p[3] = "1.5"
    lines[5] = ",".join(p)
    files["test"].write_text("\n".join(lines))
    with pytest.raises(DataError, match=rf"^{files['test']}: line 6: I3: expected an integer"):
        prepare("criteo", files, tmp_path / "out", 2, 2, {"from": "files", "seed": 1},
                work_dir=tmp_path / "w")


def test_config_accepts_splits_and_refuses_mixed_forms():
    cfg = oc.load(REPO / "config.yaml")
    for name in ("criteo_x4", "avazu_x4"):
        ds = cfg["datasets"][name]
        assert ds["split"] == {"from": "files", "seed": 2022, "order": "shuffled"}
        assert sorted(ds["source"]["splits"]) == sorted(SPLITS)
    assert cfg["datasets"]["criteo_x4"]["min_count"] == 10 and cfg["datasets"]["criteo_x4"]["log_bucket"]
    assert cfg["datasets"]["avazu_x4"]["min_count"] == 2
    raw = oc.load(REPO / "config.yaml")
    two_lines = {"format": "avazu", "source": {"splits": {s: {"path": f"/d/{s}.csv"} for s in SPLITS}}}
    raw["datasets"] = {"mine": two_lines, "demo": raw["datasets"]["demo"]}
    got = oc.validate(raw)["datasets"]["mine"]
    assert got["split"] == oc.FILE_SPLIT and oc.source_kind(got) == "splits"
    bad = {"format": "avazu", "split": {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 1},
           "source": {"splits": {s: {"member": f"{s}.csv"} for s in SPLITS}}}
    raw["datasets"]["mine"] = bad
    with pytest.raises(oc.ConfigError) as err:
        oc.validate(raw)
    assert "datasets.mine.split: the source is pre-split" in str(err.value)
    assert "datasets.mine.source.splits.train.member: no archive" in str(err.value)


def test_dry_run_resolves_the_bars_targets(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    local = tmp_path / "test.csv"
    local.write_text(AVAZU_HEADER + "\n")
    own = {"format": "avazu", "source": {"splits": {
        "train": {"url": "http://127.0.0.1:9/x/train.csv.gz", "md5": "0" * 32},
        "valid": {"url": "http://127.0.0.1:9/y/valid.zip", "member": "valid.csv"},
        "test": {"path": str(local)}}}}
    extra = tmp_path / "own.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"own": own}}))
    jobs = dry_run_jobs(wf, "results/criteo_x4/optinter.json", "data/interim/own/raw.parquet",
                        "--configfile", str(wf / "config.yaml"), str(extra))
    by_ds = lambda ds: [j for j in jobs if f"dataset={ds}" in j.get("wildcards", "")]  # noqa: E731
    own_rules = sorted(j["rule"] for j in by_ds("own"))
    assert own_rules == ["download_split", "download_split", "extract_split", "ingest"]
    own_ingest = next(j for j in by_ds("own") if j["rule"] == "ingest")
    assert own_ingest["input"].startswith(
        f"data/raw/own/splits/train/download/train.csv.gz, data/raw/own/splits/valid/valid.csv, "
        f"{local}, ")
    jobs = by_ds("criteo_x4")
    rules = [j["rule"] for j in jobs]
    assert rules.count("download") == 1 and rules.count("extract_split") == 3
    ingest = next(j for j in jobs if j["rule"] == "ingest")
    for s in SPLITS:
        assert f"data/raw/criteo_x4/splits/{s}/{s}.csv" in ingest["input"]
    assert "optinter/data/sql/presplit_read_criteo_csv.sql" in ingest["input"]
    download = next(j for j in jobs if j["rule"] == "download")
    assert download["output"].startswith("data/raw/criteo_x4/download/Criteo_x4.zip")
