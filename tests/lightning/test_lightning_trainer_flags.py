"""Lightning 2's ``Trainer`` arguments: those treadle implements, and the refusals.

Ported behaviour (Copyright The Lightning AI team, Apache-2.0) from Lightning's
``tests/tests_pytorch/trainer/flags/test_fast_dev_run.py``, ``test_min_max_epochs.py``,
``test_overfit_batches.py`` and ``trainer/test_trainer.py`` (``min_epochs``/``min_steps`` with
``should_stop``, ``max_time``, ``inference_mode``, ``reload_dataloaders_every_n_epochs``); plus
treadle's own checks that every refusal names the argument, why and the treadle way.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import timedelta

import pytest
import torch
from lightning_boring import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import EarlyStopping, ModelCheckpoint, Timer

# -- fast_dev_run ------------------------------------------------------------------------------


class CountingModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.counts = {
            "training_step": 0,
            "on_train_epoch_end": 0,
            "validation_step": 0,
            "on_validation_epoch_end": 0,
            "test_step": 0,
        }

    def training_step(self, batch, batch_idx):
        self.log("some_metric", torch.tensor(7.0))
        self.logger.experiment.dummy_log("some_distribution", torch.randn(7))  # DummyLogger
        self.counts["training_step"] += 1
        return super().training_step(batch, batch_idx)

    def on_train_epoch_end(self):
        self.counts["on_train_epoch_end"] += 1

    def validation_step(self, batch, batch_idx):
        self.counts["validation_step"] += 1
        return super().validation_step(batch, batch_idx)

    def on_validation_epoch_end(self):
        self.counts["on_validation_epoch_end"] += 1

    def test_step(self, batch, batch_idx):
        self.counts["test_step"] += 1


@pytest.mark.parametrize("fast_dev_run", [1, 4, True])
@pytest.mark.parametrize("with_validation", [True, False])
def test_fast_dev_run(tmp_path, fast_dev_run, with_validation):
    """Lightning's test_callbacks_and_logger_not_called_with_fastdevrun."""
    n = int(fast_dev_run)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpts")
    early_stopping = EarlyStopping(monitor="foo")
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        enable_progress_bar=False,
        fast_dev_run=fast_dev_run,
        val_check_interval=2,
        log_every_n_steps=1,
        max_epochs=5,
        callbacks=[checkpoint, early_stopping],
    )
    model = CountingModel()
    if not with_validation:
        model.validation_step = None
    trainer.fit(model)
    trainer.test(model)
    assert model.counts == {
        "training_step": n,
        "on_train_epoch_end": 1,
        "validation_step": n if with_validation else 0,
        "on_validation_epoch_end": 1 if with_validation else 0,
        "test_step": n,
    }
    cfg = trainer.config
    assert (trainer.max_steps, trainer.max_epochs, cfg.num_sanity_val_steps) == (n, 1, 0)
    assert (cfg.val_check_interval, cfg.check_val_every_n_epoch) == (None, 1)
    assert trainer.fast_dev_run == (True if n == 1 else n)
    assert type(trainer.logger).__name__ == "DummyLogger"
    assert not os.path.exists(tmp_path / "lightning_logs")  # nothing logged
    assert not os.path.exists(checkpoint.dirpath) and checkpoint.best_model_path == ""
    assert early_stopping.wait_count == 0 and early_stopping.stopped_epoch == 0


def test_fast_dev_run_false_and_zero_are_off(tmp_path):
    for off in (False, 0):
        trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=off, max_epochs=1))
        assert not trainer.fast_dev_run and trainer.config.limit_train_batches is None


def test_fast_dev_run_negative_is_refused():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `Trainer(fast_dev_run=-1)`: Value error, fast_dev_run=-1 is not a "
            "valid configuration. It should be >= 0: True or 1 runs one batch of each loop, n "
            "runs n, False or 0 turns it off"
        ),
    ):
        treadle.Trainer(fast_dev_run=-1)


def test_fast_dev_run_sets_no_max_epochs_warning(tmp_path):
    """Lightning's test_fast_dev_run_no_warning: max_epochs is 1, not the default 1000."""
    assert treadle.Trainer(**quiet(tmp_path, fast_dev_run=True)).max_epochs == 1


