"""``deepspeed``, ``deepspeed_stage_1/2/3`` and the offload variants: DeepSpeed's engine steps.

Selected by name (``Trainer(strategy="deepspeed_stage_2", devices=2)``); ``deepspeed`` itself is
imported only when one of these names is selected and the run starts. What happens, hook by hook:

* ``validate``: every refusal, before anything starts (see ``docs/deepspeed.md``): an optimizer
  whose ``step`` requires a closure (LBFGS), several or no optimizers, clipping by value, a
  precision DeepSpeed cannot run here (fp16 on the CPU), a ``Module`` override of ``backward``
  or ``optimizer_step`` (the engine owns both), and a user config that contradicts the Trainer.
* ``setup_environment``: started as ``python train.py`` with ``devices=N`` it re-runs the script
  for the other ranks (the DDP launcher, ``_launcher.py``); under ``torchrun`` it joins. It
  creates the process group itself (gloo on CPU, NCCL on CUDA, ``Trainer(process_group_timeout=)``),
  marks DeepSpeed's shared-memory op incompatible (it would be JIT-compiled for 40-110 s and
  training never uses it; ``TREADLE_DEEPSPEED_SHM_OP=1`` keeps it), then
  ``deepspeed.init_distributed``.
* ``setup_module``: ``deepspeed.initialize`` with the user's optimizer and a config built from the
  Trainer (``build_config``). The engine wraps ``_StepModule``, whose forward runs
  ``training_step``/``validation_step``/``test_step``/``predict_step``: every step goes through
  ``engine.forward`` (autocast under ``bf16-mixed``, ZeRO-3 parameter gathering, the engine's
  backward hooks).
* ``setup_dataloader``: the DDP strategy's samplers: padded for training, each sample once for
  validation, test and predict -- except under ZeRO-3, whose forward is a collective: padded
  there too.
* ``backward`` -> ``engine.backward``; ``optimizer_step`` -> the closure, then ``engine.step()``;
  ``clip_gradients`` -> nothing to do (DeepSpeed clips inside ``step()`` at the configured value);
  ``optimizer_zero_grad`` -> nothing (``engine.step()`` zeroes). Manual optimization reaches the
  same hooks through ``manual_backward`` and ``opt.step()``.
* Accumulation: treadle's loop decides when to step. The config says
  ``"managed_gradient_accumulation": False`` (every ``engine.step()`` is a boundary) and the core
  already divides the loss by ``accumulate_grad_batches``, so ``engine.backward`` is told not to
  divide again (``scale_wrt_gas=False``).
* Precision: the strategy owns it (``owns_precision = True``: the precision plugin stands aside)
  and writes it into the config: ``bf16-true`` -> ``"bf16"``, ``bf16-mixed`` ->
  ``"torch_autocast"``, ``16-mixed`` -> ``"fp16"`` (CUDA only).
* Checkpoints: ``trainer.save_checkpoint(path)`` makes ``path`` a directory: DeepSpeed's own files
  (``engine.save_checkpoint``, every rank its shard) and ``treadle.ckpt`` (loop, RNG, schedulers,
  callbacks; written last, by rank zero). ``fit(ckpt_path=path)`` loads both. A save inside an
  accumulation window also keeps the window's gradients: ZeRO 3 in ``treadle.ckpt``, ZeRO 2
  in ``window_grads.rank{r}.pt`` (each rank its partition); see ``saves_window_gradients``.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

import treadle
from treadle import ConfigurationError, Module, Provider, hookimpl
from treadle._rank_zero_bridge import set_rank as set_lightning_utilities_rank
from treadle.kinds import StrategyBase
from treadle.utilities import requires_closure, step_args

INSTALL_HINT = "pip install treadle[deepspeed]"
MIN_VERSION = (0, 19, 8)  # managed_gradient_accumulation=False and backward(scale_wrt_gas=False)
CHECKPOINT_TAG = "checkpoint"  # DeepSpeed's sub-directory inside a checkpoint directory
TREADLE_FILE = "treadle.ckpt"  # treadle's part of a checkpoint directory, written last
WINDOW_FILE = "window_grads.rank{rank}.pt"  # ZeRO 2: a rank's gradients of an unfinished window

# name -> (ZeRO stage or None for "from the config, else 2", offload)
NAMES = {
    "deepspeed": (None, False),
    "deepspeed_stage_1": (1, False),
    "deepspeed_stage_2": (2, False),
    "deepspeed_stage_3": (3, False),
    "deepspeed_stage_2_offload": (2, True),
    "deepspeed_stage_3_offload": (3, True),
}
DEFAULT_STAGE = 2

# Trainer precision -> the config sections DeepSpeed needs (absent section: disabled).
PRECISION_SECTIONS = {
    "32-true": {},
    "bf16-true": {"bf16": {"enabled": True}},
    "bf16-mixed": {"torch_autocast": {"enabled": True, "dtype": "bfloat16"}},
    "16-mixed": {"fp16": {"enabled": True}},
}
_PRECISION_KEYS = ("fp16", "bf16", "torch_autocast", "amp")


def _deepspeed_available() -> bool:
    return treadle.module_available("deepspeed")


def _raw(optimizer: Any) -> Any:
    return getattr(optimizer, "optimizer", optimizer)


def _stage3_grad_partitions(optimizer: Any) -> dict[int, torch.Tensor]:
    """ZeRO 3's gradient partition of each parameter on this rank, by ``ds_id`` (views into
    its flat buffer, where each backward's reduced partition is copied or added; DeepSpeed
    0.19.8 keeps the mapping private)."""
    return optimizer._DeepSpeedZeroOptimizer_Stage3__param_id_to_grad_partition


def _cpu_copies(tensors: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
    return None if tensors is None else [t.detach().cpu().clone() for t in tensors]


# ---------------------------------------------------------------------------------------------
# The user's side: a config dict or file, passed as a plugin.
# ---------------------------------------------------------------------------------------------


class DeepSpeedConfig:
    """A DeepSpeed config for the ``deepspeed*`` strategies, in ``Trainer(plugins=[...])``.

    :param config: a dict, or the path of a JSON (or YAML) file, in DeepSpeed's own format.
        The Trainer's arguments fill in what it leaves out (precision, accumulation, clipping);
        a key that contradicts a Trainer argument is a ``ConfigurationError`` naming both.
    :param stage: the ZeRO stage (0-3) for ``strategy="deepspeed"``, instead of
        ``config["zero_optimization"]["stage"]``.
    """

    def __init__(
        self, config: None | dict[str, Any] | str | os.PathLike = None, *, stage: int | None = None
    ) -> None:
        if config is None:
            self.config, self.source = {}, "DeepSpeedConfig()"
        elif isinstance(config, dict):
            self.config = json.loads(json.dumps(config))  # a copy, and JSON-only values
            self.source = "DeepSpeedConfig(config={...})"
        elif isinstance(config, (str, os.PathLike)):
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"DeepSpeedConfig(config={str(config)!r}): no such file.")
            text = path.read_text()
            if path.suffix in (".yaml", ".yml"):
                import yaml

                self.config = yaml.safe_load(text) or {}
            else:
                self.config = json.loads(text)
            self.source = f"DeepSpeedConfig(config={str(config)!r})"
        else:
            raise TypeError(
                f"DeepSpeedConfig(config=...) takes a dict or a path, got {type(config).__name__}."
            )
        if not isinstance(self.config, dict):
            raise TypeError(f"{self.source}: a DeepSpeed config is a JSON object (a dict).")
        if stage is not None and stage not in (0, 1, 2, 3):
            raise ValueError(f"DeepSpeedConfig(stage={stage!r}): ZeRO stages are 0, 1, 2 and 3.")
        file_stage = (self.config.get("zero_optimization") or {}).get("stage")
        if stage is not None and file_stage is not None and file_stage != stage:
            raise ValueError(
                f"DeepSpeedConfig(stage={stage}) contradicts the config's "
                f"zero_optimization.stage={file_stage}; give one of them."
            )
        self.stage = stage

    def __repr__(self) -> str:
        return self.source

    @hookimpl
    def validate(self, trainer):
        if not isinstance(trainer.strategy, DeepSpeedStrategy):
            return [
                f"`{self.source}` is in `plugins=[...]` but `strategy="
                f"{trainer.strategy.name!r}` does not use it; select a DeepSpeed strategy "
                f"({', '.join(repr(n) for n in NAMES)}) or remove it."
            ]
        return None


# ---------------------------------------------------------------------------------------------
# The module DeepSpeed's engine wraps.
# ---------------------------------------------------------------------------------------------


class _StepModule(nn.Module):
    """``engine(step, *args)`` runs ``step(*args)`` inside ``engine.forward``.

    ``step`` is the user's ``training_step``, ``validation_step``, ``test_step`` or
    ``predict_step``; the user's Module is the
    submodule ``module`` (so DeepSpeed's checkpoint files prefix its keys with ``module.``).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, step, *args):
        return step(*args)


# ---------------------------------------------------------------------------------------------
# The strategy.
# ---------------------------------------------------------------------------------------------


class DeepSpeedStrategy(StrategyBase):
    """One instance per run; its ``@hookimpl`` methods take part only when it is selected."""

    owns_precision = True  # the precision plugin stands aside; DeepSpeed's config does it
    saves_optimizer_states = True  # in DeepSpeed's checkpoint files, not the core's dict

    def __init__(self, trainer, name: str = "deepspeed") -> None:
        self._trainer = trainer
        self.name = name
        self.stage_from_name, self.offload = NAMES[name]
        self.user = _find_user_config(trainer.config.plugins)
        self._trainer_precision = trainer.config.precision
        self.num_processes = _devices(trainer) * trainer.config.num_nodes
        # Join ranks that exist already (torchrun, SLURM, our own launcher's children).
        self.environment = env = getattr(trainer, "environment", None)
        self.joined = bool(env is not None and env.creates_processes_externally)
        if self.joined:
            self.world_size, self.global_rank = env.world_size, env.global_rank
            self.local_rank, self.node_rank = env.local_rank, env.node_rank
        else:  # this process launches the others and is rank 0
            self.world_size, self.global_rank, self.local_rank, self.node_rank = (
                self.num_processes,
                0,
                0,
                0,
            )
        # Lightning's DeepSpeedStrategy(timeout=...) (treadle.strategies); None: the Trainer's
        self.timeout_s: float | None = None
        self._built_config: dict[str, Any] | None = None  # what deepspeed.initialize got
        self.engine: Any = None
        self._engine_optimizer = None
        self._failed = False
        self._stage = "fit"
        self._backwards_since_step = 0
        # A resumed accumulation window's gradients, added at its first backward.
        self._window_grads: dict[str, torch.Tensor] | None = None
        # ZeRO 2: this rank's accumulated partition gradients of a window (to write at a save
        # inside one; resumed: to add at its first backward), one list per parameter group.
        self._window_partitions: dict[str, Any] | None = None
        self._saving_partitions: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<treadle strategy {self.name!r}>"

    @property
    def num_nodes(self) -> int:
        return int(self._trainer.config.num_nodes)

    @property
    def config(self) -> dict[str, Any] | None:
        """Lightning's ``strategy.config``: the config ``deepspeed.initialize`` got once the
        engine is made; before that, your config as given (``DeepSpeedStrategy(config=...)``,
        the file ``PL_DEEPSPEED_CONFIG_PATH`` names, a ``DeepSpeedConfig``), else None."""
        if self._built_config is not None:
            return self._built_config
        return self.user.config if self.user is not None else None

    @property
    def parallel_devices(self) -> list[torch.device]:
        """Lightning's ``strategy.parallel_devices``: this node's devices, one per process
        (``[torch.device("cpu")] * devices`` on the CPU, ``cuda:i`` for each GPU index)."""
        from treadle_plugins.strategies.ddp import node_devices

        return node_devices(self._trainer)

    @property
    def process_group_backend(self) -> str:
        """Lightning's ``strategy.process_group_backend``: NCCL on CUDA, gloo elsewhere."""
        return "nccl" if self._trainer.accelerator.device_type == "cuda" else "gloo"

    # -- the ZeRO stage and the config --------------------------------------------------------

    @property
    def shards_parameters(self) -> bool:
        """ZeRO stage 3 partitions the parameters across ranks (offload or not, whether the
        stage comes from the name or from a ``DeepSpeedConfig``)."""
        return self.zero_stage == 3

    @property
    def zero_stage(self) -> int:
        if self.stage_from_name is not None:
            return self.stage_from_name
        if self.user is not None:
            if self.user.stage is not None:
                return self.user.stage
            stage = (self.user.config.get("zero_optimization") or {}).get("stage")
            if stage is not None:
                return int(stage)
        return DEFAULT_STAGE

    @property
    def saves_window_gradients(self) -> bool:  # type: ignore[override]
        """Whether a checkpoint saved inside an accumulation window carries the window's
        gradients. ZeRO 3 without optimizer offload: DeepSpeed's public ``safe_get_full_grad``
        reads them mid-window (see :meth:`_add_window_grads` for how they are put back).
        ZeRO 2, with or without optimizer offload, and ZeRO 3 with optimizer offload (whose
        ``safe_get_full_grad`` reads a copy written only at the window's end): each rank's
        gradients of its partitions, read from the optimizer's buffers (see
        :meth:`_window_partition_grads`) under ``32-true``, ``bf16-mixed`` and ``bf16-true``
        when they accumulate in the parameters' dtype (DeepSpeed's default). ZeRO 1 keeps them
        in ``param.grad``, which the core saves. Not ``16-mixed`` (loss-scaled fp16), nor a
        ``data_types.grad_accum_dtype`` other than the parameters' dtype: the core warns."""
        if self.zero_stage == 3 and not self._offloads_optimizer:
            return True
        return self._rank_window

    @property
    def _rank_window(self) -> bool:
        """ZeRO 2 (window gradients in ``all_grad_tensors``, with offload in
        ``accumulated_grads_in_cpu``) or ZeRO 3 with optimizer offload (in the optimizer's
        per-parameter gradient partitions): each rank saves its own. Those buffers hold the
        window in the parameters' dtype (float32, or bfloat16 under ``bf16-true``) and each
        backward adds to them, so the resumed window's ``saved + rest`` is the uninterrupted
        ``(first + second) + rest``, bit for bit (one addition, commutative). A float32
        ``grad_accum_dtype`` for bfloat16 parameters moves ZeRO 2's window into another buffer
        (``averaged_gradients``' compact partition), not read here."""
        parameter_dtype = {"32-true": "fp32", "bf16-mixed": "fp32", "bf16-true": "bf16"}
        if self._trainer_precision not in parameter_dtype:
            return False
        accumulate = self._grad_accum_dtype
        if accumulate is not None and accumulate != parameter_dtype[self._trainer_precision]:
            return False
        return self.zero_stage == 2 or (self.zero_stage == 3 and self._offloads_optimizer)

    @property
    def _grad_accum_dtype(self) -> str | None:
        """The config's ``data_types.grad_accum_dtype`` as "fp32", "bf16", ... (None: unset,
        DeepSpeed accumulates in the parameters' dtype)."""
        configured = None
        if self.user is not None:
            configured = (self.user.config.get("data_types") or {}).get("grad_accum_dtype")
        if configured is None:
            return None
        from deepspeed.runtime.config import DtypeEnum

        return DtypeEnum(configured).name

    @property
    def _offloads_optimizer(self) -> bool:
        if self.offload:
            return True
        if self.user is None:
            return False
        section = (self.user.config.get("zero_optimization") or {}).get("offload_optimizer")
        return bool(section) and (section.get("device") or "none") != "none"

    def build_config(self, trainer) -> dict[str, Any]:
        """The config ``deepspeed.initialize`` gets: the user's, completed from the Trainer."""
        cfg = trainer.config
        config = json.loads(json.dumps(self.user.config)) if self.user is not None else {}
        zero = dict(config.get("zero_optimization") or {})
        zero["stage"] = self.zero_stage
        if self.offload:
            zero.setdefault("offload_optimizer", {"device": "cpu"})
            if self.zero_stage == 3:
                zero.setdefault("offload_param", {"device": "cpu"})
            # A torch optimizer with offload (DeepSpeedCPUAdam would be JIT-compiled for minutes).
            config.setdefault("zero_force_ds_cpu_optimizer", False)
        config["zero_optimization"] = zero
        if "train_batch_size" not in config:
            config.setdefault("train_micro_batch_size_per_gpu", 1)
        config["gradient_accumulation_steps"] = cfg.accumulate_grad_batches
        clip = (
            cfg.gradient_clip_val
            if cfg.gradient_clip_val is not None
            else config.get("gradient_clipping", 0.0)
        )
        config["gradient_clipping"] = float(clip or 0.0)  # a missing key means: clip at 1.0
        config["managed_gradient_accumulation"] = False  # treadle's loop decides when to step
        config.setdefault("zero_allow_untested_optimizer", True)
        config.setdefault("steps_per_print", 2**62)
        config.update(PRECISION_SECTIONS.get(trainer.config.precision, {}))
        return config

    # -- validation ----------------------------------------------------------------------------

    @hookimpl
    def setup(self, stage):
        self._stage = stage

    @hookimpl
    def validate(self, trainer, module):
        problems: list[str] = []
        cfg = trainer.config
        version = _installed_version()
        if version is not None and version < MIN_VERSION:
            problems.append(
                f"`strategy={self.name!r}` needs deepspeed>={'.'.join(map(str, MIN_VERSION))} "
                f"(managed_gradient_accumulation=False); deepspeed "
                f"{'.'.join(map(str, version))} is installed. Run: {INSTALL_HINT}"
            )
        if self._stage == "fit":
            problems += self._optimizer_problems(trainer, module)
        if cfg.gradient_clip_algorithm == "value":
            problems.append(
                "`Trainer(gradient_clip_algorithm='value')`: DeepSpeed clips gradients by norm "
                "only (inside `engine.step()`). Use `gradient_clip_algorithm='norm'` (or leave "
                "it out), or a strategy other than DeepSpeed to clip by value."
            )
        problems += self._precision_problems(trainer)
        problems += self._override_problems(module)
        problems += self._config_problems(trainer, module)
        if self.joined:
            if self.world_size != self.num_processes and cfg.devices != "auto":
                problems.append(
                    f"`Trainer(devices={cfg.devices!r}, num_nodes={cfg.num_nodes})` asks for "
                    f"{self.num_processes} processes, but the {self.environment.name} launch "
                    f"has {self.world_size} (WORLD_SIZE). Set devices to the processes per node "
                    f"and num_nodes to the number of nodes, or devices='auto'."
                )
        elif cfg.num_nodes > 1:
            problems.append(
                f"`Trainer(num_nodes={cfg.num_nodes})`: treadle starts the processes of one "
                f"machine only; start every node with torchrun (`torchrun --nnodes "
                f"{cfg.num_nodes} --nproc_per_node N ...`) or SLURM's srun."
            )
        elif self.world_size > 1:
            try:
                _launcher()._script_command()  # python -c / a REPL cannot be re-run
            except RuntimeError:
                problems.append(
                    f"`strategy={self.name!r}` with {self.world_size} processes re-runs the "
                    f"script for the other ranks, but this process was not started from a "
                    f"script file. Run a script (`python train.py`), or launch with torchrun."
                )
        return problems

    def _optimizer_problems(self, trainer, module) -> list[str]:
        problems = []
        opts = trainer.optimizers
        if not opts:
            problems.append(
                f"`strategy={self.name!r}`: `configure_optimizers()` returned no optimizer; "
                f"DeepSpeed's engine steps exactly one. Return one optimizer (a DeepSpeed "
                f"config 'optimizer' section is not used by treadle)."
            )
        elif len(opts) > 1:
            problems.append(
                f"`strategy={self.name!r}`: `configure_optimizers()` returned {len(opts)} "
                f"optimizers, but DeepSpeed's engine steps exactly one. Return one optimizer "
                f"(param groups can give parts of the model their own settings), or use "
                f"`strategy='ddp'` for several (a GAN)."
            )
        for idx, opt in enumerate(opts):
            if requires_closure(opt):
                cls = type(_raw(opt)).__name__
                problems.append(
                    f"`strategy={self.name!r}` cannot step `{cls}` (optimizer {idx} of "
                    f"`configure_optimizers()`): its `step(closure)` re-evaluates the loss, but "
                    f"DeepSpeed's `engine.step()` calls `step()` without a closure (DeepSpeed "
                    f"fails at the first step with `TypeError: {cls}.step() missing 1 required "
                    f"positional argument: 'closure'`). Use an optimizer whose `step()` needs no "
                    f"closure (SGD, Adam, AdamW, ...), or `strategy='ddp'` with `{cls}`."
                )
        return problems

    def _precision_problems(self, trainer) -> list[str]:
        precision = trainer.config.precision
        if precision not in PRECISION_SECTIONS:
            return [
                f"`precision={precision!r}` is not available with `strategy={self.name!r}`; "
                f"DeepSpeed runs: {', '.join(repr(p) for p in PRECISION_SECTIONS)}."
            ]
        if precision == "16-mixed" and trainer.accelerator.device_type != "cuda":
            return [
                f"`precision='16-mixed'` with `strategy={self.name!r}` on "
                f"`accelerator={trainer.accelerator.name!r}`: fp16 needs a CUDA device; "
                f"DeepSpeed says 'Type fp16 is not supported on your device.'; use "
                f"`precision='bf16-mixed'` (or 'bf16-true', '32-true')."
            ]
        return []

    def _override_problems(self, module) -> list[str]:
        problems = []
        cls = type(module)
        if cls.backward is not Module.backward:
            problems.append(
                f"`{cls.__name__}.backward` is overridden, but under `strategy={self.name!r}` "
                f"DeepSpeed's `engine.backward(loss)` must run the backward pass (it scales the "
                f"loss and reduces ZeRO's gradient partitions); the override would replace it. "
                f"Remove the override; use `on_before_backward` / `on_after_backward` for work "
                f"around it."
            )
        if cls.optimizer_step is not Module.optimizer_step:
            problems.append(
                f"`{cls.__name__}.optimizer_step` is overridden, but under "
                f"`strategy={self.name!r}` DeepSpeed's `engine.step()` steps the optimizer "
                f"(clipping, ZeRO's partitioned update, zeroing the gradients). Remove the "
                f"override; use `on_before_optimizer_step` / `on_train_batch_end` for work "
                f"around the step, or a learning-rate scheduler."
            )
        return problems

    def _config_problems(self, trainer, module) -> list[str]:
        if self.user is None:
            return []
        problems = []
        cfg, user, src = trainer.config, self.user.config, self.user.source
        if "optimizer" in user:
            problems.append(
                f"`{src}` has an 'optimizer' section, but treadle steps the optimizer returned "
                f"by `configure_optimizers()` (DeepSpeed would silently ignore one of the two). "
                f"Remove the section and return the optimizer from `configure_optimizers()`."
            )
        if "scheduler" in user and trainer.lr_scheduler_configs:
            problems.append(
                f"`{src}` has a 'scheduler' section and `configure_optimizers()` returned a "
                f"scheduler too; keep one of them."
            )
        zero = user.get("zero_optimization") or {}
        stage = zero.get("stage")
        if self.stage_from_name is not None and stage is not None and stage != self.stage_from_name:
            problems.append(
                f"`strategy={self.name!r}` is ZeRO stage {self.stage_from_name}, but `{src}` "
                f"says zero_optimization.stage={stage}. Use `strategy='deepspeed'` to take the "
                f"stage from the config, or remove it from the config."
            )
        elif stage is not None and stage not in (0, 1, 2, 3):
            problems.append(f"`{src}`: zero_optimization.stage={stage!r}; ZeRO stages are 0-3.")
        if self.offload:
            keys = (
                ("offload_optimizer", "offload_param")
                if self.zero_stage == 3
                else ("offload_optimizer",)
            )
            for key in keys:
                device = (zero.get(key) or {}).get("device", "cpu")
                if device in (None, "none"):
                    problems.append(
                        f"`strategy={self.name!r}` offloads ({key}), but `{src}` says "
                        f"zero_optimization.{key}.device={device!r}. Use "
                        f"`strategy='deepspeed_stage_{self.zero_stage}'` without offload, or "
                        f"remove the key."
                    )
        if zero.get("overlap_comm") and self.zero_stage < 2:
            problems.append(
                f"`{src}`: zero_optimization.overlap_comm=true needs ZeRO stage 2 or 3 here "
                f"(treadle sets managed_gradient_accumulation=false, which DeepSpeed allows with "
                f"overlap_comm only from stage 2). Remove overlap_comm or use stage 2 or 3."
            )
        if user.get("managed_gradient_accumulation", False):
            problems.append(
                f"`{src}` sets managed_gradient_accumulation=true; treadle's loop decides when "
                f"to step (`Trainer(accumulate_grad_batches=N)`), so it must be false. Remove "
                f"the key."
            )
        gas = user.get("gradient_accumulation_steps")
        if gas not in (None, "auto") and gas != cfg.accumulate_grad_batches:
            problems.append(
                f"`{src}` says gradient_accumulation_steps={gas!r}, but "
                f"`Trainer(accumulate_grad_batches={cfg.accumulate_grad_batches})`. Set "
                f"`Trainer(accumulate_grad_batches={gas!r})` and remove the key."
            )
        problems += self._batch_size_problems(trainer, user, src)
        clip = user.get("gradient_clipping")
        if (
            clip is not None
            and cfg.gradient_clip_val is not None
            and float(clip) != float(cfg.gradient_clip_val)
        ):
            problems.append(
                f"`{src}` says gradient_clipping={clip!r}, but "
                f"`Trainer(gradient_clip_val={cfg.gradient_clip_val!r})`; give one of them."
            )
        wanted = PRECISION_SECTIONS.get(cfg.precision, {})
        for key in _PRECISION_KEYS:
            section = user.get(key)
            if section is None:
                continue
            enabled = (
                bool(section.get("enabled", key != "torch_autocast"))
                if isinstance(section, dict)
                else bool(section)
            )
            if enabled != (key in wanted) or (
                enabled
                and key == "torch_autocast"
                and section.get("dtype", "bfloat16") not in ("bfloat16", "torch.bfloat16")
            ):
                problems.append(
                    f"`{src}` has a '{key}' section (enabled={enabled}) that contradicts "
                    f"`Trainer(precision={cfg.precision!r})`; treadle writes the precision "
                    f"sections from the Trainer ({_precision_for(key)}). Remove the section and "
                    f"set the Trainer's precision."
                )
        return problems

    def _batch_size_problems(self, trainer, user, src) -> list[str]:
        tbs, micro = user.get("train_batch_size"), user.get("train_micro_batch_size_per_gpu")
        if tbs in (None, "auto"):
            return []
        per_step = trainer.config.accumulate_grad_batches * self.num_processes
        if (micro not in (None, "auto") and tbs != micro * per_step) or tbs % per_step:
            return [
                f"`{src}` says train_batch_size={tbs!r}, which must equal "
                f"train_micro_batch_size_per_gpu x accumulate_grad_batches "
                f"({trainer.config.accumulate_grad_batches}) x processes "
                f"({self.num_processes}). Give train_micro_batch_size_per_gpu only."
            ]
        return []

    # -- processes -----------------------------------------------------------------------------

    @hookimpl
    def setup_environment(self, trainer):
        import torch.distributed as dist

        launcher, env = _launcher(), self.environment
        if not dist.is_initialized():
            backend = "nccl" if trainer.accelerator.name == "cuda" else "gloo"
            timeout = timedelta(seconds=(self.timeout_s or trainer.config.process_group_timeout))
            if self.joined:
                if env.main_port is not None:  # init_method="env://" reads these
                    os.environ["MASTER_ADDR"] = str(env.main_address)
                    os.environ["MASTER_PORT"] = str(env.main_port)
                init = "env://"
            elif self.world_size > 1:
                launcher.launch_subprocess_ranks(self.world_size)  # rank 0 goes on from here
                init = "env://"
            else:  # one process: a group of one, and no rank variables left behind
                init = f"tcp://127.0.0.1:{launcher.find_free_port('127.0.0.1')}"
            dist.init_process_group(
                backend,
                init_method=init,
                rank=self.global_rank,
                world_size=self.world_size,
                timeout=timeout,
            )
        set_lightning_utilities_rank(self.global_rank)  # as Lightning's strategies
        os.environ.setdefault("LOCAL_RANK", str(self.local_rank))  # DeepSpeed asserts it is set
        deepspeed = _import_deepspeed(trainer.accelerator.name)
        deepspeed.init_distributed(
            dist_backend=dist.get_backend(),
            auto_mpi_discovery=False,
            timeout=timedelta(seconds=(self.timeout_s or trainer.config.process_group_timeout)),
        )
        self._failed = False

    def on_exception(self, exception: BaseException) -> None:
        # Lightning's Strategy.on_exception, called by the Trainer after the callbacks' and
        # the DataModule's (it may raise the job's error).
        trainer = self._trainer
        # As ddp's: every rank records its exception (TORCHELASTIC_ERROR_FILE); rank 0 of our
        # own launch collects the ranks' records, stops the others rather than leaving them
        # to their next collective (or the process-group timeout), and raises the report when
        # another rank failed first.
        self._failed = True
        error = _launcher().handle_failure(
            exception, self.global_rank, (self.timeout_s or trainer.config.process_group_timeout)
        )
        if error is not None:
            raise error from None

    @hookimpl
    def teardown(self):
        # The process group and the engine stay for a later stage of this script (fit, then
        # validate): DeepSpeed's engine keeps the group's handles. No rank leaves while another
        # still finishes its last collective.
        if not self._failed:
            self.barrier()

    # -- the engine ----------------------------------------------------------------------------

    @hookimpl
    def setup_module(self, trainer, module):
        optimizer = _first(trainer.optimizers) if self._stage == "fit" else None
        if (
            self.engine is not None
            and self.engine.module.module is module
            and (optimizer is None or optimizer is self._engine_optimizer)
        ):
            return  # fit, then validate in the same script: the same engine
        import deepspeed

        self._built_config = config = self.build_config(trainer)
        if optimizer is None:  # validate() alone: ZeRO 1-2 need an optimizer to shard
            zero = config["zero_optimization"]
            for key in ("offload_optimizer", "offload_param"):
                zero.pop(key, None)
            if zero["stage"] != 3:
                zero["stage"] = 0
        self.engine, _, _, _ = deepspeed.initialize(
            model=_StepModule(module), optimizer=optimizer, config=config, dist_init_required=False
        )
        self._engine_optimizer = optimizer
        self._backwards_since_step = 0
        self._window_grads = None
        self._window_partitions = None

    @hookimpl(wrapper=True)
    def transfer_batch_to_device(self):
        batch = yield
        config = self._built_config
        if config is not None and config.get("bf16", {}).get("enabled"):
            from treadle_plugins._tensors import apply_to_tensors

            # DeepSpeed casts the module to bf16 but not the inputs.
            return apply_to_tensors(
                batch, lambda t: t.to(torch.bfloat16) if t.is_floating_point() else t
            )
        return batch

    @hookimpl
    def run_training_step(self, module, batch, batch_idx):
        step = module.training_step
        return (self.engine(step, *step_args(step, batch, batch_idx)),)

    @hookimpl
    def run_validation_step(self, module, batch, batch_idx, dataloader_idx):
        step = module.validation_step
        return (self.engine(step, *step_args(step, batch, batch_idx, dataloader_idx)),)

    @hookimpl
    def run_test_step(self, module, batch, batch_idx, dataloader_idx):
        step = module.test_step
        return (self.engine(step, *step_args(step, batch, batch_idx, dataloader_idx)),)

    @hookimpl
    def run_predict_step(self, module, batch, batch_idx, dataloader_idx):
        step = module.predict_step
        return (self.engine(step, *step_args(step, batch, batch_idx, dataloader_idx)),)

    # No scale_loss: the core's identity default applies (the precision plugin stands aside) and
    # DeepSpeed scales fp16 losses inside engine.backward.

    @hookimpl
    def backward(self, trainer, loss):
        args = getattr(trainer, "backward_args", ())
        kwargs = getattr(trainer, "backward_kwargs", {})
        unsupported = [k for k in kwargs if k != "retain_graph"]
        if args or unsupported:
            raise ValueError(
                f"`manual_backward(loss, ...)` under `strategy={self.name!r}` takes only "
                f"`retain_graph=`: DeepSpeed's `engine.backward(loss)` runs the backward pass "
                f"(got {', '.join([repr(a) for a in args] + unsupported)})."
            )
        # The core divided by accumulate_grad_batches already (automatic optimization).
        self.engine.backward(
            loss, retain_graph=bool(kwargs.get("retain_graph", False)), scale_wrt_gas=False
        )
        self._backwards_since_step += 1
        if self._window_grads is not None:  # the first backward after a mid-window resume
            self._add_window_grads(after_backward=True)
        if self._window_partitions is not None:  # (ZeRO 2)
            self._add_window_partitions(after_backward=True)
        return True

    @hookimpl
    def optimizer_step(self, closure):
        closure()  # forward, engine.backward, on_before_optimizer_step, clipping hooks
        if self._window_grads is not None:  # resumed mid-window, no backward since
            self._add_window_grads(after_backward=False)
        if self._window_partitions is not None:  # (ZeRO 2)
            self._add_window_partitions(after_backward=False)
        if self._backwards_since_step == 0:
            return True  # no backward since the last step (training_step returned None): no update
        self.engine.step()  # reduce, clip, update, zero the gradients
        self._backwards_since_step = 0
        return True

    @contextlib.contextmanager
    def no_backward_sync(self, module: Any = None, enabled: bool = True):
        """For code written for ``ddp`` (manual accumulation): nothing to switch off here.

        With ``managed_gradient_accumulation=False`` DeepSpeed keeps each backward's gradients
        (ZeRO 2-3 reduce them into their partitions as they come) and ``engine.step()`` finishes
        the reduction, so the accumulated gradients are right whether or not this block is used.
        """
        yield

    def block_backward_sync(self):
        """Lightning's name for :meth:`no_backward_sync`."""
        return self.no_backward_sync()

    @hookimpl
    def optimizer_zero_grad(self):
        return True  # engine.step() zeroed them

    @hookimpl
    def clip_gradients(self, gradient_clip_val, gradient_clip_algorithm):
        configured = self.engine.gradient_clipping() if self.engine is not None else None
        if not gradient_clip_val or (
            gradient_clip_algorithm != "value" and float(gradient_clip_val) == configured
        ):
            return True  # DeepSpeed clips inside engine.step() at the configured value
        if gradient_clip_algorithm == "value":
            raise ValueError(
                f"`clip_gradients(..., gradient_clip_algorithm='value')` under "
                f"`strategy={self.name!r}`: DeepSpeed clips by norm only, inside "
                f"`engine.step()`. Clip by norm."
            )
        raise ValueError(
            f"`clip_gradients(..., gradient_clip_val={gradient_clip_val!r})` under "
            f"`strategy={self.name!r}`: DeepSpeed clips by norm inside `engine.step()`, at the "
            f"value fixed by `deepspeed.initialize` (gradient_clipping={configured!r} here). Set "
            f"it once: `Trainer(gradient_clip_val={gradient_clip_val!r})` in automatic "
            f"optimization, or `DeepSpeedConfig(config={{'gradient_clipping': "
            f"{gradient_clip_val!r}}})` in `plugins=[...]` in manual optimization."
        )

    # -- data and collectives -------------------------------------------------------------------

    @hookimpl
    def setup_dataloader(self, trainer, dataloader, stage):
        if self.world_size < 2 or not trainer.config.use_distributed_sampler:
            return None
        from treadle_plugins.strategies.ddp import distributed_loader

        # Evaluation reads each sample once (ranks may differ by a batch), except under ZeRO-3:
        # its every forward gathers the parameters, a collective that pairs the ranks' batches
        # up, so there the sampler pads as in training (the repeated samples count twice).
        pad = stage == "fit" or self.zero_stage == 3
        return distributed_loader(
            dataloader,
            self.world_size,
            self.global_rank,
            seed=int(os.environ.get("TREADLE_GLOBAL_SEED", "0")),
            pad=pad,
        )

    @hookimpl
    def reduce(self, tensor, reduce_op):
        import torch.distributed as dist

        if not dist.is_initialized() or self.world_size < 2:
            return None
        op = {
            "sum": dist.ReduceOp.SUM,
            "mean": dist.ReduceOp.SUM,
            "max": dist.ReduceOp.MAX,
            "min": dist.ReduceOp.MIN,
        }[reduce_op]
        out = tensor.detach().to(
            torch.float64 if tensor.dtype == torch.float64 else torch.float32, copy=True
        )
        dist.all_reduce(out, op=op)
        if reduce_op == "mean":
            out /= self.world_size
        return out.to(tensor.dtype)

    @hookimpl
    def all_gather(self, tensor):
        import torch.distributed as dist

        if not dist.is_initialized() or self.world_size < 2:
            return None
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.stack(parts)

    @hookimpl
    def broadcast(self, obj, src):
        import torch.distributed as dist

        if not dist.is_initialized() or self.world_size < 2:
            return None
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return (box[0],)

    @hookimpl
    def barrier(self):
        import torch.distributed as dist

        if dist.is_initialized() and self.world_size > 1:
            dist.barrier()
        return True

    # -- checkpoints ----------------------------------------------------------------------------

    @hookimpl
    def on_save_checkpoint(self, trainer, checkpoint):
        checkpoint["deepspeed"] = {
            "stage": self.zero_stage,
            "world_size": self.world_size,
            "tag": CHECKPOINT_TAG,
        }
        if self._rank_window:  # each rank's own partitions: written by save_checkpoint
            self._saving_partitions = self._window_partition_grads(trainer)
            if self._saving_partitions is not None:
                checkpoint["deepspeed"]["window_partitions"] = True
            return
        grads = self._unstepped_grads(trainer)
        if grads is not None:
            checkpoint["deepspeed"]["window_grads"] = grads

    def _window_partition_grads(self, trainer) -> dict[str, Any] | None:
        """ZeRO 2 inside an accumulation window (automatic optimization, backward passes since
        the last ``engine.step()``): this rank's gradients of the window so far, reduced over
        the ranks, as DeepSpeed accumulates them for the parameters of this rank's partition
        (``optimizer.all_grad_tensors``, one list per parameter group; ``engine.step()`` builds
        the partition's gradient from them); with optimizer offload, the per-parameter CPU
        buffers it accumulates them in (``accumulated_grads_in_cpu``, by parameter id). ZeRO 3
        with optimizer offload: each parameter's gradient partition on this rank, by
        ``ds_id``. DeepSpeed has no public reader for these (0.19.8). None outside a window."""
        if self.engine is None or self._stage != "fit":
            return None
        if not trainer.module.automatic_optimization:
            return None
        if self._window_partitions is not None:  # resumed mid-window, saved before a backward
            return self._window_partitions
        if self._backwards_since_step == 0:
            return None
        optimizer = self.engine.optimizer
        if self.zero_stage == 3:  # with offload: this rank's partition of each parameter
            regions = _stage3_grad_partitions(optimizer)
            ids = optimizer._offload_boundary_param_ids
            return {"stage3_partitions": {i: regions[i].detach().cpu().clone() for i in ids}}
        if optimizer.cpu_offload:
            held = optimizer.accumulated_grads_in_cpu
            return {"cpu_accumulated": {pid: t.detach().clone() for pid, t in held.items()}}
        groups = range(len(optimizer.bit16_groups))
        return {"partitions": [_cpu_copies(optimizer.all_grad_tensors.get(i)) for i in groups]}

    def _add_window_partitions(self, after_backward: bool) -> None:
        """Put a resumed window's ZeRO 2 partition gradients back: added to what the resumed
        window's first backward accumulated (``saved + this backward's``; fp32 addition is
        commutative, so the sum is the uninterrupted window's, bit for bit), or, when the
        window's remaining batches ran no backward, set as the window's."""
        window, self._window_partitions = self._window_partitions, None
        assert window is not None
        optimizer = self.engine.optimizer
        if "stage3_partitions" in window:  # ZeRO 3 with optimizer offload
            regions, ids = _stage3_grad_partitions(optimizer), optimizer._offload_boundary_param_ids
            for ds_id, value in window["stage3_partitions"].items():
                region = regions[ds_id]
                value = value.to(device=region.device, dtype=region.dtype)
                if ds_id in ids:  # this backward's partition: add the saved window's
                    region.add_(value)
                else:
                    region.copy_(value)
                    ids.add(ds_id)
            if not after_backward:
                self._backwards_since_step += 1
            return
        if "cpu_accumulated" in window:  # optimizer offload
            held = optimizer.accumulated_grads_in_cpu
            for pid, value in window["cpu_accumulated"].items():
                if pid in held:
                    held[pid].add_(value.to(dtype=held[pid].dtype))
                else:
                    held[pid] = value.clone()
                    optimizer._offload_accumulated_param_ids.add(pid)
            if not after_backward:
                self._backwards_since_step += 1
            return
        for i, group in enumerate(window["partitions"]):
            if group is None:
                continue
            held = optimizer.all_grad_tensors.get(i)
            if held is None:
                optimizer.all_grad_tensors[i] = [
                    t.to(device=p.device, dtype=optimizer.gradient_accumulation_dtype)
                    for t, p in zip(group, optimizer.params_in_partition[i])
                ]
                continue
            for acc, value in zip(held, group):
                acc.add_(value.to(device=acc.device, dtype=acc.dtype))
        if not after_backward:
            self._backwards_since_step += 1  # the saved window steps, as it would have

    def _unstepped_grads(self, trainer) -> dict[str, torch.Tensor] | None:
        """Inside an accumulation window (automatic optimization, backward passes since the
        last ``engine.step()``) under ZeRO 3: the window's gradients so far, full and reduced
        over the ranks (the same on every rank; rank zero writes them). A collective: every
        rank saves. None outside a window, or where they cannot be read (see
        :attr:`saves_window_gradients`: the core warns)."""
        if (
            self.engine is None
            or self._stage != "fit"
            or not self.saves_window_gradients
            or not trainer.module.automatic_optimization
        ):
            return None
        if self._window_grads is not None:  # resumed mid-window and saved before any backward
            return {k: v.detach().cpu().clone() for k, v in self._window_grads.items()}
        if self._backwards_since_step == 0:
            return None
        from deepspeed.utils import safe_get_full_grad

        grads = {}
        for name, p in self.engine.module.module.named_parameters():
            if p.requires_grad:
                grads[name] = safe_get_full_grad(p).detach().cpu().clone()
        return grads

    def _add_window_grads(self, after_backward: bool) -> None:
        """Put a resumed window's gradients back into DeepSpeed's partitions.

        ZeRO 3 copies (does not add) the first backward of a window into its gradient
        partitions, and a new engine starts every window afresh: gradients set through
        ``safe_set_full_grad`` before that backward are overwritten (observed: the resumed
        window then holds only its remaining batches). So they are added right after it:
        ``saved + this backward's``, the same sum, in the same order, as the uninterrupted
        window's (fp32 partitions: bit for bit). ``after_backward=False``: the window's
        remaining batches ran no backward; the saved gradients are the window's."""
        from deepspeed.utils import safe_get_full_grad, safe_set_full_grad

        saved, self._window_grads = self._window_grads, None
        assert saved is not None
        for name, p in self.engine.module.module.named_parameters():
            if name not in saved:
                continue
            value = saved[name]
            if after_backward:
                current = safe_get_full_grad(p)
                value = value.to(device=current.device, dtype=current.dtype) + current
            # DeepSpeed 0.19.8 cuts this rank's part out of the flat value at
            # `partition_numel() * rank` without the padding its partitions have, an error on
            # the last ranks when the ranks do not divide the size: padded here, with the zero
            # gradient a padding element has.
            flat = value.flatten()
            padded = p.partition_numel() * self.world_size
            if padded > flat.numel():
                flat = torch.cat([flat, flat.new_zeros(padded - flat.numel())])
            safe_set_full_grad(p, flat.to(p.device))
        if not after_backward:
            self._backwards_since_step += 1  # the saved window steps, as it would have

    @hookimpl
    def save_checkpoint(self, trainer, checkpoint, filepath, weights_only):
        if self.engine is None:
            return None
        from treadle import checkpoint_io

        path = Path(filepath)
        if weights_only:  # one file, the full weights, as without DeepSpeed
            checkpoint["state_dict"] = self.full_state_dict()
            if trainer.is_global_zero:
                checkpoint_io.save_atomic(checkpoint, path)
            return True
        # Written next to `path`, then swapped in: `path` is always a complete checkpoint.
        with checkpoint_io.directory_swap(path, trainer.is_global_zero, self.barrier) as tmp:
            self.engine.save_checkpoint(
                str(tmp), tag=CHECKPOINT_TAG, client_state={}, save_latest=False
            )
            window, self._saving_partitions = self._saving_partitions, None
            if window is not None:  # ZeRO 2 inside a window: this rank's own
                checkpoint_io.save_atomic(window, tmp / WINDOW_FILE.format(rank=self.global_rank))
            if trainer.is_global_zero:
                treadle_part = {
                    k: v
                    for k, v in checkpoint.items()
                    if k not in ("state_dict", "optimizer_states")
                }
                checkpoint_io.save_atomic(treadle_part, tmp / TREADLE_FILE)
        return True

    @hookimpl
    def load_checkpoint(self, trainer, filepath):
        if self.engine is None:
            return None
        from treadle import checkpoint_io

        path = Path(filepath)
        if not path.exists():
            raise treadle.CheckpointError(filepath, "no such directory.")
        if not path.is_dir():
            raise treadle.CheckpointError(
                filepath,
                f"it is a file, not a DeepSpeed checkpoint: under `strategy={self.name!r}` "
                f"`trainer.save_checkpoint(path)` writes a directory (DeepSpeed's shards and "
                f"{TREADLE_FILE}). To start from the weights of a one-file checkpoint, load them "
                f"before fit: `model.load_state_dict(torch.load(path, weights_only=True)"
                f"['state_dict'])`, without ckpt_path.",
            )
        if not (path / TREADLE_FILE).is_file():
            raise treadle.CheckpointError(
                filepath,
                f"the directory has no {TREADLE_FILE}: it is not a complete treadle DeepSpeed "
                f"checkpoint (treadle writes {TREADLE_FILE} last, so a save that did not finish "
                f"has none). Resume from an earlier checkpoint.",
            )
        checkpoint = checkpoint_io.load(path / TREADLE_FILE)
        saved = checkpoint.get("deepspeed", {})
        stage, world_size = saved.get("stage"), saved.get("world_size")
        tag = saved.get("tag", CHECKPOINT_TAG)
        if self._engine_optimizer is None:  # validate(ckpt_path=...): the weights only
            if stage != self.zero_stage and 3 in (stage, self.zero_stage):
                raise treadle.CheckpointError(
                    filepath,
                    f"it was saved with ZeRO stage {stage}; validate it with that stage (or "
                    f"stages 0-2 together; stage 3 shards the weights differently), or write "
                    f"full weights first (`trainer.save_checkpoint(path, weights_only=True)` or "
                    f"deepspeed.utils.zero_to_fp32).",
                )
            with _weights_only_loads():
                self._load_weights(path, tag)
            return checkpoint
        if (stage, world_size) != (self.zero_stage, self.world_size):
            raise treadle.CheckpointError(
                filepath,
                f"it was saved with ZeRO stage {stage} on {world_size} processes; this run is "
                f"stage {self.zero_stage} on {self.world_size}. Resume with the same stage and "
                f"number of processes (the optimizer states are sharded by both), or start from "
                f"full weights (deepspeed.utils.zero_to_fp32) without ckpt_path.",
            )
        with _weights_only_loads():
            loaded, _ = self.engine.load_checkpoint(
                str(path), tag=tag, load_lr_scheduler_states=False
            )
        if loaded is None:
            raise treadle.CheckpointError(
                filepath, f"DeepSpeed found no checkpoint in it (no {tag}/ directory)."
            )
        self._backwards_since_step = 0
        if "window_grads" in saved:  # saved inside an accumulation window: its gradients so far
            self._window_grads = self._checked_window_grads(saved["window_grads"], filepath)
        if saved.get("window_partitions"):  # the same under ZeRO 2: this rank's partitions
            self._window_partitions = self._checked_window_partitions(path)
        return checkpoint  # no "state_dict": the engine restored weights and optimizer

    def _checked_window_partitions(self, path: Path) -> dict[str, Any]:
        """This rank's ZeRO 2 window gradients of a checkpoint directory, checked against the
        parameters of this rank's partition (same stage and number of processes: checked
        before)."""
        from treadle import checkpoint_io

        file = path / WINDOW_FILE.format(rank=self.global_rank)
        if not file.is_file():
            raise treadle.CheckpointError(
                path,
                f"it was saved inside a gradient accumulation window but has no {file.name} "
                f"(rank {self.global_rank}'s gradients of the window): the directory is not "
                f"complete. Resume from another checkpoint.",
            )
        saved = checkpoint_io.load(file)
        optimizer = self.engine.optimizer
        if self.zero_stage == 3:  # {ds_id: this rank's flat gradient partition}
            held = saved.get("stage3_partitions") if isinstance(saved, dict) else None
            sizes = {i: t.numel() for i, t in _stage3_grad_partitions(optimizer).items()}
            if not isinstance(held, dict) or any(
                not isinstance(t, torch.Tensor) or sizes.get(i) != t.numel()
                for i, t in held.items()
            ):
                raise treadle.CheckpointError(
                    file,
                    f"the gradients of the accumulation window it holds do not fit this model's "
                    f"ZeRO 3 partitions on rank {self.global_rank} (by parameter id, flat "
                    f"tensors of sizes {sizes}). Resume it with the model that saved it, or from "
                    f"a checkpoint saved outside an accumulation window.",
                )
            return {"stage3_partitions": held}
        if optimizer.cpu_offload:  # {parameter id: its flat accumulated gradient}
            held = saved.get("cpu_accumulated") if isinstance(saved, dict) else None
            sizes = {pid: p.numel() for pid, p in optimizer.param_dict.items()}
            if not isinstance(held, dict) or any(
                not isinstance(t, torch.Tensor) or sizes.get(pid) != t.numel()
                for pid, t in held.items()
            ):
                raise treadle.CheckpointError(
                    file,
                    f"the gradients of the accumulation window it holds do not fit this model's "
                    f"ZeRO 2 partition on rank {self.global_rank} (saved with optimizer "
                    f"offload, by parameter id, as flat tensors of their parameters' sizes "
                    f"{sizes}). Resume it with the model that saved it, or from a checkpoint "
                    f"saved outside an accumulation window.",
                )
            return {"cpu_accumulated": held}
        partitions: Any = saved.get("partitions") if isinstance(saved, dict) else None
        expected = [[tuple(p.shape) for p in g] for g in self.engine.optimizer.params_in_partition]
        got = (
            [None if g is None else [tuple(getattr(t, "shape", ())) for t in g] for g in partitions]
            if isinstance(partitions, list)
            and all(g is None or isinstance(g, list) for g in partitions)
            else None
        )
        if (
            got is None
            or len(got) != len(expected)
            or any(g is not None and g != e for g, e in zip(got, expected))
        ):
            raise treadle.CheckpointError(
                file,
                f"the gradients of the accumulation window it holds do not fit this model's "
                f"ZeRO 2 partition on rank {self.global_rank} (shapes {got}, the partition's "
                f"parameters are {expected}). Resume it with the model that saved it, or from a "
                f"checkpoint saved outside an accumulation window.",
            )
        return {"partitions": partitions}

    def _checked_window_grads(self, grads: Any, filepath: Any) -> dict[str, torch.Tensor]:
        """``deepspeed.window_grads`` of a checkpoint, checked against this run's parameters."""
        params = dict(self.engine.module.module.named_parameters())
        wrong = [] if isinstance(grads, dict) else [f"a {type(grads).__name__}, not a dict"]
        for name, grad in grads.items() if not wrong else ():
            param = params.get(name)
            shape = None if param is None else tuple(getattr(param, "ds_shape", param.shape))
            if shape is None:
                wrong.append(f"{name!r}: no such parameter")
            elif not isinstance(grad, torch.Tensor):
                wrong.append(f"{name!r}: a {type(grad).__name__}, not a tensor")
            elif tuple(grad.shape) != shape:
                wrong.append(f"{name!r}: shape {tuple(grad.shape)}, the parameter's is {shape}")
        if wrong:
            raise treadle.CheckpointError(
                filepath,
                f"its `deepspeed.window_grads` (the gradients of the accumulation window it was "
                f"saved in) do not fit this model: {'; '.join(wrong)}. Resume it with the model "
                f"that saved it, or from a checkpoint saved outside an accumulation window.",
            )
        return dict(grads)

    def _load_weights(self, path: Path, tag: str) -> None:
        """Weights from a checkpoint directory into an engine without optimizer (validate).

        Any number of processes: stages 0-2 read the whole weights DeepSpeed keeps in
        ``mp_rank_00_model_states.pt``; stage 3 consolidates the shards."""
        if self.zero_stage != 3:  # whole weights in mp_rank_00_model_states.pt
            loaded, _ = self.engine.load_checkpoint(
                str(path),
                tag=tag,
                load_module_only=True,
                load_optimizer_states=False,
                load_lr_scheduler_states=False,
            )
            if loaded is None:
                raise treadle.CheckpointError(
                    path, f"DeepSpeed found no checkpoint in it (no {tag}/ directory)."
                )
            return
        # Stage 3 shards the weights across the optimizer files: rank zero consolidates them
        # (DeepSpeed's zero_to_fp32) and GatheredParameters scatters them again.
        import deepspeed
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        module = self.engine.module.module
        params = list(module.parameters())
        full = (
            get_fp32_state_dict_from_zero_checkpoint(str(path), tag=tag)
            if self.global_rank == 0
            else None
        )
        with deepspeed.zero.GatheredParameters(params, modifier_rank=0):
            if self.global_rank == 0:
                prefix = "module."
                module.load_state_dict(
                    {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in full.items()}
                )

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """The user's Module's full state dict (call on every rank: stage 3 gathers).

        Stages 0-2 keep whole parameters on every rank; under stage 3 DeepSpeed gathers them
        (in the module's dtype; None on ranks other than zero).
        """
        engine = self.engine
        if self.zero_stage == 3:
            full = engine._zero3_consolidated_16bit_state_dict()
            if full is None:
                return {}
            prefix = "module."
            return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in full.items()}
        return engine.module.module.state_dict()


