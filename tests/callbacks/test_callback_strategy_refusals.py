"""The callbacks that cannot work with a sharded strategy say so before anything trains (ours;
Lightning raises the same refusals from ``setup``/``on_train_start``)."""

from __future__ import annotations

import re

import pytest
from boring_model import BoringModel, quiet
from torch import nn

import treadle
from treadle.callbacks import (
    BackboneFinetuning,
    GradientAccumulationScheduler,
    StochasticWeightAveraging,
)

pytest.importorskip("deepspeed", reason="strategy='deepspeed' needs deepspeed (installed in CI)")


class BackboneModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(32, 32)
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize(
    ("strategy", "callback", "message"),
    [
        (
            "deepspeed",
            GradientAccumulationScheduler({1: 2}),
            "The strategy 'deepspeed' does not support `accumulate_grad_batches` changing "
            "between epochs (the DeepSpeed engine fixes it when it is built). Remove the "
            "`GradientAccumulationScheduler` callback, or set a fixed "
            "`Trainer(accumulate_grad_batches=N)`.",
        ),
        (
            "deepspeed",
            StochasticWeightAveraging(swa_lrs=0.1),
            "StochasticWeightAveraging: SWA does not currently support sharded models "
            "(strategy='deepspeed'). Use strategy='ddp' or remove the callback.",
        ),
        (
            "fsdp",
            StochasticWeightAveraging(swa_lrs=0.1),
            "StochasticWeightAveraging: SWA does not currently support sharded models "
            "(strategy='fsdp'). Use strategy='ddp' or remove the callback.",
        ),
        (
            "deepspeed",
            BackboneFinetuning(),
            "BackboneFinetuning: the finetuning callbacks do not support strategy='deepspeed' "
            "(DeepSpeed builds its optimizer once; parameter groups cannot be added later). "
            "Choose a different strategy or remove the callback.",
        ),
    ],
    ids=["gas-deepspeed", "swa-deepspeed", "swa-fsdp", "finetuning-deepspeed"],
)
def test_refused_with_a_sharded_strategy(tmp_path, strategy, callback, message):
    model = BackboneModel()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, strategy=strategy, devices=1), callbacks=[callback]
    )
    with pytest.raises(treadle.ConfigurationError, match=re.escape(message)):
        trainer.fit(model)
    assert model.steps == 0
