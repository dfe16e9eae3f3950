# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_data_connector.py
#   (test_dataloader_warnings, test_dataloader_reinit_for_subclass, test_loader_detaching,
#    test_pre_made_batches, test_error_raised_with_float_limited_eval_batches,
#    test_non_sequential_sampler_warning_is_raised_for_eval_dataloader,
#    test_error_raised_with_insufficient_float_limit_train_dataloader,
#    test_attach_data_input_validation_with_none_dataloader, TestDataHookSelector)
# Edits: the tests turned into one __main__ program asserting what they asserted (the None-loader
#   error is a TypeError in Lightning 2.6.6, the test's ValueError is older); parametrize ->
#   loops; tmpdir -> a tempfile dir; pytest.raises/warns -> helpers below. Where a test drove the
#   private data connector (`trainer._data_connector.attach_data`, `_reset_eval_dataloader`,
#   `fit_loop.setup_data`, `_datahook_selector.get_instance`) it calls the public entry point
#   that runs the same code (`fit`/`validate`/`predict`) and checks the same error, warning or
#   result from outside. test_dataloader_warnings ran `ddp_spawn` on 2 CPU processes and read
#   stderr: here one process, the warnings caught, and the `num_workers` warning expected only
#   where Lightning's bound (`suggested_max_num_workers`) is above 1 (this many cores).
#   test_dataloader_reinit_for_subclass re-instantiated loaders through the private
#   `_prepare_dataloader` under `ddp_spawn`: here `use_distributed_sampler` on one CPU device
#   (the user's loader and sampler are kept) and `predict` (a subclass with an extra argument
#   keeps its class and the argument).
#   Left out: test_replace_distributed_sampler, test_eval_distributed_sampler_warning,
#   test_eval_shuffle_with_distributed_sampler_replacement (DDP on 2 processes);
#   test_update_dataloader_*, test_dataloaders_with_missing_keyword_arguments (the private
#   `_update_dataloader`); test_dataloader_source_* and test_invalid_hook_passed_in_datahook_selector
#   (private classes).
import re
import tempfile
import warnings

import torch
from torch.utils.data import DataLoader, Sampler

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel, RandomDataset
from lightning.pytorch.utilities import suggested_max_num_workers
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.warnings import PossibleUserWarning


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), f"{match!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{exc_type.__name__} matching {match!r} not raised")


def caught(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return record


def matching(record, category, match):
    return [w for w in record if issubclass(w.category, category) and re.search(match, str(w.message))]


class TestSpawnBoringModel(BoringModel):
    def __init__(self, num_workers, context=None):
        super().__init__()
        self.num_workers = num_workers
        self.context = context

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), num_workers=self.num_workers, multiprocessing_context=self.context)


def test_dataloader_warnings(tmpdir, num_workers):
    trainer = Trainer(default_root_dir=tmpdir, accelerator="cpu", devices=1, fast_dev_run=4)
    context = "spawn" if num_workers else None
    record = caught(trainer.fit, TestSpawnBoringModel(num_workers, context))
    if num_workers:
        assert matching(record, UserWarning, "Consider setting `persistent_workers=True` in 'train_dataloader'")
    else:
        few = matching(record, PossibleUserWarning, "'train_dataloader' does not have many workers")
        assert bool(few) == (suggested_max_num_workers(1) > 1), [str(w.message) for w in record]


