"""The names Lightning programs import from ``lightning.fabric``'s utility paths.

Lightning's own tests and many user programs written for ``lightning.pytorch`` import helpers
from Fabric's paths: ``lightning.fabric.utilities.warnings.PossibleUserWarning``,
``lightning.fabric.utilities.seed.seed_everything``,
``lightning.fabric.utilities.exceptions.MisconfigurationException``,
``lightning.fabric.plugins.environments.SLURMEnvironment``, ... Mapped name for name they read
``treadle.fabric.utilities.warnings`` and so on: those paths are aliases of this module (and of
``treadle.accelerators``, ``treadle.loggers``, ``treadle.plugins`` for Fabric's accelerators,
loggers and plugins; see ``treadle._lightning_paths.LAZY``), loaded only when a program imports
one. treadle has no ``Fabric`` class: ``from treadle.fabric import Fabric`` says so and names
the treadle way (a ``Trainer`` with manual optimization).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import os
import platform
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from treadle._hparams import AttributeDict
from treadle._lightning_utilities import (
    _available,
    _release,
    has_iterable_dataset,
    isolate_rng,
    sized_len,
)
from treadle.errors import TrainingSpikeException
from treadle.utilities import (
    LightningEnum,
    MisconfigurationException,
    PossibleUserWarning,
    WarningCache,
    as_tensor,
    disable_possible_user_warnings,
    measure_flops,
    move_data_to_device,
    rank_zero_debug,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_only,
    rank_zero_warn,
    seed_everything,
    suggested_max_num_workers,
)

__all__ = [
    # lightning.fabric
    "seed_everything",
    # lightning.fabric.utilities (and its submodules)
    "AttributeDict",
    "DistributedSamplerWrapper",
    "LightningDeprecationWarning",
    "LightningEnum",
    "MisconfigurationException",
    "PossibleUserWarning",
    "TrainingSpikeException",
    "WarningCache",
    "apply_to_collection",
    "convert_tensors_to_scalars",
    "convert_to_tensors",
    "disable_possible_user_warnings",
    "get_all_subclasses",
    "get_filesystem",
    "has_iterable_dataset",
    "has_len",
    "is_shared_filesystem",
    "isolate_rng",
    "measure_flops",
    "move_data_to_device",
    "pl_worker_init_function",
    "rank_prefixed_message",
    "rank_zero_debug",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "reset_seed",
    "sized_len",
    "suggested_max_num_workers",
    # lightning.fabric.utilities.seed
    "max_seed_value",
    "min_seed_value",
]

_PATH = Union[str, Path]
_DEVICE = Union[torch.device, str, int]


def __getattr__(name: str) -> Any:
    if name == "Fabric":
        raise ImportError(
            "treadle has no `Fabric` (`lightning.fabric.Fabric`): treadle runs Lightning's "
            "Trainer API. Write the loop as a `treadle.Module` with "
            "`self.automatic_optimization = False` (manual optimization: `self.optimizers()`, "
            "`self.manual_backward(loss)`, `opt.step()`) and run it with `treadle.Trainer`; "
            "docs/migration.md lists what treadle keeps of `lightning.fabric`."
        )
    raise AttributeError(f"module 'treadle.fabric' has no attribute {name!r}")


# -- utilities.imports: the flags Lightning's tests and programs branch on ---------------------


_IS_WINDOWS = platform.system() == "Windows"
_IS_INTERACTIVE = hasattr(sys, "ps1") or bool(sys.flags.interactive)
_NUMPY_AVAILABLE = importlib.util.find_spec("numpy") is not None
_PYTHON_GREATER_EQUAL_3_10_0 = sys.version_info[:2] >= (3, 10)
_TORCH_GREATER_EQUAL_2_2 = _available("torch", "2.2.0")
_TORCH_GREATER_EQUAL_2_3 = _available("torch", "2.3.0")
_TORCH_GREATER_EQUAL_2_4 = _available("torch", "2.4.0")
_TORCH_GREATER_EQUAL_2_4_1 = _available("torch", "2.4.1")
_TORCH_GREATER_EQUAL_2_5 = _available("torch", "2.5.0")
_TORCH_GREATER_EQUAL_2_6 = _available("torch", "2.6.0")
_TORCH_EQUAL_2_4_0 = _release(torch.__version__) == (2, 4, 0)
_TORCH_LESS_EQUAL_2_6 = _release(torch.__version__) <= (2, 6, 0)
_TORCHMETRICS_GREATER_EQUAL_1_0_0 = _available("torchmetrics", "1.0.0")

# utilities.seed: the range of seeds ``seed_everything`` takes (numpy's uint32)
max_seed_value = 4294967295
min_seed_value = 0


class LightningDeprecationWarning(DeprecationWarning):
    """Lightning's category for its own deprecations (shown by default, unlike Python's)."""


# -- utilities.rank_zero, utilities.seed ---------------------------------------------------------


def rank_prefixed_message(message: str, rank: int | None) -> str:
    """``message`` prefixed with ``[rank: N]`` when a rank is given (Lightning's format)."""
    return message if rank is None else f"[rank: {rank}] {message}"


def reset_seed() -> None:
    """Seed again with the seed ``seed_everything`` left in the environment (a spawned
    process calls this); nothing when it was never called."""
    seed = os.environ.get("TREADLE_GLOBAL_SEED", os.environ.get("PL_GLOBAL_SEED"))
    if seed is None:
        return
    workers = os.environ.get("TREADLE_SEED_WORKERS", os.environ.get("PL_SEED_WORKERS", "0"))
    seed_everything(int(seed), workers=bool(int(workers)), verbose=False)


def pl_worker_init_function(worker_id: int, rank: int | None = None) -> None:
    """A ``DataLoader`` ``worker_init_fn`` (Lightning's): seeds torch, ``random`` and numpy in
    each worker from the loader's base seed, the worker's id and the process's global rank, so
    no two workers on any rank draw the same numbers."""
    global_rank = rank if rank is not None else int(os.environ.get("RANK", 0))
    base_seed = torch.initial_seed() - worker_id  # torch gives each worker base_seed + id
    mixer = torch.Generator().manual_seed(
        (base_seed * 1_000_003 + worker_id * 10_007 + global_rank) % 2**63
    )
    seeds = torch.randint(0, 2**32, (3,), generator=mixer).tolist()
    torch.manual_seed(seeds[0])
    random.seed(seeds[1])
    try:
        import numpy as np
    except ImportError:
        return
    np.random.seed(seeds[2])


# -- utilities.apply_func ----------------------------------------------------------------------


def apply_to_collection(
    data: Any,
    dtype: type | tuple[type, ...],
    function: Callable,
    *args: Any,
    wrong_dtype: type | tuple[type, ...] | None = None,
    include_none: bool = True,
    allow_frozen: bool = False,
    **kwargs: Any,
) -> Any:
    """``function(x, *args, **kwargs)`` for every ``x`` of type ``dtype`` inside nested
    mappings, lists, tuples (named ones too), sets and dataclass instances, the structure kept
    (Lightning's ``apply_to_collection``); ``include_none=False`` drops the entries that became
    None (a dataclass field keeps its value). A dataclass comes back as a copy with its
    ``__init__`` fields replaced, ``__init__`` and ``__post_init__`` not run again (so init-only
    variables and ``field(init=False)`` values stay as they were); a frozen one is refused with
    a ValueError unless ``allow_frozen=True``, which returns the copy unchanged."""
    if isinstance(data, dtype) and (wrong_dtype is None or not isinstance(data, wrong_dtype)):
        return function(data, *args, **kwargs)

    def again(value: Any) -> Any:
        return apply_to_collection(
            value,
            dtype,
            function,
            *args,
            wrong_dtype=wrong_dtype,
            include_none=include_none,
            allow_frozen=allow_frozen,
            **kwargs,
        )

    if isinstance(data, Mapping):
        items = {k: again(v) for k, v in data.items()}
        if not include_none:
            items = {k: v for k, v in items.items() if v is not None}
        if type(data) is dict:
            return items
        if isinstance(data, defaultdict):
            return defaultdict(data.default_factory, items)
        kind: Any = type(data)  # OrderedDict, a Mapping class taking a dict
        return kind(items)
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return _dataclass_applied(data, again, include_none, allow_frozen)
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(again(v) for v in data))
    if isinstance(data, (list, tuple, set)):
        values = [again(v) for v in data]
        return type(data)(v for v in values if include_none or v is not None)
    return data


