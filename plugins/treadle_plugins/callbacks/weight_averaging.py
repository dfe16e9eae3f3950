"""``WeightAveraging`` and ``EMAWeightAveraging``: an averaged copy of the Module, updated as
training goes (Lightning 2.6's callbacks of the same names, on ``torch.optim.swa_utils``).

When ``fit()`` sets up, the callback makes a ``torch.optim.swa_utils.AveragedModel`` of the
Module. After each optimizer step (and each training epoch) that ``should_update`` accepts, the
average takes in the Module's weights: by default an equal average (SWA) of every step;
``EMAWeightAveraging`` keeps an exponential moving average. Validation runs on the averaged
weights (swapped in for the epoch, swapped back after), and when training ends the Module keeps
the averaged weights.

Checkpoints written during ``fit()`` hold the averaged weights as ``state_dict`` (so a plain
load gets the average), the Module's own weights as ``current_model_state`` and the
average's count as ``averaging_state``; resuming from one restores both.
Unlike ``StochasticWeightAveraging``, the learning rate is left alone.
"""

from __future__ import annotations

import itertools
from copy import deepcopy
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn

from treadle.callback import Callback
from treadle.utilities import rank_zero_info, rank_zero_warn


class WeightAveraging(Callback):
    """Average the Module's weights over training steps (as Lightning 2.6's
    ``WeightAveraging``).

    :param device: where the averaged copy lives (``"cpu"`` to spare accelerator memory);
        None: the Module's device.
    :param use_buffers: average the buffers too (BatchNorm statistics); False: parameters only
        (then recompute the statistics with ``torch.optim.swa_utils.update_bn``).
    :param kwargs: for ``AveragedModel``: ``avg_fn`` or ``multi_avg_fn`` (the default: the
        equally weighted average).

    Override ``should_update(step_idx=None, epoch_idx=None)`` to choose when the average takes
    the weights in (default: after every optimizer step).
    """

    def __init__(
        self,
        device: torch.device | str | int | None = None,
        use_buffers: bool = True,
        **kwargs: Any,
    ) -> None:
        self._device: torch.device | int | None = (
            torch.device(device) if isinstance(device, str) else device
        )
        self._use_buffers = use_buffers
        self._kwargs = kwargs
        self._average_model: AveragedModel | None = None
        # The global step and the epoch of the last update: the first step update comes after
        # the first optimizer step (after N batches with accumulate_grad_batches=N), the first
        # epoch update after epoch 0.
        self._latest_update_step = 0
        self._latest_update_epoch = -1

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Whether the average takes the weights in after optimizer step ``step_idx`` or
        training epoch ``epoch_idx`` (both counted from 0; one is None). Default: every step."""
        return step_idx is not None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        if _overrides_configure_model(pl_module):
            rank_zero_warn(
                "You're using the WeightAveraging callback with a model that overrides the "
                "configure_model callback. WeightAveraging doesn't support sharding model "
                "layers, so you may run out of memory."
            )
            pl_module.configure_model()
        # The copy is made without the Trainer the Module refers to.
        attached = pl_module.trainer
        pl_module.trainer = None
        try:
            self._average_model = AveragedModel(
                model=pl_module,
                device=self._device,
                use_buffers=self._use_buffers,
                **self._kwargs,
            )
        finally:
            pl_module.trainer = attached

    def on_fit_start(self, trainer, pl_module) -> None:
        # The Module is on its device now (setup ran before it moved): the average follows it.
        if self._average_model is not None and self._device is None:
            self._average_model.to(pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step_idx = trainer.global_step - 1  # counted from 0, as epoch_idx
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=step_idx):
            assert self._average_model is not None
            self._average_model.update_parameters(pl_module)
            self._latest_update_step = trainer.global_step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if epoch > self._latest_update_epoch and self.should_update(epoch_idx=epoch):
            assert self._average_model is not None
            self._average_model.update_parameters(pl_module)
            self._latest_update_epoch = epoch

    def on_train_end(self, trainer, pl_module) -> None:
        self._copy_average_to_current(pl_module)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"latest_update_step": self._latest_update_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._latest_update_step = state_dict["latest_update_step"]

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        if self._average_model is None:
            rank_zero_info(
                "You're using the WeightAveraging callback, but saving a checkpoint outside the "
                "'fit' stage. The state of the WeightAveraging callback won't be saved in the "
                "checkpoint. If training has finished, the average model parameters will be "
                "saved to the state_dict in the checkpoint."
            )
            return
        average = self._average_model.state_dict()
        checkpoint["current_model_state"] = checkpoint["state_dict"]
        checkpoint["state_dict"] = {
            name[len("module.") :]: value
            for name, value in average.items()
            if name.startswith("module.")
        }
        checkpoint["averaging_state"] = {
            name: value for name, value in average.items() if not name.startswith("module.")
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        # The Module has loaded "state_dict" (the average) by now; its own weights follow.
        if self._average_model is None:
            rank_zero_warn(
                "You're using the WeightAveraging callback, but loading a checkpoint outside "
                "the 'fit' stage. The WeightAveraging state cannot be restored. If you're using "
                "the checkpoint for prediction or testing, you can ignore this warning. To "
                "disable the warning, remove the WeightAveraging callback."
            )
        elif "current_model_state" in checkpoint and "averaging_state" in checkpoint:
            rank_zero_info(
                "Found current_model_state in the checkpoint. This will be used to initialize "
                "the model."
            )
            average = {"module." + name: value for name, value in checkpoint["state_dict"].items()}
            average.update(checkpoint["averaging_state"])
            self._average_model.load_state_dict(average)
            pl_module.load_state_dict(checkpoint["current_model_state"])
        else:
            rank_zero_warn(
                "The checkpoint was not created with WeightAveraging. Both the current and the "
                "average model will be initialized with state_dict."
            )
            self._average_model.module.load_state_dict(
                deepcopy(checkpoint["state_dict"]), strict=False
            )

    def _swap_models(self, pl_module: nn.Module) -> None:
        """Exchange the values of the Module's weights and the average's."""
        assert self._average_model is not None
        for average, current in _pairs(self._average_model.module, pl_module):
            saved = average.data.clone()
            average.data.copy_(current.data)
            current.data.copy_(saved)

    def _copy_average_to_current(self, pl_module: nn.Module) -> None:
        """Give the Module the average's values."""
        assert self._average_model is not None
        for average, current in _pairs(self._average_model.module, pl_module):
            current.data.copy_(average.data)


