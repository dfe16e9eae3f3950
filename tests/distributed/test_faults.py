"""Distributed faults, for real: 2 gloo ranks on the CPU, a rank that raises, hangs or is killed.

Each job runs ``SCRIPT`` (written to tmp_path) in a fresh process session, bounded by a timeout:
``python train.py STRATEGY MODE`` (``ddp`` re-runs the script for rank 1; ``ddp_spawn`` spawns
workers, ``ddp_fork`` forks them; ``torchrun`` joins). Rank 1 fails at global step ``K``; it prints ``FAILING rank 1 at
<time>`` first, so the tests measure how long the job took to end from that moment. After the
job, no process of its session may be left (``_leftovers``, read from /proc).

The pure parts of the report (which failure is the root cause, how it reads) are tested at the
end without processes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _procs import TORCHRUN, killpg, start, write
from treadle_plugins.strategies import _launcher

PG_TIMEOUT_S = 10  # the hung-rank tests' process_group_timeout
# What ending a failed job may take beyond the failure (or beyond the timeout): collecting the
# other ranks' records (_COLLECT_S), terminating those left (_TERMINATE_GRACE_S), and a loaded
# 2-core machine's slowness.
MARGIN_S = 25
TORCHRUN_GRACE_S = 30  # torchrun's SIGTERM-to-SIGKILL wait when it stops its workers
SETTLE_S = 5  # how long after the job a process of its session may still be exiting

SCRIPT = """
import os, signal, sys, time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle

K = 3  # the global step at which rank 1 fails


