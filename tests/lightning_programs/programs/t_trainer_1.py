# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (part 1 of 3: fitting) test_trainer_error_when_input_not_lightning_module, test_no_val_module,
#   test_strict_model_load, test_gradient_accumulation_scheduling_last_batch,
#   test_model_checkpoint_only_weights, test_model_freeze_unfreeze,
#   test_fit_ckpt_path_epoch_restored, test_trainer_max_steps_and_epochs,
#   test_trainer_max_steps_and_epochs_validation, test_trainer_max_steps_and_epochs_fit_loop_done,
#   test_trainer_min_steps_and_epochs, test_trainer_min_steps_and_min_epochs_not_reached,
#   test_trainer_max_steps_accumulate_batches, test_disabled_training, test_disabled_validation,
#   test_repeated_fit_calls_with_max_epochs_and_steps, test_trainer_access_in_configure_optimizers,
#   test_trainer_pickle, test_trainer_setup_call (test_trainer_subclassing is
#   t_trainer_subclassing.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted, parametrized
#   tests as loops; tmpdir -> a tempfile dir; pytest.raises/warns -> try/except and
#   warnings.catch_warnings; `tutils.get_default_logger`/`get_data_path` -> `TensorBoardLogger`
#   and its `log_dir`; URL checkpoints (`tmpdir_server`) left out (local paths only);
#   `pl_load` -> `torch.load(weights_only=False)`; caplog -> a logging handler on the logger of the Trainer's package;
#   the private parts left out: `trainer._checkpoint_connector.restore` (only-weights),
#   `trainer.fit_loop.done` (fit_loop_done keeps the max_epochs/max_steps/no-Timer checks).
# Left out of all three parts (Lightning internals, GPUs, faked devices, multi-node):
#   test_loading_meta_tags, test_loading_yaml (`core.saving` helpers), test_model_checkpoint_options
#   (sets the fit loop's progress counters by hand), test_checkpoint_path_input_last_fault_tolerant,
#   test_best_ckpt_evaluate_raises_warning_with_multiple_ckpt_callbacks,
#   test_exception_when_testing_or_validating_with_fast_dev_run (call the private
#   `_checkpoint_connector._parse_ckpt_path`), test_num_sanity_val_steps*,
#   (patch the val loop's private `_evaluation_step`; part 2 counts validation_step calls instead),
#   test_trainer_omegaconf, test_trainer_predict_standalone, test_trainer_predict_1_gpu,
#   test_setup_hook_device_and_layers, test_multiple_trainer_constant_memory_allocated (GPU),
#   test_trainer_predict_ddp_spawn, test_spawn_predict_return_predictions,
#   test_fit_test_synchronization (ddp_spawn processes), test_trainer_config_strategy,
#   test_trainer_config_device_ids (faked CUDA counts, multi-node),
#   test_dataloaders_are_not_loaded_if_disabled_through_limit_batches (private data connector),
#   test_module_current_fx_attributes_reset (`_current_fx_name`), test_init_module_context and
#   test_trainer_calls_strategy_on_exception (patch strategy internals).
import logging
import math
import os
import pickle
import tempfile
import warnings
from copy import deepcopy
from pathlib import Path

import torch
import torch.nn as nn
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader


def raises(exc, match, fn, *args, **kwargs):
    import re

    try:
        fn(*args, **kwargs)
    except exc as err:
        assert re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


def test_trainer_error_when_input_not_lightning_module():
    trainer = Trainer()
    for method in ("fit", "validate", "test", "predict"):
        raises(
            TypeError,
            "must be a `LightningModule`.*got `Linear",
            getattr(trainer, method),
            nn.Linear(2, 2),
        )


