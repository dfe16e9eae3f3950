"""``Trainer(profiler=...)`` and ``treadle.profilers``.

Behaviour ported from Lightning's ``tests/tests_pytorch/profilers/test_profiler.py`` (Copyright
The Lightning AI team, Apache-2.0): the profilers' durations, errors, reports and files, the
report's file names per stage and rank, ``dirpath`` defaulting to ``trainer.log_dir``, the
Trainer's ``profiler`` argument, the actions profiled (callbacks by ``state_key``, the strategy's
steps, ``setup_train_dataloader``); plus treadle's own: ``profiler=None`` leaves the loop as it is.
"""

from __future__ import annotations

import logging
import os
import re
import time
from copy import deepcopy

import pytest
import torch
from lightning_boring import BoringDataModule, BoringModel, quiet

import treadle
from treadle.callbacks import EarlyStopping
from treadle.data import lookahead
from treadle.profilers import (
    AdvancedProfiler,
    PassThroughProfiler,
    Profiler,
    PyTorchProfiler,
    SimpleProfiler,
)


class _CustomPath:
    """An ``os.PathLike`` that is not a ``pathlib.Path`` and whose ``str`` is not the path."""

    def __init__(self, path):
        self._path = str(path)

    def __fspath__(self) -> str:
        return self._path

    def __str__(self) -> str:
        return f"<_CustomPath {self._path}>"


class LoggingModel(BoringModel):
    def validation_step(self, batch, batch_idx):
        loss = self(batch).sum()
        self.log("val_loss", loss)
        self.log("train_loss", loss)
        return loss


# -- SimpleProfiler ---------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "expected"), [("a", [0.06, 0.02]), ("b", [0.04])])
def test_simple_profiler_durations(action, expected):
    profiler = SimpleProfiler()
    for duration in expected:
        with profiler.profile(action):
            time.sleep(duration)
    for got, want in zip(profiler.recorded_durations[action], expected):
        assert want <= got < want + 0.05


def test_simple_profiler_value_errors():
    profiler = SimpleProfiler()
    with pytest.raises(
        ValueError,
        match=re.escape("Attempting to stop recording an action (test) which was never started."),
    ):
        profiler.stop("test")
    profiler.start("test")
    with pytest.raises(
        ValueError, match=re.escape("Attempted to start test which has already started.")
    ):
        profiler.start("test")
    profiler.stop("test")


def test_simple_profiler_deepcopy(tmp_path):
    profiler = SimpleProfiler(dirpath=tmp_path, filename="test")
    profiler.describe()
    assert deepcopy(profiler)


def test_simple_profiler_dirpath(tmp_path):
    """``dirpath`` defaults to ``trainer.log_dir``."""
    profiler = SimpleProfiler(filename="profiler")
    assert profiler.dirpath is None
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=2, profiler=profiler)
    )
    trainer.fit(BoringModel())
    assert trainer.log_dir == str(tmp_path)
    assert profiler.dirpath == str(trainer.log_dir)
    assert (tmp_path / "fit-profiler.txt").exists()


def test_simple_profiler_with_nonexisting_log_dir(tmp_path):
    missing = tmp_path / "nonexisting"
    profiler = SimpleProfiler(filename="profiler")
    trainer = treadle.Trainer(
        **quiet(
            missing, max_epochs=1, limit_train_batches=1, limit_val_batches=1, profiler=profiler
        )
    )
    trainer.fit(BoringModel())
    assert profiler.dirpath == trainer.log_dir == str(missing)
    assert (missing / "fit-profiler.txt").exists()


def test_simple_profiler_with_nonexisting_dirpath(tmp_path):
    missing = tmp_path / "nonexisting"
    profiler = SimpleProfiler(dirpath=missing, filename="profiler")
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1, profiler=profiler
        )
    )
    trainer.fit(BoringModel())
    assert (missing / "fit-profiler.txt").exists()


