# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loggers/test_logger.py
#   (test_custom_logger, test_multiple_loggers, test_multiple_loggers_pickle, test_adding_step_key,
#    test_dummylogger_noop_method_calls, test_dummlogger_arbitrary_method_calls,
#    test_dummyexperiment_support_item_assignment, test_log_hyperparams_being_called,
#    test_log_hyperparams_key_collision)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; tmpdir -> a tempfile dir; pytest.raises(match=) -> try/except with re.search; the
#   patches of `TensorBoardLogger.log_hyperparams` -> a TensorBoardLogger subclass counting its
#   calls (and doing nothing else, as the mock); "Error while merging hparams" is a RuntimeError
#   (Lightning 2.6.6; the test's MisconfigurationException is older). Left out: test_np_sanitization (the private
#   `lightning.fabric.utilities.logger._convert_params`/`_sanitize_params`) and
#   test_scan_checkpoints (the private `loggers.utilities._scan_checkpoints`).
import pickle
import re
import tempfile
from copy import deepcopy
from typing import Any, Optional

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.loggers.logger import DummyExperiment, DummyLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only


class CustomLogger(Logger):
    def __init__(self, experiment: str = "test", name: str = "name", version: str = "1"):
        super().__init__()
        self._experiment = experiment
        self._name = name
        self._version = version
        self.hparams_logged = None
        self.metrics_logged = {}
        self.finalized = False
        self.after_save_checkpoint_called = False

    @property
    def experiment(self):
        return self._experiment

    @rank_zero_only
    def log_hyperparams(self, params):
        self.hparams_logged = params

    @rank_zero_only
    def log_metrics(self, metrics, step):
        self.metrics_logged = metrics

    @rank_zero_only
    def finalize(self, status):
        self.finalized_status = status

    @property
    def save_dir(self) -> Optional[str]:
        return None

    @property
    def name(self):
        return self._name

    @property
    def version(self):
        return self._version

    def after_save_checkpoint(self, checkpoint_callback):
        self.after_save_checkpoint_called = True


