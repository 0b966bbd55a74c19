"""The fused CPU operators (optinter/model/native.py) against the plain PyTorch path they
replace, and their registration (schemas, fake kernels, argument checks)."""

import os

import pytest
import torch
import torch.nn.functional as F

from optinter.model import native
from optinter.model.optinter import Supernet
from optinter.model.sparse_adam import LazyAdam
from optinter.model.train import build_optimizers, train_step
from test_model_optinter import HP, batch, fmap


@pytest.fixture(autouse=True)
def kernels(monkeypatch):
    """Every test starts in auto mode with the kernels built; without a compiler they skip
    (a failure under CI=true, where the kernels must be exercised)."""
    monkeypatch.delenv("OPTINTER_KERNELS", raising=False)
    if native.kernels() is None:
        msg = f"fused kernels unavailable: {native._state.get('error')}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def with_kernels(mode: str, fn):
    with native.forced(mode):
        return fn()


def forward_backward(net: Supernet, data, seed: int = 0):
    """Output and every gradient (sparse ones densified) of one forward/backward."""
    net.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same Gumbel noise for both paths
    out = net(*data)
    (out * torch.linspace(-1, 1, out.numel())).sum().backward()
    grads = {n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone()
             for n, p in net.named_parameters() if p.grad is not None}
    return out.detach().clone(), grads


@pytest.mark.parametrize("factorize_table", ["separate", "shared"])
@pytest.mark.parametrize("sparse", [True, False])
def test_mixing_matches_pytorch_path(factorize_table, sparse):
    fm = fmap()
    hp = dict(HP, s1=3) if factorize_table == "shared" else HP
    torch.manual_seed(0)
    net = Supernet(fm, hp, {"factorize_table": factorize_table})
    net.set_sparse(sparse)
    with torch.no_grad():
        net.arch_logits.normal_()
    cat, cont, cross = batch(fm, n=150)  # > one 64-row chunk, with repeated ids
    out_c, g_c = with_kernels("c", lambda: forward_backward(net, (cat, cont, cross)))
    out_t, g_t = with_kernels("torch", lambda: forward_backward(net, (cat, cont, cross)))
    assert torch.allclose(out_c, out_t, atol=1e-6)
    assert g_c.keys() == g_t.keys()
    assert "memo.weight" in g_c and "arch_logits" in g_c
    for name in g_c:
        assert torch.allclose(g_c[name], g_t[name], atol=1e-5, rtol=1e-4), name


def kernel_mix(fm, threads: int, sparse: bool = True):
    """Output and input gradients of the mixing kernel alone, given fixed inputs and a fixed
    upstream gradient (no MLP: PyTorch's own CPU matrix products may reduce in a
    thread-dependent order on some processors, and that is not the kernel's promise)."""
    from optinter.model.optinter import _NativePairMix
    g = torch.Generator().manual_seed(5)
    cat, _, cross = batch(fm, n=300)
    n_pairs, s = fm.n_pairs, HP["s2"]
    table = torch.randn(sum(fm.pair_vocab), s, generator=g).requires_grad_()
    x = torch.randn(300, fm.n_categorical, s, generator=g).requires_grad_()
    e_o = torch.randn(300, 7, generator=g).requires_grad_()
    w = torch.softmax(torch.randn(n_pairs, 3, generator=g), -1)
    w_m, w_f = w[:, 0].contiguous().requires_grad_(), w[:, 1].contiguous().requires_grad_()
    vocab = torch.as_tensor(fm.pair_vocab, dtype=torch.long)
    offsets = torch.cumsum(vocab, 0) - vocab
    idx = torch.as_tensor(fm.pair_index)
    upstream = torch.randn(300, 7 + n_pairs * s, generator=g)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with native.forced("c"):
            out = _NativePairMix.apply(e_o, x, table, w_m, w_f, cross.contiguous(), offsets,
                                       vocab, idx[:, 0].contiguous(), idx[:, 1].contiguous(),
                                       sparse, {})
            out.backward(upstream)
    finally:
        torch.set_num_threads(before)
    grads = {n: (t.grad.to_dense() if t.grad.is_sparse else t.grad).clone()
             for n, t in (("table", table), ("x", x), ("e_o", e_o), ("w_m", w_m), ("w_f", w_f))}
    return out.detach().clone(), grads


