"""Lightning's strategy class names, for the checks Lightning programs make on
``trainer.strategy``.

treadle's strategies are plugins chosen by name (``Trainer(strategy="ddp")``; a strategy object
is not accepted, see docs/migration.md), so this module holds no strategy to pass. It holds the
names a program reads the running strategy with: ``isinstance(self.trainer.strategy,
ParallelStrategy)`` is true under the strategies that run one process per device (``ddp`` and
its spawn/notebook forms, ``fsdp``, ``deepspeed*``), each of which has ``num_processes``
(processes per node), as Lightning's ``ParallelStrategy`` has. ``Strategy`` is the base of every
built-in strategy (``treadle.kinds.StrategyBase``).
"""

from __future__ import annotations

import sys
from typing import Any

from treadle.kinds import StrategyBase as Strategy

__all__ = ["ParallelStrategy", "Strategy"]

# The modules of the strategies that run one process per device; a class found in one of them
# (or a subclass) is parallel. Looked up in sys.modules: a strategy never imported was never made.
_PARALLEL = {
    "treadle_plugins.strategies.ddp": "DDPStrategy",
    "treadle_plugins.strategies.deepspeed": "DeepSpeedStrategy",
}


class _ParallelCheck(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        for module_name, class_name in _PARALLEL.items():
            module = sys.modules.get(module_name)
            if module is not None and isinstance(obj, getattr(module, class_name)):
                return True
        return False


class ParallelStrategy(metaclass=_ParallelCheck):
    """``isinstance(trainer.strategy, ParallelStrategy)``: the running strategy has one process
    per device (``ddp``, ``ddp_spawn``, ``ddp_notebook``, ``fsdp``, ``deepspeed*``); its
    ``num_processes`` is the number of processes per node. Not a class to subclass or pass."""
