# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (part 2 of 3: checkpoint paths and predict) test_checkpoint_path_input_last,
#   test_checkpoint_find_last, test_checkpoint_path_input, test_tested_checkpoint_path_best,
#   test_on_load_checkpoint_missing_callbacks, test_trainer_save_checkpoint_no_model_attached,
#   test_trainer_predict_no_return, test_trainer_predict_grad, test_trainer_predict_cpu,
#   test_index_batch_sampler_wrapper_with_iterable_dataset, test_predict_return_predictions_cpu
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted, parametrized
#   tests as loops (every value kept); tmpdir -> a tempfile dir; pytest.raises/warns ->
#   try/except and warnings.catch_warnings; `nullcontext()` (no warning expected) -> nothing
#   checked, as pytest does; `str(tmpdir / "checkpoints" / "last.ckpt")` -> os.path.join;
#   `trainer._accelerator_connector.is_distributed` (always False on one CPU) -> False, and the
#   distributed-sampler checks under it dropped; the ddp/ddp_spawn/GPU callers of `predict` left
#   out (see t_trainer_1.py's header for the rest of the file left out).
import os
import re
import tempfile
import warnings
from pathlib import Path

import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.callbacks.prediction_writer import BasePredictionWriter
from lightning.pytorch.demos.boring_classes import (
    BoringModel,
    RandomDataset,
    RandomIterableDataset,
    RandomIterableDatasetWithLen,
)
from torch.utils.data import DataLoader, IterableDataset


def raises(exc, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as err:
        assert match is None or re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


def warns(match, fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    texts = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any(re.search(match, t) for t in texts), (match, texts)
    return out


def test_checkpoint_path_input_last(tmpdir, ckpt_path, save_last, fn):
    model = BoringModel()
    mc = ModelCheckpoint(save_last=save_last)
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        enable_model_summary=False,
        enable_progress_bar=False,
        logger=False,
        default_root_dir=tmpdir,
        callbacks=[mc],
    )
    assert trainer.ckpt_path is None
    trainer_fn = getattr(trainer, fn)

    if fn == "fit":
        if ckpt_path is None:
            trainer_fn(model, ckpt_path=ckpt_path)
        else:
            warns("No checkpoint will be loaded", trainer_fn, model, ckpt_path=ckpt_path)
        assert trainer.ckpt_path is None
    else:
        trainer.fit(model)
        if ckpt_path is None:
            match = (
                r"(?!.*however it is default only when fitting)^"
                r".*The best model of the previous `fit` call will be used"
            )
            final_path = mc.best_model_path
            warns(match, trainer_fn, ckpt_path=ckpt_path)
        elif save_last:
            final_path = mc.last_model_path
            trainer_fn(ckpt_path=ckpt_path)
        else:
            final_path = None
            warns("No checkpoint will be loaded", trainer_fn, ckpt_path=ckpt_path)
        assert trainer.ckpt_path == final_path, (trainer.ckpt_path, final_path)


def test_checkpoint_find_last(tmpdir):
    model = BoringModel()
    mc = ModelCheckpoint(save_last=True)
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        enable_model_summary=False,
        enable_progress_bar=False,
        logger=False,
        default_root_dir=tmpdir,
        callbacks=[mc],
    )
    assert trainer.ckpt_path is None
    trainer.fit(model)

    model = BoringModel()
    mc = ModelCheckpoint()
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        enable_model_summary=False,
        enable_progress_bar=False,
        logger=False,
        default_root_dir=tmpdir,
        callbacks=[mc],
    )
    assert trainer.ckpt_path is None
    trainer.fit(model, ckpt_path="last")
    assert trainer.ckpt_path == os.path.join(tmpdir, "checkpoints", "last.ckpt"), trainer.ckpt_path


class CheckpointPathModel(BoringModel):
    def validation_step(self, batch, batch_idx):
        self.log("foo", -batch_idx)
        return super().validation_step(batch, batch_idx)

    def test_step(self, *args):
        return self.validation_step(*args)

    def predict_step(self, batch, *_):
        return self(batch)