@pytest.mark.parametrize("profiler_cls", [SimpleProfiler, AdvancedProfiler])
def test_profiler_with_pathlike_dirpath(tmp_path, profiler_cls):
    profiler = profiler_cls(dirpath=_CustomPath(tmp_path), filename="profiler")
    with profiler.profile("test_action"):
        pass
    profiler.describe()
    assert (tmp_path / "profiler.txt").exists()


def test_simple_profiler_logs(tmp_path, caplog):
    """Without a ``filename`` the report is logged, once per entry point."""
    profiler = SimpleProfiler()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    with caplog.at_level(logging.INFO, logger="treadle.profilers"):
        trainer.fit(BoringModel())
        trainer.test(BoringModel(), verbose=False)
    assert caplog.text.count("Profiler Report") == 2
    assert "FIT Profiler Report" in caplog.text and "TEST Profiler Report" in caplog.text


@pytest.mark.parametrize("extended", [True, False])
def test_simple_profiler_summary(monkeypatch, extended):
    """The report's table, exactly as Lightning's."""
    profiler = SimpleProfiler(extended=extended)
    profiler.start_time = 63.0
    monkeypatch.setattr(time, "perf_counter", lambda: 70.0)
    hooks = [
        "on_train_start",
        "on_train_end",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_before_batch_transfer",
        "on_fit_start",
    ]
    for i, hook in enumerate(hooks):
        with profiler.profile(hook):
            pass
        profiler.recorded_durations[hook] = [0.773434 + i]
    sep = os.linesep
    width = len("on_before_batch_transfer")
    if extended:
        header = (
            f"{sep}|  {'Action':<{width}s}\t|  {'Mean duration (s)':<15}\t|  {'Num calls':<15}\t|"
            f"  {'Total time (s)':<15}\t|  {'Percentage %':<15}\t|"
        )
        line = f"{sep}{'-' * len(header.expandtabs())}"
        expected = (
            f"Profiler Report{sep}{line}"
            f"{sep}|  Action                       |  Mean duration (s)    |  Num calls            |  Total time (s)       |  Percentage %         |"  # noqa: E501
            f"{line}"
            f"{sep}|  Total                        |  -                    |  6                    |  7.0                  |  100 %                |"  # noqa: E501
            f"{line}"
            f"{sep}|  on_fit_start                 |  5.7734               |  1                    |  5.7734               |  82.478               |"  # noqa: E501
            f"{sep}|  on_before_batch_transfer     |  4.7734               |  1                    |  4.7734               |  68.192               |"  # noqa: E501
            f"{sep}|  on_train_epoch_end           |  3.7734               |  1                    |  3.7734               |  53.906               |"  # noqa: E501
            f"{sep}|  on_train_epoch_start         |  2.7734               |  1                    |  2.7734               |  39.62                |"  # noqa: E501
            f"{sep}|  on_train_end                 |  1.7734               |  1                    |  1.7734               |  25.335               |"  # noqa: E501
            f"{sep}|  on_train_start               |  0.77343              |  1                    |  0.77343              |  11.049               |"  # noqa: E501
            f"{line}{sep}"
        )
    else:
        header = f"{sep}|  {'Action':<{width}s}\t|  {'Mean duration (s)':<15}\t|  {'Total time (s)':<15}\t|"
        line = f"{sep}{'-' * len(header.expandtabs())}"
        expected = (
            f"Profiler Report{sep}{line}"
            f"{sep}|  Action                       |  Mean duration (s)    |  Total time (s)       |"
            f"{line}"
            f"{sep}|  on_fit_start                 |  5.7734               |  5.7734               |"
            f"{sep}|  on_before_batch_transfer     |  4.7734               |  4.7734               |"
            f"{sep}|  on_train_epoch_end           |  3.7734               |  3.7734               |"
            f"{sep}|  on_train_epoch_start         |  2.7734               |  2.7734               |"
            f"{sep}|  on_train_end                 |  1.7734               |  1.7734               |"
            f"{sep}|  on_train_start               |  0.77343              |  0.77343              |"
            f"{line}{sep}"
        )
    assert profiler.summary().expandtabs() == expected


