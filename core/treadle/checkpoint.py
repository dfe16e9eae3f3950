"""What a checkpoint holds, and how a run is restored from one (``checkpoint_io``: the files).

A checkpoint is a dict of tensors and plain containers (it loads with ``weights_only=True``):
``epoch``, ``global_step``, ``state_dict``, and unless ``weights_only``: ``loops`` (where
``fit()`` resumes, ``FitLoop.position``), ``rng_states``, ``optimizer_states`` (absent when
the strategy saves them itself), ``lr_schedulers``, ``callbacks`` (by ``state_key``), the
DataModule's ``state_dict`` (under its class's qualified name, when not empty) and whatever
``on_save_checkpoint`` implementations add.

``loops["fit"]`` holds ``epoch`` and ``batches_done`` (the epoch to resume in and the batches
of it already run) and, as the point requires: ``total_batches``; for a mid-epoch point
``epoch_rng`` (the RNG before the epoch's data iterator was made, to replay its shuffle),
``validation_pending``, ``metrics`` (the epoch's ``on_epoch=True`` accumulators), ``grads``
(an unfinished accumulation window's gradients; under several ranks both are in ``ranks``,
one entry a rank) and ``dataloader`` (a stateful loader's ``state_dict``); for a save in a
finished epoch's end hooks, ``plateau`` (the monitored values of the ``ReduceLROnPlateau``
steps still owed). Checkpoints without these keys still resume.
``docs/checkpoints.md`` describes each path.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import torch

from treadle import _ckpt_check
from treadle._hparams import checkpoint_entries
from treadle._profiling import call_hook
from treadle.errors import CheckpointError

VERSION = "0.1.0"


def state_key(callback: Any) -> str:
    """The key of a callback's state in a checkpoint (Lightning's ``Callback.state_key``)."""
    return getattr(callback, "state_key", type(callback).__qualname__)


def dump(trainer: Any, hooks: Any, loop: Any, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint of ``trainer``'s run as it stands; ``loop``: the fit loop (or None), which
    says where the run resumes (``FitLoop.position``)."""
    module, state = trainer.module, trainer.state
    if module is None:
        raise AttributeError(  # Lightning's words and type
            "Saving a checkpoint is only possible if a model is attached to the Trainer. Did you "
            "call `Trainer.save_checkpoint()` before calling `Trainer.{fit,validate,test,"
            "predict}`? Call it during or after one of them."
        )
    checkpoint: dict[str, Any] = {
        "treadle_version": VERSION,
        "epoch": state.epoch,
        "global_step": state.global_step,
        "state_dict": module.state_dict(),
        **checkpoint_entries(module),  # "hyper_parameters", "hparams_name" (as Lightning)
    }
    if weights_only:  # as Lightning: the Module's on_save_checkpoint runs, the callbacks' do not
        pm = trainer.plugin_manager
        user = pm.get_plugin("module")
        others = [p for p in pm.get_plugins() if p is not user]
        if user is not None:
            hooks.subset("on_save_checkpoint", others)(
                trainer=trainer, module=module, checkpoint=checkpoint
            )
        return checkpoint
    outside = {"loops": {"epoch": state.epoch, "batches_done": 0}}  # no fit() has run
    position = loop.position() if loop is not None else outside
    fit = position["loops"]
    if trainer.world_size > 1 and "metrics" in fit:  # mid-epoch: each rank's own partial state
        fit = every_rank(trainer, fit)
    checkpoint["loops"] = {"fit": fit}
    checkpoint["rng_states"] = position.get("rng") or rng_state()
    if not trainer.strategy.saves_optimizer_states:  # DeepSpeed writes its own
        checkpoint["optimizer_states"] = position.get("optimizer_states") or [
            o.state_dict() for o in trainer.optimizers
        ]
    checkpoint["lr_schedulers"] = position.get("lr_schedulers") or [
        c.scheduler.state_dict() for c in trainer.lr_scheduler_configs
    ]
    checkpoint["callbacks"] = {
        state_key(cb): cb.state_dict() for cb in trainer.callbacks if hasattr(cb, "state_dict")
    }
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None:  # under its class's qualified name, as Lightning
        # "datamodule_hyper_parameters", "datamodule_hparams_name" (as Lightning)
        checkpoint.update(checkpoint_entries(datamodule, prefix="datamodule_"))
        datamodule_state = call_hook(trainer, "LightningDataModule", datamodule, "state_dict")
        if datamodule_state:
            checkpoint[type(datamodule).__qualname__] = datamodule_state
    hooks.on_save_checkpoint(trainer=trainer, module=module, checkpoint=checkpoint)
    return checkpoint


