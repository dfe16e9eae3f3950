"""Lightning's ``CheckpointIO`` plugins: how checkpoint files are written, read and removed.

``Trainer(plugins=[MyCheckpointIO()])`` uses the instance for every checkpoint file of the run
(``ModelCheckpoint``'s, ``trainer.save_checkpoint``'s, ``ckpt_path``'s): it takes part through
treadle's ``save_checkpoint``, ``load_checkpoint``, ``remove_checkpoint`` and ``teardown`` hooks
(:class:`CheckpointIOPlugin`) and reads as ``trainer.strategy.checkpoint_io``, as in Lightning.
:class:`TorchCheckpointIO` writes as treadle's own checkpoints are written (atomically).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import torch

from treadle import _lightning_paths, checkpoint_io
from treadle.hookspecs import hookimpl


class CheckpointIO(ABC):
    """Lightning's interface of a checkpoint writer and reader (as ``lightning.fabric``'s)."""

    @abstractmethod
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` (a dict) to ``path``."""

    @abstractmethod
    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """The checkpoint dict at ``path``."""

    @abstractmethod
    def remove_checkpoint(self, path: Any) -> None:
        """Remove the checkpoint at ``path``."""

    def teardown(self) -> None:  # noqa: B027 (optional to override, as Lightning's)
        """Called at the end of each ``fit``/``validate``/``test``/``predict``."""


