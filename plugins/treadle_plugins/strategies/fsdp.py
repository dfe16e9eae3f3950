"""``fsdp``: torch's FSDP2 (``torch.distributed.fsdp.fully_shard``), one process per device.

Selected by name (``Trainer(strategy="fsdp", devices=2)``) or given as an object for what a
name cannot say (``Trainer(strategy=FSDPStrategy(auto_wrap_policy={Block}), devices=2)``).
The processes come to be as under ``ddp`` (this class reuses ``DDPStrategy``'s launching,
process group, collectives and failure handling): ``python train.py`` re-runs the script for
the other ranks, torchrun/SLURM launches are joined. See ``docs/fsdp.md``.

Hook by hook:

* ``validate``: what cannot run, all at once: a precision FSDP does not run here, an optimizer
  whose closure step flattens parameters whose first dimension the ranks cannot split evenly
  (LBFGS: "Cannot flatten unevenly sharded tensor", measured), parameters that are DTensors
  already, CPU offload together with an accelerator-less pin, a missing numpy (DCP needs it).
* ``setup_module``: activation checkpointing on the modules of the given classes, then
  ``fully_shard`` on every module the auto-wrap policy picks (innermost first), then on the
  Module itself (the root: its own parameters, and the hooks that run before the first and
  after the last block). Parameters left on the meta device (a ``configure_model`` that built
  under ``torch.device("meta")``) are materialised sharded: ``to_empty`` and each submodule's
  ``reset_parameters()``. The optimizers ``configure_optimizers()`` built point at the
  parameters as they were; their parameter groups are pointed at the sharded parameters
  (matched by name) before anything steps.
* ``run_training_step`` and the evaluation steps run *through* the root's ``__call__`` (the
  Module's ``forward`` redirected to the step for that call), so that FSDP's root hooks
  gather the root's parameters and set up the backward, as DDP's wrapper does.
* Accumulation: on batches that do not step, ``set_requires_gradient_sync(False)``: the
  gradients accumulate unsharded and are reduce-scattered once, on the stepping batch. In
  manual optimization ``with trainer.strategy.no_backward_sync(self): ...`` does the same.
* Precision (``owns_precision`` under ``bf16-mixed``): ``MixedPrecisionPolicy(param_dtype=
  bfloat16, reduce_dtype=float32)``: bf16 compute on gathered copies, fp32 gradient reduction,
  fp32 sharded parameters and optimizer states. ``16-mixed``: ``MixedPrecisionPolicy(
  param_dtype=float16, reduce_dtype=float32)`` under the ``16-mixed`` precision plugin, which
  keeps its fp16 autocast (the ops autocast runs in fp32 -- losses, softmax, norms -- stay
  fp32) and its ``torch.amp.GradScaler``: the scaled loss's gradients are reduced in fp32 into
  sharded DTensor gradients, ``unscale_`` (before any clipping) checks them for inf/NaN and
  torch's DTensor rule for that check reduces the finding over every rank's shard, so all
  ranks skip (or take) a step together. ``32-true`` and ``bf16-true`` are the precision
  plugins' (``bf16-true`` converts the module before it is sharded).
* Checkpoints (``docs/fsdp.md``): ``trainer.save_checkpoint(path)`` writes a directory through
  ``torch.distributed.checkpoint`` (every rank its shards of the weights and optimizer states)
  plus ``treadle.ckpt`` (loop, RNG, schedulers, callbacks), into a temporary directory that rank
  zero renames to ``path`` once every rank has written: ``path`` is a complete checkpoint or
  the previous one. Loading reshards (saved on 2 ranks, resumed on 1, or the other way) and runs
  no pickled code (:class:`SafeReader`). ``weights_only=True`` writes one ordinary file (the full
  weights, gathered). :func:`consolidate` turns a directory into one ordinary checkpoint file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Union

import torch
from torch import nn

import treadle
from treadle import Provider, hookimpl
from treadle.utilities import call_step, requires_closure
from treadle_plugins.strategies.ddp import DDPStrategy, distributed_loader

TREADLE_FILE = "treadle.ckpt"  # treadle's part of a checkpoint directory
WINDOW_FILE = "window_grads.rank{rank}.pt"  # a rank's unreduced window gradients (mid-window)
PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-mixed")
# precision -> the dtype a MixedPrecisionPolicy computes in (gradients reduced in float32)
COMPUTE_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}

AutoWrapPolicy = Union[Iterable[type], Callable[[nn.Module], bool], None]


def _raw(optimizer: Any) -> Any:
    return getattr(optimizer, "optimizer", optimizer)


class FSDPStrategy(DDPStrategy):
    """Fully sharded data parallel (FSDP2): every rank holds 1/N of the parameters, gradients
    and optimizer states, and gathers a block's parameters only while it runs.

    :param auto_wrap_policy: which submodules are sharded on their own (one all-gather each):
        a set of module classes (``{nn.TransformerEncoderLayer}``), or a callable
        ``policy(module) -> bool``. None: only the Module itself (the root) is sharded.
    :param reshard_after_forward: free a block's gathered parameters after its forward (and
        gather them again for the backward): less memory, more communication. The root keeps
        them (torch's choice), whatever this says.
    :param cpu_offload: keep the sharded parameters, gradients and optimizer states in CPU
        memory (``CPUOffloadPolicy``); useful on CUDA. Without an accelerator the pinned memory
        it asks for does not exist, so it is taken without pinning.
    :param activation_checkpointing: module classes whose activations are recomputed in the
        backward instead of kept (``torch.utils.checkpoint``, non-reentrant).
    """

    def __init__(
        self,
        auto_wrap_policy: AutoWrapPolicy = None,
        *,
        reshard_after_forward: bool = True,
        cpu_offload: bool = False,
        activation_checkpointing: Iterable[type] | None = None,
    ) -> None:
        if auto_wrap_policy is not None and not callable(auto_wrap_policy):
            auto_wrap_policy = _classes(auto_wrap_policy, "auto_wrap_policy")
        self.auto_wrap_policy = auto_wrap_policy
        self.reshard_after_forward = bool(reshard_after_forward)
        self.cpu_offload = bool(cpu_offload)
        self.activation_checkpointing = (
            _classes(activation_checkpointing, "activation_checkpointing")
            if activation_checkpointing is not None
            else ()
        )
        self.name = "fsdp"
        self.mesh: Any = None
        self._sync: bool | None = None  # the root's set_requires_gradient_sync, when known
        # A resumed accumulation window's gradients (this rank's), put back at its next backward.
        self._window_grads: dict[str, Any] | None = None
        self._trainer: Any = None
        # The Module this strategy sharded and its mesh, kept after fit (a later validate,
        # test or predict runs on it as it is) while the process group stays up.
        self._sharded: Any = None
        self._sharded_mesh: Any = None

    def connect(self, trainer: Any) -> FSDPStrategy:
        """Bind this strategy to ``trainer``'s run (ranks, environment); returns itself. The
        Trainer calls it for ``Trainer(strategy=FSDPStrategy(...))``."""
        super().__init__(trainer, "fsdp")
        self._trainer = trainer
        return self

    def __repr__(self) -> str:
        return f"FSDPStrategy(rank={self.global_rank}/{self.world_size})"

    @property
    def owns_precision(self) -> bool:  # type: ignore[override]
        """``bf16-mixed`` is FSDP's MixedPrecisionPolicy (no autocast); the ``*-true``
        precisions stay the precision plugins'."""
        trainer = self._trainer
        return trainer is not None and trainer.config.precision == "bf16-mixed"

    saves_optimizer_states = True  # sharded, through torch.distributed.checkpoint
    #: A save inside an accumulation window writes each rank's unreduced gradients of the window
    #: so far (FSDP holds them unsharded, sync off) beside the shards; see :func:`window_grads`.
    saves_window_gradients = True
    shards_parameters = True

    # -- validation ------------------------------------------------------------------------------

    @hookimpl
    def validate(self, trainer: Any) -> list[str]:
        problems = super().validate(trainer)
        module = trainer.module
        cfg = trainer.config
        if cfg.precision not in PRECISIONS:
            problems.append(
                f"`precision={cfg.precision!r}` is not available with `strategy='fsdp'`; it "
                f"runs {', '.join(repr(p) for p in PRECISIONS)}. Use "
                f"`precision='bf16-mixed'` (or '16-mixed') for low-precision compute with fp32 "
                f"weights, or '32-true'."
            )
        if not treadle.module_available("numpy"):
            problems.append(
                "`strategy='fsdp'` saves and loads checkpoints through "
                "torch.distributed.checkpoint, which needs numpy (`RuntimeError: Numpy is not "
                "available` at the first save otherwise). Run: pip install treadle[fsdp]"
            )
        dtensors = [n for n, p in module.named_parameters() if _is_dtensor(p)]
        if dtensors and not self._evaluates_its_own(trainer, module):
            problems.append(
                f"`strategy='fsdp'`: parameters of the Module are DTensors already "
                f"({', '.join(dtensors[:3])}{', ...' if len(dtensors) > 3 else ''}): another "
                f"strategy, your code, or an earlier `fit()` under `strategy='fsdp'` sharded "
                f"them. Build the Module with plain parameters and let the strategy shard it; to "
                f"evaluate a Module this Trainer fitted, call its `validate()`, `test()` or "
                f"`predict()` (they run on the sharded Module); elsewhere, load its "
                f"consolidated weights into a fresh Module."
            )
        if self.world_size > 1:
            for idx, opt in enumerate(trainer.optimizers):
                if requires_closure(opt):
                    problems += self._closure_problems(module, opt, idx)
        return problems

    def _evaluates_its_own(self, trainer: Any, module: nn.Module) -> bool:
        """validate/test/predict on the Module this strategy sharded in an earlier fit."""
        return module is self._sharded and trainer.state.fn != "fit"

    def _closure_problems(self, module: nn.Module, optimizer: Any, idx: int) -> list[str]:
        """LBFGS-like optimizers flatten every parameter into one vector: under FSDP2 that
        works when each parameter's first dimension splits evenly over the ranks and fails
        ("Cannot flatten unevenly sharded tensor") otherwise (measured, torch 2.13)."""
        names = {id(p): n for n, p in module.named_parameters()}
        uneven = [
            f"{names.get(id(p), '?')} {tuple(p.shape)}"
            for group in _raw(optimizer).param_groups
            for p in group["params"]
            if p.dim() == 0 or p.shape[0] % self.world_size
        ]
        if not uneven:
            return []
        cls = type(_raw(optimizer)).__name__
        return [
            f"`strategy='fsdp'` cannot step `{cls}` (optimizer {idx} of "
            f"`configure_optimizers()`) on {self.world_size} ranks: its closure step flattens "
            f"every parameter, and FSDP cannot flatten a parameter whose first dimension does "
            f"not split evenly over the ranks: {', '.join(uneven[:4])}"
            f"{', ...' if len(uneven) > 4 else ''}. Make those dimensions multiples of "
            f"{self.world_size}, use an optimizer without a closure (SGD, AdamW, ...), or "
            f"`strategy='ddp'`."
        ]

    # -- set-up ----------------------------------------------------------------------------------

    @hookimpl
    def setup_module(self, trainer: Any, module: nn.Module) -> None:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import (
            CPUOffloadPolicy,
            MixedPrecisionPolicy,
            OffloadPolicy,
            fully_shard,
        )

        self.model = None  # DDP's wrapper: none here (DDPStrategy's hooks then stand aside)
        self._window_grads = None
        if self._evaluates_its_own(trainer, module):  # sharded by our fit: run it as it is
            self.mesh = self._sharded_mesh
            return
        device = trainer.accelerator.root_device
        names = {id(p): n for n, p in module.named_parameters()}
        self.mesh = init_device_mesh(device.type, (self.world_size,))
        for sub in module.modules():
            if sub is not module and isinstance(sub, self.activation_checkpointing):
                _checkpoint_activations(sub)
        kwargs: dict[str, Any] = {"mesh": self.mesh}
        compute = COMPUTE_DTYPES.get(trainer.config.precision)
        if compute is not None:  # low-precision copies of the gathered parameters
            kwargs["mp_policy"] = MixedPrecisionPolicy(
                param_dtype=compute, reduce_dtype=torch.float32
            )
        kwargs["offload_policy"] = (
            CPUOffloadPolicy(pin_memory=device.type != "cpu")
            if self.cpu_offload
            else OffloadPolicy()
        )
        policy = self.auto_wrap_policy
        if policy is not None:
            wanted = policy if callable(policy) else lambda m: isinstance(m, policy)
            # Innermost first: a block is sharded before the block that holds it.
            blocks = [m for m in module.modules() if m is not module and wanted(m)]
            for block in reversed(blocks):
                fully_shard(block, reshard_after_forward=self.reshard_after_forward, **kwargs)
        fully_shard(module, **kwargs)
        if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
            _materialize(module, device if not self.cpu_offload else torch.device("cpu"))
        self._sync = True
        _point_optimizers_at(trainer.optimizers, names, dict(module.named_parameters()))
        self._sharded, self._sharded_mesh = module, self.mesh

    @hookimpl
    def setup_dataloader(self, trainer: Any, dataloader: Any, stage: str) -> Any:
        if self.world_size == 1 or not trainer.config.use_distributed_sampler:
            return None
        # Every stage padded: an FSDP forward is a collective (each block gathers its
        # parameters), so every rank must run the same number of batches, evaluation too.
        return distributed_loader(
            dataloader,
            self.world_size,
            self.global_rank,
            seed=int(os.environ.get("TREADLE_GLOBAL_SEED", 0)),
            pad=True,
        )

    # -- the steps -------------------------------------------------------------------------------

    def _set_sync(self, module: Any, sync: bool) -> None:
        if sync is not self._sync:  # it walks every sharded submodule: only when it changes
            module.set_requires_gradient_sync(sync)
            self._sync = sync

    @hookimpl
    def run_training_step(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> Any:
        if self.mesh is None:
            return None
        if module.automatic_optimization:
            # Read in the backward that follows: reduce-scatter only on the stepping batch.
            self._set_sync(module, trainer.state.stepping and not self._block_sync)
        return (_through_root(module, module.training_step, batch, batch_idx),)

    @hookimpl
    def run_validation_step(self, module: Any, batch: Any, batch_idx: int, dataloader_idx: int):
        if self.mesh is None:
            return None
        return (_through_root(module, module.validation_step, batch, batch_idx, dataloader_idx),)

    @hookimpl
    def run_test_step(self, module: Any, batch: Any, batch_idx: int, dataloader_idx: int):
        if self.mesh is None:
            return None
        return (_through_root(module, module.test_step, batch, batch_idx, dataloader_idx),)

    @hookimpl
    def run_predict_step(self, module: Any, batch: Any, batch_idx: int, dataloader_idx: int):
        if self.mesh is None:
            return None
        return (_through_root(module, module.predict_step, batch, batch_idx, dataloader_idx),)

    @hookimpl
    def on_before_backward(self, trainer: Any, module: Any, loss: torch.Tensor) -> None:
        # Manual optimization: each backward reduce-scatters unless inside no_backward_sync.
        if self.mesh is not None and not module.automatic_optimization:
            self._set_sync(module, not self._block_sync)
        if self.mesh is not None and self._window_grads is not None:  # resumed mid-window
            saved, self._window_grads = self._window_grads, None
            set_window_grads(module, saved)

    @contextlib.contextmanager
    def no_backward_sync(self, module: Any = None, enabled: bool = True) -> Iterator[None]:
        """Backward passes inside this block accumulate gradients (unsharded) without
        reduce-scattering them; the first backward outside it reduces the accumulated sum::

            with self.trainer.strategy.no_backward_sync(self, enabled=not stepping):
                self.manual_backward(loss)
        """
        if not enabled:
            yield
            return
        previous, self._block_sync = self._block_sync, True
        try:
            yield
        finally:
            self._block_sync = previous

    # A DTensor (a value computed from sharded parameters: ``torch.isfinite(p).all()``) enters
    # a collective as the whole value it stands for; torch's collectives take plain tensors.

    @hookimpl
    def reduce(self, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor | None:
        return super().reduce(_whole(tensor), reduce_op)

    @hookimpl
    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor | None:
        return super().all_gather(_whole(tensor))

    @hookimpl
    def teardown(self) -> None:
        self.mesh = None
        if self._sharded is not None and not self._failed and self._active():
            # The sharded Module's parameters live on this group: it stays up for a later
            # validate/test/predict in these processes (no rank leaves a collective behind).
            self.model = None
            self.barrier("fsdp.teardown")
            self.keep_group()
            return
        self._sharded = self._sharded_mesh = None
        super().teardown()

    # -- checkpoints -----------------------------------------------------------------------------

    def _state(self, trainer: Any, module: nn.Module, with_optimizers: bool) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_state_dict

        optimizers = [_raw(o) for o in trainer.optimizers] if with_optimizers else []
        model_sd, optim_sd = get_state_dict(module, optimizers)
        state: dict[str, Any] = {"model": model_sd}
        if optimizers:
            state["optim"] = optim_sd
        return state

    @hookimpl
    def save_checkpoint(self, trainer: Any, checkpoint: dict, filepath: Any, weights_only: bool):
        if self.mesh is None:
            return None
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        from treadle import checkpoint_io

        module = trainer.module
        path = Path(filepath)
        checkpoint.pop("optimizer_states", None)
        if weights_only:  # one ordinary file: the full weights, gathered (a collective)
            checkpoint["state_dict"] = get_model_state_dict(
                module, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
            )
            if trainer.is_global_zero:
                checkpoint_io.save_atomic(checkpoint, path)
            return True
        # Every rank writes its shards into `tmp`; rank zero renames it to `path` once all have
        # written, so `path` is always a complete checkpoint (the new one or the previous one).
        barrier = functools.partial(self.barrier, "fsdp.save")
        with checkpoint_io.directory_swap(path, trainer.is_global_zero, barrier) as tmp:
            state = self._state(trainer, module, with_optimizers=bool(trainer.optimizers))
            try:
                dcp.save(state, checkpoint_id=str(tmp))
            except BaseException as exc:  # CheckpointException derives from BaseException
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                raise RuntimeError(f"fsdp: writing checkpoint {str(path)!r} failed: {exc}") from exc
            # Inside an accumulation window: this rank's gradients of the window so far (every
            # rank is at the same batch, so every rank writes one, or none does).
            window = self._window_grads if self._window_grads is not None else window_grads(module)
            if window["grads"]:
                checkpoint_io.save_atomic(window, tmp / WINDOW_FILE.format(rank=self.global_rank))
            if trainer.is_global_zero:
                treadle_part = {k: v for k, v in checkpoint.items() if k != "state_dict"}
                treadle_part["fsdp"] = {"world_size": self.world_size}
                if window["grads"]:
                    treadle_part["fsdp"]["window_grads"] = True
                checkpoint_io.save_atomic(treadle_part, tmp / TREADLE_FILE)
        return True

    @hookimpl
    def load_checkpoint(self, trainer: Any, filepath: Any):
        if self.mesh is None:
            return None
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_state_dict,
        )

        from treadle import checkpoint_io

        module, path = trainer.module, Path(filepath)
        if path.is_file():  # one ordinary file (weights_only, consolidated, another strategy's)
            checkpoint = checkpoint_io.load(path)
            if trainer.state.fn == "fit" and "optimizer_states" in checkpoint:
                raise treadle.CheckpointError(
                    filepath,
                    "it is a one-file checkpoint with optimizer states, which `strategy='fsdp'` "
                    "cannot shard (they are keyed by parameter position, not name). Resume an "
                    "FSDP run from its checkpoint directory, or load these weights before "
                    "fit (`model.load_state_dict(torch.load(path, weights_only=True)"
                    "['state_dict'])`) without ckpt_path.",
                )
            set_model_state_dict(
                module,
                checkpoint.pop("state_dict"),
                options=StateDictOptions(full_state_dict=True),
            )
            return checkpoint
        if not path.is_dir():
            raise treadle.CheckpointError(filepath, "no such file or directory.")
        if not (path / TREADLE_FILE).is_file():
            raise treadle.CheckpointError(
                filepath,
                f"the directory has no {TREADLE_FILE}: it is not a complete treadle FSDP "
                f"checkpoint. Resume from an earlier checkpoint.",
            )
        checkpoint = checkpoint_io.load(path / TREADLE_FILE)
        fitting = trainer.state.fn == "fit" and bool(trainer.optimizers)
        state = self._state(trainer, module, with_optimizers=fitting)
        load_sharded(state, path)
        optimizers = [_raw(o) for o in trainer.optimizers] if fitting else []
        set_state_dict(
            module,
            optimizers,
            model_state_dict=state["model"],
            optim_state_dict=state.get("optim", {}),
        )
        saved = checkpoint.get("fsdp", {})
        if fitting and saved.get("window_grads"):  # saved inside an accumulation window
            self._window_grads = self._saved_window_grads(module, path, saved.get("world_size"))
        return checkpoint  # no "state_dict"/"optimizer_states": restored here

    def _saved_window_grads(self, module: nn.Module, path: Path, saved_on: Any) -> dict[str, Any]:
        """This rank's window gradients of a checkpoint saved inside an accumulation window,
        checked against the Module (put back at the next backward: :func:`set_window_grads`)."""
        from treadle import checkpoint_io

        if saved_on != self.world_size:
            raise treadle.CheckpointError(
                path,
                f"it was saved on {saved_on} ranks inside a gradient accumulation window (each "
                f"rank's unreduced gradients of the window are in it) and this run has "
                f"{self.world_size}. Resume it on {saved_on} ranks, or resume from a checkpoint "
                f"saved outside an accumulation window (after a batch that steps the optimizer).",
            )
        file = path / WINDOW_FILE.format(rank=self.global_rank)
        if not file.is_file():
            raise treadle.CheckpointError(
                path,
                f"it was saved inside a gradient accumulation window but has no {file.name} "
                f"(rank {self.global_rank}'s gradients of the window): the directory is not "
                f"complete. Resume from another checkpoint.",
            )
        window = checkpoint_io.load(file)
        shapes = {name: tuple(fp._orig_size) for name, fp in _fsdp_params(module)}
        grads: Any = window.get("grads") if isinstance(window, dict) else None
        wrong = [] if isinstance(grads, dict) else ["no dict of gradients"]
        for name, grad in grads.items() if not wrong else ():
            if name not in shapes:
                wrong.append(f"{name!r}: no such parameter")
            elif not isinstance(grad, torch.Tensor) or tuple(grad.shape) != shapes[name]:
                what = tuple(grad.shape) if isinstance(grad, torch.Tensor) else type(grad).__name__
                wrong.append(f"{name!r}: {what}, the parameter's shape is {shapes[name]}")
        if wrong:
            raise treadle.CheckpointError(
                file,
                f"the gradients of the accumulation window it holds do not fit this model: "
                f"{'; '.join(wrong)}. Resume it with the model that saved it, or from a "
                f"checkpoint saved outside an accumulation window.",
            )
        return window


# ---------------------------------------------------------------------------------------------
# The steps through the root.
# ---------------------------------------------------------------------------------------------


def _fsdp_params(module: nn.Module) -> Iterator[tuple[str, Any]]:
    """``(name, FSDPParam)`` for every parameter ``fully_shard`` manages in ``module``."""
    from torch.distributed.fsdp import FSDPModule

    names = {id(p): n for n, p in module.named_parameters()}
    for sub in module.modules():
        if isinstance(sub, FSDPModule):
            for group in sub._get_fsdp_state()._fsdp_param_groups:
                for fsdp_param in group.fsdp_params:
                    yield names[id(fsdp_param.sharded_param)], fsdp_param


def window_grads(module: nn.Module) -> dict[str, Any]:
    """This rank's gradients of an unfinished accumulation window, by parameter name.

    With gradient sync off, FSDP2 does not reduce-scatter: each rank keeps its own unreduced,
    unsharded gradient of every parameter it computed one for, on the unsharded parameter
    (``.grad``), or, when the compute dtype differs from the reduce dtype (``bf16-mixed``),
    upcast in ``unsharded_accumulated_grad``. torch has no public reader for them (torch 2.13:
    ``FSDPParam`` attributes): ``{"grads": {name: tensor}, "accumulated": [names in the
    second place]}``, both empty outside a window."""
    grads: dict[str, torch.Tensor] = {}
    accumulated: list[str] = []
    for name, fsdp_param in _fsdp_params(module):
        grad = fsdp_param.unsharded_accumulated_grad
        if grad is not None:
            accumulated.append(name)
        else:
            unsharded = getattr(fsdp_param, "_unsharded_param", None)
            grad = None if unsharded is None else unsharded.grad
        if grad is not None:
            grads[name] = _whole(grad).detach().cpu().clone()
    return {"grads": grads, "accumulated": accumulated}


def set_window_grads(module: nn.Module, window: dict[str, Any]) -> None:
    """Put :func:`window_grads`' gradients back where FSDP holds them, between a forward (which
    made the unsharded parameters) and its backward, which then adds its own to them as the
    uninterrupted window's backward did: the same sums in the same order, bit for bit."""
    grads, accumulated = window["grads"], set(window.get("accumulated", ()))
    for name, fsdp_param in _fsdp_params(module):
        if name not in grads:
            continue
        if name in accumulated:
            dtype = fsdp_param.reduce_dtype or fsdp_param.orig_dtype
            fsdp_param.unsharded_accumulated_grad = grads[name].to(
                device=fsdp_param.sharded_param.device, dtype=dtype
            )
            continue
        unsharded = fsdp_param._unsharded_param
        unsharded.grad = grads[name].to(device=unsharded.device, dtype=unsharded.dtype)


def _through_root(module: nn.Module, step: Any, *args: Any) -> Any:
    """``step(*args)`` inside ``module.__call__``: FSDP's root pre-forward hook gathers the
    root's own parameters (and casts floating inputs under a MixedPrecisionPolicy), its
    post-forward hook reshards, and the backward is set up as for a forward. The Module's
    ``forward`` is redirected for this one call; inside the step, ``self(x)`` is the real
    ``forward`` again (Lightning's forward redirection)."""

    def redirected(*call_args: Any) -> Any:
        module.__dict__.pop("forward", None)  # the step's own self(x) calls the real forward
        return call_step(step, *call_args)

    module.__dict__["forward"] = redirected
    try:
        return module(*args)
    finally:
        module.__dict__.pop("forward", None)


def _checkpoint_activations(module: nn.Module) -> None:
    """Recompute ``module``'s activations in the backward (non-reentrant checkpointing), its
    parameter names unchanged (no wrapper module)."""
    from torch.utils.checkpoint import checkpoint

    forward = module.forward

    @functools.wraps(forward)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    module.forward = checkpointed  # type: ignore[method-assign]


def _materialize(module: nn.Module, device: torch.device) -> None:
    """Sharded parameters left on the meta device get storage and each submodule's
    ``reset_parameters()`` (on sharded DTensors, torch's distributed RNG draws the whole
    tensor's values once, every rank keeping its shard)."""
    module.to_empty(device=device)
    with torch.no_grad():
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset) and sub is not module:
                reset()


def _point_optimizers_at(optimizers: list[Any], names: dict[int, str], params: dict) -> None:
    """Point the parameter groups of ``optimizers`` (built before sharding) at the sharded
    parameters, matched by name. In place (``group["params"][:]``): LBFGS keeps a reference to
    its group's list."""
    for optimizer in optimizers:
        raw = _raw(optimizer)
        if raw.state:
            raise RuntimeError(
                f"fsdp: `{type(raw).__name__}` has state before the first step; it cannot be "
                f"moved to the sharded parameters. Do not step optimizers in "
                f"`configure_optimizers()`."
            )
        for group in raw.param_groups:
            new = []
            for p in group["params"]:
                name = names.get(id(p))
                if name is None or name not in params:
                    raise RuntimeError(
                        f"fsdp: `{type(raw).__name__}` optimizes a tensor of shape "
                        f"{tuple(p.shape)} that is not a parameter of the Module; FSDP can only "
                        f"shard the Module's own parameters. Build the optimizer from "
                        f"`self.parameters()` (or named submodules' parameters)."
                    )
                new.append(params[name])
            group["params"][:] = new


# ---------------------------------------------------------------------------------------------
# Reading DCP checkpoints without running pickled code.
# ---------------------------------------------------------------------------------------------


_PATHS = ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")


class _MetadataUnpickler(pickle.Unpickler):
    """DCP's ``.metadata`` is a pickle: only its own record classes (dataclasses and enums of
    ``torch.distributed.checkpoint``), torch dtypes, memory formats, ``torch.Size``, torch's layout
    lookup and ``pathlib`` paths may be named in it; anything else (``os.system``...) is refused."""

    def find_class(self, module_name: str, name: str) -> Any:
        if module_name.startswith("torch.distributed.checkpoint."):
            import dataclasses
            import enum
            import importlib

            obj = getattr(importlib.import_module(module_name), name, None)
            if isinstance(obj, type) and (
                dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)
            ):
                return obj
        if module_name == "torch":
            obj = getattr(torch, name, None)
            if obj is torch.Size or isinstance(obj, (torch.dtype, torch.memory_format)):
                return obj
        if module_name == "torch.serialization" and name == "_get_layout":
            return torch.serialization._get_layout  # a lookup of a torch.layout by its name
        if module_name == "pathlib" and name in _PATHS:  # the checkpoint id it was saved as
            import pathlib

            return getattr(pathlib, name)
        if module_name == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(
            f"the checkpoint's .metadata names `{module_name}.{name}`, which a "
            f"torch.distributed.checkpoint metadata file never holds; refused (loading it "
            f"could run code)."
        )


