"""The ``slurm`` environment: ranks from ``srun``'s variables; checkpoint and requeue on SIGUSR1.

Detected when ``SLURM_NTASKS`` and ``SLURM_PROCID`` are set, except in an interactive session
(``SLURM_JOB_NAME`` ``bash`` or ``interactive``, as Lightning decides). With more than one task,
the DDP strategy joins the tasks ``srun`` started (``--ntasks-per-node`` = ``devices``); the
master address is the first host of ``SLURM_JOB_NODELIST``, the port ``MASTER_PORT`` or
15000 + the job id's last four digits.

Auto-requeue (on unless ``TREADLE_SLURM_AUTO_REQUEUE=0``): ask SLURM for the signal before the
time limit (``#SBATCH --signal=USR1@90``). treadle itself catches the signal during ``fit()``:
at the end of the current training batch every rank stops (they agree on it), the run is saved
to ``<checkpoint dir>/last.ckpt`` and ``on_exception`` gets ``treadle.errors.Preempted``. This
plugin's ``on_exception`` then runs ``scontrol requeue $SLURM_JOB_ID`` on rank 0 when the
signal was SIGUSR1 (a SIGTERM is SLURM's own preemption or cancellation: SLURM requeues a
preempted ``--requeue`` job itself). When the requeued job starts (``SLURM_RESTART_COUNT`` > 0),
``fit`` resumes from the newest of that ``last.ckpt`` and the ``hpc_ckpt_<n>.ckpt`` files
earlier versions wrote in ``default_root_dir``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from treadle import Provider, hookimpl
from treadle.errors import Preempted
from treadle.kinds import EnvironmentBase

HPC_CHECKPOINT = re.compile(r"^hpc_ckpt_(\d+)\.ckpt$")


def expand_hostlist(nodelist: str) -> list[str]:
    """SLURM's compressed host list, expanded: ``"node[01-03,7],gpu7"`` -> ``["node01",
    "node02", "node03", "node7", "gpu7"]``. Zero padding is kept; several bracket groups in one
    name (``"r[1-2]n[1-2]"``) give every combination."""
    hosts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(nodelist + ","):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if depth < 0 or depth > 1:
            break
        if char == "," and depth == 0:
            if i > start:
                hosts.extend(_expand_name(nodelist[start:i]))
            start = i + 1
    if depth != 0:
        raise ValueError(f"SLURM node list {nodelist!r} has unbalanced brackets.")
    return hosts


def _expand_name(name: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", name)
    if m is None:
        return [name]
    head, tails = name[: m.start()], _expand_name(name[m.end() :])
    hosts = []
    for part in m.group(1).split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"SLURM node list entry {name!r}: cannot read the range {part!r}.")
        numbers = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        hosts.extend(f"{head}{str(n).zfill(len(lo))}{tail}" for n in numbers for tail in tails)
    return hosts


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "")


class SLURMEnvironment(EnvironmentBase):
    """Ranks of a SLURM job step; takes part in the run's hooks for auto-requeue."""

    name = "slurm"
    launcher = "srun"

    def __init__(self, trainer: Any = None) -> None:
        env = os.environ
        self.world_size = int(env["SLURM_NTASKS"])
        self.global_rank = int(env["SLURM_PROCID"])
        self.local_rank = int(env.get("SLURM_LOCALID", 0))
        self.node_rank = int(env.get("SLURM_NODEID", 0))
        self.job_id = env.get("SLURM_JOB_ID", "")
        nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or "127.0.0.1"
        self.main_address = env.get("MASTER_ADDR") or expand_hostlist(nodelist)[0]
        digits = re.sub(r"\D", "", self.job_id)[-4:]
        self.main_port = int(env.get("MASTER_PORT") or 15000 + int(digits or 0))
        # srun started every task: a strategy joins them. One task (sbatch + python): the
        # strategy starts its ranks itself.
        self.creates_processes_externally = self.world_size > 1
        self.auto_requeue = _flag("TREADLE_SLURM_AUTO_REQUEUE", "1")

    def __repr__(self) -> str:
        return f"SLURMEnvironment(job={self.job_id}, rank={self.global_rank}/{self.world_size})"

    # -- auto-requeue -------------------------------------------------------------------------

    @hookimpl
    def on_fit_start(self, trainer: Any) -> None:
        if int(os.environ.get("SLURM_RESTART_COUNT") or 0) < 1:
            return
        path = newest_checkpoint(trainer)
        if path is not None:
            if trainer.is_global_zero:
                print(
                    f"treadle-slurm: requeued job {self.job_id}: resuming from {path}",
                    file=sys.stderr,
                    flush=True,
                )
            trainer.restore(path)

    @hookimpl
    def on_exception(self, trainer: Any, exception: BaseException) -> None:
        # treadle stopped the run on the requeue signal and saved it: ask SLURM for another go.
        if (
            self.auto_requeue
            and isinstance(exception, Preempted)
            and exception.signum == signal.SIGUSR1
            and trainer.is_global_zero
        ):
            requeue(self.requeue_id())

    def requeue_id(self) -> str:
        array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
        if array_job:
            return f"{array_job}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
        return self.job_id


def requeue(job_id: str) -> bool:
    """``scontrol requeue JOB_ID``; says on stderr what happened. True when it succeeded."""
    command = ["scontrol", "requeue", job_id]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"treadle-slurm: `{' '.join(command)}` failed: {exc}", file=sys.stderr, flush=True)
        return False
    if result.returncode != 0:
        print(
            f"treadle-slurm: `{' '.join(command)}` exited with {result.returncode}: "
            f"{result.stderr.strip()}",
            file=sys.stderr,
            flush=True,
        )
        return False
    print(f"treadle-slurm: checkpoint saved, job {job_id} requeued", file=sys.stderr, flush=True)
    return True


def newest_checkpoint(trainer: Any) -> Path | None:
    """What a requeued job resumes from: the newest of the ``last.ckpt`` treadle writes on a
    signal (in the checkpoint callback's ``dirpath``, else ``<default_root_dir>/checkpoints``)
    and the ``hpc_ckpt_<n>.ckpt`` files earlier versions of this plugin wrote."""
    callback = trainer.checkpoint_callback
    dirpath = getattr(callback, "dirpath", None) if callback is not None else None
    last = Path(dirpath or Path(trainer.default_root_dir) / "checkpoints") / "last.ckpt"
    found = [p for p in (last, newest_hpc_checkpoint(trainer.default_root_dir)) if p is not None]
    found = [p for p in found if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def newest_hpc_checkpoint(root: Any) -> Path | None:
    root = Path(root)
    if not root.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := HPC_CHECKPOINT.match(p.name)) is not None
    ]
    return max(found)[1] if found else None


def detected() -> bool:
    env = os.environ
    return (
        "SLURM_NTASKS" in env
        and "SLURM_PROCID" in env
        and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")
    )


@hookimpl
def provide_environments():
    return [
        Provider(
            "environment",
            "slurm",
            SLURMEnvironment,
            available=detected,
            priority=50,
            description="SLURM job step (srun): ranks, master address, auto-requeue.",
        )
    ]