class TorchCheckpointIO(CheckpointIO):
    """``torch.save``/``torch.load``; a save is atomic (treadle's ``checkpoint_io.save_atomic``:
    a crash leaves the old file or the new one, never half of one)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(  # Lightning's wording
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
                f" is not supported for `{type(self).__name__}`. Please implement your custom "
                "`CheckpointIO` to define how you'd like to use `storage_options`."
            )
        checkpoint_io.save_atomic(checkpoint, path)

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        if weights_only is False:  # asked for: a trusted file with pickled objects
            return torch.load(path, map_location=map_location, weights_only=False)
        return checkpoint_io.load(path, map_location)  # weights_only=True, checked

    def remove_checkpoint(self, path: Any) -> None:
        checkpoint_io.remove(path)


class _WrappingCheckpointIO(CheckpointIO):
    """A ``CheckpointIO`` that hands every call to another (``checkpoint_io``; a
    :class:`TorchCheckpointIO` when None is given, as Lightning's strategy sets)."""

    def __init__(self, checkpoint_io: CheckpointIO | None = None) -> None:
        super().__init__()
        self._checkpoint_io = checkpoint_io

    @property
    def checkpoint_io(self) -> CheckpointIO | None:
        return self._checkpoint_io

    @checkpoint_io.setter
    def checkpoint_io(self, checkpoint_io: CheckpointIO) -> None:
        if self._checkpoint_io is None:
            self._checkpoint_io = checkpoint_io
        elif isinstance(self._checkpoint_io, _WrappingCheckpointIO):
            self._checkpoint_io.checkpoint_io = checkpoint_io

    def _base(self) -> CheckpointIO:
        if self._checkpoint_io is None:
            self._checkpoint_io = TorchCheckpointIO()
        return self._checkpoint_io

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        self._base().save_checkpoint(*args, **kwargs)

    def load_checkpoint(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._base().load_checkpoint(*args, **kwargs)

    def remove_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        self._base().remove_checkpoint(*args, **kwargs)

    def teardown(self) -> None:
        self._base().teardown()


def _path_of(args: tuple, kwargs: dict) -> str:
    path = kwargs["path"] if "path" in kwargs else args[0]
    return os.path.abspath(os.fspath(path))


class AsyncCheckpointIO(_WrappingCheckpointIO):
    """Saves in a background thread (one worker, so saves happen in order) through
    ``checkpoint_io`` (default :class:`TorchCheckpointIO`).

    The checkpoint's tensors are copied on the caller's thread, so training may go on changing
    the parameters. ``teardown`` (the end of each ``fit``/``validate``/``test``/``predict``)
    waits for every save; a load or removal of a path waits for that path's pending saves. An
    error in the thread is raised, as in Lightning, by the next ``save_checkpoint`` call and by
    ``teardown`` (and by every later one: the instance stays failed).
    """

    def __init__(self, checkpoint_io: CheckpointIO | None = None) -> None:
        super().__init__(checkpoint_io)
        self._executor: ThreadPoolExecutor | None = None
        self._error: BaseException | None = None
        self._pending: dict[str, list[Future]] = {}
        self._lock = threading.Lock()

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        if self._executor is None:  # made here: teardown shuts it down after each stage
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="treadle-ckpt")
        if "checkpoint" in kwargs:
            kwargs = {**kwargs, "checkpoint": _snapshot(kwargs["checkpoint"])}
        else:
            args = (_snapshot(args[0]), *args[1:])
        path = _path_of(args[1:], kwargs)
        base = self._base()

        def save() -> None:
            try:
                base.save_checkpoint(*args, **kwargs)
            except BaseException as exc:  # raised on the caller's thread, later
                self._error = exc

        future = self._executor.submit(save)
        with self._lock:
            self._pending.setdefault(path, []).append(future)
        future.add_done_callback(lambda done: self._forget(path, done))
        if self._error is not None:  # a save before this one failed
            raise self._error

    def _forget(self, path: str, future: Future) -> None:
        with self._lock:
            futures = self._pending.get(path, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._pending.pop(path, None)

    def _wait_for(self, path: Any) -> None:
        with self._lock:
            futures = list(self._pending.get(os.path.abspath(os.fspath(path)), ()))
        for future in futures:
            future.result()

    def load_checkpoint(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._wait_for(_path_of(args, kwargs))
        return super().load_checkpoint(*args, **kwargs)

    def remove_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        self._wait_for(_path_of(args, kwargs))
        super().remove_checkpoint(*args, **kwargs)

    def teardown(self) -> None:
        """Wait for every save; raise the error of a save that failed."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        super().teardown()
        if self._error is not None:  # kept, as Lightning's: every later call raises it too
            raise self._error


def _snapshot(checkpoint: Any) -> Any:
    """``checkpoint`` with each tensor detached and cloned (a point-in-time copy)."""
    if isinstance(checkpoint, torch.Tensor):
        return checkpoint.detach().clone()
    if isinstance(checkpoint, dict):
        return type(checkpoint)((k, _snapshot(v)) for k, v in checkpoint.items())
    if isinstance(checkpoint, (list, tuple)) and not hasattr(checkpoint, "_fields"):
        return type(checkpoint)(_snapshot(v) for v in checkpoint)
    return checkpoint


class CheckpointIOPlugin:
    """A ``CheckpointIO`` in ``Trainer(plugins=[...])``, as a treadle plugin: the run's checkpoint
    files are written, read and removed through it (on global rank zero, as Lightning's
    strategy does), and its ``teardown`` runs at the end of each stage."""

    def __init__(self, io: CheckpointIO) -> None:
        self.io = io
        self.__name__ = f"checkpoint_io:{type(io).__name__}"

    @hookimpl
    def save_checkpoint(self, trainer: Any, checkpoint: dict[str, Any], filepath: Any) -> Any:
        if trainer.is_global_zero:
            self.io.save_checkpoint(checkpoint, filepath)
        return True

    @hookimpl
    def load_checkpoint(self, filepath: Any) -> Any:
        return self.io.load_checkpoint(filepath, weights_only=None)

    @hookimpl
    def remove_checkpoint(self, trainer: Any, filepath: Any) -> Any:
        if trainer.is_global_zero:
            self.io.remove_checkpoint(filepath)
        return True

    @hookimpl
    def teardown(self) -> None:
        self.io.teardown()


def as_plugin(io: CheckpointIO) -> CheckpointIOPlugin:
    if isinstance(io, _WrappingCheckpointIO):  # the innermost base, where none was given
        io.checkpoint_io = TorchCheckpointIO()  # as Lightning's strategy fills it in
    return CheckpointIOPlugin(io)


__all__ = ["AsyncCheckpointIO", "CheckpointIO", "TorchCheckpointIO"]

_lightning_paths.register(__name__)
