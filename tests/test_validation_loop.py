"""The validation loop and ``trainer.validate`` as a Lightning 2 user meets them.

When validation runs (``val_check_interval``, ``check_val_every_n_epoch``, the sanity check,
``limit_val_batches``), in which modes, with which dataloaders, and what ``validate`` returns.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest_helpers import (
    IN_DIM,
    make_loader,
    make_trainer,
    snapshot,
)
from trainer_api_probes import Recorder


@pytest.mark.parametrize(
    "interval,expected",
    [
        (4, [(0, 4), (0, 8), (1, 12), (1, 16)]),
        (0.25, [(0, 2), (0, 4), (0, 6), (0, 8), (1, 10), (1, 12), (1, 14), (1, 16)]),
        (1.0, [(0, 8), (1, 16)]),
        (3, [(0, 3), (0, 6), (1, 11), (1, 14)]),  # not a divisor: no extra run at the epoch's end
    ],
)
def test_val_check_interval(tmp_path, interval, expected):
    model = Recorder()
    trainer = make_trainer(
        tmp_path, max_epochs=2, val_check_interval=interval, num_sanity_val_steps=0
    )
    trainer.fit(model, make_loader(8), make_loader(2, seed=1))
    starts = [(e[1], e[3]) for e in model.of("val") if e[2] == 0]
    assert starts == expected
    assert len(model.of("val")) == 2 * len(expected)


def test_a_training_loader_without_a_length_validates_at_its_epochs_end(tmp_path):
    """As Lightning (``val_check_batch`` is inf: validation at the last batch): an iterable
    dataset without ``__len__`` still validates once per epoch, after its last batch."""

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            g = torch.Generator().manual_seed(0)
            for _ in range(5):
                yield torch.randn(IN_DIM, generator=g), torch.randn(1, generator=g)

    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0)
    train = torch.utils.data.DataLoader(Stream(), batch_size=2)  # 3 batches, length unknown
    trainer.fit(model, train, make_loader(2, seed=1))
    starts = [(e[1], e[3]) for e in model.of("val") if e[2] == 0]
    assert starts == [(0, 3), (1, 6)]  # (epoch, global step): after each epoch's last batch


def test_check_val_every_n_epoch(tmp_path):
    model = Recorder()
    trainer = make_trainer(
        tmp_path, max_epochs=4, check_val_every_n_epoch=2, num_sanity_val_steps=0
    )
    trainer.fit(model, make_loader(2), make_loader(2, seed=1))
    assert sorted({e[1] for e in model.of("val")}) == [1, 3]
    assert len(model.of("val")) == 4


class SanityProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.metrics_at_train_start = None

    def on_train_start(self):
        self.metrics_at_train_start = dict(self.trainer.callback_metrics)


def test_num_sanity_val_steps_runs_before_training_and_does_not_leak(tmp_path):
    model = SanityProbe()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=2)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))

    first_train = model.events.index(("train", 0, 0))
    sanity = model.events[:first_train]
    assert [e[:3] for e in sanity] == [("val", 0, 0), ("val", 0, 1)], (
        "two sanity batches run before training"
    )
    assert model.metrics_at_train_start is not None
    assert "val_loss" not in model.metrics_at_train_start, "sanity-check metrics must not leak"
    # the real validation at the end of the epoch runs over all 4 batches
    assert [e[2] for e in model.events[first_train:] if e[0] == "val"] == [0, 1, 2, 3]


def test_sanity_metrics_do_not_leak_when_no_real_validation_runs(tmp_path):
    model = Recorder()
    trainer = make_trainer(
        tmp_path, max_epochs=1, num_sanity_val_steps=2, check_val_every_n_epoch=2
    )
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert len(model.of("val")) == 2, "the sanity check runs even when no validation epoch follows"
    assert "val_loss" not in trainer.callback_metrics
    assert "val_loss" not in trainer.logged_metrics
    assert "val_loss" not in trainer.progress_bar_metrics


def test_num_sanity_val_steps_zero(tmp_path):
    model = Recorder()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(
        model, make_loader(2), make_loader(4, seed=1)
    )
    assert model.events[0] == ("train", 0, 0)


@pytest.mark.parametrize("limit,expected", [(2, 2), (0.5, 2), (1.0, 4)])
def test_limit_val_batches(tmp_path, limit, expected):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=2, limit_val_batches=limit, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert [e[2] for e in model.of("val")] == list(range(expected)) * 2


def test_limit_val_batches_zero_disables_validation(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert model.of("val") == []


class ModeProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.modes = []

    def training_step(self, batch, batch_idx):
        self.modes.append(("train", self.training, torch.is_grad_enabled()))
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self.modes.append(("val", self.training, torch.is_grad_enabled()))
        return super().validation_step(batch, batch_idx)


def test_validation_runs_in_eval_mode_without_grad_and_training_resumes_in_train_mode(tmp_path):
    model = ModeProbe()
    make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0).fit(
        model, make_loader(2), make_loader(2, seed=1)
    )
    assert [m for m in model.modes if m[0] == "train"] == [("train", True, True)] * 4
    assert [m for m in model.modes if m[0] == "val"] == [("val", False, False)] * 4


class DataHooks(Recorder):
    def train_dataloader(self):
        return make_loader(3)

    def val_dataloader(self):
        return make_loader(2, seed=1)


def test_dataloaders_from_the_module(tmp_path):
    model = DataHooks()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(model)
    assert len(model.of("train")) == 3
    assert len(model.of("val")) == 2


def test_fit_with_keyword_dataloaders(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=make_loader(3), val_dataloaders=make_loader(2, seed=1))
    assert len(model.of("train")) == 3
    assert len(model.of("val")) == 2
    assert "val_loss" in trainer.callback_metrics


@pytest.mark.parametrize("keyword", [True, False], ids=["dataloaders=", "positional"])
def test_validate_returns_one_dict_of_metrics(tmp_path, keyword):
    model = Recorder()
    before = snapshot(model)
    loader = make_loader(3, seed=1)
    with torch.no_grad():
        expected = sum(F.mse_loss(model(x), y).item() for x, y in loader) / 3
    trainer = make_trainer(tmp_path)
    result = (
        trainer.validate(model, dataloaders=loader) if keyword else trainer.validate(model, loader)
    )

    assert isinstance(result, list) and len(result) == 1
    assert isinstance(result[0], dict)
    assert set(result[0]) == {"val_loss"}
    assert float(result[0]["val_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(expected, rel=1e-5)
    assert len(model.of("val")) == 3 and model.of("train") == []
    for b, p in zip(before, model.parameters()):
        assert torch.equal(b, p)


def test_validate_uses_the_modules_val_dataloader(tmp_path):
    model = DataHooks()
    result = make_trainer(tmp_path).validate(model)
    assert len(result) == 1 and "val_loss" in result[0]
    assert len(model.of("val")) == 2


def test_val_check_interval_counts_across_epochs_when_check_val_every_n_epoch_is_none(tmp_path):
    model = Recorder()
    trainer = make_trainer(
        tmp_path,
        max_epochs=2,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, make_loader(4), make_loader(2, seed=1))
    # every 3 training batches in total: after batches 3 and 6 of the run
    assert [(e[1], e[3]) for e in model.of("val") if e[2] == 0] == [(0, 3), (1, 6)]


def test_no_extra_validation_when_max_steps_stops_mid_epoch(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=5, max_steps=6, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(4), make_loader(2, seed=1))
    assert len(model.of("train")) == 6
    assert [(e[1], e[3]) for e in model.of("val") if e[2] == 0] == [(0, 4)]


class FrozenPart(Recorder):
    def __init__(self):
        super().__init__()
        self.frozen = nn.BatchNorm1d(IN_DIM)
        self.frozen.eval()  # e.g. a pretrained backbone kept in eval mode while fine-tuning
        self.modes = []

    def training_step(self, batch, batch_idx):
        self.modes.append((self.training, self.frozen.training))
        x, y = batch
        return F.mse_loss(self(self.frozen(x)), y)


def test_submodule_modes_are_preserved_around_validation(tmp_path):
    """Lightning 2 restores each submodule's own mode after validation and never forces .train()
    on a submodule the user put in eval mode."""
    model = FrozenPart()
    make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=1).fit(
        model, make_loader(2), make_loader(2, seed=1)
    )
    assert model.modes == [(True, False)] * 4
