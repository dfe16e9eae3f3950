"""Named records through which plugins offer accelerators, precisions, strategies, ...

One mechanism serves every kind: a ``provide_<kind>s`` hook returns ``Provider`` records, and the
``Trainer`` selects one record of each kind by name. Only the selected record's ``factory`` is
called, so an unselected provider never imports its heavy dependency.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("accelerator", "precision", "strategy", "environment", "logger")


@dataclass(frozen=True)
class Provider:
    """A named thing a plugin can make for a run.

    :param kind: one of ``"accelerator"``, ``"precision"``, ``"strategy"``, ``"environment"``,
        ``"logger"``.
    :param name: the selection name (``accelerator="cpu"``).
    :param factory: ``factory(trainer) -> instance``; the instance's ``@hookimpl`` methods take
        part in the run. Called only when selected.
    :param available: a bool, or a callable returning one (checked without importing heavy
        dependencies, e.g. with :func:`module_available`).
    :param install_hint: the command that makes it available, shown when it is not.
    :param description: one line for ``treadle plugins``.
    :param priority: whether and how the record takes part in ``"auto"``. ``None`` (the
        default): never picked by ``"auto"``, only selected by name -- installing a plugin
        changes no run. An int: ``"auto"`` picks the available record with the highest
        priority; on a tie treadle's own records win, then the first name in alphabetical
        order. treadle's own: ``cpu`` 0, ``mps`` 10, ``xla`` 20, ``cuda`` 30; environments
        ``slurm`` 50, ``torchrun`` 100 (docs/plugins.md, "How "auto" chooses").
    """

    kind: str
    name: str
    factory: Callable[[Any], Any]
    available: bool | Callable[[], bool] = True
    install_hint: str | None = None
    description: str = ""
    priority: int | None = None
    # Filled in by the plugin manager: who offered it.
    plugin: str = field(default="", compare=False)
    distribution: str = field(default="", compare=False)

    def is_available(self) -> bool:
        return bool(self.available() if callable(self.available) else self.available)


def module_available(name: str) -> bool:
    """True when ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Setting:
    """An environment variable a plugin reads, declared so that admins and users can see it.

    A plugin module (or object) lists them in ``treadle_settings``; ``treadle plugins -v`` shows
    them with their current values, and a run names those that are set, on rank zero.

    :param name: the environment variable, e.g. ``"TREADLE_EMA_DECAY"``.
    :param description: one line: what it changes.
    :param default: what applies when it is unset (shown as written).
    """

    name: str
    description: str = ""
    default: str | None = None
