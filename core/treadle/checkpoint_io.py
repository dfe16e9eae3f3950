"""Checkpoint files: written atomically, read with ``weights_only=True``.

A save writes ``.{name}.XXXXXXXX.tmp`` (a unique name) beside ``{name}``, flushes it to disk,
renames it over ``{name}`` and flushes the directory: ``{name}`` is always a whole checkpoint,
the old one or the new one. A save killed on the way (``kill -9``, a node lost) leaves its
temporary file behind; the next save into the same directory, of any target, removes such
leftovers before it writes. A temporary file being written is never removed: its writer holds
an exclusive ``flock`` on it from creation to rename (the kernel drops the lock when the
process dies, however it dies), and a leftover is removed only when that lock can be taken.
So ranks or processes saving different targets in one directory never remove each other's files,
and two saves of the same target each write their own file: the last rename wins, and the target
is always one whole checkpoint. (Where ``fcntl`` is missing, as on Windows, a file another
process has open cannot be removed, which plays the same part.)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import torch

from treadle import _ckpt_check
from treadle.errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

# ``tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp")``: 8 characters of its alphabet
_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_ZIP_MAGIC = b"PK\x03\x04"  # what torch.save writes first


def save_atomic(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` so that a crash never leaves a half-written file there.

    The data goes to a temporary file in the same directory, is flushed to disk, then renamed
    over ``path`` (``os.replace`` is atomic on POSIX and Windows); the directory is flushed so
    the rename survives a power loss. Leftovers of killed saves in the directory are removed
    first (see the module's docstring). A failed write (a full disk) raises
    :class:`~treadle.CheckpointError`, removes its temporary file and leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path.parent)
    fd, tmp = _locked_temp(path)  # held open (and locked) until renamed
    try:
        chmod_as_umask(tmp)  # mkstemp makes it 0600
        try:
            torch.save(checkpoint, tmp)  # by path: torch's own buffered writer
            os.fsync(fd)
        except (OSError, RuntimeError) as exc:
            raise CheckpointError(path, _write_failed(exc, path)) from exc
        if fcntl is None:  # Windows renames no open file
            os.close(fd)
            fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
            fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    _fsync_directory(path.parent)
    return path


def chmod_as_umask(path: str | Path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the mode ``open()`` would: 0666 less the
    umask, so that colleagues read a run's checkpoints where the umask lets them."""
    mask = os.umask(0o022)  # reading the umask sets it: put it back at once
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def directory_swap(path: str | Path, writer: bool, barrier: Callable[[], Any]) -> Iterator[Path]:
    """Write a checkpoint directory (a sharded strategy's) so that ``path`` is always complete.

    Yields ``.<name>.tmp`` beside ``path``, empty, once every rank reached it: each rank writes
    its part there. When the block ends on every rank, the ``writer`` (rank zero) swaps it in
    (the previous ``path`` becomes ``.<name>.old``, then goes), so a crash leaves the new
    checkpoint or the previous one, never half of one. ``barrier()`` waits for every rank.
    """
    path = Path(path)
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    if writer:
        for stale in (tmp, old):
            remove(stale)
        tmp.mkdir(parents=True)
    barrier()
    yield tmp
    barrier()
    if writer:
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(tmp, path)
        remove(old)


def remove(path: str | Path) -> None:
    """Remove a checkpoint file or directory (not what a symlink points to); nothing if absent."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict in ``path``, read with ``torch.load(weights_only=True)``.

    Any problem (no such file, a directory, an empty, truncated or foreign file, a pickled
    object that would run code) is a :class:`~treadle.CheckpointError` naming ``path``.
    """
    return _ckpt_check.read_checkpoint(path, map_location)


def sweep_temp_files(directory: str | Path) -> list[Path]:
    """Remove the temporary files that killed saves left in ``directory``; returns them.

    Only files named as :func:`save_atomic` names them, holding nothing or the start of a
    torch file, and not locked by a running save."""
    removed: list[Path] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if _TEMP.match(name) and _remove_if_abandoned(Path(directory, name)):
            removed.append(Path(directory, name))
    return removed


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, open and locked; retried if a sweep took it."""
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # a sweep may have removed the file between mkstemp and flock
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)
    raise CheckpointError(path, "could not create a temporary file beside it.")


def _remove_if_abandoned(p: Path) -> bool:
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # gone, a link, or not ours to read
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a directory (a DeepSpeed save's), a pipe, ...
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a save is writing it
                return False
        head = os.read(fd, 4)
        try:  # its save may have renamed it (and dropped the lock) since we opened it
            if os.stat(p).st_ino != st.st_ino:
                return False
        except FileNotFoundError:
            return False
        if head and head != _ZIP_MAGIC:  # not a torch file: not one of ours
            return False
        try:
            os.unlink(p)  # on Windows, fails while another process has it open
        except OSError:
            return False
        return True
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    if fcntl is None:  # Windows cannot open a directory; its renames are durable
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems do not fsync directories
        pass
    finally:
        os.close(fd)


def _write_failed(exc: BaseException, path: Path) -> str:
    try:
        free = f"; {shutil.disk_usage(path.parent).free} bytes free there"
    except OSError:
        free = ""
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    return (
        f"the save failed ({reason}{free}). Is the disk full? The file at this path, if "
        f"any, is unchanged, and the partial temporary file was removed."
    )


def load_weights_only(path: Any, map_location: Any = None, **torch_load_kwargs: Any) -> Any:
    """Any torch file (a strategy's shard), read with ``torch.load(weights_only=True)``; every
    problem a :class:`~treadle.CheckpointError` naming ``path``."""
    return _ckpt_check.read(path, map_location, **torch_load_kwargs)
