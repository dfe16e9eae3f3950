# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_eval_loop_logging.py
#   (test__validation_step__epoch_end__log, test_eval_epoch_logging, test_eval_float_logging,
#    test_eval_logging_auto_reduce, test_eval_epoch_only_logging, test_log_works_in_val_callback,
#    test_log_works_in_test_callback, test_validation_step_log_with_tensorboard,
#    test_multiple_dataloaders_reset, test_logging_results_with_no_dataloader_idx,
#    test_logging_multi_dataloader_on_epoch_end, test_eval_step_logging)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops
#   ((64, 32, 2) -> (16, 8, 2) for time); tmpdir -> a tempfile dir; pytest.raises(match=) ->
#   try/except; the mocks of `TensorBoardLogger.log_metrics` -> a TensorBoardLogger subclass
#   recording (metrics, step) and `ANY` -> a value check; in test_log_works_in_test_callback the
#   private `trainer._results.dataloader_idx` -> the `dataloader_idx` the batch hook receives;
#   `hp_metric` is logged at step None (Lightning 2.6.6; the test's `call({"hp_metric": -1}, 0)`
#   is older).
#   Left out: test__validation_step__log and test_multi_dataloaders_add_suffix_properly (in
#   t_logging_rules.py), the private `trainer._results` asserts of
#   test_multiple_dataloaders_reset, test_metrics_and_outputs_device (GPU/MPS), the results-table
#   tests (private `_EvaluationLoop._print_results`).
import collections
import itertools
import re
import tempfile

import numpy as np
import torch
from lightning.pytorch import Trainer, callbacks
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import Tensor


def _check_not_useful(log):
    try:
        log()
    except MisconfigurationException as e:
        assert re.search("is not useful", str(e)), str(e)
    else:
        raise AssertionError("MisconfigurationException not raised")


