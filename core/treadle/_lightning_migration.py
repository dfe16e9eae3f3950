"""Lightning's checkpoint upgrades: ``utilities.migration`` and ``utilities.upgrade_checkpoint``.

treadle resumes from a Lightning checkpoint (``trainer.fit(model, ckpt_path=...)``,
``Model.load_from_checkpoint``) by reading the keys every Lightning version writes (``epoch``,
``global_step``, ``state_dict``, ``optimizer_states``, ``lr_schedulers``). Older Lightning
versions laid the rest out differently (the callbacks' states, the loops' progress), and a
program that moves from Lightning may keep upgrading its files with
``migrate_checkpoint(checkpoint)`` or ``python -m lightning.pytorch.utilities.upgrade_checkpoint
PATH``. Mapped, those are ``treadle.utilities.migration`` and ``treadle.utilities.upgrade_checkpoint``
(this module, loaded on first import): the same steps, bringing a checkpoint to the layout of
Lightning :data:`LIGHTNING_LAYOUT`, the release whose checkpoints treadle reads.

The version written into ``pytorch-lightning_version`` is :data:`LIGHTNING_LAYOUT`, a Lightning
version (Lightning writes its own ``__version__``, which is the same thing there): treadle's own
version numbers say nothing about Lightning's layout, and comparing the two would upgrade a
Lightning 2 checkpoint as if it were older than treadle 0.1 (docs/migration.md).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from packaging.version import Version

from treadle._ckpt_check import read_checkpoint
from treadle.utilities import PossibleUserWarning, rank_zero_warn

#: the Lightning release whose checkpoint layout :func:`migrate_checkpoint` reaches
LIGHTNING_LAYOUT = "2.6.6"
VERSION_KEY = "pytorch-lightning_version"
LEGACY_VERSION_KEY = "legacy_pytorch-lightning_version"

Checkpoint = dict[str, Any]


# -- the steps, one per layout change, under the Lightning version that made it -------------------


def _callback_keys_of_0_10(checkpoint: Checkpoint) -> Checkpoint:
    """0.10.0: the top-level ``checkpoint_callback_*``/``early_stop_callback_*`` keys moved into
    ``callbacks``, keyed by the callback's class."""
    from treadle.callbacks import EarlyStopping, ModelCheckpoint

    moved = {
        "checkpoint_callback_best_model_score": (ModelCheckpoint, "best_model_score"),
        "checkpoint_callback_best_model_path": (ModelCheckpoint, "best_model_path"),
        "checkpoint_callback_best": (ModelCheckpoint, "best_model_score"),
        "early_stop_callback_wait": (EarlyStopping, "wait_count"),
        "early_stop_callback_patience": (EarlyStopping, "patience"),
    }
    callbacks = checkpoint["callbacks"] = checkpoint.get("callbacks") or {}
    for old, (kind, name) in moved.items():
        if old in checkpoint:
            callbacks.setdefault(kind, {})[name] = checkpoint.pop(old)
    return checkpoint


def _progress(*fields: str) -> dict[str, dict[str, int]]:
    return {"current": dict.fromkeys(fields, 0), "total": dict.fromkeys(fields, 0)}


def _fit_loop_of_1_6() -> dict[str, Any]:
    """The fit loop's state as Lightning 1.6.0 saved it before any step."""
    batch = {**_progress("completed", "processed", "ready", "started"), "is_last_batch": False}
    return {
        "epoch_loop.batch_loop.manual_loop.optim_step_progress": _progress("completed", "ready"),
        "epoch_loop.batch_loop.manual_loop.state_dict": {},
        "epoch_loop.batch_loop.optimizer_loop.optim_progress": {
            "optimizer": {
                "step": _progress("completed", "ready"),
                "zero_grad": _progress("completed", "ready", "started"),
            },
            "optimizer_position": 0,
        },
        "epoch_loop.batch_loop.optimizer_loop.state_dict": {},
        "epoch_loop.batch_loop.state_dict": {},
        "epoch_loop.batch_progress": batch,
        "epoch_loop.scheduler_progress": _progress("completed", "ready"),
        "epoch_loop.state_dict": {"_batches_that_stepped": 0},
        "epoch_loop.val_loop.dataloader_progress": _progress("completed", "ready"),
        "epoch_loop.val_loop.epoch_loop.batch_progress": {
            **_progress("completed", "processed", "ready", "started"),
            "is_last_batch": False,
        },
        "epoch_loop.val_loop.epoch_loop.state_dict": {},
        "epoch_loop.val_loop.state_dict": {},
        "epoch_progress": _progress("completed", "processed", "ready", "started"),
        "state_dict": {},
    }


