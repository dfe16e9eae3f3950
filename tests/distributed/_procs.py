"""Running multi-process jobs from tests: a fresh session per job, bounded, cleaned up.

A Trainer with ``strategy="ddp"`` started inside pytest would re-run pytest for its other
ranks, so every distributed test runs a script (written to ``tmp_path``) in a subprocess.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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
    clean.update(extra)
    return clean


def start(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env(**(extra_env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 90) -> str:
    """The whole job's output. ``communicate()`` returns once every rank (all share the pipe)
    has exited, so a rank left behind shows up as a timeout."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out
    except subprocess.TimeoutExpired:
        killpg(proc)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"job still running after {timeout}s; output:\n{out}")
    finally:
        killpg(proc)  # reap anything left in the session


def killpg(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(
    cmd: list[str],
    cwd: Path,
    timeout: float = 90,
    ok: bool = True,
    extra_env: dict[str, str] | None = None,
) -> str:
    proc = start(cmd, cwd, extra_env)
    out = finish(proc, timeout)
    if ok:
        assert proc.returncode == 0, out
    return out


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def load_module(path: Path, name: str) -> Any:
    """Import a script written to tmp_path (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
