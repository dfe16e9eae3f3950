"""Lightning's strategy classes (``lightning.pytorch.strategies``) under treadle's names.

treadle's strategies are plugins selected by name (``Trainer(strategy="ddp")``). The classes
here are what a Lightning program passes instead of a name, with Lightning 2's constructor
arguments: ``Trainer(strategy=DDPStrategy(find_unused_parameters=True,
process_group_backend="gloo", start_method="spawn"))`` runs the ``ddp_spawn`` plugin with those
options. Each is a strategy object as the Trainer takes one (a ``name`` and ``connect(trainer)``,
which makes the plugin's strategy for the run); an argument treadle cannot honour is refused
when the object is made, every such argument in one ``ConfigurationError`` that says why and
what to do in treadle (docs/migration.md).

They are also the names a program checks the running strategy with, whether it was given as
an object or chosen by name: ``isinstance(trainer.strategy, DDPStrategy)`` is true under
``ddp``, ``ddp_spawn`` and the DeepSpeed strategies (Lightning's ``DeepSpeedStrategy`` is a
``DDPStrategy``), ``ParallelStrategy`` under every strategy that runs one process per device,
``SingleDeviceStrategy`` under ``single_device``. The plugin modules are looked up in
``sys.modules``, never imported here: a strategy never imported was never made, and
``import treadle`` stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from datetime import timedelta
from typing import Any

from treadle import _lightning_paths
from treadle._shims import warn_unused_overrides
from treadle.accelerators import accelerator_name
from treadle.errors import ConfigurationError
from treadle.kinds import StrategyBase as Strategy

__all__ = [
    "DDPStrategy",
    "DeepSpeedStrategy",
    "FSDPStrategy",
    "ParallelStrategy",
    "SingleDeviceStrategy",
    "Strategy",
    "StrategyRegistry",
]

_DDP = ("treadle_plugins.strategies.ddp", "DDPStrategy")
_FSDP = ("treadle_plugins.strategies.fsdp", "FSDPStrategy")
_DEEPSPEED = ("treadle_plugins.strategies.deepspeed", "DeepSpeedStrategy")
_SINGLE = ("treadle_plugins.strategies.single_device", "SingleDeviceStrategy")
_DEFAULT_TIMEOUT = timedelta(seconds=1800)  # Lightning's default_pg_timeout


def _plugin(module: str, name: str) -> Any:
    """A class of the plugin module ``treadle_plugins.strategies.<module>``, imported now."""
    return getattr(importlib.import_module(f"treadle_plugins.strategies.{module}"), name)


def _instance_of(obj: Any, where: tuple[str, str]) -> bool:
    module = sys.modules.get(where[0])
    return module is not None and isinstance(obj, getattr(module, where[1]))


class _RunningCheck(type):
    """``isinstance(x, C)``: ``x`` is a ``C`` made by the program, or a running plugin strategy
    that Lightning's ``C`` stands for (``_runs``, less ``_not``)."""

    _runs: tuple[tuple[str, str], ...] = ()
    _not: tuple[tuple[str, str], ...] = ()

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        if cls.__module__ != __name__:  # a program's subclass of Lightning's strategy class
            warn_unused_overrides(cls, namespace, __name__, "strategy", ("connect", "name"))

    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        return any(_instance_of(obj, w) for w in cls._runs) and not any(
            _instance_of(obj, w) for w in cls._not
        )


class ParallelStrategy(Strategy, metaclass=_RunningCheck):
    """``isinstance(trainer.strategy, ParallelStrategy)``: the running strategy has one process
    per device (``ddp``, ``ddp_spawn``, ``fsdp``, ``deepspeed*``); its ``num_processes`` is the
    number of processes per node. The base of the strategy classes below, not one to pass."""

    _runs: tuple[tuple[str, str], ...] = (_DDP, _DEEPSPEED)  # FSDP's is a DDP plugin subclass
    _not: tuple[tuple[str, str], ...] = ()


def _timeout_s(timeout: Any, problems: list[str], cls: str) -> float | None:
    if timeout is None or timeout == _DEFAULT_TIMEOUT:
        return None  # the Trainer's process_group_timeout (1800 s unless given)
    if isinstance(timeout, timedelta) and timeout.total_seconds() > 0:
        return timeout.total_seconds()
    problems.append(f"{cls}(timeout={timeout!r}): a timeout is a positive datetime.timedelta.")
    return None


