"""Behaviour Lightning's ``tests/tests_pytorch/trainer/test_trainer.py`` relies on (ported,
Copyright The Lightning AI team, Apache-2.0), found by running that file as the programs
``t_trainer_1.py``/``t_trainer_2.py`` in ``tests/lightning_programs/programs/``."""

from __future__ import annotations

import logging
import os
import re

import pytest
import torch
from lightning_boring import BoringModel, quiet

import treadle


def test_a_missing_hparams_file_warns_and_gives_no_hyperparameters(tmp_path) -> None:
    # Ported from test_trainer.py::test_strict_model_load: under fast_dev_run the logger writes
    # no hparams.yaml, and Lightning's load_from_checkpoint warns "Missing Tags" and goes on
    model = BoringModel()
    model.c_d3 = torch.nn.Linear(10, 12)
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(model)
    path = tmp_path / "save_test.ckpt"
    trainer.save_checkpoint(path)
    missing = os.path.join(tmp_path, "lightning_logs", "version_0", "hparams.yaml")
    with (
        pytest.warns(UserWarning, match=re.escape(f"Missing Tags: {missing}.")),
        pytest.raises(RuntimeError, match="Unexpected key"),
    ):
        BoringModel.load_from_checkpoint(path, hparams_file=missing)
    with pytest.warns(UserWarning, match="the `hparams_file` does not exist"):
        loaded = BoringModel.load_from_checkpoint(path, hparams_file=missing, strict=False)
    assert torch.equal(loaded.layer.weight, model.layer.weight)


@pytest.mark.parametrize(
    "max_epochs, max_steps, name", [(-100, -1, "max_epochs"), (1, -2, "max_steps")]
)
def test_max_epochs_and_steps_below_minus_one_in_lightnings_words(
    max_epochs, max_steps, name
) -> None:
    # Ported from test_trainer.py::test_trainer_max_steps_and_epochs_validation
    from treadle.utilities.exceptions import MisconfigurationException

    bad = max_epochs if name == "max_epochs" else max_steps
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            f"`Trainer({name}={bad})`: `{name}` must be a non-negative integer or -1 (no "
            f"limit). You passed in {bad}."
        ),
    ):
        treadle.Trainer(max_epochs=max_epochs, max_steps=max_steps)


@pytest.mark.parametrize("fn", ["fit", "validate", "test", "predict"])
def test_a_model_that_is_not_a_module_in_lightnings_words(fn) -> None:
    # Ported from test_trainer.py::test_trainer_error_when_input_not_lightning_module
    with pytest.raises(TypeError, match="must be a `LightningModule`.*got `Linear"):
        getattr(treadle.Trainer(logger=False), fn)(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_no_model_and_none_fitted_in_lightnings_words(fn) -> None:
    # Ported from test_trainer.py::test_exception_when_lightning_module_is_not_set_on_trainer
    with pytest.raises(TypeError, match=rf"{fn}\(\)` requires a `LightningModule"):
        getattr(treadle.Trainer(logger=False), fn)()


def test_a_stop_before_min_epochs_says_so_once(tmp_path, caplog) -> None:
    # Ported from test_trainer.py::test_trainer_min_steps_and_min_epochs_not_reached
    class Model(BoringModel):
        calls = 0

        def training_step(self, batch, batch_idx):
            output = super().training_step(batch, batch_idx)
            output["loss"] = output["loss"] * 0.0
            self.log("loss", output["loss"])
            self.calls += 1
            assert self.trainer.should_stop is (self.current_epoch >= 2)
            return output

    model = Model()
    stop = treadle.callbacks.EarlyStopping(
        monitor="loss", patience=0, check_on_train_epoch_end=True
    )
    trainer = treadle.Trainer(
        **quiet(tmp_path, min_epochs=5, limit_val_batches=0, limit_train_batches=2),
        callbacks=[stop],
    )
    with caplog.at_level(logging.INFO, logger="treadle"):
        trainer.fit(model)
    message = "`min_epochs=5` or `min_steps=None` has not been met. Training will continue"
    assert sum(message in r.getMessage() for r in caplog.records) == 1
    assert model.calls == 5 * 2 and trainer.current_epoch == 5
