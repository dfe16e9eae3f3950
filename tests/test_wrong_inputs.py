"""Wrong inputs found by probing (issue 11, item 7): each gets an error naming the input, the
choices and the fix, before anything runs; a run with no optimizer behaves as Lightning's.

The random search over the same inputs is ``tests/test_input_properties.py``.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import make_loader, make_trainer, mlp
from treadle.loggers import CSVLogger


@pytest.fixture(autouse=True)
def _only_treadles_own_plugins(monkeypatch):
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")


def refused(match: str, **kwargs) -> treadle.ConfigurationError:
    with pytest.raises(treadle.ConfigurationError, match=re.escape(match)) as info:
        treadle.Trainer(**kwargs)
    return info.value


# -- Trainer arguments -------------------------------------------------------------------------


def test_logger_that_is_not_a_logger():
    msg = (
        "is not a logger. Pass True (the default CSV logger), False or None (no logging), a "
        "logger's name ('csv', 'tensorboard'), a logger object (a `treadle.loggers.Logger`, with "
        "`log_metrics`), or a list of logger objects"
    )
    refused(f"TrainerConfig: `Trainer(logger=1)`: Value error, `1` {msg}", logger=1)
    refused(f"`Trainer(logger=[1.5])`: Value error, `1.5` {msg}", logger=[1.5])
    refused(f"Value error, an object {msg}", logger=object())


def test_logger_class_instead_of_an_instance():
    refused(
        "Value error, `CSVLogger` is a class, not a logger: pass an instance, "
        "`logger=CSVLogger(...)`. Have you forgotten the `()`?",
        logger=CSVLogger,
    )


def test_callbacks_and_plugins_that_are_values():
    refused(
        "TrainerConfig: `Trainer(callbacks=[1, 'a'])`: Value error, `1` is not a callback: "
        "pass the object itself -- a `treadle.Callback` instance, or an object or module with "
        "`@treadle.hookimpl` functions; `'a'` is not a callback: names are not looked up "
        "here (installed plugins load by themselves, through their entry points; `strategy=`, "
        "`precision=` and `accelerator=` pick those by name); pass the object itself",
        callbacks=[1, "a"],
    )
    refused(
        "TrainerConfig: `Trainer(plugins=['ddp'])`: Value error, `'ddp'` is not a plugin: "
        "names are not looked up here",
        plugins=["ddp"],
    )
    refused("Value error, `None` is not a plugin", plugins=[None])
    refused("Value error, a list of [] is not a callback", callbacks=[[]])


def test_a_callback_class_instead_of_an_instance():
    from treadle_plugins.checkpointing import ModelCheckpoint

    for given in (ModelCheckpoint, [ModelCheckpoint]):
        refused(
            "Value error, `ModelCheckpoint` is a class, not a callback: pass an instance, "
            "`callbacks=[ModelCheckpoint(...)]`. Have you forgotten the `()`?",
            callbacks=given,
        )


class LooksLikeACallback:
    """Lightning-style method names, but neither a ``treadle.Callback`` nor hookimpls."""

    def on_train_start(self, trainer, pl_module):
        raise AssertionError("never called")


def test_an_object_that_would_do_nothing():
    for field in ("callbacks", "plugins"):
        refused(
            f"Trainer: `{field}=[...]` holds `LooksLikeACallback`, which has no "
            f"`@treadle.hookimpl` function and is not a `treadle.Callback`, so it would do "
            f"nothing. Subclass `treadle.Callback` (Lightning's method names), or mark its "
            f"methods with `@treadle.hookimpl` (hook names: `treadle.hookspecs`).",
            **{field: [LooksLikeACallback()]},
            logger=False,
        )


def test_plugins_that_do_something_are_accepted():
    class Hooked:
        @treadle.hookimpl
        def on_train_start(self, trainer, module):
            pass

    hooked, callback = Hooked(), treadle.Callback()
    trainer = treadle.Trainer(
        plugins=[hooked], callbacks=[callback], logger=False, accelerator="cpu"
    )
    assert callback in trainer.callbacks
    assert trainer.plugin_manager.is_registered(hooked)


def test_a_bool_where_a_number_is_expected():
    for name in ("max_steps", "max_epochs", "devices", "limit_train_batches"):
        refused(
            f"TrainerConfig: `Trainer({name}=True)`: Value error, a bool is not a number here; "
            f"pass an int (or a float where allowed)",
            **{name: True},
        )


def test_cpu_devices_beyond_the_cores():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    refused(
        f"cpu: `devices=1000000` asks for 1000000 processes, but this machine gives this process "
        f"{cores} CPU core{'s' if cores != 1 else ''} (at most {4 * cores} processes are started "
        f"on them). Pass devices<={cores} (one process per core), or 'auto' for one.",
        accelerator="cpu",
        devices=10**6,
    )
    assert treadle.Trainer(accelerator="cpu", devices=cores, logger=False).world_size in (
        1,
        cores,
    )


def test_cpu_devices_above_the_cores_warn_as_oversubscription():
    # Lightning starts them; so do we, saying what it costs (up to 4 processes a core).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with pytest.warns(UserWarning, match=re.escape(f"starts {cores + 1} processes on {cores}")):
        trainer = treadle.Trainer(
            accelerator="cpu", devices=cores + 1, strategy="ddp_spawn", logger=False
        )
    assert trainer.world_size == cores + 1


@pytest.mark.parametrize(
    "value, message",
    [
        (
            float("inf"),
            "`Trainer(process_group_timeout=inf)`: Value error, the timeout must be a finite number "
            "of seconds > 0 (at most 1e+09); for a very long wait pass e.g. "
            "`process_group_timeout=7 * 24 * 3600` (a week)",
        ),
        (float("nan"), "`Trainer(process_group_timeout=nan)`: Value error, the timeout must be"),
        (-1, "`Trainer(process_group_timeout=-1)`: Input should be greater than 0"),
        (0, "`Trainer(process_group_timeout=0)`: Input should be greater than 0"),
        (
            1e10,
            "`Trainer(process_group_timeout=10000000000.0)`: Input should be less than or equal "
            "to 1000000000",
        ),
        (
            "soon",
            "`Trainer(process_group_timeout='soon')`: Input should be a valid number, unable to "
            "parse string as a number",
        ),
        (True, "`Trainer(process_group_timeout=True)`: Value error, a bool is not a number here"),
    ],
)
def test_process_group_timeout_is_validated_at_construction(value, message):
    refused(message, process_group_timeout=value)


def test_process_group_timeout_as_a_timedelta():
    """As Lightning's ``DDPStrategy(timeout=timedelta(...))``: read as seconds."""
    trainer = treadle.Trainer(process_group_timeout=timedelta(minutes=5), logger=False)
    assert trainer.config.process_group_timeout == 300.0