def _checkpoint_io(given: dict[str, Any], problems: list[str], cls: str) -> Any:
    """``checkpoint_io=``: one of Lightning's ``CheckpointIO`` objects (``treadle.plugins``)
    is kept, and used as ``Trainer(plugins=[...])`` would use it; anything else is refused.
    (``treadle.plugins`` is imported already when such an object exists.)"""
    value = given.pop("checkpoint_io", None)
    plugins = sys.modules.get("treadle.plugins")
    if value is None or (plugins is not None and isinstance(value, plugins.CheckpointIO)):
        return value
    problems.append(
        f"{cls}(checkpoint_io={value!r}): a `CheckpointIO` from `treadle.plugins` "
        f"(`lightning.pytorch.plugins`: `TorchCheckpointIO`, `AsyncCheckpointIO` or a subclass of "
        f"`CheckpointIO`) is taken; {_COMMON['checkpoint_io']}"
    )
    return None


def _refuse(cls: str, given: dict[str, Any], why: dict[str, str], problems: list[str]) -> None:
    """One problem per argument in ``given`` that is set (not None) and listed in ``why``."""
    for arg, reason in why.items():
        if given.get(arg) is not None:
            problems.append(f"{cls}({arg}={given[arg]!r}): {reason}")


_COMMON = {
    "parallel_devices": "treadle takes the devices from the Trainer; pass "
    "`Trainer(devices=N)` (or a list of device indices) instead.",
    "cluster_environment": "treadle detects the cluster environment (torchrun, SLURM with "
    "treadle-slurm) through environment plugins; drop the argument, or write an environment "
    "plugin (docs/plugins.md).",
    "checkpoint_io": "checkpoints are written by the strategy and `save_checkpoint` hooks; "
    "drop the argument, or write a plugin with a `save_checkpoint` hook (docs/plugins.md).",
    "precision_plugin": "precision is chosen by name in treadle; pass "
    "`Trainer(precision='bf16-mixed')` (or another name) instead.",
}


def _accelerator(accelerator: Any, problems: list[str], cls: str) -> str | None:
    """``accelerator=CPUAccelerator()``: its name, which the Trainer takes when it is given no
    ``accelerator`` of its own (Lightning hands a strategy's accelerator to the Trainer)."""
    if accelerator is None:
        return None
    try:
        return accelerator_name(accelerator, f"`{cls}(accelerator")
    except ConfigurationError as exc:
        problems.extend(exc.problems)
        return None


def _check_accelerator(given: Any, trainer: Any) -> None:
    runs = trainer.accelerator.name
    if given.accelerator is not None and given.accelerator != runs:
        raise ConfigurationError(
            [
                f"{type(given).__name__}(accelerator=...) is the {given.accelerator!r} "
                f"accelerator, but the Trainer runs `accelerator={runs!r}`. Give the "
                f"accelerator in one place (`Trainer(accelerator=...)`)."
            ]
        )


