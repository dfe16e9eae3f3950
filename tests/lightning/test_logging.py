"""``self.log``/``self.log_dict`` as Lightning 2 defines them: torchmetrics ``Metric`` values,
``reduce_fx``, the step rules of evaluation loops and the errors.

Behaviour ported from Lightning's tests (Apache-2.0, Copyright The Lightning AI team):
``tests/tests_pytorch/core/test_metric_result_integration.py``,
``tests/tests_pytorch/trainer/logging_/test_train_loop_logging.py`` (``test_log_invalid_raises``,
``test_logging_raises``, ``test_metrics_reset``-style checks) and
``tests/tests_pytorch/trainer/logging_/test_eval_loop_logging.py`` (step-level values of
validation). The tests are rewritten for treadle; none of Lightning's code is copied.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest
import torch
import torchmetrics
from torch import nn

import treadle
from conftest_helpers import IN_DIM, make_loader, make_trainer
from treadle.errors import ConfigurationError
from treadle.loggers import Logger


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call as ``(step, metrics)``."""

    def __init__(self):
        self.rows: list = []

    @property
    def name(self):
        return "recording"

    @property
    def version(self):
        return 0

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


class SumMetric(torchmetrics.Metric):
    """Sums what it is given; ``forward`` returns the batch's own sum."""

    def __init__(self):
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, x):
        self.total += x.sum()

    def compute(self):
        return self.total


class Base(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def values(n_batches, epoch):
    """What batch ``i`` of ``epoch`` feeds the metrics: ``10 * epoch + i``."""
    return [float(10 * epoch + i) for i in range(n_batches)]


# -- torchmetrics.Metric values ---------------------------------------------------------------


class TrainMetric(Base):
    def __init__(self):
        super().__init__()
        self.metric = SumMetric()
        self.updated_only = SumMetric()
        self.seen_in_epoch_end = []

    def training_step(self, batch, batch_idx):
        v = torch.tensor(float(10 * self.current_epoch + batch_idx))
        self.metric(v)  # forward: updates the state, returns the batch value
        self.log("m", self.metric, on_step=True, on_epoch=True)
        self.updated_only.update(v)  # no forward: no batch value
        self.log("u", self.updated_only, on_step=True, on_epoch=True)
        return super().training_step(batch, batch_idx)

    def on_train_epoch_end(self):
        # as in Lightning, the metric is reset after on_train_epoch_end, not before
        self.seen_in_epoch_end.append(float(self.metric.total))


def test_metric_object_per_step_forward_and_per_epoch_compute_then_reset(tmp_path):
    logger = RecordingLogger()
    model = TrainMetric()
    trainer = make_trainer(tmp_path, max_epochs=2, logger=logger, log_every_n_steps=1)
    trainer.fit(model, make_loader(3))
    lm, cm = trainer.logged_metrics, trainer.callback_metrics
    # the second epoch feeds 10, 11, 12: its compute() is 33 because the first epoch was reset
    assert float(lm["m_epoch"]) == 33.0
    assert float(cm["m"]) == 33.0
    assert float(lm["m_step"]) == 12.0
    assert model.seen_in_epoch_end == [sum(values(3, 0)), sum(values(3, 1))]
    assert float(model.metric.total) == 0.0, "reset at the epoch's end"
    steps = [row["m_step"] for _, row in logger.rows if "m_step" in row]
    assert steps == values(3, 0) + values(3, 1)
    epochs = [row["m_epoch"] for _, row in logger.rows if "m_epoch" in row]
    assert epochs == [sum(values(3, 0)), sum(values(3, 1))]
    # update() without forward: no step value, the epoch value still computed
    assert "u_step" not in lm and not any("u_step" in row for _, row in logger.rows)
    assert float(lm["u_epoch"]) == 33.0


class ValMetric(Base):
    def __init__(self):
        super().__init__()
        self.val_metric = SumMetric()

    def validation_step(self, batch, batch_idx):
        self.val_metric(torch.tensor(1.0))
        self.log("val_count", self.val_metric)


def test_metric_object_in_validation_is_reset_after_sanity_check_and_each_epoch(tmp_path):
    """4 validation batches add 1 each; the 2 sanity batches must not count."""
    trainer = make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=2)
    model = ValMetric()
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert float(trainer.callback_metrics["val_count"]) == 4.0
    assert float(model.val_metric.total) == 0.0
    assert trainer.validate(model, make_loader(3, seed=1))[0] == {"val_count": 3.0}