# ---------------------------------------------------------------------------------------------
# One file from a checkpoint directory.
# ---------------------------------------------------------------------------------------------


def convert_zero_checkpoint(checkpoint_dir: Any, output_file: Any, tag: str | None = None) -> dict:
    """One ordinary checkpoint file from a checkpoint directory this strategy wrote: the full fp32
    weights (DeepSpeed's ``zero_to_fp32`` consolidates the shards of any ZeRO stage) as
    ``state_dict``, next to everything in ``treadle.ckpt`` (hyper-parameters, loop, callbacks).
    ``Module.load_from_checkpoint(output_file)`` and ``torch.load`` read it without DeepSpeed;
    the optimizer states stay behind (they are sharded). ``tag``: DeepSpeed's sub-directory,
    the one the checkpoint names by default. Lightning's
    ``utilities.deepspeed.convert_zero_checkpoint_to_fp32_state_dict``; returns what it wrote.
    """
    if not treadle.module_available("deepspeed"):
        raise ModuleNotFoundError(
            f"convert_zero_checkpoint_to_fp32_state_dict needs deepspeed: {INSTALL_HINT}"
        )
    from treadle import checkpoint_io

    path = Path(checkpoint_dir)
    if not path.is_dir():
        raise treadle.CheckpointError(
            checkpoint_dir,
            "not a directory: convert_zero_checkpoint_to_fp32_state_dict reads the directory "
            "that `trainer.save_checkpoint(path)` writes under a DeepSpeed strategy (a one-file "
            "checkpoint already holds the full weights).",
        )
    if not (path / TREADLE_FILE).is_file():
        raise treadle.CheckpointError(
            checkpoint_dir,
            f"the directory has no {TREADLE_FILE}: it is not a complete treadle DeepSpeed "
            f"checkpoint. For a checkpoint another program wrote with DeepSpeed, use "
            f"deepspeed.utils.zero_to_fp32.get_fp32_state_dict_from_zero_checkpoint(path).",
        )
    checkpoint = checkpoint_io.load(path / TREADLE_FILE)
    tag = tag or checkpoint.get("deepspeed", {}).get("tag", CHECKPOINT_TAG)
    if not (path / tag).is_dir():
        found = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise treadle.CheckpointError(
            checkpoint_dir,
            f"it has no `{tag}/` directory (DeepSpeed's files); its directories: "
            f"{', '.join(found) or '(none)'}. Pass tag=<one of them>, or leave tag out.",
        )
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    with _weights_only_loads():
        full = get_fp32_state_dict_from_zero_checkpoint(str(path), tag=tag)
    prefix = "module."  # the engine's module wraps the user's Module as `.module`
    checkpoint["state_dict"] = {
        k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in full.items()
    }
    checkpoint.pop("deepspeed", None)  # nothing left to resume under DeepSpeed
    checkpoint_io.save_atomic(checkpoint, Path(output_file))
    return checkpoint


# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _weights_only_loads():
    """Every ``torch.load`` in the block reads with ``weights_only=True``: no code runs.

    DeepSpeed reads its files with ``torch.load(weights_only=False)`` (its checkpoint engine,
    ``zero_to_fp32``): for the duration of treadle's load, ``torch.load`` is treadle's reader,
    which forces ``weights_only=True`` and names the file in any error
    (``treadle.CheckpointError``). The few plain classes DeepSpeed stores beside tensors (its
    loss scaler's settings, a fragment address, the ZeRO stage enum) are allowed by name; they
    are rebuilt from their fields, never called with pickled code. ``torch.load`` is a module
    attribute, so another thread loading meanwhile is held to ``weights_only=True`` as well.
    """
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    from treadle import checkpoint_io

    real = torch.load

    def load(f, map_location=None, pickle_module=None, **kwargs):
        kwargs.pop("weights_only", None)
        return checkpoint_io.load_weights_only(f, map_location, **kwargs)

    torch.load = load
    try:
        with torch.serialization.safe_globals(
            [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]
        ):
            yield
    finally:
        torch.load = real


def _launcher():
    from treadle_plugins.strategies import _launcher

    return _launcher


def _first(items):
    return items[0] if items else None


def _precision_for(key: str) -> str:
    return {
        "fp16": "precision='16-mixed'",
        "bf16": "precision='bf16-true'",
        "torch_autocast": "precision='bf16-mixed'",
        "amp": "no precision: apex AMP is not supported",
    }[key]


