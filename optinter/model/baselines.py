"""The paper's baselines (Table III) as instances of the framework, on the shared building blocks.

Every model interacts the same pairs: `FeatureMap.pairs` (all pairs of crossed categorical
fields), the set OptInter searches over, so Table VI's counts are comparable across models.
Continuous and uncrossed fields still enter through first-order terms and the MLP input.

- naive: LR (bias + first order), FNN (MLP over field embeddings).
- memorised: Poly2 (LR + one weight per cross id), OptInter-M (every pair memorised).
- factorised: FM (LR + sum of inner products), IPNN (MLP over embeddings and inner products),
  DeepFM (FM + MLP over the same embeddings), PIN (a trained sub-network per pair over
  [e_i, e_j, e_i * e_j]), OptInter-F (every pair a Hadamard product).
- hybrid: AutoFIS (DeepFM with gated interactions; GRDA prunes gates in a search stage, the
  re-train keeps only the surviving interactions).

Model-specific hyper-parameters are read from `hp` with Table IV defaults: `pin_subnet`
([40, 5]); `grda_c` (5e-4), `grda_mu` (0.8), `grda_lr` (see AutoFIS), `search_epochs`;
`poly2_cross`: "general" gives Poly2's cross weights Table IV's general lr (and, as first-order
weights, no L2); "cross", the default, kept so that recorded results reproduce, lr_c and l2_c.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from optinter.model.featuremap import FeatureMap
from optinter.model.grda import GRDA
from optinter.model.layers import (CTRModel, FieldEmbedding, FirstOrder, MLP, fm_pair_sum,
                                   inner_pairs, inner_pairs_gram, register)
from optinter.model.optinter import METHODS, OptInterNet, load_choices

PIN_SUBNET = (40, 5)
POLY2_CROSS = {"general": "orig", "cross": "cross"}  # poly2_cross -> optimiser group
GRDA_DEFAULTS = {"grda_c": 5e-4, "grda_mu": 0.8, "grda_lr": 1.0}


def grda_settings(hp: dict) -> dict[str, float]:
    """AutoFIS's GRDA settings: `hp` keys grda_c, grda_mu, grda_lr over GRDA_DEFAULTS."""
    return {k: float(hp.get(k, v)) for k, v in GRDA_DEFAULTS.items()}
FM_INIT_STD = 0.01


def fm_init_(emb: FieldEmbedding) -> FieldEmbedding:
    """Start latent vectors summed over pairs (FM, DeepFM, AutoFIS) near zero, as FM libraries
    do. With Xavier-sized vectors (the init the MLP-only models keep) each <e_i, e_j> has sd
    ~0.2 at s1=16, and the sum over Criteo's 325 pairs starts the logit at sd ~4, which the
    model must first unlearn (measured on the demo: FM far below LR after 8 epochs)."""
    nn.init.normal_(emb.table.weight, 0.0, FM_INIT_STD)
    if emb.n_cont:
        nn.init.normal_(emb.cont, 0.0, FM_INIT_STD)
    return emb


def method_counts(method: str, n_pairs: int) -> dict[str, int]:
    return {m: (n_pairs if m == method else 0) for m in METHODS}


def pair_inner(emb: torch.Tensor, pair_index: torch.Tensor) -> torch.Tensor:
    """inner_pairs by whichever form is faster for this many pairs (crossover measured near
    P = F on CPU, 26 fields, s1 16)."""
    if pair_index.shape[0] > emb.shape[1]:
        return inner_pairs_gram(emb, pair_index)
    return inner_pairs(emb, pair_index)


def complete_pair_fields(pair_index) -> list[int] | None:
    """The fields of which `pair_index` holds every pair exactly once (any order), else None:
    the FM identity sums all pairs of a field set and cannot sum any other pair set."""
    pairs = [tuple(sorted(int(i) for i in p)) for p in pair_index]
    fields = sorted({i for p in pairs for i in p})
    want = set(itertools.combinations(fields, 2))
    return fields if len(pairs) == len(want) and set(pairs) == want else None