# -- min_epochs, min_steps, max_epochs, max_steps, should_stop -----------------------------------


@pytest.mark.parametrize(
    "min_epochs, max_epochs, min_steps, max_steps",
    [
        (None, 3, None, -1),
        (None, None, None, 20),
        (None, 3, None, 20),
        (None, None, 10, 20),
        (1, 3, None, -1),
        (1, None, None, 20),
        (None, 3, 10, -1),
    ],
)
def test_min_max_steps_epochs(tmp_path, min_epochs, max_epochs, min_steps, max_steps):
    """Lightning's test_min_max_steps_epochs."""
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            min_steps=min_steps,
            max_steps=max_steps,
            limit_val_batches=0,
        )
    )
    trainer.fit(BoringModel())
    expected = (
        max_steps
        if max_epochs is None
        else (8 * max_epochs if max_steps == -1 else min(max_steps, 8 * max_epochs))
    )
    assert trainer.global_step == expected


class StopsAt(BoringModel):
    """Asks to stop at every training batch from ``step`` on (as EarlyStopping keeps doing)."""

    def __init__(self, step):
        super().__init__()
        self.stop_at = step
        self.epochs_ended = []

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.trainer.global_step >= self.stop_at:
            self.trainer.should_stop = True

    def on_train_epoch_end(self):
        self.epochs_ended.append(self.current_epoch)


@pytest.mark.parametrize(
    "min_epochs, min_steps, global_step, epochs",
    [
        (None, None, 1, 1),  # stops after the batch that asked
        (2, None, 16, 2),  # epochs continue until min_epochs are done, then it stops
        (None, 5, 8, 1),  # min_steps alone means min_epochs=1 too (Lightning's rule)
        (None, 12, 12, 2),  # min_steps met mid-epoch, after the first epoch: stops there
        (3, 4, 24, 3),  # both: the later one
    ],
)
def test_should_stop_waits_for_min_epochs_and_min_steps(
    tmp_path, min_epochs, min_steps, global_step, epochs
):
    """Lightning's test_trainer_min_steps_and_min_epochs_not_reached / the fit loop's
    _can_stop_early: a stop request is honoured once min_epochs and min_steps are met."""
    model = StopsAt(1)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, max_epochs=10, min_epochs=min_epochs, min_steps=min_steps, limit_val_batches=0
        )
    )
    trainer.fit(model)
    assert trainer.global_step == global_step
    assert model.epochs_ended == list(range(epochs))
    assert trainer.current_epoch == epochs


def test_min_epochs_holds_off_early_stopping(tmp_path):
    """Lightning's test_min_epochs_min_steps_global_step / test_early_stopping_min_epochs:
    EarlyStopping keeps asking, training goes on until min_epochs."""

    class Flat(BoringModel):
        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.tensor(1.0))

    early = EarlyStopping("val_loss", patience=0)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=10, min_epochs=4, callbacks=[early], num_sanity_val_steps=0)
    )
    trainer.fit(Flat())
    assert trainer.current_epoch == 4


def test_should_stop_before_training_runs_no_epoch(tmp_path):
    """Lightning's fit loop `skip`: should_stop set in on_fit_start, no min_epochs: no epoch,
    no on_train_start; with min_epochs=1 that epoch runs."""

    class StopEarly(BoringModel):
        started = False

        def on_fit_start(self):
            self.trainer.should_stop = True

        def on_train_start(self):
            self.started = True

    model = StopEarly()
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=3, limit_val_batches=0))
    trainer.fit(model)
    assert (trainer.global_step, trainer.current_epoch, model.started) == (0, 0, False)
    model = StopEarly()
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=3, min_epochs=1, limit_val_batches=0))
    trainer.fit(model)
    assert (trainer.global_step, trainer.current_epoch, model.started) == (8, 1, True)


