"""Offline generator of the demo / planted-structure datasets, in the raw Criteo TSV layout
(or, with structure option ``layout: avazu``, the raw Avazu CSV layout).

Every label is drawn from a logistic model whose pairwise structure is known:

* ``memorize`` pairs: a random effect per value combination, double-centred so it is a pure
  interaction (no main-effect part a naive model could pick up), over fields of moderate
  cardinality so that every combination is seen often enough to be learnt;
* ``factorize`` pairs: a low-rank effect ``sum_k u_k[a] v_k[b]`` over high-cardinality fields,
  where most combinations are too rare to memorise but each value is frequent;
* everything else is ``naive`` (irrelevant as a pair); main effects on informative fields and on
  some filler fields and integer fields; an unobserved per-row logit noise; an intercept
  calibrated to a target click rate.

The structure is rebuilt from (seed, structure kwargs) alone, so ``truth.json`` stays small and
``oracle_logit`` can recompute the Bayes logit of any generated row.

In the Avazu layout (``id,click,hour,C1,banner_pos,...,C21``, with its header) the planted pairs
lie among its 21 categorical columns; ``hour`` (YYMMDDHH over ten days, uniform) carries no
effect, so the fields the avazu reader derives from it (hour, weekday, is_weekend) are
irrelevant, as are their pairs; there are no integer fields.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from optinter.data.table import AVAZU_NAMES
from optinter.io import atomic_path, write_json

N_INT, N_CAT = 13, 26
INT_FIELDS = [f"I{i}" for i in range(1, N_INT + 1)]
CAT_FIELDS = [f"C{i}" for i in range(1, N_CAT + 1)]
# The raw layouts the generator writes: integer and categorical columns (criteo: label, I1..I13,
# C1..C26, no header; avazu: its header, id, click, hour and 21 categorical columns)
LAYOUTS = {"criteo": (INT_FIELDS, CAT_FIELDS), "avazu": ([], list(AVAZU_NAMES[3:]))}
AVAZU_HOURS = 240  # ten days of hours: 14102100 .. 14103023
# Avazu's integer-valued columns (the rest are hex strings): their values are written in decimal
# and an empty (missing) value as -1, as Avazu has them
AVAZU_INTEGER = {"C1", "banner_pos", "device_type", "device_conn_type",
                 *(f"C{i}" for i in range(14, 22))}
METHODS = ("memorize", "factorize", "naive")

# Rows are drawn in full fixed-size chunks, each from its own seed stream (the last one is cut),
# so a file of n rows is a prefix of a file of m > n rows (nested data sizes in the planted
# benchmark) and memory stays bounded for benchmark-sized files.
CHUNK_ROWS = 20_000
_CALIBRATION_ROWS = 200_000
_STREAM_STRUCTURE, _STREAM_CALIBRATION, _STREAM_ROWS = 0, 1, 2

DEFAULTS: dict[str, Any] = {
    "memorize_pairs": 3,            # number of planted memorize pairs
    "factorize_pairs": 2,           # number of planted factorize (low-rank) pairs
    "memorize_cardinality": 20,     # values per memorize field (400 combos, all frequent)
    "factorize_cardinality": 200,   # values per factorize field (40k combos: too rare to memorise)
    "factorize_rank": 2,
    "memorize_scale": 1.2,          # sd of the per-combination logit effect
    "factorize_scale": 1.2,         # sd of the low-rank logit effect
    "main_scale": 0.4,              # sd of per-value main effects on informative fields
    "int_scale": 0.5,               # logit effect of a relevant integer field across its range
    "noise": 0.3,                   # sd of an unobserved per-row logit term
    "ctr": 0.25,                    # target click rate (class balance)
    "filler_cardinalities": [1, 2, 2, 3, 3, 4, 4, 5, 6, 8, 8, 10, 12, 16, 24, 40],
    "filler_missing": 0.2,          # share of filler fields with ~30% empty values
    "filler_main_share": 0.5,       # share of filler fields with a main effect
    "filler_zipf": 1.0,             # value frequencies of filler fields ∝ rank^-zipf
    "memorize": None,               # optional explicit [[a, b], ...]; else placed at random
    "factorize": None,
    # Beyond disjoint pairs of equal strength (held-out and dense structures, docs/planted.md);
    # each None / 0 leaves the default structure and its random draws exactly as they were.
    "memorize_fields": None,        # fields the memorize pairs are drawn among (pairs share
    "factorize_fields": None,       # fields); None: two fields of their own per pair
    "strength_spread": 1.0,         # pair effects graded from 1 down to 1/spread (log-even)
    "planted_zipf": 0.0,            # value frequencies of planted fields ∝ rank^-zipf (0: uniform)
    "layout": "criteo",             # raw layout written: criteo (TSV) | avazu (CSV with header)
}


@dataclass
class Structure:
    """The planted model: per-field value codes, probabilities and effects, per-pair effects."""

    seed: int
    params: dict[str, Any]
    hexes: dict[str, np.ndarray] = field(default_factory=dict)       # value index -> raw string
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    main: dict[str, np.ndarray] = field(default_factory=dict)        # value index -> logit
    int_lambda: np.ndarray | None = None
    int_missing: np.ndarray | None = None
    int_coef: np.ndarray | None = None
    memorize: list[tuple[str, str, np.ndarray]] = field(default_factory=list)
    factorize: list[tuple[str, str, np.ndarray, np.ndarray]] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    intercept: float = 0.0

    @property
    def ints(self) -> list[str]:
        return LAYOUTS[self.params["layout"]][0]

    @property
    def cats(self) -> list[str]:
        return LAYOUTS[self.params["layout"]][1]

    def truth_pairs(self) -> dict[str, str]:
        """Planted pair -> method, named and ordered as the feature map names pairs (the
        layout's field order)."""
        order = self.cats.index
        name = lambda a, b: "_x_".join(sorted((a, b), key=order))  # noqa: E731
        out = {name(a, b): "memorize" for a, b, _ in self.memorize}
        out.update({name(a, b): "factorize" for a, b, _, _ in self.factorize})
        return dict(sorted(out.items(), key=lambda kv: tuple(map(order, kv[0].split("_x_")))))


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _resolve(structure: dict[str, Any]) -> dict[str, Any]:
    unknown = set(structure) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"demo.generate: unknown structure keys {sorted(unknown)}; "
                         f"expected some of {sorted(DEFAULTS)}")
    params = {**DEFAULTS, **structure}
    if not 0.0 < float(params["ctr"]) < 1.0:
        raise ValueError(f"demo.generate: ctr must be in (0, 1), got {params['ctr']}")
    for key in ("memorize_cardinality", "factorize_cardinality"):
        card = params[key]
        lo = min(card) if isinstance(card, (list, tuple)) else card
        if isinstance(card, (list, tuple)) and (len(card) != 2 or card[0] > card[1]):
            raise ValueError(f"demo.generate: {key} must be an integer or [low, high], got {card}")
        if lo < 2:
            raise ValueError("demo.generate: planted field cardinalities must be >= 2")
    if float(params["strength_spread"]) < 1:
        raise ValueError(f"demo.generate: strength_spread must be >= 1, "
                         f"got {params['strength_spread']}")
    if params["factorize_rank"] < 1:
        raise ValueError("demo.generate: factorize_rank must be >= 1")
    if params["layout"] not in LAYOUTS:
        raise ValueError(f"demo.generate: layout must be one of {sorted(LAYOUTS)}, "
                         f"got {params['layout']!r}")
    return params