# What ``loops.fit`` may hold beyond ``epoch`` and ``batches_done`` (see the module docstring).
_RESUME_KEYS = (
    "epoch_rng",
    "total_batches",
    "validation_pending",
    "metrics",
    "grads",
    "dataloader",
    "plateau",
)


# Under several ranks a mid-epoch ``loops.fit`` holds, in place of ``metrics`` and ``grads``,
# ``ranks``: one ``{"metrics": ..., "grads": ...}`` a rank, in rank order (``grads`` only inside
# an accumulation window, where each rank's local gradients differ: DDP's ``no_sync``).
_PER_RANK = ("metrics", "grads")


def every_rank(trainer: Any, fit: dict[str, Any]) -> dict[str, Any]:
    """``fit`` (this rank's ``loops.fit``) with ``metrics`` and ``grads`` replaced by every
    rank's, as ``ranks``. A collective: every rank saves (``trainer.save_checkpoint``)."""
    metrics = {
        name: {
            **entry,
            "total": entry["total"].cpu()
            if isinstance(entry["total"], torch.Tensor)
            else entry["total"],
        }
        for name, entry in fit["metrics"].items()
    }
    world_size = trainer.world_size
    ranks: list[dict[str, Any]] = [
        {"metrics": trainer.broadcast(metrics, src=src)} for src in range(world_size)
    ]
    grads = fit.get("grads")
    if grads is not None:  # inside an accumulation window: gather each parameter's gradients
        params = list(trainer.module.named_parameters())
        held = torch.tensor([name in grads for name, _ in params], dtype=torch.int32)
        held_by = trainer.all_gather(held).cpu()  # [rank, parameter]
        for src, rank in enumerate(ranks):  # (none under DeepSpeed: its engine holds them)
            if held_by[src].any():
                rank["grads"] = {}
        for i, (name, p) in enumerate(params):
            if not held_by[:, i].any():
                continue
            local = grads[name] if name in grads else torch.zeros_like(p)
            gathered = trainer.all_gather(local)
            for src, rank in enumerate(ranks):
                if held_by[src, i]:
                    rank["grads"][name] = gathered[src].detach().cpu().clone()
    fit = {k: v for k, v in fit.items() if k not in _PER_RANK}
    fit["ranks"] = ranks
    return fit


def own_rank(trainer: Any, fit: dict[str, Any], path: Any) -> dict[str, Any]:
    """This rank's ``metrics`` and ``grads`` of a ``loops.fit`` saved under several ranks.

    Resumed on another number of ranks: a save inside an accumulation window cannot resume
    (the window's gradients are per rank); otherwise every rank continues the epoch's metric
    values from rank zero's, with a warning."""
    ranks = fit["ranks"]
    if not (isinstance(ranks, list) and ranks and all(isinstance(r, dict) for r in ranks)):
        raise CheckpointError(
            path,
            "its `loops.fit.ranks` is not a list of dicts, one a rank (what treadle writes "
            "mid-epoch on several ranks): the file is damaged or was not "
            "written by treadle. Resume from another checkpoint.",
        )
    world_size, rank = trainer.world_size, trainer.global_rank
    if len(ranks) == world_size:
        return {k: v for k, v in ranks[rank].items() if k in _PER_RANK}
    if any("grads" in r for r in ranks):
        raise CheckpointError(
            path,
            f"it was saved on {len(ranks)} ranks inside a gradient accumulation window (each "
            f"rank's partial gradients are in it) and this run has {world_size}. Resume it on "
            f"{len(ranks)} ranks, or resume from a checkpoint saved outside an accumulation "
            f"window (after a batch that steps the optimizer).",
        )
    warnings.warn(
        f"checkpoint {str(path)!r} was saved mid-epoch on {len(ranks)} ranks and this run has "
        f"{world_size}: every rank continues the epoch's `on_epoch=True` values from rank "
        f"zero's, so this epoch's logged means are not those of an uninterrupted run. Resume "
        f"on {len(ranks)} ranks for them.",
        stacklevel=2,
    )
    return {"metrics": ranks[0]["metrics"]}


