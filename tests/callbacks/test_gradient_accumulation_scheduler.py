"""GradientAccumulationScheduler.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_gradient_accumulation_scheduler.py``
(Apache-2.0, Copyright The Lightning AI team): the behaviour each test checks is Lightning's;
the code is translated to treadle's names. Lightning counts ``SGD.zero_grad`` calls through
``mock.patch``; here the optimizer steps are counted (``trainer.global_step``, and a callback
recording ``on_before_zero_grad``), in a real fit. Lightning refuses the unsupported set-ups
when training starts; treadle refuses them with fit()'s other configuration problems, before
anything runs. Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import re

import pytest
from boring_model import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import GradientAccumulationScheduler
from treadle.utilities import MisconfigurationException


class TenBatches(BoringModel):
    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 80), batch_size=8)


class ZeroGrads(treadle.Callback):
    def __init__(self):
        self.count = 0

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        self.count += 1


@pytest.mark.parametrize(
    ("scheduling", "expected_steps"),
    [({1: 2, 3: 4}, 10 + 5 + 5 + 3), ({0: 2, 2: 1}, 5 + 5 + 10 + 10)],
)
def test_trainer_accumulate_grad_batches_with_callback(tmp_path, scheduling, expected_steps):
    zero_grads = ZeroGrads()
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=10, limit_val_batches=1, max_epochs=4),
        callbacks=[GradientAccumulationScheduler(scheduling), zero_grads],
    )
    assert trainer.accumulate_grad_batches == 1  # the Trainer argument's value
    trainer.fit(TenBatches())
    assert sum(isinstance(cb, GradientAccumulationScheduler) for cb in trainer.callbacks) == 1
    assert trainer.global_step == expected_steps
    assert zero_grads.count == expected_steps


@pytest.mark.parametrize("scheduling", [{1: 2, -3: 4}, {0: 2, "2": 1}])
def test_invalid_keys_for_grad_accum_scheduler(scheduling):
    with pytest.raises(MisconfigurationException, match="Epoch should be an int"):
        GradientAccumulationScheduler(scheduling=scheduling)


@pytest.mark.parametrize("scheduling", [{1: 0, 3: 4}, {0: 2, 2: "2"}])
def test_invalid_values_for_grad_accum_scheduler(scheduling):
    with pytest.raises(MisconfigurationException, match="Accumulation factor should be an int"):
        GradientAccumulationScheduler(scheduling=scheduling)


def test_unsupported_manual_optimization(tmp_path):
    class Manual(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(self.loss(self(batch)))
            opt.step()

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1), callbacks=[GradientAccumulationScheduler({1: 2})]
    )
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not "
            "supported for manual optimization. Please remove the callback or switch to "
            "automatic optimization."
        ),
    ):
        trainer.fit(Manual())


def test_on_train_start_refuses_manual_optimization_when_called_directly():
    # ported from Lightning's test_unsupported_manual_optimization: the hook itself raises
    scheduler = GradientAccumulationScheduler({1: 2})
    model = BoringModel()
    model.automatic_optimization = False
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not "
            "supported for manual optimization."
        ),
    ):
        scheduler.on_train_start(treadle.Trainer(), model)


def test_warn_if_model_has_overridden_optimization_hooks(tmp_path):
    class OverriddenOptimizerStepModel(BoringModel):
        def optimizer_step(self, *args, **kwargs):
            super().optimizer_step(*args, **kwargs)

    class OverriddenZeroGradModel(BoringModel):
        def optimizer_zero_grad(self, *args, **kwargs):
            super().optimizer_zero_grad(*args, **kwargs)

    for model in (OverriddenOptimizerStepModel(), OverriddenZeroGradModel()):
        trainer = treadle.Trainer(
            **quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0),
            callbacks=[GradientAccumulationScheduler({1: 2})],
        )
        with pytest.warns(UserWarning, match="the hooks will not be called on every batch"):
            trainer.fit(model)


def test_raises_when_accumulate_grad_batches_with_callback(tmp_path):
    trainer = treadle.Trainer(
        **quiet(tmp_path, accumulate_grad_batches=2),
        callbacks=[GradientAccumulationScheduler({0: 2})],
    )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "You have set `accumulate_grad_batches` and are using the "
            "`GradientAccumulationScheduler` callback (`Trainer(accumulate_grad_batches=2)`). "
            "Either remove `accumulate_grad_batches` from the Trainer or remove the callback."
        ),
    ):
        trainer.fit(BoringModel())


# -- treadle ------------------------------------------------------------------------------------


def test_empty_scheduling_is_refused():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "GradientAccumulationScheduler(scheduling={}): Empty dict cannot be interpreted "
            "correct. Pass {epoch: accumulation_factor}, e.g. {0: 1, 4: 2}."
        ),
    ):
        GradientAccumulationScheduler({})


def test_factor_by_epoch_and_the_trainer_attribute(tmp_path):
    """treadle: epochs before the first key accumulate 1; trainer.accumulate_grad_batches
    follows the schedule while fit() runs."""
    scheduler = GradientAccumulationScheduler({2: 3, 5: 4})
    assert [scheduler.get_accumulate_grad_batches(e) for e in range(7)] == [1, 1, 3, 3, 3, 4, 4]
    seen = []

    class Record(treadle.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append(trainer.accumulate_grad_batches)

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=3, limit_val_batches=0), callbacks=[scheduler, Record()]
    )
    trainer.fit(BoringModel())
    assert seen == [1, 1, 3]
    assert trainer.global_step == 8 + 8 + 3  # 8 batches: the last window steps on batch 8


def test_accumulate_grad_batches_cannot_be_set_outside_fit():
    trainer = treadle.Trainer(accelerator="cpu", logger=False)
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "`trainer.accumulate_grad_batches` can only be changed while `fit()` runs (from a "
            "callback hook); set `Trainer(accumulate_grad_batches=N)` otherwise."
        ),
    ):
        trainer.accumulate_grad_batches = 2


def test_accumulate_grad_batches_takes_an_int_from_one(tmp_path):
    class SetsZero(treadle.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            trainer.accumulate_grad_batches = 0

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[SetsZero()])
    with pytest.raises(
        ValueError, match=re.escape("`trainer.accumulate_grad_batches = 0`: expected an int >= 1.")
    ):
        trainer.fit(BoringModel())
