"""The five plugin kinds, declared: what treadle and other plugins may read from each.

A run selects one accelerator, one precision and one strategy by name, detects at most one
cluster environment, and writes to its loggers. Plugins of one kind talk to plugins of another
only through the members declared here -- never by matching each other's names -- so that a
precision provided by a third party runs on every accelerator that can compute in its dtypes,
and a callback asks the strategy whether it shards parameters instead of listing strategy
names it knows of.

* The ``typing.Protocol`` classes (:class:`Accelerator`, :class:`Precision`,
  :class:`Strategy`, :class:`Environment`, :class:`Logger`) are the contract, each member
  typed and documented. They are ``runtime_checkable``, but beware that ``isinstance`` reads
  every member, properties included (an XLA accelerator's ``root_device`` starts the runtime).
* :func:`check_kind` lists what an instance lacks without evaluating properties. The plugin
  manager runs it on every selected instance when the ``Trainer`` is built.
* The ``*Base`` classes are optional: they hold the defaults (a strategy that does not shard,
  a precision in float32 everywhere, ...), so a plugin author subclasses one and declares only
  what differs. The first-party plugins use them.

The members and their meanings are listed in ``docs/plugins.md`` ("Plugin kinds"); a test
keeps the two in step.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager as ContextManager
from typing import (
    Any,
    Optional,
    Protocol,
    Union,
    runtime_checkable,
)

import torch

from treadle.hookspecs import hookimpl

__all__ = [
    "KINDS",
    "Accelerator",
    "AcceleratorBase",
    "Environment",
    "EnvironmentBase",
    "Logger",
    "LoggerBase",
    "Precision",
    "PrecisionBase",
    "Strategy",
    "StrategyBase",
    "check_kind",
    "members",
    "precision_problems",
]

# Every floating dtype torch computes in on a general-purpose device.
FLOATING_DTYPES: tuple[torch.dtype, ...] = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
)


# ---------------------------------------------------------------------------------------------
# The Protocols.
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class Precision(Protocol):
    """What a precision declares: the dtypes it computes in and the devices it runs on.

    The accelerator decides whether it can run a precision from these declarations alone
    (:func:`precision_problems`); a strategy that owns precision (``owns_precision``) reads
    ``name`` to configure itself.
    """

    #: the selection name (``Trainer(precision="bf16-mixed")``).
    name: str
    #: the dtype of the module's floating parameters (``float32`` for the mixed precisions).
    param_dtype: torch.dtype
    #: the dtype the forward's math runs in (the autocast dtype for the mixed precisions).
    compute_dtype: torch.dtype
    #: the device types (``torch.device.type``: ``"cpu"``, ``"cuda"``, ...) it can run on, or
    #: None for every device whose accelerator computes in its dtypes.
    device_types: Optional[Collection[str]]


@runtime_checkable
class Accelerator(Protocol):
    """What an accelerator declares: its devices and the dtypes it computes in."""

    #: the selection name (``Trainer(accelerator="cuda")``).
    name: str
    #: the ``torch.device.type`` of its devices (``"cpu"``, ``"cuda"``, ``"mps"``, ``"xla"``).
    device_type: str
    #: this process's device (may be a property: read only once the run starts).
    root_device: torch.device
    #: devices per node, i.e. processes per node.
    num_devices: int
    #: the dtypes its devices compute in.
    supported_dtypes: Collection[torch.dtype]

    def precision_problems(self, precision: Precision) -> list[str]:
        """Why ``precision`` cannot run here (empty when it can), asked of the precision's
        declarations (``device_types``, ``param_dtype``, ``compute_dtype``), never of its
        name. :func:`precision_problems` is the usual answer."""


@runtime_checkable
class Strategy(Protocol):
    """What a strategy declares: the ranks of this process and what it takes over."""

    #: the selection name (``Trainer(strategy="ddp")``).
    name: str
    #: processes in the run.
    world_size: int
    #: this process's rank among all processes.
    global_rank: int
    #: this process's rank on its node (the index of its device).
    local_rank: int
    #: this node's rank.
    node_rank: int
    #: True when the strategy handles precision itself (DeepSpeed's fp16/bf16 and loss
    #: scaling): the selected precision plugin then stands aside.
    owns_precision: bool
    #: True when the strategy writes the optimizer states itself (DeepSpeed's shards): the
    #: core then leaves them out of its checkpoint dict.
    saves_optimizer_states: bool
    #: True when a checkpoint saved inside a gradient-accumulation window carries the window's
    #: gradients through the strategy itself (they are not in ``param.grad``: DeepSpeed ZeRO 3).
    saves_window_gradients: bool
    #: True when no rank holds the whole parameters (ZeRO stage 3, FSDP): code that reads or
    #: copies every parameter on one rank (an EMA of the weights) cannot run.
    shards_parameters: bool

    def no_backward_sync(self, module: Any = None, enabled: bool = True) -> ContextManager[None]:
        """A context in which backward passes skip the gradient all-reduce (manual
        accumulation); a no-op for strategies with nothing to sync."""

    def launch_stage(
        self,
        trainer: Any,
        stage: str,
        model: Any,
        train_loader: Any,
        val_loader: Any,
        ckpt_path: Any,
        datamodule: Any = None,
        return_predictions: bool | None = None,
    ) -> Optional[tuple[Any]]:
        """Run ``fit``/``validate`` elsewhere (``ddp_spawn``'s workers) and return a one-tuple
        holding the stage's result, or None to run the stage in this process. Called by the
        Trainer before anything else of the stage; ``datamodule`` is passed (by keyword) only
        when the entry point got one, ``return_predictions=True`` only when ``predict`` was
        asked for its predictions (a strategy running the stage in spawned workers refuses it
        there, as Lightning's: ``ddp_spawn``)."""


@runtime_checkable
class Environment(Protocol):
    """What a cluster environment (torchrun, SLURM, ...) declares: the ranks of a launch."""

    #: the name shown in messages (``"torchrun"``, ``"slurm"``).
    name: str
    #: processes in the launch.
    world_size: int
    #: this process's rank among all processes.
    global_rank: int
    #: this process's rank on its node.
    local_rank: int
    #: this node's rank.
    node_rank: int
    #: the address of rank 0, for the process group's rendezvous.
    main_address: str
    #: the rendezvous port, or None when the launch did not fix one.
    main_port: Optional[int]
    #: True when the ranks exist already (a strategy joins them instead of starting them).
    creates_processes_externally: bool
    #: who started the ranks: ``"torchrun"``, ``"srun"``, ``"treadle"`` (treadle's own
    #: launcher) or ``"env"`` (variables set some other way).
    launcher: str


@runtime_checkable
class Logger(Protocol):
    """What a logger offers (Lightning's ``Logger`` methods that treadle calls)."""

    #: the experiment's name (a directory name for file loggers).
    name: str
    #: the run's version (``version_N`` for file loggers).
    version: Union[int, str]
    #: where the run's files go, or None for a logger that writes no files.
    log_dir: Any

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record ``metrics`` (name -> value) at ``step``."""

    def log_hyperparams(self, params: Mapping[str, Any]) -> None:
        """Record the run's hyperparameters."""

    def save(self) -> None:
        """Write what is buffered."""

    def finalize(self, status: str) -> None:
        """The run ended (``status``: ``"success"``, ...): write everything, close files."""


# Keyed by the names of ``providers.KINDS``.
KINDS: dict[str, type] = {
    "accelerator": Accelerator,
    "precision": Precision,
    "strategy": Strategy,
    "environment": Environment,
    "logger": Logger,
}


# ---------------------------------------------------------------------------------------------
# The optional base classes: the defaults.
# ---------------------------------------------------------------------------------------------


class PrecisionBase:
    """Float32 weights and math on every device; subclasses set ``name`` and what differs."""

    param_dtype: torch.dtype = torch.float32
    compute_dtype: torch.dtype = torch.float32
    device_types: Optional[Collection[str]] = None

    @property
    def precision(self) -> str:
        """Lightning's ``trainer.precision_plugin.precision``: the precision's name
        (``"16-mixed"``, ``"bf16-true"``, ...)."""
        return str(getattr(self, "name"))  # noqa: B009 (subclasses set it; check_kind checks)


class AcceleratorBase:
    """One device that computes in every floating dtype; subclasses set ``name``,
    ``device_type`` and ``root_device``.

    Its ``validate`` hook reports :meth:`precision_problems`; a subclass that implements
    ``validate`` itself should include ``super().validate(trainer)``.
    """

    num_devices: int = 1
    supported_dtypes: Collection[torch.dtype] = FLOATING_DTYPES

    def precision_problems(self, precision: Precision) -> list[str]:
        # A subclass declares name, device_type and root_device (check_kind makes sure).
        return precision_problems(typing.cast(Accelerator, self), precision)

    @hookimpl
    def validate(self, trainer: Any) -> Optional[list[str]]:
        return self.precision_problems(trainer.precision_plugin) or None


class StrategyBase:
    """One process that syncs nothing, shards nothing and leaves precision to the precision
    plugin; subclasses set ``name`` and what differs."""

    world_size: int = 1
    global_rank: int = 0
    local_rank: int = 0
    node_rank: int = 0
    owns_precision: bool = False
    saves_optimizer_states: bool = False
    saves_window_gradients: bool = False
    shards_parameters: bool = False
    _trainer: Any = None  # the Trainer this strategy runs for, set by the strategy's __init__

    @property
    def root_device(self) -> torch.device:
        """The device this process runs the module on: Lightning's ``strategy.root_device``
        (``trainer.root_device``), unless the strategy sets its own."""
        own = self.__dict__.get("_own_root_device")
        if own is not None:
            return typing.cast(torch.device, own)
        if self._trainer is None:
            raise AttributeError(
                f"{type(self).__name__}.root_device: this strategy is not bound to a Trainer "
                f"yet; read it from `trainer.strategy` once the Trainer is built."
            )
        return typing.cast(torch.device, self._trainer.root_device)

    @root_device.setter
    def root_device(self, device: torch.device) -> None:
        self.__dict__["_own_root_device"] = device

    @property
    def is_global_zero(self) -> bool:
        """Lightning's ``strategy.is_global_zero``: this process is rank 0 of the run."""
        return self.global_rank == 0

    @property
    def cluster_environment(self) -> Any:
        """Lightning's ``strategy.cluster_environment``: the run's cluster environment as
        Lightning's class (``treadle.plugins.environments``): ``TorchElasticEnvironment`` under
        treadle's ``torchrun`` environment, ``SLURMEnvironment`` under ``slurm``, and with none
        ``LightningEnvironment`` holding this strategy's world size and global rank, as
        Lightning's strategy sets them. Another environment plugin's object is itself; an
        environment object given in ``Trainer(plugins=[...])`` is that object, as Lightning's (a
        ``LightningEnvironment`` given holding the strategy's ranks; the program's own
        ``ClusterEnvironment`` told them when treadle starts the processes)."""
        from treadle.plugins import environments  # (imports torch.distributed's helpers)

        plugins = getattr(self._trainer, "_lightning_plugins", None)
        given: Any = getattr(plugins, "environment_object", None)
        env = getattr(self._trainer, "environment", None)
        if isinstance(given, environments.LightningEnvironment):
            return environments.lightning_environment(self.world_size, self.global_rank, given)
        program = plugins is not None and plugins.environment == environments.PROGRAM
        if program and not isinstance(env, environments.ProgramEnvironment):
            # treadle started the processes: as Lightning's strategy, it tells the object
            given.set_world_size(self.world_size)
            given.set_global_rank(self.global_rank)
        if given is not None:
            return given
        if env is None:
            return environments.lightning_environment(self.world_size, self.global_rank)
        kinds = {
            "torchrun": environments.TorchElasticEnvironment,
            "slurm": environments.SLURMEnvironment,
        }
        name = self._trainer.plugin_manager.reasons.get("environment", (None,))[0]
        return kinds[name]() if name in kinds else env

    def no_backward_sync(self, module: Any = None, enabled: bool = True) -> ContextManager[None]:
        return contextlib.nullcontext()

    def on_exception(self, exception: BaseException) -> None:
        """Lightning's ``Strategy.on_exception``: the stage raised ``exception`` (re-raised
        after). The Trainer calls it after the callbacks' and the DataModule's
        ``on_exception``; nothing by default."""

    def launch_stage(
        self,
        trainer: Any,
        stage: str,
        model: Any,
        train_loader: Any,
        val_loader: Any,
        ckpt_path: Any,
        datamodule: Any = None,
        return_predictions: bool | None = None,
    ) -> Optional[tuple[Any]]:
        return None


class EnvironmentBase:
    """A launch whose ranks exist already on one node; subclasses set ``name`` and the ranks."""

    node_rank: int = 0
    main_address: str = "127.0.0.1"
    main_port: Optional[int] = None
    creates_processes_externally: bool = True
    launcher: str = "env"


class LoggerBase:
    """A logger that writes no files; subclasses set ``name`` and implement ``log_metrics``."""

    version: Union[int, str] = 0
    log_dir: Any = None

    def log_hyperparams(self, params: Mapping[str, Any]) -> None:
        pass

    def save(self) -> None:
        pass

    def finalize(self, status: str) -> None:
        self.save()


_BASES: dict[str, type] = {
    "accelerator": AcceleratorBase,
    "precision": PrecisionBase,
    "strategy": StrategyBase,
    "environment": EnvironmentBase,
    "logger": LoggerBase,
}


# ---------------------------------------------------------------------------------------------
# Checks.
# ---------------------------------------------------------------------------------------------


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def precision_problems(accelerator: Accelerator, precision: Precision) -> list[str]:
    """Why ``accelerator`` cannot run ``precision``, from the precision's declarations.

    The precision's ``device_types`` must include the accelerator's ``device_type`` (when
    given), and its ``param_dtype`` and ``compute_dtype`` must be among the accelerator's
    ``supported_dtypes``.
    """
    head = f"`precision={precision.name!r}` cannot run on `accelerator={accelerator.name!r}`"
    device_types = precision.device_types
    if device_types is not None and accelerator.device_type not in device_types:
        kinds = ", ".join(repr(t) for t in device_types) or "none"
        return [
            f"{head}: it runs on devices of type {kinds} only (its `device_types`), and "
            f"this accelerator's are {accelerator.device_type!r}. Pick an accelerator of "
            f"one of those types, or another precision."
        ]
    supported = list(accelerator.supported_dtypes)
    needed = dict.fromkeys((precision.param_dtype, precision.compute_dtype))
    missing = [d for d in needed if d not in supported]
    if missing:
        return [
            f"{head}: it computes in {', '.join(map(_dtype_name, missing))}, which this "
            f"accelerator does not support. `accelerator={accelerator.name!r}` computes in "
            f"{', '.join(map(_dtype_name, supported))}; pick a precision that uses only "
            f"these."
        ]
    return []


_MEMBERS: dict[str, dict[str, tuple[Any, bool]]] = {}


def members(kind: str) -> dict[str, tuple[Any, bool]]:
    """``{member: (type, is_method)}`` of a kind's Protocol, in declared order."""
    found = _MEMBERS.get(kind)
    if found is not None:
        return found
    proto = KINDS[kind]
    hints = typing.get_type_hints(proto)
    found = {name: (hints[name], False) for name in proto.__annotations__}
    for name, value in vars(proto).items():
        if inspect.isfunction(value) and not name.startswith("_"):
            found[name] = (value, True)
    _MEMBERS[kind] = found
    return found


@functools.cache
def member_doc(kind: str, member: str) -> str:
    """The one-line doc of a Protocol member: a method's docstring's first sentence, an
    attribute's ``#:`` comment. Read only for a message (the source is parsed then)."""
    proto = KINDS[kind]
    value = vars(proto).get(member)
    if inspect.isfunction(value):
        doc = (inspect.getdoc(value) or "").split(". ")[0].split("\n\n")[0]
        return " ".join(doc.split())
    try:
        source = inspect.getsource(proto)
    except OSError:  # installed without sources: messages go without the one-line docs
        return ""
    return _attribute_doc(source, member)


def _attribute_doc(source: str, name: str) -> str:
    """The ``#:`` comment lines right above ``name: ...`` in the Protocol's source."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(f"{name}:"):
            doc: list[str] = []
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#:"):
                doc.insert(0, lines[j].strip()[2:].strip())
                j -= 1
            return " ".join(doc)
    return ""


_MISSING = object()
_CHECKED_TYPES = (bool, int, str, torch.dtype)


def _static(instance: Any, name: str) -> Any:
    """``instance.name`` without running a property or ``__getattr__`` (``_MISSING`` if none)."""
    try:
        return inspect.getattr_static(instance, name)
    except AttributeError:
        if hasattr(type(instance), "__getattr__"):  # dynamic attributes: only asking tells
            return getattr(instance, name, _MISSING)
        return _MISSING


def check_kind(kind: str, instance: Any) -> list[str]:
    """What ``instance`` lacks to be a ``kind`` (``"accelerator"``, ...): one problem per
    member, each naming the plugin and the fix. Empty when it conforms.

    Members are looked up without evaluating properties; attributes typed ``bool``, ``int``,
    ``str`` or ``torch.dtype`` are type-checked when they are plain values.
    """
    if kind not in KINDS:
        raise ValueError(f"check_kind(kind={kind!r}): kinds are {', '.join(KINDS)}.")
    cls = type(instance)
    name = _static(instance, "name")
    label = (
        f"{kind} {name!r} ({cls.__module__}.{cls.__qualname__})"
        if isinstance(name, str)
        else f"{kind} {cls.__module__}.{cls.__qualname__}"
    )
    base = _BASES[kind]
    problems = []
    for member, (hint, is_method) in members(kind).items():
        value = _static(instance, member)
        if value is _MISSING:
            doc = member_doc(kind, member).replace("``", "`").rstrip(".")
            what = (
                f"`{member}{_signature(hint)}` (a method: {doc})"
                if is_method
                else f"`{member}` ({_type_name(hint)}: {doc})"
            )
            if hasattr(base, member) and not isinstance(instance, base):
                fix = f"Declare it, or subclass `treadle.kinds.{base.__name__}` for its default"
                fix += "." if is_method else f" ({getattr(base, member)!r})."
            else:
                fix = 'Declare it (see "Plugin kinds" in docs/plugins.md).'
            problems.append(f"{label} does not declare {what}. {fix}")
        elif is_method and not callable(getattr(cls, member, value)):
            doc = member_doc(kind, member).replace("``", "`").rstrip(".")
            problems.append(
                f"{label}: `{member}` must be a method ({doc}), not {type(value).__name__}."
            )
        elif (
            not is_method
            and hint in _CHECKED_TYPES
            and not _is_descriptor(value)
            and not isinstance(value, hint)
        ):
            doc = member_doc(kind, member).replace("``", "`").rstrip(".")
            problems.append(
                f"{label}: `{member}` must be a {_type_name(hint)} ({doc}), not {value!r}."
            )
    return problems


def _is_descriptor(value: Any) -> bool:
    """A property or another computed attribute: its value is not read here."""
    return hasattr(type(value), "__get__")


def _signature(function: Any) -> str:
    params = list(inspect.signature(function).parameters.values())[1:]  # without self
    return "(" + ", ".join(p.name for p in params) + ")"


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return f"torch.{hint.__name__}" if hint.__module__.startswith("torch") else hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")
