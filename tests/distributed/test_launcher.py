"""Multi-process tests of treadle_plugins/strategies/_launcher.py (gloo, 2 real processes).

Each test writes a small script to tmp_path and runs it in a fresh process session (so that every
rank it starts can be killed at the end), bounded by a timeout. The launcher module is loaded by
file path: it imports nothing from treadle, and these tests do not need treadle installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # multi-process

LAUNCHER = Path(__file__).resolve().parents[2] / "plugins/treadle_plugins/strategies/_launcher.py"
PG_TIMEOUT_S = 4  # process-group timeout the scripts pass to init_process_group
RUN_TIMEOUT_S = 60

HEADER = f"""
import datetime, importlib.util, json, os, sys, time
from pathlib import Path
import torch
import torch.distributed as dist

spec = importlib.util.spec_from_file_location("treadle_launcher", {str(LAUNCHER)!r})
launcher = importlib.util.module_from_spec(spec)
sys.modules["treadle_launcher"] = launcher  # spawned children unpickle functions by this name
spec.loader.exec_module(launcher)
PG_TIMEOUT = datetime.timedelta(seconds={PG_TIMEOUT_S})


def init_group():
    # As the ddp strategy does: the ranks wait long for each other to start (importing torch
    # takes seconds on a loaded machine), then the group has the short timeout.
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store, _, _ = next(dist.rendezvous("env://", rank, world, timeout=datetime.timedelta(seconds=120)))
    store.set_timeout(PG_TIMEOUT)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=PG_TIMEOUT)
"""

# One script, several behaviours chosen by argv[1]; every rank runs it.
RANKS_SCRIPT = (
    HEADER
    + """
mode = sys.argv[1]
launcher.launch_subprocess_ranks(2)
launcher.launch_subprocess_ranks(2)  # a second Trainer in the same script: launches nothing
env = launcher.torchrun_env()
rank = env["rank"]
init_group()
print(f"rank {rank} up launcher={env['launcher']} local_rank={env['local_rank']} "
      f"world={dist.get_world_size()} argv={sys.argv[1:]}", flush=True)

if mode == "ok":
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)
    print(f"rank {rank} sum {t.item()}", flush=True)
    dist.destroy_process_group()
elif mode == "raise":  # rank 1 raises while rank 0 is busy outside any collective
    if rank == 1:
        print(f"raising at {time.time()}", flush=True)
        raise ValueError("rank one exploded")
    time.sleep(120)
elif mode == "stuck":  # rank 1 alive but never joins; rank 0 waits in a collective
    if rank == 1:
        time.sleep(120)
    dist.all_reduce(torch.ones(1))
elif mode == "orphan":  # rank 0 (the launcher) is SIGKILLed while rank 1 waits in a collective
    if rank == 0:
        time.sleep(120)
    Path(sys.argv[2]).write_text("in collective")
    dist.all_reduce(torch.ones(1))
"""
)

SPAWN_SCRIPT = (
    HEADER
    + """
def work(rank, fail_rank):
    init_group()
    if rank == fail_rank:
        raise ValueError(f"spawned rank {rank} failed")
    if fail_rank >= 0:
        time.sleep(120)  # must be terminated when the other rank fails
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)
    return {"rank": rank, "sum": t.item(), "env": launcher.torchrun_env(), "tensor": t}

if __name__ == "__main__":
    try:
        out = launcher.spawn(work, 2, args=(int(sys.argv[1]),))
    except Exception as e:
        print("SPAWN ERROR", type(e).__name__, e, flush=True)
        sys.exit(1)
    out["tensor"] = out["tensor"].tolist()
    print("RESULT " + json.dumps(out), flush=True)
"""
)

# Rank and launcher variables must not leak in from whatever runs pytest.
_SCRUB = (
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


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT_S) -> str:
    """Output of the whole job. communicate() returns only when every rank (all share the pipe)
    has exited, so a leftover rank shows up as a timeout."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out
    except subprocess.TimeoutExpired:
        _killpg(proc)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"job still running after {timeout}s; output:\n{out}")
    finally:
        _killpg(proc)  # reap anything left in the session


