"""What ``Module.optimizers()`` and ``Module.lr_schedulers()`` hand to the user.

The optimizer is a thin proxy (``.optimizer`` is the user's own; ``isinstance`` sees the
user's class); schedulers are the user's own objects whose ``step`` is routed. Either way
``step()`` goes through the run's hooks, so precision and strategy plugins (grad scaling,
DeepSpeed's engine) apply in manual optimization exactly as in automatic optimization.
"""
from __future__ import annotations

from typing import Any, Callable, Optional


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
    """The optimizer as ``self.optimizers()`` returns it; ``.optimizer`` is the user's own."""

    __slots__ = ("optimizer_idx", "optimizer")  # ``optimizer``: the user's own

    def __init__(self, optimizer: Any, step: Any, idx: int):
        super().__init__(optimizer, step)
        object.__setattr__(self, "optimizer_idx", idx)
        object.__setattr__(self, "optimizer", optimizer)

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Step through the ``optimizer_step`` hook; ``closure`` runs before the step.

        The closure is the user's (manual optimization, LBFGS) or the core's (automatic);
        after it ran, ``on_before_optimizer_step`` is called before the step itself.
        """
        return self._step.optimizer_step(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._wrapped.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return self._wrapped.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self._wrapped.load_state_dict(state_dict)


def route_scheduler_step(scheduler: Any, stepper: Any) -> Any:
    """Make ``scheduler.step()`` go through the ``scheduler_step`` hook; returns the scheduler.

    ``lr_schedulers()`` hands back the user's own object (``sch is my_scheduler`` holds, as in
    Lightning): its class is swapped for a subclass whose ``step`` dispatches the hook, so a
    strategy that owns scheduling (DeepSpeed's engine) sees manual-mode ``sch.step()`` calls.
    :func:`unroute_scheduler_step` restores the class when the run ends.
    """
    cls = type(scheduler)
    if getattr(cls, "_treadle_original", None) is not None:
        cls = cls._treadle_original

    def step(self, metric: Any = None, *args: Any, **kwargs: Any) -> None:
        if args or kwargs or stepper.in_scheduler_step:
            cls.step(self, *((metric,) if metric is not None else ()), *args, **kwargs)
            return
        stepper.scheduler_step(self, metric)

    routed = type(cls.__name__, (cls,), {"step": step, "_treadle_original": cls,
                                         "__module__": cls.__module__,
                                         "__qualname__": cls.__qualname__})
    scheduler.__class__ = routed
    return scheduler


def unroute_scheduler_step(scheduler: Any) -> None:
    original = getattr(type(scheduler), "_treadle_original", None)
    if original is not None:
        scheduler.__class__ = original


def original_step(scheduler: Any, metric: Any = None) -> None:
    """Step ``scheduler`` with its own class's ``step`` (what the core's default does)."""
    cls = getattr(type(scheduler), "_treadle_original", type(scheduler))
    if metric is None:
        cls.step(scheduler)
    else:
        cls.step(scheduler, metric)
