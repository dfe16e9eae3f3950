"""Hyper-parameters: ``save_hyperparameters``, ``hparams`` and their place in checkpoints.

As Lightning's ``HyperparametersMixin``, with one difference kept on purpose: checkpoints are
loaded with ``torch.load(weights_only=True)``, so only values such a load can rebuild are
stored (:data:`STORABLE`, in plain lists, tuples and dicts). ``save_hyperparameters`` accepts
anything, as Lightning's does (``self.hparams`` holds it); a value that cannot be stored -- an
``nn.Module``, a dataclass, an enum, a class -- is left out of checkpoints with a warning naming
it and the fix. Where it was the ``__init__`` default, ``load_from_checkpoint`` rebuilds it from
that default; otherwise the checkpoint records its name and ``load_from_checkpoint`` asks for it
(Lightning pickles such values, which only a ``weights_only=False`` load can read back).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import types
import warnings
from argparse import Namespace
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from treadle import _ckpt_check
from treadle.errors import CheckpointError

# Checkpoint keys, Lightning's names (``LightningModule.CHECKPOINT_HYPER_PARAMS_KEY``, ...).
HYPER_PARAMS_KEY = "hyper_parameters"
HYPER_PARAMS_NAME_KEY = "hparams_name"
# treadle's own: the hyper-parameters left out of the checkpoint that load_from_checkpoint needs
LEFT_OUT_KEY = "hyper_parameters_left_out"

# Leaf values ``torch.load(weights_only=True)`` rebuilds on every supported torch version.
STORABLE = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    torch.Tensor,
    torch.Size,
    torch.dtype,
    torch.device,
)


class AttributeDict(dict):
    """A ``dict`` whose keys are also attributes: ``hparams.lr`` is ``hparams["lr"]``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(
                f"hparams has no {key!r}; it holds: {sorted(map(str, self))}"
            ) from exc

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def __repr__(self) -> str:
        if not self:
            return "AttributeDict()"
        width = max(len(repr(k)) for k in self)
        return "\n".join(f"{k!r:<{width}}: {v!r}" for k, v in self.items())


# -- what may be stored ------------------------------------------------------------------------


def unstorable(value: Any, path: str) -> list[str]:
    """Where inside ``value`` (reached as ``path``) something cannot be stored, and what it is."""
    if isinstance(value, STORABLE):
        return []
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [p for i, v in enumerate(value) for p in unstorable(v, f"{path}[{i}]")]
    if isinstance(value, dict):  # plain dicts; dict subclasses are stored as plain dicts
        found = [
            f"{path} has the key {k!r} ({type(k).__name__})"
            for k in value
            if not isinstance(k, (str, int, float, bool, type(None)))
        ]
        return found + [p for k, v in value.items() for p in unstorable(v, f"{path}[{k!r}]")]
    return [f"{path} is {_describe(value)}"]


def _describe(value: Any) -> str:
    if isinstance(value, nn.Module):
        return f"a `{type(value).__name__}` (an `nn.Module`: its weights are in the state_dict)"
    if isinstance(value, type):
        return f"the class `{value.__qualname__}`"
    return f"a `{type(value).__qualname__}`"


