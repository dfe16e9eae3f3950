"""``treadle.DataModule`` and ``fit/validate/test/predict(datamodule=...)``.

Behaviour ported from Lightning's ``tests/tests_pytorch/core/test_datamodules.py``
(Copyright The Lightning AI team, Apache-2.0): hooks and their order, ``prepare_data`` per node,
``setup(stage)`` per entry point, the DataModule's state in checkpoints, ``trainer.datamodule``,
the batch-transfer hooks; plus treadle's own checks of the refusals.
"""

from __future__ import annotations

import re

import pytest
import torch
from lightning_boring import BoringDataModule, BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.errors import ConfigurationError


class RecordingDataModule(BoringDataModule):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def prepare_data(self):
        self.log.append("prepare_data")

    def setup(self, stage):
        self.log.append(f"setup:{stage}")
        super().setup(stage)

    def teardown(self, stage):
        self.log.append(f"teardown:{stage}")

    def train_dataloader(self):
        self.log.append("train_dataloader")
        return super().train_dataloader()

    def val_dataloader(self):
        self.log.append("val_dataloader")
        return super().val_dataloader()

    def test_dataloader(self):
        self.log.append("test_dataloader")
        return super().test_dataloader()

    def predict_dataloader(self):
        self.log.append("predict_dataloader")
        return super().predict_dataloader()


class RecordingModel(BoringModel):
    def __init__(self, log):
        super().__init__()
        self.log_ = log

    def prepare_data(self):
        self.log_.append("module.prepare_data")

    def setup(self, stage):
        self.log_.append(f"module.setup:{stage}")

    def teardown(self, stage):
        self.log_.append(f"module.teardown:{stage}")


class RecordingCallback(treadle.Callback):
    def __init__(self, log):
        self.log = log

    def setup(self, trainer, pl_module, stage):
        self.log.append(f"callback.setup:{stage}")

    def teardown(self, trainer, pl_module, stage):
        self.log.append(f"callback.teardown:{stage}")


@pytest.mark.parametrize("fn", ["fit", "validate", "test", "predict"])
def test_hooks_and_their_order(tmp_path, fn):
    """Lightning's order: prepare_data (DataModule, Module), setup (DataModule, callbacks,
    Module), the stage's loaders, teardown (DataModule, callbacks, Module)."""
    log = []
    dm, model = RecordingDataModule(log), RecordingModel(log)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=2,
            num_sanity_val_steps=0,
            callbacks=[RecordingCallback(log)],
        )
    )
    getattr(trainer, fn)(model, datamodule=dm)
    loaders = {
        "fit": ["train_dataloader", "val_dataloader"],
        "validate": ["val_dataloader"],
        "test": ["test_dataloader"],
        "predict": ["predict_dataloader"],
    }[fn]
    stage = fn
    assert log == [
        "prepare_data",
        "module.prepare_data",
        f"setup:{stage}",
        f"callback.setup:{stage}",
        f"module.setup:{stage}",
        *loaders,
        f"teardown:{stage}",
        f"callback.teardown:{stage}",
        f"module.teardown:{stage}",
    ]
    assert trainer.datamodule is dm and dm.trainer is trainer


def test_each_entry_point_gets_its_stage(tmp_path):
    """test_dm_init_from_datasets / test_full_loop in spirit: one DataModule serves every
    entry point; each builds what its stage needs in setup."""
    dm = BoringDataModule()
    model = BoringModel()
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=2, num_sanity_val_steps=0))
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 16  # 64 training samples in batches of 8, two epochs
    result = trainer.validate(model, datamodule=dm)
    assert set(result[0]) == {"val_loss"}
    result = trainer.test(model, datamodule=dm)
    assert set(result[0]) == {"test_loss"}
    predictions = trainer.predict(model, datamodule=dm)
    assert len(predictions) == 8 and predictions[0].shape == (8, 2)


