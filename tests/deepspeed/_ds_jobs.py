"""Running DeepSpeed jobs from tests: a script written to tmp_path, run in its own session.

A Trainer with ``devices=2`` started inside pytest would re-run pytest for its other rank, and a
DeepSpeed run leaves a process group and DeepSpeed's global state behind, so every job that
trains runs a script in a subprocess: ``python job.py ...`` (the strategy launches rank 1) or
under torchrun. Each rank appends JSON lines to ``OUT/rank{r}.jsonl``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from _procs import TORCHRUN, finish, start, write  # noqa: E402, F401  (re-exported)

# DeepSpeed picks its accelerator from the machine: on this CPU, say so.
DS_ENV = {"DS_ACCELERATOR": "cpu"}


def run(
    cmd: list[str],
    cwd: Path,
    timeout: float = 180,
    ok: bool = True,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a whole job (``_procs.start``/``finish``: every rank shares the pipe, so a rank left
    behind is a timeout); the result as a ``CompletedProcess`` whose ``stdout`` is the output."""
    proc = start(cmd, cwd, {**DS_ENV, **(extra_env or {})})
    out = finish(proc, timeout)
    if ok:
        assert proc.returncode == 0, out
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def records(out: Path, rank: int) -> list[dict]:
    path = out / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