def test_max_time_adds_a_timer(tmp_path):
    """Lightning's callback connector: max_time is a Timer(interval="step"); with only
    max_time, max_epochs is unlimited (-1)."""
    trainer = treadle.Trainer(**quiet(tmp_path, max_time={"seconds": 0}))
    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    assert len(timers) == 1 and timers[0]._duration == 0 and timers[0]._interval == "step"
    assert trainer.max_epochs is None  # as Lightning: resolved when fit() starts
    trainer.fit(BoringModel())
    assert trainer.max_epochs == -1
    assert trainer.global_step == 0  # stopped at the first check, before training
    trainer = treadle.Trainer(**quiet(tmp_path, max_time="00:00:00:01", max_epochs=2))
    assert trainer.max_epochs == 2
    assert [c._duration for c in trainer.callbacks if isinstance(c, Timer)] == [1.0]


def test_max_time_with_a_timer_already_given(tmp_path):
    timer = Timer(duration=timedelta(hours=1))
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "`Trainer(max_time=...)` is ignored: a `Timer` callback is already in `callbacks`"
        ),
    ):
        trainer = treadle.Trainer(**quiet(tmp_path, max_time="00:00:00:01", callbacks=[timer]))
    assert [c for c in trainer.callbacks if isinstance(c, Timer)] == [timer]


def test_max_time_that_cannot_be_read():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `Trainer(max_time='ten minutes')`: Timer(duration='ten minutes') "
            "cannot be converted into a duration."
        ),
    ):
        treadle.Trainer(max_time="ten minutes", logger=False)


# -- overfit_batches -----------------------------------------------------------------------------


@pytest.mark.parametrize("overfit_batches", [1, 2, 0.25])
def test_overfit_batches(tmp_path, overfit_batches):
    """Lightning's test_overfit_batch_limits_train: the same first batches every epoch, in
    order (shuffling turned off, with a warning), for training and validation."""
    seen = []

    class Model(BoringModel):
        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 64), batch_size=8, shuffle=True)

        def training_step(self, batch, batch_idx):
            seen.append((self.current_epoch, batch_idx, batch[0, 0].item()))
            return super().training_step(batch, batch_idx)

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, overfit_batches=overfit_batches, num_sanity_val_steps=0)
    )
    with pytest.warns(
        UserWarning, match="You requested to overfit but enabled train dataloader shuffling"
    ):
        trainer.fit(Model())
    n = 2 if overfit_batches == 0.25 else overfit_batches
    data = RandomDataset(32, 64).data
    first = [(b, data[8 * b, 0].item()) for b in range(n)]
    assert [(b, x) for e, b, x in seen if e == 0] == first
    assert [(b, x) for e, b, x in seen if e == 1] == first
    assert trainer.num_val_batches == [1 if overfit_batches == 0.25 else overfit_batches]


def test_overfit_batches_replaces_any_sampler_but_a_sequential_one(tmp_path):
    """Lightning's test_overfit_batches_raises_warning_in_case_of_sequential_sampler: a sampler
    of the user's (not shuffling, but not a SequentialSampler) is replaced too, for the train and
    the val loaders, each with its warning."""
    from torch.utils.data import Sampler, SequentialSampler

    class InOrder(Sampler):
        def __init__(self, data):
            self.data = data

        def __iter__(self):
            return iter(range(len(self.data)))

        def __len__(self):
            return len(self.data)

    class Model(BoringModel):
        def train_dataloader(self):
            data = RandomDataset(32, 64)
            return DataLoader(data, sampler=InOrder(data))

        def val_dataloader(self):
            data = RandomDataset(32, 64)
            return DataLoader(data, sampler=InOrder(data))

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, overfit_batches=2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Model())
    messages = [str(w.message) for w in caught if "requested to overfit" in str(w.message)]
    assert messages == [
        f"You requested to overfit but enabled {p} dataloader shuffling. Shuffling is turned "
        f"off for you: the same batches every epoch."
        for p in ("val", "train")  # Lightning 2.6.6's order: val asked for in the sanity check
    ]
    assert isinstance(trainer.train_dataloader.sampler, SequentialSampler)
    assert isinstance(trainer.val_dataloaders.sampler, SequentialSampler)


def test_overfit_batches_float_above_one_is_refused():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `Trainer(overfit_batches=1.5)`: You have passed invalid value 1.5 "
            "for overfit_batches, it has to be in [0.0, 1.0] (a fraction of the epoch) or an int "
            "(a number of batches)."
        ),
    ):
        treadle.Trainer(overfit_batches=1.5)


