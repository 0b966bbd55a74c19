"""Training loop shared by every model: seeded epochs, early stopping on validation AUC,
checkpoints with bit-for-bit resume (CPU), test evaluated once at the end; plus the two
workflow entry points run_search (Alg. 1) and run_model (Alg. 2 and every baseline)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from optinter.io import atomic_path, file_digest, write_json
from optinter.model.featuremap import FeatureMap
from optinter.model.importance import permutation_importance
from optinter.model.layers import CTRModel, count_parameters
from optinter.model.loader import ParquetBatches
from optinter.model.metrics import auc, log_loss_from_logits
from optinter.model.optinter import METHODS, OptInterNet, Supernet, load_choices
from optinter.model import accel, memory, selection
from optinter.model.registry import get_model
from optinter.model.sparse_adam import LazyAdam

log = logging.getLogger(__name__)
SEARCH_MODES = ("joint", "bilevel", "random")


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"train.device: expected auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def build_optimizers(model: CTRModel, hp: dict) -> dict[str, torch.optim.Optimizer]:
    """Adam for dense parameters, LazyAdam for sparse tables, the model's `arch_optimizer`
    (Adam unless the model says otherwise) for the architecture group; learning rate and
    coupled L2 per Table IV group."""
    eps = float(hp.get("eps", 1e-8))
    sparse_ids = {id(p) for p in model.sparse_parameters()}
    dense, sparse, arch = [], [], []
    for g in model.param_groups(hp):
        for target, keep in ((dense, lambda p: id(p) not in sparse_ids),
                             (sparse, lambda p: id(p) in sparse_ids)):
            params = [p for p in g["params"] if keep(p)]
            if params:
                (arch if g["name"] == "arch" else target).append(
                    {"params": params, "lr": g["lr"], "weight_decay": g["weight_decay"]})
    opts: dict[str, torch.optim.Optimizer] = {}
    if dense:
        # fused: one kernel for all dense tensors (~10x less time than foreach Adam on CPU)
        opts["dense"] = torch.optim.Adam(dense, eps=eps, fused=True)
    if sparse:
        opts["sparse"] = LazyAdam(sparse, eps=eps)
    if arch:
        # the model's hook: Adam for OptInter's alpha, GRDA for AutoFIS's gates
        opts["arch"] = model.arch_optimizer(arch, hp)
    return opts


def _loss(model: torch.nn.Module, batch, amp: str | None = None) -> torch.Tensor:
    cat, cont, cross, label = batch
    with accel.autocast(amp, label.device):  # train.amp: bf16 matrix products, fp32 loss
        logits = model(cat, cont, cross)
    return F.binary_cross_entropy_with_logits(logits.float(), label)


def train_step(model: CTRModel, opts: dict, batch, mode: str = "joint",
               aux_batch: Callable[[], tuple] | None = None,
               amp: str | None = None) -> torch.Tensor:
    """One optimisation step; returns the (detached) batch loss.

    joint: weights and architecture descend the gradient of the same batch (Alg. 1).
    bilevel: weights step on `batch`, then the architecture steps on `aux_batch()` (a
    validation batch), first-order as in DARTS.
    """
    penalty = getattr(model, "arch_penalty", None)  # the supernet's complexity prior
    for o in opts.values():
        o.zero_grad(set_to_none=True)
    loss = _loss(model, batch, amp)
    (loss + penalty() if penalty is not None and mode == "joint" else loss).backward()
    for k, o in opts.items():
        if k != "arch" or mode == "joint":
            o.step()
    if mode == "bilevel" and "arch" in opts:
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        aux = _loss(model, aux_batch(), amp)
        (aux + penalty() if penalty is not None else aux).backward()
        opts["arch"].step()
    model.on_train_step()
    return loss.detach()


@torch.no_grad()
def predict(model: torch.nn.Module, loader: ParquetBatches) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of a whole split, in file order."""
    model.eval()
    logits, labels = [], []
    for cat, cont, cross, label in loader.iterate(0):
        logits.append(model(cat, cont, cross).float().cpu())
        labels.append(label.cpu())
    model.train()
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def evaluate(model: torch.nn.Module, loader: ParquetBatches) -> dict:
    z, y = predict(model, loader)
    return {"auc": auc(y, z), "logloss": log_loss_from_logits(y, z)}


