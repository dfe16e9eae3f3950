"""The training loop's limits, state and stops as a Lightning 2 user meets them.

``max_steps``, ``max_epochs``, ``limit_train_batches``; ``is_last_batch``, ``current_epoch``,
``global_step`` and the Module's Trainer-backed properties during the loop; and the ways a
user ends a batch, an epoch or the run early.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    IN_DIM,
    make_loader,
    make_trainer,
    snapshot,
)
from trainer_api_probes import Recorder, TwoLayer


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_max_steps_stops_exactly(tmp_path, manual):
    model = TwoLayer("optimizer", manual)
    trainer = make_trainer(tmp_path, max_epochs=10, max_steps=6)
    trainer.fit(model, make_loader(4))
    assert model.calls == 6
    assert trainer.global_step == 6


def test_max_steps_counts_optimizer_steps_with_accumulation(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=10, max_steps=3, accumulate_grad_batches=2)
    trainer.fit(model, make_loader(4))
    assert len(model.of("train")) == 6
    assert trainer.global_step == 3


def test_max_epochs(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_loader(4))
    assert [e[1] for e in model.of("train")] == [0] * 4 + [1] * 4 + [2] * 4
    assert [e[2] for e in model.of("train")] == [0, 1, 2, 3] * 3
    assert trainer.current_epoch == 3
    assert trainer.global_step == 12


@pytest.mark.parametrize("limit,expected", [(3, 3), (0.5, 4), (1.0, 8)])
def test_limit_train_batches(tmp_path, limit, expected):
    model = StateProbe()
    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=limit)
    trainer.fit(model, make_loader(8))
    assert [e[2] for e in model.of("train")] == list(range(expected)) * 2
    assert [s[0] for s in model.state] == ([False] * (expected - 1) + [True]) * 2
    assert trainer.global_step == 2 * expected


class StateProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.state = []

    def training_step(self, batch, batch_idx):
        t = self.trainer
        self.state.append((bool(t.is_last_batch), t.current_epoch, t.global_step))
        return super().training_step(batch, batch_idx)


def test_is_last_batch_current_epoch_and_global_step_with_accumulation(tmp_path):
    model = StateProbe()
    trainer = make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=2)
    trainer.fit(model, make_loader(5))
    assert [s[0] for s in model.state] == [False, False, False, False, True] * 2
    assert [s[1] for s in model.state] == [0] * 5 + [1] * 5
    # steps after batches 2, 4 and 5 (the partial window) of each epoch
    assert [s[2] for s in model.state] == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5]
    assert trainer.global_step == 6
    assert trainer.current_epoch == 2


class Props(Recorder):
    def __init__(self):
        super().__init__()
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(
            dict(
                device=self.device,
                global_step=self.global_step,
                trainer_global_step=self.trainer.global_step,
                current_epoch=self.current_epoch,
                trainer_current_epoch=self.trainer.current_epoch,
                trainer=self.trainer,
                global_rank=self.global_rank,
                local_rank=self.local_rank,
            )
        )
        return super().training_step(batch, batch_idx)


def test_module_properties(tmp_path):
    model = Props()
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_loader(2))
    assert len(model.seen) == 4
    for i, s in enumerate(model.seen):
        assert s["device"] == torch.device("cpu")
        assert s["global_step"] == s["trainer_global_step"] == i
        assert s["current_epoch"] == s["trainer_current_epoch"] == i // 2
        assert s["trainer"] is trainer
        assert s["global_rank"] == 0 and s["local_rank"] == 0
    assert model.trainer is trainer
    assert model.global_step == 4


def test_trainer_rank_properties(tmp_path):
    trainer = make_trainer(tmp_path)
    assert trainer.world_size == 1
    assert trainer.global_rank == 0
    assert trainer.local_rank == 0
    assert trainer.is_global_zero is True


class SkipRest(Recorder):
    def on_train_batch_start(self, batch, batch_idx):
        if self.current_epoch == 0 and batch_idx == 2:
            return -1


def test_on_train_batch_start_returning_minus_one_skips_rest_of_epoch(tmp_path):
    model = SkipRest()
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_loader(4))
    assert [e[1:] for e in model.of("train")] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert trainer.global_step == 6
    assert trainer.current_epoch == 2


class NoBatchIdx(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.calls = []

    def training_step(self, batch):
        self.calls.append("train")
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def validation_step(self, batch):
        self.calls.append("val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_steps_without_batch_idx_argument(tmp_path):
    model = NoBatchIdx()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(
        model, make_loader(2), make_loader(1, seed=1)
    )
    assert model.calls == ["train", "train", "val"]


class SkipsOneBatch(Recorder):
    def __init__(self):
        super().__init__(lr=0.1)
        self.after = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return None if batch_idx == 1 else loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.after.append(snapshot(self))


def test_training_step_returning_none_skips_the_update(tmp_path):
    model = SkipsOneBatch()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert len(model.after) == 3
    assert all(torch.equal(a, b) for a, b in zip(model.after[0], model.after[1])), (
        "batch 1 returned None"
    )
    assert not all(torch.equal(a, b) for a, b in zip(model.after[1], model.after[2]))


class StopsEarly(Recorder):
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if batch_idx == 1:
            self.trainer.should_stop = True


def test_should_stop_ends_training_after_the_current_batch(tmp_path):
    model = StopsEarly()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_loader(4))
    assert [e[1:] for e in model.of("train")] == [(0, 0), (0, 1)]
    assert trainer.global_step == 2


@pytest.mark.parametrize("form", ["tensor", "dict"])
def test_batch_end_outputs_hold_the_backpropagated_loss_detached(tmp_path, form):
    """As Lightning's ``ClosureResult``: ``outputs["loss"]`` in ``on_train_batch_end`` is the loss
    divided by ``accumulate_grad_batches``, detached (a callback keeping it keeps no graph),
    first; a returned dict's other entries follow it unchanged."""
    from conftest_helpers import RegressionModule

    class Model(RegressionModule):
        def __init__(self):
            super().__init__()
            self.seen, self.returned = [], []

        def training_step(self, batch, batch_idx):
            loss = self.compute_loss(batch)
            self.returned.append(loss.detach().clone())
            return loss if form == "tensor" else {"loss": loss, "extra": batch_idx}

        def on_train_batch_end(self, outputs, batch, batch_idx):
            self.seen.append(outputs)

    model = Model()
    trainer = make_trainer(tmp_path, max_epochs=1, accumulate_grad_batches=2)
    trainer.fit(model, make_loader(4))
    assert len(model.seen) == 4
    for k, (outputs, returned) in enumerate(zip(model.seen, model.returned)):
        assert list(outputs) == (["loss"] if form == "tensor" else ["loss", "extra"])
        assert not outputs["loss"].requires_grad and outputs["loss"].grad_fn is None
        assert torch.equal(outputs["loss"], returned / 2)
        if form == "dict":
            assert outputs["extra"] == k
