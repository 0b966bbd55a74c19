"""Building blocks shared by OptInter and the baselines.

Every embedding family lives in ONE concatenated table with per-column offsets so a batch is a
single gather (never a Python loop over fields or pairs). Tables tagged `group="cross"` get the
cross learning rate / L2 (Table IV lr_c, l2_c); the original-feature embeddings (FieldEmbedding,
group "emb") lr and l2_o; everything else (network, LayerNorm, first-order weights) is in group
"orig": lr without L2, since Table IV's note defines l2_o on the original embedding table only.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Name -> model class, filled by @register in the model modules; optinter.model.registry
# imports those modules, so look models up there (registry.MODELS, registry.get_model).
MODELS: dict[str, Callable] = {}


def register(name: str) -> Callable:
    """Class decorator adding the class to MODELS under `name` (unique)."""
    def deco(cls):
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model {name!r} registered twice ({MODELS[name]} and {cls})")
        MODELS[name] = cls
        return cls
    return deco


def xavier_segments_(weight: torch.Tensor, sizes: Sequence[int]) -> None:
    """Xavier-uniform init of each field's slice as if it were its own [vocab, dim] table.

    One Xavier bound over the concatenated table would shrink every field's init with the
    total vocabulary; per-segment bounds match separate nn.Embedding tables (the paper's setup).
    """
    dim = weight.shape[1]
    start = 0
    with torch.no_grad():
        for n in sizes:
            bound = math.sqrt(6.0 / (n + dim))
            weight[start:start + n].uniform_(-bound, bound)
            start += n


class MultiTable(nn.Module):
    """Several embedding tables stored as one [sum(vocab), dim] table with offsets.

    forward(ids [B, k]) -> [B, k, dim], column c looked up in table c. `columns` optionally
    selects which k columns of a wider id matrix are used (re-train keeps only memorised pairs).
    """

    def __init__(self, vocab_sizes: Sequence[int], dim: int, group: str = "orig",
                 columns: Sequence[int] | None = None, sparse: bool = True):
        super().__init__()
        sizes = [int(v) for v in vocab_sizes]
        self.vocab_sizes = sizes
        self.dim = dim
        self.group = group
        self.sparse = sparse
        offsets = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0) if sizes else \
            torch.zeros(0, dtype=torch.long)
        self.register_buffer("offsets", offsets, persistent=False)
        cols = None if columns is None else torch.tensor(list(columns), dtype=torch.long)
        if cols is not None and cols.numel() != len(sizes):
            raise ValueError(f"MultiTable: {cols.numel()} columns for {len(sizes)} tables")
        self.register_buffer("columns", cols, persistent=False)
        self.weight = nn.Parameter(torch.empty(sum(sizes), dim))
        xavier_segments_(self.weight, sizes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.columns is not None:
            ids = ids.index_select(1, self.columns)
        return F.embedding(ids + self.offsets, self.weight, sparse=self.sparse)


class FieldEmbedding(nn.Module):
    """Original-feature embeddings [B, n_cat + n_cont, dim]: categorical fields first (feature
    map order), then continuous fields as value x field vector (paper Eq. 20)."""

    def __init__(self, cat_vocab: Sequence[int], n_cont: int, dim: int, group: str = "emb",
                 sparse: bool = True):
        super().__init__()
        self.table = MultiTable(cat_vocab, dim, group=group, sparse=sparse)  # `cont` joins it
        self.n_cont = n_cont
        self.cont = nn.Parameter(torch.empty(n_cont, dim))
        if n_cont:
            nn.init.xavier_uniform_(self.cont)

    def forward(self, cat: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        emb = self.table(cat)
        if self.n_cont:
            emb = torch.cat([emb, cont.unsqueeze(-1) * self.cont], dim=1)
        return emb


def hadamard_pairs(emb: torch.Tensor, pair_index: torch.Tensor) -> torch.Tensor:
    """emb [B, F, s], pair_index long [P, 2] -> [B, P, s] with e_i * e_j per pair (Eq. 14)."""
    return emb.index_select(1, pair_index[:, 0]) * emb.index_select(1, pair_index[:, 1])


def inner_pairs(emb: torch.Tensor, pair_index: torch.Tensor) -> torch.Tensor:
    """<e_i, e_j> per pair: [B, P]."""
    return hadamard_pairs(emb, pair_index).sum(-1)


def inner_pairs_gram(emb: torch.Tensor, pair_index: torch.Tensor) -> torch.Tensor:
    """inner_pairs (same values and order) read off one batched Gram matrix E E^T.

    With many pairs the per-pair form is slow mainly through index_select's backward (an
    index_add over a [B, P, s] tensor): ~25x slower than bmm at 26 fields and 325 pairs on CPU.
    With few pairs (P below ~F) the per-pair form wins: the Gram matrix computes all F^2."""
    gram = torch.bmm(emb, emb.transpose(1, 2)).flatten(1)
    return gram.index_select(1, pair_index[:, 0] * emb.shape[1] + pair_index[:, 1])


def fm_pair_sum(emb: torch.Tensor) -> torch.Tensor:
    """sum over all pairs i < j of <e_i, e_j>: [B], in O(F s) as 0.5 [(sum_i e_i)^2 - sum_i e_i^2]
    summed over the embedding dimension (Rendle's FM identity)."""
    return 0.5 * (emb.sum(1).square() - emb.square().sum(1)).sum(-1)


class MLP(nn.Module):
    """Eq. 9-11: hidden layers a' = LN(relu(W a + b)), then a Linear to `out_dim` logits."""

    def __init__(self, in_dim: int, hidden: Iterable[int], out_dim: int = 1,
                 layer_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            if layer_norm:
                layers.append(nn.LayerNorm(h))
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FirstOrder(nn.Module):
    """Bias + per-id scalar weights of categorical fields + weights of continuous values
    (+ per-cross-id weights when `pair_vocab` is given, as in Poly2, in group `pair_group`):
    logits [B]. The weights are no embedding table: group "orig", lr without L2."""

    def __init__(self, cat_vocab: Sequence[int], n_cont: int,
                 pair_vocab: Sequence[int] | None = None, sparse: bool = True,
                 pair_group: str = "cross"):
        super().__init__()
        self.cat = MultiTable(cat_vocab, 1, sparse=sparse)
        nn.init.zeros_(self.cat.weight)
        self.cont = nn.Parameter(torch.zeros(n_cont))
        self.pairs = None
        if pair_vocab is not None:
            self.pairs = MultiTable(pair_vocab, 1, group=pair_group, sparse=sparse)
            nn.init.zeros_(self.pairs.weight)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, cat: torch.Tensor, cont: torch.Tensor,
                cross: torch.Tensor | None = None) -> torch.Tensor:
        out = self.cat(cat).sum((1, 2)) + self.bias
        if self.cont.numel():
            out = out + cont @ self.cont
        if self.pairs is not None:
            out = out + self.pairs(cross).sum((1, 2))
        return out


GROUP_HP = {"emb": ("lr", "l2_o"), "orig": ("lr", None), "cross": ("lr_c", "l2_c"),
            "arch": ("lr_a", None)}


class CTRModel(nn.Module):
    """Base class of every registered model: forward(cat, cont, cross) -> logits [B].

    Subclasses only build layers; grouping and sparse handling come from the MultiTable tags.
    Parameters listed in `arch_parameters()` form the "arch" group, stepped by the optimiser
    that `arch_optimizer` returns (train.build_optimizers).
    """

    def arch_parameters(self) -> list[nn.Parameter]:
        return []

    @classmethod
    def arch_optimizer(cls, groups: list[dict], hp: dict) -> torch.optim.Optimizer:
        """The optimiser of the "arch" group: `groups` are its optimiser groups (params, lr =
        lr_a, weight_decay). Adam (OptInter's α); AutoFIS's search overrides it with GRDA."""
        return torch.optim.Adam(groups, eps=float(hp.get("eps", 1e-8)), fused=True)

    def tables(self) -> list[MultiTable]:
        return [m for m in self.modules() if isinstance(m, MultiTable)]

    def set_sparse(self, flag: bool) -> None:
        """Sparse gradients + lazy Adam (True) or dense gradients + Adam (False)."""
        for t in self.tables():
            t.sparse = flag

    def sparse_parameters(self) -> list[nn.Parameter]:
        return [t.weight for t in self.tables() if t.sparse]

    def param_groups(self, hp: dict) -> list[dict]:
        """Optimiser groups per Table IV: name, params, lr, weight_decay (coupled L2).

        "emb" and "orig" share one group (named "orig") while their settings agree (l2_o = 0):
        the optimiser layout, and so every result and checkpoint, is then the one from before
        l2_o was confined to the embeddings."""
        by_id: dict[int, str] = {id(t.weight): t.group for t in self.tables()}
        for m in self.modules():
            if isinstance(m, FieldEmbedding):
                by_id[id(m.cont)] = m.table.group
        for p in self.arch_parameters():
            by_id[id(p)] = "arch"
        groups: dict[tuple, dict] = {}
        for p in self.parameters():
            if not p.requires_grad:
                continue
            name = by_id.get(id(p), "orig")
            lr_key, l2_key = GROUP_HP[name]
            lr, wd = float(hp[lr_key]), float(hp[l2_key]) if l2_key else 0.0
            kind = "orig" if name == "emb" else name
            g = groups.setdefault((kind, lr, wd), {"name": name, "params": [], "lr": lr,
                                                   "weight_decay": wd})
            if g["name"] != name:
                g["name"] = kind
            g["params"].append(p)
        return list(groups.values())

    def on_train_step(self) -> None:
        """Called by the training loop after each optimiser step (temperature schedules)."""

    def extra_outputs(self) -> dict:
        """Model-specific entries for the results json (e.g. architecture counts)."""
        return {}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