def test_no_val_module(tmpdir):
    class CustomModel(BoringModel):
        def __init__(self, lr=1e-2):
            super().__init__()
            self.save_hyperparameters()

    lr = 1e-3
    model = CustomModel(lr=lr)
    logger = TensorBoardLogger(tmpdir)
    trainer = Trainer(default_root_dir=tmpdir, max_steps=1, limit_val_batches=1, logger=logger)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"

    new_weights_path = os.path.join(tmpdir, "save_test.ckpt")
    trainer.save_checkpoint(new_weights_path)
    ckpt = torch.load(new_weights_path, weights_only=False)
    assert LightningModule.CHECKPOINT_HYPER_PARAMS_KEY in ckpt, (
        "hyper_parameters missing from checkpoints"
    )

    hparams_path = os.path.join(logger.log_dir, "hparams.yaml")
    model_2 = CustomModel.load_from_checkpoint(
        checkpoint_path=new_weights_path, hparams_file=hparams_path
    )
    assert model_2.hparams.lr == lr


def test_strict_model_load(tmpdir):
    model = BoringModel()
    model.c_d3 = torch.nn.Linear(10, 12)  # extra layer
    logger = TensorBoardLogger(tmpdir)
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=1, logger=logger)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"

    new_weights_path = os.path.join(tmpdir, "save_test.ckpt")
    trainer.save_checkpoint(new_weights_path)
    hparams_path = os.path.join(logger.log_dir, "hparams.yaml")
    try:
        BoringModel.load_from_checkpoint(
            checkpoint_path=new_weights_path, hparams_file=hparams_path
        )
    except Exception:
        failed = True
    else:
        failed = False
    assert failed, "Model should not been loaded since the extra layer added."
    BoringModel.load_from_checkpoint(
        checkpoint_path=new_weights_path, hparams_file=hparams_path, strict=False
    )


def test_gradient_accumulation_scheduling_last_batch(
    tmpdir, accumulate_grad_batches, limit_train_batches
):
    class TestModel(BoringModel):
        def state_dict(self, *args, **kwargs):
            return deepcopy(super().state_dict(*args, **kwargs))

        def check(self, d1, d2, equal=True):
            keys = d1.keys() | d2.keys()
            values = [torch.equal(d1[k], d2[k]) for k in keys]
            return all(values) if equal else not any(values)

        def backward(self, *args, **kwargs) -> None:
            pre_bwd_state_dict = self.state_dict()
            assert self.check(self.start_state_dict, pre_bwd_state_dict)
            out = super().backward(*args, **kwargs)
            assert self.check(pre_bwd_state_dict, self.state_dict())
            return out

        def optimizer_step(self, *args, **kwargs):
            pre_opt_step_state_dict = self.state_dict()
            assert self.check(self.start_state_dict, pre_opt_step_state_dict)
            out = super().optimizer_step(*args, **kwargs)
            assert self.check(pre_opt_step_state_dict, self.state_dict(), equal=False)
            self.opt_step_called = True
            return out

        def on_train_batch_start(self, *_):
            self.start_state_dict = self.state_dict()
            self.opt_step_called = False

        def on_train_batch_end(self, outputs, batch, batch_idx):
            end_state_dict = self.state_dict()
            is_last_batch = (batch_idx + 1) == self.trainer.num_training_batches
            if is_last_batch or self.opt_step_called:
                assert self.check(self.start_state_dict, end_state_dict, equal=False)
            else:
                assert self.check(self.start_state_dict, end_state_dict)

    model = TestModel()
    trainer = Trainer(
        accumulate_grad_batches=accumulate_grad_batches,
        max_epochs=2,
        limit_train_batches=limit_train_batches,
        limit_val_batches=0,
        default_root_dir=tmpdir,
        enable_progress_bar=False,
    )
    trainer.fit(model)


def test_model_checkpoint_only_weights(tmpdir):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        callbacks=[ModelCheckpoint(dirpath=tmpdir, save_weights_only=True)],
    )
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"

    checkpoint_path = trainer.checkpoint_callback.best_model_path
    checkpoint = torch.load(checkpoint_path, weights_only=False)
    assert "optimizer_states" not in checkpoint, "checkpoint should contain only model weights"
    assert "lr_schedulers" not in checkpoint, "checkpoint should contain only model weights"
    assert BoringModel.load_from_checkpoint(checkpoint_path=checkpoint_path)

    new_weights_path = os.path.join(tmpdir, "save_test.ckpt")
    trainer.save_checkpoint(new_weights_path, weights_only=True)
    checkpoint = torch.load(new_weights_path, weights_only=False)
    assert "optimizer_states" not in checkpoint, "checkpoint should contain only model weights"
    assert "lr_schedulers" not in checkpoint, "checkpoint should contain only model weights"


