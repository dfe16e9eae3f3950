"""A ``CombinedLoader`` on 2 ranks (gloo, CPU): each inner loader gets its own
``DistributedSampler``, as Lightning's ``test_combined_dataloader_for_training_with_ddp`` and
``test_combined_data_loader_validation_test`` check (tests/tests_pytorch/utilities/
test_combined_loader.py, Copyright The Lightning AI team, Apache-2.0; ported through a real
two-process ``fit`` instead of Lightning's private data connector)."""

from __future__ import annotations

import math
import sys

import pytest

from _procs import read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import treadle
from treadle.utilities import CombinedLoader


class Recorder(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.train_seen, self.val_seen = [], []

    def training_step(self, batch, batch_idx):
        self.train_seen.append({k: v.tolist() for k, v in batch.items()})
        return self.layer(torch.ones(1, 1)).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.val_seen.append([dataloader_idx, batch.tolist()])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(out, mode, use_distributed_sampler):
    model = Recorder()
    train = {"a": DataLoader(range(8)), "b": DataLoader(range(100, 106))}
    if mode != "max_size_cycle":
        train = CombinedLoader(train, mode)
    val = CombinedLoader([DataLoader(range(5)), DataLoader(range(50, 53))], "sequential")
    t = treadle.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                        enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=out,
                        process_group_timeout=30, max_epochs=1, num_sanity_val_steps=0,
                        use_distributed_sampler=use_distributed_sampler)
    t.fit(model, train, val)
    samplers = t.train_dataloader
    return {"num_training_batches": t.num_training_batches,
            "num_val_batches": t.num_val_batches,
            "samplers": sorted(type(loader.sampler).__name__ for loader in samplers.values()),
            "train_seen": model.train_seen, "val_seen": model.val_seen,
            "rank": t.global_rank}


if __name__ == "__main__":
    out = sys.argv[1]
    result = {f"{mode}-{d}": fit(out, mode, d)
              for mode in ("max_size_cycle", "min_size") for d in (True, False)}
    rank = result["min_size-False"]["rank"]
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp_combined")
    script = write(tmp / "combined.py", SCRIPT)
    out = tmp / "out"
    out.mkdir()
    run([sys.executable, str(script), str(out)], tmp, timeout=150)
    return read_json(out / "rank0.json"), read_json(out / "rank1.json")


@pytest.mark.parametrize("mode", ["max_size_cycle", "min_size"])
@pytest.mark.parametrize("use_distributed_sampler", [True, False])
def test_each_inner_loader_gets_a_distributed_sampler(job, mode, use_distributed_sampler):
    n1, n2 = 8, 6
    before = {"max_size_cycle": max, "min_size": min}[mode]([n1, n2])
    expected = math.ceil(before / 2) if use_distributed_sampler else before
    for rank, result in enumerate(job):
        r = result[f"{mode}-{use_distributed_sampler}"]
        assert r["num_training_batches"] == expected == len(r["train_seen"])
        sampler = "DistributedSampler" if use_distributed_sampler else "SequentialSampler"
        assert r["samplers"] == [sampler, sampler]
        if use_distributed_sampler:  # rank r reads samples r, r + 2, ... of each loader
            assert [b["a"][0] for b in r["train_seen"]] == list(range(rank, n1, 2))[:expected]
            # the evaluation sampler: each sample once, rank 0 reads 0, 2, 4 of range(5)
            assert r["val_seen"][0] == [0, [rank]]
            assert r["num_val_batches"] == ([3, 2] if rank == 0 else [2, 1])
