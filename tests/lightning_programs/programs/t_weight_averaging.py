# Source: the behaviour of https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_weight_averaging.py
#   (test_weight_averaging_deepcopy, test_ema, test_ema_resume, test_swa,
#    test_ema_configure_model, test_ema_weight_averaging_should_update,
#    test_ema_weight_averaging_checkpoint_save_load), written as one __main__ program.
# Edits: the tests turned into one program asserting what they asserted (parametrize -> one
#   or two of its values, 4 epochs where the test's 8 are not counted on); the EMA counting
#   callback takes the first epoch without `trainer.fit_loop.restarting` (a resumed run here
#   restarts from an epoch-end checkpoint, at the next epoch); the iterable-dataset, GPU, MPS,
#   DDP and FSDP variants left out.
import os
import tempfile
from copy import deepcopy
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import get_swa_avg_fn
from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EMAWeightAveraging, WeightAveraging
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset


class AvgModel(BoringModel):
    def __init__(self, batch_norm=True):
        super().__init__()
        layers = [nn.Linear(32, 32)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(32))
        layers += [nn.ReLU(), nn.Linear(32, 2)]
        self.layer = nn.Sequential(*layers)
        self.crash_on_epoch = None

    def training_step(self, batch, batch_idx):
        if self.crash_on_epoch and self.trainer.current_epoch >= self.crash_on_epoch:
            raise Exception("CRASH")
        return super().training_step(batch, batch_idx)

    def configure_optimizers(self):
        return torch.optim.SGD(self.layer.parameters(), lr=0.1)


class LargeModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer = None

    def configure_model(self):
        if self.layer is None:
            self.layer = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class EMAAverage:
    def __init__(self, decay=0.999):
        self.decay = decay

    @torch.no_grad()
    def __call__(self, ema_param, current_param, num_averaged):
        return self.decay * ema_param + (1 - self.decay) * current_param


class Counting(WeightAveraging):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.swap_calls = 0
        self.copy_calls = 0
        self.first_epoch = None

    def _swap_models(self, *args, **kwargs):
        self.swap_calls += 1
        return super()._swap_models(*args, **kwargs)

    def _copy_average_to_current(self, *args, **kwargs):
        self.copy_calls += 1
        return super()._copy_average_to_current(*args, **kwargs)

    def on_train_start(self, trainer, pl_module):
        super().on_train_start(trainer, pl_module)
        assert self.swap_calls == 0
        assert self.copy_calls == 0

    def on_train_epoch_start(self, trainer, *args):
        super().on_train_epoch_start(trainer, *args)
        if self.first_epoch is None:
            self.first_epoch = trainer.current_epoch


class EMACallback(Counting):
    def __init__(self):
        super().__init__(avg_fn=EMAAverage())

    def on_train_epoch_end(self, trainer, *args):
        super().on_train_epoch_end(trainer, *args)
        assert self._average_model.n_averaged == trainer.global_step
        assert self.swap_calls == (trainer.current_epoch + 1 - self.first_epoch) * 2
        assert self.copy_calls == 0

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)
        # 32 samples, batch_size=4, accumulate_grad_batches=2: 4 optimizer steps an epoch
        assert self._average_model.n_averaged == trainer.max_epochs * 4
        assert self.swap_calls == (trainer.max_epochs - self.first_epoch) * 2
        assert self.copy_calls == 1


class SWACallback(Counting):
    def __init__(self):
        super().__init__(avg_fn=get_swa_avg_fn())

    def should_update(self, step_idx=None, epoch_idx=None):
        return epoch_idx in (3, 5, 7)

    def on_train_epoch_end(self, trainer, *args):
        super().on_train_epoch_end(trainer, *args)
        expected = sum(e <= trainer.current_epoch for e in (3, 5, 7))
        assert self._average_model.n_averaged == expected
        assert self.swap_calls == (trainer.current_epoch + 1 - self.first_epoch) * 2

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)
        assert self._average_model.n_averaged == 3
        assert self.copy_calls == 1


