"""Behaviour Lightning's ``tests/tests_pytorch/trainer/test_trainer.py`` relies on (ported,
Copyright The Lightning AI team, Apache-2.0), found by running that file as the programs
``t_trainer_1.py``/``t_trainer_2.py``/``t_trainer_3.py`` in
``tests/lightning_programs/programs/``."""

from __future__ import annotations

import logging
import os
import re
import warnings

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


def test_save_checkpoint_without_a_model_in_lightnings_words(tmp_path) -> None:
    # Ported from test_trainer.py::test_trainer_save_checkpoint_no_model_attached
    trainer = treadle.Trainer(logger=False, default_root_dir=tmp_path)
    assert trainer.model is None
    with pytest.raises(
        AttributeError, match="Saving a checkpoint is only possible if a model is attached"
    ):
        trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_no_model_no_ckpt_path_after_fit_loads_the_best(tmp_path, fn) -> None:
    # Ported from test_trainer.py::test_checkpoint_path_input (ckpt_path=None, no model)
    class Model(BoringModel):
        def validation_step(self, batch, batch_idx):
            self.log("foo", -batch_idx)
            return super().validation_step(batch, batch_idx)

        def test_step(self, *args):
            return self.validation_step(*args)

    checkpoint = treadle.callbacks.ModelCheckpoint(dirpath=tmp_path, monitor="foo")
    kwargs = {"max_epochs": 2, "limit_val_batches": 1, "limit_test_batches": 1}
    trainer = treadle.Trainer(
        **quiet(tmp_path, enable_checkpointing=True, limit_predict_batches=1, **kwargs),
        callbacks=[checkpoint],
    )
    model = Model()
    trainer.fit(model)
    getattr(trainer, fn)(model)
    assert trainer.ckpt_path is None  # a model given: its weights as they are
    with pytest.warns(UserWarning, match="The best model of the previous `fit` call will be used"):
        getattr(trainer, fn)()
    assert trainer.ckpt_path == checkpoint.best_model_path != ""
    # without a checkpoint callback: the module as it is, no warning
    plain = treadle.Trainer(**quiet(tmp_path, max_steps=1, **kwargs))
    plain.fit(Model())
    getattr(plain, fn)()
    assert plain.ckpt_path is None


def test_a_predict_step_returning_none_warns_once(tmp_path) -> None:
    # Ported from test_trainer.py::test_trainer_predict_no_return
    class Model(BoringModel):
        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return None if batch_idx % 2 else super().predict_step(batch, batch_idx)

    trainer = treadle.Trainer(**quiet(tmp_path, limit_predict_batches=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = trainer.predict(Model())
    said = [w for w in caught if "predict returned None" in str(w.message)]
    assert len(said) == 1 and out[1] is None and out[0] is not None


@pytest.mark.parametrize("iterable", [False, True])
def test_prediction_writer_batch_indices_of_an_iterable_dataset_are_empty(
    tmp_path, iterable
) -> None:
    # Ported from test_trainer.py::test_index_batch_sampler_wrapper_with_iterable_dataset
    from treadle.callbacks import BasePredictionWriter
    from treadle.demos.boring_classes import RandomDataset, RandomIterableDataset

    seen = []

    class Writer(BasePredictionWriter):
        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, *_):
            seen.append(batch_indices)

    data = (RandomIterableDataset if iterable else RandomDataset)(32, 8)
    trainer = treadle.Trainer(**quiet(tmp_path), callbacks=[Writer()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Couldn't infer the batch indices" (iterable)
        out = trainer.predict(BoringModel(), dataloaders=torch.utils.data.DataLoader(data))
    assert len(out) == 8 and len(seen) == 8
    assert all(i == [] for i in seen) if iterable else seen == [[i] for i in range(8)]


def test_a_bare_misconfiguration_exception_can_be_raised_and_caught(tmp_path) -> None:
    # Ported from test_trainer.py::test_on_exception_hook: a callback raises Lightning's
    # MisconfigurationException with no argument; on_exception sees it and test() re-raises it
    from treadle.utilities.exceptions import MisconfigurationException

    seen = []

    class Raises(treadle.Callback):
        def on_test_start(self, trainer, pl_module):
            raise MisconfigurationException

        def on_exception(self, trainer, pl_module, exception):
            seen.append(exception)

    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[Raises()], limit_test_batches=1))
    with pytest.raises(MisconfigurationException) as info:
        trainer.test(BoringModel())
    assert seen == [info.value]
    assert info.value.problems == []
    assert str(info.value) == "configuration problem (raised without a description)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"gradient_clip_algorithm": "norm2"},
            "`gradient_clip_algorithm` norm2 is invalid. Allowed algorithms: ['value', 'norm'].",
        ),
        (
            {"check_val_every_n_epoch": 1.2},
            "`check_val_every_n_epoch` should be an integer, found 1.2.",
        ),
        (
            {"gradient_clip_val": (1, 2)},
            "`gradient_clip_val` should be an int or a float. Got (1, 2).",
        ),
    ],
)
def test_clipping_and_validation_interval_refusals_in_lightnings_words(kwargs, message) -> None:
    # Ported from test_trainer.py::test_invalid_gradient_clip_algo,
    # test_check_val_every_n_epoch_exception and test_invalid_gradient_clip_value (Lightning
    # raises a TypeError for the last; treadle's ConfigurationError, migration.md 5)
    from treadle.utilities.exceptions import MisconfigurationException

    with pytest.raises(MisconfigurationException, match=re.escape(message)):
        treadle.Trainer(**kwargs)


