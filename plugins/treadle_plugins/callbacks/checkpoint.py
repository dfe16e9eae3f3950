"""``Checkpoint``: the base class of checkpointing callbacks (as Lightning 2's)."""

from __future__ import annotations

from treadle.callback import Callback


class Checkpoint(Callback):
    """Base class for model checkpointing: subclass it for a custom checkpointing callback,
    so that code looking for the run's checkpointing callbacks (``isinstance(cb,
    Checkpoint)``) finds it. ``ModelCheckpoint`` is one."""