@pytest.mark.parametrize("sparse", [True, False])
def test_mixing_kernel_does_not_depend_on_thread_count(sparse):
    fm = fmap()
    (out1, g1), *others = [kernel_mix(fm, t, sparse) for t in (1, 2, 3)]
    for out, g in others:
        assert torch.equal(out, out1)
        for name in g1:
            assert torch.equal(g[name], g1[name]), name


def test_lazy_adam_kernel_does_not_depend_on_thread_count():
    g = torch.Generator().manual_seed(3)
    ids = [torch.randint(0, 200, (500,), generator=g) for _ in range(4)]
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(lazy_run("c", ids.__getitem__, 0.1, steps=4)[0])
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(r, results[0]) for r in results[1:])


def test_supernet_gradients_agree_across_thread_counts():
    """End to end (kernels + MLP) the thread count may change the MLP's reductions, so only
    float tolerance is promised across thread counts; the same thread count is bit-identical."""
    fm = fmap()
    torch.manual_seed(0)
    net = Supernet(fm, HP, {})
    data = batch(fm, n=300)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 2):
            torch.set_num_threads(threads)
            results.append(with_kernels("c", lambda: forward_backward(net, data)))
    finally:
        torch.set_num_threads(before)
    (out1, g1), *others = results
    # float32 sums over 300 rows that partly cancel: tolerance relative to the gradients' scale
    scale = max(float(v.abs().max()) for v in g1.values())
    for out, g in others:
        assert torch.allclose(out, out1, atol=1e-5)
        for name in g1:
            assert torch.allclose(g[name], g1[name], rtol=1e-4, atol=1e-5 * scale), name
    (out2, g2), (out2b, g2b) = results[1], results[3]
    assert torch.equal(out2, out2b)
    assert all(torch.equal(g2[n], g2b[n]) for n in g2)


def test_out_of_range_cross_id_is_an_index_error():
    fm = fmap()
    net = Supernet(fm, HP, {})
    cat, cont, cross = batch(fm, n=8)
    cross[5, 2] = fm.pair_vocab[2]
    with pytest.raises(IndexError, match=f"pair column 2 .* vocabulary of {fm.pair_vocab[2]}"):
        with_kernels("c", lambda: net(cat, cont, cross))


def test_reused_buffer_is_caught_by_autograd():
    """Two forwards then backward through the first: the shared output buffer was overwritten,
    and autograd's version check must refuse rather than return wrong gradients."""
    fm = fmap()
    net = Supernet(fm, HP, {})

    def two_forwards():
        first = net(*batch(fm, seed=1)).sum()
        net(*batch(fm, seed=2)).sum()
        first.backward()
    with pytest.raises(RuntimeError, match="modified inplace|modified by an inplace"):
        with_kernels("c", two_forwards)


def lazy_run(mode: str, ids_per_step, wd: float, rows: int = 200, dim: int = 6, steps: int = 5,
             legacy_moments: bool = False):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(rows, dim))
    target = torch.randn(rows, dim)
    opt = LazyAdam([w], lr=0.05, eps=1e-8, weight_decay=wd)
    for s in range(steps):
        ids = ids_per_step(s)
        opt.zero_grad()
        e = F.embedding(ids, w, sparse=True)
        ((e - target[ids]) ** 2).sum().backward()
        if legacy_moments and not opt.state[w]:
            # moments as two separate tensors, as checkpoints of earlier versions hold them
            opt.state[w].update(step=torch.zeros(()), exp_avg=torch.zeros_like(w),
                                exp_avg_sq=torch.zeros_like(w))
        with_kernels(mode, opt.step)
    return w.detach(), opt


