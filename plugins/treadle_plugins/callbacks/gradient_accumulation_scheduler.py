"""``GradientAccumulationScheduler``: change ``accumulate_grad_batches`` by epoch."""

from __future__ import annotations

from typing import Any

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.module import Module
from treadle.utilities import rank_zero_warn


class GradientAccumulationScheduler(Callback):
    """Accumulate gradients over a number of batches that changes by epoch (as Lightning 2's).

    :param scheduling: ``{epoch: factor}``, epochs counted from 0: ``{4: 2}`` accumulates 2
        batches per optimizer step from the fifth epoch on (1 before: an epoch 0 entry is added
        when missing).

    It sets ``trainer.accumulate_grad_batches`` at each training epoch's start. Refused under
    manual optimization, with ``Trainer(accumulate_grad_batches=N)`` for N != 1, and with
    DeepSpeed (whose engine fixes the factor when it is built).
    """

    def __init__(self, scheduling: dict[int, int]) -> None:
        if not scheduling:
            raise TypeError(
                "GradientAccumulationScheduler(scheduling={}): Empty dict cannot be interpreted "
                "correct. Pass {epoch: accumulation_factor}, e.g. {0: 1, 4: 2}."
            )
        if any(not isinstance(key, int) or key < 0 for key in scheduling):
            raise ConfigurationError(
                f"GradientAccumulationScheduler: Epoch should be an int greater than or equal "
                f"to 0. Got {list(scheduling.keys())}."
            )
        if any(not isinstance(value, int) or value < 1 for value in scheduling.values()):
            raise ConfigurationError(
                f"GradientAccumulationScheduler: Accumulation factor should be an int greater "
                f"than 0. Got {list(scheduling.values())}."
            )
        if min(scheduling) != 0:  # as Lightning: 1 until the first epoch given
            scheduling.update({0: 1})
        self.scheduling = scheduling
        self.epochs = sorted(scheduling)

    def going_to_accumulate_grad_batches(self) -> bool:
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        """The factor for ``epoch``: the one of the last scheduled epoch at or before it."""
        factor = 1
        for start in reversed(self.epochs):
            if epoch >= start:
                factor = self.scheduling[start]
                break
        return factor

    def validate(self, trainer, module) -> list[str]:
        """Before anything runs: what Lightning refuses when training starts."""
        problems = []
        if not module.automatic_optimization:
            problems.append(
                "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not "
                "supported for manual optimization. Please remove the callback or switch to "
                "automatic optimization."
            )
        if trainer.strategy.name.startswith("deepspeed"):
            problems.append(
                f"The strategy {trainer.strategy.name!r} does not support "
                f"`accumulate_grad_batches` changing between epochs (the DeepSpeed engine fixes "
                f"it when it is built). Remove the `GradientAccumulationScheduler` callback, or "
                f"set a fixed `Trainer(accumulate_grad_batches=N)`."
            )
        if trainer.config.accumulate_grad_batches != 1:
            problems.append(
                f"You have set `accumulate_grad_batches` and are using the "
                f"`GradientAccumulationScheduler` callback "
                f"(`Trainer(accumulate_grad_batches={trainer.config.accumulate_grad_batches})`). "
                f"Either remove `accumulate_grad_batches` from the Trainer or remove the callback."
            )
        return problems

    def on_train_start(self, trainer, pl_module) -> None:
        if not pl_module.automatic_optimization:  # fit() refused it up front (validate); a
            # direct call raises as Lightning's hook does
            raise RuntimeError(
                "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not "
                "supported for manual optimization. Please remove the callback or switch to "
                "automatic optimization."
            )
        overridden = any(
            getattr(type(pl_module), name) is not getattr(Module, name)
            for name in ("optimizer_step", "optimizer_zero_grad")
        )
        if overridden and self.going_to_accumulate_grad_batches():
            rank_zero_warn(
                "When using `Trainer(accumulate_grad_batches != 1)` and overriding "
                "`LightningModule.optimizer_{step,zero_grad}`, the hooks will not be called on "
                "every batch (rather, they are called on every optimization step)."
            )

    def on_train_epoch_start(self, trainer, *_: Any) -> None:
        trainer.accumulate_grad_batches = self.get_accumulate_grad_batches(trainer.current_epoch)
