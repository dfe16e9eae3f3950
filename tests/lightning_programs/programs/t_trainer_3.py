# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (part 3 of 3: exceptions, clipping, modes, metrics, logging) test_on_exception_hook,
#   test_error_handling_all_stages, test_trainer_calls_logger_finalize_on_exception,
#   test_gradient_clipping_by_norm, test_gradient_clipping_by_value,
#   test_invalid_gradient_clip_algo,
#   test_check_val_every_n_epoch_exception, test_model_in_correct_mode_during_stages,
#   test_trainer_metrics_reset_before_each_task, test_detect_anomaly_nan, test_log_every_n_steps
#   (test_train_loop_system is t_trainer_train_loop_system.py, which meets a documented
#   difference of treadle; test_invalid_gradient_clip_value is t_trainer_invalid_clip_value.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted, parametrized
#   tests as loops (every CPU value kept); tmpdir -> a tempfile dir; pytest.raises/warns ->
#   try/except and warnings.catch_warnings; `logger.finalize = Mock()` -> a recording function;
#   `@patch("...TensorBoardLogger.log_metrics")` -> a TensorBoardLogger subclass recording the
#   steps of `log_metrics` (`assert_has_calls` -> the expected steps as a run of the recorded
#   ones); the sklearn ClassificationModel/ClassifDataModule (tests_pytorch.helpers) -> small
#   inline torch versions on a random 3-class problem; the `16-mixed` (GPU) and `ddp_spawn`
#   variants left out (one CPU process); `trainer.fit` after a KeyboardInterrupt expects the
#   SystemExit Lightning 2.6.6 raises after its graceful shutdown.
import re
import tempfile
import warnings

import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader, TensorDataset


def raises(exc, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as err:
        assert match is None or re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


class ClassifDataModule(LightningDataModule):
    # edit: sklearn's make_classification -> a random 3-class problem in torch
    def __init__(self, num_features=32, length=200, num_classes=3, batch_size=10):
        super().__init__()
        self.num_features, self.length, self.num_classes, self.batch_size = num_features, length, num_classes, batch_size

    def setup(self, stage):
        g = torch.Generator().manual_seed(0)
        centers = torch.randn(self.num_classes, self.num_features, generator=g) * 4
        y = torch.randint(0, self.num_classes, (self.length,), generator=g)
        x = centers[y] + torch.randn(self.length, self.num_features, generator=g)
        half = self.length // 2
        self.train = TensorDataset(x[:half], y[:half])
        self.val = TensorDataset(x[half:], y[half:])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)


class ClassificationModel(LightningModule):
    def __init__(self, num_features=32, num_classes=3, lr=0.01):
        super().__init__()
        self.lr = lr
        for i in range(3):
            setattr(self, f"layer_{i}", torch.nn.Linear(num_features, num_features))
            setattr(self, f"layer_{i}a", torch.nn.ReLU())
        setattr(self, "layer_end", torch.nn.Linear(num_features, num_classes))

    def forward(self, x):
        for i in range(3):
            x = getattr(self, f"layer_{i}a")(getattr(self, f"layer_{i}")(x))
        return F.softmax(self.layer_end(x), dim=-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return {"loss": loss}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y), prog_bar=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def test_on_exception_hook(tmpdir):
    """Test the on_exception callback hook and the trainer interrupted flag."""
    model = BoringModel()

    class InterruptCallback(Callback):
        def __init__(self):
            super().__init__()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            raise KeyboardInterrupt

        def on_test_start(self, trainer, pl_module):
            raise MisconfigurationException

    class HandleInterruptCallback(Callback):
        def __init__(self):
            super().__init__()
            self.exception = None

        def on_exception(self, trainer, pl_module, exception):
            self.exception = exception

    interrupt_callback = InterruptCallback()
    handle_interrupt_callback = HandleInterruptCallback()

    trainer = Trainer(
        callbacks=[interrupt_callback, handle_interrupt_callback],
        max_epochs=1,
        limit_val_batches=0.1,
        limit_train_batches=0.2,
        enable_progress_bar=False,
        logger=False,
        default_root_dir=tmpdir,
    )
    assert not trainer.interrupted
    assert handle_interrupt_callback.exception is None
    # edit: Lightning 2.6.6 ends a KeyboardInterrupt's graceful shutdown with sys.exit(1)
    # (its own version of this test reads `with pytest.raises(SystemExit)`)
    raises(SystemExit, None, trainer.fit, model)
    assert trainer.interrupted
    assert isinstance(handle_interrupt_callback.exception, KeyboardInterrupt)
    raises(MisconfigurationException, None, trainer.test, model)
    assert trainer.interrupted
    assert isinstance(handle_interrupt_callback.exception, MisconfigurationException)


