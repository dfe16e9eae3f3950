# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_dataloaders.py
#   (the file's later part, after t_dataloaders.py: test_warning_with_iterable_dataset_and_len,
#   test_fit_multiple_train_loaders, test_train_dataloader_not_implemented_error,
#   test_inf_dataloader_raise_error_with_partial_batch_limits, test_dataloaders_load_only_once,
#   test_dataloaders_load_only_once_no_sanity_check, test_dataloaders_load_every_n_epochs_infrequent_val,
#   test_dataloaders_load_every_n_epochs_frequent_val, test_dataloaders_load_every_n_epochs_exception,
#   test_dataloaders_load_every_epoch_no_sanity_check, test_dataloaders_reset_and_attach,
#   test_correct_dataloader_idx_in_hooks, test_request_dataloader,
#   test_multiple_dataloaders_with_random_sampler_overfit_batches)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   tmp_path -> a tempfile dir; pytest.raises/warns -> small context managers (as in
#   t_dataloaders.py: Lightning's environment has no pytest); CustomInfDataloader /
#   CustomNotImplementedErrorDataloader (tests_pytorch.helpers) copied inline; the
#   `has_iterable_dataset` asserts dropped (Lightning Fabric's helper, not the Trainer API);
#   test_dataloaders_reset_and_attach without its `trainer.fit_loop.epoch_loop.max_steps += 1`
#   (a loop internal): the second fit attaches its loaders without training (max_steps reached).
#   Left out: test_dataloaders_load_only_once_passed_loaders (patches the private
#   `_request_dataloader`), the DDP/GPU tests (test_dataloader_distributed_sampler,
#   test_distributed_sampler_without_global_seed,
#   test_dataloader_distributed_sampler_already_attached).
import re
import tempfile
import warnings
from unittest.mock import Mock, call

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.data import has_len_all_ranks
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import RandomSampler
from torch.utils.data.dataloader import DataLoader
from torch.utils.data.dataset import IterableDataset
from torch.utils.data.sampler import SequentialSampler


class raises:
    def __init__(self, exc, match):
        self.exc, self.match = exc, match

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        assert typ is not None, f"DID NOT RAISE {self.exc}"
        assert issubclass(typ, self.exc), (typ, value)
        assert re.search(self.match, str(value)), (self.match, str(value))
        return True


class warns:
    def __init__(self, category, match, expected=True):
        self.category, self.match, self.expected = category, match, expected

    def __enter__(self):
        self.catcher = warnings.catch_warnings(record=True)
        self.caught = self.catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.catcher.__exit__(*exc)
        found = any(
            issubclass(w.category, self.category) and re.search(self.match, str(w.message))
            for w in self.caught
        )
        assert found is self.expected, (self.match, [str(w.message) for w in self.caught])


class CustomInfDataloader:
    def __init__(self, dataloader):
        self.dataloader = dataloader
        self.iter = iter(dataloader)
        self.count = 0
        self.dataloader.num_workers = 0

    def __iter__(self):
        self.count = 0
        return self

    def __next__(self):
        if self.count >= 50:
            raise StopIteration
        self.count = self.count + 1
        try:
            return next(self.iter)
        except StopIteration:
            self.iter = iter(self.dataloader)
            return next(self.iter)


class CustomNotImplementedErrorDataloader(CustomInfDataloader):
    def __len__(self):
        raise NotImplementedError

    def __next__(self):
        if self.count >= 2:
            raise StopIteration
        self.count = self.count + 1
        try:
            return next(self.iter)
        except StopIteration:
            self.iter = iter(self.dataloader)
            return next(self.iter)


def test_warning_with_iterable_dataset_and_len(tmp_path):
    model = BoringModel()
    original_dataset = model.train_dataloader().dataset

    class IterableWithoutLen(IterableDataset):
        def __iter__(self):
            return iter(original_dataset)

    class IterableWithLen(IterableWithoutLen):
        def __len__(self):
            return len(original_dataset)

    trainer = Trainer(default_root_dir=tmp_path, max_steps=3)
    dataloader = DataLoader(IterableWithLen(), batch_size=16)
    assert has_len_all_ranks(dataloader, trainer.strategy)
    with warns(UserWarning, match="Your `IterableDataset` has `__len__` defined."):
        trainer.validate(model, dataloaders=[dataloader])
    with warns(UserWarning, match="Your `IterableDataset` has `__len__` defined."):
        trainer.fit(model, train_dataloaders=dataloader, val_dataloaders=[dataloader])
    with warns(UserWarning, match="Your `IterableDataset` has `__len__` defined."):
        trainer.test(model, dataloaders=[dataloader])
    with warns(UserWarning, match="Your `IterableDataset` has `__len__` defined."):
        trainer.predict(model, dataloaders=[dataloader])

    trainer = Trainer(default_root_dir=tmp_path, max_steps=3)
    dataloader = DataLoader(IterableWithoutLen(), batch_size=16)
    assert not has_len_all_ranks(dataloader, trainer.strategy)
    trainer.validate(model, dataloaders=dataloader)
    trainer.fit(model, train_dataloaders=dataloader, val_dataloaders=[dataloader])
    trainer.test(model, dataloaders=dataloader)
    trainer.predict(model, dataloaders=dataloader)