# -- inference_mode, detect_anomaly, benchmark -----------------------------------------------


@pytest.mark.parametrize("inference_mode", [True, False])
def test_inference_mode(tmp_path, inference_mode):
    """Lightning's test_trainer_inference_mode: validate/test/predict under
    torch.inference_mode, or torch.no_grad when it is False."""
    modes = []

    class Model(BoringModel):
        def test_step(self, batch, batch_idx):
            modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))

    trainer = treadle.Trainer(**quiet(tmp_path, inference_mode=inference_mode))
    trainer.test(Model())
    assert set(modes) == {(inference_mode, False)}


def test_detect_anomaly(tmp_path):
    """Lightning's test_detect_anomaly_nan: a NaN in backward is found where it is made."""

    class NanModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = self(batch)
            return {"loss": (out * torch.tensor(float("nan"))).sqrt().sum()}

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, detect_anomaly=True, limit_val_batches=0)
    )
    with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
        trainer.fit(NanModel())
    assert not torch.is_anomaly_enabled()  # only around fit()
    treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    ).fit(NanModel())  # off: no error


@pytest.mark.parametrize("before", [True, False])
@pytest.mark.parametrize(
    "benchmark, deterministic, expected",
    [
        (None, None, "unchanged"),
        (True, None, True),
        (False, None, False),
        (None, True, False),
        (True, True, True),
    ],
)
def test_benchmark(benchmark, deterministic, expected, before):
    """Lightning's test_trainer_config_benchmark (cudnn.benchmark is set when the Trainer is
    made; None leaves it; deterministic=True turns it off unless benchmark says otherwise)."""
    original = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = before
        treadle.Trainer(benchmark=benchmark, deterministic=deterministic, logger=False)
        assert torch.backends.cudnn.benchmark == (before if expected == "unchanged" else expected)
    finally:
        torch.backends.cudnn.benchmark = original
        torch.use_deterministic_algorithms(False)


# -- reload_dataloaders_every_n_epochs -------------------------------------------------------


@pytest.mark.parametrize(
    "n, train_loads, val_loads",
    [
        (0, [0], [0]),
        (1, [0, 1, 2, 3], [0, 1, 2, 3]),
        (2, [0, 2], [0, 2]),
    ],
)
def test_reload_dataloaders_every_n_epochs(tmp_path, n, train_loads, val_loads):
    """Lightning's test_dataloaders_load_every_n_epochs (the epochs each loader is asked
    for; the sanity check uses the first validation loaders)."""
    calls = {"train": [], "val": []}

    class Model(BoringModel):
        def train_dataloader(self):
            calls["train"].append(self.current_epoch)
            return super().train_dataloader()

        def val_dataloader(self):
            calls["val"].append(self.current_epoch)
            return super().val_dataloader()

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=4, reload_dataloaders_every_n_epochs=n))
    trainer.fit(Model())
    assert calls == {"train": train_loads, "val": val_loads}
    assert trainer.global_step == 32


# -- default_root_dir layout ----------------------------------------------------------------


def test_default_root_dir_layout(tmp_path):
    """Lightning's layout: default_root_dir/lightning_logs/version_N/{events.out.tfevents.*,
    checkpoints/epoch=E-step=S.ckpt} (the default logger is TensorBoard where it is installed,
    as in Lightning; CSV's metrics.csv otherwise)."""
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        max_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel())
    version = tmp_path / "lightning_logs" / "version_0"
    assert len(list(version.glob("events.out.tfevents.*"))) == 1
    assert [p.name for p in (version / "checkpoints").iterdir()] == ["epoch=0-step=8.ckpt"]
    assert trainer.checkpoint_callback.best_model_path == str(
        version / "checkpoints" / "epoch=0-step=8.ckpt"
    )


# -- arguments treadle refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "model_registry",
            "my-model",
            "`Trainer(model_registry='my-model')`: Lightning's "
            "`model_registry` is not supported: Lightning's model registry uploads checkpoints to "
            "Lightning AI's service, which treadle does not talk to. Upload "
            "`trainer.checkpoint_callback.best_model_path` yourself after `fit()`.",
        ),
    ],
)
def test_refused_lightning_arguments(name, value, message):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(f"1 configuration problem:\n  - TrainerConfig: {message}"),
    ):
        treadle.Trainer(**{name: value})


