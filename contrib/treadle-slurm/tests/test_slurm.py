"""treadle-slurm as pip leaves it: detection, the node list, and SIGUSR1 -> checkpoint + requeue
with a fake ``scontrol`` on PATH and real signals (one process here; two ``srun``-like DDP
processes in a subprocess)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.errors import Preempted
from treadle_slurm import SLURMEnvironment, expand_hostlist

LAUNCH_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "NODE_RANK",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "TREADLE_LAUNCHED",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SLURM_") or name in LAUNCH_VARS:
            monkeypatch.delenv(name)


@pytest.fixture
def scontrol(tmp_path, monkeypatch):
    """A fake ``scontrol`` first on PATH; returns the file where it records its arguments."""
    bin_dir, log = tmp_path / "bin", tmp_path / "scontrol.log"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def slurm_vars(monkeypatch, ntasks=1, procid=0, **extra):
    values = {
        "SLURM_NTASKS": ntasks,
        "SLURM_PROCID": procid,
        "SLURM_LOCALID": procid,
        "SLURM_NODEID": 0,
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_NODELIST": "node[07-08],gpu1",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))


# -- the node list ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nodelist, hosts",
    [
        ("node[01-04],gpu7", ["node01", "node02", "node03", "node04", "gpu7"]),
        ("gpu7", ["gpu7"]),
        ("a[1,3-4]b,c", ["a1b", "a3b", "a4b", "c"]),
        ("r[1-2]n[08-09]", ["r1n08", "r1n09", "r2n08", "r2n09"]),
        ("node[9-11]", ["node9", "node10", "node11"]),
        ("10.0.0.1,10.0.0.2", ["10.0.0.1", "10.0.0.2"]),
    ],
)
def test_expand_hostlist(nodelist, hosts):
    assert expand_hostlist(nodelist) == hosts


def test_a_malformed_node_list_is_an_error_naming_it():
    with pytest.raises(
        ValueError, match=re.escape("SLURM node list 'node[01-04' has unbalanced brackets.")
    ):
        expand_hostlist("node[01-04")
    with pytest.raises(
        ValueError,
        match=re.escape("SLURM node list entry 'node[a-b]': cannot read the range 'a-b'."),
    ):
        expand_hostlist("node[a-b]")


# -- detection ---------------------------------------------------------------------------------


# treadle_trainer: a quiet CPU Trainer from treadle's kit for plugin tests (treadle.testing).


def test_slurm_variables_select_the_slurm_environment(monkeypatch, treadle_trainer):
    slurm_vars(monkeypatch, ntasks=4, procid=3, SLURM_LOCALID=1, SLURM_NODEID=1)
    trainer = treadle_trainer(devices=2, num_nodes=2)
    env = trainer.environment
    assert isinstance(env, SLURMEnvironment)
    assert (env.world_size, env.global_rank, env.local_rank, env.node_rank) == (4, 3, 1, 1)
    assert (env.main_address, env.main_port) == ("node07", 15000 + 4242)
    assert env.creates_processes_externally
    assert trainer.strategy.name == "ddp" and trainer.strategy.joined
    assert (trainer.world_size, trainer.global_rank, trainer.local_rank) == (4, 3, 1)
    assert trainer.plugin_manager.distributions["slurm"][0] == "treadle-slurm"


def test_master_port_and_address_variables_win(monkeypatch):
    slurm_vars(monkeypatch, MASTER_ADDR="10.1.2.3", MASTER_PORT="23456")
    env = SLURMEnvironment()
    assert (env.main_address, env.main_port, env.creates_processes_externally) == (
        "10.1.2.3",
        23456,
        False,
    )


def test_an_interactive_session_is_not_a_slurm_launch(monkeypatch, treadle_trainer):
    slurm_vars(monkeypatch, SLURM_JOB_NAME="bash")
    assert treadle_trainer().environment is None


def test_torchrun_inside_slurm_wins(monkeypatch, treadle_trainer):
    slurm_vars(monkeypatch, ntasks=1)
    for name, value in {
        "RANK": 1,
        "WORLD_SIZE": 2,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": 29501,
        "TORCHELASTIC_RUN_ID": "x",
    }.items():
        monkeypatch.setenv(name, str(value))
    trainer = treadle_trainer()
    assert trainer.environment.name == "torchrun" and trainer.global_rank == 1


# -- SIGUSR1: checkpoint, requeue, resume ---------------------------------------------------------


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class SignalAt(treadle.Callback):
    """Sends SIGUSR1 to this process when (epoch, batch) starts, as SLURM would before the limit."""

    def __init__(self, epoch, batch, signum=signal.SIGUSR1):
        self.at, self.signum = (epoch, batch), signum

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == self.at:
            os.kill(os.getpid(), self.signum)


def fit(root, callbacks=()):
    treadle.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g))
    model = Regression()
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        default_root_dir=root,
        callbacks=list(callbacks),
    )
    trainer.fit(model, DataLoader(data, batch_size=8))
    return trainer, model


def test_sigusr1_saves_requeues_and_the_requeued_job_resumes(tmp_path, monkeypatch, scontrol):
    slurm_vars(monkeypatch)
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as info:  # what the job's process exits with: 128 + 10
        fit(tmp_path, [SignalAt(epoch=1, batch=2)])
    # treadle stopped at the end of the batch that got the signal (epoch 1, 8 steps + 3
    # batches) and saved it; this plugin requeued the job.
    path = tmp_path / "checkpoints" / "last.ckpt"
    assert (info.value.code, info.value.ckpt_path) == (138, str(path))
    assert torch.load(path, weights_only=True)["global_step"] == 11
    assert scontrol.read_text() == "requeue 4242\n"
    assert signal.getsignal(signal.SIGUSR1) == before  # the handler is gone after fit

    # SLURM starts the job again: fit resumes mid-epoch and ends where an uninterrupted run ends.
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    resumed, model = fit(tmp_path)
    monkeypatch.delenv("SLURM_RESTART_COUNT")
    uninterrupted, reference = fit(tmp_path / "reference")
    assert resumed.global_step == uninterrupted.global_step == 16
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert scontrol.read_text() == "requeue 4242\n"  # no second signal, no second requeue


def test_array_jobs_requeue_the_task(tmp_path, monkeypatch, scontrol):
    slurm_vars(monkeypatch, SLURM_ARRAY_JOB_ID="900", SLURM_ARRAY_TASK_ID="3")
    with pytest.raises(Preempted):
        fit(tmp_path, [SignalAt(epoch=0, batch=0)])
    assert scontrol.read_text() == "requeue 900_3\n"
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_sigterm_saves_without_a_requeue(tmp_path, monkeypatch, scontrol):
    # SLURM's preemption (SIGTERM): treadle saves; SLURM requeues a --requeue job itself.
    slurm_vars(monkeypatch)
    with pytest.raises(Preempted) as info:
        fit(tmp_path, [SignalAt(epoch=0, batch=1, signum=signal.SIGTERM)])
    assert info.value.code == 143 and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not scontrol.exists()


def test_a_requeued_job_resumes_from_an_older_versions_hpc_checkpoint(tmp_path, monkeypatch):
    slurm_vars(monkeypatch)
    with pytest.raises(Preempted) as info:
        fit(tmp_path, [SignalAt(epoch=1, batch=2, signum=signal.SIGTERM)])
    os.replace(info.value.ckpt_path, tmp_path / "hpc_ckpt_3.ckpt")  # as earlier versions named it
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    resumed, _ = fit(tmp_path)
    assert resumed.global_step == 16


def test_auto_requeue_can_be_turned_off(tmp_path, monkeypatch, scontrol):
    slurm_vars(monkeypatch, TREADLE_SLURM_AUTO_REQUEUE="0")
    with pytest.raises(Preempted) as info:  # treadle still saves; nothing is requeued
        fit(tmp_path, [SignalAt(epoch=0, batch=1)])
    assert info.value.code == 138 and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert not scontrol.exists()


# -- two srun tasks running DDP -------------------------------------------------------------------

DDP_SCRIPT = """
import os, signal, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)
    def training_step(self, batch, batch_idx):
        time.sleep(0.2)  # the ranks compare their signals every 0.5 s: every 2 batches here
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

