"""The ``torchrun`` environment: the process is one rank of a launch that already exists.

Detected when ``RANK`` and ``WORLD_SIZE`` are set: by ``torchrun`` (``python -m
torch.distributed.run``), by treadle's own launcher for the ranks it starts (``strategy="ddp"``
re-running the script, ``ddp_spawn`` workers), or by hand. The DDP strategies then join the
launch instead of starting processes. Highest priority among environments: under torchrun inside
a SLURM allocation, torchrun's variables describe the ranks.

An environment declares ``treadle.kinds.Environment``: ``name``, ``world_size``,
``global_rank``, ``local_rank``, ``node_rank``, ``main_address``, ``main_port``,
``creates_processes_externally`` (the ranks exist already: a strategy joins them) and
``launcher``; it may implement hooks (it takes part in the run like any plugin).
"""

from __future__ import annotations

from treadle import Provider, hookimpl
from treadle.kinds import EnvironmentBase
from treadle_plugins.strategies._launcher import torchrun_env


class TorchrunEnvironment(EnvironmentBase):
    name = "torchrun"
    creates_processes_externally = True

    def __init__(self, trainer=None) -> None:
        env = torchrun_env()
        if env is None:
            raise RuntimeError("TorchrunEnvironment needs RANK and WORLD_SIZE in the environment.")
        self.world_size: int = env["world_size"]
        self.global_rank: int = env["rank"]
        self.local_rank: int = env["local_rank"]
        self.local_world_size: int = env["local_world_size"]
        self.node_rank: int = env["node_rank"]
        self.main_address: str = env["master_addr"] or "127.0.0.1"
        self.main_port = env["master_port"]
        self.launcher: str = env["launcher"]  # "torchrun", "treadle" (our own ranks) or "env"

    def __repr__(self) -> str:
        return (
            f"TorchrunEnvironment(rank={self.global_rank}/{self.world_size}, "
            f"launcher={self.launcher!r})"
        )


def _detected() -> bool:
    return torchrun_env() is not None


@hookimpl
def provide_environments():
    return [
        Provider(
            "environment",
            "torchrun",
            TorchrunEnvironment,
            available=_detected,
            priority=100,
            description="RANK/WORLD_SIZE set: join torchrun's launch.",
        )
    ]