def _place(params: dict[str, Any], rng: np.random.Generator) -> tuple[list, list]:
    """Choose disjoint fields for the planted pairs (explicit lists win over random placement)."""
    mem, fac = params["memorize"], params["factorize"]
    explicit = [f for pairs in (mem or [], fac or []) for p in pairs for f in p]
    cats = LAYOUTS[params["layout"]][1]
    bad = [f for f in explicit if f not in cats]
    if bad:
        raise ValueError(f"demo.generate: planted pairs name unknown fields {bad}; expected "
                         f"{cats[0]}..{cats[-1]} (layout {params['layout']})")
    if len(set(explicit)) != len(explicit):
        raise ValueError("demo.generate: planted pairs must use disjoint fields")
    free = [f for f in cats if f not in explicit]
    if params["memorize_fields"] is not None or params["factorize_fields"] is not None:
        return _place_shared(params, rng, free)
    need = 2 * ((0 if mem is not None else params["memorize_pairs"])
                + (0 if fac is not None else params["factorize_pairs"]))
    if need > len(free):
        raise ValueError(f"demo.generate: {need} planted fields requested, only {len(free)} free")
    drawn = [free[i] for i in rng.permutation(len(free))[:need]]
    if mem is None:
        mem, drawn = [drawn[2 * i:2 * i + 2] for i in range(params["memorize_pairs"])], \
            drawn[2 * params["memorize_pairs"]:]
    if fac is None:
        fac = [drawn[2 * i:2 * i + 2] for i in range(params["factorize_pairs"])]
    return [tuple(p) for p in mem], [tuple(p) for p in fac]


