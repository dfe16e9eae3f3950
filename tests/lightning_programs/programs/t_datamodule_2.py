# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/core/test_datamodules.py
#   (the tests t_datamodule.py does not run: test_hooks_no_recursion_error,
#   test_helper_boringdatamodule, test_helper_boringdatamodule_with_verbose_setup,
#   test_dm_pickle_after_init, test_dm_reload_dataloaders_every_n_epochs,
#   test_dm_init_from_datasets_dataloaders, test_dm_init_from_datasets_with_init_params,
#   test_hyperparameters_saving, test_define_as_dataclass, test_datamodule_hooks_are_profiled)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   pytest.raises -> try/except with re.search (Lightning's environment has no pytest);
#   test_dm_init_from_datasets_dataloaders: the `mock.patch` of the DataLoader class inside
#   Lightning's datamodule module -> the same arguments read off the DataLoaders made
#   (dataset, batch_size, num_workers, pin_memory, a RandomSampler for shuffle=True);
#   `model.validation_step_end = None` dropped (no such hook in Lightning 2); the
#   OmegaConf case of test_hyperparameters_saving kept only when omegaconf is importable;
#   test_datamodule_hooks_are_profiled's `@RunIf(skip_windows=True)` dropped.
#   Left out: test_can_prepare_data (patches Trainer properties and calls the private
#   `_data_connector.prepare_data`), test_train_loop_only / test_train_val_loop_only
#   (sklearn-based helpers; t_datamodule.py runs the same loop on an inline datamodule).
import pickle
import re
import tempfile
from argparse import Namespace
from dataclasses import dataclass

import torch
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from lightning.pytorch.profilers import SimpleProfiler
from lightning.pytorch.utilities import AttributeDict
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import RandomSampler


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


def test_hooks_no_recursion_error():
    class DummyDM(LightningDataModule):
        def setup(self, *args, **kwargs):
            pass

        def prepare_data(self, *args, **kwargs):
            pass

    for _ in range(1005):
        dm = DummyDM()
        dm.setup()
        dm.prepare_data()


def test_helper_boringdatamodule():
    dm = BoringDataModule()
    dm.prepare_data()
    dm.setup("fit")


def test_helper_boringdatamodule_with_verbose_setup():
    dm = BoringDataModule()
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")


def test_dm_pickle_after_init():
    dm = BoringDataModule()
    pickle.dumps(dm)


def test_dm_reload_dataloaders_every_n_epochs(tmpdir):
    class CustomBoringDataModule(BoringDataModule):
        def __init__(self):
            super().__init__()
            self._epochs_called_for = []

        def train_dataloader(self):
            assert self.trainer.current_epoch not in self._epochs_called_for
            self._epochs_called_for.append(self.trainer.current_epoch)
            return super().train_dataloader()

    dm = CustomBoringDataModule()
    model = BoringModel()
    model.validation_step = None
    model.test_step = None
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=3,
        limit_train_batches=2,
        reload_dataloaders_every_n_epochs=2,
    )
    trainer.fit(model, dm)
    assert dm._epochs_called_for == [0, 2]


class DummyDS(torch.utils.data.Dataset):
    def __getitem__(self, index):
        return 1

    def __len__(self):
        return 100


