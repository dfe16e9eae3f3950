"""What Lightning's plugin classes under treadle's names (``treadle.strategies``,
``treadle.accelerators``) share: a program's subclass of one is selected by the class it
extends, and the methods it defines are named in a warning, since treadle runs its own plugin
for that class and never calls them."""

from __future__ import annotations

import warnings
from typing import Any


def warn_unused_overrides(
    cls: type, namespace: dict[str, Any], shim_module: str, kind: str, allowed: tuple[str, ...]
) -> None:
    """Warn when ``cls`` (a program's subclass of a class of ``shim_module``) defines methods
    other than ``allowed``: treadle runs its ``kind`` plugin for the object and never calls
    them, where Lightning would."""
    unused = sorted(
        n
        for n, v in namespace.items()
        if not (n.startswith("__") and n.endswith("__"))
        and n not in allowed
        and (callable(v) or isinstance(v, (staticmethod, classmethod, property)))
    )
    if unused:
        base = next(b.__name__ for b in cls.__mro__[1:] if b.__module__ == shim_module)
        warnings.warn(
            f"{cls.__name__}({base}) defines {', '.join(unused)}: treadle runs its own {kind} "
            f"plugin for a {base} and never calls them (a {kind} of your own is a {kind} "
            f"plugin in treadle: docs/plugins.md; docs/migration.md 3).",
            UserWarning,
            stacklevel=3,
        )