class EMAWeightAveraging(WeightAveraging):
    """An exponential moving average of the weights (as Lightning 2.6's
    ``EMAWeightAveraging``): ``average = decay * average + (1 - decay) * weights``.

    :param decay: the average's share kept at each update.
    :param update_every_n_steps: update after every n-th optimizer step (0: never after steps).
    :param update_starting_at_step: the first optimizer step (from 0) updates may follow.
    :param update_starting_at_epoch: update after each training epoch from this one on
        (None: not after epochs).
    :param device, use_buffers, kwargs: as ``WeightAveraging``.
    """

    def __init__(
        self,
        device: torch.device | str | int | None = None,
        use_buffers: bool = True,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        update_starting_at_epoch: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=device, use_buffers=use_buffers, **kwargs, avg_fn=get_ema_avg_fn(decay=decay)
        )
        self.update_every_n_steps = update_every_n_steps
        self.update_starting_at_step = update_starting_at_step
        self.update_starting_at_epoch = update_starting_at_epoch

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is not None:
            started = (
                self.update_starting_at_step is None or step_idx >= self.update_starting_at_step
            )
            every = self.update_every_n_steps > 0 and step_idx % self.update_every_n_steps == 0
            if started and every:
                return True
        start_epoch = self.update_starting_at_epoch
        return epoch_idx is not None and start_epoch is not None and epoch_idx >= start_epoch


def _pairs(average: nn.Module, current: nn.Module) -> Any:
    """(averaged, current) tensors: the parameters, then the buffers, in the Modules' order."""
    return zip(
        itertools.chain(average.parameters(), average.buffers()),
        itertools.chain(current.parameters(), current.buffers()),
    )


def _overrides_configure_model(module: nn.Module) -> bool:
    """Whether ``module``'s class defines its own ``configure_model`` (treadle's Module's does
    nothing)."""
    from treadle.module import Module

    return getattr(type(module), "configure_model", None) is not Module.configure_model
