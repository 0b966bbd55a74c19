"""Write a small processed dataset that follows the data -> model contract (docs/design.md).

Used by model, baseline and analysis tests so they do not depend on the data layer. Labels
carry a main effect on the first categorical field and a memorise-only effect on the pair of
fields 0 and 1, so a model that learns anything beats chance.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make_processed(out: Path, rows: int = 3000, n_cont: int = 2, n_cat: int = 5,
                   vocab: int = 8, seed: int = 0, lowrank: float = 0.0,
                   lowrank_vocab: int | None = None) -> dict:
    """Pair 0 (C1 x C2) carries a full-rank effect; with `lowrank` > 0 the last pair (the two
    last fields, of `lowrank_vocab` values each) also a rank-1 effect u[a] v[b] of that scale."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cat = rng.integers(0, vocab, size=(rows, n_cat)).astype(np.int32)
    cont = rng.random((rows, n_cont)).astype(np.float32)
    pairs = list(itertools.combinations(range(n_cat), 2))
    cross = np.stack([cat[:, a] * vocab + cat[:, b] for a, b in pairs], axis=1).astype(np.int32)
    # (with `lowrank`: the crosses are recomputed below over the fields' own vocabularies)
    effect = rng.normal(0, 1.5, size=vocab * vocab)
    logit = 0.8 * (cat[:, 0] % 2) + effect[cross[:, 0]] + cont[:, 0] - 1.0
    sizes = [vocab] * n_cat
    if lowrank:
        lv = int(lowrank_vocab or vocab)
        sizes[-2:] = [lv, lv]
        cat[:, -2:] = rng.integers(0, lv, size=(rows, 2))
        cross = np.stack([cat[:, a] * sizes[b] + cat[:, b] for a, b in pairs],
                         axis=1).astype(np.int32)
        u, v = rng.normal(0, 1, lv), rng.normal(0, 1, lv)
        logit = logit + lowrank * u[cat[:, -2]] * v[cat[:, -1]]
        # crosses seen fewer than 5 times share id 0, as below a cross threshold
        seen = np.bincount(cross[:, -1], minlength=lv * lv)
        cross[:, -1] = np.where(seen[cross[:, -1]] < 5, 0, cross[:, -1])
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)

    cont_names = [f"I{i + 1}" for i in range(n_cont)]
    cat_names = [f"C{i + 1}" for i in range(n_cat)]
    pair_names = [f"{cat_names[a]}_x_{cat_names[b]}" for a, b in pairs]
    split = rng.permutation(np.repeat([0, 1, 2], [rows * 8 // 10, rows // 10, rows - rows * 9 // 10]))
    files, counts = {}, {}
    for code, name in enumerate(["train", "valid", "test"]):
        idx = np.flatnonzero(split == code)
        cols = {"row_id": pa.array(idx.astype(np.int64)), "label": pa.array(label[idx])}
        cols.update({n: pa.array(cont[idx, i]) for i, n in enumerate(cont_names)})
        cols.update({n: pa.array(cat[idx, i]) for i, n in enumerate(cat_names)})
        cols.update({n: pa.array(cross[idx, i]) for i, n in enumerate(pair_names)})
        pq.write_table(pa.table(cols), out / f"{name}.parquet", row_group_size=1000)
        files[name], counts[name] = f"{name}.parquet", int(idx.size)
    fmap = {
        "dataset": "tiny", "format": "synthetic", "source": {"path": None, "sha256": None},
        "label": "label",
        "fields": [{"name": n, "type": "continuous", "min": 0.0, "max": 1.0, "missing_value": 0.0}
                   for n in cont_names]
        + [{"name": n, "type": "categorical", "vocab_size": v, "oov_id": 0, "crossed": True}
           for n, v in zip(cat_names, sizes)],
        "pairs": [{"name": p, "fields": [cat_names[a], cat_names[b]],
                   "vocab_size": sizes[a] * sizes[b], "oov_id": 0}
                  for p, (a, b) in zip(pair_names, pairs)],
        "rows": counts, "thresholds": {"min_count": 1, "cross_min_count": 1},
        "split": {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": seed}, "files": files,
    }
    (out / "feature_map.json").write_text(json.dumps(fmap, indent=2))
    return fmap
