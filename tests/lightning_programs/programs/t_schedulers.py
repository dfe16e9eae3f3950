# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/optimization/test_optimizers.py
#   (test_reducelronplateau_scheduling, test_optimizer_return_options-style return forms,
#    test_lr_scheduler_with_extra_keys-style interval "step", test_unknown_configure_optimizers_raises)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; the LRSchedulerConfig equality -> its public fields; pytest.raises -> try/except.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import optim


def test_reducelronplateau_scheduling(tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("foo", batch_idx)
            return super().training_step(batch, batch_idx)

        def configure_optimizers(self):
            optimizer = optim.Adam(self.parameters())
            return {
                "optimizer": optimizer,
                "lr_scheduler": optim.lr_scheduler.ReduceLROnPlateau(optimizer),
                "monitor": "foo",
            }

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_val_batches=1, limit_train_batches=1)
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    lr_scheduler = trainer.lr_scheduler_configs[0]
    assert lr_scheduler.monitor == "foo"
    assert lr_scheduler.reduce_on_plateau
    assert lr_scheduler.interval == "epoch"
    assert lr_scheduler.frequency == 1
    assert lr_scheduler.strict


def test_step_interval(tmp_path):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer = optim.SGD(self.parameters(), lr=0.1)
            scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
            return [optimizer], [{"scheduler": scheduler, "interval": "step", "name": "my_lr"}]

    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=4, limit_val_batches=1)
    model = TestModel()
    trainer.fit(model)
    assert len(trainer.optimizers) == 1
    assert trainer.lr_scheduler_configs[0].name == "my_lr"
    assert abs(trainer.optimizers[0].param_groups[0]["lr"] - 0.1 * 0.5**4) < 1e-12


def test_frequency(tmp_path):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer = optim.SGD(self.parameters(), lr=0.1)
            scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "frequency": 2}}

    trainer = Trainer(default_root_dir=tmp_path, max_epochs=4, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(TestModel())
    assert abs(trainer.optimizers[0].param_groups[0]["lr"] - 0.1 * 0.5**2) < 1e-12


def test_plateau_without_monitor_raises(tmp_path):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer = optim.Adam(self.parameters())
            return [optimizer], [optim.lr_scheduler.ReduceLROnPlateau(optimizer)]

    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    try:
        trainer.fit(TestModel())
    except MisconfigurationException as exc:
        assert "monitor" in str(exc)
    else:
        raise AssertionError("no error")


if __name__ == "__main__":
    for fn in (test_reducelronplateau_scheduling, test_step_interval, test_frequency, test_plateau_without_monitor_raises):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    print("OK")
