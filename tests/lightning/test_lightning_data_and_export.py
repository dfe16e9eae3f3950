"""Lightning's ``utilities.data`` helpers, ``to_torchscript`` and the stepping-batches estimate.

Ported behaviour (Copyright The Lightning AI team, Apache-2.0) from Lightning's
``tests/tests_pytorch/utilities/test_data.py`` (test_extract_batch_size, test_has_len_all_rank),
``models/test_torchscript.py`` (test_torchcript_invalid_method, test_torchscript_with_no_input,
test_torchscript_save_load_custom_filesystem) and
``trainer/properties/test_estimated_stepping_batches.py``
(test_num_stepping_batches_raises_info_with_no_dataloaders_loaded), through treadle's names.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass

import fsspec
import pytest
import torch
from lightning_boring import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.utilities import MisconfigurationException


def test_utilities_data_is_importable_under_lightnings_path():
    from treadle.utilities.data import extract_batch_size, has_len_all_ranks, warning_cache

    assert extract_batch_size is treadle.utilities.extract_batch_size
    assert has_len_all_ranks is treadle.utilities.has_len_all_ranks
    assert warning_cache is treadle.utilities.warning_cache


@dataclass
class _Pair:
    a: torch.Tensor
    b: torch.Tensor


@pytest.mark.parametrize(
    "batch",
    [
        torch.zeros(11, 10, 9),
        {"test": torch.zeros(11, 10)},
        [torch.zeros(11, 10)],
        _Pair(torch.zeros(11, 10), torch.zeros(11, 10)),
        {"test": [{"test": [torch.zeros(11, 10)]}]},
    ],
)
def test_extract_batch_size_quiet(batch):
    from treadle.utilities import extract_batch_size

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert extract_batch_size(batch) == 11


@pytest.mark.parametrize(
    "batch, expected",
    [
        ({"a": [torch.tensor(1), torch.tensor(2)], "b": torch.tensor([1, 2, 3, 4])}, 1),
        (_Pair(torch.zeros(11, 10), torch.zeros(1)), 11),
        ({"test": [{"test": [torch.zeros(10, 10), torch.zeros(11, 10)]}]}, 10),
        ([{"test": torch.zeros(10, 10), "test_1": torch.zeros(11, 10)}], 10),
    ],
)
def test_extract_batch_size_ambiguous_warns_once(batch, expected):
    from treadle.utilities import extract_batch_size, warning_cache

    warning_cache.clear()
    message = f"Trying to infer the `batch_size` .* we found is {expected}."
    with pytest.warns(UserWarning, match=message):
        assert extract_batch_size(batch) == expected
    with warnings.catch_warnings():  # the same message again: once until cleared
        warnings.simplefilter("error")
        assert extract_batch_size(batch) == expected
    warning_cache.clear()


class _NoTensor:
    def __init__(self):
        self.x = torch.randn(7, 2)


@pytest.mark.parametrize("batch", ["test string", {"test": ["some text"] * 7}, _NoTensor()])
def test_extract_batch_size_refuses_a_batch_without_tensors(batch):
    from treadle.utilities import extract_batch_size

    with pytest.raises(MisconfigurationException, match="We could not infer the batch_size"):
        extract_batch_size(batch)


def test_has_len_all_ranks():
    from treadle.utilities import has_len_all_ranks

    strategy = treadle.Trainer(fast_dev_run=True).strategy
    with pytest.warns(UserWarning, match=r"Total length of `DataLoader` across ranks is zero\."):
        assert has_len_all_ranks(DataLoader(RandomDataset(0, 0)), strategy)
    assert has_len_all_ranks(DataLoader(RandomDataset(1, 1)), strategy)

    class Unsized(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(())

    assert not has_len_all_ranks(DataLoader(Unsized()), strategy)


def test_to_torchscript_refusals_in_lightnings_words():
    model = BoringModel()
    with pytest.raises(
        ValueError,
        match=re.escape(
            "The 'method' parameter only supports 'script' or 'trace', but value given was: temp"
        ),
    ):
        model.to_torchscript(method="temp")
    model.example_input_array = None
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Choosing method=`trace` requires either `example_inputs` or `model.example_input_array`"
            " to be defined."
        ),
    ):
        model.to_torchscript(method="trace")


def test_to_torchscript_saves_through_fsspec():
    """Lightning writes ``file_path`` through fsspec: a URL of another filesystem works."""
    model = BoringModel()
    path = "memory://treadle-to-torchscript/model.pt"
    script = model.to_torchscript(file_path=path)
    with fsspec.open(path, "rb") as f:
        loaded = torch.jit.load(f)
    assert torch.allclose(next(script.parameters()), next(loaded.parameters()))
    fsspec.filesystem("memory").rm(path)


class _Estimate(BoringModel):
    def __init__(self, when):
        super().__init__()
        self.when, self.estimate = when, None

    def configure_optimizers(self):
        if self.when == "configure_optimizers":
            self.estimate = self.trainer.estimated_stepping_batches
        return super().configure_optimizers()

    def on_train_start(self):
        if self.when == "on_train_start":
            self.estimate = self.trainer.estimated_stepping_batches


@pytest.mark.parametrize("when, said", [("configure_optimizers", True), ("on_train_start", False)])
def test_estimated_stepping_batches_says_when_it_loads_the_train_dataloader(
    tmp_path, caplog, when, said
):
    model = _Estimate(when)
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_val_batches=0))
    with caplog.at_level(logging.INFO, logger="treadle"):
        trainer.fit(model)
    assert model.estimate == len(model.train_dataloader())  # one epoch, no accumulation
    line = "Loading `train_dataloader` to estimate number of stepping batches."
    assert (line in caplog.text) is said, caplog.text
