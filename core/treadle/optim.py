"""What ``Module.optimizers()`` and ``Module.lr_schedulers()`` hand to the user.

Both are thin proxies: attribute reads and writes go to the user's object, ``isinstance`` sees
the user's class (``isinstance(sch, ReduceLROnPlateau)`` holds), and ``step()`` goes through
the run's hooks, so precision and strategy plugins (grad scaling, DeepSpeed's engine) apply
in manual optimization exactly as in automatic optimization.
"""
from __future__ import annotations

from typing import Any, Callable, Optional


class _Proxy:
    __slots__ = ("_wrapped", "_trainer")

    def __init__(self, wrapped: Any, trainer: Any):
        object.__setattr__(self, "_wrapped", wrapped)
        object.__setattr__(self, "_trainer", trainer)

    @property
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

    __slots__ = ("_idx",)

    def __init__(self, optimizer: Any, trainer: Any, idx: int):
        super().__init__(optimizer, trainer)
        object.__setattr__(self, "_idx", idx)

    @property
    def optimizer(self) -> Any:
        return self._wrapped

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Step through the ``optimizer_step`` hook; ``closure`` runs before the step.

        The closure is the user's (manual optimization, LBFGS) or the core's (automatic);
        after it ran, ``on_before_optimizer_step`` is called before the step itself.
        """
        return self._trainer._step_optimizer(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._wrapped.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return self._wrapped.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self._wrapped.load_state_dict(state_dict)


class WrappedScheduler(_Proxy):
    """A scheduler as ``self.lr_schedulers()`` returns it; ``.scheduler`` is the user's own."""

    __slots__ = ()

    @property
    def scheduler(self) -> Any:
        return self._wrapped

    def step(self, metric: Any = None, *args, **kwargs) -> None:
        """Step through the ``scheduler_step`` hook (``metric`` for ``ReduceLROnPlateau``)."""
        if args or kwargs:  # an unusual scheduler signature: step it as the user asked
            self._wrapped.step(metric, *args, **kwargs)
            return
        self._trainer._hooks.scheduler_step(trainer=self._trainer, module=self._trainer.module,
                                            scheduler=self._wrapped, metric=metric)

    def state_dict(self):
        return self._wrapped.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self._wrapped.load_state_dict(state_dict)