def test_dataloader_reinit_for_subclass(tmpdir):
    class CustomDataLoader(DataLoader):
        def __init__(
            self,
            dataset,
            batch_size=1,
            shuffle=False,
            sampler=None,
            batch_sampler=None,
            num_workers=0,
            collate_fn=None,
            pin_memory=False,
            drop_last=False,
            timeout=0,
            worker_init_fn=None,
            dummy_kwarg=None,
        ):
            super().__init__(
                dataset,
                batch_size,
                shuffle,
                sampler,
                batch_sampler,
                num_workers,
                collate_fn,
                pin_memory,
                drop_last,
                timeout,
                worker_init_fn,
            )
            self.dummy_kwarg = dummy_kwarg
            self.something_unrelated = 1

    class CustomSampler(Sampler):
        def __init__(self, data_source) -> None:
            super().__init__()
            self.data_source = data_source

        def __len__(self):
            return len(self.data_source)

        def __iter__(self):
            return iter(range(len(self)))

    dataset = [torch.randn(32) for _ in range(10)]
    for use_distributed_sampler in (True, False):
        seen = {}

        class Model(BoringModel):
            def on_train_start(self):
                seen["train"] = self.trainer.train_dataloader

        loader = CustomDataLoader(dataset, sampler=CustomSampler(dataset), dummy_kwarg="x")
        trainer = Trainer(
            default_root_dir=tmpdir,
            accelerator="cpu",
            devices=1,
            fast_dev_run=2,
            use_distributed_sampler=use_distributed_sampler,
        )
        trainer.fit(Model(), loader)
        # one CPU device: nothing distributed, the user's loader and sampler stay
        assert isinstance(seen["train"], CustomDataLoader)
        assert isinstance(seen["train"].sampler, CustomSampler)
        assert seen["train"].dummy_kwarg == "x"

    trainer = Trainer(default_root_dir=tmpdir, accelerator="cpu", devices=1)
    predictions = trainer.predict(BoringModel(), CustomDataLoader(dataset, dummy_kwarg="y"))
    assert len(predictions) == 10
    assert isinstance(trainer.predict_dataloaders, CustomDataLoader)
    assert trainer.predict_dataloaders.dummy_kwarg == "y"


class LoaderTestModel(BoringModel):
    def training_step(self, batch, batch_idx):
        assert len(self.trainer.train_dataloader) == 10
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        assert len(self.trainer.val_dataloaders) == 10
        return super().validation_step(batch, batch_idx)

    def test_step(self, batch, batch_idx):
        assert len(self.trainer.test_dataloaders) == 10
        return super().test_step(batch, batch_idx)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        assert len(self.trainer.predict_dataloaders) == 10
        return super().predict_step(batch, batch_idx, dataloader_idx=dataloader_idx)


def test_loader_detaching():
    """Checks that the loader has been reset after the entrypoint."""
    loader = DataLoader(RandomDataset(32, 10), batch_size=1)
    model = LoaderTestModel()

    def all_64():
        assert len(model.train_dataloader()) == 64
        assert len(model.val_dataloader()) == 64
        assert len(model.predict_dataloader()) == 64
        assert len(model.test_dataloader()) == 64

    all_64()
    trainer = Trainer(fast_dev_run=1)
    trainer.fit(model, loader, loader)
    all_64()
    trainer.validate(model, loader)
    all_64()
    trainer.predict(model, loader)
    all_64()
    trainer.test(model, loader)
    all_64()


def test_pre_made_batches():
    """Check that loader works with pre-made batches."""
    loader = DataLoader(RandomDataset(32, 10), batch_size=None)
    trainer = Trainer(fast_dev_run=1)
    trainer.predict(LoaderTestModel(), loader)


def test_error_raised_with_float_limited_eval_batches():
    """An error is raised if there are not enough batches when passed with float value of
    limit_eval_batches."""
    model = BoringModel()
    dl_size = len(model.val_dataloader())
    limit_val_batches = 1 / (dl_size + 2)
    trainer = Trainer(limit_val_batches=limit_val_batches)
    raises(
        MisconfigurationException,
        rf"{limit_val_batches} \* {dl_size} < 1. Please increase the `limit_val_batches`",
        trainer.validate,
        model,
    )


def test_non_sequential_sampler_warning_is_raised_for_eval_dataloader():
    cases = [
        (DataLoader(dataset=RandomDataset(32, 64), shuffle=True), True),
        (DataLoader(dataset=RandomDataset(32, 64), sampler=list(range(64))), False),
        (CombinedLoader(DataLoader(dataset=RandomDataset(32, 64), shuffle=True)), True),
        (
            CombinedLoader(
                [DataLoader(dataset=RandomDataset(32, 64)), DataLoader(dataset=RandomDataset(32, 64), shuffle=True)]
            ),
            True,
        ),
        (
            CombinedLoader(
                {
                    "dl1": DataLoader(dataset=RandomDataset(32, 64)),
                    "dl2": DataLoader(dataset=RandomDataset(32, 64), shuffle=True),
                }
            ),
            True,
        ),
    ]

    class Model(BoringModel):
        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            pass

    for val_dl, warns in cases:
        trainer = Trainer(limit_val_batches=1, logger=False, enable_progress_bar=False)
        record = caught(trainer.validate, Model(), val_dl)
        found = matching(record, PossibleUserWarning, "recommended .* turn shuffling off for val/test")
        assert bool(found) == warns, (val_dl, [str(w.message) for w in record])


