"""Lightning's rule for callback state: one ``state_key`` per stateful callback in a run.

Checkpoints store each callback's ``state_dict()`` under its ``state_key``; two stateful
callbacks with the same key would overwrite each other's state on save and both load the
survivor's on resume. Lightning refuses that when the Trainer is built; here ``fit()`` and
``validate()`` report it with the other configuration problems, before anything runs (the
Module's ``configure_callbacks()`` included).
"""

from __future__ import annotations

from treadle.callback import Callback
from treadle.hookspecs import hookimpl


@hookimpl
def validate(trainer) -> list[str]:
    problems, seen = [], set()
    for callback in trainer.callbacks:
        state_dict = getattr(type(callback), "state_dict", None)
        if state_dict is None or state_dict is Callback.state_dict:
            continue  # keeps no state
        key = callback.state_key if hasattr(callback, "state_key") else type(callback).__qualname__
        if key in seen:
            name = type(callback).__name__
            problems.append(
                f"Found more than one stateful callback of type `{name}` with `state_key` "
                f"{key!r}: their states would overwrite each other in checkpoints. Keep one, or "
                f"give them different settings where `{name}` puts them in its `state_key` "
                f"(`EarlyStopping`: monitor and mode), or override `state_key` using "
                f"`self._generate_state_key(...)`."
            )
        seen.add(key)
    return problems