def test_model_freeze_unfreeze():
    model = BoringModel()
    model.freeze()
    assert not model.training
    for param in model.parameters():
        assert not param.requires_grad
    model.unfreeze()
    assert model.training
    for param in model.parameters():
        assert param.requires_grad


def test_fit_ckpt_path_epoch_restored(tmpdir):
    class TestModel(BoringModel):
        num_epochs_end_seen = 0
        num_batches_seen = 0
        num_on_load_checkpoint_called = 0

        def on_train_epoch_end(self):
            self.num_epochs_end_seen += 1

        def on_train_batch_start(self, *_):
            self.num_batches_seen += 1

        def on_load_checkpoint(self, _):
            self.num_on_load_checkpoint_called += 1

    model = TestModel()
    max_epochs = 2
    trainer = Trainer(
        max_epochs=max_epochs,
        limit_train_batches=0.65,
        limit_val_batches=1,
        callbacks=ModelCheckpoint(dirpath=tmpdir, save_top_k=-1),
        default_root_dir=tmpdir,
        val_check_interval=1.0,
        enable_progress_bar=False,
        logger=False,
        enable_model_summary=False,
    )
    trainer.fit(model)

    assert model.num_epochs_end_seen == max_epochs
    assert (
        model.num_batches_seen == trainer.num_training_batches * max_epochs == trainer.global_step
    )
    assert model.num_on_load_checkpoint_called == 0

    checkpoints = set(Path(trainer.checkpoint_callback.dirpath).glob("*.ckpt"))
    assert len(checkpoints) == max_epochs
    for ckpt in checkpoints:
        model = TestModel()
        state = torch.load(ckpt, weights_only=False)
        trainer = Trainer(default_root_dir=tmpdir, max_epochs=2, enable_progress_bar=False)
        trainer.fit(model, ckpt_path=ckpt)
        assert state["global_step"] + model.num_batches_seen == trainer.global_step
        assert model.num_on_load_checkpoint_called == 1


def test_trainer_max_steps_and_epochs(tmpdir):
    model = BoringModel()
    num_train_samples = math.floor(len(model.train_dataloader()) * 0.5)
    trainer_kwargs = {
        "limit_train_batches": 0.5,
        "default_root_dir": tmpdir,
        "max_epochs": 3,
        "max_steps": num_train_samples + 10,
        "logger": False,
        "enable_model_summary": False,
        "enable_progress_bar": False,
    }
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.global_step == trainer.max_steps, "Model did not stop at max_steps"

    trainer_kwargs["max_epochs"] = 2
    trainer_kwargs["max_steps"] = 3 * 2 * num_train_samples
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.global_step == num_train_samples * trainer.max_epochs
    assert trainer.current_epoch == trainer.max_epochs, "Model did not stop at max_epochs"

    trainer_kwargs["max_epochs"] = -1
    trainer_kwargs["max_steps"] = 3
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.global_step == 3


def test_trainer_max_steps_and_epochs_validation(max_epochs, max_steps, incorrect_variable):
    raises(
        MisconfigurationException,
        f"`{incorrect_variable}` must be a non-negative integer or -1",
        Trainer,
        max_epochs=max_epochs,
        max_steps=max_steps,
    )


def test_trainer_max_steps_and_epochs_fit_loop_done(max_epochs, max_steps, correct_trainer_epochs):
    trainer = Trainer(max_epochs=max_epochs, max_steps=max_steps)
    assert trainer.max_epochs == correct_trainer_epochs
    assert trainer.max_steps == max_steps
    timer_callbacks = [c for c in trainer.callbacks if isinstance(c, Timer)]
    assert len(timer_callbacks) == 0


