"""``CombinedLoader``: several iterables read as one, as Lightning's
``lightning.pytorch.utilities.combined_loader.CombinedLoader`` (also importable as
``treadle.utilities.CombinedLoader`` and ``treadle.utilities.combined_loader.CombinedLoader``).

The iterables come as one iterable or any nesting of dicts, lists and tuples of them; each
batch comes back in that same shape. Four modes decide how long an epoch is and what a batch
holds once an iterable runs out:

- ``min_size``: stop with the shortest iterable (Lightning's default for the class);
- ``max_size_cycle``: stop with the longest, restarting the shorter ones (what the Trainer uses
  for a dict or list of training loaders);
- ``max_size``: stop with the longest, ``None`` in place of the exhausted ones;
- ``sequential``: one iterable after the other, each batch alone (what the Trainer uses for a
  list or dict of evaluation loaders: ``dataloader_idx`` is the iterable's position).

Iterating yields ``(batch, batch_idx, dataloader_idx)`` triples as Lightning 2 does;
``dataloader_idx`` is 0 but in ``sequential`` mode.

A container whose items are all ``int``/``float``/``str`` (``[0, 1, 2]``) is one iterable, not a
collection of them, as Lightning's tree flattening treats it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable, Literal

from torch.utils.data.dataloader import _BaseDataLoaderIter

__all__ = ["CombinedLoader"]

_Mode = Literal["min_size", "max_size_cycle", "max_size", "sequential"]
# how each mode's length follows from its iterables' lengths
_LENGTH: dict[str, Callable[[list[float]], float]] = {
    "min_size": min,
    "max_size_cycle": max,
    "max_size": max,
    "sequential": sum,
}
MODES = tuple(_LENGTH)


# -- the shape of the collection ---------------------------------------------------------------


def _is_leaf(tree: Any) -> bool:
    if not isinstance(tree, (dict, list, tuple)):
        return True
    children = tree.values() if isinstance(tree, dict) else tree
    return all(isinstance(c, (int, float, str)) for c in children)


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """The leaves of ``tree`` (nested dicts, lists, tuples) in order, and its shape (a spec for
    :func:`unflatten`)."""
    if _is_leaf(tree):
        return [tree], None
    leaves: list[Any] = []
    specs: list[Any] = []
    if isinstance(tree, dict):
        keys, children = list(tree), list(tree.values())
    else:
        keys, children = None, list(tree)
    for child in children:
        flat, spec = flatten(child)
        leaves.extend(flat)
        specs.append((len(flat), spec))
    return leaves, (type(tree), keys, specs)


def unflatten(leaves: list[Any], spec: Any) -> Any:
    """``leaves`` in the shape ``spec`` (from :func:`flatten`) describes."""
    if spec is None:
        return leaves[0]
    kind, keys, specs = spec
    children, at = [], 0
    for count, child_spec in specs:
        children.append(unflatten(leaves[at : at + count], child_spec))
        at += count
    if keys is not None:
        return kind(zip(keys, children))
    if kind is tuple or kind is list:
        return kind(children)
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*children)
    return kind(children)


def _length(iterable: Any) -> float:
    """``len(iterable)``, or inf when it has none (an iterable dataset's loader)."""
    try:
        # a nested CombinedLoader is sized before its pass starts (its len() waits for iter())
        n = iterable._num_batches() if isinstance(iterable, CombinedLoader) else len(iterable)
    except (TypeError, NotImplementedError):
        return float("inf")
    return float("inf") if n is None else n


# -- one iterator per mode -----------------------------------------------------------------------


class _ModeIterator(Iterator[tuple[Any, int, int]]):
    """Iterates ``iterables`` together; ``__next__`` gives ``(items, batch_idx, dataloader_idx)``."""

    def __init__(self, iterables: list[Any], limits: list[float] | None = None) -> None:
        _check_limits(limits, len(iterables))
        self.iterables, self.limits = iterables, limits
        self.iterators: list[Iterator[Any]] = []
        self._idx = 0

    def __iter__(self) -> _ModeIterator:
        self.iterators = [iter(it) for it in self.iterables]
        self._idx = 0
        return self

    def __next__(self) -> tuple[Any, int, int]:
        raise NotImplementedError

    def _counted(self, items: Any, dataloader_idx: int = 0) -> tuple[Any, int, int]:
        index = self._idx
        self._idx += 1
        return items, index, dataloader_idx

    def lengths(self) -> list[float]:
        found = [_length(it) for it in self.iterables]
        if self.limits is None:
            return found
        return [min(n, limit) for n, limit in zip(found, self.limits)]

    def reset(self) -> None:
        self.iterators, self._idx = [], 0

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle: a ``DataLoader``'s running iterator cannot be pickled (torch
        refuses it), so it goes as None, as in Lightning; the loader itself is kept."""
        state = self.__dict__.copy()
        state["iterators"] = [
            None if isinstance(it, _BaseDataLoaderIter) else it for it in self.iterators
        ]
        return state


class _MinSize(_ModeIterator):
    def __next__(self) -> tuple[Any, int, int]:
        return self._counted([next(it) for it in self.iterators])


class _MaxSizeCycle(_ModeIterator):
    """Until every iterable has run out once; one that runs out earlier starts again."""

    def __init__(self, iterables: list[Any], limits: list[float] | None = None) -> None:
        super().__init__(iterables, limits)
        self._consumed: list[bool] = []

    def __iter__(self) -> _MaxSizeCycle:
        super().__iter__()
        self._consumed = [False] * len(self.iterables)
        return self

    def __next__(self) -> tuple[Any, int, int]:
        items = []
        for i, iterator in enumerate(self.iterators):
            try:
                items.append(next(iterator))
            except StopIteration:
                self._consumed[i] = True
                if all(self._consumed):
                    raise
                self.iterators[i] = iter(self.iterables[i])  # again from its start
                items.append(next(self.iterators[i]))
        return self._counted(items)

    def reset(self) -> None:
        super().reset()
        self._consumed = []


class _MaxSize(_ModeIterator):
    """Until the longest iterable runs out; the exhausted ones give ``None``."""

    def __next__(self) -> tuple[Any, int, int]:
        sentinel = object()
        items = [next(it, sentinel) for it in self.iterators]
        if all(item is sentinel for item in items):
            raise StopIteration
        return self._counted([None if item is sentinel else item for item in items])


class _Sequential(_ModeIterator):
    """Each iterable in turn (at most its limit of batches); one iterator open at a time, so
    the workers of only one ``DataLoader`` run at once."""

    def __init__(self, iterables: list[Any], limits: list[float] | None = None) -> None:
        super().__init__(iterables, limits)
        self._iterator_idx = 0

    def __iter__(self) -> _Sequential:
        self._iterator_idx, self._idx = 0, 0
        self._open()
        return self

    def __next__(self) -> tuple[Any, int, int]:
        n = len(self.iterables)
        while self._iterator_idx < n:
            if self.limits is None or self._idx < self.limits[self._iterator_idx]:
                try:
                    return self._counted(next(self.iterators[0]), self._iterator_idx)
                except StopIteration:
                    pass
            self._iterator_idx, self._idx = self._iterator_idx + 1, 0
            self._open()
        raise StopIteration

    def _open(self) -> None:
        i = self._iterator_idx
        self.iterators = [iter(self.iterables[i])] if i < len(self.iterables) else []

    def reset(self) -> None:
        super().reset()
        self._iterator_idx = 0


_ITERATORS: dict[str, type[_ModeIterator]] = {
    "min_size": _MinSize,
    "max_size_cycle": _MaxSizeCycle,
    "max_size": _MaxSize,
    "sequential": _Sequential,
}


def _check_limits(limits: list[float] | None, n: int) -> None:
    if limits is not None and len(limits) != n:
        raise ValueError(
            f"CombinedLoader: got {len(limits)} limits for {n} iterables (mismatch in number of "
            f"limits ({len(limits)}) and number of iterables ({n})). Give one limit per iterable, "
            f"or one number for all."
        )


# -- the loader ------------------------------------------------------------------------------


class CombinedLoader(Iterable):
    """Several iterables read together under ``mode`` (see the module's docstring).

    ``iterables``: one iterable, or dicts/lists/tuples of them (nested as deep as needed).
    ``mode``: ``"min_size"`` (the default, as Lightning's), ``"max_size_cycle"``,
    ``"max_size"`` or ``"sequential"``.

    >>> from torch.utils.data import DataLoader
    >>> loaders = {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}
    >>> combined = CombinedLoader(loaders, "max_size_cycle")
    >>> [(sorted(batch), batch_idx) for batch, batch_idx, _ in combined]
    [(['a', 'b'], 0), (['a', 'b'], 1), (['a', 'b'], 2)]
    >>> len(combined)  # as Lightning's, once `iter()` has started a pass
    3
    """

    def __init__(self, iterables: Any, mode: _Mode = "min_size") -> None:
        if mode not in _ITERATORS:
            raise ValueError(
                f"CombinedLoader: Unsupported mode {mode!r}. Choose one of {list(MODES)}."
            )
        self._iterables = iterables
        self._flattened, self._spec = flatten(iterables)
        self._mode = mode
        self._iterator: _ModeIterator | None = None
        self._limits: list[float] | None = None

    @property
    def mode(self) -> str:
        """The combination mode given at construction."""
        return self._mode

    @property
    def iterables(self) -> Any:
        """The collection of iterables, in the shape it was given."""
        return self._iterables

    @property
    def flattened(self) -> list[Any]:
        """The iterables as one flat list (dict values in order, nested containers opened)."""
        return self._flattened

    @flattened.setter
    def flattened(self, flattened: list[Any]) -> None:
        """Replace each iterable (same count, same order): ``iterables`` follows."""
        if len(flattened) != len(self._flattened):
            raise ValueError(
                f"CombinedLoader: Mismatch in flattened length ({len(flattened)}) and existing "
                f"length ({len(self._flattened)}). Give one replacement per iterable."
            )
        self._iterables = unflatten(list(flattened), self._spec)
        self._flattened = list(flattened)

    @property
    def sampler(self) -> Any:
        """Each iterable's ``sampler`` (None where it has none), in the iterables' shape."""
        return unflatten([getattr(x, "sampler", None) for x in self._flattened], self._spec)

    @property
    def batch_sampler(self) -> Any:
        """Each iterable's ``batch_sampler`` (None where it has none), in the iterables' shape."""
        return unflatten([getattr(x, "batch_sampler", None) for x in self._flattened], self._spec)

    @property
    def limits(self) -> list[float] | None:
        """At most this many batches of each iterable (None: all); the Trainer sets them from
        ``limit_*_batches``."""
        return self._limits

    @limits.setter
    def limits(self, limits: float | list[float] | None) -> None:
        if isinstance(limits, (int, float)):
            limits = [limits] * len(self._flattened)
        _check_limits(limits, len(self._flattened))
        self._limits = None if limits is None else list(limits)

    def __iter__(self) -> CombinedLoader:
        iterator = _ITERATORS[self._mode](self._flattened, self._limits)
        iter(iterator)
        self._iterator = iterator
        return self

    def __next__(self) -> tuple[Any, int, int]:
        if self._iterator is None:
            raise TypeError(
                "CombinedLoader: call `iter(combined_loader)` (or loop over it) before `next()`."
            )
        items, batch_idx, dataloader_idx = next(self._iterator)
        if self._mode == "sequential":
            return items, batch_idx, dataloader_idx
        return unflatten(items, self._spec), batch_idx, dataloader_idx

    def __len__(self) -> int:
        """Batches in the pass ``iter()`` started, under the mode (and the ``limits`` of then).
        As Lightning's, a ``RuntimeError`` before ``iter()`` (and after ``reset()``); a
        ``TypeError`` when an iterable the mode waits for has no length (an iterable dataset)."""
        if self._iterator is None:
            raise RuntimeError(
                "CombinedLoader: Please call `iter(combined_loader)` first. The length is that "
                "of the pass `iter()` starts (its mode and `limits`)."
            )
        return self._num_batches(self._iterator)

    def _num_batches(self, iterator: _ModeIterator | None = None) -> int:
        """``len()`` without a pass started: of ``iterator``, or of one the current iterables
        and ``limits`` would make (what the Trainer sizes its epochs with, before iterating)."""
        if iterator is None:
            iterator = _ITERATORS[self._mode](self._flattened, self._limits)
        lengths = iterator.lengths()
        n = _LENGTH[self._mode](lengths) if lengths else 0
        if n == float("inf"):
            unsized = [type(x).__name__ for x in iterator.iterables if _length(x) == float("inf")]
            raise TypeError(
                f"CombinedLoader: `{unsized[0]}` does not define `__len__`, so the "
                f"{self._mode!r} mode has no length."
            )
        return int(n)

    def reset(self) -> None:
        """Drop the running iterator (and a ``DataLoader``'s workers)."""
        if self._iterator is not None:
            self._iterator.reset()
            self._iterator = None
        for iterable in self._flattened:
            if hasattr(iterable, "_iterator"):
                shutdown = getattr(iterable._iterator, "_shutdown_workers", None)
                if callable(shutdown):
                    shutdown()
                iterable._iterator = None

    def _dataset_length(self) -> int:
        """The datasets' lengths combined under the mode (those with a length)."""
        lengths = [_length(getattr(x, "dataset", None)) for x in self._flattened]
        sized = [n for n in lengths if n != float("inf")]
        if not sized:
            raise NotImplementedError(
                "CombinedLoader: All datasets are iterable-style datasets: no dataset length."
            )
        return int(_LENGTH[self._mode](sized))

    def batches(self) -> Iterator[Any]:
        """The batches alone (no indices): what the training loop reads."""
        for batch, _, _ in self:
            yield batch

    def __repr__(self) -> str:
        return f"CombinedLoader({self._iterables!r}, mode={self._mode!r})"
