# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_combined_loader.py
#   (test_combined_loader_modes_for_dict, _for_list, _for_namedtuple, test_combined_loader_raises,
#    test_combined_loader_sequence_iterable_dataset, test_combined_loader_simultaneous_workers,
#    test_sequential_mode_limits, test_combined_loader_flattened_setter,
#    test_combined_loader_sequence_with_map_and_iterable, test_combined_loader_can_be_pickled)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; pytest.raises -> try/except. The asserts on the private iterator
#   (`isinstance(combined_loader._iterator, _MinSize)`, `_iterator._consumed`,
#   `_iterator.__getstate__()`) are left out, the public iteration they sit in kept;
#   test_sequential_mode_limits builds `CombinedLoader(..., "sequential")` and sets its public
#   `limits` in place of the private `_Sequential(iterables, limits)`. The loaders in
#   test_combined_loader_simultaneous_workers are `TestDataLoader`, named `RecordingDataLoader` here.
#   Left out, as tests of Lightning internals: test_combined_dataset and
#   test_combined_dataset_no_length (`_dataset_length`), test_combined_loader_length_must_call_iter_first
#   (see t_combined_loader_len.py), test_iterator_mode_limits_raises (the private iterator
#   classes), test_combined_data_loader_validation_test,
#   test_combined_data_loader_with_max_size_cycle_and_ddp and
#   test_combined_dataloader_for_training_with_ddp (`_data_connector.attach_data`,
#   `fit_loop.setup_data` with 2 DDP devices), test_supported_modes (`_SUPPORTED_MODES`),
#   test_state_dicts and test_load_state_dicts (`_state_dicts`, `_load_state_dicts`).
import pickle
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data.dataset import Dataset, IterableDataset
from torch.utils.data.sampler import SequentialSampler

from lightning.pytorch.utilities.combined_loader import CombinedLoader


def check_modes(iterables, lengths, container_check, values_of):
    # min_size
    min_len = min(lengths)
    combined_loader = CombinedLoader(iterables, "min_size")
    iter(combined_loader)
    assert len(combined_loader) == min_len
    for item, idx, _ in combined_loader:
        container_check(item)
    assert idx == min_len - 1
    assert idx == len(combined_loader) - 1

    # max_size_cycle
    max_len = max(lengths)
    combined_loader = CombinedLoader(iterables, "max_size_cycle")
    iter(combined_loader)
    assert len(combined_loader) == max_len
    for item, idx, _ in combined_loader:
        container_check(item)
    assert idx == max_len - 1
    assert idx == len(combined_loader) - 1

    # max_size
    combined_loader = CombinedLoader(iterables, "max_size")
    iter(combined_loader)
    assert len(combined_loader) == max_len
    for item, idx, _ in combined_loader:
        container_check(item)
        are_nones = [x is None for x in values_of(item)]
        should_be_nones = [idx >= length for length in lengths]
        assert are_nones == should_be_nones
    assert idx == max_len - 1
    assert idx == len(combined_loader) - 1

    # sequential
    sum_len = sum(lengths)
    combined_loader = CombinedLoader(iterables, "sequential")
    iter(combined_loader)
    assert len(combined_loader) == sum_len
    for total_idx, (item, batch_idx, dataloader_idx) in enumerate(combined_loader):
        assert isinstance(batch_idx, int)
        assert isinstance(item, Tensor)
    assert idx == lengths[-1] - 1
    assert total_idx == sum_len - 1
    assert total_idx == len(combined_loader) - 1
    assert dataloader_idx == len(iterables) - 1


def test_combined_loader_modes_for_dict():
    iterables = {
        "a": torch.utils.data.DataLoader(range(10), batch_size=4),
        "b": torch.utils.data.DataLoader(range(20), batch_size=5),
    }
    lengths = [len(v) for v in iterables.values()]

    def container_check(item):
        assert isinstance(item, dict)
        assert list(item) == ["a", "b"]

    check_modes(iterables, lengths, container_check, lambda item: list(item.values()))


def test_combined_loader_modes_for_list():
    iterables = [
        torch.utils.data.DataLoader(range(10), batch_size=4),
        torch.utils.data.DataLoader(range(20), batch_size=5),
    ]
    lengths = [len(v) for v in iterables]

    def container_check(item):
        assert isinstance(item, list)
        assert len(item) == 2

    check_modes(iterables, lengths, container_check, list)


class IterablesNamedTuple(NamedTuple):
    a: Any
    b: Any


def test_combined_loader_modes_for_namedtuple():
    iterables = IterablesNamedTuple(
        a=torch.utils.data.DataLoader(range(10), batch_size=4), b=torch.utils.data.DataLoader(range(20), batch_size=5)
    )
    lengths = [len(v) for v in iterables]

    def container_check(item):
        assert isinstance(item, IterablesNamedTuple), type(item)

    check_modes(iterables, lengths, container_check, list)


def test_combined_loader_raises():
    try:
        CombinedLoader([range(10)], "testtt")
    except ValueError as e:
        assert "Unsupported mode 'testtt'" in str(e), str(e)
    else:
        raise AssertionError("no ValueError for mode 'testtt'")


class TestIterableDataset(IterableDataset):
    def __init__(self, size: int = 10):
        self.size = size

    def __iter__(self):
        self.sampler = SequentialSampler(range(self.size))
        self.sampler_iter = iter(self.sampler)
        return self

    def __next__(self):
        return next(self.sampler_iter)


