# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_config_validator.py
#   (test_wrong_train_setting, test_wrong_configure_optimizers, test_fit_val_loop_config,
#    test_eval_loop_config, test_trainer_predict_verify_config, test_trainer_manual_optimization_config,
#    test_legacy_epoch_end_hooks)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; pytest.raises/warns -> small helpers below (re.search on the
#   message, as pytest's `match`); `MisconfigurationException` from
#   `lightning.pytorch.utilities.exceptions`, `PossibleUserWarning` from
#   `lightning.fabric.utilities.warnings`, as the test imports it.
#   test_legacy_epoch_end_hooks called the private `__verify_train_val_loop_configuration` /
#   `__verify_eval_loop_configuration` with a Mock trainer: here `trainer.fit`/`validate`/`test`
#   of the same models, which run those checks.
#   Left out: test_raise_exception_with_batch_transfer_hooks (IPU and DataParallel on mocked GPUs).
import re
import tempfile
import warnings

import torch

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from lightning.fabric.utilities.warnings import PossibleUserWarning


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), f"{match!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{exc_type.__name__} matching {match!r} not raised")


def warns(category, match, fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    found = [w for w in record if issubclass(w.category, category) and re.search(match, str(w.message))]
    assert found, f"no {category.__name__} matching {match!r}: {[str(w.message) for w in record]}"


def test_wrong_train_setting(tmpdir):
    """Test that an error is raised when no `training_step()` is defined."""
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)
    model = BoringModel()
    model.training_step = None
    raises(MisconfigurationException, r"No `training_step\(\)` method defined.", trainer.fit, model)


def test_wrong_configure_optimizers(tmpdir):
    """Test that an error is thrown when no `configure_optimizers()` is defined."""
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)
    model = BoringModel()
    model.configure_optimizers = None
    raises(MisconfigurationException, r"No `configure_optimizers\(\)` method defined.", trainer.fit, model)


def test_fit_val_loop_config(tmpdir):
    """When either val loop or val data are missing raise warning."""
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)

    # no val data has val loop
    model = BoringModel()
    model.validation_step = None
    warns(UserWarning, r"You passed in a `val_dataloader` but have no `validation_step`", trainer.fit, model)

    # has val loop but no val data
    model = BoringModel()
    model.val_dataloader = None
    warns(PossibleUserWarning, r"You defined a `validation_step` but have no `val_dataloader`", trainer.fit, model)


def test_eval_loop_config(tmpdir):
    """When either eval step or eval data is missing."""
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)

    # has test data but no val step
    model = BoringModel()
    model.validation_step = None
    raises(MisconfigurationException, r"No `validation_step\(\)` method defined", trainer.validate, model)

    # has test data but no test step
    model = BoringModel()
    model.test_step = None
    raises(MisconfigurationException, r"No `test_step\(\)` method defined", trainer.test, model)

    # has predict data but no predict_step
    model = BoringModel()
    model.predict_step = None
    raises(MisconfigurationException, r"`predict_step` cannot be None.", trainer.predict, model)

    # has predict data but no forward
    model = BoringModel()
    model.forward = None
    raises(MisconfigurationException, r"requires `forward` method to run.", trainer.predict, model)


def test_trainer_predict_verify_config(tmpdir, datamodule):
    class TestModel(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(32, 2)

        def forward(self, x):
            return self.layer(x)

    class TestLightningDataModule(LightningDataModule):
        def __init__(self, dataloaders):
            super().__init__()
            self._dataloaders = dataloaders

        def test_dataloader(self):
            return self._dataloaders

        def predict_dataloader(self):
            return self._dataloaders

    data = [torch.utils.data.DataLoader(RandomDataset(32, 2)), torch.utils.data.DataLoader(RandomDataset(32, 2))]
    if datamodule:
        data = TestLightningDataModule(data)

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir)
    results = trainer.predict(model, data)

    assert len(results) == 2
    assert results[0][0].shape == torch.Size([1, 2])


def test_trainer_manual_optimization_config():
    """Test error message when requesting Trainer features unsupported with manual optimization."""
    model = BoringModel()
    model.automatic_optimization = False

    trainer = Trainer(gradient_clip_val=1.0)
    raises(MisconfigurationException, "Automatic gradient clipping is not supported", trainer.fit, model)

    trainer = Trainer(accumulate_grad_batches=2)
    raises(MisconfigurationException, "Automatic gradient accumulation is not supported", trainer.fit, model)


def test_legacy_epoch_end_hooks(tmpdir):
    class TrainingEpochEndModel(BoringModel):
        def training_epoch_end(self, outputs):
            pass

    class ValidationEpochEndModel(BoringModel):
        def validation_epoch_end(self, outputs):
            pass

    class TestEpochEndModel(BoringModel):
        def test_epoch_end(self, outputs):
            pass

    def trainer():
        return Trainer(default_root_dir=tmpdir, max_epochs=1, limit_train_batches=1, limit_val_batches=1)

    raises(NotImplementedError, "training_epoch_end` has been removed in v2.0", trainer().fit, TrainingEpochEndModel())
    raises(NotImplementedError, "validation_epoch_end` has been removed in v2.0", trainer().fit, ValidationEpochEndModel())
    raises(
        NotImplementedError, "validation_epoch_end` has been removed in v2.0", trainer().validate, ValidationEpochEndModel()
    )
    raises(NotImplementedError, "test_epoch_end` has been removed in v2.0", trainer().test, TestEpochEndModel())


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_wrong_train_setting(tmp)
        test_wrong_configure_optimizers(tmp)
        test_fit_val_loop_config(tmp)
        test_eval_loop_config(tmp)
        for datamodule in (False, True):
            test_trainer_predict_verify_config(tmp, datamodule)
        test_trainer_manual_optimization_config()
        test_legacy_epoch_end_hooks(tmp)
    print("ok")
