"""Building blocks: gathers against per-field loops, groups, the feature map contract."""

import json

import numpy as np
import pytest
import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.layers import (MLP, CTRModel, FieldEmbedding, FirstOrder, MultiTable,
                                   hadamard_pairs, inner_pairs)


def test_multitable_matches_separate_tables():
    torch.manual_seed(0)
    vocab = [3, 7, 1, 5]
    t = MultiTable(vocab, 4)
    ids = torch.stack([torch.randint(0, v, (6,)) for v in vocab], 1)
    out = t(ids)
    start = np.cumsum([0] + vocab)
    for k in range(len(vocab)):
        table_k = t.weight[start[k]:start[k + 1]]
        assert torch.equal(out[:, k], table_k[ids[:, k]])
    sub = MultiTable([vocab[1], vocab[3]], 4, columns=[1, 3])
    assert sub(ids).shape == (6, 2, 4)


def test_xavier_bound_per_field():
    t = MultiTable([10, 100_000], 8)
    assert t.weight[:10].abs().max() > 0.3  # bound sqrt(6/18) for the small field
    assert t.weight[10:].abs().max() <= np.sqrt(6 / 100_008) + 1e-7


def test_field_embedding_and_pairs():
    torch.manual_seed(0)
    fe = FieldEmbedding([4, 5, 6], n_cont=2, dim=3)
    cat = torch.tensor([[1, 2, 3], [0, 4, 5]])
    cont = torch.tensor([[0.5, 0.0], [1.0, 0.25]])
    e = fe(cat, cont)
    assert e.shape == (2, 5, 3)
    assert torch.allclose(e[:, 3], cont[:, :1] * fe.cont[0])
    assert torch.allclose(e[:, 4], cont[:, 1:] * fe.cont[1])
    idx = torch.tensor([[0, 1], [0, 2], [1, 2]])
    h = hadamard_pairs(e, idx)
    for p, (i, j) in enumerate(idx.tolist()):
        assert torch.allclose(h[:, p], e[:, i] * e[:, j])
        assert torch.allclose(inner_pairs(e, idx)[:, p], (e[:, i] * e[:, j]).sum(-1))


def test_mlp_layernorm_and_every_parameter_trained():
    mlp = MLP(6, [5, 4])
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == ["Linear", "ReLU", "LayerNorm", "Linear", "ReLU", "LayerNorm", "Linear"]
    mlp(torch.randn(8, 6)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mlp.parameters())


class Toy(CTRModel):
    def __init__(self):
        super().__init__()
        self.emb = FieldEmbedding([3, 3], 1, 2)
        self.cross = MultiTable([9], 2, group="cross")
        self.first = FirstOrder([3, 3], 1, pair_vocab=[9])
        self.arch = torch.nn.Parameter(torch.zeros(1, 3))

    def arch_parameters(self):
        return [self.arch]


def test_param_groups_and_sparse_switch():
    hp = {"lr": 1e-3, "lr_c": 2e-3, "lr_a": 3e-3, "l2_o": 0.1, "l2_c": 0.2}
    m = Toy()
    groups = {g["name"]: g for g in m.param_groups(hp)}
    ids = lambda g: {id(p) for p in groups[g]["params"]}  # noqa: E731
    assert ids("cross") == {id(m.cross.weight), id(m.first.pairs.weight)}
    assert ids("arch") == {id(m.arch)}
    # l2_o decays the original embeddings only (Table IV's note): not the first-order weights
    assert ids("emb") == {id(m.emb.table.weight), id(m.emb.cont)}
    assert id(m.first.cat.weight) in ids("orig") and groups["orig"]["weight_decay"] == 0.0
    assert (groups["emb"]["lr"], groups["emb"]["weight_decay"]) == (1e-3, 0.1)
    assert (groups["cross"]["lr"], groups["cross"]["weight_decay"]) == (2e-3, 0.2)
    assert (groups["arch"]["lr"], groups["arch"]["weight_decay"]) == (3e-3, 0.0)
    assert sum(len(g["params"]) for g in groups.values()) == len(list(m.parameters()))
    assert len(m.sparse_parameters()) == 4
    m.set_sparse(False)
    assert m.sparse_parameters() == []


def test_first_order_is_linear_model():
    fo = FirstOrder([3, 4], 2, pair_vocab=[12])
    with torch.no_grad():
        for p in fo.parameters():
            p.normal_()
    cat, cont, cross = torch.tensor([[2, 3]]), torch.tensor([[0.5, 2.0]]), torch.tensor([[7]])
    w = fo.cat.weight[:, 0]
    expect = fo.bias + w[2] + w[3 + 3] + 0.5 * fo.cont[0] + 2.0 * fo.cont[1] + \
        fo.pairs.weight[7, 0]
    assert torch.allclose(fo(cat, cont, cross), expect.reshape(1))


def test_featuremap_reads_contract(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    raw = json.loads((tiny_processed / "feature_map.json").read_text())
    cats = [f["name"] for f in raw["fields"] if f["type"] == "categorical"]
    assert [f.name for f in fm.categorical] == cats
    assert fm.n_pairs == len(raw["pairs"]) == len(cats) * (len(cats) - 1) // 2
    for p, (a, b) in zip(fm.pairs, fm.pair_index):
        assert (cats[a], cats[b]) == p.fields
    assert fm.path("train").exists()


def test_featuremap_errors_name_the_field(tmp_path):
    raw = {"fields": [{"name": "C1", "type": "categorical", "vocab_size": 0}], "pairs": []}
    (tmp_path / "feature_map.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"feature_map.json: fields\[0\] \(C1\).vocab_size"):
        FeatureMap.load(tmp_path)
    raw = {"fields": [{"name": "I1", "type": "continuous"},
                      {"name": "C1", "type": "categorical", "vocab_size": 3}],
           "pairs": [{"name": "I1_x_C1", "fields": ["I1", "C1"], "vocab_size": 4}]}
    (tmp_path / "feature_map.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"pairs\[0\].*'I1' is not one"):
        FeatureMap.load(tmp_path)


def test_l2_o_free_groups_keep_one_orig_group():
    """With l2_o = 0 (the demo and planted presets) embeddings and network share one group, the
    optimiser layout from before l2_o was confined to the embeddings: numbers stay the same."""
    hp = {"lr": 1e-3, "lr_c": 2e-3, "lr_a": 3e-3, "l2_o": 0.0, "l2_c": 0.2}
    m = Toy()
    old = {}   # the former grouping: by table tag, everything untagged "orig"
    tags = {id(m.cross.weight): "cross", id(m.first.pairs.weight): "cross", id(m.arch): "arch"}
    for p in m.parameters():
        old.setdefault(tags.get(id(p), "orig"), []).append(p)
    groups = m.param_groups(hp)
    assert [g["name"] for g in groups] == list(old)
    assert all(g["params"] == old[g["name"]] for g in groups)
