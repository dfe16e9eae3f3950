"""One training step: automatic optimization, and the pieces of manual optimization.

The automatic step, in nanoGPT's order (every call a hook, so any plugin can take it over)::

    optimizer_step(closure)                  # hook; the core's default: closure(), then step()
      closure:
        on_before_zero_grad, optimizer_zero_grad     # first batch of an accumulation window
        run_training_step                            # forward, under the precision's autocast
        loss / accumulate_grad_batches
        on_before_backward, scale_loss, backward, on_after_backward
        on_before_optimizer_step, configure_gradient_clipping     # when this batch steps
    (no optimizer step on the other batches of an accumulation window: only the closure runs)

Manual optimization calls the same pieces from ``training_step``: ``self.manual_backward(loss)``
is :meth:`Step.backward`; ``opt.step(closure=None)`` is :meth:`Step.optimizer_step`, which
dispatches ``optimizer_step`` around a closure that runs the user's closure (LBFGS) and then
``on_before_optimizer_step``; ``self.clip_gradients`` is the ``clip_gradients`` hook.

The ``super()`` chain: an ``optimizer_step`` implementation (a ``Module`` override written as in
Lightning, a callback) that calls ``optimizer.step(closure=...)`` continues with the
implementations below it -- the strategy's, the precision's, the core's -- never with itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Callable

import torch

from treadle import _defaults
from treadle._callers import Sequence
from treadle.errors import ConfigurationError, NonFiniteLossError
from treadle.optim import WrappedOptimizer, route_scheduler_step
from treadle.utilities import _step_signature

# nonfinite_loss="skip" stops after this many skipped batches in a row (or an epoch's worth).
_MAX_SKIPPED_IN_A_ROW = 1000
# warnings Lightning gives once per process (its WarningCache)
_WARNED = {"none_loss": False}


# The hooks each piece of the step calls, in order; each is compiled once per run, without the
# hooks that would do nothing (see ``treadle._callers.Hooks.sequence``).
ZERO_GRAD = Sequence(
    "zero_grad",
    ("trainer", "module", "optimizer", "optimizer_idx", "batch_idx"),
    (("on_before_zero_grad", None), ("optimizer_zero_grad", None)),
)
BACKWARD = Sequence(
    "backward",
    ("trainer", "module", "loss", "optimizer"),
    (
        ("on_before_backward", None),
        ("scale_loss", "=loss"),
        ("backward", None),
        ("on_after_backward", None),
    ),
)
BEFORE_STEP = Sequence(  # automatic optimization: the gradients are final here, then clipping
    "before_optimizer_step",
    ("trainer", "module", "optimizer", "gradient_clip_val", "gradient_clip_algorithm"),
    (("on_before_optimizer_step", None), ("configure_gradient_clipping", None)),
)
BEFORE_MANUAL_STEP = Sequence(  # manual optimization clips with self.clip_gradients itself
    "before_optimizer_step",
    ("trainer", "module", "optimizer"),
    (("on_before_optimizer_step", None),),
)


class _SkipBatch(Exception):
    """``Trainer(nonfinite_loss="skip")``: unwinds the closure (and any ``optimizer_step``
    implementation around it) before backward, so nothing of this batch reaches the weights."""


class Step:
    """The step of one ``fit()``: its closure, its optimizer and scheduler dispatch.

    :param trainer: passed to every hook as ``trainer``.
    :param hooks: the run's resolved hook callers (``treadle._callers.Hooks``).
    :param optimizers: the user's optimizers from ``configure_optimizers()``.
    :param module_plugin: the user's ``Module`` overrides as a plugin (or None).
    :param others: the callbacks and non-selected plugins (left out of the ``super()`` chain).
    :param nonfinite: ``Trainer(nonfinite_loss=...)``: None (no check), "raise" or "skip".
    """

    def __init__(
        self,
        trainer: Any,
        module: Any,
        hooks: Any,
        state: Any,
        *,
        accumulate: int,
        clip_val: float | None,
        clip_algorithm: str | None,
        optimizers: list[Any],
        schedulers: list[Any],
        module_plugin: Any,
        others: list[Any],
        nonfinite: str | None = None,
    ) -> None:
        self.trainer, self.module, self.hooks, self.state = trainer, module, hooks, state
        self.accumulate, self.clip_val, self.clip_algorithm = accumulate, clip_val, clip_algorithm
        self.optimizers = [WrappedOptimizer(o, self, i) for i, o in enumerate(optimizers)]
        self.schedulers = [route_scheduler_step(s, self) for s in schedulers]
        # optimizer_step as the loop dispatches it (every implementation), as a user's
        # opt.step() in training_step does (all but the Module's override), and as an
        # optimizer_step implementation's opt.step() continues it (the engine chain).
        self._step_full = hooks.optimizer_step
        self._step_manual = hooks.subset("optimizer_step", [module_plugin])
        self._step_engine = hooks.subset("optimizer_step", [module_plugin, *others])
        self._in_optimizer_step = False
        self._in_scheduler_step = False
        self.zero_grad = hooks.sequence(ZERO_GRAD)
        self.run_backward = hooks.sequence(BACKWARD)
        clipping = ("configure_gradient_clipping",) if clip_val else ()
        # (None: nothing to call before the step -- no hook implemented, no clipping)
        self.before_step = hooks.sequence(BEFORE_STEP, asked=clipping)
        self.before_manual_step = hooks.sequence(BEFORE_MANUAL_STEP)
        # Decided once per run, where the hooks are resolved: when only the core implements
        # optimizer_step for manual optimization and no hook runs before the step, the core's
        # implementation of ``opt.step()`` without a closure is the optimizer's own ``step()``
        # (its closure would do nothing); when only the core implements backward (no scaling,
        # no plugin, no Module override) and no loss check is asked for, ``manual_backward``
        # is ``loss.backward()``. A plugin, an override, or tracing (whose callers are never
        # the core's functions) turns these off, and the hooks run as usual.
        self.bare_manual_step = (
            self._step_manual is _defaults.optimizer_step and self.before_manual_step is None
        )
        self.bare_backward = self.run_backward is _defaults.backward and nonfinite is None
        # ... and only the core zeroes gradients: optimizer_zero_grad is ``zero_grad()``
        self.bare_zero_grad = self.zero_grad is _defaults.optimizer_zero_grad
        # ... and only the core runs training_step: the step calls it itself, bound and with
        # its signature read once per epoch (``arm_training_step``). ``run_step(batch,
        # batch_idx)`` is what the step calls; ``training_step`` the bound method it calls
        # directly (None: through the run_training_step hook)
        self.bare_run_step = hooks.run_training_step is _defaults.run_training_step
        self.training_step: Any = None
        self.run_step: Callable[[Any, int], Any] = self._hooked_training_step
        # what Module.optimizers() hands out: the one optimizer, or the list (as Lightning,
        # the same list on every call)
        self.handed_out: Any = self.optimizers[0] if len(self.optimizers) == 1 else self.optimizers
        self.closure = AutomaticClosure(self)
        # Nothing reads a batch's outputs or the closure's loss when only the core steps the
        # optimizer (whose step() calls the closure once, first, and discards what it returns)
        # and nothing implements on_train_batch_end: the closure then leaves out the detached
        # copy of the loss and the outputs dict (``lean``; the loop arms it each epoch).
        classes: list[Any] = [type(o.optimizer) for o in self.optimizers]
        self.lean_possible = self._step_full is _defaults.optimizer_step and all(
            hasattr(c, "step") and _defaults._evaluates_closure_once(c) for c in classes
        )
        self.wants_outputs = True  # the loop sets it each epoch: on_train_batch_end is called
        # opt.step() without a closure, when no hook runs before the step: nothing for its
        # closure to do, so one per optimizer serves every step
        self._bare_closures = [ManualClosure(self, o, None) for o in self.optimizers]
        self.stepped = False  # an optimizer stepped during the current batch
        # Losses backpropagated in this batch and the previous one. A plain loop's `loss`
        # keeps the last step's (freed) graph alive through the next forward pass, so autograd
        # reuses each parameter's gradient accumulator instead of rebuilding it every step.
        # After backward the graph holds no activations, so this costs no memory worth counting.
        self.kept_losses: list[torch.Tensor] = []
        self._previous_losses: list[torch.Tensor] = []
        self.nonfinite = nonfinite
        # nonfinite_loss="skip": batches skipped in this fit(), where the first was, and the
        # current run of skips in a row
        self.skipped, self.first_skipped, self.skipped_in_a_row = 0, "", 0

    def arm_training_step(self) -> None:
        """Bind the Module's ``training_step`` for the epoch's direct calls (see
        ``bare_run_step``): read once per epoch, as the loop reads its signature."""
        if not self.bare_run_step:
            return
        method = self.module.training_step
        function = getattr(method, "__func__", method)
        self.training_step = method
        if _step_signature(function, function is not method)[0]:
            self.run_step = method
        else:
            self.run_step = lambda batch, batch_idx: method(batch)

    def _hooked_training_step(self, batch: Any, batch_idx: int) -> Any:
        return self.hooks.run_training_step(
            trainer=self.trainer, module=self.module, batch=batch, batch_idx=batch_idx
        )[0]

    # -- automatic optimization ---------------------------------------------------------------

    def automatic(self, batch: Any, batch_idx: int) -> Any:
        """One batch of automatic optimization; returns ``training_step``'s outputs."""
        state, n = self.state, self.accumulate
        state.stepping = (batch_idx + 1) % n == 0 or state.is_last_batch
        closure = self.closure  # re-armed for this batch (its optimizer is the run's first)
        optimizer = closure.optimizer
        closure.batch, closure.batch_idx = batch, batch_idx
        closure.zero_grad, closure.outputs, closure.result = batch_idx % n == 0, None, None
        try:
            if optimizer is not None and state.stepping:
                # (optimizer_step's dispatch, inlined: per step)
                self._in_optimizer_step = True
                try:
                    if self.lean_possible:
                        # Only the core implements optimizer_step, for torch optimizers that
                        # call an optional closure once, first: the core's implementation is
                        # the closure, then the optimizer's own step() (see Step.__init__)
                        closure()
                        optimizer.optimizer.step()
                    else:
                        self._step_full(
                            trainer=self.trainer,
                            module=self.module,
                            optimizer=optimizer,
                            optimizer_idx=0,
                            batch_idx=batch_idx,
                            closure=closure,
                        )
                        if closure.outputs is None:  # set by every closure that ran
                            raise _closure_not_executed()
                finally:
                    self._in_optimizer_step = False
                self.stepped = True
            else:  # accumulating (or no optimizer): forward and backward only
                closure()
                # No optimizer (configure_optimizers returned None): as Lightning's mock
                # optimizer, the batch still counts as a step, so max_steps ends the run.
                self.stepped = self.stepped or (optimizer is None and state.stepping)
        except _SkipBatch as skip:
            self.skip_batch(optimizer, str(skip))
        # (end_batch, inlined: per step)
        dropped = self._previous_losses
        self._previous_losses, self.kept_losses = self.kept_losses, dropped
        dropped.clear()
        return closure.outputs

    # -- manual optimization --------------------------------------------------------------------

    def manual(self, batch: Any, batch_idx: int) -> Any:
        """One batch of manual optimization: ``training_step`` steps the optimizers itself
        (``manual_backward`` is :meth:`backward`, ``opt.step()`` :meth:`optimizer_step`)."""
        self.state.stepping = True
        out = self.run_step(batch, batch_idx)
        # (end_batch, inlined: per step)
        dropped = self._previous_losses
        self._previous_losses, self.kept_losses = self.kept_losses, dropped
        dropped.clear()
        if out is not None and not isinstance(out, (torch.Tensor, Mapping)):
            raise ConfigurationError(
                "In manual optimization, `training_step` must either return a Tensor or have no "
                f"return (it returned {type(out).__name__}); a dict with extras is kept too."
            )
        if not self.wants_outputs:
            return None
        if isinstance(out, torch.Tensor):
            return {"loss": out.detach()}
        if out is not None and isinstance(out.get("loss"), torch.Tensor):
            return {**out, "loss": out["loss"].detach()}  # as Lightning: the loss detached
        return out

    # -- non-finite losses (Trainer(nonfinite_loss=...)) ------------------------------------

    def check_finite(self, loss: torch.Tensor) -> None:
        """Raise (``"raise"``) or unwind to :meth:`automatic` (``"skip"``) when ``loss`` is not
        finite. One host sync per call (two with several ranks: every rank decides alike, or
        the ranks that go on would wait for the others in backward's all-reduce)."""
        finite = torch.isfinite(loss.detach()).all()
        trainer = self.trainer
        if trainer.world_size > 1:
            finite = trainer.reduce(finite.to(torch.float32), "min") > 0
        if bool(finite):
            self.skipped_in_a_row = 0
            return
        state = self.state
        where = f"epoch {state.epoch}, global_step {state.global_step}, batch_idx {state.batch_idx}"
        if self.nonfinite == "skip" and self.module.automatic_optimization:
            raise _SkipBatch(where)
        mine = loss.detach()
        bad = mine[~torch.isfinite(mine)].flatten()
        what = (
            f"the loss is {bad[0].item()}" if bad.numel() else "another rank's loss is not finite"
        )
        raise NonFiniteLossError(
            f"`Trainer(nonfinite_loss='raise')`: {what} at {where}; the run stopped before "
            f"backward, so this batch changed no weight. "
            f"Find the operation that makes it with `Trainer(detect_anomaly=True)`; lower the "
            f"learning rate or clip gradients (`gradient_clip_val`); or pass "
            f"`nonfinite_loss='skip'` to skip such batches and go on."
        )

    def skip_batch(self, optimizer: Any, where: str) -> None:
        """``nonfinite_loss="skip"``: this batch ran no backward. When it was the batch that
        steps, the optimizer does not step (``global_step`` does not advance) and the
        gradients the accumulation window gathered so far are dropped."""
        self.skipped += 1
        self.first_skipped = self.first_skipped or where
        self.skipped_in_a_row += 1
        # Every batch skipped for an epoch's worth of batches: no step can ever come (max_steps
        # would never be reached), so stop instead of looping.
        limit = min(self.trainer.num_training_batches, _MAX_SKIPPED_IN_A_ROW)
        if self.skipped_in_a_row >= limit:
            n = self.skipped_in_a_row
            raise NonFiniteLossError(
                f"`Trainer(nonfinite_loss='skip')`: the last {n} batches in a row (up to {where}) "
                f"all had a non-finite loss, so skipping cannot make progress and the run "
                f"stopped; the weights are those of the last finite step. Find the operation "
                f"that makes it with `Trainer(detect_anomaly=True)`, and check the data and the "
                f"learning rate."
            ) from None  # raised while handling _SkipBatch, which says nothing more
        if optimizer is not None and self.state.stepping:
            self.hooks.optimizer_zero_grad(
                trainer=self.trainer,
                module=self.module,
                optimizer=optimizer,
                optimizer_idx=0,
                batch_idx=self.state.batch_idx,
            )

    def report_skipped(self) -> None:
        """Warn once per ``fit()`` with the count of batches ``nonfinite_loss="skip"`` skipped."""
        if not self.skipped:
            return
        n, first = self.skipped, self.first_skipped
        warnings.warn(
            f"`Trainer(nonfinite_loss='skip')` skipped {n} batch{'es' if n > 1 else ''} whose "
            f"loss was not finite (the first at {first}): no backward and no optimizer step "
            f"for {'them' if n > 1 else 'it'}. Find the cause with `Trainer(detect_anomaly=True)`.",
            stacklevel=3,
        )
        self.skipped, self.first_skipped, self.skipped_in_a_row = 0, "", 0

    # -- the pieces both modes share ----------------------------------------------------------

    def backward(self, loss: torch.Tensor, optimizer: Any) -> None:
        """``on_before_backward``, ``scale_loss``, ``backward``, ``on_after_backward``."""
        if self.nonfinite is not None:
            self.check_finite(loss)
        self.kept_losses.append(loss)
        self.run_backward(self.trainer, self.module, loss, optimizer)

    def optimizer_step(self, optimizer: WrappedOptimizer, closure: Callable | None = None) -> Any:
        """``opt.step(closure)`` from user code: the manual step, or the ``super()`` chain."""
        run: AutomaticClosure | ManualClosure
        if closure is None and self.before_manual_step is None:
            run = self._bare_closures[optimizer.optimizer_idx]  # nothing to run: reused
        elif isinstance(closure, (AutomaticClosure, ManualClosure)):
            run = closure
        else:
            run = ManualClosure(self, optimizer, closure)
        caller = self._step_engine if self._in_optimizer_step else self._step_manual
        previous, self._in_optimizer_step = self._in_optimizer_step, True
        try:
            result = caller(
                trainer=self.trainer,
                module=self.module,
                optimizer=optimizer,
                optimizer_idx=optimizer.optimizer_idx,
                batch_idx=self.state.batch_idx,
                closure=run,
            )
        finally:
            self._in_optimizer_step = previous
        self.stepped = True
        # What the optimizer's own step returned (LBFGS: the first closure's loss); an
        # implementation that only says "done" (True) leaves the closure's last result.
        return run.result if result is True or result is None else result

    def scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Dispatch ``scheduler_step`` (the loop's interval stepping and a user's ``sch.step()``)."""
        self._in_scheduler_step = True
        try:
            self.hooks.scheduler_step(
                trainer=self.trainer, module=self.module, scheduler=scheduler, metric=metric
            )
        finally:
            self._in_scheduler_step = False

    @property
    def in_scheduler_step(self) -> bool:
        """A ``scheduler_step`` implementation is running: ``sch.step()`` steps it for real."""
        return self._in_scheduler_step

    def end_batch(self) -> None:
        """Rotate the kept losses: this batch's live until the next batch has run (called at
        the end of each batch's step, automatic or manual)."""
        dropped = self._previous_losses
        self._previous_losses, self.kept_losses = self.kept_losses, dropped
        dropped.clear()

    def release(self) -> None:
        self.kept_losses.clear()
        self._previous_losses.clear()


