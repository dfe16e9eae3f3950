"""Lightning behaviour pinned from its loop and trainer tests, ported as corpus programs by
helper ltest1 (``tests/lightning_programs/programs/t_states.py`` and the others named below).

Ported from Lightning's suite (Copyright The Lightning AI team, Apache-2.0):
``tests_pytorch/trainer/test_states.py``, ``tests_pytorch/loops/test_evaluation_loop.py``,
``tests_pytorch/trainer/test_dataloaders.py``, ``tests_pytorch/trainer/flags/test_env_vars.py``,
``tests_pytorch/loops/test_training_loop_flow_scalar.py``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import pytest
import torch
from lightning_boring import BoringModel, RandomDataset, quiet
from torch.utils.data import BatchSampler, DataLoader, RandomSampler
from treadle.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus

import treadle
from treadle.errors import ConfigurationError
from treadle.loggers import CSVLogger
from treadle.utilities import CombinedLoader


# test_states.py::test_initialize_state and test_trainer_fn_while_running: Lightning's enums
# compare equal to trainer.state's fields, and TrainerState() to a new Trainer's state
def test_lightning_state_enums_compare_with_trainer_state(tmp_path):
    seen = []
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=1, limit_val_batches=1, limit_test_batches=1)
    )
    assert trainer.state == TrainerState(status=TrainerStatus.INITIALIZING, fn=None, stage=None)
    assert trainer.state != TrainerState(status=TrainerStatus.RUNNING)

    class Model(BoringModel):
        def on_train_batch_start(self, batch, batch_idx):
            state = self.trainer.state
            assert state.status == TrainerStatus.RUNNING and state.fn == TrainerFn.FITTING
            seen.append((state.stage == RunningStage.TRAINING, state.stage))

        def on_test_batch_start(self, batch, batch_idx, dataloader_idx=0):
            state = self.trainer.state
            assert state.fn == TrainerFn.TESTING and state.fn != TrainerFn.FITTING
            seen.append((state.stage == RunningStage.TESTING, state.stage))

    trainer.fit(Model())
    assert trainer.state.status == TrainerStatus.FINISHED and TrainerStatus.FINISHED.stopped
    trainer.test(Model())
    assert seen == [(True, "fit"), (True, "test")]
    assert RunningStage.SANITY_CHECKING == "sanity" and RunningStage.SANITY_CHECKING.evaluating
    assert TrainerState(status="finished", fn="test").finished
    assert {TrainerFn.FITTING: 1}["fit"] == 1  # hashed as its value


def test_keyboard_interrupt_exits_and_marks_the_trainer_interrupted(tmp_path):
    class Interrupt(treadle.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            raise KeyboardInterrupt

    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1, callbacks=[Interrupt()]))
    with pytest.raises(SystemExit):
        trainer.fit(BoringModel())
    assert trainer.interrupted and trainer.state.status == TrainerStatus.INTERRUPTED


# Lightning's _run_sanity_check sets the stage before on_sanity_check_start and keeps it through
# on_sanity_check_end (test_states.py asserts trainer.sanity_checking in the sanity hook)
def test_sanity_check_hooks_see_the_sanity_stage(tmp_path):
    seen = []

    class Sanity(treadle.Callback):
        def on_sanity_check_start(self, trainer, pl_module):
            seen.append(("start", trainer.sanity_checking, trainer.state.stage))

        def on_sanity_check_end(self, trainer, pl_module):
            seen.append(("end", trainer.sanity_checking, trainer.state.stage))

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=1, limit_val_batches=1, callbacks=[Sanity()])
    )
    trainer.fit(BoringModel())
    assert seen == [("start", True, "sanity"), ("end", True, "sanity")]
    assert seen[0][2] == RunningStage.SANITY_CHECKING


# Ported from test_evaluation_loop.py::test_evaluation_loop_sampler_set_epoch_called: the
# validation sampler's set_epoch gets the training epoch (sanity check and each epoch), and
# validate() after fit the epoch reached; a batch_sampler's sampler is found too
@pytest.mark.parametrize("use_batch_sampler", [False, True])
def test_set_epoch_on_validation_and_batch_samplers(tmp_path, use_batch_sampler):
    def loader():
        dataset = RandomDataset(32, 16)
        sampler = RandomSampler(dataset)
        sampler.calls = []
        sampler.set_epoch = sampler.calls.append
        if use_batch_sampler:
            return DataLoader(dataset, batch_sampler=BatchSampler(sampler, 2, True)), sampler
        return DataLoader(dataset, sampler=sampler), sampler

    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=1, limit_val_batches=1, max_epochs=2)
    )
    (train, train_sampler), (val, val_sampler) = loader(), loader()
    trainer.fit(BoringModel(), train, val)
    assert train_sampler.calls == [0, 1]
    assert val_sampler.calls == [0, 0, 1]
    val, val_sampler = loader()
    trainer.validate(BoringModel(), val)
    assert val_sampler.calls == [2]


# Ported from test_evaluation_loop.py::test_invalid_dataloader_idx_raises_step/_batch_start/
# _batch_end: Lightning's RuntimeError and wording, the Module's batch hooks checked too, and a
# parameter of another name at dataloader_idx's place not given one with a single loader
def test_dataloader_idx_checks_as_lightning(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, limit_val_batches=1))

    class Required(BoringModel):
        def on_validation_batch_start(self, batch, batch_idx, dataloader_idx): ...

    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "You provided only a single `val_dataloader`, but have included `dataloader_idx` in "
            "`Required.on_validation_batch_start()`: with one loader it is called without it "
            "(as Lightning does). Remove the argument or give it a default value: "
            "`dataloader_idx=0`."
        ),
    ) as info:
        trainer.validate(Required())
    assert isinstance(info.value, ConfigurationError)

    class TwoLoaders(BoringModel):
        def validation_step(self, batch, batch_idx, dataloader_idx=0): ...

        def on_validation_batch_end(self, outputs, batch, batch_idx): ...

        def val_dataloader(self):
            return [super().val_dataloader(), super().val_dataloader()]

    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "You provided multiple `val_dataloader` (2 loaders), but no `dataloader_idx` "
            "argument in `TwoLoaders.on_validation_batch_end()`. Add the parameter (`def "
            "on_validation_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0)`), or "
            "pass a single loader."
        ),
    ):
        trainer.validate(TwoLoaders())

    class OtherName(BoringModel):
        def on_test_batch_start(self, batch, batch_idx, dl_idx): ...

    with pytest.raises(TypeError, match="missing 1 required positional argument: 'dl_idx'"):
        trainer.test(OtherName())


# Ported from test_evaluation_loop.py::test_evaluation_loop_non_sequential_mode_supprt: a
# CombinedLoader of another mode counts each of its iterables in num_val/test_batches
def test_num_eval_batches_count_each_iterable_of_a_combined_loader(tmp_path):
    class Model(BoringModel):
        def validation_step(self, batch, batch_idx): ...

        def test_step(self, batch, batch_idx): ...

    trainer = treadle.Trainer(**quiet(tmp_path, num_sanity_val_steps=0))
    combined = CombinedLoader({"a": [0, 1, 2], "b": {3, 4}}, "max_size_cycle")
    trainer.validate(Model(), combined)
    assert trainer.num_val_batches == [3, 2]
    assert trainer.num_sanity_val_batches == []
    trainer.test(Model(), CombinedLoader({"a": [0, 1, 2], "b": {3, 4}}, "min_size"))
    assert trainer.num_test_batches == [3, 2]


# Ported from test_dataloaders.py::test_dataloader_config_errors_init: Lightning's wording
@pytest.mark.parametrize(
    "name, value",
    [("limit_test_batches", 1.2), ("val_check_interval", -0.1), ("overfit_batches", -0.1)],
)
def test_invalid_batch_limits_in_lightning_words(name, value):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            f"`Trainer({name}={value})`: You have passed invalid value {value} for {name}, it has "
            f"to be in [0.0, 1.0] (a fraction of the epoch) or an int (a number of batches)."
        ),
    ):
        treadle.Trainer(**{name: value})


# Ported from test_dataloaders.py::test_warning_with_small_dataloader_and_logging_interval
def test_warning_when_an_epoch_is_shorter_than_the_logging_interval(tmp_path):
    message = (
        "The number of training batches (2) is smaller than the logging interval "
        "Trainer(log_every_n_steps=3). Set a lower value for log_every_n_steps if you want to see "
        "logs for the training epoch."
    )
    args = quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    with pytest.warns(UserWarning, match=re.escape(message)):
        treadle.Trainer(**{**args, "logger": CSVLogger(tmp_path), "log_every_n_steps": 3}).fit(
            BoringModel()
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no logger, or fast_dev_run: no warning
        treadle.Trainer(**args, log_every_n_steps=3).fit(BoringModel())
        treadle.Trainer(
            **{**args, "logger": CSVLogger(tmp_path), "fast_dev_run": 2}, log_every_n_steps=3
        ).fit(BoringModel())


# Ported from trainer/flags/test_env_vars.py: PL_TRAINER_* variables are Trainer defaults
def test_pl_trainer_environment_variables_are_defaults(monkeypatch):
    monkeypatch.setenv("PL_TRAINER_LOGGER", "False")
    monkeypatch.setenv("PL_TRAINER_MAX_STEPS", "7")
    monkeypatch.setenv("PL_TRAINER_ACCELERATOR", "cpu")  # not a literal: the string
    trainer = treadle.Trainer()
    assert trainer.logger is None and trainer.max_steps == 7
    assert trainer.config.accelerator == "cpu"
    trainer = treadle.Trainer(logger=True, max_steps=42)  # passed explicitly: they win
    assert trainer.logger is not None and trainer.max_steps == 42


# Ported from test_env_vars.py::test_passing_no_env_variables: max_epochs stays None until a
# fit() resolves it (1000, or -1 with max_steps)
def test_max_epochs_is_none_until_fit_resolves_it(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1, limit_val_batches=0))
    assert trainer.max_epochs is None and trainer.max_steps == 1
    trainer.fit(BoringModel())
    assert trainer.max_epochs == -1
    trainer = treadle.Trainer(**quiet(tmp_path, limit_train_batches=1, limit_val_batches=0))
    trainer.validate(BoringModel(), BoringModel().val_dataloader())
    assert trainer.max_epochs is None
    assert treadle.Trainer(max_epochs=3).max_epochs == 3


# Ported from loops/test_training_loop_flow_scalar.py::test_train_step_no_return: Lightning
# warns (once per process) when training_step returns None under automatic optimization
def test_training_step_returning_none_warns_once(tmp_path, monkeypatch):
    import treadle.step

    monkeypatch.setitem(treadle.step._WARNED, "none_loss", False)

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            return None

    message = "`training_step` returned `None`. If this was on purpose, ignore this warning..."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        treadle.Trainer(**quiet(tmp_path, max_steps=3, limit_val_batches=0)).fit(Model())
    assert [str(w.message) for w in caught if "returned `None`" in str(w.message)] == [message]


# Lightning 2.6.6 (probed): under automatic optimization, a training_step that returns None
# hands on_train_batch_end `{}` as its outputs (Module and callbacks alike); a dict keeps its
# other keys after the detached loss
def test_outputs_of_a_none_training_step_are_an_empty_dict(tmp_path):
    seen = []

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)["loss"]
            return None if batch_idx == 1 else {"loss": loss, "x": 1}

        def on_train_batch_end(self, outputs, batch, batch_idx):
            seen.append((batch_idx, sorted(outputs)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        treadle.Trainer(**quiet(tmp_path, max_steps=3, limit_val_batches=0)).fit(Model())
    assert seen == [(0, ["loss", "x"]), (1, []), (2, ["loss", "x"])]  # (batch 1 steps too)


# Ported from test_training_loop_flow_scalar.py::test_training_step_none_batches: a None batch
# is skipped (no batch hooks, no step), with a warning once per process
def test_none_batches_are_skipped_with_a_warning(tmp_path, monkeypatch):
    import treadle.loop

    monkeypatch.setattr(treadle.loop, "_NONE_BATCH_WARNED", [])
    seen = []

    class Model(BoringModel):
        def train_dataloader(self):
            return [None, torch.randn(2, 32), None, torch.randn(2, 32)]

        def on_train_batch_start(self, batch, batch_idx):
            seen.append(("start", batch_idx))

        def training_step(self, batch, batch_idx):
            seen.append(("step", batch_idx))
            return super().training_step(batch, batch_idx)

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_val_batches=0))
    with pytest.warns(UserWarning, match=re.escape("train_dataloader yielded None. If this was")):
        trainer.fit(Model())
    assert seen == [("start", 1), ("step", 1), ("start", 3), ("step", 3)]
    assert trainer.global_step == 2 and trainer.current_epoch == 1


# Ported from loops/optimization/test_closure.py::test_optimizer_step_no_closure_raises: an
# optimizer_step that never runs the closure (or an optimizer whose step() drops it) is refused
# in Lightning's words, not a silent batch with no training_step
@pytest.mark.parametrize("where", ["optimizer_step", "optimizer"])
def test_a_closure_never_executed_is_refused(tmp_path, where):
    class Model(BoringModel):
        def optimizer_step(
            self, epoch=None, batch_idx=None, optimizer=None, optimizer_closure=None, **_
        ):
            pass  # does not call optimizer_closure()

    class BrokenSGD(torch.optim.SGD):
        def step(self, closure=None):
            return super().step()  # forgot to pass the closure

    class BrokenModel(BoringModel):
        def configure_optimizers(self):
            return BrokenSGD(self.layer.parameters(), lr=0.1)

    model = Model() if where == "optimizer_step" else BrokenModel()
    with pytest.raises(
        ConfigurationError, match=re.escape("The closure hasn't been executed. HINT: did you call")
    ):
        treadle.Trainer(**quiet(tmp_path, max_steps=1, limit_val_batches=0)).fit(model)


# Ported from loops/optimization/test_automatic_loop.py::test_warning_invalid_trainstep_output:
# a float, a dict without 'loss' (or with None) and a Mapping that is not a dict, as Lightning
class _OutputMapping(Mapping):
    def __init__(self, d):
        self.d = d

    def __iter__(self):
        return iter(self.d)

    def __len__(self):
        return len(self.d)

    def __getitem__(self, key):
        return self.d[key]


@pytest.mark.parametrize(
    ("output", "match"),
    [
        (5.0, "must return a Tensor, a dict, or None (where the step will be skipped)"),
        ({"a": 5}, "when `training_step` returns a dict, the 'loss' key needs to be present"),
        ({"loss": None}, "when `training_step` returns a dict, the 'loss' key needs to be present"),
        (
            _OutputMapping({"a": 5}),
            "when `training_step` returns a dict, the 'loss' key needs to be present",
        ),
    ],
)
def test_invalid_training_step_outputs_in_lightning_words(tmp_path, output, match):
    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            return output

    with pytest.raises(ConfigurationError, match=re.escape(match)):
        treadle.Trainer(**quiet(tmp_path, max_steps=1, limit_val_batches=0)).fit(Model())


def test_a_mapping_training_step_output_is_read_as_a_dict(tmp_path):
    seen = []

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            return _OutputMapping({"loss": super().training_step(batch, batch_idx)["loss"], "x": 1})

        def on_train_batch_end(self, outputs, batch, batch_idx):
            seen.append(sorted(outputs))

    treadle.Trainer(**quiet(tmp_path, max_steps=2, limit_val_batches=0)).fit(Model())
    assert seen == [["loss", "x"], ["loss", "x"]]


# Ported from loops/optimization/test_manual_loop.py::test_warning_invalid_trainstep_output (and
# test_manual_result: a dict's loss reaches on_train_batch_end detached, its extras kept)
def test_manual_training_step_outputs_as_lightning(tmp_path):
    class Bad(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            return 5

    words = "`training_step` must either return a Tensor or have no return"
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        treadle.Trainer(**quiet(tmp_path, max_steps=1, limit_val_batches=0)).fit(Bad())

    seen = []

    class Good(Bad):
        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            loss = self.loss(self(batch))
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            return {"loss": loss, "something": "jiraffe"}

        def on_train_batch_end(self, outputs, batch, batch_idx):
            seen.append((outputs["loss"].requires_grad, outputs["something"]))

    treadle.Trainer(**quiet(tmp_path, max_steps=2, limit_val_batches=0)).fit(Good())
    assert seen == [(False, "jiraffe"), (False, "jiraffe")]
