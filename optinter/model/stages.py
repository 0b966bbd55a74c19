"""The workflow's training stages, each a package entry point a workflow script calls:
run_search (Alg. 1, the supernet), run_select (a recipe's decision from a search; the shortlist
recipe's steps run_shortlist, run_scan and run_finalist), search_stage
(AutoFIS's gate search), fit_model / run_model (Alg. 2 and every baseline). Each builds its
model and loaders, fingerprints its settings for resumable checkpoints and trains with
train.Trainer."""

from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from optinter.io import atomic_path, file_digest, write_json
from optinter.model.featuremap import FeatureMap
from optinter.model.holdout import uniform_sample
from optinter.model.importance import permutation_importance
from optinter.model.layers import count_parameters
from optinter.model.loader import ParquetBatches
from optinter.model.metrics import auc
from optinter.model.optinter import METHODS, OptInterNet, Supernet, load_choices
from optinter.model.pairscan import term_importance
from optinter.model import accel, bundle, selection, shortlist
from optinter.model.registry import get_model
from optinter.model.train import Trainer, evaluate, pick_device, runtime

log = logging.getLogger(__name__)
SEARCH_MODES = ("joint", "bilevel", "random")

def _fingerprint(device, **parts) -> str:
    parts["runtime"] = runtime(device)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _loaders(fmap: FeatureMap, hp: dict, train_cfg: dict, seed: int, device,
             bilevel: bool = False) -> dict:
    kw = dict(device=device, in_memory_max_mb=int(train_cfg.get("in_memory_max_mb", 1024)),
              buffer_rows=int(train_cfg.get("shuffle_buffer_rows", 500_000)),
              resident=accel.use_resident(fmap, train_cfg, device))
    bs = int(hp["batch_size"])
    ebs = _eval_batch_size(hp, train_cfg)
    data = {"train": ParquetBatches(fmap, "train", bs, shuffle=True, seed=seed, **kw).preload(),
            "valid": ParquetBatches(fmap, "valid", ebs, **kw).preload()}
    if bilevel:
        data["valid_shuffled"] = ParquetBatches(fmap, "valid", bs, shuffle=True,
                                                seed=seed + 1, **kw)
    return data


def _eval_batch_size(hp: dict, train_cfg: dict) -> int:
    bs = int(hp["batch_size"])
    return int(train_cfg.get("eval_batch_size", max(bs, 8192)))


def _setup(data_dir, train_cfg: dict, seed: int):
    fmap = FeatureMap.load(data_dir)
    device = pick_device(train_cfg.get("device", "auto"))
    torch.manual_seed(seed)
    return fmap, device, file_digest(Path(data_dir) / "feature_map.json")


def evaluate_supernet(model: Supernet, fmap: FeatureMap, hp: dict, valid: ParquetBatches,
                      device) -> dict:
    """The searched model without re-train (Table IX "w.o."): the supernet's best-epoch weights
    with its architecture fixed to the argmax choices (Eq. 19), evaluated on valid and, once,
    test. `params` counts what that fixed model uses (the re-train model's layout)."""
    choices = [p["choice"] for p in model.architecture()["pairs"]]
    model.fix_architecture(choices)
    try:
        va = evaluate(model, valid)
        te = evaluate(model, ParquetBatches(fmap, "test", valid.batch_size, device=device))
    finally:
        model.fix_architecture(None)
    net = OptInterNet(fmap, hp, architecture=choices, factorize_table=model.factorize_table)
    return {"architecture": "argmax", "valid_auc": va["auc"], "valid_logloss": va["logloss"],
            "test_auc": te["auc"], "test_logloss": te["logloss"],
            "params": count_parameters(net)}