def test_every_problem_at_once():
    error = refused(
        "6 configuration problems:",
        logger=1,
        callbacks=[3],
        plugins="x",
        max_steps=True,
        process_group_timeout=float("inf"),
        nonfinite_loss="nan",
    )
    named = ["max_steps", "callbacks", "plugins", "logger", "process_group_timeout"]
    for name, problem in zip([*named, "nonfinite_loss"], error.problems):
        assert problem.startswith(f"TrainerConfig: `Trainer({name}="), problem


# -- configure_optimizers() and training_step() returns ------------------------------------------


class Model(treadle.Module):
    def __init__(self, optimizers=None, step_output=None):
        super().__init__()
        self.net = mlp()
        self.make_optimizers, self.step_output = optimizers, step_output
        self.seen: list[int] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch_idx)
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        return loss if self.step_output is None else self.step_output(loss)

    def configure_optimizers(self):
        return self.make_optimizers(self)


def sgd(module):
    return torch.optim.SGD(module.parameters(), lr=0.1)


def fit(model, **kwargs):
    trainer = make_trainer(None, enable_model_summary=False, **kwargs)
    trainer.fit(model, make_loader(4))
    return trainer


@pytest.mark.parametrize("returned", [None, [], ()])
def test_no_optimizer_warns_and_max_steps_ends_the_run(returned):
    """As Lightning: a warning, forward and backward on every batch, and global_step still
    advancing (once per optimizer-step batch), so ``max_steps`` ends the run instead of
    looping forever; the weights do not change."""
    model = Model(lambda m: returned)
    start = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(
        UserWarning,
        match=re.escape(
            f"`configure_optimizers()` returned {returned!r}: this fit will run with no "
            f"optimizer (forward and backward only; `global_step` still advances). Return an "
            f"optimizer to train."
        ),
    ):
        trainer = fit(model, max_epochs=None, max_steps=6)
    assert trainer.global_step == 6
    assert model.seen == [0, 1, 2, 3, 0, 1]
    assert trainer.optimizers == []
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), start))


def test_no_optimizer_with_accumulation_counts_windows():
    with pytest.warns(UserWarning, match=re.escape("this fit will run with no optimizer")):
        trainer = fit(Model(lambda m: None), max_epochs=1, accumulate_grad_batches=2)
    assert trainer.global_step == 2


def test_a_scheduler_slot_holding_a_list():
    def nested(module):
        opt = sgd(module)
        return [opt], [[torch.optim.lr_scheduler.StepLR(opt, 1)]]

    def in_dict(module):
        opt = sgd(module)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": [opt]}}

    fix = (
        ", not a learning-rate scheduler. Put the scheduler itself there: `([optimizer], "
        "[scheduler])`, `{'optimizer': optimizer, 'lr_scheduler': scheduler}` or "
        "`{'scheduler': scheduler, 'interval': 'step'}` (not a list of schedulers)."
    )
    for make, held in ((nested, "a list of [StepLR]"), (in_dict, "a list of [SGD]")):
        with pytest.raises(
            treadle.ConfigurationError,
            match=re.escape(f"Module.configure_optimizers(): a scheduler slot holds {held}{fix}"),
        ):
            fit(Model(make))


def test_a_scheduler_slot_holding_a_number():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("Module.configure_optimizers(): a scheduler slot holds `0.5`, not a"),
    ):
        fit(Model(lambda m: ([sgd(m)], [0.5])))


def test_optimizer_and_one_scheduler_outside_a_list():
    """As Lightning: ``([opt], sched)`` means ``([opt], [sched])``."""

    def make(module):
        opt = sgd(module)
        return [opt], torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)

    trainer = fit(Model(make), max_epochs=2)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)


@pytest.mark.parametrize("value", [1.0, 3, "0.5"])
def test_training_step_returning_a_loss_that_is_not_a_tensor(value):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"`training_step` returned {{'loss': {value!r}}}: the loss must be a tensor (autograd "
            f"backpropagates through it), not a {type(value).__name__}. Return the tensor you "
            f"computed, without `.item()` or `float()`."
        ),
    ):
        fit(Model(sgd, step_output=lambda loss: {"loss": value}))


def test_training_step_returning_loss_none_in_a_dict_is_refused_as_lightning():
    # As Lightning's ClosureResult: a dict whose 'loss' is None is refused (None alone skips).
    with pytest.raises(
        treadle.ConfigurationError,
        match="In automatic_optimization, when `training_step` returns a dict, the 'loss' key needs to be present",
    ):
        fit(Model(sgd, step_output=lambda loss: {"loss": None}))