@pytest.mark.parametrize("legacy_moments", [False, True])
def test_lazy_adam_kernel_matches_pytorch_path(legacy_moments):
    g = torch.Generator().manual_seed(3)
    ids = [torch.randint(0, 200, (80,), generator=g) for _ in range(5)]  # duplicates, gaps
    for wd in (0.0, 0.1):
        w_c, opt = lazy_run("c", ids.__getitem__, wd, legacy_moments=legacy_moments)
        w_t, _ = lazy_run("torch", ids.__getitem__, wd, legacy_moments=legacy_moments)
        assert torch.allclose(w_c, w_t, atol=1e-6)
        untouched = sorted(set(range(200)) - set(torch.cat(ids).tolist()))
        assert untouched, "the test needs rows that are never seen"
        start, _ = lazy_run("c", ids.__getitem__, wd, steps=0)
        assert torch.equal(w_c[untouched], start[untouched])
    # the bitmap is cleared after each step: a later step with other rows is still exact
    w_c, _ = lazy_run("c", lambda s: torch.tensor([s, s, 199 - s]), 0.0)
    w_t, _ = lazy_run("torch", lambda s: torch.tensor([s, s, 199 - s]), 0.0)
    assert torch.allclose(w_c, w_t, atol=1e-6)


def test_lazy_adam_moments_share_rows_and_checkpoint():
    w, opt = lazy_run("c", lambda s: torch.tensor([1, 2, 2]), 0.0)
    st = opt.state[opt.param_groups[0]["params"][0]]
    m, v = st["exp_avg"], st["exp_avg_sq"]
    assert m.untyped_storage().data_ptr() == v.untyped_storage().data_ptr()
    assert m.stride() == v.stride() == (2 * w.shape[1], 1)
    # a checkpoint round trip keeps the moments (and their values) intact
    import io
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf)
    lm, lv = loaded["state"][0]["exp_avg"], loaded["state"][0]["exp_avg_sq"]
    assert torch.equal(lm, m) and torch.equal(lv, v)
    assert lm.untyped_storage().data_ptr() == lv.untyped_storage().data_ptr()


def test_lazy_adam_bad_row_is_an_index_error():
    w = torch.nn.Parameter(torch.randn(5, 2))
    opt = LazyAdam([w], lr=0.1)
    w.grad = torch.sparse_coo_tensor(torch.tensor([[1, 7]]), torch.ones(2, 2), (5, 2),
                                     check_invariants=False)
    with pytest.raises(IndexError, match="row 7 outside the table's 5 rows"):
        with_kernels("c", opt.step)


def test_training_steps_match_pytorch_path():
    """A few full search steps (Gumbel noise, LazyAdam, dense Adam, arch Adam) on both paths.
    Tolerance: a tenth of one Adam step. A row whose gradients cancel within a batch (sum
    ~1e-10 in either summation order) gets a first Adam step of different size in the two
    paths, so bit equality is not expected; a wrong row or scale moves weights by ~lr."""
    fm = fmap()
    data = [(*batch(fm, n=40, seed=s), (torch.rand(40) < 0.3).float()) for s in range(3)]
    states = []
    for mode in ("c", "torch"):
        torch.manual_seed(0)
        net = Supernet(fm, HP, {"tau_decay_steps": 10})
        start = net.memo.weight.detach().clone()
        opts = build_optimizers(net, HP)
        torch.manual_seed(1)
        for b in data * 2:
            with_kernels(mode, lambda: train_step(net, opts, b))
        states.append(net.state_dict())
    for name, value in states[0].items():
        assert torch.allclose(value.float(), states[1][name].float(), rtol=0,
                              atol=0.1 * HP["lr_c"]), name
    assert (states[1]["memo.weight"] - start).abs().max() > HP["lr_c"]  # training moved it