def test_fit_multiple_train_loaders(tmp_path, mode, num_training_batches):
    class CustomBoringModel(BoringModel):
        def train_dataloader(self):
            loaders_a_b = [DataLoader(RandomDataset(32, 64)), DataLoader(RandomDataset(32, 16))]
            loaders_c_d_e = [
                DataLoader(RandomDataset(32, 16)),
                DataLoader(RandomDataset(32, 16)),
                DataLoader(RandomDataset(32, 16)),
            ]
            loaders = {"a_b": loaders_a_b, "c_d_e": loaders_c_d_e}
            return CombinedLoader(loaders, mode)

        def training_step(self, batch, batch_idx):
            assert len(batch) == 2
            assert len(batch["a_b"]) == 2
            assert len(batch["c_d_e"]) == 3
            return super().training_step(batch["a_b"][0], batch_idx)

    model = CustomBoringModel()
    trainer = Trainer(max_epochs=1, default_root_dir=tmp_path)

    if mode == "sequential":
        with raises(ValueError, match="FitLoop` does not support"):
            trainer.fit(model)
    else:
        trainer.fit(model)

    assert num_training_batches == trainer.num_training_batches


def test_train_dataloader_not_implemented_error(tmp_path, check_interval, dataloader_wrapper):
    class CustomBoringModel(BoringModel):
        def train_dataloader(self):
            return dataloader_wrapper(DataLoader(RandomDataset(32, 64)))

        def val_dataloader(self):
            return dataloader_wrapper(DataLoader(RandomDataset(32, 64)))

    model = CustomBoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path, max_steps=5, max_epochs=1, val_check_interval=check_interval
    )
    trainer.fit(model)


def test_inf_dataloader_raise_error_with_partial_batch_limits(
    tmp_path, prefix, trainer_fn, dataloader_wrapper
):
    model = BoringModel()
    setattr(
        model, f"{prefix}_dataloader", lambda: dataloader_wrapper(DataLoader(RandomDataset(32, 64)))
    )
    trainer_kwargs = {"default_root_dir": tmp_path, "max_epochs": 1, f"limit_{prefix}_batches": 0.5}
    trainer = Trainer(**trainer_kwargs)
    with raises(
        MisconfigurationException, match=r"IterableDataset`.*limit_.*_batches\)`.*`1.0` or an int"
    ):
        getattr(trainer, trainer_fn)(model)


def _track(model):
    tracker = Mock()
    model.train_dataloader = Mock(wraps=model.train_dataloader)
    model.val_dataloader = Mock(wraps=model.val_dataloader)
    model.test_dataloader = Mock(wraps=model.test_dataloader)
    tracker.attach_mock(model.train_dataloader, "train_dataloader")
    tracker.attach_mock(model.val_dataloader, "val_dataloader")
    tracker.attach_mock(model.test_dataloader, "test_dataloader")
    return tracker


def test_dataloaders_load_only_once(tmp_path):
    model = BoringModel()
    tracker = _track(model)
    trainer = Trainer(
        default_root_dir=tmp_path, limit_train_batches=0.3, limit_val_batches=0.3, max_epochs=3
    )
    trainer.fit(model)

    model.train_dataloader.assert_called_once()
    model.val_dataloader.assert_called_once()
    model.test_dataloader.assert_not_called()
    assert tracker.mock_calls == [call.val_dataloader(), call.train_dataloader()]


def test_dataloaders_load_only_once_no_sanity_check(tmp_path):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=0.3,
        limit_val_batches=0.3,
        num_sanity_val_steps=0,
        max_epochs=3,
    )
    tracker = _track(model)
    trainer.fit(model)
    assert tracker.mock_calls == [call.train_dataloader(), call.val_dataloader()]


