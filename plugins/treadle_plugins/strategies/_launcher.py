"""Process launching for the DDP strategies, independent of treadle (stdlib + torch only).

Three ways a distributed run gets its ranks:

* ``torchrun_env()``: the processes were started by an external launcher (torchrun, or our own
  launcher below); it reads the rank variables so the strategy can join that launch.
* ``launch_subprocess_ranks()``: ``strategy="ddp"`` started as a plain ``python train.py``. The
  calling process becomes rank 0 and the other local ranks re-run the same command line with
  rank variables set (what Lightning does). A watcher thread ends the whole job as soon as one
  child exits with an error.
* ``spawn()``: ``strategy="ddp_spawn"`` (start method ``spawn``) and ``strategy="ddp_fork"``
  (``fork``), ``torch.multiprocessing.start_processes`` with rank variables set in each child
  and rank 0's return value sent back to the parent.

In every case the ranks initialise ``torch.distributed`` with ``init_method="env://"``; pass a
``timeout=`` to ``init_process_group`` so that a rank stuck outside a collective cannot block
the others for torch's default of 30 minutes.

Failure reports (the launches this module owns): every rank records its first exception with
``record_error()`` to its error file, ``TORCHELASTIC_ERROR_FILE`` in torch elastic's JSON format
(what ``torch.distributed.elastic.multiprocessing.errors.record`` writes, plus a ``"treadle"``
block with the rank, the exact time and the kind of failure). The launching process collects
those files and the ranks' exit codes (``handle_failure()`` in rank 0 of a ``ddp`` launch, the
watcher thread, ``spawn()``) and reports the first failure with its traceback, then one line per
other rank (``RankFailedError``): a rank that lost its connection to a failed peer or timed out
waiting for one is labelled secondary, and a rank that neither failed nor exited while the
others timed out is named as the one that did not answer. Under torchrun the same file is
torchrun's error file, so its "Root Cause" block shows the real traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing.connection
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
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.multiprocessing as mp
from torch.multiprocessing import ProcessRaisedException

from treadle.errors import ConfigurationError, Preempted

# Set in every process started by this module (and in rank 0 after it launched the others), so
# that a re-run script that calls launch_subprocess_ranks() again does not launch a second time.
LAUNCHED_ENV = "TREADLE_LAUNCHED"

# torch elastic's convention: the JSON file where a rank records the exception that ended it.
ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"

_POLL_S = 0.1  # how often the watcher looks at the children
_TERMINATE_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
# After a failure, how long the launching process waits for the other ranks to fail or exit on
# their own (a rank that lost its peer fails at once; ranks waiting in the same collective time
# out within moments of each other) before it ends those left.
_COLLECT_S = 5.0
# The watcher leaves the report to rank 0's main thread when that thread fails this soon after
# a child (it is usually in a collective with the dead child, and fails at once).
_MAIN_GRACE_S = 3.0

_children: list[tuple[int, subprocess.Popen]] = []  # (global rank, process) of launched ranks
_watcher: threading.Thread | None = None
_stopping = threading.Event()  # set once we terminate the children ourselves
_error_dir: str | None = None  # rank 0 of our launch: where each rank writes its error file
_main_failing = threading.Event()  # rank 0's main thread is handling a failure
_report_lock = threading.Lock()  # one failure report per process: main thread or watcher
_recorded = False  # this process has written its error file (the first exception wins)
_first_seen: dict[int, float] = {}  # rank -> when the watcher saw it exit


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

    Without RANK, the variables Lightning's docs set by hand on each node of a cluster
    (clouds/cluster_intermediate_1: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, NODE_RANK, and the
    process's LOCAL_RANK) are a launch too, as Lightning's ``LightningEnvironment`` reads them:
    rank is then None (``node_rank * processes per node + local_rank``, which the environment
    works out from the Trainer's ``num_nodes``) and local_world_size is LOCAL_WORLD_SIZE or None.
    """
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    if world_size is None:
        return None
    if rank is None:
        if "LOCAL_RANK" not in os.environ or "MASTER_PORT" not in os.environ:
            return None
        return {
            "rank": None,
            "world_size": world_size,
            "local_rank": _env_int("LOCAL_RANK"),
            "local_world_size": _env_int("LOCAL_WORLD_SIZE"),
            "node_rank": _env_int("GROUP_RANK", _env_int("NODE_RANK", 0)),
            "master_addr": os.environ.get("MASTER_ADDR"),
            "master_port": _env_int("MASTER_PORT"),
            "launcher": "env",
        }
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
            "launch with torchrun, or use strategy 'ddp_fork' (the REPL, a notebook: nothing "
            "is re-run) or 'ddp_spawn'."
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

    Each rank's ``TORCHELASTIC_ERROR_FILE`` is a file in a fresh directory (removed at exit).
    A watcher thread polls the children: when one exits non-zero and this process's main thread
    does not start handling a failure of its own within ``_MAIN_GRACE_S`` (it is outside any
    collective), the watcher prints the failure report to stderr, terminates the other
    children and ends this process with ``os._exit``. When this process exits it waits for
    the children, unless it is exiting because of an uncaught exception: then they are
    terminated. A strategy calls ``handle_failure`` on its exception path.
    """
    global _watcher, _error_dir
    if os.environ.get(LAUNCHED_ENV) == "1" or torchrun_env() is not None:
        if os.environ.get(ERROR_FILE_ENV):  # our child, or torchrun's worker: record failures
            _install_excepthook()
        _end_group_at_exit()
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
    _error_dir = tempfile.mkdtemp(prefix="treadle-errors-")
    for local_rank in range(1, local_world_size):
        rank = first_rank + local_rank
        errors = {ERROR_FILE_ENV: str(_error_file(rank))}
        proc = subprocess.Popen(command, env={**os.environ, **env_for(local_rank), **errors})
        _children.append((rank, proc))
    os.environ.update(env_for(0))
    os.environ[ERROR_FILE_ENV] = str(_error_file(first_rank))
    _install_excepthook()

    _watcher = threading.Thread(target=_watch_children, name="treadle-ddp-watcher", daemon=True)
    _watcher.start()
    atexit.register(_at_exit)
    _end_group_at_exit()  # (atexit runs it first)


_group_ended_at_exit = False


def _end_group_at_exit() -> None:
    """At interpreter exit, destroy the default process group if a strategy left it up (the
    DeepSpeed strategy keeps it for a later stage of the script): a gloo group still alive when
    the C++ runtime shuts down can abort the process ("terminate called without an active
    exception", SIGABRT after the run had finished: seen in CI on a ZeRO 2 offload rank). Not
    after an uncaught exception: the other ranks are being stopped then."""
    global _group_ended_at_exit
    if not _group_ended_at_exit:
        _group_ended_at_exit = True
        atexit.register(_destroy_group)


def _destroy_group() -> None:
    if getattr(sys, "last_value", None) is not None:
        return
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _one_thread_per_rank(local_world_size: int) -> None:
    """As torchrun does: without OMP_NUM_THREADS, several ranks on one machine each get one
    intra-op thread instead of one per core (which oversubscribes the CPU). Children inherit the
    variable; this process has already started torch, so it is told directly."""
    if local_world_size > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


# A rank that exits 128 + SIGINT/SIGUSR1/SIGTERM by itself (not killed: that is a negative
# returncode) was preempted through treadle's handler: the ranks agreed to stop at one step and
# rank zero has saved the run, so this is no failure to report; rank 0 stops the same way.
_PREEMPTED_CODES = {128 + signal.SIGINT, 128 + signal.SIGUSR1, 128 + signal.SIGTERM}


def _exit_code(returncode: int) -> int:
    return returncode if returncode > 0 else 128 + (-returncode)  # killed by signal N -> 128 + N


def _watch_children() -> None:
    while True:
        for rank, proc in _children:
            code = proc.poll()
            if _stopping.is_set():
                return  # we are terminating them: their exit codes are our doing
            if code not in (None, 0) and code not in _PREEMPTED_CODES:
                _first_seen.setdefault(rank, time.time())
                if _main_failing.wait(_MAIN_GRACE_S):
                    return  # rank 0's main thread failed too: handle_failure reports
                with _report_lock:
                    if _stopping.is_set():
                        return
                    failures = _failures(_collect_children(None, _COLLECT_S), None)
                    terminate_children()
                    print(
                        f"treadle: rank {rank} (pid {proc.pid}) exited with code {code}; "
                        f"the other ranks were terminated.\n{format_report(failures)}",
                        file=sys.stderr,
                        flush=True,
                    )
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                if _error_dir is not None:  # (os._exit runs no atexit)
                    shutil.rmtree(_error_dir, ignore_errors=True)
                # The main thread may be blocked inside a C++ collective where no Python
                # exception can reach it, so end the process from here.
                os._exit(_exit_code(code))
        if all(proc.returncode in (0, *_PREEMPTED_CODES) for _, proc in _children):
            return
        time.sleep(_POLL_S)


_PREEMPTED_WAIT_S = 60.0  # how long rank 0 waits for preempted ranks to exit on their own


def _wait_for_children(timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for the ranks started here to exit."""
    deadline = time.monotonic() + timeout_s
    for _, proc in _children:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return


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
    if _error_dir is not None:
        shutil.rmtree(_error_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# failure reports

# A distributed error caused by another rank: its connection closed (it died or raised), or a
# collective timed out waiting for it. Matched in the messages of gloo, NCCL and c10d.
_LOST = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "connection refused",
    "ncclremoteerror",
    "communicator was aborted",
    "remote process exited",
)
_TIMEOUT = ("timed out", "timeout", "watchdog caught collective operation")
_DIST_WORDS = ("gloo", "nccl", "c10d", "processgroup", "pair.cc", "store", "collective")


def failure_kind(exc: BaseException) -> str:
    """``"lost"`` (a peer's connection closed), ``"timeout"`` (a collective or the store waited
    too long for a peer), or ``"error"`` (this rank's own failure, a root cause)."""
    dist_error = getattr(torch.distributed, "DistError", ())
    if not isinstance(exc, RuntimeError):
        return "error"
    message = str(exc).lower()
    if not (isinstance(exc, dist_error) or any(w in message for w in _DIST_WORDS)):
        return "error"  # a RuntimeError of the user's own that mentions a timeout, say
    if any(w in message for w in _LOST):
        return "lost"
    if any(w in message for w in _TIMEOUT):
        return "timeout"
    return "error"


def record_error(exc: BaseException, rank: int | None = None, note: str = "") -> str | None:
    """Write ``exc`` to this rank's error file, ``$TORCHELASTIC_ERROR_FILE``, once per process
    (the first failure is the one that matters); returns the path, or None when the variable is
    unset or the file could not be written.

    The format is torch elastic's (``record``): ``{"message": {"message": "Type: text",
    "extraInfo": {"py_callstack": traceback, "timestamp": "seconds"}}}``, so torchrun's summary
    shows the traceback; a ``"treadle"`` block adds rank, pid, the exact time, the exception's
    type and message, and ``failure_kind``. A secondary failure (``"lost"``, ``"timeout"``) is
    dated one second late in torchrun's whole-second timestamp, so that the root cause of the
    same second sorts first in torchrun's "first observed failure". ``note``: a line added to
    the message and the traceback (the ranks a timeout waited for).
    """
    global _recorded
    path = os.environ.get(ERROR_FILE_ENV)
    if not path or _recorded:
        return None
    _recorded = True
    data = _error_data(exc, rank, note)
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)  # whole or absent: the reader may look at any moment
    except OSError:
        return None
    return path