def _devices(trainer) -> int:
    n = trainer.accelerator.num_devices
    if isinstance(n, int) and n > 0:
        return n
    devices = trainer.config.devices
    if isinstance(devices, list):
        return len(devices)
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit():
        return int(devices)
    return 1


def _find_user_config(plugins) -> DeepSpeedConfig | None:
    found = [p for p in plugins if isinstance(p, DeepSpeedConfig)]
    if len(found) > 1:
        raise ConfigurationError(
            [
                f"deepspeed: `plugins=[...]` holds {len(found)} "
                f"DeepSpeedConfig objects ({', '.join(map(repr, found))}); "
                f"pass one."
            ]
        )
    return found[0] if found else None


def _installed_version():
    try:
        version = metadata.version("deepspeed")
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in version.split("+")[0].split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _import_deepspeed(accelerator: str):
    """``import deepspeed`` for this run: its accelerator matching ours, no shm op JIT build."""
    if accelerator == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import warnings

    # deepspeed 0.19.8 calls torch.distributed functions that torch 2.13 marks deprecated, a
    # warning per process that the user can do nothing about.
    warnings.filterwarnings(
        "ignore",
        category=FutureWarning,
        message=r"`torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)` is "
        r"deprecated",
    )
    import deepspeed
    import deepspeed.ops

    if os.environ.get("TREADLE_DEEPSPEED_SHM_OP", "") not in ("1", "true", "yes"):
        # Only deepspeed.comm.inference_all_reduce uses it (else torch.distributed); building
        # it costs 40-110 s per fresh machine. DeepSpeed's own comment: edits here persist.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    from deepspeed.accelerator import get_accelerator

    current = get_accelerator().device_name()
    if accelerator == "cpu" and current != "cpu":
        from deepspeed.accelerator import set_accelerator
        from deepspeed.accelerator.cpu_accelerator import CPU_Accelerator

        set_accelerator(CPU_Accelerator())
    return deepspeed


