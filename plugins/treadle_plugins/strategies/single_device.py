"""``single_device``: one process, one device; the core's defaults do the rest."""
from __future__ import annotations

from treadle import Provider, hookimpl


class SingleDeviceStrategy:
    name = "single_device"
    world_size = 1
    global_rank = 0
    local_rank = 0
    node_rank = 0

    def __init__(self, trainer) -> None:
        pass


@hookimpl
def provide_strategies():
    return [Provider("strategy", "single_device", SingleDeviceStrategy,
                     description="One process on one device.")]