def test_gradient_clipping_by_norm(tmpdir, precision):
    """Test gradient clipping by norm."""
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_steps=1,
        max_epochs=1,
        accelerator="auto",
        devices=1,
        precision=precision,
        gradient_clip_algorithm="norm",
        gradient_clip_val=0.05,
    )

    class TestModel(ClassificationModel):
        def configure_gradient_clipping(self, *args, **kwargs):
            super().configure_gradient_clipping(*args, **kwargs)
            # test that gradient is clipped correctly
            parameters = self.parameters()
            grad_norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in parameters]), 2)
            torch.testing.assert_close(grad_norm, torch.tensor(0.05, device=self.device))
            self.assertion_called = True

    model = TestModel()
    trainer.fit(model, ClassifDataModule())
    assert model.assertion_called


def test_gradient_clipping_by_value(tmpdir, precision):
    """Test gradient clipping by value."""
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_steps=1,
        max_epochs=1,
        accelerator="auto",
        devices=1,
        precision=precision,
        gradient_clip_algorithm="value",
        gradient_clip_val=1e-10,
    )

    class TestModel(BoringModel):
        def configure_gradient_clipping(self, *args, **kwargs):
            super().configure_gradient_clipping(*args, **kwargs)
            # test that gradient is clipped correctly
            parameters = self.parameters()
            grad_max_list = [torch.max(p.grad.detach().abs()) for p in parameters]
            grad_max = torch.max(torch.stack(grad_max_list))
            torch.testing.assert_close(grad_max.abs(), torch.tensor(1e-10, device=self.device))
            self.assertion_called = True

    model = TestModel()
    trainer.fit(model)
    assert model.assertion_called


def test_invalid_gradient_clip_algo(tmpdir):
    raises(
        MisconfigurationException,
        "`gradient_clip_algorithm` norm2 is invalid",
        Trainer,
        default_root_dir=tmpdir,
        gradient_clip_algorithm="norm2",
    )


def test_check_val_every_n_epoch_exception(tmpdir):
    raises(
        MisconfigurationException,
        "should be an integer.",
        Trainer,
        default_root_dir=tmpdir,
        max_epochs=1,
        check_val_every_n_epoch=1.2,
    )


class TrainerStagesModel(BoringModel):
    def on_train_start(self) -> None:
        assert self.trainer.model.training
        assert self.training

    def on_validation_start(self) -> None:
        assert not self.trainer.model.training
        assert not self.training

    def on_test_start(self) -> None:
        assert not self.trainer.model.training
        assert not self.training

    def on_predict_start(self) -> None:
        assert not self.trainer.model.training
        assert not self.training


def test_model_in_correct_mode_during_stages(tmpdir, strategy, devices):
    model = TrainerStagesModel()
    trainer = Trainer(default_root_dir=tmpdir, strategy=strategy, accelerator="cpu", devices=devices, fast_dev_run=True)
    trainer.fit(model)
    trainer.validate(model)
    trainer.test(model)
    trainer.predict(model, model.val_dataloader())


class TrainerStagesErrorsModel(BoringModel):
    def on_train_start(self) -> None:
        raise Exception("Error during train")

    def on_validation_start(self) -> None:
        raise Exception("Error during validation")

    def on_test_start(self) -> None:
        raise Exception("Error during test")

    def on_predict_start(self) -> None:
        raise Exception("Error during predict")


class ExceptionCounter(Callback):
    exceptions = 0

    def on_exception(self, *_):
        self.exceptions += 1


def test_error_handling_all_stages(tmpdir, strategy):
    model = TrainerStagesErrorsModel()
    counter = ExceptionCounter()

    trainer = Trainer(
        default_root_dir=tmpdir,
        strategy=strategy,
        devices=1,
        callbacks=counter,
        fast_dev_run=True,
    )

    raises(Exception, r"Error during train", trainer.fit, model)
    assert counter.exceptions == 1

    raises(Exception, r"Error during validation", trainer.validate, model)
    assert counter.exceptions == 2

    raises(Exception, r"Error during test", trainer.test, model)
    assert counter.exceptions == 3

    raises(Exception, r"Error during predict", trainer.predict, model, model.val_dataloader(), return_predictions=False)
    assert counter.exceptions == 4


