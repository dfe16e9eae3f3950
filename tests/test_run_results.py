"""A run says where its results went (issue 13, item 8): the summary at the end of ``fit()``,
one version folder per run, loggers flushed at every epoch end and on SIGTERM, and Ctrl-C ending
with one line instead of a traceback. The signal tests use real processes and real signals;
every subprocess has a timeout."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.callbacks import ModelCheckpoint
from treadle.loggers import CSVLogger

TIMEOUT = 120


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(n_batches=4):
    g = torch.Generator().manual_seed(0)
    n = 4 * n_batches
    return DataLoader(
        TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=4
    )


def trainer(root, **kwargs):
    kwargs = {
        "accelerator": "cpu",
        "max_epochs": 2,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": str(root),
        "log_every_n_steps": 1,
        "logger": "csv",  # the files these tests read (the default is TensorBoard where installed)
        **kwargs,
    }
    return treadle.Trainer(**kwargs)


def summary(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("treadle: fit ")]


def test_the_summary_names_the_log_folder_and_the_best_and_last_checkpoints(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.delenv("TREADLE_QUIET", raising=False)
    caplog.set_level(logging.INFO, logger="treadle")
    ckpt = ModelCheckpoint(monitor="val_loss", save_last=True)
    t = trainer(tmp_path, callbacks=[ckpt])
    t.fit(Net(), loader(), loader(2))
    version = tmp_path / "lightning_logs" / "version_0"
    best_score = f"{float(ckpt.best_model_score):.6g}"
    assert summary(caplog) == [
        "treadle: fit finished at epoch 2, global step 8; results:\n"
        f"  logs: {version} (CSVLogger)\n"
        f"  best checkpoint: {ckpt.best_model_path} (val_loss={best_score})\n"
        f"  last checkpoint: {version / 'checkpoints' / 'last.ckpt'}"
    ]
    assert os.path.dirname(ckpt.best_model_path) == str(version / "checkpoints")


def test_the_summary_without_logger_or_checkpoints_and_quiet(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("TREADLE_QUIET", raising=False)
    caplog.set_level(logging.INFO, logger="treadle")
    trainer(tmp_path, logger=False, enable_checkpointing=False).fit(Net(), loader())
    assert summary(caplog) == [
        "treadle: fit finished at epoch 2, global step 8; results:\n"
        "  logs: none (no logger writes files)\n"
        "  checkpoints: none (no checkpoint callback)"
    ]
    caplog.clear()
    monkeypatch.setenv("TREADLE_QUIET", "1")
    trainer(tmp_path, logger=False, enable_checkpointing=False).fit(Net(), loader())
    assert summary(caplog) == []


def test_the_summary_with_a_mock_logger(tmp_path, caplog, monkeypatch):
    # Lightning's own tests pass `logger=Mock()` (test_throughput_monitor.py): its `log_dir`
    # is a Mock, no folder; the summary names none instead of failing
    from unittest.mock import Mock

    monkeypatch.delenv("TREADLE_QUIET", raising=False)
    caplog.set_level(logging.INFO, logger="treadle")
    mock_logger = Mock()
    mock_logger.save_dir = tmp_path
    trainer(tmp_path, logger=mock_logger, enable_checkpointing=False).fit(Net(), loader())
    assert summary(caplog)[0].splitlines()[1] == "  logs: none (no logger writes files)"
    assert mock_logger.log_metrics.called


def test_runs_sharing_a_root_keep_their_logs_and_checkpoints_in_their_own_version(tmp_path):
    for _ in range(2):
        trainer(tmp_path).fit(Net(), loader())
    logs = tmp_path / "lightning_logs"
    assert sorted(p.name for p in logs.iterdir()) == ["version_0", "version_1"]
    for version in ("version_0", "version_1"):
        files = sorted(str(p.relative_to(logs / version)) for p in (logs / version).rglob("*"))
        assert files == [
            "checkpoints",
            "checkpoints/epoch=1-step=8.ckpt",
            "metrics.csv",
        ], files
    assert not (tmp_path / "checkpoints").exists()


class ReadsTheFile(treadle.Callback):
    """At each epoch's start, the rows of ``metrics.csv`` on disk."""

    def __init__(self):
        self.rows = []

    def on_train_epoch_start(self, trainer, pl_module):
        path = os.path.join(trainer.logger.log_dir, "metrics.csv")
        with open(path) if os.path.exists(path) else open(os.devnull) as f:
            self.rows.append(len(list(csv.DictReader(f))))


def test_metrics_reach_the_file_at_every_epoch_end(tmp_path):
    reader = ReadsTheFile()
    # flush_logs_every_n_steps=100: the buffer alone would write nothing before the run ends
    t = trainer(tmp_path, max_epochs=3, callbacks=[reader], logger=CSVLogger(tmp_path))
    t.fit(Net(), loader())
    assert reader.rows == [0, 4, 8]  # one row per step: 4 a epoch (no validation here)


SCRIPT = """
import os, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

out, mode = sys.argv[1], sys.argv[2]

class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        time.sleep(0.01)
        if self.global_step == 30:
            open(os.path.join(out, "marker"), "w").close()
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        if batch_idx == 3:
            open(os.path.join(out, "marker"), "w").close()
        time.sleep(0.05)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

data = TensorDataset(torch.randn(8000, 4), torch.randn(8000, 1))
trainer = treadle.Trainer(
    accelerator="cpu", max_epochs=1, default_root_dir=out, log_every_n_steps=1,
    enable_progress_bar=False, enable_model_summary=False, logger="csv",
)
if mode == "fit":
    trainer.fit(Net(), DataLoader(data, batch_size=4))
else:
    trainer.validate(Net(), DataLoader(data, batch_size=4))
print("FINISHED", flush=True)
"""


def run_and_signal(tmp_path, mode, signum):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), mode],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "marker").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no marker"
            time.sleep(0.02)
        os.kill(proc.pid, signum)
        output = proc.communicate(timeout=TIMEOUT)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, output


def test_sigterm_keeps_the_metrics_logged_so_far(tmp_path):
    code, output = run_and_signal(tmp_path, "fit", signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, output
    assert "FINISHED" not in output
    with open(tmp_path / "lightning_logs" / "version_0" / "metrics.csv") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    # one row per step from the first (step 0, as Lightning logs it); the buffer (100 rows)
    # was written on the way out
    assert len(steps) >= 30 and steps == list(range(len(steps))), steps
    version = tmp_path / "lightning_logs" / "version_0"
    assert f"the run was saved to {version / 'checkpoints' / 'last.ckpt'}" in output
    summary = output[output.index("treadle: fit stopped by SIGTERM at epoch 0") :].splitlines()
    assert summary[1:3] == [
        f"  logs: {version} (CSVLogger)",
        f"  checkpoint on SIGTERM: {version / 'checkpoints' / 'last.ckpt'}",
    ], output


@pytest.mark.parametrize("mode", ["fit", "validate"])
def test_ctrl_c_ends_with_one_line_and_exit_code_130(tmp_path, mode):
    code, output = run_and_signal(tmp_path, mode, signal.SIGINT)
    assert code == 130, output
    assert "Traceback" not in output and "FINISHED" not in output, output
    if mode == "fit":  # caught after the step: saved, as any preemption signal
        assert "treadle: SIGINT received: the run was saved to" in output
    else:  # caught after the batch too, with nothing to save (tests/test_evaluation_signals.py)
        assert "treadle: SIGINT received: validate() stopped after batch" in output, output
