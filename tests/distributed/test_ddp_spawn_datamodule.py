"""A ``DataModule`` under ``strategy="ddp_spawn"``, for real: 2 processes, gloo, on the CPU.

As in Lightning: the DataModule is pickled to the spawned ranks; ``prepare_data`` runs once per
node (local rank 0), ``setup(stage)`` on every rank, the loaders come from the DataModule; the
caller gets rank 0's weights, counters and results. The same run checks a profiler's report
files per stage and rank (Lightning's ``test_simple_profiler_distributed_files``, Copyright The
Lightning AI team, Apache-2.0).
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
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.profilers import SimpleProfiler


class DataModule(treadle.DataModule):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def prepare_data(self):  # once per node: a file per call
        Path(self.out, f"prepare_data.{os.getpid()}").write_text(os.environ.get("LOCAL_RANK", "?"))

    def setup(self, stage):
        Path(self.out, f"setup.{stage}.{os.environ.get('RANK', 'parent')}").write_text("")
        g = torch.Generator().manual_seed(0)
        self.data = TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=4)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=4)

    def test_dataloader(self):
        return DataLoader(self.data, batch_size=4)


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y), sync_dist=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    out = sys.argv[1]
    treadle.seed_everything(0)
    profiler = SimpleProfiler(dirpath=Path(out, "profiles"), filename="profiler")
    trainer = treadle.Trainer(
        strategy="ddp_spawn", accelerator="cpu", devices=2, max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=out, profiler=profiler,
    )
    dm, model = DataModule(out), Regression()
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(model, datamodule=dm)
    results = trainer.test(model, datamodule=dm, verbose=False)
    Path(out, "parent.json").write_text(json.dumps({
        "global_step": trainer.global_step,
        "changed": any(not torch.equal(a, b) for a, b in zip(before, model.parameters())),
        "results": results,
        "datamodule_is_the_callers": trainer.datamodule is dm and dm.trainer is trainer,
    }))
"""


def test_a_datamodule_runs_under_ddp_spawn(tmp_path):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), str(out)], tmp_path, timeout=120)
    parent = read_json(out / "parent.json")
    # 32 samples, 2 ranks, batch 4: 4 batches a rank an epoch, 2 epochs
    assert parent["global_step"] == 8 and parent["changed"]
    assert list(parent["results"][0]) == ["test_loss"] and parent["datamodule_is_the_callers"]
    # prepare_data: once per node and entry point (local rank 0), in the spawned ranks
    prepared = sorted(p.read_text() for p in out.glob("prepare_data.*"))
    assert prepared == ["0", "0"]
    setups = sorted(p.name for p in out.glob("setup.*"))
    assert setups == ["setup.fit.0", "setup.fit.1", "setup.test.0", "setup.test.1"]
    # the profiler's report, one file per stage and rank
    profiles = out / "profiles"
    expected = {f"{stage}-profiler-{rank}.txt" for stage in ("fit", "test") for rank in (0, 1)}
    assert {p.name for p in profiles.iterdir()} == expected
    assert all(p.read_text("utf-8").strip() for p in profiles.iterdir())