# -- AdvancedProfiler ---------------------------------------------------------------------------


def test_advanced_profiler_durations(tmp_path):
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="profiler")
    for duration in (0.05, 0.03):
        with profiler.profile("a"):
            time.sleep(duration)
    total = sum(x.inlinetime for x in profiler.profiled_actions["a"].getstats())
    assert 0.08 <= total < 0.2


def test_advanced_profiler_value_errors(tmp_path):
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="profiler")
    with pytest.raises(
        ValueError,
        match=re.escape("Attempting to stop recording an action (test) which was never started."),
    ):
        profiler.stop("test")
    profiler.start("test")
    profiler.stop("test")


def test_advanced_profiler_describe_writes_the_file(tmp_path):
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="profiler")
    with profiler.profile("test"):
        pass
    profiler.describe()
    text = (tmp_path / "profiler.txt").read_text("utf-8")
    assert "Profiler Report" in text and "Profile stats for: test" in text


@pytest.mark.parametrize("char", ["/", "\\", ":", "*", "?", "|", "\n"])
def test_advanced_profiler_dump_stats_with_safe_file_names(tmp_path, char):
    profiler = AdvancedProfiler(dirpath=tmp_path, dump_stats=True)
    with profiler.profile(f"before{char}after"):
        pass
    profiler.describe()
    prof = [f for f in os.listdir(tmp_path) if f.endswith(".prof")]
    assert prof == ["before_after.prof"]
    assert (tmp_path / prof[0]).read_bytes()


def test_advanced_profiler_dump_stats_needs_a_folder():
    profiler = AdvancedProfiler(dump_stats=True)
    with profiler.profile("a"):
        pass
    with pytest.raises(
        ValueError,
        match=re.escape(
            "AdvancedProfiler(dump_stats=True) needs a folder for the `.prof` files: pass "
            "`dirpath=`, or run it in a Trainer (its `log_dir`)."
        ),
    ):
        profiler.summary()


def test_advanced_profiler_deepcopy_and_nesting(tmp_path):
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="profiler")
    with profiler.profile("outer"), profiler.profile("inner"):
        pass  # nested actions: no "another profiler is active" error
    assert set(profiler.profiled_actions) == {"outer", "inner"}
    profiler.describe()
    assert deepcopy(profiler)


def test_advanced_profiler_in_a_run(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=True, profiler="advanced"))
    trainer.fit(BoringModel())
    assert isinstance(trainer.profiler, AdvancedProfiler)


# -- PyTorchProfiler ---------------------------------------------------------------------------


def test_pytorch_profiler_nested(tmp_path):
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="profiler", schedule=None)
    with profiler.profile("a"):
        a = torch.ones(42)
        with profiler.profile("b"):
            b = torch.zeros(42)
        with profiler.profile("c"):
            _ = a + b
    profiler.describe()
    names = {e.name for e in profiler.function_events}
    assert {"[pl][profile]a", "[pl][profile]b", "[pl][profile]c", "aten::add"} <= names


@pytest.mark.parametrize("manual", [False, True])
def test_pytorch_profiler_trainer_fit(tmp_path, manual):
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="profile")
    model = BoringModel()
    if manual:
        model.automatic_optimization = False

        def training_step(batch, batch_idx):
            opt = model.optimizers()
            loss = model(batch).sum()
            opt.zero_grad()
            model.manual_backward(loss)
            opt.step()

        model.training_step = training_step
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(model)
    names = [e.name for e in profiler.function_events]
    assert "[pl][profile][Strategy]SingleDeviceStrategy.validation_step" in names
    assert "[pl][profile][Strategy]SingleDeviceStrategy.training_step" in names
    assert (tmp_path / "fit-profile.txt").read_text("utf-8")
    assert (tmp_path / "fit-profile.pt.trace.json").exists()
    trainer.save_checkpoint(tmp_path / "after.ckpt")  # after the run: not profiled
    assert profiler.profiler is None


