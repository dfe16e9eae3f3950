"""The core's fallback implementations, registered as plugin ``treadle.core``.

Every loop hook is ``trylast`` here, so any plugin or ``Module`` override replaces it. This is
the plain PyTorch step: ``loss.backward()``, ``optimizer.step(closure)``, ``zero_grad()``.
"""
from __future__ import annotations

import functools

import torch

from treadle import checkpoint_io
from treadle.hookspecs import hookimpl
from treadle.optim import original_step
from treadle.utilities import move_data_to_device, requires_closure


def _raw(optimizer):
    return getattr(optimizer, "optimizer", optimizer)


@hookimpl(trylast=True)
def validate(trainer, module):
    cfg = trainer.config
    problems = []
    if not module.automatic_optimization:
        if cfg.gradient_clip_val:
            problems.append(
                f"`Trainer(gradient_clip_val={cfg.gradient_clip_val!r})` has no effect with "
                f"manual optimization (`automatic_optimization = False`). Clip in "
                f"training_step with `self.clip_gradients(opt, gradient_clip_val="
                f"{cfg.gradient_clip_val!r}, gradient_clip_algorithm='norm')` and remove the "
                f"Trainer argument.")
        if cfg.accumulate_grad_batches > 1:
            problems.append(
                f"`Trainer(accumulate_grad_batches={cfg.accumulate_grad_batches})` has no effect "
                f"with manual optimization (`automatic_optimization = False`). Accumulate in "
                f"training_step (step every N batches, as in the guide) and remove the Trainer "
                f"argument.")
    elif len(trainer.optimizers) > 1:
        problems.append(
            f"`configure_optimizers()` returned {len(trainer.optimizers)} optimizers, but "
            f"automatic optimization steps only one. Set `self.automatic_optimization = False` "
            f"in `__init__` and step each optimizer in `training_step` (see the GAN example), "
            f"or return a single optimizer.")
    if module.automatic_optimization:
        for sch in trainer.lr_scheduler_configs:
            if sch.reduce_on_plateau and sch.monitor is None:
                problems.append(
                    "`configure_optimizers()` returned a ReduceLROnPlateau without a metric to "
                    "monitor; return {'optimizer': opt, 'lr_scheduler': {'scheduler': sch, "
                    "'monitor': 'val_loss'}}.")
    if cfg.gradient_clip_algorithm is not None and cfg.gradient_clip_val is None:
        problems.append(
            f"`Trainer(gradient_clip_algorithm={cfg.gradient_clip_algorithm!r})` without "
            f"`gradient_clip_val` clips nothing; set `gradient_clip_val` too.")
    return problems


@hookimpl(trylast=True)
def transfer_batch_to_device(batch, device):
    return move_data_to_device(batch, device)


@hookimpl(trylast=True)
def run_training_step(trainer, module, batch, batch_idx):
    if trainer._step_takes_batch_idx:
        return (module.training_step(batch, batch_idx),)
    return (module.training_step(batch),)


@hookimpl(trylast=True)
def run_validation_step(trainer, module, batch, batch_idx):
    if trainer._val_step_takes_batch_idx:
        return (module.validation_step(batch, batch_idx),)
    return (module.validation_step(batch),)


@hookimpl(trylast=True)
def scale_loss(loss):
    return loss


@hookimpl(trylast=True)
def backward(trainer, loss):
    loss.backward(*trainer.backward_args, **trainer.backward_kwargs)
    return True


@hookimpl(trylast=True)
def optimizer_step(optimizer, closure):
    raw = _raw(optimizer)
    if getattr(closure, "user_closure", True) is None or _evaluates_closure_once(type(raw)):
        # Same as step(closure) for these optimizers (they call the closure once, first), and
        # what a plain loop does: forward/backward, then step() (saves an enable_grad region).
        result = closure()
        raw.step()
        return True if result is None else result
    result = raw.step(closure=closure)
    return True if result is None else result


@functools.lru_cache(maxsize=None)
def _evaluates_closure_once(cls) -> bool:
    """torch's own optimizers with an optional closure call it once at the start of step()."""
    return getattr(cls.step, "__module__", "").startswith("torch.optim.") \
        and not requires_closure(cls)


