"""``BasePredictionWriter``: write ``predict()``'s outputs per batch, per epoch, or both."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

import torch

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.utilities import move_data_to_device, rank_zero_warn


class WriteInterval(str, Enum):
    """When a :class:`BasePredictionWriter` writes (Lightning's enum of the same name)."""

    BATCH = "batch"
    EPOCH = "epoch"
    BATCH_AND_EPOCH = "batch_and_epoch"

    @property
    def on_batch(self) -> bool:
        return self in (WriteInterval.BATCH, WriteInterval.BATCH_AND_EPOCH)

    @property
    def on_epoch(self) -> bool:
        return self in (WriteInterval.EPOCH, WriteInterval.BATCH_AND_EPOCH)


class BasePredictionWriter(Callback):
    """Base class for writing predictions (as Lightning 2's): override ``write_on_batch_end``
    and/or ``write_on_epoch_end``.

    :param write_interval: ``"batch"`` calls ``write_on_batch_end(trainer, pl_module,
        prediction, batch_indices, batch, batch_idx, dataloader_idx)`` after each predict
        batch; ``"epoch"`` calls ``write_on_epoch_end(trainer, pl_module, predictions,
        batch_indices)`` once, after the last batch; ``"batch_and_epoch"`` both.

    ``batch_indices`` are the dataset indices of the batch's samples, read from the
    ``DataLoader``'s batch sampler (under DDP: this rank's share); ``[]`` when the loader has
    none. At the epoch end ``predictions`` are the predictions (on the CPU) of the one
    dataloader, or a list per dataloader; ``batch_indices`` is always a list per dataloader of
    the batches' indices. With ``trainer.predict(..., return_predictions=False)`` under DDP
    each rank writes its own share (name files by ``trainer.global_rank``).
    """

    def __init__(self, write_interval: str = "batch") -> None:
        choices = [i.value for i in WriteInterval]
        if write_interval not in choices:
            raise ConfigurationError(
                f"BasePredictionWriter(write_interval={write_interval!r}): `write_interval` "
                f"should be one of {choices}."
            )
        self.interval = WriteInterval(write_interval)
        self._recorders: list[_IndexRecorder | None] = []
        self._predictions: list[list[Any]] = []
        self._epoch_batch_indices: list[list[list[int]]] = []

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Override with the logic to write a single batch."""
        raise NotImplementedError()

    def write_on_epoch_end(
        self,
        trainer: Any,
        pl_module: Any,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Override with the logic to write all batches."""
        raise NotImplementedError()

    def on_predict_start(self, trainer, pl_module) -> None:
        loaders = trainer.predict_dataloaders
        loaders = loaders if isinstance(loaders, list) else [loaders]
        self._recorders = [_IndexRecorder.install(loader) for loader in loaders]
        if None in self._recorders:
            kinds = sorted({type(v).__name__ for v, r in zip(loaders, self._recorders) if not r})
            rank_zero_warn(
                f"Couldn't infer the batch indices fetched from your dataloader: "
                f"`{', '.join(kinds)}` (a `torch.utils.data.DataLoader` with a batch sampler "
                f"has them); `batch_indices` will be empty."
            )
        self._predictions = [[] for _ in loaders]
        self._epoch_batch_indices = [[] for _ in loaders]

    def on_predict_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        recorder = self._recorders[dataloader_idx] if self._recorders else None
        indices: list[int] = recorder.seen[batch_idx] if recorder is not None else []
        if self.interval.on_epoch:
            self._predictions[dataloader_idx].append(
                move_data_to_device(outputs, torch.device("cpu"))
            )
            if recorder is not None:
                self._epoch_batch_indices[dataloader_idx].append(indices)
        if self.interval.on_batch:
            self.write_on_batch_end(
                trainer, pl_module, outputs, indices, batch, batch_idx, dataloader_idx
            )

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        if not self.interval.on_epoch:
            return
        predictions = self._predictions
        self.write_on_epoch_end(
            trainer,
            pl_module,
            predictions[0] if len(predictions) == 1 else predictions,
            self._epoch_batch_indices,
        )

    def on_predict_end(self, trainer, pl_module) -> None:
        for recorder in self._recorders:
            if recorder is not None:
                recorder.uninstall()
        self._recorders, self._predictions, self._epoch_batch_indices = [], [], []

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.on_predict_end(trainer, pl_module)


class _IndexRecorder:
    """A ``DataLoader``'s batch sampler that records the index lists it hands out."""

    def __init__(self, loader: Any, batch_sampler: Any) -> None:
        self.loader, self.batch_sampler = loader, batch_sampler
        self.seen: list[list[int]] = []

    @classmethod
    def install(cls, loader: Any) -> _IndexRecorder | None:
        """Record ``loader``'s batches; None when it has no batch sampler to read them from, or
        when its dataset is iterable (its sampler then yields no indices: ``[None, ...]``)."""
        if not isinstance(loader, torch.utils.data.DataLoader) or loader.batch_sampler is None:
            return None
        if isinstance(loader.dataset, torch.utils.data.IterableDataset):
            return None  # as Lightning: no indices for an iterable dataset
        batch_sampler = loader.batch_sampler
        if isinstance(batch_sampler, _IndexRecorder):  # another writer installed one
            return batch_sampler
        recorder = cls(loader, batch_sampler)
        # DataLoader refuses a new batch_sampler through its __setattr__ once built; it reads
        # the attribute each time it starts iterating, so setting it directly is what it sees.
        object.__setattr__(loader, "batch_sampler", recorder)
        return recorder

    def uninstall(self) -> None:
        if self.loader.batch_sampler is self:
            object.__setattr__(self.loader, "batch_sampler", self.batch_sampler)

    def __iter__(self) -> Iterator[list[int]]:
        self.seen = []
        for indices in self.batch_sampler:
            self.seen.append(list(indices))
            yield indices

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name: str) -> Any:  # sampler, batch_size, drop_last
        return getattr(self.batch_sampler, name)
