"""OptInter: the search supernet (paper Eq. 14-18, Alg. 1) and the re-train model (Eq. 19, Alg. 2).

Per pair the three candidates are memorise (a row of the pair's cross table, size s2), factorise
(Hadamard product of two field vectors) and naive (zero). With `factorize_table: separate` (the
released code's choice) factorise uses a second, s2-sized table of categorical field embeddings so
all candidates share size s2; with `shared` it uses the s1 original embeddings (needs s1 == s2 in
the supernet, where candidates are summed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from optinter.io import StageOutputError
from optinter.model import native
from optinter.model.featuremap import FeatureMap
from optinter.model.layers import (CTRModel, FieldEmbedding, MLP, MultiTable, hadamard_pairs,
                                   register)

METHODS = ("memorize", "factorize", "naive")
RELAXATIONS = ("gumbel", "softmax", "hard")
COMPLEXITY_KINDS = ("params", "flat")  # search.complexity_kind: what the prior charges
DEFAULT_TAU_DECAY_EPOCHS = 2.0


def temperature(step: int, tau_start: float, tau_end: float, decay_steps: int) -> float:
    """Exponential decay from tau_start to tau_end over decay_steps training steps, then flat."""
    if decay_steps <= 0:
        return float(tau_end)
    frac = min(step / decay_steps, 1.0)
    return float(tau_start * math.exp(frac * math.log(tau_end / tau_start)))


def decay_steps(search_cfg: dict, steps_per_epoch: int | None) -> int:
    """Length of the temperature decay in training steps: `tau_decay_steps` when set, else
    `tau_decay_epochs` x steps per epoch (so the schedule follows the data size), else 2 epochs."""
    steps = search_cfg.get("tau_decay_steps")
    if steps is not None:
        return int(steps)
    epochs = search_cfg.get("tau_decay_epochs")
    epochs = DEFAULT_TAU_DECAY_EPOCHS if epochs is None else float(epochs)
    if epochs < 0:
        raise ValueError(f"search.tau_decay_epochs: expected >= 0, got {epochs}")
    if not steps_per_epoch or steps_per_epoch < 1:
        raise ValueError("search.tau_decay_epochs needs the number of steps per epoch "
                         f"(got {steps_per_epoch!r}); or set search.tau_decay_steps")
    return max(int(round(epochs * steps_per_epoch)), 0)


def choice_parameters(fmap: FeatureMap, s1: int, s2: int, mlp: Sequence[int],
                      factorize_table: str = "separate") -> np.ndarray:
    """Parameters each choice adds to the re-train model, per pair [P, 3] (memorize,
    factorize, naive): memorize its cross table (vocab x s2) and first-layer weights;
    factorize its first-layer weights plus, with separate tables, its share of the two field
    tables (each shared by the n_cat - 1 pairs of a field); naive nothing."""
    first = int(mlp[0]) if len(mlp) else 1
    share = max(fmap.n_categorical - 1, 1)
    vocab = np.asarray(fmap.cat_vocab, dtype=np.float64)
    idx = fmap.pair_index
    fact_dim = s2 if factorize_table == "separate" else s1
    fact_tables = ((vocab[idx[:, 0]] + vocab[idx[:, 1]]) * s2 / share
                   if factorize_table == "separate" else np.zeros(len(idx)))
    memo = np.asarray(fmap.pair_vocab, dtype=np.float64) * s2 + s2 * first
    fact = fact_tables + fact_dim * first
    return np.stack([memo, fact, np.zeros(len(idx))], axis=1)


def relax(logits: torch.Tensor, tau: float, kind: str, training: bool) -> torch.Tensor:
    """Mixing weights [P, 3] from architecture logits (log alpha).

    gumbel: softmax((log alpha + g) / tau), g ~ Gumbel(0, 1) i.i.d. per pair, drawn once per
    training step (shared by the batch) from torch's global RNG; at evaluation no noise.
    softmax: softmax(log alpha / tau), the released code's deterministic annealing.
    hard: straight-through Gumbel: forward one-hot argmax of the Gumbel sample, backward the
    soft gradient; at evaluation one-hot argmax of log alpha.
    """
    if kind not in RELAXATIONS:
        raise ValueError(f"search.relaxation: expected one of {RELAXATIONS}, got {kind!r}")
    if kind == "softmax" or not training:
        soft = torch.softmax(logits / tau, dim=-1)
        if kind == "hard":
            return nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
        return soft
    gumbel = -torch.empty_like(logits).exponential_().log()
    soft = torch.softmax((logits + gumbel) / tau, dim=-1)
    if kind == "gumbel":
        return soft
    hard = nn.functional.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def _check_factorize_table(mode: str) -> None:
    if mode not in ("separate", "shared"):
        raise ValueError(f"search.factorize_table: expected 'separate' or 'shared', got {mode!r}")


class _PairMix(torch.autograd.Function):
    """MLP input [e_o | e_b] with Eq. 18 for all pairs at once:
    e_b = w_m * e_m + w_f * (x_i * x_j) (+ w_n * 0), written straight into the input buffer.

    Same maths as autograd of `cat([e_o, plain expression])` (gradcheck in the tests), with a
    hand-written backward that reduces the weight gradients over the contiguous batch axis
    first and scatters into the field embeddings with one-hot matmuls: fewer memory passes
    over the [B, P, s] tensors, which dominate the supernet's cost beside the MLP.
    """

    @staticmethod
    def forward(ctx, e_o, x, e_m, w_m, w_f, i, j, sel_i, sel_j):
        b, d_o = e_o.shape
        out = e_m.new_empty(b, d_o + e_m.shape[1] * e_m.shape[2])
        out[:, :d_o] = e_o
        xi, xj = x.index_select(1, i), x.index_select(1, j)
        e_f = xi * xj
        torch.addcmul(e_f * w_f[:, None], e_m, w_m[:, None], out=out[:, d_o:].view(e_m.shape))
        # kept for backward: recomputing the gathers costs more than the memory
        ctx.save_for_backward(xi, xj, e_f, e_m, w_m, w_f, sel_i, sel_j)
        ctx.d_o = d_o
        return out

    @staticmethod
    def backward(ctx, g_out):
        xi, xj, e_f, e_m, w_m, w_f, sel_i, sel_j = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_eo = g_out[:, :ctx.d_o] if need[0] else None
        g = g_out[:, ctx.d_o:].view(e_m.shape)
        g_x = g_em = g_wm = g_wf = None
        if need[2]:
            g_em = g * w_m[:, None]
        if need[3]:
            g_wm = (g * e_m).sum(0).sum(-1)
        if need[4]:
            g_wf = (g * e_f).sum(0).sum(-1)
        if need[1]:
            gf = g * w_f[:, None]
            g_x = torch.matmul(sel_i.t(), gf * xj) + torch.matmul(sel_j.t(), gf.mul_(xi))
        return g_eo, g_x, g_em, g_wm, g_wf, None, None, None, None


class _NativePairMix(torch.autograd.Function):
    """_PairMix with the memorise gather fused in, on the fused CPU operators (native.py): one
    pass gathers the cross table rows and writes [e_o | e_b]; the backward reads the gathered
    rows in order (not from the table again) and returns the table's gradient as sparse rows
    (dense when the table is not sparse).

    The output, the gathered rows and the sparse gradient's values live in buffers of
    `scratch` that the next call reuses (fresh pages cost more than the kernels). Each forward
    bumps the buffers' versions, so backward through an output that a later call overwrote
    fails in autograd's in-place check instead of computing garbage; a gradient is written
    into a fresh tensor whenever the table already holds one (accumulation)."""

    @staticmethod
    def forward(ctx, e_o, x, table, w_m, w_f, cross, offsets, vocab, i, j, sparse, scratch):
        ops = native.kernels()
        b, d_o = e_o.shape
        n_pairs, s = cross.shape[1], table.shape[1]
        out = native.scratch(scratch, "out", (b, d_o + n_pairs * s), table.dtype)
        em = native.scratch(scratch, "em", (b * n_pairs, s), table.dtype)
        out[:, :d_o] = e_o
        torch.autograd.graph.increment_version(em)
        ops.mix_forward(table, offsets, vocab, cross, x, i, j, w_m, w_f, d_o, out, em)
        ctx.save_for_backward(x, table, em, w_m, w_f, cross, offsets, i, j)
        # the backward uses the forward's operators whatever OPTINTER_KERNELS says by then
        ctx.d_o, ctx.sparse, ctx.scratch, ctx.ops = d_o, sparse, scratch, ops
        return out

    @staticmethod
    def backward(ctx, g_out):
        x, table, em, w_m, w_f, cross, offsets, i, j = ctx.saved_tensors
        need, ops = ctx.needs_input_grad, ctx.ops
        g_out = g_out.contiguous()
        b, n_pairs, s = cross.shape[0], cross.shape[1], table.shape[1]
        g_em = None
        if need[2]:
            g_em = (native.scratch(ctx.scratch, "g_em", (b * n_pairs, s), table.dtype)
                    if table.grad is None and ctx.sparse else table.new_empty(b * n_pairs, s))
        g_x = torch.zeros_like(x) if need[1] else None
        g_w = torch.empty(2, n_pairs, dtype=torch.float64)
        ops.mix_backward(em, x, i, j, w_m, w_f, g_out, ctx.d_o, native.CHUNK, g_w, g_em,
                         g_x)
        g_w = g_w.to(w_m.dtype)
        g_table = None
        if need[2]:
            rows = (cross + offsets).view(1, -1)
            g_table = torch.sparse_coo_tensor(rows, g_em, table.shape, is_coalesced=False,
                                              check_invariants=False)
            if not ctx.sparse:
                g_table = table.new_zeros(table.shape).index_add_(0, rows[0], g_em)
        return (g_out[:, :ctx.d_o] if need[0] else None, g_x, g_table,
                g_w[0] if need[3] else None, g_w[1] if need[4] else None,
                None, None, None, None, None, None, None)


class Supernet(CTRModel):
    """Search model: every pair mixes its three candidates with relaxed architecture weights."""

    def __init__(self, fmap: FeatureMap, hp: dict, search_cfg: dict | None = None,
                 steps_per_epoch: int | None = None):
        super().__init__()
        cfg = dict(search_cfg or {})
        self.relaxation = cfg.get("relaxation", "gumbel")
        if self.relaxation not in RELAXATIONS:
            raise ValueError(f"search.relaxation: expected one of {RELAXATIONS}, "
                             f"got {self.relaxation!r}")
        self.tau_start = float(cfg.get("tau_start", 1.0))
        self.tau_end = float(cfg.get("tau_end", 0.01))
        if steps_per_epoch is None and fmap.rows.get("train"):
            # the loader's batches per epoch (train.py passes len(loader), the same number)
            steps_per_epoch = -(-int(fmap.rows["train"]) // int(hp["batch_size"]))
        self.tau_decay_steps = decay_steps(cfg, steps_per_epoch)
        self.complexity = float(cfg.get("complexity", 0.0) or 0.0)
        if self.complexity < 0:
            raise ValueError(f"search.complexity: expected >= 0, got {self.complexity}")
        self.complexity_kind = cfg.get("complexity_kind", "params")
        if self.complexity_kind not in COMPLEXITY_KINDS:
            raise ValueError(f"search.complexity_kind: expected one of {COMPLEXITY_KINDS}, "
                             f"got {self.complexity_kind!r}")
        self.factorize_table = cfg.get("factorize_table", "separate")
        _check_factorize_table(self.factorize_table)
        s1, s2 = int(hp["s1"]), int(hp["s2"])
        if self.factorize_table == "shared" and s1 != s2:
            raise ValueError(f"search.factorize_table=shared sums s1-sized factorised and "
                             f"s2-sized memorised vectors: needs s1 == s2, got {s1} and {s2}")
        if fmap.n_pairs == 0:
            raise ValueError(f"feature map of {fmap.dataset!r} has no pairs: nothing to search")
        self.fmap = fmap
        self.n_cat = fmap.n_categorical
        self.emb = FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1)
        self.memo = MultiTable(fmap.pair_vocab, s2, group="cross")
        self.fact = (MultiTable(fmap.cat_vocab, s2, group="cross")
                     if self.factorize_table == "separate" else None)
        self.register_buffer("pair_index", torch.as_tensor(fmap.pair_index), persistent=False)
        self.register_buffer("pair_vocab", torch.as_tensor(fmap.pair_vocab, dtype=torch.long),
                             persistent=False)
        self._scratch: dict[str, torch.Tensor] = {}  # reused kernel buffers (_NativePairMix)
        self.register_buffer("pair_i", self.pair_index[:, 0].contiguous(), persistent=False)
        self.register_buffer("pair_j", self.pair_index[:, 1].contiguous(), persistent=False)
        # one-hot selectors [P, n_cat]: the backward scatter into fields as matmuls
        onehot = nn.functional.one_hot(self.pair_index, self.n_cat).float()
        self.register_buffer("sel_i", onehot[:, 0].contiguous(), persistent=False)
        self.register_buffer("sel_j", onehot[:, 1].contiguous(), persistent=False)
        # zeros = uniform prior over the three methods (the released code used Xavier-normal,
        # which biases the start of the search at random)
        self.arch_logits = nn.Parameter(torch.zeros(fmap.n_pairs, len(METHODS)))
        self.register_buffer("tau_step", torch.zeros((), dtype=torch.long))
        self.register_buffer("fixed_weights", None, persistent=False)
        self.mlp = MLP(fmap.n_fields * s1 + fmap.n_pairs * s2, hp["mlp"])
        # flat: one unit per non-naive pair, so the prior asks *whether* a pair interacts and
        # leaves memorize vs. factorize to the data (params tilts it towards the cheaper one)
        cost = (np.tile([1.0, 1.0, 0.0], (fmap.n_pairs, 1)) if self.complexity_kind == "flat"
                else choice_parameters(fmap, s1, s2, hp["mlp"], self.factorize_table))
        n_train = int(fmap.rows.get("train", 0) or 0)
        if self.complexity and n_train <= 0:
            raise ValueError(f"search.complexity needs rows.train in the feature map of "
                             f"{fmap.dataset!r}")
        self.register_buffer("choice_cost", torch.as_tensor(cost / max(n_train, 1),
                                                            dtype=torch.float32),
                             persistent=False)

    def arch_penalty(self) -> torch.Tensor:
        """Complexity prior (search.complexity = lambda): lambda x the expected cost of the
        choices under softmax(log alpha), per train row. complexity_kind params: the cost is the
        parameters a choice adds to the re-train model, so with the mean log loss lambda = 1 is
        Akaike's criterion (AIC / 2n) and ln(n) / 2 Schwarz's (BIC); flat: 1 per non-naive
        choice, so lambda is in nats of total train log-likelihood per interacting pair.
        The paper has no such term (lambda = 0): there naive, a zero vector, only wins where the
        other options do harm, and on the training loss they rarely do."""
        if not self.complexity:
            return self.arch_logits.new_zeros(())
        probs = torch.softmax(self.arch_logits, -1)
        return self.complexity * (probs * self.choice_cost).sum()

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.arch_logits]

    @property
    def tau(self) -> float:
        return temperature(int(self.tau_step), self.tau_start, self.tau_end,
                           self.tau_decay_steps)

    def on_train_step(self) -> None:
        self.tau_step += 1

    def fix_architecture(self, choices: Sequence[str] | None) -> None:
        """Replace the relaxation by fixed one-hot weights (None restores the relaxation)."""
        if choices is None:
            self.fixed_weights = None
            return
        idx = torch.tensor([METHODS.index(c) for c in choices], device=self.arch_logits.device)
        self.fixed_weights = nn.functional.one_hot(idx, len(METHODS)).float()

    def mixing_weights(self) -> torch.Tensor:
        if self.fixed_weights is not None:
            return self.fixed_weights
        return relax(self.arch_logits, self.tau, self.relaxation, self.training)

    def forward(self, cat: torch.Tensor, cont: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        e_o = self.emb(cat, cont)
        fact_emb = self.fact(cat) if self.fact is not None else e_o[:, :self.n_cat]
        w = self.mixing_weights().to(self.memo.weight.dtype)
        table = self.memo.weight
        if table.is_contiguous() and native.usable(table, cross, fact_emb) is not None:
            x = _NativePairMix.apply(e_o.flatten(1), fact_emb.contiguous(), table,
                                     w[:, 0].contiguous(), w[:, 1].contiguous(),
                                     cross.contiguous(),
                                     self.memo.offsets, self.pair_vocab, self.pair_i,
                                     self.pair_j, self.memo.sparse, self._scratch)
            return self.mlp(x).squeeze(-1)
        e_m = self.memo(cross)
        x = _PairMix.apply(e_o.flatten(1), fact_emb, e_m, w[:, 0], w[:, 1],
                           self.pair_i, self.pair_j, self.sel_i, self.sel_j)
        return self.mlp(x).squeeze(-1)

    def architecture(self) -> dict:
        """Per pair: log alpha, softmax(log alpha) at tau = 1 (`probs`) and at the final
        temperature, and the argmax choice (Eq. 19)."""
        logits = self.arch_logits.detach().float().cpu()
        probs = torch.softmax(logits, -1).numpy()
        # what the relaxation mixed with at the end of the search (tau_end): near one-hot even
        # where the tau = 1 probabilities look close to uniform
        final = torch.softmax(logits / self.tau, -1).numpy()
        pairs, counts = [], {m: 0 for m in METHODS}
        for p, lg, pr, fi in zip(self.fmap.pairs, logits.numpy(), probs, final):
            choice = METHODS[int(np.argmax(pr))]
            counts[choice] += 1
            pairs.append({"name": p.name, "fields": list(p.fields),
                          "probs": [float(x) for x in pr], "choice": choice,
                          "logits": [float(x) for x in lg],
                          "probs_final_tau": [float(x) for x in fi]})
        return {"methods": list(METHODS), "pairs": pairs, "counts": counts,
                "temperature": self.tau, "relaxation": self.relaxation}


def load_choices(architecture, fmap: FeatureMap) -> list[str]:
    """Choices per pair in feature-map order from an architecture.json path, its dict, or a list
    of method names; pairs are matched by name and every pair must be present."""
    source = "architecture"
    if isinstance(architecture, (str, Path)):
        source = str(architecture)
        try:
            architecture = json.loads(Path(architecture).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{source}: architecture file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError):  # e.g. cut short by a full disk
            raise StageOutputError(f"{source}: not valid JSON; the file is damaged or truncated. "
                                   f"Rebuild it: rm {source} and run the same command again "
                                   "(the search that wrote it runs again)") from None
    if isinstance(architecture, dict):
        if not isinstance(architecture.get("pairs"), list):
            raise ValueError(f"{source}: expected a 'pairs' list")
        by_name = {}
        for i, p in enumerate(architecture["pairs"]):
            if p.get("choice") not in METHODS:
                raise ValueError(f"{source}: pairs[{i}] ({p.get('name')}).choice: expected one "
                                 f"of {METHODS}, got {p.get('choice')!r}")
            by_name[p.get("name")] = p["choice"]
        missing = [p.name for p in fmap.pairs if p.name not in by_name]
        extra = sorted(set(by_name) - {p.name for p in fmap.pairs})
        if missing or extra:
            raise ValueError(f"{source}: pairs do not match the feature map: missing "
                             f"{missing[:5]}, unknown {extra[:5]}")
        return [by_name[p.name] for p in fmap.pairs]
    choices = list(architecture)
    if len(choices) != fmap.n_pairs or any(c not in METHODS for c in choices):
        raise ValueError(f"{source}: expected {fmap.n_pairs} choices from {METHODS}")
    return choices


@register("optinter")
class OptInterNet(CTRModel):
    """Re-train model (Alg. 2): memorised pairs get cross tables, factorised pairs a Hadamard
    product, naive pairs are left out of the MLP input entirely. MLP input layout:
    [original embeddings | memorised pairs (pair order) | factorised pairs (pair order)]."""

    def __init__(self, fmap: FeatureMap, hp: dict, architecture=None,
                 search_cfg: dict | None = None, factorize_table: str | None = None, **_):
        super().__init__()
        if architecture is None:
            raise ValueError("model 'optinter' needs an architecture (architecture.json)")
        self.choices = load_choices(architecture, fmap)
        self.factorize_table = factorize_table or (search_cfg or {}).get("factorize_table",
                                                                          "separate")
        _check_factorize_table(self.factorize_table)
        s1, s2 = int(hp["s1"]), int(hp["s2"])
        self.fmap = fmap
        self.n_cat = fmap.n_categorical
        self.emb = FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1)
        self.mem_pairs = [i for i, c in enumerate(self.choices) if c == "memorize"]
        self.fact_pairs = [i for i, c in enumerate(self.choices) if c == "factorize"]
        self.memo = (MultiTable([fmap.pair_vocab[i] for i in self.mem_pairs], s2, group="cross",
                                columns=self.mem_pairs) if self.mem_pairs else None)
        pair_index = fmap.pair_index[self.fact_pairs]
        self.fact = None
        fact_dim = s1
        if self.fact_pairs and self.factorize_table == "separate":
            # allocate factorise vectors only for fields that some factorised pair uses
            used = sorted(set(pair_index.ravel().tolist()))
            self.fact = MultiTable([fmap.cat_vocab[f] for f in used], s2, group="cross",
                                   columns=used)
            pair_index = np.searchsorted(np.array(used), pair_index)
            fact_dim = s2
        self.register_buffer("fact_index", torch.as_tensor(pair_index, dtype=torch.long)
                             .reshape(-1, 2), persistent=False)
        in_dim = (fmap.n_fields * s1 + len(self.mem_pairs) * s2
                  + len(self.fact_pairs) * fact_dim)
        self.mlp = MLP(in_dim, hp["mlp"])

    def features(self, cat: torch.Tensor, cont: torch.Tensor,
                 cross: torch.Tensor) -> torch.Tensor:
        """The MLP input [B, D] (layout in the class docstring)."""
        e_o = self.emb(cat, cont)
        parts = [e_o.flatten(1)]
        if self.memo is not None:
            parts.append(self.memo(cross).flatten(1))
        if self.fact_pairs:
            fact_emb = self.fact(cat) if self.fact is not None else e_o[:, :self.n_cat]
            parts.append(hadamard_pairs(fact_emb, self.fact_index).flatten(1))
        return torch.cat(parts, dim=1)

    def pair_spans(self) -> dict[int, slice]:
        """Columns of each non-naive pair (by pair index) in `features`."""
        start = self.fmap.n_fields * self.emb.table.dim
        width = self.memo.dim if self.memo is not None else 0
        spans = {}
        for i in self.mem_pairs:
            spans[i] = slice(start, start + width)
            start += width
        fact_width = self.fact.dim if self.fact is not None else self.emb.table.dim
        for i in self.fact_pairs:
            spans[i] = slice(start, start + fact_width)
            start += fact_width
        return spans

    def forward(self, cat: torch.Tensor, cont: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(cat, cont, cross)).squeeze(-1)

    def architecture_counts(self) -> dict:
        return {m: sum(c == m for c in self.choices) for m in METHODS}

    def extra_outputs(self) -> dict:
        return {"architecture_counts": self.architecture_counts()}


def _segment_rows(vocab: Sequence[int], keep: Sequence[int]) -> torch.Tensor:
    """Row indices of tables `keep` inside a concatenated table of sizes `vocab`."""
    offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]]).astype(np.int64)
    if not len(keep):
        return torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(np.concatenate([np.arange(offsets[k], offsets[k] + vocab[k])
                                            for k in keep]))


@torch.no_grad()
def copy_supernet_weights(supernet: Supernet, net: OptInterNet) -> None:
    """Load a supernet's weights into a re-train model of the same feature map (its pairs,
    fields and MLP columns), so both compute the same function when the supernet's
    architecture is fixed to `net.choices`. Used by tests and the no-re-train ablation."""
    fmap = net.fmap
    s1 = supernet.emb.table.dim
    s2 = supernet.memo.dim
    net.emb.load_state_dict(supernet.emb.state_dict())
    if net.memo is not None:
        net.memo.weight.copy_(supernet.memo.weight[_segment_rows(fmap.pair_vocab, net.mem_pairs)])
    if net.fact is not None:
        used = net.fact.columns.tolist()
        net.fact.weight.copy_(supernet.fact.weight[_segment_rows(fmap.cat_vocab, used)])
    base = fmap.n_fields * s1
    cols = [torch.arange(base)]
    cols += [base + p * s2 + torch.arange(s2) for p in net.mem_pairs + net.fact_pairs]
    cols = torch.cat(cols)
    src, dst = supernet.mlp.net, net.mlp.net
    dst[0].weight.copy_(src[0].weight[:, cols])
    dst[0].bias.copy_(src[0].bias)
    for a, b in list(zip(src, dst))[1:]:
        b.load_state_dict(a.state_dict())
