"""A real profiler's instruments: set once per run, so ``Trainer(profiler=None)`` costs nothing.

Nothing here runs without a profiler (``trainer.profiler`` a ``PassThroughProfiler``). With
one, :class:`HookProfiling` is handed to the run's :class:`treadle._callers.Hooks`, which asks it
to wrap each hook caller as it resolves it: every implementation is timed under Lightning's
action name (``[LightningModule]MyModel.training_step``, ``[Callback]<state_key>.on_train_end``,
``[Strategy]SingleDeviceStrategy.training_step`` for the core's default that calls the step),
and the caller is then built from the timed implementations by the same ``fast_caller`` (the
path that runs is the untimed one's). :func:`instrument` replaces a few of the loop's methods
on the run's own instances (an instance attribute, never the class): the training epoch, the
training batch, each evaluation run.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from treadle._adapters import METHOD_TO_HOOK
from treadle._callers import CORE, fast_caller

# treadle's hook name -> Lightning's method name where they differ (``run_training_step`` is
# the core calling ``training_step``)
_LIGHTNING_NAME = {hook: method for method, hook in METHOD_TO_HOOK.items()}
_KINDS = {"strategy": "Strategy", "precision": "Precision", "accelerator": "Accelerator"}


class HookProfiling:
    """Wraps hook callers so that each implementation is timed by ``trainer.profiler``."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.profiler = trainer.profiler

    def label(self, impl: Any, hook: str) -> str:
        """Lightning's action name for ``impl`` (a pluggy ``HookImpl``) of ``hook``."""
        method = _LIGHTNING_NAME.get(hook, hook)
        if method.startswith("run_") and method.endswith("_step"):
            method = method[len("run_") :]  # run_training_step: the strategy's training_step
        name, plugin = impl.plugin_name, impl.plugin
        owner = getattr(plugin, "owner", plugin)  # a Module's or callback's adapter
        if name == "module":
            return f"[LightningModule]{type(owner).__name__}.{method}"
        if name == "datamodule":
            return f"[LightningDataModule]{type(owner).__name__}.{method}"
        if name.startswith("callback:"):
            key = getattr(owner, "state_key", type(owner).__qualname__)
            return f"[Callback]{key}.{method}"
        strategy = type(self.trainer.strategy).__name__
        if name == CORE:
            return f"[Strategy]{strategy}.{method}"
        for kind, selected in self.trainer.plugin_manager.selected.items():
            if selected is plugin:
                return f"[{_KINDS.get(kind, kind)}]{type(plugin).__name__}.{method}"
        return f"[Plugin]{name}.{method}"

    def wrap(self, name: str, hook_caller: Any, caller: Callable[..., Any]) -> Callable[..., Any]:
        """``caller`` (``fast_caller(hook_caller)``) with each implementation timed."""
        impls = hook_caller.get_hookimpls()
        if not impls:
            return caller
        if caller is hook_caller:  # pluggy's own caller (old-style wrappers, ...): one action
            return self.timed(f"[hook]{name}", caller, keywords=True)
        timed = []
        for impl in impls:
            if impl.wrapper or impl.hookwrapper:
                timed.append(impl)  # a generator around the others: they are timed inside it
                continue
            twin = copy.copy(impl)
            twin.function = self.timed(self.label(impl, name), impl.function)
            timed.append(twin)
        return fast_caller(_Timed(hook_caller, timed))  # type: ignore[arg-type]

    def timed(
        self, label: str, function: Callable[..., Any], keywords: bool = False
    ) -> Callable[..., Any]:
        """``function`` inside ``profiler.profile(label)``. The callers call implementations
        with positional arguments: the timed one takes only those (``keywords`` for a caller)."""
        profile = self.profiler.profile
        if keywords:

            def timed_call(**kwargs: Any) -> Any:
                with profile(label):
                    return function(**kwargs)

            return timed_call

        def timed_impl(*args: Any) -> Any:
            with profile(label):
                return function(*args)

        return timed_impl


class _Timed:
    """A hook caller's spec and name with the timed implementations (what ``fast_caller``
    reads)."""

    def __init__(self, hook_caller: Any, impls: list[Any]) -> None:
        self.name, self.spec, self._impls = hook_caller.name, hook_caller.spec, impls

    def get_hookimpls(self) -> list[Any]:
        return self._impls


def instrument(trainer: Any, fit_loop: Any, evaluation: Any, step: Any) -> None:
    """Time the loop's actions under Lightning's names, on these instances only."""
    profile = trainer.profiler.profile

    def timed(label: Callable[..., str] | str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed_method(*args: Any, **kwargs: Any) -> Any:
            with profile(label(*args) if callable(label) else label):
                return method(*args, **kwargs)

        return timed_method

    evaluation.run = timed(lambda stage, *_: f"run_{stage}_evaluation", evaluation.run)
    if fit_loop is not None:
        fit_loop.epoch = timed("run_training_epoch", fit_loop.epoch)
    if step is not None and fit_loop is not None:
        step.automatic = timed("run_training_batch", step.automatic)
        step.manual = timed("run_training_batch", step.manual)