def test_trainer_min_steps_and_epochs(tmpdir):
    num_train_samples = math.floor(len(BoringModel().train_dataloader()) * 0.5)

    class CustomModel(BoringModel):
        def training_step(self, *args, **kwargs):
            if self.global_step > 0:
                self.trainer.should_step = True
            return super().training_step(*args, **kwargs)

    model = CustomModel()
    trainer_kwargs = {
        "limit_train_batches": 0.5,
        "default_root_dir": tmpdir,
        "val_check_interval": 2,
        "min_epochs": 1,
        "max_epochs": 7,
        "min_steps": num_train_samples // 2,
        "logger": False,
        "enable_model_summary": False,
        "enable_progress_bar": False,
    }
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch > 0
    assert trainer.global_step >= num_train_samples, "Model did not train for at least min_epochs"

    trainer_kwargs["min_steps"] = math.floor(num_train_samples * 1.5)
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch > 0
    assert trainer.global_step >= math.floor(num_train_samples * 1.5), (
        "Model did not train for at least min_steps"
    )


def test_trainer_min_steps_and_min_epochs_not_reached(tmpdir):
    class TestModel(BoringModel):
        training_step_invoked = 0

        def training_step(self, batch, batch_idx):
            output = super().training_step(batch, batch_idx)
            output["loss"] = output["loss"] * 0.0  # force minimal loss to trigger early stopping
            self.log("loss", output["loss"])
            self.training_step_invoked += 1
            if self.current_epoch < 2:
                assert not self.trainer.should_stop
            else:
                assert self.trainer.should_stop
            return output

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    model = TestModel()
    early_stop = EarlyStopping(monitor="loss", patience=0, check_on_train_epoch_end=True)
    min_epochs = 5
    trainer = Trainer(
        default_root_dir=tmpdir,
        enable_progress_bar=False,
        min_epochs=min_epochs,
        limit_val_batches=0,
        limit_train_batches=2,
        callbacks=[early_stop],
    )
    handler = Records()
    # edit: caplog -> a handler on the logger of the Trainer's package ("lightning.pytorch")
    root = logging.getLogger(Trainer.__module__.split(".trainer")[0])
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        trainer.fit(model)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    message = (
        f"min_epochs={min_epochs}` or `min_steps=None` has not been met. Training will continue"
    )
    num_messages = sum(1 for record in handler.records if message in record.getMessage())
    assert num_messages == 1, [r.getMessage() for r in handler.records]
    assert model.training_step_invoked == min_epochs * 2


def test_trainer_max_steps_accumulate_batches(tmpdir):
    model = BoringModel()
    num_train_samples = math.floor(len(model.train_dataloader()) * 0.5)
    trainer = Trainer(
        limit_train_batches=0.5,
        default_root_dir=tmpdir,
        max_steps=num_train_samples + 10,
        accumulate_grad_batches=10,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.global_step == trainer.max_steps, "Model did not stop at max_steps"


def test_disabled_training(tmpdir):
    class CurrentModel(BoringModel):
        training_step_invoked = False

        def training_step(self, *args, **kwargs):
            self.training_step_invoked = True
            return super().training_step(*args, **kwargs)

    model = CurrentModel()
    trainer_options = {
        "default_root_dir": tmpdir,
        "enable_progress_bar": False,
        "max_epochs": 2,
        "limit_train_batches": 0.0,
        "limit_val_batches": 0.2,
        "fast_dev_run": False,
    }
    before_state_dict = deepcopy(model.state_dict())
    trainer = Trainer(**trainer_options)
    trainer.fit(model)
    after_state_dict = model.state_dict()
    for key in before_state_dict:
        assert torch.all(torch.eq(before_state_dict[key], after_state_dict[key]))
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch == 0
    assert not model.training_step_invoked, (
        "`training_step` should not run when `limit_train_batches=0`"
    )

    model = CurrentModel()
    trainer_options.update(fast_dev_run=True)
    before_state_dict = deepcopy(model.state_dict())
    trainer = Trainer(**trainer_options)
    trainer.fit(model)
    after_state_dict = model.state_dict()
    for key in before_state_dict:
        assert not torch.all(torch.eq(before_state_dict[key], after_state_dict[key]))
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch == 1
    assert model.training_step_invoked, "did not run `training_step` with `fast_dev_run=True`"


def test_disabled_validation(tmpdir):
    class CurrentModel(BoringModel):
        validation_step_invoked = False

        def validation_step(self, *args, **kwargs):
            self.validation_step_invoked = True
            return super().validation_step(*args, **kwargs)

    model = CurrentModel()
    trainer_options = {
        "default_root_dir": tmpdir,
        "enable_progress_bar": False,
        "max_epochs": 2,
        "limit_train_batches": 0.4,
        "limit_val_batches": 0.0,
        "fast_dev_run": False,
    }
    trainer = Trainer(**trainer_options)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch == 2
    assert not model.validation_step_invoked, (
        "`validation_step` should not run when `limit_val_batches=0`"
    )

    model = CurrentModel()
    trainer_options.update(fast_dev_run=True)
    trainer = Trainer(**trainer_options)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert trainer.current_epoch == 1
    assert model.validation_step_invoked, "did not run `validation_step` with `fast_dev_run=True`"


def test_repeated_fit_calls_with_max_epochs_and_steps(tmpdir, max_steps, max_epochs, global_step):
    train_data = DataLoader(RandomDataset(32, 200), batch_size=10)
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmpdir, max_steps=max_steps, max_epochs=max_epochs)
    trainer.fit(model, train_data)
    assert trainer.global_step == global_step
    trainer.fit(model, train_data)
    assert trainer.global_step == global_step