def _place_shared(params: dict[str, Any], rng: np.random.Generator,
                  free: list[str]) -> tuple[list, list]:
    """Pairs drawn among a group of fields per method, so that fields are shared: many planted
    pairs over the layout's fields (a dense truth). Explicit lists are not combined with this."""
    if params["memorize"] is not None or params["factorize"] is not None:
        raise ValueError("demo.generate: memorize_fields / factorize_fields place pairs at "
                         "random; do not combine them with explicit memorize / factorize lists")
    groups, out = {}, []
    order = list(rng.permutation(len(free)))
    for kind in ("memorize", "factorize"):
        n_pairs = int(params[f"{kind}_pairs"])
        n_fields = params[f"{kind}_fields"] or 2 * n_pairs
        if n_fields * (n_fields - 1) // 2 < n_pairs:
            raise ValueError(f"demo.generate: {n_pairs} {kind} pairs need more than "
                             f"{n_fields} {kind}_fields")
        if n_fields > len(order):
            raise ValueError(f"demo.generate: {n_fields} {kind} fields requested, only "
                             f"{len(order)} free")
        groups[kind] = [free[i] for i in order[:n_fields]]
        order = order[n_fields:]
        fields = groups[kind]
        all_pairs = [(fields[i], fields[j]) for i in range(len(fields))
                     for j in range(i + 1, len(fields))]
        out.append([all_pairs[i] for i in rng.permutation(len(all_pairs))[:n_pairs]])
    return out[0], out[1]


def _cardinality(spec, rng: np.random.Generator) -> int:
    """An int, or [low, high]: drawn log-uniformly for each field."""
    if isinstance(spec, (list, tuple)):
        return int(round(math.exp(rng.uniform(math.log(spec[0]), math.log(spec[1])))))
    return int(spec)


def _grades(n: int, spread: float) -> np.ndarray:
    """Effect scales of n pairs, from 1 down to 1 / spread, evenly on a log scale."""
    if n < 2 or spread == 1:
        return np.ones(n)
    return spread ** -np.linspace(0.0, 1.0, n)


def _codes(rng: np.random.Generator, n: int, decimal: bool = False) -> np.ndarray:
    """n distinct 8-hex-digit value strings (the Criteo hashed-categorical look), or the same
    numbers in decimal (an integer-valued column)."""
    vals: list[int] = []
    seen: set[int] = set()
    while len(vals) < n:
        for v in rng.integers(0, 2**32, size=2 * n, dtype=np.uint64).tolist():
            if v not in seen and len(vals) < n:
                seen.add(v)
                vals.append(v)
    return np.array([f"{v}" if decimal else f"{v:08x}" for v in vals], dtype=object)