@pytest.mark.parametrize(
    ("fn", "step_name"), [("test", "test"), ("validate", "validation"), ("predict", "predict")]
)
def test_pytorch_profiler_trainer_entry_points(tmp_path, fn, step_name):
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="profile", schedule=None)
    model = BoringModel()
    model.predict_dataloader = model.train_dataloader
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            limit_test_batches=2,
            limit_val_batches=2,
            limit_predict_batches=2,
            profiler=profiler,
        )
    )
    getattr(trainer, fn)(model)
    assert any(e.name.endswith(f"{step_name}_step") for e in profiler.function_events)
    assert (tmp_path / f"{fn}-profile.txt").read_text("utf-8")


def test_pytorch_profiler_writes_its_trace_to_the_first_loggers_folder(tmp_path):
    loggers = [
        treadle.loggers.CSVLogger(tmp_path),
        treadle.loggers.CSVLogger(tmp_path, name="other"),
    ]
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            logger=loggers,
            profiler="pytorch",
            limit_train_batches=2,
            limit_val_batches=1,
            max_epochs=1,
        )
    )
    trainer.fit(BoringModel())
    files = os.listdir(tmp_path / "lightning_logs" / "version_0")
    assert any(f.endswith("trace.json") for f in files), files


def test_pytorch_profiler_table_kwargs(tmp_path):
    for key in ("row_limit", "sort_by"):
        with pytest.raises(
            KeyError,
            match=re.escape(
                f"Found invalid table_kwargs key: {key}. This is already a positional argument of the Profiler."
            ),
        ):
            PyTorchProfiler(table_kwargs={key: None}, dirpath=tmp_path, filename="profile")
    with pytest.raises(
        KeyError, match=re.escape("Found invalid table_kwargs key: non_existent. Valid keys: ")
    ):
        PyTorchProfiler(table_kwargs={"non_existent": None}, dirpath=tmp_path, filename="profile")
    widths = []
    for table_kwargs in ({"max_name_column_width": 1}, {"max_name_column_width": 5}, None):
        profiler = PyTorchProfiler(dirpath=tmp_path, filename="profile", table_kwargs=table_kwargs)
        with profiler.profile("a"):
            torch.ones(1)
        widths.append(profiler.summary().count("-"))
    assert widths[0] < widths[1] < widths[2]


def test_pytorch_profiler_deepcopy(tmp_path):
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="profiler", schedule=None)
    profiler.start("on_train_start")
    torch.tensor(1)
    assert deepcopy(profiler)
    profiler.describe()
    assert deepcopy(profiler)


# -- the Trainer's argument and the actions it profiles -------------------------------------------


@pytest.mark.parametrize(
    ("profiler", "expected"),
    [
        (None, PassThroughProfiler),
        (SimpleProfiler(), SimpleProfiler),
        (AdvancedProfiler(), AdvancedProfiler),
        ("simple", SimpleProfiler),
        ("Simple", SimpleProfiler),
        ("advanced", AdvancedProfiler),
        ("pytorch", PyTorchProfiler),
    ],
)
def test_trainer_profiler_correct_args(profiler, expected):
    kwargs = {"profiler": profiler} if profiler is not None else {}
    assert isinstance(treadle.Trainer(logger=False, **kwargs).profiler, expected)


def test_trainer_profiler_incorrect_args():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`Trainer(profiler='unknown_profiler')`: Value error, When passing string value for "
            "the `profiler` parameter of `Trainer`, it can only be one of 'simple', 'advanced', "
            "'pytorch'; or pass a profiler object (`treadle.profilers.SimpleProfiler(...)`), or "
            "None for no profiling"
        ),
    ):
        treadle.Trainer(profiler="unknown_profiler")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`SimpleProfiler` is a class, not a profiler: pass an instance, "
            "`profiler=SimpleProfiler(...)`. Have you forgotten the `()`?"
        ),
    ):
        treadle.Trainer(profiler=SimpleProfiler)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "a profiler is None, one of 'simple', 'advanced', 'pytorch', or an instance of a "
            "`treadle.profilers.Profiler` subclass; got a int"
        ),
    ):
        treadle.Trainer(profiler=3)


