"""The core's fallback implementations, registered as plugin ``treadle.core``.

Every loop hook is ``trylast`` here, so any plugin or ``Module`` override replaces it. This is
the plain PyTorch step: ``loss.backward()``, ``optimizer.step(closure)``, ``zero_grad()``.

The per-step ones take ``**_`` (the spec's other arguments): where a default is a hook's only
implementation, ``treadle._callers.fast_caller`` hands the loop the function itself, which the
loop calls with every argument by keyword, instead of a caller that calls it.
"""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any

import torch

from treadle import checkpoint_io
from treadle.hookspecs import hookimpl
from treadle.optim import original_step
from treadle.utilities import _step_signature, call_step, move_data_to_device, requires_closure

# the words of the problem of a scheduler without ``state_dict``/``load_state_dict``: the
# Trainer raises a ``ConfigurationTypeError`` for it, as Lightning raises a ``TypeError``
INVALID_SCHEDULER = "is invalid. It should have `state_dict` and `load_state_dict` methods defined"


def _parameters(function) -> tuple[str, ...]:
    """``function``'s parameter names; () when it has no signature to read."""
    import inspect

    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def asks_several_optimizers(module, optimizers) -> bool:
    """Automatic optimization with several optimizers, or a ``training_step`` taking
    ``optimizer_idx``: the problems :class:`treadle.errors.MultipleOptimizersError` reports."""
    automatic_several = module.automatic_optimization and len(optimizers) > 1
    return automatic_several or "optimizer_idx" in _parameters(module.training_step)


def _raw(optimizer):
    return getattr(optimizer, "optimizer", optimizer)


