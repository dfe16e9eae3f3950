# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_callback_connector.py
#   (test_checkpoint_callbacks_are_last, test_all_callback_states_saved_before_checkpoint_callback,
#    test_attach_model_callbacks, test_attach_model_callbacks_override_info,
#    test_configure_external_callbacks, test_validate_unique_callback_state_key)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; pytest.raises -> try/except; caplog -> a handler on the loggers from the
#   Trainer's module up to the root.
#   The tests called the private `_CallbackConnector(trainer)._attach_model_callbacks()` after
#   setting the private `trainer.strategy._lightning_module`: here the public way, a
#   `trainer.validate(model)` whose model records `trainer.callbacks` in its `prepare_data`
#   hook (called before any `setup`, once `configure_callbacks` is merged) and stops the run
#   there; the model is a BoringModel (a bare LightningModule has no `validation_step`). The patch of the private
#   `callback_connector._RICH_AVAILABLE` to False (no rich progress bar by default) -> rich made
#   unimportable before Lightning is imported (the reference venv has no rich at all).
#   test_configure_external_callbacks mocked `lightning.fabric.utilities.registry.entry_points`
#   (an internal): here a real distribution (a `.dist-info` folder put on `sys.path`) registers
#   the factories of this file under Lightning's documented entry-point group
#   `lightning.pytorch.callbacks_factory`.
import logging
import os
import sys
import tempfile

sys.modules["rich"] = None  # the tests' `_RICH_AVAILABLE = False`: TQDM bars by default

import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import (
    EarlyStopping,
    GradientAccumulationScheduler,
    LearningRateMonitor,
    ModelCheckpoint,
    ModelSummary,
    ProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.callbacks.batch_size_finder import BatchSizeFinder
from lightning.pytorch.demos.boring_classes import BoringModel


class _Recorded(Exception):
    pass


def callbacks_after_attach(trainer, model_callbacks):
    """The Trainer's callbacks once ``configure_callbacks`` is merged (seen in ``prepare_data``)."""
    seen = []

    class Model(BoringModel):
        def configure_callbacks(self):
            return model_callbacks

        def prepare_data(self):
            seen.append(list(self.trainer.callbacks))
            raise _Recorded

    try:
        trainer.validate(Model(), verbose=False)
    except _Recorded:
        pass
    assert len(seen) == 1
    return seen[0]


def test_checkpoint_callbacks_are_last(tmp_path):
    """Test that checkpoint callbacks always come last."""
    checkpoint1 = ModelCheckpoint(
        os.path.join(tmp_path, "path1"), filename="ckpt1", monitor="val_loss_c1"
    )
    checkpoint2 = ModelCheckpoint(
        os.path.join(tmp_path, "path2"), filename="ckpt2", monitor="val_loss_c2"
    )
    early_stopping = EarlyStopping(monitor="foo")
    lr_monitor = LearningRateMonitor()
    model_summary = ModelSummary()
    progress_bar = TQDMProgressBar()

    # no model reference
    trainer = Trainer(callbacks=[checkpoint1, progress_bar, lr_monitor, model_summary, checkpoint2])
    assert trainer.callbacks == [
        progress_bar,
        lr_monitor,
        model_summary,
        checkpoint1,
        checkpoint2,
    ]

    # no model callbacks
    assert callbacks_after_attach(trainer, []) == [
        progress_bar,
        lr_monitor,
        model_summary,
        checkpoint1,
        checkpoint2,
    ]

    # with model-specific callbacks that substitute ones in Trainer
    trainer = Trainer(
        callbacks=[progress_bar, lr_monitor, ModelCheckpoint(tmp_path, filename="ckpt_trainer")],
        default_root_dir=tmp_path,
    )
    assert callbacks_after_attach(
        trainer, [checkpoint1, early_stopping, model_summary, checkpoint2]
    ) == [
        progress_bar,
        lr_monitor,
        early_stopping,
        model_summary,
        checkpoint1,
        checkpoint2,
    ]

    # with tuner-specific callbacks that substitute ones in Trainer
    batch_size_finder = BatchSizeFinder()
    trainer = Trainer(callbacks=[progress_bar, lr_monitor], default_root_dir=tmp_path)
    assert callbacks_after_attach(
        trainer, [checkpoint2, early_stopping, batch_size_finder, model_summary, checkpoint1]
    ) == [
        batch_size_finder,
        progress_bar,
        lr_monitor,
        early_stopping,
        model_summary,
        checkpoint2,
        checkpoint1,
    ]


class StatefulCallback0(Callback):
    def state_dict(self):
        return {"content0": 0}


class StatefulCallback1(Callback):
    def __init__(self, unique=None, other=None):
        self._unique = unique
        self._other = other

    @property
    def state_key(self):
        return self._generate_state_key(unique=self._unique)

    def state_dict(self):
        return {"content1": self._unique}


def test_all_callback_states_saved_before_checkpoint_callback(tmp_path):
    """Test that all callback states get saved even if the ModelCheckpoint is not given as last and when there are
    multiple callbacks of the same type."""

    callback0 = StatefulCallback0()
    callback1 = StatefulCallback1(unique="one")
    callback2 = StatefulCallback1(unique="two", other=2)
    checkpoint_callback = ModelCheckpoint(dirpath=tmp_path, filename="all_states")
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        limit_val_batches=1,
        callbacks=[
            callback0,
            # checkpoint callback does not have to be at the end
            checkpoint_callback,
            # callback2 and callback3 have the same type
            callback1,
            callback2,
        ],
    )
    trainer.fit(model)

    ckpt = torch.load(os.path.join(tmp_path, "all_states.ckpt"), weights_only=True)
    state0 = ckpt["callbacks"]["StatefulCallback0"]
    state1 = ckpt["callbacks"]["StatefulCallback1{'unique': 'one'}"]
    state2 = ckpt["callbacks"]["StatefulCallback1{'unique': 'two'}"]
    assert "content0" in state0
    assert state0["content0"] == 0
    assert "content1" in state1
    assert state1["content1"] == "one"
    assert "content1" in state2
    assert state2["content1"] == "two"
    assert (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        " 'train_time_interval': None}" in ckpt["callbacks"]
    )