def _error_data(exc: BaseException, rank: int | None, note: str = "") -> dict[str, Any]:
    now, kind = time.time(), failure_kind(exc)
    if rank is None:
        rank = _env_int("RANK", 0)
    summary = f"{type(exc).__name__}: {exc}"
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if note:
        summary = f"{summary}\n{note}"
        if note not in stack:  # (from Python 3.11 the exception's notes are in it already)
            stack = f"{stack}{note}\n"
    return {
        "message": {
            "message": summary,
            "extraInfo": {
                "py_callstack": stack,
                "timestamp": str(int(now) + (kind != "error")),
            },
        },
        "treadle": {
            "rank": rank,
            "pid": os.getpid(),
            "time": now,
            "type": type(exc).__name__,
            "message": str(exc),
            "kind": kind,
        },
    }


def _install_excepthook() -> None:
    """Record an exception that escapes the script (one raised outside ``fit``) too."""
    previous = sys.excepthook
    if getattr(previous, "_treadle_records", False):
        return

    def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        if isinstance(exc, Exception):
            with contextlib.suppress(Exception):
                record_error(exc)
        previous(exc_type, exc, tb)

    hook._treadle_records = True  # type: ignore[attr-defined]
    sys.excepthook = hook


@dataclass
class RankFailure:
    """How one rank of a failed job ended. ``kind``: ``"error"`` (it raised), ``"exit"`` (it
    exited with an error code and left no record), ``"signal"`` (killed by a signal),
    ``"lost"`` / ``"timeout"`` (secondary: a dead or silent peer), ``"stuck"`` (alive and
    silent while the others timed out: it did not answer), ``"terminated"`` (ended by the
    launcher after another rank failed), ``"running"`` (rank 0 of a launch, busy)."""

    rank: int
    kind: str
    summary: str  # one line
    time: float  # when it failed, or when its exit was seen
    traceback: str = ""
    pid: int | None = None

    @property
    def primary(self) -> bool:
        return self.kind in ("error", "exit", "signal")


