"""``Trainer(sync_batchnorm=True)`` on two real gloo processes, as Lightning's DDP and FSDP
strategies apply it: the Module's batch norms are ``SyncBatchNorm`` for ``fit()`` (before the
strategy wraps the Module) and are turned back when it ends.

On a CPU, torch's ``DistributedDataParallel`` refuses ``SyncBatchNorm`` layers ("SyncBatchNorm
layers only work with GPU modules"), so the DDP run fails exactly as Lightning's does on this
machine: that failure shows the layers were converted before the wrap. FSDP wraps without that
check; its run keeps the batch norm in eval mode (running statistics: no synchronization, which
``SyncBatchNorm`` could only do on a GPU), so it trains and the conversion and its revert show.
The one-process case (no conversion, as Lightning's single-device strategy) is in
``tests/lightning/test_lightning_plugins.py``.
"""

from __future__ import annotations

import sys

import pytest

from _procs import read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, os, sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle


class WithNorm(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer, self.norm = nn.Linear(4, 4), nn.BatchNorm1d(4)

    def training_step(self, batch, batch_idx):
        self.norm.eval()  # running statistics: SyncBatchNorm synchronizes nothing on a CPU
        return self.norm(self.layer(batch[0])).pow(2).mean()

    def on_train_start(self):
        Path(sys.argv[2], f"rank{self.global_rank}.json").write_text(
            json.dumps({"norm": type(self.norm).__name__})
        )

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(strategy, out):
    data = TensorDataset(torch.randn(16, 4))
    model = WithNorm()
    trainer = treadle.Trainer(
        strategy=strategy, accelerator="cpu", devices=2, max_steps=2, sync_batchnorm=True,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    try:
        trainer.fit(model, DataLoader(data, batch_size=4))
    except ValueError as exc:
        result = {"error": str(exc)}
    else:
        result = {"global_step": trainer.global_step}
    result["after"] = type(model.norm).__name__
    # written whole or not at all: rank 0's error may terminate this rank at any point
    part = Path(out, f".end{trainer.global_rank}.part")
    part.write_text(json.dumps(result))
    os.replace(part, Path(out, f"end{trainer.global_rank}.json"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_sync_batchnorm_converts_for_fit_and_reverts(tmp_path, strategy) -> None:
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), strategy, str(out)], tmp_path, timeout=150)
    for rank in (0, 1):
        if strategy == "ddp" and rank == 1 and not (out / "end1.json").exists():
            # Rank 0's own error ends the job at once: the launcher terminates the other ranks
            # (they would wait for it in a collective), so a slower rank 1 may be stopped
            # before its DDP wrap failed and wrote its file. Rank 0 shows the conversion.
            continue
        end = read_json(out / f"end{rank}.json")
        if strategy == "ddp":  # torch refuses SyncBatchNorm under DDP on a CPU, as in Lightning
            assert "SyncBatchNorm layers only work with GPU modules" in end["error"], end
        else:
            assert read_json(out / f"rank{rank}.json") == {"norm": "SyncBatchNorm"}
            assert end["global_step"] == 2
        assert end["after"] == "_BatchNormXd"  # turned back when fit() ended, failed or not
