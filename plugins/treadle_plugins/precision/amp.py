"""``16-mixed`` and ``bf16-mixed``: autocast around the steps; ``16-mixed`` adds a gradient scaler.

Both run what was asked on every device that torch supports, the CPU included: ``16-mixed``
on CPU is fp16 autocast with ``torch.amp.GradScaler("cpu")``, never silently bf16.

Everything happens through hooks, in both optimization modes:

* ``run_training_step`` / ``run_validation_step`` / ``run_test_step`` /
  ``run_predict_step`` (wrappers): the step runs under
  ``torch.autocast(device, dtype)``. In manual optimization that is the whole
  ``training_step``, as in Lightning (a backward under autocast computes the same gradients
  as one outside it: checked bit for bit in ``tests/precision``).
* ``scale_loss``: the loss is multiplied by the scale before ``backward``, so a
  ``Module.backward(self, loss)`` override receives the scaled loss.
* ``on_before_optimizer_step`` (``tryfirst``) and ``clip_gradients`` (wrapper): the gradients
  are unscaled exactly once per step, before any clipping and before user hooks see them --
  ``self.clip_gradients`` in manual optimization clips true gradients.
* ``optimizer_step``: the closure runs, then ``scaler.step`` (skipped when a gradient is inf or
  NaN) and ``scaler.update()`` (after every step, as Lightning does).
* torch's optimizer step hooks on the user's optimizers (manual optimization, or automatic
  optimization with another ``optimizer_step`` implementation, such as a ``Module`` override
  that may step the user's optimizer directly): the autocast weight cache is cleared
  after every step and before every closure evaluation inside one (manual optimization runs
  the whole ``training_step`` in one autocast region, and autocast would otherwise keep using
  the pre-step low-precision copies of the weights); under ``16-mixed``, stepping the user's
  own optimizer directly (``self.optimizers().optimizer.step()``) also unscales, skips on
  inf/NaN and updates the scale.
* ``on_save_checkpoint`` / ``on_load_checkpoint``: the scaler's state, under ``"grad_scaler"``.

A strategy that owns precision (``owns_precision = True``, DeepSpeed) makes the plugin stand
aside: none of the above happens.
"""

from __future__ import annotations

from typing import Any

import torch

from treadle import Provider, hookimpl
from treadle.kinds import PrecisionBase
from treadle.utilities import requires_closure
from treadle_plugins.precision._offer import Offer


def _raw(optimizer: Any) -> Any:
    return getattr(optimizer, "optimizer", optimizer)


class MixedPrecision(PrecisionBase):
    """``bf16-mixed``: forward under ``torch.autocast(device, torch.bfloat16)``; no scaler."""

    name = "bf16-mixed"
    dtype = torch.bfloat16  # autocast's
    param_dtype = torch.float32
    device_types = None  # every device with autocast in `dtype`

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.dtype

    def __init__(self, trainer) -> None:
        self.enabled = True  # False when the strategy owns precision (set by `validate`)
        self.device_type: str | None = None  # the root device's type, set by `convert_module`
        self._handles: list[Any] = []

    @property
    def device(self) -> str | None:
        """Lightning's ``MixedPrecision.device``: the type of device autocast runs on
        (``"cpu"``, ``"cuda"``), once the module is on it (``None`` before ``fit()`` &co.)."""
        return self.device_type

    @hookimpl
    def validate(self, trainer):
        self.enabled = not trainer.strategy.owns_precision
        return None

    def _needs_step_hooks(self, trainer, module) -> bool:
        """Whether the optimizer step hooks below are needed. Not in automatic optimization
        for bf16: there, every forward (closure evaluations included) is its own autocast
        region."""
        return not module.automatic_optimization

    @hookimpl
    def convert_module(self, trainer, module):
        self.device_type = trainer.root_device.type
        if not self.enabled or not self._needs_step_hooks(trainer, module):
            return
        for opt in trainer.optimizers:
            self._handles.append(opt.register_step_pre_hook(self._step_pre))
            self._handles.append(opt.register_step_post_hook(self._step_post))

    @hookimpl
    def teardown(self):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @hookimpl(wrapper=True)
    def run_training_step(self):
        if not self.enabled:
            return (yield)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return (yield)

    @hookimpl(wrapper=True)
    def run_validation_step(self):
        if not self.enabled:
            return (yield)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return (yield)

    @hookimpl(wrapper=True)
    def run_test_step(self):
        if not self.enabled:
            return (yield)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return (yield)

    @hookimpl(wrapper=True)
    def run_predict_step(self):
        if not self.enabled:
            return (yield)
        with torch.autocast(self.device_type, dtype=self.dtype):
            return (yield)

    # -- every step of the user's optimizers, whoever calls it -------------------------------
    #
    # Autocast caches the low-precision copy of each weight until the outermost autocast
    # region ends. In manual optimization the whole training_step is one region, so after
    # `opt.step()` updated the weights in place, a later forward in the same training_step
    # (the GAN's generator loss through the just-stepped discriminator) or LBFGS's next
    # closure evaluation would use stale copies. The cache is cleared after every step and
    # before every closure evaluation inside a step.

    def _step_pre(self, optimizer, args, kwargs):
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args[0]: optimizer
        if closure is None:
            return None
        return _with_closure(args, kwargs, self._closure_with_fresh_casts(optimizer, closure))

    def _closure_with_fresh_casts(self, optimizer, closure):
        def fresh_casts_closure():
            torch.clear_autocast_cache()
            return closure()

        return fresh_casts_closure

    def _step_post(self, optimizer, args, kwargs):
        torch.clear_autocast_cache()


