# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_barebones.py
#   (test_barebones_disables_logging, test_barebones_argument_selection, test_barebones_raises)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted (`pytest.raises`/
#   `pytest.warns` -> try/except and `warnings.catch_warnings`; caplog -> a handler on the root
#   logger with Lightning's loggers propagating, as Lightning's conftest sets them).
#   test_barebones_disables_logging attached the trainer by the private `pl_module._trainer`:
#   here `self.log`/`self.log_dict` are called from a `training_step` under
#   `Trainer(barebones=True).fit()`. Left out: the `trainer._detect_anomaly` assertion (private).
import logging
import warnings

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.profilers import PassThroughProfiler


def test_barebones_disables_logging():
    class LogModel(BoringModel):
        def training_step(self, batch, batch_idx):
            for log in (lambda: self.log("foo", 1.0), lambda: self.log_dict({"foo": 1.0})):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    log()
                assert any("barebones=True)` is configured" in str(w.message) for w in caught), caught
            return super().training_step(batch, batch_idx)

    trainer = Trainer(barebones=True, max_steps=1)
    trainer.fit(LogModel())
    assert not trainer.callback_metrics
    assert not trainer.logged_metrics


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def test_barebones_argument_selection():
    for name in ("lightning.pytorch", "lightning.fabric", "treadle"):
        logging.getLogger(name).propagate = True
    handler = ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        trainer = Trainer(barebones=True)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    assert any("running in `Trainer(barebones=True)` mode" in m for m in handler.records), handler.records
    assert trainer.barebones
    assert not trainer.checkpoint_callbacks
    assert not trainer.loggers
    assert not trainer.progress_bar_callback
    assert not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)
    assert not trainer.log_every_n_steps
    assert not trainer.num_sanity_val_steps
    assert not trainer.fast_dev_run
    assert isinstance(trainer.profiler, PassThroughProfiler)


def raises(match, **kwargs):
    try:
        Trainer(barebones=True, **kwargs)
    except ValueError as e:
        assert match in str(e), (match, str(e))
    else:
        raise AssertionError(f"no ValueError for {kwargs}")


def test_barebones_raises():
    raises("enable_checkpointing=True)` was passed", enable_checkpointing=True)
    raises("logger=True)` was passed", logger=True)
    raises("enable_progress_bar=True)` was passed", enable_progress_bar=True)
    raises("enable_model_summary=True)` was passed", enable_model_summary=True)
    raises("log_every_n_steps=1)` was passed", log_every_n_steps=1)
    raises("num_sanity_val_steps=1)` was passed", num_sanity_val_steps=1)
    raises("fast_dev_run=1)` was passed", fast_dev_run=1)
    raises("detect_anomaly=True)` was passed", detect_anomaly=True)
    raises("profiler='simple')` was passed", profiler="simple")


if __name__ == "__main__":
    test_barebones_disables_logging()
    test_barebones_argument_selection()
    test_barebones_raises()
    print("OK")
