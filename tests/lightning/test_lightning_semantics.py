"""Lightning semantics a real Lightning program relies on, each pinned here.

Behaviour from Lightning's own suite where it has a test (Copyright The Lightning AI team,
Apache-2.0): ``tests_pytorch/core/test_lightning_optimizer.py`` (``optimizer_step`` overrides),
``trainer/test_dataloaders.py`` (``val_dataloader = None``), ``loops/test_training_loop.py``
(``should_stop``), ``trainer/optimization/test_optimizers.py`` (``_validate_scheduler_api``),
``checkpointing/test_model_checkpoint.py`` (``every_n_epochs=0``).
"""

from __future__ import annotations

import re
from unittest import mock

import pytest
import torch
from lightning_boring import BoringModel, quiet

import treadle
from treadle.callbacks import ModelCheckpoint


def test_optimizer_step_override_with_args_and_kwargs(tmp_path):
    """``def optimizer_step(self, *args, **kwargs)`` gets Lightning's positional arguments
    (epoch, batch_idx, optimizer, optimizer_closure), and ``super()`` steps."""
    received = []

    class Model(BoringModel):
        def optimizer_step(self, *args, **kwargs):
            epoch, batch_idx, optimizer, closure = args
            received.append(
                (
                    epoch,
                    batch_idx,
                    isinstance(optimizer, torch.optim.SGD),
                    callable(closure),
                    kwargs,
                )
            )
            super().optimizer_step(*args, **kwargs)

    model = Model()
    before = model.layer.weight.detach().clone()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=0)
    )
    trainer.fit(model)
    assert received == [
        (0, 0, True, True, {}),
        (0, 1, True, True, {}),
        (1, 0, True, True, {}),
        (1, 1, True, True, {}),
    ]
    assert trainer.global_step == 4
    assert not torch.equal(before, model.layer.weight)


def test_callback_hooks_with_other_parameter_names(tmp_path):
    """Lightning passes callback arguments positionally: hook(trainer, pl_module, *args)."""
    seen = []

    class Probe(treadle.Callback):
        def on_train_batch_end(self, _, pl_module, *args):
            seen.append(("batch_end", type(pl_module).__name__, len(args), args[2]))

        def on_validation_batch_start(self, tr, lm, b, i, dl_idx=0):
            seen.append(("val_start", type(tr).__name__, i, dl_idx))

        def on_train_epoch_end(self, *args):
            seen.append(("epoch_end", [type(a).__name__ for a in args]))

        def setup(self, trainer, pl_module, **kwargs):
            seen.append(("setup", kwargs))

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=1,
            num_sanity_val_steps=0,
            callbacks=[Probe()],
        )
    )
    trainer.fit(BoringModel())
    assert seen == [
        ("setup", {"stage": "fit"}),
        ("batch_end", "BoringModel", 3, 0),
        ("batch_end", "BoringModel", 3, 1),
        ("val_start", "Trainer", 0, 0),
        ("epoch_end", ["Trainer", "BoringModel"]),
    ]


def test_module_hooks_with_other_parameter_names(tmp_path):
    seen = []

    class Model(BoringModel):
        def on_validation_batch_end(self, out, b, i, dl=0):
            seen.append((sorted(out), b.shape[0], i, dl))

        def on_train_batch_start(self, *args):
            seen.append(("start", args[1]))

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            num_sanity_val_steps=0,
        )
    )
    trainer.fit(Model())
    assert seen == [("start", 0), (["x"], 8, 0, 0)]


def test_a_parameter_no_position_fills_is_still_refused(tmp_path):
    class Model(BoringModel):
        def on_train_start(self, flavour):
            pass

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Model.on_train_start() takes parameter `flavour`, which hook `on_train_start` does "
            "not provide."
        ),
    ):
        trainer.fit(Model())


def test_backward_override_receives_manual_backward_arguments(tmp_path):
    """Lightning: manual_backward(loss, *args, **kwargs) reaches backward(loss, *args, **kwargs)."""
    received = []

    class Model(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            loss = self.loss(self(batch))
            self.manual_backward(loss, retain_graph=True)
            opt.step()
            opt.zero_grad()

        def backward(self, loss, *args, **kwargs):
            received.append((args, kwargs))
            loss.backward(*args, **kwargs)

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    )
    trainer.fit(Model())
    assert received == [((), {"retain_graph": True})]


@pytest.mark.parametrize("attribute", ["val_dataloader", "validation_step"])
def test_setting_validation_to_none_turns_it_off(tmp_path, attribute):
    """``model.val_dataloader = None`` / ``model.validation_step = None``: no validation."""
    calls = []

    class Model(BoringModel):
        def on_validation_start(self):
            calls.append("validation")

    model = Model()
    setattr(model, attribute, None)
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=2))
    trainer.fit(model)
    assert calls == [] and trainer.num_val_batches == [] and trainer.global_step == 16


