"""The ``torchrun`` environment: the process is one rank of a launch that already exists.

Detected when ``RANK`` and ``WORLD_SIZE`` are set: by ``torchrun`` (``python -m
torch.distributed.run``), by treadle's own launcher for the ranks it starts (``strategy="ddp"``
re-running the script, ``ddp_spawn`` workers), or by hand. Also when ``WORLD_SIZE``,
``MASTER_PORT`` and ``LOCAL_RANK`` are set without ``RANK``, as Lightning's cluster docs set them
by hand on each node (with ``NODE_RANK``): the rank is then ``NODE_RANK * processes per node +
LOCAL_RANK``, the processes per node ``LOCAL_WORLD_SIZE`` or ``WORLD_SIZE / num_nodes``, as
Lightning's ``LightningEnvironment`` counts them. The DDP strategies then join the
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
        self.local_rank: int = env["local_rank"]
        self.node_rank: int = env["node_rank"]
        if env["rank"] is None:  # set by hand on each node, without RANK (Lightning's docs)
            num_nodes = getattr(getattr(trainer, "config", None), "num_nodes", 1)
            per_node = env["local_world_size"] or max(self.world_size // num_nodes, 1)
            rank = self.node_rank * per_node + self.local_rank
            if not (0 <= self.local_rank < per_node and 0 <= rank < self.world_size):
                raise RuntimeError(
                    f"The launch's environment variables do not fit together: NODE_RANK="
                    f"{self.node_rank}, LOCAL_RANK={self.local_rank}, WORLD_SIZE="
                    f"{self.world_size} with {per_node} process(es) per node (WORLD_SIZE / "
                    f"Trainer(num_nodes={num_nodes}), or LOCAL_WORLD_SIZE) give rank {rank}. Set "
                    f"WORLD_SIZE to the processes of all nodes, NODE_RANK to 0..num_nodes-1 and "
                    f"LOCAL_RANK to 0..processes per node-1, or set RANK yourself."
                )
            self.global_rank: int = rank
            self.local_world_size: int = per_node
        else:
            self.global_rank = env["rank"]
            self.local_world_size = env["local_world_size"]
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
            description="RANK/WORLD_SIZE (or LOCAL_RANK/MASTER_PORT) set: join the launch.",
        )
    ]
