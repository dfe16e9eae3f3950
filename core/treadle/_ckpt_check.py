"""What can be wrong with a checkpoint, found before it touches the run, told with its path.

Two calls: :func:`read` (from ``checkpoint_io.load``) reads one file with
``torch.load(weights_only=True)`` and turns every way that fails (no such file, a directory, an
empty, truncated or foreign file, a pickled object that would run code) into a
:class:`~treadle.CheckpointError` naming the file; :func:`check` (from ``checkpoint.restore``)
checks what was read against the run: the keys of a treadle checkpoint, the weights against the
Module (missing, unexpected, other shapes) and, for ``fit()``, the optimizer states against the
optimizers (how many, parameter groups, their sizes, hyper-parameter names, state shapes).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from treadle.errors import CheckpointError, CheckpointNotFoundError

#: keys every treadle checkpoint holds (``state_dict`` too unless the strategy restores weights)
REQUIRED = ("epoch", "global_step")
#: keys that mark a file as a checkpoint of a run (treadle's or Lightning's)
MARKERS = ("treadle_version", "pytorch-lightning_version", "global_step", "loops", "epoch")
#: per-parameter optimizer states of torch's optimizers that have the parameter's shape
ELEMENTWISE = frozenset(
    (
        "exp_avg",
        "exp_avg_sq",
        "max_exp_avg_sq",
        "exp_inf",
        "momentum_buffer",
        "square_avg",
        "grad_avg",
        "acc_delta",
        "sum",
        "ax",
        "prev",
        "step_size",
    )
)
#: param-group flags an optimizer fills in itself when a saved group lacks them (torch adds
#: such flags over versions; ``Optimizer.__setstate__`` defaults them)
DEFAULTED = frozenset(
    (
        "params",
        "param_names",
        "foreach",
        "maximize",
        "capturable",
        "differentiable",
        "fused",
        "decoupled_weight_decay",
        "amsgrad",
        "nesterov",
        "initial_lr",
    )
)
_ZIP_MAGIC = b"PK\x03\x04"
# torch.serialization.load, not torch.load: a strategy may stand in for ``torch.load`` while
# it loads its own files (DeepSpeed's ``_weights_only_loads``) and call this module from there
_torch_load = torch.serialization.load


def read(path: Any, map_location: Any = "cpu", **torch_load_kwargs: Any) -> Any:
    """``torch.load(path, weights_only=True)``; every failure a ``CheckpointError`` naming it."""
    torch_load_kwargs["weights_only"] = True
    if not isinstance(path, (str, os.PathLike)):  # a file object: nothing to look at first
        try:
            return _torch_load(path, map_location=map_location, **torch_load_kwargs)
        except Exception as exc:
            raise CheckpointError(path, _why_unreadable(exc, None)) from exc
    p = Path(path)
    _check_is_a_file(p)
    try:
        data = _torch_load(p, map_location=map_location, **torch_load_kwargs)
    except Exception as exc:
        raise CheckpointError(path, _why_unreadable(exc, p)) from exc
    return data


def read_checkpoint(path: Any, map_location: Any = "cpu") -> dict[str, Any]:
    """:func:`read`, and the file must hold a dict (every checkpoint is one)."""
    data = read(path, map_location)
    if not isinstance(data, dict):
        raise CheckpointError(
            path,
            f"it holds a {type(data).__name__}, not a checkpoint (a dict with `state_dict`, "
            f"`global_step`, ...). Was it written by `torch.save` of something else?",
        )
    return data


def check(trainer: Any, checkpoint: Any, path: Any) -> None:
    """Raise a ``CheckpointError`` naming ``path`` when ``checkpoint`` cannot restore ``trainer``.

    Called before anything of the checkpoint is loaded into the run; the optimizer states are
    checked by :func:`check_run_optimizers`, after the callbacks' states are loaded (a
    finetuning callback rebuilds the parameter groups it added).
    """
    strategy_restores = bool(getattr(trainer.strategy, "saves_optimizer_states", False))
    if not isinstance(checkpoint, dict):
        raise CheckpointError(path, f"it holds a {type(checkpoint).__name__}, not a checkpoint.")
    check_is_a_checkpoint(checkpoint, path, needs_state_dict=not strategy_restores)
    module = trainer.module
    if "state_dict" in checkpoint:
        strict = getattr(module, "strict_loading", True)  # Lightning's Module.strict_loading
        check_weights(module, checkpoint["state_dict"], path, strict=strict)


def check_run_optimizers(trainer: Any, checkpoint: dict[str, Any], path: Any) -> None:
    """The optimizer states of ``checkpoint`` against ``trainer``'s optimizers (``fit()``)."""
    strategy_restores = bool(getattr(trainer.strategy, "saves_optimizer_states", False))
    fitting = getattr(trainer.state, "fn", None) == "fit"
    optimizers = list(trainer.optimizers) if fitting else []
    if not optimizers or strategy_restores:
        return
    if "optimizer_states" not in checkpoint:
        raise CheckpointError(
            path,
            "it holds the weights only (saved with `weights_only=True`, e.g. "
            "`ModelCheckpoint(save_weights_only=True)`), so `fit()` cannot resume the "
            "optimizers from it. To start a new run from its weights, load them before fit: "
            "`model.load_state_dict(torch.load(path, weights_only=True)['state_dict'])`, "
            "without ckpt_path.",
        )
    check_optimizers(optimizers, checkpoint["optimizer_states"], path)