def _dataclass_applied(
    data: Any, again: Callable[[Any], Any], include_none: bool, allow_frozen: bool
) -> Any:
    """A copy of the dataclass instance ``data`` with ``again`` applied to its ``__init__``
    fields (set on the copy: ``__init__``/``__post_init__`` are not run again)."""
    fields = [(f.name, getattr(data, f.name), f.init) for f in dataclasses.fields(data)]
    # the field values are shared, not copied: the applied ones replace them right after
    result = copy.deepcopy(data, memo={id(value): value for _, value, _ in fields})
    for name, value, init in fields:
        new = again(value) if init else value
        if new is None and not include_none:
            new = value
        try:
            setattr(result, name, new)
        except dataclasses.FrozenInstanceError as error:
            if allow_frozen:
                return result
            raise ValueError(
                f"apply_to_collection: a frozen dataclass was passed ({type(data).__name__}), "
                "whose fields cannot be replaced; pass `allow_frozen=True` to get it back "
                "unchanged, or make the dataclass mutable."
            ) from error
    return result


def convert_to_tensors(data: Any, device: _DEVICE) -> Any:
    """Tensors, numbers and numpy arrays inside ``data`` as tensors on ``device``, with
    Lightning's dtypes (``treadle.utilities.as_tensor``)."""
    kinds: tuple[type, ...] = (torch.Tensor, bool, int, float)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        kinds += (np.ndarray,)
    return apply_to_collection(data, kinds, as_tensor, device)


