# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_train_loop_logging.py
#   (test__training_step__log_max_reduce_fx, test_different_batch_types_for_sizing,
#    test_log_works_in_train_callback, test_logging_sync_dist_true (1 cpu device),
#    test_progress_bar_metrics_contains_values_on_train_epoch_end,
#    test_metric_are_properly_reduced (cpu), test_log_invalid_raises, test_logging_raises,
#    test_log_tensor_and_clone_no_torch_warning, test_sanity_metrics_are_reset,
#    test_on_epoch_logging_with_sum_and_on_batch_start, test_log_metrics_epoch_step_values,
#    test_log_on_train_start)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   tmpdir -> a tempfile dir; pytest.raises(match=) -> try/except with re.search;
#   no_warning_call -> warnings.catch_warnings(record=True); the mock of
#   `TensorBoardLogger.log_metrics` -> a TensorBoardLogger subclass recording its calls;
#   `_TM_GE_0_11` -> True (torchmetrics >= 0.11). Left out: test__training_step__log and
#   test__training_step__epoch_end__log (in t_logging_rules.py), the 2-device, GPU and DDP
#   variants, the private `trainer._results` asserts of
#   test_on_epoch_logging_with_sum_and_on_batch_start, test_unsqueezed_tensor_logging (private
#   `_current_fx_name` and `trainer.state.stage`), test_logging_in_callbacks_with_log_function
#   (it calls `Callback.log`, which Lightning 2.6.6's Callback does not have).
import collections
import itertools
import re
import tempfile
import warnings
from re import escape

import numpy as np
import torch
from lightning.pytorch import Trainer, callbacks
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.core.module import LightningModule
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset, RandomDictDataset
from lightning.pytorch.loggers.tensorboard import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader
from torchmetrics import Accuracy


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


def test__training_step__log_max_reduce_fx(tmpdir, batches, fx, result):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            acc = self.step(batch[0])
            self.log(
                "foo",
                torch.tensor(batch_idx, dtype=torch.long),
                on_step=False,
                on_epoch=True,
                reduce_fx=fx,
            )
            return acc

        def validation_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log(
                "bar", torch.tensor(batch_idx).float(), on_step=False, on_epoch=True, reduce_fx=fx
            )
            return {"x": loss}

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=batches,
        limit_val_batches=batches,
        max_epochs=2,
        enable_model_summary=False,
    )
    trainer.fit(model)

    # make sure types are correct
    assert trainer.logged_metrics["foo"] == result
    assert trainer.logged_metrics["bar"] == result


def test_different_batch_types_for_sizing(tmpdir):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            assert isinstance(batch, dict)
            a = batch["a"]
            acc = self.step(a)
            self.log("a", 2, on_step=True, on_epoch=True)
            return acc

        def validation_step(self, batch, batch_idx):
            assert isinstance(batch, dict)
            loss = self.step(batch["a"])
            self.log("n", 3, on_step=True, on_epoch=True)
            return {"x": loss}

        def train_dataloader(self):
            return torch.utils.data.DataLoader(RandomDictDataset(32, 64), batch_size=32)

        def val_dataloader(self):
            return torch.utils.data.DataLoader(RandomDictDataset(32, 64), batch_size=32)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=1,
        limit_val_batches=2,
        max_epochs=1,
        enable_model_summary=False,
        fast_dev_run=True,
    )
    trainer.fit(model)

    assert set(trainer.logged_metrics) == {"a_step", "a_epoch", "n_step", "n_epoch"}