@hookimpl(trylast=True)
def validate(trainer, module):
    cfg = trainer.config
    problems = []
    if not module.automatic_optimization:
        if cfg.gradient_clip_val:
            problems.append(
                f"Automatic gradient clipping is not supported for manual optimization: "
                f"`Trainer(gradient_clip_val={cfg.gradient_clip_val!r})` has no effect with "
                f"manual optimization (`automatic_optimization = False`). Clip in "
                f"training_step with `self.clip_gradients(opt, gradient_clip_val="
                f"{cfg.gradient_clip_val!r}, gradient_clip_algorithm='norm')` and remove the "
                f"Trainer argument."
            )
        if cfg.nonfinite_loss == "skip":
            problems.append(
                "`Trainer(nonfinite_loss='skip')` cannot skip steps in manual optimization "
                "(`automatic_optimization = False`): `training_step` steps the optimizers "
                "itself. Check `torch.isfinite(loss)` there and skip `manual_backward` and "
                "`opt.step()` yourself, or use `nonfinite_loss='raise'` (checked in "
                "`manual_backward`)."
            )
        if cfg.accumulate_grad_batches > 1:
            problems.append(
                f"Automatic gradient accumulation is not supported for manual optimization: "
                f"`Trainer(accumulate_grad_batches={cfg.accumulate_grad_batches})` has no effect "
                f"with manual optimization (`automatic_optimization = False`). Accumulate in "
                f"training_step (step every N batches, as in the guide) and remove the Trainer "
                f"argument."
            )
    elif len(trainer.optimizers) > 1:
        problems.append(
            f"`configure_optimizers()` returned {len(trainer.optimizers)} optimizers, but "
            f"training with multiple optimizers is only supported with manual optimization. "
            f"Set `self.automatic_optimization = False` in `__init__` and step each optimizer "
            f"in `training_step` (see the GAN example), or return a single optimizer."
        )
    if trainer.state.fn == "fit" and "optimizer_idx" in _parameters(module.training_step):
        problems.append(
            "`training_step` takes `optimizer_idx` (Lightning 1's form): training with "
            "multiple optimizers is only supported with manual optimization. Remove the "
            "`optimizer_idx` argument from `training_step`, set `self.automatic_optimization "
            "= False` and access your optimizers in `training_step` with `opt1, opt2, ... = "
            "self.optimizers()`."
        )
    from treadle.module import Module

    for sch in trainer.lr_scheduler_configs:  # as Lightning's _validate_scheduler_api
        name = type(sch.scheduler).__name__
        if not (
            callable(getattr(sch.scheduler, "state_dict", None))
            and callable(getattr(sch.scheduler, "load_state_dict", None))
        ):
            problems.append(  # (a TypeError too, as Lightning's: INVALID_SCHEDULER)
                f"The provided lr scheduler `{name}` {INVALID_SCHEDULER}: checkpoints need "
                f"both. Add them to "
                f"`{name}`, or use a `torch.optim.lr_scheduler` scheduler."
            )
        if (
            module.automatic_optimization
            and not callable(getattr(sch.scheduler, "step", None))
            and not _steps_schedulers_itself(module)
        ):
            problems.append(
                f"`configure_optimizers()` returned the scheduler `{name}`, which has no "
                f"`step()` method, so automatic optimization cannot step it. Override "
                f"`lr_scheduler_step(self, scheduler, metric)` in the Module to step it your "
                f"way, or use a `torch.optim.lr_scheduler` scheduler."
            )
        elif (
            module.automatic_optimization
            and not _steps_schedulers_itself(module)
            and (needed := _required_step_arguments(sch.scheduler))
        ):
            # as Lightning's _validate_scheduler_api: a scheduler outside torch's API (timm's
            # step(epoch)) needs the override; refused here, not at its first step
            problems.append(
                f"The provided lr scheduler `{name}` doesn't follow PyTorch's LRScheduler API: "
                f"its `step()` needs {', '.join(f'`{a}`' for a in needed)}, so automatic "
                f"optimization cannot "
                f"step it as torch's schedulers (`scheduler.step()`). Override "
                f"`lr_scheduler_step(self, scheduler, metric)` in the Module to step it your "
                f"way (e.g. `scheduler.step(epoch=self.current_epoch)`), or use a "
                f"`torch.optim.lr_scheduler` scheduler."
            )
    if module.automatic_optimization:
        for sch in trainer.lr_scheduler_configs:
            if sch.reduce_on_plateau and sch.monitor is None:
                problems.append(
                    "`configure_optimizers` must include a monitor when a `ReduceLROnPlateau` "
                    "scheduler is used: return {'optimizer': opt, 'lr_scheduler': {'scheduler': "
                    "sch, 'monitor': 'val_loss'}}."
                )
    own_clipping = (
        type(module).configure_gradient_clipping is not Module.configure_gradient_clipping
    )
    if (
        cfg.gradient_clip_algorithm is not None
        and cfg.gradient_clip_val is None
        and not own_clipping
    ):
        # (a Module's configure_gradient_clipping gets the algorithm: it may clip its own way)
        problems.append(
            f"`Trainer(gradient_clip_algorithm={cfg.gradient_clip_algorithm!r})` without "
            f"`gradient_clip_val` clips nothing; set `gradient_clip_val` too."
        )
    return problems


# The per-step defaults take exactly the arguments they are called with, so no call builds a
# ``**kwargs`` dict: the spec's arguments where the loop calls the hook by keyword (the function
# is then its own caller, see ``treadle._callers.fast_caller``), the ones they use where a
# compiled sequence calls them positionally.

# ``move_data_to_device``'s own code under the hook's name, not a function calling it: one call
# less per batch. (Marking ``move_data_to_device`` itself would make it a hook implementation
# in every plugin module that imports it.)
transfer_batch_to_device = hookimpl(trylast=True)(
    types.FunctionType(
        move_data_to_device.__code__, move_data_to_device.__globals__, "transfer_batch_to_device"
    )
)


def _required_step_arguments(scheduler) -> list[str]:
    """The arguments ``scheduler.step`` cannot do without, for a scheduler outside torch's
    classes (torch's own, ReduceLROnPlateau's ``step(metrics)`` included, are stepped their way)."""
    torch_types = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    step = getattr(type(scheduler), "step", None)  # the class's: the instance's is routed
    if isinstance(scheduler, torch_types) or not callable(step):
        return []
    try:
        params = list(inspect.signature(step).parameters.values())[1:]  # without self
    except (TypeError, ValueError):  # a builtin without a signature: let its first step tell
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in positional and p.default is p.empty]