def test_trainer_metrics_reset_before_each_task(tmpdir):
    """Test that callback, logged and progress bar metrics are reset before each task starts."""

    class TestMetricRestartCallback(Callback):
        def _make_assertions(self, trainer):
            assert trainer.callback_metrics == {}
            assert trainer.progress_bar_metrics == {}
            assert trainer.logged_metrics == {}

        def on_train_start(self, trainer, *args, **kwargs):
            self._make_assertions(trainer)

        def on_validation_start(self, trainer, *args, **kwargs):
            if trainer.state.fn == TrainerFn.VALIDATING:
                self._make_assertions(trainer)

        def on_test_start(self, trainer, *args, **kwargs):
            self._make_assertions(trainer)

        def on_predict_start(self, trainer, *args, **kwargs):
            self._make_assertions(trainer)

    class CustomBoringModel(BoringModel):
        def __init__(self):
            super().__init__()

        def training_step(self, *args, **kwargs):
            self.log("train/metric", 7.0)
            return super().training_step(*args, **kwargs)

        def validation_step(self, *args, **kwargs):
            self.log("val/metric", 14.0)
            return super().validation_step(*args, **kwargs)

        def test_step(self, *args, **kwargs):
            self.log("test/metric", 21.0)
            return super().test_step(*args, **kwargs)

    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=4, callbacks=[TestMetricRestartCallback()])
    trainer.fit(model)
    trainer.validate(model)
    trainer.test(model)
    trainer.predict(model)


def test_detect_anomaly_nan(tmpdir):
    class NanModel(BoringModel):
        def training_step(self, batch, batch_idx):
            output = super().training_step(batch, batch_idx)
            output["loss"] = output["loss"] * torch.tensor(float("nan"))
            return output

    model = NanModel()
    trainer = Trainer(default_root_dir=tmpdir, detect_anomaly=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raises(RuntimeError, r"returned nan values in its 0th output.", trainer.fit, model)
    texts = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    pattern = r".*Error detected in.* Traceback of forward call that caused the error.*"
    assert any(re.search(pattern, t, re.DOTALL) for t in texts), texts


class RecordingTensorBoardLogger(TensorBoardLogger):
    # edit: `@patch("...TensorBoardLogger.log_metrics")` -> the steps of each call recorded
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logged_steps = []

    def log_metrics(self, metrics, step=None):
        self.logged_steps.append(step)


def test_log_every_n_steps(tmpdir, train_batches, max_steps, log_interval):
    class TestModel(BoringModel):
        def training_step(self, *args, **kwargs):
            self.log("foo", -1)
            return super().training_step(*args, **kwargs)

    model = TestModel()
    logger = RecordingTensorBoardLogger(tmpdir)
    trainer = Trainer(
        default_root_dir=tmpdir,
        log_every_n_steps=log_interval,
        limit_train_batches=train_batches,
        limit_val_batches=0,
        max_steps=max_steps,
        logger=logger,
    )
    trainer.fit(model)
    expected_steps = list(range(log_interval - 1, max_steps, log_interval))
    # `assert_has_calls(expected_calls)`: the expected calls appear one after another
    steps = logger.logged_steps
    n = len(expected_steps)
    assert any(steps[i : i + n] == expected_steps for i in range(len(steps) - n + 1)), (steps, expected_steps)


def test_trainer_calls_logger_finalize_on_exception(tmpdir):
    class CustomModel(BoringModel):
        def on_fit_start(self):
            super().on_fit_start()
            raise Exception("logger-finalize")

    model = CustomModel()
    logger = TensorBoardLogger(save_dir=tmpdir)
    finalize_calls = []
    # edit: `logger.finalize = Mock()` -> a recording function
    logger.finalize = lambda *args, **kwargs: finalize_calls.append((args, kwargs))
    trainer = Trainer(logger=logger)

    raises(Exception, "logger-finalize", trainer.fit, model)

    assert finalize_calls == [(("failed",), {})], finalize_calls


def tmp():
    return tempfile.mkdtemp()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    test_on_exception_hook(tmp())
    test_error_handling_all_stages(tmp(), "auto")
    test_trainer_calls_logger_finalize_on_exception(tmp())
    test_gradient_clipping_by_norm(tmp(), "32-true")
    test_gradient_clipping_by_value(tmp(), "32-true")
    test_invalid_gradient_clip_algo(tmp())
    test_check_val_every_n_epoch_exception(tmp())
    test_model_in_correct_mode_during_stages(tmp(), "auto", 1)
    test_trainer_metrics_reset_before_each_task(tmp())
    test_detect_anomaly_nan(tmp())
    for args in [(10, 10, 1), (3, 10, 1), (3, 10, 5)]:
        test_log_every_n_steps(tmp(), *args)
    print("t_trainer_3: all passed")