class DDPStrategy(ParallelStrategy):
    """Lightning's ``DDPStrategy``: ``DistributedDataParallel``, one process per device
    (treadle's ``ddp``, ``ddp_spawn``, ``ddp_fork`` and ``ddp_find_unused_parameters_true``).

    Honoured: ``process_group_backend`` (``"gloo"``, ``"nccl"``, ...; default: gloo on the
    CPU, NCCL on CUDA), ``timeout`` (the process group's; default: the Trainer's
    ``process_group_timeout``), ``start_method`` (``"popen"``: ``ddp``, the script re-run for
    each rank; ``"spawn"``: ``ddp_spawn``; ``"fork"``: ``ddp_fork``), ``ddp_comm_state``/``ddp_comm_hook``/
    ``ddp_comm_wrapper`` (registered on the DDP wrapper, as Lightning does) and every keyword
    argument of ``DistributedDataParallel`` (``find_unused_parameters``, ``static_graph``,
    ``broadcast_buffers``, ``bucket_cap_mb``, ``gradient_as_bucket_view``).
    Refused: ``accelerator``, ``parallel_devices``, ``cluster_environment``,
    ``checkpoint_io``, ``precision_plugin`` (treadle's Trainer arguments and plugins say these),
    ``model_averaging_period``, ``start_method="forkserver"``, and
    ``DistributedDataParallel`` arguments treadle sets itself (``device_ids``, ...).
    """

    _runs: tuple[tuple[str, str], ...] = (_DDP, _DEEPSPEED)  # Lightning's DeepSpeed is a DDP
    _not: tuple[tuple[str, str], ...] = (_FSDP,)

    def __init__(
        self,
        accelerator: Any = None,
        parallel_devices: Any = None,
        cluster_environment: Any = None,
        checkpoint_io: Any = None,
        precision_plugin: Any = None,
        ddp_comm_state: Any = None,
        ddp_comm_hook: Any = None,
        ddp_comm_wrapper: Any = None,
        model_averaging_period: int | None = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = _DEFAULT_TIMEOUT,
        start_method: str = "popen",
        **kwargs: Any,
    ) -> None:
        problems: list[str] = []
        self.accelerator = _accelerator(accelerator, problems, "DDPStrategy")
        given = dict(locals())
        self.checkpoint_io = _checkpoint_io(given, problems, "DDPStrategy")
        _refuse("DDPStrategy", given, _COMMON, problems)
        _refuse(
            "DDPStrategy",
            given,
            {
                "model_averaging_period": "post-local SGD model averaging is not built in "
                "treadle; drop the argument (plain DDP averages gradients every step).",
            },
            problems,
        )
        if start_method not in _START_METHODS:
            problems.append(
                f"DDPStrategy(start_method={start_method!r}): treadle starts ranks by "
                f"re-running the script ('popen', strategy='ddp'), with torch.multiprocessing's "
                f"spawn ('spawn', strategy='ddp_spawn') or fork ('fork', strategy='ddp_fork'); "
                f"'forkserver' is not built. Use start_method='popen', 'spawn' or 'fork'."
            )
        for arg in sorted(set(kwargs) & _DDP_SET_BY_TREADLE):
            problems.append(
                f"DDPStrategy({arg}=...): treadle sets this DistributedDataParallel argument "
                f"itself (from the Trainer's devices); drop it."
            )
        if ddp_comm_hook is None and (ddp_comm_state is not None or ddp_comm_wrapper is not None):
            problems.append(
                "DDPStrategy(ddp_comm_state=/ddp_comm_wrapper=...): they go with a "
                "ddp_comm_hook, and none is given; pass ddp_comm_hook= too."
            )
        self.process_group_backend = process_group_backend
        self.timeout_s = _timeout_s(timeout, problems, "DDPStrategy")
        if problems:
            raise ConfigurationError(problems)
        self.start_method = start_method
        self.ddp_kwargs = dict(kwargs)
        self.comm_hook = (ddp_comm_state, ddp_comm_hook, ddp_comm_wrapper)
        self.name = _START_METHODS.get(start_method, "ddp")

    def connect(self, trainer: Any) -> Any:
        """The ``ddp``/``ddp_spawn``/``ddp_fork`` plugin strategy for ``trainer``'s run, with these options.
        The Trainer calls it for ``Trainer(strategy=DDPStrategy(...))``."""
        Plugin = _plugin("ddp", "DDPStrategy")

        _check_accelerator(self, trainer)
        strategy = Plugin(
            trainer,
            self.name,
            spawn=self.start_method != "popen",
            find_unused_parameters=bool(self.ddp_kwargs.get("find_unused_parameters", False)),
            start_method="spawn" if self.start_method == "popen" else self.start_method,
        )
        strategy.configure(self)
        if self.checkpoint_io is not None:  # used as in plugins=[...] (treadle.plugins)
            strategy.checkpoint_io = self.checkpoint_io
        return strategy

    def __repr__(self) -> str:
        return f"DDPStrategy(start_method={self.start_method!r})"


# DDPStrategy's start methods and the treadle strategy each runs.
_START_METHODS = {"popen": "ddp", "spawn": "ddp_spawn", "fork": "ddp_fork"}
# DistributedDataParallel arguments the ddp plugin sets from the Trainer.
_DDP_SET_BY_TREADLE = {"module", "device_ids", "output_device", "process_group", "device_mesh"}


class SingleDeviceStrategy(Strategy, metaclass=_RunningCheck):
    """Lightning's ``SingleDeviceStrategy``: one process on one device (treadle's
    ``single_device``). ``device`` must be the device the Trainer's ``accelerator`` and
    ``devices`` give (``Trainer(accelerator="cuda", devices=[1])`` for ``"cuda:1"``);
    ``accelerator`` and ``precision_plugin`` are refused; ``checkpoint_io`` takes a
    ``CheckpointIO`` from ``treadle.plugins``. Its ``root_device`` is ``device``, as in
    Lightning, before it runs."""

    _runs = (_SINGLE,)

    def __init__(
        self,
        device: Any = "cpu",
        accelerator: Any = None,
        checkpoint_io: Any = None,
        precision_plugin: Any = None,
    ) -> None:
        import torch

        problems: list[str] = []
        self.accelerator = _accelerator(accelerator, problems, "SingleDeviceStrategy")
        given = dict(locals())
        self.checkpoint_io = _checkpoint_io(given, problems, "SingleDeviceStrategy")
        _refuse("SingleDeviceStrategy", given, _COMMON, problems)
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            problems.append(f"SingleDeviceStrategy(device={device!r}): {exc}")
        if problems:
            raise ConfigurationError(problems)
        self.root_device = self.device  # Lightning's: the device given, before any Trainer
        self.name = "single_device"

    def connect(self, trainer: Any) -> Any:
        """The ``single_device`` plugin strategy, after checking that ``device`` is the one
        the Trainer's accelerator runs on."""
        Plugin = _plugin("single_device", "SingleDeviceStrategy")

        _check_accelerator(self, trainer)
        ours, runs = self.device, trainer.accelerator.root_device
        if ours.type != runs.type or (ours.index is not None and ours.index != runs.index):
            raise ConfigurationError(
                [
                    f"SingleDeviceStrategy(device={str(ours)!r}): the Trainer runs on "
                    f"{str(runs)!r} (accelerator={trainer.config.accelerator!r}, "
                    f"devices={trainer.config.devices!r}). treadle takes the device from the "
                    f"Trainer: pass `Trainer(accelerator={ours.type!r}, devices="
                    f"{[ours.index] if ours.index is not None else 1!r})`."
                ]
            )
        strategy = Plugin(trainer)
        if self.checkpoint_io is not None:  # used as in plugins=[...] (treadle.plugins)
            strategy.checkpoint_io = self.checkpoint_io
        return strategy

    def __repr__(self) -> str:
        return f"SingleDeviceStrategy(device={str(self.device)!r})"