@hookimpl(trylast=True)
def run_training_step(trainer, module, batch, batch_idx):  # the spec's arguments: see below
    method = module.training_step  # (call_step, inlined: per step)
    function = getattr(method, "__func__", method)
    if _step_signature(function, function is not method)[0]:
        return (method(batch, batch_idx),)
    return (method(batch),)


@hookimpl(trylast=True)
def run_validation_step(module, batch, batch_idx, dataloader_idx):
    return (call_step(module.validation_step, batch, batch_idx, dataloader_idx),)


@hookimpl(trylast=True)
def scale_loss(loss, **_):
    return loss


@hookimpl(trylast=True)
def backward(trainer, module, loss, optimizer):  # the spec's (and BACKWARD's) arguments
    args, kwargs = trainer.backward_args, trainer.backward_kwargs  # manual_backward's extras
    if args or kwargs:
        loss.backward(*args, **kwargs)
    else:
        loss.backward()
    return True


@hookimpl(trylast=True)
def optimizer_step(trainer, module, optimizer, optimizer_idx, batch_idx, closure):
    raw = getattr(optimizer, "optimizer", optimizer)  # (_raw, inlined: per step)
    # (_evaluates_closure_once first: the usual case, and no failed attribute lookup per step)
    if _evaluates_closure_once(type(raw)) or getattr(closure, "user_closure", True) is None:
        # Same as step(closure) for these optimizers (they call the closure once, first), and
        # what a plain loop does: forward/backward, then step() (saves an enable_grad region).
        result = closure()
        stepped = raw.step()  # (None for torch's; a subclass's or a patched step's: returned)
        if stepped is not None:
            return stepped
        return True if result is None else result
    result = raw.step(closure=closure)
    return True if result is None else result


def _steps_schedulers_itself(module: Any) -> bool:
    """The Module overrides ``lr_scheduler_step``, in its class or on the instance (as
    Lightning, which calls an instance's hook too)."""
    from treadle.module import Module

    return (
        "lr_scheduler_step" in vars(module)
        or type(module).lr_scheduler_step is not Module.lr_scheduler_step
    )


@functools.cache
def _evaluates_closure_once(cls) -> bool:
    """torch's own optimizers with an optional closure call it once at the start of step()."""
    return getattr(cls.step, "__module__", "").startswith("torch.optim.") and not requires_closure(
        cls
    )


@hookimpl(trylast=True)
def optimizer_zero_grad(trainer, module, optimizer, optimizer_idx, batch_idx):  # as ZERO_GRAD's
    getattr(optimizer, "optimizer", optimizer).zero_grad()  # (_raw, inlined: per step)
    return True


@hookimpl(trylast=True)
def configure_gradient_clipping(module, optimizer, gradient_clip_val, gradient_clip_algorithm, **_):
    if gradient_clip_val:
        module.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
    return True


@hookimpl(trylast=True)
def clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm):
    if not gradient_clip_val:
        return True
    params = [p for g in _raw(optimizer).param_groups for p in g["params"] if p.grad is not None]
    if gradient_clip_algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
    else:
        torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
    return True


@hookimpl(trylast=True)
def scheduler_step(scheduler, metric):
    original_step(scheduler, metric)
    return True


@hookimpl(trylast=True)
def reduce(tensor):
    return tensor


@hookimpl(trylast=True)
def all_gather(tensor):
    return tensor.unsqueeze(0)


@hookimpl(trylast=True)
def broadcast(obj):
    return (obj,)


@hookimpl(trylast=True)
def barrier():
    return True


@hookimpl(trylast=True)
def save_checkpoint(trainer, checkpoint, filepath):
    if trainer.is_global_zero:
        checkpoint_io.save_atomic(checkpoint, filepath)
    return True


@hookimpl(trylast=True)
def load_checkpoint(filepath):
    return checkpoint_io.load(filepath)


@hookimpl(trylast=True)
def remove_checkpoint(filepath):
    checkpoint_io.remove(filepath)
    return True


@hookimpl(trylast=True)
def run_test_step(module, batch, batch_idx, dataloader_idx):
    return (call_step(module.test_step, batch, batch_idx, dataloader_idx),)


@hookimpl(trylast=True)
def run_predict_step(module, batch, batch_idx, dataloader_idx):
    return (call_step(module.predict_step, batch, batch_idx, dataloader_idx),)