class Model(treadle.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.global_rank == 1 and self.global_step == K:
            print(f"FAILING rank 1 at {time.time()}", flush=True)
            if self.mode == "raise":
                raise ValueError("boom from rank 1")
            if self.mode == "hang":
                time.sleep(600)
            if self.mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
        return F.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(strategy, mode):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g))
    trainer = treadle.Trainer(
        accelerator="cpu", devices=2, strategy=strategy, max_epochs=1, logger=False,
        enable_progress_bar=False, enable_checkpointing=False, num_sanity_val_steps=0,
        process_group_timeout=float(os.environ.get("PG_TIMEOUT", 60)),
    )
    trainer.fit(Model(mode), DataLoader(data, batch_size=4))
    print(f"rank {trainer.global_rank} finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


def _leftovers(session: int) -> list[str]:
    """Processes of the job's session still alive (zombies excluded), from /proc."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after ")"
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                left.append(f"{entry}: {cmdline.decode(errors='replace')}")
    return left


def _job(tmp_path: Path, strategy: str, mode: str, timeout: float = 120, **env: str):
    """Run the job; returns (output, returncode, seconds from rank 1's failure to the end)."""
    script = write(tmp_path / "train.py", SCRIPT)
    cmd = [sys.executable, str(script), strategy, mode]
    if strategy == "torchrun":
        cmd = [*TORCHRUN, str(script), "ddp", mode]
    proc = start(cmd, tmp_path, extra_env=env)
    try:
        # communicate() returns once every process holding the shared pipe exited: a rank
        # left behind shows up as a timeout here.
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        killpg(proc)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"job still running after {timeout}s; output:\n{out}")
    ended = time.time()
    # Before killpg, which would hide them. A process already ending may take a moment
    # (multiprocessing's resource tracker exits when it sees its parent's pipe close).
    deadline = time.monotonic() + SETTLE_S
    while (left := _leftovers(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    killpg(proc)
    assert not left, f"processes left behind: {left}\n{out}"
    assert "FAILING rank 1 at " in out, out
    failed_at = float(out.split("FAILING rank 1 at ")[1].split()[0])
    return out, proc.returncode, ended - failed_at


def _report(out: str) -> str:
    """The RankFailedError's text as rank 0 printed it, without torch's "[rank0]: " prefix."""
    lines = [line.removeprefix("[rank0]: ") for line in out.splitlines()]
    text = "\n".join(lines)
    start = text.index("RankFailedError: ")
    return text[start + len("RankFailedError: ") :]


@pytest.mark.slow
def test_ddp_raising_rank_reported_first_with_its_traceback(tmp_path):
    out, code, took = _job(tmp_path, "ddp", "raise")
    assert code == 1, out
    report = _report(out)
    first = report.splitlines()[0]
    assert first.startswith("rank 1 (pid ") and first.endswith(
        ") failed first (root cause): ValueError: boom from rank 1"
    ), report
    # rank 1's traceback comes next, down to the user's line, before the other ranks
    body, others = report.split("\nOther ranks:\n", 1)
    assert "Traceback (most recent call last):" in body, report
    assert 'raise ValueError("boom from rank 1")' in body, report
    assert body.rstrip().endswith("ValueError: boom from rank 1"), report
    rank0 = others.splitlines()[0]
    assert rank0.startswith("  rank 0: RuntimeError: "), report
    assert rank0.endswith("(secondary: lost its connection to a failed rank)"), report
    assert "finished" not in out, out
    assert took < MARGIN_S, out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_fork"])
def test_ddp_spawn_raising_rank_reported_first_with_its_traceback(tmp_path, strategy):
    out, code, took = _job(tmp_path, strategy, "raise")
    assert code == 1, out
    text = out[out.index("RankFailedError: ") + len("RankFailedError: ") :]
    assert text.startswith("rank 1 (pid "), out
    assert text.splitlines()[0].endswith(
        ") failed first (root cause): ValueError: boom from rank 1"
    ), out
    body, others = text.split("\nOther ranks:\n", 1)
    assert 'raise ValueError("boom from rank 1")' in body, out
    assert others.startswith("  rank 0: "), out
    assert took < MARGIN_S, out


@pytest.mark.slow
def test_ddp_hung_rank_named_within_the_process_group_timeout(tmp_path):
    out, code, took = _job(tmp_path, "ddp", "hang", PG_TIMEOUT=str(PG_TIMEOUT_S))
    assert code == 1, out
    report = _report(out)
    assert report.startswith(
        f"rank 1 did not answer within process_group_timeout={PG_TIMEOUT_S}s: alive but not in "
        f"the collective the other ranks waited in (stuck, or in another collective).\n"
        f"Other ranks:\n  rank 0: RuntimeError: "
    ), report
    assert "(secondary: timed out waiting for another rank)" in report, report
    assert PG_TIMEOUT_S <= took < PG_TIMEOUT_S + MARGIN_S, out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_fork"])
def test_ddp_spawn_hung_rank_named(tmp_path, strategy):
    out, code, took = _job(tmp_path, strategy, "hang", PG_TIMEOUT=str(PG_TIMEOUT_S))
    assert code == 1, out
    assert (
        f"RankFailedError: rank 1 did not answer within process_group_timeout={PG_TIMEOUT_S}s"
        in out
    ), out
    assert PG_TIMEOUT_S <= took < PG_TIMEOUT_S + MARGIN_S, out


@pytest.mark.slow
def test_ddp_killed_rank_named_with_its_signal(tmp_path):
    out, code, took = _job(tmp_path, "ddp", "kill")
    assert code == 1, out
    report = _report(out)
    first = report.splitlines()[0]
    assert first.startswith("rank 1 (pid "), report
    assert first.endswith(
        ") failed first (root cause): killed by SIGKILL (signal 9) and left no traceback: a "
        "kill, the out-of-memory killer, or a crash in native code"
    ), report
    assert "(secondary: lost its connection to a failed rank)" in report, report
    assert took < MARGIN_S, out


@pytest.mark.slow
def test_torchrun_root_cause_block_shows_the_raising_rank(tmp_path):
    # No @record in the script: the strategy writes torchrun's error file itself.
    out, code, _ = _job(tmp_path, "torchrun", "raise")
    assert code != 0, out
    root = out.split("Root Cause (first observed failure):", 1)[1]
    assert "rank      : 1 (local_rank: 1)" in root, out
    assert "error_file: <N/A>" not in root, out
    assert 'raise ValueError("boom from rank 1")' in root, out
    assert "ValueError: boom from rank 1" in root, out


# -- the report, without processes ------------------------------------------------------------


def _error(rank, kind, summary, at, tb=""):
    return _launcher.RankFailure(rank, kind, summary, at, traceback=tb, pid=100 + rank)


def test_failure_kind_tells_secondary_distributed_errors_from_root_causes():
    closed = RuntimeError("[../gloo/transport/tcp/pair.cc:553] Connection closed by peer [::1]:1")
    timed = RuntimeError("[../gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 10000ms")
    assert _launcher.failure_kind(closed) == "lost"
    assert _launcher.failure_kind(timed) == "timeout"
    assert _launcher.failure_kind(ValueError("timed out")) == "error"
    assert _launcher.failure_kind(RuntimeError("my loader timed out")) == "error"  # not c10d's


def test_root_cause_is_the_earliest_primary_failure_not_the_earliest_error():
    failures = _launcher._failures(
        {
            0: _error(0, "lost", "RuntimeError: Connection closed by peer", 1.0),
            1: _error(1, "error", "ValueError: boom", 2.0, "Traceback ...\nValueError: boom\n"),
            2: None,
        },
        60,
    )
    assert [f.rank for f in failures] == [1, 0, 2]
    assert _launcher.format_report(failures) == (
        "rank 1 (pid 101) failed first (root cause): ValueError: boom\n"
        "Traceback ...\n"
        "ValueError: boom\n"
        "Other ranks:\n"
        "  rank 0: RuntimeError: Connection closed by peer "
        "(secondary: lost its connection to a failed rank)\n"
        "  rank 2: was still running (ended by the launcher after the failure)"
    )


def test_ranks_that_did_not_answer_a_timeout_are_all_named():
    failures = _launcher._failures(
        {
            0: _error(0, "timeout", "RuntimeError: Timed out waiting 3000ms", 1.0),
            1: None,
            2: _error(2, "timeout", "RuntimeError: Timed out waiting 3000ms", 1.1),
            3: None,
        },
        3,
    )
    assert _launcher.format_report(failures) == (
        "ranks 1, 3 did not answer within process_group_timeout=3s: alive but not in the "
        "collective the other ranks waited in (stuck, or in another collective).\n"
        "Other ranks:\n"
        "  rank 0: RuntimeError: Timed out waiting 3000ms "
        "(secondary: timed out waiting for another rank)\n"
        "  rank 2: RuntimeError: Timed out waiting 3000ms "
        "(secondary: timed out waiting for another rank)"
    )


def test_error_file_is_torch_elastics_format_and_first_exception_wins(tmp_path, monkeypatch):
    path = tmp_path / "error.json"
    monkeypatch.setenv(_launcher.ERROR_FILE_ENV, str(path))
    monkeypatch.setattr(_launcher, "_recorded", False)
    try:
        raise ValueError("first")
    except ValueError as exc:
        assert _launcher.record_error(exc, rank=3) == str(path)
    assert _launcher.record_error(RuntimeError("second"), rank=3) is None
    data = _launcher._read_error_file(str(path))
    assert data["message"]["message"] == "ValueError: first"
    assert 'raise ValueError("first")' in data["message"]["extraInfo"]["py_callstack"]
    assert data["treadle"]["rank"] == 3 and data["treadle"]["kind"] == "error"
    # torchrun's own reader takes it (its "Root Cause" block)
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    failure = ProcessFailure(local_rank=3, pid=1, exitcode=1, error_file=str(path))
    assert failure.message["message"] == "ValueError: first"
    assert failure.timestamp == int(data["treadle"]["time"])


@pytest.mark.slow
def test_torchrun_hung_rank_named_by_the_roll_call(tmp_path):
    # torchrun's agent, not treadle, owns the processes: the timed-out rank 0 names rank 1
    # through the store, in its exception and in the error file torchrun summarises.
    out, code, took = _job(tmp_path, "torchrun", "hang", PG_TIMEOUT=str(PG_TIMEOUT_S))
    assert code != 0, out
    note = (
        f"treadle: rank 1 did not answer (process_group_timeout={PG_TIMEOUT_S}s, no report "
        f"within 5 s after this timeout): stuck outside the collective, in another collective, "
        f"or dead."
    )
    assert f"[rank0]: {note}" in out, out  # under rank 0's traceback
    root = out.split("Root Cause (first observed failure):", 1)[1]
    assert "rank      : 0 (local_rank: 0)" in root and note in root, out
    # torchrun then ends the hung rank with SIGTERM, which treadle's preemption handler takes as
    # "finish this step, then save": a rank hung in its step never gets there, and torchrun
    # sends SIGKILL after its 30 s grace (torch.distributed.elastic's close timeout).
    assert PG_TIMEOUT_S <= took < PG_TIMEOUT_S + MARGIN_S + TORCHRUN_GRACE_S, out