# What picks the best evaluation (higher is better). "auc" is the paper's; "auc-logloss" is
# FuxiCTR's default monitor: on small data a memorising model's AUC still creeps up while its
# log loss has passed a constant predictor's, and AUC alone would keep those weights.
MONITORS: dict[str, Callable[[dict], float]] = {
    "auc": lambda m: m["auc"],
    "auc-logloss": lambda m: m["auc"] - m["logloss"],
    "logloss": lambda m: -m["logloss"],
}


@dataclasses.dataclass
class FitState:
    """Everything besides tensors that a resumed run needs; saved in every checkpoint."""
    epoch: int = 0            # epochs completed
    batch: int = 0            # batches completed in the current epoch
    step: int = 0             # optimiser steps in total
    samples: int = 0
    best_auc: float = -1.0
    best_logloss: float = float("nan")
    best_score: float = float("-inf")  # the monitored quantity at the best evaluation
    best_epoch: float = 0     # epochs of training at the best evaluation (1.0 = end of the
    best_step: int = 0        # first epoch); 0 = none yet
    bad_evals: int = 0        # evaluations since the best one
    done: bool = False
    train_seconds: float = 0.0  # wall time of fit (steps + validation), summed over resumes
    step_seconds: float = 0.0   # wall time of training steps only
    aux_epoch: int = 0        # bilevel: position in the validation stream for arch steps
    aux_batch: int = 0
    history: list = dataclasses.field(default_factory=list)