def _validated(arch: dict, data_dir, hp: dict, search_cfg: dict, train_cfg: dict, seed: int,
               ckpt_dir) -> dict:
    """The `validated` recipe (selection.py) on a finished search: re-trains of candidate
    architectures from its ranking, judged on validation only. The paper's argmax stays in
    each pair's `search_choice`."""
    cfg = selection.settings(search_cfg)
    sel_hp = dict(hp)
    if cfg.get("epochs"):
        sel_hp["epochs"] = int(cfg["epochs"])

    spent = {"train_samples": 0, "eval_rows": 0, "fits": 0}

    def fit(choices: list[str], tag: str, importance: bool = False) -> dict:
        model, st, _, data, *_ = fit_model("optinter", data_dir, sel_hp, train_cfg, seed,
                                           Path(ckpt_dir) / "select" / tag,
                                           architecture=choices, search_cfg=search_cfg)
        spent["train_samples"] += st.samples
        spent["eval_rows"] += st.eval_rows
        spent["fits"] += 1
        out = {"valid_auc": st.best_auc, "valid_logloss": st.best_logloss}
        if importance:
            out["importance"] = permutation_importance(model, data["valid"], seed,
                                                       cfg.get("importance_rows"))
        return out

    probs = np.array([p["probs"] for p in arch["pairs"]])
    t0 = time.perf_counter()
    out = selection.decide(probs, fit, cfg)
    pairs = [{**p, "search_choice": p["choice"], "choice": c}
             for p, c in zip(arch["pairs"], out["choices"])]
    counts = {m: out["choices"].count(m) for m in METHODS}
    return {**arch, "pairs": pairs, "counts": counts, "search_counts": arch["counts"],
            "selection": {"settings": cfg, "k": out["k"], "valid_auc": out["valid_auc"],
                          "valid_logloss": out["valid_logloss"], "grid": out["grid"],
                          "flips": out["flips"], "argmax": out["argmax"],
                          "ranking": out["ranking"], "grids": out["grids"],
                          "importance": out["importance"],
                          "seconds": time.perf_counter() - t0, **spent}}


def run_search(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, out_arch,
               ckpt_dir, on_step=None, out_weights=None) -> dict:
    """Search stage (Alg. 1): train the supernet, write architecture.json (argmax per pair with
    `search.recipe: paper`; decided on validation from the search's ranking with `validated`)
    and, to `out_weights`, the supernet's best weights (what the shortlist recipe screens)."""
    mode = search_cfg.get("mode", "joint")
    if mode not in SEARCH_MODES:
        raise ValueError(f"search.mode: expected one of {SEARCH_MODES}, got {mode!r}")
    recipe = selection.recipe(search_cfg)
    seed = int(search_cfg.get("seed", train_cfg.get("seed", 0)))
    fmap, device, fm_digest = _setup(data_dir, train_cfg, seed)
    settings = {"mode": mode, "recipe": recipe, "hp": hp, "search": search_cfg,
                "sparse_embeddings": bool(train_cfg.get("sparse_embeddings", True))}
    if mode == "random":
        # Table VIII "Random": every pair gets a uniformly drawn method, no training
        rng = np.random.default_rng(seed)
        choices = [METHODS[i] for i in rng.integers(0, len(METHODS), fmap.n_pairs)]
        arch = {"methods": list(METHODS), "relaxation": None, "temperature": None,
                "pairs": [{"name": p.name, "fields": list(p.fields), "probs": [1 / 3] * 3,
                           "choice": c} for p, c in zip(fmap.pairs, choices)],
                "counts": {m: choices.count(m) for m in METHODS}}
    else:
        data = _loaders(fmap, hp, train_cfg, seed, device, bilevel=mode == "bilevel")
        model = Supernet(fmap, hp, search_cfg, steps_per_epoch=len(data["train"])).to(device)
        model.set_sparse(bool(train_cfg.get("sparse_embeddings", True)))
        # the recipe acts after the supernet's training: both recipes share its checkpoint
        supernet_cfg = {k: v for k, v in search_cfg.items() if k not in selection.RECIPE_KEYS}
        fp = _fingerprint(device, stage="search", hp=hp, search=supernet_cfg, seed=seed, fmap=fm_digest,
                          sparse=settings["sparse_embeddings"])
        st = Trainer(model, hp, train_cfg, data, ckpt_dir, fp, mode=mode,
                     on_step=on_step).fit()
        if out_weights is not None:
            with atomic_path(out_weights) as tmp:
                torch.save(model.state_dict(), tmp)
        arch = model.architecture()
        arch["supernet"] = evaluate_supernet(model, fmap, hp, data["valid"], device)
        if recipe == "validated":
            arch = _validated(arch, data_dir, hp, search_cfg, train_cfg, seed, ckpt_dir)
        settings.update(epochs=st.epoch, best_epoch=st.best_epoch, valid_auc=st.best_auc,
                        valid_logloss=st.best_logloss, train_seconds=st.train_seconds,
                        tau_decay_steps=model.tau_decay_steps, steps_per_epoch=len(data["train"]),
                        best_step=st.best_step, history=st.history,
                        train_samples=st.samples, eval_rows=st.eval_rows, **runtime(device))
    out = {"dataset": fmap.dataset, "seed": seed, **arch, "settings": settings}
    write_json(out_arch, out)
    log.info("architecture %s -> %s", out["counts"], out_arch)
    return out


