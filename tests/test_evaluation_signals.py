"""Preemption during ``validate()``, ``test()`` and ``predict()`` (issue 13): SIGTERM, SIGUSR1
and SIGINT let the batch running finish, then the evaluation stops with nothing saved (it has
nothing to resume): ``on_exception`` gets ``treadle.errors.Preempted`` with ``ckpt_path=None``,
the loggers are finalized (the metrics logged so far are on disk), rank zero prints one line and
the process exits with 128 + the signal number, as ``fit()`` does. Real signals, in
subprocesses with a timeout (and one in this process, caught as the ``SystemExit`` it is).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.errors import Preempted

TIMEOUT = 120  # seconds, for any one job

SCRIPT = """
import json, os, signal, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

out, stage, signum = sys.argv[1], sys.argv[2], int(sys.argv[3])
SIGNAL_AT = 2  # the batch after which the signalled rank signals itself
SIGNALLED_RANK = int(os.environ.get("SIGNALLED_RANK", 0))
SLEEP = float(os.environ.get("STEP_SLEEP", 0))


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def step(self, batch, name):
        time.sleep(SLEEP)
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log(name, loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, batch_idx):
        return self.step(batch, "val_step_loss")

    def test_step(self, batch, batch_idx):
        return self.step(batch, "test_step_loss")

    def predict_step(self, batch, batch_idx):
        time.sleep(SLEEP)
        return self.net(batch[0])


class Signal(treadle.Callback):
    def __init__(self):
        self.batches = []

    def batch_end(self, trainer, batch_idx):
        self.batches.append(batch_idx)
        if batch_idx == SIGNAL_AT and trainer.global_rank == SIGNALLED_RANK:
            os.kill(os.getpid(), signum)  # caught: the loop stops after this batch

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.batch_end(trainer, batch_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.batch_end(trainer, batch_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.batch_end(trainer, batch_idx)

    def on_exception(self, trainer, pl_module, exception):
        record = {
            "type": type(exception).__name__,
            "signum": getattr(exception, "signum", None),
            "code": getattr(exception, "code", None),
            "ckpt_path": getattr(exception, "ckpt_path", "missing"),
            "batches": self.batches,
        }
        with open(os.path.join(out, f"on_exception.{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(80, 4, generator=g), torch.randn(80, 1, generator=g))
    trainer = treadle.Trainer(
        accelerator="cpu",
        devices=int(os.environ.get("DEVICES", 1)),
        logger=treadle.loggers.CSVLogger(out, name="logs", version=0),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Signal()],
    )
    getattr(trainer, stage)(Net(), DataLoader(data, batch_size=4))
    print("FINISHED", trainer.global_rank, flush=True)
"""


def run_job(tmp_path, stage, signum, env=None):
    script = tmp_path / "evaluate.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "out"
    out.mkdir()
    scrub = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TREADLE_LAUNCHED")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), stage, str(int(signum))],
        env={
            **{k: v for k, v in os.environ.items() if k not in scrub},
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = proc.communicate(timeout=TIMEOUT)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, output, out


def logged_steps(out, name):
    """The rows of the CSV logger's metrics.csv that hold ``name``."""
    with open(out / "logs" / "version_0" / "metrics.csv") as f:
        return [row for row in csv.DictReader(f) if row.get(name)]


@pytest.mark.slow  # three processes, ~15 s
@pytest.mark.parametrize(
    "stage, signum, metric",
    [
        ("validate", signal.SIGTERM, "val_step_loss"),
        ("test", signal.SIGUSR1, "test_step_loss"),
        ("predict", signal.SIGINT, None),
    ],
)
def test_a_signal_stops_an_evaluation_after_the_batch_and_exits_with_its_code(
    tmp_path, stage, signum, metric
):
    code, output, out = run_job(tmp_path, stage, signum)
    assert code == 128 + signum, output
    assert "FINISHED" not in output and "Traceback" not in output, output
    name = signal.Signals(signum).name
    assert (
        f"treadle: {name} received: {stage}() stopped after batch 2 of dataloader 0; nothing "
        f"to save: an evaluation has no state to resume. Exiting with code "
        f"{128 + signum}." in output
    ), output
    record = json.loads((out / "on_exception.0.json").read_text())
    assert record == {
        "type": "SIGTERMException" if signum == signal.SIGTERM else "Preempted",
        "signum": int(signum),
        "code": 128 + signum,
        "ckpt_path": None,
        "batches": [0, 1, 2],  # the batch signalled finished; none after it (of 20)
    }
    if metric is not None:  # the steps logged before the stop, on disk (the logger finalized)
        assert [int(row["step"]) for row in logged_steps(out, metric)] == [0, 1, 2]


@pytest.mark.slow  # two ranks, ~15 s
def test_two_ranks_stop_an_evaluation_at_the_same_batch_when_one_gets_the_signal(tmp_path):
    """Rank 1 alone is signalled; the ranks compare about every half second (0.1 s a batch
    here: every 5 batches) and both stop after the same batch, well before their 10th."""
    env = {"DEVICES": "2", "SIGNALLED_RANK": "1", "STEP_SLEEP": "0.1"}
    code, output, out = run_job(tmp_path, "validate", signal.SIGTERM, env)
    assert code == 128 + signal.SIGTERM, output
    records = [json.loads((out / f"on_exception.{rank}.json").read_text()) for rank in (0, 1)]
    assert records[0] == records[1], output  # the same batches on both ranks
    batches = records[0]["batches"]
    assert records[0]["ckpt_path"] is None and batches == list(range(len(batches)))
    assert 3 <= len(batches) <= 8, output
    line = f"treadle: SIGTERM received: validate() stopped after batch {batches[-1]} of"
    assert line in output, output


class SignalAt(treadle.Callback):
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args):
        self.handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
        if batch_idx == 1:
            os.kill(os.getpid(), signal.SIGUSR1)


class Plain(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))


def test_in_process_an_evaluation_signal_is_preempted_and_the_handlers_come_back(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    callback = SignalAt()
    trainer = treadle.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    with pytest.raises(Preempted) as info:
        trainer.validate(Plain(), DataLoader(data, batch_size=4))
    assert isinstance(info.value, SystemExit) and not isinstance(info.value, Exception)
    assert (info.value.code, info.value.signum, info.value.ckpt_path) == (138, 10, None)
    assert str(info.value) == "SIGUSR1 received: validate() stopped"
    assert trainer.state.batch_idx == 1  # stopped after the batch signalled
    assert all(h not in (signal.SIG_DFL, None) for h in callback.handlers.values())
    assert {s: signal.getsignal(s) for s in before} == before
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing saved
