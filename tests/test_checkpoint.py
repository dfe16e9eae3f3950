"""Checkpoints on disk: atomic writes, weights_only loading, resume (epoch end and mid-epoch)."""

from __future__ import annotations

import os
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle import checkpoint_io, hookimpl


class Net(treadle.Module):
    """Dropout, Adam and a step scheduler: resume must restore RNG, optimizer and scheduler."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.01)
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


class ManualNet(Net):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt, sch = self.optimizers(), self.lr_schedulers()
        opt.zero_grad()
        self.manual_backward(super().training_step(batch, batch_idx))
        opt.step()
        sch.step()


def _loader():
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.randn(40, 4, generator=g), torch.randn(40, 1, generator=g))
    return DataLoader(data, batch_size=8, shuffle=True)  # shuffled from the global RNG


def _trainer(tmp_path, **kw):
    return treadle.Trainer(
        **{
            **dict(
                logger=False,
                enable_progress_bar=False,
                enable_checkpointing=False,
                default_root_dir=tmp_path,
            ),
            **kw,
        }
    )


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


class CrashAt(treadle.Callback):
    """Saves a checkpoint after batch ``batch`` of epoch ``epoch``, then "crashes"."""

    def __init__(self, path, epoch, batch):
        self.path, self.epoch, self.batch = path, epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            trainer.save_checkpoint(self.path)
            raise KeyboardInterrupt("simulated crash")


def test_checkpoint_loads_with_weights_only(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net(), _loader())
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["global_step"] == 5 and ckpt["epoch"] == 1
    assert {"state_dict", "optimizer_states", "lr_schedulers", "rng_states", "loops"} <= set(ckpt)


def test_a_crash_while_writing_keeps_the_last_good_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    checkpoint_io.save_atomic({"good": torch.ones(3)}, path)
    real_save = torch.save

    def crash(obj, f, *a, **k):
        with open(f, "wb") as file:
            file.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape("the save failed (OSError: [Errno 28] No space left on device;"),
    ):
        checkpoint_io.save_atomic({"bad": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(checkpoint_io.load(path)["good"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temporary file left behind


@pytest.mark.parametrize("model_cls", [Net, ManualNet])
def test_resume_at_an_epoch_boundary_matches_an_uninterrupted_run(tmp_path, model_cls):
    treadle.seed_everything(3)
    full = model_cls()
    _trainer(tmp_path, max_epochs=4).fit(full, _loader())

    treadle.seed_everything(3)
    first = model_cls()
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(first, _loader())
    trainer.save_checkpoint(tmp_path / "e2.ckpt")

    torch.manual_seed(12345)  # whatever happens in between must not matter
    resumed = model_cls()
    trainer = _trainer(tmp_path, max_epochs=4)
    trainer.fit(resumed, _loader(), ckpt_path=tmp_path / "e2.ckpt")
    assert trainer.global_step == 20 and trainer.current_epoch == 4
    assert all(torch.equal(a, b) for a, b in zip(_params(full), _params(resumed)))


@pytest.mark.parametrize("model_cls", [Net, ManualNet])
def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path, model_cls):
    treadle.seed_everything(7)
    full = model_cls()
    _trainer(tmp_path, max_epochs=3).fit(full, _loader())

    treadle.seed_everything(7)
    crashed = model_cls()
    path = tmp_path / "mid.ckpt"
    with pytest.raises(SystemExit):  # a KeyboardInterrupt ends fit() with exit code 130
        _trainer(tmp_path, max_epochs=3, callbacks=[CrashAt(path, epoch=1, batch=2)]).fit(
            crashed, _loader()
        )
    assert torch.load(path, weights_only=True)["loops"]["fit"]["batches_done"] == 3

    torch.manual_seed(999)
    resumed = model_cls()
    trainer = _trainer(tmp_path, max_epochs=3)
    trainer.fit(resumed, _loader(), ckpt_path=path)
    assert trainer.global_step == 15
    assert all(torch.equal(a, b) for a, b in zip(_params(full), _params(resumed)))


def test_plugin_state_goes_through_the_checkpoint_hooks(tmp_path):
    class Counter:
        def __init__(self):
            self.steps = 0

        @hookimpl
        def on_train_batch_end(self):
            self.steps += 1

        @hookimpl
        def on_save_checkpoint(self, checkpoint):
            checkpoint["counter"] = {"steps": self.steps}

        @hookimpl
        def on_load_checkpoint(self, checkpoint):
            self.steps = checkpoint["counter"]["steps"]

    first = Counter()
    trainer = _trainer(tmp_path, max_epochs=1, plugins=[first])
    trainer.fit(Net(), _loader())
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    second = Counter()
    trainer = _trainer(tmp_path, max_epochs=2, plugins=[second])
    trainer.fit(Net(), _loader(), ckpt_path=tmp_path / "c.ckpt")
    assert first.steps == 5 and second.steps == 10


def test_model_checkpoint_keeps_the_best(tmp_path):
    from treadle_plugins.checkpointing import ModelCheckpoint

    class Logged(Net):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", monitor="train_loss", save_top_k=2, save_last=True
    )
    trainer = treadle.Trainer(
        max_epochs=4,
        logger=False,
        enable_progress_bar=False,
        callbacks=[ckpt],
        default_root_dir=tmp_path,
    )
    trainer.fit(Logged(), _loader())
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert len(files) == 3 and "last.ckpt" in files
    assert ckpt.best_model_path in [str(tmp_path / "ck" / f) for f in files]
    assert ckpt.best_model_score == min(ckpt.best_k_models.values())