class FSDPStrategy(ParallelStrategy):
    """Lightning's ``FSDPStrategy``, run by treadle's ``fsdp`` (torch's FSDP2, ``fully_shard``;
    docs/fsdp.md).

    Honoured: ``auto_wrap_policy`` (a set of module classes, or a ``ModuleWrapPolicy``),
    ``activation_checkpointing_policy`` / ``activation_checkpointing`` (module classes),
    ``cpu_offload`` (a bool, or ``CPUOffload(offload_params=...)``), ``sharding_strategy``
    ``"FULL_SHARD"`` (reshard after forward) or ``"SHARD_GRAD_OP"`` (keep gathered),
    ``state_dict_type="sharded"`` (treadle's one checkpoint format), ``process_group_backend``,
    ``timeout``; treadle's own ``reshard_after_forward`` too. Refused: FSDP1's ``mixed_precision``
    (use ``Trainer(precision=...)``), ``state_dict_type="full"``, ``device_mesh``, hybrid sharding,
    FSDP1 keyword arguments, and the arguments treadle's Trainer says (``accelerator``, ...).
    """

    _runs = (_FSDP,)

    def __init__(
        self,
        accelerator: Any = None,
        parallel_devices: Any = None,
        cluster_environment: Any = None,
        checkpoint_io: Any = None,
        precision_plugin: Any = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = _DEFAULT_TIMEOUT,
        cpu_offload: Any = None,
        mixed_precision: Any = None,
        auto_wrap_policy: Any = None,
        activation_checkpointing: Any = None,
        activation_checkpointing_policy: Any = None,
        sharding_strategy: Any = "FULL_SHARD",
        state_dict_type: str | None = None,
        device_mesh: Any = None,
        reshard_after_forward: bool | None = None,
        **kwargs: Any,
    ) -> None:
        problems: list[str] = []
        self.accelerator = _accelerator(accelerator, problems, "FSDPStrategy")
        given = dict(locals())
        _refuse("FSDPStrategy", given, _COMMON, problems)
        _refuse(
            "FSDPStrategy",
            given,
            {
                "mixed_precision": "FSDP2's mixed precision follows the Trainer's precision in "
                "treadle; pass `Trainer(precision='bf16-mixed')` (or '16-mixed') instead.",
                "device_mesh": "treadle shards over one mesh of all ranks; hybrid/2-D meshes "
                "are not built. Drop the argument.",
            },
            problems,
        )
        if state_dict_type == "full":
            problems.append(
                "FSDPStrategy(state_dict_type='full'): treadle's FSDP saves a sharded "
                "checkpoint directory (torch.distributed.checkpoint); for one file use "
                "`trainer.save_checkpoint(path, weights_only=True)` or "
                "`treadle_plugins.strategies.fsdp.consolidate(dir, file)`. Drop the argument or "
                "pass 'sharded'."
            )
        elif state_dict_type not in (None, "sharded"):
            problems.append(
                f"FSDPStrategy(state_dict_type={state_dict_type!r}): the choices are 'full' "
                f"and 'sharded'; treadle writes 'sharded'."
            )
        sharding = getattr(sharding_strategy, "name", sharding_strategy)
        reshard = {"FULL_SHARD": True, "SHARD_GRAD_OP": False}.get(str(sharding).upper())
        if reshard is None:
            problems.append(
                f"FSDPStrategy(sharding_strategy={sharding_strategy!r}): treadle's FSDP2 "
                f"shards fully; 'FULL_SHARD' (reshard after forward) and 'SHARD_GRAD_OP' "
                f"(keep the gathered parameters until the backward) are the choices. For one "
                f"device per process without sharding use strategy='ddp'."
            )
        if reshard_after_forward is not None:
            reshard = bool(reshard_after_forward)
        for arg in sorted(kwargs):
            problems.append(
                f"FSDPStrategy({arg}=...): an FSDP1 argument; treadle runs FSDP2 "
                f"(fully_shard), which does not take it. Drop it (docs/fsdp.md lists what "
                f"is taken)."
            )
        self.auto_wrap_policy = _wrap_policy(auto_wrap_policy, "auto_wrap_policy", problems)
        checkpointing = activation_checkpointing_policy
        if checkpointing is None and activation_checkpointing is not None:
            checkpointing = (
                activation_checkpointing
                if isinstance(activation_checkpointing, (list, tuple, set))
                else [activation_checkpointing]
            )
        checkpointing = _wrap_policy(checkpointing, "activation_checkpointing_policy", problems)
        if callable(checkpointing):
            problems.append(
                "FSDPStrategy(activation_checkpointing_policy=<callable>): treadle takes a set "
                "of module classes here ({nn.TransformerEncoderLayer}); pass one."
            )
        self.activation_checkpointing = checkpointing
        self.cpu_offload = bool(getattr(cpu_offload, "offload_params", cpu_offload))
        self.reshard_after_forward = bool(reshard)
        self.process_group_backend = process_group_backend
        self.timeout_s = _timeout_s(timeout, problems, "FSDPStrategy")
        if problems:
            raise ConfigurationError(problems)
        self.name = "fsdp"

    def connect(self, trainer: Any) -> Any:
        """The ``fsdp`` plugin strategy for ``trainer``'s run, with these options."""
        Plugin = _plugin("fsdp", "FSDPStrategy")

        _check_accelerator(self, trainer)
        strategy = Plugin(
            self.auto_wrap_policy,
            reshard_after_forward=self.reshard_after_forward,
            cpu_offload=self.cpu_offload,
            activation_checkpointing=self.activation_checkpointing,
        ).connect(trainer)
        strategy.configure(self)
        return strategy

    def __repr__(self) -> str:
        return "FSDPStrategy(...)"