def test_profile_callbacks_by_state_key(tmp_path):
    """Two callbacks of one class are profiled apart, by their ``state_key``."""
    profiler = SimpleProfiler()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            fast_dev_run=1,
            profiler=profiler,
            callbacks=[EarlyStopping("val_loss"), EarlyStopping("train_loss")],
        )
    )
    trainer.fit(LoggingModel())
    recorded = set(profiler.recorded_durations)
    for monitor in ("val_loss", "train_loss"):
        key = f"[Callback]EarlyStopping{{'monitor': '{monitor}', 'mode': 'min'}}.on_validation_end"
        assert key in recorded, sorted(recorded)


def test_profiled_actions_of_a_fit(tmp_path):
    class Model(BoringModel):
        def on_train_epoch_end(self):
            with self.trainer.profiler.profile("my_action"):
                pass

    profiler = SimpleProfiler()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(Model())
    durations = profiler.recorded_durations
    assert len(durations["run_training_batch"]) == 2
    assert len(durations["run_training_epoch"]) == 1
    assert len(durations["[Strategy]SingleDeviceStrategy.training_step"]) == 2
    # the core's optimizer step is the Module's default optimizer_step (Lightning's name)
    assert len(durations["[LightningModule]Model.optimizer_step"]) == 2
    assert "[Strategy]SingleDeviceStrategy.optimizer_step" not in durations
    assert len(durations["[LightningModule]Model.on_train_epoch_end"]) == 1
    assert len(durations["my_action"]) == 1
    assert "setup_train_dataloader" in durations


def test_datamodule_hooks_are_profiled(tmp_path):
    """Ported from tests/tests_pytorch/core/test_datamodules.py::test_datamodule_hooks_are_profiled:
    the DataModule's methods the Trainer calls itself are timed under Lightning's
    ``[LightningDataModule]<class>.<method>`` (``prepare_data`` only when overridden); plus
    the loader methods, the DataModule's and the Module's, as Lightning times them."""

    class CustomDataModule(BoringDataModule):
        def state_dict(self):
            return {"temp": 1}

        def prepare_data(self):
            pass

    def fit(ckpt_path=None):
        trainer = treadle.Trainer(
            **quiet(
                tmp_path,
                max_steps=1,
                limit_val_batches=0,
                profiler="simple",
                enable_checkpointing=True,
            )
        )
        trainer.fit(BoringModel(), datamodule=CustomDataModule(), ckpt_path=ckpt_path)
        return trainer

    trainer = fit()
    durations = trainer.profiler.recorded_durations
    for method in ("prepare_data", "setup", "state_dict", "teardown", "train_dataloader"):
        assert len(durations[f"[LightningDataModule]CustomDataModule.{method}"]) == 1, method
        assert durations[f"[LightningDataModule]CustomDataModule.{method}"][0] > 0
    assert "[LightningDataModule]CustomDataModule.load_state_dict" not in durations

    resumed = fit(trainer.checkpoint_callback.best_model_path).profiler.recorded_durations
    for method in ("prepare_data", "setup", "load_state_dict", "teardown"):
        assert len(resumed[f"[LightningDataModule]CustomDataModule.{method}"]) == 1, method

    # not overridden: no prepare_data action (Lightning calls it only when overridden)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=1, limit_val_batches=1, profiler="simple")
    )
    trainer.fit(BoringModel(), datamodule=BoringDataModule())
    assert not any(k.endswith(".prepare_data") for k in trainer.profiler.recorded_durations)
    # the Module's own loaders: [LightningModule]
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=1, limit_val_batches=1, profiler="simple")
    )
    trainer.fit(BoringModel())
    durations = trainer.profiler.recorded_durations
    assert len(durations["[LightningModule]BoringModel.train_dataloader"]) == 1
    assert len(durations["[LightningModule]BoringModel.val_dataloader"]) == 1


