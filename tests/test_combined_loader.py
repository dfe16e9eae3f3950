"""``treadle.utilities.CombinedLoader`` and how the Trainer reads combined loaders.

The tests marked "ported" follow Lightning's
``tests/tests_pytorch/utilities/test_combined_loader.py`` (Copyright The Lightning AI team,
Apache-2.0), run through treadle's names: the same inputs and the same expected behaviour,
adapted where Lightning 2 yields ``(batch, batch_idx, dataloader_idx)`` triples. The Trainer
tests pin what Lightning 2.6.6 does with the same programs (run with /work/lvenv/bin/python).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence

import pytest
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

import treadle
from treadle.combined_loader import _MaxSizeCycle, _MinSize, _Sequential
from treadle.data import num_batches
from treadle.errors import ConfigurationError
from treadle.utilities import CombinedLoader


def test_the_lightning_import_paths_name_one_class():
    from treadle.utilities.combined_loader import CombinedLoader as by_path

    assert by_path is CombinedLoader


# -- the loader (ported) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset_1", "dataset_2"),
    [
        (list(range(10)), list(range(20))),
        (range(10), range(20)),
        (torch.randn(10, 3, 2), torch.randn(20, 5, 6)),
        (TensorDataset(torch.randn(10, 3, 2)), TensorDataset(torch.randn(20, 5, 6))),
    ],
)
def test_combined_dataset(dataset_1, dataset_2):  # ported
    combined = CombinedLoader([DataLoader(dataset_1), DataLoader(dataset_2)], "max_size_cycle")
    assert combined._dataset_length() == 20


def test_combined_dataset_no_length():  # ported
    class Foo:  # map-style
        def __len__(self):
            return 5

    class Bar:  # iterable style
        ...

    class Baz:  # None length
        def __len__(self):
            pass

    combined = CombinedLoader([DataLoader(Foo()), DataLoader(Bar()), DataLoader(Baz())])
    assert combined._dataset_length() == 5
    with pytest.raises(
        NotImplementedError,
        match=re.escape(
            "CombinedLoader: All datasets are iterable-style datasets: no dataset length."
        ),
    ):
        CombinedLoader(DataLoader(Bar()))._dataset_length()


def test_combined_loader_modes():  # ported
    iterables = {"a": DataLoader(range(10), batch_size=4), "b": DataLoader(range(20), batch_size=5)}
    lengths = [len(v) for v in iterables.values()]
    min_len, max_len, sum_len = min(lengths), max(lengths), sum(lengths)

    for collection in (iterables, list(iterables.values())):
        kind = type(collection)
        for mode, kind_of_iterator, expected in (
            ("min_size", _MinSize, min_len),
            ("max_size_cycle", _MaxSizeCycle, max_len),
        ):
            combined = CombinedLoader(collection, mode)
            assert combined._iterator is None
            iter(combined)  # (len() waits for it, as Lightning's)
            assert len(combined) == expected
            for idx, (item, batch_idx, dataloader_idx) in enumerate(combined):
                assert isinstance(combined._iterator, kind_of_iterator)
                assert isinstance(item, kind)
                assert (list(item) == ["a", "b"]) if kind is dict else len(item) == 2
                assert (batch_idx, dataloader_idx) == (idx, 0)
            assert idx == expected - 1 == len(combined) - 1

        combined = CombinedLoader(collection, "sequential")
        assert combined._iterator is None
        assert len(iter(combined)) == sum_len
        triples = list(combined)
        assert isinstance(combined._iterator, _Sequential)
        assert all(isinstance(item, torch.Tensor) for item, _, _ in triples)
        assert len(triples) == sum_len == len(combined)
        _, batch_idx, dataloader_idx = triples[-1]
        assert batch_idx == lengths[-1] - 1
        assert dataloader_idx == len(iterables) - 1


def test_combined_loader_raises():  # ported
    with pytest.raises(
        ValueError,
        match=re.escape(
            "CombinedLoader: Unsupported mode 'testtt'. Choose one of "
            "['min_size', 'max_size_cycle', 'max_size', 'sequential']."
        ),
    ):
        CombinedLoader([range(10)], "testtt")  # type: ignore[arg-type]


class CountingIterable(IterableDataset):
    def __init__(self, size: int = 10):
        self.size = size

    def __iter__(self):
        self.sampler_iter = iter(SequentialSampler(range(self.size)))
        return self

    def __next__(self):
        return next(self.sampler_iter)


@pytest.mark.parametrize("mode", ["min_size", "max_size_cycle", "sequential"])
@pytest.mark.parametrize("use_multiple_dataloaders", [False, True])
def test_combined_loader_sequence_iterable_dataset(mode, use_multiple_dataloaders):  # ported
    loaders = [DataLoader(CountingIterable(10), batch_size=2)]
    if use_multiple_dataloaders:
        loaders.append(DataLoader(CountingIterable(20), batch_size=2))
    combined = CombinedLoader(loaders, mode)
    has_break = False
    for idx, (item, _, _) in enumerate(combined):
        assert isinstance(item, (Sequence, torch.Tensor))
        if not use_multiple_dataloaders and idx == 4:
            has_break = True
            break
    if mode == "max_size_cycle":
        assert all(combined._iterator._consumed) == (not has_break)
    expected = 5
    if use_multiple_dataloaders:
        expected = {"max_size_cycle": 10, "sequential": 15}.get(mode, 5)
    assert idx == expected - 1


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (None, [("a", 0, 0), ("b", 1, 0), ("c", 2, 0), ("d", 0, 1), ("e", 1, 1)]),
        ([1, 0], [("a", 0, 0)]),
        ([0, float("inf")], [("d", 0, 1), ("e", 1, 1)]),
        ([1, 1], [("a", 0, 0), ("d", 0, 1)]),
    ],
)
def test_sequential_mode_limits(limits, expected):  # ported
    combined = CombinedLoader([["a", "b", "c"], ["d", "e"]], "sequential")
    combined.limits = limits
    assert list(combined) == expected


def test_sequential_mode_limits_raises():  # ported
    combined = CombinedLoader([[0], [1]], "sequential")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "CombinedLoader: got 0 limits for 2 iterables (mismatch in number of limits (0) and "
            "number of iterables (2)). Give one limit per iterable, or one number for all."
        ),
    ):
        combined.limits = []
    combined.limits = 1  # one number: for each iterable
    assert combined.limits == [1, 1]


def test_combined_loader_flattened_setter():  # ported; "Mismatch" capitalised as Lightning's (lprog20)
    combined = CombinedLoader([[0], [[1], [[2]]]])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "CombinedLoader: Mismatch in flattened length (1) and existing length (3). Give one "
            "replacement per iterable."
        ),
    ):
        combined.flattened = [2]
    assert combined.flattened == [[0], [1], [2]]
    combined.flattened = [[3], [2], [1]]
    assert combined.iterables == [[3], [[2], [[1]]]]


@pytest.mark.parametrize("lengths", [[4, 6], [5, 5], [6, 4]])
def test_combined_loader_sequence_with_map_and_iterable(lengths):  # ported
    class MapStyle(Dataset):
        def __init__(self, size):
            self.size = size

        def __getitem__(self, index):
            return index

        def __len__(self):
            return self.size

    x, y = lengths
    combined = CombinedLoader(
        [DataLoader(CountingIterable(x)), DataLoader(MapStyle(y))], mode="max_size_cycle"
    )
    assert sum(1 for _ in combined) == max(x, y)


def test_docstring_example_in_each_mode():  # ported (the class docstring's example)
    iterables = {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}

    def run(mode):
        combined = CombinedLoader(iterables, mode)
        out = []
        for batch, batch_idx, dataloader_idx in combined:
            if isinstance(batch, dict):
                batch = {k: None if v is None else v.tolist() for k, v in batch.items()}
            else:
                batch = batch.tolist()
            out.append((batch, batch_idx, dataloader_idx))
        return len(combined), out

    assert run("max_size_cycle") == (
        3,
        [
            ({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}, 0, 0),
            ({"a": [4, 5], "b": [5, 6, 7, 8, 9]}, 1, 0),
            ({"a": [0, 1, 2, 3], "b": [10, 11, 12, 13, 14]}, 2, 0),
        ],
    )
    assert run("max_size")[1][2] == ({"a": None, "b": [10, 11, 12, 13, 14]}, 2, 0)
    assert run("min_size")[0] == 2
    assert run("sequential") == (
        5,
        [
            ([0, 1, 2, 3], 0, 0),
            ([4, 5], 1, 0),
            ([0, 1, 2, 3, 4], 0, 1),
            ([5, 6, 7, 8, 9], 1, 1),
            ([10, 11, 12, 13, 14], 2, 1),
        ],
    )


# -- the loader (treadle's own) ------------------------------------------------------------------


def test_sampler_and_batch_sampler_reach_through_in_the_iterables_shape():
    random = DataLoader(range(4), shuffle=True)
    combined = CombinedLoader({"a": random, "b": [DataLoader(range(3)), range(2)]})
    samplers = combined.sampler
    assert isinstance(samplers["a"], RandomSampler)
    assert isinstance(samplers["b"][0], SequentialSampler) and samplers["b"][1] is None
    assert combined.batch_sampler["a"] is random.batch_sampler


def test_a_loader_without_length_has_no_combined_length_unless_another_decides():
    combined = iter(CombinedLoader([DataLoader(CountingIterable(4)), DataLoader(range(3))]))
    assert len(combined) == 3  # min_size: the sized one decides
    combined = CombinedLoader([DataLoader(CountingIterable(4)), DataLoader(range(3))], "max_size")
    iter(combined)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "CombinedLoader: `DataLoader` does not define `__len__`, so the 'max_size' mode has "
            "no length."
        ),
    ):
        len(combined)


def test_len_before_iter_is_refused_as_lightning_refuses_it():
    # Ported from tests/tests_pytorch/utilities/test_combined_loader.py::
    # test_combined_loader_length_must_call_iter_first
    combined = CombinedLoader([DataLoader(range(6), batch_size=2), DataLoader(range(4))])
    message = re.escape(
        "CombinedLoader: Please call `iter(combined_loader)` first. The length is that of the "
        "pass `iter()` starts (its mode and `limits`)."
    )
    with pytest.raises(RuntimeError, match=message):
        len(combined)
    assert len(iter(combined)) == 3
    combined.reset()  # the pass is dropped: as Lightning's, no length until the next iter()
    with pytest.raises(RuntimeError, match=message):
        len(combined)


def test_len_is_of_the_pass_iter_started():
    # the limits set after iter() apply to the next pass (Lightning's iterator keeps its own)
    combined = CombinedLoader([DataLoader(range(6), batch_size=2), DataLoader(range(4))])
    iter(combined)
    combined.limits = [1, 1]
    assert len(combined) == 3
    assert len(iter(combined)) == 1


def test_the_trainer_sizes_a_combined_loader_before_iterating_it():
    # The Trainer counts an epoch's batches before its first iter(), where `len()` refuses (the
    # fit tests below check the counts it gets: num_training_batches, num_val_batches).
    combined = CombinedLoader({"a": DataLoader(range(8), batch_size=2), "b": DataLoader(range(3))})
    assert num_batches(combined, None) == 3  # min_size of (4, 3)
    assert num_batches(combined, 2) == 2  # under limit_train_batches=2
    assert num_batches(CombinedLoader([DataLoader(CountingIterable(4))]), None) == float("inf")
    assert combined._iterator is None
    outer = CombinedLoader([combined, DataLoader(range(5))], "max_size_cycle")  # nested
    assert num_batches(outer, None) == 5 and num_batches(outer, 1) == 1
    assert len(iter(outer)) == 1


def test_next_before_iter_is_refused():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "CombinedLoader: call `iter(combined_loader)` (or loop over it) before `next()`."
        ),
    ):
        next(CombinedLoader([range(2)]))


# -- in the Trainer (values pinned from Lightning 2.6.6) ------------------------------------------


def show(batch):
    if isinstance(batch, dict):
        return {k: show(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [show(v) for v in batch]
    return None if batch is None else batch.tolist()


class Recorder(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.seen: list[tuple] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(("t", batch_idx, show(batch)))
        return self.layer(torch.ones(1, 1)).sum()

    def validation_step(self, batch, batch_idx, *rest):
        self.seen.append(("v", batch_idx, rest, show(batch)))

    def predict_step(self, batch, batch_idx, *rest):
        return show(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(tmp_path, **kw):
    kw.setdefault("max_epochs", 1)
    return treadle.Trainer(
        default_root_dir=str(tmp_path),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kw,
    )


def loader(n, start=0, **kw):
    return DataLoader(range(start, start + n), batch_size=2, **kw)


def test_a_dict_of_training_loaders_cycles_the_shorter_one(tmp_path):
    model = Recorder()
    t = trainer(tmp_path)
    t.fit(
        model, {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}
    )
    assert t.num_training_batches == 3
    assert model.seen == [
        ("t", 0, {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}),
        ("t", 1, {"a": [4, 5], "b": [5, 6, 7, 8, 9]}),
        ("t", 2, {"a": [0, 1, 2, 3], "b": [10, 11, 12, 13, 14]}),
    ]
    assert set(t.train_dataloader) == {"a", "b"}  # as Lightning: the loaders as given


def test_a_list_of_training_loaders_with_a_fraction_limit_and_a_combined_val_loader(tmp_path):
    model = Recorder()
    t = trainer(tmp_path, limit_train_batches=0.5)
    val = CombinedLoader({"x": loader(4), "y": loader(3, 50)}, "max_size_cycle")
    t.fit(model, [loader(6), loader(10, 100)], val)
    assert t.num_training_batches == 2  # each loader's half: 1 and 2 batches, cycled to 2
    assert model.seen == [
        ("t", 0, [[0, 1], [100, 101]]),
        ("t", 1, [[2, 3], [102, 103]]),
        ("v", 0, (), {"x": [0, 1], "y": [50, 51]}),  # one loader of combined batches:
        ("v", 1, (), {"x": [2, 3], "y": [52]}),  # no dataloader_idx
    ]
    assert isinstance(t.train_dataloader, list)


def test_a_given_combined_loader_keeps_its_mode_and_val_dicts_are_sequential(tmp_path):
    model = Recorder()
    t = trainer(tmp_path)
    t.fit(
        model,
        CombinedLoader((loader(6), loader(10, 100)), "min_size"),
        {"x": loader(4), "y": loader(3, 50)},
    )
    assert (t.num_training_batches, t.num_val_batches) == (3, [2, 2])
    assert model.seen[2:] == [
        ("t", 2, [[4, 5], [104, 105]]),
        ("v", 0, (0,), [0, 1]),
        ("v", 1, (0,), [2, 3]),
        ("v", 0, (1,), [50, 51]),
        ("v", 1, (1,), [52]),
    ]


def test_max_size_mode_with_nested_loaders_and_a_batch_limit(tmp_path):
    model = Recorder()
    t = trainer(tmp_path, limit_train_batches=4, limit_val_batches=1)
    train = CombinedLoader({"a": [loader(2), loader(6, 10)], "b": loader(4, 20)}, "max_size")
    t.fit(model, train, CombinedLoader([loader(4), loader(3, 50)], "sequential"))
    assert (t.num_training_batches, t.num_val_batches) == (3, [1, 1])
    assert model.seen == [
        ("t", 0, {"a": [[0, 1], [10, 11]], "b": [20, 21]}),
        ("t", 1, {"a": [None, [12, 13]], "b": [22, 23]}),
        ("t", 2, {"a": [None, [14, 15]], "b": None}),
        ("v", 0, (0,), [0, 1]),
        ("v", 0, (1,), [50, 51]),
    ]


def test_predict_reads_a_sequential_combined_loader_and_refuses_another_mode(tmp_path):
    t = trainer(tmp_path)
    sequential = CombinedLoader([loader(4), loader(2, 10)], "sequential")
    assert t.predict(Recorder(), sequential) == [[[0, 1], [2, 3]], [[10, 11]]]
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            'Trainer: `predict()` only supports the `CombinedLoader(mode="sequential")` mode, '
            "got 'min_size'."
        ),
    ):
        t.predict(Recorder(), CombinedLoader([loader(4), loader(2, 10)], "min_size"))


def test_fit_refuses_a_sequential_training_loader(tmp_path):
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "Trainer: `fit()` (`trainer.fit_loop`): the `FitLoop` does not support the "
            '`CombinedLoader(mode="sequential")` mode: a step takes a batch of each iterable. '
            "Choose one of ['min_size', 'max_size_cycle', 'max_size']."
        ),
    ):
        trainer(tmp_path).fit(Recorder(), CombinedLoader([loader(4), loader(2)], "sequential"))


class Replacing:
    """A plugin implementing the public ``setup_dataloader`` hook as a strategy does (DDP puts
    its DistributedSampler in there): records each loader it sees and gives back a copy."""

    def __init__(self):
        self.seen: list[tuple[int, str]] = []

    @treadle.hookimpl
    def setup_dataloader(self, trainer, dataloader, stage):
        self.seen.append((len(dataloader.dataset), stage))
        return DataLoader(
            dataloader.dataset, batch_size=1, sampler=SequentialSampler(dataloader.dataset)
        )


def test_each_inner_loader_goes_through_setup_dataloader(tmp_path):
    """Lightning's test_combined_data_loader_validation_test checks the DistributedSampler lands
    in every inner loader; the strategy's hook is called once per inner loader here."""
    plugin = Replacing()
    model = Recorder()
    t = trainer(tmp_path, plugins=[plugin], limit_val_batches=1)
    train = CombinedLoader({"a": loader(3), "b": {"c": loader(4), "d": [loader(5), loader(6)]}})
    t.fit(model, train, {"x": loader(7)})
    assert plugin.seen == [(3, "fit"), (4, "fit"), (5, "fit"), (6, "fit"), (7, "validate")]
    samplers = [train.sampler["a"], train.sampler["b"]["c"], *train.sampler["b"]["d"]]
    assert [type(s) for s in samplers] == [SequentialSampler] * 4
    assert [loader.batch_size for loader in train.flattened] == [1, 1, 1, 1]
    assert t.num_training_batches == 3  # min_size of 3, 4, 5, 6 one-sample batches


