"""``LambdaCallback``: a callback made of functions, one per hook (as Lightning 2's)."""
from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Dict

from treadle import hookspecs
from treadle.callback import Callback
from treadle.hookspecs import hookimpl

# Every hook Lightning's LambdaCallback accepts.
LIGHTNING_HOOKS = (
    "setup", "teardown", "on_fit_start", "on_fit_end", "on_sanity_check_start",
    "on_sanity_check_end", "on_train_batch_start", "on_train_batch_end", "on_train_epoch_start",
    "on_train_epoch_end", "on_validation_epoch_start", "on_validation_epoch_end",
    "on_test_epoch_start", "on_test_epoch_end", "on_validation_batch_start",
    "on_validation_batch_end", "on_test_batch_start", "on_test_batch_end", "on_train_start",
    "on_train_end", "on_validation_start", "on_validation_end", "on_test_start", "on_test_end",
    "on_exception", "on_save_checkpoint", "on_load_checkpoint", "on_before_backward",
    "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad", "on_predict_start",
    "on_predict_end", "on_predict_batch_start", "on_predict_batch_end",
    "on_predict_epoch_start", "on_predict_epoch_end",
)
_RENAMES = {"pl_module": "module"}


class LambdaCallback(Callback):
    """``LambdaCallback(on_train_epoch_end=lambda trainer, pl_module: ...)``.

    Each function is called with Lightning's positional arguments for its hook (those of
    :class:`treadle.Callback`'s method of that name, ``trainer, pl_module, ...``), so
    ``lambda *args: ...`` works too. The functions stay readable as attributes
    (``cb.on_train_start``). A Lightning hook this treadle version never calls (the test and
    predict hooks) is kept but warned about, never silently ignored.
    """

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        unknown = sorted(set(hooks) - set(LIGHTNING_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got {', '.join(f'`{n}`' for n in unknown)}, which "
                            f"is not a callback hook. Hooks: {', '.join(LIGHTNING_HOOKS)}")
        never_called = []
        for name, function in hooks.items():
            if function is None:
                continue
            setattr(self, name, function)
            spec = getattr(hookspecs, name, None)
            if spec is None or not hasattr(Callback, name):
                never_called.append(name)
                continue
            # pluggy finds implementations among the instance's attributes: the generated one
            # (the user's function, with Lightning's argument names, is not marked as one).
            setattr(self, f"_hook_{name}", _implementation(name, function, spec))
        if never_called:
            warnings.warn(f"LambdaCallback: treadle does not call {', '.join(never_called)} "
                          f"yet; these functions will not run.", UserWarning, stacklevel=2)


def _implementation(name: str, function: Callable[..., Any], spec: Callable) -> Callable:
    """A hook implementation taking the spec's arguments and calling ``function`` with
    Lightning's positional ones (a default where treadle's hook lacks one: ``dataloader_idx``)."""
    spec_args = list(inspect.signature(spec).parameters)
    scope: Dict[str, Any] = {"function": function}
    used, passed = [], []
    for p in list(inspect.signature(getattr(Callback, name)).parameters.values())[1:]:
        arg = _RENAMES.get(p.name, p.name)
        if arg in spec_args:
            used.append(arg)
            passed.append(arg)
        else:
            scope[f"default_{p.name}"] = p.default
            passed.append(f"default_{p.name}")
    # pluggy passes an implementation the arguments its code object names, so the function is
    # generated with the hook's own argument names.
    exec(f"def {name}({', '.join(used)}):\n    function({', '.join(passed)})\n", scope)  # noqa: S102
    return hookimpl(specname=name)(scope[name])