def test_attach_model_callbacks(tmp_path):
    """Test that the callbacks defined in the model and through Trainer get merged correctly."""

    def _attach_callbacks(trainer_callbacks, model_callbacks):
        has_progress_bar = any(
            isinstance(cb, ProgressBar) for cb in trainer_callbacks + model_callbacks
        )
        trainer = Trainer(
            enable_checkpointing=False,
            enable_progress_bar=has_progress_bar,
            enable_model_summary=False,
            callbacks=trainer_callbacks,
            default_root_dir=tmp_path,
            logger=False,
        )
        return callbacks_after_attach(trainer, model_callbacks)

    early_stopping1 = EarlyStopping(monitor="red")
    early_stopping2 = EarlyStopping(monitor="blue")
    progress_bar = TQDMProgressBar()
    lr_monitor = LearningRateMonitor()
    grad_accumulation = GradientAccumulationScheduler({1: 1})

    # no callbacks
    assert _attach_callbacks(trainer_callbacks=[], model_callbacks=[]) == []

    # callbacks of different types
    callbacks = _attach_callbacks(
        trainer_callbacks=[early_stopping1], model_callbacks=[progress_bar]
    )
    assert callbacks == [early_stopping1, progress_bar]

    # same callback type twice, different instance
    callbacks = _attach_callbacks(
        trainer_callbacks=[progress_bar, EarlyStopping(monitor="red")],
        model_callbacks=[early_stopping1],
    )
    assert callbacks == [progress_bar, early_stopping1]

    # multiple callbacks of the same type in trainer
    callbacks = _attach_callbacks(
        trainer_callbacks=[
            LearningRateMonitor(),
            EarlyStopping(monitor="yellow"),
            LearningRateMonitor(),
            EarlyStopping(monitor="black"),
        ],
        model_callbacks=[early_stopping1, lr_monitor],
    )
    assert callbacks == [early_stopping1, lr_monitor]

    # multiple callbacks of the same type, in both trainer and model
    callbacks = _attach_callbacks(
        trainer_callbacks=[
            LearningRateMonitor(),
            progress_bar,
            EarlyStopping(monitor="yellow"),
            LearningRateMonitor(),
            EarlyStopping(monitor="black"),
        ],
        model_callbacks=[early_stopping1, lr_monitor, grad_accumulation, early_stopping2],
    )
    assert callbacks == [
        progress_bar,
        early_stopping1,
        lr_monitor,
        grad_accumulation,
        early_stopping2,
    ]

    class CustomProgressBar(TQDMProgressBar): ...

    custom_progress_bar = CustomProgressBar()
    # a custom callback that overrides ours
    callbacks = _attach_callbacks(
        trainer_callbacks=[progress_bar], model_callbacks=[custom_progress_bar]
    )
    assert callbacks == [custom_progress_bar]

    # edge case
    bare_callback = Callback()
    callbacks = _attach_callbacks(
        trainer_callbacks=[bare_callback], model_callbacks=[custom_progress_bar]
    )
    assert callbacks == [bare_callback, custom_progress_bar]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_attach_model_callbacks_override_info(tmp_path):
    """Test that the logs contain the info about overriding callbacks returned by configure_callbacks."""
    trainer = Trainer(
        enable_checkpointing=False,
        callbacks=[EarlyStopping(monitor="foo"), LearningRateMonitor(), TQDMProgressBar()],
        default_root_dir=tmp_path,
    )
    records = _Records()
    # Lightning's package logger does not propagate to the root: listen on each logger from the
    # Trainer's module up to the root (as pytest's caplog with Lightning's conftest)
    parts = Trainer.__module__.split(".")
    loggers = [logging.getLogger(".".join(parts[:i])) for i in range(len(parts), 0, -1)]
    loggers.append(logging.getLogger())
    levels = [log.level for log in loggers]
    for log in loggers:
        log.addHandler(records)
        log.setLevel(logging.INFO)
    try:
        callbacks_after_attach(trainer, [LearningRateMonitor(), EarlyStopping(monitor="foo")])
    finally:
        for log, level in zip(loggers, levels):
            log.removeHandler(records)
            log.setLevel(level)
    text = "\n".join(records.messages)
    assert "existing callbacks passed to Trainer: EarlyStopping, LearningRateMonitor" in text, text


