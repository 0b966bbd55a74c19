"""FeatureMap: the model's view of feature_map.json (the one data -> model contract).

Batch tensors follow this object: `cat` columns are `categorical` in order, `cont` columns are
`continuous` in order, `cross` columns are `pairs` in order. `Pair.index` holds the positions of
the pair's two fields inside `categorical` (and therefore inside the first `n_categorical` slots
of a FieldEmbedding output).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optinter.io import StageOutputError, rebuild_hint


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # "categorical" | "continuous"
    vocab_size: int = 0  # counts the OOV id 0; 0 for continuous fields
    crossed: bool = False


@dataclass(frozen=True)
class Pair:
    name: str
    fields: tuple[str, str]
    index: tuple[int, int]  # positions of the two fields in FeatureMap.categorical
    vocab_size: int


@dataclass(frozen=True)
class FeatureMap:
    dataset: str
    fields: tuple[Field, ...]
    pairs: tuple[Pair, ...]
    rows: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    data_dir: Path | None = None

    @property
    def categorical(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type == "categorical")

    @property
    def continuous(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type == "continuous")

    @property
    def n_categorical(self) -> int:
        return len(self.categorical)

    @property
    def n_continuous(self) -> int:
        return len(self.continuous)

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def cat_vocab(self) -> list[int]:
        return [f.vocab_size for f in self.categorical]

    @property
    def pair_vocab(self) -> list[int]:
        return [p.vocab_size for p in self.pairs]

    @property
    def pair_index(self) -> np.ndarray:
        """int64 [n_pairs, 2]: categorical positions of each pair's fields."""
        return np.array([p.index for p in self.pairs], dtype=np.int64).reshape(-1, 2)

    def path(self, split: str) -> Path:
        """Parquet file of a split ("train" | "valid" | "test")."""
        if self.data_dir is None:
            raise ValueError("FeatureMap was not loaded from a directory; no split paths")
        if split not in self.files:
            raise KeyError(f"feature_map.json in {self.data_dir}: no file for split {split!r}")
        return self.data_dir / self.files[split]

    @classmethod
    def load(cls, path: str | Path) -> "FeatureMap":
        """Read feature_map.json (a file, or a directory holding it) and validate it."""
        path = Path(path)
        if path.is_dir():
            path = path / "feature_map.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: feature_map.json not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            where = f" (line {e.lineno}): {e.msg}" if isinstance(e, json.JSONDecodeError) else ""
            raise StageOutputError(f"{path}: not valid JSON{where}; the file is damaged or "
                                   f"truncated. {rebuild_hint(path)}") from None
        try:
            return cls.from_dict(raw, source=str(path), data_dir=path.parent)
        except (ValueError, AttributeError, TypeError) as e:
            raise StageOutputError(f"{str(e).splitlines()[0]}; {rebuild_hint(path)}") from None

    def check_split(self, split: str, rows: int) -> None:
        """Refuse a split file whose row count is not the one feature_map.json records (a file
        copied over another, or left from an older encode)."""
        want = self.rows.get(split)
        if want is not None and int(want) != rows:
            path = self.path(split)
            raise StageOutputError(f"{path}: {rows} rows, but feature_map.json records {want} "
                                   f"for {split}: the file is not the one encoded with it. "
                                   f"{rebuild_hint(path)}")

    @classmethod
    def from_dict(cls, raw: dict, source: str = "feature_map", data_dir: Path | None = None
                  ) -> "FeatureMap":
        def bad(where: str, expected: str):
            raise ValueError(f"{source}: {where}: expected {expected}")

        for key in ("fields", "pairs"):
            if not isinstance(raw.get(key), list):
                bad(key, "a list")
        fields = []
        for i, f in enumerate(raw["fields"]):
            where = f"fields[{i}] ({f.get('name', '?')})"
            if not isinstance(f.get("name"), str):
                bad(where + ".name", "a string")
            if f.get("type") not in ("categorical", "continuous"):
                bad(where + ".type", "'categorical' or 'continuous'")
            if f["type"] == "categorical":
                vs = f.get("vocab_size")
                if not isinstance(vs, int) or vs < 1:
                    bad(where + ".vocab_size", "an integer >= 1 (it counts the OOV id 0)")
                fields.append(Field(f["name"], "categorical", vs, bool(f.get("crossed", False))))
            else:
                fields.append(Field(f["name"], "continuous"))
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            bad("fields", "unique field names")
        cat_pos = {f.name: i for i, f in enumerate(x for x in fields if x.type == "categorical")}
        pairs = []
        for i, p in enumerate(raw["pairs"]):
            where = f"pairs[{i}] ({p.get('name', '?')})"
            fs = p.get("fields")
            if not (isinstance(fs, list) and len(fs) == 2):
                bad(where + ".fields", "two field names")
            for n in fs:
                if n not in cat_pos:
                    bad(where + ".fields", f"categorical field names; {n!r} is not one")
            vs = p.get("vocab_size")
            if not isinstance(vs, int) or vs < 1:
                bad(where + ".vocab_size", "an integer >= 1 (it counts the OOV id 0)")
            pairs.append(Pair(p.get("name", f"{fs[0]}_x_{fs[1]}"), (fs[0], fs[1]),
                              (cat_pos[fs[0]], cat_pos[fs[1]]), vs))
        return cls(dataset=str(raw.get("dataset", "")), fields=tuple(fields), pairs=tuple(pairs),
                   rows=dict(raw.get("rows", {})), files=dict(raw.get("files", {})),
                   data_dir=data_dir)
