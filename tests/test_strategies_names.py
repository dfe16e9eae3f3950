"""``treadle.strategies``: Lightning's ``ParallelStrategy``/``Strategy`` names for checks on
``trainer.strategy`` (Lightning's imagenet example: ``isinstance(self.trainer.strategy,
ParallelStrategy)`` then ``self.trainer.strategy.num_processes``)."""

from __future__ import annotations

import treadle
from treadle.strategies import ParallelStrategy, Strategy


def test_single_device_is_a_strategy_not_a_parallel_one() -> None:
    trainer = treadle.Trainer(accelerator="cpu", devices=1, logger=False)
    assert isinstance(trainer.strategy, Strategy)
    assert not isinstance(trainer.strategy, ParallelStrategy)
    assert not isinstance(object(), ParallelStrategy)


def test_ddp_is_parallel_with_its_processes_per_node() -> None:
    trainer = treadle.Trainer(accelerator="cpu", devices=1, strategy="ddp", logger=False)
    assert isinstance(trainer.strategy, ParallelStrategy)
    assert isinstance(trainer.strategy, Strategy)
    assert trainer.strategy.num_processes == 1
    spawn = treadle.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False)
    assert isinstance(spawn.strategy, ParallelStrategy) and spawn.strategy.num_processes == 2
