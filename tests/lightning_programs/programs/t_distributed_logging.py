# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_distributed_logging.py
#   (test_first_logger_call_in_subprocess, test_logger_after_fit_predict_test_calls;
#    test_all_rank_logging_ddp_cpu is t_distributed_logging_all_ranks.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir. test_first_logger_call_in_subprocess: the `Mock()` logger -> a `Logger`
#   subclass recording its method calls (`method_calls`, `log_graph` calls), with the Mock's
#   `version`, `name` and `save_dir`. Left out, needing 2 GPUs: test_all_rank_logging_ddp_spawn.
import os
import tempfile
from typing import Any, Dict, Optional, Union

import lightning.pytorch as pl
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers.logger import Logger


class RecordingLogger(Logger):
    """In place of the test's `Mock()`: records which of its methods were called."""

    def __init__(self, save_dir):
        super().__init__()
        self.method_calls = []
        self.log_graph_calls = 0
        self._save_dir = save_dir

    @property
    def name(self):
        return "name"

    @property
    def version(self):
        return "0"

    @property
    def save_dir(self):
        return self._save_dir

    @property
    def experiment(self):
        return None

    def log_hyperparams(self, *args, **kwargs):
        self.method_calls.append("log_hyperparams")

    def log_metrics(self, metrics, step=None):
        self.method_calls.append("log_metrics")

    def log_graph(self, model, input_array=None):
        self.method_calls.append("log_graph")
        self.log_graph_calls += 1

    def save(self):
        self.method_calls.append("save")

    def finalize(self, status):
        self.method_calls.append("finalize")


def test_first_logger_call_in_subprocess(tmp_path):
    """Test that the Trainer does not call the logger too early."""

    class LoggerCallsObserver(Callback):
        def setup(self, trainer, pl_module, stage):
            # this hook is executed after Strategy has setup the environment
            # logger should not write any logs until this point
            assert not trainer.logger.method_calls, trainer.logger.method_calls
            assert not os.listdir(trainer.logger.save_dir)

        def on_train_start(self, trainer, pl_module):
            assert trainer.logger.method_calls
            assert trainer.logger.log_graph_calls == 1, trainer.logger.method_calls

    logger = RecordingLogger(tmp_path)

    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=1,
        logger=logger,
        callbacks=[LoggerCallsObserver()],
    )
    trainer.fit(model)


def test_logger_after_fit_predict_test_calls(tmp_path):
    """Make sure logger outputs are finalized after fit, prediction, and test calls."""

    class BufferLogger(Logger):
        def __init__(self):
            super().__init__()
            self.buffer = {}
            self.logs = {}

        def log_metrics(self, metrics: Dict[str, float], step: Optional[int] = None) -> None:
            self.buffer.update(metrics)

        def finalize(self, status: str) -> None:
            self.logs.update(self.buffer)
            self.buffer = {}

        @property
        def experiment(self) -> Any:
            return None

        @property
        def version(self) -> Union[int, str]:
            return 1

        @property
        def name(self) -> str:
            return "BufferLogger"

        def log_hyperparams(self, *args, **kwargs) -> None:
            return None

    class LoggerCallsObserver(Callback):
        def on_fit_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
            trainer.logger.log_metrics({"fit": 1})

        def on_validation_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
            trainer.logger.log_metrics({"validate": 1})

        def on_predict_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
            trainer.logger.log_metrics({"predict": 1})

        def on_test_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
            trainer.logger.log_metrics({"test": 1})

    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=1,
        logger=BufferLogger(),
        callbacks=[LoggerCallsObserver()],
    )

    assert not trainer.logger.logs
    trainer.fit(model)
    assert trainer.logger.logs == {"fit": 1, "validate": 1}, trainer.logger.logs
    trainer.test(model)
    assert trainer.logger.logs == {"fit": 1, "validate": 1, "test": 1}, trainer.logger.logs
    trainer.predict(model)
    assert trainer.logger.logs == {"fit": 1, "validate": 1, "test": 1, "predict": 1}, trainer.logger.logs


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_first_logger_call_in_subprocess(d)
    with tempfile.TemporaryDirectory() as d:
        test_logger_after_fit_predict_test_calls(d)
    print("OK")