def _fit_loop(checkpoint: Checkpoint) -> dict[str, Any]:
    loops = checkpoint.setdefault("loops", {})
    if "fit_loop" not in loops:
        loops["fit_loop"] = _fit_loop_of_1_6()
    return loops["fit_loop"]


def _global_step_to_progress_of_1_6(checkpoint: Checkpoint) -> Checkpoint:
    """1.6.0: ``global_step`` became the optimizer steps completed (automatic and manual)."""
    fit_loop = _fit_loop(checkpoint)
    step = checkpoint["global_step"]
    automatic = fit_loop["epoch_loop.batch_loop.optimizer_loop.optim_progress"]
    automatic["optimizer"]["step"]["total"]["completed"] = step
    fit_loop["epoch_loop.batch_loop.manual_loop.optim_step_progress"]["total"]["completed"] = step
    return checkpoint


def _epoch_to_progress_of_1_6(checkpoint: Checkpoint) -> Checkpoint:
    """1.6.0: ``epoch`` became the fit loop's completed epochs."""
    _fit_loop(checkpoint)["epoch_progress"]["current"]["completed"] = checkpoint["epoch"]
    return checkpoint


def _batches_that_stepped_of_1_6_5(checkpoint: Checkpoint) -> Checkpoint:
    """1.6.5: the epoch loop counts ``_batches_that_stepped`` (the logging step)."""
    state = checkpoint["loops"]["fit_loop"]["epoch_loop.state_dict"]
    state.setdefault("_batches_that_stepped", checkpoint["global_step"])
    return checkpoint


def _checkpoint_state_key_of_1_9(checkpoint: Checkpoint) -> Checkpoint:
    """1.9.0: ``save_on_train_epoch_end`` left ``ModelCheckpoint``'s state key. States keyed by a
    class (before 1.x) are dropped, as Lightning does; keys that would collide are left alone,
    with a warning."""
    if "callbacks" not in checkpoint:
        return checkpoint
    states = checkpoint["callbacks"]
    flag = re.compile(r", 'save_on_train_epoch_end': (None|True|False)")
    renamed = {
        (flag.sub("", key) if key.startswith("ModelCheckpoint") else key): state
        for key, state in states.items()
        if isinstance(key, str)
    }
    if len(renamed) < len(states):
        rank_zero_warn(
            "You have multiple `ModelCheckpoint` callback states in this checkpoint, but we found "
            "state keys that would end up colliding with each other after an upgrade, which means "
            "we can't differentiate which of your checkpoint callbacks needs which states. At "
            "least one of your `ModelCheckpoint` callbacks will not be able to reload the state.",
            category=PossibleUserWarning,
        )
        return checkpoint
    checkpoint["callbacks"] = renamed
    return checkpoint


def _apex_state_of_2_0(checkpoint: Checkpoint) -> Checkpoint:
    """2.0.0: apex AMP's ``amp_scaling_state`` is gone."""
    if "amp_scaling_state" in checkpoint:
        rank_zero_warn(
            "This checkpoint contains apex AMP data, but apex support has been removed in v2.0.0."
        )
        del checkpoint["amp_scaling_state"]
    return checkpoint


def _renamed(fit_loop: dict[str, Any], names: dict[str, str]) -> None:
    for old, new in names.items():
        if old in fit_loop:
            fit_loop[new] = fit_loop.pop(old)


