"""Checkpoint files: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomic(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` so that a crash never leaves a half-written file there.

    The data goes to a temporary file in the same directory, is flushed to disk, then renamed
    over ``path`` (``os.replace`` is atomic on POSIX and Windows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        chmod_as_umask(tmp)
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def chmod_as_umask(path: str | Path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the mode ``open()`` would: 0666 less the
    umask, so that colleagues read a run's checkpoints where the umask lets them."""
    mask = os.umask(0o022)  # reading the umask sets it: put it back at once
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=True)
