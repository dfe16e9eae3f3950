"""Lightning's ``LayerSync`` and ``TorchSyncBatchNorm``.

``Trainer(sync_batchnorm=True)`` (or ``plugins=[TorchSyncBatchNorm()]``, or a ``LayerSync`` of
your own) applies one to the Module when ``fit()`` runs on several processes, before the
strategy wraps it, and reverts it when ``fit()`` ends, as Lightning's DDP and FSDP strategies
do; a one-process run leaves the layers as they are (as Lightning's single-device strategy).
Both work on a model by hand too."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class LayerSync(ABC):
    """Turns a model's layers into synchronized ones and back."""

    @abstractmethod
    def apply(self, model: nn.Module) -> nn.Module:
        """The model with its layers synchronized across processes."""

    @abstractmethod
    def revert(self, model: nn.Module) -> nn.Module:
        """The model with the synchronized layers turned back."""


class TorchSyncBatchNorm(LayerSync):
    """``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` and its reverse."""

    def apply(self, model: nn.Module) -> nn.Module:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def revert(self, model: nn.Module) -> nn.Module:
        converted = model
        if isinstance(model, nn.SyncBatchNorm):
            converted = _BatchNormXd(
                model.num_features,
                model.eps,
                model.momentum,
                model.affine,
                model.track_running_stats,
            )
            if model.affine:
                with torch.no_grad():
                    converted.weight = model.weight
                    converted.bias = model.bias
            converted.running_mean = model.running_mean
            converted.running_var = model.running_var
            converted.num_batches_tracked = model.num_batches_tracked
        for name, child in model.named_children():
            converted.add_module(name, self.revert(child))
        return converted


class _BatchNormXd(nn.modules.batchnorm._BatchNorm):
    """A batch norm of any input rank (what a ``SyncBatchNorm`` turns back into)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        return


__all__ = ["LayerSync", "TorchSyncBatchNorm"]
