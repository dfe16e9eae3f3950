# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_prediction_writer.py
#   (test_prediction_writer_invalid_write_interval, test_prediction_writer_hook_call_intervals,
#   test_prediction_writer_batch_indices, test_batch_level_batch_indices)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> a loop); pytest.raises ->
#   try/except; the CombinedLoader test (Lightning's own loader class) and the assert on the
#   private `trainer.predict_loop.epoch_batch_indices` left out; default_root_dir -> a tempfile dir.
#   `unittest.mock` is kept as published: it records the writer's calls, it stands in for nothing.
import tempfile
from unittest.mock import ANY, Mock, call

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader

ROOT = tempfile.mkdtemp()


class DummyPredictionWriter(BasePredictionWriter):
    def write_on_batch_end(self, *_, **__):
        pass

    def write_on_epoch_end(self, *_, **__):
        pass


def test_prediction_writer_invalid_write_interval():
    """Test that configuring an unknown interval name raises an error."""
    try:
        DummyPredictionWriter("something")
    except MisconfigurationException as err:
        assert "`write_interval` should be one of ['batch" in str(err), err
    else:
        raise AssertionError("no MisconfigurationException")


def test_prediction_writer_hook_call_intervals():
    """Test that the `write_on_batch_end` and `write_on_epoch_end` hooks get invoked based on the defined
    interval."""
    DummyPredictionWriter.write_on_batch_end = Mock()
    DummyPredictionWriter.write_on_epoch_end = Mock()

    dataloader = DataLoader(RandomDataset(32, 64))

    model = BoringModel()
    cb = DummyPredictionWriter("batch_and_epoch")
    trainer = Trainer(limit_predict_batches=4, callbacks=cb, default_root_dir=ROOT)
    results = trainer.predict(model, dataloaders=dataloader)
    assert len(results) == 4
    assert cb.write_on_batch_end.call_count == 4
    assert cb.write_on_epoch_end.call_count == 1

    DummyPredictionWriter.write_on_batch_end.reset_mock()
    DummyPredictionWriter.write_on_epoch_end.reset_mock()

    cb = DummyPredictionWriter("batch_and_epoch")
    trainer = Trainer(limit_predict_batches=4, callbacks=cb, default_root_dir=ROOT)
    trainer.predict(model, dataloaders=dataloader, return_predictions=False)
    assert cb.write_on_batch_end.call_count == 4
    assert cb.write_on_epoch_end.call_count == 1

    DummyPredictionWriter.write_on_batch_end.reset_mock()
    DummyPredictionWriter.write_on_epoch_end.reset_mock()

    cb = DummyPredictionWriter("batch")
    trainer = Trainer(limit_predict_batches=4, callbacks=cb, default_root_dir=ROOT)
    trainer.predict(model, dataloaders=dataloader, return_predictions=False)
    assert cb.write_on_batch_end.call_count == 4
    assert cb.write_on_epoch_end.call_count == 0

    DummyPredictionWriter.write_on_batch_end.reset_mock()
    DummyPredictionWriter.write_on_epoch_end.reset_mock()

    cb = DummyPredictionWriter("epoch")
    trainer = Trainer(limit_predict_batches=4, callbacks=cb, default_root_dir=ROOT)
    trainer.predict(model, dataloaders=dataloader, return_predictions=False)
    assert cb.write_on_batch_end.call_count == 0
    assert cb.write_on_epoch_end.call_count == 1


def test_prediction_writer_batch_indices(num_workers):
    DummyPredictionWriter.write_on_batch_end = Mock()
    DummyPredictionWriter.write_on_epoch_end = Mock()

    dataloader = DataLoader(RandomDataset(32, 64), batch_size=4, num_workers=num_workers)
    model = BoringModel()
    writer = DummyPredictionWriter("batch_and_epoch")
    trainer = Trainer(limit_predict_batches=4, callbacks=writer, default_root_dir=ROOT)
    trainer.predict(model, dataloaders=dataloader)

    writer.write_on_batch_end.assert_has_calls(
        [
            call(trainer, model, ANY, [0, 1, 2, 3], ANY, 0, 0),
            call(trainer, model, ANY, [4, 5, 6, 7], ANY, 1, 0),
            call(trainer, model, ANY, [8, 9, 10, 11], ANY, 2, 0),
            call(trainer, model, ANY, [12, 13, 14, 15], ANY, 3, 0),
        ]
    )

    writer.write_on_epoch_end.assert_has_calls(
        [
            call(trainer, model, ANY, [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]),
        ]
    )


def test_batch_level_batch_indices():
    """Test that batch_indices are returned when `return_predictions=False`."""
    DummyPredictionWriter.write_on_batch_end = Mock()

    class CustomBoringModel(BoringModel):
        pass  # edit: its on_predict_epoch_end asserted on the private predict_loop

    writer = DummyPredictionWriter("batch")
    model = CustomBoringModel()
    dataloader = DataLoader(RandomDataset(32, 64), batch_size=4)
    trainer = Trainer(limit_predict_batches=4, callbacks=writer, default_root_dir=ROOT)
    trainer.predict(model, dataloaders=dataloader, return_predictions=False)

    writer.write_on_batch_end.assert_has_calls(
        [
            call(trainer, model, ANY, [0, 1, 2, 3], ANY, 0, 0),
            call(trainer, model, ANY, [4, 5, 6, 7], ANY, 1, 0),
            call(trainer, model, ANY, [8, 9, 10, 11], ANY, 2, 0),
            call(trainer, model, ANY, [12, 13, 14, 15], ANY, 3, 0),
        ]
    )


if __name__ == "__main__":
    test_prediction_writer_invalid_write_interval()
    test_prediction_writer_hook_call_intervals()
    for num_workers in (0, 2):
        test_prediction_writer_batch_indices(num_workers)
    test_batch_level_batch_indices()
    print("OK")