def search_stage(name: str, data_dir, hp: dict, train_cfg: dict, seed: int, ckpt_dir,
                 out_arch=None) -> dict:
    """First stage of a two-stage model (a registered class with `search_model`: AutoFIS).

    Trains `search_model` with the shared loop and early stopping (its `arch_parameters` under
    its `arch_optimizer`, e.g. GRDA), for `hp["search_epochs"]` epochs (default `epochs`);
    returns its `architecture()` with `settings` (its `extra_outputs()` and the fit's summary),
    written to `out_arch` when given: the architecture the second stage is built from
    (`fit_model(name, ..., architecture=out_arch)`). Resumable through its checkpoints in
    `ckpt_dir`."""
    cls = getattr(get_model(name), "search_model", None)
    if cls is None:
        raise ValueError(f"model {name!r} has no search stage (no `search_model`)")
    fmap, device, fm_digest = _setup(data_dir, train_cfg, int(seed))
    search_hp = {**hp, "epochs": int(hp.get("search_epochs", hp["epochs"]))}
    model = cls(fmap, search_hp).to(device)
    sparse = bool(train_cfg.get("sparse_embeddings", True))
    model.set_sparse(sparse)
    data = _loaders(fmap, search_hp, train_cfg, int(seed), device)
    fp = _fingerprint(device, stage=f"{name}_search", hp=search_hp, seed=int(seed),
                      fmap=fm_digest, sparse=sparse)
    st = Trainer(model, search_hp, train_cfg, data, ckpt_dir, fp).fit()
    arch = {"dataset": fmap.dataset, "model": name, "seed": int(seed), **model.architecture(),
            "settings": {**model.extra_outputs(), "epochs": st.epoch,
                         "best_epoch": st.best_epoch, "valid_auc": st.best_auc,
                         "valid_logloss": st.best_logloss, "train_seconds": st.train_seconds,
                         "train_samples": st.samples, "eval_rows": st.eval_rows,
                         **runtime(device)}}
    if out_arch is not None:
        write_json(out_arch, arch)
        log.info("%s search: %s -> %s", name, arch.get("counts"), out_arch)
    return arch


def fit_model(name: str, data_dir, hp: dict, train_cfg: dict, seed: int, ckpt_dir,
              architecture=None, search_cfg: dict | None = None, on_step=None,
              max_samples: int | None = None):
    """Fit any registered model with the shared loop, resumably, up to its best validation
    weights (within `max_samples` training samples, if given); never reads the test split.
    Returns (model, state, fmap, loaders, device, architecture)."""
    fmap, device, fm_digest = _setup(data_dir, train_cfg, int(seed))
    cls = get_model(name)
    model = cls(fmap, hp, architecture=architecture, search_cfg=search_cfg).to(device)
    sparse = bool(train_cfg.get("sparse_embeddings", True))
    model.set_sparse(sparse)
    data = _loaders(fmap, hp, train_cfg, int(seed), device)
    arch_choices = load_choices(architecture, fmap) if architecture is not None else None
    fp = _fingerprint(device, stage="model", name=name, hp=hp, seed=int(seed), fmap=fm_digest,
                      sparse=sparse, arch=arch_choices, search=search_cfg)
    st = Trainer(model, hp, train_cfg, data, ckpt_dir, fp, on_step=on_step,
                 max_samples=max_samples).fit()
    return model, st, fmap, data, device, architecture


