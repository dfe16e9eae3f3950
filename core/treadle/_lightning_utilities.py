"""Lightning's ``utilities`` submodules that ``import treadle`` does not load.

``treadle.utilities.types``, ``.parsing``, ``.seed``, ``.memory``, ``.data``, ``.deepspeed``,
``.signature_utils`` and ``.imports`` (Lightning's ``lightning.pytorch.utilities.X`` after a
program's imports are mapped) are this module, imported the first time a program imports one of
those paths (``_lightning_paths.LAZY``).
It holds each path's public names: those ``treadle.utilities`` already has, and the rest written
here on treadle's own pieces (``_hparams`` for ``save_hyperparameters``, the checkpoint's RNG
state for ``isolate_rng``, the Trainer's collectives for ``has_len_all_ranks``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import importlib.metadata
import inspect
import io
import itertools
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, TypedDict, Union

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import IterableDataset

from treadle import _hparams
from treadle._optim_config import SchedulerConfig
from treadle.providers import module_available
from treadle.utilities import (
    EVAL_DATALOADERS,
    STEP_OUTPUT,
    TRAIN_DATALOADERS,
    AttributeDict,
    OptimizerLRScheduler,
    extract_batch_size,
    has_len_all_ranks,
    is_picklable,
    rank_zero_warn,
    seed_everything,
    warning_cache,
)

__all__ = [
    # utilities.types
    "EVAL_DATALOADERS",
    "STEP_OUTPUT",
    "TRAIN_DATALOADERS",
    "LRSchedulerConfig",
    "LRSchedulerConfigType",
    "LRSchedulerPLType",
    "LRSchedulerType",
    "LRSchedulerTypeTuple",
    "LRSchedulerTypeUnion",
    "OptimizerConfig",
    "OptimizerLRScheduler",
    "OptimizerLRSchedulerConfig",
    # utilities.seed
    "isolate_rng",
    "seed_everything",
    # utilities.parsing
    "AttributeDict",
    "clean_namespace",
    "collect_init_args",
    "get_init_args",
    "is_picklable",
    "lightning_getattr",
    "lightning_hasattr",
    "lightning_setattr",
    "parse_class_init_keys",
    "save_hyperparameters",
    # utilities.memory
    "garbage_collection_cuda",
    "get_model_size_mb",
    "is_cuda_out_of_memory",
    "is_cudnn_snafu",
    "is_oom_error",
    "is_out_of_cpu_memory",
    "recursive_detach",
    # utilities.data
    "BType",
    "extract_batch_size",
    "has_iterable_dataset",
    "has_len_all_ranks",
    "sized_len",
    "warning_cache",
    # utilities.deepspeed
    "convert_zero_checkpoint_to_fp32_state_dict",
    # utilities.signature_utils
    "is_param_in_hook_signature",
]


# -- utilities.types ----------------------------------------------------------------------------

# What ``trainer.lr_scheduler_configs`` holds. Build it with keywords: treadle's field order
# (scheduler, interval, frequency, monitor, strict, name) is not Lightning's, and
# ``reduce_on_plateau`` is read from the scheduler rather than given.
LRSchedulerConfig = SchedulerConfig
LRSchedulerTypeTuple = (LRScheduler, ReduceLROnPlateau)
LRSchedulerTypeUnion = Union[LRScheduler, ReduceLROnPlateau]
LRSchedulerType = Union[type[LRScheduler], type[ReduceLROnPlateau]]
LRSchedulerPLType = Union[LRScheduler, ReduceLROnPlateau]


class LRSchedulerConfigType(TypedDict, total=False):
    """The ``"lr_scheduler"`` dict ``configure_optimizers`` may return."""

    scheduler: LRSchedulerTypeUnion
    name: str | None
    interval: str
    frequency: int
    reduce_on_plateau: bool
    monitor: str | None
    strict: bool


class OptimizerConfig(TypedDict):
    optimizer: torch.optim.Optimizer


class OptimizerLRSchedulerConfig(TypedDict, total=False):
    """``{"optimizer": ..., "lr_scheduler": ..., "monitor": ...}`` from ``configure_optimizers``."""

    optimizer: torch.optim.Optimizer
    lr_scheduler: LRSchedulerTypeUnion | LRSchedulerConfigType
    monitor: str


# -- utilities.imports ----------------------------------------------------------------------------
# Lightning's availability flags, which examples read (``if _TORCHVISION_AVAILABLE: import
# torchvision``); plain bools here (Lightning's ``RequirementCache`` objects are truthy alike).


def _release(version: str) -> tuple[int, ...]:
    """``"2.8.0+cpu"`` -> ``(2, 8, 0)``: the leading numbers of a version."""
    numbers = []
    for part in version.split("+")[0].split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def _available(package: str, minimum: str | None = None) -> bool:
    if not module_available(package):
        return False
    if minimum is None:
        return True
    try:
        return _release(importlib.metadata.version(package)) >= _release(minimum)
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path: version unknown
        return True


_PYTHON_GREATER_EQUAL_3_11_0 = sys.version_info >= (3, 11)
_TORCH_GREATER_EQUAL_2_6 = _release(torch.__version__) >= (2, 6)
_TORCH_GREATER_EQUAL_2_8 = _release(torch.__version__) >= (2, 8)
_TORCHMETRICS_GREATER_EQUAL_0_8_0 = _available("torchmetrics", "0.8.0")
_TORCHMETRICS_GREATER_EQUAL_0_9_1 = _available("torchmetrics", "0.9.1")
_TORCHMETRICS_GREATER_EQUAL_0_11 = _available("torchmetrics", "0.11.0")
_TORCHMETRICS_GREATER_EQUAL_1_0_0 = _available("torchmetrics", "1.0.0")
_OMEGACONF_AVAILABLE = _available("omegaconf")
_TORCHVISION_AVAILABLE = _available("torchvision")
_RICH_AVAILABLE = _available("rich", "10.2.2")


# -- utilities.seed -----------------------------------------------------------------------------


@contextlib.contextmanager
def isolate_rng(include_cuda: bool = True) -> Iterator[None]:
    """Put Python's, torch's (CUDA's too unless ``include_cuda=False``) and NumPy's random
    states back on exit to what they were on entry: draws inside do not change later draws."""
    from treadle.checkpoint import rng_state, set_rng_state

    state = rng_state()
    if include_cuda and "cuda" not in state and torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    elif not include_cuda:
        state.pop("cuda", None)
    try:
        yield
    finally:
        set_rng_state(state)


# -- utilities.parsing --------------------------------------------------------------------------


def save_hyperparameters(
    obj: Any,
    *args: Any,
    ignore: Sequence[str] | str | None = None,
    frame: types.FrameType | None = None,
    given_hparams: dict[str, Any] | None = None,
) -> None:
    """``obj.save_hyperparameters(*args, ignore=...)`` for any object, as the method on
    ``Module``/``DataModule``: records the arguments of ``obj``'s running ``__init__`` methods
    (``frame``: the caller's by default; ``given_hparams``: these instead) in ``obj.hparams``."""
    if frame is None:
        frame = inspect.currentframe().f_back  # type: ignore[union-attr]  # CPython has frames
    if not isinstance(frame, types.FrameType):
        raise AttributeError("There is no `frame` available while being required.")
    _hparams.save_hyperparameters(obj, args, ignore, frame, None, init_args=given_hparams)


def clean_namespace(hparams: MutableMapping) -> None:
    """Remove (with a warning each) the entries of ``hparams`` that cannot be pickled."""
    for k in [k for k, v in hparams.items() if not is_picklable(v)]:
        rank_zero_warn(
            f"Attribute '{k}' removed from hparams because it cannot be pickled. You can "
            f"suppress this warning by setting `self.save_hyperparameters(ignore=['{k}'])`."
        )
        del hparams[k]


def parse_class_init_keys(cls: type) -> tuple[str, str | None, str | None]:
    """The names of ``cls.__init__``'s ``self``, ``*args`` and ``**kwargs`` (None when absent)."""
    params = list(inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    var_args = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    var_kwargs = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    return params[0].name, var_args, var_kwargs


def _frame_init_args(frame: types.FrameType) -> tuple[Any, dict[str, Any]]:
    """(self, arguments) of an ``__init__`` frame that has ``__class__`` (calls ``super()``),
    ``**kwargs`` spread out, ``*args`` left out; (None, {}) for any other frame."""
    local = frame.f_locals
    cls = local.get("__class__")
    if cls is None or frame.f_code.co_name != "__init__":
        return None, {}
    self_name, var_args, var_kwargs = parse_class_init_keys(cls)
    names = inspect.signature(cls.__init__).parameters
    args = {k: local[k] for k in names if k in local}
    if var_kwargs:
        args.update(args.get(var_kwargs) or {})
    skip = {self_name, var_args, var_kwargs, "__class__", "frame", "frame_args"}
    return local.get(self_name), {k: v for k, v in args.items() if k not in skip}


def get_init_args(frame: types.FrameType) -> dict[str, Any]:
    """The arguments of the ``__init__`` running in ``frame`` (see ``collect_init_args``)."""
    return _frame_init_args(frame)[1]


def collect_init_args(
    frame: types.FrameType,
    path_args: list[dict[str, Any]],
    inside: bool = False,
    classes: tuple[type, ...] = (),
) -> list[dict[str, Any]]:
    """The arguments of each ``__init__`` on the stack from ``frame`` outwards, appended to
    ``path_args``: base class first, the most derived class last. Only ``__init__`` methods
    that call ``super()`` count (as Lightning); ``classes`` limits them to those objects."""
    f: types.FrameType | None = frame
    while f is not None and f.f_back is not None:
        self_obj, args = _frame_init_args(f)
        if "__class__" in f.f_locals and (not classes or isinstance(self_obj, classes)):
            path_args.append(args)
            inside = True
        elif inside:
            break
        f = f.f_back
    return path_args


def _attr_holders(model: Any, attribute: str) -> list[Any]:
    """Where ``attribute`` lives: the model, its ``hparams``, the Trainer's datamodule and the
    datamodule's ``hparams``, in that order."""
    holders: list[Any] = []
    if hasattr(model, attribute):
        holders.append(model)
    hparams = getattr(model, "hparams", None)
    if hparams is not None and attribute in hparams:
        holders.append(hparams)
    trainer = getattr(model, "_trainer", None)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    if datamodule is not None:
        if hasattr(datamodule, attribute):
            holders.append(datamodule)
        dm_hparams = getattr(datamodule, "hparams", None)
        if dm_hparams is not None and attribute in dm_hparams:
            holders.append(dm_hparams)
    return holders


def _missing(attribute: str) -> AttributeError:
    return AttributeError(
        f"{attribute} is neither stored in the model namespace nor the `hparams` namespace/dict, "
        f"nor the datamodule."
    )


def lightning_hasattr(model: Any, attribute: str) -> bool:
    """True when ``attribute`` is on the model, in its ``hparams`` or on the datamodule."""
    return bool(_attr_holders(model, attribute))


def lightning_getattr(model: Any, attribute: str) -> Any:
    """``attribute`` from the last of: the model, its ``hparams``, the datamodule, the
    datamodule's ``hparams``; ``AttributeError`` when none holds it."""
    holders = _attr_holders(model, attribute)
    if not holders:
        raise _missing(attribute)
    holder = holders[-1]
    return holder[attribute] if isinstance(holder, dict) else getattr(holder, attribute)


def lightning_setattr(model: Any, attribute: str, value: Any) -> None:
    """Set ``attribute`` to ``value`` everywhere ``lightning_getattr`` could read it."""
    holders = _attr_holders(model, attribute)
    if not holders:
        raise _missing(attribute)
    for holder in holders:
        if isinstance(holder, dict):
            holder[attribute] = value
        else:
            setattr(holder, attribute, value)


# -- utilities.memory ---------------------------------------------------------------------------


def recursive_detach(in_dict: Any, to_cpu: bool = False) -> Any:
    """A copy of ``in_dict`` (nested dicts, lists, tuples, dataclasses) with every tensor
    detached (and moved to the CPU with ``to_cpu=True``); anything else is kept as it is."""
    if isinstance(in_dict, torch.Tensor):
        t = in_dict.detach()
        return t.cpu() if to_cpu else t
    if isinstance(in_dict, Mapping):
        mapping: Any = type(in_dict)  # a dict subclass (an OrderedDict...) keeps its type
        return mapping({k: recursive_detach(v, to_cpu) for k, v in in_dict.items()})
    if isinstance(in_dict, tuple) and hasattr(in_dict, "_fields"):  # namedtuple
        return type(in_dict)(*(recursive_detach(v, to_cpu) for v in in_dict))
    if isinstance(in_dict, (list, tuple)):
        return type(in_dict)(recursive_detach(v, to_cpu) for v in in_dict)
    if dataclasses.is_dataclass(in_dict) and not isinstance(in_dict, type):
        changes = {
            f.name: recursive_detach(getattr(in_dict, f.name), to_cpu)
            for f in dataclasses.fields(in_dict)
            if f.init
        }
        return dataclasses.replace(in_dict, **changes)
    return in_dict


def _only_message(exception: BaseException, *parts: str) -> bool:
    return (
        isinstance(exception, RuntimeError)
        and len(exception.args) == 1
        and isinstance(exception.args[0], str)
        and all(p in exception.args[0] for p in parts)
    )


def is_cuda_out_of_memory(exception: BaseException) -> bool:
    return _only_message(exception, "CUDA", "out of memory")


def is_cudnn_snafu(exception: BaseException) -> bool:
    return _only_message(exception, "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED.")


def is_out_of_cpu_memory(exception: BaseException) -> bool:
    return _only_message(exception, "DefaultCPUAllocator: can't allocate memory")


def is_oom_error(exception: BaseException) -> bool:
    """True for the ``RuntimeError`` of CUDA or CPU memory running out (or cuDNN refusing)."""
    return (
        is_cuda_out_of_memory(exception)
        or is_cudnn_snafu(exception)
        or is_out_of_cpu_memory(exception)
    )


def garbage_collection_cuda() -> None:
    """Collect garbage and release CUDA's cached memory (an out-of-memory error meanwhile is
    ignored; any other error is raised)."""
    gc.collect()
    try:
        torch.cuda.empty_cache()
    except RuntimeError as exc:
        if not is_oom_error(exc):
            raise


def get_model_size_mb(model: torch.nn.Module) -> float:
    """The size of ``model.state_dict()`` as ``torch.save`` writes it, in megabytes (10**6
    bytes). Lightning 1.x's; Lightning 2 has ``ModelSummary(model).model_size`` instead."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


# -- utilities.data -----------------------------------------------------------------------------

BType = Union[torch.Tensor, str, Mapping[Any, "BType"], Iterable["BType"]]


# ``extract_batch_size``, ``warning_cache`` and ``has_len_all_ranks`` are treadle.utilities' own
# (imported above); this path adds Lightning's two small helpers.


def sized_len(dataloader: object) -> int | None:
    """``len(dataloader)``, or None when it has no length (or its length raises)."""
    try:
        return len(dataloader)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return None


def has_iterable_dataset(dataloader: object) -> bool:
    """True for a ``DataLoader`` over an ``IterableDataset``."""
    return isinstance(getattr(dataloader, "dataset", None), IterableDataset)


# -- utilities.deepspeed ------------------------------------------------------------------------


def convert_zero_checkpoint_to_fp32_state_dict(
    checkpoint_dir: Any, output_file: Any, tag: str | None = None
) -> dict[str, Any]:
    """One ordinary checkpoint file from a checkpoint directory treadle's DeepSpeed strategy
    wrote (``trainer.save_checkpoint(path)`` under ZeRO): the full fp32 weights as
    ``state_dict`` plus treadle's part (hyper-parameters, loop, callbacks), so that
    ``Module.load_from_checkpoint(output_file)`` and ``torch.load`` read it without DeepSpeed.
    Returns what it wrote."""
    # by name, as ``treadle.callbacks`` finds its plugins' classes: the core does not import
    # plugin modules statically
    deepspeed_strategy = importlib.import_module("treadle_plugins.strategies.deepspeed")
    return deepspeed_strategy.convert_zero_checkpoint(checkpoint_dir, output_file, tag)


# -- utilities.signature_utils ------------------------------------------------------------------


def is_param_in_hook_signature(
    hook_fx: Callable[..., Any], param: str, explicit: bool = False, min_args: int | None = None
) -> bool:
    """Whether the hook ``hook_fx`` takes ``param`` (Lightning's
    ``utilities.signature_utils.is_param_in_hook_signature``): named among its positional
    arguments after the first (``self`` of a method, bound or not), or, unless ``explicit``, taken
    by a ``*args``, or, given ``min_args``, it takes at least that many after the first.
    Decorators that keep ``__wrapped__`` (``functools.wraps``, ``torch.no_grad()``) are seen
    through."""
    spec = inspect.getfullargspec(inspect.unwrap(hook_fx))
    names = spec.args[1:]
    if param in names:
        return True
    if not explicit and spec.varargs is not None:
        return True
    return isinstance(min_args, int) and len(names) >= min_args
