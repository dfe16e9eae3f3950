# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_lr_scheduler_batch_interval.py
#   (test_step_interval_scheduler_updates, test_epoch_interval_scheduler_updates)
# Edits: none but the header and the __main__ block; the file's own __main__ block ran all its
#   tests. Left out, newer than Lightning 2.6.6 (its `interval="batch"` is refused there):
#   test_batch_interval_scheduler_updates, test_batch_interval_with_frequency,
#   test_batch_interval_with_gradient_accumulation, test_mixed_intervals,
#   test_batch_interval_initialization.
from torch import optim
from torch.optim.lr_scheduler import StepLR

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class LRTrackerModule(BoringModel):
    """Module that tracks learning rates for testing."""

    def __init__(self, *args, scheduler_interval="epoch", scheduler_frequency=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.scheduler_interval = scheduler_interval
        self.scheduler_frequency = scheduler_frequency
        self.lr_history = []
        self.step_history = []

    def on_train_batch_start(self, batch, batch_idx):
        """Track current LR at each batch start."""
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.lr_history.append(lr)
        self.step_history.append(self.trainer.global_step)

    def configure_optimizers(self):
        optimizer = optim.SGD(self.parameters(), lr=1.0)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": self.scheduler_interval,
                "frequency": self.scheduler_frequency,
            },
        }


def test_step_interval_scheduler_updates():
    """Test that step interval schedulers still work correctly."""
    model = LRTrackerModule(scheduler_interval="step")
    trainer = Trainer(
        max_epochs=1, limit_train_batches=10, limit_val_batches=0, logger=False, enable_checkpointing=False
    )
    trainer.fit(model)

    # With step interval and no gradient accumulation, behaves like batch interval
    assert len(model.lr_history) == 10


def test_epoch_interval_scheduler_updates():
    """Test that epoch interval schedulers only update once per epoch."""
    model = LRTrackerModule(scheduler_interval="epoch")
    trainer = Trainer(
        max_epochs=3, limit_train_batches=10, limit_val_batches=0, logger=False, enable_checkpointing=False
    )
    trainer.fit(model)

    # With epoch interval, LR should be constant within an epoch but change between epochs
    lr_history = model.lr_history
    epoch_size = 10

    # All LRs in first epoch should be the same
    assert all(lr == lr_history[0] for lr in lr_history[:epoch_size])
    # All LRs in second epoch should be the same but different from first
    assert all(lr == lr_history[epoch_size] for lr in lr_history[epoch_size : 2 * epoch_size])
    # LRs should decrease from epoch to epoch
    assert lr_history[0] > lr_history[epoch_size]
    assert lr_history[epoch_size] > lr_history[2 * epoch_size]


if __name__ == "__main__":
    test_step_interval_scheduler_updates()
    test_epoch_interval_scheduler_updates()