def test_combined_loader_sequence_iterable_dataset(mode, use_multiple_dataloaders):
    if use_multiple_dataloaders:
        loaders = [
            torch.utils.data.DataLoader(TestIterableDataset(10), batch_size=2),
            torch.utils.data.DataLoader(TestIterableDataset(20), batch_size=2),
        ]
    else:
        loaders = [
            torch.utils.data.DataLoader(TestIterableDataset(10), batch_size=2),
        ]
    combined_loader = CombinedLoader(loaders, mode)

    for idx, item in enumerate(combined_loader):
        assert isinstance(item, Sequence)
        if not use_multiple_dataloaders and idx == 4:
            break

    expected = 5
    if use_multiple_dataloaders:
        if mode in ["max_size_cycle", "max_size"]:
            expected = 10
        elif mode == "sequential":
            expected = 15
    assert idx == expected - 1, (mode, use_multiple_dataloaders, idx)


def test_combined_loader_simultaneous_workers(mode):
    class RecordingDataLoader(DataLoader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.workers_active = False

        def _get_iterator(self):
            self.workers_active = True
            return super()._get_iterator()

        def _shutdown_workers(self):
            self.workers_active = False
            super()._shutdown_workers()

    loaders = [
        RecordingDataLoader(range(10), batch_size=2, num_workers=0),
        RecordingDataLoader(range(20), batch_size=2, num_workers=0),
    ]
    combined_loader = CombinedLoader(loaders, mode)
    _ = iter(combined_loader)

    workers_active = [loader.workers_active for loader in loaders]
    # Sequential only starts the first dataloader, other modes start both
    expected = [True, False] if mode == "sequential" else [True, True]
    assert workers_active == expected, (mode, workers_active)


def test_sequential_mode_limits(limits, expected):
    iterable1 = ["a", "b", "c"]
    iterable2 = ["d", "e"]
    combined_loader = CombinedLoader([iterable1, iterable2], "sequential")
    if limits is not None:
        combined_loader.limits = limits
    assert list(combined_loader) == expected, (limits, list(combined_loader))


def test_combined_loader_flattened_setter():
    iterables = [[0], [[1], [[2]]]]
    combined_loader = CombinedLoader(iterables)
    try:
        combined_loader.flattened = [2]
    except ValueError as e:
        assert "Mismatch in flattened length (1) and existing length (3)" in str(e), str(e)
    else:
        raise AssertionError("no ValueError for a flattened list of another length")
    assert combined_loader.flattened == [[0], [1], [2]]
    combined_loader.flattened = [[3], [2], [1]]
    assert combined_loader.iterables == [[3], [[2], [[1]]]]


def test_combined_loader_sequence_with_map_and_iterable(lengths):
    class MyIterableDataset(IterableDataset):
        def __init__(self, size: int = 10):
            self.size = size

        def __iter__(self):
            self.sampler = SequentialSampler(range(self.size))
            self.iter_sampler = iter(self.sampler)
            return self

        def __next__(self):
            return next(self.iter_sampler)

    class MyMapDataset(Dataset):
        def __init__(self, size: int = 10):
            self.size = size

        def __getitem__(self, index):
            return index

        def __len__(self):
            return self.size

    x, y = lengths
    loaders = [DataLoader(MyIterableDataset(x)), DataLoader(MyMapDataset(y))]
    dataloader = CombinedLoader(loaders, mode="max_size_cycle")
    seen = sum(1 for _ in dataloader)
    assert seen == max(x, y), (lengths, seen)


def test_combined_loader_can_be_pickled():
    dataloader = DataLoader([0, 1, 2, 3])

    # sanity check that an error would be raised
    iterator = iter(dataloader)
    try:
        pickle.dumps(iterator)
    except NotImplementedError as e:
        assert "cannot be pickled" in str(e), str(e)
    else:
        raise AssertionError("a DataLoader iterator was pickled")

    numbers = list(range(10))
    cl = CombinedLoader([dataloader, numbers])
    iter(cl)
    # no error
    pickle.dumps(cl)


if __name__ == "__main__":
    test_combined_loader_modes_for_dict()
    test_combined_loader_modes_for_list()
    test_combined_loader_modes_for_namedtuple()
    test_combined_loader_raises()
    for mode in ["min_size", "max_size_cycle", "max_size", "sequential"]:
        for use_multiple_dataloaders in [False, True]:
            test_combined_loader_sequence_iterable_dataset(mode, use_multiple_dataloaders)
        test_combined_loader_simultaneous_workers(mode)
    for limits, expected in [
        (None, [("a", 0, 0), ("b", 1, 0), ("c", 2, 0), ("d", 0, 1), ("e", 1, 1)]),
        ([1, 0], [("a", 0, 0)]),
        ([0, float("inf")], [("d", 0, 1), ("e", 1, 1)]),
        ([1, 1], [("a", 0, 0), ("d", 0, 1)]),
    ]:
        test_sequential_mode_limits(limits, expected)
    test_combined_loader_flattened_setter()
    for lengths in [[4, 6], [5, 5], [6, 4]]:
        test_combined_loader_sequence_with_map_and_iterable(lengths)
    test_combined_loader_can_be_pickled()
    print("OK")