def _closure_not_executed() -> ConfigurationError:
    """An ``optimizer_step`` implementation (or an optimizer's ``step``) that never ran the
    closure: training_step, backward and the loss never happened."""
    return ConfigurationError(
        "The closure hasn't been executed. HINT: did you call `optimizer_closure()` in your "
        "`optimizer_step` hook? It could also happen because the `optimizer.step(optimizer_closure)` "
        "call did not execute it internally."
    )


class AutomaticClosure:
    """Automatic optimization's closure; one per run, re-armed for every batch."""

    __slots__ = (
        "step",
        "trainer",
        "module",
        "hooks",
        "batch",
        "batch_idx",
        "optimizer",
        "zero_grad",
        "outputs",
        "result",
        "lean",
    )

    def __init__(self, step: Step) -> None:
        self.step = step
        self.trainer, self.module, self.hooks = step.trainer, step.module, step.hooks
        self.batch: Any = None
        self.batch_idx = 0
        # automatic optimization has one optimizer (several are refused before the run)
        self.optimizer: Any = step.optimizers[0] if step.optimizers else None
        self.zero_grad = False
        self.outputs: Any = None
        self.result: torch.Tensor | None = None
        self.lean = False  # nothing reads outputs or result (see Step.lean_possible)

    def __call__(self) -> torch.Tensor | None:
        """The automatic step's body (see the module docstring for the order); :meth:`Step.automatic`
        re-arms the closure for each batch."""
        closure, step = self, self.step
        trainer, module, optimizer = self.trainer, self.module, self.optimizer
        if closure.zero_grad and optimizer is not None:
            if step.bare_zero_grad:  # only the core's (see Step.__init__)
                optimizer.optimizer.zero_grad()
            else:
                step.zero_grad(trainer, module, optimizer, 0, closure.batch_idx)
        out = step.run_step(closure.batch, closure.batch_idx)
        loss = out if out.__class__ is torch.Tensor else loss_of(out)
        if loss is None:  # training_step returned None: skip backward and the step
            closure.outputs = {} if out is None else out  # as Lightning: {} for None
            if not _WARNED["none_loss"]:  # as Lightning: once per process
                _WARNED["none_loss"] = True
                warnings.warn(
                    "`training_step` returned `None`. If this was on purpose, ignore this "
                    "warning...",
                    UserWarning,
                    stacklevel=2,
                )
            return None
        n = step.accumulate
        if n > 1:
            loss = loss / n
        # As Lightning: the outputs hold the loss as backpropagated (divided by
        # accumulate_grad_batches), detached, first; a dict's other entries after it.
        if closure.lean:
            detached = None
        else:
            detached = loss.detach()
            if out is loss or isinstance(out, torch.Tensor):
                closure.outputs = {"loss": detached}
            else:
                closure.outputs = {
                    "loss": detached,
                    **{k: v for k, v in out.items() if k != "loss"},
                }
        # (Step.backward, inlined: per step)
        if step.bare_backward:  # only the core's backward (see Step.__init__)
            step.kept_losses.append(loss)
            loss.backward()
        else:
            if step.nonfinite is not None:
                step.check_finite(loss)
            step.kept_losses.append(loss)
            step.run_backward(trainer, module, loss, optimizer)
        before_step = step.before_step
        if before_step is not None and optimizer is not None and step.state.stepping:
            before_step(trainer, module, optimizer, step.clip_val, step.clip_algorithm)
        closure.result = detached
        return detached