class _Baseline(CTRModel):
    """Shared plumbing: the pair index buffer and the fixed method reported in Table VI."""

    method = "naive"

    def __init__(self, fmap: FeatureMap):
        super().__init__()
        self.fmap = fmap
        self.n_cat = fmap.n_categorical
        self.register_buffer("pair_index", torch.as_tensor(fmap.pair_index), persistent=False)
        fields = complete_pair_fields(fmap.pair_index)
        self.fm_identity = fields is not None
        # None: all categorical fields are paired (Criteo, the demo), a slice needs no gather
        sub = None if fields is None or fields == list(range(self.n_cat)) else \
            torch.as_tensor(fields, dtype=torch.long)
        self.register_buffer("fm_fields", sub, persistent=False)

    def pairwise_inner(self, emb: torch.Tensor) -> torch.Tensor:
        """<e_i, e_j> per pair [B, P] from field embeddings [B, F, s] (categorical slots first)."""
        return pair_inner(emb[:, :self.n_cat], self.pair_index)

    def pairwise_sum(self, emb: torch.Tensor) -> torch.Tensor:
        """sum over pairs of <e_i, e_j> [B]; by the FM identity (~100x faster than per-pair
        values at Criteo's 325 pairs) whenever the pair set allows it."""
        if not self.fm_identity:
            return self.pairwise_inner(emb).sum(1)
        ec = emb[:, :self.n_cat]
        return fm_pair_sum(ec if self.fm_fields is None else ec.index_select(1, self.fm_fields))

    def extra_outputs(self) -> dict:
        return {"architecture_counts": method_counts(self.method, self.fmap.n_pairs)}


@register("lr")
class LR(_Baseline):
    """Logistic regression: bias + first-order weights (categorical ids, continuous values)."""

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)

    def forward(self, cat, cont, cross):
        return self.first(cat, cont)


@register("poly2")
class Poly2(_Baseline):
    """LR plus one memorised weight per cross id of every pair (cross table of dim 1)."""

    method = "memorize"

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        mode = hp.get("poly2_cross", "cross")
        if mode not in POLY2_CROSS:
            raise ValueError(f"poly2_cross: expected one of {sorted(POLY2_CROSS)}, got {mode!r}")
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous, pair_vocab=fmap.pair_vocab,
                                pair_group=POLY2_CROSS[mode])

    def forward(self, cat, cont, cross):
        return self.first(cat, cont, cross)


@register("fm")
class FM(_Baseline):
    """Factorisation machine: bias + first order + sum over pairs of <e_i, e_j>.

    Only categorical fields are paired, so continuous fields get no latent vector (it would
    never receive a gradient); they enter through the first-order term."""

    method = "factorize"

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)
        self.emb = fm_init_(FieldEmbedding(fmap.cat_vocab, 0, int(hp["s1"])))

    def pairwise(self, cat, cont) -> torch.Tensor:
        return self.pairwise_sum(self.emb(cat, cont))

    def forward(self, cat, cont, cross):
        return self.first(cat, cont) + self.pairwise(cat, cont)


@register("fnn")
class FNN(_Baseline):
    """MLP over the concatenated field embeddings; interactions are left to the MLP (naive)."""

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        s1 = int(hp["s1"])
        self.emb = FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1)
        self.mlp = MLP(fmap.n_fields * s1, hp["mlp"])

    def forward(self, cat, cont, cross):
        return self.mlp(self.emb(cat, cont).flatten(1)).squeeze(-1)


@register("ipnn")
class IPNN(_Baseline):
    """Inner-product network: MLP over [field embeddings, <e_i, e_j> of every pair]."""

    method = "factorize"

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        s1 = int(hp["s1"])
        self.emb = FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1)
        self.mlp = MLP(fmap.n_fields * s1 + fmap.n_pairs, hp["mlp"])

    def forward(self, cat, cont, cross):
        e = self.emb(cat, cont)
        return self.mlp(torch.cat([e.flatten(1), self.pairwise_inner(e)], 1)).squeeze(-1)


@register("deepfm")
class DeepFM(_Baseline):
    """FM (bias, first order, pairwise inner products) + an MLP over the same embeddings."""

    method = "factorize"

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        s1 = int(hp["s1"])
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)
        self.emb = fm_init_(FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1))
        self.mlp = MLP(fmap.n_fields * s1, hp["mlp"])

    def forward(self, cat, cont, cross):
        e = self.emb(cat, cont)
        return (self.first(cat, cont) + self.pairwise_sum(e)
                + self.mlp(e.flatten(1)).squeeze(-1))


