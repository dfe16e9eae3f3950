"""An accumulation window under DeepSpeed ZeRO 2 and 3 (issue 11): its gradients are in
DeepSpeed's buffers, not in ``param.grad``. A save inside one carries them (ZeRO 3: the full
reduced gradients in ``treadle.ckpt``; ZeRO 2, and ZeRO 3 with optimizer offload: each rank's
partitions in ``window_grads.rank{r}.pt``) and the resumed run ends with the weights of a run
never stopped, bit for bit, on 1 and 2 ranks, with float32 and (ZeRO 2, offloaded ZeRO 3)
bfloat16 parameters. A preemption signal that arrives inside a window stops the run at the
window's last batch. (``ModelCheckpoint``'s step and time triggers save only when
``global_step`` moved since its last save: at a window's last batch.) One process per run (a
signal ends it); a run that saves mid-window goes on to the end, which is the uninterrupted
run's result (checked against a run that does not save, on 1 rank).
"""

from __future__ import annotations

import json
import re
import shutil
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
SAVE_AT = 4  # epoch 0, batch 4: mid-window, two backward passes of the window 3-5 done
DEVICES = int(os.environ.get("DEVICES", "1"))
PRECISION = os.environ.get("PRECISION", "32-true")


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40 * DEVICES, 8, generator=g)  # 10 batches a rank
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
        if MODE == "save" and trainer.current_epoch == 0 and batch_idx == SAVE_AT:
            trainer.save_checkpoint(OUT / "save" / "mid.ckpt")

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
trainer = treadle.Trainer(accelerator="cpu", devices=DEVICES, strategy=STRATEGY, max_epochs=2,
                          precision=PRECISION, accumulate_grad_batches=3, logger=False,
                          enable_progress_bar=False, enable_checkpointing=False,
                          enable_model_summary=False,
                          callbacks=[Probe()], default_root_dir=OUT / MODE)
trainer.fit(model, loader(), ckpt_path=RESUME)
params = gathered(model)
if trainer.is_global_zero:
    (OUT / f"{MODE}.json").write_text(json.dumps(
        {"params": params, "global_step": trainer.global_step}))