def convert_tensors_to_scalars(data: Any) -> Any:
    """One-element tensors inside ``data`` as Python numbers; a larger tensor is an error."""

    def item(t: torch.Tensor) -> Any:
        if t.numel() != 1:
            raise ValueError(
                f"The metric `{t}` does not contain a single element, thus it cannot be "
                f"converted to a scalar (it has {t.numel()} elements)."
            )
        return t.item()

    return apply_to_collection(data, torch.Tensor, item)


# -- utilities.data, utilities.cloud_io ---------------------------------------------------------


def has_len(dataloader: Any) -> bool:
    """Whether ``len(dataloader)`` works and is not 0 (a zero length warns and answers True,
    as Lightning does)."""
    try:
        n = len(dataloader)
    except (TypeError, NotImplementedError):
        return False
    if n == 0:
        rank_zero_warn(
            f"`{type(dataloader).__name__}` returned 0 length. Please make sure this was your "
            f"intention."
        )
    return True


def get_all_subclasses(cls: type) -> set[type]:
    """Every subclass of ``cls``, direct or not."""
    found: set[type] = set()
    todo: list[type] = [cls]
    while todo:
        subclasses: list[type] = todo.pop().__subclasses__()
        for sub in subclasses:
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def get_filesystem(path: _PATH, **kwargs: Any) -> Any:
    """The fsspec filesystem of ``path`` (a local path or any URL fsspec knows)."""
    from fsspec.core import url_to_fs  # type: ignore[import-untyped]  # (torch needs it)

    return url_to_fs(str(path), **kwargs)[0]


def _load(path_or_url: Any, map_location: Any = None, weights_only: bool | None = None) -> Any:
    """``torch.load`` through fsspec (a path, a URL or an open file), as Lightning's
    ``cloud_io._load`` that its tests read checkpoints with. ``weights_only=None`` is False,
    as there: use it only on checkpoints you trust."""
    weights_only = bool(weights_only)
    if not isinstance(path_or_url, (str, Path)):
        return torch.load(path_or_url, map_location=map_location, weights_only=weights_only)
    if str(path_or_url).startswith(("http://", "https://")):
        return torch.hub.load_state_dict_from_url(
            str(path_or_url), map_location=map_location, weights_only=weights_only
        )
    with get_filesystem(path_or_url).open(str(path_or_url), "rb") as f:
        return torch.load(f, map_location=map_location, weights_only=weights_only)


# -- utilities.distributed ----------------------------------------------------------------------


def is_shared_filesystem(strategy: Any = None, path: _PATH | None = None, timeout: int = 3) -> bool:
    """Whether every process sees ``path`` (default: the working directory) as the same folder.

    One process (or a URL such as ``s3://``): True. Several (``torch.distributed``
    initialised): the path must be the same on every rank, and a file rank 0 writes there
    must appear on every rank within ``timeout`` seconds. ``strategy`` is accepted for
    Lightning's signature; the ranks are ``torch.distributed``'s.
    """
    if path is not None and "://" in str(path) and not str(path).startswith("file://"):
        return True
    folder = Path.cwd() if path is None else Path(path)
    folder = folder.resolve()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return True

    def everywhere(answer: bool) -> bool:
        flag = torch.tensor([1 if answer else 0], dtype=torch.int32)
        if dist.get_backend() == "nccl":
            flag = flag.cuda()
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    rank_zero = [str(folder)]
    dist.broadcast_object_list(rank_zero, src=0)
    if not everywhere(rank_zero[0] == str(folder)):
        return False
    if not everywhere(folder.is_dir()):
        raise FileNotFoundError(
            f"is_shared_filesystem: {str(folder)!r} does not exist on every rank; create it "
            f"first or pass another path."
        )
    check = folder / ".treadle_shared_fs_check"
    check.unlink(missing_ok=True)
    dist.barrier()
    if dist.get_rank() == 0:
        check.touch()
    found, start = False, time.perf_counter()
    while not found and time.perf_counter() - start < timeout:
        found = check.exists()
        if not found:
            time.sleep(0.01)
    dist.barrier()
    shared = everywhere(found)
    if dist.get_rank() == 0:
        check.unlink(missing_ok=True)
    return shared


class _SamplerAsDataset(Dataset):
    """The indices a sampler yields, as a dataset (drawn again at each ``reset``)."""

    def __init__(self, sampler: Sampler | Iterable) -> None:
        self.sampler = sampler
        self.indices: list[Any] | None = None

    def reset(self) -> None:
        self.indices = list(self.sampler)

    def __getitem__(self, index: int) -> Any:
        if self.indices is None:
            self.reset()
        return self.indices[index]  # type: ignore[index]

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


class DistributedSamplerWrapper(DistributedSampler):
    """Splits what any sampler yields among the ranks, as ``DistributedSampler`` splits a
    dataset (Lightning's wrapper for a custom sampler under DDP); the other arguments are
    ``DistributedSampler``'s."""

    def __init__(self, sampler: Sampler | Iterable, *args: Any, **kwargs: Any) -> None:
        super().__init__(_SamplerAsDataset(sampler), *args, **kwargs)

    def __iter__(self) -> Iterator:
        self.dataset.reset()  # type: ignore[attr-defined]
        return (self.dataset[i] for i in super().__iter__())
