"""Hostile servers on 127.0.0.1: a slow drip, a stall, redirects to file: or data:, and the
command line given such addresses. One scheme policy (http and https, redirects only to
those), an overall deadline and a minimum rate bound every case in time, and each message
names the address that failed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from optinter.data.download import DownloadError, fetch

BODY = b"x" * 50_000


class Hostile:
    """GET /<behaviour>: drip (10 bytes every 0.05 s), stall (headers, then silence),
    file / data (redirect there), hop (redirect to /ok), ok (the body at once)."""

    def __init__(self):
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                kind = self.path.strip("/")
                if kind in ("file", "data", "hop", "ftp"):
                    target = {"file": "file:///etc/passwd", "data": "data:text/plain,owned",
                              "hop": "/ok", "ftp": "ftp://127.0.0.1/x"}[kind]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                try:
                    if kind == "ok":
                        self.wfile.write(BODY)
                    elif kind == "drip":
                        for i in range(0, len(BODY), 10):
                            if server.stop.wait(0.05):
                                return
                            self.wfile.write(BODY[i:i + 10])
                            self.wfile.flush()
                    elif kind == "stall":
                        server.stop.wait(30)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"


@pytest.fixture
def hostile():
    srv = Hostile()
    srv.thread.start()
    yield srv
    srv.stop.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


FAST = dict(retries=3, backoff=0.05, timeout=0.5)
SLOW = {
    # under 1000 bytes/s over each 0.5 s window: every attempt fails, then the retries run out
    "drip below the minimum rate": ("drip", dict(FAST, min_rate=1000, rate_window=0.5,
                                                 deadline=60), "below the minimum"),
    # a rate the minimum accepts, but the whole download would take 5 s
    "drip past the deadline": ("drip", dict(FAST, min_rate=0, deadline=1.5), "deadline"),
    "stall past the deadline": ("stall", dict(FAST, retries=50, deadline=1.5), "deadline"),
}


@pytest.mark.parametrize("case", list(SLOW))
def test_a_slow_server_fails_in_bounded_time_naming_the_url(hostile, tmp_path, case):
    path, kw, why = SLOW[case]
    url = hostile.url(path)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "out.bin", **kw)
    took = time.monotonic() - t0
    msg = str(info.value)
    assert msg.startswith(f"{url}: ") and why in msg and "\n" not in msg
    assert took < 10, f"took {took:.1f} s"
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("path,target", [("file", "file:///etc/passwd"),
                                         ("data", "data:text/plain,owned"),
                                         ("ftp", "ftp://127.0.0.1/x")])
def test_a_redirect_away_from_http_is_refused(hostile, tmp_path, path, target):
    url = hostile.url(path)
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "out.bin", **FAST)
    msg = str(info.value)
    assert msg.startswith(f"{url}: the server redirected to {target}") and "refused" in msg
    assert not (tmp_path / "out.bin").exists() and not (tmp_path / ".out.bin.part").exists()


def test_a_redirect_to_http_is_followed(hostile, tmp_path):
    fetch(hostile.url("hop"), tmp_path / "out.bin", **FAST)
    assert (tmp_path / "out.bin").read_bytes() == BODY


def test_a_link_planted_at_the_partial_file_is_not_written_through(hostile, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".out.bin.part").symlink_to(victim)
    fetch(hostile.url("ok"), tmp_path / "out.bin", **FAST)
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "out.bin").read_bytes() == BODY


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,owned",
                                 "ftp://127.0.0.1/x", "/etc/passwd", "http:///x"])
def test_the_command_line_takes_the_config_policy(tmp_path, url):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "optinter.data.download", url, str(out)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {url}: refused: "), proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_command_line_has_a_deadline(hostile, tmp_path):
    url = hostile.url("stall")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "optinter.data.download", url,
                           str(tmp_path / "out"), "--deadline", "1.5", "--retries", "50"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1 and time.monotonic() - t0 < 20
    assert proc.stderr.startswith(f"error: {url}: ") and "deadline" in proc.stderr
