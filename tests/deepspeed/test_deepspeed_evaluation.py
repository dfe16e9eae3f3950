"""``test()`` and ``predict()`` under DeepSpeed, 2 processes (gloo, CPU): the steps run through
the engine, each rank reads its own samples once (ZeRO 0-2), and ``sync_dist`` metrics are
reduced over the ranks at the epoch's end.

9 samples, batch size 2: rank 0 gets samples 0, 2, 4, 6, 8 (3 batches), rank 1 samples
1, 3, 5, 7 (2 batches). Under ZeRO-3 every forward gathers the parameters (a collective), so the
ranks must run the same number of batches: there the sampler pads rank 1 with sample 0.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from _ds_jobs import records, run, write

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not treadle.module_available("deepspeed"),
        reason="deepspeed is not installed (pip install treadle[deepspeed])",
    ),
]

N = 9

JOB = f"""
import json, os, sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

OUT = sys.argv[1]


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn({N}, 3, generator=g)
    y = x.sum(1, keepdim=True) + 0.5 * torch.randn({N}, 1, generator=g)
    return DataLoader(TensorDataset(x, y, torch.arange({N})), batch_size=2)


class Scorer(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(3, 1)
        self.seen = []

    def test_step(self, batch, batch_idx):
        x, y, idx = batch
        self.seen += idx.tolist()
        out = self.net(x)
        self.log("test_loss", F.mse_loss(out.float(), y.float()), sync_dist=True)
        self.log("test_count", float(len(idx)), reduce_fx="sum", sync_dist=True)
        self.log("autocast", float(torch.is_autocast_enabled("cpu")), reduce_fx="min",
                 sync_dist=True)

    def predict_step(self, batch, batch_idx):
        x, y, idx = batch
        out = self.net(x)
        return {{"idx": idx.tolist(), "out": out.float().flatten().tolist(),
                 "dtype": str(out.dtype), "autocast": torch.is_autocast_enabled("cpu")}}


for name, strategy, precision in (("s2", "deepspeed_stage_2", "32-true"),
                                  ("s2_bf16mixed", "deepspeed_stage_2", "bf16-mixed"),
                                  ("s3", "deepspeed_stage_3", "32-true")):
    trainer = treadle.Trainer(accelerator="cpu", devices=2, strategy=strategy,
                              precision=precision, logger=False, enable_progress_bar=False,
                              enable_checkpointing=False, process_group_timeout=60)
    model = Scorer()
    result = trainer.test(model, loader())[0]
    predictions = trainer.predict(model, loader())
    record = {{"name": name, "rank": trainer.global_rank, "test": result, "seen": model.seen,
              "predict": predictions,
              "zero_stage": trainer.strategy.engine.zero_optimization_stage()}}
    with open(os.path.join(OUT, f"rank{{trainer.global_rank}}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\\n")
"""


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_eval")
    write(tmp / "job.py", JOB)
    (tmp / "out").mkdir()
    run([sys.executable, "job.py", "out"], cwd=tmp, timeout=240)
    r0, r1 = records(tmp / "out", 0), records(tmp / "out", 1)
    return {a["name"]: (a, b) for a, b in zip(r0, r1)}


def reference():
    """Plain PyTorch over the 9 samples: per-sample outputs and the mean loss."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    y = x.sum(1, keepdim=True) + 0.5 * torch.randn(N, 1, generator=g)
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    with torch.no_grad():
        out = net(x)
        return out.flatten().tolist(), float(F.mse_loss(out, y))


def test_zero2_test_reduces_over_every_sample_once(evaluated):
    r0, r1 = evaluated["s2"]
    outputs, loss = reference()
    assert r0["seen"] == [0, 2, 4, 6, 8] and r1["seen"] == [1, 3, 5, 7]
    for r in (r0, r1):
        assert r["test"]["test_count"] == 9.0
        assert r["test"]["test_loss"] == pytest.approx(loss, rel=1e-6)
        assert r["test"]["autocast"] == 0.0


def test_zero2_predict_returns_each_rank_its_share(evaluated):
    r0, r1 = evaluated["s2"]
    outputs, _ = reference()
    assert [b["idx"] for b in r0["predict"]] == [[0, 2], [4, 6], [8]]
    assert [b["idx"] for b in r1["predict"]] == [[1, 3], [5, 7]]
    got = {i: o for r in (r0, r1) for b in r["predict"] for i, o in zip(b["idx"], b["out"])}
    assert sorted(got) == list(range(N))
    for i, expected in enumerate(outputs):
        assert got[i] == pytest.approx(expected, rel=1e-6)


def test_bf16_mixed_steps_run_inside_the_engines_autocast(evaluated):
    # The precision plugin stands aside under DeepSpeed: autocast comes from engine.forward.
    r0, r1 = evaluated["s2_bf16mixed"]
    for r in (r0, r1):
        assert r["test"]["autocast"] == 1.0
        assert {b["dtype"] for b in r["predict"]} == {"torch.bfloat16"}
        assert all(b["autocast"] for b in r["predict"])
    _, loss = reference()
    assert r0["test"]["test_loss"] == pytest.approx(loss, rel=2e-2)  # bf16 math


def test_zero3_pads_so_every_forward_pairs_up(evaluated):
    r0, r1 = evaluated["s3"]
    assert (r0["zero_stage"], r1["zero_stage"]) == (3, 3)
    assert r0["seen"] == [0, 2, 4, 6, 8] and r1["seen"] == [1, 3, 5, 7, 0]  # sample 0 again
    assert r0["test"]["test_count"] == r1["test"]["test_count"] == 10.0
    assert [len(b["idx"]) for b in r1["predict"]] == [2, 2, 1]