def plain(value: Any) -> Any:
    """``value`` with dict subclasses (``AttributeDict``, ...) turned into plain dicts."""
    if isinstance(value, OrderedDict):
        return OrderedDict((k, plain(v)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(plain(v) for v in value)
    return value


def _left_out_warning(owner: str, problems: list[str], names: Sequence[str], where: str) -> str:
    listed = "\n".join(f"  - {p}" for p in problems)
    ignore = ", ".join(repr(n) for n in names)
    return (
        f"{where}: checkpoints are loaded with `torch.load(weights_only=True)`, which rebuilds "
        f"only None, bool, int, float, str, bytes, tensors, torch.Size/dtype/device and plain "
        f"lists, tuples and dicts of them, so these are left out of checkpoints:\n{listed}\n"
        f"`{owner}.load_from_checkpoint(path)` rebuilds one that was the `__init__` default from "
        f"that default and asks for any other: `{owner}.load_from_checkpoint(path, "
        f"{names[0]}=...)`. To silence this, leave them out with "
        f"`self.save_hyperparameters(ignore=[{ignore}])`, or store a plain form instead (a "
        f"dataclass as `dataclasses.asdict(cfg)`, an enum as its `.value`, a class as its name)."
    )


def _init_defaults(cls: type) -> dict[str, Any]:
    """Each ``__init__`` parameter's default over ``cls``'s classes (the most derived wins)."""
    defaults: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not isinstance(inspect.unwrap(init), types.FunctionType):
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        defaults.update({p.name: p.default for p in params if p.default is not p.empty})
    return defaults


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # a value whose == raises or is not a bool (a tensor) is not the default
        return False


# -- save_hyperparameters ---------------------------------------------------------------------


def init_arguments(obj: Any, frame: types.FrameType) -> dict[str, Any]:
    """The arguments of every ``__init__`` of ``type(obj)`` running on the stack from ``frame``.

    Walks outwards from ``frame`` (the ``__init__`` that called ``save_hyperparameters``) through
    the ``__init__`` frames of ``obj``'s classes, so a subclass's ``__init__`` that calls
    ``super().__init__(...)`` contributes too; the outermost (most derived) wins a name.
    ``*args`` is left out, ``**kwargs`` is spread out, as in Lightning.
    """
    inits = {}  # code object of each class's own __init__ (under its decorators) -> function
    for cls in type(obj).__mro__:
        init = inspect.unwrap(cls.__dict__.get("__init__", None) or (lambda: None))
        if isinstance(init, types.FunctionType) and init.__name__ == "__init__":
            inits[init.__code__] = init
    found: list[dict[str, Any]] = []
    f: types.FrameType | None = frame
    while f is not None:
        init = inits.get(f.f_code)
        if init is None:
            if found:
                break
            f = f.f_back
            continue
        params = list(inspect.signature(init).parameters.values())
        local = f.f_locals
        if not params or local.get(params[0].name) is not obj:
            break  # another object's __init__ of the same class
        args: dict[str, Any] = {}
        for p in params[1:]:
            if p.name not in local or p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                args.update(local[p.name])
            else:
                args[p.name] = local[p.name]
        found.append(args)
        f = f.f_back
    merged: dict[str, Any] = {}
    for args in found:  # innermost (base class) first
        merged.update(args)
    return merged


def save_hyperparameters(
    obj: Any,
    args: tuple,
    ignore: Sequence[str] | str | None,
    frame: types.FrameType,
    logger: bool | None,
    init_args: Mapping[str, Any] | None = None,
) -> None:
    """``obj.save_hyperparameters(*args, ignore=..., logger=...)``; see ``Module``'s method.

    ``logger=None`` leaves the object's choice as it is; ``init_args`` replaces the arguments
    read from the ``__init__`` frames (Lightning's ``given_hparams``).
    """
    owner = type(obj).__name__
    where = f"{owner}.save_hyperparameters()"
    if logger is not None:
        obj.__dict__["_log_hyperparams"] = logger
    if len(args) == 1 and not isinstance(args[0], str) and not args[0]:
        return  # an empty container: nothing to save (as Lightning)
    if init_args is not None:
        init_args = dict(init_args)
    elif dataclasses.is_dataclass(obj):  # a dataclass Module calls this from __post_init__
        init_args = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    else:
        init_args = init_arguments(obj, frame)
    if isinstance(ignore, str):
        ignore = [ignore]
    ignored = {n for n in ignore or () if isinstance(n, str)}
    init_args = {k: v for k, v in init_args.items() if k not in ignored}
    containers = [a for a in args if not isinstance(a, str)]
    if len(containers) == 1 and len(args) == 1:
        hp = containers[0]
        if isinstance(hp, Namespace):
            hp = vars(hp)
        if not isinstance(hp, Mapping):
            raise ValueError(
                f"{where}: `{hp!r}` is neither an `__init__` argument name nor a "
                f"dict or Namespace of hyper-parameters. Pass argument names as "
                f"strings (`save_hyperparameters('lr', 'width')`), one dict, or "
                f"nothing (every `__init__` argument)."
            )
        name = next((k for k, v in init_args.items() if v is containers[0]), None)
    elif containers:
        raise ValueError(
            f"{where}: pass argument names as strings, or one dict or Namespace; "
            f"got {', '.join(repr(a) for a in args)}."
        )
    elif args:
        missing = [a for a in args if a not in init_args]
        if missing:
            raise ValueError(
                f"{where}: {', '.join(repr(a) for a in missing)} "
                f"{'is not an argument' if len(missing) == 1 else 'are not arguments'}"
                f" of `{owner}.__init__`. Its arguments: "
                f"{', '.join(repr(k) for k in init_args) or '(none)'}."
            )
        hp, name = {a: init_args[a] for a in args}, "kwargs"
    else:
        hp, name = init_args, ("kwargs" if init_args else None)
    problems = [p for k, v in hp.items() for p in unstorable(v, f"argument `{k}`")]
    if problems:
        bad = [k for k, v in hp.items() if unstorable(v, k)]
        warnings.warn(_left_out_warning(owner, problems, bad, where), UserWarning, stacklevel=3)
    hparams = hparams_of(obj)
    hparams.update(hp)
    obj.__dict__["_hparams_name"] = name
    obj.__dict__["_hparams_initial"] = copy.deepcopy(hparams)


def hparams_of(obj: Any) -> AttributeDict:
    hp = obj.__dict__.get("_hparams")
    if hp is None:
        hp = obj.__dict__["_hparams"] = AttributeDict()
    return hp


def hparams_initial_of(obj: Any) -> AttributeDict:
    return copy.deepcopy(obj.__dict__.get("_hparams_initial") or AttributeDict())


# -- checkpoints --------------------------------------------------------------------------------


def checkpoint_entries(module: Any, prefix: str = "") -> dict[str, Any]:
    """What a checkpoint holds of ``module``'s hyper-parameters (Lightning's keys); ``{}`` if none.
    ``prefix``: ``"datamodule_"`` for a DataModule's (Lightning's ``datamodule_hyper_parameters``).

    The values are checked here, since ``self.hparams`` can be changed after
    ``save_hyperparameters``: one that cannot be stored is left out (with a warning naming it),
    and its name is recorded unless it was the ``__init__`` default, which rebuilds it.
    """
    hparams = module.__dict__.get("_hparams")
    if not hparams:
        return {}
    bad = [k for k, v in hparams.items() if unstorable(v, k)]
    if not bad:
        return {
            prefix + HYPER_PARAMS_KEY: plain(hparams),
            prefix + HYPER_PARAMS_NAME_KEY: module.__dict__.get("_hparams_name"),
        }
    owner = type(module).__name__
    problems = [p for k in bad for p in unstorable(hparams[k], f"hparams[{k!r}]")]
    warnings.warn(
        _left_out_warning(owner, problems, bad, f"Saving a checkpoint of {owner}"),
        UserWarning,
        stacklevel=2,
    )
    defaults = _init_defaults(type(module))
    needed = [k for k in bad if k not in defaults or not _is_default(hparams[k], defaults[k])]
    entries = {
        prefix + HYPER_PARAMS_KEY: plain({k: v for k, v in hparams.items() if k not in bad}),
        prefix + HYPER_PARAMS_NAME_KEY: module.__dict__.get("_hparams_name"),
    }
    if needed:
        entries[prefix + LEFT_OUT_KEY] = {k: _describe(hparams[k]) for k in needed}
    return entries


def _default_map_location(storage: Any, location: str) -> Any:
    """Tensors go back where they were saved, or to the CPU when that device is absent."""
    if location.startswith("cuda") and not torch.cuda.is_available():
        return storage
    if location.startswith("mps") and not torch.backends.mps.is_available():
        return storage
    return None


def load_from_checkpoint(
    cls: type,
    checkpoint_path: Any,
    map_location: Any = None,
    hparams_file: Any = None,
    strict: bool | None = None,
    datamodule: bool = False,
    **overrides: Any,
) -> Any:
    """``cls.load_from_checkpoint(...)``; see ``Module``'s and ``DataModule``'s methods
    (``datamodule``: read the ``datamodule_`` keys, and no weights)."""
    from treadle import checkpoint_io

    prefix = "datamodule_" if datamodule else ""
    where = f"{cls.__name__}.load_from_checkpoint({str(checkpoint_path)!r})"
    checkpoint = checkpoint_io.load(
        checkpoint_path, map_location=map_location or _default_map_location
    )
    if not datamodule and "state_dict" not in checkpoint:
        bare = bool(checkpoint) and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
        raise CheckpointError(
            checkpoint_path,
            f"{where}: the file has no `state_dict` (keys: "
            f"{_ckpt_check._names(list(checkpoint))}); it is not a treadle or Lightning "
            f"checkpoint of a whole module. "
            + (
                "It is a bare state_dict: build the model and load it with "
                "`model.load_state_dict(torch.load(path, weights_only=True))`."
                if bare
                else "If it holds weights, load them with `Module.load_state_dict(...)`."
            ),
        )
    if hparams_file is not None and not os.path.exists(hparams_file):
        # as Lightning (load_hparams_from_yaml): a missing file warns and gives no
        # hyper-parameters, e.g. the `hparams.yaml` a `fast_dev_run` logger never wrote
        warnings.warn(
            f"Missing Tags: {hparams_file}. {where}: the `hparams_file` does not exist; the "
            f"module is built from the `__init__` defaults and the keyword arguments given.",
            UserWarning,
            stacklevel=3,
        )
        hparams: dict[str, Any] = {}
    elif hparams_file is not None:
        import yaml

        with open(hparams_file) as f:
            hparams = yaml.safe_load(f) or {}
    else:
        hparams = dict(checkpoint.get(prefix + HYPER_PARAMS_KEY) or {})
    left_out = checkpoint.get(prefix + LEFT_OUT_KEY) or {}
    left_out = {k: v for k, v in left_out.items() if k not in overrides}
    if left_out:
        listed = ", ".join(f"`{k}` ({v})" for k, v in left_out.items())
        given = ", ".join(f"{k}=..." for k in left_out)
        raise TypeError(
            f"{where}: the checkpoint's hyper-parameters lack {listed}: a value that "
            f"`torch.load(weights_only=True)` cannot rebuild is left out when saving. Pass it "
            f"again: `{cls.__name__}.load_from_checkpoint(path, {given})`."
        )
    hparams.update(overrides)
    checkpoint[prefix + HYPER_PARAMS_KEY] = hparams

    # mypy: reading __init__ from the class is what we mean here, not from an instance
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    names = [
        n for n, p in list(params.items())[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    name = checkpoint.get(prefix + HYPER_PARAMS_NAME_KEY)
    if name and name != "kwargs" and name in names:
        # save_hyperparameters(config) with one dict argument: it comes back as that argument
        kwargs = {name: hparams}
        kwargs.update({k: v for k, v in overrides.items() if k in names})
    else:
        kwargs = hparams if takes_any else {k: v for k, v in hparams.items() if k in names}
    missing = [n for n in names if params[n].default is params[n].empty and n not in kwargs]
    if missing:
        given = ", ".join(f"{n}=..." for n in missing)
        raise TypeError(
            f"{where}: `{cls.__name__}.__init__` needs {', '.join(repr(n) for n in missing)}, "
            f"which the checkpoint's hyper-parameters do not hold (an argument left out with "
            f"`save_hyperparameters(ignore=[...])` is not saved). Pass it: "
            f"`{cls.__name__}.load_from_checkpoint(path, {given})`."
        )
    model = cls(**kwargs)
    if datamodule:  # its state_dict() is under its class's qualified name, as Lightning
        state = checkpoint.get(cls.__qualname__)
        if state is not None:
            model.load_state_dict(state)
        return model
    own = model.__dict__.get("_strict_loading")  # set by the model's __init__, or None
    if own is not None and strict is not None and strict != model.strict_loading:
        raise ValueError(  # as Lightning: two settings that disagree are refused
            f"You set `.load_from_checkpoint(..., strict={strict!r})` which is in conflict with"
            f" `{cls.__name__}.strict_loading={model.strict_loading!r}`. Please set the same "
            f"value for both of them: leave `strict` out to use the model's `strict_loading`."
        )
    model.on_load_checkpoint(checkpoint)
    state_dict = checkpoint["state_dict"]
    if strict is None:  # as Lightning: the model's own setting decides
        strict = getattr(model, "strict_loading", True)
    _ckpt_check.check_weights(model, state_dict, checkpoint_path, strict=strict)
    model.load_state_dict(state_dict, strict=strict)
    if not state_dict:  # as Lightning: loaded (nothing to load) with a warning
        warnings.warn(
            f"The state dict in {str(checkpoint_path)!r} contains no parameters. {where}: the "
            f"module keeps the weights its `__init__` gave it; check that the file is the "
            f"checkpoint you meant.",
            UserWarning,
            stacklevel=3,
        )
        return model
    device = next((t.device for t in state_dict.values() if isinstance(t, torch.Tensor)), None)
    return model if device is None else model.to(device)