class ExternalCallback(Callback):
    """A callback in another library that gets registered through entry points."""


def factory_no_callback():
    return []


def factory_one_callback():
    return ExternalCallback()


def factory_one_callback_list():
    return [ExternalCallback()]


def factory_multiple_callbacks_list():
    return [ExternalCallback(), ExternalCallback()]


class _EntryPoint:
    """A distribution on ``sys.path`` registering ``factory`` (a function of this file)."""

    def __init__(self, factory):
        self.factory = factory

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory()
        info = os.path.join(self.dir.name, "external_callbacks-0.1.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: external-callbacks\nVersion: 0.1\n")
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write(
                f"[lightning.pytorch.callbacks_factory]\nmocked = __main__:{self.factory.__name__}\n"
            )
        sys.path.insert(0, self.dir.name)
        return self

    def __exit__(self, *exc):
        sys.path.remove(self.dir.name)
        self.dir.cleanup()


def test_configure_external_callbacks(tmp_path):
    """Test that the connector collects Callback instances from factories registered through entry points."""
    with _EntryPoint(factory_no_callback):
        trainer = Trainer(
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
        )
    assert trainer.callbacks == []

    with _EntryPoint(factory_one_callback):
        trainer = Trainer(
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
        )
    assert isinstance(trainer.callbacks[0], ExternalCallback)

    with _EntryPoint(factory_one_callback_list):
        trainer = Trainer(
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
        )
    assert isinstance(trainer.callbacks[0], ExternalCallback)

    with _EntryPoint(factory_multiple_callbacks_list):
        trainer = Trainer(
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
        )
    assert isinstance(trainer.callbacks[0], ExternalCallback)
    assert isinstance(trainer.callbacks[1], ExternalCallback)


def test_validate_unique_callback_state_key(tmp_path):
    """Test that we raise an error if the state keys collide, leading to missing state in the checkpoint."""

    class MockCallback(Callback):
        @property
        def state_key(self):
            return "same_key"

        def state_dict(self):
            # pretend these callbacks are stateful by overriding the `state_dict` hook
            return {"state": 1}

    try:
        Trainer(callbacks=[MockCallback(), MockCallback()])
    except RuntimeError as err:
        assert "Found more than one stateful callback of type `MockCallback`" in str(err), err
    else:
        raise AssertionError("colliding state keys were not refused")


if __name__ == "__main__":
    for test in (
        test_checkpoint_callbacks_are_last,
        test_all_callback_states_saved_before_checkpoint_callback,
        test_attach_model_callbacks,
        test_attach_model_callbacks_override_info,
        test_configure_external_callbacks,
        test_validate_unique_callback_state_key,
    ):
        with tempfile.TemporaryDirectory() as d:
            test(d)
        print("passed", test.__name__)
    print("OK")