_SECONDARY = {
    "lost": "secondary: lost its connection to a failed rank",
    "timeout": "secondary: timed out waiting for another rank",
    "terminated": "ended by the launcher after the failure",
    "running": "still running, ended with the job",
}


class RankFailedError(RuntimeError):
    """A rank of a distributed job failed. The message is the job's failure report: the first
    failure (the root cause) with its traceback, then one line per other rank.

    ``failures``: a :class:`RankFailure` per rank, the root cause(s) first; ``root``: the first.
    """

    def __init__(self, report: str, failures: list[RankFailure]) -> None:
        super().__init__(report)
        self.failures = failures
        self.root = failures[0]

    def __reduce__(self) -> tuple:
        return (type(self), (str(self), self.failures))


class SpawnedConfigurationError(ConfigurationError, ProcessRaisedException):
    """A ``ConfigurationError`` the spawned workers found, raised in the caller with the same
    problems; also a ``ProcessRaisedException``, as Lightning's ``ddp_spawn`` raises whatever a
    worker raised (``except ProcessRaisedException`` written for Lightning catches it)."""

    def __init__(self, error: ConfigurationError) -> None:
        ConfigurationError.__init__(self, error.problems)
        self.error_index, self.pid = 0, None  # (ProcessRaisedException's attributes: rank 0)
        self.msg = str(self)

    def __reduce__(self) -> tuple:
        return (_rebuild_configuration_error, (self.problems,))


