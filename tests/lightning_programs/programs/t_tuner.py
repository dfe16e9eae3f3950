# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/tuner/test_lr_finder.py
#   (test_model_reset_correctly, test_tuner_lr_find, test_trainer_arg_str,
#    test_call_to_trainer_method, test_suggestion_with_non_finite_values,
#    test_lr_finder_fails_fast_on_bad_config, test_lr_candidates_between_min_and_max,
#    test_lr_finder_ends_before_num_training, test_lr_attribute_when_suggestion_invalid)
# and .../tuner/test_scale_batch_size.py (test_scale_batch_size_method_with_model_or_datamodule,
#    test_call_to_trainer_method, test_scale_batch_size_no_trials,
#    test_scale_batch_size_fails_with_unavailable_mode, test_tuner_with_evaluation_methods,
#    test_batch_size_finder_callback, test_error_on_dataloader_passed_to_fit)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; pytest.raises -> try/except; parametrizations unrolled; the assertions on
#   Lightning's loop internals (`trainer.fit_loop`, `*_loop.batch_progress`,
#   `trainer.train_dataloader`) dropped; num_training 100 -> 30 where the test does not count it;
#   the batch sizes expected are what Lightning 2.6.6 finds (the tests on master predate its
#   `margin=0.05` of binsearch and its last trial that is not doubled): binsearch from 4 with 2
#   trials 16 -> 7, power from 2 with 4 trials 2 ** 5 -> 2 ** 4.
import os
import tempfile
from copy import deepcopy

import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks.batch_size_finder import BatchSizeFinder
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel, RandomDataset
from lightning.pytorch.tuner.tuning import Tuner
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader


def raises(kind, text, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as err:
        assert text in str(err), str(err)
        return
    raise AssertionError(f"{kind.__name__} not raised")


def test_model_reset_correctly(tmpdir):
    model = BoringModel()
    model.lr = 0.1
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)
    tuner = Tuner(trainer)
    before_state_dict = deepcopy(model.state_dict())
    tuner.lr_find(model, num_training=5)
    after_state_dict = model.state_dict()
    for key in before_state_dict:
        assert torch.all(torch.eq(before_state_dict[key], after_state_dict[key]))
    assert not any(f for f in os.listdir(tmpdir) if f.startswith(".lr_find"))


def test_tuner_lr_find(tmpdir, use_hparams):
    seed_everything(1)

    class CustomBoringModel(BoringModel):
        def __init__(self, lr):
            super().__init__()
            self.save_hyperparameters()
            self.lr = lr

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr if use_hparams else self.lr)

    before_lr = 1e-2
    model = CustomBoringModel(lr=before_lr)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=2)
    tuner = Tuner(trainer)
    tuner.lr_find(model, update_attr=True, num_training=30)
    after_lr = model.hparams.lr if use_hparams else model.lr
    assert after_lr is not None
    assert before_lr != after_lr


def test_trainer_arg_str(tmpdir, use_hparams):
    seed_everything(1)

    class CustomBoringModel(BoringModel):
        def __init__(self, my_fancy_lr):
            super().__init__()
            self.save_hyperparameters()
            self.my_fancy_lr = my_fancy_lr

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.my_fancy_lr if use_hparams else self.my_fancy_lr)

    before_lr = 1e-2
    model = CustomBoringModel(my_fancy_lr=before_lr)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=2)
    tuner = Tuner(trainer)
    tuner.lr_find(model, update_attr=True, attr_name="my_fancy_lr", num_training=30)
    after_lr = model.hparams.my_fancy_lr if use_hparams else model.my_fancy_lr
    assert after_lr is not None
    assert before_lr != after_lr


def test_lr_call_to_trainer_method(tmpdir, opt):
    seed_everything(1)

    class CustomBoringModel(BoringModel):
        def __init__(self, lr):
            super().__init__()
            self.save_hyperparameters()

        def configure_optimizers(self):
            return (
                torch.optim.Adagrad(self.parameters(), lr=self.hparams.lr)
                if opt == "Adagrad"
                else torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            )

    before_lr = 1e-2
    model = CustomBoringModel(1e-2)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=2)
    tuner = Tuner(trainer)
    lr_finder = tuner.lr_find(model, mode="linear", num_training=30)
    after_lr = lr_finder.suggestion()
    assert after_lr is not None
    model.hparams.lr = after_lr
    tuner.lr_find(model, update_attr=True, num_training=30)
    assert before_lr != after_lr


