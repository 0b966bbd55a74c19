"""Data that cannot train is refused by the data stage, before any output (issue 13), with a
one-line message naming the dataset, the split and its counts; a small validation split is
warned about with its AUC standard error; iPinYou logs how many click lines joined. Every file
is derived from the real samples; counts are recomputed here from the raw lines."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optinter.data import checks
from optinter.data.ingest import ingest
from optinter.data.prepare import prepare
from optinter.data.readers import DataError

CFG = {"threads": 1, "memory_limit": "512MB"}
SPLIT = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
CRITEO = "criteo/dac_head10000/train.txt"
IPY_LOGS = "ipinyou/raw/training2nd"
SPLIT_TEXT = re.compile(r"(train|valid|test) has (\d+) rows \((\d+) clicks, (\d+) non-clicks\)")


def _criteo(samples_dir: Path, tmp_path: Path, n: int, label: str | None = None) -> Path:
    lines = (samples_dir / CRITEO).read_text().splitlines()[:n]
    if label is not None:
        lines = [label + line[1:] for line in lines]
    path = tmp_path / "raw" / "train.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _prepare(src: Path, root: Path, name: str = "tiny", fmt: str = "criteo", **kw) -> dict:
    """The workflow's layout: raw.parquet + vocab/ in data/interim/<name>, splits in processed."""
    return prepare(fmt, src, root / "data/processed" / name, 5, 5, SPLIT, False, CFG,
                   root / "data/interim" / name, dataset=name, **kw)


