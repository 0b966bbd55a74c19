"""Training loop shared by every model: optimisers per Table IV group, seeded epochs, early
stopping on the monitored validation metric, checkpoints with bit-for-bit resume (CPU). The
stages that use it (search, re-train, baselines) are in stages.py."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from optinter.io import atomic_path
from optinter.model.layers import CTRModel
from optinter.model.loader import ParquetBatches
from optinter.model.metrics import MONITORS, auc, log_loss_from_logits
from optinter.model import accel, checkpoint, memory
from optinter.model.sparse_adam import LazyAdam

log = logging.getLogger(__name__)


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


@dataclasses.dataclass
class FitState:
    """Everything besides tensors that a resumed run needs; saved in every checkpoint."""
    epoch: int = 0            # epochs completed
    batch: int = 0            # batches completed in the current epoch
    step: int = 0             # optimiser steps in total
    samples: int = 0          # training samples through forward + backward
    eval_rows: int = 0        # rows evaluated for validation
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
                 on_step: Callable[["FitState"], None] | None = None,
                 max_samples: int | None = None):
        self.model, self.hp, self.cfg, self.data = model, hp, train_cfg, data
        # a training budget (the shortlist recipe's): validate and stop before a batch would
        # take the samples trained on past it, keeping the best weights so far
        self.max_samples = int(max_samples) if max_samples else None
        self.ckpt_dir = Path(ckpt_dir)
        self.monitor = train_cfg.get("monitor", "auc")
        if self.monitor not in MONITORS:
            raise ValueError(f"train.monitor: expected one of {sorted(MONITORS)}, "
                             f"got {self.monitor!r}")
        # when and by what the best weights are picked belongs to the run's identity
        self.fingerprint = (f"{fingerprint}:{self.monitor}:"
                            f"{int(train_cfg.get('evals_per_epoch', 1) or 1)}"
                            + (f":within{self.max_samples}" if self.max_samples else ""))
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
        state = checkpoint.read_best(self.ckpt_dir, self.model)
        if state is not None:
            self.model.load_state_dict(state)

    def try_resume(self) -> bool:
        ckpt = checkpoint.read_last(self.ckpt_dir, self.model, self.fingerprint)
        if ckpt is None:  # none, another configuration's, or set aside as unusable
            return False
        path = self.ckpt_dir / "last.pt"
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
        st.eval_rows += int(self.data["valid"].rows)
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
            # tolerated (0: stop at the first; a fraction counts evaluations of an epoch)
            st.done = st.bad_evals > round(float(self.hp["patience"])
                                           * len(self._eval_points(n_batches)))
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
                if (self.max_samples is not None
                        and st.samples + int(batch[3].shape[0]) > self.max_samples):
                    # the budget is never exceeded: the batch that would is not trained on
                    if n_loss:  # else this step was validated already
                        self._validate(n_batches, loss_sum, n_loss)
                    st.done = True
                    self.save()
                    break
                loss_sum += self._step(batch, aux_iter)
                n_loss += 1
                st.batch += 1
                st.step += 1
                st.samples += int(batch[3].shape[0])
                if tty and n_loss % 20 == 0:
                    bar.set_postfix(loss=f"{loss_sum.item() / n_loss:.4f}")
                bar.update(1)
                stop = False
                spent = self.max_samples is not None and st.samples >= self.max_samples
                if st.batch in points or spent:
                    self._validate(n_batches, loss_sum, n_loss)
                    loss_sum, n_loss = torch.zeros((), device=self.device), 0
                    if st.batch == n_batches:
                        st.epoch, st.batch = st.epoch + 1, 0
                    st.done = st.done or spent
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
