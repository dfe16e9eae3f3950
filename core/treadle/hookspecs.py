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
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("treadle")
hookimpl = pluggy.HookimplMarker("treadle")


# --------------------------------------------------------------------------------------------
# Providers: plugins offer named records; the Trainer selects one of each kind by name.
# --------------------------------------------------------------------------------------------


@hookspec
def provide_accelerators():
    """Offer accelerators, selectable with ``Trainer(accelerator=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"accelerator"``. Their
        factories are called only for the selected name.
    """


@hookspec
def provide_precisions():
    """Offer precisions, selectable with ``Trainer(precision=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"precision"``.
    """


@hookspec
def provide_strategies():
    """Offer strategies, selectable with ``Trainer(strategy=NAME)``.

    Called once per ``Trainer`` while it resolves its selection, and by ``treadle plugins``.

    :return: a list of :class:`treadle.Provider` records of kind ``"strategy"``.
    """


@hookspec
def provide_environments():
    """Offer cluster environments (torchrun, SLURM, ...), detected rather than named.

    Called once per ``Trainer``; the available record with the highest ``priority`` is used.

    :return: a list of :class:`treadle.Provider` records of kind ``"environment"``.
    """


@hookspec
def provide_loggers():
    """Offer experiment loggers; ``Trainer(logger=True)`` uses the one named ``"csv"``.

    :return: a list of :class:`treadle.Provider` records of kind ``"logger"``.
    """


# --------------------------------------------------------------------------------------------
# Validation: before any training_step runs.
# --------------------------------------------------------------------------------------------


@hookspec
def validate(trainer, module):
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
def setup_environment(trainer):
    """Prepare processes and devices: launch or join ranks, init process groups, set the device.

    Called once at the start of ``fit()``/``validate()``, after validation, before the module
    is moved.

    :param trainer: the :class:`treadle.Trainer`.
    """


@hookspec
def convert_module(trainer, module):
    """Convert the module's parameters (dtype) for the selected precision.

    Called once after the module was moved to ``trainer.root_device``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def setup_module(trainer, module):
    """Wrap the module and optimizers for the strategy (DDP, DeepSpeed engine, ...).

    Called once after ``convert_module``; ``trainer.optimizers`` are the user's optimizers.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec(firstresult=True)
def setup_dataloader(trainer, dataloader, stage):
    """Replace a data loader for the strategy (a ``DistributedSampler``, say).

    Called once per loader and stage when the loop starts.

    :param trainer: the :class:`treadle.Trainer`.
    :param dataloader: the loader as given by the user.
    :param stage: ``"fit"`` for training loaders, ``"validate"`` for validation loaders.
    :return: the loader to use, or None to keep it. Stops at the first non-None result.
    """


@hookspec
def configure_callbacks(trainer):
    """Add default callbacks (checkpointing, progress bar, ...) to a new ``Trainer``.

    Called once per ``Trainer`` after its plugins and ``callbacks=[...]`` are registered.

    :param trainer: the :class:`treadle.Trainer` (its ``config`` and ``callbacks`` are set).
    :return: a list of callbacks to register, or None.
    """


@hookspec
def setup(trainer, module, stage):
    """Lightning's ``setup``: called at the beginning of fit or validate, on every process.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param stage: ``"fit"`` or ``"validate"``.
    """


@hookspec
def teardown(trainer, module, stage):
    """Lightning's ``teardown``: called at the end of fit or validate, also after an error.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param stage: ``"fit"`` or ``"validate"``.
    """


# --------------------------------------------------------------------------------------------
# Fit, epochs and batches (Lightning's names).
# --------------------------------------------------------------------------------------------


@hookspec
def on_fit_start(trainer, module):
    """Called at the very beginning of ``fit()``, after set-up.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_fit_end(trainer, module):
    """Called at the very end of ``fit()``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_sanity_check_start(trainer, module):
    """Called before the sanity validation batches (``num_sanity_val_steps``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_sanity_check_end(trainer, module):
    """Called after the sanity validation batches.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_start(trainer, module):
    """Called when training starts, after the sanity check.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_end(trainer, module):
    """Called when training ends.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_epoch_start(trainer, module):
    """Called at the start of each training epoch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_epoch_end(trainer, module):
    """Called at the end of each training epoch, after its end-of-epoch validation.

    Metrics logged with ``on_epoch=True`` are already in ``trainer.callback_metrics``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_train_batch_start(trainer, module, batch, batch_idx):
    """Called before ``training_step``; the batch is already on the device.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch.
    :param batch_idx: its index in the epoch.
    :return: ``-1`` to skip the rest of the epoch (as in Lightning), else None.
    """