class SignalRankZero(treadle.Callback):  # only rank 0 gets the signal: both must stop
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_rank == 0 and batch_idx == 2:
            os.kill(os.getpid(), signal.SIGUSR1)

if __name__ == "__main__":
    data = TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
    trainer = treadle.Trainer(accelerator="cpu", strategy="ddp", devices=2, max_epochs=1,
                              logger=False, enable_progress_bar=False, enable_checkpointing=False,
                              default_root_dir=sys.argv[1], process_group_timeout=30,
                              callbacks=[SignalRankZero()])
    try:
        trainer.fit(Regression(), DataLoader(data, batch_size=4))
    finally:
        print("DONE", trainer.global_rank, trainer.environment.name, trainer.world_size,
              trainer.global_step, flush=True)
"""


def test_two_srun_tasks_join_and_stop_together_on_one_signal(tmp_path, scontrol):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):  # what `srun --ntasks=2` starts
        env = {
            **os.environ,
            "SLURM_NTASKS": "2",
            "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank),
            "SLURM_NODEID": "0",
            "SLURM_JOB_ID": "777",
            "SLURM_JOB_NAME": "train",
            "SLURM_JOB_NODELIST": "localhost",
            "MASTER_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=90)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    log = "\n".join(outputs)
    assert all(p.returncode == 128 + signal.SIGUSR1 for p in procs), log
    # 8 batches per rank; the signal came to rank 0 during batch 2 (step 3); the ranks compare
    # about every 2 batches: both stop after step 3, 4 or 5.
    done = [re.search(r"DONE (\d) slurm 2 (\d+)", o) for o in outputs]
    assert all(done) and [int(d.group(1)) for d in done] == [0, 1], log
    step = int(done[0].group(2))
    assert step in (3, 4, 5) and int(done[1].group(2)) == step, log
    assert scontrol.read_text() == "requeue 777\n", log  # rank 0 only
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == step