def test_should_stop_mid_epoch_still_validates_and_ends_the_epoch(tmp_path):
    """Lightning's epoch loop: a stop request runs that epoch's validation (when the epoch
    validates) and its epoch end, then training ends."""
    log = []

    class Model(BoringModel):
        def on_train_batch_end(self, outputs, batch, batch_idx):
            log.append(f"batch {batch_idx}")
            if batch_idx == 2:
                self.trainer.should_stop = True

        def on_validation_start(self):
            log.append("validation")

        def on_train_epoch_end(self):
            log.append("epoch end")

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=3, num_sanity_val_steps=0))
    trainer.fit(Model())
    assert log == ["batch 0", "batch 1", "batch 2", "validation", "epoch end"]
    assert (trainer.global_step, trainer.current_epoch) == (3, 1)


def test_should_stop_in_an_epoch_that_does_not_validate(tmp_path):
    log = []

    class Model(BoringModel):
        def on_train_batch_end(self, outputs, batch, batch_idx):
            if batch_idx == 2:
                self.trainer.should_stop = True

        def on_validation_start(self):
            log.append("validation")

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=3, num_sanity_val_steps=0, check_val_every_n_epoch=2)
    )
    trainer.fit(Model())
    assert log == [] and trainer.global_step == 3


class _NoStep:
    def __init__(self, optimizer):
        self.optimizer = optimizer

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _NoState:
    def __init__(self, optimizer):
        self.optimizer = optimizer

    def step(self):
        pass


def test_a_scheduler_without_step_is_refused(tmp_path):
    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [_NoStep(opt)]

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "treadle.core: `configure_optimizers()` returned the scheduler `_NoStep`, which has "
            "no `step()` method, so automatic optimization cannot step it. Override "
            "`lr_scheduler_step(self, scheduler, metric)` in the Module to step it your way, "
            "or use a `torch.optim.lr_scheduler` scheduler."
        ),
    ):
        trainer.fit(Model())


def test_a_scheduler_without_step_is_fine_with_lr_scheduler_step(tmp_path):
    stepped = []

    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [_NoStep(opt)]

        def lr_scheduler_step(self, scheduler, metric):
            stepped.append(type(scheduler).__name__)

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=0)
    )
    trainer.fit(Model())
    assert stepped == ["_NoStep", "_NoStep"]


class _EpochStep(_NoStep):
    """timm's scheduler API: ``step(epoch, metric=None)``."""

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.epochs = []

    def step(self, epoch, metric=None):
        self.epochs.append(epoch)


def test_a_scheduler_whose_step_needs_an_argument_is_refused(tmp_path):
    """As Lightning's ``_validate_scheduler_api``: a scheduler outside torch's API needs an
    ``lr_scheduler_step`` override, refused before training (not at its first step)."""

    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [{"scheduler": _EpochStep(opt), "interval": "epoch"}]

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "treadle.core: The provided lr scheduler `_EpochStep` doesn't follow PyTorch's "
            "LRScheduler API: its `step()` needs `epoch`, so automatic optimization cannot step it "
            "as torch's "
            "schedulers (`scheduler.step()`). Override `lr_scheduler_step(self, scheduler, "
            "metric)` in the Module to step it your way (e.g. "
            "`scheduler.step(epoch=self.current_epoch)`), or use a `torch.optim.lr_scheduler` "
            "scheduler."
        ),
    ):
        trainer.fit(Model())
    assert trainer.global_step == 0


def test_a_scheduler_whose_step_needs_an_argument_runs_with_lr_scheduler_step(tmp_path):
    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            self.made = _EpochStep(opt)
            return [opt], [{"scheduler": self.made, "interval": "epoch"}]

        def lr_scheduler_step(self, scheduler, metric):
            scheduler.step(epoch=self.current_epoch)

    model = Model()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=0)
    )
    trainer.fit(model)
    assert model.made.epochs == [0, 1]


def test_a_scheduler_without_state_dict_is_refused(tmp_path):
    """Ported from tests/tests_pytorch/trainer/optimization/test_optimizers.py::
    test_invalid_scheduler_missing_state_dict: a ``TypeError`` as Lightning's (and a
    ``ConfigurationError``)."""

    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [_NoState(opt)]

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(TypeError, match="provided lr scheduler `_NoState` is invalid"):
        trainer.fit(Model())
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "treadle.core: The provided lr scheduler `_NoState` is invalid. It should have "
            "`state_dict` and `load_state_dict` methods defined: checkpoints need both. Add them "
            "to `_NoState`, or use a `torch.optim.lr_scheduler` scheduler."
        ),
    ):
        trainer.fit(Model())


