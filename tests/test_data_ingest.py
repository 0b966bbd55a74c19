"""Raw readers on the real samples, checked line by line against plain Python parsing."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optinter.data.ingest import ingest, raw_meta
from optinter.data.readers import DataError

CFG = {"threads": 2, "memory_limit": "512MB"}
CRITEO = "criteo/dac_head10000/train.txt"
AVAZU = "avazu/head10000/train.csv"
IPY_TRAIN = "ipinyou/make-ipinyou-data/2259/train.log.txt"
IPY_TEST = "ipinyou/make-ipinyou-data/2259/test.log.txt"
IPY_LOGS = "ipinyou/raw/training2nd"
IPY_HEADER = ("click weekday hour bidid timestamp logtype ipinyouid useragent IP region city "
              "adexchange domain url urlid slotid slotwidth slotheight slotvisibility slotformat "
              "slotprice creative bidprice payprice keypage advertiser usertag").replace(" ", "\t")


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_criteo_every_row_matches_its_line(samples_dir, tmp_path):
    out = tmp_path / "raw.parquet"
    meta = ingest("criteo", samples_dir / CRITEO, out, CFG)
    rows = _rows(out)
    lines = _lines(samples_dir / CRITEO)
    assert meta["rows"] == len(rows) == len(lines) == 10_000
    for i, (row, line) in enumerate(zip(rows, lines)):
        f = line.split("\t")
        assert row["row_id"] == i and row["label"] == int(f[0])
        assert [row[f"I{k}"] for k in range(1, 14)] == [int(x) if x else None for x in f[1:14]]
        assert [row[f"C{k}"] for k in range(1, 27)] == f[14:40]
    assert [n for n, _ in raw_meta(out)["fields"]] == [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)]
    assert raw_meta(out)["source"]["sha256"] == meta["source"]["sha256"]


def test_criteo_gzip_and_crlf_read_the_same(samples_dir, tmp_path):
    text = (samples_dir / CRITEO).read_bytes()
    plain, gz, crlf = tmp_path / "p.txt", tmp_path / "g.txt.gz", tmp_path / "crlf.txt"
    plain.write_bytes(text)
    gz.write_bytes(gzip.compress(text))
    crlf.write_bytes(text.replace(b"\n", b"\r\n"))
    tables = []
    for src in (plain, gz, crlf):
        ingest("criteo", src, tmp_path / f"{src.name}.parquet", CFG)
        tables.append(pq.read_table(tmp_path / f"{src.name}.parquet").replace_schema_metadata())
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])


def test_avazu_drops_id_and_derives_time_fields(samples_dir, tmp_path):
    out = tmp_path / "raw.parquet"
    ingest("avazu", samples_dir / AVAZU, out, CFG)
    rows = _rows(out)
    with open(samples_dir / AVAZU, newline="") as f:
        recs = list(csv.DictReader(f))
    assert len(rows) == len(recs) == 8999
    fields = [n for n, _ in raw_meta(out)["fields"]]
    assert len(fields) == 24 and "id" not in fields and "click" not in fields
    for i, (row, rec) in enumerate(zip(rows, recs)):
        day = dt.datetime.strptime(rec["hour"], "%y%m%d%H")
        assert row["row_id"] == i and row["label"] == int(rec["click"])
        assert row["hour"] == rec["hour"][6:8]
        assert row["weekday"] == str(int(day.strftime("%w")))
        assert row["is_weekend"] == ("1" if day.weekday() >= 5 else "0")
        assert all(row[k] == rec[k] for k in fields if k not in ("hour", "weekday", "is_weekend"))


def _ipinyou_expect(f: list[str]) -> dict:
    """The 16 fields of the paper from one make-ipinyou-data line, as mkyzx.py derives them."""
    price = int(f[20])
    bucket = ("101+" if price > 100 else "51-100" if price > 50 else "11-50" if price > 10
              else "1-10" if price > 0 else "0")
    names = {"weekday": 1, "hour": 2, "IP": 8, "region": 9, "city": 10, "adexchange": 11,
             "domain": 12, "slotid": 15, "slotwidth": 16, "slotheight": 17, "slotvisibility": 18,
             "slotformat": 19, "creative": 21, "advertiser": 25, "useragent": 7}
    return {**{k: f[v] for k, v in names.items()}, "slotprice": bucket, "label": int(f[0])}


@pytest.mark.parametrize("name,ncols", [(IPY_TRAIN, 27), (IPY_TEST, 29)])
@pytest.mark.parametrize("header", [False, True])
def test_ipinyou_make_layout_with_and_without_header(samples_dir, tmp_path, name, ncols, header):
    lines = _lines(samples_dir / name)
    src = tmp_path / "log.txt"
    hdr = IPY_HEADER + ("\tnclick\tnconversation" if ncols == 29 else "")
    src.write_text("\n".join(([hdr] if header else []) + lines) + "\n")
    out = tmp_path / "raw.parquet"
    ingest("ipinyou", src, out, CFG)
    rows = _rows(out)
    assert len(rows) == len(lines)
    assert len(raw_meta(out)["fields"]) == 16
    for i, (row, line) in enumerate(zip(rows, lines)):
        f = line.split("\t")
        assert len(f) == ncols and row["row_id"] == i
        assert {k: row[k] for k in _ipinyou_expect(f)} == _ipinyou_expect(f)


def test_ipinyou_raw_logs_join_clicks_on_bidid_and_creative(samples_dir, tmp_path):
    out = tmp_path / "raw.parquet"
    ingest("ipinyou", samples_dir / IPY_LOGS, out, CFG)
    rows = _rows(out)
    imp = _lines(next((samples_dir / IPY_LOGS).glob("imp.*")))
    clk = {(f[0], f[18]) for f in (l.split("\t") for l in _lines(next((samples_dir / IPY_LOGS).glob("clk.*"))))}
    assert len(rows) == len(imp) == 6000
    for i, (row, line) in enumerate(zip(rows, imp)):
        f = line.split("\t")
        day = dt.date(int(f[1][:4]), int(f[1][4:6]), int(f[1][6:8]))
        assert row["row_id"] == i
        assert row["label"] == int((f[0], f[18]) in clk)
        assert row["weekday"] == day.strftime("%w") and row["hour"] == f[1][8:10]
        assert row["creative"] == f[18] and row["region"] == f[6]
    assert sum(r["label"] for r in rows) == 4  # README: 4 impressions join by bidid-creative


def test_ipinyou_raw_logs_row_id_runs_across_files(samples_dir, tmp_path):
    logs = samples_dir / IPY_LOGS
    imp = _lines(next(logs.glob("imp.*")))
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "imp.20130606.txt").write_text("\n".join(imp[:2500]) + "\n")
    (folder / "imp.20130607.txt.gz").write_bytes(gzip.compress(("\n".join(imp[2500:]) + "\n").encode()))
    (folder / "clk.20130606.txt.gz").write_bytes(gzip.compress(next(logs.glob("clk.*")).read_bytes()))
    with pytest.raises(DataError, match="mixes gzip and plain"):
        ingest("ipinyou", folder, tmp_path / "x.parquet", CFG)
    (folder / "imp.20130606.txt.gz").write_bytes(gzip.compress((folder / "imp.20130606.txt").read_bytes()))
    (folder / "imp.20130606.txt").unlink()
    ingest("ipinyou", folder, tmp_path / "split.parquet", CFG)
    ingest("ipinyou", logs, tmp_path / "whole.parquet", CFG)
    a = pq.read_table(tmp_path / "split.parquet").replace_schema_metadata()
    b = pq.read_table(tmp_path / "whole.parquet").replace_schema_metadata()
    assert a.equals(b)


# ------------------------------------------------------------------------------ bad input

def _criteo_lines(samples_dir: Path, n: int = 50) -> list[str]:
    return _lines(samples_dir / CRITEO)[:n]


def _set_field(line: str, k: int, value: str) -> str:
    f = line.split("\t")
    f[k] = value
    return "\t".join(f)


BAD_CRITEO = {
    "columns": (lambda ls: ls.__setitem__(4, "\t".join(ls[4].split("\t")[:-2])), 5,
                "expected 40 tab-separated fields .* found 38"),
    "integer": (lambda ls: ls.__setitem__(6, _set_field(ls[6], 3, "1.5")), 7,
                "I3: expected an integer or empty, found '1.5'"),
    "label": (lambda ls: ls.__setitem__(2, _set_field(ls[2], 0, "2")), 3,
              "label: expected 0 or 1, found '2'"),
    "blank": (lambda ls: ls.__setitem__(3, ""), 4, "empty line"),
}


@pytest.mark.parametrize("case", sorted(BAD_CRITEO))
def test_bad_criteo_lines_are_named_and_leave_nothing(samples_dir, tmp_path, case):
    edit, line_no, message = BAD_CRITEO[case]
    lines = _criteo_lines(samples_dir)
    edit(lines)
    src, out = tmp_path / "bad.txt", tmp_path / "out" / "raw.parquet"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{src}: line {line_no}: {message}"):
        ingest("criteo", src, out, CFG)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_first_bad_line_is_reported_in_a_large_file(samples_dir, tmp_path):
    lines = _lines(samples_dir / CRITEO) * 5  # 50k lines: several parallel scan blocks
    lines[41_000] = _set_field(lines[41_000], 0, "x")
    lines[30_123] = _set_field(lines[30_123], 13, "abc")
    src = tmp_path / "big.txt"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"line 30124: I13: expected an integer"):
        ingest("criteo", src, tmp_path / "raw.parquet", CFG)


def test_bad_avazu_hour_counts_the_header_line(samples_dir, tmp_path):
    lines = _lines(samples_dir / AVAZU)[:20]
    f = lines[5].split(",")
    f[2] = "14109925"
    lines[5] = ",".join(f)
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{src}: line 6: hour: expected YYMMDDHH, found '14109925'"):
        ingest("avazu", src, tmp_path / "raw.parquet", CFG)
    src.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(DataError, match="line 1: expected the Avazu header"):
        ingest("avazu", src, tmp_path / "raw.parquet", CFG)


def test_bad_ipinyou_field_count_and_label(samples_dir, tmp_path):
    lines = _lines(samples_dir / IPY_TRAIN)[:30]
    src = tmp_path / "bad.log.txt"
    src.write_text("\n".join(lines[:9] + [lines[9] + "\textra"] + lines[10:]) + "\n")
    with pytest.raises(DataError, match=rf"{src}: line 10: expected 27 tab-separated fields .* found 28"):
        ingest("ipinyou", src, tmp_path / "raw.parquet", CFG)
    src.write_text("\n".join(lines[:3] + ["7" + lines[3][1:]] + lines[4:]) + "\n")
    with pytest.raises(DataError, match=rf"line 4: click: expected 0 or 1, found '7'"):
        ingest("ipinyou", src, tmp_path / "raw.parquet", CFG)
    imp = _lines(next((samples_dir / IPY_LOGS).glob("imp.*")))[:5]
    src.write_text("\n".join(imp) + "\n")
    with pytest.raises(DataError, match="raw imp.* log; pass the directory"):
        ingest("ipinyou", src, tmp_path / "raw.parquet", CFG)


@pytest.mark.parametrize("fmt", ["criteo", "avazu", "ipinyou"])
def test_empty_and_missing_files(tmp_path, fmt):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match=rf"{empty}: empty file"):
        ingest(fmt, empty, tmp_path / "raw.parquet", CFG)
    empty_gz = tmp_path / "empty.txt.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match=rf"{empty_gz}: empty file"):
        ingest(fmt, empty_gz, tmp_path / "raw.parquet", CFG)
    with pytest.raises(DataError, match=rf"{tmp_path / 'nope.txt'}: no such file"):
        ingest(fmt, tmp_path / "nope.txt", tmp_path / "raw.parquet", CFG)
    assert not (tmp_path / "raw.parquet").exists()


def test_header_only_avazu_has_no_data_lines(samples_dir, tmp_path):
    src = tmp_path / "h.csv"
    src.write_text(_lines(samples_dir / AVAZU)[0] + "\n")
    with pytest.raises(DataError, match="no data lines"):
        ingest("avazu", src, tmp_path / "raw.parquet", CFG)
