# Source: https://lightning.ai/docs/pytorch/stable/accelerators/gpu_basic.html and
#   https://lightning.ai/docs/pytorch/stable/accelerators/gpu_intermediate.html
#   (pytorch-lightning docs/source-pytorch/accelerators/gpu_basic.rst, gpu_intermediate.rst;
#   Apache-2.0, Copyright The Lightning AI team)
# Edits: the pages' Trainers run on this CPU-only machine with `accelerator="cpu"` and 2
#   processes (gloo) in place of 8 GPUs, each fitting a small model on random tensors:
#  - "Distributed Data Parallel": `strategy="ddp"` calls the script again for rank 1 (run here
#    as `python this_file.py --ddp`); each process sees half the data, their weights end equal,
#    and "all processes (including the main process) ... have the updated state of the model
#    and Trainer state" (global_step, callback_metrics in the main process);
#  - "Spawn": `strategy="ddp_spawn"`: after `fit()` the model's weights are back in the main
#    process (changed by training, equal to rank 0's);
#  - "Notebook/Fork": `strategy="ddp_notebook"` and `"ddp_fork"`, the same;
#  - the note "If you request multiple GPUs or nodes without setting a strategy, DDP will be
#    automatically used": `Trainer(accelerator="cpu", devices=2).strategy` is a DDPStrategy;
#  - "Optimize multi-machine communication": `DDPStrategy(process_group_backend="gloo")` (the
#    page's "nccl" is GPU-only), fitted with `start_method="fork"`;
#  - gpu_basic's `devices` forms as the CPU takes them (an int, a string of a count);
#    `accelerator="gpu"` without a GPU is refused (MisconfigurationException).
#   Left out: the GPU-only device lists (`devices=[0, 1]`, `"0, 1"`, `-1`), `find_usable_cuda_gpus`
#   (needs CUDA), and torchrun (doc_cluster_intermediate.py).
import json
import os
import subprocess
import sys
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(8, 2)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.extend(int(i) for i in y.tolist())
        loss = nn.functional.cross_entropy(self.layer(x), y.long() % 2)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(32, 8, generator=g), torch.arange(32.0)), batch_size=4)


def make_trainer(**kwargs):
    return Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, **kwargs)


def run_ddp(out_dir):
    # train on 8 GPUs (same machine (ie: node)) -> 2 CPU processes
    trainer = make_trainer(accelerator="cpu", devices=2, strategy="ddp")
    model = LitModel()
    trainer.fit(model)
    result = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "seen": sorted(model.seen),
        "weight": model.layer.weight.detach().flatten().tolist(),
        "global_step": trainer.global_step,
        "has_loss": "train_loss" in trainer.callback_metrics,
    }
    with open(os.path.join(out_dir, f"ddp-{trainer.global_rank}.json"), "w") as f:
        json.dump(result, f)


def main():
    out_dir = tempfile.mkdtemp()
    initial = LitModel().layer.weight.detach().clone()

    # -- Distributed Data Parallel: Lightning calls the script again for the other rank --
    proc = subprocess.run([sys.executable, __file__, "--ddp", out_dir], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = []
    for rank in range(2):
        with open(os.path.join(out_dir, f"ddp-{rank}.json")) as f:
            r.append(json.load(f))
    assert [x["rank"] for x in r] == [0, 1] and r[0]["world_size"] == 2
    assert len(r[0]["seen"]) == len(r[1]["seen"]) == 16
    assert sorted(r[0]["seen"] + r[1]["seen"]) == list(range(32))
    assert torch.allclose(torch.tensor(r[0]["weight"]), torch.tensor(r[1]["weight"]))
    assert not torch.allclose(torch.tensor(r[0]["weight"]), initial.flatten())
    assert r[0]["global_step"] == r[1]["global_step"] == 4 and r[0]["has_loss"]

    # -- Distributed Data Parallel Spawn / Notebook / Fork: the weights come back --
    for strategy in ("ddp_spawn", "ddp_notebook", "ddp_fork"):
        model = LitModel()
        trainer = make_trainer(accelerator="cpu", devices=2, strategy=strategy)
        trainer.fit(model)
        assert not torch.allclose(model.layer.weight, initial), strategy
        assert trainer.world_size == 2, strategy

    # -- DDP is chosen when several devices are asked for without a strategy --
    trainer = Trainer(accelerator="cpu", devices=2)
    assert isinstance(trainer.strategy, DDPStrategy), trainer.strategy
    assert trainer.num_devices == 2

    # -- Optimize multi-machine communication: the process group backend --
    ddp = DDPStrategy(process_group_backend="gloo")
    trainer = make_trainer(strategy=ddp, accelerator="cpu", devices=2)
    assert trainer.strategy.process_group_backend == "gloo"
    # fitted in forked processes (`start_method="fork"`, as ddp_fork), which return the weights
    ddp_fork = DDPStrategy(process_group_backend="gloo", start_method="fork")
    model = LitModel()
    trainer = make_trainer(strategy=ddp_fork, accelerator="cpu", devices=2)
    trainer.fit(model)
    assert trainer.strategy.process_group_backend == "gloo"
    assert not torch.allclose(model.layer.weight, initial)

    # -- gpu_basic: devices as the CPU takes them; no GPU here --
    for devices, expected in ((1, 1), (2, 2), ("2", 2)):
        trainer = Trainer(accelerator="cpu", devices=devices)
        assert trainer.num_devices == expected, (devices, trainer.num_devices)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        try:
            Trainer(accelerator="gpu", devices=1)
        except MisconfigurationException as e:
            assert "gpu" in str(e).lower(), e
        else:
            raise AssertionError("accelerator='gpu' accepted without a GPU")
    print("gpu pages on the CPU: ok")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp":
        run_ddp(sys.argv[2])
    else:
        main()