def _batch_loop_of_2_0(checkpoint: Checkpoint) -> Checkpoint:
    """2.0.0 (truncated backpropagation removed): the optimizer and manual loops moved from the
    batch loop to the epoch loop; a batch loop state that is not empty is kept in the epoch
    loop's state as ``old_batch_loop_state_dict``."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop")
    if fit_loop is None:
        return checkpoint
    old = "epoch_loop.batch_loop."
    _renamed(
        fit_loop,
        {
            f"{old}{name}": f"epoch_loop.{name}"
            for name in (
                "manual_loop.optim_step_progress",
                "manual_loop.state_dict",
                "optimizer_loop.optim_progress",
                "optimizer_loop.state_dict",
            )
        },
    )
    batch_loop_state = fit_loop.pop(f"{old}state_dict", None)
    if batch_loop_state:
        fit_loop["epoch_loop.state_dict"]["old_batch_loop_state_dict"] = batch_loop_state
    return checkpoint


def _optimizer_loop_of_2_0(checkpoint: Checkpoint) -> Checkpoint:
    """2.0.0 (one optimizer in automatic optimization): no ``optimizer_position``; the loops are
    ``automatic_optimization`` and ``manual_optimization``."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop")
    if fit_loop is None:
        return checkpoint
    progress = fit_loop.get("epoch_loop.optimizer_loop.optim_progress")
    if progress is not None:
        progress.pop("optimizer_position", None)
    if "epoch_loop.optimizer_loop.state_dict" in fit_loop:
        _renamed(
            fit_loop,
            {
                "epoch_loop.optimizer_loop.state_dict": "epoch_loop.automatic_optimization.state_dict",
                "epoch_loop.optimizer_loop.optim_progress": (
                    "epoch_loop.automatic_optimization.optim_progress"
                ),
            },
        )
    if "epoch_loop.manual_loop.state_dict" in fit_loop:
        _renamed(
            fit_loop,
            {
                "epoch_loop.manual_loop.state_dict": "epoch_loop.manual_optimization.state_dict",
                "epoch_loop.manual_loop.optim_step_progress": (
                    "epoch_loop.manual_optimization.optim_step_progress"
                ),
            },
        )
    return checkpoint


def _evaluation_loops_of_2_0(checkpoint: Checkpoint) -> Checkpoint:
    """2.0.0: the evaluation and prediction loops lost their dataloader loop: no
    ``dataloader_progress``, their ``epoch_loop.*`` keys one level up."""
    loops = checkpoint.get("loops")
    if loops is None:
        return checkpoint
    for name in ("predict_loop", "validate_loop", "test_loop"):
        loop = loops.get(name)
        if loop is None:
            continue
        loop.pop("dataloader_progress", None)
        for key in [k for k in loop if k.startswith("epoch_loop.")]:
            loop[key[len("epoch_loop.") :]] = loop.pop(key)
    return checkpoint


#: Lightning version -> the steps a checkpoint older than it needs, in order
STEPS: dict[str, list[Callable[[Checkpoint], Checkpoint]]] = {
    "0.10.0": [_callback_keys_of_0_10],
    "1.6.0": [_global_step_to_progress_of_1_6, _epoch_to_progress_of_1_6],
    "1.6.5": [_batches_that_stepped_of_1_6_5],
    "1.9.0": [_checkpoint_state_key_of_1_9],
    "2.0.0": [
        _apex_state_of_2_0,
        _batch_loop_of_2_0,
        _optimizer_loop_of_2_0,
        _evaluation_loops_of_2_0,
    ],
}


def migrate_checkpoint(
    checkpoint: Checkpoint, target_version: str | None = None
) -> tuple[Checkpoint, dict[str, list[str]]]:
    """Bring a Lightning checkpoint (a dict, changed in place) to Lightning
    :data:`LIGHTNING_LAYOUT`'s layout, or to ``target_version``'s (inclusive); returns it and the
    steps applied per version. The version it had is kept as
    ``legacy_pytorch-lightning_version``. A checkpoint of a newer Lightning is left alone, with a
    ``PossibleUserWarning``. (Lightning's ``utilities.migration.migrate_checkpoint``.)"""
    if VERSION_KEY not in checkpoint:
        raise KeyError(
            f"migrate_checkpoint(checkpoint): no {VERSION_KEY!r} key, so this is not a Lightning "
            f"checkpoint (its keys: {sorted(map(str, checkpoint))}); treadle's own checkpoints "
            "need no upgrade."
        )
    version = checkpoint[VERSION_KEY]
    if Version(version) > Version(LIGHTNING_LAYOUT):
        rank_zero_warn(
            f"The loaded checkpoint was produced with Lightning v{version}, which is newer than "
            f"your current Lightning version: v{LIGHTNING_LAYOUT} (the Lightning release whose "
            "checkpoints treadle reads); it is left as it is",
            category=PossibleUserWarning,
        )
        return checkpoint, {}
    applied: dict[str, list[str]] = {}
    for at, steps in STEPS.items():
        if Version(version) >= Version(at):
            continue
        if target_version is not None and Version(at) > Version(target_version):
            continue
        for step in steps:
            checkpoint = step(checkpoint)
        applied[at] = [step.__name__ for step in steps]
    if version != LIGHTNING_LAYOUT:
        checkpoint.setdefault(LEGACY_VERSION_KEY, version)
    checkpoint[VERSION_KEY] = LIGHTNING_LAYOUT
    return checkpoint, applied