def _wrap_policy(policy: Any, arg: str, problems: list[str]) -> Any:
    """A set of module classes, a ``ModuleWrapPolicy`` (its classes) or a one-argument
    callable ``policy(module) -> bool``; FSDP1's ``(module, recurse, nonwrapped_numel)``
    callables are refused."""
    if policy is None or isinstance(policy, (set, frozenset, list, tuple)):
        return policy
    classes = getattr(policy, "_module_classes", None)  # torch's ModuleWrapPolicy
    if classes is not None:
        return set(classes)
    if isinstance(policy, type):
        return {policy}
    if callable(policy):
        try:
            params = inspect.signature(policy).parameters
        except (TypeError, ValueError):
            return policy
        required = [p for p in params.values() if p.default is p.empty]
        if len(required) <= 1:
            return policy
    problems.append(
        f"FSDPStrategy({arg}={policy!r}): FSDP1's wrap policies (callables of module, recurse, "
        f"nonwrapped_numel) do not apply to FSDP2; pass a set of module classes "
        f"({{nn.TransformerEncoderLayer}}) or a callable policy(module) -> bool."
    )
    return None


# DeepSpeedStrategy arguments that go into DeepSpeed's zero_optimization section, when given
# with a value other than Lightning's default (treadle's DeepSpeed config keeps DeepSpeed's own
# defaults otherwise).
_ZERO_KEYS = {
    "contiguous_gradients": True,
    "overlap_comm": True,
    "allgather_partitions": True,
    "reduce_scatter": True,
    "allgather_bucket_size": 200_000_000,
    "reduce_bucket_size": 200_000_000,
    "sub_group_size": 1_000_000_000_000,
}
# name -> Lightning's default, for the arguments refused when changed
_DEEPSPEED_OTHER = {
    "remote_device": None,
    "offload_params_device": "cpu",
    "nvme_path": "/local_nvme",
    "params_buffer_count": 5,
    "params_buffer_size": 100_000_000,
    "max_in_cpu": 1_000_000_000,
    "offload_optimizer_device": "cpu",
    "optimizer_buffer_count": 4,
    "block_size": 1_048_576,
    "queue_depth": 8,
    "single_submit": False,
    "overlap_events": True,
    "thread_count": 1,
    "pin_memory": False,
    "zero_allow_untested_optimizer": True,
    "logging_level": 30,
    "loss_scale": 0,
    "initial_scale_power": 16,
    "loss_scale_window": 1000,
    "hysteresis": 2,
    "min_loss_scale": 1,
    "partition_activations": False,
    "cpu_checkpointing": False,
    "contiguous_memory_optimization": False,
    "synchronize_checkpoint_boundary": False,
    "load_full_weights": False,
    "exclude_frozen_parameters": False,
}
# (stage, offload_optimizer, offload_parameters) -> treadle's strategy name
_DEEPSPEED_NAMES = {
    (1, False, False): "deepspeed_stage_1",
    (2, False, False): "deepspeed_stage_2",
    (3, False, False): "deepspeed_stage_3",
    (2, True, False): "deepspeed_stage_2_offload",
    (3, True, True): "deepspeed_stage_3_offload",
}