def test_log_works_in_train_callback(tmpdir):
    class TestCallback(callbacks.Callback):
        count = 0
        choices = [False, True]

        # used to compute expected values
        logged_values = collections.defaultdict(list)
        call_counter = collections.Counter()
        logged_arguments = {}

        def make_logging(self, pl_module, func_name, on_steps, on_epochs, prob_bars):
            self.call_counter.update([func_name])

            for idx, (on_step, on_epoch, prog_bar) in enumerate(
                itertools.product(on_steps, on_epochs, prob_bars)
            ):
                fx = f"{func_name}_{idx}"
                if not on_step and not on_epoch:
                    try:
                        pl_module.log(fx, self.count, on_step=on_step, on_epoch=on_epoch)
                    except MisconfigurationException as e:
                        assert re.search("is not useful", str(e)), str(e)
                    else:
                        raise AssertionError("MisconfigurationException not raised")
                    continue
                pl_module.log(fx, self.count, on_step=on_step, on_epoch=on_epoch, prog_bar=prog_bar)
                self.logged_values[fx].append(self.count)
                self.logged_arguments[fx] = {
                    "on_step": on_step,
                    "on_epoch": on_epoch,
                    "prog_bar": prog_bar,
                }
                self.count += 1

        def on_train_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_train_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_train_epoch_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_train_epoch_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_train_batch_start(self, _, pl_module, *__):
            self.make_logging(
                pl_module,
                "on_train_batch_start",
                on_steps=self.choices,
                on_epochs=self.choices,
                prob_bars=self.choices,
            )

        def on_train_batch_end(self, _, pl_module, *__):
            self.make_logging(
                pl_module,
                "on_train_batch_end",
                on_steps=self.choices,
                on_epochs=self.choices,
                prob_bars=self.choices,
            )

        def on_train_epoch_end(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_train_epoch_end",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

    class TestModel(BoringModel):
        seen_losses = []

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)["loss"]
            self.seen_losses.append(loss)
            self.log("train_loss", loss, prog_bar=True)
            return {"loss": loss}

    model = TestModel()
    cb = TestCallback()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        max_epochs=1,
        callbacks=[cb],
    )

    trainer.fit(model)

    # Make sure the func_name output equals the average from all logged values when on_epoch true
    assert (
        trainer.progress_bar_callback.get_metrics(trainer, model)["train_loss"]
        == model.seen_losses[-1]
    )
    assert trainer.callback_metrics["train_loss"] == model.seen_losses[-1]

    assert cb.call_counter == {
        "on_train_start": 1,
        "on_train_epoch_start": 1,
        "on_train_batch_start": 2,
        "on_train_batch_end": 2,
        "on_train_epoch_end": 1,
    }

    def get_expected(on_epoch, values):
        reduction = np.mean if on_epoch else np.max
        return reduction(values)

    for fx, value in trainer.callback_metrics.items():
        actual = value.item()
        if fx not in cb.logged_arguments:
            continue
        on_epoch = cb.logged_arguments[fx]["on_epoch"]
        values = cb.logged_values[fx]
        expected = get_expected(on_epoch, values)
        assert actual == expected

    for fx, attrs in cb.logged_arguments.items():
        should_include = attrs["prog_bar"] and attrs["on_step"] ^ attrs["on_epoch"]
        is_included = fx in trainer.progress_bar_metrics
        assert is_included if should_include else not is_included


class LoggingSyncDistModel(BoringModel):
    def __init__(self, fake_result):
        super().__init__()
        self.fake_result = fake_result

    @property
    def rank(self) -> int:
        return self.trainer.global_rank

    def training_step(self, batch, batch_idx):
        value = self.fake_result + self.rank
        self.log("foo", value, on_step=True, on_epoch=False, sync_dist=True, reduce_fx="sum")
        self.log("foo_2", 2, on_step=True, on_epoch=False, sync_dist=True, reduce_fx="sum")
        self.log("foo_3", 2, on_step=True, on_epoch=False, sync_dist=True, reduce_fx="mean")
        self.log("foo_4", value, on_step=True, on_epoch=False, sync_dist=True, reduce_fx="mean")
        self.log(
            "foo_5",
            batch_idx + self.rank,
            on_step=True,
            on_epoch=False,
            sync_dist=True,
            reduce_fx="max",
        )

        self.log("foo_6", value, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="sum")
        self.log("foo_7", 2, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="sum")
        self.log("foo_8", 2, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="mean")
        self.log("foo_9", value, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="mean")
        self.log("foo_10", batch_idx, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="max")
        self.log(
            "foo_11",
            batch_idx + self.rank,
            on_step=True,
            on_epoch=True,
            sync_dist=True,
            reduce_fx="mean",
        )
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self.log(
            "bar", self.fake_result, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="sum"
        )
        self.log(
            "bar_2",
            self.fake_result,
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            reduce_fx="mean",
        )
        self.log(
            "bar_3",
            batch_idx + self.rank,
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            reduce_fx="max",
        )
        return super().validation_step(batch, batch_idx)


