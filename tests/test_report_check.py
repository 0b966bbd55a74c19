"""optinter.analysis.report_check: Table V, Table VI and both MI figures in a Snakemake report,
and the HTML tables that tables.build writes for it."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from optinter.analysis import report_check as rc
from optinter.analysis import tables


def _png(w: int = 3, h: int = 2) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _uri(mime: str, blob: bytes) -> str:
    return f"data:{mime};charset=utf8;base64,{base64.b64encode(blob).decode()}"


def _table_page(title: str) -> bytes:
    return tables.html_page(title, "| Model | AUC |\n|---|---|\n| OptInter | 0.8 ± 0.1 |\n"
                            "\nMean ± std.\n").encode()


def fake_report(drop: str | None = None) -> str:
    """The parts of a Snakemake report page the fallback reads."""
    files = {"results/toy/tables/table5.html": ("text/html", _table_page("Table V: overall (toy)")),
             "results/toy/tables/table6.html": ("text/html", _table_page("Table VI: methods (toy)")),
             "results/toy/analysis/fig5_mi_by_method.png": ("image/png", _png(4, 3)),
             "results/toy/analysis/fig6_mi_heatmap.png": ("image/png", _png(5, 2))}
    files.pop(drop, None)
    results = {p: {"name": Path(p).name, "data_uri": _uri(m, b), "mime_type": m}
               for p, (m, b) in files.items()}
    categories = {"Tables": {"toy": [p for p in files if "/tables/" in p]},
                  "Mutual information": {"toy": [p for p in files if "/analysis/" in p]}}
    return (f'<html><body><div id="app"></div><script id="results">\nvar results = '
            f'{json.dumps(results)};\n</script>\n<script id="cat">\nvar categories = '
            f'{json.dumps(categories)};\n</script></body></html>')


def test_fallback_finds_tables_and_figures(tmp_path):
    result = rc.check_html(fake_report())
    assert result.ok, result.text()
    text = result.text()
    assert "toy: Table V: results/toy/tables/table5.html: heading 'Table V: overall (toy)', 1 rows" in text
    assert "toy: Fig. 6 (MI heatmap): results/toy/analysis/fig6_mi_heatmap.png: PNG 5x2 px" in text


@pytest.mark.parametrize("drop,label", [("results/toy/tables/table6.html", "Table VI"),
                                        ("results/toy/analysis/fig5_mi_by_method.png", "Fig. 5")])
def test_fallback_names_what_is_missing(drop, label):
    result = rc.check_html(fake_report(drop))
    assert not result.ok and label in "; ".join(result.missing)


def test_without_a_browser_it_says_so_and_parses(tmp_path, capsys):
    page = tmp_path / "report.html"
    page.write_text(fake_report())
    assert rc.main([str(page), "--browser", "none"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("browser check disabled (--browser none): falling back to parsing")
    missing = rc.check(page, browser="/no/such/chromium")
    assert missing.ok and "no Chromium found (/no/such/chromium not on PATH" in missing.note
    assert rc.main([str(tmp_path / "absent.html")]) == 2
    (tmp_path / "other.html").write_text("<html></html>")
    assert rc.main([str(tmp_path / "other.html"), "--browser", "none"]) == 1


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.h1, self._tag = [], "", None

    def handle_starttag(self, tag, attrs):
        self._tag = tag

    def handle_endtag(self, tag):
        self._tag = None

    def handle_data(self, data):
        if self._tag in ("td", "th"):
            self.cells.append(data)
        elif self._tag == "h1":
            self.h1 += data


def write_tables(root: Path, dataset: str = "toy") -> Path:
    """results/<dataset>/tables from tables.build on two models x two seeds."""
    for seed in (1, 2):
        for model, auc, step in (("fm", 0.7, 0.01), ("optinter", 0.75, 0.03)):
            p = tables.run_path(root, dataset, model, seed)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps({
                "dataset": dataset, "model": model, "seed": seed, "valid_auc": auc,
                "valid_logloss": 0.5, "test_auc": auc + seed * step, "test_logloss": 0.5,
                "params": 10, "architecture_counts": {"memorize": 1, "factorize": 0, "naive": 2},
                "epochs": 1, "best_epoch": 1, "train_seconds": 1.0, "samples_per_second": 1.0,
                "device": "cpu", "config": {"hp": {"s2": 8}}}))
    out = root / dataset / "tables"
    written = tables.build(root, dataset, ["fm", "optinter"], [1, 2], out)["written"]
    assert {"table5.html", "table6.html"} <= set(written)
    return out


def test_tables_write_an_html_page_per_table(tmp_path):
    out = write_tables(tmp_path)
    page = _Cells()
    page.feed((out / "table5.html").read_text())
    assert page.h1 == "Table V: overall performance (toy)"
    md_cells = [c.strip() for line in (out / "table5.md").read_text().splitlines()
                if line.startswith("| ") for c in line.strip("|").split("|")]
    assert page.cells == md_cells


@pytest.mark.slow
def test_a_real_report_in_chromium_or_parsed(tmp_path):
    """snakemake --report on a workflow copy holding finished demo outputs, then the check:
    in headless Chromium where installed, else (skipping the browser half) parsed."""
    from test_workflow import copy_workflow, snakemake

    wf = copy_workflow(tmp_path / "wf")
    write_tables(wf / "results", "demo")
    analysis = wf / "results" / "demo" / "analysis"
    analysis.mkdir()
    for name in ("fig5_mi_by_method.png", "fig6_mi_heatmap.png"):
        (analysis / name).write_bytes(_png(6, 4))
    snakemake(wf, "--report", "report.html")
    parsed = rc.check(wf / "report.html", browser="none")
    assert parsed.ok, parsed.text()
    exe = rc.find_browser("auto")
    if exe is None:
        pytest.skip("no Chromium installed: only the parsed check ran")
    result = rc.check(wf / "report.html")
    assert result.ok, result.text()
    assert result.method.startswith("headless") and "shown as an image, 6x4 px" in result.text()