def _killpg(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_launched_ranks_all_reduce(tmp_path):
    script = _write(tmp_path, "train.py", RANKS_SCRIPT)
    proc = _start([sys.executable, str(script), "ok", "--extra", "x y"], tmp_path)
    out = _finish(proc)
    assert proc.returncode == 0, out
    for rank in (0, 1):  # both ranks re-ran the same argv and saw the other
        assert (
            f"rank {rank} up launcher=treadle local_rank={rank} world=2 "
            f"argv=['ok', '--extra', 'x y']" in out
        ), out
        assert f"rank {rank} sum 3.0" in out, out
    assert out.count(" up launcher=") == 2, out  # the child did not launch again


def test_launched_ranks_python_dash_m(tmp_path):
    _write(tmp_path, "trainmod.py", RANKS_SCRIPT)
    proc = _start([sys.executable, "-m", "trainmod", "ok"], tmp_path)
    out = _finish(proc)
    assert proc.returncode == 0, out
    assert "rank 0 sum 3.0" in out and "rank 1 sum 3.0" in out, out
    assert out.count(" up launcher=") == 2, out


def test_raising_rank_ends_job_promptly(tmp_path):
    script = _write(tmp_path, "train.py", RANKS_SCRIPT)
    proc = _start([sys.executable, str(script), "raise"], tmp_path)
    out = _finish(proc)
    ended = time.time()
    assert proc.returncode != 0, out
    assert "ValueError: rank one exploded" in out, out  # the child's traceback
    assert "rank 1 (pid" in out and "exited with code 1" in out, out  # the watcher's report
    # ... which reads rank 1's error file: its traceback, and rank 0 busy outside collectives
    assert ") failed first (root cause): ValueError: rank one exploded\nTraceback" in out, out
    assert "  rank 0: was still running (ended by the launcher after the failure)" in out, out
    raised = float(out.split("raising at ")[1].split()[0])
    assert ended - raised < 10, out  # rank 0 was sleeping for 120 s (~1 s measured)


def test_stuck_peer_bounded_by_process_group_timeout(tmp_path):
    script = _write(tmp_path, "train.py", RANKS_SCRIPT)
    proc = _start([sys.executable, str(script), "stuck"], tmp_path)
    start = time.monotonic()
    out = _finish(proc)
    assert proc.returncode != 0, out
    assert "Timed out" in out, out  # gloo's error on rank 0 after PG_TIMEOUT_S
    # rank 0's exit terminated the stuck rank 1 (or _finish would have timed out)
    assert time.monotonic() - start < PG_TIMEOUT_S + 25, out


def test_orphaned_rank_in_collective_ends_when_launcher_is_killed(tmp_path):
    # No watcher and no atexit here: only gloo and the process-group timeout can end rank 1.
    script = _write(tmp_path, "train.py", RANKS_SCRIPT)
    flag = tmp_path / "in_collective"
    proc = _start([sys.executable, str(script), "orphan", str(flag)], tmp_path)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not flag.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            _killpg(proc)
            pytest.fail(f"rank 1 never reached the collective:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)  # rank 0 is the process we started
    killed = time.monotonic()
    out = _finish(proc, timeout=PG_TIMEOUT_S + 20)
    assert "Connection closed by peer" in out or "Timed out" in out, out
    assert time.monotonic() - killed < PG_TIMEOUT_S + 10, out  # at once measured: dead peer


def test_torchrun_launch_is_joined(tmp_path):
    script = _write(tmp_path, "train.py", RANKS_SCRIPT)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        str(script),
        "ok",
    ]
    proc = _start(cmd, tmp_path)
    out = _finish(proc)
    assert proc.returncode == 0, out
    for rank in (0, 1):
        assert f"rank {rank} up launcher=torchrun local_rank={rank} world=2" in out, out
        assert f"rank {rank} sum 3.0" in out, out
    assert out.count(" up launcher=") == 2, out  # launch_subprocess_ranks() launched nothing


def test_spawn_returns_rank0_result(tmp_path):
    script = _write(tmp_path, "spawn_job.py", SPAWN_SCRIPT)
    proc = _start([sys.executable, str(script), "-1"], tmp_path)
    out = _finish(proc)
    assert proc.returncode == 0, out
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result["rank"] == 0 and result["sum"] == 3.0 and result["tensor"] == [3.0]
    assert result["env"]["world_size"] == 2 and result["env"]["launcher"] == "treadle"


def test_spawn_propagates_child_exception(tmp_path):
    script = _write(tmp_path, "spawn_job.py", SPAWN_SCRIPT)
    proc = _start([sys.executable, str(script), "1"], tmp_path)
    start = time.monotonic()
    out = _finish(proc)
    assert proc.returncode == 1, out
    # The report: rank 1's traceback first (its error file), then rank 0, terminated.
    # (a RankFailedError that is also torch's ProcessRaisedException, as mp.spawn raises)
    assert "SPAWN ERROR SpawnedRankFailedError rank 1 (pid " in out, out
    assert ") failed first (root cause): ValueError: spawned rank 1 failed\nTraceback" in out, out
    assert "Other ranks:\n  rank 0: was still running (ended by the launcher" in out, out
    assert time.monotonic() - start < 30, out  # rank 0's 120 s sleep was cut short