def test_trainer_access_in_configure_optimizers(tmpdir):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            assert self.trainer is not None, (
                "Expect to have access to the trainer within `configure_optimizers`"
            )

    train_data = torch.utils.data.DataLoader(RandomDataset(32, 64))
    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    trainer.fit(model, train_data)


def test_trainer_pickle(tmpdir):
    trainer = Trainer(max_epochs=1, default_root_dir=tmpdir)
    pickle.dumps(trainer)


def test_trainer_setup_call(tmpdir, stage):
    class CurrentModel(BoringModel):
        def setup(self, stage):
            self.stage = stage

    class CurrentCallback(Callback):
        def setup(self, trainer, model, stage):
            assert model is not None
            self.stage = stage

    model = CurrentModel()
    callback = CurrentCallback()
    trainer = Trainer(
        default_root_dir=tmpdir, max_epochs=1, enable_checkpointing=False, callbacks=[callback]
    )
    if stage == "fit":
        trainer.fit(model)
    elif stage == "validate":
        trainer.validate(model)
    else:
        trainer.test(model)
    assert callback.stage == stage
    assert model.stage == stage


def tmp():
    return tempfile.mkdtemp()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    test_trainer_error_when_input_not_lightning_module()
    test_no_val_module(tmp())
    test_strict_model_load(tmp())
    for acc, limit in [(3, 1.0), (3, 0.8), (4, 1.0), (4, 0.7)]:
        test_gradient_accumulation_scheduling_last_batch(tmp(), acc, limit)
    test_model_checkpoint_only_weights(tmp())
    test_model_freeze_unfreeze()
    test_fit_ckpt_path_epoch_restored(tmp())
    test_trainer_max_steps_and_epochs(tmp())
    for args in [(-100, -1, "max_epochs"), (1, -2, "max_steps")]:
        test_trainer_max_steps_and_epochs_validation(*args)
    for args in [
        (None, -1, None),
        (-1, -1, -1),
        (5, -1, 5),
        (-1, 10, -1),
        (None, 0, None),
        (0, -1, 0),
        (-1, 0, -1),
    ]:
        test_trainer_max_steps_and_epochs_fit_loop_done(*args)
    test_trainer_min_steps_and_epochs(tmp())
    test_trainer_min_steps_and_min_epochs_not_reached(tmp())
    test_trainer_max_steps_accumulate_batches(tmp())
    test_disabled_training(tmp())
    test_disabled_validation(tmp())
    for args in [(10, 5, 10), (20, None, 20)]:
        test_repeated_fit_calls_with_max_epochs_and_steps(tmp(), *args)
    test_trainer_access_in_configure_optimizers(tmp())
    test_trainer_pickle(tmp())
    for stage in ("fit", "validate", "test"):
        test_trainer_setup_call(tmp(), stage)
    print("t_trainer_1: all passed")
