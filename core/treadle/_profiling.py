"""A real profiler's instruments: set once per run, so ``Trainer(profiler=None)`` costs nothing.

Nothing here runs without a profiler (``trainer.profiler`` a ``PassThroughProfiler``). With
one, :class:`HookProfiling` is handed to the run's :class:`treadle._callers.Hooks`, which asks it
to wrap each hook caller as it resolves it: every implementation is timed under Lightning's
action name (``[LightningModule]MyModel.training_step``, ``[Callback]<state_key>.on_train_end``,
``[Strategy]SingleDeviceStrategy.training_step`` for the core's default that calls the step),
and the caller is then built from the timed implementations by the same ``fast_caller`` (the
path that runs is the untimed one's). A Module hook the Module does not override is timed all
the same, as Lightning times its default (:meth:`HookProfiling.module_default`).
:func:`instrument` replaces a few of the loop's methods on the run's own instances (an instance
attribute, never the class): the training epoch, the training batch, each evaluation run, and
the iteration of the batches, so that each dataloader fetch is timed. :func:`call_hook` times
the DataModule's and Module's methods the Trainer calls itself, once a run (``setup``,
``state_dict``, ``train_dataloader``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, Callable

from treadle._adapters import METHOD_TO_HOOK
from treadle._callers import CORE, fast_caller
from treadle.data import batches, lookahead
from treadle.hookspecs import HOOKS

# treadle's hook name -> Lightning's method name where they differ (``run_training_step`` is
# the core calling ``training_step``)
_LIGHTNING_NAME = {hook: method for method, hook in METHOD_TO_HOOK.items()}
_KINDS = {"strategy": "Strategy", "precision": "Precision", "accelerator": "Accelerator"}
# Module hooks Lightning times whether or not the Module overrides them (its
# ``_call_lightning_module_hook``): all but ``backward`` (timed as the strategy's),
# ``on_exception`` (not timed) and ``on_{validation,test}_model_train`` (called only when
# overridden)
_MODULE_ACTIONS = frozenset(
    name
    for name, info in HOOKS.items()
    if info.module_method is not None
    and name not in ("backward", "on_exception", "on_validation_model_train", "on_test_model_train")
)


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

    def module_default(self, name: str, impls: list[Any]) -> str | None:
        """The action of the Module's default ``name`` (``[LightningModule]MyModel.
        optimizer_step``) when the Module does not override it (none of ``impls``, the hook's
        implementations, is the Module's) and Lightning times the default all the same; None
        otherwise."""
        if name not in _MODULE_ACTIONS:
            return None
        if any(impl.plugin_name == "module" for impl in impls):
            return None  # its override is timed as the Module's implementation
        module = self.trainer.module
        if name == "optimizer_step" and not module.automatic_optimization:
            return "optimizer_step"  # Lightning's ``LightningOptimizer.step`` (manual)
        return f"[LightningModule]{type(module).__name__}.{_LIGHTNING_NAME.get(name, name)}"

    def wrap(self, name: str, hook_caller: Any, caller: Callable[..., Any]) -> Callable[..., Any]:
        """``caller`` (``fast_caller(hook_caller)``) with each implementation timed. Where
        :meth:`module_default` names an action, it times the core's implementation (the
        Module's default, as Lightning's), or, where the core has none (Lightning's default
        does nothing), an empty action after the call."""
        impls = hook_caller.get_hookimpls()
        default = self.module_default(name, impls)
        core = any(impl.plugin_name == CORE for impl in impls)
        if impls:
            caller = self.timed_impls(name, hook_caller, caller, impls, default)
        if default is None or core:
            return caller
        profile, call = self.profiler.profile, caller

        def then_default(**kwargs: Any) -> Any:
            result = call(**kwargs)
            with profile(default):
                return result

        return then_default

    def timed_impls(
        self,
        name: str,
        hook_caller: Any,
        caller: Callable[..., Any],
        impls: list[Any],
        core_label: str | None = None,
    ) -> Callable[..., Any]:
        """``caller`` with each of ``impls`` (the hook's implementations) timed, the core's
        under ``core_label`` where given."""
        if caller is hook_caller:  # pluggy's own caller (old-style wrappers, ...): one action
            return self.timed(f"[hook]{name}", caller, keywords=True)
        timed = []
        for impl in impls:
            if impl.wrapper or impl.hookwrapper:
                timed.append(impl)  # a generator around the others: they are timed inside it
                continue
            label = self.label(impl, name)
            if core_label is not None and impl.plugin_name == CORE:
                label = core_label
            twin = copy.copy(impl)
            twin.function = self.timed(label, impl.function)
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


def call_hook(trainer: Any, kind: str, owner: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """``owner.<name>(*args, **kwargs)``, a method of the DataModule or Module (``kind``:
    ``"LightningDataModule"`` or ``"LightningModule"``) that the Trainer calls itself, once a run
    (``prepare_data``, ``setup``, ``teardown``, ``state_dict``, ``load_state_dict``,
    ``on_exception``, the ``*_dataloader`` methods). Under a real profiler it is timed as
    Lightning times it: ``[LightningDataModule]MyData.setup``; else just called."""
    method = getattr(owner, name)
    profiled = getattr(trainer, "_profiled", None)
    if profiled is None or not profiled():
        return method(*args, **kwargs)
    with trainer.profiler.profile(f"[{kind}]{type(owner).__name__}.{name}"):
        return method(*args, **kwargs)


class _Timed:
    """A hook caller's spec and name with the timed implementations (what ``fast_caller``
    reads)."""

    def __init__(self, hook_caller: Any, impls: list[Any]) -> None:
        self.name, self.spec, self._impls = hook_caller.name, hook_caller.spec, impls

    def get_hookimpls(self) -> list[Any]:
        return self._impls


# Lightning's action of a dataloader fetch, by stage (its loop's class and dataloader prefix)
_FETCH = {
    "fit": "[_TrainingEpochLoop].train_dataloader_next",
    "sanity": "[_EvaluationLoop].val_next",
    "validate": "[_EvaluationLoop].val_next",
    "test": "[_EvaluationLoop].test_next",
    "predict": "[_PredictionLoop].predict_next",
}
_END = object()


def timed_fetches(profile: Any, label: str, source: Any, count: float) -> Iterator[Any]:
    """The batches of ``source`` (a loader or an iterator), the first ``count`` fetches each
    inside ``profile(label)`` (the one that finds the end included, as Lightning's fetcher);
    the fetches after those are not timed: the loop's ask after the last batch, which
    Lightning's fetcher of a known length does not make."""
    iterator = batches(source)
    fetched = 0
    while fetched < count:
        with profile(label):
            batch = next(iterator, _END)
        if batch is _END:
            return
        fetched += 1
        yield batch
    yield from iterator


def instrument(trainer: Any, fit_loop: Any, evaluation: Any, step: Any) -> None:
    """Time the loop's actions under Lightning's names, on these instances only: the epoch,
    the training batch, each evaluation run, and each dataloader fetch."""
    profile = trainer.profiler.profile

    def timed(label: Callable[..., str] | str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed_method(*args: Any, **kwargs: Any) -> Any:
            with profile(label(*args) if callable(label) else label):
                return method(*args, **kwargs)

        return timed_method

    evaluation.run = timed(lambda stage, *_: f"run_{stage}_evaluation", evaluation.run)
    evaluation.timed_fetches = lambda loader, stage: timed_fetches(
        profile, _FETCH[stage], loader, float("inf")
    )
    if fit_loop is not None:
        fetch = _FETCH["fit"]

        def timed_lookahead(iterator: Any, start: int, limit: float) -> Any:
            # lookahead fetches ``limit - start`` batches, then asks once more (untimed)
            return lookahead(timed_fetches(profile, fetch, iterator, limit - start), start, limit)

        fit_loop.lookahead = timed_lookahead
        fit_loop.epoch = timed("run_training_epoch", fit_loop.epoch)
        dataloader_iter_batches = fit_loop.dataloader_iter_batches

        def timed_dataloader_iter_batches(iterator: Any, skip: int, val_loaders: Any) -> bool:
            timed = timed_fetches(profile, fetch, iterator, float("inf"))
            return bool(dataloader_iter_batches(timed, skip, val_loaders))

        fit_loop.dataloader_iter_batches = timed_dataloader_iter_batches
    if step is not None and fit_loop is not None:
        step.automatic = timed("run_training_batch", step.automatic)
        step.manual = timed("run_training_batch", step.manual)