class DummyIDS(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield 1


def _check(loader, dataset, batch_size, shuffle, num_workers=0):
    assert loader.dataset is dataset
    assert loader.batch_size == batch_size
    assert loader.num_workers == num_workers
    assert loader.pin_memory is True
    if not isinstance(dataset, torch.utils.data.IterableDataset):
        assert isinstance(loader.sampler, RandomSampler) is shuffle


def test_dm_init_from_datasets_dataloaders(iterable):
    ds = DummyIDS if iterable else DummyDS

    train_ds = ds()
    dm = LightningDataModule.from_datasets(train_ds, batch_size=4, num_workers=0)
    _check(dm.train_dataloader(), train_ds, 4, not iterable)
    _raises(MisconfigurationException, "`val_dataloader` must be implemented", dm.val_dataloader)
    _raises(MisconfigurationException, "`test_dataloader` must be implemented", dm.test_dataloader)

    train_ds_sequence = [ds(), ds()]
    dm = LightningDataModule.from_datasets(train_ds_sequence, batch_size=4, num_workers=0)
    loaders = dm.train_dataloader()
    assert len(loaders) == 2
    for loader, dataset in zip(loaders, train_ds_sequence):
        _check(loader, dataset, 4, not iterable)
    _raises(MisconfigurationException, "`val_dataloader` must be implemented", dm.val_dataloader)
    _raises(MisconfigurationException, "`test_dataloader` must be implemented", dm.test_dataloader)

    valid_ds = ds()
    test_ds = ds()
    dm = LightningDataModule.from_datasets(
        val_dataset=valid_ds, test_dataset=test_ds, batch_size=2, num_workers=0
    )
    _check(dm.val_dataloader(), valid_ds, 2, False)
    _check(dm.test_dataloader(), test_ds, 2, False)
    _raises(
        MisconfigurationException, "`train_dataloader` must be implemented", dm.train_dataloader
    )

    valid_dss = [ds(), ds()]
    test_dss = [ds(), ds()]
    predict_dss = [ds(), ds()]
    dm = LightningDataModule.from_datasets(
        train_ds, valid_dss, test_dss, predict_dss, batch_size=4, num_workers=0
    )
    for loaders, datasets in [
        (dm.val_dataloader(), valid_dss),
        (dm.test_dataloader(), test_dss),
        (dm.predict_dataloader(), predict_dss),
    ]:
        assert len(loaders) == 2
        for loader, dataset in zip(loaders, datasets):
            _check(loader, dataset, 4, False)


def test_dm_init_from_datasets_with_init_params():
    LightningDataModule.from_datasets(DummyDS(), batch_size=4, num_workers=2)

    class KnownExtraParametersDataModule(LightningDataModule):
        def __init__(self, batch_size=1, num_workers=0):
            super().__init__()
            self.batch_size = batch_size
            self.num_workers = num_workers

    dm = KnownExtraParametersDataModule.from_datasets(DummyDS(), batch_size=4, num_workers=2)
    assert dm.batch_size == 4
    assert dm.num_workers == 2

    class UnknownExtraParametersDataModule(LightningDataModule):
        def __init__(self, other, batch_size=1):
            super().__init__()
            self.other = other
            self.batch_size = batch_size

    dm = UnknownExtraParametersDataModule.from_datasets(
        DummyDS(), batch_size=4, num_workers=2, other=5
    )
    assert dm.batch_size == 4
    assert dm.other == 5

    _raises(
        TypeError,
        "missing 1 required positional argument: 'other'",
        lambda: UnknownExtraParametersDataModule.from_datasets(
            DummyDS(), batch_size=4, num_workers=2
        ),
    )

    class KwargsParametersDataModule(LightningDataModule):
        def __init__(self, num_workers, **kwargs):
            super().__init__()
            self.num_workers = num_workers
            for key, value in kwargs.items():
                setattr(self, key, value)

    dm = KwargsParametersDataModule.from_datasets(
        DummyDS(), batch_size=10, num_workers=100, another=None
    )
    assert dm.batch_size == 10
    assert dm.num_workers == 100
    assert dm.another is None


class DataModuleWithHparams_0(LightningDataModule):
    def __init__(self, arg0, arg1, kwarg0=None):
        super().__init__()
        self.save_hyperparameters()


class DataModuleWithHparams_1(LightningDataModule):
    def __init__(self, arg0, *args, **kwargs):
        super().__init__()
        self.save_hyperparameters(arg0)


def test_hyperparameters_saving():
    data = DataModuleWithHparams_0(10, "foo", kwarg0="bar")
    assert data.hparams == AttributeDict({"arg0": 10, "arg1": "foo", "kwarg0": "bar"})

    data = DataModuleWithHparams_1(Namespace(**{"hello": "world"}), "foo", kwarg0="bar")
    assert data.hparams == AttributeDict({"hello": "world"})

    data = DataModuleWithHparams_1({"hello": "world"}, "foo", kwarg0="bar")
    assert data.hparams == AttributeDict({"hello": "world"})

    try:
        from omegaconf import OmegaConf
    except ImportError:
        return
    data = DataModuleWithHparams_1(OmegaConf.create({"hello": "world"}), "foo", kwarg0="bar")
    assert data.hparams == OmegaConf.create({"hello": "world"})


def test_define_as_dataclass():
    class BoringDataModule(LightningDataModule):
        def __init__(self, foo=None):
            super().__init__()

    @dataclass(init=True, repr=True, eq=True, order=True, unsafe_hash=True, frozen=False)
    class BoringDataModule1(BoringDataModule):
        batch_size: int
        foo: int = 2

        def __post_init__(self):
            super().__init__(foo=self.foo)

    assert BoringDataModule1(batch_size=64).foo == 2
    assert BoringDataModule1(batch_size=32)
    assert hasattr(BoringDataModule1, "__repr__")
    assert BoringDataModule1(batch_size=32) == BoringDataModule1(batch_size=32)

    @dataclass
    class BoringDataModule2(LightningDataModule):
        batch_size: int

    assert BoringDataModule2(batch_size=32)
    assert hasattr(BoringDataModule2, "__repr__")
    assert BoringDataModule2(batch_size=32).prepare_data() is None
    assert BoringDataModule2(batch_size=32) == BoringDataModule2(batch_size=32)


def test_datamodule_hooks_are_profiled(tmp_path):
    """Test that `LightningDataModule` hooks are profiled."""

    def get_trainer():
        return Trainer(
            default_root_dir=tmp_path,
            max_steps=1,
            limit_val_batches=0,
            profiler="simple",
            enable_model_summary=False,
            enable_progress_bar=False,
            logger=False,
        )

    class CustomBoringDataModule(BoringDataModule):
        def state_dict(self):
            return {"temp": 1}

        # override so that it gets called
        def prepare_data(self):
            pass

    model = BoringModel()
    dm = CustomBoringDataModule()
    trainer = get_trainer()
    trainer.fit(model, datamodule=dm)

    profiler = trainer.profiler
    assert isinstance(profiler, SimpleProfiler)

    keys = [
        "[LightningDataModule]CustomBoringDataModule.prepare_data",
        "[LightningDataModule]CustomBoringDataModule.setup",
        "[LightningDataModule]CustomBoringDataModule.state_dict",
        "[LightningDataModule]CustomBoringDataModule.teardown",
    ]
    for key in keys:
        assert key in profiler.recorded_durations
        durations = profiler.recorded_durations[key]
        assert len(durations) == 1
        assert durations[0] > 0

    ckpt_path = trainer.checkpoint_callback.best_model_path
    trainer = get_trainer()
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    profiler = trainer.profiler

    keys = [
        "[LightningDataModule]CustomBoringDataModule.prepare_data",
        "[LightningDataModule]CustomBoringDataModule.setup",
        "[LightningDataModule]CustomBoringDataModule.load_state_dict",
        "[LightningDataModule]CustomBoringDataModule.teardown",
    ]
    for key in keys:
        assert key in profiler.recorded_durations
        durations = profiler.recorded_durations[key]
        assert len(durations) == 1
        assert durations[0] > 0


if __name__ == "__main__":
    test_hooks_no_recursion_error()
    test_helper_boringdatamodule()
    test_helper_boringdatamodule_with_verbose_setup()
    test_dm_pickle_after_init()
    with tempfile.TemporaryDirectory() as tmp:
        test_dm_reload_dataloaders_every_n_epochs(tmp)
    for iterable in (False, True):
        test_dm_init_from_datasets_dataloaders(iterable)
    test_dm_init_from_datasets_with_init_params()
    test_hyperparameters_saving()
    test_define_as_dataclass()
    with tempfile.TemporaryDirectory() as tmp:
        test_datamodule_hooks_are_profiled(tmp)
    print("OK")