def test_refusals_are_reported_with_the_other_problems():
    with pytest.raises(treadle.ConfigurationError) as info:
        treadle.Trainer(barebones=True, logger=True, max_epochs=-5, model_registry="m")
    assert [p.split("`")[1] for p in info.value.problems] == [
        "Trainer(barebones=True, logger=True)",
        "Trainer(model_registry='m')",
        "Trainer(max_epochs=-5)",
    ]


def test_refused_arguments_spelled_with_their_off_value_are_accepted(tmp_path):
    """A Lightning program that spells out the defaults runs unchanged."""
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            profiler=None,
            barebones=False,
            sync_batchnorm=False,
            model_registry=None,
            use_distributed_sampler=True,
            max_epochs=1,
        )
    )
    trainer.fit(BoringModel())
    assert trainer.global_step == 8


def test_every_lightning_argument_is_implemented_or_refused():
    lightning = [
        "accelerator",
        "strategy",
        "devices",
        "num_nodes",
        "precision",
        "logger",
        "callbacks",
        "fast_dev_run",
        "max_epochs",
        "min_epochs",
        "max_steps",
        "min_steps",
        "max_time",
        "limit_train_batches",
        "limit_val_batches",
        "limit_test_batches",
        "limit_predict_batches",
        "overfit_batches",
        "val_check_interval",
        "check_val_every_n_epoch",
        "num_sanity_val_steps",
        "log_every_n_steps",
        "enable_checkpointing",
        "enable_progress_bar",
        "enable_model_summary",
        "accumulate_grad_batches",
        "gradient_clip_val",
        "gradient_clip_algorithm",
        "deterministic",
        "benchmark",
        "inference_mode",
        "use_distributed_sampler",
        "profiler",
        "detect_anomaly",
        "barebones",
        "plugins",
        "sync_batchnorm",
        "reload_dataloaders_every_n_epochs",
        "default_root_dir",
        "model_registry",
    ]
    from treadle.config import REFUSED

    implemented = set(treadle.TrainerConfig.model_fields)
    assert [n for n in lightning if n not in implemented and n not in REFUSED] == []
    assert not implemented & set(REFUSED)


# Lightning's Trainer(barebones=True) (trainer.py's opt-outs; used by its
# test_evaluation_loop.py::test_evaluation_loop_non_sequential_mode_supprt)
def test_barebones_turns_the_extras_off_and_refuses_them_on(tmp_path):
    trainer = treadle.Trainer(barebones=True, default_root_dir=tmp_path, max_steps=1)
    assert trainer.barebones
    assert trainer.loggers == [] and trainer.checkpoint_callback is None
    assert trainer.progress_bar_callback is None and trainer.num_sanity_val_steps == 0
    trainer.fit(BoringModel())
    assert trainer.global_step == 1 and not any(tmp_path.iterdir())
    assert not treadle.Trainer().barebones
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `Trainer(barebones=True, enable_checkpointing=True)` was passed. "
            "Checkpointing can impact raw speed so it is disabled in barebones mode. Drop "
            "`enable_checkpointing` or `barebones=True`."
        ),
    ):
        treadle.Trainer(barebones=True, enable_checkpointing=True)
    with pytest.raises(treadle.ConfigurationError, match=re.escape("profiler='simple')` was")):
        treadle.Trainer(barebones=True, profiler="simple")
    treadle.Trainer(barebones=True, logger=False, fast_dev_run=False, num_sanity_val_steps=0)