# ---------------------------------------------------------------------------------------------
# Provider records: listed whether or not deepspeed is installed.
# ---------------------------------------------------------------------------------------------


def _factory(name: str):
    def make(trainer):
        return DeepSpeedStrategy(trainer, name)

    make.__name__ = f"make_{name}"
    return make


_DESCRIPTIONS = {
    "deepspeed": "DeepSpeed; ZeRO stage from DeepSpeedConfig, else 2.",
    "deepspeed_stage_1": "DeepSpeed ZeRO stage 1: optimizer states partitioned.",
    "deepspeed_stage_2": "DeepSpeed ZeRO stage 2: optimizer states and gradients partitioned.",
    "deepspeed_stage_3": "DeepSpeed ZeRO stage 3: parameters partitioned too.",
    "deepspeed_stage_2_offload": "DeepSpeed ZeRO stage 2, optimizer offloaded to the CPU.",
    "deepspeed_stage_3_offload": "DeepSpeed ZeRO stage 3, optimizer and parameters offloaded "
    "to the CPU.",
}


@hookimpl
def provide_strategies():
    return [
        Provider(
            "strategy",
            name,
            _factory(name),
            available=_deepspeed_available,
            install_hint=INSTALL_HINT,
            description=_DESCRIPTIONS[name],
        )
        for name in NAMES
    ]
