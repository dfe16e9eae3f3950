"""What ``Module.optimizers()`` and ``Module.lr_schedulers()`` hand to the user.

The optimizer is a thin proxy (``.optimizer`` is the user's own; ``isinstance`` sees the
user's class); schedulers are the user's own objects whose ``step`` is routed. Either way
``step()`` goes through the run's hooks, so precision and strategy plugins (grad scaling,
DeepSpeed's engine) apply in manual optimization exactly as in automatic optimization.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable


class _Proxy:
    __slots__ = ("_wrapped", "_step")

    def __init__(self, wrapped: Any, step: Any):
        object.__setattr__(self, "_wrapped", wrapped)
        object.__setattr__(self, "_step", step)  # the run's ``treadle.step.Step``

    @property  # type: ignore[misc]  # a read-only __class__ is the point: isinstance sees the user's
    def __class__(self):  # isinstance(proxy, type(wrapped)) is True
        return type(self._wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._wrapped, name, value)

    def __repr__(self) -> str:
        return f"treadle.{type(self).__mro__[0].__name__}({self._wrapped!r})"


class WrappedOptimizer(_Proxy):
    """The optimizer as ``self.optimizers()`` returns it; ``.optimizer`` is the user's own.

    Also Lightning's ``LightningOptimizer`` (``treadle.core.optimizer.LightningOptimizer``):
    ``isinstance(self.optimizers(), LightningOptimizer)`` holds, and ``LightningOptimizer(opt)``
    wraps an optimizer outside a run (its ``step`` is then the optimizer's own)."""

    __slots__ = ("optimizer_idx", "optimizer")  # ``optimizer``: the user's own

    def __init__(self, optimizer: Any, step: Any = None, idx: int = 0):
        super().__init__(optimizer, step)
        object.__setattr__(self, "optimizer_idx", idx)
        object.__setattr__(self, "optimizer", optimizer)

    def __repr__(self) -> str:
        return f"Lightning{self._wrapped!r}"  # as Lightning's ``str(LightningOptimizer)``

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Step through the ``optimizer_step`` hook; ``closure`` runs before the step.

        The closure is the user's (manual optimization, LBFGS) or the core's (automatic);
        after it ran, ``on_before_optimizer_step`` is called before the step itself.
        """
        step = self._step
        if step is None:  # wrapped outside a run
            return self._wrapped.step(closure) if closure is not None else self._wrapped.step()
        if closure is None and step.bare_manual_step and not step._in_optimizer_step:
            # the core's optimizer_step for this call, resolved once per run (Step.__init__)
            step.stepped = True
            return self._wrapped.step()
        return step.optimizer_step(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._wrapped.zero_grad(set_to_none=set_to_none)

    @contextlib.contextmanager
    def toggle_model(self, sync_grad: bool = True) -> Iterator[None]:
        """Inside the block only this optimizer's parameters require grad (the Module's
        ``toggle_optimizer``), and with ``sync_grad=False`` backward passes skip the gradient
        all-reduce (the strategy's ``no_backward_sync``): manual accumulation with several
        optimizers under DDP, as Lightning's ``LightningOptimizer.toggle_model``."""
        step = self._step
        if step is None:
            raise RuntimeError(
                "`toggle_model()` needs a running Trainer: call it on `self.optimizers()` inside "
                "`training_step`, not on an optimizer wrapped by hand."
            )
        module, strategy = step.module, step.trainer.strategy
        with strategy.no_backward_sync(module, enabled=not sync_grad):
            module.toggle_optimizer(self)
            try:
                yield
            finally:
                module.untoggle_optimizer(self)

    def state_dict(self):
        return self._wrapped.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self._wrapped.load_state_dict(state_dict)


LightningOptimizer = WrappedOptimizer  # Lightning's name (``lightning.pytorch.core.optimizer``)


# Instance attributes that route_scheduler_step() adds (and state_dict() leaves out).
_ROUTED = ("step", "state_dict")


def route_scheduler_step(scheduler: Any, stepper: Any) -> Any:
    """Make ``scheduler.step()`` go through the ``scheduler_step`` hook; returns the scheduler.

    ``lr_schedulers()`` hands back the user's own object (``sch is my_scheduler`` holds, as in
    Lightning, and so does ``type(sch) is StepLR``): a routing ``step`` is put in the instance's
    ``__dict__``, so a strategy that owns scheduling (DeepSpeed's engine) sees manual-mode
    ``sch.step()`` calls, while the class -- and a ``mock.patch`` on its ``step`` -- is left
    alone. The class's ``state_dict`` saves ``__dict__``, so an instance ``state_dict`` leaves
    the routing out. :func:`unroute_scheduler_step` removes both when the run ends. A scheduler
    without ``__dict__`` (``__slots__``) or without ``step`` is left as it is.
    """
    if (
        not callable(getattr(scheduler, "step", None))
        or not hasattr(scheduler, "__dict__")
        or getattr(type(scheduler), "step", None) is None  # (a step of its own: a Mock's)
    ):
        return scheduler
    unroute_scheduler_step(scheduler)  # routed by an earlier fit()

    def step(metric: Any = None, *args: Any, **kwargs: Any) -> None:
        if args or kwargs or stepper.in_scheduler_step:
            original_step(scheduler, metric, *args, **kwargs)
            return
        stepper.scheduler_step(scheduler, metric)

    def state_dict() -> Any:
        state = type(scheduler).state_dict(scheduler)
        if isinstance(state, dict):
            state = {k: v for k, v in state.items() if k not in _ROUTED}
        return state

    step.treadle_routed = state_dict.treadle_routed = True  # type: ignore[attr-defined]
    scheduler.__dict__["step"] = step
    if callable(getattr(type(scheduler), "state_dict", None)):
        scheduler.__dict__["state_dict"] = state_dict
    return scheduler


def unroute_scheduler_step(scheduler: Any) -> None:
    """Undo :func:`route_scheduler_step`."""
    attributes = getattr(scheduler, "__dict__", {})
    for name in _ROUTED:
        if getattr(attributes.get(name), "treadle_routed", False):
            del attributes[name]


def original_step(scheduler: Any, metric: Any = None, *args: Any, **kwargs: Any) -> None:
    """Step ``scheduler`` with its class's ``step`` (what the core's default does)."""
    step = getattr(type(scheduler), "step", None)
    if step is None:  # the instance's own step (``Mock(spec=StepLR)``): never routed
        if metric is None:
            scheduler.step(*args, **kwargs)
        else:
            scheduler.step(metric, *args, **kwargs)
    elif metric is None:
        step(scheduler, *args, **kwargs)
    else:
        step(scheduler, metric, *args, **kwargs)