class SaveAt(treadle.Callback):
    def __init__(self, path, batch):
        self.path, self.batch, self.seen = path, batch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.batch:
            trainer.save_checkpoint(self.path)


def test_mid_epoch_resume_of_a_combined_training_loader_is_exact(tmp_path):
    """Fetch and drop: the resumed run reads the batches the uninterrupted run reads."""

    def run(ckpt_path=None, **kw):
        treadle.seed_everything(3)
        model = Recorder()
        train = {"a": loader(6, shuffle=True), "b": loader(10, 100, shuffle=True)}
        trainer(tmp_path, max_epochs=3, **kw).fit(model, train, ckpt_path=ckpt_path)
        return model

    path = tmp_path / "mid.ckpt"
    full = run(callbacks=[SaveAt(path, 7)])  # the second epoch's third batch: 5 batches an epoch
    resumed = run(ckpt_path=path)
    assert len(full.seen) == 15 and resumed.seen == full.seen[7:]
    assert torch.equal(resumed.layer.weight, full.layer.weight)


class DictLoaders(Recorder):
    """Its ``train_dataloader`` returns a dict of loaders (asked again each epoch with
    ``reload_dataloaders_every_n_epochs``)."""

    def __init__(self):
        super().__init__()
        self.asked = 0

    def train_dataloader(self):
        self.asked += 1
        return {"a": loader(4, shuffle=True), "b": loader(6, 100, shuffle=True)}