def _refused(src: Path, root: Path, name: str = "tiny", fmt: str = "criteo", **kw) -> str:
    with pytest.raises(DataError) as info:
        _prepare(src, root, name, fmt, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    # ingest's complete raw.parquet stays (the workflow keeps it); nothing else, nothing hidden
    assert [p.name for p in (root / "data/interim" / name).iterdir()] == ["raw.parquet"]
    assert not (root / "data/processed" / name).exists()
    return msg


def _splits(msg: str) -> dict[str, tuple[int, int, int]]:
    return {m[0]: tuple(map(int, m[1:])) for m in SPLIT_TEXT.findall(msg)}


def test_five_rows_are_refused_naming_every_split(samples_dir, tmp_path):
    src = _criteo(samples_dir, tmp_path, 5)
    msg = _refused(src, tmp_path)
    assert msg.startswith(f"dataset tiny ({src}) cannot be trained and evaluated: ")
    assert "Every split needs at least 100 rows (datasets.tiny.min_split_rows): " in msg
    assert "; and both labels, 0 and 1 (" in msg  # valid or test has no click
    got = _splits(msg)
    assert set(got) == {"train", "valid", "test"}  # all three are under 100 rows
    clicks = sum(line[0] == "1" for line in src.read_text().splitlines())
    assert sum(r for r, _, _ in got.values()) == 5 and sum(c for _, c, _ in got.values()) == clicks
    assert all(r == c + n for r, c, n in got.values())


@pytest.mark.parametrize("label", ["0", "1"])
def test_one_label_only_is_refused(samples_dir, tmp_path, label):
    src = _criteo(samples_dir, tmp_path, 2000, label)
    msg = _refused(src, tmp_path)
    got = _splits(msg)
    assert set(got) == {"train", "valid", "test"} and sum(r for r, _, _ in got.values()) == 2000
    for rows, clicks, non in got.values():
        assert (clicks, non) == ((rows, 0) if label == "1" else (0, rows)) and rows >= 100
    assert msg.endswith("Every split needs both labels, 0 and 1 (else there is nothing to learn "
                        "and AUC is undefined): check the source's label column, or use more data")


def test_min_split_rows_is_the_bar(samples_dir, tmp_path):
    src = _criteo(samples_dir, tmp_path, 1000)
    msg = _refused(src, tmp_path, min_split_rows=150)
    got = _splits(msg)
    assert set(got) == {"valid", "test"} and all(r < 150 for r, _, _ in got.values())
    assert "Every split needs at least 150 rows (datasets.tiny.min_split_rows): " in msg
    assert "both labels" not in msg
    fmap = _prepare(src, tmp_path / "ok", min_split_rows=10)  # the same data passes a lower bar
    assert {s: fmap["rows"][s] for s in got} == {s: r for s, (r, _, _) in got.items()}


def test_small_validation_split_is_warned_with_its_auc_standard_error(samples_dir, tmp_path,
                                                                       caplog):
    src = _criteo(samples_dir, tmp_path, 1000)
    with caplog.at_level(logging.WARNING, logger="optinter.data.vocab"):
        fmap = _prepare(src, tmp_path, min_split_rows=10)
    labels = pq.read_table(tmp_path / "data/processed/tiny/valid.parquet")["label"].to_numpy()
    pos, neg = int(labels.sum()), int((labels == 0).sum())
    se = checks.auc_standard_error(pos, neg, checks.AUC_AT)
    assert 0.02 < se < 0.1
    (warning,) = fmap["warnings"]
    assert warning.startswith(
        f"dataset tiny: the validation split has {pos + neg} rows ({pos} clicks)")
    assert f"standard error of its AUC is {se:.4f} (Hanley-McNeil at AUC 0.75)" in warning
    assert warning in caplog.messages


def test_hanley_mcneil_standard_error():
    # by hand: Q1 = .75/1.25 = .6, Q2 = 2 * .5625/1.75; var = (.1875 + 99 (Q1 - .5625)
    # + 99 (Q2 - .5625)) / 100^2 = 0.00118554
    assert checks.auc_standard_error(100, 100, checks.AUC_AT) == pytest.approx(0.0344316, rel=1e-5)
    assert checks.auc_standard_error(0, 100, checks.AUC_AT) == float("inf")
    # a Criteo-sized validation split (4.6M rows, 26 % clicks) is precise enough: no warning
    counts = {"train": (36_000_000, 9_000_000), "valid": (4_600_000, 1_180_000),
              "test": (4_600_000, 1_180_000)}
    assert checks.check_splits("criteo", "train.txt", counts, 100) == []


def _ipinyou_logs(samples_dir: Path, folder: Path, matching: bool) -> tuple[int, int]:
    """80 impressions and 8 click lines of the sample; returns (click lines, lines that join).

    matching: the impressions include those of the sample's 5 joining click lines.
    """
    logs = samples_dir / IPY_LOGS
    imp = next(logs.glob("imp.*")).read_text().splitlines()
    clk = next(logs.glob("clk.*")).read_text().splitlines()
    key = lambda line: tuple(line.split("\t")[i] for i in (0, 18))  # noqa: E731  bidid, creative
    imp_keys = {key(line) for line in imp}
    joining = [line for line in clk if key(line) in imp_keys]
    assert len(joining) == 5  # the sample README: 5 of 1289 click lines join
    clicked = {key(line) for line in joining}
    imps = [line for line in imp if key(line) not in clicked][:80 - 4 * matching]
    if matching:
        imps += [line for line in imp if key(line) in clicked]
    clicks = [line for line in clk if key(line) not in imp_keys][:8 - 5 * matching]
    clicks += joining * matching
    folder.mkdir(parents=True)
    (folder / "imp.20130606.txt").write_text("\n".join(imps) + "\n")
    (folder / "clk.20130606.txt").write_text("\n".join(clicks) + "\n")
    return len(clicks), sum(key(line) in {key(i) for i in imps} for line in clicks)


def test_ipinyou_logs_how_many_click_lines_joined(samples_dir, tmp_path, caplog):
    folder = tmp_path / "logs"
    lines, joined = _ipinyou_logs(samples_dir, folder, matching=True)
    assert (lines, joined) == (8, 5)
    with caplog.at_level(logging.INFO, logger="optinter.data.ingest"):
        meta = ingest("ipinyou", folder, tmp_path / "raw.parquet", CFG)
    assert meta["click_lines"] == {"lines": 8, "joined": 5}
    assert (f"{folder}: 8 click lines in 1 clk.* file: 5 joined an impression (bidid + creative), "
            f"3 did not (their impression is in none of the 1 imp.* file)") in caplog.messages


def test_ipinyou_clicks_that_match_nothing_are_refused_saying_why(samples_dir, tmp_path):
    """The terminal error names the cause (no click joined), not only "one label" later."""
    folder = tmp_path / "logs"
    assert _ipinyou_logs(samples_dir, folder, matching=False) == (8, 0)
    with pytest.raises(DataError) as info:
        ingest("ipinyou", folder, tmp_path / "raw.parquet", CFG)
    msg = str(info.value)
    assert (f"{folder}: 8 click lines in 1 clk.* file: 0 joined an impression (bidid + "
            f"creative), 8 did not") in msg and "\n" not in msg
    assert list(tmp_path.glob("*raw.parquet*")) == []  # refused before any output