"""WeightAveraging and EMAWeightAveraging.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_weight_averaging.py`` (Apache-2.0,
Copyright The Lightning AI team): the behaviour each test checks is Lightning's; the code is
translated to treadle's names and made smaller (4 epochs instead of 8 where the count does not
matter). Lightning's ``trainer.fit_loop.restarting`` check is not needed: a run resumed from an
epoch-end checkpoint starts at the next epoch here. The GPU, MPS, DDP and FSDP variants are not
ported. Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import logging
import os
from copy import deepcopy
from typing import Any

import pytest
import torch
from boring_model import BoringModel, RandomDataset, quiet
from torch import Tensor, nn
from torch.optim.swa_utils import get_swa_avg_fn
from torch.utils.data import DataLoader, IterableDataset

import treadle
from treadle.callbacks import EMAWeightAveraging, WeightAveraging


class AvgModel(BoringModel):
    def __init__(self, batch_norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 32)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(32))
        layers += [nn.ReLU(), nn.Linear(32, 2)]
        self.layer = nn.Sequential(*layers)
        self.crash_on_epoch: int | None = None

    def training_step(self, batch, batch_idx):
        if self.crash_on_epoch and self.trainer.current_epoch >= self.crash_on_epoch:
            raise RuntimeError("CRASH")
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


class Iterable(IterableDataset):
    def __init__(self, size: int, count: int) -> None:
        self.data = RandomDataset(size, count).data

    def __iter__(self):
        return iter(self.data)


def ema_avg(ema_param: Tensor, current_param: Tensor, num_averaged: Tensor) -> Tensor:
    return 0.999 * ema_param + 0.001 * current_param


class CountingMixin:
    """Counts the swaps and copies; Lightning's checks of them at each epoch's end."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self.swap_calls = 0
        self.copy_calls = 0
        self.first_epoch: int | None = None

    def _swap_models(self, *args: Any) -> None:
        self.swap_calls += 1
        super()._swap_models(*args)  # type: ignore[misc]

    def _copy_average_to_current(self, *args: Any) -> None:
        self.copy_calls += 1
        super()._copy_average_to_current(*args)  # type: ignore[misc]

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)  # type: ignore[misc]
        assert self.swap_calls == 0
        assert self.copy_calls == 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)  # type: ignore[misc]
        if self.first_epoch is None:
            self.first_epoch = trainer.current_epoch


class EMACallback(CountingMixin, WeightAveraging):
    def __init__(self, validates: bool = True, **kwargs: Any) -> None:
        super().__init__(avg_fn=ema_avg, **kwargs)
        self.swaps_an_epoch = 2 if validates else 0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        assert self._average_model.n_averaged == trainer.global_step
        epochs = trainer.current_epoch + 1 - self.first_epoch
        assert self.swap_calls == epochs * self.swaps_an_epoch
        assert self.copy_calls == 0

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        # 32 samples, batch_size=4, accumulate_grad_batches=2: 4 optimizer steps an epoch
        assert self._average_model.n_averaged == trainer.max_epochs * 4
        epochs = trainer.max_epochs - self.first_epoch
        assert self.swap_calls == epochs * self.swaps_an_epoch
        assert self.copy_calls == 1


class SWACallback(CountingMixin, WeightAveraging):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(avg_fn=get_swa_avg_fn(), **kwargs)

    def should_update(self, step_idx=None, epoch_idx=None) -> bool:
        return epoch_idx in (3, 5, 7)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        epoch = trainer.current_epoch
        assert self._average_model.n_averaged == sum(e <= epoch for e in (3, 5, 7))
        assert self.swap_calls == (epoch + 1 - self.first_epoch) * 2
        assert self.copy_calls == 0

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        assert self._average_model.n_averaged == 3
        assert self.copy_calls == 1


def _train(model, dataset, tmp_path, callback, ckpt_path=None, will_crash=False, **kwargs):
    args = quiet(
        tmp_path,
        max_epochs=8,
        num_sanity_val_steps=0,
        enable_checkpointing=will_crash,
        accumulate_grad_batches=2,
        deterministic=True,
    )
    trainer = treadle.Trainer(**{**args, **kwargs}, callbacks=[callback])
    loader = DataLoader(dataset, batch_size=4, shuffle=False)
    if will_crash:
        with pytest.raises(RuntimeError, match="CRASH"):
            trainer.fit(model, loader, ckpt_path=ckpt_path)
    else:
        trainer.fit(model, loader, ckpt_path=ckpt_path)
    assert trainer.lightning_module is model
    return trainer


def test_weight_averaging_deepcopy(tmp_path):
    """The average is a copy of the Module without its Trainer (nor the loaders' data)."""

    class CheckingCallback(WeightAveraging):
        setup_called = False

        def setup(self, trainer, pl_module, stage) -> None:
            super().setup(trainer, pl_module, stage)
            copy = self._average_model.module
            assert copy.train_dataloader is not pl_module.train_dataloader
            assert copy.train_dataloader.__self__ is copy
            assert copy._trainer is None
            assert pl_module.trainer is trainer
            self.setup_called = True

    callback = CheckingCallback()
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=True), callbacks=[callback])
    trainer.fit(BoringModel(), train_dataloaders=DataLoader(RandomDataset(32, 2)))
    assert callback.setup_called


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("iterable_dataset", [True, False])
def test_ema(tmp_path, batch_norm, iterable_dataset):
    dataset = Iterable(32, 32) if iterable_dataset else RandomDataset(32, 32)
    # as Lightning, an epoch over a loader without a length validates at its end (and swaps)
    callback = EMACallback(validates=True)
    _train(AvgModel(batch_norm=batch_norm), dataset, tmp_path, callback, max_epochs=4)