def test_datamodule_on_exception_is_profiled(tmp_path):
    class Failing(BoringModel):
        def training_step(self, batch, batch_idx):
            raise RuntimeError("boom")

    class CustomDataModule(BoringDataModule):
        def on_exception(self, exception):
            self.seen = exception

    dm = CustomDataModule()
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1, profiler="simple"))
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Failing(), datamodule=dm)
    assert str(dm.seen) == "boom"
    assert (
        len(
            trainer.profiler.recorded_durations[
                "[LightningDataModule]CustomDataModule.on_exception"
            ]
        )
        == 1
    )


def test_profiler_teardown_closes_the_file_before_the_next_stage(tmp_path):
    seen = []

    class Check(treadle.Callback):
        def on_fit_end(self, trainer, *args, **kwargs):
            seen.append(trainer.profiler._output_file)

    profiler = SimpleProfiler(dirpath=tmp_path, filename="profiler")
    trainer = treadle.Trainer(
        **quiet(tmp_path, fast_dev_run=1, profiler=profiler, callbacks=[Check()])
    )
    trainer.fit(BoringModel())
    assert seen == [None] and profiler._output_file is None
    assert (tmp_path / "fit-profiler.txt").read_text("utf-8").startswith("FIT Profiler Report")


def test_a_profiler_of_ones_own(tmp_path):
    class Counting(Profiler):
        def __init__(self):
            super().__init__()
            self.started = []

        def start(self, action_name):
            self.started.append(action_name)

        def stop(self, action_name):
            pass

        def summary(self):
            return f"{len(self.started)} actions"

    profiler = Counting()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(BoringModel())
    assert profiler.started.count("run_training_batch") == 2


def test_no_profiler_leaves_the_loop_as_it_is(tmp_path):
    """``profiler=None``: a pass-through ``trainer.profiler`` and no timed callers or methods."""
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2))
    trainer.fit(BoringModel())
    assert type(trainer.profiler) is PassThroughProfiler
    with trainer.profiler.profile("anything"):  # usable all the same
        pass
    assert trainer._hooks._profiling is None
    assert "epoch" not in vars(trainer._fit_loop)
    assert trainer._fit_loop.lookahead is lookahead  # the batches straight from the loader
    assert trainer._fit_loop.evaluation.timed_fetches is None
    assert trainer._hooks.optional("on_train_batch_start") is None  # no call per batch
    assert not {"automatic", "manual"} & set(vars(trainer._step))
    assert trainer._hooks.on_train_batch_end.__name__ == "on_train_batch_end"  # not a wrapper


def test_lightning_import_paths():
    from treadle.profilers.advanced import AdvancedProfiler as A
    from treadle.profilers.base import PassThroughProfiler as P
    from treadle.profilers.profiler import Profiler as B
    from treadle.profilers.pytorch import PyTorchProfiler as T
    from treadle.profilers.simple import SimpleProfiler as S

    assert (
        AdvancedProfiler,
        PassThroughProfiler,
        Profiler,
        PyTorchProfiler,
        SimpleProfiler,
    ) == (A, P, B, T, S)


def test_fetching_is_profiled(tmp_path):
    """Ported from tests/tests_pytorch/loops/test_fetchers.py::test_fetching_is_profiled: each
    fetch is an action of its stage's loop, as many as the batches run."""

    class Model(BoringModel):
        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            return super().validation_step(batch, batch_idx)

        def val_dataloader(self):
            return [super().val_dataloader(), super().val_dataloader()]

    model = Model()
    model.predict_dataloader = model.train_dataloader
    profiler = SimpleProfiler()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(model)
    trainer.test(model)
    trainer.predict(model)
    durations = profiler.recorded_durations
    for key, count in (
        ("[_TrainingEpochLoop].train_dataloader_next", 2),
        ("[_EvaluationLoop].val_next", 4),  # two loaders
        ("[_EvaluationLoop].test_next", 2),
        ("[_PredictionLoop].predict_next", 2),
    ):
        assert len(durations[key]) == count, key
        assert all(d > 0 for d in durations[key])