def test_checkpoint_path_input(tmpdir, ckpt_path, save_top_k, fn):
    model = CheckpointPathModel()
    trainer = Trainer(
        max_epochs=2,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        enable_progress_bar=False,
        default_root_dir=tmpdir,
        callbacks=[ModelCheckpoint(monitor="foo", save_top_k=save_top_k)],
    )
    trainer.fit(model)
    trainer_fn = getattr(trainer, fn)
    assert trainer.ckpt_path is None

    if ckpt_path == "best":
        if save_top_k == 0:
            raises(
                ValueError,
                ".*is not configured to save the best.*",
                trainer_fn,
                ckpt_path=ckpt_path,
            )
            raises(
                ValueError,
                ".*is not configured to save the best.*",
                trainer_fn,
                model,
                ckpt_path=ckpt_path,
            )
        else:
            trainer_fn(ckpt_path=ckpt_path)
            assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
            trainer_fn(model, ckpt_path=ckpt_path)
            assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
    elif ckpt_path is None:
        trainer_fn(model, ckpt_path=ckpt_path)
        assert trainer.ckpt_path is None
        if save_top_k > 0:
            warns(
                "The best model of the previous `fit` call will be used",
                trainer_fn,
                ckpt_path=ckpt_path,
            )
            assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
    else:
        if save_top_k == 0:
            raises(FileNotFoundError, None, trainer_fn, ckpt_path="random.ckpt")
        else:
            ckpt_path = str(
                list(
                    (
                        Path(tmpdir)
                        / f"lightning_logs/version_{trainer.logger.version}/checkpoints"
                    ).iterdir()
                )[0].absolute()
            )
            trainer_fn(ckpt_path=ckpt_path)
            assert trainer.ckpt_path == ckpt_path
            trainer_fn(model, ckpt_path=ckpt_path)
            assert trainer.ckpt_path == ckpt_path


def test_tested_checkpoint_path_best(tmpdir, enable_checkpointing, fn):
    model = CheckpointPathModel()
    trainer = Trainer(
        max_epochs=2,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        enable_progress_bar=False,
        default_root_dir=tmpdir,
        enable_checkpointing=enable_checkpointing,
    )
    trainer.fit(model)
    trainer_fn = getattr(trainer, fn)
    assert trainer.ckpt_path is None

    if enable_checkpointing:
        trainer_fn(ckpt_path="best")
        assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
        trainer_fn(model, ckpt_path="best")
        assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
    else:
        raises(ValueError, "`ModelCheckpoint` is not configured.", trainer_fn, ckpt_path="best")
        raises(
            ValueError, "`ModelCheckpoint` is not configured.", trainer_fn, model, ckpt_path="best"
        )


class CustomCallbackOnLoadCheckpoint(Callback):
    def state_dict(self) -> dict:
        return {"a": None}


def test_on_load_checkpoint_missing_callbacks(tmpdir):
    model = BoringModel()
    chk = ModelCheckpoint(dirpath=tmpdir, save_last=True)
    trainer = Trainer(
        default_root_dir=tmpdir, max_epochs=3, callbacks=[chk, CustomCallbackOnLoadCheckpoint()]
    )
    trainer.fit(model)

    trainer = Trainer(default_root_dir=tmpdir, max_epochs=5)
    warns("CustomCallbackOnLoadCheckpoint", trainer.fit, model, ckpt_path=chk.last_model_path)


def test_trainer_save_checkpoint_no_model_attached():
    trainer = Trainer()
    assert trainer.model is None
    raises(
        AttributeError,
        "Saving a checkpoint is only possible if a model is attached",
        trainer.save_checkpoint,
        "checkpoint.ckpt",
    )


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
        expected = 2  # edit: `1 if trainer._accelerator_connector.is_distributed else 2`
        assert len(predictions) == 2
        assert len(predictions[0]) == expected
        assert len(batch_indices) == 2
        assert len(batch_indices[0]) == expected
        self.write_on_epoch_end_called = True