def test_max_epochs_not_set_warning(tmp_path):
    """Ported from ``test_min_max_epochs.py::test_max_epochs_not_set_warning``: a fit with no
    ``max_epochs``, ``max_steps`` or time limit warns that it runs 1000 epochs; a
    ``fast_dev_run`` Trainer, a ``max_steps`` and an explicit ``max_epochs`` do not warn."""
    import warnings

    from treadle.utilities import PossibleUserWarning

    class CustomModel(BoringModel):
        def training_step(self, *args, **kwargs):
            self.trainer.should_stop = True

    match = "`max_epochs` was not set. Setting it to 1000 epochs."
    trainer = treadle.Trainer(
        default_root_dir=tmp_path, logger=False, enable_checkpointing=False, max_epochs=None,
        limit_train_batches=1, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    with pytest.warns(PossibleUserWarning, match=re.escape(match)):
        trainer.fit(CustomModel())
    assert trainer.max_epochs == 1000
    assert trainer.current_epoch == 1
    for kwargs in ({"fast_dev_run": True}, {"max_steps": 1}, {"max_epochs": 1}):
        trainer = treadle.Trainer(**quiet(tmp_path, limit_train_batches=1, **kwargs))
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            trainer.fit(CustomModel())
        assert not [w for w in records if match in str(w.message)], kwargs


def test_barebones_says_so_and_self_log_warns(tmp_path, caplog):
    """Ported from ``test_barebones.py::test_barebones_argument_selection`` and
    ``::test_barebones_disables_logging``: the INFO line at construction, ``log_every_n_steps``
    read as 0, and ``self.log``/``self.log_dict`` warning and recording nothing."""
    import logging

    with caplog.at_level(logging.INFO, logger="treadle"):
        trainer = treadle.Trainer(barebones=True, default_root_dir=tmp_path, max_steps=2)
    assert "running in `Trainer(barebones=True)` mode" in caplog.text
    assert trainer.log_every_n_steps == 0
    assert treadle.Trainer(logger=False, log_every_n_steps=7).log_every_n_steps == 7

    class LogModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("foo", 1.0)
            self.log_dict({"bar": 2.0})
            return super().training_step(batch, batch_idx)

    with pytest.warns(UserWarning, match=r"barebones=True\)` is configured") as record:
        trainer.fit(LogModel())
    said = [str(w.message) for w in record if "barebones=True)` is configured" in str(w.message)]
    assert len(said) == 4 and "`self.log('foo', ...)`" in said[0], said  # 2 calls, 2 batches
    assert not trainer.callback_metrics and not trainer.logged_metrics


# -- default_root_dir --------------------------------------------------------------------------


def test_default_root_dir_is_a_normalised_str(tmp_path, monkeypatch):
    # Lightning's Trainer.default_root_dir: a str, so `trainer.default_root_dir == os.getcwd()`
    # holds as the Trainer docs page shows (doc_trainer program).
    monkeypatch.chdir(tmp_path)
    assert treadle.Trainer(logger=False).default_root_dir == os.getcwd()
    trainer = treadle.Trainer(default_root_dir=os.getcwd(), logger=False)
    assert trainer.default_root_dir == os.getcwd() and isinstance(trainer.default_root_dir, str)
    assert treadle.Trainer(default_root_dir="a/../b/", logger=False).default_root_dir == "b"
    assert treadle.Trainer(default_root_dir=tmp_path, logger=False).default_root_dir == str(
        tmp_path
    )


# -- enable_autolog_hparams --------------------------------------------------------------------


class _RecordingLogger(treadle.loggers.Logger):
    def __init__(self):
        super().__init__()
        self.hparams = []
        self.saves = 0

    @property
    def name(self):
        return "rec"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        self.hparams.append(dict(params))

    def log_metrics(self, metrics, step=None):
        pass

    def save(self):
        self.saves += 1


class _HparamsModel(BoringModel):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()


@pytest.mark.parametrize("enabled", [True, False])
def test_enable_autolog_hparams(tmp_path, enabled):
    # Lightning 2.6's Trainer(enable_autolog_hparams=...) (the Trainer docs page): False sends
    # neither save_hyperparameters() nor the start-of-run save() to the loggers; the user logs
    # hyper-parameters through trainer.loggers instead.
    logger = _RecordingLogger()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            logger=logger,
            enable_autolog_hparams=enabled,
            max_steps=1,
            limit_val_batches=0,
        )
    )
    assert trainer.enable_autolog_hparams is enabled
    if not enabled:
        for each in trainer.loggers:
            each.log_hyperparams({"custom": 1})
    trainer.fit(_HparamsModel())
    assert logger.hparams == ([{"lr": 0.1}] if enabled else [{"custom": 1}])
