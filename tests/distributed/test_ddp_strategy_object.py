"""``Trainer(strategy=DDPStrategy(...))`` from ``treadle.strategies`` (Lightning's class, its
arguments), for real: two CPU processes on gloo, started by re-running the script
(``start_method="popen"``) or by ``torch.multiprocessing`` (``"spawn"``).

The module has a parameter no step uses: without ``find_unused_parameters=True`` reaching
``DistributedDataParallel``, the second step fails ("Expected to have finished reduction in the
prior iteration"), so a run that finishes shows the option was honoured; the communication hook
given to ``DDPStrategy`` counts its calls, so a count shows it was registered.
"""

from __future__ import annotations

import sys

import pytest

from _procs import read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.accelerators import CPUAccelerator
from treadle.strategies import DDPStrategy, ParallelStrategy, SingleDeviceStrategy

CALLS = []


def counting_hook(state, bucket):
    CALLS.append(state["name"])
    return allreduce_hook(None, bucket)


class WithUnused(treadle.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(4, 1), nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.used(x), y)

    def on_train_end(self):
        s = self.trainer.strategy
        Path(sys.argv[2], f"rank{self.global_rank}.json").write_text(json.dumps({
            "isinstance": [isinstance(s, DDPStrategy), isinstance(s, ParallelStrategy),
                           isinstance(s, SingleDeviceStrategy),
                           isinstance(self.trainer.accelerator, CPUAccelerator)],
            "name": s.name, "backend": dist.get_backend(),
            "property_backend": s.process_group_backend,
            "ranks": [s.global_rank, s.local_rank, s.world_size, s.is_global_zero],
            "per_node": [s.num_processes, s.num_nodes],
            "find_unused": s.model.find_unused_parameters, "hook_calls": len(CALLS),
            "weight": self.used.weight.tolist(),
        }))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(mode, out):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))
    torch.manual_seed(0)
    model = WithUnused()
    strategy = DDPStrategy(
        find_unused_parameters=True,
        process_group_backend="gloo",
        timeout=timedelta(seconds=60),
        start_method=mode,
        ddp_comm_state={"name": "counted"},
        ddp_comm_hook=counting_hook,
    )
    trainer = treadle.Trainer(
        strategy=strategy, accelerator="cpu", devices=2, max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=4))
    if trainer.is_global_zero:  # the caller's process (spawn: the weights came back)
        Path(out, "caller.json").write_text(json.dumps({
            "global_step": trainer.global_step, "weight": model.used.weight.tolist(),
        }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("mode", ["popen", "spawn"])
def test_ddp_strategy_object_runs_two_gloo_processes_with_its_options(tmp_path, mode) -> None:
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), mode, str(out)], tmp_path, timeout=150)
    r0, r1 = read_json(out / "rank0.json"), read_json(out / "rank1.json")
    name = "ddp" if mode == "popen" else "ddp_spawn"
    for rank, r in enumerate((r0, r1)):
        assert r["isinstance"] == [True, True, False, True]
        assert (r["name"], r["backend"], r["property_backend"]) == (name, "gloo", "gloo")
        assert r["ranks"] == [rank, rank, 2, rank == 0]
        assert r["per_node"] == [2, 1]
        assert r["find_unused"] is True
        # 32 samples / 2 ranks / batch 4 = 4 steps per epoch, 2 epochs: one bucket per step
        assert r["hook_calls"] == 8
    assert r0["weight"] == r1["weight"]  # the gradients were all-reduced
    caller = read_json(out / "caller.json")
    assert caller["global_step"] == 8 and caller["weight"] == r0["weight"]