def _has_grads(optimizer: Any) -> bool:
    """Whether any parameter has a gradient (stops at the first one: O(1) in a normal step)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                return True
    return False


def _with_closure(args, kwargs, closure):
    """``(args, kwargs)`` of an optimizer step with its closure replaced."""
    if "closure" in kwargs:
        return args, {**kwargs, "closure": closure}
    return (args[0], closure, *args[2:]), kwargs


class FP16MixedPrecision(MixedPrecision):
    """``16-mixed``: fp16 autocast plus ``torch.amp.GradScaler`` for the run's device.

    ``scaler`` is created when the run starts; to configure it, assign your own before
    ``fit()``: ``trainer.precision_plugin.scaler = torch.amp.GradScaler("cpu", init_scale=2**10)``.
    """

    name = "16-mixed"
    dtype = torch.float16

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.scaler: torch.amp.GradScaler | None = None
        self._unscaled: set = set()  # id() of the user's optimizers unscaled since their last step
        self._in_scaler_step = False

    # -- set-up ------------------------------------------------------------------------------

    @hookimpl
    def validate(self, trainer):
        self.enabled = not trainer.strategy.owns_precision
        if not self.enabled:
            return None
        problems = []
        for idx, opt in enumerate(trainer.optimizers):
            if requires_closure(opt):
                cls = type(_raw(opt)).__name__
                problems.append(
                    f"`precision='16-mixed'` cannot step `{cls}` (optimizer {idx} of "
                    f"`configure_optimizers()`): its `step(closure)` re-evaluates the loss and "
                    f"gradients inside the step, where gradient scaling cannot unscale them, so "
                    f"it would run on scaled gradients. Use `precision='bf16-mixed'` or "
                    f"`precision='32-true'` with `{cls}`, or an optimizer whose `step()` does "
                    f"not require a closure."
                )
        return problems

    def _needs_step_hooks(self, trainer, module) -> bool:
        # In automatic optimization the user's optimizer is stepped through scaler.step
        # unless another optimizer_step implementation (a Module override calling
        # `optimizer.optimizer.step(closure=...)`) may step it directly: then the guard
        # below unscales, skips on inf/NaN and updates the scale for it.
        others = [
            p
            for name, p in trainer.plugin_manager.implementations("optimizer_step")
            if p is not self and name != "treadle.core"
        ]
        return not module.automatic_optimization or bool(others)

    @hookimpl
    def convert_module(self, trainer, module):
        super().convert_module(trainer, module)
        if self.enabled and self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.device_type)
        self._unscaled.clear()

    # -- the step ----------------------------------------------------------------------------

    @hookimpl
    def scale_loss(self, loss):
        if not self.enabled:
            return None
        return self.scaler.scale(loss)

    @hookimpl(tryfirst=True)
    def on_before_optimizer_step(self, optimizer):
        if self.enabled:
            self._unscale(optimizer)

    @hookimpl(wrapper=True)
    def clip_gradients(self, optimizer, gradient_clip_val):
        if self.enabled:
            raw = getattr(optimizer, "optimizer", optimizer)
            if gradient_clip_val and getattr(raw, "_step_supports_amp_scaling", False):
                # Lightning's words, then the fix: a fused optimizer unscales in its own step
                name = type(raw).__qualname__
                raise RuntimeError(
                    f"The current optimizer, {name}, does not allow for gradient clipping because "
                    f"it performs unscaling of gradients internally. HINT: Are you using a "
                    f"'fused' optimizer? (`precision='16-mixed'`: make {name} without "
                    f"`fused=True`, or leave `gradient_clip_val` unset.)"
                )
            self._unscale(optimizer)
        return (yield)

    @hookimpl
    def optimizer_step(self, module, optimizer, closure):
        if not self.enabled:
            return None
        result = closure()  # forward, scaled backward, on_before_optimizer_step (unscale), clip
        if result is None and module.automatic_optimization:
            return True  # training_step returned None: no backward, nothing to step
        raw = getattr(optimizer, "optimizer", optimizer)  # the user's own (per step: inlined)
        self._unscale(raw)
        if id(raw) not in self._unscaled:
            return True  # no parameter has a gradient: a no-op, as optimizer.step() would be
        self._in_scaler_step = True
        try:
            out = self.scaler.step(raw)  # skipped when a gradient is inf or NaN
        finally:
            self._in_scaler_step = False
        self.scaler.update()
        self._unscaled.discard(id(raw))
        return True if out is None else out

    def _unscale(self, optimizer: Any) -> None:
        """Divide the optimizer's gradients by the scale, once between two of its steps."""
        raw = getattr(optimizer, "optimizer", optimizer)
        if id(raw) not in self._unscaled and _has_grads(raw):
            self.scaler.unscale_(raw)
            self._unscaled.add(id(raw))

    # -- the user's own optimizer, stepped directly (not through scaler.step) ----------------

    def _step_pre(self, optimizer, args, kwargs):
        if self._in_scaler_step:
            return None
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        if closure is None:
            self._unscale_or_skip(optimizer)
            return None
        inner = self._closure_with_fresh_casts(optimizer, closure)

        def closure_then_unscale():
            loss = inner()
            self._unscale_or_skip(optimizer)
            return loss

        return _with_closure(args, kwargs, closure_then_unscale)

    def _step_post(self, optimizer, args, kwargs):
        torch.clear_autocast_cache()
        if self._in_scaler_step or id(optimizer) not in self._unscaled:
            return  # our own scaler.step, or nothing was unscaled (no gradients)
        self.scaler.update()
        self._unscaled.discard(id(optimizer))

    def _unscale_or_skip(self, optimizer) -> None:
        self._unscale(optimizer)
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads and not all(bool(torch.isfinite(g).all()) for g in grads):
            # What scaler.step does on inf/NaN, done the only way a pre-hook can: with no
            # gradients, the optimizer leaves every parameter and its state untouched.
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = None

    # -- checkpoints -------------------------------------------------------------------------

    @hookimpl
    def on_save_checkpoint(self, checkpoint):
        if self.enabled and self.scaler is not None:
            checkpoint["grad_scaler"] = self.scaler.state_dict()

    @hookimpl
    def on_load_checkpoint(self, checkpoint):
        state = checkpoint.get("grad_scaler")
        if state and self.enabled and self.scaler is not None:
            self.scaler.load_state_dict(state)


fp16_mixed = Offer(
    Provider(
        "precision",
        "16-mixed",
        FP16MixedPrecision,
        description="fp16 autocast + gradient scaling (torch.amp.GradScaler); on CPU too.",
    )
)
bf16_mixed = Offer(
    Provider(
        "precision",
        "bf16-mixed",
        MixedPrecision,
        description="bf16 autocast, float32 weights; no gradient scaling.",
    )
)
