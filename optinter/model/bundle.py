"""A trained run as a self-contained artifact: the model bundle.

Every run that trains writes one folder next to its results JSON
(`results/{ds}/runs/{run}/seed{s}.model/`, `results/{ds}/{run}.model/`):

  manifest.json            format, version, every other file's sha256 and size, and `digest`:
                           sha256 of the canonical JSON of that file table
  model.json               model name, run entry, hyper-parameters, search settings, metrics
                           of the run (valid / test AUC and log loss), library versions, and the
                           input the model reads (format, field and pair names and order)
  weights.safetensors      the state dict (safetensors: tensors and a JSON header, no code)
  feature_map.json         the data -> model contract the model was trained on
  architecture.json        the architecture it re-trained (OptInter, AutoFIS), when there is one
  vocab/fields.parquet     field, value, id: every kept value of every categorical field
  vocab/crosses.parquet    pair, a_id, b_id, id: every kept combination of two field ids
  vocab/stats.json         the vocab stage's statistics (continuous min / max, format, split)
  model.pt2                the model exported with torch.export (export.py), for serving

Loading (`load`) needs no config and no data/ folder and never unpickles anything: the
manifest's digest and every file's checksum are verified first, files outside the manifest are
refused, the weights must be a safetensors file, and the model is rebuilt from model.json and
feature_map.json by the registry. model.pt2 is not read by `load`; a serving system reads it
with `torch.export.load` (which uses pickle) after checking its sha256 in the manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import struct
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save_file as st_save_file

from optinter.io import atomic_path, file_digest, remove_stale
from optinter.model import export
from optinter.model.featuremap import FeatureMap
from optinter.model.registry import get_model

log = logging.getLogger(__name__)

FORMAT = "optinter-model-bundle"
VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
PROGRAM = "model.pt2"
VOCAB_FILES = ("fields.parquet", "crosses.parquet", "stats.json")
LIBRARIES = ("torch", "numpy", "pyarrow", "duckdb", "safetensors", "optinter")
# results JSON keys kept in model.json's `metrics`
METRIC_KEYS = ("valid_auc", "valid_logloss", "test_auc", "test_logloss", "params", "epochs",
               "best_epoch", "best_step", "train_seconds", "device", "threads", "seed",
               "architecture_counts")


class BundleError(ValueError):
    """A model bundle optinter refuses to load; the message is one line naming the file."""


@dataclass
class Bundle:
    path: Path
    model: torch.nn.Module     # in eval mode, on `device`
    meta: dict                 # model.json
    feature_map: dict          # feature_map.json
    fmap: FeatureMap

    @property
    def vocab_dir(self) -> Path:
        return self.path / "vocab"

    @property
    def input_format(self):
        """What optinter.data.ingest reads new raw rows as (the training data's format)."""
        return self.meta["input"]["format"]


def versions() -> dict:
    """Library versions of the run (from package metadata: nothing is imported)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["torch"] = torch.__version__
    return out


def _state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every persistent tensor, on the CPU, contiguous and unshared (safetensors needs that)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save(out_dir: str | os.PathLike, model: torch.nn.Module, data_dir: str | os.PathLike,
         vocab_dir: str | os.PathLike, results: dict, architecture=None,
         export_program: bool = True) -> dict:
    """Write the bundle of a trained `model` into `out_dir` (atomically, as one folder).

    `data_dir` holds the feature_map.json it trained on, `vocab_dir` the vocab stage's files
    it was encoded with, `results` is the run's results JSON (run_model's dict: model, config,
    run, metrics); `architecture` the architecture.json path (or dict) it re-trained.
    Returns the manifest."""
    out_dir, data_dir, vocab_dir = Path(out_dir), Path(data_dir), Path(vocab_dir)
    remove_stale(out_dir)
    fmap_json = json.loads((data_dir / "feature_map.json").read_text())
    stats = json.loads((vocab_dir / "stats.json").read_text())
    if stats["source"].get("sha256") != fmap_json["source"].get("sha256"):
        raise BundleError(f"{vocab_dir}: vocabularies of another raw file than "
                          f"{data_dir / 'feature_map.json'} (source sha256 differs)")
    fmap = FeatureMap.from_dict(fmap_json, source=str(data_dir / "feature_map.json"))
    cfg = results.get("config", {})
    meta = {
        "model": results["model"], "run": results.get("run"), "dataset": results.get("dataset"),
        "hp": cfg.get("hp"), "search": cfg.get("search"), "train": cfg.get("train"),
        "metrics": {k: results.get(k) for k in METRIC_KEYS},
        "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": {"format": stats["format"], "log_bucket": fmap_json.get("log_bucket"),
                  "label": fmap_json.get("label", "label"),
                  "categorical": [f.name for f in fmap.categorical],
                  "continuous": [f.name for f in fmap.continuous],
                  "pairs": [p.name for p in fmap.pairs]},
        "serving": {"program": None, "inputs": list(export.INPUTS), "output": "logit"},
    }
    with atomic_path(out_dir) as tmp:
        (tmp / "vocab").mkdir(parents=True)
        for name in VOCAB_FILES:
            shutil.copyfile(vocab_dir / name, tmp / "vocab" / name)
        shutil.copyfile(data_dir / "feature_map.json", tmp / "feature_map.json")
        if architecture is not None:
            arch = (json.loads(Path(architecture).read_text())
                    if isinstance(architecture, (str, Path)) else architecture)
            (tmp / "architecture.json").write_text(json.dumps(arch, indent=2, sort_keys=True))
        st_save_file(_state_dict(model), str(tmp / WEIGHTS), metadata={"format": FORMAT})
        os.chmod(tmp / WEIGHTS, 0o644)  # safetensors creates it owner-only
        if export_program:
            try:
                export.save_program(export.export_program(model, fmap), tmp / PROGRAM)
                meta["serving"]["program"] = PROGRAM
            except Exception as err:  # a model export cannot trace: the bundle still scores
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                meta["serving"]["error"] = f"{type(err).__name__}: {first}"[:500]
                log.warning("%s: torch.export failed (%s); the bundle has no %s",
                            results["model"], meta["serving"]["error"], PROGRAM)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        manifest = _manifest(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("model bundle -> %s (digest %s)", out_dir, manifest["digest"][:12])
    return manifest


def _files(root: Path) -> list[str]:
    """The payload: every file but the manifest and hidden ones (Snakemake's
    .snakemake_timestamp in a directory output), which nothing reads."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))


