"""Hostile names: every configured or archived name that becomes a file name is a plain file
name, refused at config load naming the key (a `member: '..'` once made Snakemake clear all of
data/raw), and files are never written through a link planted in their place."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from optinter import config as oc
from optinter import paths
from optinter.io import open_new

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw_cfg() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _set(cfg: dict, dotted: str, value) -> None:
    *head, last = dotted.split(".")
    node = cfg
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


HOSTILE = [
    ("datasets.criteo.source.member", ".."),
    ("datasets.criteo.source.member", "."),
    ("datasets.criteo.source.member", "../../x"),
    ("datasets.criteo.source.member", "dac/train.txt"),
    ("datasets.criteo.source.member", "..\\train.txt"),
    ("datasets.criteo.source.member", ".train.txt.abc.tmp"),
    ("datasets.criteo.source.member", "train\n.txt"),
    ("datasets.avazu.source.member", "../avazu"),
    ("datasets.criteo_x4.source.splits.train.member", ".."),
    ("datasets.avazu_x4.source.splits.test.member", "../../etc/passwd"),
    ("datasets.ipinyou.source.logs.0", "../*"),
    ("datasets.ipinyou.source.logs.1", "/etc/*"),
    ("datasets.criteo.source.url", "https://example.org/a/.."),
    ("datasets.criteo.source.url", "https://example.org/"),
    ("datasets.criteo.source.url", "https://example.org/.hidden"),
]


@pytest.mark.parametrize("key,value", HOSTILE, ids=[f"{k}={v!r}" for k, v in HOSTILE])
def test_a_name_that_is_not_a_plain_file_name_is_refused_naming_the_key(raw_cfg, key, value):
    cfg = copy.deepcopy(raw_cfg)
    _set(cfg, key, value)
    with pytest.raises(oc.ConfigError) as info:
        oc.validate(cfg)
    lines = str(info.value).splitlines()[1:]
    shown = re.sub(r"\.(\d+)$", r"[\1]", key)  # logs.0 -> logs[0]
    assert len(lines) == 1 and lines[0].strip().startswith(f"{shown}: "), str(info.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,hello", "ftp://h/x.gz",
                                 "https:///x.gz", "http//h/x.gz"])
def test_the_config_takes_http_addresses_only(raw_cfg, url):
    cfg = copy.deepcopy(raw_cfg)
    cfg["datasets"]["criteo"]["source"]["url"] = url
    with pytest.raises(oc.ConfigError, match=r"datasets\.criteo\.source\.url: "):
        oc.validate(cfg)


@pytest.mark.parametrize("name", ["train.txt", "train.gz", "Criteo_x4.zip", "a..b", "x y.csv"])
def test_plain_names_pass(raw_cfg, name):
    cfg = copy.deepcopy(raw_cfg)
    cfg["datasets"]["criteo"]["source"]["member"] = name
    cfg["datasets"]["criteo"]["source"]["url"] = f"https://example.org/d/{name}?x=1"
    oc.validate(cfg)
    assert paths.name_problem(name) is None and paths.url_file(f"https://h/{name}") == name


@pytest.mark.parametrize("member,base", [("train.txt", "train.txt"),
                                         ("./dac/train.txt.bz2", "train.txt.bz2"),
                                         ("a/..", None), ("..", None), ("dac/.hidden", None),
                                         ("a\\..", None)])
def test_archive_member_base_names(member, base):
    if base:
        assert paths.member_file(member) == base
    else:
        with pytest.raises(ValueError, match="cannot be a file"):
            paths.member_file(member)


def test_a_planted_link_is_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out.part"
    link.symlink_to(victim)
    for mode in ("wb", "ab"):
        with pytest.raises(OSError):
            open_new(link, mode)
    assert victim.read_text() == "precious"
    plain = tmp_path / "plain"
    with open_new(plain) as f:
        f.write(b"x")
    with open_new(plain, "ab") as f:
        f.write(b"y")
    assert plain.read_bytes() == b"xy" and not os.path.islink(plain)


def test_snakemake_refuses_the_config_before_deleting_anything(tmp_path):
    """The data-loss case: member '..' made `--delete-temp-output` clear all of data/raw."""
    from test_workflow import copy_workflow, snakemake

    wf = copy_workflow(tmp_path / "wf")
    keep = wf / "data" / "raw" / "criteo" / "download" / "archive.tar.gz"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"a download that took hours")
    extra = wf / "hostile.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"criteo": {"source": {"member": ".."}}}}))
    proc = snakemake(wf, "--delete-temp-output", "data/processed/criteo/feature_map.json",
                     "--configfile", str(wf / "config.yaml"), str(extra), check=False)
    assert proc.returncode != 0
    assert "datasets.criteo.source.member: '..': expected a file name" in proc.stdout + proc.stderr
    assert keep.read_bytes() == b"a download that took hours"
