"""Process launching for the DDP strategies, independent of treadle (stdlib + torch only).

Three ways a distributed run gets its ranks:

* ``torchrun_env()``: the processes were started by an external launcher (torchrun, or our own
  launcher below); it reads the rank variables so the strategy can join that launch.
* ``launch_subprocess_ranks()``: ``strategy="ddp"`` started as a plain ``python train.py``. The
  calling process becomes rank 0 and the other local ranks re-run the same command line with
  rank variables set (what Lightning does). A watcher thread ends the whole job as soon as one
  child exits with an error.
* ``spawn()``: ``strategy="ddp_spawn"``, ``torch.multiprocessing.start_processes`` with rank
  variables set in each child and rank 0's return value sent back to the parent.

In every case the ranks initialise ``torch.distributed`` with ``init_method="env://"``; pass a
``timeout=`` to ``init_process_group`` so that a rank stuck outside a collective cannot block
the others for torch's default of 30 minutes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable

import torch
import torch.multiprocessing as mp

# Set in every process started by this module (and in rank 0 after it launched the others), so
# that a re-run script that calls launch_subprocess_ranks() again does not launch a second time.
LAUNCHED_ENV = "TREADLE_LAUNCHED"

_POLL_S = 0.1  # how often the watcher looks at the children
_TERMINATE_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long

_children: list[tuple[int, subprocess.Popen]] = []  # (global rank, process) of launched ranks
_watcher: threading.Thread | None = None
_stopping = threading.Event()  # set once we terminate the children ourselves


def find_free_port(host: str = "") -> int:
    """A TCP port that is free right now (the OS picks it; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _env_int(name: str, default: int | None = None) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def torchrun_env() -> dict[str, Any] | None:
    """The rank variables of an existing launch, or None when RANK / WORLD_SIZE are not set.

    Keys: rank, world_size, local_rank, local_world_size, node_rank, master_addr, master_port
    (None when unset), and launcher: "treadle" (this module), "torchrun" (torchrun / torch
    elastic) or "env" (variables set some other way). LOCAL_RANK and LOCAL_WORLD_SIZE default to
    RANK and WORLD_SIZE (one node); the node rank is GROUP_RANK (torchrun) or NODE_RANK.
    """
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    if rank is None or world_size is None:
        return None
    if os.environ.get(LAUNCHED_ENV) == "1":
        launcher = "treadle"
    elif "TORCHELASTIC_RUN_ID" in os.environ:
        launcher = "torchrun"
    else:
        launcher = "env"
    return {
        "rank": rank,
        "world_size": world_size,
        "local_rank": _env_int("LOCAL_RANK", rank),
        "local_world_size": _env_int("LOCAL_WORLD_SIZE", world_size),
        "node_rank": _env_int("GROUP_RANK", _env_int("NODE_RANK", 0)),
        "master_addr": os.environ.get("MASTER_ADDR"),
        "master_port": _env_int("MASTER_PORT"),
        "launcher": launcher,
    }


def _rank_env(
    rank: int,
    world_size: int,
    local_rank: int,
    local_world_size: int,
    node_rank: int,
    master_addr: str,
    master_port: int,
) -> dict[str, str]:
    return {
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(world_size),
        "RANK": str(rank),
        "LOCAL_RANK": str(local_rank),
        "LOCAL_WORLD_SIZE": str(local_world_size),
        "NODE_RANK": str(node_rank),
        LAUNCHED_ENV: "1",
    }


def _script_command() -> list[str]:
    """The command line that re-runs this process's script: ``python script.py args`` or
    ``python -m module args``."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    if spec is not None and spec.name not in ("__main__", None):
        # `python -m pkg` runs pkg.__main__; `-m pkg.__main__` re-runs it the same way.
        return [sys.executable, "-m", spec.name, *sys.argv[1:]]
    # __main__.__file__ is absolute (Python >= 3.9), even if the script changed directory since.
    script = getattr(__main__, "__file__", None)
    if not script or not os.path.exists(script):
        raise RuntimeError(
            "strategy 'ddp' launches the other ranks by re-running the script, but this process "
            f"was not started from a script file (sys.argv[0]={sys.argv[0]!r}). Run a script, "
            "launch with torchrun, or use strategy 'ddp_spawn'."
        )
    return [sys.executable, script, *sys.argv[1:]]


def launch_subprocess_ranks(
    world_size: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
) -> None:
    """Start the other local ranks by re-running this script; the caller continues as the
    node's local rank 0.

    ``world_size`` counts every rank on every node; each node runs ``world_size // nnodes``.
    Rank variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
    NODE_RANK) are set in the children and in this process's ``os.environ``, so every rank can
    call ``init_process_group(init_method="env://")``; OMP_NUM_THREADS=1 too when it is unset
    (torchrun's default). Does nothing when the rank variables are already set (a child of this
    launcher, or a torchrun launch): call ``torchrun_env()`` first.

    A watcher thread polls the children: when one exits non-zero it prints the rank and exit
    code to stderr, terminates the other children and ends this process with ``os._exit`` (the
    child's own traceback is already on the shared stderr). When this process exits it waits for
    the children, unless it is exiting because of an uncaught exception: then they are
    terminated.
    """
    global _watcher
    if os.environ.get(LAUNCHED_ENV) == "1" or torchrun_env() is not None:
        return
    if world_size < 1 or nnodes < 1 or world_size % nnodes:
        raise ValueError(f"world_size={world_size} must be a positive multiple of nnodes={nnodes}")
    if not 0 <= node_rank < nnodes:
        raise ValueError(f"node_rank={node_rank} must be in [0, {nnodes})")
    if master_port is None:
        if nnodes > 1:
            raise ValueError("with several nodes, every node must be given the same master_port")
        master_port = find_free_port()

    command = _script_command()
    local_world_size = world_size // nnodes
    first_rank = node_rank * local_world_size

    def env_for(local_rank: int) -> dict[str, str]:
        return _rank_env(
            first_rank + local_rank,
            world_size,
            local_rank,
            local_world_size,
            node_rank,
            master_addr,
            master_port,
        )

    _one_thread_per_rank(local_world_size)
    for local_rank in range(1, local_world_size):
        proc = subprocess.Popen(command, env={**os.environ, **env_for(local_rank)})
        _children.append((first_rank + local_rank, proc))
    os.environ.update(env_for(0))

    _watcher = threading.Thread(target=_watch_children, name="treadle-ddp-watcher", daemon=True)
    _watcher.start()
    atexit.register(_at_exit)


def _one_thread_per_rank(local_world_size: int) -> None:
    """As torchrun does: without OMP_NUM_THREADS, several ranks on one machine each get one
    intra-op thread instead of one per core (which oversubscribes the CPU). Children inherit the
    variable; this process has already started torch, so it is told directly."""
    if local_world_size > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def _exit_code(returncode: int) -> int:
    return returncode if returncode > 0 else 128 + (-returncode)  # killed by signal N -> 128 + N


def _watch_children() -> None:
    while True:
        for rank, proc in _children:
            code = proc.poll()
            if _stopping.is_set():
                return  # we are terminating them: their exit codes are our doing
            if code not in (None, 0):
                print(
                    f"treadle: rank {rank} (pid {proc.pid}) exited with code {code}; "
                    "terminating the other ranks",
                    file=sys.stderr,
                    flush=True,
                )
                terminate_children()
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                # The main thread may be blocked inside a C++ collective where no Python
                # exception can reach it, so end the process from here.
                os._exit(_exit_code(code))
        if all(proc.returncode == 0 for _, proc in _children):
            return
        time.sleep(_POLL_S)


def terminate_children(sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to the ranks started by ``launch_subprocess_ranks`` that are still running,
    wait up to a few seconds, then SIGKILL those left. For a strategy's exception path."""
    _stopping.set()  # before any signal, so the watcher does not report the deaths we cause
    alive = [proc for _, proc in _children if proc.poll() is None]
    for proc in alive:
        proc.send_signal(sig)
    deadline = time.monotonic() + _TERMINATE_GRACE_S
    for proc in alive:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _at_exit() -> None:
    # sys.last_value is set by the interpreter when the main module ended with an uncaught
    # exception: the children would only fail at their next collective, so stop them now.
    if getattr(sys, "last_value", None) is not None:
        terminate_children()
    elif _watcher is not None:
        _watcher.join()  # returns when all children exited 0; os._exit()s on a failure


# ---------------------------------------------------------------------------------------------
# ddp_spawn


def _spawn_entry(
    local_rank: int,
    fn: Callable[..., Any],
    world_size: int,
    master_addr: str,
    master_port: int,
    args: Sequence[Any],
    result_path: str,
) -> None:
    os.environ.update(
        _rank_env(local_rank, world_size, local_rank, world_size, 0, master_addr, master_port)
    )
    _one_thread_per_rank(world_size)
    result = fn(local_rank, *args)
    if local_rank == 0:
        tmp = result_path + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(result, f)
        os.replace(tmp, result_path)
    # A process group still alive at interpreter exit can abort the process (seen here: gloo,
    # "terminate called without an active exception", SIGABRT after fn had returned).
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def spawn(
    fn: Callable[..., Any],
    world_size: int,
    args: Sequence[Any] = (),
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
    start_method: str = "spawn",
) -> Any:
    """Run ``fn(rank, *args)`` in ``world_size`` new processes and return rank 0's result.

    Each process has the rank variables set as ``launch_subprocess_ranks`` sets them (one node,
    OMP_NUM_THREADS=1 when unset). ``fn``, ``args`` and rank 0's result must be picklable; with
    the "spawn" start method ``fn`` must be importable (a module-level function). When a process
    raises, the others are terminated and ``torch.multiprocessing.ProcessRaisedException`` is
    raised here, its message holding the child's traceback; a process that dies without raising
    gives ``ProcessExitedException``.
    """
    if master_port is None:
        master_port = find_free_port()
    tmpdir = tempfile.mkdtemp(prefix="treadle-spawn-")
    result_path = os.path.join(tmpdir, "rank0.pkl")
    try:
        mp.start_processes(
            _spawn_entry,
            args=(fn, world_size, master_addr, master_port, tuple(args), result_path),
            nprocs=world_size,
            join=True,
            start_method=start_method,
        )
        with open(result_path, "rb") as f:
            return pickle.load(f)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