class RecordingTensorBoardLogger(TensorBoardLogger):
    """Stands in for ``mock.patch("...TensorBoardLogger.log_metrics")``: records, logs nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def log_metrics(self, metrics, step=None):
        self.calls.append((dict(metrics), step))


def test__validation_step__epoch_end__log(tmpdir):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("a", out["loss"])
            self.log("b", out["loss"], on_step=True, on_epoch=True)
            return out

        def validation_step(self, batch, batch_idx):
            out = super().validation_step(batch, batch_idx)
            self.log("c", out["x"])
            self.log("d", out["x"], on_step=True, on_epoch=True)
            return out

        def on_validation_epoch_end(self):
            self.log("g", torch.tensor(2, device=self.device), on_epoch=True)

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)

    # make sure all the metrics are available for loggers
    assert set(trainer.logged_metrics) == {"a", "b_step", "b_epoch", "c", "d_step", "d_epoch", "g"}

    assert not trainer.progress_bar_metrics

    # we don't want to enable val metrics during steps because it is not something that users should do
    assert set(trainer.callback_metrics) == {
        "a",
        "b",
        "b_epoch",
        "c",
        "d",
        "d_epoch",
        "g",
        "b_step",
    }
    assert all(isinstance(v, Tensor) for v in trainer.callback_metrics.values())
    assert all(isinstance(v, Tensor) for v in trainer.logged_metrics.values())
    assert all(isinstance(v, float) for v in trainer.progress_bar_metrics.values())


def test_eval_epoch_logging(tmpdir, batches, log_interval, max_epochs):
    class TestModel(BoringModel):
        def on_validation_epoch_end(self):
            self.log("c", torch.tensor(2), on_epoch=True, prog_bar=True, logger=True)
            self.log("d/e/f", 2)

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=batches,
        limit_val_batches=batches,
        max_epochs=max_epochs,
        log_every_n_steps=log_interval,
        enable_model_summary=False,
    )
    trainer.fit(model)

    # assert the loggers received the expected number
    logged_metrics = set(trainer.logged_metrics)
    assert logged_metrics == {"c", "d/e/f"}

    pbar_metrics = set(trainer.progress_bar_metrics)
    assert pbar_metrics == {"c"}

    # make sure all the metrics are available for callbacks
    callback_metrics = set(trainer.callback_metrics)
    assert callback_metrics == (logged_metrics | pbar_metrics)
    assert all(isinstance(v, Tensor) for v in trainer.callback_metrics.values())
    assert all(isinstance(v, Tensor) for v in trainer.logged_metrics.values())
    assert all(isinstance(v, float) for v in trainer.progress_bar_metrics.values())


def test_eval_float_logging(tmpdir):
    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("a", 12.0)
            return {"x": loss}

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)

    assert set(trainer.logged_metrics) == {"a"}


def test_eval_logging_auto_reduce(tmpdir):
    class TestModel(BoringModel):
        val_losses = []
        manual_epoch_end_mean = None

        def validation_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.val_losses.append(loss)
            self.log("val_loss", loss, on_epoch=True, on_step=True, prog_bar=True)
            return {"x": loss}

        def on_validation_epoch_end(self) -> None:
            self.manual_epoch_end_mean = torch.stack(self.val_losses).mean()

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=3,
        limit_val_batches=3,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model)

    # make sure all the metrics are available for callbacks
    assert set(trainer.callback_metrics) == {"val_loss", "val_loss_epoch"}

    # make sure values are correct
    assert torch.allclose(trainer.logged_metrics["val_loss_epoch"], model.manual_epoch_end_mean)
    assert torch.allclose(trainer.callback_metrics["val_loss_epoch"], model.manual_epoch_end_mean)
    assert torch.allclose(trainer.callback_metrics["val_loss"], model.manual_epoch_end_mean)
    assert trainer.logged_metrics["val_loss_step"] == model.val_losses[-1]


def test_eval_epoch_only_logging(tmpdir, batches, log_interval, max_epochs):
    class TestModel(BoringModel):
        def on_test_epoch_end(self):
            self.log("c", torch.tensor(2))
            self.log("d/e/f", 2)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=max_epochs,
        limit_test_batches=batches,
        log_every_n_steps=log_interval,
        enable_model_summary=False,
    )
    results = trainer.test(model)

    assert len(results) == 1
    assert results[0] == {"c": torch.tensor(2), "d/e/f": 2}


def test_log_works_in_val_callback(tmpdir):
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
                    _check_not_useful(
                        lambda fx=fx, on_step=on_step, on_epoch=on_epoch: pl_module.log(
                            fx, self.count, on_step=on_step, on_epoch=on_epoch
                        )
                    )
                    continue
                pl_module.log(fx, self.count, on_step=on_step, on_epoch=on_epoch, prog_bar=prog_bar)
                self.logged_values[fx].append(self.count)
                self.logged_arguments[fx] = {
                    "on_step": on_step,
                    "on_epoch": on_epoch,
                    "prog_bar": prog_bar,
                }
                self.count += 1

        def on_validation_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_validation_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_validation_epoch_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_validation_epoch_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_validation_batch_end(self, _, pl_module, *__):
            self.make_logging(
                pl_module,
                "on_validation_batch_end",
                on_steps=self.choices,
                on_epochs=self.choices,
                prob_bars=self.choices,
            )

        def on_validation_epoch_end(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_validation_epoch_end",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            loss = super().validation_step(batch, batch_idx)["x"]
            self.log("val_loss", loss)

    model = TestModel()
    cb = TestCallback()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=1,
        limit_val_batches=4,
        num_sanity_val_steps=0,
        max_epochs=1,
        callbacks=[cb],
    )
    trainer.fit(model)

    assert cb.call_counter == {
        "on_validation_batch_end": 4,
        "on_validation_start": 1,
        "on_validation_epoch_start": 1,
        "on_validation_epoch_end": 1,
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


def test_log_works_in_test_callback(tmpdir):
    class TestCallback(callbacks.Callback):
        # helpers
        count = 0
        choices = [False, True]

        # used to compute expected values
        callback_funcs_called = collections.defaultdict(list)
        funcs_called_count = collections.defaultdict(int)
        funcs_attr = {}

        def make_logging(self, pl_module, func_name, on_steps, on_epochs, prob_bars, dl_idx=None):
            original_func_name = func_name[:]
            self.funcs_called_count[original_func_name] += 1

            for idx, (on_step, on_epoch, prog_bar) in enumerate(
                itertools.product(on_steps, on_epochs, prob_bars)
            ):
                func_name = original_func_name[:]
                custom_func_name = f"{idx}_{func_name}"

                if not on_step and not on_epoch:
                    _check_not_useful(
                        lambda name=custom_func_name, on_step=on_step, on_epoch=on_epoch: (
                            pl_module.log(name, self.count, on_step=on_step, on_epoch=on_epoch)
                        )
                    )
                    continue
                pl_module.log(
                    custom_func_name,
                    self.count,
                    on_step=on_step,
                    on_epoch=on_epoch,
                    prog_bar=prog_bar,
                )

                num_dl_ext = ""
                if dl_idx is not None:
                    num_dl_ext = f"/dataloader_idx_{dl_idx}"
                    func_name += num_dl_ext

                # catch information for verification
                self.callback_funcs_called[func_name].append([self.count])
                self.funcs_attr[custom_func_name + num_dl_ext] = {
                    "on_step": on_step,
                    "on_epoch": on_epoch,
                    "prog_bar": prog_bar,
                    "func_name": func_name,
                }
                if on_step and on_epoch:
                    self.funcs_attr[f"{custom_func_name}_step" + num_dl_ext] = {
                        "on_step": True,
                        "on_epoch": False,
                        "prog_bar": prog_bar,
                        "func_name": func_name,
                    }

                    self.funcs_attr[f"{custom_func_name}_epoch" + num_dl_ext] = {
                        "on_step": False,
                        "on_epoch": True,
                        "prog_bar": prog_bar,
                        "func_name": func_name,
                    }

        def on_test_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_test_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_test_epoch_start(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_test_epoch_start",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

        def on_test_batch_end(self, _, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            self.make_logging(
                pl_module,
                "on_test_batch_end",
                on_steps=self.choices,
                on_epochs=self.choices,
                prob_bars=self.choices,
                dl_idx=dataloader_idx,
            )

        def on_test_epoch_end(self, _, pl_module):
            self.make_logging(
                pl_module,
                "on_test_epoch_end",
                on_steps=[False],
                on_epochs=[True],
                prob_bars=self.choices,
            )

    num_dataloaders = 2

    class TestModel(BoringModel):
        seen_losses = {i: [] for i in range(num_dataloaders)}

        def test_step(self, batch, batch_idx, dataloader_idx=0):
            loss = super().test_step(batch, batch_idx)["y"]
            self.log("test_loss", loss)
            self.seen_losses[dataloader_idx].append(loss)

        def test_dataloader(self):
            return [
                torch.utils.data.DataLoader(RandomDataset(32, 64)) for _ in range(num_dataloaders)
            ]

    model = TestModel()
    cb = TestCallback()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_test_batches=2,
        num_sanity_val_steps=0,
        max_epochs=2,
        callbacks=[cb],
    )
    trainer.test(model)

    assert cb.funcs_called_count["on_test_start"] == 1
    assert cb.funcs_called_count["on_test_epoch_start"] == 1
    assert cb.funcs_called_count["on_test_batch_end"] == 4
    assert cb.funcs_called_count["on_test_epoch_end"] == 1

    callback_metrics = trainer.callback_metrics
    for func_name in cb.callback_funcs_called:
        for key in callback_metrics:
            if func_name in key:
                break
        else:
            raise AssertionError(f"{func_name}, {list(callback_metrics)}")

    def get_expected(on_epoch, values):
        reduction = np.mean if on_epoch else np.max
        return reduction(values)

    # Make sure the func_name output equals the average from all logged values when on_epoch true
    for dl_idx in range(num_dataloaders):
        key = f"test_loss/dataloader_idx_{dl_idx}"
        assert key in trainer.callback_metrics
        assert torch.stack(model.seen_losses[dl_idx]).mean() == trainer.callback_metrics.pop(key)

    for func_name, output_value in trainer.callback_metrics.items():
        output_value = output_value.item()
        func_attr = cb.funcs_attr[func_name]
        original_values = cb.callback_funcs_called[func_attr["func_name"]]
        expected_output = get_expected(func_attr["on_epoch"], original_values)
        assert output_value == expected_output

    for fx, attrs in cb.funcs_attr.items():
        should_include = attrs["prog_bar"] and attrs["on_step"] ^ attrs["on_epoch"]
        is_included = fx in trainer.progress_bar_metrics
        assert is_included if should_include else not is_included


def test_validation_step_log_with_tensorboard(tmpdir):
    class ExtendedModel(BoringModel):
        val_losses = []

        def __init__(self, some_val=7):
            super().__init__()
            self.save_hyperparameters()

        def training_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("train_loss", loss)
            return {"loss": loss}

        def validation_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.val_losses.append(loss)
            self.log("valid_loss_0", loss, on_step=True, on_epoch=True)
            self.log("valid_loss_1", loss, on_step=False, on_epoch=True)
            self.log("valid_loss_2", loss, on_step=True, on_epoch=False)
            return {"val_loss": loss}  # not added to callback_metrics

        def test_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("test_loss", loss)
            return {"y": loss}

    model = ExtendedModel()
    logger = RecordingTensorBoardLogger(tmpdir)

    # Initialize a trainer
    trainer = Trainer(
        default_root_dir=tmpdir,
        logger=logger,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        max_epochs=2,
    )

    # Train the model ⚡
    trainer.fit(model)

    assert set(trainer.callback_metrics) == {
        "train_loss",
        "valid_loss_0_epoch",
        "valid_loss_0",
        "valid_loss_1",
    }
    # `ANY` in Lightning's expected calls: only the names and steps are compared
    got = [(set(metrics), metrics.get("epoch"), step) for metrics, step in logger.calls]
    assert got == [
        ({"hp_metric"}, None, None),
        ({"valid_loss_0_step", "valid_loss_2"}, None, 0),
        ({"valid_loss_0_step", "valid_loss_2"}, None, 1),
        ({"valid_loss_0_epoch", "valid_loss_1", "epoch"}, 0, 1),
        ({"valid_loss_0_step", "valid_loss_2"}, None, 2),
        ({"valid_loss_0_step", "valid_loss_2"}, None, 3),
        ({"valid_loss_0_epoch", "valid_loss_1", "epoch"}, 1, 3),
    ], got
    assert logger.calls[0] == ({"hp_metric": -1}, None)

    def get_metrics_at_idx(idx):
        return logger.calls[idx][0]

    expected = {"valid_loss_0_step", "valid_loss_2"}
    assert set(get_metrics_at_idx(1)) == expected
    assert set(get_metrics_at_idx(2)) == expected

    assert get_metrics_at_idx(1)["valid_loss_0_step"] == model.val_losses[2]
    assert get_metrics_at_idx(2)["valid_loss_0_step"] == model.val_losses[3]

    assert set(get_metrics_at_idx(3)) == {"valid_loss_0_epoch", "valid_loss_1", "epoch"}

    assert get_metrics_at_idx(3)["valid_loss_1"] == torch.stack(model.val_losses[2:4]).mean()

    expected = {"valid_loss_0_step", "valid_loss_2"}
    assert set(get_metrics_at_idx(4)) == expected
    assert set(get_metrics_at_idx(5)) == expected

    assert get_metrics_at_idx(4)["valid_loss_0_step"] == model.val_losses[4]
    assert get_metrics_at_idx(5)["valid_loss_0_step"] == model.val_losses[5]

    assert set(get_metrics_at_idx(6)) == {"valid_loss_0_epoch", "valid_loss_1", "epoch"}

    assert get_metrics_at_idx(6)["valid_loss_1"] == torch.stack(model.val_losses[4:]).mean()

    results = trainer.test(model)
    assert set(trainer.callback_metrics) == {
        "test_loss",
    }
    assert set(results[0]) == {"test_loss"}


def test_multiple_dataloaders_reset(val_check_interval, tmpdir):
    class TestModel(BoringModel):
        val_outputs = [[], []]

        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            value = 1 + batch_idx
            if self.current_epoch != 0:
                value *= 10
            self.log("batch_idx", value, on_step=True, on_epoch=True, prog_bar=True)
            return out

        def on_train_epoch_end(self):
            metrics = self.trainer.progress_bar_metrics
            v = 15 if self.current_epoch == 0 else 150
            assert metrics["batch_idx_epoch"] == (v / 5.0)

        def validation_step(self, batch, batch_idx, dataloader_idx):
            value = (1 + batch_idx) * (1 + dataloader_idx)
            if self.current_epoch != 0:
                value *= 10
            self.val_outputs[dataloader_idx].append(value)
            self.log("val_loss", value, on_step=False, on_epoch=True, prog_bar=True, logger=True)

        def on_validation_epoch_end(self):
            outputs = self.val_outputs
            self.val_outputs = [[], []]

            if self.current_epoch == 0:
                assert sum(outputs[0]) / 5 == 3
                assert sum(outputs[1]) / 5 == 6
            else:
                assert sum(outputs[0]) / 5 == 30
                assert sum(outputs[1]) / 5 == 60

            tot_loss = torch.mean(torch.tensor(outputs, dtype=torch.float))
            if self.current_epoch == 0:
                assert tot_loss == (3 + 6) / 2
            else:
                assert tot_loss == (30 + 60) / 2

        def val_dataloader(self):
            return [super().val_dataloader(), super().val_dataloader()]

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=5,
        limit_val_batches=5,
        num_sanity_val_steps=0,
        val_check_interval=val_check_interval,
        max_epochs=3,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)


def test_logging_results_with_no_dataloader_idx(tmpdir):
    num_dataloaders = 2
    log_common_same_val = {"test_log_common": 789}
    log_common_diff_val = "test_log_common_diff_value"
    log_key_no_dl_idx = "test_log_no_dl_idx_{}"
    log_key_dl0 = {"test_log_a_class": 123}
    log_key_dl1 = {"test_log_b_class": 456}

    class CustomBoringModel(BoringModel):
        def test_step(self, batch, batch_idx, dataloader_idx):
            self.log_dict(log_common_same_val)
            self.log(log_common_diff_val, dataloader_idx + 1)
            self.log(
                log_key_no_dl_idx.format(dataloader_idx),
                321 * (dataloader_idx + 1),
                add_dataloader_idx=False,
            )
            self.log_dict(
                log_key_dl0 if dataloader_idx == 0 else log_key_dl1, add_dataloader_idx=False
            )

        def test_dataloader(self):
            return [
                torch.utils.data.DataLoader(RandomDataset(32, 64)) for _ in range(num_dataloaders)
            ]

    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=1)
    results = trainer.test(model)

    assert len(results) == num_dataloaders
    assert results[0] == {
        "test_log_common/dataloader_idx_0": 789.0,
        "test_log_common_diff_value/dataloader_idx_0": 1.0,
        "test_log_no_dl_idx_0": 321,
        "test_log_a_class": 123.0,
    }
    assert results[1] == {
        "test_log_common/dataloader_idx_1": 789.0,
        "test_log_common_diff_value/dataloader_idx_1": 2.0,
        "test_log_no_dl_idx_1": 321 * 2,
        "test_log_b_class": 456.0,
    }


def test_logging_multi_dataloader_on_epoch_end(tmpdir):
    class CustomBoringModel(BoringModel):
        outputs = [[], []]

        def test_step(self, batch, batch_idx, dataloader_idx):
            value = dataloader_idx + 1
            self.log("foo", value)
            self.outputs[dataloader_idx].append(value)
            return value

        def on_test_epoch_end(self):
            self.log("foobar", sum(sum(o) for o in self.outputs))

        def test_dataloader(self):
            return [super().test_dataloader(), super().test_dataloader()]

    logger = RecordingTensorBoardLogger(tmpdir)
    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmpdir, limit_test_batches=1, logger=logger)
    results = trainer.test(model)

    # what's logged in `on_test_epoch_end` gets included in the results of each dataloader
    assert results == [
        {"foo/dataloader_idx_0": 1, "foobar": 3},
        {"foo/dataloader_idx_1": 2, "foobar": 3},
    ]
    cb_metrics = set(trainer.callback_metrics)
    assert cb_metrics == {"foo/dataloader_idx_0", "foo/dataloader_idx_1", "foobar"}

    logged_metrics = logger.calls[0][0]
    cb_metrics.add("epoch")
    assert set(logged_metrics) == cb_metrics


def test_eval_step_logging(tmpdir, num_dataloaders):
    class CustomBoringModel(BoringModel):
        def validation_step(self, batch, batch_idx, dataloader_idx=None):
            self.log(
                f"val_log_{self.trainer.state.fn.value}", batch_idx, on_step=True, on_epoch=False
            )

        def test_step(self, batch, batch_idx, dataloader_idx=None):
            self.log("test_log", batch_idx, on_step=True, on_epoch=False)

        def val_dataloader(self):
            return [super().val_dataloader()] * num_dataloaders

        def test_dataloader(self):
            return [super().test_dataloader()] * num_dataloaders

    limit_batches = 4
    max_epochs = 3
    logger = RecordingTensorBoardLogger(tmpdir)
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=max_epochs,
        limit_train_batches=1,
        limit_val_batches=limit_batches,
        limit_test_batches=limit_batches,
        logger=logger,
    )
    model = CustomBoringModel()

    def get_suffix(dl_idx):
        return f"/dataloader_idx_{dl_idx}" if num_dataloaders == 2 else ""

    eval_steps = range(limit_batches)
    trainer.fit(model)
    fit_calls = [
        ({f"val_log_fit{get_suffix(dl_idx)}": float(step)}, step + (limit_batches * epoch))
        for epoch in range(max_epochs)
        for dl_idx in range(num_dataloaders)
        for step in eval_steps
    ]
    assert logger.calls == fit_calls, logger.calls

    logger.calls.clear()
    trainer.validate(model)
    validate_calls = [
        ({f"val_log_validate{get_suffix(dl_idx)}": float(val)}, val)
        for dl_idx in range(num_dataloaders)
        for val in eval_steps
    ]
    assert logger.calls == validate_calls, logger.calls

    logger.calls.clear()
    trainer.test(model)
    test_calls = [
        ({f"test_log{get_suffix(dl_idx)}": float(val)}, val)
        for dl_idx in range(num_dataloaders)
        for val in eval_steps
    ]
    assert logger.calls == test_calls, logger.calls


if __name__ == "__main__":
    tests = [
        test__validation_step__epoch_end__log,
        test_eval_float_logging,
        test_eval_logging_auto_reduce,
        test_log_works_in_val_callback,
        test_log_works_in_test_callback,
        test_validation_step_log_with_tensorboard,
        test_logging_results_with_no_dataloader_idx,
        test_logging_multi_dataloader_on_epoch_end,
    ]
    for batches, log_interval, max_epochs in [(1, 1, 1), (16, 8, 2)]:
        tests.append(
            lambda d, b=batches, li=log_interval, me=max_epochs: test_eval_epoch_logging(
                d, b, li, me
            )
        )
        tests.append(
            lambda d, b=batches, li=log_interval, me=max_epochs: test_eval_epoch_only_logging(
                d, b, li, me
            )
        )
    for val_check_interval in [0.5, 1.0]:
        tests.append(lambda d, v=val_check_interval: test_multiple_dataloaders_reset(v, d))
    for num_dataloaders in [1, 2]:
        tests.append(lambda d, n=num_dataloaders: test_eval_step_logging(d, n))
    for test in tests:
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("ok")
