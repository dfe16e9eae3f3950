"""Lightning's ``core.hooks``, ``core.mixins`` and ``core.saving`` names, loaded on first use.

``treadle.core.hooks`` (``ModelHooks``, ``DataHooks``, ``CheckpointHooks``), ``treadle.core.mixins``
(``HyperparametersMixin``) and ``treadle.core.saving`` (``load_hparams_from_yaml``,
``save_hparams_to_yaml``) are this module (``_lightning_paths.LAZY``); ``import treadle`` does
not load it.

The hook classes hold ``treadle.Module``'s own default hooks (the same functions), so
``is_overridden(name, obj, parent=ModelHooks)`` compares as in Lightning, and ``Module`` (and
``DataModule`` for ``DataHooks``) count as their subclasses in ``isinstance``/``issubclass``
(registered as virtual subclasses: ``Module`` does not inherit from them).
"""

from __future__ import annotations

import inspect
import os
from abc import ABCMeta
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from treadle import _hparams
from treadle.datamodule import DataModule
from treadle.module import Module
from treadle.utilities import rank_zero_warn

__all__ = [
    "CheckpointHooks",
    "DataHooks",
    "HyperparametersMixin",
    "ModelHooks",
    "load_hparams_from_yaml",
    "save_hparams_to_yaml",
]

# Lightning 2.6.6's hooks of each class (``lightning.pytorch.core.hooks``).
MODEL_HOOKS = (
    "on_fit_start",
    "on_fit_end",
    "on_train_start",
    "on_train_end",
    "on_validation_start",
    "on_validation_end",
    "on_test_start",
    "on_test_end",
    "on_predict_start",
    "on_predict_end",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
    "on_validation_model_zero_grad",
    "on_validation_model_eval",
    "on_validation_model_train",
    "on_test_model_eval",
    "on_test_model_train",
    "on_predict_model_eval",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_test_epoch_start",
    "on_test_epoch_end",
    "on_predict_epoch_start",
    "on_predict_epoch_end",
    "on_before_zero_grad",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "configure_model",
)
DATA_HOOKS = (
    "prepare_data",
    "setup",
    "teardown",
    "train_dataloader",
    "test_dataloader",
    "val_dataloader",
    "predict_dataloader",
    "transfer_batch_to_device",
    "on_before_batch_transfer",
    "on_after_batch_transfer",
)
CHECKPOINT_HOOKS = ("on_load_checkpoint", "on_save_checkpoint")


class ModelHooks(metaclass=ABCMeta):  # noqa: B024 (no abstract methods: an ABC for register())
    """The hooks of a model (Lightning's ``ModelHooks``): ``treadle.Module``'s defaults."""

    def configure_sharded_model(self) -> None:  # noqa: B027 (a hook: empty by default)
        """Lightning's former name of ``configure_model``; does nothing."""


class DataHooks(metaclass=ABCMeta):  # noqa: B024 (no abstract methods: an ABC for register())
    """The data hooks shared by models and datamodules (Lightning's ``DataHooks``)."""

    def __init__(self) -> None:
        super().__init__()
        self.prepare_data_per_node = True
        self.allow_zero_length_dataloader_with_multiple_devices = False


class CheckpointHooks(metaclass=ABCMeta):  # noqa: B024 (no abstract methods: an ABC for register())
    """``on_save_checkpoint`` / ``on_load_checkpoint`` (Lightning's ``CheckpointHooks``)."""


