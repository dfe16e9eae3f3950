"""An accumulation window under DeepSpeed ZeRO 2 and 3 (issue 11): its gradients are in
DeepSpeed's buffers, not in ``param.grad``, so no checkpoint carries an unfinished window. A
preemption signal that arrives inside one stops the run at the window's last batch, and the
resumed run ends with the weights of a run never stopped, bit for bit. (``ModelCheckpoint``'s
step and time triggers save only when ``global_step`` moved since its last save: at a window's
last batch.) One process per run (a signal ends it).
"""

from __future__ import annotations

import json
import signal
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
import json, os, signal, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

OUT, STRATEGY, MODE = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
RESUME = sys.argv[4] if len(sys.argv) > 4 else None
SIGNAL_AT = 3  # epoch 0, batch 3: the first batch of the window 3-5 (accumulate_grad_batches=3)


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 8, generator=g)
    y = torch.tanh(x @ torch.randn(8, 1, generator=g))
    return DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True,
                      generator=torch.Generator().manual_seed(1))


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.1), nn.Tanh(), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self.net(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


class Probe(treadle.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if MODE == "signal" and trainer.current_epoch == 0 and batch_idx == SIGNAL_AT:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_exception(self, trainer, pl_module, exception):
        (OUT / "exception.json").write_text(json.dumps({
            "type": type(exception).__name__, "global_step": trainer.global_step,
            "batch_idx": trainer.state.batch_idx, "ckpt_path": str(exception.ckpt_path)}))


def gathered(module):
    import deepspeed
    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        return [p.detach().double().flatten().tolist() for p in params]


treadle.seed_everything(0)
model = Regression()
trainer = treadle.Trainer(accelerator="cpu", devices=1, strategy=STRATEGY, max_epochs=2,
                          accumulate_grad_batches=3, logger=False, enable_progress_bar=False,
                          enable_checkpointing=False, enable_model_summary=False,
                          callbacks=[Probe()], default_root_dir=OUT / MODE)
trainer.fit(model, loader(), ckpt_path=RESUME)
(OUT / f"{MODE}.json").write_text(json.dumps(
    {"params": gathered(model), "global_step": trainer.global_step}))
"""

STRATEGIES = ["deepspeed_stage_2", "deepspeed_stage_3"]


def job(tmp, strategy, mode, *args, ok=True):
    out = tmp / strategy
    out.mkdir(exist_ok=True)
    return run([sys.executable, "job.py", str(out), strategy, mode, *args], cwd=tmp, ok=ok)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_window")
    write(tmp / "job.py", JOB)
    return tmp


def saved_loop(path):
    """The core's part of a DeepSpeed checkpoint directory."""
    return torch.load(path / "treadle.ckpt", weights_only=True)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_signal_inside_a_window_stops_at_its_end_and_resumes_exactly(jobs, strategy):
    job(jobs, strategy, "full")
    signalled = job(jobs, strategy, "signal", ok=False)
    out = jobs / strategy
    assert signalled.returncode == 128 + signal.SIGTERM, signalled.stdout
    assert "inside a gradient-accumulation window" not in signalled.stdout
    stop = json.loads((out / "exception.json").read_text())
    # the window 3-5 ran to its end: two optimizer steps (after batches 2 and 5), not one more
    assert stop["type"] == "Preempted" and stop["batch_idx"] == 5 and stop["global_step"] == 2
    ckpt = saved_loop(out / "signal" / "checkpoints" / "last.ckpt")
    assert ckpt["loops"]["fit"]["batches_done"] == 6 and "grads" not in ckpt["loops"]["fit"]

    job(jobs, strategy, "resume", str(out / "signal" / "checkpoints" / "last.ckpt"))
    full = json.loads((out / "full.json").read_text())
    resumed = json.loads((out / "resume.json").read_text())
    assert resumed["global_step"] == full["global_step"] == 8  # ceil(10 / 3) steps an epoch
    assert resumed["params"] == full["params"]  # bit for bit
