"""Fetch raw datasets: resumable HTTP downloads, archive extraction, Kaggle; all verified.

Only the standard library (urllib) is used. A download goes to a stable hidden `.NAME.part`
file beside the target so an interrupted transfer resumes on the next call (HTTP Range), and is
renamed onto the target only after its checksums match; a file at the target is always complete.
Every failure a user can act on raises DownloadError with a message saying what to do.
"""

from __future__ import annotations

import argparse
import bz2
import fnmatch
import hashlib
import http.client
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator

from optinter import paths
from optinter.io import atomic_path, file_digest, open_new, remove_stale

CHUNK = 1 << 20
MANUAL_HINT = ("or download the file yourself and set the dataset's `source.path` in config.yaml "
               "to it")


class DownloadError(RuntimeError):
    """A fetch that failed for a reason the user can act on (message says what to do)."""


class _Retry(Exception):
    """A transient transfer failure: try again, resuming where possible."""


DEADLINE_S = 12 * 3600  # defaults of config `download` (workflow/schemas/config.schema.yaml)
MIN_RATE = 1024         # bytes per second, averaged over RATE_WINDOW_S
RATE_WINDOW_S = 60.0


def check_url(url: str) -> None:
    """Refuse an address optinter will not fetch (optinter.paths.url_problem: http(s) with a
    host only), the same rule config validation applies to `url`."""
    if problem := paths.url_problem(url):
        raise DownloadError(f"{url}: refused: {problem}; optinter downloads only over HTTP(S), "
                            f"{MANUAL_HINT}")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): a server must not turn a download into a local read
    (urllib itself would follow ftp:, and words its refusals as an HTTP error)."""

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            if paths.url_problem(target):
                fp.close()
                raise DownloadError(f"{req.full_url}: the server redirected to {target}, which "
                                    "is not an http(s) address; refused")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_Redirects)


def fetch(url: str, out: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
          *, retries: int = 5, timeout: float = 60.0, backoff: float = 2.0,
          deadline: float = DEADLINE_S, min_rate: float = MIN_RATE,
          rate_window: float = RATE_WINDOW_S) -> str:
    """Download `url` to `out`, resuming an interrupted transfer, and verify its checksums.

    Writes `out` plus `out.sha256` (the sha256 is recorded even where none is published) and
    returns the sha256. A checksum mismatch removes the download and raises DownloadError.
    `timeout` bounds each wait for the server, `deadline` the whole fetch (all attempts); an
    attempt that receives under `min_rate` bytes/s over `rate_window` seconds is a failed one
    (a slow drip would otherwise hold the job forever). The partial file is kept to resume.
    """
    check_url(url)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    if part.is_symlink():  # not ours: resuming would read (and append to) what it points at
        part.unlink()
    ends = time.monotonic() + deadline
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout, _Pace(ends, min_rate, rate_window))
            break
        except _Retry as e:
            wait = backoff * 2 ** attempt
            if attempt == retries or time.monotonic() + wait >= ends:
                why = (f"after {attempt + 1} attempts" if attempt == retries else
                       f"within the deadline of {deadline:g} s (config download.deadline_s)")
                raise DownloadError(f"{url}: transfer kept failing ({e}) {why}; run again to "
                                    f"resume, {MANUAL_HINT}") from None
            time.sleep(wait)
    try:
        digest = verify(part, md5=md5, sha256=sha256, what=url)
    except DownloadError:
        part.unlink(missing_ok=True)  # a corrupt file must not be resumed from
        raise
    write_checksum(out, digest)
    os.replace(part, out)
    return digest


class _Pace:
    """The deadline and minimum rate of one attempt: `tick` after each block received."""

    def __init__(self, ends: float, min_rate: float, window: float):
        self.ends, self.min_rate, self.window = ends, min_rate, window
        self.mark, self.got = time.monotonic(), 0

    def timeout(self, timeout: float) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise _Retry("the deadline passed")
        return max(0.1, min(timeout, left))

    def tick(self, n: int) -> None:
        now = time.monotonic()
        if now >= self.ends:
            raise _Retry("the deadline passed")
        self.got += n
        if now - self.mark >= self.window:
            rate = self.got / (now - self.mark)
            if rate < self.min_rate:
                raise _Retry(f"{rate:.0f} bytes/s over {now - self.mark:.0f} s, below the minimum "
                             f"of {self.min_rate:g} (config download.min_rate)")
            self.mark, self.got = now, 0


def _transfer(url: str, part: Path, timeout: float, pace: _Pace) -> None:
    """One attempt: continue `part` from its current size, or restart it if the server won't."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "optinter-download"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = _OPENER.open(urllib.request.Request(url, headers=headers),
                            timeout=pace.timeout(timeout))
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            total = _total_from_content_range(e.headers.get("Content-Range"))
            if total == have:
                return  # already complete; the checksum decides
            part.unlink()
            raise _Retry(f"server refused to resume at byte {have}; restarting") from None
        if e.code >= 500 or e.code == 429:
            raise _Retry(f"HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}. Check the address in config.yaml, "
                            f"{MANUAL_HINT}.") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError,
                               http.client.HTTPException)):
            raise _Retry(str(reason) or type(reason).__name__) from None
        raise DownloadError(f"could not reach {url} ({reason}). Check the address and your network "
                            f"or proxy settings (HTTPS_PROXY), {MANUAL_HINT}.") from None
    with resp:
        mode, start = "wb", 0
        if have and resp.status == 206:
            start = _start_from_content_range(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise _Retry(f"server resumed at byte {start}, not {have}; restarting")
            mode = "ab"
        # A 200 answer to a Range request means the server ignored it: start over cleanly.
        length = resp.headers.get("Content-Length")
        expected = start + int(length) if length is not None else None
        try:
            with open_new(part, mode) as f:
                # read1: whatever has arrived, so that the pace is checked while bytes drip in
                while block := resp.read1(CHUNK):
                    f.write(block)
                    pace.tick(len(block))
        except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError) as e:
            raise _Retry(f"connection lost: {e!r}") from None
    size = part.stat().st_size
    if expected is not None and size != expected:
        raise _Retry(f"connection closed at byte {size} of {expected}")