def train(model, root, callback, max_epochs=4, ckpt_path=None, will_crash=False):
    trainer = Trainer(
        accelerator="cpu",
        logger=False,
        callbacks=callback,
        max_epochs=max_epochs,
        num_sanity_val_steps=0,
        enable_checkpointing=will_crash,
        enable_progress_bar=False,
        enable_model_summary=False,
        accumulate_grad_batches=2,
        deterministic=True,
        default_root_dir=root,
    )
    loader = DataLoader(DATASET, batch_size=4, shuffle=False)
    try:
        trainer.fit(model, loader, ckpt_path=ckpt_path)
    except Exception as err:
        assert will_crash and "CRASH" in str(err), err
    else:
        assert not will_crash
    assert trainer.lightning_module == model
    return trainer


def deepcopy_check(root):
    class CheckingCallback(WeightAveraging):
        setup_called = False

        def setup(self, trainer, pl_module, stage):
            super().setup(trainer, pl_module, stage)
            copy = self._average_model.module
            assert copy.train_dataloader is not pl_module.train_dataloader
            assert copy.train_dataloader.__self__ == copy
            assert copy._trainer is None
            self.setup_called = True

    callback = CheckingCallback()
    trainer = Trainer(default_root_dir=root, callbacks=callback, fast_dev_run=True, logger=False)
    trainer.fit(BoringModel(), train_dataloaders=DataLoader(RandomDataset(32, 2)))
    assert callback.setup_called


def ema_resume(root, crash_on_epoch):
    model1 = AvgModel()
    model2 = deepcopy(model1)
    train(model1, f"{root}/whole", EMACallback())
    model2.crash_on_epoch = crash_on_epoch
    train(model2, root, EMACallback(), will_crash=True)
    names = os.listdir(Path(root) / "checkpoints")
    assert len(names) == 1
    path = str(Path(root) / "checkpoints" / names[0])
    model3 = AvgModel.load_from_checkpoint(path)
    train(model3, root, EMACallback(), ckpt_path=path)
    for p1, p3 in zip(model1.parameters(), model3.parameters()):
        assert torch.allclose(p1, p3)


def should_update():
    callback = EMAWeightAveraging(update_every_n_steps=5, update_starting_at_step=10)
    assert not callback.should_update(step_idx=5)
    assert not callback.should_update(step_idx=9)
    assert callback.should_update(step_idx=10)
    assert not callback.should_update(step_idx=11)
    assert not callback.should_update(step_idx=14)
    assert callback.should_update(step_idx=15)
    callback = EMAWeightAveraging(update_starting_at_epoch=2)
    assert not callback.should_update(epoch_idx=0)
    assert not callback.should_update(epoch_idx=1)
    assert callback.should_update(epoch_idx=2)
    assert callback.should_update(epoch_idx=3)


def checkpoint_save_load(root):
    model = AvgModel()
    model.crash_on_epoch = 2
    train(model, root, EMAWeightAveraging(decay=0.99, update_every_n_steps=2), will_crash=True)
    (path,) = (Path(root) / "checkpoints").glob("*.ckpt")
    callback = EMAWeightAveraging(decay=0.99, update_every_n_steps=2)
    train(AvgModel(), root, callback, ckpt_path=str(path))
    assert callback._average_model is not None
    assert callback._average_model.n_averaged == 8


if __name__ == "__main__":
    DATASET = RandomDataset(32, 32)  # one dataset for every run, as the test's
    with tempfile.TemporaryDirectory() as d:
        deepcopy_check(d)
    with tempfile.TemporaryDirectory() as d:
        train(AvgModel(batch_norm=False), d, EMACallback())
    with tempfile.TemporaryDirectory() as d:
        ema_resume(d, crash_on_epoch=3)
    with tempfile.TemporaryDirectory() as d:
        train(AvgModel(), d, SWACallback(), max_epochs=8)
    with tempfile.TemporaryDirectory() as d:
        callback = EMACallback()
        train(LargeModel(), d, callback, max_epochs=2)
        assert isinstance(callback._average_model.module.layer, nn.Sequential)
    should_update()
    with tempfile.TemporaryDirectory() as d:
        checkpoint_save_load(d)
    print("OK")