class pl_legacy_patch:  # noqa: N801 (Lightning's name)
    """``with pl_legacy_patch(): torch.load(path)``: Lightning's context manager for unpickling
    checkpoints that name its removed classes. treadle loads checkpoints with
    ``torch.load(weights_only=True)``, which unpickles no classes, so there is nothing to patch:
    the context does nothing."""

    def __enter__(self) -> pl_legacy_patch:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# -- python -m treadle.utilities.upgrade_checkpoint ----------------------------------------------


def _logger() -> logging.Logger:
    from treadle.plugin_manager import run_logger

    run_logger()  # the "treadle" logger's handler, unless the application configured logging
    return logging.getLogger("treadle.utilities.upgrade_checkpoint")


def _upgrade(path_arg: str, extension: str, map_to_cpu: bool) -> None:
    log = _logger()
    path = Path(path_arg).absolute()
    extension = extension if extension.startswith(".") else f".{extension}"
    if not path.exists():
        log.error(
            f"The path {path} does not exist. Please provide a valid path to a checkpoint file or "
            f"a directory containing checkpoints ending in {extension}."
        )
        sys.exit(1)
    files = [path] if path.is_file() else sorted(path.glob(f"**/*{extension}"))
    if not files:
        log.error(
            f"No checkpoint files with extension {extension} were found in {path}. HINT: Try "
            "setting the `--extension` option to specify the right file extension to look for."
        )
        sys.exit(1)
    log.info(
        "Creating a backup of the existing checkpoint files before overwriting in the upgrade process."
    )
    for file in files:
        backup = file.with_suffix(".bak")
        if not backup.exists():  # a backup is the untouched original: never overwritten
            shutil.copyfile(file, backup)
    log.info("Upgrading checkpoints ...")
    for file in files:
        # weights only, as every checkpoint treadle reads: a failure is a CheckpointError naming
        # the file and why
        checkpoint = read_checkpoint(file, torch.device("cpu") if map_to_cpu else None)
        migrate_checkpoint(checkpoint)
        torch.save(checkpoint, file)
    log.info("Done.")


def main() -> None:
    """``python -m treadle.utilities.upgrade_checkpoint PATH [--extension .ckpt] [--map-to-cpu]``
    (Lightning's ``upgrade_checkpoint``): upgrades a checkpoint file, or every ``*.ckpt`` under a
    folder, in place, after a ``.bak`` copy of each."""
    parser = argparse.ArgumentParser(
        description=(
            "A utility to upgrade old Lightning checkpoints to the layout treadle reads (that of "
            f"Lightning {LIGHTNING_LAYOUT}). This will also save a backup of the original files."
        )
    )
    parser.add_argument(
        "path",
        type=str,
        help="Path to a checkpoint file or a directory with checkpoints to upgrade",
    )
    parser.add_argument(
        "--extension",
        "-e",
        type=str,
        default=".ckpt",
        help="The file extension to look for when searching for checkpoint files in a directory.",
    )
    parser.add_argument(
        "--map-to-cpu",
        action="store_true",
        help="Map all tensors in the checkpoint to CPU (a GPU checkpoint on a machine without GPUs).",
    )
    args = parser.parse_args()
    _upgrade(args.path, args.extension, args.map_to_cpu)


# ``python -m`` by the module's own name (``upgrade_checkpoint.__name__``)
if __name__ == "__main__":
    main()