def run_select(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, search_arch, out_arch,
               ckpt_dir, shortlist_json=None, candidates=None, scan_json=None) -> dict:
    """The search stage's decision as configured by `search.recipe`: `paper` writes the
    paper search's architecture (argmax, Eq. 19) unchanged; `validated` decides from its
    ranking on validation data (selection.py); `shortlist` picks among the finalists' fits
    (`candidates`, run_finalist's JSON files) of `shortlist_json` and `scan_json`
    (shortlist.py)."""
    recipe = selection.recipe(search_cfg)
    arch = json.loads(Path(search_arch).read_text())
    if recipe == "shortlist":
        arch = _shortlisted(arch, search_arch, shortlist_json, scan_json, candidates or [])
    elif recipe == "validated":
        if arch.get("settings", {}).get("mode") == "random":
            raise ValueError(f"{search_arch}: a random architecture has no ranking to validate")
        seed = int(arch.get("seed", search_cfg.get("seed", 0)))
        body = {k: v for k, v in arch.items() if k not in ("dataset", "seed", "settings")}
        arch = {"dataset": arch.get("dataset"), "seed": seed,
                **_validated(body, data_dir, hp, search_cfg, train_cfg, seed, ckpt_dir),
                "settings": {**arch.get("settings", {}), "recipe": "validated",
                             "search_architecture": str(search_arch)}}
    write_json(out_arch, arch)
    log.info("architecture (%s) %s -> %s", recipe, arch["counts"], out_arch)
    return arch


def run_model(name: str, data_dir, hp: dict, train_cfg: dict, seed: int, out_json, ckpt_dir,
              architecture=None, search_cfg: dict | None = None, on_step=None,
              run: dict | None = None, bundle_out=None, vocab_dir=None) -> dict:
    """Train any registered model with the shared loop and write its results json, and with
    `bundle_out` the model bundle (bundle.py) beside it. `run`:
    the config `runs` entry it trains ({"name", "model", "architecture", "hp", ...}), kept in
    the json so the tables group runs by what they are, not by their names."""
    winner = _winner(architecture)
    reused = _reuse_finalist(winner, ckpt_dir)
    model, st, fmap, data, device, architecture = fit_model(
        name, data_dir, hp, train_cfg, seed, ckpt_dir, architecture, search_cfg, on_step,
        max_samples=(winner or {}).get("max_samples"))
    # the test split is read exactly once, after model selection on validation
    test_split = ParquetBatches(fmap, "test", data["valid"].batch_size, device=device)
    test, test_rows = evaluate(model, test_split), test_split.rows
    extra = model.extra_outputs()
    out = {"dataset": fmap.dataset, "model": name, "seed": int(seed),
           "valid_auc": st.best_auc, "valid_logloss": st.best_logloss,
           "test_auc": test["auc"], "test_logloss": test["logloss"],
           "params": count_parameters(model),
           "architecture_counts": extra.pop("architecture_counts", None),
           "epochs": st.epoch, "best_epoch": st.best_epoch,
           "train_seconds": st.train_seconds,
           "samples_per_second": st.samples / st.step_seconds if st.step_seconds else None,
           "best_step": st.best_step, "train_samples": st.samples,
           "eval_rows": st.eval_rows + test_rows, "reused": reused, **runtime(device),
           "history": st.history,
           "config": {"hp": hp, "train": train_cfg, "search": search_cfg,
                      "architecture": str(architecture) if isinstance(architecture, (str, Path))
                      else None}, "run": run or {"name": name, "model": name}, **extra}
    write_json(out_json, out)
    if bundle_out is not None:
        bundle.save(bundle_out, model, data_dir, vocab_dir, out, architecture)
    log.info("%s: valid AUC %.5f, test AUC %.5f, %d params -> %s", name, st.best_auc,
             test["auc"], out["params"], out_json)
    return out


def _winner(architecture) -> dict | None:
    """The finalist fit a shortlist architecture.json names (None for any other)."""
    if not isinstance(architecture, (str, Path)):
        return None
    try:
        arch = json.loads(Path(architecture).read_text())
    except (OSError, ValueError):
        return None  # a damaged file: load_choices names it and the rebuild
    return (arch.get("selection") or {}).get("winner")


def _reuse_finalist(winner: dict | None, ckpt_dir) -> dict | None:
    """The winning finalist's fit is this re-train: the same model, settings, seed and
    training budget (the fingerprint check in Trainer.try_resume makes sure), so its
    checkpoints are copied in and the fit is not repeated. A checkpoint of this run newer
    than the finalist's (an interrupted later run of it) is kept."""
    src = Path(winner["checkpoint"]) if winner else None
    if src is None or not (src / "last.pt").exists() or not (src / "best.pt").exists():
        return None
    reused = {"checkpoint": str(src), "train_samples": int(winner["train_samples"])}
    own = Path(ckpt_dir) / "last.pt"
    if own.exists():
        if filecmp.cmp(own, src / "last.pt", shallow=False):
            return reused  # copied by an earlier run of this job
        if own.stat().st_mtime >= (src / "last.pt").stat().st_mtime:
            return None
    for name in ("best.pt", "last.pt"):  # last.pt last: it marks the pair complete
        with atomic_path(Path(ckpt_dir) / name) as tmp:
            shutil.copyfile(src / name, tmp)
    return reused


