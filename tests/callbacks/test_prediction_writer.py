"""BasePredictionWriter.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_prediction_writer.py``
(Apache-2.0, Copyright The Lightning AI team): the behaviour each test checks is Lightning's;
the code is translated to treadle's names. Lightning replaces the ``write_on_*`` methods with
``Mock``s; here a writer records its calls in a list. ``test_batch_level_batch_indices`` read
``trainer.predict_loop.epoch_batch_indices`` (Lightning's loop internals, not in treadle): its
batch-level part is kept. Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import re

import pytest
import torch
from boring_model import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import BasePredictionWriter
from treadle.utilities import MisconfigurationException


class RecordingWriter(BasePredictionWriter):
    def __init__(self, write_interval):
        super().__init__(write_interval)
        self.batches, self.epochs = [], []

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ):
        self.batches.append(
            (trainer, pl_module, prediction, batch_indices, batch_idx, dataloader_idx)
        )

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        self.epochs.append((trainer, pl_module, predictions, batch_indices))


def predict(writer, tmp_path, loader, **kwargs):
    model = BoringModel()
    trainer = treadle.Trainer(**quiet(tmp_path, limit_predict_batches=4), callbacks=writer)
    return trainer, model, trainer.predict(model, dataloaders=loader, **kwargs)


def test_prediction_writer_invalid_write_interval():
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "BasePredictionWriter(write_interval='something'): `write_interval` should be one of "
            "['batch', 'epoch', 'batch_and_epoch']."
        ),
    ):
        RecordingWriter("something")


@pytest.mark.parametrize(
    ("interval", "return_predictions", "batches", "epochs"),
    [
        ("batch_and_epoch", True, 4, 1),
        ("batch_and_epoch", False, 4, 1),
        ("batch", False, 4, 0),
        ("epoch", False, 0, 1),
    ],
)
def test_prediction_writer_hook_call_intervals(
    tmp_path, interval, return_predictions, batches, epochs
):
    loader = DataLoader(RandomDataset(32, 64))
    writer = RecordingWriter(interval)
    _, _, results = predict(writer, tmp_path, loader, return_predictions=return_predictions)
    if return_predictions:
        assert len(results) == 4
    else:
        assert results is None
    assert len(writer.batches) == batches
    assert len(writer.epochs) == epochs


@pytest.mark.parametrize("num_workers", [0, 2])
def test_prediction_writer_batch_indices(tmp_path, num_workers):
    loader = DataLoader(RandomDataset(32, 64), batch_size=4, num_workers=num_workers)
    writer = RecordingWriter("batch_and_epoch")
    trainer, model, _ = predict(writer, tmp_path, loader)
    expected = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert [(t, m, idx, b, d) for t, m, _, idx, b, d in writer.batches] == [
        (trainer, model, indices, i, 0) for i, indices in enumerate(expected)
    ]
    ((t, m, predictions, batch_indices),) = writer.epochs
    assert (t, m, batch_indices) == (trainer, model, [expected])
    assert len(predictions) == 4


def test_batch_level_batch_indices(tmp_path):
    loader = DataLoader(RandomDataset(32, 64), batch_size=4)
    writer = RecordingWriter("batch")
    predict(writer, tmp_path, loader, return_predictions=False)
    assert [b[3] for b in writer.batches] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
    ]


# -- treadle ------------------------------------------------------------------------------------


def test_shuffled_indices_name_the_samples_and_predictions_are_on_cpu(tmp_path):
    """treadle: with a shuffling loader the indices are the dataset rows each batch holds, and
    the epoch's predictions (kept even with return_predictions=False) match them."""
    dataset = RandomDataset(32, 24)
    loader = DataLoader(dataset, batch_size=5, shuffle=True)
    writer = RecordingWriter("epoch")
    _, model, _ = predict(writer, tmp_path, loader, return_predictions=False)
    ((_, _, predictions, batch_indices),) = writer.epochs
    indices = batch_indices[0]
    rows = [i for batch in indices for i in batch]
    assert len(set(rows)) == 20 and set(rows) <= set(range(24))  # 4 batches of 5, shuffled
    assert rows != list(range(20))
    with torch.no_grad():
        for prediction, rows in zip(predictions, indices):
            assert prediction.device.type == "cpu"
            assert torch.allclose(prediction, model(dataset.data[rows]))
    assert loader.batch_sampler.__class__ is torch.utils.data.BatchSampler  # put back


def test_two_dataloaders(tmp_path):
    """treadle: predictions and indices per dataloader, dataloader_idx passed per batch."""
    loaders = [
        DataLoader(RandomDataset(32, 8), batch_size=4),
        DataLoader(RandomDataset(32, 4), batch_size=2),
    ]
    writer = RecordingWriter("batch_and_epoch")
    predict(writer, tmp_path, loaders)
    assert [(b[4], b[5], b[3]) for b in writer.batches] == [
        (0, 0, [0, 1, 2, 3]),
        (1, 0, [4, 5, 6, 7]),
        (0, 1, [0, 1]),
        (1, 1, [2, 3]),
    ]
    ((_, _, predictions, batch_indices),) = writer.epochs
    assert [len(p) for p in predictions] == [2, 2]
    assert batch_indices == [[[0, 1, 2, 3], [4, 5, 6, 7]], [[0, 1], [2, 3]]]


def test_a_loader_without_batch_sampler_gives_empty_indices(tmp_path):
    """treadle (as Lightning): indices cannot be read from a plain iterable; a warning says so."""

    class Batches:  # an iterable of batches, not a DataLoader
        def __iter__(self):
            return iter([torch.randn(2, 32) for _ in range(3)])

        def __len__(self):
            return 3

    batches = Batches()
    writer = RecordingWriter("batch_and_epoch")
    with pytest.warns(UserWarning, match="Couldn't infer the batch indices fetched from your"):
        predict(writer, tmp_path, batches)
    assert [b[3] for b in writer.batches] == [[], [], []]
    assert writer.epochs[0][3] == [[]]