"""

STRATEGIES = ["deepspeed_stage_2", "deepspeed_stage_3"]


def outdir(tmp, strategy, devices=1, precision="32-true"):
    name = strategy if devices == 1 else f"{strategy}-x{devices}"
    return tmp / (name if precision == "32-true" else f"{name}-{precision}")


def job(tmp, strategy, mode, *args, ok=True, devices=1, precision="32-true"):
    out = outdir(tmp, strategy, devices, precision)
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, "job.py", str(out), strategy, mode, *args]
    env = {"DEVICES": str(devices), "PRECISION": precision}
    return run(cmd, cwd=tmp, ok=ok, extra_env=env)


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
    # (SIGTERM's Preempted is Lightning's SIGTERMException)
    assert stop["type"] == "SIGTERMException" and stop["batch_idx"] == 5
    assert stop["global_step"] == 2
    ckpt = saved_loop(out / "signal" / "checkpoints" / "last.ckpt")
    assert ckpt["loops"]["fit"]["batches_done"] == 6 and "grads" not in ckpt["loops"]["fit"]

    job(jobs, strategy, "resume", str(out / "signal" / "checkpoints" / "last.ckpt"))
    full = json.loads((out / "full.json").read_text())
    resumed = json.loads((out / "resume.json").read_text())
    assert resumed["global_step"] == full["global_step"] == 8  # ceil(10 / 3) steps an epoch
    assert resumed["params"] == full["params"]  # bit for bit


WINDOW_WARNING = "A checkpoint saved inside a gradient-accumulation window"


def finished(out, mode):
    return json.loads((out / f"{mode}.json").read_text())


@pytest.mark.parametrize(
    "strategy, devices, precision",
    [
        ("deepspeed_stage_2", 1, "32-true"),
        ("deepspeed_stage_2", 2, "32-true"),
        ("deepspeed_stage_2_offload", 2, "32-true"),
        ("deepspeed_stage_3", 2, "32-true"),
        ("deepspeed_stage_3_offload", 2, "32-true"),
        ("deepspeed_stage_2", 1, "bf16-true"),
        ("deepspeed_stage_2_offload", 2, "bf16-true"),
        ("deepspeed_stage_3_offload", 2, "bf16-true"),
    ],
)
def test_a_save_inside_a_window_carries_its_gradients(jobs, strategy, devices, precision):
    """``trainer.save_checkpoint()`` called mid-window saves the window's gradients so far.
    ZeRO 3: the full reduced gradients (``safe_get_full_grad``), put back with
    ``safe_set_full_grad`` after the resumed run's first backward. ZeRO 2: each rank's
    reduced gradients of its partition (DeepSpeed's ``all_grad_tensors``), added to what the
    first backward accumulated (with optimizer offload: its CPU accumulation buffers). ZeRO 3
    with optimizer offload (whose ``safe_get_full_grad`` reads a copy written only at the
    window's end): each rank's gradient partition of each parameter. The resumed run ends bit
    for bit as a run never stopped. (ZeRO 1 keeps them in ``param.grad``,
    saved and restored by the core as under DDP: tests/test_resume_exact.py.)"""
    out = outdir(jobs, strategy, devices, precision)
    saved = job(jobs, strategy, "save", devices=devices, precision=precision)
    assert WINDOW_WARNING not in saved.stdout
    mid = out / "save" / "mid.ckpt"
    ckpt = saved_loop(mid)
    assert ckpt["loops"]["fit"]["batches_done"] == 5
    if strategy == "deepspeed_stage_3":  # the same on every rank, in treadle.ckpt
        grads = ckpt["deepspeed"]["window_grads"]
        assert set(grads) == {"net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"}
        assert all(g.abs().sum() > 0 for g in grads.values())
    else:  # each rank's own partition, beside DeepSpeed's files
        assert ckpt["deepspeed"]["window_partitions"] is True
        files = sorted(p.name for p in mid.glob("window_grads.*"))
        assert files == [f"window_grads.rank{r}.pt" for r in range(devices)]
        window = torch.load(mid / "window_grads.rank0.pt", weights_only=True)
        if strategy == "deepspeed_stage_3_offload":  # each parameter's partition, by ds_id
            held = list(window["stage3_partitions"].values())
        elif strategy == "deepspeed_stage_2_offload":  # DeepSpeed's CPU buffers, by id
            held = list(window["cpu_accumulated"].values())
        else:
            held = [t for group in window["partitions"] for t in group]
        assert held and any(t.abs().sum() > 0 for t in held)
        # in the parameters' dtype, as DeepSpeed accumulates them (grad_accum_dtype unset)
        dtype = torch.bfloat16 if precision == "bf16-true" else torch.float32
        assert {t.dtype for t in held} == {dtype}

    resumed = job(jobs, strategy, "resume", str(mid), devices=devices, precision=precision)
    assert WINDOW_WARNING not in resumed.stdout
    straight, resumed_run = finished(out, "save"), finished(out, "resume")
    assert resumed_run["global_step"] == straight["global_step"] == 8
    assert resumed_run["params"] == straight["params"]  # bit for bit
    if devices == 1:  # the save changed nothing: the run that saved is the uninterrupted run
        if not (out / "full.json").exists():  # (written by the signal test when it ran first)
            job(jobs, strategy, "full", precision=precision)
        assert straight["params"] == finished(out, "full")["params"]


def test_window_gradients_that_do_not_fit_the_model_are_refused(jobs):
    """A mid-window ZeRO 3 checkpoint whose ``deepspeed.window_grads`` do not fit the model (a
    damaged or edited file) is refused when the run resumes, naming the file and each misfit."""
    strategy = "deepspeed_stage_3"
    mid = jobs / strategy / "save" / "mid.ckpt"
    if not mid.exists():  # (written by the test above when it ran first)
        job(jobs, strategy, "save")
    bad = jobs / strategy / "bad.ckpt"
    shutil.copytree(mid, bad)
    ckpt = saved_loop(bad)
    grads = ckpt["deepspeed"]["window_grads"]
    grads["net.0.bias"] = torch.zeros(3)
    grads["net.9.weight"] = torch.zeros(1)
    torch.save(ckpt, bad / "treadle.ckpt")
    resumed = job(jobs, strategy, "resume", str(bad), ok=False)
    assert resumed.returncode != 0
    message = (
        "its `deepspeed.window_grads` (the gradients of the accumulation window it was saved "
        "in) do not fit this model: 'net.0.bias': shape (3,), the parameter's is (16,); "
        "'net.9.weight': no such parameter. Resume it with the model that saved it, or from "
        "a checkpoint saved outside an accumulation window."
    )
    assert re.search(re.escape(str(bad)) + r".*" + re.escape(message), resumed.stdout), (
        resumed.stdout
    )


@pytest.mark.parametrize("damage", ["misfit", "missing"])
def test_zero_2_window_gradients_that_do_not_fit_the_partition_are_refused(jobs, damage):
    """A ZeRO 2 save inside a window whose ``window_grads.rank0.pt`` is damaged (or missing)
    is refused when the run resumes, naming the file, what it holds and what this rank's
    partition is."""
    strategy = "deepspeed_stage_2"
    mid = jobs / strategy / "save" / "mid.ckpt"
    if not mid.exists():  # (written by the test above when it ran first)
        job(jobs, strategy, "save")
    bad = jobs / strategy / f"{damage}.ckpt"
    shutil.copytree(mid, bad)
    file = bad / "window_grads.rank0.pt"
    if damage == "missing":
        file.unlink()
        message = (
            f"checkpoint {str(bad)!r}: it was saved inside a gradient accumulation window but "
            f"has no window_grads.rank0.pt (rank 0's gradients of the window): the directory "
            f"is not complete. Resume from another checkpoint."
        )
    else:
        torch.save({"partitions": [[torch.zeros(3)]]}, file)
        message = (
            f"checkpoint {str(file)!r}: the gradients of the accumulation window it holds do not "
            f"fit this model's ZeRO 2 partition on rank 0 (shapes [[(3,)]], the partition's "
            f"parameters are [[(16, 8), (16,), (1, 16), (1,)]]). Resume it with the model that "
            f"saved it, or from a checkpoint saved outside an accumulation window."
        )
    resumed = job(jobs, strategy, "resume", str(bad), ok=False)
    assert resumed.returncode != 0
    assert message in resumed.stdout, resumed.stdout
