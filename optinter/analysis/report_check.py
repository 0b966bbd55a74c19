"""Check a `snakemake --report` page: Table V, Table VI and both mutual-information figures
must be in it and render.

    python -m optinter.analysis.report_check report.html [--dataset demo] [--browser PATH|none]

With Chromium installed (Debian: `apt-get install chromium`) the page is loaded in headless
Chromium: a script added to a copy of the page navigates the report's own app to each result
(its category, then the result's view button, as a click does) and records what the page then
shows: the figure decoded by the browser (its pixel size) or the table's frame and the table
in it. Without Chromium the check says so and falls back to parsing the HTML: the results the
report embeds (`var results = {...}`) must hold each file, the tables with their headings
and rows, the figures as PNG images.

Exit status 0 when everything is found, 1 when something is missing, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_to_bytes

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MARK = "optinter-report-check"


@dataclass(frozen=True)
class Item:
    label: str          # what the user looks for: "Table V"
    category: str       # the report category (workflow/rules/analysis.smk)
    filename: str       # the result's file name
    kind: str           # "table" (HTML page with an <h1> starting with `heading`) or "figure"
    heading: str = ""


ITEMS = (
    Item("Table V", "Tables", "table5.html", "table", "Table V"),
    Item("Table VI", "Tables", "table6.html", "table", "Table VI"),
    Item("Fig. 5 (MI by method)", "Mutual information", "fig5_mi_by_method.png", "figure"),
    Item("Fig. 6 (MI heatmap)", "Mutual information", "fig6_mi_heatmap.png", "figure"),
)


@dataclass
class Result:
    method: str                       # "chromium <version>" or "html"
    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing

    def text(self) -> str:
        out = [self.note] if self.note else []
        out.append(f"checked with: {self.method}")
        out += [f"  {line}" for line in self.lines]
        out.append("OK: " + ", ".join(i.label for i in ITEMS) + " found in the report"
                   if self.ok else "MISSING: " + "; ".join(self.missing))
        return "\n".join(out)


# ---------------------------------------------------------------- the page's embedded data
def _js_var(page: str, name: str) -> dict:
    m = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", page, re.S)
    if not m:
        raise ValueError(f"not a Snakemake report: no `var {name}` in the page")
    return json.loads(m.group(1))


def _data(uri: str) -> bytes:
    head, _, body = uri.partition(",")
    return base64.b64decode(body) if head.endswith(";base64") else unquote_to_bytes(body)


class _TableText(HTMLParser):
    """<h1> text and the <td> rows of a table page."""

    def __init__(self) -> None:
        super().__init__()
        self.h1, self.rows, self._in_h1, self._row = "", [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "h1":
            self._in_h1 = True
        elif tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_h1:
            self.h1 += data
        elif self._row:
            self._row[-1] += data


def _png_size(blob: bytes) -> tuple[int, int] | None:
    if blob[:8] != b"\x89PNG\r\n\x1a\n" or blob[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", blob[16:24])


def expected(categories: dict, datasets: list[str] | None) -> tuple[list[str], dict]:
    """The datasets to check (default: every subcategory of the report's Tables) and, per
    (dataset, item label), the result path the report lists for it (None when absent)."""
    if not datasets:
        datasets = list(categories.get("Tables", {})) or list(
            categories.get("Mutual information", {}))
    paths = {}
    for ds in datasets:
        for item in ITEMS:
            listed = categories.get(item.category, {}).get(ds, [])
            paths[ds, item.label] = next((p for p in listed if Path(p).name == item.filename), None)
    return datasets, paths


def check_html(page: str, datasets: list[str] | None = None, note: str = "") -> Result:
    """The fallback: the report's embedded results, decoded without a browser."""
    results, categories = _js_var(page, "results"), _js_var(page, "categories")
    datasets, paths = expected(categories, datasets)
    out = Result("html (parsed, no browser)", note=note)
    if not datasets:
        out.missing.append("no dataset in the report's Tables or Mutual information")
    for ds in datasets:
        for item in ITEMS:
            path = paths[ds, item.label]
            if path is None or path not in results:
                out.missing.append(f"{ds}: {item.label} ({item.filename}) not in the report")
                continue
            blob = _data(results[path]["data_uri"])
            if item.kind == "table":
                t = _TableText()
                t.feed(blob.decode("utf-8", "replace"))
                if not t.h1.startswith(item.heading) or not t.rows:
                    out.missing.append(f"{ds}: {item.label}: {path} holds no table headed "
                                       f"{item.heading!r}")
                    continue
                out.lines.append(f"{ds}: {item.label}: {path}: heading {t.h1!r}, "
                                 f"{len(t.rows)} rows")
            else:
                size = _png_size(blob)
                if size is None:
                    out.missing.append(f"{ds}: {item.label}: {path} is not a PNG image")
                    continue
                out.lines.append(f"{ds}: {item.label}: {path}: PNG {size[0]}x{size[1]} px")
    return out


# ---------------------------------------------------------------- headless Chromium
# Runs in the report page after its app has rendered: for each wanted result, open its
# category and subcategory in the app, click the result's view button (the eye) in the listed
# row, wait for what the content pane shows, and record it; then write JSON into <pre id=MARK>.
DRIVER = r"""
<script>
(function () {
  var want = __WANT__;
  var out = {errors: [], items: {}};
  window.addEventListener("error", function (ev) { out.errors.push(String(ev.message)); });
  function done() {
    var pre = document.createElement("pre");
    pre.id = "__MARK__";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  function later(f, ms) { setTimeout(f, ms || 50); }
  function wait(cond, then, tries) {
    tries = tries === undefined ? 100 : tries;
    var v = null;
    try { v = cond(); } catch (e) { v = null; }
    if (v || tries <= 0) { then(v); } else { later(function () { wait(cond, then, tries - 1); }); }
  }
  function show(i) {
    if (i >= want.length) { return done(); }
    var w = want[i], rec = out.items[w.key] = {path: w.path};
    function next() { later(function () { show(i + 1); }); }
    if (typeof app === "undefined" || typeof results === "undefined" || !results[w.path]) {
      rec.error = "not in the report"; return next();
    }
    var entry = results[w.path];
    // back to the menu first (as the breadcrumb does): the result list is built when shown
    app.setView({navbarMode: "menu"});
    later(function () {
    app.showCategory(w.category);
    app.setView({navbarMode: "subcategory", category: w.category, subcategory: w.subcategory});
    wait(function () {
      var rows = document.querySelectorAll("nav tr");
      for (var r = 0; r < rows.length; r++) {
        var td = rows[r].querySelector("td");
        var label = td ? td.textContent.trim() : "";
        if (label === w.path || label === entry.name) {
          return rows[r].querySelector("[role=group] a");
        }
      }
      return null;
    }, function (button) {
      if (!button) {
        var seen = Array.prototype.map.call(document.querySelectorAll("nav tr td:first-child"),
                                            function (td) { return td.textContent.trim(); });
        rec.error = "no row with a view button in the result list (listed: " +
                    (seen.join(", ") || "nothing") + ")";
        return next();
      }
      rec.listed = true;
      button.click();
      if (w.kind === "figure") {
        wait(function () {
          var img = document.querySelector("img[src='" + entry.data_uri + "']");
          return img && img.complete && img.naturalWidth > 0 ? img : null;
        }, function (img) {
          if (img) { rec.shown = "img"; rec.width = img.naturalWidth; rec.height = img.naturalHeight; }
          else { rec.error = "the figure was not shown or did not decode"; }
          next();
        });
      } else {
        wait(function () {
          var f = document.querySelector("iframe");
          return f && f.getAttribute("src") === entry.data_uri ? f : null;
        }, function (frame) {
          if (!frame) { rec.error = "the table's frame was not shown"; return next(); }
          rec.shown = "iframe";
          fetch(entry.data_uri).then(function (r) { return r.text(); }).then(function (text) {
            var doc = new DOMParser().parseFromString(text, "text/html");
            var h1 = doc.querySelector("h1");
            rec.heading = h1 ? h1.textContent : "";
            rec.rows = doc.querySelectorAll("tbody tr").length;
            next();
          }, function (e) { rec.error = "cannot read the table: " + e; next(); });
        });
      }
    });
    });
  }
  window.addEventListener("load", function () { later(function () { show(0); }, 200); });
})();
</script>
"""


def find_browser(browser: str | None = "auto") -> str | None:
    if browser in (None, "none"):
        return None
    if browser != "auto":
        return shutil.which(browser) or (browser if Path(browser).exists() else None)
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def browser_version(exe: str) -> str:
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else Path(exe).name
    except (OSError, subprocess.SubprocessError):
        return Path(exe).name


def check_browser(page: str, exe: str, datasets: list[str] | None = None,
                  timeout: float = 180) -> Result:
    """Load the page in headless Chromium with the driver script and read what it recorded."""
    categories = _js_var(page, "categories")
    datasets, paths = expected(categories, datasets)
    want = [{"key": f"{ds}|{item.label}", "path": paths[ds, item.label] or "",
             "category": item.category, "subcategory": ds, "kind": item.kind}
            for ds in datasets for item in ITEMS]
    driver = DRIVER.replace("__WANT__", json.dumps(want)).replace("__MARK__", MARK)
    at = page.rfind("</body>")
    if at < 0:
        raise ValueError("not a Snakemake report: no </body>")
    out = Result(f"headless {browser_version(exe)}")
    with tempfile.TemporaryDirectory(prefix="optinter-report-check-") as tmp:
        probe = Path(tmp) / "report.html"
        probe.write_text(page[:at] + driver + page[at:])
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", f"--user-data-dir={tmp}/profile",
               "--virtual-time-budget=60000", "--dump-dom", probe.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.missing.append(f"{Path(exe).name} did not finish within {timeout:.0f} s")
            return out
    m = re.search(rf'<pre id="{MARK}">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        err = "\n".join(proc.stderr.strip().splitlines()[-5:])
        out.missing.append(f"the page's check script never finished (exit {proc.returncode}); "
                           f"browser said: {err}")
        return out
    import html as _html
    got = json.loads(_html.unescape(m.group(1)))
    if not datasets:
        out.missing.append("no dataset in the report's Tables or Mutual information")
    for ds in datasets:
        for item in ITEMS:
            rec = got["items"].get(f"{ds}|{item.label}", {})
            where = f"{ds}: {item.label}: {rec.get('path') or item.filename}"
            if rec.get("error"):
                out.missing.append(f"{where}: {rec['error']}")
            elif item.kind == "figure":
                out.lines.append(f"{where}: shown as an image, {rec['width']}x{rec['height']} px")
            elif not str(rec.get("heading", "")).startswith(item.heading) or not rec.get("rows"):
                out.missing.append(f"{where}: shown, but no table headed {item.heading!r}")
            else:
                out.lines.append(f"{where}: shown in its frame, heading {rec['heading']!r}, "
                                 f"{rec['rows']} rows")
    if got.get("errors"):
        out.lines.append("page errors: " + "; ".join(got["errors"]))
    return out


def check(report: str | Path, datasets: list[str] | None = None,
          browser: str | None = "auto") -> Result:
    page = Path(report).read_text(encoding="utf-8")
    exe = find_browser(browser)
    if exe is None:
        why = ("browser check disabled (--browser none)" if browser in (None, "none") else
               f"no Chromium found ({browser if browser != 'auto' else ', '.join(BROWSERS)} "
               "not on PATH; Debian: apt-get install chromium)")
        return check_html(page, datasets, note=f"{why}: falling back to parsing the HTML")
    return check_browser(page, exe, datasets)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="the page snakemake --report wrote (report.html)")
    ap.add_argument("--dataset", action="append", help="dataset to check (repeatable; "
                    "default: every dataset in the report's Tables)")
    ap.add_argument("--browser", default="auto", help="auto (default: chromium if installed), "
                    "a browser executable, or none (parse the HTML only)")
    args = ap.parse_args(argv)
    if not Path(args.report).is_file():
        print(f"{args.report}: no such file", file=sys.stderr)
        return 2
    try:
        result = check(args.report, args.dataset, args.browser)
    except ValueError as e:
        print(f"{args.report}: {e}", file=sys.stderr)
        return 1
    print(result.text())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