class Trainer:
    """Fits one model. mode: "joint" (one step updates weights and architecture from the same
    batch, Alg. 1) or "bilevel" (first-order alternation: weights on a train batch, then the
    architecture on a validation batch)."""

    def __init__(self, model: CTRModel, hp: dict, train_cfg: dict, data: dict,
                 ckpt_dir: str | Path, fingerprint: str, mode: str = "joint",
                 on_step: Callable[["FitState"], None] | None = None):
        self.model, self.hp, self.cfg, self.data = model, hp, train_cfg, data
        self.ckpt_dir = Path(ckpt_dir)
        self.monitor = train_cfg.get("monitor", "auc")
        if self.monitor not in MONITORS:
            raise ValueError(f"train.monitor: expected one of {sorted(MONITORS)}, "
                             f"got {self.monitor!r}")
        # when and by what the best weights are picked belongs to the run's identity
        self.fingerprint = (f"{fingerprint}:{self.monitor}:"
                            f"{int(train_cfg.get('evals_per_epoch', 1) or 1)}")
        self.mode = mode
        self.on_step = on_step
        # refuse now, with the number and the setting to change, rather than in the
        # out-of-memory killer once the optimiser state or the data fill memory
        dev = next(model.parameters()).device.type
        memory.check(memory.estimate(model, data["train"].fmap, hp, train_cfg, dev),
                     f"training {type(model).__name__} on {data['train'].fmap.dataset}",
                     train_cfg, dev)
        self.opts = build_optimizers(model, hp)
        self.state = FitState()
        self.every = int(train_cfg.get("checkpoint_every_steps", 0) or 0)
        self.device = next(model.parameters()).device
        self._t = time.perf_counter()

    # checkpoints -------------------------------------------------------------------------
    def _lap(self, stepping: bool) -> None:
        now = time.perf_counter()
        self.state.train_seconds += now - self._t
        if stepping:
            self.state.step_seconds += now - self._t
        self._t = now

    def save(self) -> None:
        ckpt = {"fingerprint": self.fingerprint, "state": dataclasses.asdict(self.state),
                "model": self.model.state_dict(),
                "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        with atomic_path(self.ckpt_dir / "last.pt") as tmp:
            torch.save(ckpt, tmp)

    def save_best(self) -> None:
        with atomic_path(self.ckpt_dir / "best.pt") as tmp:
            torch.save(self.model.state_dict(), tmp)

    def restore_best(self) -> None:
        path = self.ckpt_dir / "best.pt"
        if path.exists():
            self.model.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))

    def try_resume(self) -> bool:
        import pickle
        import re

        from optinter.io import CheckpointError, remove_stale
        for name in ("last.pt", "best.pt"):
            remove_stale(self.ckpt_dir / name)  # a save killed midway: SIGKILL skips its cleanup
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return False
        try:
            # mmap: the checkpoint's tensors are copied into the model's from the page cache,
            # never held beside them (a resume would otherwise need twice the memory)
            ckpt = torch.load(path, map_location=self.device, weights_only=True, mmap=True)
        except pickle.UnpicklingError as err:
            # weights_only refused a pickled object (it could run code, e.g. a file planted on a
            # shared file system): name the file, the object and the fix, and never repeat
            # torch's advice to allow-list it or to retry with weights_only=False
            name = re.search(r"GLOBAL ([\w.]+)", str(err))
            why = f" ({name.group(1)})" if name else ""
            raise CheckpointError(
                f"{path}: refused to resume from it: it holds a pickled object other than "
                f"tensors and plain numbers{why}, which could run code when loaded; optinter "
                f"never writes one. Delete it (rm {path}) and run again: this training run "
                f"then starts from its beginning") from None
        if ckpt.get("fingerprint") != self.fingerprint:
            log.warning("%s belongs to another configuration; starting afresh", path)
            return False
        self.model.load_state_dict(ckpt["model"])
        for k, o in self.opts.items():
            o.load_state_dict(ckpt["opts"][k])
        torch.set_rng_state(ckpt["rng"])
        if ckpt["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        self.state = FitState(**ckpt["state"])
        log.info("resumed from %s at epoch %d batch %d", path, self.state.epoch + 1,
                 self.state.batch)
        return True

    # steps -------------------------------------------------------------------------------
    def _step(self, batch, aux_iter) -> torch.Tensor:
        aux = (lambda: next(aux_iter)) if aux_iter is not None else None
        return train_step(self.model, self.opts, batch, self.mode, aux, self.cfg.get("amp"))

    def _aux_stream(self):
        """Endless shuffled validation batches for bilevel arch steps, position in state."""
        loader = self.data["valid_shuffled"]
        while True:
            for b in loader.iterate(self.state.aux_epoch, self.state.aux_batch):
                self.state.aux_batch += 1
                yield b
            self.state.aux_epoch += 1
            self.state.aux_batch = 0

    # loop --------------------------------------------------------------------------------
    def _eval_points(self, n_batches: int) -> set[int]:
        """Batch counts within an epoch after which validation runs: `evals_per_epoch` evenly
        spaced points, the last at the epoch's end (1 = once per epoch, the paper's protocol).
        Memorising models overfit within their first epoch on small data, so their best
        weights lie between epoch ends."""
        k = max(1, min(int(self.cfg.get("evals_per_epoch", 1) or 1), n_batches))
        return {int(round(n_batches * (i + 1) / k)) for i in range(k)}

    def _validate(self, n_batches: int, loss_sum: torch.Tensor, n_loss: int) -> None:
        st = self.state
        self._lap(True)
        metrics = evaluate(self.model, self.data["valid"])
        at = round(st.epoch + st.batch / n_batches, 4)  # epochs of training seen so far
        tau = getattr(self.model, "tau", None)
        st.history.append({"epoch": at, "step": st.step,
                           "train_loss": float(loss_sum) / max(n_loss, 1),
                           "valid_auc": metrics["auc"], "valid_logloss": metrics["logloss"],
                           **({"tau": tau} if tau is not None else {})})
        log.info("epoch %.2f: train loss %.5f, valid AUC %.5f, logloss %.5f%s", at,
                 st.history[-1]["train_loss"], metrics["auc"], metrics["logloss"],
                 f", tau {tau:.4f}" if tau is not None else "")
        score = MONITORS[self.monitor](metrics)
        if score > st.best_score:
            st.best_score = score
            st.best_auc, st.best_logloss = metrics["auc"], metrics["logloss"]
            st.best_epoch, st.best_step, st.bad_evals = at, st.step, 0
            self.save_best()
        else:
            st.bad_evals += 1
            # patience is in epochs: that many epochs' evaluations without improvement are
            # tolerated (0: stop at the first)
            st.done = st.bad_evals > int(self.hp["patience"]) * len(self._eval_points(n_batches))
        self._lap(False)

    # loop --------------------------------------------------------------------------------
    def fit(self) -> FitState:
        self.try_resume()
        epochs = int(self.hp["epochs"])
        train: ParquetBatches = self.data["train"]
        n_batches = len(train)
        points = self._eval_points(n_batches)
        aux_iter = self._aux_stream() if self.mode == "bilevel" else None
        tty = sys.stderr.isatty()
        self._t = time.perf_counter()
        st = self.state
        while st.epoch < epochs and not st.done:
            bar = tqdm(total=n_batches, initial=st.batch, desc=f"epoch {st.epoch + 1}",
                       disable=not tty, leave=False)
            loss_sum, n_loss = torch.zeros((), device=self.device), 0
            for batch in train.iterate(st.epoch, st.batch):
                loss_sum += self._step(batch, aux_iter)
                n_loss += 1
                st.batch += 1
                st.step += 1
                st.samples += int(batch[3].shape[0])
                if tty and n_loss % 20 == 0:
                    bar.set_postfix(loss=f"{loss_sum.item() / n_loss:.4f}")
                bar.update(1)
                stop = False
                if st.batch in points:
                    self._validate(n_batches, loss_sum, n_loss)
                    loss_sum, n_loss = torch.zeros((), device=self.device), 0
                    if st.batch == n_batches:
                        st.epoch, st.batch = st.epoch + 1, 0
                    self.save()  # after the evaluation, so a resume never skips one
                    stop = st.done or st.batch == 0
                elif self.every and st.step % self.every == 0:
                    self._lap(True)
                    self.save()
                if self.on_step is not None:
                    self.on_step(st)
                if stop:
                    break
            bar.close()
        self.restore_best()
        return st


def runtime(device) -> dict:
    """Where a run computed: results are bit-identical only for the same device, thread count
    and torch build (CPU matrix products may reduce in a thread-dependent order)."""
    return {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}


def _fingerprint(device, **parts) -> str:
    parts["runtime"] = runtime(device)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _loaders(fmap: FeatureMap, hp: dict, train_cfg: dict, seed: int, device,
             bilevel: bool = False) -> dict:
    kw = dict(device=device, in_memory_max_mb=int(train_cfg.get("in_memory_max_mb", 1024)),
              buffer_rows=int(train_cfg.get("shuffle_buffer_rows", 500_000)),
              resident=accel.use_resident(fmap, train_cfg, device))
    bs = int(hp["batch_size"])
    ebs = int(train_cfg.get("eval_batch_size", max(bs, 8192)))
    data = {"train": ParquetBatches(fmap, "train", bs, shuffle=True, seed=seed, **kw).preload(),
            "valid": ParquetBatches(fmap, "valid", ebs, **kw).preload()}
    if bilevel:
        data["valid_shuffled"] = ParquetBatches(fmap, "valid", bs, shuffle=True,
                                                seed=seed + 1, **kw)
    return data


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

    def fit(choices: list[str], tag: str, importance: bool = False) -> dict:
        model, st, _, data, *_ = fit_model("optinter", data_dir, sel_hp, train_cfg, seed,
                                           Path(ckpt_dir) / "select" / tag,
                                           architecture=choices, search_cfg=search_cfg)
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
                          "seconds": time.perf_counter() - t0}}