def _search_model(fmap: FeatureMap, hp: dict, search_cfg: dict, weights, device) -> Supernet:
    model = Supernet(fmap, hp, search_cfg).to(device)
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
    except Exception as err:  # truncated, foreign or pickled: name the file and the fix
        raise ValueError(f"{weights}: cannot read the supernet's weights ({err.__class__.__name__}); "
                         f"delete it and run the search again") from None
    model.load_state_dict(state)
    return model


class SupernetScorer:
    """The shortlist recipe's score: validation AUC of a fixed architecture inside a trained
    supernet (shared weights), on the batches of a sample; counts the rows it evaluates.

    The MLP's first layer is linear in the pair slots, so per batch the slots of both methods
    and the pre-activation of everything else are computed once; an architecture then costs
    a gather of its non-naive slots, one product with their weight columns and the rest of the
    MLP: the same numbers as the supernet's forward with those one-hot weights (tested)."""

    def __init__(self, supernet: Supernet, batches):
        self.net = supernet
        first = supernet.mlp.net[0]
        n_pairs, s2 = supernet.fmap.n_pairs, supernet.memo.dim
        self.d_o = first.in_features - n_pairs * s2
        self.w_pairs = first.weight[:, self.d_o:].detach().reshape(-1, n_pairs, s2)
        self.tail = supernet.mlp.net[1:]
        self.cache, labels = [], []
        was = supernet.training
        supernet.eval()
        with torch.no_grad():
            for cat, cont, cross, y in batches.iterate(0):
                e_o = supernet.emb(cat, cont)
                fact = supernet.fact(cat) if supernet.fact is not None else e_o[:, :supernet.n_cat]
                e_f = fact.index_select(1, supernet.pair_i) * fact.index_select(1, supernet.pair_j)
                h0 = nn.functional.linear(e_o.flatten(1), first.weight[:, :self.d_o], first.bias)
                self.cache.append((h0, supernet.memo(cross), e_f))
                labels.append(y.cpu().numpy())
        supernet.train(was)
        self.labels = np.concatenate(labels)
        self.rows_evaluated = 0
        self.evaluations = 0

    def _add(self, h: torch.Tensor, slots: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """h plus the first layer's product with the slots of pairs `idx`."""
        if len(idx) == 0:
            return h
        x = slots.index_select(1, idx).flatten(1)
        return h + x @ self.w_pairs.index_select(1, idx).flatten(1).t()

    @torch.no_grad()
    def __call__(self, choices: Sequence[str]) -> float:
        dev = self.w_pairs.device
        mem = torch.tensor([i for i, c in enumerate(choices) if c == "memorize"],
                           dtype=torch.long, device=dev)
        fac = torch.tensor([i for i, c in enumerate(choices) if c == "factorize"],
                           dtype=torch.long, device=dev)
        z = []
        for h0, e_m, e_f in self.cache:
            h = self._add(self._add(h0, e_m, mem), e_f, fac)
            z.append(self.tail(h).squeeze(-1).float().cpu().numpy())
        z = np.concatenate(z)
        self.rows_evaluated += len(z)
        self.evaluations += 1
        return auc(self.labels, z)


def run_shortlist(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, search_arch, weights,
                  out_json) -> dict:
    """Step 1 of the shortlist recipe (shortlist.py): screen every pair with each method inside
    the trained supernet on a uniform validation sample."""
    cfg = shortlist.settings(search_cfg)
    arch = json.loads(Path(search_arch).read_text())
    seed = int(arch.get("seed", search_cfg.get("seed", 0)))
    fmap, device, fm_digest = _setup(data_dir, train_cfg, seed)
    model = _search_model(fmap, hp, search_cfg, weights, device)
    valid = ParquetBatches(fmap, "valid", _eval_batch_size(hp, train_cfg), device=device)
    sample = uniform_sample(valid, cfg["screen_rows"], seed)
    scorer = SupernetScorer(model, sample)
    t0 = time.perf_counter()
    out = shortlist.decide(scorer, len(arch["pairs"]), cfg)
    out.update(dataset=fmap.dataset, seed=seed, settings=cfg, sample_rows=sample.rows,
               valid_rows=valid.rows, evaluations=scorer.evaluations,
               eval_rows=scorer.rows_evaluated, seconds=time.perf_counter() - t0,
               pairs=[p["name"] for p in arch["pairs"]], search_architecture=str(search_arch))
    write_json(out_json, out)
    log.info("shortlist: %d pairs screened in, %d architectures scored on %d rows -> %s",
             len(out["screened"]), scorer.evaluations, sample.rows, out_json)
    return out


def scan_hp(hp: dict, cfg: dict) -> dict:
    """The scan's hyper-parameters: the re-train's, with the scan's rank and learning rate for
    both kinds of term (a linear model: the MLP's rates left it half-fitted after an epoch on
    the held-out case), and at most half an epoch of patience (it peaks within one or two)."""
    return {**hp, "scan_rank": int(cfg["scan_rank"]), "lr": float(cfg["scan_lr"]),
            "lr_c": float(cfg["scan_lr"]), "patience": min(float(hp["patience"]), 0.5)}


def run_scan(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, seed: int, search_arch,
             out_json, ckpt_dir) -> dict:
    """Step 2 of the shortlist recipe: fit the pair scan (pairscan.py) within the training
    samples the search spent, then its terms' importance on a uniform validation sample;
    writes them, the pairs each finalist takes with their methods (shortlist.scanned), and
    the cost. Never reads test."""
    cfg = shortlist.settings(search_cfg)
    searched = json.loads(Path(search_arch).read_text())
    cap = int(searched["settings"]["train_samples"])
    # the scan's weights are kept by the AUC its terms carry (what term_importance reads): a
    # linear model of ~300 pair terms turns overconfident (log loss past the constant's) while
    # its ranking still improves, and train.monitor's auc-logloss then stopped it a quarter
    # epoch in, before the weaker pairs had fitted (the Avazu-layout held-out case, seed 1)
    scan_train = {**train_cfg, "monitor": cfg["scan_monitor"]}
    model, st, fmap, data, *_ = fit_model("pairscan", data_dir, scan_hp(hp, cfg), scan_train,
                                          seed, ckpt_dir, max_samples=cap)
    imp = term_importance(model, data["valid"], seed, cfg["importance_rows"])
    out = {"dataset": fmap.dataset, "seed": int(seed), "settings": cfg,
           "pairs": [p.name for p in fmap.pairs], "importance": imp["pair"].tolist(),
           "importance_memorize": imp["memorize"].tolist(),
           "importance_factorize": imp["factorize"].tolist(),
           **shortlist.scanned(imp["pair"], imp["memorize"], cfg),
           "valid_auc": st.best_auc, "valid_logloss": st.best_logloss,
           "best_epoch": st.best_epoch, "train_samples": st.samples,
           "eval_rows": st.eval_rows, "max_samples": cap, "train_seconds": st.train_seconds,
           "params": count_parameters(model), "history": st.history}
    write_json(out_json, out)
    log.info("scan: %d pairs found (%d more in the wide set), valid AUC %.5f, %d samples -> %s",
             len(out["found"]), len(out["found_wide"]) - len(out["found"]), st.best_auc,
             st.samples, out_json)
    return out


def run_finalist(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, seed: int,
                 shortlist_json, scan_json, index: int, out_json, ckpt_dir,
                 paper_run=None) -> dict:
    """Step 3 of the shortlist recipe, one finalist (shortlist.finalists[index]) from the
    screen (`shortlist_json`) and the scan (`scan_json`). Fits the re-train model exactly as
    the run re-training the decided architecture will (same hp, search settings and seed), so
    the winner's fit is that re-train. With `paper_run` (the paper recipe's re-train, its
    results JSON) the finalists share what the scan left of a budget of training samples that
    keeps the recipe within twice the paper recipe's (search + re-train). A finalist equal to
    an earlier one is not fitted. Writes validation metrics and cost; never reads test."""
    cfg = shortlist.settings(search_cfg)
    short = json.loads(Path(shortlist_json).read_text())
    scan = json.loads(Path(scan_json).read_text())
    searched = json.loads(Path(short["search_architecture"]).read_text())
    total = shortlist.budget(int(searched["settings"]["train_samples"]), paper_run and int(
        json.loads(Path(paper_run).read_text())["train_samples"]))
    cands = shortlist.finalists(short, scan, cfg)
    family, choices = cands[index]["family"], cands[index]["choices"]
    # duplicates and empty architectures are not fitted: they take no share of the budget
    distinct = {tuple(c["choices"]) for c in cands if set(c["choices"]) != {"naive"}}
    cap = shortlist.finalist_cap(total, int(scan["train_samples"]), len(distinct))
    same = next((c["family"] for c in cands[:index] if c["choices"] == choices), None)
    why = (f"the same architecture as finalist {same}" if same else
           "no pair was screened or scanned in" if all(c == "naive" for c in choices) else
           "the scan spent the budget" if cap is not None and cap <= 0 else None)
    if why:
        out = {"index": index, "family": family, "choices": None, "reason": why}
        write_json(out_json, out)
        log.info("finalist %d (%s) not fitted: %s", index, family, why)
        return out
    # the model sees the search settings as the re-train run passes them: without the recipe's
    model_cfg = {k: v for k, v in search_cfg.items() if k not in selection.RECIPE_KEYS}
    model, st, *_ = fit_model("optinter", data_dir, hp, train_cfg, seed, ckpt_dir,
                              architecture=choices, search_cfg=model_cfg, max_samples=cap)
    out = {"index": index, "family": family, "choices": choices, "valid_auc": st.best_auc,
           "valid_logloss": st.best_logloss, "best_epoch": st.best_epoch,
           "train_samples": st.samples, "eval_rows": st.eval_rows,
           "train_seconds": st.train_seconds, "checkpoint": str(ckpt_dir), "seed": int(seed),
           "max_samples": cap, "budget": total,
           "counts": {m: choices.count(m) for m in METHODS}}
    write_json(out_json, out)
    log.info("finalist %d (%s, %s): valid AUC %.5f -> %s", index, family, out["counts"],
             st.best_auc, out_json)
    return out


def _shortlisted(arch: dict, search_arch, shortlist_json, scan_json, candidates) -> dict:
    """The finalist with the best validation AUC (shortlist.pick) as architecture.json."""
    short = json.loads(Path(shortlist_json).read_text())
    scan = json.loads(Path(scan_json).read_text())
    fits = [json.loads(Path(c).read_text()) for c in candidates]
    fits = [f for f in fits if f.get("choices") is not None]
    if not fits:
        raise ValueError(f"{shortlist_json}: no finalist was fitted (no pair was screened or "
                         f"scanned in; the paper recipe's architecture is run optinter_paper)")
    win = fits[shortlist.pick(fits)]
    pairs = [{**p, "search_choice": p["choice"], "choice": c}
             for p, c in zip(arch["pairs"], win["choices"])]
    cost = {"search_samples": int(arch.get("settings", {}).get("train_samples", 0)),
            "scan_samples": int(scan["train_samples"]),
            "finalist_samples": sum(int(f["train_samples"]) for f in fits),
            "eval_rows": int(short["eval_rows"]) + int(scan["eval_rows"])
            + sum(int(f["eval_rows"]) for f in fits)}
    body = {k: v for k, v in arch.items() if k not in ("pairs", "counts", "settings")}
    return {**body, "pairs": pairs,
            "counts": {m: win["choices"].count(m) for m in METHODS},
            "search_counts": arch["counts"],
            "selection": {"recipe": "shortlist", "winner": {
                "index": win["index"], "family": win["family"],
                "valid_auc": win["valid_auc"], "valid_logloss": win["valid_logloss"],
                "checkpoint": win["checkpoint"], "train_samples": win["train_samples"],
                "max_samples": win["max_samples"]},
                "finalists": [{k: f[k] for k in ("index", "family", "counts", "valid_auc",
                                                  "valid_logloss", "train_samples")}
                              for f in fits],
                "screened": short["screened"], "gain": short["gain"],
                "scanned": scan["found"], "scanned_wide": scan["found_wide"],
                "scan_z": scan["z"], "scan_methods": scan["methods"],
                "scan_valid_auc": scan["valid_auc"], "importance": scan["importance"],
                "screen_evaluations": short["evaluations"],
                "sample_rows": short["sample_rows"], "cost": cost},
            "settings": {**arch.get("settings", {}), "recipe": "shortlist",
                         "search_architecture": str(search_arch)}}