class CountingTensorBoardLogger(TensorBoardLogger):
    """Stands in for ``patch("...TensorBoardLogger.log_hyperparams")``: counts, does nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_hyperparams_calls = 0

    def log_hyperparams(self, *args, **kwargs):
        self.log_hyperparams_calls += 1


def test_custom_logger(tmpdir):
    class CustomModel(BoringModel):
        def training_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("train_loss", loss)
            return {"loss": loss}

    logger = CustomLogger()
    model = CustomModel()
    trainer = Trainer(max_steps=2, log_every_n_steps=1, logger=logger, default_root_dir=tmpdir)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert logger.metrics_logged != {}
    assert logger.after_save_checkpoint_called
    assert logger.finalized_status == "success"


def test_multiple_loggers(tmpdir):
    class CustomModel(BoringModel):
        def training_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("train_loss", loss)
            return {"loss": loss}

    model = CustomModel()
    logger1 = CustomLogger()
    logger2 = CustomLogger()

    trainer = Trainer(
        max_steps=2, log_every_n_steps=1, logger=[logger1, logger2], default_root_dir=tmpdir
    )
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"

    assert logger1.hparams_logged is None
    assert logger1.metrics_logged != {}
    assert logger1.finalized_status == "success"

    assert logger2.hparams_logged is None
    assert logger2.metrics_logged != {}
    assert logger2.finalized_status == "success"


def test_multiple_loggers_pickle(tmpdir):
    logger1 = CustomLogger()
    logger2 = CustomLogger()

    trainer = Trainer(logger=[logger1, logger2], default_root_dir=tmpdir)
    pkl_bytes = pickle.dumps(trainer)
    trainer2 = pickle.loads(pkl_bytes)
    for logger in trainer2.loggers:
        logger.log_metrics({"acc": 1.0}, 0)

    for logger in trainer2.loggers:
        assert logger.metrics_logged == {"acc": 1.0}


def test_adding_step_key(tmpdir):
    class CustomTensorBoardLogger(TensorBoardLogger):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.logged_step = 0

        def log_metrics(self, metrics, step):
            if "val_acc" in metrics:
                assert step == self.logged_step

            super().log_metrics(metrics, step)

    class CustomModel(BoringModel):
        def on_train_epoch_end(self):
            self.logger.logged_step += 1
            self.log_dict(
                {"step": self.logger.logged_step, "train_acc": self.logger.logged_step / 10}
            )

        def on_validation_epoch_end(self):
            self.logger.logged_step += 1
            self.log_dict(
                {"step": self.logger.logged_step, "val_acc": self.logger.logged_step / 10}
            )

    model = CustomModel()
    trainer = Trainer(
        max_epochs=3,
        logger=CustomTensorBoardLogger(save_dir=tmpdir),
        default_root_dir=tmpdir,
        limit_train_batches=0.1,
        limit_val_batches=0.1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model)


def test_dummylogger_noop_method_calls():
    logger = DummyLogger()
    logger.log_hyperparams("1", 2, three="three")
    logger.log_metrics("1", 2, three="three")


def test_dummlogger_arbitrary_method_calls():
    logger = DummyLogger()
    # Example method from WandbLogger
    assert hasattr(logger, "log_text")
    assert callable(logger.log_text)


def test_dummyexperiment_support_item_assignment():
    experiment = DummyExperiment()
    experiment["variable"] = "value"
    assert experiment["variable"] != "value"  # this is only a stateless mock experiment


def test_log_hyperparams_being_called(tmpdir, logger):
    class TestModel(BoringModel):
        def __init__(self, param_one, param_two):
            super().__init__()
            self.save_hyperparameters(logger=logger)

    tb_logger = CountingTensorBoardLogger(tmpdir)
    model = TestModel("pytorch", "lightning")
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        limit_train_batches=0.1,
        limit_val_batches=0.1,
        num_sanity_val_steps=0,
        logger=tb_logger,
    )
    trainer.fit(model)

    if logger:
        assert tb_logger.log_hyperparams_calls > 0
    else:
        assert tb_logger.log_hyperparams_calls == 0


def test_log_hyperparams_key_collision(tmpdir):
    class TestModel(BoringModel):
        def __init__(self, hparams: dict[str, Any]) -> None:
            super().__init__()
            self.save_hyperparameters(hparams)

    class TestDataModule(BoringDataModule):
        def __init__(self, hparams: dict[str, Any]) -> None:
            super().__init__()
            self.save_hyperparameters(hparams)

    class _Test: ...

    def make_trainer():
        return Trainer(
            default_root_dir=tmpdir,
            logger=CountingTensorBoardLogger(tmpdir),
            max_epochs=1,
            limit_train_batches=0.1,
            limit_val_batches=0.1,
            num_sanity_val_steps=0,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )

    same_params = {1: 1, "2": 2, "three": 3.0, "test": _Test(), "4": torch.tensor(4)}
    model = TestModel(same_params)
    dm = TestDataModule(same_params)

    trainer = make_trainer()
    # there should be no exceptions raised for the same key/value pair in the hparams of both
    # the lightning module and data module
    trainer.fit(model)

    obj_params = deepcopy(same_params)
    obj_params["test"] = _Test()
    model = TestModel(same_params)
    dm = TestDataModule(obj_params)
    trainer.fit(model)

    diff_params = deepcopy(same_params)
    diff_params.update({1: 0, "test": _Test()})
    model = TestModel(same_params)
    dm = TestDataModule(diff_params)
    trainer = make_trainer()
    try:
        trainer.fit(model, dm)
    except RuntimeError as e:
        assert re.search("Error while merging hparams", str(e)), str(e)
    else:
        raise AssertionError("RuntimeError not raised")

    tensor_params = deepcopy(same_params)
    tensor_params.update({"4": torch.tensor(3)})
    model = TestModel(same_params)
    dm = TestDataModule(tensor_params)
    trainer = make_trainer()
    try:
        trainer.fit(model, dm)
    except RuntimeError as e:
        assert re.search("Error while merging hparams", str(e)), str(e)
    else:
        raise AssertionError("RuntimeError not raised")


if __name__ == "__main__":
    test_dummylogger_noop_method_calls()
    test_dummlogger_arbitrary_method_calls()
    test_dummyexperiment_support_item_assignment()
    tests = [
        test_custom_logger,
        test_multiple_loggers,
        test_multiple_loggers_pickle,
        test_adding_step_key,
        lambda d: test_log_hyperparams_being_called(d, True),
        lambda d: test_log_hyperparams_being_called(d, False),
        test_log_hyperparams_key_collision,
    ]
    for test in tests:
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("ok")
