"""Running DeepSpeed jobs from tests: a script written to tmp_path, run in its own session.

A Trainer with ``devices=2`` started inside pytest would re-run pytest for its other rank, and a
DeepSpeed run leaves a process group and DeepSpeed's global state behind, so every job that
trains runs a script in a subprocess: ``python job.py ...`` (the strategy launches rank 1) or
under torchrun. Each rank appends JSON lines to ``OUT/rank{r}.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Rank and launcher variables must not leak in from whatever runs pytest.
SCRUB = (
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
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith("SLURM_")}
    clean["PYTHONUNBUFFERED"] = "1"
    clean["DS_ACCELERATOR"] = "cpu"
    clean.update(extra)
    return clean


def run(
    cmd: list[str],
    cwd: Path,
    timeout: float = 180,
    ok: bool = True,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a whole job; every rank shares the pipe, so a rank left behind is a timeout."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env(**(extra_env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"job still running after {timeout}s; output:\n{out}")
    finally:
        _killpg(proc)
    if ok:
        assert proc.returncode == 0, out
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def _killpg(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def records(out: Path, rank: int) -> list[dict]:
    path = out / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
