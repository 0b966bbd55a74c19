"""Hostile archives: a member that is a symbolic or hard link is refused naming it (it used to
be "no member named 'train.txt' (it holds )"), and an extracted name is always a plain file
name inside the extraction folder."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from optinter.data.download import DownloadError, extract_logs, extract_member

BODY = b"1\t2\t3\n" * 10


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _zip_symlink(path: Path, name: str, target: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", b"hello")
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return path


LINKS = {
    "tar symlink": lambda p: _tar(p.with_suffix(".tar.gz"), [
        ("dac/readme.txt", b"x"), _link("dac/train.txt", "/etc/passwd", tarfile.SYMTYPE)]),
    "tar hardlink": lambda p: _tar(p.with_suffix(".tar.gz"), [
        ("dac/readme.txt", b"x"), _link("dac/train.txt", "dac/readme.txt", tarfile.LNKTYPE)]),
    "zip symlink": lambda p: _zip_symlink(p.with_suffix(".zip"), "dac/train.txt", "/etc/passwd"),
}


@pytest.mark.parametrize("case", list(LINKS))
def test_a_member_that_is_a_link_is_refused_naming_it(tmp_path, case):
    archive = LINKS[case](tmp_path / "a")
    out = tmp_path / "raw" / "train.txt"
    with pytest.raises(DownloadError) as info:
        extract_member(archive, "train.txt", out)
    msg = str(info.value)
    kind = "a hard link" if "hard" in case else "a symbolic link"
    assert msg.startswith(f"{archive}: member 'dac/train.txt' is {kind} to ") and "\n" not in msg
    assert "only regular files" in msg
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize("case", list(LINKS))
def test_a_log_that_is_a_link_is_refused_naming_it(tmp_path, case):
    archive = LINKS[case](tmp_path / "a")
    out = tmp_path / "raw" / "logs"
    with pytest.raises(DownloadError, match=r"member 'dac/train.txt' is a (symbolic|hard) link"):
        extract_logs(archive, ["*/train.*"], out)
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["training2nd/..", "..", "training2nd/.imp.1"])
def test_a_log_member_whose_name_is_no_file_name_is_refused(tmp_path, name):
    archive = _tar(tmp_path / "a.tar.gz", [("training2nd/imp.1", BODY), (name, BODY)])
    out = tmp_path / "raw" / "logs"
    with pytest.raises(DownloadError, match=f"archive member '{name}'.* cannot be a file"):
        extract_logs(archive, ["*"], out)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_regular_members_still_extract(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("dac/readme.txt", b"x"), ("dac/train.txt", BODY)])
    extract_member(archive, "train.txt", tmp_path / "train.txt")
    assert (tmp_path / "train.txt").read_bytes() == BODY
    assert extract_logs(archive, ["dac/*"], tmp_path / "logs") == ["readme.txt", "train.txt"]
