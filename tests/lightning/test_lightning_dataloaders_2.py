"""Loaders the Trainer sizes and asks for again: Lightning 2.6.6's behaviour.

Ported behaviour (Copyright The Lightning AI team, Apache-2.0) from Lightning's
``tests/tests_pytorch/trainer/test_dataloaders.py`` (the tests named in each docstring), the
part the corpus program ``t_dataloaders_2.py`` runs.
"""

from __future__ import annotations

import re
import warnings

import pytest
from lightning_boring import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader, IterableDataset

import treadle
from treadle.errors import ConfigurationError
from treadle.utilities import has_len_all_ranks

ITERABLE_LEN = "Your `IterableDataset` has `__len__` defined."


class _Iterable(IterableDataset):
    def __init__(self, data):
        self.data = data

    def __iter__(self):
        return iter(self.data)


class _IterableWithLen(_Iterable):
    def __len__(self):
        return len(self.data)


class _NoLen:
    """A wrapper whose ``__len__`` raises ``NotImplementedError`` (Lightning's
    CustomNotImplementedErrorDataloader): a loader without a length."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        return iter(self.loader)

    def __len__(self):
        raise NotImplementedError


def _warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught]


def test_iterable_dataset_with_len_warns_at_each_stage(tmp_path):
    """Ported from tests/tests_pytorch/trainer/test_dataloaders.py::
    test_warning_with_iterable_dataset_and_len."""
    model = BoringModel()
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=3))
    loader = DataLoader(_IterableWithLen(RandomDataset(32, 64)), batch_size=16)
    assert has_len_all_ranks(loader, trainer.strategy)
    for run in (
        lambda: trainer.validate(model, dataloaders=[loader]),
        lambda: trainer.fit(model, train_dataloaders=loader, val_dataloaders=[loader]),
        lambda: trainer.test(model, dataloaders=[loader]),
        lambda: trainer.predict(model, dataloaders=[loader]),
    ):
        assert any(ITERABLE_LEN in m for m in _warnings(run))

    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=3))
    loader = DataLoader(_Iterable(RandomDataset(32, 64)), batch_size=16)
    assert not has_len_all_ranks(loader, trainer.strategy)
    assert not any(ITERABLE_LEN in m for m in _warnings(lambda: trainer.fit(model, loader)))


@pytest.mark.parametrize(
    "prefix, fn", [("train", "fit"), ("val", "validate"), ("test", "test"), ("predict", "predict")]
)
def test_fraction_of_a_loader_without_length_is_refused(tmp_path, prefix, fn):
    """Ported from tests/tests_pytorch/trainer/test_dataloaders.py::
    test_inf_dataloader_raise_error_with_partial_batch_limits."""
    model = BoringModel()
    setattr(model, f"{prefix}_dataloader", lambda: _NoLen(DataLoader(RandomDataset(32, 64))))
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, **{f"limit_{prefix}_batches": 0.5}))
    with pytest.raises(
        ConfigurationError, match=r"IterableDataset`.*limit_.*_batches\)`.*`1.0` or an int"
    ):
        getattr(trainer, fn)(model)


def test_loader_whose_len_raises_not_implemented_trains(tmp_path):
    """Ported from tests/tests_pytorch/trainer/test_dataloaders.py::
    test_train_dataloader_not_implemented_error: a ``__len__`` raising NotImplementedError is
    no length (an infinite loader), not an error."""
    model = BoringModel()
    model.train_dataloader = lambda: _NoLen(DataLoader(RandomDataset(32, 64)))
    model.val_dataloader = lambda: _NoLen(DataLoader(RandomDataset(32, 64)))
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=5, max_epochs=1, val_check_interval=50))
    trainer.fit(model)
    assert trainer.num_training_batches == float("inf")
    assert trainer.global_step == 5


@pytest.mark.parametrize(
    "sanity, check_every, reload_every, val_reloads",
    [
        (1, 3, 4, [2, 8]),  # epoch 0 does not validate: the first validation asks again
        (1, 2, 2, [1, 3, 5, 7, 9]),
        (1, 1, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9]),  # epoch 0 validates: the sanity load counts
        (0, 3, 4, [2, 8]),
        (0, 1, 2, [0, 2, 4, 6, 8]),
    ],
)
def test_val_reload_epochs_after_the_sanity_check(
    tmp_path, sanity, check_every, reload_every, val_reloads
):
    """Ported from tests/tests_pytorch/trainer/test_dataloaders.py::
    test_dataloaders_load_every_n_epochs_infrequent_val (the epochs, outside the sanity
    check, ``val_dataloader`` is asked for)."""
    asked = []

    class Model(BoringModel):
        def val_dataloader(self):
            if not self.trainer.sanity_checking:
                asked.append(self.current_epoch)
            return super().val_dataloader()

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            limit_train_batches=1,
            limit_val_batches=1,
            check_val_every_n_epoch=check_every,
            reload_dataloaders_every_n_epochs=reload_every,
            max_epochs=10,
            num_sanity_val_steps=sanity,
        )
    )
    trainer.fit(Model())
    assert asked == val_reloads


@pytest.mark.parametrize("n", ["test", -1])
def test_reload_every_n_epochs_refuses_what_is_not_a_count(tmp_path, n):
    """Ported from tests/tests_pytorch/trainer/test_dataloaders.py::
    test_dataloaders_load_every_n_epochs_exception."""
    with pytest.raises(ConfigurationError, match=re.escape("should be an int >= 0, got")):
        treadle.Trainer(default_root_dir=tmp_path, reload_dataloaders_every_n_epochs=n)