@pytest.mark.parametrize("crash_on_epoch", [1, 3])
def test_ema_resume(tmp_path, crash_on_epoch):
    """A run stopped and resumed from its last epoch-end checkpoint ends with the weights of
    the run that was not stopped."""
    dataset = RandomDataset(32, 32)
    model1 = AvgModel()
    model2 = deepcopy(model1)
    _train(model1, dataset, tmp_path / "whole", EMACallback(), max_epochs=4)

    model2.crash_on_epoch = crash_on_epoch
    _train(model2, dataset, tmp_path, EMACallback(), will_crash=True, max_epochs=4)
    checkpoints = tmp_path / "checkpoints"
    names = os.listdir(checkpoints)
    assert len(names) == 1
    path = str(checkpoints / names[0])
    saved = torch.load(path, weights_only=True)
    assert set(saved["state_dict"]) == set(saved["current_model_state"])
    assert set(saved["averaging_state"]) == {"n_averaged"}
    resumed = AvgModel.load_from_checkpoint(path)
    _train(resumed, dataset, tmp_path, EMACallback(), ckpt_path=path, max_epochs=4)
    for p1, p2 in zip(model1.parameters(), resumed.parameters()):
        assert torch.allclose(p1, p2)


def test_swa(tmp_path):
    _train(AvgModel(), RandomDataset(32, 32), tmp_path, SWACallback())


def test_ema_configure_model(tmp_path, caplog):
    callback = EMACallback()
    with pytest.warns(UserWarning, match="overrides the configure_model callback"):
        _train(LargeModel(), RandomDataset(32, 32), tmp_path, callback, max_epochs=2)
    assert isinstance(callback._average_model.module.layer, nn.Sequential)


def test_ema_weight_averaging_should_update():
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


def test_ema_weight_averaging_checkpoint_save_load(tmp_path):
    model = AvgModel()
    model.crash_on_epoch = 2
    dataset = RandomDataset(32, 32)
    callback = EMAWeightAveraging(decay=0.99, update_every_n_steps=2)
    _train(model, dataset, tmp_path, callback, will_crash=True, max_epochs=4)
    (path,) = (tmp_path / "checkpoints").glob("*.ckpt")
    callback2 = EMAWeightAveraging(decay=0.99, update_every_n_steps=2)
    _train(AvgModel(), dataset, tmp_path, callback2, ckpt_path=str(path), max_epochs=4)
    # 4 steps an epoch, every second step: 2 updates an epoch, 8 in all (4 before the crash)
    assert callback2._average_model.n_averaged == 8
    assert callback2._latest_update_step == 15  # step_idx 14: global step 15


# -- treadle ------------------------------------------------------------------------------------


def test_ema_weights_match_a_hand_computed_average(tmp_path):
    """EMAWeightAveraging(decay=d): after the run the Module holds d * avg + (1 - d) * w over
    the weights after each optimizer step, the first taken as is (torch's AveragedModel)."""
    seen: list[list[Tensor]] = []

    class Recorder(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append([p.detach().clone() for p in pl_module.parameters()])

    model = AvgModel(batch_norm=False)
    callback = EMAWeightAveraging(decay=0.5, update_starting_at_step=2)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_val_batches=0), callbacks=[Recorder(), callback]
    )
    trainer.fit(model, DataLoader(RandomDataset(32, 16), batch_size=4))
    assert len(seen) == 4
    expected = seen[2]  # steps 0 and 1 are skipped; step 2 starts the average
    expected = [0.5 * a + 0.5 * w for a, w in zip(expected, seen[3])]
    for got, want in zip(model.parameters(), expected):
        torch.testing.assert_close(got, want)


def test_validation_runs_on_the_averaged_weights(tmp_path):
    """During validation the Module holds the average; after it, its own weights again."""
    during: list[Tensor] = []

    class ValModel(AvgModel):
        def validation_step(self, batch, batch_idx):
            during.append(self.layer[0].weight.detach().clone())
            return super().validation_step(batch, batch_idx)

    model = ValModel(batch_norm=False)
    callback = WeightAveraging(avg_fn=get_swa_avg_fn())
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1),
        callbacks=[callback],
    )
    trainer.fit(model)
    averaged = callback._average_model.module.layer[0].weight
    # on_train_end copied the average in: the Module and the average agree, and validation
    # (after the last step) saw those same averaged values
    torch.testing.assert_close(model.layer[0].weight, averaged)
    torch.testing.assert_close(during[-1], averaged)


def test_checkpoint_outside_fit_is_said(tmp_path, caplog):
    callback = WeightAveraging()
    trainer = treadle.Trainer(**quiet(tmp_path), callbacks=[callback])
    trainer.validate(AvgModel())
    with caplog.at_level(logging.INFO):
        trainer.save_checkpoint(tmp_path / "v.ckpt")
    assert "saving a checkpoint outside the 'fit' stage" in caplog.text
    saved = torch.load(tmp_path / "v.ckpt", weights_only=True)
    assert "current_model_state" not in saved