def restore(trainer: Any, hooks: Any, ckpt_path: Any) -> dict[str, Any] | None:
    """Load ``ckpt_path`` into ``trainer``'s run; returns the point the fit loop resumes from
    (``loops.fit`` of the checkpoint, with ``rng`` for a mid-epoch point), or None for a
    checkpoint without one (``weights_only``).

    A mid-epoch point (``batches_done`` > 0) tells the fit loop how many batches of the epoch to
    skip, which RNG states to restore around that skip, and what the epoch had accumulated.
    """
    checkpoint = hooks.load_checkpoint(trainer=trainer, filepath=ckpt_path)
    _ckpt_check.check(trainer, checkpoint, ckpt_path)  # CheckpointError naming the file
    loop = checkpoint.get("loops", {}).get("fit", {})
    if "ranks" in loop:  # saved mid-epoch on several ranks: this rank's part (checked first)
        loop = {**loop, **own_rank(trainer, loop, ckpt_path)}
    module, state = trainer.module, trainer.state
    if "state_dict" in checkpoint:  # absent when the strategy restored the weights itself
        module.load_state_dict(checkpoint["state_dict"], strict=module.strict_loading)
    # As Lightning: the callbacks before the optimizers (a finetuning callback rebuilds the
    # parameter groups it added, which the saved optimizer state has).
    saved = checkpoint.get("callbacks", {})
    present = {state_key(cb) for cb in trainer.callbacks}
    missing = [key for key, value in saved.items() if value and key not in present]
    if missing and trainer.is_global_zero:  # as Lightning (a callback with no state is no loss)
        warnings.warn(
            "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need "
            "to be provided during `Trainer` instantiation. Please add the following "
            f"callbacks: {missing}.",
            UserWarning,
            stacklevel=4,
        )
    for cb in trainer.callbacks:
        key = state_key(cb)
        if key in saved and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(saved[key])
    _ckpt_check.check_run_optimizers(trainer, checkpoint, ckpt_path)
    for opt, opt_state in zip(trainer.optimizers, checkpoint.get("optimizer_states", [])):
        opt.load_state_dict(opt_state)
    for cfg, sch_state in zip(trainer.lr_scheduler_configs, checkpoint.get("lr_schedulers", [])):
        cfg.scheduler.load_state_dict(sch_state)
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None and type(datamodule).__qualname__ in checkpoint:
        saved_state = checkpoint[type(datamodule).__qualname__]
        call_hook(trainer, "LightningDataModule", datamodule, "load_state_dict", saved_state)
    hooks.on_load_checkpoint(trainer=trainer, module=module, checkpoint=checkpoint)
    if state.fn == "fit":
        state.global_step = checkpoint["global_step"]
        if state.global_step:  # the optimizers stepped in the run resumed: an epoch scheduler
            for cfg in trainer.lr_scheduler_configs:  # stepped first is no misuse (torch's flag)
                optimizer = getattr(cfg.scheduler, "optimizer", None)
                if optimizer is not None:
                    optimizer._opt_called = True
        # fit() resumes where its loop stopped (after an epoch-end save: the next epoch).
        state.epoch = loop.get("epoch", checkpoint["epoch"])
    # validate/test/predict leave `global_step` and `current_epoch` as they are (a fresh
    # Trainer's 0, or the fit's): as Lightning 2.6.6, which restores the fit loop's progress for
    # fit only.
    if not loop:
        if "rng_states" in checkpoint:
            set_rng_state(checkpoint["rng_states"])
        return None
    resume: dict[str, Any] = {"batches_done": loop.get("batches_done", 0)}
    resume.update((k, loop[k]) for k in _RESUME_KEYS if loop.get(k) is not None)
    if resume["batches_done"]:
        resume["rng"] = checkpoint["rng_states"]  # set by the loop, after the skip
    elif "rng_states" in checkpoint:
        set_rng_state(checkpoint["rng_states"])
    return resume


def rng_state() -> dict[str, Any]:
    """Python's, torch's (CUDA's when in use) and NumPy's (when installed) RNG states."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np
    except ImportError:
        return state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = (
        kind,
        torch.from_numpy(keys.astype("int64")),  # type: ignore[attr-defined]
        pos,
        has_gauss,
        cached,
    )  # (numpy types get_state() as str | tuple)
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        try:
            import numpy as np
        except ImportError:  # saved where NumPy was installed: here nothing can draw from it
            return
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(i) for i in x) if isinstance(x, (list, tuple)) else x
