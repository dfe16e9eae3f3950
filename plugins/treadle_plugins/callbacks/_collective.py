"""Rank agreement for the callbacks that stop a run, through the Trainer's public collectives.

``trainer.reduce`` / ``trainer.broadcast`` reach the selected strategy (DDP, DeepSpeed) or, in
a single process, the core's identity defaults. A stop decision must be the
same on every rank: a rank that leaves the loop alone would hang the others at their next
collective.
"""

from __future__ import annotations

from typing import Any

import torch


def any_rank(trainer: Any, flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one (Lightning's
    ``reduce_boolean_decision(all=False)``)."""
    if trainer.world_size <= 1:
        return bool(flag)
    total = trainer.reduce(torch.tensor(float(flag)), reduce_op="max")
    return bool(total > 0)


def from_rank_zero(trainer: Any, obj: Any) -> Any:
    """Rank zero's ``obj`` on every rank."""
    if trainer.world_size <= 1:
        return obj
    return trainer.broadcast(obj, src=0)
