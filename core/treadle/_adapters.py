"""Turn a ``Module``'s or ``Callback``'s overridden methods into pluggy implementations.

Lightning users write ``optimizer_step(self, epoch, batch_idx, optimizer,
optimizer_closure=None)`` and ``on_train_batch_end(self, trainer, pl_module, outputs, batch,
batch_idx)``. pluggy would reject ``epoch``/``pl_module`` (not in the spec) and never pass
``optimizer_closure`` (it has a default). Each overridden method is therefore wrapped once, at
registration, in a function that declares the hook's own argument names and maps them onto
the method's parameters:

* a parameter named like a hook argument gets it, default value or not;
* Lightning's names are translated: ``pl_module`` -> ``module``, ``optimizer_closure`` ->
  ``closure``, ``epoch`` -> ``trainer.current_epoch``;
* a parameter whose name matches none gets the argument Lightning passes at its position
  (Lightning calls hooks positionally), and ``*args`` the arguments after it;
* any other parameter with a default keeps its default; one without is a ``PluginError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Callable

from treadle.errors import PluginError
from treadle.hookspecs import HOOKS, hook_names, hookimpl

# Lightning's method names that differ from treadle's hook names (``lr_scheduler_step``).
METHOD_TO_HOOK = {
    info.module_method: name
    for name, info in HOOKS.items()
    if info.module_method is not None and info.module_method != name
}
# Lightning's parameter names that differ from treadle's hook argument names.
_RENAMES = {"pl_module": "module", "optimizer_closure": "closure", "lr_scheduler": "scheduler"}
# firstresult hooks where the override *performs* the step: a None return still means "done".
ACTION_HOOKS = frozenset(hook_names(action=True))
_PASS_PARAM = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _epoch(trainer):
    return trainer.current_epoch


# Arguments Lightning passes by keyword: ``setup(stage=...)``,
# ``configure_gradient_clipping(optimizer, gradient_clip_val=..., gradient_clip_algorithm=...)``.
_KEYWORD_ARGS = {
    "setup": ("stage",),
    "teardown": ("stage",),
    "configure_gradient_clipping": ("gradient_clip_val", "gradient_clip_algorithm"),
}
# Evaluation batch hooks whose ``dataloader_idx`` Lightning leaves out with one dataloader.
_ONE_LOADER_NO_INDEX = frozenset(
    f"on_{stage}_batch_{end}"
    for stage in ("validation", "test", "predict")
    for end in ("start", "end")
)


# Hooks Lightning calls only when overridden (``is_overridden``), its default otherwise.
_CALLED_IF_OVERRIDDEN = frozenset({"on_validation_model_train", "on_test_model_train"})


def _unwraps_to(function: Any, base_function: Any) -> bool:
    """``function`` (a wrapper: ``functools.wraps``, ``update_wrapper``) wraps ``base_function``."""
    inner = inspect.unwrap(function)
    return base_function is not None and getattr(inner, "__func__", inner) is base_function


def _index_if_several(trainer, dataloader_idx):
    """``(dataloader_idx,)`` when the running stage has several dataloaders (or no Trainer
    says how many), else ``()``."""
    state = getattr(trainer, "state", None)
    return (dataloader_idx,) if state is None or state.num_dataloaders > 1 else ()


class AdaptedPlugin:
    """Holds the adapted implementations of one ``Module`` or ``Callback`` instance."""

    def __init__(self, owner: Any):
        self.owner = owner

    def __repr__(self) -> str:
        return f"<treadle adapter of {type(self.owner).__name__}>"


def _source(name: str, spec: tuple) -> tuple | None:
    """(hook argument, transform) a parameter called ``name`` receives, or None."""
    arg = name if name in spec else _RENAMES.get(name)
    if arg in spec:
        return (arg, None)
    if name == "epoch" and "trainer" in spec:
        return ("trainer", _epoch)
    return None


def lightning_order(
    base: type | None, attr: str, hook_name: str, spec: tuple
) -> list[tuple | None]:
    """The sources of the arguments Lightning passes *positionally* to ``attr``, in order.

    Lightning calls a callback hook as ``hook(trainer, pl_module, *args)`` and a Module hook as
    ``hook(*args)``: the order of the base class's stub (``treadle.Callback``, ``Module``), or
    else the hook spec's (``trainer`` and ``module`` first for a callback, left out for a
    Module).
    """
    stub = getattr(base, attr, None) if base is not None else None
    if inspect.isfunction(stub):
        params = [
            p
            for p in list(inspect.signature(stub).parameters.values())[1:]
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        return [_source(p.name, spec) for p in params]
    from treadle.callback import Callback

    callback = base is not None and issubclass(base, Callback)
    return [(a, None) for a in spec if callback or a not in ("trainer", "module")]


def adapt_method(
    owner_label: str,
    method: Callable,
    hook_name: str,
    spec_argnames: Iterable[str],
    action: bool,
    order: list[tuple | None] | None = None,
) -> Callable:
    """Wrap a bound ``method`` as an implementation of ``hook_name``.

    A parameter gets the hook argument of its name (or Lightning's name for it); one whose name
    matches none gets the argument Lightning passes at its position (``order``, from
    :func:`lightning_order`), as Lightning calls hooks positionally: ``def
    on_train_batch_end(self, _, pl_module, *args)`` works, ``*args`` receiving the rest.

    The call passes arguments as Lightning does: positionally, up to the first parameter that
    gets something other than what Lightning passes at its position, and ``stage=`` (``setup``,
    ``teardown``) and the clipping values (``configure_gradient_clipping``) by keyword. An
    evaluation batch hook's ``dataloader_idx`` (the parameter at its position) is passed only
    when the stage has several dataloaders, as Lightning's loops do.
    """
    spec = tuple(spec_argnames)
    order = order or []
    params = list(inspect.signature(method).parameters.values())
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    var_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    namespace: dict[str, Any] = {"method": method}
    used: list[str] = []  # hook arguments the generated function declares

    def expr(source: tuple) -> str:
        arg, transform = source
        used.append(arg)
        if transform is None:
            return arg
        key = f"transform_{len(namespace)}"
        namespace[key] = transform
        return f"{key}({arg})"

    args: list[str] = []  # passed positionally (everything before a *args)
    kwargs: list[str] = []
    by_position = True  # Lightning's positional arguments, so far
    keyword_only = _KEYWORD_ARGS.get(hook_name, ())
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        source = _source(p.name, spec)
        index = positional.index(p) if p in positional else None
        if source is None and index is not None and index < len(order):
            source = order[index]  # Lightning passes it at this position
        lightnings = (
            source is not None
            and index is not None
            and index < len(order)
            and order[index] == source
        )
        if source is not None and source[0] in keyword_only:
            lightnings = False
        by_position = by_position and lightnings and not var_positional
        if by_position and source == ("dataloader_idx", None) and hook_name in _ONE_LOADER_NO_INDEX:
            # Lightning passes dataloader_idx only when the stage has several loaders (a
            # parameter without a default then misses it: Python's TypeError, as Lightning)
            namespace["several"] = _index_if_several
            args.append(f"*several(trainer, {expr(source)})")
            used.append("trainer")
            by_position = False
            continue
        if by_position and source is not None:
            args.append(expr(source))
            continue
        if source is None:
            if p.default is inspect.Parameter.empty:
                raise PluginError(
                    f"{owner_label}.{method.__name__}() takes parameter `{p.name}`, which hook "
                    f"`{hook_name}` does not provide. Its arguments are: {', '.join(spec)} "
                    f"(Lightning's `pl_module`, `optimizer_closure` and `epoch` are translated, "
                    f"and a parameter at the position where Lightning passes an argument gets "
                    f"it). Rename the parameter or give it a default value."
                )
            if var_positional and index is not None:  # keep the positions before *args
                key = f"default_{len(namespace)}"
                namespace[key] = p.default
                args.append(key)
            continue
        if var_positional and index is not None or p.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(expr(source))
        else:
            kwargs.append(f"{p.name}={expr(source)}")
    if var_positional:
        rest = [expr(src) for src in order[len(positional) :] if src is not None]
        if hook_name == "backward" and "trainer" in spec:  # manual_backward(loss, *args)
            # Lightning calls ``backward(loss, *args)``: ``def backward(self, *args)`` gets
            # the loss first, then manual_backward's extra arguments.
            args.extend(rest)
            args.append("*trainer.backward_args")
            used.append("trainer")
        else:
            args.append(f"*({', '.join(rest)}{',' if rest else ''})")
    if var_keyword:
        if hook_name == "backward" and "trainer" in spec:  # manual_backward(loss, **kwargs)
            kwargs.append("**trainer.backward_kwargs")
            used.append("trainer")
        elif hook_name in ("setup", "teardown") and "stage" not in used:  # Lightning: stage=
            kwargs.append(f"stage={expr(('stage', None))}")
    # The callers may call ``method`` itself (one frame less per call) when this function
    # only hands hook arguments on, one per parameter, positionally and in order: no transform
    # or held default, no keyword, no ``*args``/``**kwargs``, and no result to translate.
    direct = (
        not action
        and not var_positional
        and not var_keyword
        and len(namespace) == 1
        and not kwargs
        and len(args) == len(params)
    )
    argnames = list(dict.fromkeys(used))
    # Generated with real parameter names: pluggy reads the implementation's code object
    # (pluggy >= 1.7) or its signature (older) to decide which arguments to pass.
    call = f"method({', '.join(args + kwargs)})"
    body = (
        f"result = {call}\n    return True if result is None else result"
        if action
        else f"return {call}"
    )
    exec(f"def {hook_name}({', '.join(argnames)}):\n    {body}\n", namespace)  # noqa: S102
    impl = namespace[hook_name]
    impl.__qualname__ = f"{owner_label}.{getattr(method, '__name__', hook_name)}"  # a Mock's
    # child has no __name__
    if direct:
        impl.treadle_direct = (method, tuple(args))
    return hookimpl(impl)


def adapt_object(
    owner: Any,
    base: type,
    hook_specs: dict[str, tuple],
    allowed: Iterable[str] | None = None,
    if_overridden: Iterable[str] = _CALLED_IF_OVERRIDDEN,
) -> AdaptedPlugin | None:
    """An :class:`AdaptedPlugin` holding every hook method ``owner`` overrides from ``base``.

    :param hook_specs: hook name -> spec argument names, for every hook of the run.
    :param allowed: hook names a method may implement (None: any hook in ``hook_specs``).
    :param if_overridden: methods for which an instance attribute that only wraps the base's
        own method (``functools.partial``/``update_wrapper``) is not an override (Lightning's
        ``is_overridden``).
    """
    plugin = AdaptedPlugin(owner)
    label = type(owner).__name__
    cls = type(owner)
    # A hook set on the instance (``model.on_fit_start = fn``, a wrapper around the method)
    # overrides the class's, as Python's attribute lookup (and Lightning) has it.
    own = getattr(owner, "__dict__", {})
    found = False
    # dir(owner), not only the class's: an object answering attributes dynamically (a
    # ``Mock(spec=Callback)``, a proxy's ``__getattr__``) has its hooks on the instance alone
    for attr in sorted(set(dir(owner)).union(dir(cls), own)):
        if attr.startswith("_"):
            continue
        hook_name = METHOD_TO_HOOK.get(attr, attr)
        if hook_name not in hook_specs or (allowed is not None and hook_name not in allowed):
            continue
        if attr in own:
            if not callable(own[attr]):
                continue  # ``model.hook = None``: nothing to call
            if attr in if_overridden and _unwraps_to(own[attr], getattr(base, attr, None)):
                continue  # a wrapper of the base's own method: not an override (Lightning's
                # ``is_overridden`` unwraps it too)
        elif hasattr(cls, attr) or not callable(getattr(owner, attr, None)):
            impl_attr = getattr(cls, attr, None)
            if not callable(impl_attr) or impl_attr is getattr(base, attr, None):
                continue  # not overridden: the base class's stub takes no part
        # else: found on the instance alone (dynamically): Lightning calls it as any hook
        method = getattr(owner, attr)
        spec = tuple(hook_specs[hook_name])
        setattr(
            plugin,
            hook_name,
            adapt_method(
                label,
                method,
                hook_name,
                spec,
                action=hook_name in ACTION_HOOKS,
                order=lightning_order(base, attr, hook_name, spec),
            ),
        )
        found = True
    return plugin if found else None
