"""Sharpness-aware minimization (Foret et al., 2021) as a treadle plugin: one ``optimizer_step``.

Each step of an optimizer runs the closure twice -- forward, backward and every hook around
them, both times:

1. at the weights ``w``: the gradient ``g``;
2. at ``w + e``, where ``e = rho * g / ||g||`` (ASAM, ``adaptive=True``: ``e = rho * w² * g /
   ||w * g||``, Kwon et al., 2021), the neighbourhood's worst direction to first order: the
   gradient the optimizer steps with;

then the weights are ``w`` again, bit for bit, and the optimizer steps. Pass 1 is this plugin's
own ``closure()`` call; pass 2 runs when this plugin continues the ``optimizer_step`` chain with
``optimizer.step(closure=closure)`` (the precision's, the strategy's and the core's steps, as
``super()`` would), and the weights are put back in ``on_before_optimizer_step``, after pass 2's
backward and before gradient clipping and the step.

Only public API: the hooks ``validate``, ``optimizer_step`` and ``on_before_optimizer_step``,
the wrapped optimizer's ``.optimizer`` and ``step(closure=...)``, and the declarations of
``treadle.kinds``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

import treadle

EPS = 1e-12  # added to the gradient norm: a zero gradient perturbs nothing


class SAM:
    """``Trainer(plugins=[SAM(rho=0.05)])``: every optimizer step of the run is a SAM step.

    :param rho: the radius of the neighbourhood (``> 0``); 0.05 is the paper's usual value
        for SGD on CIFAR, ASAM uses larger values (0.5 to 2).
    :param adaptive: ASAM: the neighbourhood scaled by each weight's magnitude.
    """

    def __init__(self, rho: float = 0.05, adaptive: bool = False) -> None:
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho > 0:
            raise ValueError(
                f"SAM(rho={rho!r}): rho is the radius of the neighbourhood, a number > 0 "
                f"(e.g. SAM(rho=0.05))."
            )
        if not math.isfinite(rho):
            raise ValueError(f"SAM(rho={rho!r}): rho must be finite (e.g. SAM(rho=0.05)).")
        self.rho = float(rho)
        self.adaptive = bool(adaptive)
        # The weights of pass 1, kept from the perturbation to their restoration.
        self._saved: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __repr__(self) -> str:
        return f"SAM(rho={self.rho}, adaptive={self.adaptive})"

    @treadle.hookimpl
    def validate(self, trainer: Any, module: Any) -> list[str]:
        problems = []
        if not module.automatic_optimization:
            problems.append(
                f"{self!r} steps through automatic optimization; `{type(module).__name__}` sets "
                f"`automatic_optimization = False`. Run SAM's two passes in your training_step, "
                f"or remove SAM from `plugins=[...]`."
            )
        if trainer.accumulate_grad_batches > 1:
            problems.append(
                f"{self!r} cannot accumulate gradients: with `accumulate_grad_batches="
                f"{trainer.accumulate_grad_batches}` the second pass would see one batch, not "
                f"the window. Set `accumulate_grad_batches=1` (a larger batch instead)."
            )
        precision = trainer.precision_plugin
        if precision.compute_dtype == torch.float16 and precision.param_dtype == torch.float32:
            problems.append(
                f"{self!r} cannot run with `precision={precision.name!r}`: its gradient scaler "
                f"unscales once per step, SAM backpropagates twice. Use 'bf16-mixed' or '32-true'."
            )
        strategy = trainer.strategy
        if strategy.shards_parameters or strategy.owns_precision:
            problems.append(
                f"{self!r} perturbs every whole parameter with its gradient, which "
                f"`strategy={strategy.name!r}` keeps to itself (sharded, or stepped by its own "
                f"engine). Use 'ddp' or a single device."
            )
        return problems

    @treadle.hookimpl
    def optimizer_step(self, optimizer: Any, closure: Any) -> Any:
        loss = closure()  # pass 1, at w: zero_grad, training_step, backward, the pre-step hooks
        if loss is None:  # training_step returned None: nothing to step, as without SAM
            return True
        self._perturb(optimizer.optimizer)
        try:
            # Pass 2 at w + e, then the step: the rest of the optimizer_step chain runs the
            # closure again; on_before_optimizer_step puts w back before the step.
            optimizer.step(closure=closure)
        finally:
            self._restore()
        return loss

    @treadle.hookimpl
    def on_before_optimizer_step(self) -> None:
        self._restore()

    @torch.no_grad()
    def _perturb(self, optimizer: torch.optim.Optimizer) -> None:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        scaled = [p.grad * p.abs() if self.adaptive else p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
        scale = self.rho / (norm + EPS)
        for p in params:
            e = p.grad * scale
            if self.adaptive:
                e = e * p.square()
            self._saved.append((p, p.detach().clone()))
            p.add_(e)

    @torch.no_grad()
    def _restore(self) -> None:
        for p, w in self._saved:
            p.copy_(w)
        self._saved.clear()