def run_search(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, out_arch,
               ckpt_dir, on_step=None) -> dict:
    """Search stage (Alg. 1): train the supernet, write architecture.json (argmax per pair with
    `search.recipe: paper`; decided on validation from the search's ranking with `validated`)."""
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
        supernet_cfg = {k: v for k, v in search_cfg.items() if k not in ("recipe", "select")}
        fp = _fingerprint(device, stage="search", hp=hp, search=supernet_cfg, seed=seed, fmap=fm_digest,
                          sparse=settings["sparse_embeddings"])
        st = Trainer(model, hp, train_cfg, data, ckpt_dir, fp, mode=mode,
                     on_step=on_step).fit()
        arch = model.architecture()
        arch["supernet"] = evaluate_supernet(model, fmap, hp, data["valid"], device)
        if recipe == "validated":
            arch = _validated(arch, data_dir, hp, search_cfg, train_cfg, seed, ckpt_dir)
        settings.update(epochs=st.epoch, best_epoch=st.best_epoch, valid_auc=st.best_auc,
                        valid_logloss=st.best_logloss, train_seconds=st.train_seconds,
                        tau_decay_steps=model.tau_decay_steps, steps_per_epoch=len(data["train"]),
                        best_step=st.best_step, history=st.history, **runtime(device))
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
                         **runtime(device)}}
    if out_arch is not None:
        write_json(out_arch, arch)
        log.info("%s search: %s -> %s", name, arch.get("counts"), out_arch)
    return arch