def test_suggestion_with_non_finite_values(tmpdir):
    seed_everything(1)

    class CustomBoringModel(BoringModel):
        def __init__(self, lr):
            super().__init__()
            self.lr = lr

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    model = CustomBoringModel(lr=1e-2)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=3)
    tuner = Tuner(trainer)
    lr_finder = tuner.lr_find(model)
    before_lr = lr_finder.suggestion()
    lr_finder.results["loss"][-1] = float("nan")
    after_lr = lr_finder.suggestion()
    assert before_lr is not None
    assert after_lr is not None
    assert before_lr == after_lr


def test_lr_finder_fails_fast_on_bad_config(tmpdir):
    trainer = Trainer(default_root_dir=tmpdir, max_steps=2)
    tuner = Tuner(trainer)
    raises(AttributeError, "should have one of these fields", tuner.lr_find, BoringModel(), update_attr=True)


def test_lr_candidates_between_min_and_max(tmpdir):
    seed_everything(1)

    class TestModel(BoringModel):
        def __init__(self, learning_rate=0.1):
            super().__init__()
            self.save_hyperparameters()

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir)
    lr_min = 1e-8
    lr_max = 1.0
    tuner = Tuner(trainer)
    lr_finder = tuner.lr_find(model, max_lr=lr_min, min_lr=lr_max, num_training=3)
    lr_candidates = lr_finder.results["lr"]
    assert all(lr_min <= lr <= lr_max for lr in lr_candidates)


def test_lr_finder_ends_before_num_training(tmpdir):
    num_training = 3

    class TestModel(BoringModel):
        def __init__(self, learning_rate=0.1):
            super().__init__()
            self.save_hyperparameters()

        def on_before_optimizer_step(self, optimizer):
            assert self.global_step < num_training

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir)
    tuner = Tuner(trainer)
    tuner.lr_find(model=model, num_training=num_training)


def test_lr_attribute_when_suggestion_invalid(tmpdir):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.learning_rate = 0.123

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir)
    tuner = Tuner(trainer)
    lr_finder = tuner.lr_find(model=model, update_attr=True, num_training=1)
    assert lr_finder.suggestion() is None
    assert model.learning_rate == 0.123


class BatchSizeDataModule(BoringDataModule):
    def __init__(self, batch_size):
        super().__init__()
        if batch_size is not None:
            self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.random_train, batch_size=getattr(self, "batch_size", 1))


class BatchSizeModel(BoringModel):
    def __init__(self, batch_size):
        super().__init__()
        if batch_size is not None:
            self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=getattr(self, "batch_size", 1))

    def val_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=getattr(self, "batch_size", 1))

    def test_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=getattr(self, "batch_size", 1))

    def predict_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=getattr(self, "batch_size", 1))


def test_scale_batch_size_method_with_model_or_datamodule(tmpdir, model_bs, dm_bs):
    trainer = Trainer(default_root_dir=tmpdir, limit_train_batches=1, limit_val_batches=0, max_epochs=1)
    model = BatchSizeModel(model_bs)
    datamodule = BatchSizeDataModule(dm_bs) if dm_bs != -1 else None
    tuner = Tuner(trainer)
    new_batch_size = tuner.scale_batch_size(model, mode="binsearch", init_val=4, max_trials=2, datamodule=datamodule)
    assert new_batch_size == 7
    if model_bs is not None:
        assert model.batch_size == new_batch_size
    if dm_bs not in (-1, None):
        assert datamodule.batch_size == new_batch_size


def test_bs_call_to_trainer_method(tmpdir, scale_method):
    before_batch_size = 2
    model = BatchSizeModel(batch_size=before_batch_size)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)
    tuner = Tuner(trainer)
    after_batch_size = tuner.scale_batch_size(model, mode=scale_method, max_trials=5)
    model.batch_size = after_batch_size
    trainer.fit(model)
    assert before_batch_size != after_batch_size


