"""Dataloaders as the loops see them: how many batches, and batches with ``is_last``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from treadle.combined_loader import CombinedLoader
from treadle.errors import ConfigurationError


def num_batches(loader: Any, limit: Any, stage: str | None = None) -> float:
    """Batches an epoch of ``loader`` runs under ``limit`` (int, fraction, or None); inf when
    the loader has no length. A ``CombinedLoader``'s limit applies to each of its iterables
    (set as its ``limits``), and its length follows its mode. With ``stage`` (``"train"``,
    ``"val"``, ``"test"``, ``"predict"``), a fraction that leaves no batch of a loader that has
    some is refused, as Lightning refuses it: ``limit_{stage}_batches`` asked for a part of the
    data and would silently run nothing; so is a fraction (other than 1.0) of a loader without a
    length (an ``IterableDataset``'s), whose part cannot be known."""
    if isinstance(loader, CombinedLoader):
        loader.limits = [num_batches(inner, limit, stage) for inner in loader.flattened]
        try:
            return loader._num_batches()  # (its len() waits for iter(), as Lightning's)
        except TypeError:
            return float("inf")
    try:
        n: float = len(loader)
    except (TypeError, NotImplementedError):  # (a wrapper whose __len__ raises: no length)
        n = float("inf")
    else:
        from treadle.utilities import _warn_iterable_with_len

        _warn_iterable_with_len(loader)  # (once a stage's setup, as Lightning's)
    if limit is None:
        return n
    if isinstance(limit, float):
        if n == float("inf"):
            if stage is not None and limit not in (0.0, 1.0):
                raise ConfigurationError(  # as Lightning: a part of data of unknown size
                    f"When using an `IterableDataset`, `Trainer(limit_{stage}_batches)` must be "
                    f"`1.0` or an int. An int specifies `num_{stage}_batches` to use "
                    f"(got {limit} for a `{stage}_dataloader` without a length)."
                )
            return n
        if stage is not None and limit > 0 and n > 0 and int(n * limit) == 0:
            raise ConfigurationError(
                f"You requested to check {limit} of the `{stage}_dataloader` but {limit} * {n} < 1. "
                f"Please increase the `limit_{stage}_batches` argument. Try at least "
                f"`limit_{stage}_batches={1.0 / n}` (one batch of {n}), or an int number of batches."
            )
        return int(n * limit)
    return min(n, int(limit))


def as_list(loaders: Any) -> list[Any]:
    """Evaluation dataloaders as a list: one loader, a list/tuple of them, or a dict's values.
    A ``CombinedLoader`` in ``sequential`` mode is its iterables, one loader each (as a list
    or dict of loaders is); in another mode it is one loader of combined batches."""
    if loaders is None:
        return []
    if isinstance(loaders, CombinedLoader):
        return list(loaders.flattened) if loaders.mode == "sequential" else [loaders]
    if isinstance(loaders, dict):
        return list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return list(loaders)
    return [loaders]


def train_loader(loader: Any) -> Any:
    """The training data as the fit loop reads it: a dict, list or tuple of loaders becomes a
    ``CombinedLoader`` in ``max_size_cycle`` mode (as Lightning); anything else is kept. Only a
    collection whose leaves are all ``DataLoader``s (or ``CombinedLoader``s) is one of loaders:
    a list of batches (``fit(model, [(x, y), ...])``) stays the iterable of batches it is."""
    if isinstance(loader, (dict, list, tuple)) and _all_loaders(loader):
        return CombinedLoader(loader, "max_size_cycle")
    return loader


def _all_loaders(collection: Any) -> bool:
    from torch.utils.data import DataLoader

    if isinstance(collection, dict):
        values = list(collection.values())
    elif isinstance(collection, (list, tuple)):
        values = list(collection)
    else:
        return isinstance(collection, (DataLoader, CombinedLoader))
    return bool(values) and all(_all_loaders(v) for v in values)


def batches(loader: Any) -> Iterator[Any]:
    """An iterator over ``loader``'s batches (a ``CombinedLoader``'s without its indices)."""
    if isinstance(loader, CombinedLoader):
        return loader.batches()
    return iter(loader)


def shut_down_workers(loaders: Sequence[Any], running: Sequence[Any] = ()) -> None:
    """A run's end, as Lightning's teardown (its ``_shutdown_workers_and_reset_iterator``): the
    worker processes of the ``DataLoader`` s it read stop now, not when the loaders are
    collected. ``running``: the iterators the run was reading when it ended (an exception, a
    limit): a generator is closed, a torch iterator's workers stopped. ``loaders``: those of the
    run; a ``persistent_workers=True`` loader's kept iterator is stopped and dropped (the next
    run starts new workers), a ``CombinedLoader`` is reset. Once per run, never per batch."""
    for iterator in running:
        close = getattr(iterator, "close", None)
        if callable(close):  # a generator: its frames let go of the loader's iterator
            close()
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()
    for loader in loaders:
        if isinstance(loader, CombinedLoader):
            loader.reset()
        elif (
            isinstance(loader, torch.utils.data.DataLoader)
            and getattr(loader, "_iterator", None) is not None
        ):
            shutdown = getattr(loader._iterator, "_shutdown_workers", None)
            if callable(shutdown):
                shutdown()
            loader._iterator = None


def set_epoch(loader: Any, epoch: int) -> None:
    """``set_epoch(epoch)`` on the sampler of ``loader`` (of each of a ``CombinedLoader``'s
    loaders) that has one (a ``DistributedSampler``: each epoch its own order); as Lightning,
    the sampler inside a ``batch_sampler`` too, each sampler once."""
    for inner in loader.flattened if isinstance(loader, CombinedLoader) else (loader,):
        samplers = [
            getattr(inner, "sampler", None),
            getattr(getattr(inner, "batch_sampler", None), "sampler", None),
        ]
        for i, sampler in enumerate(samplers):
            method = getattr(sampler, "set_epoch", None)
            if callable(method) and (i == 0 or sampler is not samplers[0]):
                method(epoch)


def lookahead(iterator: Iterator, start: int, limit: float) -> Iterator[tuple[int, Any, bool]]:
    """``(batch_idx, batch, is_last)`` from ``start`` up to ``limit`` batches.

    With a known length ``is_last`` is arithmetic, and the iterator is built of C iterators (no
    Python frame per batch); otherwise one batch is fetched ahead.

    After the last batch the iterator is asked once more, as a plain ``for`` loop asks it (and
    stops): a ``RandomSampler`` draws its next permutation then, and the next epoch's order
    depends on it. With ``limit`` below the loader's length that fetches one batch more, which
    is dropped. A loop that breaks out early asks nothing more.
    """
    if limit != float("inf"):
        last = int(limit) - 1
        flags = itertools.chain(itertools.repeat(False, last - start), (True,))
        return itertools.chain(zip(range(start, last + 1), iterator, flags), _ask_once(iterator))
    return _fetching_ahead(iterator, start)


def _ask_once(iterator: Iterator) -> Iterator[tuple[int, Any, bool]]:
    next(iterator, None)
    return
    yield  # a generator that yields nothing: chain() runs it when the batches are done


def _fetching_ahead(iterator: Iterator, start: int) -> Iterator[tuple[int, Any, bool]]:
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
    for batch_idx, batch in enumerate(batches(loader)):
        yield batch_idx, batch
        if batch_idx + 1 >= limit:
            return


def limits_for(loaders: Sequence[Any], limit: Any) -> list[float]:
    return [num_batches(loader, limit) for loader in loaders]


def sequential(loader: Any, stage: str) -> Any:
    """``loader`` reading its dataset in order (``overfit_batches``): a ``DataLoader`` whose
    sampler is not a ``SequentialSampler`` (shuffling, or a sampler of the user's) is rebuilt
    with one, with a warning, as Lightning's."""
    import warnings

    from torch.utils.data import BatchSampler, DataLoader, IterableDataset, SequentialSampler

    if not isinstance(loader, DataLoader) or type(loader).__init__ is not DataLoader.__init__:
        return loader
    batch_sampler = loader.batch_sampler
    if (
        batch_sampler is None
        or type(batch_sampler) is not BatchSampler
        or isinstance(batch_sampler.sampler, SequentialSampler)
        or isinstance(loader.dataset, IterableDataset)
    ):
        return loader
    prefix = "train" if stage == "fit" else "val"
    warnings.warn(
        f"You requested to overfit but enabled {prefix} dataloader shuffling. "
        f"Shuffling is turned off for you: the same batches every epoch.",
        stacklevel=3,
    )
    return with_sampler(loader, SequentialSampler(loader.dataset))  # type: ignore[arg-type]


def with_sampler(loader: Any, sampler: Any) -> Any:
    """A copy of ``loader`` (a ``DataLoader``, or a subclass whose ``__init__`` is
    ``DataLoader``'s) that reads through ``sampler``; every other argument is kept. For the
    core (``overfit_batches``) and strategies (a distributed sampler)."""
    kwargs = _loader_kwargs(loader)
    kwargs.update(batch_size=loader.batch_size, sampler=sampler, drop_last=loader.drop_last)
    return type(loader)(loader.dataset, **kwargs)


def _loader_kwargs(loader: Any) -> dict[str, Any]:
    """``loader``'s arguments other than its dataset and how it samples and batches."""
    kwargs: dict[str, Any] = dict(
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
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
    return kwargs


# -- mid-epoch resume ------------------------------------------------------------------------


class Resumed:
    """An epoch's loader resumed after ``skip`` batches, and how to reach that point.

    For a map-style ``DataLoader`` with a batch sampler (torch's ``SequentialSampler``,
    ``RandomSampler``, ``DistributedSampler`` or any sampler under a batch sampler), ``loader``
    is a copy whose batch sampler drops the first ``skip`` index lists: those samples are never
    fetched. Loaders and iterable datasets with ``state_dict``/``load_state_dict`` (torchdata's
    ``StatefulDataLoader`` convention) resume from their saved state. Anything else, a
    ``CombinedLoader`` included (its loaders restart and cycle at their own lengths), is read
    from its start and the first ``skip`` batches are fetched and dropped (``drop``): the
    same samples and RNG draws as the interrupted epoch, at the cost of loading them again.
    """

    __slots__ = ("loader", "drop", "skipping")

    def __init__(self, loader: Any, drop: int, skipping: SkipBatches | None) -> None:
        self.loader, self.drop, self.skipping = loader, drop, skipping

    def start(self, iterator: Any) -> None:
        """Make ``iterator`` (of ``self.loader``) draw its shuffle, without fetching anything
        the epoch would not fetch: the skipped index lists are drawn, the dropped batches read."""
        if self.skipping is not None:
            self.skipping.prime()
        for _ in range(self.drop):
            next(iterator)


def generators(loader: Any) -> list[Any]:
    """The ``torch.Generator`` objects ``loader`` draws its order from (the loader's and its
    sampler's own, when given): their state at an epoch's start replays that epoch's shuffle."""
    if isinstance(loader, CombinedLoader):
        return [g for inner in loader.flattened for g in generators(inner)]
    found: list[Any] = []
    for owner in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        for holder in (owner, getattr(owner, "sampler", None)):
            gen = getattr(holder, "generator", None)
            if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
                found.append(gen)
    return found


def resumable_state(loader: Any) -> Any:
    """The position ``loader`` keeps itself (``StatefulDataLoader``, or an iterable dataset's
    ``state_dict``), or None when it keeps none and the loop counts batches instead."""
    own = getattr(loader, "state_dict", None)
    if callable(own):
        return own()
    dataset: Any = getattr(loader, "dataset", None)
    own = getattr(dataset, "state_dict", None)
    return own() if _is_iterable(dataset) and callable(own) else None


def resume_loader(loader: Any, skip: int, saved: Any) -> Resumed:
    """``loader`` positioned after the epoch's first ``skip`` batches (see :class:`Resumed`);
    ``saved``: what :func:`resumable_state` returned when the checkpoint was written."""
    if isinstance(loader, CombinedLoader):  # its loaders restart and cycle: fetch and drop
        return Resumed(loader, skip, None)
    if saved is not None:
        if callable(getattr(loader, "load_state_dict", None)):
            loader.load_state_dict(saved)
        else:
            loader.dataset.load_state_dict(saved)
        return Resumed(loader, 0, None)
    if skip == 0:
        return Resumed(loader, 0, None)
    from torch.utils.data import DataLoader

    batch_sampler = getattr(loader, "batch_sampler", None)
    if (
        not isinstance(loader, DataLoader)
        or type(loader).__init__ is not DataLoader.__init__
        or batch_sampler is None
        or _is_iterable(loader.dataset)
    ):
        return Resumed(loader, skip, None)  # fetch and drop
    skipping = SkipBatches(batch_sampler, skip)
    copy = type(loader)(loader.dataset, batch_sampler=skipping, **_loader_kwargs(loader))
    return Resumed(copy, 0, skipping)


def _is_iterable(dataset: Any) -> bool:
    from torch.utils.data import IterableDataset

    return isinstance(dataset, IterableDataset)


class SkipBatches:
    """A batch sampler: ``batch_sampler``'s index lists after the first ``skip``.

    Iterating starts nothing: the wrapped sampler draws its order (a ``RandomSampler``'s
    permutation) when the first index list is asked for, or at :meth:`prime`, so the global RNG
    is drawn in the order of an uninterrupted epoch (the loader's iterator draws the workers'
    base seed first).
    """

    def __init__(self, batch_sampler: Any, skip: int) -> None:
        self.batch_sampler, self.skip = batch_sampler, skip
        self._current: _Skipping | None = None

    def __iter__(self) -> Iterator[Any]:
        self._current = _Skipping(iter(self.batch_sampler), self.skip)
        return self._current

    def __len__(self) -> int:
        return max(0, len(self.batch_sampler) - self.skip)

    def prime(self) -> None:
        """Draw the order and pass the skipped index lists now (before any batch is read)."""
        if self._current is not None:
            self._current.prime()


class _Skipping:
    __slots__ = ("inner", "skip")

    def __init__(self, inner: Iterator[Any], skip: int) -> None:
        self.inner, self.skip = inner, skip

    def prime(self) -> None:
        for _ in range(self.skip):
            if next(self.inner, None) is None:
                break
        self.skip = 0

    def __iter__(self) -> _Skipping:
        return self

    def __next__(self) -> Any:
        if self.skip:
            self.prime()
        return next(self.inner)
