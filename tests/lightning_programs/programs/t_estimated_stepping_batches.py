# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/properties/test_estimated_stepping_batches.py
#   (test_num_stepping_batches_basic, _raises_info_with_no_dataloaders_loaded, _iterable_dataset,
#   _infinite_training, _with_max_steps, _accumulate_gradients)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted (parametrize -> loops,
#   `pytest.raises` -> try/except, caplog -> a handler on the root logger with Lightning's
#   loggers propagating). The tests attached the model through Lightning's internals
#   (`trainer._data_connector.attach_data(model)`, `trainer.strategy.connect(model)`,
#   `trainer.reset_train_dataloader()`): here `trainer.estimated_stepping_batches` is read where
#   Lightning documents it, from `configure_optimizers` (the train loader not loaded yet: the
#   INFO line) or `on_train_start` (loaded: no line), during `fit()`. The iterable dataset's
#   `size=7` -> 32 (BoringModel's input), `count=1e10` -> `10**10` (`range` takes an int) and
#   `max_steps` 1000 -> 50, since it now trains;
#   the infinite run is stopped after its first batch with `trainer.should_stop`.
#   Left out: test_num_stepping_batches_with_diff_multiple_grad_accum_factor (the error it
#   expects is gone from Lightning 2.6.6, which returns a number there: checked), the GPU/DDP/DP (faked CUDA
#   devices, private `parallel_devices`), TPU and IPU tests.
import logging

from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomIterableDataset


class EstimateModel(BoringModel):
    """Reads `trainer.estimated_stepping_batches` in `configure_optimizers` (or `on_train_start`)."""

    def __init__(self, when="configure_optimizers", stop=False):
        super().__init__()
        self.when = when
        self.stop = stop
        self.estimate = None

    def configure_optimizers(self):
        if self.when == "configure_optimizers":
            self.estimate = self.trainer.estimated_stepping_batches
        return super().configure_optimizers()

    def on_train_start(self):
        if self.when == "on_train_start":
            self.estimate = self.trainer.estimated_stepping_batches

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.stop:
            self.trainer.should_stop = True


def fit(model, **kwargs):
    loaders = kwargs.pop("train_dataloaders", None)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, **kwargs)
    trainer.fit(model, train_dataloaders=loaders)
    return trainer


def test_num_stepping_batches_basic():
    """Test number of stepping batches in a general case."""
    max_epochs = 2
    model = EstimateModel()
    fit(model, max_epochs=max_epochs)
    assert model.estimate == 64 * max_epochs


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def logged(fn):
    for name in ("lightning.pytorch", "lightning.fabric", "treadle"):
        logging.getLogger(name).propagate = True
    handler = ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        fn()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return "\n".join(handler.records)


def test_num_stepping_batches_raises_info_with_no_dataloaders_loaded():
    """Test that an info message is generated when dataloaders are loaded explicitly if they are not already
    configured."""
    message = "to estimate number of stepping batches"

    model = EstimateModel(when="on_train_start")
    text = logged(lambda: fit(model, max_epochs=1))
    assert model.estimate == 64
    assert message not in text

    model = EstimateModel(when="configure_optimizers")
    text = logged(lambda: fit(model, max_epochs=1))
    assert model.estimate == 64
    assert message in text, text


def test_num_stepping_batches_iterable_dataset():
    """Test the stepping batches with iterable dataset configured with max steps."""
    max_steps = 50
    model = EstimateModel()
    train_dl = DataLoader(RandomIterableDataset(size=32, count=10**10))
    fit(model, max_steps=max_steps, train_dataloaders=train_dl)
    assert model.estimate == max_steps


def test_num_stepping_batches_infinite_training():
    """Test that stepping batches is "inf" when `Trainer` is configured for infinite training."""
    model = EstimateModel(stop=True)
    fit(model, max_steps=-1, max_epochs=-1)
    assert model.estimate == float("inf")


def test_num_stepping_batches_with_max_steps(max_steps):
    """Test stepping batches with `max_steps`."""
    trainer = Trainer(max_steps=max_steps)
    model = BoringModel()
    trainer.fit(model)
    assert trainer.estimated_stepping_batches == max_steps


def test_num_stepping_batches_accumulate_gradients(accumulate_grad_batches, expected_steps):
    """Test the total stepping batches when accumulation grad batches is configured."""
    model = EstimateModel()
    fit(model, max_epochs=1, accumulate_grad_batches=accumulate_grad_batches)
    assert model.estimate == expected_steps, (accumulate_grad_batches, model.estimate)


if __name__ == "__main__":
    test_num_stepping_batches_basic()
    test_num_stepping_batches_raises_info_with_no_dataloaders_loaded()
    test_num_stepping_batches_iterable_dataset()
    test_num_stepping_batches_infinite_training()
    for max_steps in (2, 100):
        test_num_stepping_batches_with_max_steps(max_steps)
    for accumulate_grad_batches, expected_steps in [(2, 32), (3, 22)]:
        test_num_stepping_batches_accumulate_gradients(accumulate_grad_batches, expected_steps)
    print("OK")
