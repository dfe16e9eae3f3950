"""``BaseFinetuning`` and ``BackboneFinetuning``: freeze part of a model, unfreeze it later.

As Lightning 2's callbacks of the same names. ``freeze_before_training(pl_module)`` runs in
``setup``, before ``configure_optimizers``, so the optimizer can be built from the parameters
that still train; ``finetune_function(pl_module, epoch, optimizer)`` runs at each training
epoch's start, for each optimizer, and adds the unfrozen parameters as a new parameter group
(:meth:`BaseFinetuning.unfreeze_and_add_param_group`).

The parameter groups the callback has seen are saved in checkpoints by parameter name, and a
resumed run rebuilds them before the optimizer's state is loaded (the checkpoint's optimizer
state has the added groups, which a freshly configured optimizer lacks).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Generator, Iterable
from typing import Any, Callable, Union

import torch
from torch.nn import Module, ModuleDict
from torch.nn.modules.batchnorm import _BatchNorm

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.utilities import rank_zero_warn

log = logging.getLogger(__name__)

Modules = Union[Module, Iterable[Any]]  # a module, or an iterable of modules (nested)


def multiplicative(epoch: int) -> float:
    """``BackboneFinetuning``'s default ``lambda_func``: double the backbone's rate each epoch."""
    return 2.0


class BaseFinetuning(Callback):
    """Base class for finetuning callbacks: override ``freeze_before_training`` and
    ``finetune_function``.

    ``freeze_before_training(pl_module)`` is called in ``setup`` (before
    ``configure_optimizers``): freeze modules there. ``finetune_function(pl_module,
    current_epoch, optimizer)`` is called at every training epoch's start for each optimizer:
    unfreeze modules there and add their parameters to the optimizer in a new parameter group.
    Build the optimizer from the trainable parameters only, e.g.
    ``Adam(filter(lambda p: p.requires_grad, self.parameters()))``.
    """

    def __init__(self) -> None:
        # optimizer index -> its parameter groups, parameters by name
        self._internal_optimizer_metadata: dict[int, list[dict[str, Any]]] = {}
        self._restarting = False
        self._trainer: Any = None  # a weak reference, set in setup (see load_state_dict)

    def state_dict(self) -> dict[str, Any]:
        return {"internal_optimizer_metadata": self._internal_optimizer_metadata}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restarting = True
        # as Lightning: checkpoints older than its PR 11887 hold the mapping itself
        self._internal_optimizer_metadata = state_dict.get(
            "internal_optimizer_metadata", state_dict
        )
        # treadle restores the callbacks just before the optimizers' state: rebuild the
        # groups now, so that the saved optimizer state (with the added groups) fits.
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None and trainer.module is not None:
            self._restore_param_groups(trainer, trainer.module)

    def on_fit_start(self, trainer, pl_module) -> None:
        self._restore_param_groups(trainer, pl_module)

    def _restore_param_groups(self, trainer, pl_module) -> None:
        if not self._restarting:
            return
        if self._internal_optimizer_metadata:
            named_parameters = dict(pl_module.named_parameters())
            for opt_idx, optimizer in enumerate(trainer.optimizers):
                if opt_idx in self._internal_optimizer_metadata:
                    optimizer.param_groups = self._apply_mapping_to_param_groups(
                        self._internal_optimizer_metadata[opt_idx], named_parameters
                    )
        self._restarting = False

    @staticmethod
    def flatten_modules(modules: Modules) -> list[Module]:
        """The leaf modules of ``modules`` (a module or an iterable of them), and the parent
        modules that hold parameters themselves."""
        if isinstance(modules, ModuleDict):
            modules = modules.values()
        if isinstance(modules, Iterable):
            flat: list[Module] = []
            for m in modules:
                flat.extend(BaseFinetuning.flatten_modules(m))
            candidates: Iterable[Module] = flat
        else:
            candidates = modules.modules()
        return [m for m in candidates if not list(m.children()) or m._parameters]

    @staticmethod
    def filter_params(
        modules: Modules, train_bn: bool = True, requires_grad: bool = True
    ) -> Generator[torch.nn.Parameter, None, None]:
        """Yield the parameters of ``modules`` whose ``requires_grad`` equals ``requires_grad``
        (BatchNorm layers' only with ``train_bn``)."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and not train_bn:
                continue
            for param in mod.parameters(recurse=False):  # a parent's own: no duplicates
                if param.requires_grad == requires_grad:
                    yield param

    @staticmethod
    def make_trainable(modules: Modules) -> None:
        """Unfreeze the parameters of ``modules`` (BatchNorm layers track statistics again)."""
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm):
                module.track_running_stats = True
            for param in module.parameters(recurse=False):
                param.requires_grad = True

    @staticmethod
    def freeze_module(module: Module) -> None:
        """Freeze ``module``'s own parameters (a BatchNorm layer stops tracking statistics)."""
        if isinstance(module, _BatchNorm):
            module.track_running_stats = False
        for param in module.parameters(recurse=False):
            param.requires_grad = False

    @staticmethod
    def freeze(modules: Modules, train_bn: bool = True) -> None:
        """Freeze the parameters of ``modules``; with ``train_bn`` BatchNorm layers stay
        trainable."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and train_bn:
                BaseFinetuning.make_trainable(mod)
            else:
                BaseFinetuning.freeze_module(mod)

    @staticmethod
    def filter_on_optimizer(optimizer: Any, params: Iterable[Any]) -> list[Any]:
        """The parameters of ``params`` not already in one of ``optimizer``'s groups (as
        Lightning, "already in" compares values with ``torch.equal``); warns about the others."""
        out_params, removed_params = [], []
        for param in params:
            if not any(
                torch.equal(p, param) for group in optimizer.param_groups for p in group["params"]
            ):
                out_params.append(param)
            else:
                removed_params.append(param)
        if removed_params:
            rank_zero_warn(
                "The provided params to be frozen already exist within another group of this "
                "optimizer. Those parameters will be skipped.\n"
                "HINT: Did you init your optimizer in `configure_optimizer` as such:\n"
                f" {type(optimizer)}(filter(lambda p: p.requires_grad, self.parameters()), ...) ",
            )
        return out_params

    @staticmethod
    def unfreeze_and_add_param_group(
        modules: Modules,
        optimizer: Any,
        lr: float | None = None,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
    ) -> None:
        """Unfreeze ``modules`` and add their parameters to ``optimizer`` as a new group.

        :param lr: the group's learning rate; None: the first group's divided by
            ``initial_denom_lr``.
        :param train_bn: also train the BatchNorm layers' parameters.
        """
        BaseFinetuning.make_trainable(modules)
        params_lr = optimizer.param_groups[0]["lr"] if lr is None else float(lr)
        denom_lr = initial_denom_lr if lr is None else 1.0
        params = BaseFinetuning.filter_params(modules, train_bn=train_bn, requires_grad=True)
        kept = BaseFinetuning.filter_on_optimizer(optimizer, params)
        if kept:
            optimizer.add_param_group({"params": kept, "lr": params_lr / denom_lr})

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer = weakref.ref(trainer)
        self.freeze_before_training(pl_module)
        if trainer.strategy.name.startswith("deepspeed"):
            raise ConfigurationError(
                f"{type(self).__name__}: the finetuning callbacks do not support "
                f"strategy={trainer.strategy.name!r} (DeepSpeed builds its optimizer once; "
                f"parameter groups cannot be added later). Choose a different strategy or "
                f"remove the callback."
            )

    @staticmethod
    def _apply_mapping_to_param_groups(
        param_groups: list[dict[str, Any]], mapping: dict[Any, Any]
    ) -> list[dict[str, Any]]:
        output = []
        for g in param_groups:
            group_state = {k: v for k, v in g.items() if k != "params"}
            group_state["params"] = [mapping[p] for p in g["params"]]
            output.append(group_state)
        return output

    def _store(
        self,
        pl_module: Any,
        opt_idx: int,
        num_param_groups: int,
        current_param_groups: list[dict[str, Any]],
    ) -> None:
        mapping = {p: n for n, p in pl_module.named_parameters()}
        if opt_idx not in self._internal_optimizer_metadata:
            self._internal_optimizer_metadata[opt_idx] = self._apply_mapping_to_param_groups(
                current_param_groups, mapping
            )
        elif num_param_groups != len(current_param_groups):  # groups the user's code added
            self._internal_optimizer_metadata[opt_idx].extend(
                self._apply_mapping_to_param_groups(
                    current_param_groups[num_param_groups:], mapping
                )
            )

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        for opt_idx, optimizer in enumerate(trainer.optimizers):
            num_param_groups = len(optimizer.param_groups)
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
            self._store(pl_module, opt_idx, num_param_groups, optimizer.param_groups)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        """Override to add your unfreeze logic."""
        raise NotImplementedError

    def freeze_before_training(self, pl_module: Any) -> None:
        """Override to add your freeze logic."""
        raise NotImplementedError


class BackboneFinetuning(BaseFinetuning):
    """Train the Module's ``backbone`` from ``unfreeze_backbone_at_epoch`` on, with its own
    learning rate that grows each epoch (as Lightning 2's callback).

    :param unfreeze_backbone_at_epoch: the epoch whose start unfreezes the backbone.
    :param lambda_func: ``epoch -> factor`` applied to the backbone's rate each later epoch.
    :param backbone_initial_ratio_lr: the backbone's first rate, as a share of the first
        parameter group's.
    :param backbone_initial_lr: the backbone's first rate (instead of the ratio).
    :param should_align: cap the backbone's rate at the first group's.
    :param initial_denom_lr: passed to :meth:`unfreeze_and_add_param_group`.
    :param train_bn: train the backbone's BatchNorm layers (frozen before or not).
    :param verbose: log both learning rates at each epoch start, rounded to ``rounding``.
    """

    def __init__(
        self,
        unfreeze_backbone_at_epoch: int = 10,
        lambda_func: Callable[[int], float] = multiplicative,
        backbone_initial_ratio_lr: float = 10e-2,
        backbone_initial_lr: float | None = None,
        should_align: bool = True,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
        verbose: bool = False,
        rounding: int = 12,
    ) -> None:
        super().__init__()
        self.unfreeze_backbone_at_epoch = unfreeze_backbone_at_epoch
        self.lambda_func = lambda_func
        self.backbone_initial_ratio_lr = backbone_initial_ratio_lr
        self.backbone_initial_lr = backbone_initial_lr
        self.should_align = should_align
        self.initial_denom_lr = initial_denom_lr
        self.train_bn = train_bn
        self.verbose = verbose
        self.rounding = rounding
        self.previous_backbone_lr: float | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "internal_optimizer_metadata": self._internal_optimizer_metadata,
            "previous_backbone_lr": self.previous_backbone_lr,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.previous_backbone_lr = state_dict["previous_backbone_lr"]
        super().load_state_dict(state_dict)

    def setup(self, trainer, pl_module, stage: str) -> None:
        _check_backbone(pl_module)  # before freeze_before_training reads it
        super().setup(trainer, pl_module, stage)

    def on_fit_start(self, trainer, pl_module) -> None:
        _check_backbone(pl_module)
        super().on_fit_start(trainer, pl_module)

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(pl_module.backbone)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        if epoch == self.unfreeze_backbone_at_epoch:
            current_lr = optimizer.param_groups[0]["lr"]
            initial_backbone_lr = (
                self.backbone_initial_lr
                if self.backbone_initial_lr is not None
                else current_lr * self.backbone_initial_ratio_lr
            )
            self.previous_backbone_lr = initial_backbone_lr
            self.unfreeze_and_add_param_group(
                pl_module.backbone,
                optimizer,
                initial_backbone_lr,
                train_bn=self.train_bn,
                initial_denom_lr=self.initial_denom_lr,
            )
            if self.verbose:
                log.info(
                    f"Current lr: {round(current_lr, self.rounding)}, "
                    f"Backbone lr: {round(initial_backbone_lr, self.rounding)}"
                )
        elif epoch > self.unfreeze_backbone_at_epoch:
            assert self.previous_backbone_lr is not None  # set when the backbone was unfrozen
            current_lr = optimizer.param_groups[0]["lr"]
            next_lr = self.lambda_func(epoch + 1) * self.previous_backbone_lr
            if self.should_align and next_lr > current_lr:
                next_lr = current_lr
            optimizer.param_groups[-1]["lr"] = next_lr
            self.previous_backbone_lr = next_lr
            if self.verbose:
                log.info(
                    f"Current lr: {round(current_lr, self.rounding)}, "
                    f"Backbone lr: {round(next_lr, self.rounding)}"
                )


def _check_backbone(pl_module: Any) -> None:
    if not isinstance(getattr(pl_module, "backbone", None), Module):
        raise ConfigurationError(
            f"BackboneFinetuning: the Module ({type(pl_module).__name__}) should have a "
            f"nn.Module `backbone` attribute: the callback freezes it and unfreezes it at "
            f"`unfreeze_backbone_at_epoch`. Name the part to finetune `self.backbone`, or "
            f"subclass `BaseFinetuning` to choose it yourself."
        )
