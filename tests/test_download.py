"""optinter.data.download against a local HTTP server on 127.0.0.1 serving bytes the test wrote."""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from optinter.data import download
from optinter.data.download import DownloadError, extract_logs, extract_member, fetch

PAYLOAD = os.urandom(300_000) + b"end-of-file"


class Server:
    """Serves `files` by path; can cut a transfer half-way and can ignore Range headers."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.cut_first = 0          # number of GETs to cut half-way through the body
        self.honour_range = True
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    status = 206
                chunk = body[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(chunk)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cut_first > 0:
                    server.cut_first -= 1
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = Server({"/data.bin": PAYLOAD})
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_good_download_verifies_and_records_sha256(server, tmp_path):
    out = tmp_path / "raw" / "data.bin"
    digest = fetch(server.url("/data.bin"), out, md5=_md5(PAYLOAD), sha256=_sha(PAYLOAD))
    assert out.read_bytes() == PAYLOAD
    assert digest == _sha(PAYLOAD)
    assert (tmp_path / "raw" / "data.bin.sha256").read_text() == f"{_sha(PAYLOAD)}  data.bin\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["data.bin", "data.bin.sha256"]


def test_checksum_mismatch_fails_clearly_and_leaves_nothing(server, tmp_path):
    out = tmp_path / "data.bin"
    wrong = _md5(b"something else")
    with pytest.raises(DownloadError, match=f"md5 mismatch \\(expected {wrong}, got {_md5(PAYLOAD)}"):
        fetch(server.url("/data.bin"), out, md5=wrong)
    assert list(tmp_path.iterdir()) == []  # no output, no sidecar, no partial to resume from


def test_cut_transfer_resumes_with_range(server, tmp_path):
    server.cut_first = 2
    out = tmp_path / "data.bin"
    fetch(server.url("/data.bin"), out, md5=_md5(PAYLOAD), backoff=0)
    assert out.read_bytes() == PAYLOAD
    ranges = [r["range"] for r in server.requests]
    assert ranges[0] is None and len(ranges) == 3
    # each retry continues from the bytes already on disk, never from zero
    assert all(r is not None and int(r[6:-1]) > 0 for r in ranges[1:])


def test_cut_transfer_restarts_when_server_ignores_range(server, tmp_path):
    server.cut_first, server.honour_range = 1, False
    out = tmp_path / "data.bin"
    fetch(server.url("/data.bin"), out, sha256=_sha(PAYLOAD), backoff=0)
    assert out.read_bytes() == PAYLOAD  # a naive append would have duplicated the first half
    assert len(server.requests) == 2


def test_interrupted_part_from_earlier_run_is_resumed(server, tmp_path):
    out = tmp_path / "data.bin"
    (tmp_path / ".data.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(server.url("/data.bin"), out, md5=_md5(PAYLOAD))
    assert out.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=1000-"


def test_corrupt_part_is_discarded_after_mismatch_then_next_run_succeeds(server, tmp_path):
    out = tmp_path / "data.bin"
    (tmp_path / ".data.bin.part").write_bytes(b"x" * 1000)  # wrong bytes, right length prefix
    with pytest.raises(DownloadError, match="mismatch"):
        fetch(server.url("/data.bin"), out, md5=_md5(PAYLOAD))
    assert not out.exists() and not (tmp_path / ".data.bin.part").exists()
    fetch(server.url("/data.bin"), out, md5=_md5(PAYLOAD))
    assert out.read_bytes() == PAYLOAD


def test_http_404_names_the_url_and_what_to_do(server, tmp_path):
    url = server.url("/missing.bin")
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        fetch(url, tmp_path / "x.bin")
    assert url in str(err.value) and "source.path" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_url_is_a_message_not_a_traceback(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    proc = subprocess.run([sys.executable, "-m", "optinter.data.download", url,
                           str(tmp_path / "x.bin")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: could not reach {url}")
    assert "Traceback" not in proc.stderr and "source.path" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_extract_member_from_tar_verifies_md5(tmp_path):
    archive = tmp_path / "dac.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in [("readme.txt", b"hello"), ("train.txt", PAYLOAD)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "train.txt"
    assert extract_member(archive, "train.txt", out, md5=_md5(PAYLOAD)) == _sha(PAYLOAD)
    assert out.read_bytes() == PAYLOAD
    bad = tmp_path / "bad.txt"
    with pytest.raises(DownloadError, match="md5 mismatch"):
        extract_member(archive, "train.txt", bad, md5=_md5(b"nope"))
    assert not bad.exists()
    with pytest.raises(DownloadError, match="no member named 'test.txt'.*readme.txt"):
        extract_member(archive, "test.txt", tmp_path / "t.txt")


def test_extract_logs_decompresses_matching_bz2_members(tmp_path):
    archive = tmp_path / "ipinyou.zip"
    logs = {"ipinyou.contest.dataset/training2nd/imp.20130606.txt.bz2": b"imp-line\n" * 50,
            "ipinyou.contest.dataset/training2nd/clk.20130606.txt.bz2": b"clk-line\n",
            "ipinyou.contest.dataset/training1st/imp.20130311.txt.bz2": b"season one\n",
            "ipinyou.contest.dataset/files.md5": b"md5s\n"}
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in logs.items():
            zf.writestr(name, bz2.compress(data) if name.endswith(".bz2") else data)
    out = tmp_path / "logs"
    names = extract_logs(archive, ["*training2nd/imp.*", "*training2nd/clk.*"], out)
    assert names == ["clk.20130606.txt", "imp.20130606.txt"]
    assert (out / "imp.20130606.txt").read_bytes() == b"imp-line\n" * 50
    assert sorted(p.name for p in out.iterdir()) == names
    with pytest.raises(DownloadError, match="no member matches"):
        extract_logs(archive, ["*training9th/*"], tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_kaggle_without_client_or_credentials_says_set_source_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `kaggle` on PATH
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DownloadError, match=r"datasets\.avazu\.source\.path"):
        download.fetch_kaggle("avazu-ctr-prediction", "train.gz", tmp_path / "train.gz")
    assert not (tmp_path / "train.gz").exists()


def test_kaggle_client_download_is_unzipped_verified_and_recorded(tmp_path, monkeypatch):
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (home / ".kaggle").mkdir(parents=True)
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    fake = bin_dir / "kaggle"  # writes FILE.zip into -p DIR, as the real client does for big files
    fake.write_text(f"#!{sys.executable}\n" + """
import sys, zipfile
args = sys.argv[1:]
assert args[:2] == ["competitions", "download"], args
member, dest = args[args.index("-f") + 1], args[args.index("-p") + 1]
with zipfile.ZipFile(f"{dest}/{member}.zip", "w") as zf:
    zf.writestr(member, b"id,click\\n1,0\\n")
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "raw" / "train.gz"
    out.parent.mkdir()
    digest = download.fetch_kaggle("avazu-ctr-prediction", "train.gz", out)
    assert out.read_bytes() == b"id,click\n1,0\n"
    assert digest == _sha(b"id,click\n1,0\n")
    assert (out.parent / "train.gz.sha256").read_text().split()[0] == digest
    assert sorted(p.name for p in out.parent.iterdir()) == ["train.gz", "train.gz.sha256"]
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download.fetch_kaggle("avazu-ctr-prediction", "train.gz", tmp_path / "raw" / "again.gz",
                              sha256=_sha(b"other"))
    assert not (tmp_path / "raw" / "again.gz").exists()
