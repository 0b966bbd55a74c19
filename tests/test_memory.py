"""Memory estimate (optinter.model.memory), the refusal before training, the GPU-path switches
(optinter.model.accel) on the CPU."""

from __future__ import annotations

import itertools

import pytest
import torch

from optinter.model import accel, memory
from optinter.model.featuremap import FeatureMap
from optinter.model.registry import get_model
from optinter.model.stages import fit_model
from optinter.model.train import build_optimizers, train_step

HP = {"batch_size": 256, "s1": 4, "s2": 2, "mlp": [16, 8], "lr": 1e-3, "lr_c": 1e-3,
      "lr_a": 1e-3, "l2_o": 0.0, "l2_c": 0.0, "eps": 1e-8, "epochs": 1, "patience": 1}


def fmap(cat_rows=1000, cross_rows=50_000, n_cat=6, rows=None) -> FeatureMap:
    cats = [f"C{i}" for i in range(n_cat)]
    pairs = list(itertools.combinations(cats, 2))
    return FeatureMap.from_dict({
        "dataset": "t", "rows": rows or {},
        "fields": [{"name": "I1", "type": "continuous"}]
        + [{"name": c, "type": "categorical", "vocab_size": cat_rows // n_cat, "crossed": True}
           for c in cats],
        "pairs": [{"name": f"{a}_x_{b}", "fields": [a, b], "vocab_size": cross_rows // len(pairs)}
                  for a, b in pairs]})


@pytest.mark.parametrize("name", ["lr", "fm", "fnn", "pin", "optinter_m", "optinter_f"])
def test_meta_model_counts_what_the_real_model_allocates(name):
    fm = fmap()
    meta = memory.meta_model(name, fm, HP)
    real = get_model(name)(fm, HP)
    assert all(p.is_meta for p in meta.parameters())
    assert (sum(p.numel() for p in meta.parameters())
            == sum(p.numel() for p in real.parameters()))
    est = memory.estimate(meta, fm, HP)
    assert est.weights == 4 * sum(p.numel() for p in real.parameters())


def test_optimizer_estimate_covers_the_state_training_allocates():
    """After a step, every optimiser's state (LazyAdam moments + scratch, Adam) is within the
    estimate's optimiser share and at least the two moments of every parameter."""
    fm = fmap()
    model = get_model("optinter_m")(fm, HP)
    model.set_sparse(True)
    opts = build_optimizers(model, HP)
    gen = torch.Generator().manual_seed(0)
    batch = (torch.randint(0, 100, (256, fm.n_categorical), generator=gen) % torch.tensor(fm.cat_vocab),
             torch.rand(256, 1), torch.randint(0, 10**6, (256, fm.n_pairs), generator=gen)
             % torch.tensor(fm.pair_vocab), (torch.rand(256) < .3).float())
    train_step(model, opts, batch)
    seen, got = set(), 0
    for o in opts.values():
        for st in o.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor) and v.untyped_storage().data_ptr() not in seen:
                    seen.add(v.untyped_storage().data_ptr())
                    got += v.untyped_storage().nbytes()
        for maps in getattr(o, "_native_maps", {}).values():
            got += sum(t.untyped_storage().nbytes() for t in maps)
    est = memory.estimate(model, fm, HP)
    n = sum(p.numel() for p in model.parameters())
    assert 8 * n <= got <= est.optimizer * 1.01


def test_a_job_over_the_limit_is_refused_with_the_number_and_the_setting(tiny_processed, tmp_path):
    with pytest.raises(memory.DoesNotFit) as e:
        fit_model("optinter_m", tiny_processed, HP, {"memory_limit_mb": 10}, 1, tmp_path / "c")
    msg = str(e.value)
    assert "needs ~" in msg and "10 MB are available" in msg
    assert "train.memory_limit_mb" in msg and "cross_min_count" in msg
    assert not (tmp_path / "c" / "last.pt").exists()  # refused before any step


def test_mem_mb_is_the_estimate_with_a_margin_and_costs_a_retrain_as_its_search(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    fnn = memory.estimate_job("fnn", fm, HP, {})
    assert memory.mem_mb("fnn", tiny_processed, HP, {}, floor_mb=1) == int(fnn.total_mb * 1.15)
    supernet = memory.estimate_job("optinter", fm, HP, {}, search=True)
    assert memory.mem_mb("optinter", tiny_processed, HP, {}, floor_mb=1) == \
        int(supernet.total_mb * 1.15)


def test_device_resident_is_auto_on_accelerators_only(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    assert not accel.use_resident(fm, {}, "cpu")
    assert accel.use_resident(fm, {"device_resident": True}, "cpu")
    assert accel.use_resident(fm, {}, "cuda")  # a tiny split fits
    assert not accel.use_resident(fm, {"device_resident_max_mb": 0}, "cuda")  # too big
    with pytest.raises(ValueError, match="device_resident"):
        accel.use_resident(fm, {"device_resident": "sometimes"}, "cpu")


def test_resident_training_is_the_in_memory_run(tiny_processed, tmp_path):
    """train.device_resident: true on the CPU (the GPU path's code): the same weights and
    validation AUC as the in-memory host loader, step for step."""
    hp = {**HP, "epochs": 1}
    a = fit_model("fnn", tiny_processed, hp, {"device": "cpu"}, 3, tmp_path / "a")
    b = fit_model("fnn", tiny_processed, hp, {"device": "cpu", "device_resident": True}, 3,
                  tmp_path / "b")
    assert b[3]["train"].resident and not a[3]["train"].resident
    assert a[1].best_auc == b[1].best_auc
    for p, q in zip(a[0].parameters(), b[0].parameters()):
        assert torch.equal(p, q)


def test_bf16_autocast_trains_and_is_refused_when_unknown(tiny_processed, tmp_path):
    out = fit_model("fnn", tiny_processed, HP, {"device": "cpu", "amp": "bf16"}, 3,
                    tmp_path / "a")
    assert 0.5 < out[1].best_auc <= 1
    assert all(p.dtype == torch.float32 for p in out[0].parameters())  # weights stay fp32
    with pytest.raises(ValueError, match="train.amp"):
        fit_model("fnn", tiny_processed, HP, {"device": "cpu", "amp": "fp8"}, 3, tmp_path / "b")