def test_scheduler_keeps_its_class_and_a_mock_on_the_class_sees_every_step(tmp_path):
    """The scheduler the user made is the one lr_schedulers() returns, of the same class, and
    ``mock.patch.object(StepLR, "step")`` sees the loop's steps (no hidden subclass)."""
    types, identity = [], []

    class Model(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            self.made = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
            return [opt], [self.made]

        def on_train_epoch_start(self):
            types.append(type(self.lr_schedulers()))
            identity.append(self.lr_schedulers() is self.made)

    model = Model()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=3, limit_train_batches=1, limit_val_batches=0)
    )
    with mock.patch.object(torch.optim.lr_scheduler.StepLR, "step", autospec=True) as step:
        trainer.fit(model)
    assert types == [torch.optim.lr_scheduler.StepLR] * 3 and identity == [True] * 3
    assert step.call_count == 1 + 3  # StepLR.__init__ steps once, then once per epoch
    assert "step" not in vars(model.made) and "state_dict" not in vars(model.made)  # undone


def test_scheduler_state_during_the_run_is_plain(tmp_path):
    """The routing stays out of ``state_dict()``: checkpoints load with weights_only=True."""

    class Model(BoringModel):
        def on_train_epoch_end(self):
            state = self.lr_schedulers().state_dict()
            assert "step" not in state and "state_dict" not in state

    checkpoint = ModelCheckpoint(dirpath=tmp_path)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=0,
            callbacks=[checkpoint],
        )
    )
    trainer.fit(Model())
    saved = torch.load(checkpoint.best_model_path, weights_only=True)
    assert saved["lr_schedulers"][0]["last_epoch"] == 1


def test_model_checkpoint_every_n_epochs_zero_saves_nothing_at_epoch_end(tmp_path):
    """Lightning's test_model_checkpoint_every_n_epochs (n=0): no epoch-end saves."""
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpts", every_n_epochs=0)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=3,
            limit_train_batches=1,
            limit_val_batches=0,
            callbacks=[checkpoint],
        )
    )
    trainer.fit(BoringModel())
    assert not (tmp_path / "ckpts").exists() or list((tmp_path / "ckpts").iterdir()) == []
    assert checkpoint.best_model_path == ""


def test_checkpoint_monitors_what_the_module_logs_in_on_train_epoch_end(tmp_path):
    """Lightning calls its monitoring callbacks after the Module's on_train_epoch_end."""

    class Model(BoringModel):
        def on_train_epoch_end(self):
            self.log("train_score", float(self.current_epoch))

    checkpoint = ModelCheckpoint(
        dirpath=tmp_path, monitor="train_score", mode="max", filename="{epoch}-{train_score:.0f}"
    )
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_train_batches=1,
            limit_val_batches=0,
            callbacks=[checkpoint],
        )
    )
    trainer.fit(Model())
    assert checkpoint.best_model_path.endswith("epoch=1-train_score=1.ckpt")


def test_checkpoint_callbacks_run_after_the_other_callbacks(tmp_path):
    """Lightning's _reorder_callbacks: checkpoint callbacks last, whatever the given order."""
    order = []

    class Recorder(treadle.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            order.append("recorder")

    class Checkpoint(ModelCheckpoint):
        def on_train_epoch_end(self, trainer, pl_module):
            order.append("checkpoint")

    recorder = Recorder()
    checkpoint = Checkpoint(dirpath=tmp_path)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=0,
            callbacks=[checkpoint, recorder],
        )
    )
    trainer.fit(BoringModel())
    assert order == ["recorder", "checkpoint"]
    assert trainer.callbacks.index(recorder) < trainer.callbacks.index(checkpoint)


# Lightning's TrainerState.status/finished/stopped, read by most of its tests as
# `assert trainer.state.finished, f"Training failed with {trainer.state}"`
# (e.g. tests_pytorch/core/test_datamodules.py::test_full_loop).
def test_state_finished_after_each_entry_point_and_interrupted_after_an_error(tmp_path):
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    )
    assert trainer.state.status == "initializing" and not trainer.state.stopped
    trainer.fit(BoringModel())
    assert trainer.state.finished and trainer.state.stopped, f"Training failed with {trainer.state}"
    trainer.validate(BoringModel())
    assert trainer.state.finished

    class Failing(BoringModel):
        def training_step(self, batch, batch_idx):
            assert self.trainer.state.status == "running"
            raise RuntimeError("boom")

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_train_batches=2))
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Failing())
    assert trainer.state.status == "interrupted"
    assert trainer.state.stopped and not trainer.state.finished


# The Lightning-Hydra template's configure_optimizers: `self.hparams.optimizer(params=
# self.trainer.model.parameters())`, then `trainer.test(..., ckpt_path=best, weights_only=False)`.
def test_trainer_model_and_weights_only_accepted(tmp_path):
    seen = []

    class Model(BoringModel):
        def configure_optimizers(self):
            seen.append(self.trainer.model)
            return torch.optim.SGD(self.trainer.model.parameters(), lr=0.1)

    model = Model()
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_train_batches=2))
    trainer.fit(model, weights_only=None)
    assert seen == [model] and trainer.model is model
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    trainer.test(model, ckpt_path=str(path), weights_only=False)
    trainer.validate(model, ckpt_path=str(path), weights_only=True)
    trainer.predict(model, ckpt_path=str(path), weights_only=False)
    assert isinstance(Model.load_from_checkpoint(path, weights_only=False), Model)
