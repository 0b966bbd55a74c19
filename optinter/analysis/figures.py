"""Fig. 5 and Fig. 6 of the paper from the mutual-information table (mutual_info.COLUMNS).

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot), so importing this
module never changes a global backend and works on machines without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from optinter.io import atomic_path

METHODS = ("memorize", "factorize", "naive")
COLORS = {"memorize": "#d62728", "factorize": "#1f77b4", "naive": "#c7c7c7"}
DPI = 120


def _save(fig: Figure, out: str | Path) -> None:
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def fig5_mi_by_method(table: pd.DataFrame, out: str | Path) -> None:
    """Bars: mean MI of the pairs given each method (plug-in and Miller-Madow), ± std; dots: pairs."""
    fig = Figure(figsize=(6.8, 4.4), layout="constrained")
    ax = fig.add_subplot()
    width = 0.36
    for i, m in enumerate(METHODS):
        sub = table[table["choice"] == m]
        for k, (col, hatch, alpha) in enumerate((("mi", None, 0.9), ("mi_mm", "//", 0.45))):
            x = i + (k - 0.5) * width
            vals = sub[col].to_numpy(dtype=float)
            if vals.size:
                std = vals.std(ddof=1) if vals.size > 1 else 0.0
                ax.bar(x, vals.mean(), width, yerr=std, capsize=4, color=COLORS[m], alpha=alpha,
                       hatch=hatch, edgecolor="black", linewidth=0.6, zorder=2)
                # deterministic spread of the dots across the bar, ordered by value
                offsets = np.linspace(-width / 3, width / 3, vals.size) if vals.size > 1 else [0.0]
                ax.scatter(x + np.asarray(offsets), np.sort(vals), s=9, color="black",
                           alpha=0.6, zorder=3, linewidths=0)
    ax.set_xticks(range(len(METHODS)))
    ax.set_xticklabels([f"{m}\n(n={int((table['choice'] == m).sum())})" for m in METHODS])
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("mutual information with the label (bits)")
    ax.set_title("Mean MI of the pairs assigned to each method\n"
                 "bars: mean ± std, dots: single pairs", fontsize=10)
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", label="plug-in (Eq. 21)"),
                       Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="Miller-Madow corrected")], fontsize=8, loc="best")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    _save(fig, out)


def _field_order(table: pd.DataFrame) -> list[str]:
    """Fields in feature_map order: pairs are listed (i<j) over it, so first appearance keeps it."""
    seen: dict[str, None] = {}
    for a, b in zip(table["field_a"], table["field_b"]):
        seen.setdefault(a, None)
        seen.setdefault(b, None)
    return list(seen)


def _grids(table: pd.DataFrame, fields: list[str], value: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangle grids of MI and of the chosen method's index: row j-1 = field j, column
    i = field i for i < j (the empty first row and last column of the full grid are dropped)."""
    pos = {f: i for i, f in enumerate(fields)}
    side = max(len(fields) - 1, 1)
    mi = np.full((side, side), np.nan)
    method = np.full_like(mi, np.nan)
    code = {m: i for i, m in enumerate(METHODS)}
    for a, b, v, c in zip(table["field_a"], table["field_b"], table[value], table["choice"]):
        i, j = sorted((pos[a], pos[b]))
        mi[j - 1, i] = v
        method[j - 1, i] = code[c]
    return mi, method