def test_dataloaders_load_every_n_epochs_infrequent_val(
    tmp_path,
    num_sanity_val_steps,
    check_val_every_n_epoch,
    reload_dataloaders_every_n_epochs,
    train_reload_epochs_expect,
    val_reload_epochs_expect,
    val_step_epochs_expect,
):
    sanity_val_check_epochs, train_reload_epochs, val_reload_epochs = [], [], []
    sanity_val_step_epochs, val_step_epochs = [], []

    class TestModel(BoringModel):
        def train_dataloader(self):
            train_reload_epochs.append(self.current_epoch)
            return super().train_dataloader()

        def val_dataloader(self):
            if self.trainer.sanity_checking:
                sanity_val_check_epochs.append(self.current_epoch)
            else:
                val_reload_epochs.append(self.current_epoch)
            return super().val_dataloader()

        def validation_step(self, *args, **kwargs):
            if self.trainer.sanity_checking:
                sanity_val_step_epochs.append(self.current_epoch)
            else:
                val_step_epochs.append(self.current_epoch)
            return super().validation_step(*args, **kwargs)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        check_val_every_n_epoch=check_val_every_n_epoch,
        reload_dataloaders_every_n_epochs=reload_dataloaders_every_n_epochs,
        max_epochs=10,
        num_sanity_val_steps=num_sanity_val_steps,
    )
    trainer.fit(model)

    sanity_val_check_epochs_expect = [0] if num_sanity_val_steps else []
    assert sanity_val_check_epochs == sanity_val_step_epochs == sanity_val_check_epochs_expect
    assert train_reload_epochs == train_reload_epochs_expect, train_reload_epochs
    assert val_reload_epochs == val_reload_epochs_expect, val_reload_epochs
    assert val_step_epochs == val_step_epochs_expect, val_step_epochs


def test_dataloaders_load_every_n_epochs_frequent_val(tmp_path):
    train_reload_epochs, val_reload_epochs, val_check_epochs = [], [], []

    class TestModel(BoringModel):
        def train_dataloader(self):
            train_reload_epochs.append(self.current_epoch)
            return super().train_dataloader()

        def val_dataloader(self):
            val_reload_epochs.append(self.current_epoch)
            return super().val_dataloader()

        def on_validation_epoch_end(self):
            val_check_epochs.append(self.current_epoch)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=0.3,
        limit_val_batches=0.3,
        val_check_interval=0.3,
        reload_dataloaders_every_n_epochs=1,
        max_epochs=3,
    )
    model.test_dataloader = Mock(wraps=model.test_dataloader)
    trainer.fit(model)
    trainer.test(model)

    assert train_reload_epochs == [0, 1, 2]
    assert val_reload_epochs == [0, 1, 2]
    model.test_dataloader.assert_called_once()
    assert val_check_epochs == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2], val_check_epochs


def test_dataloaders_load_every_n_epochs_exception(tmp_path, n):
    with raises(MisconfigurationException, match="should be an int >"):
        Trainer(default_root_dir=tmp_path, reload_dataloaders_every_n_epochs=n)


def test_dataloaders_load_every_epoch_no_sanity_check(tmp_path):
    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            self.log("dummy_val", 5.0)
            return super().validation_step(batch, batch_idx)

    model = TestModel()
    checkpoint_callback = ModelCheckpoint(monitor="dummy_val", save_top_k=1)
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=0.3,
        limit_val_batches=0.3,
        num_sanity_val_steps=0,
        reload_dataloaders_every_n_epochs=1,
        max_epochs=3,
        callbacks=[checkpoint_callback],
    )
    tracker = _track(model)
    trainer.fit(model)
    trainer.test(model)

    expected_calls = [
        call.train_dataloader(),
        call.val_dataloader(),
        call.train_dataloader(),
        call.val_dataloader(),
        call.train_dataloader(),
        call.val_dataloader(),
        call.test_dataloader(),
    ]
    assert tracker.mock_calls == expected_calls, tracker.mock_calls