def test_logging_sync_dist_true(tmpdir, devices, accelerator):
    fake_result = 1
    model = LoggingSyncDistModel(fake_result)

    use_multiple_devices = devices > 1
    trainer = Trainer(
        max_epochs=1,
        default_root_dir=tmpdir,
        limit_train_batches=3,
        limit_val_batches=3,
        enable_model_summary=False,
        strategy="ddp_spawn" if use_multiple_devices else "auto",
        accelerator=accelerator,
        devices=devices,
    )
    trainer.fit(model)

    total = fake_result * devices + 1
    metrics = trainer.callback_metrics
    assert metrics["foo"] == total if use_multiple_devices else fake_result
    assert metrics["foo_2"] == 2 * devices
    assert metrics["foo_3"] == 2
    assert metrics["foo_4"] == total / devices if use_multiple_devices else 1
    assert metrics["foo_5"] == fake_result * 2 + 1 if use_multiple_devices else fake_result * 2
    assert (
        metrics["foo_6"] == (0 + 1 + 1 + 2 + 2 + 3) if use_multiple_devices else fake_result * 3 * 2
    )
    assert metrics["foo_7"] == 2 * devices * 3
    assert metrics["foo_8"] == 2
    assert (
        metrics["foo_9"] == (fake_result * 2 + 1) / devices if use_multiple_devices else fake_result
    )
    assert metrics["foo_10"] == 2
    assert metrics["foo_11_step"] == (2 + 3) / 2 if use_multiple_devices else fake_result * 2
    assert (
        metrics["foo_11"] == (0 + 1 + 1 + 2 + 2 + 3) / (devices * 3)
        if use_multiple_devices
        else fake_result
    )
    assert metrics["bar"] == fake_result * 3 * devices
    assert metrics["bar_2"] == fake_result
    assert metrics["bar_3"] == 2 + int(use_multiple_devices)


def test_progress_bar_metrics_contains_values_on_train_epoch_end(tmpdir: str):
    class TestModel(BoringModel):
        def training_step(self, *args):
            self.log(
                "foo", torch.tensor(self.current_epoch), on_step=False, on_epoch=True, prog_bar=True
            )
            return super().training_step(*args)

        def on_train_epoch_end(self, *_):
            self.log(
                "foo_2",
                torch.tensor(self.current_epoch),
                prog_bar=True,
                on_epoch=True,
                sync_dist=True,
                reduce_fx="sum",
            )
            self.on_train_epoch_end_called = True

    class TestProgressBar(TQDMProgressBar):
        def get_metrics(self, trainer: Trainer, model: LightningModule):
            items = super().get_metrics(trainer, model)
            items.pop("v_num", None)
            return items

        def on_train_end(self, trainer: Trainer, model: LightningModule):
            metrics = self.get_metrics(trainer, model)
            assert metrics["foo"] == self.trainer.current_epoch - 1
            assert metrics["foo_2"] == self.trainer.current_epoch - 1
            model.callback_on_train_end_called = True

    progress_bar = TestProgressBar()
    trainer = Trainer(
        default_root_dir=tmpdir,
        callbacks=[progress_bar],
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=0,
        enable_checkpointing=False,
        logger=False,
        enable_model_summary=False,
    )
    model = TestModel()
    trainer.fit(model)
    assert model.on_train_epoch_end_called
    assert model.callback_on_train_end_called


def test_metric_are_properly_reduced(tmpdir, accelerator):
    class TestingModel(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.val_acc = Accuracy(task="multiclass", num_classes=2)

        def training_step(self, batch, batch_idx):
            output = super().training_step(batch, batch_idx)
            self.log("train_loss", output["loss"])
            return output

        def validation_step(self, batch, batch_idx):
            preds = torch.tensor([[0.9, 0.1]], device=self.device)
            targets = torch.tensor([1], device=self.device)
            if batch_idx < 8:
                preds = torch.tensor([[0.1, 0.9]], device=self.device)
            self.val_acc(preds, targets)
            self.log("val_acc", self.val_acc, on_step=True, on_epoch=True)
            return super().validation_step(batch, batch_idx)

    early_stop = EarlyStopping(monitor="val_acc", mode="max")
    checkpoint = ModelCheckpoint(monitor="val_acc", save_last=True, save_top_k=2, mode="max")

    model = TestingModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        accelerator=accelerator,
        devices=1,
        max_epochs=2,
        limit_train_batches=5,
        limit_val_batches=32,
        callbacks=[early_stop, checkpoint],
    )
    trainer.fit(model)

    assert trainer.callback_metrics["val_acc"] == 8 / 32.0
    assert "train_loss" in trainer.callback_metrics


