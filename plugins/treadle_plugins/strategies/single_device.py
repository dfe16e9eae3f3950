"""``single_device``: one process, one device; the core's defaults do the rest."""

from __future__ import annotations

import contextlib

from treadle import Provider, hookimpl
from treadle.kinds import StrategyBase


class SingleDeviceStrategy(StrategyBase):
    name = "single_device"
    world_size = 1
    global_rank = 0
    local_rank = 0
    node_rank = 0
    owns_precision = False
    saves_optimizer_states = False
    shards_parameters = False

    def __init__(self, trainer) -> None:
        self._trainer = trainer

    @contextlib.contextmanager
    def no_backward_sync(self, module=None, enabled=True):
        """Nothing to sync on one device: here so that code written for ``ddp`` runs as is."""
        yield

    def block_backward_sync(self):
        return self.no_backward_sync()


@hookimpl
def provide_strategies():
    return [
        Provider(
            "strategy",
            "single_device",
            SingleDeviceStrategy,
            description="One process on one device.",
        )
    ]