def test_dataloaders_reset_and_attach(tmp_path):
    dataloader_0 = DataLoader(dataset=RandomDataset(32, 64))
    dataloader_1 = DataLoader(dataset=RandomDataset(32, 64))
    dataloader_2 = DataLoader(dataset=RandomDataset(32, 64))
    dataloader_3 = DataLoader(dataset=RandomDataset(32, 64))
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
    )

    trainer.fit(model, train_dataloaders=dataloader_0, val_dataloaders=dataloader_1)
    assert trainer.train_dataloader.dataset is dataloader_0.dataset
    assert trainer.val_dataloaders.dataset is dataloader_1.dataset
    trainer.fit(model, train_dataloaders=dataloader_2, val_dataloaders=dataloader_3)
    assert trainer.train_dataloader.dataset is dataloader_2.dataset
    assert trainer.val_dataloaders.dataset is dataloader_3.dataset

    trainer.validate(model, dataloaders=dataloader_0)
    assert trainer.val_dataloaders.dataset is dataloader_0.dataset
    trainer.validate(model, dataloaders=dataloader_1)
    assert trainer.val_dataloaders.dataset is dataloader_1.dataset

    trainer.test(model, dataloaders=dataloader_0)
    assert trainer.test_dataloaders.dataset is dataloader_0.dataset
    trainer.test(model, dataloaders=dataloader_1)
    assert trainer.test_dataloaders.dataset is dataloader_1.dataset

    trainer.predict(model, dataloaders=dataloader_0)
    assert trainer.predict_dataloaders.dataset is dataloader_0.dataset
    trainer.predict(model, dataloaders=dataloader_1)
    assert trainer.predict_dataloaders.dataset is dataloader_1.dataset


def test_correct_dataloader_idx_in_hooks(tmp_path, mode):
    class CustomBoringModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.val_call_count = 0
            self.test_call_count = 0

        def assert_dataloader_idx_hook(self, dataloader_idx):
            if self.trainer.training:
                assert dataloader_idx == 0
            elif self.trainer.validating:
                assert dataloader_idx == (0 if self.val_call_count <= 5 else 1)
            elif self.trainer.testing:
                assert dataloader_idx == (0 if self.test_call_count <= 5 else 1)

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            self.assert_dataloader_idx_hook(dataloader_idx)
            return super().transfer_batch_to_device(batch, device, dataloader_idx)

        def on_before_batch_transfer(self, batch, dataloader_idx):
            if self.trainer.validating:
                self.val_call_count += 1
            elif self.trainer.testing:
                self.test_call_count += 1
            self.assert_dataloader_idx_hook(dataloader_idx)
            return super().on_before_batch_transfer(batch, dataloader_idx)

        def on_after_batch_transfer(self, batch, dataloader_idx):
            self.assert_dataloader_idx_hook(dataloader_idx)
            return super().on_after_batch_transfer(batch, dataloader_idx)

        def training_step(self, batch, batch_idx):
            return super().training_step(batch["a"], batch_idx)

        def validation_step(self, batch, batch_idx, dataloader_idx):
            self.assert_dataloader_idx_hook(dataloader_idx)
            out = super().validation_step(batch, batch_idx)
            loss = out.pop("x")
            out[f"val_loss_{dataloader_idx}"] = loss
            return out

        def test_step(self, batch, batch_idx, dataloader_idx):
            self.assert_dataloader_idx_hook(dataloader_idx)
            out = super().test_step(batch, batch_idx)
            loss = out.pop("y")
            out[f"test_loss_{dataloader_idx}"] = loss
            return out

        def predict(self, batch, batch_idx, dataloader_idx):
            self.assert_dataloader_idx_hook(dataloader_idx)
            return super().predict(batch, batch_idx, dataloader_idx)

        def train_dataloader(self):
            return CombinedLoader(
                {"a": DataLoader(RandomDataset(32, 64)), "b": DataLoader(RandomDataset(32, 64))},
                mode=mode,
            )

        def val_dataloader(self):
            return [DataLoader(RandomDataset(32, 64)), DataLoader(RandomDataset(32, 64))]

        def test_dataloader(self):
            return [DataLoader(RandomDataset(32, 64)), DataLoader(RandomDataset(32, 64))]

        def predict_dataloader(self):
            return [DataLoader(RandomDataset(32, 64)), DataLoader(RandomDataset(32, 64))]

    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=5)
    trainer.fit(model)
    trainer.test(model)
    preds = trainer.predict(model)
    assert len(preds) == 2
    assert all(len(x) == 5 for x in preds)