@hookspec
def on_train_batch_end(trainer, module, outputs, batch, batch_idx):
    """Called after a training batch, its optimizer steps included.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: what ``training_step`` returned (a ``{"loss": ...}`` dict when it returned
        a tensor in automatic optimization; None in manual optimization if it returned nothing).
    :param batch: the batch.
    :param batch_idx: its index in the epoch.
    """


@hookspec
def on_validation_start(trainer, module):
    """Called when a validation loop starts (sanity check included).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_end(trainer, module):
    """Called when a validation loop ends.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_epoch_start(trainer, module):
    """Called at the start of a validation epoch.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_epoch_end(trainer, module):
    """Called at the end of a validation epoch; its epoch metrics are in ``callback_metrics``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_validation_batch_start(trainer, module, batch, batch_idx, dataloader_idx):
    """Called before ``validation_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in the validation epoch.
    """


@hookspec
def on_validation_batch_end(trainer, module, outputs, batch, batch_idx, dataloader_idx):
    """Called after ``validation_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param outputs: what ``validation_step`` returned.
    :param batch: the batch.
    :param batch_idx: its index in the validation epoch.
    """


@hookspec
def on_exception(trainer, module, exception):
    """Called when ``fit()`` or ``validate()`` is interrupted by an exception (re-raised after).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param exception: the exception.
    """