class HyperparametersMixin(metaclass=ABCMeta):  # noqa: B024 (an ABC for register())
    """``save_hyperparameters``, ``hparams`` and ``hparams_initial`` for any class (Lightning's
    ``HyperparametersMixin``), with ``Module``'s rules: see ``Module.save_hyperparameters``."""

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]

    def __init__(self) -> None:
        super().__init__()
        self._log_hyperparams = False

    def save_hyperparameters(
        self, *args: Any, ignore: Any = None, frame: Any = None, logger: bool = True
    ) -> None:
        """Record ``__init__``'s arguments in :attr:`hparams`, as ``Module.save_hyperparameters``."""
        if frame is None:
            frame = inspect.currentframe().f_back  # type: ignore[union-attr]  # CPython has frames
        _hparams.save_hyperparameters(self, args, ignore, frame, logger)

    @property
    def hparams(self) -> _hparams.AttributeDict:
        """The saved hyper-parameters, changeable; ``hparams.lr`` is ``hparams["lr"]``."""
        return _hparams.hparams_of(self)

    @property
    def hparams_initial(self) -> _hparams.AttributeDict:
        """A copy of the hyper-parameters as :meth:`save_hyperparameters` recorded them."""
        return _hparams.hparams_initial_of(self)


for _cls, _names in (
    (ModelHooks, MODEL_HOOKS),
    (DataHooks, DATA_HOOKS),
    (CheckpointHooks, CHECKPOINT_HOOKS),
):
    for _name in _names:  # the same functions as Module's defaults
        setattr(_cls, _name, inspect.getattr_static(Module, _name))
for _base in (ModelHooks, DataHooks, CheckpointHooks, HyperparametersMixin):
    _base.register(Module)
DataHooks.register(DataModule)
HyperparametersMixin.register(DataModule)


# -- core.saving --------------------------------------------------------------------------------


def _yaml_loader() -> Any:
    """PyYAML's safe loader, which also reads ``!!python/tuple`` (Lightning writes tuples so)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "tag:yaml.org,2002:python/tuple",
        lambda loader, node: tuple(loader.construct_sequence(node)),
    )
    return Loader


def load_hparams_from_yaml(config_yaml: Any, use_omegaconf: bool = True) -> dict[str, Any]:
    """The hyper-parameters in a YAML file (``hparams.yaml`` of a logger's folder, or one
    ``save_hparams_to_yaml`` wrote); ``{}`` with a ``RuntimeWarning`` when the file is missing.

    Read with YAML's safe loader (plus tuples): no Python object is built from the file.
    ``use_omegaconf`` is accepted for Lightning's signature; the result is always a plain dict.
    """
    import yaml

    if not os.path.isfile(config_yaml):
        rank_zero_warn(f"Missing Tags: {config_yaml}.", category=RuntimeWarning)
        return {}
    with open(config_yaml) as f:
        try:
            hparams = yaml.load(f, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as exc:
            raise ValueError(
                f"load_hparams_from_yaml({str(config_yaml)!r}): not plain YAML ({exc}). treadle "
                f"reads YAML without Python tags (tuples aside): write it with "
                f"save_hparams_to_yaml, or replace the tagged values with plain ones."
            ) from exc
    return hparams if hparams is not None else {}


def save_hparams_to_yaml(
    config_yaml: Any, hparams: Mapping[str, Any] | Namespace, use_omegaconf: bool = True
) -> None:
    """Write ``hparams`` (a dict, ``AttributeDict`` or ``Namespace``) to ``config_yaml``.

    The folder must exist (else ``RuntimeError``, as Lightning). Written as plain YAML that
    ``yaml.safe_load`` reads back: enums as their names, tensors as numbers or lists, tuples as
    lists, anything else YAML cannot hold as its ``str``; a value ``yaml.dump`` cannot write at
    all (a ``torch.dtype``) is left out with Lightning's warning "Skipping '<key>' parameter
    ...". ``use_omegaconf`` is accepted for Lightning's signature and changes nothing.
    """
    from treadle.loggers import save_hparams_to_yaml as save

    folder = os.path.dirname(config_yaml)
    if folder and not os.path.isdir(folder):
        raise RuntimeError(f"Missing folder: {folder}.")
    if not isinstance(hparams, (Mapping, Namespace)):
        raise TypeError(
            f"save_hparams_to_yaml: hparams must be a dict or Namespace, got "
            f"{type(hparams).__name__}."
        )
    save(config_yaml, hparams)