def _rebuild_configuration_error(problems: list[str]) -> SpawnedConfigurationError:
    return SpawnedConfigurationError(ConfigurationError(problems))


class SpawnedRankFailedError(RankFailedError, ProcessRaisedException):
    """A rank spawned by ``ddp_spawn`` failed: also ``torch.multiprocessing``'s
    ``ProcessRaisedException``, as ``torch.multiprocessing.spawn`` raises (and Lightning's
    ``ddp_spawn``), so ``except ProcessRaisedException`` catches it."""

    def __init__(self, report: str, failures: list[RankFailure]) -> None:
        super().__init__(report, failures)
        # ProcessException's attributes: the message, the failed rank and its process id
        self.msg, self.error_index, self.pid = report, self.root.rank, self.root.pid


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read_error_file(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _from_record(rank: int, data: dict[str, Any], pid: int | None) -> RankFailure:
    message = data.get("message")
    extra = message.get("extraInfo", {}) if isinstance(message, dict) else {}
    ours = data.get("treadle") or {}
    summary = message.get("message", "") if isinstance(message, dict) else str(message)
    return RankFailure(
        rank=rank,
        kind=ours.get("kind", "error"),
        summary=summary,
        time=float(ours.get("time", extra.get("timestamp", 0))),
        traceback=extra.get("py_callstack", ""),
        pid=ours.get("pid", pid),
    )


def _from_exit(rank: int, code: int, pid: int | None, seen: float) -> RankFailure:
    if code < 0:  # killed by a signal (Popen.returncode and Process.exitcode agree)
        name = _signal_name(-code)
        summary = (
            f"killed by {name} (signal {-code}) and left no traceback: a kill, the "
            f"out-of-memory killer, or a crash in native code"
        )
        return RankFailure(rank, "signal", summary, seen, pid=pid)
    return RankFailure(
        rank, "exit", f"exited with code {code} and left no error record", seen, pid=pid
    )


def _collect(
    ranks: dict[int, Callable[[], int | None]],
    pids: dict[int, int | None],
    error_files: dict[int, str],
    first_seen: dict[int, float],
    own: RankFailure | None,
    wait_s: float,
) -> dict[int, RankFailure | None]:
    """What each rank in ``ranks`` (rank -> poll() giving its exit code or None) left: its
    error record, else its exit; None while it runs. Waits up to ``wait_s`` for a rank that
    failed on its own (a root cause: no need to wait for the rest, which are secondary) or for
    every rank to have exited or recorded an error."""
    deadline = time.monotonic() + wait_s
    while True:
        out = _read_states(ranks, pids, error_files, first_seen)
        if own is not None:
            out[own.rank] = own
        settled = all(f is not None or ranks[r]() is not None for r, f in out.items() if r in ranks)
        if settled or any(f is not None and f.primary for f in out.values()):
            return out
        if time.monotonic() >= deadline:
            return out
        time.sleep(0.05)


def _read_states(
    ranks: dict[int, Callable[[], int | None]],
    pids: dict[int, int | None],
    error_files: dict[int, str],
    first_seen: dict[int, float],
) -> dict[int, RankFailure | None]:
    out: dict[int, RankFailure | None] = {}
    now = time.time()
    for r, poll in ranks.items():
        code = poll()
        if code is not None and r not in first_seen:
            first_seen[r] = now
        data = _read_error_file(error_files[r]) if r in error_files else None
        if data is not None:
            out[r] = _from_record(r, data, pids.get(r))
        elif code not in (None, 0):
            out[r] = _from_exit(r, code, pids.get(r), first_seen.get(r, now))
        else:
            out[r] = None  # running (or exited 0 before the others failed)
    return out


def _failures(seen: dict[int, RankFailure | None], timeout_s: float | None) -> list[RankFailure]:
    """Every rank's failure, the root cause(s) first: the earliest rank that failed on its
    own; if none did and some timed out, every rank that neither failed nor exited (they did
    not answer); else the earliest secondary failure."""
    timed_out = any(f is not None and f.kind == "timeout" for f in seen.values())
    failures = []
    for rank, failure in sorted(seen.items()):
        if failure is None:
            if timed_out:
                wait = f" within process_group_timeout={timeout_s:g}s" if timeout_s else ""
                failure = RankFailure(
                    rank,
                    "stuck",
                    f"did not answer{wait}: alive but not in the collective the other ranks "
                    f"waited in (stuck, or in another collective)",
                    0.0,
                )
            else:
                failure = RankFailure(rank, "terminated", "was still running", time.time())
        failures.append(failure)
    primary = sorted((f for f in failures if f.primary), key=lambda f: f.time)
    if primary:
        roots = primary[:1]
    else:
        roots = [f for f in failures if f.kind == "stuck"]
        if not roots:
            roots = sorted(failures, key=lambda f: f.time)[:1]
    return roots + [f for f in failures if f not in roots]


def format_report(failures: list[RankFailure]) -> str:
    """The failure report: the root cause first (its traceback when it left one), then one
    line per other rank."""
    root = failures[0]
    stuck = [f for f in failures if f.kind == "stuck"]
    if root.kind == "stuck":
        names = ", ".join(str(f.rank) for f in stuck)
        lines = [f"rank{'s' if len(stuck) > 1 else ''} {names} {root.summary}."]
        others = [f for f in failures if f.kind != "stuck"]
    else:
        pid = f" (pid {root.pid})" if root.pid else ""
        lines = [f"rank {root.rank}{pid} failed first (root cause): {root.summary}"]
        if root.traceback:
            lines.append(root.traceback.rstrip())
        others = failures[1:]
    if others:
        lines.append("Other ranks:")
        for f in others:
            note = _SECONDARY.get(f.kind)
            if f.kind in ("terminated", "running"):
                lines.append(f"  rank {f.rank}: {f.summary} ({note})")
            else:
                summary = f.summary.splitlines()[0] if f.summary else f.kind
                lines.append(f"  rank {f.rank}: {summary}" + (f" ({note})" if note else ""))
    return "\n".join(lines)


def handle_failure(
    exc: BaseException,
    rank: int,
    timeout_s: float | None = None,
    store: Any = None,
    world_size: int = 0,
) -> RankFailedError | None:
    """For a strategy's exception path, in any rank: record ``exc`` in this rank's error file
    (torchrun's included). In rank 0 of a ``launch_subprocess_ranks`` launch, also end the job:
    wait (bounded) for the other ranks to fail or exit on their own when ``exc`` is secondary
    (a lost peer, a timeout), terminate those left, and return the job's
    :class:`RankFailedError` (the caller raises it). When ``exc`` is this rank's own error it
    stays the exception the user gets (its type is kept), with the report of the other ranks
    added as a note. None in every other case.

    ``store`` (the process group's store) and ``world_size``: under an external launcher, a
    timed-out rank calls ``roll_call`` and names the ranks that did not answer in a note on
    ``exc`` and in its error file (torchrun's summary shows it)."""
    if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: stop the children, no report
        if isinstance(exc, Preempted):  # the ranks agreed to stop here: let them finish
            _wait_for_children(_PREEMPTED_WAIT_S)  # (their on_exception, their exit)
        terminate_children()
        return None
    note = ""
    if store is not None and failure_kind(exc) == "timeout" and os.environ.get(LAUNCHED_ENV) != "1":
        # An external launch (torchrun, SLURM): no launcher of ours sees the processes, so the
        # ranks that timed out take a roll call in the store to name those that did not.
        missing = roll_call(store, rank, world_size, _COLLECT_S)
        if missing:
            names = ", ".join(map(str, missing))
            wait = f"process_group_timeout={timeout_s:g}s, " if timeout_s else ""
            note = (
                f"treadle: rank{'s' if len(missing) > 1 else ''} {names} did not answer ({wait}"
                f"no report within {_COLLECT_S:g} s after this timeout): stuck outside the "
                f"collective, in another collective, or dead."
            )
            _add_note(exc, note)
    record_error(exc, rank, note)
    if not _children:
        return None
    _main_failing.set()
    with _report_lock:
        own = _from_record(rank, _error_data(exc, rank), os.getpid())
        # A secondary failure comes after the root cause: its record is there or comes soon.
        # This rank's own error: the others wait for it in a collective, so end them now.
        wait_s = 0.0 if own.primary else _COLLECT_S
        failures = _failures(_collect_children(own, wait_s), timeout_s)
        terminate_children()
    report = format_report(failures)
    if not own.primary:
        return RankFailedError(report, failures)
    if failures[0].rank != rank:  # another rank raised too, earlier
        _add_note(exc, f"treadle: {report}")
    elif "\nOther ranks:\n" in report:
        _add_note(exc, "Other ranks:\n" + report.split("\nOther ranks:\n", 1)[1])
    return None


def _add_note(exc: BaseException, note: str) -> None:
    """Shown under the exception's traceback (Python >= 3.11); printed to stderr before."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(note)
    else:
        print(note, file=sys.stderr, flush=True)


def roll_call(store: Any, rank: int, world_size: int, wait_s: float) -> list[int]:
    """Mark this rank as failed-and-answering in ``store`` and wait up to ``wait_s`` for the
    other ranks to do the same; returns the ranks that did not (the ranks whose collectives
    timed out together all answer within moments). ``[]`` when the store is unreachable (its
    host is gone)."""
    try:
        store.set(f"treadle_fault_{rank}", str(time.time()))
        deadline = time.monotonic() + wait_s
        while True:
            missing = [r for r in range(world_size) if not store.check([f"treadle_fault_{r}"])]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.1)
    except Exception:  # DistStoreError, a closed connection: nothing to learn
        return []


def _error_file(rank: int) -> str | None:
    return os.path.join(_error_dir, f"rank{rank}.json") if _error_dir else None


def _collect_children(own: RankFailure | None, wait_s: float) -> dict[int, RankFailure | None]:
    """What each rank of our launch left; this process (rank 0 of the node) as ``own``, or
    None (still running: the watcher reports a child's failure)."""
    ranks = {r: proc.poll for r, proc in _children}
    pids: dict[int, int | None] = {r: proc.pid for r, proc in _children}
    files = {r: f for r, _ in _children if (f := _error_file(r)) is not None}
    seen = _collect(ranks, pids, files, _first_seen, own, wait_s)
    if own is None:
        seen[_env_int("RANK", 0) or 0] = None
    return seen


# ---------------------------------------------------------------------------------------------
# ddp_spawn


def _spawn_entry(
    local_rank: int,
    fn: Callable[..., Any],
    world_size: int,
    master_addr: str,
    master_port: int,
    args: Sequence[Any],
    result_dir: str,
) -> None:
    os.environ.update(
        _rank_env(local_rank, world_size, local_rank, world_size, 0, master_addr, master_port)
    )
    os.environ[ERROR_FILE_ENV] = os.path.join(result_dir, f"rank{local_rank}.json")
    _one_thread_per_rank(world_size)
    try:
        result = fn(local_rank, *args)
    except Exception as exc:
        record_error(exc, local_rank)
        raise
    if local_rank == 0:
        result_path = os.path.join(result_dir, "rank0.pkl")
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
    timeout_s: float | None = None,
) -> Any:
    """Run ``fn(rank, *args)`` in ``world_size`` new processes and return rank 0's result.

    Each process has the rank variables set as ``launch_subprocess_ranks`` sets them (one node,
    OMP_NUM_THREADS=1 when unset, and ``torch.set_num_threads(1)``: a forked child inherits the
    parent's thread count). Rank 0's result must be picklable; with the "spawn" start method
    ``fn`` and ``args`` too, and ``fn`` must be importable (a module-level function). With
    "fork" nothing is pickled on the way in (the children are copies of this process), which is
    what a notebook or a script without an ``if __name__ == "__main__":`` guard needs.

    When a process fails, the others get ``_COLLECT_S`` seconds to fail or exit on their own
    (they fail at once when they lose the failed peer), those left are terminated, and
    :class:`RankFailedError` is raised here: the first failure's traceback (each process records
    its exception in its ``TORCHELASTIC_ERROR_FILE``), then one line per other rank.
    ``timeout_s`` (the process-group timeout) only words the report of ranks that did not
    answer.
    """
    if master_port is None:
        master_port = find_free_port()
    tmpdir = tempfile.mkdtemp(prefix="treadle-spawn-")
    try:
        context = mp.start_processes(
            _spawn_entry,
            args=(fn, world_size, master_addr, master_port, tuple(args), tmpdir),
            nprocs=world_size,
            join=False,
            start_method=start_method,
        )
        try:
            _join_spawned(context.processes, tmpdir, timeout_s)
        finally:
            for path in context.error_files:  # torch's own (its join, unused here, reads them)
                with contextlib.suppress(OSError):
                    os.remove(path)
        with open(os.path.join(tmpdir, "rank0.pkl"), "rb") as f:
            return pickle.load(f)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _join_spawned(processes: list[Any], error_dir: str, timeout_s: float | None) -> None:
    """Wait for the spawned processes; on the first failure, report it (see ``spawn``)."""
    first_seen: dict[int, float] = {}
    try:
        while True:
            alive = [p for p in processes if p.exitcode is None]
            failed = [r for r, p in enumerate(processes) if p.exitcode not in (None, 0)]
            for r in failed:
                first_seen.setdefault(r, time.time())
            if failed or not alive:
                break
            multiprocessing.connection.wait([p.sentinel for p in alive], timeout=_POLL_S)
        if not failed:
            return
        seen = _collect(
            {r: _exitcode_of(p) for r, p in enumerate(processes)},
            {r: p.pid for r, p in enumerate(processes)},
            {r: os.path.join(error_dir, f"rank{r}.json") for r in range(len(processes))},
            first_seen,
            None,
            _COLLECT_S,
        )
        failures = _failures(seen, timeout_s)
        raise SpawnedRankFailedError(format_report(failures), failures)
    finally:
        _end(processes)


def _exitcode_of(process: Any) -> Callable[[], int | None]:
    return lambda: process.exitcode


def _end(processes: list[Any]) -> None:
    """SIGTERM the processes still running, SIGKILL those left after the grace period."""
    alive = [p for p in processes if p.is_alive()]
    for p in alive:
        p.terminate()
    deadline = time.monotonic() + _TERMINATE_GRACE_S
    for p in alive:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
