"""Corrupt intermediates: a damaged checkpoint is set aside and training restarts (never a
traceback, never the same crash on every rerun); a processed split out of step with
feature_map.json, a truncated split or feature_map.json is refused before training, naming the
file and how to rebuild it; a damaged .gz raw file is a one-line message."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from optinter.data.demo import generate
from optinter.data.ingest import ingest
from optinter.data.readers import DataError
from optinter.io import StageOutputError
from optinter.model.stages import run_model

HP = {"batch_size": 300, "s1": 4, "s2": 3, "mlp": [16, 8], "lr": 3e-3, "lr_c": 3e-3,
      "lr_a": 1e-2, "l2_o": 0.0, "l2_c": 1e-6, "eps": 1e-8, "epochs": 2, "patience": 5}
TRAIN = {"seed": 4, "checkpoint_every_steps": 3, "sparse_embeddings": True, "device": "cpu"}
ARCH = ["memorize", "factorize"] * 5


class Interrupt(Exception):
    pass


def _stop_at(step):
    def hook(state):
        if state.step == step:
            raise Interrupt
    return hook


class _Planted:
    """Unpickling this calls open(path, "w"): the file appears only if the pickle ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _run(data, tmp_path, tag, hook=None):
    return run_model("optinter", data, HP, TRAIN, 4, tmp_path / f"{tag}.json", tmp_path / tag,
                     architecture=ARCH, on_step=hook)


def _damage(path: Path, kind: str, tmp_path: Path) -> None:
    good = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "random":
        path.write_bytes(os.urandom(len(good)))
    elif kind == "malicious":
        torch.save({"fingerprint": "x", "state": {}, "model": {}, "opts": {}, "rng": None,
                    "payload": _Planted(tmp_path / "ran")}, path)
    elif kind == "foreign":  # loads as tensors, but not this model's
        torch.save({"weight": torch.zeros(3)}, path)


@pytest.fixture(scope="module")
def uninterrupted(tiny_processed, tmp_path_factory):
    return _run(tiny_processed, tmp_path_factory.mktemp("full"), "full")