@pytest.mark.parametrize(
    "per_node, local_rank, node_rank, runs",
    [
        (True, 0, 0, True),
        (True, 0, 1, True),
        (True, 1, 0, False),
        (False, 0, 0, True),
        (False, 0, 1, False),
        (False, 1, 0, False),
    ],
)
def test_prepare_data_runs_once_per_node_or_once(
    tmp_path, monkeypatch, per_node, local_rank, node_rank, runs
):
    """Lightning's test_can_prepare_data: local rank 0 of each node, or global rank 0 only."""
    log = []
    dm = RecordingDataModule(log)
    dm.prepare_data_per_node = per_node
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
    )
    strategy = trainer.strategy
    monkeypatch.setattr(
        type(strategy), "local_rank", property(lambda self: local_rank), raising=False
    )
    monkeypatch.setattr(
        type(strategy), "node_rank", property(lambda self: node_rank), raising=False
    )
    monkeypatch.setattr(
        type(strategy),
        "global_rank",
        property(lambda self: node_rank * 2 + local_rank),
        raising=False,
    )
    trainer.fit(BoringModel(), datamodule=dm)
    assert ("prepare_data" in log) is runs


def test_loaders_the_datamodule_lacks_come_from_the_module(tmp_path):
    """Lightning's _DataLoaderSource: a DataModule with only train_dataloader; validation
    comes from the Module's val_dataloader."""

    class TrainOnly(treadle.DataModule):
        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 16), batch_size=8)

    validated = []

    class Model(BoringModel):
        def validation_step(self, batch, batch_idx):
            validated.append(batch_idx)

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, num_sanity_val_steps=0))
    trainer.fit(Model(), datamodule=TrainOnly())
    assert trainer.global_step == 2
    assert validated == [0, 1, 2, 3]  # the Module's 32 validation samples


def test_datamodule_state_in_checkpoints(tmp_path):
    """Lightning's test_dm_checkpoint_save_and_load: state_dict under the class's qualified
    name, and back through load_state_dict on resume."""

    class CustomBoringDataModule(BoringDataModule):
        def __init__(self):
            super().__init__()
            self.my_state = 0

        def state_dict(self):
            return {"my": "state_dict", "count": self.my_state}

        def load_state_dict(self, state_dict):
            self.my_state = state_dict["count"] + 100

    dm = CustomBoringDataModule()
    dm.my_state = 7
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            num_sanity_val_steps=0,
            limit_val_batches=1,
        )
    )
    trainer.fit(BoringModel(), datamodule=dm)
    path = tmp_path / "dm.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint[CustomBoringDataModule.__qualname__] == {"my": "state_dict", "count": 7}

    resumed = CustomBoringDataModule()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_train_batches=2,
            num_sanity_val_steps=0,
            limit_val_batches=1,
        )
    )
    trainer.fit(BoringModel(), datamodule=resumed, ckpt_path=path)
    assert resumed.my_state == 107


def test_an_empty_state_is_not_saved(tmp_path):
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
    )
    trainer.fit(BoringModel(), datamodule=BoringDataModule())
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    assert BoringDataModule.__qualname__ not in torch.load(tmp_path / "x.ckpt", weights_only=True)


def test_datamodule_batch_transfer_hooks_replace_the_modules(tmp_path):
    """Lightning's test_dm_transfer_batch_to_device / _DataHookSelector: the DataModule's
    override wins over the Module's."""
    seen = []

    class DM(BoringDataModule):
        def on_before_batch_transfer(self, batch, dataloader_idx):
            seen.append("dm.before")
            return batch * 0

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            seen.append("dm.transfer")
            return batch.to(device)

    class Model(BoringModel):
        def on_before_batch_transfer(self, batch, dataloader_idx):
            seen.append("module.before")
            return batch

        def on_after_batch_transfer(self, batch, dataloader_idx):
            seen.append("module.after" if batch.any() else "module.after(zeros)")
            return batch

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
    )
    trainer.fit(Model(), datamodule=DM())
    assert seen == ["dm.before", "dm.transfer", "module.after(zeros)"]
    # a later run without the DataModule: the Module's own hook again
    seen.clear()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
    )
    trainer.fit(Model())
    assert seen == ["module.before", "module.after"]


