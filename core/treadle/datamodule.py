"""``treadle.DataModule``: Lightning's ``LightningDataModule``, the data side of a run in one class.

Pass one to ``trainer.fit/validate/test/predict(model, datamodule=dm)``. Per entry point the
Trainer calls, in Lightning's order:

1. ``prepare_data()`` -- download, tokenize, write to disk. Once per node on local rank 0
   (``prepare_data_per_node = False``: once in the whole job, on global rank 0); the
   Module's own ``prepare_data()`` follows. Do not set state here: other ranks do not run it.
2. ``setup(stage)`` -- on every rank, before the callbacks' and the Module's ``setup``;
   ``stage`` is ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
3. the loaders: ``train_dataloader()`` and ``val_dataloader()`` for ``fit``,
   ``val_dataloader()`` for ``validate``, ``test_dataloader()``, ``predict_dataloader()``. Those
   this class does not override come from the Module, as in Lightning.
4. ``teardown(stage)`` -- when the entry point ends, before the callbacks' and the Module's.

``on_before_batch_transfer``, ``transfer_batch_to_device`` and ``on_after_batch_transfer``
overridden here replace the Module's. ``state_dict()`` goes into checkpoints under the
class's qualified name and comes back through ``load_state_dict`` when a run resumes.
"""

from __future__ import annotations

import inspect
from typing import Any

from treadle.errors import ConfigurationError
from treadle.utilities import move_data_to_device

TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")


class DataModule:
    """Base class for the data of a run, as ``lightning.LightningDataModule``.

    :cvar prepare_data_per_node: True (default): ``prepare_data`` runs on local rank 0 of each
        node; False: only on global rank 0 (a shared file system).
    """

    prepare_data_per_node: bool = True
    # Lightning's checkpoint keys of the hyper-parameters (``checkpoint[cls.CHECKPOINT_...]``).
    CHECKPOINT_HYPER_PARAMS_KEY = "datamodule_hyper_parameters"
    name: str | None = None  # Lightning's: a label for the DataModule, unused by the loop
    CHECKPOINT_HYPER_PARAMS_NAME = "datamodule_hparams_name"

    def __init__(self) -> None:
        self.trainer: Any = None  # the Trainer running this DataModule, once one does

    # -- the hooks (override what you need) ------------------------------------------------

    def prepare_data(self) -> None:
        """Download and prepare the data; runs on one process per node (see the class)."""

    def setup(self, stage: str) -> None:
        """Build the datasets for ``stage`` (``"fit"``, ``"validate"``, ``"test"``,
        ``"predict"``); runs on every process."""

    def teardown(self, stage: str) -> None:
        """Clean up after ``stage``; runs on every process."""

    def on_exception(self, exception: BaseException) -> None:
        """Called when ``fit``/``validate``/``test``/``predict`` raises, after the callbacks'
        ``on_exception`` (the exception is re-raised after)."""

    def train_dataloader(self) -> Any:
        raise _not_implemented("train_dataloader")

    def val_dataloader(self) -> Any:
        raise _not_implemented("val_dataloader")

    def test_dataloader(self) -> Any:
        raise _not_implemented("test_dataloader")

    def predict_dataloader(self) -> Any:
        raise _not_implemented("predict_dataloader")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return batch

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        return move_data_to_device(batch, device)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return batch

    def state_dict(self) -> dict[str, Any]:
        """State to save in checkpoints (plain values and tensors); empty: nothing is saved."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, when a run resumes from a checkpoint."""

    # -- hyper-parameters (as the Module's) ------------------------------------------------

    def save_hyperparameters(
        self, *args: Any, ignore: Any = None, frame: Any = None, logger: bool = True
    ) -> None:
        """Record ``__init__``'s arguments in :attr:`hparams`, as ``Module.save_hyperparameters``."""
        from treadle import _hparams

        if frame is None:
            frame = inspect.currentframe().f_back  # type: ignore[union-attr]  # CPython has frames
        _hparams.save_hyperparameters(self, args, ignore, frame, logger)

    @property
    def hparams(self) -> Any:
        from treadle import _hparams

        return _hparams.hparams_of(self)

    @property
    def hparams_initial(self) -> Any:
        """A copy of the hyper-parameters as :meth:`save_hyperparameters` recorded them."""
        from treadle import _hparams

        return _hparams.hparams_initial_of(self)

    @classmethod
    def load_from_checkpoint(
        cls, checkpoint_path: Any, map_location: Any = None, hparams_file: Any = None, **kwargs: Any
    ) -> Any:
        """A new ``cls`` built from a checkpoint's DataModule hyper-parameters (Lightning's
        ``datamodule_hyper_parameters``), with its ``state_dict()`` loaded back; ``kwargs``
        override saved values, ``hparams_file`` replaces them, as ``Module.load_from_checkpoint``."""
        from treadle import _hparams

        return _hparams.load_from_checkpoint(
            cls,
            checkpoint_path,
            map_location=map_location,
            hparams_file=hparams_file,
            datamodule=True,
            **kwargs,
        )

    # -- a DataModule from datasets ----------------------------------------------------------

    @classmethod
    def from_datasets(
        cls,
        train_dataset: Any = None,
        val_dataset: Any = None,
        test_dataset: Any = None,
        predict_dataset: Any = None,
        batch_size: int = 1,
        num_workers: int = 0,
        **datamodule_kwargs: Any,
    ) -> DataModule:
        """A DataModule whose loaders wrap the given datasets (a dataset, or a list or dict of
        them for several loaders); the training loader shuffles, as in Lightning."""
        from torch.utils.data import DataLoader, IterableDataset

        def loaders(ds: Any, shuffle: bool) -> Any:
            def one(d: Any) -> DataLoader:
                return DataLoader(
                    d,
                    batch_size=batch_size,
                    num_workers=num_workers,
                    shuffle=shuffle and not isinstance(d, IterableDataset),
                    pin_memory=True,  # as Lightning's from_datasets
                )

            if isinstance(ds, dict):
                return {k: one(d) for k, d in ds.items()}
            if isinstance(ds, (list, tuple)):
                return [one(d) for d in ds]
            return one(ds)

        # as Lightning: batch_size and num_workers go to __init__ too when it takes them
        params = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        special = {"batch_size": batch_size, "num_workers": num_workers}
        special = {k: v for k, v in special.items() if takes_any or k in params}
        datamodule = cls(**datamodule_kwargs, **special)
        datasets = {
            "train_dataloader": (train_dataset, True),
            "val_dataloader": (val_dataset, False),
            "test_dataloader": (test_dataset, False),
            "predict_dataloader": (predict_dataset, False),
        }
        for method, (dataset, shuffle) in datasets.items():
            if dataset is not None:  # bound on the instance: it counts as overridden
                setattr(
                    datamodule,
                    method,
                    lambda dataset=dataset, shuffle=shuffle: loaders(dataset, shuffle),
                )
        return datamodule


def _not_implemented(hook: str) -> ConfigurationError:
    """Lightning's error for a loader hook a DataModule does not define (called directly: the
    Trainer asks only for the hooks a DataModule overrides)."""
    return ConfigurationError(
        f"`{hook}` must be implemented to be used with the Lightning Trainer "
        f"(define `{hook}` in the DataModule, or pass the loaders to the Trainer's method)."
    )


def overrides(datamodule: DataModule | None, name: str) -> bool:
    """``datamodule`` provides its own ``name`` (a subclass method or an instance attribute)."""
    if datamodule is None:
        return False
    if name in vars(datamodule):
        return vars(datamodule)[name] is not None
    return getattr(type(datamodule), name, None) is not getattr(DataModule, name)