def test_fetches_profiled_in_the_sanity_check_and_a_dataloader_iter_step(tmp_path):
    """The sanity check's fetches are ``val_next`` (Lightning's prefix); a
    ``training_step(dataloader_iter)`` has each of its ``next()`` calls timed."""

    class Model(BoringModel):
        def training_step(self, dataloader_iter):
            next(dataloader_iter)
            batch, _, _ = next(dataloader_iter)
            return super().training_step(batch, 0)

    profiler = SimpleProfiler()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=4,
            limit_val_batches=1,
            num_sanity_val_steps=2,
            profiler=profiler,
        )
    )
    trainer.fit(Model())
    durations = profiler.recorded_durations
    assert len(durations["[_TrainingEpochLoop].train_dataloader_next"]) == 4  # 2 calls, 2 each
    assert len(durations["[_EvaluationLoop].val_next"]) == 1 + 1  # sanity (limited), validation


@pytest.mark.parametrize(("limit", "fetches"), [(2, 2), (1.0, 4)])
def test_fetches_profiled_per_epoch_with_and_without_a_length(tmp_path, limit, fetches):
    """With a length, exactly the batches run are timed (not the loop's ask after the last,
    as Lightning's fetcher makes none); without one (an iterable dataset), the fetch that finds
    the end is timed too, as Lightning's. Two epochs: each epoch's iterator is timed."""

    class Three(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([torch.randn(32) for _ in range(3)])

    class Model(BoringModel):
        def train_dataloader(self):
            if isinstance(limit, int):
                return super().train_dataloader()  # 64 batches, 2 of them run
            return torch.utils.data.DataLoader(Three(), batch_size=None)

    profiler = SimpleProfiler()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_train_batches=limit,
            limit_val_batches=0,
            profiler=profiler,
        )
    )
    trainer.fit(Model())
    assert len(profiler.recorded_durations["[_TrainingEpochLoop].train_dataloader_next"]) == (
        2 * fetches
    )


def test_module_hooks_profiled_whether_overridden_or_not(tmp_path):
    """As Lightning's report: a Module hook is an action whether the Module overrides it or
    not (``[LightningModule]Model.on_fit_start`` for the empty default, ``.optimizer_step``
    for the core's step), each call timed once; ``backward`` stays the strategy's."""
    calls = []

    class Model(BoringModel):
        def on_train_start(self):
            calls.append("on_train_start")

    profiler = SimpleProfiler()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(Model())
    durations = profiler.recorded_durations
    assert calls == ["on_train_start"]
    for hook, count in (
        ("on_train_start", 1),  # overridden: timed once, not again as a default
        ("on_fit_start", 1),
        ("setup", 1),
        ("on_train_batch_start", 2),
        ("on_train_batch_end", 2),
        ("optimizer_step", 2),
        ("optimizer_zero_grad", 2),
        ("on_before_backward", 2),
        ("configure_gradient_clipping", 2),
        ("transfer_batch_to_device", 4),  # 2 training and 2 validation batches
        ("on_validation_model_eval", 1),
    ):
        assert len(durations[f"[LightningModule]Model.{hook}"]) == count, hook
    assert "[LightningModule]Model.backward" not in durations
    assert "[LightningModule]Model.on_validation_model_train" not in durations  # not overridden
    assert len(durations["[Strategy]SingleDeviceStrategy.backward"]) == 2
    assert not any(key.startswith("[Strategy]") and "optimizer" in key for key in durations)


def test_manual_optimization_step_profiled_as_lightnings_optimizer_step(tmp_path):
    """In manual optimization ``opt.step()`` is Lightning's ``optimizer_step`` action (its
    ``LightningOptimizer.step``), not the Module's hook."""

    class Model(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(self(batch).sum())
            opt.step()

    profiler = SimpleProfiler()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=2, profiler=profiler))
    trainer.fit(Model())
    durations = profiler.recorded_durations
    assert len(durations["optimizer_step"]) == 2
    assert "[LightningModule]Model.optimizer_step" not in durations
