"""A time-based ``val_check_interval`` on two real gloo ranks: the ranks validate together.

Each rank has its own clock, and the ranks reach a batch's end at slightly different times, so
each deciding by its own clock could send one rank into validation (and its ``sync_dist``
collectives) while the other trains on. treadle lets rank 0's clock decide for all. Here rank 1
restarts its timer 0.3 s after rank 0 at every validation's end (a slow ``on_validation_end``),
which, with each rank's own clock, would put rank 0 into validation a batch or more before rank
1; both ranks must record the same validations, and the run must end.
"""

from __future__ import annotations

import sys

import pytest

from _procs import read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, sys, time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle


class Timed(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.validated_after = []

    def training_step(self, batch, batch_idx):
        time.sleep(0.1)
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("val_loss", loss, sync_dist=True)  # a collective: the ranks must both be here

    def on_validation_start(self):
        if not self.trainer.sanity_checking:
            self.validated_after.append(self.trainer.global_step)

    def on_validation_end(self):
        if self.global_rank == 1:
            time.sleep(0.3)  # rank 1's timer restarts later than rank 0's

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def main(out):
    data = TensorDataset(torch.randn(64, 4))
    model = Timed()
    trainer = treadle.Trainer(
        strategy="ddp", accelerator="cpu", devices=2, max_epochs=1, val_check_interval={"seconds": 0.45},
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=4), DataLoader(data, batch_size=16))
    Path(out, f"rank{trainer.global_rank}.json").write_text(
        json.dumps({"validated_after": model.validated_after, "steps": trainer.global_step})
    )


if __name__ == "__main__":
    main(sys.argv[1])
"""


def test_time_based_validation_runs_on_every_rank_at_the_same_batch(tmp_path) -> None:
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), str(out)], tmp_path, timeout=150)
    ranks = [read_json(out / f"rank{rank}.json") for rank in (0, 1)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 8  # 64 samples, 2 ranks, batches of 4
    assert ranks[0]["validated_after"] == ranks[1]["validated_after"], ranks
    assert len(ranks[0]["validated_after"]) >= 1, ranks  # 8 batches of 0.1 s, 0.45 s interval
