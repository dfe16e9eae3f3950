"""``StochasticWeightAveraging``: average the weights of the last epochs (Izmailov et al., 2018).

As Lightning 2's callback of the same name: from ``swa_epoch_start`` on, the Module's weights
at each training epoch's start are averaged into a copy of the Module, the learning rate
follows ``torch.optim.swa_utils.SWALR`` (annealed to ``swa_lrs`` over ``annealing_epochs``,
replacing the Module's scheduler), and when training ends the Module gets the averaged weights.
A Module with BatchNorm layers then has their statistics recomputed with the averaged weights
in one pass over the training data (Lightning runs that pass as an extra epoch; here it runs
in ``on_train_end``: ``training_step`` on each training batch, without gradients, with
``self.log`` silenced).

The average, its count and the SWALR state are saved in checkpoints, so a resumed run goes on
averaging where it stopped.
"""

from __future__ import annotations

import weakref
from copy import deepcopy
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import SWALR

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.utilities import move_data_to_device, rank_zero_info, rank_zero_warn

AvgFn = Callable[[Tensor, Tensor, Tensor], Tensor]
_CPU = torch.device("cpu")
_ERR_START = "swa_epoch_start should be a >0 integer or a float between 0 and 1."


class StochasticWeightAveraging(Callback):
    """Stochastic Weight Averaging (as Lightning 2's ``StochasticWeightAveraging``).

    :param swa_lrs: the SWA learning rate, for every parameter group (a float) or one per
        group (a list of floats).
    :param swa_epoch_start: the epoch (counted from 1) averaging starts at (an int), or that
        share of ``max_epochs`` (a float in [0, 1]: ``int(swa_epoch_start * max_epochs)``).
    :param annealing_epochs: epochs over which the learning rate anneals to ``swa_lrs``.
    :param annealing_strategy: ``"cos"`` or ``"linear"``.
    :param avg_fn: ``(averaged_param, model_param, num_averaged) -> new averaged param``; None:
        the equally weighted average.
    :param device: where the averaged copy lives (``"cpu"``); None: the Module's device.

    One optimizer and at most one scheduler (which SWALR replaces from ``swa_epoch_start`` on);
    not with sharded strategies (DeepSpeed, FSDP).
    """

    def __init__(
        self,
        swa_lrs: float | list[float],
        swa_epoch_start: int | float = 0.8,
        annealing_epochs: int = 10,
        annealing_strategy: str = "cos",
        avg_fn: AvgFn | None = None,
        device: torch.device | str | None = _CPU,
    ) -> None:
        if isinstance(swa_epoch_start, int) and swa_epoch_start < 1:
            raise ConfigurationError(f"StochasticWeightAveraging: {_ERR_START}")
        if isinstance(swa_epoch_start, float) and not (0 <= swa_epoch_start <= 1):
            raise ConfigurationError(f"StochasticWeightAveraging: {_ERR_START}")
        wrong_type = not isinstance(swa_lrs, (float, list))
        wrong_float = isinstance(swa_lrs, float) and swa_lrs <= 0
        wrong_list = isinstance(swa_lrs, list) and not all(
            isinstance(lr, float) and lr > 0 for lr in swa_lrs
        )
        if wrong_type or wrong_float or wrong_list:
            raise ConfigurationError(
                f"StochasticWeightAveraging(swa_lrs={swa_lrs!r}): The `swa_lrs` should a "
                f"positive float, or a list of positive floats"
            )
        if annealing_strategy not in ("cos", "linear"):
            raise ConfigurationError(
                f"StochasticWeightAveraging(annealing_strategy={annealing_strategy!r}): "
                f"choose 'cos' or 'linear'."
            )
        if avg_fn is not None and not callable(avg_fn):
            raise ConfigurationError("StochasticWeightAveraging: The `avg_fn` should be callable.")
        if device is not None and not isinstance(device, (torch.device, str)):
            raise ConfigurationError(
                f"StochasticWeightAveraging: device is expected to be a torch.device or a str. "
                f"Found {device}"
            )
        self.n_averaged: Tensor | None = None
        self._swa_epoch_start = swa_epoch_start
        self._swa_lrs = swa_lrs
        self._annealing_epochs = annealing_epochs
        self._annealing_strategy = annealing_strategy
        self._avg_fn = avg_fn or self.avg_fn
        self._device = device
        self._model_contains_batch_norm: bool | None = None
        self._average_model: nn.Module | None = None
        self._initialized = False
        self._swa_scheduler: Any = None
        self._scheduler_state: dict[str, Any] | None = None
        self._init_n_averaged = 0
        self._latest_update_epoch = -1
        self.momenta: dict[nn.modules.batchnorm._BatchNorm, float | None] = {}
        self._max_epochs: int = -1
        self._trainer: Any = None  # a weak reference, set in setup (see load_state_dict)

    @property
    def swa_start(self) -> int:
        assert isinstance(self._swa_epoch_start, int)
        return max(self._swa_epoch_start - 1, 0)  # counted from 0

    @property
    def swa_end(self) -> int:
        if self._max_epochs == -1:
            return float("inf")  # type: ignore[return-value]
        return self._max_epochs - 1  # counted from 0

    @staticmethod
    def pl_module_contains_batch_norm(pl_module: Any) -> bool:
        return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in pl_module.modules())

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.strategy.name.startswith(("deepspeed", "fsdp")):
            raise ConfigurationError(
                f"StochasticWeightAveraging: SWA does not currently support sharded models "
                f"(strategy={trainer.strategy.name!r}). Use strategy='ddp' or remove the callback."
            )
        self._trainer = weakref.ref(trainer)
        # the copy to average into, made before the Module moves to its device (the copy's
        # `trainer` is None: the memo stands in for the Trainer the Module refers to)
        self._average_model = deepcopy(pl_module, {id(trainer): None})

    def validate(self, trainer, module) -> list[str]:
        """Before anything runs: what Lightning refuses when ``fit()`` starts."""
        problems = []
        if len(trainer.optimizers) != 1:
            problems.append(
                f"StochasticWeightAveraging: SWA currently works with 1 `optimizer` "
                f"(configure_optimizers returned {len(trainer.optimizers)})."
            )
        if len(trainer.lr_scheduler_configs) > 1:
            problems.append(
                "StochasticWeightAveraging: SWA currently not supported for more than 1 "
                "`lr_scheduler`."
            )
        if isinstance(self._swa_epoch_start, float) and trainer.max_epochs == -1:
            problems.append(
                "SWA with `swa_epoch_start` as a float is not supported when `max_epochs=-1`. "
                "Please provide `swa_epoch_start` as an integer."
            )
        return problems

    def on_fit_start(self, trainer, pl_module) -> None:
        if isinstance(self._swa_epoch_start, float):
            self._swa_epoch_start = int(trainer.max_epochs * self._swa_epoch_start)
        self._model_contains_batch_norm = self.pl_module_contains_batch_norm(pl_module)
        self._max_epochs = trainer.max_epochs
        if self._scheduler_state is not None:
            self._clear_schedulers(trainer)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if not self._initialized and self.swa_start <= epoch <= self.swa_end:
            self._initialized = True
            assert self._average_model is not None
            self._average_model = self._average_model.to(self._device or pl_module.device)
            optimizer = _unwrapped(trainer.optimizers[0])
            if isinstance(self._swa_lrs, float):
                self._swa_lrs = [self._swa_lrs] * len(optimizer.param_groups)
            for lr, group in zip(self._swa_lrs, optimizer.param_groups):
                group["initial_lr"] = lr
            self._swa_scheduler = SWALR(
                optimizer,
                swa_lr=self._swa_lrs,  # type: ignore[arg-type]  # one per group: accepted
                anneal_epochs=self._annealing_epochs,
                anneal_strategy=self._annealing_strategy,  # type: ignore[arg-type]
                last_epoch=trainer.max_epochs if self._annealing_strategy == "cos" else -1,
            )
            if self._scheduler_state is not None:  # resumed: where the saved run left it
                self._swa_scheduler.load_state_dict(self._scheduler_state)
            elif epoch != self.swa_start:
                rank_zero_warn(
                    "SWA is initializing after swa_start without any checkpoint data. "
                    "This may be caused by loading a checkpoint from an older version of "
                    "PyTorch Lightning."
                )
            config = _scheduler_config(self._swa_scheduler)
            if trainer.lr_scheduler_configs:
                current = trainer.lr_scheduler_configs[0]
                if current.interval != "epoch" or current.frequency != 1:
                    rank_zero_warn(f"SWA is currently only supported every epoch. Found {current}")
                rank_zero_info(
                    f"Swapping scheduler `{type(current.scheduler).__name__}` for "
                    f"`{type(self._swa_scheduler).__name__}`"
                )
                trainer.lr_scheduler_configs[0] = config
            else:
                trainer.lr_scheduler_configs.append(config)
            if self.n_averaged is None:
                self.n_averaged = torch.tensor(
                    self._init_n_averaged, dtype=torch.long, device=pl_module.device
                )
        if self.swa_start <= epoch <= self.swa_end and epoch > self._latest_update_epoch:
            assert self.n_averaged is not None and self._average_model is not None
            self.update_parameters(self._average_model, pl_module, self.n_averaged, self._avg_fn)
            self._latest_update_epoch = epoch

    def on_train_end(self, trainer, pl_module) -> None:
        # the epoch counter has moved past the last epoch: it is max_epochs when all ran
        finished = trainer.current_epoch - 1 == self.swa_end or self._max_epochs == -1
        if not finished or self._average_model is None or not self._initialized:
            return
        self.transfer_weights(self._average_model, pl_module)
        if self._model_contains_batch_norm and self._max_epochs != -1:
            self.reset_batch_norm_and_save_state(pl_module)
            try:
                self._update_batch_norm(trainer, pl_module)
            finally:
                self.reset_momenta()

    def _update_batch_norm(self, trainer, pl_module) -> None:
        """One pass over the training batches in training mode, without gradients: the
        BatchNorm layers (momentum None: a cumulative average) collect the statistics of the
        averaged weights."""
        loader = trainer.train_dataloader
        limit = trainer.num_training_batches
        was_training = pl_module.training
        pl_module.train()
        # the pass is not a training step: nothing it would log is recorded
        pl_module.log = pl_module.log_dict = _silenced
        try:
            with torch.no_grad():
                for batch_idx, batch in enumerate(loader):
                    if batch_idx >= limit:
                        break
                    batch = move_data_to_device(batch, pl_module.device)
                    pl_module.training_step(batch, batch_idx)
        finally:
            del pl_module.log, pl_module.log_dict
            pl_module.train(was_training)

    @staticmethod
    def transfer_weights(src_pl_module: nn.Module, dst_pl_module: nn.Module) -> None:
        for src_param, dst_param in zip(src_pl_module.parameters(), dst_pl_module.parameters()):
            dst_param.detach().copy_(src_param.to(dst_param.device))

    def reset_batch_norm_and_save_state(self, pl_module: nn.Module) -> None:
        """Zero the BatchNorm statistics and set momentum None (a cumulative average), keeping
        each layer's momentum to restore (as ``torch.optim.swa_utils.update_bn``)."""
        self.momenta = {}
        for module in pl_module.modules():
            if not isinstance(module, nn.modules.batchnorm._BatchNorm):
                continue
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean = torch.zeros_like(module.running_mean)
            module.running_var = torch.ones_like(module.running_var)
            self.momenta[module] = module.momentum
            module.momentum = None
            assert module.num_batches_tracked is not None
            module.num_batches_tracked *= 0

    def reset_momenta(self) -> None:
        for bn_module, momentum in self.momenta.items():
            bn_module.momentum = momentum

    @staticmethod
    def update_parameters(
        average_model: nn.Module, model: nn.Module, n_averaged: Tensor, avg_fn: AvgFn
    ) -> None:
        for p_swa, p_model in zip(average_model.parameters(), model.parameters()):
            device = p_swa.device
            p_swa_ = p_swa.detach()
            p_model_ = p_model.detach().to(device)
            src = p_model_ if n_averaged == 0 else avg_fn(p_swa_, p_model_, n_averaged.to(device))
            p_swa_.copy_(src)
        n_averaged += 1

    @staticmethod
    def avg_fn(
        averaged_model_parameter: Tensor, model_parameter: Tensor, num_averaged: Tensor
    ) -> Tensor:
        """The equally weighted running average."""
        return averaged_model_parameter + (model_parameter - averaged_model_parameter) / (
            num_averaged + 1
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_averaged": 0 if self.n_averaged is None else self.n_averaged.item(),
            "latest_update_epoch": self._latest_update_epoch,
            "scheduler_state": None
            if self._swa_scheduler is None
            else self._swa_scheduler.state_dict(),
            "average_model_state": None
            if self._average_model is None
            else self._average_model.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._init_n_averaged = state_dict["n_averaged"]
        self._latest_update_epoch = state_dict["latest_update_epoch"]
        self._scheduler_state = state_dict["scheduler_state"]
        if self._average_model is not None and state_dict["average_model_state"] is not None:
            self._average_model.load_state_dict(state_dict["average_model_state"])
        # treadle loads the schedulers' state right after the callbacks': the saved one is
        # SWALR's, which SWA rebuilds at the epoch start, so the Module's scheduler leaves now
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None and self._scheduler_state is not None:
            self._clear_schedulers(trainer)

    @staticmethod
    def _clear_schedulers(trainer) -> None:
        if trainer.lr_scheduler_configs:
            assert len(trainer.lr_scheduler_configs) == 1
            trainer.lr_scheduler_configs.clear()


def _silenced(*args: Any, **kwargs: Any) -> None:
    return None


def _unwrapped(optimizer: Any) -> Any:
    """The user's optimizer (``trainer.optimizers`` holds treadle's proxies of them)."""
    return getattr(optimizer, "optimizer", optimizer)


def _scheduler_config(scheduler: Any) -> Any:
    from treadle._optim_config import SchedulerConfig

    return SchedulerConfig(scheduler)