class ManualClosure:
    """``opt.step(closure)`` in manual optimization: the user's closure (or none), then
    ``on_before_optimizer_step``."""

    __slots__ = ("step", "optimizer", "user_closure", "result")

    def __init__(self, step: Step, optimizer: Any, user_closure: Callable | None) -> None:
        self.step, self.optimizer, self.user_closure = step, optimizer, user_closure
        self.result = None

    def __call__(self) -> Any:
        if self.user_closure is not None:
            self.result = self.user_closure()
        step = self.step
        if step.before_manual_step is not None:
            step.before_manual_step(step.trainer, step.module, self.optimizer)
        return self.result


def loss_of(out: Any) -> torch.Tensor | None:
    """The loss in ``training_step``'s return value (a tensor, a mapping with ``'loss'``, None);
    anything else is refused in Lightning's words, then treadle's."""
    if out is None or isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        loss = out.get("loss")
        if loss is None:
            raise ConfigurationError(
                "In automatic_optimization, when `training_step` returns a dict, the 'loss' key "
                "needs to be present: `training_step` returned a dict without a 'loss' key; "
                "automatic optimization needs {'loss': tensor, ...}. Return None to skip the "
                "batch."
            )
        if isinstance(loss, torch.Tensor):
            return loss
        raise ValueError(
            f"`training_step` returned {{'loss': {loss!r}}}: the loss must be a tensor "
            f"(autograd backpropagates through it), not a {type(loss).__name__}. Return the "
            f"tensor you computed, without `.item()` or `float()`."
        )
    raise ConfigurationError(
        "In automatic optimization, `training_step` must return a Tensor, a dict, or None "
        f"(where the step will be skipped): `training_step` returned {type(out).__name__}; "
        f"automatic optimization needs a loss tensor, a dict with 'loss', or None."
    )