def _start_from_content_range(value: str | None) -> int:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else -1


def _total_from_content_range(value: str | None) -> int | None:
    m = re.match(r"bytes \*/(\d+)", value or "")
    return int(m.group(1)) if m else None


def verify(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
           what: str | None = None) -> str:
    """Check `path` against the given checksums; return its sha256 or raise DownloadError."""
    actual_sha = file_digest(path, "sha256")
    checks = [("sha256", sha256, actual_sha)]
    if md5:
        checks.append(("md5", md5, file_digest(path, "md5")))
    for name, expected, actual in checks:
        if expected and expected.lower() != actual:
            raise DownloadError(
                f"{what or path}: {name} mismatch (expected {expected}, got {actual}); the file was "
                f"removed. The source may have changed or the transfer was corrupted: run again, "
                f"{MANUAL_HINT}.")
    return actual_sha


def write_checksum(path: Path, sha256: str) -> None:
    """Record `sha256` beside `path` in `sha256sum -c` format."""
    with atomic_path(Path(f"{path}.sha256")) as tmp:
        tmp.write_text(f"{sha256}  {Path(path).name}\n")


# ----------------------------------------------------------------------------- archives

def _archive_members(archive: Path) -> Iterator[tuple[str, callable, str | None]]:
    """Yield (name, opener, link) for every file of a tar or zip archive, in archive order:
    `link` is None for a regular file, else what the member links to (it is never opened)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):  # a symlink stored by zip -y
                    target = zf.read(info)[:200].decode(errors="replace")
                    yield info.filename, None, f"a symbolic link to {target!r}"
                else:
                    yield info.filename, (lambda i=info: zf.open(i)), None
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            for info in tf:
                if info.isfile():
                    yield info.name, (lambda i=info: tf.extractfile(i)), None
                elif info.issym() or info.islnk():
                    kind = "a symbolic link" if info.issym() else "a hard link"
                    yield info.name, None, f"{kind} to {info.linkname!r}"
    else:
        raise DownloadError(f"{archive}: not a tar or zip archive; delete it and run again, "
                            f"{MANUAL_HINT}.")


def _refuse_link(archive: Path, name: str, link: str) -> DownloadError:
    return DownloadError(f"{archive}: member {name!r} is {link}, not a file; optinter extracts "
                         f"only regular files. Use an archive that holds the file itself, "
                         f"{MANUAL_HINT}.")


def _copy_hashed(src: BinaryIO, dst: Path) -> dict[str, str]:
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with open_new(dst, "wb") as f:
        while block := src.read(CHUNK):
            f.write(block)
            for h in hashes.values():
                h.update(block)
    return {k: h.hexdigest() for k, h in hashes.items()}


def extract_member(archive: str | os.PathLike, member: str, out: str | os.PathLike,
                   md5: str | None = None, sha256: str | None = None) -> str:
    """Copy the file `member` (matched by path or by base name) out of a tar/zip archive.

    The copy is verified against the given checksums before it appears at `out`.
    """
    archive = Path(archive)
    remove_stale(out)  # a killed run's .NAME.*.tmp (up to the member's size: 11 GB for Criteo)
    seen = []
    for name, opener, link in _archive_members(archive):
        if name.removeprefix("./") != member and Path(name).name != member:
            seen.append(name)
            continue
        if link is not None:
            raise _refuse_link(archive, name, link)
        with atomic_path(out) as tmp, opener() as src:
            digests = _copy_hashed(src, tmp)
            for algo, expected in (("md5", md5), ("sha256", sha256)):
                if expected and expected.lower() != digests[algo]:
                    raise DownloadError(
                        f"{archive}:{name}: {algo} mismatch (expected {expected}, got "
                        f"{digests[algo]}); the archive is damaged or not the published one. "
                        f"Delete {archive} and run again, {MANUAL_HINT}.")
        return digests["sha256"]
    raise DownloadError(f"{archive}: no member named {member!r} (it holds {', '.join(seen[:10])}"
                        f"{' ...' if len(seen) > 10 else ''}); check `source.member`.")


def extract_logs(archive: str | os.PathLike, patterns: list[str],
                 out_dir: str | os.PathLike) -> list[str]:
    """Extract the members matching any glob in `patterns` into the flat folder `out_dir`.

    `.bz2` members are decompressed (the iPinYou archive ships its logs bzip2-compressed) so the
    readers see plain text. Returns the written file names.
    """
    archive, written = Path(archive), []
    remove_stale(out_dir)  # a killed run's .NAME.*.tmp folder
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, opener, link in _archive_members(archive):
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            if link is not None:
                raise _refuse_link(archive, name, link)
            try:  # the flat folder holds base names only: never `..` or a path
                base = paths.member_file(name.removesuffix(".bz2"))
            except ValueError as e:
                raise DownloadError(f"{archive}: {e}; refused") from None
            target = tmp / base
            if target.exists():
                raise DownloadError(f"{archive}: two members would both become {target.name}; "
                                    f"narrow `source.logs` ({patterns})")
            with opener() as raw:
                src = bz2.BZ2File(raw) if name.endswith(".bz2") else raw
                with src, open_new(target, "wb") as f:
                    shutil.copyfileobj(src, f, CHUNK)
            written.append(target.name)
        if not written:
            raise DownloadError(f"{archive}: no member matches {patterns}; check `source.logs`.")
    return sorted(written)


# ----------------------------------------------------------------------------- kaggle

def kaggle_credentials() -> bool:
    """Whether the Kaggle client will find credentials (env variables or kaggle.json)."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    dirs = [os.environ.get("KAGGLE_CONFIG_DIR"), Path.home() / ".kaggle",
            Path.home() / ".config" / "kaggle"]
    return any(d and (Path(d) / "kaggle.json").is_file() for d in dirs)