def test_gradient_clip_algorithm_in_any_case(tmp_path) -> None:
    # Lightning reads `gradient_clip_algorithm.lower()`: "Value" clips by value
    class Check(BoringModel):
        def configure_gradient_clipping(
            self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
        ):
            super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )
            self.largest = max(p.grad.abs().max().item() for p in self.parameters())

    model = Check()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=1, gradient_clip_val=1e-10, gradient_clip_algorithm="Value")
    )
    trainer.fit(model)
    assert model.largest == pytest.approx(1e-10)


@pytest.mark.parametrize("exception_type", [KeyboardInterrupt, RuntimeError])
def test_the_strategy_gets_on_exception_last(tmp_path, exception_type) -> None:
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::test_trainer_calls_strategy_on_exception
    # (and test_trainer_calls_datamodule_on_exception): Lightning's public
    # `Strategy.on_exception(exception)` runs once, after the callbacks' and the DataModule's
    from treadle.demos.boring_classes import BoringDataModule
    from treadle.strategies import Strategy

    exception = exception_type("Test exception")
    order = []

    class Raises(BoringModel):
        def on_fit_start(self):
            raise exception

    class Seen(treadle.Callback):
        def on_exception(self, trainer, pl_module, exc):
            order.append(("callback", exc))

    datamodule = BoringDataModule()
    datamodule.on_exception = lambda exc: order.append(("datamodule", exc))
    original = Strategy.on_exception

    def record(self, exc):
        order.append(("strategy", exc))
        return original(self, exc)

    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[Seen()]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Strategy, "on_exception", record)
        with pytest.raises((type(exception), SystemExit)):
            trainer.fit(Raises(), datamodule=datamodule)
    assert order == [("callback", exception), ("datamodule", exception), ("strategy", exception)]
    assert isinstance(trainer.strategy, Strategy)


def test_the_mode_hooks_default_to_the_trainers_model(tmp_path) -> None:
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::test_model_in_correct_mode_during_stages
    # (its ddp_spawn row): Lightning's on_*_model_eval/train call `self.trainer.model.eval()`/
    # `.train()`, so the strategy's wrapper (DDP) is in eval mode during validation too
    from types import SimpleNamespace

    module = BoringModel()
    wrapper = torch.nn.Sequential(module)
    module._trainer = SimpleNamespace(model=wrapper)
    module.on_validation_model_eval()
    assert not wrapper.training and not module.training
    module.on_validation_model_train()
    assert wrapper.training and module.training
    module.on_test_model_eval()
    assert not wrapper.training
    module.on_test_model_train()
    module.on_predict_model_eval()
    assert not wrapper.training and not module.training


class _RaisesInTraining(BoringModel):
    def training_step(self, batch, batch_idx):
        raise RuntimeError("Error during train")


class _CountsExceptions(treadle.Callback):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.seen.append(str(exception))


def test_spawned_stage_failing_calls_on_exception_in_the_caller_too(tmp_path) -> None:
    """Under ``ddp_spawn`` the workers run the callbacks' ``on_exception``, and the caller's
    callbacks get it too with the exception the launch raised, as Lightning's caller does.
    Ported from tests/tests_pytorch/trainer/test_trainer.py::test_error_handling_all_stages
    (its ``ddp_spawn`` row)."""
    counter = _CountsExceptions()
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        strategy="ddp_spawn",
        devices=1,
        fast_dev_run=True,
        callbacks=[counter],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(Exception, match="Error during train"):
        trainer.fit(_RaisesInTraining())
    assert len(counter.seen) == 1 and "Error during train" in counter.seen[0]
