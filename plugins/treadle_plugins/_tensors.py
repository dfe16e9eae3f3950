"""Apply a function to every tensor of a nested batch (shared by precision and accelerator plugins).

The same traversal as the core's ``move_data_to_device``: lists, tuples (named too), dicts and
dataclasses are rebuilt around the converted tensors; anything else is returned as is unless
``other`` is given.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch


def apply_to_tensors(
    data: Any, fn: Callable[[torch.Tensor], Any], other: Callable[[Any], Any] | None = None
) -> Any:
    """``fn(tensor)`` for every tensor inside ``data``; ``other(obj)`` for other leaves."""
    if isinstance(data, torch.Tensor):
        return fn(data)
    if isinstance(data, (list, tuple)):
        items = [apply_to_tensors(x, fn, other) for x in data]
        if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
            return type(data)(*items)
        return type(data)(items)
    if isinstance(data, dict):
        return type(data)((k, apply_to_tensors(v, fn, other)) for k, v in data.items())
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        changes = {
            f.name: apply_to_tensors(getattr(data, f.name), fn, other)
            for f in dataclasses.fields(data)
            if f.init
        }
        return dataclasses.replace(data, **changes)
    return other(data) if other is not None else data
