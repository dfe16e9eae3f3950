"""What ``strategy="fsdp"`` refuses, before anything starts (in this process: validation runs
before any rank is launched), and how the strategy object is given."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle import ConfigurationError
from treadle_plugins import FSDPStrategy
from treadle_plugins.strategies import fsdp


class Odd(treadle.Module):
    """Layers whose first dimensions (3, 3, 1) do not split over 2 ranks."""

    def __init__(self, optimizer=torch.optim.SGD):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
        self.optimizer = optimizer

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return self.optimizer(self.parameters(), lr=0.1)


def loader():
    return DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)


def fit(model, **kwargs):
    trainer = treadle.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        **kwargs,
    )
    trainer.fit(model, loader())


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigurationError) as info:
        fit(Odd(torch.optim.LBFGS), strategy=FSDPStrategy(), devices=2, precision="16-true")
    problems = info.value.problems
    assert (
        "strategy:fsdp: `precision='16-true'` is not available with `strategy='fsdp'`; it runs "
        "'32-true', 'bf16-mixed', 'bf16-true', '16-mixed'. Use `precision='bf16-mixed'` (or "
        "'16-mixed') for low-precision compute with fp32 weights, or '32-true'." in problems
    )
    assert (
        "strategy:fsdp: `strategy='fsdp'` cannot step `LBFGS` (optimizer 0 of `configure_optimizers()`) on 2 "
        "ranks: its closure step flattens every parameter, and FSDP cannot flatten a parameter "
        "whose first dimension does not split evenly over the ranks: net.0.weight (3, 2), "
        "net.0.bias (3,), net.1.weight (1, 3), net.1.bias (1,). Make those dimensions multiples "
        "of 2, use an optimizer without a closure (SGD, AdamW, ...), or `strategy='ddp'`."
        in problems
    )


def test_lbfgs_with_evenly_split_parameters_is_not_refused():
    """Every first dimension even (4, 4, 2, 2): LBFGS runs sharded on 2 ranks (the run is in
    tests/fsdp/test_fsdp.py); only the precision is refused here."""

    class Even(Odd):
        def __init__(self):
            super().__init__(torch.optim.LBFGS)
            self.net = nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 2))

    with pytest.raises(ConfigurationError) as info:
        fit(Even(), strategy=FSDPStrategy(), devices=2, precision="64-true")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(
        "strategy:fsdp: `precision='64-true'` is not available with `strategy='fsdp'`"
    )


def test_a_strategy_argument_that_is_neither_a_name_nor_a_strategy_object():
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "TrainerConfig: You selected an invalid strategy name: `strategy=42`: a strategy "
            "is a name (`strategy='ddp'`) or a strategy "
            "object with a `name` and a `connect(trainer)` method (`strategy=FSDPStrategy(...)`)."
        ),
    ):
        treadle.Trainer(strategy=42)


def test_the_strategy_object_is_the_selected_strategy():
    strategy = FSDPStrategy(auto_wrap_policy={nn.Linear}, reshard_after_forward=False)
    trainer = treadle.Trainer(strategy=strategy, devices=2, logger=False)
    assert trainer.strategy is strategy
    assert strategy.world_size == 2 and strategy.shards_parameters
    assert trainer.plugin_manager.reasons["strategy"] == (
        "fsdp",
        "given as an object: strategy=...",
    )


def test_the_provider_record_makes_the_strategy_by_name():
    (record,) = fsdp.provide_strategies()
    assert record.name == "fsdp"
    trainer = treadle.Trainer(strategy=FSDPStrategy(), logger=False)
    assert isinstance(record.factory(trainer), FSDPStrategy)


def test_wrong_policy_arguments():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "FSDPStrategy(auto_wrap_policy=...) takes module classes (e.g. "
            "{nn.TransformerEncoderLayer}) or a callable `policy(module) -> bool`, got 'Linear'."
        ),
    ):
        FSDPStrategy(auto_wrap_policy=["Linear"])
    with pytest.raises(
        TypeError,
        match=re.escape(
            "FSDPStrategy(activation_checkpointing=...) takes module classes (e.g. "
            "{nn.TransformerEncoderLayer}), got <class 'int'>."
        ),
    ):
        FSDPStrategy(activation_checkpointing={int})


def test_a_directory_without_treadle_ckpt_is_not_a_checkpoint(tmp_path):
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            f"checkpoint {str(tmp_path)!r}: no treadle.ckpt in it: not a complete treadle FSDP "
            f"checkpoint."
        ),
    ):
        fsdp.consolidate(tmp_path, tmp_path / "out.ckpt")


def test_parameters_sharded_already_are_refused(tmp_path):
    """A Module whose parameters are DTensors (sharded by other code, or by an earlier fit under
    fsdp) is refused at validation; a 1-process gloo group here gives the DTensors."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        model = Odd()
        fully_shard(model.net, mesh=init_device_mesh("cpu", (1,)))
        with pytest.raises(ConfigurationError) as info:
            fit(model, strategy=FSDPStrategy(), devices=1)
    finally:
        dist.destroy_process_group()
    assert info.value.problems == [
        "strategy:fsdp: `strategy='fsdp'`: parameters of the Module are DTensors already "
        "(net.0.weight, net.0.bias, net.1.weight, ...): another strategy, your code, or an "
        "earlier `fit()` under `strategy='fsdp'` sharded them. Build the Module with plain "
        "parameters and let the strategy shard it; to evaluate a Module this Trainer fitted, "
        "call its `validate()`, `test()` or `predict()` (they run on the sharded Module); "
        "elsewhere, load its consolidated weights into a fresh Module."
    ]