class CollectionModule(Base):
    def __init__(self):
        super().__init__()
        self.collection = torchmetrics.MetricCollection({"s1": SumMetric(), "s2": SumMetric()})

    def training_step(self, batch, batch_idx):
        self.collection(torch.tensor(2.0))
        self.log_dict(self.collection, on_step=False, on_epoch=True)
        return super().training_step(batch, batch_idx)


def test_log_dict_of_a_metric_collection_logs_each_metric(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(CollectionModule(), make_loader(3))
    assert float(trainer.callback_metrics["s1"]) == 6.0
    assert float(trainer.callback_metrics["s2"]) == 6.0


class DictMetric(SumMetric):
    def compute(self):
        return {"a": self.total}


class DictMetricModule(Base):
    def __init__(self):
        super().__init__()
        self.d = DictMetric()

    def training_step(self, batch, batch_idx):
        self.d(torch.tensor(1.0))
        self.log("d", self.d, on_epoch=True, on_step=False)
        return super().training_step(batch, batch_idx)


def test_metric_compute_must_return_a_tensor(tmp_path):
    # Lightning's sentence first (core/test_metric_result_integration.py::
    # test_compute_not_a_tensor_raises matches it), then treadle's details
    with pytest.raises(
        ValueError,
        match=re.escape(
            "The `.compute()` return of the metric logged as 'd' must be a tensor. "
            "`self.log('d', metric)`: `DictMetric.compute()` returned a dict, not a tensor; log "
            "each value of a metric returning several with `log_dict`."
        ),
    ):
        make_trainer(tmp_path).fit(DictMetricModule(), make_loader(2))


def test_import_treadle_does_not_import_torchmetrics():
    code = (
        "import sys, treadle\nt = treadle.Trainer(accelerator='cpu', logger=False)\n"
        "print('torchmetrics' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- reduce_fx ----------------------------------------------------------------------------------


class Reductions(Base):
    def training_step(self, batch, batch_idx):
        v = torch.tensor(float(batch_idx + 1))  # 1, 2, 3, 4
        for name, fx in (
            ("t_max", torch.max),
            ("t_min", torch.min),
            ("t_sum", torch.sum),
            ("t_mean", torch.mean),
            ("b_max", max),
            ("b_sum", sum),
            ("avg", "avg"),
            ("upper", "MAX"),
        ):
            self.log(name, v, on_step=False, on_epoch=True, reduce_fx=fx)
        self.log("int_tensor", torch.tensor(batch_idx + 1), on_step=False, on_epoch=True)
        return super().training_step(batch, batch_idx)


def test_reduce_fx_accepts_lightnings_callables_and_spellings(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(Reductions(), make_loader(4))
    got = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert got == {
        "t_max": 4.0,
        "t_min": 1.0,
        "t_sum": 10.0,
        "t_mean": 2.5,
        "b_max": 4.0,
        "b_sum": 10.0,
        "avg": 2.5,
        "upper": 4.0,
        "int_tensor": 2.5,
    }
    assert trainer.callback_metrics["int_tensor"].is_floating_point()


class LogWith(Base):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def training_step(self, batch, batch_idx):
        value = self.kwargs.pop("value", torch.tensor(1.0))
        self.log(self.kwargs.pop("name", "foo"), value, **self.kwargs)
        return super().training_step(batch, batch_idx)


def _fit_raises(tmp_path, model, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make_trainer(tmp_path, limit_train_batches=1).fit(model, make_loader(2))


def test_custom_reduce_fx_is_an_error_as_in_lightning(tmp_path):
    _fit_raises(
        tmp_path,
        LogWith(reduce_fx=torch.median),
        "`self.log('foo', ..., reduce_fx=<built-in method median",
    )
    _fit_raises(
        tmp_path,
        LogWith(reduce_fx="median"),
        (
            "Only `self.log(..., reduce_fx={min,max,mean,sum})` are supported. Found: "
            "`self.log('foo', ..., reduce_fx='median')`; use one of mean, sum, max, min (or "
            "torch.mean, torch.sum, torch.max, torch.min). For another reduction, log a "
            "`torchmetrics.Metric` instead, as in Lightning."
        ),
    )


# -- the errors of Lightning's log ---------------------------------------------------------------


# Lightning's wording leads each message (its tests match on it: test_train_loop_logging.py's
# test_log_invalid_raises and test_logging_raises), treadle's fix follows.
@pytest.mark.parametrize(
    "value, kind", [(None, "NoneType"), ("foo", "str"), ([1, 2, 3], "list"), ((1, 2), "tuple")]
)
def test_log_invalid_value_raises(tmp_path, value, kind):
    _fit_raises(
        tmp_path,
        LogWith(value=value),
        (
            f"`self.log(foo, {value})` was called, but `{kind}` values cannot be logged; log a "
            f"number, a one-element tensor or a `torchmetrics.Metric`."
        ),
    )


def test_log_a_dict_points_to_log_dict(tmp_path):
    _fit_raises(
        tmp_path,
        LogWith(value={"a": 1.0}),
        (
            "`self.log(foo, {'a': 1.0})` was called, but `dict` values cannot be logged; use "
            "`self.log_dict(value)`."
        ),
    )
    _fit_raises(
        tmp_path,
        LogWith(value={"a": {"b": 1}}),
        (
            "`self.log(foo, {'a': {'b': 1}})` was called, but nested dictionaries cannot be "
            "logged; log each value with `self.log_dict`."
        ),
    )


def test_log_a_tensor_of_several_elements_raises(tmp_path):
    _fit_raises(
        tmp_path,
        LogWith(value=torch.ones(3)),
        (
            "`self.log(foo, tensor([1., 1., 1.]))` was called, but the tensor must have a single "
            "element. You can try doing `self.log(foo, tensor([1., 1., 1.]).mean())`"
        ),
    )


def test_log_name_with_dataloader_idx_raises(tmp_path):
    _fit_raises(
        tmp_path,
        LogWith(name="foo/dataloader_idx_0"),
        (
            "You called `self.log` with the key `foo/dataloader_idx_0` but it should not contain "
            "information about `dataloader_idx` when `add_dataloader_idx=True`: the suffix is "
            "added when several dataloaders run. Log the name without it."
        ),
    )


def test_log_name_with_dataloader_idx_is_kept_without_add_dataloader_idx(tmp_path):
    # as Lightning: the name is refused only when the suffix would be added
    trainer = make_trainer(tmp_path, limit_train_batches=1)
    trainer.fit(LogWith(name="foo/dataloader_idx_0", add_dataloader_idx=False), make_loader(2))
    assert "foo/dataloader_idx_0" in trainer.callback_metrics


def test_log_neither_on_step_nor_on_epoch_raises(tmp_path):
    _fit_raises(
        tmp_path,
        LogWith(on_step=False, on_epoch=False),
        (
            "`self.log(on_step=False, on_epoch=False)` is not useful. `self.log('foo', ...)` would "
            "record nothing; set one of them to True."
        ),
    )


class StepInEpochEnd(Base):
    def on_train_epoch_end(self):
        self.log("foo", 1.0, on_step=True)


def test_log_on_step_in_an_epoch_level_hook_raises(tmp_path):
    """Lightning's _FxValidator words, then which call and the fix."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "You can't `self.log(on_step=True)` inside `on_train_epoch_end`, must be one of "
            "(False,). (`self.log('foo', ...)`: an epoch-level hook logs epoch values; drop "
            "`on_step=True`.)"
        ),
    ):
        make_trainer(tmp_path).fit(StepInEpochEnd(), make_loader(1))


# -- where self.log may be called (Lightning's _FxValidator) -------------------------------------


class LogsInSetup(Base):
    def setup(self, stage):
        self.log("foo", 1.0)


class LogsFromAHelperOfSetup(Base):
    def setup(self, stage):
        self._note()

    def _note(self):
        self.log("foo", 1.0)


class LogsInConfigureOptimizers(Base):
    def configure_optimizers(self):
        self.log("foo", 1.0)
        return super().configure_optimizers()


class LogsInTrainDataloader(Base):
    def train_dataloader(self):
        self.log("foo", 1.0)
        return make_loader(1)


class LogsInOnTrainEnd(Base):
    def on_train_end(self):
        self.log("foo", 1.0)


@pytest.mark.parametrize(
    "model, hook",
    [
        (LogsInSetup, "setup"),
        (LogsFromAHelperOfSetup, "setup"),
        (LogsInConfigureOptimizers, "configure_optimizers"),
        (LogsInTrainDataloader, "train_dataloader"),
        (LogsInOnTrainEnd, "on_train_end"),
    ],
)
def test_log_is_refused_in_the_hooks_lightning_refuses_it_in(tmp_path, model, hook):
    """Lightning's `_FxValidator`: ``self.log`` in setup, configure_*, the dataloader hooks,
    on_train_end and others is an error naming the hook, also from a helper the hook calls."""
    fit = make_trainer(tmp_path).fit
    with pytest.raises(
        ConfigurationError, match=re.escape(f"You can't `self.log()` inside `{hook}`.")
    ):
        fit(model()) if hook == "train_dataloader" else fit(model(), make_loader(1))


def test_log_on_epoch_false_in_an_epoch_level_hook_is_refused(tmp_path):
    class Model(Base):
        def on_train_epoch_end(self):
            self.log("foo", 1.0, on_step=False, on_epoch=False)

    with pytest.raises(
        ConfigurationError,
        match=re.escape("You can't `self.log(on_epoch=False)` inside `on_train_epoch_end`"),
    ):
        make_trainer(tmp_path).fit(Model(), make_loader(1))


def test_log_from_helpers_lambdas_and_callbacks_counts_as_the_hook(tmp_path):
    """A helper method, a ``LambdaCallback`` lambda and a callback hook log as the hook calling
    them: step defaults in training_step, epoch values in the epoch-level hooks."""

    class Model(Base):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self._shared("train_loss", loss)
            return loss

        def _shared(self, name, value):
            self.log(name, value)

    class Logs(treadle.Callback):
        def on_train_epoch_end(self, trainer, module):
            module.log("from_callback", 2.0)

    lam = treadle.callbacks.LambdaCallback(
        on_train_epoch_start=lambda trainer, module: module.log("from_lambda", 3.0)
    )
    trainer = make_trainer(tmp_path, max_epochs=1, callbacks=[Logs(), lam])
    trainer.fit(Model(), make_loader(2))
    metrics = trainer.callback_metrics
    assert {"train_loss", "from_callback", "from_lambda"} <= set(metrics)
    assert metrics["from_callback"].item() == 2.0 and metrics["from_lambda"].item() == 3.0


def test_log_without_a_trainer_warns_and_records_nothing():
    """Lightning lets ``*_step`` methods be unit-tested without a Trainer; its warning text
    (tests_pytorch/trainer/logging_/test_logger_connector.py::test_fx_validator_integration)."""
    model = Base()
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "`self.trainer` reference is not registered on the model yet. This is most likely "
            "because the model hasn't been passed to the `Trainer` (`self.log('x', ...)` in "
            "Base: nothing was logged)."
        ),
    ):
        model.log("x", 1.0)


def test_log_and_log_dict_take_lightnings_arguments():
    log = list(inspect.signature(treadle.Module.log).parameters)
    assert log == [
        "self",
        "name",
        "value",
        "prog_bar",
        "logger",
        "on_step",
        "on_epoch",
        "reduce_fx",
        "enable_graph",
        "sync_dist",
        "sync_dist_group",
        "add_dataloader_idx",
        "batch_size",
        "metric_attribute",
        "rank_zero_only",
    ]
    log_dict = list(inspect.signature(treadle.Module.log_dict).parameters)
    assert log_dict == ["self", "dictionary"] + [p for p in log[3:] if p != "metric_attribute"]


# -- step-level values of evaluation loops ---------------------------------------------------------


class EvalStepLogging(Base):
    def validation_step(self, batch, batch_idx):
        v = torch.tensor(float(batch_idx))
        self.log("v_both", v, on_step=True, on_epoch=True)
        self.log("v_step_only", v, on_step=True, on_epoch=False)
        self.log("v_epoch", v)

    def test_step(self, batch, batch_idx):
        self.log("t_both", torch.tensor(float(batch_idx)), on_step=True)


def test_eval_step_values_follow_lightnings_logged_and_callback_rules(tmp_path):
    logger = RecordingLogger()
    trainer = make_trainer(tmp_path, logger=logger, num_sanity_val_steps=2, log_every_n_steps=1)
    trainer.fit(EvalStepLogging(), make_loader(2), make_loader(3, seed=1))
    cm, lm = trainer.callback_metrics, trainer.logged_metrics
    # step values go to logged_metrics (last batch), never to callback_metrics
    assert float(lm["v_both_step"]) == 2.0 and float(lm["v_step_only"]) == 2.0
    assert "v_both_step" not in cm and "v_step_only" not in cm
    assert float(cm["v_both"]) == 1.0 and float(cm["v_both_epoch"]) == 1.0
    assert float(lm["v_both_epoch"]) == 1.0 and float(cm["v_epoch"]) == 1.0
    # the loggers get one row per validation batch, at step batch_idx (none in the sanity check)
    eval_rows = [(step, row) for step, row in logger.rows if "v_both_step" in row]
    assert eval_rows == [(i, {"v_both_step": float(i), "v_step_only": float(i)}) for i in range(3)]
    # nor do the step values leak into the training rows
    assert not any("v_both_step" in row and "epoch" in row for _, row in logger.rows)
    result = trainer.test(EvalStepLogging(), make_loader(2, seed=2))
    assert result == [{"t_both_epoch": 0.5}]
    assert float(trainer.logged_metrics["t_both_step"]) == 1.0


class LogTwice(Base):
    def training_step(self, batch, batch_idx):
        self.log("foo", 1.0, prog_bar=False)
        self.log("foo", 1.0, prog_bar=True)
        return super().training_step(batch, batch_idx)


def test_log_one_name_twice_in_a_hook_with_other_arguments_raises(tmp_path):
    # ported from Lightning's test_train_loop_logging.py::test_logging_raises
    _fit_raises(
        tmp_path,
        LogTwice(),
        (
            "You called `self.log(foo, ...)` twice in `training_step` with different arguments. "
            "This is not allowed (as in Lightning): log it with the same arguments each time, or "
            "under another name."
        ),
    )


class LogInTwoHooks(Base):
    def training_step(self, batch, batch_idx):
        self.log("foo", 1.0, prog_bar=True)
        return super().training_step(batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.log("foo", 2.0, prog_bar=False)


def test_log_one_name_in_two_hooks_with_other_arguments_is_allowed(tmp_path):
    trainer = make_trainer(tmp_path, limit_train_batches=2)
    trainer.fit(LogInTwoHooks(), make_loader(2))
    assert trainer.callback_metrics["foo"] == 2.0


def test_a_logged_metric_must_be_an_attribute_of_the_module(tmp_path):
    # ported from Lightning's test_train_loop_logging.py::test_logging_raises
    torchmetrics = pytest.importorskip("torchmetrics")

    class LogsAStrayMetric(Base):
        def __init__(self, with_attribute):
            super().__init__()
            if with_attribute:
                self.bar = torchmetrics.MeanMetric()

        def training_step(self, batch, batch_idx):
            self.log("foo", torchmetrics.MeanMetric())
            return super().training_step(batch, batch_idx)

    _fit_raises(
        tmp_path,
        LogsAStrayMetric(with_attribute=False),
        (
            "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` logged "
            "as 'foo'. You can fix this by setting an attribute for the metric in your "
            "`LightningModule` (e.g. `self.acc = Accuracy(...)` in `__init__`)."
        ),
    )
    _fit_raises(
        tmp_path,
        LogsAStrayMetric(with_attribute=True),
        (
            "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` logged. "
            "You can fix this by calling `self.log(foo, ..., metric_attribute=name)` where `name` "
            "is one of ['bar']"
        ),
    )


# -- evaluation step values at Lightning's steps; each run's metrics its own ------------------
# (ported from Lightning's test_eval_loop_logging.py: test_eval_step_logging,
# test_validation_step_log_with_tensorboard)


class LogsEvalSteps(Base):
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.log(
            f"val_{self.trainer.state.fn.value}", float(batch_idx), on_step=True, on_epoch=False
        )

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.log("test_log", float(batch_idx), on_step=True, on_epoch=False)


@pytest.mark.parametrize("num_loaders", [1, 2])
def test_eval_step_values_are_logged_at_the_batches_seen_in_the_run(tmp_path, num_loaders):
    logger = RecordingLogger()
    trainer = make_trainer(
        tmp_path, logger=logger, max_epochs=3, limit_train_batches=1, num_sanity_val_steps=2
    )
    loaders = [make_loader(4)] * num_loaders
    suffix = (lambda i: f"/dataloader_idx_{i}") if num_loaders == 2 else (lambda i: "")
    trainer.fit(LogsEvalSteps(), make_loader(1), loaders)
    # fit: per loader, counted over the fit's validations (the sanity check not counted)
    assert [row for row in logger.rows if "epoch" not in row[1]] == [
        (batch + 4 * epoch, {f"val_fit{suffix(i)}": float(batch)})
        for epoch in range(3)
        for i in range(num_loaders)
        for batch in range(4)
    ]
    for fn, key in (("validate", "val_validate"), ("test", "test_log")):
        logger.rows.clear()
        getattr(trainer, fn)(LogsEvalSteps(), loaders)
        assert [row for row in logger.rows if "epoch" not in row[1]] == [
            (batch, {f"{key}{suffix(i)}": float(batch)})
            for i in range(num_loaders)
            for batch in range(4)
        ]


class LogsEverywhere(Base):
    def training_step(self, batch, batch_idx):
        self.log("train_loss", 1.0, prog_bar=True)
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", 2.0)

    def test_step(self, batch, batch_idx):
        self.log("test_loss", 3.0)


def test_each_run_starts_with_empty_metric_dicts(tmp_path):
    trainer = make_trainer(tmp_path, limit_train_batches=2, limit_val_batches=2)
    trainer.fit(LogsEverywhere(), make_loader(2), make_loader(2))
    assert set(trainer.callback_metrics) == {"train_loss", "val_loss"}
    assert set(trainer.progress_bar_metrics) == {"train_loss"}
    trainer.validate(LogsEverywhere(), make_loader(2))
    assert set(trainer.callback_metrics) == {"val_loss"}
    assert trainer.progress_bar_metrics == {}
    trainer.test(LogsEverywhere(), make_loader(2))
    assert set(trainer.callback_metrics) == set(trainer.logged_metrics) == {"test_loss"}


class LogsAStep(Base):
    def on_train_epoch_end(self):
        self.log_dict({"step": 10.0 + self.current_epoch, "train_acc": 0.5})


def test_a_metric_logged_as_step_is_the_loggers_step(tmp_path):
    # as Lightning's logger connector (loggers/test_logger.py::test_adding_step_key)
    logger = RecordingLogger()
    trainer = make_trainer(tmp_path, logger=logger, max_epochs=2, limit_train_batches=2)
    trainer.fit(LogsAStep(), make_loader(2))
    epoch_rows = [row for row in logger.rows if "train_acc" in row[1]]
    assert epoch_rows == [(10, {"train_acc": 0.5}), (11, {"train_acc": 0.5})]