def _deepspeed_config_file(config: Any, problems: list[str]) -> Any:
    """Lightning's ``DeepSpeedStrategy(config=path)``: the file's JSON, read when the object is
    made; with no ``config``, the file named by ``PL_DEEPSPEED_CONFIG_PATH`` if set. A path that
    is not a file is a problem (Lightning's ``MisconfigurationException``)."""
    import json
    import os

    if config is None and "PL_DEEPSPEED_CONFIG_PATH" in os.environ:
        config = os.environ["PL_DEEPSPEED_CONFIG_PATH"]
    if not isinstance(config, (str, os.PathLike)):
        return config
    if not os.path.isfile(config):
        problems.append(
            f"DeepSpeedStrategy(config={str(config)!r}): You passed in a path to a DeepSpeed "
            f"config but the path does not exist: {config}. Give the path of DeepSpeed's JSON "
            f"config file, or the config as a dict."
        )
        return None
    with open(config) as f:
        return json.load(f)


class DeepSpeedStrategy(DDPStrategy):
    """Lightning's ``DeepSpeedStrategy``, run by treadle's ``deepspeed*`` strategies
    (docs/deepspeed.md).

    Honoured: ``stage`` with ``offload_optimizer``/``offload_parameters`` (the combinations
    treadle has names for: ``deepspeed_stage_1``, ``_2``, ``_3``, ``deepspeed_stage_2_offload``
    and ``deepspeed_stage_3_offload``), ``zero_optimization=False`` (ZeRO stage 0), ``config``
    (DeepSpeed's own dict or file, used as given: the other ZeRO arguments must then stay at
    their defaults, as Lightning ignores them), the ``zero_optimization`` section's arguments
    (``allgather_bucket_size``, ``reduce_bucket_size``, ``overlap_comm``, ...) when changed,
    ``logging_batch_size_per_gpu`` (``train_micro_batch_size_per_gpu``) and ``timeout``.
    ``config`` may be a path to DeepSpeed's JSON file, read when the object is made (a missing
    file is refused then, as Lightning refuses it); with no ``config``, the file named by the
    ``PL_DEEPSPEED_CONFIG_PATH`` environment variable, as in Lightning. Every other argument
    changed from Lightning's default is refused with the config key that says it
    (``config={...}``).
    """

    _runs = (_DEEPSPEED,)
    _not = ()

    def __init__(  # noqa: C901 (one check per Lightning argument)
        self,
        accelerator: Any = None,
        zero_optimization: bool = True,
        stage: int = 2,
        offload_optimizer: bool = False,
        offload_parameters: bool = False,
        logging_batch_size_per_gpu: str | int = "auto",
        config: Any = None,
        parallel_devices: Any = None,
        cluster_environment: Any = None,
        precision_plugin: Any = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = _DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        problems: list[str] = []
        self.accelerator = _accelerator(accelerator, problems, "DeepSpeedStrategy")
        _refuse("DeepSpeedStrategy", dict(locals()), _COMMON, problems)
        if process_group_backend is not None:
            problems.append(
                f"DeepSpeedStrategy(process_group_backend={process_group_backend!r}): treadle's "
                f"DeepSpeed strategies make the group with gloo on the CPU and NCCL on CUDA; "
                f"drop the argument."
            )
        zero: dict[str, Any] = {}
        for arg, value in kwargs.items():
            if arg in _ZERO_KEYS:
                if value != _ZERO_KEYS[arg]:
                    zero[arg] = value
            elif arg in _DEEPSPEED_OTHER:
                if value != _DEEPSPEED_OTHER[arg]:
                    problems.append(
                        f"DeepSpeedStrategy({arg}={value!r}): treadle does not translate this "
                        f"argument; write DeepSpeed's own key for it in "
                        f"`DeepSpeedStrategy(config={{...}})` (DeepSpeed's config reference)."
                    )
            else:
                problems.append(
                    f"DeepSpeedStrategy({arg}=...): not an argument of Lightning's "
                    f"DeepSpeedStrategy; check the spelling."
                )
        self.timeout_s = _timeout_s(timeout, problems, "DeepSpeedStrategy")
        self.process_group_backend = None
        self.config: dict[str, Any] | Any = None
        self.stage: int | None = None
        changed = [
            f"{arg}={value!r}"
            for arg, value, default in (
                ("zero_optimization", zero_optimization, True),
                ("stage", stage, 2),
                ("offload_optimizer", offload_optimizer, False),
                ("offload_parameters", offload_parameters, False),
                ("logging_batch_size_per_gpu", logging_batch_size_per_gpu, "auto"),
            )
            if value != default
        ] + [f"{k}={v!r}" for k, v in zero.items()]
        config = _deepspeed_config_file(config, problems)
        if config is not None:
            self.name = "deepspeed"  # the stage comes from the config (else 2)
            self.config = config
            if changed:
                problems.append(
                    f"DeepSpeedStrategy(config=..., {', '.join(changed)}): with a config, "
                    f"Lightning takes the ZeRO settings from the config and these arguments "
                    f"would do nothing; put them in the config."
                )
        else:
            name = "deepspeed"
            if not zero_optimization:
                self.stage = 0
            else:
                found = _DEEPSPEED_NAMES.get((stage, offload_optimizer, offload_parameters))
                if found is None:
                    problems.append(
                        f"DeepSpeedStrategy(stage={stage!r}, offload_optimizer="
                        f"{offload_optimizer!r}, offload_parameters={offload_parameters!r}): "
                        f"treadle runs stages 1-3, optimizer offload with stage 2, and "
                        f"optimizer with parameter offload with stage 3; for another mix write "
                        f"DeepSpeed's zero_optimization section in `config={{...}}`."
                    )
                else:
                    name = found
            self.name = name
            extra: dict[str, Any] = {}
            if zero:
                extra["zero_optimization"] = zero
            if logging_batch_size_per_gpu != "auto":
                extra["train_micro_batch_size_per_gpu"] = logging_batch_size_per_gpu
            self.config = extra or None
        if problems:
            raise ConfigurationError(problems)

    def connect(self, trainer: Any) -> Any:
        """The ``deepspeed*`` plugin strategy for ``trainer``'s run, with this config."""
        Plugin = _plugin("deepspeed", "DeepSpeedStrategy")
        DeepSpeedConfig = _plugin("deepspeed", "DeepSpeedConfig")

        _check_accelerator(self, trainer)
        strategy = Plugin(trainer, self.name)
        if self.config is not None or self.stage is not None:
            if strategy.user is not None:
                raise ConfigurationError(
                    [
                        f"deepspeed: `{strategy.user!r}` is in `plugins=[...]` and "
                        f"`strategy=DeepSpeedStrategy(...)` has settings of its own; give "
                        f"the config in one place (DeepSpeedStrategy(config=...))."
                    ]
                )
            strategy.user = DeepSpeedConfig(self.config, stage=self.stage)
        strategy.timeout_s = self.timeout_s
        return strategy

    def __repr__(self) -> str:
        return f"DeepSpeedStrategy({self.name!r})"


def _deepspeed_from_config_path(name: str) -> DeepSpeedStrategy | None:
    """``Trainer(strategy=name)`` while ``PL_DEEPSPEED_CONFIG_PATH`` is set: for Lightning's
    DeepSpeed names (``"deepspeed"`` and the stage names) the ``DeepSpeedStrategy`` that takes
    the file's config, as Lightning's registry makes one that reads it (the file's ZeRO settings
    replace the name's stage and offload); None for any other name."""
    if name == "deepspeed" or name in _DEEPSPEED_NAMES.values():
        return DeepSpeedStrategy()
    return None


class _StrategyRegistry(dict):
    """Lightning's ``StrategyRegistry``: each strategy name mapped to a dict with its
    ``strategy`` class, ``init_params``, ``description`` and ``strategy_name``.

    The names Lightning 2.6.6 registers are here with Lightning's classes and parameters
    (``StrategyRegistry["deepspeed_stage_2"]["init_params"] == {"stage": 2}``), as treadle runs
    them by name. ``register(name, strategy, description=None, override=False, **init_params)``
    adds a name of your own (or, with ``override=True``, changes one); ``Trainer(strategy=name)``
    then makes ``strategy(**init_params)`` and runs that object, as
    ``Trainer(strategy=DDPStrategy(checkpoint_io=...))`` would. ``get(name)`` makes the object;
    ``remove(name)`` and ``available_strategies()`` are Lightning's too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._builtin: dict[str, dict[str, Any]] = {}

    def register(
        self,
        name: str,
        strategy: Any = None,
        description: str | None = None,
        override: bool = False,
        **init_params: Any,
    ) -> Any:
        """Register ``strategy`` (a class or any callable making a strategy object) under
        ``name``; without ``strategy``, a decorator for the class."""
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, found {name}")
        if name in self and not override:
            raise ValueError(
                f"'{name}' is already present in the registry. HINT: Use `override=True`."
            )
        data: dict[str, Any] = {
            "description": description if description is not None else "",
            "init_params": init_params,
        }

        def do_register(strategy: Any) -> Any:
            data["strategy"] = strategy
            data["strategy_name"] = name
            self[name] = data
            return strategy

        return do_register(strategy) if strategy is not None else do_register

    def get(self, name: str, default: Any = None) -> Any:
        """The strategy object registered as ``name``: ``strategy(**init_params)``."""
        if name in self:
            data = self[name]
            return data["strategy"](**data["init_params"])
        if default is not None:
            return default
        available = ", ".join(sorted(self)) or "none"
        raise KeyError(f"'{name}' not found in registry. Available names: {available}")

    def remove(self, name: str) -> None:
        """Removes the strategy registered as ``name``."""
        self.pop(name)

    def available_strategies(self) -> list[str]:
        """The registered names."""
        return list(self)

    def registered_object(self, name: str) -> Any:
        """For the Trainer: the strategy object to run for ``strategy=name`` when ``name`` was
        registered (or overridden) by the program, else None (treadle runs its own strategy of
        that name)."""
        data = dict.get(self, name)
        if data is None or data is self._builtin.get(name):
            return None
        return self.get(name)

    def __str__(self) -> str:
        return "Registered Strategies: {}".format(", ".join(self))


def _register_builtin(registry: _StrategyRegistry) -> None:
    """The names Lightning 2.6.6 registers that treadle runs, with Lightning's parameters."""
    entries: list[tuple[str, Any, str, dict[str, Any]]] = []  # (in Lightning's order)
    ddp = (("ddp", "popen"), ("ddp_spawn", "spawn"), ("ddp_fork", "fork"), ("ddp_notebook", "fork"))
    for name, start in ddp:
        entries.append(
            (
                name,
                DDPStrategy,
                f"DDP strategy with `start_method` '{start}'",
                {"start_method": start},
            )
        )
    for name, start in ddp:
        for flag in (False, True):
            entries.append(
                (
                    f"{name}_find_unused_parameters_{str(flag).lower()}",
                    DDPStrategy,
                    f"DDP strategy with `find_unused_parameters` as {flag} and "
                    f"`start_method` '{start}'",
                    {"find_unused_parameters": flag, "start_method": start},
                )
            )
    offload3 = {"stage": 3, "offload_optimizer": True, "offload_parameters": True}
    entries += [
        ("deepspeed", DeepSpeedStrategy, "Default DeepSpeed Strategy", {}),
        (
            "deepspeed_stage_1",
            DeepSpeedStrategy,
            "DeepSpeed with ZeRO Stage 1 enabled",
            {"stage": 1},
        ),
        (
            "deepspeed_stage_2",
            DeepSpeedStrategy,
            "DeepSpeed with ZeRO Stage 2 enabled",
            {"stage": 2},
        ),
        (
            "deepspeed_stage_2_offload",
            DeepSpeedStrategy,
            "DeepSpeed ZeRO Stage 2 and CPU Offload",
            {"stage": 2, "offload_optimizer": True},
        ),
        ("deepspeed_stage_3", DeepSpeedStrategy, "DeepSpeed ZeRO Stage 3", {"stage": 3}),
        (
            "deepspeed_stage_3_offload",
            DeepSpeedStrategy,
            "DeepSpeed ZeRO Stage 3 and CPU Offload",
            offload3,
        ),
        ("fsdp", FSDPStrategy, "Fully Sharded Data Parallel (FSDP) training", {}),
        (
            "fsdp_cpu_offload",
            FSDPStrategy,
            "Fully Sharded Data Parallel (FSDP) training with Full Sharding and CPU Offloading",
            {"cpu_offload": True},
        ),
        ("single_device", SingleDeviceStrategy, "SingleDeviceStrategy", {}),
    ]
    for name, cls, description, params in entries:
        registry.register(name, cls, description=description, **params)
        if name != "fsdp_cpu_offload":  # no treadle name: run as FSDPStrategy(cpu_offload=True)
            registry._builtin[name] = registry[name]


StrategyRegistry = _StrategyRegistry()
_register_builtin(StrategyRegistry)


_lightning_paths.register(__name__)
