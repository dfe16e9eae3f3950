"""Checkpoints under DeepSpeed: 2 processes, ZeRO 2 (bf16) and 3 (fp32).

``trainer.save_checkpoint(path)`` makes ``path`` a directory (DeepSpeed's shards plus
``treadle.ckpt``); ``fit(ckpt_path=path)`` resumes exactly: a run of 1 epoch, saved and resumed
for 2 more, ends with the parameters of an uninterrupted 3-epoch run, bit for bit (dropout, a
step scheduler and a shuffled DistributedSampler included). ``validate(ckpt_path=...)`` alone
loads the weights; ``weights_only=True`` writes one ordinary file with the full weights.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

import treadle
from _ds_jobs import run, write

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not treadle.module_available("deepspeed"),
        reason="deepspeed is not installed (pip install treadle[deepspeed])",
    ),
]

JOB = """
import json, os, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle
from treadle_plugins.checkpointing import ModelCheckpoint

OUT = Path(sys.argv[1])


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = torch.tanh(x @ torch.randn(8, 1, generator=g))
    return DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True,
                      generator=torch.Generator().manual_seed(1))


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.1), nn.Tanh(), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self.net(batch[0]).float(), batch[1].float())

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.mse_loss(self.net(batch[0]).float(), batch[1].float()),
                 sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.01)
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


def gathered(module):
    import deepspeed
    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        return [p.detach().double().flatten().tolist() for p in params]


def trainer(strategy, precision, epochs, callbacks=()):
    return treadle.Trainer(accelerator="cpu", devices=2, strategy=strategy, precision=precision,
                           max_epochs=epochs, logger=False, enable_progress_bar=False,
                           enable_checkpointing=bool(callbacks), callbacks=list(callbacks),
                           num_sanity_val_steps=0)


for name, strategy, precision in (("s2_bf16", "deepspeed_stage_2", "bf16-true"),
                                  ("s3_fp32", "deepspeed_stage_3", "32-true")):
    here = OUT / name
    treadle.seed_everything(0)
    model = Regression()
    full = trainer(strategy, precision, 3, [ModelCheckpoint(dirpath=here / "top1", save_top_k=1)])
    full.fit(model, loader())
    record = {"full": gathered(model), "global_step": full.global_step,
              "lr": full.strategy.engine.get_lr()[0]}
    full.save_checkpoint(here / "weights.ckpt", weights_only=True)
    record["full_val"] = full.validate(model, loader())[0]["val_loss"]

    treadle.seed_everything(0)
    model = Regression()
    half = trainer(strategy, precision, 1)
    half.fit(model, loader())
    half.save_checkpoint(here / "half.ckpt")
    half.save_checkpoint(here / "half.ckpt")  # over an existing checkpoint directory
    record["half"] = gathered(model)

    treadle.seed_everything(0)  # the sampler's seed; the checkpoint's RNG state wins over:
    torch.rand(7)
    model = Regression()
    resumed = trainer(strategy, precision, 3)
    resumed.fit(model, loader(), ckpt_path=here / "half.ckpt")
    record["resumed"] = gathered(model)
    record["resumed_global_step"] = resumed.global_step
    record["resumed_lr"] = resumed.strategy.engine.get_lr()[0]
    resumed.save_checkpoint(here / "end.ckpt")

    record["validated"] = trainer(strategy, precision, 1).validate(
        Regression(), loader(), ckpt_path=here / "end.ckpt")[0]["val_loss"]
    if full.is_global_zero:
        record["files"] = sorted(str(p.relative_to(here / "half.ckpt"))
                                 for p in (here / "half.ckpt").rglob("*") if p.is_file())
        record["top1"] = sorted(os.listdir(here / "top1"))
        record["leftovers"] = sorted(p.name for p in here.iterdir())
        (OUT / f"{name}.json").write_text(json.dumps(record))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_ckpt")
    write(tmp / "job.py", JOB)
    (tmp / "out").mkdir()
    run([sys.executable, "job.py", "out"], cwd=tmp, timeout=300)
    return tmp / "out"


def record(saved, name):
    return json.loads((saved / f"{name}.json").read_text())


def flat(params) -> torch.Tensor:
    return torch.tensor([v for p in params for v in p], dtype=torch.float64)


@pytest.mark.parametrize("name", ["s2_bf16", "s3_fp32"])
def test_resume_matches_an_uninterrupted_run(saved, name):
    r = record(saved, name)
    assert not torch.equal(flat(r["half"]), flat(r["full"]))
    assert torch.equal(flat(r["resumed"]), flat(r["full"]))
    assert r["resumed_global_step"] == r["global_step"] == 24
    assert r["resumed_lr"] == r["lr"]


@pytest.mark.parametrize(
    "name, optimizer_files",
    [
        (
            "s2_bf16",
            [
                "checkpoint/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
                "checkpoint/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt",
                "checkpoint/mp_rank_00_model_states.pt",
            ],
        ),
        (
            "s3_fp32",
            [
                "checkpoint/zero_pp_rank_0_mp_rank_00_model_states.pt",
                "checkpoint/zero_pp_rank_0_mp_rank_00_optim_states.pt",
                "checkpoint/zero_pp_rank_1_mp_rank_00_model_states.pt",
                "checkpoint/zero_pp_rank_1_mp_rank_00_optim_states.pt",
            ],
        ),
    ],
)
def test_a_checkpoint_is_a_directory(saved, name, optimizer_files):
    r = record(saved, name)
    assert [f for f in r["files"] if f.startswith("checkpoint/")] == optimizer_files
    assert "treadle.ckpt" in r["files"]
    treadle_part = torch.load(saved / name / "half.ckpt" / "treadle.ckpt", weights_only=True)
    assert "state_dict" not in treadle_part and "optimizer_states" not in treadle_part
    assert treadle_part["deepspeed"]["world_size"] == 2
    assert treadle_part["global_step"] == 8 and treadle_part["lr_schedulers"]
    # no temporary or replaced directory left behind by the overwrite
    assert r["leftovers"] == ["end.ckpt", "half.ckpt", "top1", "weights.ckpt"]


@pytest.mark.parametrize("name", ["s2_bf16", "s3_fp32"])
def test_model_checkpoint_keeps_the_best_directory_only(saved, name):
    assert record(saved, name)["top1"] == ["epoch=2-step=24.ckpt"]


@pytest.mark.parametrize("name", ["s2_bf16", "s3_fp32"])
def test_weights_only_is_one_file_with_the_full_weights(saved, name):
    checkpoint = torch.load(saved / name / "weights.ckpt", weights_only=True)
    state = checkpoint["state_dict"]
    assert list(state) == ["net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"]
    assert torch.equal(
        torch.cat([v.double().flatten() for v in state.values()]), flat(record(saved, name)["full"])
    )


@pytest.mark.parametrize("name", ["s2_bf16", "s3_fp32"])
def test_validate_alone_loads_the_weights(saved, name):
    r = record(saved, name)
    assert r["validated"] == pytest.approx(r["full_val"], rel=1e-6)