def test_from_datasets(tmp_path):
    """Lightning's test_dm_init_from_datasets_dataloaders (the shapes it builds)."""
    train, val = RandomDataset(32, 64), RandomDataset(32, 32, seed=1)
    dm = treadle.DataModule.from_datasets(train, val_dataset=[val, val], batch_size=4)
    loader = dm.train_dataloader()
    assert loader.batch_size == 4 and isinstance(loader.sampler, torch.utils.data.RandomSampler)
    assert [type(v.sampler).__name__ for v in dm.val_dataloader()] == ["SequentialSampler"] * 2
    assert loader.pin_memory  # as Lightning's from_datasets
    with pytest.raises(ConfigurationError, match="`test_dataloader` must be implemented"):
        dm.test_dataloader()  # as Lightning: a loader hook not given raises when called
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, num_sanity_val_steps=0))
    trainer.fit(
        BoringModel(), datamodule=treadle.DataModule.from_datasets(train, val, batch_size=4)
    )
    assert trainer.global_step == 16


def test_from_datasets_forwards_batch_size_and_num_workers():
    """Ported from tests/tests_pytorch/core/test_datamodules.py::
    test_dm_init_from_datasets_with_init_params: ``batch_size`` and ``num_workers`` go to
    ``__init__`` when it takes them (or ``**kwargs``), other keywords always."""

    class Known(treadle.DataModule):
        def __init__(self, batch_size=1, num_workers=0):
            super().__init__()
            self.batch_size, self.num_workers = batch_size, num_workers

    dm = Known.from_datasets(RandomDataset(32, 8), batch_size=4, num_workers=2)
    assert (dm.batch_size, dm.num_workers) == (4, 2)

    class Other(treadle.DataModule):
        def __init__(self, other, batch_size=1):
            super().__init__()
            self.other, self.batch_size = other, batch_size

    dm = Other.from_datasets(RandomDataset(32, 8), batch_size=4, num_workers=2, other=5)
    assert (dm.batch_size, dm.other) == (4, 5)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'other'"):
        Other.from_datasets(RandomDataset(32, 8), batch_size=4, num_workers=2)

    class Kwargs(treadle.DataModule):
        def __init__(self, num_workers, **kwargs):
            super().__init__()
            self.num_workers = num_workers
            for key, value in kwargs.items():
                setattr(self, key, value)

    dm = Kwargs.from_datasets(RandomDataset(32, 8), batch_size=10, num_workers=100, another=None)
    assert (dm.batch_size, dm.num_workers, dm.another) == (10, 100, None)


def test_datamodule_hyperparameters():
    class DM(treadle.DataModule):
        def __init__(self, batch_size=32, root="/data"):
            super().__init__()
            self.save_hyperparameters()

    assert dict(DM(batch_size=4).hparams) == {"batch_size": 4, "root": "/data"}


def test_loaders_and_datamodule_together_are_refused(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    loader = DataLoader(RandomDataset(32, 8), batch_size=8)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Trainer: `trainer.fit()` got both `train_dataloaders` or `val_dataloaders` and "
            "`datamodule`. Pass one: the DataModule's loaders, or the loaders."
        ),
    ):
        trainer.fit(BoringModel(), loader, datamodule=BoringDataModule())
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("Trainer: `trainer.test()` got both `dataloaders` and `datamodule`."),
    ):
        trainer.test(BoringModel(), loader, datamodule=BoringDataModule())


def test_a_datamodule_that_is_not_one_is_refused(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(
        TypeError,
        match=re.escape("`trainer.fit(datamodule=...)` needs a `treadle.DataModule`, got dict."),
    ):
        trainer.fit(BoringModel(), datamodule={"train": None})


def test_no_data_anywhere_names_the_datamodule(tmp_path):
    class Empty(treadle.DataModule):
        pass

    class NoTest(BoringModel):
        test_dataloader = None

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "An invalid dataloader was passed to `Trainer.test(dataloaders=...)`. Found None. "
            "Either pass the dataloader to the `.test()` method OR implement "
            "`def test_dataloader(self):` in your LightningModule/LightningDataModule."
        ),
    ):
        trainer.test(NoTest(), datamodule=Empty())
