# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (part 5: the ddp_spawn variants on the CPU) test_fit_test_synchronization,
#   test_model_in_correct_mode_during_stages (its `ddp_spawn` row; part 3 runs the `auto` one),
#   test_trainer_predict_ddp_spawn (CPU), test_spawn_predict_return_predictions, the `ddp_spawn`
#   row of test_error_handling_all_stages (the callbacks' `on_exception` in the caller too)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted, parametrized
#   tests as loops; tmpdir -> a tempfile dir; pytest.raises -> try/except; the prediction
#   writer's `trainer._accelerator_connector.is_distributed` -> `trainer.world_size > 1`, and
#   its check of the private `_IndexBatchSamplerWrapper`/`UnrepeatedDistributedSampler` classes
#   dropped; `isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)` (private) ->
#   `strategy == "ddp_spawn"`.
import os
import re
import tempfile

import torch
from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.callbacks.prediction_writer import BasePredictionWriter
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.strategies import DDPStrategy
from torch.multiprocessing import ProcessRaisedException


def raises(exc, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as err:
        assert match is None or re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


class TestLightningDataModule(LightningDataModule):
    def __init__(self, dataloaders):
        super().__init__()
        self._dataloaders = dataloaders

    def test_dataloader(self):
        return self._dataloaders

    def predict_dataloader(self):
        return self._dataloaders


class CustomPredictionWriter(BasePredictionWriter):
    write_on_batch_end_called = False
    write_on_epoch_end_called = False

    def __init__(self, output_dir: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_dir = output_dir

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, *_):
        assert prediction.shape == torch.Size([1, 2])
        assert len(batch_indices) == 1
        self.write_on_batch_end_called = True

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        expected = 1 if trainer.world_size > 1 else 2
        assert len(predictions) == 2
        assert len(predictions[0]) == expected
        assert len(batch_indices) == 2
        assert len(batch_indices[0]) == expected
        self.write_on_epoch_end_called = True


def predict(
    tmpdir,
    strategy="auto",
    accelerator="auto",
    devices="auto",
    model=None,
    plugins=None,
    datamodule=True,
    enable_progress_bar=True,
    use_callbacks=True,
):
    dataloaders = [
        torch.utils.data.DataLoader(RandomDataset(32, 2)),
        torch.utils.data.DataLoader(RandomDataset(32, 2)),
    ]

    model = model or BoringModel()
    dm = TestLightningDataModule(dataloaders)

    cb = CustomPredictionWriter(tmpdir, write_interval="batch")
    cb_1 = CustomPredictionWriter(tmpdir, write_interval="epoch")

    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
        strategy=strategy,
        accelerator=accelerator,
        devices=devices,
        plugins=plugins,
        enable_progress_bar=enable_progress_bar,
        callbacks=[cb, cb_1] if use_callbacks else [],
    )
    if strategy == "ddp_spawn":
        raises(
            ProcessRaisedException,
            "`return_predictions` should be set to `False`",
            trainer.predict,
            model,
            datamodule=dm,
            return_predictions=True,
        )

    results = (
        trainer.predict(model, datamodule=dm)
        if datamodule
        else trainer.predict(model, dataloaders=dataloaders)
    )

    if strategy != "ddp_spawn":
        if use_callbacks:
            assert cb.write_on_batch_end_called
            assert not cb.write_on_epoch_end_called

            assert not cb_1.write_on_batch_end_called
            assert cb_1.write_on_epoch_end_called

        num_samples = 1 if strategy == "ddp" else 2
        assert len(results) == 2
        assert len(results[0]) == num_samples
        assert results[0][0].shape == torch.Size([1, 2])


def test_trainer_predict_ddp_spawn(tmpdir, accelerator):
    predict(tmpdir, strategy="ddp_spawn", accelerator=accelerator, devices=2)


def test_spawn_predict_return_predictions(tmpdir):
    """Test that `return_predictions=True` raise a MisconfigurationException with spawn strategies."""
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        accelerator="cpu",
        strategy="ddp_spawn",
        devices=2,
        fast_dev_run=True,
    )
    assert isinstance(trainer.strategy, DDPStrategy)
    raises(
        ProcessRaisedException,
        "`return_predictions` should be set to `False`",
        trainer.predict,
        model,
        dataloaders=model.train_dataloader(),
        return_predictions=True,
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
    trainer = Trainer(
        default_root_dir=tmpdir,
        strategy=strategy,
        accelerator="cpu",
        devices=devices,
        fast_dev_run=True,
    )
    trainer.fit(model)
    trainer.validate(model)
    trainer.test(model)
    trainer.predict(model, model.val_dataloader())


class TestDummyModelForCheckpoint(BoringModel):
    def validation_step(self, batch, batch_idx):
        loss = self.step(batch)
        self.log("x", loss)


def test_fit_test_synchronization(tmpdir):
    """Test that the trainer synchronizes processes before returning control back to the caller."""
    model = TestDummyModelForCheckpoint()
    checkpoint = ModelCheckpoint(dirpath=tmpdir, monitor="x", mode="min", save_top_k=1)
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=2,
        strategy="ddp_spawn",
        accelerator="cpu",
        devices=2,
        callbacks=[checkpoint],
    )
    trainer.fit(model)
    assert os.path.exists(checkpoint.best_model_path), (
        f"Could not find checkpoint at rank {trainer.global_rank}"
    )
    trainer.test()


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

    raises(
        Exception,
        r"Error during predict",
        trainer.predict,
        model,
        model.val_dataloader(),
        return_predictions=False,
    )
    assert counter.exceptions == 4


if __name__ == "__main__":
    import time

    for name, fn, args in [
        ("model_in_correct_mode", test_model_in_correct_mode_during_stages, ("ddp_spawn", 1)),
        ("fit_test_synchronization", test_fit_test_synchronization, ()),
        ("trainer_predict_ddp_spawn", test_trainer_predict_ddp_spawn, ("cpu",)),
        ("spawn_predict_return_predictions", test_spawn_predict_return_predictions, ()),
        ("error_handling_all_stages", test_error_handling_all_stages, ("ddp_spawn",)),
    ]:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            fn(tmp, *args)
        print(f"{name}: {time.perf_counter() - start:.1f}s")
    print("ok")
