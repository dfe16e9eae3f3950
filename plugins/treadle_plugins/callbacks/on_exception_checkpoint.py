"""``OnExceptionCheckpoint``: save a checkpoint when the run raises (as Lightning 2's)."""

from __future__ import annotations

import os
from typing import Any

from treadle.callback import Callback


class OnExceptionCheckpoint(Callback):
    """Write ``<dirpath>/<filename>.ckpt`` with ``trainer.save_checkpoint`` in ``on_exception``
    (a crash, Ctrl-C, or :class:`treadle.errors.Preempted` after a signal); overwritten by the
    next exception. After a ``fit()`` that ends without an exception the file is removed, as
    Lightning does, so a later run does not resume from a stale one.

    :param dirpath: the directory; required, because an exception may come before any hook
        that could work it out.
    :param filename: the file name without the extension.
    """

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: Any, filename: str = "on_exception") -> None:
        if not filename:
            raise ValueError(
                f"OnExceptionCheckpoint: `filename={filename!r}` is empty. Pass a file name "
                f'without the extension, e.g. `filename="on_exception"`.'
            )
        self.dirpath = dirpath
        self.filename = filename
        self._raised = False  # on_exception ran in the current run

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._raised = False

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._raised = True
        trainer.save_checkpoint(self.ckpt_path)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # As Lightning, teardown runs only after a run that did not raise (``_raised`` guards
        # a call made anyway), and removes the file there. Only after fit(): a test() or
        # validate() does not remove the checkpoint of a crashed fit().
        if self._raised or stage != "fit" or not trainer.is_global_zero:
            return
        if os.path.exists(self.ckpt_path):  # a file, or a strategy's directory (DeepSpeed)
            trainer.plugin_manager.hook.remove_checkpoint(trainer=trainer, filepath=self.ckpt_path)
