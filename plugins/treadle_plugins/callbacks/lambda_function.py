"""``LambdaCallback``: a callback made of functions, one per hook (as Lightning 2's)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

from treadle import hookspecs
from treadle.callback import Callback

# Every hook Lightning's LambdaCallback accepts.
LIGHTNING_HOOKS = (
    "setup",
    "teardown",
    "on_fit_start",
    "on_fit_end",
    "on_sanity_check_start",
    "on_sanity_check_end",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_test_epoch_start",
    "on_test_epoch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_train_start",
    "on_train_end",
    "on_validation_start",
    "on_validation_end",
    "on_test_start",
    "on_test_end",
    "on_exception",
    "on_save_checkpoint",
    "on_load_checkpoint",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_predict_start",
    "on_predict_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
    "on_predict_epoch_start",
    "on_predict_epoch_end",
)


class LambdaCallback(Callback):
    """``LambdaCallback(on_train_epoch_end=lambda trainer, pl_module: ...)``.

    Each function is called with Lightning's positional arguments for its hook (those of
    :class:`treadle.Callback`'s method of that name: ``trainer, pl_module, ...``, and
    ``dataloader_idx=0`` for the validation batch hooks), so ``lambda *args: ...`` and
    ``functools.partial`` work too. A Lightning hook this treadle version never calls would be
    accepted with a warning, never silently ignored (every hook of Lightning 2.6 is called).

    Each instance gets a subclass of its own whose methods are exactly the given hooks, so it
    takes part in the run like any ``Callback`` subclass, and only in those hooks.
    """

    def __init__(self, **hooks: Callable[..., Any] | None) -> None:
        unknown = sorted(set(hooks) - set(LIGHTNING_HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback got {', '.join(f'`{n}`' for n in unknown)}, which "
                f"is not a callback hook. Hooks: {', '.join(LIGHTNING_HOOKS)}"
            )
        self.functions: dict[str, Callable[..., Any]] = {
            name: function for name, function in hooks.items() if function is not None
        }
        never_called = [
            name
            for name in self.functions
            if not hasattr(hookspecs, name) or not hasattr(Callback, name)
        ]
        if never_called:
            warnings.warn(
                f"LambdaCallback: treadle does not call {', '.join(never_called)} "
                f"yet; these functions will not run.",
                UserWarning,
                stacklevel=2,
            )
        methods = {name: _method(name) for name in self.functions if name not in never_called}
        if methods:
            own = type("LambdaCallback", (LambdaCallback,), {"__module__": __name__, **methods})
            own.__qualname__ = "LambdaCallback"
            self.__class__ = own


def _method(name: str) -> Callable[..., Any]:
    """A method with the signature of ``Callback.<name>`` that calls ``self.functions[name]``
    with its arguments, in order."""
    params = list(inspect.signature(getattr(Callback, name)).parameters.values())
    scope: dict[str, Any] = {"defaults": {p.name: p.default for p in params}}
    declared = ", ".join(
        p.name if p.default is inspect.Parameter.empty else f"{p.name}=defaults[{p.name!r}]"
        for p in params
    )
    passed = ", ".join(p.name for p in params[1:])
    # Generated with the hook's real parameter names: that is how a method says which
    # arguments it takes (treadle reads the signature, as pluggy does).
    exec(f"def {name}({declared}):\n    self.functions[{name!r}]({passed})\n", scope)  # noqa: S102
    return scope[name]