def fig6_mi_heatmap(table: pd.DataFrame, out: str | Path, value: str = "mi_mm") -> None:
    """(a) MI per pair over the field x field grid; (b) the method the search chose per pair.

    The map shows the Miller-Madow estimate by default: plug-in MI grows with a pair's number of
    distinct values, and on the planted demo it ranks ~4,000-value naive pairs above the planted
    memorise pairs (which the corrected estimate puts first). `value="mi"` draws Eq. 21 as is.
    """
    fields = _field_order(table)
    rows, cols = fields[1:], fields[:-1]
    k = max(len(rows), 1)
    side = max(3.2, 0.3 * k + 1.2)  # ~0.3 inch per field: 26 fields stay legible, 5 not tiny
    font = 9 if k <= 12 else (7 if k <= 30 else 5)
    fig = Figure(figsize=(2 * side + 1.4, side + 0.8), layout="constrained")
    ax_mi, ax_m = fig.subplots(1, 2)
    mi, method = _grids(table, fields, value)
    label = {"mi": "plug-in MI", "mi_mm": "Miller-Madow MI"}[value]

    im = ax_mi.imshow(np.ma.masked_invalid(mi), cmap="viridis", vmin=0)
    cbar = fig.colorbar(im, ax=ax_mi, shrink=0.8)
    cbar.set_label(f"{label} with the label (bits)", fontsize=font)
    cbar.ax.tick_params(labelsize=font)
    ax_m.imshow(np.ma.masked_invalid(method), vmin=-0.5, vmax=len(METHODS) - 0.5,
                cmap=ListedColormap([COLORS[m] for m in METHODS]))
    counts = table["choice"].value_counts()
    ax_m.legend(handles=[Patch(color=COLORS[m], label=f"{m} ({int(counts.get(m, 0))})")
                         for m in METHODS], loc="upper right", fontsize=font, frameon=False)

    for ax, title in ((ax_mi, f"(a) {label} of each pair with the label"),
                      (ax_m, "(b) method chosen by the search")):
        ax.set_title(title, fontsize=font + 2)
        ax.set_xticks(range(len(cols)))
        ax.set_yticks(range(len(rows)))
        ax.set_xticklabels(cols, rotation=90, fontsize=font)
        ax.set_yticklabels(rows, fontsize=font)
        ax.set_xticks(np.arange(-0.5, len(cols)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    if len(rows) <= 10:  # numbers only where they fit in the cells
        top = np.nanmax(mi) if np.isfinite(mi).any() else 0.0
        for (j, i), v in np.ndenumerate(mi):
            if np.isfinite(v):
                ax_mi.text(i, j, f"{v:.3f}", ha="center", va="center", fontsize=font - 1,
                           color="black" if v > 0.6 * top else "white")
    if table.empty:
        ax_mi.text(0.5, 0.5, "no pairs", transform=ax_mi.transAxes, ha="center")
    _save(fig, out)


RECOVERY_SERIES = (("optinter", "OptInter (validated recipe)", "#d62728"),
                   ("optinter_paper", "OptInter (paper recipe)", "#ff9896"),
                   ("oracle", "oracle (true architecture)", "black"),
                   ("random_mean", "random architectures (mean)", "#7f7f7f"),
                   ("optinter_f", "OptInter-F", "#1f77b4"),
                   ("optinter_m", "OptInter-M", "#9467bd"),
                   ("fnn", "FNN", "#2ca02c"))


def plot_recovery(summary: dict, out: str | Path) -> None:
    """Planted benchmark against the data size: macro-F1 of the recovered methods per recipe
    (left) and test AUC per model (right), mean ± std over seeds."""
    sizes = [int(n) for n in summary["sizes"]]
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for key, label, color in RECOVERY_SERIES:
        for ax, get in ((left, lambda b: b.get("recipes", {}).get(key, {}).get("macro_f1")),
                        (right, lambda b: b["test_auc"].get(key))):
            stats = [get(summary["by_size"][str(n)]) for n in sizes]
            if not all(s and s.get("mean") is not None for s in stats):
                continue
            mean = np.array([s["mean"] for s in stats])
            std = np.array([s["std"] or 0.0 for s in stats])
            ax.errorbar(sizes, mean, yerr=std, marker="o", capsize=3, color=color, label=label)
    for ax, what in ((left, "macro-F1 of the chosen methods"), (right, "test AUC")):
        ax.set_xscale("log")
        ax.set_xlabel("rows generated")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    left.set_ylim(0, 1.02)
    left.set_title("recovery of the planted method per pair", fontsize=10)
    right.set_title("test AUC (re-trained models)", fontsize=10)
    right.legend(fontsize=7, loc="lower right")
    _save(fig, out)
