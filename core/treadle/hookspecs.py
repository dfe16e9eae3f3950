"""Every hook of a treadle run, grouped by phase.

Hooks are called with keyword arguments; an implementation declares only the arguments it
needs (pluggy's rule: an argument with a default value is never passed). The argument names
are fixed: ``trainer``, ``module``, ``batch``, ``batch_idx``, ``outputs``, ``loss``,
``optimizer``, ``optimizer_idx``, ``closure``, ``scheduler``, ``metric``, ``checkpoint``,
``gradient_clip_val``, ``gradient_clip_algorithm``, ``exception``, plus ``stage``,
``device``, ``dataloader``, ``dataloader_idx``, ``tensor``, ``reduce_op``, ``obj``, ``src``,
``name``, ``filepath`` and ``weights_only`` where a hook says so.

Order of implementations (documented in ``docs/hooks.md`` and pinned by a test): callbacks and
plugins in registration order, then the user's ``Module``, then the selected strategy,
precision and accelerator, then the core's defaults (``trylast``). For the ``firstresult``
loop hooks the first non-None result wins, so a ``Module`` override beats the strategy.

Every hook's facts besides its signature (phase, called per step, the ``Module`` method that
implements it, whether an override performs the step, ...) are in :data:`HOOKS`, the table at
the end of this module; the other lists of hooks derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:  # annotations only: importing these here would be a cycle (or heavy)
    from pathlib import Path

    import torch
    from torch.optim.lr_scheduler import LRScheduler

    from treadle.callback import Callback
    from treadle.module import Module
    from treadle.optim import WrappedOptimizer
    from treadle.providers import Provider
    from treadle.trainer import Trainer

hookspec = pluggy.HookspecMarker("treadle")
hookimpl = pluggy.HookimplMarker("treadle")


# --------------------------------------------------------------------------------------------
# Providers: plugins offer named records; the Trainer selects one of each kind by name.
# --------------------------------------------------------------------------------------------


@hookspec
def provide_accelerators() -> list[Provider] | None:
    """Offer accelerators, selectable with ``Trainer(accelerator=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"accelerator"``. Their
        factories are called only for the selected name.
    """


@hookspec
def provide_precisions() -> list[Provider] | None:
    """Offer precisions, selectable with ``Trainer(precision=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"precision"``.
    """


@hookspec
def provide_strategies() -> list[Provider] | None:
    """Offer strategies, selectable with ``Trainer(strategy=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"strategy"``.
    """


@hookspec
def provide_environments() -> list[Provider] | None:
    """Offer cluster environments (torchrun, SLURM, ...), detected rather than named.

    Called once per ``Trainer``; the available record with the highest ``priority`` is used,
    as ``"auto"`` picks (a record with ``priority=None`` is never detected).

    :return: a list of :class:`treadle.Provider` records of kind ``"environment"``.
    """


@hookspec
def provide_loggers() -> list[Provider] | None:
    """Offer experiment loggers; ``Trainer(logger=True)`` uses the available one with the
    highest ``priority`` (TensorBoard's 1 where it is installed, else CSV's 0), as Lightning.

    :return: a list of :class:`treadle.Provider` records of kind ``"logger"``.
    """


# --------------------------------------------------------------------------------------------
# Validation: before any training_step runs.
# --------------------------------------------------------------------------------------------


@hookspec
def validate(trainer: Trainer, module: Module) -> list[str] | None:
    """Report every problem that would make this run fail, before anything is trained or moved.

    Called by ``fit()`` and ``validate()`` after ``configure_optimizers()``; ``trainer.optimizers``
    and ``trainer.lr_scheduler_configs`` are set. Every implementation runs; each problem
    is prefixed with the name of the plugin that reported it, and all of them are raised
    together in one :class:`treadle.ConfigurationError`.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's :class:`treadle.Module`.
    :return: a list of problem strings (each quoting the input and saying the fix), or None.
    """


# --------------------------------------------------------------------------------------------
# Set-up and tear-down.
# --------------------------------------------------------------------------------------------


@hookspec
def setup_environment(trainer: Trainer) -> None:
    """Prepare processes and devices: launch or join ranks, init process groups, set the device.

    Called once at the start of ``fit()``, ``validate()``, ``test()`` and ``predict()``, after
    validation, before the module is moved.

    :param trainer: the :class:`treadle.Trainer`.
    """


@hookspec
def convert_module(trainer: Trainer, module: Module) -> None:
    """Convert the module's parameters (dtype) for the selected precision.

    Called once after the module was moved to ``trainer.root_device``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def setup_module(trainer: Trainer, module: Module) -> None:
    """Wrap the module and optimizers for the strategy (DDP, DeepSpeed engine, ...).

    Called once after ``convert_module``; ``trainer.optimizers`` are the user's optimizers.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec(firstresult=True)
def setup_dataloader(trainer: Trainer, dataloader: Any, stage: str) -> Any | None:
    """Replace a data loader for the strategy (a ``DistributedSampler``, say).

    Called once per loader and stage when the loop starts.

    :param trainer: the :class:`treadle.Trainer`.
    :param dataloader: the loader as given by the user.
    :param stage: ``"fit"`` for training loaders, ``"validate"`` for validation loaders,
        ``"test"`` and ``"predict"`` for those of ``test()`` and ``predict()``.
    :return: the loader to use, or None to keep it. Stops at the first non-None result.
    """


@hookspec
def configure_callbacks(trainer: Trainer) -> list[Callback] | None:
    """Add default callbacks (checkpointing, progress bar, ...) to a new ``Trainer``.

    Called once per ``Trainer`` after its plugins and ``callbacks=[...]`` are registered.

    :param trainer: the :class:`treadle.Trainer` (its ``config`` and ``callbacks`` are set).
    :return: a list of callbacks to register, or None.
    """


@hookspec
def setup(trainer: Trainer, module: Module, stage: str) -> None:
    """Lightning's ``setup``: called at the beginning of fit, validate, test and predict.

    Called on every process.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param stage: ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
    """


@hookspec
def teardown(trainer: Trainer, module: Module, stage: str) -> None:
    """Lightning's ``teardown``: called at the end of fit, validate, test and predict.

    After an error, as Lightning: only the plugins' implementations (strategy, precision,
    accelerator, ``@hookimpl`` plugins) run; a ``Callback``'s, the ``Module``'s and the
    ``DataModule``'s ``teardown`` are not called (``on_exception`` is).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param stage: ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
    """


# --------------------------------------------------------------------------------------------
# Fit and validation: epochs and batches (Lightning's names).
# --------------------------------------------------------------------------------------------


@hookspec
def on_fit_start(trainer: Trainer, module: Module) -> None:
    """Called at the very beginning of ``fit()``, after set-up.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_fit_end(trainer: Trainer, module: Module) -> None:
    """Called at the very end of ``fit()``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_sanity_check_start(trainer: Trainer, module: Module) -> None:
    """Called before the sanity validation batches (``num_sanity_val_steps``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_sanity_check_end(trainer: Trainer, module: Module) -> None:
    """Called after the sanity validation batches.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_start(trainer: Trainer, module: Module) -> None:
    """Called when training starts, after the sanity check.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_end(trainer: Trainer, module: Module) -> None:
    """Called when training ends.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_epoch_start(trainer: Trainer, module: Module) -> None:
    """Called at the start of each training epoch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_epoch_end(trainer: Trainer, module: Module) -> None:
    """Called at the end of each training epoch, after its end-of-epoch validation.

    Metrics logged with ``on_epoch=True`` are already in ``trainer.callback_metrics``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_batch_start(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int
) -> int | None:
    """Called before ``training_step``; the batch is already on the device.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch.
    :param batch_idx: its index in the epoch.
    :return: ``-1`` to skip the rest of the epoch (as in Lightning), else None.
    """


@hookspec
def on_train_batch_end(
    trainer: Trainer, module: Module, outputs: Any, batch: Any, batch_idx: int
) -> None:
    """Called after a training batch, its optimizer steps included.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: in automatic optimization, as Lightning: ``{"loss": ...}`` holding the
        loss as backpropagated (divided by ``accumulate_grad_batches``) and detached, then the
        other entries of a returned dict; None when ``training_step`` returned None. In manual
        optimization, what ``training_step`` returned (a tensor as ``{"loss": ...}``, detached).
    :param batch: the batch.
    :param batch_idx: its index in the epoch.
    """


@hookspec
def on_validation_start(trainer: Trainer, module: Module) -> None:
    """Called when a validation loop starts (sanity check included).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_end(trainer: Trainer, module: Module) -> None:
    """Called when a validation loop ends.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_epoch_start(trainer: Trainer, module: Module) -> None:
    """Called at the start of a validation epoch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_epoch_end(trainer: Trainer, module: Module) -> None:
    """Called at the end of a validation epoch; its epoch metrics are in ``callback_metrics``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_batch_start(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called before ``validation_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the validation epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


@hookspec
def on_validation_batch_end(
    trainer: Trainer, module: Module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called after ``validation_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: what ``validation_step`` returned.
    :param batch: the batch.
    :param batch_idx: its index in its loader's part of the validation epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


@hookspec(firstresult=True)
def on_validation_model_eval(trainer: Trainer, module: Module) -> Any | None:
    """Put the module in evaluation mode when a validation loop starts (Lightning's hook).

    Called before ``on_validation_start`` (sanity check included), after the loop recorded each
    submodule's ``training`` flag. When no implementation returns non-None, the loop calls
    ``module.eval()``; a ``Module`` override replaces that (Monte-Carlo dropout keeps dropout
    on, say).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def on_validation_model_train(trainer: Trainer, module: Module) -> Any | None:
    """Give the module back its training mode when a validation loop ends (Lightning's hook).

    Called after ``on_validation_end`` (sanity check included). When no implementation returns
    non-None, the loop restores the ``training`` flag every submodule had before
    ``on_validation_model_eval`` (a frozen submodule stays in eval mode); a ``Module`` override
    replaces that.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def on_validation_model_zero_grad(trainer: Trainer, module: Module) -> Any | None:
    """Release the gradients before a validation inside ``fit()`` (Lightning's hook).

    Called before ``on_validation_model_eval`` of each validation that runs between training
    batches or at an epoch's end, unless the batch before it is inside a gradient-accumulation
    window (not the sanity check). When no implementation returns non-None, the loop calls
    ``module.zero_grad()``; a ``Module`` override replaces that.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec
def on_exception(trainer: Trainer, module: Module, exception: BaseException) -> None:
    """Called when ``fit()``, ``validate()``, ``test()`` or ``predict()`` raises (re-raised after).

    A SIGTERM, SIGUSR1 or SIGINT during ``fit()`` arrives here as
    :class:`treadle.errors.Preempted` once the current training step finished and the run was
    saved to its ``ckpt_path`` (see ``docs/checkpoints.md``, "Preemption").

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param exception: the exception.
    """


# --------------------------------------------------------------------------------------------
# Test: ``trainer.test()`` (Lightning's names).
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def on_test_model_eval(trainer: Trainer, module: Module) -> Any | None:
    """Put the module in evaluation mode when the loop of ``test()`` starts (Lightning's hook).

    Called before ``on_test_start``, after the loop recorded each submodule's ``training``
    flag. When no implementation returns non-None, the loop calls ``module.eval()``; a
    ``Module`` override replaces that (Monte-Carlo dropout keeps dropout on, say).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def on_test_model_train(trainer: Trainer, module: Module) -> Any | None:
    """Give the module back its training mode when the loop of ``test()`` ends (Lightning's hook).

    Called after ``on_test_end``. When no implementation returns non-None, the loop restores
    the ``training`` flag every submodule had before ``on_test_model_eval`` (a frozen
    submodule stays in eval mode); a ``Module`` override replaces that.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec
def on_test_start(trainer: Trainer, module: Module) -> None:
    """Called when ``test()`` starts its loop, after ``on_test_model_eval``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_test_end(trainer: Trainer, module: Module) -> None:
    """Called when the loop of ``test()`` ends, after ``on_test_epoch_end``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_test_epoch_start(trainer: Trainer, module: Module) -> None:
    """Called at the start of the test epoch (``test()`` runs one), before its first batch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_test_epoch_end(trainer: Trainer, module: Module) -> None:
    """Called at the end of the test epoch, after the last batch of the last loader.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_test_batch_start(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called before ``test_step``; the batch is already on the device.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


@hookspec
def on_test_batch_end(
    trainer: Trainer, module: Module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called after ``test_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: what ``test_step`` returned (None if nothing).
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


# --------------------------------------------------------------------------------------------
# Predict: ``trainer.predict()`` (Lightning's names).
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def on_predict_model_eval(trainer: Trainer, module: Module) -> Any | None:
    """Put the module in evaluation mode when the loop of ``predict()`` starts (Lightning's hook).

    Called before ``on_predict_start``, after the loop recorded each submodule's ``training``
    flag. When no implementation returns non-None, the loop calls ``module.eval()``; a
    ``Module`` override replaces that (Monte-Carlo dropout keeps dropout on, say). After
    ``on_predict_end`` the loop restores every submodule's flag (as Lightning, there is no
    ``on_predict_model_train`` hook).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec
def on_predict_start(trainer: Trainer, module: Module) -> None:
    """Called when ``predict()`` starts its loop, after ``on_predict_model_eval``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_predict_end(trainer: Trainer, module: Module) -> None:
    """Called when the loop of ``predict()`` ends, after ``on_predict_epoch_end``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_predict_epoch_start(trainer: Trainer, module: Module) -> None:
    """Called at the start of the prediction epoch (``predict()`` runs one), before its first batch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_predict_epoch_end(trainer: Trainer, module: Module) -> None:
    """Called at the end of the prediction epoch, after the last batch of the last loader.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_predict_batch_start(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called before ``predict_step``; the batch is already on the device.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


@hookspec
def on_predict_batch_end(
    trainer: Trainer, module: Module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int
) -> None:
    """Called after ``predict_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: what ``predict_step`` returned: the prediction ``predict()`` collects.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the epoch.
    :param dataloader_idx: the index of the loader it comes from (0 for a single loader).
    """


# --------------------------------------------------------------------------------------------
# The step. Loop hooks are firstresult: the first non-None result wins, the core's defaults
# are trylast. An implementation that performs the step returns a non-None value (True will
# do) so that the implementations after it do not perform it again.
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def on_before_batch_transfer(
    trainer: Trainer, module: Module, batch: Any, dataloader_idx: int
) -> Any | None:
    """Alter a batch before it is moved to the device (Lightning's hook).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch as the loader produced it.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the altered batch, or None to keep it. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def on_after_batch_transfer(
    trainer: Trainer, module: Module, batch: Any, dataloader_idx: int
) -> Any | None:
    """Alter a batch after it was moved to the device (Lightning's hook).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the altered batch, or None to keep it. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def transfer_batch_to_device(
    trainer: Trainer, module: Module, batch: Any, device: torch.device, dataloader_idx: int
) -> Any | None:
    """Move a batch to the device.

    The core's default moves tensors inside nested lists, tuples, dicts and dataclasses, and
    any object with a ``.to()`` method. On a machine whose only device is the CPU it is not
    called (every tensor already is on the CPU): implement the hook to have it called.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch as the loader produced it.
    :param device: the target ``torch.device``.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the moved batch. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def run_training_step(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int
) -> tuple[Any] | None:
    """Call the module's ``training_step`` (through a strategy's wrapper, say).

    Precision plugins wrap it (``wrapper=True``) to run the forward under autocast.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in the epoch.
    :return: what ``training_step`` returned, wrapped in a one-element tuple so that a None
        result still stops the chain. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def run_validation_step(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int | None
) -> tuple[Any] | None:
    """Call the module's ``validation_step``.

    As Lightning, the default passes ``batch_idx`` only when the step takes it (a parameter
    named ``batch_idx``, ``*args``, or two positional parameters) and ``dataloader_idx`` only
    when the loop runs several loaders.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the validation epoch.
    :param dataloader_idx: the index of the loader the batch comes from when the loop runs
        several loaders; None for a single loader, and the step is then called without it.
    :return: what ``validation_step`` returned, wrapped in a one-element tuple.
        Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def run_test_step(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int | None
) -> tuple[Any] | None:
    """Call the module's ``test_step``.

    Precision plugins wrap it (``wrapper=True``) to run the step under autocast. As Lightning,
    the default passes ``batch_idx`` only when the step takes it and ``dataloader_idx`` only
    when the loop runs several loaders.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the test epoch.
    :param dataloader_idx: the index of the loader the batch comes from when the loop runs
        several loaders; None for a single loader, and the step is then called without it.
    :return: what ``test_step`` returned, wrapped in a one-element tuple so that a None
        result still stops the chain. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def run_predict_step(
    trainer: Trainer, module: Module, batch: Any, batch_idx: int, dataloader_idx: int | None
) -> tuple[Any] | None:
    """Call the module's ``predict_step`` (whose default returns ``module(batch)``).

    Precision plugins wrap it (``wrapper=True``) to run the step under autocast. As Lightning,
    the default passes ``batch_idx`` only when the step takes it and ``dataloader_idx`` only
    when the loop runs several loaders.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in its loader's part of the prediction epoch.
    :param dataloader_idx: the index of the loader the batch comes from when the loop runs
        several loaders; None for a single loader, and the step is then called without it.
    :return: the prediction, wrapped in a one-element tuple so that a None result still stops
        the chain. Stops at the first non-None result.
    """


@hookspec
def on_before_backward(trainer: Trainer, module: Module, loss: torch.Tensor) -> None:
    """Called before the backward pass, with the loss as the user computed it (unscaled).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param loss: the loss tensor.
    """


@hookspec(firstresult=True)
def scale_loss(
    trainer: Trainer, module: Module, loss: torch.Tensor, optimizer: WrappedOptimizer | None
) -> torch.Tensor | None:
    """Transform the loss before ``backward`` (gradient scaling under ``16-mixed``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param loss: the loss tensor.
    :param optimizer: the wrapped optimizer the backward is for, or None.
    :return: the loss to back-propagate. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def backward(
    trainer: Trainer, module: Module, loss: torch.Tensor, optimizer: WrappedOptimizer | None
) -> Any | None:
    """Run the backward pass (``loss.backward()`` by default).

    A ``Module.backward(self, loss)`` override implements this hook and receives the scaled
    loss under ``16-mixed``, as in Lightning.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param loss: the (scaled) loss tensor.
    :param optimizer: the wrapped optimizer the backward is for, or None.
    :return: non-None when the backward was done. Stops at the first non-None result.
    """


@hookspec
def on_after_backward(trainer: Trainer, module: Module) -> None:
    """Called after the backward pass, before any optimizer step.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_before_optimizer_step(trainer: Trainer, module: Module, optimizer: WrappedOptimizer) -> None:
    """Called after the closure ran and before clipping and the step.

    Under ``16-mixed`` the gradients are already unscaled here.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer about to step.
    """


@hookspec(firstresult=True)
def configure_gradient_clipping(
    trainer: Trainer,
    module: Module,
    optimizer: WrappedOptimizer,
    gradient_clip_val: float | None,
    gradient_clip_algorithm: str | None,
) -> Any | None:
    """Decide how to clip before an automatic-optimization step (Lightning's hook).

    The default calls ``module.clip_gradients(optimizer, gradient_clip_val,
    gradient_clip_algorithm)`` with the Trainer's values. Not called in manual optimization.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer about to step.
    :param gradient_clip_val: the Trainer's ``gradient_clip_val`` (None: no clipping).
    :param gradient_clip_algorithm: the Trainer's ``gradient_clip_algorithm``.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def clip_gradients(
    trainer: Trainer,
    module: Module,
    optimizer: WrappedOptimizer,
    gradient_clip_val: float | None,
    gradient_clip_algorithm: str,
) -> Any | None:
    """Clip the gradients of the optimizer's parameters.

    Reached from ``Module.clip_gradients`` in both optimization modes. Precision plugins that
    scale gradients unscale them first (a ``wrapper=True`` implementation), so the true
    gradients are clipped.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer.
    :param gradient_clip_val: the maximum norm or value; None or 0 means no clipping.
    :param gradient_clip_algorithm: ``"norm"`` or ``"value"``.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def optimizer_step(
    trainer: Trainer,
    module: Module,
    optimizer: WrappedOptimizer,
    optimizer_idx: int,
    batch_idx: int,
    closure: Callable[[], Any],
) -> Any | None:
    """Step an optimizer; the closure runs forward and backward and must run before the step.

    Automatic optimization calls this hook once per stepping batch; manual optimization
    reaches it through ``opt.step()``. Inside an implementation, calling ``optimizer.step()``
    on the wrapped optimizer continues with the next implementation (as ``super()`` would),
    which is how a Lightning-style ``Module.optimizer_step`` override works. The default
    calls the user's optimizer ``step(closure=closure)``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer.
    :param optimizer_idx: its index in ``trainer.optimizers``.
    :param batch_idx: the batch index in the epoch.
    :param closure: a callable running forward, backward and the pre-step hooks; returns
        the loss.
    :return: non-None when the step was done. Stops at the first non-None result.
    """


@hookspec
def on_before_zero_grad(trainer: Trainer, module: Module, optimizer: WrappedOptimizer) -> None:
    """Called before gradients are zeroed in automatic optimization.

    On the first batch of each accumulation window, before ``run_training_step`` (Lightning
    calls it after ``training_step``; see ``docs/hooks.md``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer.
    """


@hookspec(firstresult=True)
def optimizer_zero_grad(
    trainer: Trainer,
    module: Module,
    optimizer: WrappedOptimizer,
    optimizer_idx: int,
    batch_idx: int,
) -> Any | None:
    """Zero the gradients in automatic optimization (``optimizer.zero_grad()`` by default).

    On the first batch of each accumulation window, before ``run_training_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer.
    :param optimizer_idx: its index in ``trainer.optimizers``.
    :param batch_idx: the batch index in the epoch.
    :return: non-None when handled. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def scheduler_step(
    trainer: Trainer, module: Module, scheduler: LRScheduler, metric: Any | None
) -> Any | None:
    """Step a learning-rate scheduler (``Module.lr_scheduler_step`` overrides implement it).

    Automatic optimization calls it by the scheduler's ``interval`` and ``frequency``; in
    manual optimization ``sch.step()`` on what ``lr_schedulers()`` returned reaches it.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param scheduler: the user's scheduler.
    :param metric: the monitored value for ``ReduceLROnPlateau``, else None.
    :return: non-None when handled. Stops at the first non-None result.
    """


# --------------------------------------------------------------------------------------------
# Collectives (the strategy's; the core's defaults are the single-process identities).
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def reduce(trainer: Trainer, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor | None:
    """Reduce a tensor across processes.

    :param trainer: the :class:`treadle.Trainer`.
    :param tensor: the local tensor.
    :param reduce_op: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.
    :return: the reduced tensor. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def all_gather(trainer: Trainer, tensor: torch.Tensor) -> torch.Tensor | None:
    """Gather a tensor from every process.

    :param trainer: the :class:`treadle.Trainer`.
    :param tensor: the local tensor.
    :return: a tensor with a new leading dimension of size ``world_size``.
        Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def broadcast(trainer: Trainer, obj: Any, src: int) -> tuple[Any] | None:
    """Send a picklable object from process ``src`` to all processes.

    :param trainer: the :class:`treadle.Trainer`.
    :param obj: the object (only ``src``'s matters).
    :param src: the global rank that sends.
    :return: a one-element tuple holding ``src``'s object. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def barrier(trainer: Trainer, name: str) -> Any | None:
    """Wait until every process reaches this point.

    :param trainer: the :class:`treadle.Trainer`.
    :param name: a label for debugging.
    :return: non-None when handled. Stops at the first non-None result.
    """


# --------------------------------------------------------------------------------------------
# Checkpoints: plugins keep their state in the checkpoint dict under a key of their own.
# --------------------------------------------------------------------------------------------


@hookspec
def on_save_checkpoint(trainer: Trainer, module: Module, checkpoint: dict[str, Any]) -> None:
    """Add state to a checkpoint before it is written.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param checkpoint: the dict about to be saved; add keys, keep tensors and plain types
        (it is loaded with ``weights_only=True``).
    """


@hookspec
def on_load_checkpoint(trainer: Trainer, module: Module, checkpoint: dict[str, Any]) -> None:
    """Restore state from a checkpoint, before the loop resumes.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param checkpoint: the loaded dict.
    """


@hookspec(firstresult=True)
def save_checkpoint(
    trainer: Trainer, checkpoint: dict[str, Any], filepath: str | Path, weights_only: bool
) -> Any | None:
    """Write the checkpoint of ``trainer.save_checkpoint(filepath)``.

    Called on every process once the dict is complete (after ``on_save_checkpoint``). The
    core's default writes one file, atomically, from global rank zero; a strategy whose state
    is sharded across processes (DeepSpeed) writes its own format from every process.

    :param trainer: the :class:`treadle.Trainer`.
    :param checkpoint: the dict to write.
    :param filepath: the path given to ``trainer.save_checkpoint``.
    :param weights_only: True when only the weights are asked for.
    :return: non-None when written. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def load_checkpoint(trainer: Trainer, filepath: str | Path) -> dict[str, Any] | None:
    """Read the checkpoint that ``ckpt_path`` names (``fit``, ``validate``, ``test``, ``predict``).

    Called on every process after set-up, before any state is restored. The core's default
    reads one file with ``weights_only=True``. A strategy that restores the module and
    optimizer states itself returns the dict without ``"state_dict"`` and
    ``"optimizer_states"``; the core restores the rest (loop, schedulers, callbacks, RNG).

    :param trainer: the :class:`treadle.Trainer`.
    :param filepath: the ``ckpt_path`` given to ``fit``, ``validate``, ``test`` or ``predict``.
    :return: the checkpoint dict. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def remove_checkpoint(trainer: Trainer, filepath: str | Path) -> Any | None:
    """Remove a checkpoint the run wrote (``ModelCheckpoint`` dropping one beyond ``save_top_k``).

    Called on global rank zero. The core's default removes the file, link or directory; a
    plugin that writes checkpoints elsewhere (a Lightning ``CheckpointIO`` in
    ``plugins=[...]``) removes them its own way.

    :param trainer: the :class:`treadle.Trainer`.
    :param filepath: the checkpoint's path.
    :return: non-None when removed. Stops at the first non-None result.
    """


# --------------------------------------------------------------------------------------------
# The table: every hook's facts besides its signature. The lists the rest of treadle keeps
# (the hooks a Module overrides, those whose override performs the step, those consulted
# only while a Trainer is built, ...) derive from it; tests/test_hook_table.py checks that it
# names every hookspec above, in the same order, and nothing else.
# --------------------------------------------------------------------------------------------

PHASES: dict[str, str] = {  # phase -> its title in docs/hook-reference.md, in this order
    "provide": "Providers: plugins offer named records; the Trainer selects one of each kind",
    "configuration": "Validation: before any training_step runs",
    "setup": "Set-up and tear-down",
    "fit": "Fit and validation: epochs and batches (Lightning's names)",
    "test": "Test: `trainer.test()` (Lightning's names)",
    "predict": "Predict: `trainer.predict()` (Lightning's names)",
    "step": "The step: batch transfer, the user's steps, backward and optimizer",
    "collective": "Collectives (the strategy's; the core's defaults are single-process identities)",
    "checkpoint": "Checkpoints: plugins keep their state under a key of their own",
}


@dataclass(frozen=True)
class HookInfo:
    """What treadle knows about a hook besides its signature and ``firstresult`` (the spec's).

    :param phase: a key of :data:`PHASES`.
    :param per_step: called for every batch (or every optimizer step) in some loop, so the
        loop resolves it once per run instead of dispatching through pluggy each time.
    :param module_method: the ``Module`` method (Lightning's name) whose override implements
        the hook, or None when a ``Module`` cannot implement it.
    :param action: a ``firstresult`` hook whose implementation *performs* something (the
        backward, the step, eval mode), so an adapted ``Module``/``Callback`` override that
        returns None, as Lightning's do, still counts as done.
    :param construction_only: consulted only while a ``Trainer`` is built (providers, default
        callbacks); a plugin implementing nothing else takes no part in the run.
    :param identity_default: the core's default changes nothing unless a Trainer value asks
        for it (``scale_loss``, ``configure_gradient_clipping``), in a single process
        (``reduce``, ``barrier``), or on a machine with a device besides the CPU
        (``transfer_batch_to_device``: there is nowhere else a tensor can be), so a call site
        may skip the hook when only the core implements it.

    :param logs: what ``self.log`` may record inside the hook, as Lightning's ``_FxValidator``
        decides: ``"step_or_epoch"``, ``"epoch"`` (epoch values only) or ``"refused"``; None
        for the hooks no Lightning program logs in (plugins' hooks, collectives).
    """

    phase: str
    per_step: bool = False
    module_method: str | None = None
    action: bool = False
    construction_only: bool = False
    identity_default: bool = False
    logs: str | None = None

    @property
    def collective(self) -> bool:
        """A collective across processes: ``reduce``, ``all_gather``, ``broadcast``, ``barrier``."""
        return self.phase == "collective"


_ACTION = {"action": True}
_CONSTRUCTION = {"construction_only": True}
_IDENTITY = {"identity_default": True}
_REFUSED = {"logs": "refused"}
_EPOCH = {"logs": "epoch"}
_ANY = {"logs": "step_or_epoch"}

# name: (phase, per step, Module method, other facts)
_TABLE: dict[str, tuple[str, bool, str | None, dict[str, Any]]] = {
    "provide_accelerators": ("provide", False, None, _CONSTRUCTION),
    "provide_precisions": ("provide", False, None, _CONSTRUCTION),
    "provide_strategies": ("provide", False, None, _CONSTRUCTION),
    "provide_environments": ("provide", False, None, _CONSTRUCTION),
    "provide_loggers": ("provide", False, None, _CONSTRUCTION),
    "validate": ("configuration", False, None, {}),
    "setup_environment": ("setup", False, None, {}),
    "convert_module": ("setup", False, None, {}),
    "setup_module": ("setup", False, None, {}),
    "setup_dataloader": ("setup", False, None, {}),
    "configure_callbacks": ("setup", False, None, {**_CONSTRUCTION, **_REFUSED}),
    "setup": ("setup", False, "setup", _REFUSED),
    "teardown": ("setup", False, "teardown", _REFUSED),
    "on_fit_start": ("fit", False, "on_fit_start", _REFUSED),
    "on_fit_end": ("fit", False, "on_fit_end", _REFUSED),
    "on_sanity_check_start": ("fit", False, None, _REFUSED),  # a Callback hook in Lightning
    "on_sanity_check_end": ("fit", False, None, _REFUSED),
    "on_train_start": ("fit", False, "on_train_start", _EPOCH),
    "on_train_end": ("fit", False, "on_train_end", _REFUSED),
    "on_train_epoch_start": ("fit", False, "on_train_epoch_start", _EPOCH),
    "on_train_epoch_end": ("fit", False, "on_train_epoch_end", _EPOCH),
    "on_train_batch_start": ("fit", True, "on_train_batch_start", _ANY),
    "on_train_batch_end": ("fit", True, "on_train_batch_end", _ANY),
    "on_validation_start": ("fit", False, "on_validation_start", _EPOCH),
    "on_validation_end": ("fit", False, "on_validation_end", _REFUSED),
    "on_validation_epoch_start": ("fit", False, "on_validation_epoch_start", _EPOCH),
    "on_validation_epoch_end": ("fit", False, "on_validation_epoch_end", _EPOCH),
    "on_validation_batch_start": ("fit", True, "on_validation_batch_start", _ANY),
    "on_validation_batch_end": ("fit", True, "on_validation_batch_end", _ANY),
    "on_validation_model_eval": ("fit", False, "on_validation_model_eval", {**_ACTION, **_REFUSED}),
    "on_validation_model_train": (
        "fit",
        False,
        "on_validation_model_train",
        {**_ACTION, **_REFUSED},
    ),
    "on_validation_model_zero_grad": (
        "fit",
        False,
        "on_validation_model_zero_grad",
        {**_ACTION, **_REFUSED},
    ),
    "on_exception": ("fit", False, "on_exception", _REFUSED),
    "on_test_model_eval": ("test", False, "on_test_model_eval", {**_ACTION, **_REFUSED}),
    "on_test_model_train": ("test", False, "on_test_model_train", {**_ACTION, **_REFUSED}),
    "on_test_start": ("test", False, "on_test_start", _EPOCH),
    "on_test_end": ("test", False, "on_test_end", _REFUSED),
    "on_test_epoch_start": ("test", False, "on_test_epoch_start", _EPOCH),
    "on_test_epoch_end": ("test", False, "on_test_epoch_end", _EPOCH),
    "on_test_batch_start": ("test", True, "on_test_batch_start", _ANY),
    "on_test_batch_end": ("test", True, "on_test_batch_end", _ANY),
    "on_predict_model_eval": ("predict", False, "on_predict_model_eval", {**_ACTION, **_REFUSED}),
    "on_predict_start": ("predict", False, "on_predict_start", _REFUSED),
    "on_predict_end": ("predict", False, "on_predict_end", _REFUSED),
    "on_predict_epoch_start": ("predict", False, "on_predict_epoch_start", _REFUSED),
    "on_predict_epoch_end": ("predict", False, "on_predict_epoch_end", _REFUSED),
    "on_predict_batch_start": ("predict", True, "on_predict_batch_start", _REFUSED),
    "on_predict_batch_end": ("predict", True, "on_predict_batch_end", _REFUSED),
    "on_before_batch_transfer": ("step", True, "on_before_batch_transfer", _REFUSED),
    "on_after_batch_transfer": ("step", True, "on_after_batch_transfer", _REFUSED),
    "transfer_batch_to_device": (
        "step",
        True,
        "transfer_batch_to_device",
        {**_IDENTITY, **_REFUSED},
    ),
    "run_training_step": ("step", True, None, _ANY),
    "run_validation_step": ("step", True, None, _ANY),
    "run_test_step": ("step", True, None, _ANY),
    "run_predict_step": ("step", True, None, _REFUSED),
    "on_before_backward": ("step", True, "on_before_backward", _ANY),
    "scale_loss": ("step", True, None, _IDENTITY),
    "backward": ("step", True, "backward", {**_ACTION, **_ANY}),
    "on_after_backward": ("step", True, "on_after_backward", _ANY),
    "on_before_optimizer_step": ("step", True, "on_before_optimizer_step", _ANY),
    "configure_gradient_clipping": (
        "step",
        True,
        "configure_gradient_clipping",
        {**_ACTION, **_IDENTITY, **_ANY},
    ),
    "clip_gradients": ("step", True, None, {**_ACTION, **_ANY}),  # Module.clip_gradients calls it
    "optimizer_step": ("step", True, "optimizer_step", {**_ACTION, **_ANY}),
    "on_before_zero_grad": ("step", True, "on_before_zero_grad", _ANY),
    "optimizer_zero_grad": ("step", True, "optimizer_zero_grad", {**_ACTION, **_ANY}),
    "scheduler_step": (
        "step",
        True,
        "lr_scheduler_step",
        {**_ACTION, **_REFUSED},
    ),  # interval="step"
    "reduce": ("collective", False, None, _IDENTITY),
    "all_gather": ("collective", False, None, {}),
    "broadcast": ("collective", False, None, {}),
    "barrier": ("collective", False, None, {**_ACTION, **_IDENTITY}),
    "on_save_checkpoint": ("checkpoint", False, "on_save_checkpoint", _REFUSED),
    "on_load_checkpoint": ("checkpoint", False, "on_load_checkpoint", _REFUSED),
    "save_checkpoint": ("checkpoint", False, None, {}),
    "load_checkpoint": ("checkpoint", False, None, {}),
    "remove_checkpoint": ("checkpoint", False, None, {}),
}

HOOKS: dict[str, HookInfo] = {
    name: HookInfo(phase, per_step=per_step, module_method=method, **facts)
    for name, (phase, per_step, method, facts) in _TABLE.items()
}
"""Every hookspec of this module, in source order, with its :class:`HookInfo`."""


def hook_names(**where: Any) -> tuple[str, ...]:
    """The hooks whose :class:`HookInfo` fields have the given values, in :data:`HOOKS` order.

    ``hook_names(per_step=True)``, ``hook_names(phase="test")``, ``hook_names(action=True)``.
    """
    fields = HookInfo.__dataclass_fields__
    unknown = sorted(set(where) - set(fields))
    if unknown:
        raise TypeError(
            f"hook_names() got unknown field(s) {', '.join(unknown)}; "
            f"HookInfo's fields are: {', '.join(fields)}."
        )
    return tuple(
        name
        for name, info in HOOKS.items()
        if all(getattr(info, key) == value for key, value in where.items())
    )


def per_step_hooks() -> tuple[str, ...]:
    """The hooks a loop may call for every batch: resolve them once per run."""
    return hook_names(per_step=True)