def _digest(files: dict) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _manifest(root: Path) -> dict:
    files = {name: {"sha256": file_digest(root / name), "bytes": (root / name).stat().st_size}
             for name in _files(root)}
    return {"format": FORMAT, "version": VERSION, "files": files, "digest": _digest(files)}


# ------------------------------------------------------------------------------------ loading
PICKLE_HINT = "optinter bundles hold no pickles, and optinter never unpickles one"


def _what_is(head: bytes) -> str | None:
    """A name for content that is code-carrying (pickle, torch.save's zip) or None."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (torch.save writes pickles into one)"
    return None


def _check_safetensors(path: Path, data: bytes) -> None:
    kind = _what_is(data[:4])
    if kind:
        raise BundleError(f"{path}: is {kind}, not safetensors; {PICKLE_HINT}")
    if len(data) < 8:
        raise BundleError(f"{path}: not a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n]) if 8 + n <= len(data) else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise BundleError(f"{path}: not a safetensors file (no JSON header); {PICKLE_HINT}")


def _read_json(path: Path) -> dict:
    data = path.read_bytes()
    kind = _what_is(data[:4])
    if kind:
        raise BundleError(f"{path}: is {kind}, expected JSON; {PICKLE_HINT}")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: not valid JSON: {e}") from None


def verify(path: str | os.PathLike) -> dict:
    """Check a bundle without loading it: the manifest's format and digest, that exactly its
    files are there with their sha256 and size, and that no file is a pickle where data is
    expected. Returns the manifest; raises BundleError (one line) otherwise."""
    root = Path(path)
    if not (root / MANIFEST).is_file():
        raise BundleError(f"{root}: not an optinter model bundle (no {MANIFEST}); bundles are "
                          f"written next to a run's results JSON as <run>.model/")
    man = _read_json(root / MANIFEST)
    if man.get("format") != FORMAT or not isinstance(man.get("files"), dict):
        raise BundleError(f"{root / MANIFEST}: not an {FORMAT} manifest")
    if man.get("version") != VERSION:
        raise BundleError(f"{root / MANIFEST}: bundle version {man.get('version')!r}, this "
                          f"optinter reads version {VERSION}")
    if man.get("digest") != _digest(man["files"]):
        raise BundleError(f"{root / MANIFEST}: digest {str(man.get('digest'))[:16]}... does not "
                          f"match its file table (the manifest was altered)")
    on_disk = set(_files(root))
    listed = set(man["files"])
    if on_disk - listed:
        raise BundleError(f"{root}: files not in the manifest: {sorted(on_disk - listed)[:5]}")
    if listed - on_disk:
        raise BundleError(f"{root}: files of the manifest missing: {sorted(listed - on_disk)[:5]}")
    for name, entry in sorted(man["files"].items()):
        p = root / name
        if p.stat().st_size != entry.get("bytes") or file_digest(p) != entry.get("sha256"):
            raise BundleError(f"{p}: sha256 differs from the manifest's (the file was altered "
                              f"after the bundle was written)")
        if name.endswith(".parquet"):
            with open(p, "rb") as f:
                head = f.read(4)
            if head != b"PAR1":
                raise BundleError(f"{p}: not a Parquet file"
                                  + (f" (it is {_what_is(head)}); {PICKLE_HINT}"
                                     if _what_is(head) else ""))
    return man


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Bundle:
    """Verify and load a bundle: the model in eval mode, with its feature map and metadata."""
    root = Path(path)
    man = verify(root)
    for name in ("model.json", "feature_map.json", WEIGHTS):
        if name not in man["files"]:
            raise BundleError(f"{root}: the manifest lists no {name}")
    meta = _read_json(root / "model.json")
    fmap_json = _read_json(root / "feature_map.json")
    fmap = FeatureMap.from_dict(fmap_json, source=str(root / "feature_map.json"))
    arch = _read_json(root / "architecture.json") if "architecture.json" in man["files"] else None
    data = (root / WEIGHTS).read_bytes()
    _check_safetensors(root / WEIGHTS, data)
    try:
        state = st_load(data)
    except Exception as e:  # safetensors' own parse errors
        raise BundleError(f"{root / WEIGHTS}: not a readable safetensors file: {e}") from None
    try:
        cls = get_model(meta["model"])
    except KeyError as e:
        raise BundleError(f"{root / 'model.json'}: {e.args[0]}") from None
    model = cls(fmap, meta["hp"], architecture=arch, search_cfg=meta.get("search"))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise BundleError(f"{root / WEIGHTS}: does not fit model {meta['model']!r}: "
                          f"{' '.join(str(e).split())[:300]}") from None
    model.to(device).eval()
    return Bundle(root, model, meta, fmap_json, fmap)


def load_program(path: str | os.PathLike) -> torch.export.ExportedProgram:
    """The bundle's exported program, after `verify` (torch.export.load itself uses pickle)."""
    root = Path(path)
    man = verify(root)
    if PROGRAM not in man["files"]:
        meta = _read_json(root / "model.json")
        raise BundleError(f"{root}: no {PROGRAM} (export failed: "
                          f"{meta.get('serving', {}).get('error', 'not written')})")
    return torch.export.load(os.fspath(root / PROGRAM))