def test_error_raised_with_insufficient_float_limit_train_dataloader():
    batch_size = 16
    dl = DataLoader(RandomDataset(32, batch_size * 9), batch_size=batch_size)
    trainer = Trainer(limit_train_batches=0.1, logger=False)
    raises(
        MisconfigurationException,
        "Please increase the `limit_train_batches` argument. Try at least",
        trainer.fit,
        BoringModel(),
        dl,
    )


def test_attach_data_input_validation_with_none_dataloader(tmpdir, trainer_fn_name, dataloader_name):
    """Passing `Trainer.method(x_dataloader=None)` with no module-method implementations available raises an
    error."""
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    model = BoringModel()
    datamodule = BoringDataModule()
    trainer_fn = getattr(trainer, trainer_fn_name)

    # Pretend that these methods are not implemented
    model.train_dataloader = None
    model.val_dataloader = None
    model.test_dataloader = None
    model.predict_dataloader = None

    datamodule.train_dataloader = None
    datamodule.val_dataloader = None
    datamodule.test_dataloader = None
    datamodule.predict_dataloader = None

    match = f"An invalid .*dataloader was passed to `Trainer.{trainer_fn_name}"
    raises(TypeError, match, trainer_fn, model, **{dataloader_name: None}, datamodule=datamodule)
    raises(TypeError, match, trainer_fn, model, **{dataloader_name: None}, datamodule=None)


def test_data_hook_selector(tmpdir, hook_name):
    """TestDataHookSelector: which of the Module's and the DataModule's batch-transfer hooks runs, and the
    warnings, seen from a `fit()`."""

    def run(model_overrides, dm_overrides):
        calls = []

        def overridden(owner):
            def hook(batch, *args, **kwargs):
                calls.append(owner)
                return batch

            return hook

        model, dm = BoringModel(), BoringDataModule()
        if model_overrides:
            setattr(model, hook_name, overridden("model"))
        if dm_overrides:
            setattr(dm, hook_name, overridden("dm"))
        trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=1, logger=False, enable_progress_bar=False)
        record = caught(trainer.fit, model, datamodule=dm)
        return calls, [str(w.message) for w in record if f"have overridden `{hook_name}` in" in str(w.message)]

    calls, found = run(False, False)
    assert calls == [] and found == []
    calls, found = run(False, True)
    assert set(calls) == {"dm"} and found == []
    calls, found = run(True, True)
    assert set(calls) == {"dm"}
    assert any(f"have overridden `{hook_name}` in both" in m for m in found), found
    calls, found = run(True, False)
    assert set(calls) == {"model"}
    assert any(f"have overridden `{hook_name}` in `LightningModule`" in m for m in found), found


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for num_workers in (0, 1):
            test_dataloader_warnings(tmp, num_workers)
        test_dataloader_reinit_for_subclass(tmp)
        test_loader_detaching()
        test_pre_made_batches()
        test_error_raised_with_float_limited_eval_batches()
        test_non_sequential_sampler_warning_is_raised_for_eval_dataloader()
        test_error_raised_with_insufficient_float_limit_train_dataloader()
        for fn_name, dl_name in (
            ("fit", "train_dataloaders"),
            ("validate", "dataloaders"),
            ("test", "dataloaders"),
            ("predict", "dataloaders"),
        ):
            test_attach_data_input_validation_with_none_dataloader(tmp, fn_name, dl_name)
        for hook_name in ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer"):
            test_data_hook_selector(tmp, hook_name)
    print("ok")
