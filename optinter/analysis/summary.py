"""What a finished run tells its user (the Snakefile's `onsuccess:` handler prints it): where
the re-trained OptInter, Table V and the report command are, and Table V's headline (OptInter's
mean test AUC, log loss and parameters over the seeds).

    python -m optinter.analysis.summary demo [criteo ...]     the same text, any time
"""

from __future__ import annotations

import csv
import math
import re
import sys
from pathlib import Path
from typing import Iterable

from optinter.analysis.tables import NAMES, OURS, human_count

REPORT_COMMAND = ".venv/bin/snakemake --report report.html"


def datasets_in(paths: Iterable[str], known: Iterable[str]) -> list[str]:
    """The configured datasets that target paths belong to (results/<ds>/..., data/*/<ds>/...),
    in first-seen order."""
    known, out = set(known), []
    for path in paths:
        m = re.match(r"^(?:results|data/(?:raw|interim|processed))/([^/]+)", str(path))
        if m and m.group(1) in known and m.group(1) not in out:
            out.append(m.group(1))
    return out


def _float(row: dict, key: str) -> float | None:
    try:
        value = float(row.get(key) or "nan")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def headline(table5_csv: str | Path, model: str = OURS) -> str | None:
    """Table V's line of `model`: "OptInter: AUC 0.7478 ± 0.0607, log loss ... (3 seeds)";
    None when the table or the row is absent."""
    try:
        with open(table5_csv, newline="") as f:
            rows = {r["model"]: r for r in csv.DictReader(f)}
    except (OSError, KeyError, csv.Error):
        return None
    row = rows.get(model)
    if row is None:
        return None

    def pm(key: str) -> str:
        mean, std = _float(row, f"{key}_mean"), _float(row, f"{key}_std")
        if mean is None:
            return "n/a"
        return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")

    params = _float(row, "params")
    text = (f"{row.get('name') or NAMES.get(model, model)}: AUC {pm('test_auc')}, "
            f"log loss {pm('test_logloss')}, "
            f"{human_count(params) if params is not None else 'n/a'} params "
            f"({row.get('n_seeds', '?')} seeds)")
    base = row.get("compared_to")
    p = _float(row, "p_auc")
    if base and base in rows:
        b = _float(rows[base], "test_auc_mean")
        text += (f"; best baseline {rows[base].get('name') or base}"
                 + (f" AUC {b:.4f}" if b is not None else "")
                 + (f", paired t-test p = {p:.3g}" if p is not None else ""))
    return text


def summary(datasets: Iterable[str], results_dir: str | Path = "results",
            report_command: str = REPORT_COMMAND) -> str:
    """The lines printed at the end of a successful run, for each dataset."""
    results_dir, lines = Path(results_dir), []
    for ds in datasets:
        root = results_dir / ds
        files = [(root / "optinter.json", "re-trained OptInter (AUC, log loss, params)"),
                 (root / "tables" / "table5.md", "Table V (all models over the seeds)"),
                 (root / "tables" / "README.md", "every table written, and those skipped"),
                 (root / "analysis" / "fig6_mi_heatmap.png", "mutual information (Fig. 5-6)")]
        present = [(p, what) for p, what in files if p.exists()]
        if not present:
            continue
        lines.append(f"optinter results for {ds}:")
        width = max(len(str(p)) for p, _ in present)
        lines += [f"  {str(p):<{width}}  {what}" for p, what in present]
        if line := headline(root / "tables" / "table5.csv"):
            lines.append(f"  Table V: {line}")
    if lines:
        lines.append(f"  HTML report of every table and figure: {report_command}")
    return "\n".join(lines)


def on_success(workflow, config: dict, out=None) -> None:
    """The Snakefile's onsuccess handler: the summary of the datasets the run targeted (all
    configured ones with results when the targets name none, e.g. planted runs print nothing).
    Never raises: a finished run must not fail over its summary."""
    out = out or sys.stdout
    try:
        dag = getattr(workflow, "dag", None)
        targets = getattr(dag, "derived_targetfiles", None) or ()
        text = summary(datasets_in(targets, config.get("datasets", {})))
        if text:
            print("\n" + text, file=out)
    except Exception as e:  # noqa: BLE001
        print(f"(optinter: no run summary: {type(e).__name__}: {e})", file=out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    text = summary(args)
    print(text or f"no results under results/ for {', '.join(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
