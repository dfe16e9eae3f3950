# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/core/test_metric_result_integration.py
#   (test_result_collection_reload, its CPU case)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test as a __main__ program; tmp_path -> a tempfile dir. `self.trainer.fit_loop.restarting`
#   -> a `restarting` flag the program sets on the model before the resumed fit; the asserts on
#   the private `fit_loop._results` (running sums per batch, `results.metrics(on_step=False)
#   ["callback"]`) -> the same epoch means read from the public `trainer.callback_metrics` after
#   the resumed fit ("tracking_epoch", "tracking_2_epoch"); `computed_value == 2` kept. The ddp/GPU
#   cases (CUDA) left out. Split out of t_metric_result_integration.py: Lightning restarts the
#   logged epoch means at the resumed batch (3.5 here, batches 3 and 4), treadle carries on those
#   of the batches before the save (2.0, an uninterrupted run's), a difference listed in
#   docs/migration.md (11) and docs/checkpoints.md ("Resuming exactly").
import tempfile
from contextlib import suppress

import torch
from torch import tensor
from torchmetrics import Metric

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


class DummyMeanMetric(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("sum", tensor(0), dist_reduce_fx=torch.sum)
        self.add_state("count", tensor(0), dist_reduce_fx=torch.sum)

    def update(self, increment):
        self.sum += increment
        self.count += 1

    def compute(self):
        return self.sum // self.count

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(sum={self.sum}, count={self.count})"


def result_collection_reload(default_root_dir):
    class CustomException(Exception):
        pass

    batches = 5

    class ExtendedBoringModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.breaking_batch_idx = 3
            self.has_validated_sum = False
            self.dummy_metric = DummyMeanMetric()
            self.restarting = False

        def training_step(self, batch, batch_idx):
            # We run 5 batches, meaning batch_idx from [0..4]
            # When not restarting, it simulates a failure on `batch_idx=3` and test the state after reload
            if not self.restarting and batch_idx == self.breaking_batch_idx:
                # simulate failure mid epoch
                raise CustomException

            self.log("tracking", batch_idx, on_step=True, on_epoch=True)
            self.log("tracking_2", batch_idx, on_step=True, on_epoch=True, sync_dist=True)

            self.dummy_metric(batch_idx)
            self.log("tracking_metric", self.dummy_metric, on_step=True, on_epoch=True)

            return super().training_step(batch, batch_idx)

        def on_train_epoch_end(self) -> None:
            if self.restarting:
                computed_value = self.dummy_metric.compute()
                assert computed_value == 2, computed_value
                self.has_validated_sum = True

    model = ExtendedBoringModel()
    trainer_kwargs = {
        "max_epochs": 1,
        "limit_train_batches": batches,
        "limit_val_batches": 0,
        "accelerator": "auto",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": default_root_dir,
        "callbacks": OnExceptionCheckpoint(default_root_dir),
    }
    trainer = Trainer(**trainer_kwargs)

    with suppress(CustomException):
        trainer.fit(model)
    assert not model.has_validated_sum

    ckpt_path = f"{default_root_dir}/on_exception.ckpt"

    model.restarting = True
    trainer = Trainer(**trainer_kwargs)
    trainer.fit(model, ckpt_path=ckpt_path)
    assert model.has_validated_sum

    # the state of the results before the exception is not saved and restored, so the total starts
    # after the breaking_batch_idx
    total = sum(range(model.breaking_batch_idx, batches))
    expected = total / (batches - model.breaking_batch_idx)
    metrics = trainer.callback_metrics
    assert metrics["tracking_epoch"] == expected, dict(metrics)
    assert metrics["tracking_2_epoch"] == expected, dict(metrics)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        result_collection_reload(d)
    print("OK")
