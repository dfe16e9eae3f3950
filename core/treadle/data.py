"""Dataloaders as the loops see them: how many batches, and batches with ``is_last``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def num_batches(loader: Any, limit: Any) -> float:
    """Batches an epoch of ``loader`` runs under ``limit`` (int, fraction, or None); inf when
    the loader has no length."""
    try:
        n: float = len(loader)
    except TypeError:
        n = float("inf")
    if limit is None:
        return n
    if isinstance(limit, float):
        return n if n == float("inf") else int(n * limit)
    return min(n, int(limit))


def as_list(loaders: Any) -> list[Any]:
    """Evaluation dataloaders as a list: one loader, a list/tuple of them, or a dict's values."""
    if loaders is None:
        return []
    if isinstance(loaders, dict):
        return list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return list(loaders)
    return [loaders]


def lookahead(iterator: Iterator, start: int, limit: float) -> Iterator[tuple[int, Any, bool]]:
    """``(batch_idx, batch, is_last)`` from ``start`` up to ``limit`` batches.

    With a known length ``is_last`` is arithmetic; otherwise one batch is fetched ahead.
    """
    if limit != float("inf"):
        idx, last = start, limit - 1
        for batch in iterator:
            if idx > last:
                return
            yield idx, batch, idx == last
            idx += 1
        return
    sentinel = object()
    batch = next(iterator, sentinel)
    idx = start
    while batch is not sentinel:
        following = next(iterator, sentinel)
        yield idx, batch, following is sentinel
        batch, idx = following, idx + 1


def limited(loader: Any, limit: float) -> Iterator[tuple[int, Any]]:
    """``(batch_idx, batch)`` for the first ``limit`` batches of ``loader``."""
    if limit <= 0:
        return
    for batch_idx, batch in enumerate(loader):
        yield batch_idx, batch
        if batch_idx + 1 >= limit:
            return


def limits_for(loaders: Sequence[Any], limit: Any) -> list[float]:
    return [num_batches(loader, limit) for loader in loaders]


def sequential(loader: Any, stage: str) -> Any:
    """``loader`` reading its dataset in order (``overfit_batches``): a ``DataLoader`` that
    shuffles is rebuilt with a ``SequentialSampler`` (with a warning, as Lightning)."""
    import warnings

    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    if not isinstance(loader, DataLoader) or type(loader).__init__ is not DataLoader.__init__:
        return loader
    batch_sampler = loader.batch_sampler
    if (
        batch_sampler is None
        or type(batch_sampler) is not BatchSampler
        or not isinstance(batch_sampler.sampler, RandomSampler)
    ):
        return loader
    if stage == "fit":
        warnings.warn(
            "You requested to overfit but enabled training dataloader shuffling. "
            "Shuffling is turned off for you: the same batches every epoch.",
            stacklevel=3,
        )
    return with_sampler(loader, SequentialSampler(loader.dataset))  # type: ignore[arg-type]


def with_sampler(loader: Any, sampler: Any) -> Any:
    """A copy of ``loader`` (a ``DataLoader``, or a subclass whose ``__init__`` is
    ``DataLoader``'s) that reads through ``sampler``; every other argument is kept. For the
    core (``overfit_batches``) and strategies (a distributed sampler)."""
    kwargs: dict[str, Any] = dict(
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
    )
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    if hasattr(loader, "in_order"):
        kwargs["in_order"] = loader.in_order
    return type(loader)(loader.dataset, **kwargs)