def _check_metadata(path: Path) -> None:
    """Read ``path/.metadata`` with the allowlist unpickler: a ``CheckpointError`` naming the
    file for one that names anything else (DCP itself would bury the reason in its own
    error)."""
    meta = path / ".metadata"
    if not meta.is_file():
        raise treadle.CheckpointError(
            path, "it has no .metadata: not a complete torch.distributed.checkpoint directory."
        )
    with open(meta, "rb") as stream:
        try:
            _MetadataUnpickler(stream).load()
        except pickle.UnpicklingError as exc:
            raise treadle.CheckpointError(path, str(exc)) from None


def _safe_reader(path: Path) -> Any:
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import StorageMeta

    class SafeReader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            meta_path = self._get_metadata_path(kwargs.get("rank"))
            with self.fs.create_stream(meta_path, "rb") as stream:
                try:
                    metadata = _MetadataUnpickler(stream).load()
                except pickle.UnpicklingError as exc:
                    raise treadle.CheckpointError(path, str(exc)) from None
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    return SafeReader(str(path))


def _safe_planner(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint import DefaultLoadPlanner
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner

    base = _EmptyStateDictLoadPlanner if kwargs.pop("empty", False) else DefaultLoadPlanner

    class SafePlanner(base):  # type: ignore[misc, valid-type]
        """Non-tensor items (learning rates, step counts) are read with
        ``torch.load(weights_only=True)``; torch's planner reads them with pickle."""

        def load_bytes(self, read_item: Any, value: Any) -> None:
            loaded = torch.load(value, weights_only=True)
            if self.flatten_state_dict:
                from torch.distributed.checkpoint._nested_dict import set_element

                set_element(
                    self.original_state_dict, self.mappings[read_item.dest_index.fqn], loaded
                )
            else:
                self.state_dict[read_item.dest_index.fqn] = loaded

    return SafePlanner(**kwargs)


def load_sharded(state: dict[str, Any], path: Any) -> None:
    """``torch.distributed.checkpoint.load(state, path)`` without running pickled code: the
    metadata through an allowlist unpickler, non-tensor items weights-only."""
    import torch.distributed.checkpoint as dcp

    _check_metadata(Path(path))
    try:
        dcp.load(state, storage_reader=_safe_reader(Path(path)), planner=_safe_planner())
    except treadle.CheckpointError:
        raise
    except BaseException as exc:  # CheckpointException derives from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise treadle.CheckpointError(path, f"torch.distributed.checkpoint failed: {exc}") from exc


def consolidate(checkpoint_dir: str | os.PathLike, output: str | os.PathLike) -> Path:
    """One ordinary checkpoint file from an FSDP checkpoint directory, in one process (no
    process group): ``state_dict`` holds the full weights, plus ``epoch``, ``global_step`` and
    the hyperparameters, so ``torch.load(output, weights_only=True)``,
    ``Module.load_from_checkpoint(output)`` and any strategy's ``fit(ckpt_path=output)`` (as
    a start from these weights) read it. Optimizer states are left out (they are kept per
    parameter name in the directory; resume from the directory for them).

    Command line: ``python -m treadle_plugins.strategies.fsdp CHECKPOINT_DIR OUTPUT``.
    """
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    from treadle import checkpoint_io

    directory = Path(checkpoint_dir)
    if not (directory / TREADLE_FILE).is_file():
        raise treadle.CheckpointError(
            directory, f"no {TREADLE_FILE} in it: not a complete treadle FSDP checkpoint."
        )
    meta = checkpoint_io.load(directory / TREADLE_FILE)
    _check_metadata(directory)
    full: dict[str, Any] = {}
    _load_state_dict(
        full,
        storage_reader=_safe_reader(directory),
        planner=_safe_planner(empty=True),
        no_dist=True,
    )
    keep = ("treadle_version", "epoch", "global_step", "hyper_parameters", "hparams_name")
    out = {k: meta[k] for k in keep if k in meta}
    out["state_dict"] = full["model"]
    return checkpoint_io.save_atomic(out, Path(output))


# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------


def _whole(t: Any) -> Any:
    return t.full_tensor() if _is_dtensor(t) else t


def _is_dtensor(t: Any) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def _classes(value: Any, what: str) -> tuple[type, ...]:
    items = (value,) if isinstance(value, type) else tuple(value)
    bad = [x for x in items if not (isinstance(x, type) and issubclass(x, nn.Module))]
    if bad:
        raise TypeError(
            f"FSDPStrategy({what}=...) takes module classes (e.g. {{nn.TransformerEncoderLayer}})"
            + (" or a callable `policy(module) -> bool`" if what == "auto_wrap_policy" else "")
            + f", got {', '.join(repr(b) for b in bad)}."
        )
    return items


@hookimpl
def provide_strategies():
    return [
        Provider(
            "strategy",
            "fsdp",
            lambda trainer: FSDPStrategy().connect(trainer),
            description="torch FSDP2 (fully_shard): parameters, gradients and optimizer states "
            "sharded; launches its ranks or joins torchrun/SLURM.",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m treadle_plugins.strategies.fsdp CHECKPOINT_DIR OUTPUT``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m treadle_plugins.strategies.fsdp",
        description="Consolidate a sharded FSDP checkpoint directory into one checkpoint file.",
    )
    parser.add_argument("checkpoint_dir")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    written = consolidate(args.checkpoint_dir, args.output)
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
