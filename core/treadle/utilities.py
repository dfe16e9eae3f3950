"""Small helpers shared by the core and plugins."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import random
from typing import Any, Optional

import torch


def seed_everything(seed: int = 0, workers: bool = False) -> int:
    """Seed python's ``random``, torch (all devices) and numpy when it is installed.

    ``workers=True`` also seeds ``random`` and numpy in every ``DataLoader`` worker (torch is
    seeded there by torch itself): the Trainer gives loaders without a ``worker_init_fn`` one.
    """
    seed = int(seed)
    os.environ["PL_GLOBAL_SEED"] = os.environ["TREADLE_GLOBAL_SEED"] = str(seed)
    os.environ["TREADLE_SEED_WORKERS"] = "1" if workers else "0"
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed % 2**32)
    return seed


def move_data_to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors inside nested lists, tuples, dicts and dataclasses to ``device``.

    Objects with a ``.to()`` method are moved with it; anything else is returned as is.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device)  # returns the tensor itself when it is already there
    if isinstance(batch, (list, tuple)):
        # Called on every batch: one frame for the usual (x, y) of tensors.
        moved, same = [], True
        for x in batch:
            m = x.to(device) if isinstance(x, torch.Tensor) else move_data_to_device(x, device)
            same = same and m is x
            moved.append(m)
        if same:
            return batch  # nothing moved (the CPU case): no new container
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
            return type(batch)(*moved)
        return type(batch)(moved)
    if isinstance(batch, dict):
        return type(batch)((k, move_data_to_device(v, device)) for k, v in batch.items())
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {f.name: move_data_to_device(getattr(batch, f.name), device)
                   for f in dataclasses.fields(batch) if f.init}
        return dataclasses.replace(batch, **changes)
    to = getattr(batch, "to", None)
    if callable(to):
        return to(device)
    return batch


def requires_closure(optimizer: Any) -> bool:
    """True when ``optimizer.step`` cannot be called without a closure (``LBFGS`` and alike).

    ``optimizer`` may be an optimizer, a wrapped one, or an optimizer class.
    """
    optimizer = getattr(optimizer, "optimizer", optimizer)
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    try:
        params = inspect.signature(cls.step).parameters
    except (TypeError, ValueError):
        return False
    closure = params.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def batch_size_of(batch: Any) -> int:
    """The leading dimension of the first tensor found in ``batch`` (1 when none)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else 1
    if isinstance(batch, (list, tuple)):
        for x in batch:
            n = batch_size_of(x)
            if n:
                return n
    if isinstance(batch, dict):
        for x in batch.values():
            n = batch_size_of(x)
            if n:
                return n
    return 1


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` set by ``seed_everything(workers=True)``: seed random and numpy."""
    seed = torch.initial_seed() % 2**32  # torch's per-worker seed: base_seed + worker_id
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:
        return
    np.random.seed(seed)


def call_step(method: Any, batch: Any, batch_idx: int, dataloader_idx: Optional[int] = None) -> Any:
    """Call a ``*_step`` method with the arguments :func:`step_args` gives it."""
    return method(*step_args(method, batch, batch_idx, dataloader_idx))


def step_args(method: Any, batch: Any, batch_idx: int,
              dataloader_idx: Optional[int] = None) -> tuple:
    """The positional arguments of a ``*_step`` method, as Lightning passes them: ``batch_idx``
    only when the method takes a second argument, ``dataloader_idx`` (given with several
    dataloaders) only when it takes a third (or ``*args``). Strategies that run the step
    through a wrapper (DDP's forward, DeepSpeed's engine) use it too."""
    function = getattr(method, "__func__", None)
    takes = _step_arity(method, False) if function is None else _step_arity(function, True)
    if dataloader_idx is not None and takes >= 3:
        return (batch, batch_idx, dataloader_idx)
    return (batch, batch_idx) if takes >= 2 else (batch,)


@functools.lru_cache(maxsize=None)
def _step_arity(function: Any, bound: bool) -> int:
    """Positional arguments ``function`` takes (after ``self`` when ``bound``; ``*args``: 3)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return 3
    if bound:
        params = params[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
