# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_gradient_accumulation_scheduler.py
#   (test_trainer_accumulate_grad_batches_zero_grad, test_trainer_accumulate_grad_batches_with_callback,
#    test_invalid_keys_for_grad_accum_scheduler, test_invalid_values_for_grad_accum_scheduler,
#    test_unsupported_manual_optimization, test_warn_if_model_has_overridden_optimization_hooks,
#    test_raises_when_accumulate_grad_batches_with_callback)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; pytest.raises/warns -> try/except and
#   warnings.catch_warnings. Left out: test_unsupported_strategies (it sets the private
#   trainer._accelerator_connector.strategy to a Mock of DeepSpeedStrategy/ColossalAIStrategy).
import math
import re
import tempfile
import warnings
from unittest.mock import patch

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{exc_type.__name__} not raised")


def warns(match, fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    assert any(issubclass(w.category, UserWarning) and re.search(match, str(w.message)) for w in record), [
        str(w.message) for w in record
    ]


def test_trainer_accumulate_grad_batches_zero_grad(tmpdir, accumulate_grad_batches):
    with patch("torch.optim.SGD.zero_grad") as sgd_zero_grad:
        model = BoringModel()
        trainer = Trainer(
            default_root_dir=tmpdir,
            limit_train_batches=20,
            limit_val_batches=1,
            max_epochs=1,
            enable_model_summary=False,
            accumulate_grad_batches=accumulate_grad_batches,
        )
        assert trainer.accumulate_grad_batches == accumulate_grad_batches
        trainer.fit(model)
        assert sgd_zero_grad.call_count == math.ceil(trainer.limit_train_batches / accumulate_grad_batches)


def test_trainer_accumulate_grad_batches_with_callback(tmpdir, accumulate_grad_batches, expected_call_count):
    with patch("torch.optim.SGD.zero_grad") as sgd_zero_grad:
        model = BoringModel()
        trainer = Trainer(
            default_root_dir=tmpdir,
            limit_train_batches=10,
            limit_val_batches=1,
            max_epochs=4,
            enable_model_summary=False,
            callbacks=GradientAccumulationScheduler(accumulate_grad_batches),
        )
        assert trainer.accumulate_grad_batches == 1  # initial value of Trainer argument
        trainer.fit(model)

        assert sum(isinstance(cb, GradientAccumulationScheduler) for cb in trainer.callbacks) == 1
        assert sgd_zero_grad.call_count == expected_call_count


def test_invalid_keys_for_grad_accum_scheduler(scheduling):
    raises(MisconfigurationException, "Epoch should be an int", GradientAccumulationScheduler, scheduling=scheduling)


def test_invalid_values_for_grad_accum_scheduler(scheduling):
    raises(
        MisconfigurationException,
        "Accumulation factor should be an int",
        GradientAccumulationScheduler,
        scheduling=scheduling,
    )


def test_unsupported_manual_optimization():
    """Test that an error is raised when attempting to use the callback with manual optimization."""
    scheduler = GradientAccumulationScheduler({1: 2})
    model = BoringModel()
    model.automatic_optimization = False
    trainer = Trainer()
    raises(
        RuntimeError,
        "Automatic gradient accumulation and the `GradientAccumulationScheduler`",
        scheduler.on_train_start,
        trainer,
        model,
    )


def test_warn_if_model_has_overridden_optimization_hooks():
    """Test that the callback warns if optimization hooks were overridden in the LightningModule."""

    class OverriddenOptimizerStepModel(BoringModel):
        def optimizer_step(self, *args, **kwargs):
            super().optimizer_step(*args, **kwargs)

    class OverriddenZeroGradModel(BoringModel):
        def optimizer_zero_grad(self, *args, **kwargs):
            super().optimizer_zero_grad(*args, **kwargs)

    scheduler = GradientAccumulationScheduler({1: 2})
    trainer = Trainer()

    model = OverriddenOptimizerStepModel()
    warns("the hooks will not be called on every batch", scheduler.on_train_start, trainer, model)

    model = OverriddenZeroGradModel()
    warns("the hooks will not be called on every batch", scheduler.on_train_start, trainer, model)


def test_raises_when_accumulate_grad_batches_with_callback(tmp_path):
    """Test that it is not allowed to set both the Trainer argument and also pass a callback."""
    trainer = Trainer(
        default_root_dir=tmp_path, accumulate_grad_batches=2, callbacks=[GradientAccumulationScheduler({0: 2})]
    )
    raises(
        ValueError,
        "`accumulate_grad_batches` and are using the `GradientAccumulationScheduler`",
        trainer.fit,
        BoringModel(),
    )


if __name__ == "__main__":
    for accumulate_grad_batches in (1, 2, 3):
        with tempfile.TemporaryDirectory() as d:
            test_trainer_accumulate_grad_batches_zero_grad(d, accumulate_grad_batches)
    for accumulate_grad_batches, expected_call_count in [
        ({1: 2, 3: 4}, 10 + 5 + 5 + 3),
        ({0: 2, 2: 1}, 5 + 5 + 10 + 10),
    ]:
        with tempfile.TemporaryDirectory() as d:
            test_trainer_accumulate_grad_batches_with_callback(d, accumulate_grad_batches, expected_call_count)
    for scheduling in [{1: 2, -3: 4}, {0: 2, "2": 1}]:
        test_invalid_keys_for_grad_accum_scheduler(scheduling)
    for scheduling in [{1: 0, 3: 4}, {0: 2, 2: "2"}]:
        test_invalid_values_for_grad_accum_scheduler(scheduling)
    test_unsupported_manual_optimization()
    test_warn_if_model_has_overridden_optimization_hooks()
    with tempfile.TemporaryDirectory() as d:
        test_raises_when_accumulate_grad_batches_with_callback(d)
    print("OK")
