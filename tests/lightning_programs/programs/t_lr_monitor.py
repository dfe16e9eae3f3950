# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_lr_monitor.py
#   (test_lr_monitor_single_lr, test_lr_monitor_no_lr_scheduler_single_lr,
#    test_lr_monitor_param_groups)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; the param-group split adapted to BoringModel's two parameters.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.demos.boring_classes import BoringModel


def test_lr_monitor_single_lr(tmp_path):
    model = BoringModel()
    lr_monitor = LearningRateMonitor()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_val_batches=0.1,
        limit_train_batches=0.5,
        callbacks=[lr_monitor],
    )
    trainer.fit(model)
    assert lr_monitor.lrs, "No learning rates logged"
    assert all(v is None for v in lr_monitor.last_momentum_values.values()), "Momentum should not be logged by default"
    assert len(lr_monitor.lrs) == len(trainer.lr_scheduler_configs)
    assert list(lr_monitor.lrs) == ["lr-SGD"]


def test_lr_monitor_no_lr_scheduler_single_lr(tmp_path):
    class CustomBoringModel(BoringModel):
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

    model = CustomBoringModel()
    lr_monitor = LearningRateMonitor(log_momentum=True)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_val_batches=2,
        limit_train_batches=5,
        log_every_n_steps=1,
        callbacks=[lr_monitor],
    )
    trainer.fit(model)
    assert lr_monitor.lrs, "No learning rates logged"
    assert len(lr_monitor.lrs) == len(trainer.optimizers)
    assert list(lr_monitor.lrs) == ["lr-SGD"]
    assert all(v == 0.9 for v in lr_monitor.last_momentum_values.values())


def test_lr_monitor_param_groups(tmp_path):
    class CustomClassificationModel(BoringModel):
        def configure_optimizers(self):
            param_groups = [
                {"params": list(self.parameters())[:1], "lr": 0.1 * 0.1},
                {"params": list(self.parameters())[1:], "lr": 0.1},
            ]
            optimizer = torch.optim.Adam(param_groups)
            lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.1)
            return [optimizer], [lr_scheduler]

    model = CustomClassificationModel()
    lr_monitor = LearningRateMonitor()
    trainer = Trainer(
        default_root_dir=tmp_path, max_epochs=2, limit_val_batches=0.1, limit_train_batches=0.5, callbacks=[lr_monitor]
    )
    trainer.fit(model)
    assert lr_monitor.lrs, "No learning rates logged"
    assert len(lr_monitor.lrs) == 2 * len(trainer.lr_scheduler_configs)
    assert list(lr_monitor.lrs) == ["lr-Adam/pg1", "lr-Adam/pg2"]


if __name__ == "__main__":
    for fn in (test_lr_monitor_single_lr, test_lr_monitor_no_lr_scheduler_single_lr, test_lr_monitor_param_groups):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    print("OK")