class PairNets(nn.Module):
    """One small network per pair, all pairs in one batched matmul: x [B, P, in_dim] ->
    [B, P, sizes[-1]]. Hidden layers are Linear-ReLU-LayerNorm (Eq. 9), the last is Linear
    (a ReLU on a 5-unit output can die entirely, silencing the pair). Weights are per pair."""

    def __init__(self, n_pairs: int, in_dim: int, sizes: Sequence[int]):
        super().__init__()
        if not sizes:
            raise ValueError("pin_subnet: expected at least one layer size")
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.gammas, self.betas = nn.ParameterList(), nn.ParameterList()
        d = in_dim
        for k, h in enumerate(sizes):
            bound = math.sqrt(6.0 / (d + h))  # Xavier per pair, as for separate Linear layers
            self.weights.append(nn.Parameter(torch.empty(n_pairs, d, h).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(n_pairs, h)))
            if k < len(sizes) - 1:
                self.gammas.append(nn.Parameter(torch.ones(n_pairs, h)))
                self.betas.append(nn.Parameter(torch.zeros(n_pairs, h)))
            d = h
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.einsum("bpi,pih->bph", x, w) + b
            if k < len(self.gammas):
                x = F.layer_norm(torch.relu(x), x.shape[-1:]) * self.gammas[k] + self.betas[k]
        return x


@register("pin")
class PIN(_Baseline):
    """Product-network-in-network: per pair a trained sub-network net([e_i, e_j, e_i * e_j]);
    the MLP sees [field embeddings, all sub-network outputs]."""

    method = "factorize"

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        s1 = int(hp["s1"])
        self.emb = FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1)
        self.subnet = PairNets(fmap.n_pairs, 3 * s1, hp.get("pin_subnet", PIN_SUBNET))
        self.mlp = MLP(fmap.n_fields * s1 + fmap.n_pairs * self.subnet.out_dim, hp["mlp"])

    def forward(self, cat, cont, cross):
        e = self.emb(cat, cont)
        ec = e[:, :self.n_cat]
        ei = ec.index_select(1, self.pair_index[:, 0])
        ej = ec.index_select(1, self.pair_index[:, 1])
        sub = self.subnet(torch.cat([ei, ej, ei * ej], dim=-1))
        return self.mlp(torch.cat([e.flatten(1), sub.flatten(1)], 1)).squeeze(-1)


@register("optinter_m")
class OptInterM(OptInterNet):
    """OptInter re-train model with every pair memorised."""

    def __init__(self, fmap: FeatureMap, hp: dict, architecture=None, **kw):
        super().__init__(fmap, hp, architecture=["memorize"] * fmap.n_pairs, **kw)


@register("optinter_f")
class OptInterF(OptInterNet):
    """OptInter re-train model with every pair factorised (Hadamard product)."""

    def __init__(self, fmap: FeatureMap, hp: dict, architecture=None, **kw):
        super().__init__(fmap, hp, architecture=["factorize"] * fmap.n_pairs, **kw)


