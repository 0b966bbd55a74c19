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
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator

from optinter.io import atomic_path, file_digest

CHUNK = 1 << 20
MANUAL_HINT = ("or download the file yourself and set the dataset's `source.path` in config.yaml "
               "to it")


class DownloadError(RuntimeError):
    """A fetch that failed for a reason the user can act on (message says what to do)."""


class _Retry(Exception):
    """A transient transfer failure: try again, resuming where possible."""


def fetch(url: str, out: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
          *, retries: int = 5, timeout: float = 60.0, backoff: float = 2.0) -> str:
    """Download `url` to `out`, resuming an interrupted transfer, and verify its checksums.

    Writes `out` plus `out.sha256` (the sha256 is recorded even where none is published) and
    returns the sha256. A checksum mismatch removes the download and raises DownloadError.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout)
            break
        except _Retry as e:
            if attempt == retries:
                raise DownloadError(f"{url}: transfer kept failing ({e}) after {retries + 1} "
                                    f"attempts; run again to resume, {MANUAL_HINT}") from None
            time.sleep(backoff * 2 ** attempt)
    try:
        digest = verify(part, md5=md5, sha256=sha256, what=url)
    except DownloadError:
        part.unlink(missing_ok=True)  # a corrupt file must not be resumed from
        raise
    write_checksum(out, digest)
    os.replace(part, out)
    return digest


def _transfer(url: str, part: Path, timeout: float) -> None:
    """One attempt: continue `part` from its current size, or restart it if the server won't."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "optinter-download"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
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
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError)):
            raise _Retry(str(reason)) from None
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
            with open(part, mode) as f:
                while block := resp.read(CHUNK):
                    f.write(block)
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

def _archive_members(archive: Path) -> Iterator[tuple[str, callable]]:
    """Yield (name, opener) for every regular file of a tar or zip archive, in archive order."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, (lambda i=info: zf.open(i))
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            for info in tf:
                if info.isfile():
                    yield info.name, (lambda i=info: tf.extractfile(i))
    else:
        raise DownloadError(f"{archive}: not a tar or zip archive; delete it and run again, "
                            f"{MANUAL_HINT}.")


def _copy_hashed(src: BinaryIO, dst: Path) -> dict[str, str]:
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with open(dst, "wb") as f:
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
    seen = []
    for name, opener in _archive_members(archive):
        if name.removeprefix("./") != member and Path(name).name != member:
            seen.append(name)
            continue
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
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, opener in _archive_members(archive):
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            target = tmp / Path(name).name.removesuffix(".bz2")
            if target.exists():
                raise DownloadError(f"{archive}: two members would both become {target.name}; "
                                    f"narrow `source.logs` ({patterns})")
            with opener() as raw:
                src = bz2.BZ2File(raw) if name.endswith(".bz2") else raw
                with src, open(target, "wb") as f:
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
    """`python -m optinter.data.download URL OUT [--md5 X] [--sha256 Y]`."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--md5")
    p.add_argument("--sha256")
    args = p.parse_args(argv)
    try:
        print(fetch(args.url, args.out, md5=args.md5, sha256=args.sha256))
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