def check_is_a_checkpoint(checkpoint: dict[str, Any], path: Any, needs_state_dict: bool) -> None:
    """A checkpoint of a run, not a bare ``state_dict`` or some other dict."""
    keys = list(checkpoint)
    if keys and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(
            path,
            f"it is a bare state_dict ({len(keys)} tensors: {_names(keys)}), not a treadle "
            f"checkpoint: it holds weights only, no training state to resume. To start from "
            f"these weights, load them into the model before fit: "
            f"`model.load_state_dict(torch.load(path, weights_only=True))`, without ckpt_path.",
        )
    required = REQUIRED + (("state_dict",) if needs_state_dict else ())
    missing = [k for k in required if k not in checkpoint]
    if missing and not any(k in checkpoint for k in MARKERS):
        raise CheckpointError(
            path,
            f"it is not a treadle checkpoint: it holds {_names(keys)}, and a checkpoint holds "
            f"{', '.join(map(repr, required))}. If it holds weights, load them with "
            f"`Module.load_state_dict(...)` before fit, without ckpt_path.",
        )
    if missing:
        raise CheckpointError(
            path,
            f"it has no {', '.join(map(repr, missing))} (it holds {_names(keys)}): it is not "
            f"a complete treadle checkpoint. Resume from a checkpoint `trainer.save_checkpoint` "
            f"or ModelCheckpoint wrote.",
        )
    for key in REQUIRED:
        value = checkpoint[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(
                path, f"its {key!r} is {value!r}; a checkpoint's {key!r} is an int >= 0."
            )


def check_weights(module: Any, state_dict: Any, path: Any, strict: bool = True) -> None:
    """``state_dict`` loads into ``module``: the same names (when ``strict``) and shapes."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(
            path, f"its `state_dict` is a {type(state_dict).__name__}, not a dict of tensors."
        )
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict] if strict else []
    unexpected = [k for k in state_dict if k not in own] if strict else []
    shapes = [
        f"{k!r} (file {tuple(v.shape)}, model {tuple(own[k].shape)})"
        for k, v in state_dict.items()
        if k in own
        and isinstance(v, torch.Tensor)
        and isinstance(own[k], torch.Tensor)
        and v.shape != own[k].shape
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing from the file: {_names(missing)}")
    if unexpected:
        parts.append(f"in the file but not in the model: {_names(unexpected)}")
    if shapes:
        parts.append(f"other shapes: {_first(shapes)}")
    # torch's own words too (``load_state_dict``'s RuntimeError), which Lightning passes on
    # and Lightning users match on.
    torch_words = [
        f"{what} key(s) in state_dict: {', '.join(f'{chr(34)}{k}{chr(34)}' for k in keys)}."
        for what, keys in (("Missing", missing), ("Unexpected", unexpected))
        if keys
    ]
    in_torch_words = f" (in torch's words: {' '.join(torch_words)})" if torch_words else ""
    raise CheckpointError(
        path,
        f"its weights do not fit {type(module).__name__}: {'; '.join(parts)}. Was it saved "
        f"from another model, or with other hyper-parameters?{in_torch_words}",
    )


def check_optimizers(optimizers: list[Any], states: Any, path: Any) -> None:
    """The saved optimizer states load into ``optimizers`` and fit their parameters."""
    if not isinstance(states, (list, tuple)) or not all(isinstance(s, dict) for s in states):
        raise CheckpointError(path, "its `optimizer_states` is not a list of state dicts.")
    if len(states) != len(optimizers):
        raise CheckpointError(
            path,
            f"it holds the states of {len(states)} optimizer(s); `configure_optimizers()` "
            f"returned {len(optimizers)}. Resume with the optimizers it was saved with.",
        )
    for i, (opt, state) in enumerate(zip(optimizers, states)):
        opt = getattr(opt, "optimizer", opt)  # treadle's wrapper: the user's optimizer
        name = f"optimizer {i} ({type(opt).__name__})"
        groups, saved_groups = opt.param_groups, state.get("param_groups")
        if not isinstance(saved_groups, list) or not isinstance(state.get("state"), dict):
            raise CheckpointError(path, f"the state of {name} has no `param_groups`/`state`.")
        if len(saved_groups) != len(groups):
            raise CheckpointError(
                path,
                f"the state of {name} has {len(saved_groups)} parameter group(s); the "
                f"optimizer has {len(groups)}. Resume with the parameter groups it was "
                f"saved with.",
            )
        for g, (group, saved) in enumerate(zip(groups, saved_groups)):
            n, n_saved = len(group["params"]), len(saved.get("params", []))
            if n != n_saved:
                raise CheckpointError(
                    path,
                    f"parameter group {g} of {name} has {n} parameters; the file's has "
                    f"{n_saved}. Resume with the parameter groups it was saved with.",
                )
            lacking = sorted(set(group) - set(saved) - DEFAULTED)
            if lacking:
                raise CheckpointError(
                    path,
                    f"the state of {name} has no {', '.join(map(repr, lacking))} (its "
                    f"parameter group {g} holds {_names(sorted(set(saved) - DEFAULTED))}): it "
                    f"was saved from another optimizer class. Resume with the optimizer it was "
                    f"saved with.",
                )
            shapes = []
            for pid, p in zip(saved.get("params", []), group["params"]):
                for key, value in state["state"].get(pid, {}).items():
                    if (
                        key in ELEMENTWISE
                        and isinstance(value, torch.Tensor)
                        and value.dim() > 0
                        and value.shape != p.shape
                    ):
                        shapes.append(
                            f"{key!r} of parameter {pid} (file {tuple(value.shape)}, "
                            f"parameter {tuple(p.shape)})"
                        )
            if shapes:
                raise CheckpointError(
                    path,
                    f"the state of {name} does not fit its parameters: {_first(shapes)}. "
                    f"Was it saved with the parameters in another order or other groups?",
                )


def _check_is_a_file(p: Path) -> None:
    if p.is_dir():
        if (p / "treadle.ckpt").is_file():
            raise CheckpointError(
                p,
                "it is a DeepSpeed checkpoint (a directory with treadle.ckpt and DeepSpeed's "
                "shards): resume it with the DeepSpeed strategy and ZeRO stage it was saved "
                "with (`Trainer(strategy='deepspeed_stage_N')`). For one file with the full "
                "weights, save under DeepSpeed with `trainer.save_checkpoint(path, "
                "weights_only=True)` or use deepspeed.utils.zero_to_fp32.",
            )
        raise CheckpointError(
            p,
            f"it is a directory, not a checkpoint file{_listing(p)}. Pass the path of a "
            f"`.ckpt` file.",
        )
    if not p.exists():
        if not p.parent.is_dir():
            raise CheckpointNotFoundError(
                p, f"(its directory {str(p.parent)!r} does not exist either)"
            )
        raise CheckpointNotFoundError(p, _listing(p.parent).strip())
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CheckpointError(p, f"it cannot be opened: {exc.strerror or exc}.") from exc
    if not head:
        raise CheckpointError(
            p,
            "the file is empty (0 bytes): it is not a complete checkpoint (an interrupted copy "
            "or a full disk?). Resume from an earlier checkpoint.",
        )


def _why_unreadable(exc: BaseException, p: Path | None) -> str:
    text = str(exc)
    unsafe: list[str] = []
    if isinstance(exc, pickle.UnpicklingError) and p is not None:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(p)
        except Exception:  # not a zip file: torch's legacy format, or not a torch file
            unsafe = []
    if unsafe or (isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in text):
        unsafe = unsafe or re.findall(r"GLOBAL (\S+) was not an allowed global", text)
        found = f" ({', '.join(unsafe[:5])})" if unsafe else ""
        return (
            f"loading it would construct or call Python objects that are not tensors or plain "
            f"containers{found}, so it was not loaded: treadle reads checkpoints with "
            f"`torch.load(weights_only=True)` and never runs code from a file. Files treadle "
            f"writes hold no such objects: this one was written by other code or altered. If "
            f"you trust it, load it yourself with `torch.load(path, weights_only=False)` and "
            f"save only its tensors and plain containers."
        )
    detail = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
    first = text.strip().splitlines()[0] if text.strip() else ""
    if detail:  # torch's advice to load with weights_only=False does not apply
        first = detail.group(1).strip()
    elif first.startswith("Weights only load failed"):
        first = ""
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if p is None:
        return f"it cannot be read as a torch file ({reason})."
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(4)
    if head != _ZIP_MAGIC and head[:1] != b"\x80":  # neither torch's zip nor its legacy pickle
        return (
            f"it is not a torch file ({size} bytes starting with {head!r}; `torch.save` writes "
            f"a zip archive). Resume from a checkpoint treadle wrote."
        )
    legacy = "" if head == _ZIP_MAGIC else " (torch's legacy format)"
    return (
        f"it is truncated or corrupt{legacy}: {size} bytes that `torch.load` cannot read "
        f"({reason}). Resume from an earlier checkpoint."
    )


def _listing(directory: Path) -> str:
    try:
        found = sorted(q.name for q in directory.iterdir() if q.suffix in (".ckpt", ".pt", ".pth"))
    except OSError:
        return ""
    if not found:
        return f" (no checkpoint files in {str(directory)!r})"
    more = f", ... {len(found) - 8} more" if len(found) > 8 else ""
    return f" (checkpoint files in {str(directory)!r}: {', '.join(found[:8])}{more})"


def _names(keys: list[Any], n: int = 8) -> str:
    shown = ", ".join(repr(k) for k in keys[:n])
    return shown + (f", ... {len(keys) - n} more" if len(keys) > n else "")


def _first(items: list[str], n: int = 5) -> str:
    return "; ".join(items[:n]) + (f"; ... {len(items) - n} more" if len(items) > n else "")
