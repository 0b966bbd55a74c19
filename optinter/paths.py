"""Names from config.yaml or from an archive that become file names: checked before use.

A configured `member` becomes data/raw/{dataset}/{member}, a URL's last segment the download's
file name, an archive member's base name a file in the extracted folder. A name such as `..`
or `../../x` would make a rule's output a folder that Snakemake clears or an arbitrary existing
file the raw input, so every such name must be a plain file name: one path segment, not `.` or
`..`, no hidden name (optinter's temporaries are the hidden `.NAME.*.tmp` beside each output).
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlparse, urlsplit

# The one download policy (config `url`, python -m optinter.data.download, redirects): HTTP(S).
URL_SCHEMES = ("http", "https")

# control characters cannot be typed in a shell command and break the one-line messages
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(name: object) -> str | None:
    """Why `name` is not a plain file name (None when it is one)."""
    if not isinstance(name, str) or not name:
        return "expected a non-empty file name"
    if "/" in name or "\\" in name:
        return "expected a plain file name without folders (no / or \\)"
    if name in (".", ".."):
        return "expected a file name, not a reference to a folder"
    if name.startswith("."):
        return ("expected a file name that does not start with '.' (hidden names are "
                "optinter's temporaries)")
    if _CONTROL.search(name):
        return "expected a file name without control characters"
    return None


def pattern_problem(pattern: object) -> str | None:
    """Why an archive glob (config `logs`) could reach outside the archive (None if it cannot):
    it is matched against member paths, which may hold folders, but never `..` or a leading /."""
    if not isinstance(pattern, str) or not pattern:
        return "expected a non-empty glob pattern"
    if pattern.startswith("/") or "\\" in pattern:
        return "expected a pattern relative to the archive's root (no leading / or \\)"
    if ".." in pattern.split("/"):
        return "expected a pattern without '..' segments"
    if _CONTROL.search(pattern):
        return "expected a pattern without control characters"
    return None


def url_problem(url: object) -> str | None:
    """Why optinter will not fetch `url` (None when it will): an http(s) address with a host
    only, never file:, data: or ftp:, which would turn a download into a local read."""
    if not isinstance(url, str):
        return "expected an http:// or https:// address"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as e:
        return f"not a valid address ({e})"
    if parts.scheme.lower() not in URL_SCHEMES or not host:
        return "expected an http:// or https:// address with a host"
    return None


def url_file(url: str) -> str:
    """The file name a download of `url` is saved under: its last path segment, which must be a
    plain file name (ValueError saying why otherwise)."""
    segment = posixpath.basename(urlparse(url).path)
    if not segment:
        raise ValueError(f"{url}: the address ends in no file name (expected .../NAME)")
    problem = name_problem(segment)
    if problem:
        raise ValueError(f"{url}: its last segment {segment!r} names the download; {problem}")
    return segment


def member_file(member_path: str) -> str:
    """The plain base name an archive member is extracted under (ValueError if it has none)."""
    base = posixpath.basename(member_path.replace("\\", "/").rstrip("/"))
    problem = name_problem(base)
    if problem:
        raise ValueError(f"archive member {member_path!r}: its name {base!r} cannot be a file; "
                         f"{problem}")
    return base