def fetch_kaggle(competition: str, member: str, out: str | os.PathLike,
                 sha256: str | None = None, dataset: str = "avazu") -> str:
    """Download one file of a Kaggle competition with the `kaggle` client; verify and record it."""
    manual = (f"Download {member} from https://www.kaggle.com/c/{competition}/data (needs an "
              f"account and the accepted competition rules) and set "
              f"datasets.{dataset}.source.path in config.yaml to the downloaded file.")
    client = shutil.which("kaggle")
    if client is None or not kaggle_credentials():
        why = ("the `kaggle` command-line client is not installed (pip install kaggle)"
               if client is None else "no Kaggle credentials were found (~/.kaggle/kaggle.json)")
        raise DownloadError(f"cannot fetch {competition}: {why}. {manual}")
    out = Path(out)
    remove_stale(out, ".kaggle.*")  # a killed run's download folder
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".kaggle.") as tmp:
        cmd = [client, "competitions", "download", "-c", competition, "-f", member, "-p", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-500:]
            raise DownloadError(f"`{' '.join(cmd)}` failed: {tail}\n{manual}")
        got = Path(tmp) / member
        if not got.exists() and (Path(tmp) / f"{member}.zip").exists():
            extract_member(Path(tmp) / f"{member}.zip", member, got)
        if not got.exists():
            raise DownloadError(f"the Kaggle client wrote {sorted(os.listdir(tmp))}, not {member}. "
                                f"{manual}")
        digest = verify(got, sha256=sha256, what=f"kaggle:{competition}/{member}")
        write_checksum(out, digest)
        os.replace(got, out)
    return digest


def main(argv: list[str] | None = None) -> int:
    """`python -m optinter.data.download URL OUT [--md5 X] [--sha256 Y] [--deadline S]
    [--min-rate B]`: the same policy as the workflow's (http(s) only, deadline, minimum rate)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--md5")
    p.add_argument("--sha256")
    p.add_argument("--deadline", type=float, default=DEADLINE_S,
                   help="seconds for the whole download, all attempts (default %(default)g)")
    p.add_argument("--min-rate", type=float, default=MIN_RATE,
                   help="bytes/s below which an attempt fails (default %(default)g)")
    p.add_argument("--retries", type=int, default=5)
    args = p.parse_args(argv)
    try:
        print(fetch(args.url, args.out, md5=args.md5, sha256=args.sha256, retries=args.retries,
                    deadline=args.deadline, min_rate=args.min_rate))
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