def test_scale_batch_size_no_trials(tmpdir):
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1, limit_val_batches=1, limit_train_batches=1)
    tuner = Tuner(trainer)
    model = BatchSizeModel(batch_size=2)
    result = tuner.scale_batch_size(model, max_trials=0, mode="power")
    assert result == 2


def test_scale_batch_size_fails_with_unavailable_mode(tmpdir):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.batch_size = 2

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1, limit_val_batches=1, limit_train_batches=1)
    tuner = Tuner(trainer)
    raises(ValueError, "should be either of", tuner.scale_batch_size, model, mode="ThisModeDoesNotExist")


def test_tuner_with_evaluation_methods(tmpdir, trainer_fn):
    before_batch_size = 2
    max_trials = 4
    expected_scaled_batch_size = before_batch_size**max_trials
    model = BatchSizeModel(batch_size=before_batch_size)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=100)
    tuner = Tuner(trainer)
    tuner.scale_batch_size(model, max_trials=max_trials, batch_arg_name="batch_size", method=trainer_fn)
    after_batch_size = model.batch_size
    assert trainer.global_step == 0
    assert trainer.current_epoch == 0
    assert expected_scaled_batch_size == after_batch_size
    assert not any(f for f in os.listdir(tmpdir) if f.startswith(".scale_batch_size_temp_model"))


def test_batch_size_finder_callback(tmpdir, trainer_fn):
    before_batch_size = 2
    max_trials = 4
    max_epochs = 2
    expected_scaled_batch_size = before_batch_size**max_trials
    model = BatchSizeModel(batch_size=before_batch_size)
    batch_size_finder = BatchSizeFinder(max_trials=max_trials, batch_arg_name="batch_size")
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=max_epochs, callbacks=[batch_size_finder])
    fn = getattr(trainer, trainer_fn)
    fn(model)
    after_batch_size = model.batch_size
    if trainer_fn == "fit":
        expected_steps = 64 // after_batch_size  # edit: the dataset's length, 64
        assert trainer.global_step == expected_steps * max_epochs
        assert trainer.current_epoch == max_epochs
    else:
        assert trainer.global_step == 0
        assert trainer.current_epoch == 0
    assert expected_scaled_batch_size == after_batch_size


def test_error_on_dataloader_passed_to_fit(tmpdir):
    model = BatchSizeModel(batch_size=2)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1, limit_val_batches=0.1, limit_train_batches=0.2)
    tuner = Tuner(trainer)
    raises(
        MisconfigurationException,
        "atch size finder cannot be used with dataloaders passed directly",
        tuner.scale_batch_size,
        model,
        train_dataloaders=model.train_dataloader(),
        mode="power",
    )


def run(test, *args):
    with tempfile.TemporaryDirectory() as d:
        test(d, *args)


if __name__ == "__main__":
    run(test_model_reset_correctly)
    for use_hparams in (False, True):
        run(test_tuner_lr_find, use_hparams)
        run(test_trainer_arg_str, use_hparams)
    for opt in ("Adam", "Adagrad"):
        run(test_lr_call_to_trainer_method, opt)
    run(test_suggestion_with_non_finite_values)
    run(test_lr_finder_fails_fast_on_bad_config)
    run(test_lr_candidates_between_min_and_max)
    run(test_lr_finder_ends_before_num_training)
    run(test_lr_attribute_when_suggestion_invalid)
    for model_bs, dm_bs in [(2, -1), (2, 2), (2, None), (None, 2), (16, 16)]:
        run(test_scale_batch_size_method_with_model_or_datamodule, model_bs, dm_bs)
    for scale_method in ("power", "binsearch"):
        run(test_bs_call_to_trainer_method, scale_method)
    run(test_scale_batch_size_no_trials)
    run(test_scale_batch_size_fails_with_unavailable_mode)
    for trainer_fn in ("validate", "test", "predict"):
        run(test_tuner_with_evaluation_methods, trainer_fn)
    for trainer_fn in ("fit", "validate", "test", "predict"):
        run(test_batch_size_finder_callback, trainer_fn)
    run(test_error_on_dataloader_passed_to_fit)
    print("OK")