def test_log_invalid_raises(tmpdir, value):
    class TestModel(BoringModel):
        def training_step(self, *args):
            self.log("foo", value)

    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=1)
    model = TestModel()
    match = escape(f"self.log(foo, {value})` was called")
    _raises(ValueError, match, lambda: trainer.fit(model))


def test_log_tensor_and_clone_no_torch_warning(tmpdir):
    class TestModel(BoringModel):
        def training_step(self, *args):
            self.log("foo", torch.tensor(1))
            return super().training_step(*args)

    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=1)
    model = TestModel()
    match = r"recommended.*.clone\(\).detach\(\)"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(model)
    assert not [
        w
        for w in record
        if issubclass(w.category, UserWarning) and re.search(match, str(w.message))
    ]


def test_logging_raises(tmpdir):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("foo/dataloader_idx_0", -1)

    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=1,
        limit_val_batches=0,
        max_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        logger=False,
        enable_model_summary=False,
    )
    model = TestModel()
    _raises(
        MisconfigurationException,
        "`self.log` with the key `foo/dataloader_idx_0`",
        lambda: trainer.fit(model),
    )

    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("foo", Accuracy(task="multiclass", num_classes=2))

    model = TestModel()
    _raises(
        MisconfigurationException,
        "fix this by setting an attribute for the metric in your",
        lambda: trainer.fit(model),
    )

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.bar = Accuracy(task="multiclass", num_classes=2)

        def training_step(self, batch, batch_idx):
            self.log("foo", Accuracy(task="multiclass", num_classes=2))

    model = TestModel()
    _raises(
        MisconfigurationException,
        r"`self.log\(foo, ..., metric_attribute=name\)` where `name` is one of \['bar'\]",
        lambda: trainer.fit(model),
    )

    class TestModel(BoringModel):
        def training_step(self, *args):
            self.log("foo", -1, prog_bar=False)
            self.log("foo", -1, prog_bar=True)
            return super().training_step(*args)

    model = TestModel()
    _raises(
        MisconfigurationException,
        r"self.log\(foo, ...\)` twice in `training_step`",
        lambda: trainer.fit(model),
    )

    class TestModel(BoringModel):
        def training_step(self, *args):
            self.log("foo", -1, reduce_fx=torch.argmax)
            return super().training_step(*args)

    model = TestModel()
    _raises(
        MisconfigurationException,
        r"reduce_fx={min,max,mean,sum}\)` are supported",
        lambda: trainer.fit(model),
    )

    class TestModel(BoringModel):
        def on_train_start(self):
            self.log("foo", torch.tensor([1.0, 2.0]))

    model = TestModel()
    _raises(ValueError, "tensor must have a single element", lambda: trainer.fit(model))


def test_sanity_metrics_are_reset(tmpdir):
    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            output = super().validation_step(batch, batch_idx)
            if self.trainer.sanity_checking:
                self.log("val_loss", output["x"], prog_bar=True, logger=True)
            return output

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)["loss"]
            if batch_idx == 0:
                assert self.trainer.progress_bar_metrics == {}
                assert self.trainer.logged_metrics == {}
                assert self.trainer.callback_metrics == {}
            self.log("train_loss", loss, prog_bar=True, logger=True)
            return loss

    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=2,
        num_sanity_val_steps=2,
    )
    trainer.fit(TestModel())

    assert "val_loss" not in trainer.progress_bar_metrics


