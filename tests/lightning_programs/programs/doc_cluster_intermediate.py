# Source: https://lightning.ai/docs/pytorch/stable/clouds/cluster_intermediate_1.html and
#   https://lightning.ai/docs/pytorch/stable/clouds/cluster_intermediate_2.html
#   (pytorch-lightning docs/source-pytorch/clouds/cluster_intermediate_1.rst,
#   cluster_intermediate_2.rst; Apache-2.0, Copyright The Lightning AI team), with the launch by
#   environment variables that accelerators/gpu_intermediate.rst shows for DDP.
# Edits: the pages' training script (any LightningModule, "no need to add anything specific",
#   and a Trainer with `strategy="ddp"` and `num_nodes`) is this file run with `--worker`: a
#   small model on random tensors whose every process writes what it saw to a JSON file. The
#   main program launches it the two ways the pages show, on this one machine, with 2 CPU
#   processes (gloo) in place of GPUs:
#  - cluster_intermediate_2 ("Run with TorchRun"): `torchrun --nproc_per_node=2 --nnodes=1
#    --node_rank 0 --master_addr 127.0.0.1 --master_port <free> train.py` (as
#    `python -m torch.distributed.run`), with `Trainer(accelerator="cpu", devices=2,
#    num_nodes=1, strategy="ddp")`, the numbers the page says must match torchrun's;
#  - cluster_intermediate_1 ("Setup the cluster"): one process per "node" started by hand with
#    MASTER_ADDR, MASTER_PORT, WORLD_SIZE (here the processes in all, 2), NODE_RANK (0 and 1)
#    and LOCAL_RANK=0, as gpu_intermediate's "3 GPUs DDP" lines, with
#    `Trainer(accelerator="cpu", devices=1, num_nodes=2, strategy="ddp")`.
#   Asserted: each process's `global_rank`/`local_rank`/`node_rank`/`world_size`, that the
#   processes split the training data between them (a DistributedSampler: half each), and that
#   their weights are the same after fit (DDP's averaged gradients). The firewall, NCCL_DEBUG and
#   lightning-grid parts are left out (GPU and cluster only).
import json
import os
import socket
import subprocess
import sys
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 2)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.extend(y.tolist())
        loss = nn.functional.cross_entropy(self.layer(x), y.long() % 2)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(32, 8, generator=g)
        return DataLoader(TensorDataset(x, torch.arange(32.0)), batch_size=4)


def worker(part, out_dir):
    if part == "torchrun":
        trainer = Trainer(accelerator="cpu", devices=2, num_nodes=1, strategy="ddp", max_epochs=1,
                          logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False)
    else:
        trainer = Trainer(accelerator="cpu", devices=1, num_nodes=2, strategy="ddp", max_epochs=1,
                          logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False)
    model = LitModel()
    trainer.fit(model)
    result = {
        "global_rank": trainer.global_rank,
        "local_rank": trainer.local_rank,
        "node_rank": trainer.node_rank,
        "world_size": trainer.world_size,
        "num_nodes": trainer.num_nodes,
        "seen": sorted(int(i) for i in model.seen),
        "weight": model.layer.weight.detach().flatten().tolist(),
        "global_step": trainer.global_step,
    }
    with open(os.path.join(out_dir, f"{part}-{trainer.global_rank}.json"), "w") as f:
        json.dump(result, f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env():
    env = dict(os.environ)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE",
                 "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def read(out_dir, part):
    results = {}
    for rank in range(2):
        with open(os.path.join(out_dir, f"{part}-{rank}.json")) as f:
            results[rank] = json.load(f)
    return results


def check(results, *, local_ranks, node_ranks, num_nodes):
    for rank, r in results.items():
        assert r["global_rank"] == rank, r
        assert r["local_rank"] == local_ranks[rank], r
        assert r["node_rank"] == node_ranks[rank], r
        assert r["world_size"] == 2, r
        assert r["num_nodes"] == num_nodes, r
        assert r["global_step"] == 4, r  # 32 samples, batch 4, half each
        assert len(r["seen"]) == 16, r
    assert sorted(results[0]["seen"] + results[1]["seen"]) == list(range(32))
    assert torch.allclose(torch.tensor(results[0]["weight"]), torch.tensor(results[1]["weight"]))


def main():
    out_dir = tempfile.mkdtemp()

    # -- Run with TorchRun (TorchElastic) --
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--node_rank", "0", "--master_addr", "127.0.0.1", "--master_port", str(port),
           __file__, "--worker", "torchrun", out_dir]
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check(read(out_dir, "torchrun"), local_ranks=[0, 1], node_ranks=[0, 0], num_nodes=1)

    # -- Setup the cluster: the environment variables on each node, one process per node --
    port = free_port()
    procs = []
    for node_rank in range(2):
        env = clean_env()
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2",
                   NODE_RANK=str(node_rank), LOCAL_RANK="0")
        cmd = [sys.executable, __file__, "--worker", "nodes", out_dir]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
    check(read(out_dir, "nodes"), local_ranks=[0, 0], node_ranks=[0, 1], num_nodes=2)
    print("cluster pages: ok")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