def build_structure(seed: int, **structure: Any) -> Structure:
    """Rebuild the planted model deterministically from the seed and structure kwargs."""
    params = _resolve(structure)
    rng = _rng(seed, _STREAM_STRUCTURE)
    s = Structure(seed=seed, params=params)
    mem_pairs, fac_pairs = _place(params, rng)
    planted = {f: "memorize" for p in mem_pairs for f in p}
    planted.update({f: "factorize" for p in fac_pairs for f in p})
    fillers = [f for f in s.cats if f not in planted]
    cards = list(params["filler_cardinalities"]) or [1]
    n_missing = round(params["filler_missing"] * len(fillers))
    n_main = round(params["filler_main_share"] * len(fillers))
    missing = set(rng.permutation(fillers)[:n_missing].tolist()) if fillers else set()
    with_main = set(rng.permutation(fillers)[:n_main].tolist()) if fillers else set()
    for f in s.cats:
        if f in planted:
            card = _cardinality(params[f"{planted[f]}_cardinality"], rng)
            if params["planted_zipf"]:
                w = np.arange(1, card + 1, dtype=float) ** -float(params["planted_zipf"])
                probs = w / w.sum()
            else:
                probs = np.full(card, 1.0 / card)  # uniform: every planted value is frequent
            s.roles[f] = planted[f]
            hexes = _codes(rng, card, decimal=f in AVAZU_INTEGER and not s.ints)
            main = rng.normal(0.0, params["main_scale"], card)
        else:
            card = int(cards[fillers.index(f) % len(cards)])
            w = np.arange(1, card + 1, dtype=float) ** -float(params["filler_zipf"])
            probs = w / w.sum()
            s.roles[f] = "filler"
            hexes = _codes(rng, card, decimal=f in AVAZU_INTEGER and not s.ints)
            main = rng.normal(0.0, params["main_scale"], card) if f in with_main else np.zeros(card)
            if f in missing:
                # empty string is an ordinary (frequent) value, as in raw Criteo (Avazu: -1)
                empty = "-1" if f in AVAZU_INTEGER and not s.ints else ""
                hexes = np.concatenate([np.array([empty], dtype=object), hexes])
                probs = np.concatenate([[0.3], 0.7 * probs])
                main = np.concatenate([[rng.normal(0.0, params["main_scale"]) if f in with_main
                                        else 0.0], main])
        s.hexes[f], s.probs[f], s.main[f] = hexes, probs, main - probs @ main
    n_int = len(s.ints)
    s.int_lambda = rng.uniform(0.5, 12.0, n_int)
    s.int_missing = np.where(rng.random(n_int) < 0.4, rng.uniform(0.05, 0.5, n_int), 0.0)
    s.int_coef = np.where(rng.random(n_int) < 0.5, rng.choice([-1.0, 1.0], n_int), 0.0)
    s.int_coef *= params["int_scale"]
    spread = float(params["strength_spread"])
    for (a, b), grade in zip(mem_pairs, _grades(len(mem_pairs), spread)):
        ka, kb = len(s.hexes[a]), len(s.hexes[b])
        t = rng.normal(0.0, 1.0, (ka, kb))
        t = t - t.mean(0, keepdims=True) - t.mean(1, keepdims=True) + t.mean()
        s.memorize.append((a, b, t * grade * params["memorize_scale"] / max(t.std(), 1e-12)))
    for (a, b), grade in zip(fac_pairs, _grades(len(fac_pairs), spread)):
        r = params["factorize_rank"]
        u = rng.normal(0.0, 1.0, (len(s.hexes[a]), r))
        v = rng.normal(0.0, 1.0, (len(s.hexes[b]), r))
        u, v = u - u.mean(0), v - v.mean(0)  # no main-effect part: a pure interaction
        scale = math.sqrt(grade * params["factorize_scale"]
                          / max(float((u @ v.T).std()), 1e-12))
        s.factorize.append((a, b, u * scale, v * scale))
    s.intercept = _calibrate(s)
    return s


