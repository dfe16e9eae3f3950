# Source: https://lightning.ai/docs/pytorch/stable/advanced/strategy_registry.html
#   (pytorch-lightning docs/source-pytorch/advanced/strategy_registry.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets joined into one program around a small model on random tensors:
#  - the registry's names ("ddp", "deepspeed_stage_3_offload", ...) listed, `get` of a name not
#    registered (KeyError), a second registration without `override=True` (ValueError), the
#    decorator form, `remove`;
#  - the page's `CustomCheckpointIO` (its `...` filled in with torch.save/torch.load, counting
#    the calls) registered with `DDPStrategy` as "ddp_custom_checkpoint_io" and fitted with
#    `Trainer(strategy="ddp_custom_checkpoint_io", accelerator="cpu", devices=2)` (the page's
#    "gpu"): the script runs again for rank 1, and rank 0 saves through the plugin;
#  - `CheckpointIO` imported from `lightning.pytorch.plugins` (`lightning.pytorch.strategies`
#    has no such name in Lightning 2.6.6), and `Dict`/`Union`/`Path` imported for the page's
#    signatures.
#   Left out: the GPU/TPU Trainers (`accelerator="gpu"`/`"tpu"`, DeepSpeed stage 3 offload,
#   `xla_debug`).
import os
import sys
from pathlib import Path
from typing import Any, Dict, Union

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.plugins import CheckpointIO
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CALLS = []


class CustomCheckpointIO(CheckpointIO):
    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Union[str, Path], storage_options=None) -> None:
        CALLS.append(("save", os.path.basename(str(path))))
        os.makedirs(os.path.dirname(str(path)), exist_ok=True)
        torch.save(checkpoint, path)

    def load_checkpoint(self, path: Union[str, Path], map_location=None) -> Dict[str, Any]:
        CALLS.append(("load", os.path.basename(str(path))))
        return torch.load(path, weights_only=False)

    def remove_checkpoint(self, path) -> None:
        os.remove(path)


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(16, 8, generator=g), torch.randint(0, 2, (16,), generator=g)),
                          batch_size=4)


def main():
    names = StrategyRegistry.available_strategies()
    for name in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true", "deepspeed",
                 "deepspeed_stage_2", "deepspeed_stage_3_offload", "fsdp"):
        assert name in names and name in StrategyRegistry, name
    assert str(StrategyRegistry).startswith("Registered Strategies: ddp")
    assert isinstance(StrategyRegistry.get("ddp_spawn"), DDPStrategy)
    try:
        StrategyRegistry.get("no_such_strategy")
    except KeyError as e:
        assert "'no_such_strategy' not found in registry" in str(e), e
    else:
        raise AssertionError("an unknown name was found")
    try:
        StrategyRegistry.register("ddp", DDPStrategy)
    except ValueError as e:
        assert "already present in the registry" in str(e) and "override=True" in str(e), e
    else:
        raise AssertionError("a name was registered twice")

    @StrategyRegistry.register("ddp_fork_gloo", description="DDP in forked processes, gloo",
                               start_method="fork", process_group_backend="gloo")
    class MyDDP(DDPStrategy):
        pass

    entry = StrategyRegistry["ddp_fork_gloo"]
    assert entry["description"] == "DDP in forked processes, gloo" and entry["strategy"] is MyDDP
    assert entry["init_params"] == {"start_method": "fork", "process_group_backend": "gloo"}
    assert isinstance(StrategyRegistry.get("ddp_fork_gloo"), MyDDP)
    StrategyRegistry.remove("ddp_fork_gloo")
    assert "ddp_fork_gloo" not in StrategyRegistry.available_strategies()

    # -- the page's custom strategy: DDP with a custom CheckpointIO --
    custom_checkpoint_io = CustomCheckpointIO()

    # Register the DDP Strategy with your custom CheckpointIO plugin
    StrategyRegistry.register(
        "ddp_custom_checkpoint_io",
        DDPStrategy,
        description="DDP Strategy with custom checkpoint io plugin",
        checkpoint_io=custom_checkpoint_io,
    )

    trainer = Trainer(strategy="ddp_custom_checkpoint_io", accelerator="cpu", devices=2, max_epochs=1,
                      default_root_dir="run", logger=False, enable_progress_bar=False,
                      enable_model_summary=False)
    assert isinstance(trainer.strategy, DDPStrategy)
    trainer.fit(LitModel())
    assert trainer.world_size == 2 and trainer.global_step == 2
    if trainer.global_rank == 0:
        assert ("save", "epoch=0-step=2.ckpt") in CALLS, CALLS
        assert os.path.isfile("run/checkpoints/epoch=0-step=2.ckpt")
        print("strategy registry: ok")


if __name__ == "__main__":
    main()
