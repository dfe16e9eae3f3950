"""Small helpers shared by the core and plugins, and the names of Lightning's ``utilities``.

The Lightning names a user program imports from ``lightning.pytorch.utilities`` (and its
``exceptions``, ``rank_zero``, ``warnings``... submodules, which are aliases of this module; its
``types``, ``parsing``, ``seed``, ``memory``, ``data`` and ``deepspeed`` submodules are
``treadle._lightning_utilities``, loaded on first use: see ``_lightning_paths``):
``MisconfigurationException`` (treadle's
``ConfigurationError``, so ``except MisconfigurationException`` catches treadle's refusals),
``SIGTERMException`` (``treadle.errors``' ``Preempted`` for SIGTERM),
``rank_zero_only``/``rank_zero_info``/``rank_zero_warn``/``rank_zero_debug``,
``AttributeDict``, ``STEP_OUTPUT`` and the other type aliases, ``seed_everything``,
``CombinedLoader`` (also as ``treadle.utilities.combined_loader.CombinedLoader``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import inspect
import logging
import os
import pickle
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Optional, Union

import torch

from treadle import _lightning_paths
from treadle._hparams import AttributeDict
from treadle.combined_loader import CombinedLoader
from treadle.errors import ConfigurationError, SIGTERMException
from treadle.loggers import rank_zero_only

# Lightning's name for a configuration error (``lightning.pytorch.utilities.exceptions``).
MisconfigurationException = ConfigurationError

# Lightning's type aliases (``lightning.pytorch.utilities.types``), for annotations.
STEP_OUTPUT = Optional[Union[torch.Tensor, Mapping[str, Any]]]
TRAIN_DATALOADERS = Any
EVAL_DATALOADERS = Any
OptimizerLRScheduler = Any

__all__ = [
    "EVAL_DATALOADERS",
    "FLOAT16_EPSILON",
    "FLOAT32_EPSILON",
    "FLOAT64_EPSILON",
    "STEP_OUTPUT",
    "TRAIN_DATALOADERS",
    "AttributeDict",
    "CombinedLoader",
    "GradClipAlgorithmType",
    "LightningEnum",
    "MisconfigurationException",
    "OptimizerLRScheduler",
    "PossibleUserWarning",
    "SIGTERMException",
    "from_compiled",
    "disable_possible_user_warnings",
    "extract_batch_size",
    "has_len_all_ranks",
    "find_shared_parameters",
    "grad_norm",
    "is_overridden",
    "is_picklable",
    "measure_flops",
    "move_data_to_device",
    "rank_zero_debug",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "seed_everything",
    "set_shared_parameters",
    "suggested_max_num_workers",
    "warning_cache",
    "to_uncompiled",
]

_log = logging.getLogger("treadle")


@rank_zero_only
def rank_zero_info(message: Any, *args: Any, **kwargs: Any) -> None:
    """Log ``message`` at INFO on the ``treadle`` logger, on global rank zero only."""
    _log.info(message, *args, **kwargs)


@rank_zero_only
def rank_zero_debug(message: Any, *args: Any, **kwargs: Any) -> None:
    """Log ``message`` at DEBUG on the ``treadle`` logger, on global rank zero only."""
    _log.debug(message, *args, **kwargs)


@rank_zero_only
def rank_zero_warn(
    message: Any, category: type[Warning] = UserWarning, stacklevel: int = 4
) -> None:
    """``warnings.warn(message)`` on global rank zero only."""
    warnings.warn(message, category, stacklevel=stacklevel)


class PossibleUserWarning(UserWarning):
    """Lightning's category for warnings that may be fine to ignore (too few workers, a logging
    interval longer than the epoch); ``disable_possible_user_warnings()`` silences them."""


def disable_possible_user_warnings(module: str = "") -> None:
    """Ignore :class:`PossibleUserWarning` (from ``module``'s code only, when given)."""
    warnings.filterwarnings("ignore", module=module, category=PossibleUserWarning)


def rank_zero_deprecation(message: Any, stacklevel: int = 5, **kwargs: Any) -> None:
    """A ``DeprecationWarning`` (or ``category=``) on global rank zero only."""
    category = kwargs.pop("category", DeprecationWarning)
    rank_zero_warn(message, category=category, stacklevel=stacklevel)


class LightningEnum(str, enum.Enum):
    """A str enum that compares equal to its value in any letter case (Lightning's)."""

    def __eq__(self, other: object) -> bool:
        value = other.value if isinstance(other, enum.Enum) else other
        return self.value.lower() == str(value).lower()

    def __hash__(self) -> int:
        return hash(self.value.lower())


class GradClipAlgorithmType(LightningEnum):
    """``gradient_clip_algorithm``'s values: ``"norm"`` (all parameters' norm together) or
    ``"value"`` (each gradient element clamped)."""

    VALUE = "value"
    NORM = "norm"

    @staticmethod
    def supported_type(val: str) -> bool:
        return any(x.value == val for x in GradClipAlgorithmType)

    @staticmethod
    def supported_types() -> list[str]:
        return [x.value for x in GradClipAlgorithmType]


def grad_norm(
    module: torch.nn.Module, norm_type: float | int | str, group_separator: str = "/"
) -> dict[str, torch.Tensor]:
    """Each parameter's gradient p-norm and their total, keyed as Lightning logs them:
    ``grad_2.0_norm/layer.weight`` ... and ``grad_2.0_norm_total`` (``norm_type="inf"`` for
    the max norm). Parameters without a gradient are left out; no gradient at all gives {}.
    Typical use: ``self.log_dict(grad_norm(self, norm_type=2))`` in ``on_before_optimizer_step``.
    """
    norm = float(norm_type)
    if norm <= 0:
        raise ValueError(
            f"grad_norm(norm_type={norm_type!r}): `norm_type` must be a positive number or "
            f"'inf' (the max norm)."
        )
    norms = {
        f"grad_{norm}_norm{group_separator}{name}": p.grad.detach().norm(norm)
        for name, p in module.named_parameters()
        if p.grad is not None
    }
    if norms:
        norms[f"grad_{norm}_norm_total"] = torch.stack(list(norms.values())).norm(norm)
    return norms


FLOAT16_EPSILON = torch.finfo(torch.float16).eps
FLOAT32_EPSILON = torch.finfo(torch.float32).eps
FLOAT64_EPSILON = torch.finfo(torch.float64).eps


def find_shared_parameters(module: torch.nn.Module) -> list[list[str]]:
    """The parameters ``module`` holds under several names (tied weights), as lists of their
    dotted names in registration order; one list per shared parameter (Lightning's
    ``utilities.parameter_tying``). Moving a module to some devices (XLA) unties them:
    :func:`set_shared_parameters` ties them again."""
    names: dict[int, list[str]] = {}

    def visit(owner: torch.nn.Module, prefix: str) -> None:
        for name, param in owner._parameters.items():
            if param is not None:
                names.setdefault(id(param), []).append(prefix + name)
        for name, child in owner._modules.items():
            if child is not None:
                visit(child, f"{prefix}{name}.")

    visit(module, "")
    return [group for group in names.values() if len(group) > 1]


def set_shared_parameters(module: torch.nn.Module, shared: list[list[str]]) -> torch.nn.Module:
    """Tie again each group of :func:`find_shared_parameters`: every name of a group is set to
    the parameter found under its first name. Returns ``module``."""
    for first, *others in shared:
        param = module.get_parameter(first)
        for path in others:
            owner_path, _, attr = path.rpartition(".")
            setattr(module.get_submodule(owner_path), attr, param)
    return module


def is_picklable(obj: object) -> bool:
    """True when ``pickle.dumps(obj)`` succeeds."""
    try:
        pickle.dumps(obj)
    except (pickle.PickleError, AttributeError, RuntimeError, TypeError):
        return False
    return True


def measure_flops(
    model: torch.nn.Module,
    forward_fn: Callable[[], torch.Tensor],
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> int:
    """FLOPs of ``forward_fn()`` (and of ``loss_fn``'s backward when given), counted by
    ``torch.utils.flop_counter``; a model made on the meta device costs no memory.
    ``model`` is taken for Lightning's signature."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        if loss_fn is None:
            forward_fn()
        else:
            loss_fn(forward_fn()).backward()
    return counter.get_total_flops()


def suggested_max_num_workers(local_world_size: int) -> int:
    """An upper bound for a ``DataLoader``'s ``num_workers``: this machine's CPUs shared among
    its ``local_world_size`` processes, one left for each main process."""
    if local_world_size < 1:
        raise ValueError(
            f"suggested_max_num_workers(local_world_size={local_world_size}): expected >= 1 "
            f"(the number of processes on this machine)."
        )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // local_world_size - 1)


_MAX_SEED = 2**32 - 1  # numpy's seeds: 0 .. 4294967295


def seed_everything(seed: int | None = None, workers: bool = False, verbose: bool = True) -> int:
    """Seed python's ``random``, torch (all devices) and numpy when it is installed; return the seed.

    ``seed=None`` takes the seed a previous call left in ``TREADLE_GLOBAL_SEED`` (or Lightning's
    ``PL_GLOBAL_SEED``), else 0 with a warning. A seed outside numpy's 0 .. 4294967295 is refused.
    ``verbose`` logs "Seed set to N" on logger ``treadle`` (as Lightning does; not with
    ``TREADLE_QUIET=1``). The seed and ``workers`` (as 0 or 1) are left in ``PL_GLOBAL_SEED`` and
    ``PL_SEED_WORKERS`` (Lightning's names; ``TREADLE_``... too). ``workers=True`` also seeds
    ``random`` and numpy in every ``DataLoader`` worker (torch is seeded there by torch
    itself): the Trainer gives loaders without a ``worker_init_fn`` one.
    """
    if seed is None:
        name = next((n for n in ("TREADLE_GLOBAL_SEED", "PL_GLOBAL_SEED") if n in os.environ), None)
        if name is None:
            seed = 0
            if verbose:
                rank_zero_warn(f"No seed found, seed set to {seed}")
        else:
            try:
                seed = int(os.environ[name])
            except ValueError:
                raise ValueError(
                    f"Invalid seed specified via {name}: {os.environ[name]!r}; set it to an int "
                    f"from 0 to {_MAX_SEED} or pass seed_everything(seed) explicitly."
                ) from None
    seed = int(seed)
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(
            f"{seed} is not in bounds, numpy accepts from 0 to {_MAX_SEED}; "
            f"pass seed_everything a seed in that range."
        )
    if verbose:
        from treadle.plugin_manager import _env_flag, run_logger

        if not _env_flag("TREADLE_QUIET"):
            rank = next(
                (os.environ[n] for n in ("RANK", "LOCAL_RANK", "SLURM_PROCID") if n in os.environ),
                None,
            )
            run_logger().info(
                f"Seed set to {seed}" if rank is None else f"[rank: {rank}] Seed set to {seed}"
            )
    os.environ["PL_GLOBAL_SEED"] = os.environ["TREADLE_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = os.environ["TREADLE_SEED_WORKERS"] = "1" if workers else "0"
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed)
    return seed


def move_data_to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors inside nested lists, tuples, dicts and dataclasses to ``device``.

    Objects with a ``.to()`` method are moved with it (the object itself is kept where its
    ``to`` returns None); anything else is returned as is.
    """
    # Called on every batch. A tensor already on ``device`` stays as it is, which ``.to`` would
    # also do; comparing devices first costs a fifth of a ``.to`` call (argument parsing).
    if isinstance(batch, torch.Tensor):
        return batch if batch.device == device else batch.to(device)
    if isinstance(batch, (list, tuple)):
        # One frame for the usual (x, y) of tensors.
        moved, same = [], True
        for x in batch:
            if isinstance(x, torch.Tensor):
                m = x if x.device == device else x.to(device)
            else:
                m = move_data_to_device(x, device)
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
        changes = {
            f.name: move_data_to_device(getattr(batch, f.name), device)
            for f in dataclasses.fields(batch)
            if f.init
        }
        return dataclasses.replace(batch, **changes)
    to = getattr(batch, "to", None)
    if callable(to):
        moved = to(device)
        # a ``to`` that moves in place and returns nothing (Lightning keeps the object too)
        return batch if moved is None else moved
    return batch


def requires_closure(optimizer: Any) -> bool:
    """True when ``optimizer.step`` cannot be called without a closure (``LBFGS`` and alike).

    ``optimizer`` may be an optimizer, a wrapped one, or an optimizer class.
    """
    optimizer = getattr(optimizer, "optimizer", optimizer)
    cls: Any = optimizer if isinstance(optimizer, type) else type(optimizer)
    try:
        params = inspect.signature(cls.step).parameters
    except (TypeError, ValueError):
        return False
    closure = params.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def batch_size_of(batch: Any) -> int:
    """The leading size of the first tensor in ``batch`` (1 when there is none), found as
    Lightning's ``extract_batch_size`` finds it: mappings' values, any iterable but a string
    (a torch_geometric ``Data``/``Batch`` yields its ``(key, tensor)`` pairs) and dataclasses
    are walked in order; no warning when later tensors' sizes differ."""
    try:
        for size in _batch_sizes(batch):
            if size is not None:
                return int(size)
    except RecursionError:
        pass
    return 1


class WarningCache(set):
    """Lightning's ``WarningCache``: each message warned once until ``clear()``."""

    def warn(self, message: str, stacklevel: int = 5, **kwargs: Any) -> None:
        if message not in self:
            self.add(message)
            rank_zero_warn(message, stacklevel=stacklevel, **kwargs)


# the warnings of ``extract_batch_size`` (``lightning.pytorch.utilities.data.warning_cache``)
warning_cache = WarningCache()


def _batch_sizes(batch: Any) -> Any:
    """The leading size of each tensor in ``batch`` (1 for a scalar), None for a leaf that is
    no tensor, in order: mappings' values, iterables (not strings) and dataclasses walked."""
    if isinstance(batch, torch.Tensor):
        yield batch.size(0) if batch.ndim else 1
    elif isinstance(batch, str):
        yield None
    elif isinstance(batch, Mapping):
        for value in batch.values():
            yield from _batch_sizes(value)
    elif isinstance(batch, Iterable):
        for value in batch:
            yield from _batch_sizes(value)
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        for field in dataclasses.fields(batch):
            yield from _batch_sizes(getattr(batch, field.name))
    else:
        yield None


def extract_batch_size(batch: Any) -> int:
    """Lightning's ``extract_batch_size``: the leading size of the first tensor in ``batch``.
    Tensors of other sizes after it: a warning (once per message, ``warning_cache``) naming
    the size taken; no tensor first: ``MisconfigurationException``. ``self.log`` does not
    use it (treadle's ``batch_size_of`` takes the first tensor quietly)."""
    problem = (
        "We could not infer the batch_size from the batch. Either simplify its structure or "
        "provide the batch_size as `self.log(..., batch_size=batch_size)`."
    )
    size = None
    try:
        for found in _batch_sizes(batch):
            if size is None:
                size = found
            elif size != found:
                warning_cache.warn(
                    "Trying to infer the `batch_size` from an ambiguous collection. The batch "
                    f"size we found is {size}. To avoid any miscalculations, use "
                    "`self.log(..., batch_size=batch_size)`."
                )
                break
    except RecursionError:
        raise RecursionError(problem) from None
    if size is None:
        raise MisconfigurationException(f"{problem} (batch of type {type(batch).__name__})")
    return size


def has_len_all_ranks(
    dataloader: object,
    strategy: Any,
    allow_zero_length_dataloader_with_multiple_devices: bool = False,
) -> bool:
    """Lightning's ``has_len_all_ranks``: ``dataloader`` has a length (False when it has none);
    a warning when the lengths of all ranks sum to zero, and, when only this rank's is zero,
    a ``RuntimeError`` (a warning with ``allow_zero_length_dataloader_with_multiple_devices``)."""
    try:
        local = len(dataloader)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return False
    total = local
    dist = torch.distributed  # (``strategy``: a ``trainer.strategy``, or the Trainer itself)
    if getattr(strategy, "world_size", 1) > 1 and dist.is_available() and dist.is_initialized():
        summed = torch.tensor(local, device=strategy.root_device)
        dist.all_reduce(summed)
        total = int(summed)
    name = type(dataloader).__name__
    if total == 0:
        rank_zero_warn(
            f"Total length of `{name}` across ranks is zero. Please make sure this was your "
            "intention."
        )
    if total > 0 and local == 0:
        if not allow_zero_length_dataloader_with_multiple_devices:
            raise RuntimeError(
                f"`{name}` within local rank has zero length. Please make sure that it returns "
                "at least 1 batch (or pass `allow_zero_length_dataloader_with_multiple_devices="
                "True`)."
            )
        rank_zero_warn(
            f"Total length of `{name}` across ranks is zero, but local rank has zero length. "
            "Please be cautious of uneven batch length."
        )
    _warn_iterable_with_len(dataloader)
    return True


def _warn_iterable_with_len(dataloader: object) -> None:
    """Lightning's warning for a loader with a length over an ``IterableDataset``: with
    several workers, each yielding the whole dataset, that length can be wrong. Called where a
    loader's batches are counted (``has_len_all_ranks``, and the Trainer at each stage's setup)."""
    if isinstance(getattr(dataloader, "dataset", None), torch.utils.data.IterableDataset):
        rank_zero_warn(
            "Your `IterableDataset` has `__len__` defined. In combination with multi-process "
            "data loading (when num_workers > 1), `__len__` could be inaccurate if each worker "
            "is not configured independently to avoid having duplicate data."
        )


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` set by ``seed_everything(workers=True)``: seed random and numpy."""
    seed = torch.initial_seed() % 2**32  # torch's per-worker seed: base_seed + worker_id
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:
        return
    np.random.seed(seed)


def call_step(method: Any, batch: Any, batch_idx: int, dataloader_idx: int | None = None) -> Any:
    """Call a ``*_step`` method with the arguments :func:`step_args` gives it."""
    function = getattr(method, "__func__", method)  # per step: step_args inlined
    if _step_signature(function, function is not method)[0]:
        args: tuple = (
            (batch, batch_idx) if dataloader_idx is None else (batch, batch_idx, dataloader_idx)
        )
    else:
        args = (batch,) if dataloader_idx is None else (batch, dataloader_idx)
    return method(*args)


def step_args(method: Any, batch: Any, batch_idx: int, dataloader_idx: int | None = None) -> tuple:
    """The positional arguments of a ``*_step`` method, by Lightning's rule: ``batch_idx`` when
    the step takes it (a parameter named ``batch_idx``, ``*args``, or two positional
    parameters); ``dataloader_idx`` when given -- the loops give it only when they run several
    loaders (:func:`dataloader_idx_problems` checks the step can take it). For the core's
    defaults and for strategies that run the step through a wrapper (DDP's forward,
    DeepSpeed's engine): ``engine(module.test_step, *step_args(module.test_step, ...))``."""
    function = getattr(method, "__func__", method)  # per step: _signature inlined
    args = (batch, batch_idx) if _step_signature(function, function is not method)[0] else (batch,)
    return args if dataloader_idx is None else (*args, dataloader_idx)


def dataloader_idx_problems(module: Any, step_name: str, num_dataloaders: int) -> list:
    """Lightning's check that ``module.<step_name>`` and the Module's batch hooks of its stage
    (``on_validation_batch_start``/``_end``, ...) can take what their loop will pass, for the
    loop to report before its first batch (Lightning's wording, which its tests match).

    :param step_name: ``"validation_step"``, ``"test_step"`` or ``"predict_step"``.
    :param num_dataloaders: how many loaders the loop runs.
    """
    stage = step_name[: -len("_step")]
    prefix = "val" if stage == "validation" else stage
    problems = []
    for hook in (step_name, f"on_{stage}_batch_start", f"on_{stage}_batch_end"):
        method = getattr(module, hook, None)
        if method is None:
            continue
        _, accepts, requires, _ = _signature(method)
        where = f"`{type(module).__name__}.{hook}()`"
        if num_dataloaders > 1 and not accepts:
            problems.append(
                f"You provided multiple `{prefix}_dataloader` ({num_dataloaders} loaders), but "
                f"no `dataloader_idx` argument in {where}. Add the parameter (`def {hook}(self, "
                f"{'outputs, ' if hook.endswith('_end') else ''}batch, batch_idx, "
                f"dataloader_idx=0)`), or pass a single loader."
            )
        elif num_dataloaders <= 1 and requires:
            problems.append(
                f"You provided only a single `{prefix}_dataloader`, but have included "
                f"`dataloader_idx` in {where}: with one loader it is called without it (as "
                f"Lightning does). Remove the argument or give it a default value: "
                f"`dataloader_idx=0`."
            )
    return problems


def _signature(method: Any) -> tuple:
    function = getattr(method, "__func__", method)
    return _step_signature(function, function is not method)


@functools.cache
def _step_signature(function: Any, bound: bool) -> tuple:
    """``(takes batch_idx, accepts dataloader_idx, requires dataloader_idx, takes
    dataloader_iter)`` of a step, computed once per step function (so once per ``Module``
    class). A step with a ``dataloader_iter`` parameter (Lightning's rule: a named positional
    one) is called with the iterator alone (see :func:`takes_dataloader_iter`)."""
    try:
        params = list(inspect.signature(function).parameters.values())[1 if bound else 0 :]
    except (TypeError, ValueError):
        return True, True, False, False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    named = {p.name: p for p in positional}
    if "dataloader_iter" in named:  # as Lightning: the iterator is its only argument
        return False, True, False, True
    takes_batch_idx = "batch_idx" in named or varargs or len(positional) >= 2
    accepts_dataloader_idx = "dataloader_idx" in named or varargs
    requires_dataloader_idx = (
        "dataloader_idx" in named and named["dataloader_idx"].default is inspect.Parameter.empty
    )
    return takes_batch_idx, accepts_dataloader_idx, requires_dataloader_idx, False


def takes_dataloader_iter(method: Any) -> bool:
    """``method`` (a ``*_step``) takes ``dataloader_iter`` instead of ``(batch, batch_idx)``:
    its loop hands it an iterator of ``(batch, batch_idx, dataloader_idx)`` and the step
    fetches its batches itself (Lightning's ``_DataLoaderIterDataFetcher``). Asked once per
    epoch (training) or per run (evaluation), never per batch."""
    function = getattr(method, "__func__", method)
    return bool(_step_signature(function, function is not method)[3])


def as_tensor(x: Any, device: Any) -> Any:
    """``x`` as a tensor on ``device`` when it is a tensor, a number or a numpy array, with
    Lightning's dtypes (``convert_to_tensors``): a bool as ``uint8`` (collectives take no bool
    tensors), an int as ``int32``, a float as ``float32``; anything else as it is."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, bool):
        return torch.tensor(x, dtype=torch.uint8, device=device)
    if isinstance(x, int):
        return torch.tensor(x, dtype=torch.int, device=device)
    if isinstance(x, float):
        return torch.tensor(x, dtype=torch.float, device=device)
    if type(x).__module__ == "numpy" and type(x).__name__ == "ndarray":
        return torch.from_numpy(x).to(device)
    return x


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    """``torch``'s default dtype is ``dtype`` inside (None: unchanged), the one before again
    after, also on error (a "-true" precision's ``init_module``/``tensor_init_context``)."""
    if dtype is None:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


_LOCAL_PROTOCOLS = ("file://", "local://")


def local_path(path: Any) -> Any:
    """``path`` with fsspec's local protocol taken off (``file:///data/run`` -> ``/data/run``),
    as Lightning reads such a URL through fsspec's local filesystem; any other value as it is.

    Where Lightning takes a folder or a checkpoint file (``default_root_dir``, a logger's
    ``save_dir``, ``ModelCheckpoint(dirpath=)``, ``ckpt_path``, ``save_checkpoint``), treadle
    takes a ``file://`` URL through this; other protocols are refused there (``remote_url``)."""
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if isinstance(text, str) and text.startswith(_LOCAL_PROTOCOLS):
            return text.split("://", 1)[1]
    return path


def remote_url(path: Any) -> str | None:
    """The protocol of ``path`` when it is a URL of a filesystem other than the local one
    (``"s3"`` for ``s3://bucket/x``), else None."""
    if not isinstance(path, str) or "://" not in path:
        return None
    protocol = path.split("://", 1)[0]
    return protocol if protocol.isidentifier() and protocol not in ("file", "local") else None


def local_folder(path: Any, where: str) -> Any:
    """:func:`local_path` of ``path``; a URL of another filesystem is a ``ValueError`` naming
    ``where`` (the argument it came in) and what to do instead."""
    protocol = remote_url(path)
    if protocol is not None:
        raise ValueError(
            f"{where}: {path!r} is a {protocol}:// URL; treadle writes logs and checkpoints to "
            f"local folders (and file:// URLs) only. Give a local folder (a mounted bucket "
            f"works) and copy the results to {protocol}:// after the run."
        )
    return local_path(path)


def is_shared_filesystem(strategy: Any = None, path: Any = None, timeout: int = 3) -> bool:
    """Whether every process sees ``path`` (default: the working directory) as the same folder
    (Lightning's ``utilities.is_shared_filesystem``); see ``treadle.fabric.utilities``."""
    from treadle._lightning_fabric import is_shared_filesystem as check

    return check(strategy, path, timeout)


def is_overridden(method_name: str, instance: Any = None, parent: Any = None) -> bool:
    """Whether ``instance``'s class overrides ``parent``'s ``method_name`` (Lightning's
    ``utilities.model_helpers.is_overridden``). ``parent`` defaults to ``Module``,
    ``DataModule`` or ``Callback``, whichever ``instance`` is; a ``functools.wraps`` wrapper or a
    ``functools.partial`` is looked through."""
    if instance is None:
        return False
    if parent is None:
        from treadle.callback import Callback
        from treadle.datamodule import DataModule
        from treadle.module import Module

        parent = next((c for c in (Module, DataModule, Callback) if isinstance(instance, c)), None)
        if parent is None:
            raise ValueError(
                f"Expected a parent: is_overridden({method_name!r}, "
                f"instance={type(instance).__name__}): the instance is not a Module, DataModule "
                f"or Callback; pass parent=<its base class>."
            )
    attr = getattr(instance, method_name, None)
    if attr is None:
        return False
    attr = getattr(attr, "__wrapped__", attr)
    if isinstance(attr, functools.partial):
        attr = attr.func
    base = getattr(parent, method_name, None)
    if base is None:
        raise ValueError(
            f"is_overridden({method_name!r}, parent={getattr(parent, '__name__', parent)}): "
            f"the parent has no {method_name!r} to compare with."
        )
    code = getattr(attr, "__code__", None)
    return code is None or code != getattr(base, "__code__", None)


_STEP_METHODS = ("forward", "training_step", "validation_step", "test_step", "predict_step")


def compiled_module_type() -> Any:
    """torch's ``OptimizedModule`` (what ``torch.compile(module)`` returns) when torch.compile
    has been used in this process, else None (nothing is imported to find out)."""
    import sys

    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    return getattr(eval_frame, "OptimizedModule", None)


def from_compiled(model: Any) -> Any:
    """The ``treadle.Module`` inside ``torch.compile(module)``, with its ``forward`` and its
    step methods compiled as the wrapper compiled ``forward`` (Lightning's
    ``utilities.compile.from_compiled``; ``trainer.fit(torch.compile(model))`` calls it).
    :func:`to_uncompiled` undoes it."""
    from treadle.module import Module

    optimized = compiled_module_type()
    if optimized is None or not isinstance(model, optimized):
        raise ValueError(
            f"from_compiled(model): expected what `torch.compile(module)` returns, got "
            f"{type(model).__name__}."
        )
    module = model._orig_mod
    if not isinstance(module, Module):
        raise ValueError(
            f"from_compiled(model): the compiled module is a {type(module).__name__}, not a "
            f"`treadle.Module`; compile the Module itself: `torch.compile(MyModule(...))`."
        )
    context = model.dynamo_ctx
    prepared = getattr(module, "_compiler_ctx", None)
    if prepared is not None and prepared.get("dynamo_ctx") is context:
        return module  # an earlier entry point prepared it (fit, then test): not twice
    ctx: dict[str, Any] = {"compiler": "dynamo", "dynamo_ctx": context}
    for name in _STEP_METHODS:
        original = getattr(module, name)
        ctx[f"original_{name}"] = original
        setattr(module, name, context(original))
    module._compiler_ctx = ctx
    return module


def to_uncompiled(model: Any) -> Any:
    """The ``treadle.Module`` with its original (uncompiled) methods back, from
    ``torch.compile(module)`` or from the module :func:`from_compiled` returned (Lightning's
    ``utilities.compile.to_uncompiled``)."""
    from treadle.module import Module

    optimized = compiled_module_type()
    original = model._orig_mod if optimized is not None and isinstance(model, optimized) else model
    if not isinstance(original, Module):
        raise ValueError(
            f"to_uncompiled(model): expected a `treadle.Module` or `torch.compile(module)`, got "
            f"{type(model).__name__}."
        )
    ctx = getattr(original, "_compiler_ctx", None)
    if ctx is None:
        raise ValueError(
            "to_uncompiled(model): the model is required to be a compiled LightningModule (a "
            "`treadle.Module` that `trainer.fit(torch.compile(module))` or `from_compiled` "
            "prepared, as in Lightning); this one is not compiled: use it as it is."
        )
    for name in _STEP_METHODS:
        setattr(original, name, ctx[f"original_{name}"])
    original._compiler_ctx = None
    return original


# ``treadle.utilities.exceptions``, ``...rank_zero`` (Lightning's paths): this module; ``...types``,
# ``...parsing``, ``...memory``...: ``treadle._lightning_utilities``, on first use.
_lightning_paths.register(__name__)
