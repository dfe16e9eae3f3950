# Source: https://lightning.ai/docs/pytorch/stable/clouds/cluster_expert.html
#   (pytorch-lightning docs/source-pytorch/clouds/cluster_expert.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's MyClusterEnvironment with `main_address`/`main_port` as properties (as
#   ClusterEnvironment declares them; the page's plain methods would hand DDP a bound method) and
#   the three abstract members the page leaves out (`detect`, `set_world_size`,
#   `set_global_rank`; without them the class cannot be made, asserted), the setters checking
#   what the Trainer tells them against the variables; `pytorch_lightning` -> `lightning.pytorch`.
#   `Trainer(plugins=[MyClusterEnvironment()])` run for real on a small model on random tensors:
#   one process (WORLD_SIZE=1, `strategy="ddp"`: a single-device strategy has no cluster
#   environment), then two processes started by hand as two "nodes" (this file run
#   with `--worker`), each given WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK, MASTER_ADDRESS and
#   MASTER_PORT (the page's own names, MASTER_ADDRESS being read by nobody else), with
#   `accelerator="cpu", devices=1, num_nodes=2, strategy="ddp"` (gloo in place of a GPU cluster).
#   Asserted: the Trainer uses the program's class and its ranks, the processes split the data
#   and end with the same weights.
import json
import os
import socket
import subprocess
import sys
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.plugins.environments import ClusterEnvironment
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class PageClusterEnvironment(ClusterEnvironment):
    """The page's class as written."""

    @property
    def creates_processes_externally(self) -> bool:
        """Return True if the cluster is managed (you don't launch processes yourself)"""
        return True

    def world_size(self) -> int:
        return int(os.environ["WORLD_SIZE"])

    def global_rank(self) -> int:
        return int(os.environ["RANK"])

    def local_rank(self) -> int:
        return int(os.environ["LOCAL_RANK"])

    def node_rank(self) -> int:
        return int(os.environ["NODE_RANK"])

    def main_address(self) -> str:
        return os.environ["MASTER_ADDRESS"]

    def main_port(self) -> int:
        return int(os.environ["MASTER_PORT"])


class MyClusterEnvironment(ClusterEnvironment):
    @property
    def creates_processes_externally(self) -> bool:
        """Return True if the cluster is managed (you don't launch processes yourself)"""
        return True

    def world_size(self) -> int:
        return int(os.environ["WORLD_SIZE"])

    def global_rank(self) -> int:
        return int(os.environ["RANK"])

    def local_rank(self) -> int:
        return int(os.environ["LOCAL_RANK"])

    def node_rank(self) -> int:
        return int(os.environ["NODE_RANK"])

    @property
    def main_address(self) -> str:
        return os.environ["MASTER_ADDRESS"]

    @property
    def main_port(self) -> int:
        return int(os.environ["MASTER_PORT"])

    @staticmethod
    def detect() -> bool:
        return "MASTER_ADDRESS" in os.environ

    def set_world_size(self, size: int) -> None:
        assert size == self.world_size(), (size, self.world_size())

    def set_global_rank(self, rank: int) -> None:
        assert rank == self.global_rank(), (rank, self.global_rank())


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(8, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.extend(int(i) for i in y.flatten().tolist())
        return nn.functional.mse_loss(self.layer(x), y / 32)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        return DataLoader(TensorDataset(x, torch.arange(32.0).view(32, 1)), batch_size=4)


def fit(**kwargs):
    cluster = MyClusterEnvironment()
    trainer = Trainer(plugins=[cluster], max_epochs=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kwargs)
    model = LitModel()
    trainer.fit(model)
    assert trainer.strategy.cluster_environment is cluster
    return {
        "global_rank": trainer.global_rank, "local_rank": trainer.local_rank,
        "node_rank": trainer.node_rank, "world_size": trainer.world_size,
        "global_step": trainer.global_step, "seen": sorted(model.seen),
        "weight": model.layer.weight.detach().flatten().tolist(),
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env(world_size, rank, port):
    env = dict(os.environ)
    for name in ("GROUP_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        env.pop(name, None)
    env.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK="0", NODE_RANK=str(rank),
               MASTER_ADDRESS="127.0.0.1", MASTER_PORT=str(port))
    return env


def main():
    try:
        PageClusterEnvironment()
    except TypeError as err:
        for name in ("detect", "set_global_rank", "set_world_size"):
            assert name in str(err), err
    else:
        raise AssertionError("the page's class has abstract members left")

    out_dir = tempfile.mkdtemp()
    # One process: a cluster of one.
    proc = subprocess.run([sys.executable, __file__, "--worker", "single", out_dir],
                          env=cluster_env(1, 0, free_port()), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out_dir, "single-0.json")) as f:
        single = json.load(f)
    assert single["global_rank"] == 0 and single["world_size"] == 1, single
    assert single["global_step"] == 8 and single["seen"] == list(range(32)), single

    # Two "nodes", one process each, started by hand as the cluster would.
    port = free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", "ddp", out_dir],
                              env=cluster_env(2, rank, port), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
    results = []
    for rank in range(2):
        with open(os.path.join(out_dir, f"ddp-{rank}.json")) as f:
            results.append(json.load(f))
    for rank, r in enumerate(results):
        assert (r["global_rank"], r["local_rank"], r["node_rank"], r["world_size"]) == (rank, 0, rank, 2), r
        assert r["global_step"] == 4 and len(r["seen"]) == 16, r
    assert sorted(results[0]["seen"] + results[1]["seen"]) == list(range(32))
    assert torch.allclose(torch.tensor(results[0]["weight"]), torch.tensor(results[1]["weight"]))
    print("cluster_expert: ok")


def worker(part, out_dir):
    if part == "single":
        result = fit(accelerator="cpu", devices=1, strategy="ddp")
    else:
        result = fit(accelerator="cpu", devices=1, num_nodes=2, strategy="ddp")
    with open(os.path.join(out_dir, f"{part}-{result['global_rank']}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