# ------------------------------------------------------------------------------ AutoFIS
class AutoFISSearch(_Baseline):
    """AutoFIS search stage (AutoDeepFM): bias + first order + sum_p g_p BN(<e_i, e_j>)_p + MLP.
    BatchNorm without affine parameters fixes each interaction's scale, so the gate g_p alone
    carries its importance; the gates are the architecture parameters GRDA prunes (its
    `arch_optimizer`). `stages.search_stage` trains it for model `autofis`."""

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__(fmap)
        self.grda = grda_settings(hp)
        if fmap.n_pairs == 0:
            raise ValueError(f"feature map of {fmap.dataset!r} has no pairs: nothing for "
                             "AutoFIS to gate")
        s1 = int(hp["s1"])
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)
        self.emb = fm_init_(FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1))
        self.bn = nn.BatchNorm1d(fmap.n_pairs, affine=False)
        # 1/sqrt(P): the gated sum of P unit-variance terms starts at logit sd 1
        self.gates = nn.Parameter(torch.full((fmap.n_pairs,), fmap.n_pairs ** -0.5))
        self.mlp = MLP(fmap.n_fields * s1, hp["mlp"])

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.gates]

    @classmethod
    def arch_optimizer(cls, groups: list[dict], hp: dict) -> torch.optim.Optimizer:
        """GRDA for the gates, with its own step size (grda_lr, not lr_a)."""
        g = grda_settings(hp)
        return GRDA([p for group in groups for p in group["params"]], lr=g["grda_lr"],
                    c=g["grda_c"], mu=g["grda_mu"])

    def extra_outputs(self) -> dict:
        """The search's settings in its architecture.json."""
        return {"grda": dict(self.grda)}

    def forward(self, cat, cont, cross):
        e = self.emb(cat, cont)
        inter = (self.bn(self.pairwise_inner(e)) * self.gates).sum(1)
        return self.first(cat, cont) + inter + self.mlp(e.flatten(1)).squeeze(-1)

    def architecture(self) -> dict:
        gates = self.gates.detach().cpu().tolist()
        pairs = [{"name": p.name, "fields": list(p.fields), "gate": g,
                  "choice": "factorize" if g != 0.0 else "naive"}
                 for p, g in zip(self.fmap.pairs, gates)]
        counts = {m: sum(p["choice"] == m for p in pairs) for m in METHODS}
        return {"methods": list(METHODS), "pairs": pairs, "counts": counts}


def _gate_values(architecture, fmap: FeatureMap, kept: Sequence[int]) -> list[float]:
    """Searched gate values of the kept pairs; 1/sqrt(K) (the search's start) where the
    architecture records none, e.g. a plain list of choices."""
    if isinstance(architecture, (str, Path)):
        architecture = json.loads(Path(architecture).read_text())
    by_name = {}
    if isinstance(architecture, dict):
        by_name = {p.get("name"): p.get("gate") for p in architecture.get("pairs", [])}
    out = []
    for i in kept:
        g = by_name.get(fmap.pairs[i].name)
        out.append(float(g) if isinstance(g, (int, float)) else max(len(kept), 1) ** -0.5)
    return out


@register("autofis")
class AutoFIS(_Baseline):
    """AutoFIS re-train stage: the search model restricted to the interactions GRDA kept, the
    gates now ordinary (Adam-trained) attention weights starting from their searched values.

    Two-stage: `search_model` is trained first (`stages.search_stage`; in the workflow rule
    search_autofis, which writes results/{dataset}/search_autofis/architecture.json) and its
    architecture builds this model."""

    method = "factorize"
    search_model = AutoFISSearch

    def __init__(self, fmap: FeatureMap, hp: dict, architecture=None, **_):
        super().__init__(fmap)
        if architecture is None:
            raise ValueError("model 'autofis' needs the gates of its search stage: pass the "
                             "architecture written by stages.search_stage('autofis', ..., "
                             "out_arch=...) (config runs: architecture: search_autofis)")
        self.choices = load_choices(architecture, fmap)
        if "memorize" in self.choices:
            raise ValueError("autofis architecture: AutoFIS chooses between factorize and "
                             "naive only, got 'memorize'")
        kept = [i for i, c in enumerate(self.choices) if c == "factorize"]
        s1 = int(hp["s1"])
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)
        self.emb = fm_init_(FieldEmbedding(fmap.cat_vocab, fmap.n_continuous, s1))
        self.register_buffer("kept_index", torch.as_tensor(fmap.pair_index[kept], dtype=torch.long)
                             .reshape(-1, 2), persistent=False)
        self.bn = nn.BatchNorm1d(len(kept), affine=False) if kept else None
        self.gates = nn.Parameter(torch.tensor(_gate_values(architecture, fmap, kept)))
        self.mlp = MLP(fmap.n_fields * s1, hp["mlp"])

    def forward(self, cat, cont, cross):
        e = self.emb(cat, cont)
        out = self.first(cat, cont) + self.mlp(e.flatten(1)).squeeze(-1)
        if self.bn is not None:
            inter = self.bn(pair_inner(e[:, :self.n_cat], self.kept_index))
            out = out + (inter * self.gates).sum(1)
        return out

    def extra_outputs(self) -> dict:
        return {"architecture_counts": {m: self.choices.count(m) for m in METHODS}}