def test_on_epoch_logging_with_sum_and_on_batch_start(tmpdir):
    class TestModel(BoringModel):
        def on_train_epoch_end(self):
            self.log("on_train_epoch_end", 3.0, reduce_fx="mean")
            assert all(v == 3 for v in self.trainer.callback_metrics.values())

        def on_validation_epoch_end(self):
            self.log("on_validation_epoch_end", 3.0, reduce_fx="mean")
            assert all(v == 3 for v in self.trainer.callback_metrics.values())

        def on_train_batch_start(self, *_):
            self.log("on_train_batch_start", 1.0, on_step=False, on_epoch=True, reduce_fx="sum")

        def on_train_batch_end(self, *_):
            self.log("on_train_batch_end", 1.0, on_step=False, on_epoch=True, reduce_fx="sum")

        def on_validation_batch_start(self, *_):
            self.log("on_validation_batch_start", 1.0, reduce_fx="sum")

        def on_validation_batch_end(self, *_):
            self.log("on_validation_batch_end", 1.0, reduce_fx="sum")

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        enable_progress_bar=False,
        limit_train_batches=3,
        limit_val_batches=3,
        num_sanity_val_steps=3,
        max_epochs=1,
    )
    train_data = DataLoader(RandomDataset(32, 64), batch_size=2)
    val_data = DataLoader(RandomDataset(32, 64), batch_size=2)
    trainer.fit(model, train_dataloaders=train_data, val_dataloaders=val_data)


class RecordingTensorBoardLogger(TensorBoardLogger):
    """Stands in for ``mock.patch("...TensorBoardLogger.log_metrics")``: records, logs nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def log_metrics(self, metrics, step=None):
        self.calls.append({"metrics": dict(metrics), "step": step})


def test_log_metrics_epoch_step_values(tmpdir):
    class MyModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("foo", 0.0, on_step=True, on_epoch=True)
            return super().training_step(batch, batch_idx)

    logger = RecordingTensorBoardLogger(tmpdir)
    model = MyModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=0,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        logger=logger,
    )
    trainer.fit(model)

    expected = [
        {"metrics": {"foo_step": 0.0, "epoch": 0}, "step": 0},
        {"metrics": {"foo_step": 0.0, "epoch": 0}, "step": 1},
        {"metrics": {"foo_epoch": 0.0, "epoch": 0}, "step": 1},
        {"metrics": {"foo_step": 0.0, "epoch": 1}, "step": 2},
        {"metrics": {"foo_step": 0.0, "epoch": 1}, "step": 3},
        {"metrics": {"foo_epoch": 0.0, "epoch": 1}, "step": 3},
    ]
    # assert_has_calls: the expected calls appear consecutively
    n = len(expected)
    assert any(logger.calls[i : i + n] == expected for i in range(len(logger.calls) - n + 1)), (
        logger.calls
    )


def test_log_on_train_start(tmpdir):
    class MyModel(BoringModel):
        def on_train_start(self):
            self.log("foo", 123)

    logger = RecordingTensorBoardLogger(tmpdir)
    model = MyModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=1,
        limit_val_batches=0,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        logger=logger,
    )
    trainer.fit(model)

    assert logger.calls == [{"metrics": {"foo": 123.0, "epoch": 0}, "step": 0}], logger.calls
    assert trainer.max_epochs > 1


if __name__ == "__main__":
    for batches, fx, result in [
        (3, min, 0),
        (3, torch.max, 2),
        (11, max, 10),
        (5, "avg", 2),
        (5, "SUM", 10),
    ]:
        with tempfile.TemporaryDirectory() as d:
            test__training_step__log_max_reduce_fx(d, batches, fx, result)
    tests = [
        test_different_batch_types_for_sizing,
        test_log_works_in_train_callback,
        lambda d: test_logging_sync_dist_true(d, 1, "cpu"),
        test_progress_bar_metrics_contains_values_on_train_epoch_end,
        lambda d: test_metric_are_properly_reduced(d, "cpu"),
        test_log_tensor_and_clone_no_torch_warning,
        test_logging_raises,
        test_sanity_metrics_are_reset,
        test_on_epoch_logging_with_sum_and_on_batch_start,
        test_log_metrics_epoch_step_values,
        test_log_on_train_start,
    ]
    for value in [
        None,
        {"a": None},
        {"a": 1},
        {"a": {"b": None}},
        {"a": {"b": 1}},
        "foo",
        [1, 2, 3],
        (1, 2, 3),
        [[1, 2], 3],
    ]:
        tests.append(lambda d, value=value: test_log_invalid_raises(d, value))
    for test in tests:
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("ok")
