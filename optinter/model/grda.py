"""GRDA: generalized regularized dual averaging (Chao et al., NeurIPS 2020), AutoFIS's optimiser
for its interaction gates.

    w_n = S_{g(n)}(w_0 - lr * sum_{i<=n} grad_i),   g(n) = c * lr^(1/2) * (n * lr)^mu

S_t(a) = sign(a) max(|a| - t, 0) is soft-thresholding. The threshold grows with the step count,
so a gate whose accumulated gradient does not carry it away from zero is set to exactly zero and
stays there unless later gradients pull the accumulator out again: this is what prunes
interactions. (Plain L1 with Adam only shrinks towards zero; it never reaches it.)
"""

from __future__ import annotations

import torch


def grda_threshold(step: int, lr: float, c: float, mu: float) -> float:
    """g(n) = c * lr^(1/2) * (n * lr)^mu."""
    return c * lr ** 0.5 * (step * lr) ** mu


class GRDA(torch.optim.Optimizer):
    """GRDA for dense parameters. State per parameter: `step` and the dual-average
    `accumulator` (starts at the initial value w_0), both saved by state_dict for resume."""

    def __init__(self, params, lr: float = 0.01, c: float = 0.0, mu: float = 0.7):
        if lr <= 0 or c < 0 or not 0 <= mu:
            raise ValueError(f"GRDA: need lr > 0, c >= 0, mu >= 0 (got {lr}, {c}, {mu})")
        super().__init__(params, dict(lr=lr, c=c, mu=mu))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, c, mu = group["lr"], group["c"], group["mu"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("GRDA: sparse gradients are not supported")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["accumulator"] = p.detach().clone()
                state["step"] += 1
                acc = state["accumulator"].add_(p.grad, alpha=-lr)
                thr = grda_threshold(state["step"], lr, c, mu)
                p.copy_(acc.sign() * (acc.abs() - thr).clamp_min(0))
        return loss