KINDS = ["empty", "truncated", "random", "malicious", "foreign"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_a_damaged_checkpoint_is_set_aside_and_training_restarts(
        tiny_processed, tmp_path, uninterrupted, caplog, name, kind):
    with pytest.raises(Interrupt):
        _run(tiny_processed, tmp_path, "cut", _stop_at(11))  # leaves last.pt and best.pt
    ckpt = tmp_path / "cut" / name
    assert ckpt.exists()
    _damage(ckpt, kind, tmp_path)
    with caplog.at_level(logging.WARNING, logger="optinter.model.checkpoint"):
        out = _run(tiny_processed, tmp_path, "cut")
    warned = [r.getMessage() for r in caplog.records if r.name == "optinter.model.checkpoint"]
    assert len(warned) == 1 and warned[0].startswith(f"{ckpt}: found "), warned
    assert "training restarts from its beginning" in warned[0] and "\n" not in warned[0]
    assert "weights_only" not in warned[0] and "safe_globals" not in warned[0]
    assert (ckpt.parent / f"{name}.corrupt").exists()
    assert not (tmp_path / "ran").exists()  # the malicious pickle never ran
    # from its beginning: the same result as a run never interrupted
    assert out["valid_auc"] == uninterrupted["valid_auc"]
    assert out["history"] == uninterrupted["history"]
    # and the next rerun is not stuck: it resumes the finished run's checkpoint
    again = _run(tiny_processed, tmp_path, "cut")
    assert again["valid_auc"] == out["valid_auc"]


def test_a_best_pt_damaged_at_the_end_is_refused_and_the_rerun_restarts(
        tiny_processed, tmp_path, uninterrupted, monkeypatch):
    from optinter.io import CheckpointError
    from optinter.model import checkpoint

    read_best = checkpoint.read_best

    def damaged_first(ckpt_dir, model):
        (Path(ckpt_dir) / "best.pt").write_bytes(b"\0" * 100)
        return read_best(ckpt_dir, model)

    monkeypatch.setattr(checkpoint, "read_best", damaged_first)
    with pytest.raises(CheckpointError, match="best.pt: unusable when training ended .*run the "
                                              "same command again"):
        _run(tiny_processed, tmp_path, "cut")
    monkeypatch.setattr(checkpoint, "read_best", read_best)
    assert not (tmp_path / "cut" / "last.pt").exists()
    assert _run(tiny_processed, tmp_path, "cut")["history"] == uninterrupted["history"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


PROCESSED = {
    "test copied over train": lambda d: shutil.copy(d / "test.parquet", d / "train.parquet"),
    "train truncated": lambda d: (d / "train.parquet").write_bytes(
        (d / "train.parquet").read_bytes()[:5000]),
    "valid empty": lambda d: (d / "valid.parquet").write_bytes(b""),
    "feature_map truncated": lambda d: (d / "feature_map.json").write_text(
        (d / "feature_map.json").read_text()[:200]),
    "feature_map not a map": lambda d: (d / "feature_map.json").write_text('{"fields": 3}'),
}
NAMED = {"test copied over train": ("train.parquet", "rows, but feature_map.json records"),
         "train truncated": ("train.parquet", "cannot open as Parquet"),
         "valid empty": ("valid.parquet", "cannot open as Parquet"),
         "feature_map truncated": ("feature_map.json", "not valid JSON"),
         "feature_map not a map": ("feature_map.json", "expected a list")}


@pytest.mark.parametrize("case", list(PROCESSED))
def test_a_damaged_processed_file_is_refused_before_training(tiny_processed, tmp_path, case):
    data = _copy(tiny_processed, tmp_path / "data" / "processed" / "x")
    PROCESSED[case](data)
    with pytest.raises(StageOutputError) as info:
        _run(data, tmp_path, "ck")
    msg = str(info.value)
    name, what = NAMED[case]
    assert msg.startswith(f"{data / name}: ") and what in msg and "\n" not in msg
    assert f"rm -r {data}" in msg and "--forcerun encode" in msg
    assert not (tmp_path / "ck.json").exists() and not (tmp_path / "ck" / "last.pt").exists()


def test_rows_recorded_in_feature_map_are_those_of_the_files(tiny_processed):
    """The invariant the row check relies on (else it would refuse good data)."""
    import pyarrow.parquet as pq
    fmap = json.loads((tiny_processed / "feature_map.json").read_text())
    for split, rows in fmap["rows"].items():
        assert pq.ParquetFile(tiny_processed / f"{split}.parquet").metadata.num_rows == rows


GZ = {"truncated": lambda b: b[: len(b) // 2],
      "flipped": lambda b: b[:len(b) // 2] + bytes(x ^ 0x55 for x in b[len(b) // 2:][:64])
      + b[len(b) // 2 + 64:],
      "tail cut": lambda b: b[:-6]}


@pytest.mark.parametrize("kind", list(GZ))
def test_a_damaged_gzip_input_is_a_one_line_message(tmp_path, kind):
    src = tmp_path / "train.txt.gz"
    generate(src, tmp_path / "truth.json", 3000, 1)
    src.write_bytes(GZ[kind](src.read_bytes()))
    with pytest.raises(DataError) as info:
        ingest("criteo", src, tmp_path / "raw.parquet", {"threads": 1, "memory_limit": "512MB"})
    msg = str(info.value)
    assert msg.startswith(f"{src}: ") and "\n" not in msg
    assert "gzip" in msg
    assert not list(tmp_path.glob("*raw.parquet*"))


def test_gzip_damage_is_told_apart_from_a_good_file(tmp_path):
    src = tmp_path / "train.txt.gz"
    generate(src, tmp_path / "truth.json", 500, 1)
    with gzip.open(src) as f:
        assert len(f.read().splitlines()) == 500
    assert ingest("criteo", src, tmp_path / "raw.parquet", {"threads": 1})["rows"] == 500


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    from optinter.data.prepare import prepare
    root = tmp_path_factory.mktemp("prepared")
    generate(root / "train.txt", root / "truth.json", 3000, 2)
    prepare("criteo", root / "train.txt", root / "processed", 5, 5,
            {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}, False,
            {"threads": 1, "memory_limit": "512MB"}, root / "interim", min_split_rows=10)
    return root


INTERIM = {  # file damaged -> (stage run next, the rebuild named)
    "raw.parquet": ("vocab", "rm {path} and run the same command again"),
    "vocab/stats.json": ("encode", "rm -r {folder} and run the same command again"),
    "vocab/fields.parquet": ("encode", "rm -r {folder} and run the same command again"),
    "vocab/crosses.parquet": ("encode", "rm -r {folder} and run the same command again"),
}


@pytest.mark.parametrize("name", list(INTERIM))
def test_a_truncated_interim_file_names_the_rebuild(prepared, tmp_path, name):
    from optinter.data.encode import encode
    from optinter.data.vocab import build_vocab
    interim = shutil.copytree(prepared / "interim", tmp_path / "interim")
    path = interim / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    stage, fix = INTERIM[name]
    with pytest.raises(StageOutputError) as info:
        if stage == "vocab":
            build_vocab(path, tmp_path / "vocab", {"train": 0.8, "valid": 0.1, "test": 0.1,
                                                   "seed": 2022}, 5, 5, False, {"threads": 1})
        else:
            encode(interim / "raw.parquet", interim / "vocab", tmp_path / "out", {"threads": 1})
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg
    assert fix.format(path=path, folder=path.parent) in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_truncated_architecture_names_the_rebuild(tiny_processed, tmp_path):
    from optinter.model.stages import run_search
    search = {"relaxation": "gumbel", "tau_start": 1.0, "tau_end": 0.05, "tau_decay_steps": 20,
              "mode": "joint", "factorize_table": "separate", "seed": 4}
    arch = tmp_path / "architecture.json"
    run_search(tiny_processed, dict(HP, epochs=1), search, TRAIN, arch, tmp_path / "search")
    arch.write_text(arch.read_text()[:100])
    with pytest.raises(StageOutputError) as info:
        run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o.json",
                  tmp_path / "ck", architecture=arch)
    msg = str(info.value)
    assert msg.startswith(f"{arch}: not valid JSON") and f"rm {arch}" in msg and "\n" not in msg
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("case", ["test copied over train", "train truncated",
                                  "feature_map truncated"])
def test_the_analysis_stage_refuses_a_damaged_processed_file_too(tiny_processed, tmp_path,
                                                                  case):
    from optinter.analysis.mutual_info import compute
    data = _copy(tiny_processed, tmp_path / "data" / "processed" / "x")
    PROCESSED[case](data)
    with pytest.raises(StageOutputError) as info:
        compute(data, tmp_path / "architecture.json", tmp_path / "mi.parquet",
                tmp_path / "mi.json", {"threads": 1})
    msg = str(info.value)
    assert msg.startswith(f"{data / NAMED[case][0]}: ") and NAMED[case][1] in msg
    assert f"rm -r {data}" in msg and "\n" not in msg
    assert not (tmp_path / "mi.json").exists()


def test_a_workflow_job_tells_the_terminal_of_a_checkpoint_set_aside(tmp_path, capfd):
    """A job that succeeds after setting a checkpoint aside says so on the terminal (one line),
    not only in its log; a damaged stage file ends it with one `error:` line, no traceback."""
    import sys as _sys
    _sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
    try:
        import logged
    finally:
        _sys.path.pop(0)
    from optinter.model import checkpoint
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(b"")
    log = tmp_path / "job.log"
    assert logged.call(str(log), checkpoint.load, ckpt, "cpu") is None
    ckpt.write_bytes(b"")  # twice: one line each time, no handler left behind
    assert logged.call(str(log), checkpoint.load, ckpt, "cpu") is None
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"warning: {ckpt}: found an empty file; moved it to last.pt.corrupt, "
                   "training restarts from its beginning"] * 2
    assert "found an empty file" in log.read_text()

    def damaged():
        raise StageOutputError(f"{tmp_path}/train.parquet: cannot open as Parquet")
    with pytest.raises(SystemExit):
        logged.call(str(log), damaged)
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path}/train.parquet: cannot open as Parquet"]
    assert "Traceback" not in log.read_text()
