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
* any other parameter with a default keeps its default; one without is a ``PluginError``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from treadle.errors import PluginError
from treadle.hookspecs import HOOKS, hook_names, hookimpl

# Lightning's method names that differ from treadle's hook names (``lr_scheduler_step``).
METHOD_TO_HOOK = {info.module_method: name for name, info in HOOKS.items()
                  if info.module_method is not None and info.module_method != name}
# Lightning's parameter names that differ from treadle's hook argument names.
_RENAMES = {"pl_module": "module", "optimizer_closure": "closure", "lr_scheduler": "scheduler"}
# firstresult hooks where the override *performs* the step: a None return still means "done".
ACTION_HOOKS = frozenset(hook_names(action=True))
_PASS_PARAM = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _epoch(trainer):
    return trainer.current_epoch


class AdaptedPlugin:
    """Holds the adapted implementations of one ``Module`` or ``Callback`` instance."""

    def __init__(self, owner: Any):
        self.owner = owner

    def __repr__(self) -> str:
        return f"<treadle adapter of {type(self.owner).__name__}>"


def adapt_method(owner_label: str, method: Callable, hook_name: str, spec_argnames: Iterable[str],
                 action: bool) -> Callable:
    """Wrap a bound ``method`` as an implementation of ``hook_name``."""
    spec = tuple(spec_argnames)
    sources: List[Tuple[str, str, Optional[Callable[[Any], Any]]]] = []  # (param, hook arg, transform)
    for p in inspect.signature(method).parameters.values():
        if p.kind not in _PASS_PARAM:
            continue
        arg = p.name if p.name in spec else _RENAMES.get(p.name)
        if arg in spec:
            sources.append((p.name, arg, None))
        elif p.name == "epoch" and "trainer" in spec:
            sources.append((p.name, "trainer", _epoch))
        elif p.default is inspect.Parameter.empty:
            raise PluginError(
                f"{owner_label}.{method.__name__}() takes parameter `{p.name}`, which hook "
                f"`{hook_name}` does not provide. Its arguments are: {', '.join(spec)} "
                f"(Lightning's `pl_module`, `optimizer_closure` and `epoch` are translated). "
                f"Rename the parameter or give it a default value."
            )
    argnames = list(dict.fromkeys(arg for _, arg, _ in sources))
    # Generated with real parameter names: pluggy reads the implementation's code object
    # (pluggy >= 1.7) or its signature (older) to decide which arguments to pass.
    namespace: Dict[str, Any] = {"method": method}
    passed = []
    for i, (name, arg, transform) in enumerate(sources):
        if transform is not None:
            namespace[f"transform_{i}"] = transform
            passed.append(f"{name}=transform_{i}({arg})")
        else:
            passed.append(f"{name}={arg}")
    call = f"method({', '.join(passed)})"
    body = f"result = {call}\n    return True if result is None else result" if action \
        else f"return {call}"
    exec(f"def {hook_name}({', '.join(argnames)}):\n    {body}\n", namespace)  # noqa: S102
    impl = namespace[hook_name]
    impl.__qualname__ = f"{owner_label}.{method.__name__}"
    return hookimpl(impl)


def adapt_object(owner: Any, base: type, hook_specs: Dict[str, tuple],
                 allowed: Optional[Iterable[str]] = None) -> Optional[AdaptedPlugin]:
    """An :class:`AdaptedPlugin` holding every hook method ``owner`` overrides from ``base``.

    :param hook_specs: hook name -> spec argument names, for every hook of the run.
    :param allowed: hook names a method may implement (None: any hook in ``hook_specs``).
    """
    plugin = AdaptedPlugin(owner)
    label = type(owner).__name__
    cls = type(owner)
    found = False
    for attr in dir(cls):
        if attr.startswith("_"):
            continue
        hook_name = METHOD_TO_HOOK.get(attr, attr)
        if hook_name not in hook_specs or (allowed is not None and hook_name not in allowed):
            continue
        impl_attr = getattr(cls, attr, None)
        if not callable(impl_attr) or impl_attr is getattr(base, attr, None):
            continue  # not overridden: the base class's stub takes no part
        method = getattr(owner, attr)
        setattr(plugin, hook_name, adapt_method(label, method, hook_name, hook_specs[hook_name],
                                                action=hook_name in ACTION_HOOKS))
        found = True
    return plugin if found else None