def test_fallback_without_compiler(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setattr(native, "_loaded", lambda: False)  # as in a fresh process
    monkeypatch.setenv("OPTINTER_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setattr(native.shutil, "which",
                        lambda name: "/bin/false" if name == "/bin/false" else None)
    assert native.kernels() is None
    assert "kernels unavailable" in caplog.text
    fm = fmap()
    net = Supernet(fm, HP, {})
    assert net(*batch(fm)).shape == (16,)  # the PyTorch path
    monkeypatch.setenv("OPTINTER_KERNELS", "c")
    with pytest.raises(RuntimeError, match="OPTINTER_KERNELS=c"):
        native.kernels()
    monkeypatch.setenv("OPTINTER_KERNELS", "fast")
    with pytest.raises(ValueError, match="OPTINTER_KERNELS"):
        native.kernels()


def mix_args(B: int = 70, s: int = 4, d_o: int = 5):
    """Small valid arguments of optinter::mix_forward (3 pairs of 3 fields, > one chunk)."""
    g = torch.Generator().manual_seed(0)
    vocab = torch.tensor([5, 7, 3])
    offsets = torch.cumsum(vocab, 0) - vocab
    cross = (torch.rand(B, 3, generator=g) * vocab).long()
    w = torch.rand(2, 3, generator=g)
    return dict(table=torch.randn(int(vocab.sum()), s, generator=g), offsets=offsets,
                vocab=vocab, cross=cross, x=torch.randn(B, 3, s, generator=g),
                pair_i=torch.tensor([0, 0, 1]), pair_j=torch.tensor([1, 2, 2]),
                w_m=w[0].clone(), w_f=w[1].clone(), d_o=d_o,
                out=torch.zeros(B, d_o + 3 * s), em=torch.empty(B * 3, s))


def backward_args(fwd: dict, optional: bool = True):
    B, C, s = fwd["x"].shape
    g_out = torch.randn(B, fwd["out"].shape[1], generator=torch.Generator().manual_seed(1))
    return dict(em=fwd["em"], x=fwd["x"], pair_i=fwd["pair_i"], pair_j=fwd["pair_j"],
                w_m=fwd["w_m"], w_f=fwd["w_f"], g_out=g_out, d_o=fwd["d_o"],
                chunk=native.CHUNK, g_w=torch.empty(2, 3, dtype=torch.float64),
                g_em=torch.empty(B * 3, s) if optional else None,
                g_x=torch.zeros(B, C, s) if optional else None)


def adam_args(R: int = 100, n: int = 30, s: int = 4, halves: bool = False):
    g = torch.Generator().manual_seed(2)
    both = torch.zeros(R, 2 * s)
    m, v = (both[:, :s], both[:, s:]) if halves else (torch.zeros(R, s), torch.zeros(R, s))
    return dict(rows=torch.randint(0, R, (n,), generator=g), values=torch.randn(n, s, generator=g),
                seen=torch.zeros(-(-R // 64), dtype=torch.int64),
                slot=torch.empty(R, dtype=torch.int32), acc=torch.empty(n, s),
                param=torch.randn(R, s, generator=g), exp_avg=m, exp_avg_sq=v,
                step_size=1e-3, beta2=0.999, one_minus_beta1=0.1, one_minus_beta2=1e-3,
                eps=1e-8, weight_decay=0.1, bc2_sqrt=0.03)


def test_operators_pass_opcheck():
    """Schemas (declared mutations), fake kernels and dispatch as torch.compile needs them."""
    ops = native.kernels()
    fwd = mix_args()
    cases = [(ops.mix_forward, fwd), (ops.mix_backward, backward_args(fwd)),
             (ops.mix_backward, backward_args(fwd, optional=False)),
             (ops.lazy_adam, adam_args())]
    for op, kw in cases:
        ops.mix_forward(**fwd)  # em holds gathered rows for the backward
        torch.library.opcheck(op.default, tuple(kw.values()))


def test_operators_compute_what_the_pytorch_path_does():
    ops = native.kernels()
    a = mix_args()
    ops.mix_forward(**a)
    e_m = a["table"][(a["cross"] + a["offsets"])]
    x, i, j = a["x"], a["pair_i"], a["pair_j"]
    e_b = a["w_m"][:, None] * e_m + a["w_f"][:, None] * x[:, i] * x[:, j]
    assert torch.allclose(a["out"][:, a["d_o"]:], e_b.flatten(1), atol=1e-6)
    assert torch.equal(a["out"][:, :a["d_o"]], torch.zeros(70, a["d_o"]))  # left alone
    assert torch.equal(a["em"], e_m.reshape(-1, 4))


@pytest.mark.parametrize("bad, match", [
    # swapped arguments
    (lambda a: dict(a, table=a["x"], x=a["table"]), "table: expected 2 dimensions"),
    (lambda a: dict(a, cross=a["x"], x=a["cross"]), "cross: expected Long"),
    (lambda a: dict(a, out=a["em"], em=a["out"]), "out: expected size 70"),
    (lambda a: dict(a, w_m=a["pair_i"], pair_i=a["w_m"]), "pair_i: expected Long"),
    # wrong dtype, shape, layout or contents
    (lambda a: dict(a, cross=a["cross"].int()), "cross: expected Long"),
    (lambda a: dict(a, x=a["x"].double()), "x: expected Float"),
    (lambda a: dict(a, x=a["x"][:-1]), "x: expected size 70"),
    (lambda a: dict(a, out=torch.zeros(70, a["out"].shape[1] - 1)), "cannot hold"),
    (lambda a: dict(a, out=torch.zeros(a["out"].shape[1], 70).t()), "out: expected a contiguous"),
    (lambda a: dict(a, em=a["em"][:-1]), "em: expected size 210"),
    (lambda a: dict(a, w_f=a["w_f"][:2]), "w_f: expected size 3"),
    (lambda a: dict(a, pair_j=torch.tensor([1, 2, 3])), "not two distinct of 3"),
    (lambda a: dict(a, pair_j=torch.tensor([1, 2, 1])), "not two distinct of 3"),
    (lambda a: dict(a, offsets=a["offsets"] + 1), "outside the table's 15"),
])
def test_wrong_mix_forward_arguments_raise(bad, match):
    ops = native.kernels()
    a = mix_args()
    out_before = a["out"].clone()
    with pytest.raises(RuntimeError, match=match):
        ops.mix_forward(**bad(a))
    assert torch.equal(a["out"], out_before)  # checked before anything is written


def test_operator_calls_are_typed():
    """The schema itself refuses a missing or wrongly typed argument."""
    ops = native.kernels()
    a = mix_args()
    with pytest.raises(RuntimeError, match="missing value for argument 'em'"):
        ops.mix_forward(*list(a.values())[:-1])
    with pytest.raises(RuntimeError, match="type 'int' for argument 'd_o'"):
        ops.mix_forward(**dict(a, d_o=1.5))
    with pytest.raises(RuntimeError, match="type 'float' for argument 'eps'"):
        ops.lazy_adam(**dict(adam_args(), eps="1e-8"))


@pytest.mark.parametrize("bad, match", [
    (lambda a: dict(a, g_out=a["em"], em=a["g_out"]), "em: expected size 210"),
    (lambda a: dict(a, g_w=a["g_w"].float()), "g_w: expected Double"),
    (lambda a: dict(a, g_x=torch.zeros(70, 2, 4)), "g_x: expected shape"),
    (lambda a: dict(a, g_em=torch.empty(4, 210)), "g_em: expected size 210"),
    (lambda a: dict(a, chunk=0), "chunk: expected > 0"),
])
def test_wrong_mix_backward_arguments_raise(bad, match):
    ops = native.kernels()
    fwd = mix_args()
    ops.mix_forward(**fwd)
    with pytest.raises(RuntimeError, match=match):
        ops.mix_backward(**bad(backward_args(fwd)))


@pytest.mark.parametrize("bad, match", [
    (lambda a: dict(a, rows=a["values"], values=a["rows"]), "rows: expected Long"),
    (lambda a: dict(a, param=a["exp_avg"], exp_avg=a["param"].t()), "exp_avg: expected size"),
    (lambda a: dict(a, seen=a["slot"], slot=a["seen"]), "seen: expected Long"),
    (lambda a: dict(a, acc=a["acc"][:-1]), "acc: expected size 30"),
    (lambda a: dict(a, exp_avg_sq=torch.zeros(100, 8)[:, ::2]), "adjacent floats"),
    (lambda a: dict(a, exp_avg_sq=torch.zeros(100, 12)[:, :4]), "equal row strides"),
    (lambda a: dict(a, seen=torch.ones(2, dtype=torch.int64)), "all zero on entry"),
])
def test_wrong_lazy_adam_arguments_raise(bad, match):
    ops = native.kernels()
    a = adam_args()
    before = a["param"].clone()
    with pytest.raises(RuntimeError, match=match):
        ops.lazy_adam(**bad(a))
    assert torch.equal(a["param"], before)


def test_lazy_adam_operator_accepts_moment_halves():
    """The moments as the halves of one [R, 2 s] tensor (LazyAdam's layout) update like two
    separate tensors."""
    ops = native.kernels()
    results = []
    for halves in (False, True):
        a = adam_args(halves=halves)
        ops.lazy_adam(**a)
        results.append((a["param"], a["exp_avg"], a["exp_avg_sq"]))
        assert not a["seen"].any()  # cleared for the next call
    assert all(torch.equal(x, y) for x, y in zip(*results))
