"""Lightning's configuration checks and data warnings, as treadle gives them (lprog9: the
programs t_config_validator and t_data_connector). Ported from
tests/tests_pytorch/trainer/test_config_validator.py and
tests/tests_pytorch/trainer/connectors/test_data_connector.py."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch.utils.data import DataLoader

import treadle
from treadle import Trainer
from treadle.demos.boring_classes import BoringDataModule, BoringModel, RandomDataset
from treadle.utilities import PossibleUserWarning


def trainer(tmp_path, **kwargs) -> Trainer:
    kwargs.setdefault("fast_dev_run", 1)
    return Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, **kwargs)


@pytest.mark.parametrize("name", ["training_step", "configure_optimizers"])
def test_fit_needs_training_step_and_configure_optimizers(tmp_path, name) -> None:
    """Ported from test_config_validator.py::test_wrong_train_setting/_configure_optimizers."""
    model = BoringModel()
    setattr(model, name, None)
    with pytest.raises(
        treadle.ConfigurationError, match=re.escape(f"No `{name}()` method defined.")
    ):
        trainer(tmp_path).fit(model)


def test_fit_warns_when_validation_has_a_step_or_a_loader_only(tmp_path) -> None:
    """Ported from test_config_validator.py::test_fit_val_loop_config."""
    model = BoringModel()
    model.validation_step = None
    with pytest.warns(UserWarning, match="You passed in a `val_dataloader` but have no"):
        trainer(tmp_path).fit(model)
    model = BoringModel()
    model.val_dataloader = None
    with pytest.warns(PossibleUserWarning, match="You defined a `validation_step` but have no"):
        trainer(tmp_path).fit(model)


def test_evaluation_needs_its_step(tmp_path) -> None:
    """Ported from test_config_validator.py::test_eval_loop_config."""
    for fn, step in (("validate", "validation_step"), ("test", "test_step")):
        model = BoringModel()
        setattr(model, step, None)
        match = re.escape(f"No `{step}()` method defined to run `Trainer.{fn}`")
        with pytest.raises(treadle.ConfigurationError, match=match):
            getattr(trainer(tmp_path), fn)(model)
    model = BoringModel()
    model.predict_step = None
    with pytest.raises(treadle.ConfigurationError, match="`predict_step` cannot be None"):
        trainer(tmp_path).predict(model)
    model = BoringModel()
    model.forward = None
    with pytest.raises(treadle.ConfigurationError, match="requires `forward` method to run"):
        trainer(tmp_path).predict(model)


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("training_epoch_end", "fit"),
        ("validation_epoch_end", "validate"),
        ("test_epoch_end", "test"),
    ],
)
def test_lightning_1_epoch_end_hooks_are_refused(tmp_path, name, fn) -> None:
    """Ported from test_config_validator.py::test_legacy_epoch_end_hooks."""
    model = type("Legacy", (BoringModel,), {name: lambda self, outputs: None})()
    with pytest.raises(NotImplementedError, match=f"{name}` has been removed in v2.0"):
        getattr(trainer(tmp_path), fn)(model)


def test_manual_optimization_refusals_hold_lightnings_words(tmp_path) -> None:
    """Ported from test_config_validator.py::test_trainer_manual_optimization_config."""
    model = BoringModel()
    model.automatic_optimization = False
    with pytest.raises(treadle.ConfigurationError, match="Automatic gradient clipping is not"):
        trainer(tmp_path, gradient_clip_val=1.0).fit(model)
    with pytest.raises(treadle.ConfigurationError, match="Automatic gradient accumulation is not"):
        trainer(tmp_path, accumulate_grad_batches=2).fit(model)


def test_spawned_workers_without_persistent_workers_warn(tmp_path) -> None:
    """Ported from test_data_connector.py::test_dataloader_warnings (one process)."""
    loader = DataLoader(RandomDataset(32, 4), num_workers=1, multiprocessing_context="spawn")
    with pytest.warns(UserWarning, match="Consider setting `persistent_workers=True` in 'train_"):
        trainer(tmp_path).fit(BoringModel(), loader)


@pytest.mark.parametrize("fn", ["fit", "validate"])
def test_a_fraction_leaving_no_batch_is_refused(tmp_path, fn) -> None:
    """Ported from test_data_connector.py::test_error_raised_with_float_limited_eval_batches and
    test_error_raised_with_insufficient_float_limit_train_dataloader."""
    prefix = "train" if fn == "fit" else "val"
    t = trainer(tmp_path, fast_dev_run=False, **{f"limit_{prefix}_batches": 0.01})
    match = re.escape(f"0.01 * 64 < 1. Please increase the `limit_{prefix}_batches`")
    with pytest.raises(treadle.ConfigurationError, match=match):
        getattr(t, fn)(BoringModel())


def test_shuffled_evaluation_loader_warns(tmp_path) -> None:
    """Ported from test_data_connector.py::test_non_sequential_sampler_warning_is_raised_..."""
    shuffled = DataLoader(RandomDataset(32, 4), shuffle=True)
    with pytest.warns(PossibleUserWarning, match="turn shuffling off for val/test"):
        trainer(tmp_path).validate(BoringModel(), shuffled)
    ordered = DataLoader(RandomDataset(32, 4), sampler=list(range(4)))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer(tmp_path).validate(BoringModel(), ordered)
    assert not [w for w in record if "turn shuffling off" in str(w.message)]


def test_transfer_hook_owner_warnings(tmp_path) -> None:
    """Ported from test_data_connector.py::TestDataHookSelector."""
    model, dm = BoringModel(), BoringDataModule()
    model.transfer_batch_to_device = lambda batch, *args: batch
    with pytest.warns(UserWarning, match="`transfer_batch_to_device` in `LightningModule` but"):
        trainer(tmp_path).fit(model, datamodule=dm)
    dm.transfer_batch_to_device = lambda batch, *args: batch
    with pytest.warns(UserWarning, match="`transfer_batch_to_device` in both"):
        trainer(tmp_path).fit(model, datamodule=dm)


def test_train_dataloader_is_set_in_on_train_start(tmp_path) -> None:
    """As Lightning's fit loop sets its data up before ``on_train_start``."""
    seen = []

    class Model(BoringModel):
        def on_train_start(self):
            seen.append(self.trainer.train_dataloader)

    loader = DataLoader(RandomDataset(32, 4))
    trainer(tmp_path).fit(Model(), loader)
    assert seen == [loader]
    assert isinstance(seen[0].dataset[0], torch.Tensor)