def fit_model(name: str, data_dir, hp: dict, train_cfg: dict, seed: int, ckpt_dir,
              architecture=None, search_cfg: dict | None = None, on_step=None):
    """Fit any registered model with the shared loop, resumably, up to its best validation
    weights; never reads the test split. Returns (model, state, fmap, loaders, device,
    architecture)."""
    fmap, device, fm_digest = _setup(data_dir, train_cfg, int(seed))
    cls = get_model(name)
    model = cls(fmap, hp, architecture=architecture, search_cfg=search_cfg).to(device)
    sparse = bool(train_cfg.get("sparse_embeddings", True))
    model.set_sparse(sparse)
    data = _loaders(fmap, hp, train_cfg, int(seed), device)
    arch_choices = load_choices(architecture, fmap) if architecture is not None else None
    fp = _fingerprint(device, stage="model", name=name, hp=hp, seed=int(seed), fmap=fm_digest,
                      sparse=sparse, arch=arch_choices, search=search_cfg)
    st = Trainer(model, hp, train_cfg, data, ckpt_dir, fp, on_step=on_step).fit()
    return model, st, fmap, data, device, architecture


def run_select(data_dir, hp: dict, search_cfg: dict, train_cfg: dict, search_arch, out_arch,
               ckpt_dir) -> dict:
    """The search stage's decision as configured by `search.recipe`: `paper` writes the
    paper search's architecture (argmax, Eq. 19) unchanged; `validated` decides from its
    ranking on validation data (selection.py)."""
    recipe = selection.recipe(search_cfg)
    arch = json.loads(Path(search_arch).read_text())
    if recipe == "validated":
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
              run: dict | None = None) -> dict:
    """Train any registered model with the shared loop and write its results json. `run`:
    the config `runs` entry it trains ({"name", "model", "architecture", "hp", ...}), kept in
    the json so the tables group runs by what they are, not by their names."""
    model, st, fmap, data, device, architecture = fit_model(
        name, data_dir, hp, train_cfg, seed, ckpt_dir, architecture, search_cfg, on_step)
    # the test split is read exactly once, after model selection on validation
    test = evaluate(model, ParquetBatches(fmap, "test", data["valid"].batch_size, device=device))
    extra = model.extra_outputs()
    out = {"dataset": fmap.dataset, "model": name, "seed": int(seed),
           "valid_auc": st.best_auc, "valid_logloss": st.best_logloss,
           "test_auc": test["auc"], "test_logloss": test["logloss"],
           "params": count_parameters(model),
           "architecture_counts": extra.pop("architecture_counts", None),
           "epochs": st.epoch, "best_epoch": st.best_epoch,
           "train_seconds": st.train_seconds,
           "samples_per_second": st.samples / st.step_seconds if st.step_seconds else None,
           "best_step": st.best_step, **runtime(device), "history": st.history,
           "config": {"hp": hp, "train": train_cfg, "search": search_cfg,
                      "architecture": str(architecture) if isinstance(architecture, (str, Path))
                      else None}, "run": run or {"name": name, "model": name}, **extra}
    write_json(out_json, out)
    log.info("%s: valid AUC %.5f, test AUC %.5f, %d params -> %s", name, st.best_auc,
             test["auc"], out["params"], out_json)
    return out