@hookimpl(trylast=True)
def optimizer_zero_grad(optimizer):
    _raw(optimizer).zero_grad()
    return True


@hookimpl(trylast=True)
def configure_gradient_clipping(module, optimizer, gradient_clip_val, gradient_clip_algorithm):
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


# -- the test and predict steps -----------------------------------------------------------------
#
# Lightning's rule for calling a user's step (its evaluation and prediction loops):
# ``batch_idx`` is passed when the step takes it (a parameter named ``batch_idx``, ``*args``, or
# two positional parameters); ``dataloader_idx`` only when the loop runs several loaders (the
# hooks then get ``dataloader_idx=None`` for a single loader); a step that cannot take what it
# will get is a configuration problem, reported before the first batch by
# :func:`dataloader_idx_problems`.


@functools.cache
def _step_signature(function, bound: bool) -> tuple:
    """``(takes batch_idx, accepts dataloader_idx, requires dataloader_idx)`` of a step.

    Keyed by the step's function, so computed once per ``Module`` class and step (and once for
    a function assigned to an instance).
    """
    import inspect  # here: this section is appended to a module whose imports are in flux

    params = list(inspect.signature(function).parameters.values())[1 if bound else 0:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    named = {p.name: p for p in positional}
    takes_batch_idx = "batch_idx" in named or varargs or len(positional) >= 2
    accepts_dataloader_idx = "dataloader_idx" in named or varargs
    requires_dataloader_idx = "dataloader_idx" in named \
        and named["dataloader_idx"].default is inspect.Parameter.empty
    return takes_batch_idx, accepts_dataloader_idx, requires_dataloader_idx


def _signature_of(module, step_name: str) -> tuple:
    step = getattr(module, step_name)
    function = getattr(step, "__func__", step)
    return _step_signature(function, function is not step)


def step_arguments(module, step_name: str, batch, batch_idx: int,
                   dataloader_idx: int | None) -> tuple:
    """The positional arguments of ``module.<step_name>`` for this batch, by Lightning's rule.

    For the core's defaults and for plugins that call a step themselves (a strategy's engine):
    ``self.engine(module.test_step, *step_arguments(module, "test_step", ...))``.
    """
    args = (batch, batch_idx) if _signature_of(module, step_name)[0] else (batch,)
    return args if dataloader_idx is None else (*args, dataloader_idx)


def dataloader_idx_problems(module, step_name: str, num_dataloaders: int) -> list[str]:
    """Lightning's check that ``module.<step_name>`` can take what its loop will pass.

    For the loop to report (in one ``ConfigurationError``) before its first batch.

    :param step_name: ``"validation_step"``, ``"test_step"`` or ``"predict_step"``.
    :param num_dataloaders: how many loaders the loop runs.
    """
    _, accepts, requires = _signature_of(module, step_name)
    where = f"`{type(module).__name__}.{step_name}()`"
    if num_dataloaders > 1 and not accepts:
        problem = (f"{where} takes no `dataloader_idx`, but its loop got {num_dataloaders} "
                   f"loaders. Add the parameter (`def {step_name}(self, batch, batch_idx, "
                   f"dataloader_idx=0)`), or pass a single loader.")
        return [problem]
    if num_dataloaders <= 1 and requires:
        problem = (f"{where} requires `dataloader_idx`, but its loop got a single loader, so "
                   f"the step is called without it (as Lightning does). Give it a default "
                   f"value: `dataloader_idx=0`.")
        return [problem]
    return []


@hookimpl(trylast=True)
def run_test_step(module, batch, batch_idx, dataloader_idx):
    return (module.test_step(*step_arguments(module, "test_step", batch, batch_idx,
                                             dataloader_idx)),)


@hookimpl(trylast=True)
def run_predict_step(module, batch, batch_idx, dataloader_idx):
    return (module.predict_step(*step_arguments(module, "predict_step", batch, batch_idx,
                                                dataloader_idx)),)