def predict(tmpdir, model=None, datamodule=True, enable_progress_bar=True, use_callbacks=True):
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
        enable_progress_bar=enable_progress_bar,
        callbacks=[cb, cb_1] if use_callbacks else [],
    )
    results = (
        trainer.predict(model, datamodule=dm)
        if datamodule
        else trainer.predict(model, dataloaders=dataloaders)
    )
    if use_callbacks:
        assert cb.write_on_batch_end_called
        assert not cb.write_on_epoch_end_called
        assert not cb_1.write_on_batch_end_called
        assert cb_1.write_on_epoch_end_called
    assert len(results) == 2
    assert len(results[0]) == 2
    assert results[0][0].shape == torch.Size([1, 2])


def test_trainer_predict_no_return(tmpdir):
    class CustomBoringModel(BoringModel):
        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            if (batch_idx + 1) % 2 == 0:
                return None
            return super().predict_step(batch, batch_idx, dataloader_idx)

    warns("predict returned None", predict, tmpdir, model=CustomBoringModel(), use_callbacks=False)


def test_trainer_predict_grad(tmpdir):
    class CustomBoringModel(BoringModel):
        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            assert batch.expand_as(batch).grad_fn is None
            return super().predict_step(batch, batch_idx, dataloader_idx)

    predict(tmpdir, model=CustomBoringModel(), use_callbacks=False)
    x = torch.zeros(1, requires_grad=True)
    assert x.expand_as(x).grad_fn is not None


def test_index_batch_sampler_wrapper_with_iterable_dataset(dataset_cls, tmpdir):
    ds = dataset_cls(32, 8)
    loader = DataLoader(ds)
    is_iterable_dataset = isinstance(ds, IterableDataset)

    class CustomPredictionWriter(BasePredictionWriter):
        def __init__(self, output_dir: str, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.output_dir = output_dir

        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, *_):
            assert not batch_indices if is_iterable_dataset else batch_indices

    cb = CustomPredictionWriter(tmpdir)
    trainer = Trainer(default_root_dir=tmpdir, callbacks=cb)
    predictions = trainer.predict(BoringModel(), dataloaders=loader)
    assert len(predictions) == 8


def test_predict_return_predictions_cpu(return_predictions, precision, tmpdir):
    seed_everything(42)
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True, precision=precision)
    preds = trainer.predict(
        model, dataloaders=model.train_dataloader(), return_predictions=return_predictions
    )
    if return_predictions or return_predictions is None:
        assert len(preds) == 1
        assert preds[0].shape == torch.Size([1, 2])
        assert preds[0].dtype == (torch.float64 if precision == "64-true" else torch.float32)


def tmp():
    return tempfile.mkdtemp()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for fn in ("fit", "validate"):
        for save_last in (True, False):
            for ckpt_path in (None, "last"):
                test_checkpoint_path_input_last(tmp(), ckpt_path, save_last, fn)
    test_checkpoint_find_last(tmp())
    for fn in ("validate", "test", "predict"):
        for save_top_k in (-1, 0, 1, 2):
            for ckpt_path in (None, "best", "specific"):
                test_checkpoint_path_input(tmp(), ckpt_path, save_top_k, fn)
        for enable_checkpointing in (False, True):
            test_tested_checkpoint_path_best(tmp(), enable_checkpointing, fn)
    test_on_load_checkpoint_missing_callbacks(tmp())
    test_trainer_save_checkpoint_no_model_attached()
    test_trainer_predict_no_return(tmp())
    test_trainer_predict_grad(tmp())
    for datamodule in (False, True):
        for enable_progress_bar in (False, True):
            predict(
                tmp(), datamodule=datamodule, enable_progress_bar=enable_progress_bar
            )  # test_trainer_predict_cpu
    for dataset_cls in (RandomDataset, RandomIterableDatasetWithLen, RandomIterableDataset):
        test_index_batch_sampler_wrapper_with_iterable_dataset(dataset_cls, tmp())
    for precision in ("32-true", "64-true"):
        for return_predictions in (None, False, True):
            test_predict_return_predictions_cpu(return_predictions, precision, tmp())
    print("t_trainer_2: all passed")