def test_a_module_returning_a_dict_is_asked_again_when_reloading(tmp_path):
    model = DictLoaders()
    t = trainer(tmp_path, max_epochs=2, reload_dataloaders_every_n_epochs=1)
    t.fit(model)
    assert model.asked == 2 and t.num_training_batches == 3
    assert [len(batch["a"]) for _, _, batch in model.seen] == [2, 2, 2] * 2


def test_overfit_batches_reads_each_inner_loader_in_order(tmp_path):
    model = DictLoaders()
    t = trainer(tmp_path, max_epochs=2, overfit_batches=2)
    with pytest.warns(UserWarning, match="Shuffling is turned off for you"):
        t.fit(model)
    first = {"a": [0, 1], "b": [100, 101]}
    second = {"a": [2, 3], "b": [102, 103]}
    assert [batch for _, _, batch in model.seen] == [first, second] * 2


def test_combined_loader_can_be_pickled_while_iterating():
    # Ported from tests/tests_pytorch/utilities/test_combined_loader.py::
    # test_combined_loader_can_be_pickled: a DataLoader's running iterator cannot be pickled,
    # so the mode iterator leaves it out (None) and keeps the other iterables' iterators.
    dataloader = DataLoader([0, 1, 2, 3])
    with pytest.raises(NotImplementedError, match="cannot be pickled"):
        pickle.dumps(iter(dataloader))
    numbers = list(range(10))
    combined = CombinedLoader([dataloader, numbers])
    iter(combined)
    next(combined)
    restored = pickle.loads(pickle.dumps(combined))
    assert restored.iterables[1] == numbers
    state = combined._iterator.__getstate__()
    assert state["iterators"][0] is None
    assert state["iterators"][1] is combined._iterator.iterators[1]
    assert [batch for batch, _, _ in restored] == [[torch.tensor([i]), i] for i in range(4)]
