# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_data.py
#   (test_extract_batch_size, test_has_len_all_rank)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted (`pytest.raises`/
#   `pytest.warns` -> try/except and `warnings.catch_warnings`; `no_warning_call` -> recorded
#   warnings). `_check_warning_raised`/`_check_error_raised` took `data` and used the enclosing
#   `batch`; here both use `data` (the same values). Left out, being tests of Lightning's private
#   helpers: test_update_dataloader_typerror_custom_exception (`_update_dataloader`,
#   `_replace_dunder_methods`), test_custom_torch_batch_sampler[_doppelganger],
#   test_custom_batch_sampler[_no_drop_last, _no_sampler] (`_update_dataloader`,
#   `_IndexBatchSamplerWrapper`, `__pl_saved_*`), test_batch_sampler_shuffle_setting
#   (`_is_dataloader_shuffled`), test_dataloader_kwargs_replacement_with_*
#   (`_get_dataloader_init_args_and_kwargs`).
import re
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import RandomDataset
from lightning.pytorch.utilities.data import extract_batch_size, has_len_all_ranks, warning_cache
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def recorded(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [w for w in caught]


def test_extract_batch_size():
    """Tests the behavior of extracting the batch size."""

    def _check_warning_not_raised(data, expected):
        size, caught = recorded(lambda: extract_batch_size(data))
        assert size == expected
        assert not any("Trying to infer the `batch_size`" in str(w.message) for w in caught), caught

    def _check_warning_raised(data, expected):
        size, caught = recorded(lambda: extract_batch_size(data))
        assert size == expected
        pattern = f"Trying to infer the `batch_size` .* we found is {expected}."
        assert any(
            issubclass(w.category, UserWarning) and re.search(pattern, str(w.message)) for w in caught
        ), [str(w.message) for w in caught]
        warning_cache.clear()

    def _check_error_raised(data):
        try:
            extract_batch_size(data)
        except MisconfigurationException as e:
            assert "We could not infer the batch_size" in str(e), str(e)
        else:
            raise AssertionError(f"no MisconfigurationException for {data!r}")

    @dataclass
    class CustomDataclass:
        a: Tensor
        b: Tensor

    # Warning not raised
    batch = torch.zeros(11, 10, 9, 8)
    _check_warning_not_raised(batch, 11)

    batch = {"test": torch.zeros(11, 10)}
    _check_warning_not_raised(batch, 11)

    batch = [torch.zeros(11, 10)]
    _check_warning_not_raised(batch, 11)

    batch = CustomDataclass(torch.zeros(11, 10), torch.zeros(11, 10))
    _check_warning_not_raised(batch, 11)

    batch = {"test": [{"test": [torch.zeros(11, 10)]}]}
    _check_warning_not_raised(batch, 11)

    # Warning raised
    batch = {"a": [torch.tensor(1), torch.tensor(2)], "b": torch.tensor([1, 2, 3, 4])}
    _check_warning_raised(batch, 1)

    batch = CustomDataclass(torch.zeros(11, 10), torch.zeros(1))
    _check_warning_raised(batch, 11)

    batch = {"test": [{"test": [torch.zeros(11, 10), torch.zeros(10, 10)]}]}
    _check_warning_raised(batch, 11)

    batch = {"test": [{"test": [torch.zeros(10, 10), torch.zeros(11, 10)]}]}
    _check_warning_raised(batch, 10)

    batch = [{"test": torch.zeros(10, 10), "test_1": torch.zeros(11, 10)}]
    _check_warning_raised(batch, 10)

    # Error raised
    batch = "test string"
    _check_error_raised(batch)

    data = {"test": ["some text"] * 7}
    _check_error_raised(data)

    class CustomBatch:
        def __init__(self):
            self.x = torch.randn(7, 2)

    data = CustomBatch()
    _check_error_raised(data)


def test_has_len_all_rank():
    trainer = Trainer(fast_dev_run=True)

    result, caught = recorded(lambda: has_len_all_ranks(DataLoader(RandomDataset(0, 0)), trainer.strategy))
    assert result
    assert any(
        issubclass(w.category, UserWarning) and "Total length of `DataLoader` across ranks is zero." in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]

    assert has_len_all_ranks(DataLoader(RandomDataset(1, 1)), trainer.strategy)


if __name__ == "__main__":
    test_extract_batch_size()
    test_has_len_all_rank()
    print("OK")