def test_request_dataloader(tmp_path):
    class DataLoaderWrapper:
        def __init__(self, loader):
            self.loader = loader
            self._iter = iter(self.loader)

        def __iter__(self):
            self._iter = iter(self.loader)
            return self._iter

        def __next__(self):
            return next(self._iter)

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.on_train_batch_start_called = False
            self.on_val_batch_start_called = False

        def train_dataloader(self):
            return DataLoaderWrapper(super().train_dataloader())

        def on_train_batch_start(self, batch, batch_idx: int) -> None:
            assert isinstance(self.trainer.train_dataloader, DataLoaderWrapper)
            self.on_train_batch_start_called = True

        def val_dataloader(self):
            return DataLoaderWrapper(super().val_dataloader())

        def on_validation_batch_start(self, *_):
            assert isinstance(self.trainer.val_dataloaders, DataLoaderWrapper)
            self.on_val_batch_start_called = True

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        max_epochs=1,
    )
    model = TestModel()
    trainer.fit(model)
    trainer.test(model)
    assert model.on_train_batch_start_called
    assert model.on_val_batch_start_called


def test_multiple_dataloaders_with_random_sampler_overfit_batches(num_loaders, tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            assert all(
                isinstance(dl.sampler, SequentialSampler) for dl in self.trainer.train_dataloader
            )
            return super().training_step(batch[0], batch_idx)

        def _create_dataloader(self):
            ds = RandomDataset(32, 64)
            return DataLoader(ds, sampler=RandomSampler(ds))

        def train_dataloader(self):
            return [self._create_dataloader() for _ in range(num_loaders)]

        validation_step = None

    trainer = Trainer(default_root_dir=tmp_path, overfit_batches=1.0, max_epochs=1)
    trainer.fit(TestModel())


INFREQUENT_VAL = [
    (
        0,
        1,
        1,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    ),
    (
        1,
        1,
        1,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    ),
    (0, 1, 2, [0, 2, 4, 6, 8], [0, 2, 4, 6, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    (1, 1, 2, [0, 2, 4, 6, 8], [2, 4, 6, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    (0, 3, 4, [0, 4, 8], [2, 8], [2, 5, 8]),
    (1, 3, 4, [0, 4, 8], [2, 8], [2, 5, 8]),
    (0, 2, 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 5, 7, 9], [1, 3, 5, 7, 9]),
    (1, 2, 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 5, 7, 9], [1, 3, 5, 7, 9]),
    (0, 3, 2, [0, 2, 4, 6, 8], [2, 5, 8], [2, 5, 8]),
    (1, 3, 2, [0, 2, 4, 6, 8], [2, 5, 8], [2, 5, 8]),
    (0, 5, 2, [0, 2, 4, 6, 8], [4, 9], [4, 9]),
    (1, 5, 2, [0, 2, 4, 6, 8], [4, 9], [4, 9]),
    (0, 2, 2, [0, 2, 4, 6, 8], [1, 3, 5, 7, 9], [1, 3, 5, 7, 9]),
    (1, 2, 2, [0, 2, 4, 6, 8], [1, 3, 5, 7, 9], [1, 3, 5, 7, 9]),
]


def run(test, *args):
    with tempfile.TemporaryDirectory() as tmp:
        test(tmp, *args)


if __name__ == "__main__":
    torch.manual_seed(0)
    run(test_warning_with_iterable_dataset_and_len)
    for mode, num in [
        ("min_size", 16),
        ("max_size_cycle", 64),
        ("max_size", 64),
        ("sequential", 64 + 16 * 4),
    ]:
        run(test_fit_multiple_train_loaders, mode, num)
    for wrapper in (CustomNotImplementedErrorDataloader, CustomInfDataloader):
        for check_interval in (50, 1.0):
            run(test_train_dataloader_not_implemented_error, check_interval, wrapper)
        for prefix, fn in [
            ("train", "fit"),
            ("val", "validate"),
            ("test", "test"),
            ("predict", "predict"),
        ]:
            run(test_inf_dataloader_raise_error_with_partial_batch_limits, prefix, fn, wrapper)
    run(test_dataloaders_load_only_once)
    run(test_dataloaders_load_only_once_no_sanity_check)
    for case in INFREQUENT_VAL:
        run(test_dataloaders_load_every_n_epochs_infrequent_val, *case)
    run(test_dataloaders_load_every_n_epochs_frequent_val)
    for n in ("test", -1):
        run(test_dataloaders_load_every_n_epochs_exception, n)
    run(test_dataloaders_load_every_epoch_no_sanity_check)
    run(test_dataloaders_reset_and_attach)
    for mode in ("min_size", "max_size_cycle"):
        run(test_correct_dataloader_idx_in_hooks, mode)
    run(test_request_dataloader)
    for num_loaders in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            test_multiple_dataloaders_with_random_sampler_overfit_batches(num_loaders, tmp)
    print("OK")
