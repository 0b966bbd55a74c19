"""LazyAdam against torch's dense Adam."""

import torch
import torch.nn.functional as F

from optinter.model.sparse_adam import LazyAdam


def run(sparse: bool, ids_per_step, wd: float, steps: int = 6):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8, 3))
    target = torch.randn(8, 3)
    opt = (LazyAdam if sparse else torch.optim.Adam)([w], lr=0.05, eps=1e-8, weight_decay=wd)
    for s in range(steps):
        ids = ids_per_step(s)
        opt.zero_grad()
        e = F.embedding(ids, w, sparse=sparse)
        ((e - target[ids]) ** 2).sum().backward()
        opt.step()
    return w.detach()


def test_equals_dense_adam_when_every_row_is_touched():
    every = lambda s: torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 3, 3, 0])  # noqa: E731 duplicates
    for wd in (0.0, 0.1):
        assert torch.allclose(run(True, every, wd), run(False, every, wd), atol=1e-6)


def test_untouched_rows_are_left_alone():
    torch.manual_seed(0)
    start = torch.randn(8, 3)
    some = lambda s: torch.tensor([1, 5, 5])  # noqa: E731
    lazy, dense = run(True, some, 0.1), run(False, some, 0.1)
    assert torch.equal(lazy[[0, 2, 3, 4, 6, 7]], start[[0, 2, 3, 4, 6, 7]])
    assert not torch.equal(dense[[0, 2, 3, 4, 6, 7]], start[[0, 2, 3, 4, 6, 7]])  # L2 moves them
    assert not torch.allclose(lazy[[1, 5]], start[[1, 5]])


def test_alternating_rows_differ_from_dense_adam():
    alt = lambda s: torch.tensor([s % 2])  # noqa: E731
    assert not torch.allclose(run(True, alt, 0.0), run(False, alt, 0.0))


def test_unfused_fallback_matches_fused(monkeypatch):
    every = lambda s: torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 2])  # noqa: E731
    fused = run(True, every, 0.1)
    monkeypatch.delattr(torch, "_fused_adam_")
    assert torch.allclose(run(True, every, 0.1), fused, atol=1e-6)
    assert torch.allclose(run(True, every, 0.1), run(False, every, 0.1), atol=1e-6)


def test_dense_gradient_with_shared_moment_rows_equals_adam():
    """A table in LazyAdam that gets a dense gradient: its moments are strided halves of one
    tensor, which the dense update must handle (torch's fused kernel would read them flat)."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(6, 3))
    ref = torch.nn.Parameter(w.detach().clone())
    lazy, dense = LazyAdam([w], lr=0.1, weight_decay=0.01), torch.optim.Adam(
        [ref], lr=0.1, weight_decay=0.01)
    for _ in range(4):
        g = torch.randn(6, 3)
        w.grad, ref.grad = g.clone(), g.clone()
        lazy.step()
        dense.step()
    assert lazy.state[w]["exp_avg"].stride() == (6, 1)  # the shared layout is in use
    assert torch.allclose(w, ref, atol=1e-6)
