"""``Trainer(plugins=[MyCluster()])``: a program's own ``ClusterEnvironment`` class (Lightning's
docs, "Run on an on-prem cluster (advanced)" and the Trainer page's ``plugins=`` example), for
real: two CPU processes started by hand, each told its node by variables only the program's
class reads (``MY_NODE``, ``MY_ADDR``, ``MY_PORT``: nothing treadle would detect by itself), join
one ``ddp`` run on gloo through the class's ranks, address and port.
"""

from __future__ import annotations

import socket
import sys

import pytest

from _procs import finish, read_json, start, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, os, sys

import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.plugins.environments import ClusterEnvironment


class MyCluster(ClusterEnvironment):
    def __init__(self):
        self.told = {}

    @property
    def creates_processes_externally(self):
        return True

    @property
    def main_address(self):
        return os.environ["MY_ADDR"]

    @property
    def main_port(self):
        return int(os.environ["MY_PORT"])

    @staticmethod
    def detect():
        return True

    def world_size(self):
        return self.told["world_size"]

    def set_world_size(self, size):
        self.told["world_size"] = size

    def global_rank(self):
        return self.told["global_rank"]

    def set_global_rank(self, rank):
        self.told["global_rank"] = rank

    def local_rank(self):
        return 0

    def node_rank(self):
        return int(os.environ["MY_NODE"])


class Model(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen += x[:, 0].long().tolist()
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


x = torch.arange(16.0).repeat_interleave(4).view(16, 4)
loader = DataLoader(TensorDataset(x, torch.ones(16, 1)), batch_size=2)
cluster = MyCluster()
trainer = treadle.Trainer(
    accelerator="cpu", devices=1, num_nodes=2, strategy="ddp", plugins=[cluster], max_epochs=1,
    logger=False, enable_checkpointing=False, enable_progress_bar=False,
    enable_model_summary=False,
)
model = Model()
trainer.fit(model, loader)
out = {
    "rank": trainer.global_rank, "world": trainer.world_size, "node": trainer.node_rank,
    "told": cluster.told, "seen": model.seen, "steps": trainer.global_step,
    "environment": type(trainer.environment).__name__,
    "weight": model.layer.weight.detach().flatten().tolist(),
}
with open(sys.argv[1] + f"/rank{trainer.global_rank}.json", "w") as f:
    json.dump(out, f)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_program_cluster_environment_is_joined_with_its_own_ranks(tmp_path):
    script = write(tmp_path / "train.py", SCRIPT)
    port = str(_free_port())
    jobs = [
        start(
            [sys.executable, str(script), str(tmp_path)],
            tmp_path,
            {"MY_ADDR": "127.0.0.1", "MY_PORT": port, "MY_NODE": str(node)},
        )
        for node in (0, 1)
    ]
    outputs = [finish(job, timeout=120) for job in jobs]
    for job, out in zip(jobs, outputs):
        assert job.returncode == 0, out
    ranks = [read_json(tmp_path / f"rank{r}.json") for r in (0, 1)]
    for r, got in enumerate(ranks):
        # as Lightning's DDP strategy tells the environment: node_rank * devices + local_rank
        assert got["told"] == {"global_rank": r, "world_size": 2}
        assert (got["rank"], got["world"], got["node"]) == (r, 2, r)
        assert got["environment"] == "ProgramEnvironment"
        assert got["steps"] == 4  # 8 batches of 2, half on each rank
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == list(range(16))
    assert ranks[0]["weight"] == ranks[1]["weight"]  # the gradients were all-reduced