# --------------------------------------------------------------------------------------------
# The step. Loop hooks are firstresult: the first non-None result wins, the core's defaults
# are trylast. An implementation that performs the step returns a non-None value (True will
# do) so that the implementations after it do not perform it again.
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def on_before_batch_transfer(trainer, module, batch, dataloader_idx):
    """Alter a batch before it is moved to the device (Lightning's hook).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch as the loader produced it.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the altered batch, or None to keep it. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def on_after_batch_transfer(trainer, module, batch, dataloader_idx):
    """Alter a batch after it was moved to the device (Lightning's hook).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the altered batch, or None to keep it. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def transfer_batch_to_device(trainer, module, batch, device, dataloader_idx):
    """Move a batch to the device.

    The core's default moves tensors inside nested lists, tuples, dicts and dataclasses, and
    any object with a ``.to()`` method.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch as the loader produced it.
    :param device: the target ``torch.device``.
    :param dataloader_idx: the loader's index (0 for a single loader).
    :return: the moved batch. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def run_training_step(trainer, module, batch, batch_idx):
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
def run_validation_step(trainer, module, batch, batch_idx, dataloader_idx):
    """Call the module's ``validation_step``.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param batch: the batch, on the device.
    :param batch_idx: its index in the validation epoch.
    :return: what ``validation_step`` returned, wrapped in a one-element tuple.
        Stops at the first non-None result.
    """


@hookspec
def on_before_backward(trainer, module, loss):
    """Called before the backward pass, with the loss as the user computed it (unscaled).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param loss: the loss tensor.
    """


@hookspec(firstresult=True)
def scale_loss(trainer, module, loss, optimizer):
    """Transform the loss before ``backward`` (gradient scaling under ``16-mixed``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param loss: the loss tensor.
    :param optimizer: the wrapped optimizer the backward is for, or None.
    :return: the loss to back-propagate. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def backward(trainer, module, loss, optimizer):
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
def on_after_backward(trainer, module):
    """Called after the backward pass, before any optimizer step.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    """


@hookspec
def on_before_optimizer_step(trainer, module, optimizer):
    """Called after the closure ran and before clipping and the step.

    Under ``16-mixed`` the gradients are already unscaled here.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer about to step.
    """


@hookspec(firstresult=True)
def configure_gradient_clipping(trainer, module, optimizer, gradient_clip_val, gradient_clip_algorithm):
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
def clip_gradients(trainer, module, optimizer, gradient_clip_val, gradient_clip_algorithm):
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
def optimizer_step(trainer, module, optimizer, optimizer_idx, batch_idx, closure):
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
def on_before_zero_grad(trainer, module, optimizer):
    """Called before gradients are zeroed in automatic optimization.

    On the first batch of each accumulation window, before ``run_training_step`` (Lightning
    calls it after ``training_step``; see ``docs/hooks.md``).

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param optimizer: the wrapped optimizer.
    """


@hookspec(firstresult=True)
def optimizer_zero_grad(trainer, module, optimizer, optimizer_idx, batch_idx):
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
def scheduler_step(trainer, module, scheduler, metric):
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
def reduce(trainer, tensor, reduce_op):
    """Reduce a tensor across processes.

    :param trainer: the :class:`treadle.Trainer`.
    :param tensor: the local tensor.
    :param reduce_op: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.
    :return: the reduced tensor. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def all_gather(trainer, tensor):
    """Gather a tensor from every process.

    :param trainer: the :class:`treadle.Trainer`.
    :param tensor: the local tensor.
    :return: a tensor with a new leading dimension of size ``world_size``.
        Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def broadcast(trainer, obj, src):
    """Send a picklable object from process ``src`` to all processes.

    :param trainer: the :class:`treadle.Trainer`.
    :param obj: the object (only ``src``'s matters).
    :param src: the global rank that sends.
    :return: a one-element tuple holding ``src``'s object. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def barrier(trainer, name):
    """Wait until every process reaches this point.

    :param trainer: the :class:`treadle.Trainer`.
    :param name: a label for debugging.
    :return: non-None when handled. Stops at the first non-None result.
    """


# --------------------------------------------------------------------------------------------
# Checkpoints: plugins keep their state in the checkpoint dict under a key of their own.
# --------------------------------------------------------------------------------------------


@hookspec
def on_save_checkpoint(trainer, module, checkpoint):
    """Add state to a checkpoint before it is written.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param checkpoint: the dict about to be saved; add keys, keep tensors and plain types
        (it is loaded with ``weights_only=True``).
    """


@hookspec
def on_load_checkpoint(trainer, module, checkpoint):
    """Restore state from a checkpoint, before the loop resumes.

    :param trainer: the :class:`treadle.Trainer`.
    :param module: the user's module.
    :param checkpoint: the loaded dict.
    """


@hookspec(firstresult=True)
def save_checkpoint(trainer, checkpoint, filepath, weights_only):
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
def load_checkpoint(trainer, filepath):
    """Read the checkpoint of ``fit(ckpt_path=...)`` or ``validate(ckpt_path=...)``.

    Called on every process after set-up, before any state is restored. The core's default
    reads one file with ``weights_only=True``. A strategy that restores the module and
    optimizer states itself returns the dict without ``"state_dict"`` and
    ``"optimizer_states"``; the core restores the rest (loop, schedulers, callbacks, RNG).

    :param trainer: the :class:`treadle.Trainer`.
    :param filepath: the ``ckpt_path`` given to ``fit`` or ``validate``.
    :return: the checkpoint dict. Stops at the first non-None result.
    """


# TEMPORARY (lead): replaced by the hookspecs branch at merge.
@hookspec
def on_validation_model_eval(trainer, module):
    """Temporary."""


@hookspec
def on_validation_model_train(trainer, module):
    """Temporary."""


@hookspec
def on_test_start(trainer, module):
    """Temporary."""


@hookspec
def on_test_end(trainer, module):
    """Temporary."""


@hookspec
def on_test_epoch_start(trainer, module):
    """Temporary."""


@hookspec
def on_test_epoch_end(trainer, module):
    """Temporary."""


@hookspec
def on_test_model_eval(trainer, module):
    """Temporary."""


@hookspec
def on_test_model_train(trainer, module):
    """Temporary."""


@hookspec
def on_test_batch_start(trainer, module, batch, batch_idx, dataloader_idx):
    """Temporary."""


@hookspec
def on_test_batch_end(trainer, module, outputs, batch, batch_idx, dataloader_idx):
    """Temporary."""


@hookspec(firstresult=True)
def run_test_step(trainer, module, batch, batch_idx, dataloader_idx):
    """Temporary."""


@hookspec
def on_predict_start(trainer, module):
    """Temporary."""


@hookspec
def on_predict_end(trainer, module):
    """Temporary."""


@hookspec
def on_predict_epoch_start(trainer, module):
    """Temporary."""


@hookspec
def on_predict_epoch_end(trainer, module):
    """Temporary."""


@hookspec
def on_predict_model_eval(trainer, module):
    """Temporary."""


@hookspec
def on_predict_batch_start(trainer, module, batch, batch_idx, dataloader_idx):
    """Temporary."""


@hookspec
def on_predict_batch_end(trainer, module, outputs, batch, batch_idx, dataloader_idx):
    """Temporary."""


@hookspec(firstresult=True)
def run_predict_step(trainer, module, batch, batch_idx, dataloader_idx):
    """Temporary."""