def _draw(s: Structure, rng: np.random.Generator, n: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Draw n rows: value indices per categorical field, integer values (NaN = missing), logit
    noise; in the Avazu layout also cat["hour"], the hour index (no effect)."""
    cat = {f: rng.choice(len(s.probs[f]), size=n, p=s.probs[f]) for f in s.cats}
    if not s.ints:
        noise = rng.normal(0.0, s.params["noise"], n)
        cat["hour"] = rng.integers(0, AVAZU_HOURS, n)
        return cat, np.zeros((n, 0)), noise
    ints = rng.poisson(s.int_lambda, size=(n, N_INT)).astype(float)
    ints[:, 1] -= (rng.random(n) < 0.02) * (ints[:, 1] + rng.integers(1, 3, n))  # rare negatives
    ints[rng.random((n, N_INT)) < s.int_missing] = np.nan
    noise = rng.normal(0.0, s.params["noise"], n)
    return cat, ints, noise


def _logit(s: Structure, cat: dict[str, np.ndarray], ints: np.ndarray) -> np.ndarray:
    """The structural (Bayes) logit, without the unobserved noise and without the intercept."""
    z = np.zeros(len(ints))
    for f in s.cats:
        z += s.main[f][cat[f]]
    scaled = np.clip(ints, 0.0, None) / (2.0 * s.int_lambda)
    z += np.nan_to_num(np.clip(scaled, 0.0, 1.0) - 0.5, nan=0.0) @ s.int_coef
    for a, b, t in s.memorize:
        z += t[cat[a], cat[b]]
    for a, b, u, v in s.factorize:
        z += np.einsum("nk,nk->n", u[cat[a]], v[cat[b]])
    return z


def _calibrate(s: Structure) -> float:
    """Intercept whose expected click rate equals params['ctr'] (bisection on a fixed sample)."""
    cat, ints, noise = _draw(s, _rng(s.seed, _STREAM_CALIBRATION), _CALIBRATION_ROWS)
    z = _logit(s, cat, ints) + noise
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(z + mid)))) < s.params["ctr"]:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _hour_strings(index: np.ndarray) -> np.ndarray:
    """Avazu's YYMMDDHH from an hour index: 14102100 (2014-10-21, 00h) onwards."""
    day, hour = np.divmod(np.asarray(index, dtype=np.int64), 24)
    return np.array([f"1410{21 + d:02d}{h:02d}" for d, h in zip(day, hour)], dtype=object)


def _chunk_table(s: Structure, cat, ints, label, first_row: int = 0) -> pa.Table:
    if not s.ints:  # avazu: id (the row's number), click, hour, the categorical columns
        n = len(label)
        cols = {"id": pa.array([str(i) for i in range(first_row, first_row + n)], pa.string()),
                "click": pa.array(label.astype(np.int8)),
                "hour": pa.array(_hour_strings(cat["hour"]), type=pa.string())}
        cols.update({f: pa.array(s.hexes[f][cat[f]], type=pa.string()) for f in s.cats})
        return pa.table(cols)
    cols: dict[str, pa.Array] = {"label": pa.array(label.astype(np.int8))}
    for j, f in enumerate(INT_FIELDS):
        col = ints[:, j]
        cols[f] = pa.array(np.nan_to_num(col).astype(np.int64), mask=np.isnan(col))
    for f in CAT_FIELDS:
        cols[f] = pa.array(s.hexes[f][cat[f]], type=pa.string())
    return pa.table(cols)


def _write_chunks(s: Structure, fh, schema: pa.Schema, opts, rows: int, seed: int,
                  logits: list, labels: list) -> None:
    """Draw and write the rows chunk by chunk (each chunk its own seed stream); collect each
    chunk's structural logit and labels."""
    with pacsv.CSVWriter(fh, schema, write_options=opts) as w:
        for k, start in enumerate(range(0, rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, rows - start)
            rng = _rng(seed, _STREAM_ROWS, k)
            cat, ints, noise = _draw(s, rng, CHUNK_ROWS)
            z = _logit(s, cat, ints) + s.intercept
            label = rng.random(CHUNK_ROWS) < 1.0 / (1.0 + np.exp(-(z + noise)))
            cat, ints, z, label = {f: c[:n] for f, c in cat.items()}, ints[:n], z[:n], label[:n]
            w.write_table(_chunk_table(s, cat, ints, label, first_row=start))
            logits.append(z)
            labels.append(label)


def generate(out_raw: str | Path, out_truth: str | Path, rows: int, seed: int,
             **structure: Any) -> dict:
    """Write a planted dataset as raw Criteo TSV, or Avazu CSV with ``layout="avazu"`` (``.gz``
    if the name says so), and its truth.json.

    Returns the truth dict. ``structure`` overrides keys of ``DEFAULTS``.
    """
    if int(rows) < 1:
        raise ValueError(f"demo.generate: rows must be >= 1, got {rows}")
    s = build_structure(int(seed), **structure)
    s.params = json.loads(json.dumps(s.params))  # as truth.json will hold it (tuples -> lists)
    avazu = not s.ints
    opts = pacsv.WriteOptions(include_header=False, delimiter="," if avazu else "\t",
                              quoting_style="none")
    empty = {f: np.zeros(0, int) for f in [*s.cats, "hour"]}
    schema = _chunk_table(s, empty, np.zeros((0, len(s.ints))), np.zeros(0)).schema
    logits, labels = [], []
    with atomic_path(out_raw) as tmp:
        opener = gzip.open if str(out_raw).endswith(".gz") else open
        with opener(tmp, "wb") as fh:
            if avazu:  # the header as Avazu's train.csv has it (pyarrow would quote the names)
                fh.write((",".join(schema.names) + "\n").encode())
            _write_chunks(s, fh, schema, opts, int(rows), int(seed), logits, labels)
    z, y = np.concatenate(logits), np.concatenate(labels)
    truth = {
        "pairs": s.truth_pairs(),
        "methods": list(METHODS),
        "seed": int(seed),
        "rows": int(rows),
        "structure": s.params,
        "fields": {f: {"role": s.roles[f], "cardinality": len(s.hexes[f]),
                       "main_effect": bool(np.any(s.main[f] != 0))} for f in s.cats},
        "int_effects": {f: float(c) for f, c in zip(s.ints, s.int_coef)},
        "intercept": float(s.intercept),
        "ctr": float(y.mean()),
        "bayes_auc": auc(y, z),
    }
    write_json(out_truth, truth)
    return truth


def auc(label: np.ndarray, score: np.ndarray) -> float | None:
    """Exact ROC AUC with ties (Mann-Whitney); None when only one class is present."""
    label = np.asarray(label).astype(bool)
    pos, n = int(label.sum()), len(label)
    if pos == 0 or pos == n:
        return None
    _, inverse, counts = np.unique(np.asarray(score), return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0  # average 1-based rank of each tie group
    ranks = mid_rank[inverse]
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * (n - pos)))


def structure_from_truth(truth: dict) -> Structure:
    """Rebuild the planted model recorded in a truth.json dict."""
    s = build_structure(truth["seed"], **truth["structure"])
    if s.truth_pairs() != truth["pairs"]:
        raise ValueError("truth.json does not match the structure rebuilt from its seed")
    return s


def _raw_columns(layout: str) -> tuple[int, int, int]:
    """(label column, first integer column, first categorical column) of a raw row."""
    return (1, 3, 3) if layout == "avazu" else (0, 1, 1 + len(LAYOUTS[layout][0]))


def read_raw(path: str | Path, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """A generated raw file as (labels, rows of string columns as ``oracle_logit`` takes them)."""
    import pandas as pd

    layout = truth["structure"].get("layout", "criteo")
    avazu = layout == "avazu"
    raw = pd.read_csv(path, sep="," if avazu else "\t", header=0 if avazu else None, dtype=str,
                      keep_default_na=False, na_filter=False).to_numpy()
    return raw[:, _raw_columns(layout)[0]].astype(int), raw


def oracle_logit(raw_rows: Sequence[Sequence[str]] | "np.ndarray", truth: dict) -> np.ndarray:
    """Bayes logit (structural part plus intercept) of raw rows given as string columns: 40
    for the Criteo layout, 24 for the Avazu layout (id, click, hour, 21 categorical).

    ``raw_rows`` is e.g. the rows of ``read_raw``; a value the generator never produces raises
    KeyError.
    """
    s = structure_from_truth(truth)
    arr = np.asarray(raw_rows, dtype=object)
    _, first_int, first_cat = _raw_columns(s.params["layout"])
    width = first_cat + len(s.cats)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"oracle_logit: expected rows of {width} columns "
                         f"({s.params['layout']} layout), got shape {arr.shape}")
    n_int = len(s.ints)
    ints = np.array([[float(v) if v != "" else np.nan for v in r]
                     for r in arr[:, first_int:first_int + n_int]]).reshape(len(arr), n_int)
    cat = {}
    for j, f in enumerate(s.cats):
        index = {h: i for i, h in enumerate(s.hexes[f])}
        cat[f] = np.array([index[v] for v in arr[:, first_cat + j]], dtype=np.int64)
    return _logit(s, cat, ints) + s.intercept
