"""One ``pluggy.PluginManager`` per run: loading, ordering, providers and fast hook calls.

Registration (DESIGN.md, "One run, step by step"): hookspecs, the core's ``trylast`` defaults,
the ``treadle`` entry points (treadle's own always; others unless autoload is off or they are
blocked -- a blocked entry point is never imported), then ``plugins=[...]`` and
``callbacks=[...]``.

Call order of implementations, pinned by ``tests/test_hook_order.py``: callbacks and plugins
in registration order, then the user's ``Module``, then the strategy, precision and
accelerator, then the core's defaults. pluggy calls the most recently registered
implementation first, so :meth:`RunPluginManager.arrange` re-registers the participants in
the reverse of that order once the ``Module`` is known.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from treadle import hookspecs
from treadle._callers import Hooks, Tracer, fast_caller  # noqa: F401 (fast_caller: re-export)
from treadle.errors import PluginError
from treadle.kinds import check_kind
from treadle.providers import Provider

GROUP = "treadle"
OWN_DISTRIBUTION = "treadle"
_SELECTED_ORDER = ("strategy", "precision", "accelerator")  # call order among selected plugins
# Hooks called only while a Trainer is built.
_CONSTRUCTION_HOOKS = frozenset(hookspecs.hook_names(construction_only=True))
_PROVIDER_HOOKS = {
    "accelerator": "provide_accelerators",
    "precision": "provide_precisions",
    "strategy": "provide_strategies",
    "environment": "provide_environments",
    "logger": "provide_loggers",
}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _blocked_names() -> set:
    return {n.strip() for n in os.environ.get("TREADLE_BLOCK_PLUGINS", "").split(",") if n.strip()}


def _dist_of(ep, cache: dict | None = None) -> tuple:
    """``(name, version)`` of the entry point's distribution (METADATA parsed once per dist)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("<unknown>", "")
    if cache is not None and id(dist) in cache:
        return cache[id(dist)]
    metadata = dist.metadata
    found = (metadata["Name"] or dist.name, metadata["Version"])
    if cache is not None:
        cache[id(dist)] = found
    return found


def discover_entry_points(group: str = GROUP) -> list[tuple]:
    """``[(entry_point, (distribution, version), blocked_reason_or_None)]`` for the group."""
    autoload = not _env_flag("TREADLE_DISABLE_PLUGIN_AUTOLOAD")
    blocked = _blocked_names()
    found, seen, dists = [], set(), {}  # type: ignore[var-annotated]
    for ep in entry_points(group=group):
        dist = _dist_of(ep, dists)
        key = (ep.name, ep.value, dist[0])
        if key in seen:  # the same distribution seen twice on sys.path (editable + build dir)
            continue
        seen.add(key)
        reason = None
        if ep.name in blocked:
            reason = "blocked by TREADLE_BLOCK_PLUGINS"
        elif not autoload and dist[0].lower() != OWN_DISTRIBUTION:
            reason = "not loaded: TREADLE_DISABLE_PLUGIN_AUTOLOAD is set"
        found.append((ep, dist, reason))
    return found


def load_entry_point(ep, dist) -> Any:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(
            f"Plugin entry point `{ep.name} = {ep.value}` (group {GROUP!r}) of distribution "
            f"{dist[0]} {dist[1]} failed to import: {type(exc).__name__}: {exc}. "
            f"To run without it, set TREADLE_BLOCK_PLUGINS={ep.name}"
        ) from exc


class RunPluginManager(pluggy.PluginManager):
    """The plugin manager of one ``Trainer``."""

    def __init__(self) -> None:
        super().__init__("treadle")
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple] = {}  # plugin name -> (distribution, version)
        self.selected: dict[str, Any] = {}  # kind -> instance
        self.module_plugin: Any | None = None
        self._spec_ids: set = set()  # ids of the plugins' ``treadle_hookspecs`` already added
        self.tracer: Tracer | None = None
        if _env_flag("TREADLE_TRACE_HOOKS"):
            self.enable_tracing()

    # -- loading --------------------------------------------------------------------------

    def register(self, plugin, name=None):  # noqa: D401 - pluggy's signature
        try:
            registered = super().register(plugin, name)
        except ValueError as exc:  # duplicate registration
            raise PluginError(f"Cannot register plugin {name or plugin!r}: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        # A plugin may bring hookspecs of its own for other plugins to implement.
        specs = getattr(plugin, "treadle_hookspecs", None)
        if specs is not None and id(specs) not in self._spec_ids:
            self._spec_ids.add(id(specs))
            try:
                self.add_hookspecs(specs)
            except pluggy.PluginValidationError as exc:  # an implementation already registered
                raise PluginError(str(exc)) from exc
        return registered

    def load_entry_points(self) -> None:
        owners: dict[str, tuple] = {}
        for ep, dist, reason in discover_entry_points():
            if reason is not None:
                continue
            if ep.name in owners and owners[ep.name] != dist:
                raise PluginError(
                    f"Two distributions declare the treadle entry point `{ep.name}`: "
                    f"{owners[ep.name][0]} and {dist[0]}. Uninstall one, or block the name "
                    f"with TREADLE_BLOCK_PLUGINS={ep.name}"
                )
            owners[ep.name] = dist
            plugin = load_entry_point(ep, dist)
            if self.is_registered(plugin):
                continue
            self.distributions[ep.name] = dist
            try:
                self.register(plugin, name=ep.name)
            except PluginError as exc:
                del self.distributions[ep.name]
                raise PluginError(
                    f"Plugin entry point `{ep.name} = {ep.value}` of distribution {dist[0]} "
                    f"{dist[1]} cannot be registered: {exc}\nTo run without it, set "
                    f"TREADLE_BLOCK_PLUGINS={ep.name}"
                ) from (exc.__cause__ or exc)

    def check_pending(self) -> None:
        """pluggy's check for implementations of unknown hooks, naming the distribution."""
        known = [n for n, c in vars(self.hook).items() if not n.startswith("_") and c.has_spec()]
        for name, caller in list(vars(self.hook).items()):
            if name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                dist = self.distributions.get(impl.plugin_name)
                who = (
                    f"Plugin `{impl.plugin_name}` (distribution {dist[0]} {dist[1]})"
                    if dist
                    else f"Plugin `{impl.plugin_name}` ({impl.plugin!r})"
                )
                # cutoff above difflib's 0.6: among ~70 hooks, 0.6 offered `on_test_model_train`
                # for a plugin's own `on_tp_metric` whose spec owner was missing
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                raise pluggy.PluginValidationError(
                    impl.plugin,
                    f"{who} implements `{name}`, which is not a hook: neither "
                    f"treadle nor a loaded plugin declares it.{hint}",
                )

    # -- providers --------------------------------------------------------------------------

    def providers(self, kind: str) -> dict[str, Provider]:
        """Every record of ``kind``; two plugins offering one name is a ``PluginError``."""
        hook = getattr(self.hook, _PROVIDER_HOOKS[kind])
        found: dict[str, Provider] = {}
        for impl in reversed(hook.get_hookimpls()):
            records = impl.function() or []
            dist = self.distributions.get(impl.plugin_name, ("<registered object>", ""))[0]
            for rec in records:
                rec = _stamp(rec, impl.plugin_name, dist)
                other = found.get(rec.name)
                if other is not None:
                    raise PluginError(
                        f"{kind} {rec.name!r} is provided twice: by plugin {other.plugin!r} "
                        f"(distribution {other.distribution}) and by plugin {rec.plugin!r} "
                        f"(distribution {rec.distribution}). Uninstall one, or block one with "
                        f"TREADLE_BLOCK_PLUGINS={rec.plugin}"
                    )
                found[rec.name] = rec
        return found

    def select(self, kind: str, name: str, trainer, problems: list[str]) -> Provider | None:
        """Resolve ``name`` among the ``kind`` providers; append a problem when it cannot be."""
        records = self.providers(kind)
        if name == "auto":
            usable = [r for r in records.values() if r.is_available()]
            if usable:
                return max(usable, key=lambda r: r.priority)
            problems.append(
                f"Trainer: `{kind}='auto'` found no available {kind}. Installed: {_names(records)}"
            )
            return None
        rec = records.get(name)
        if rec is None:
            problems.append(
                f"Trainer: `{kind}={name!r}` is not provided by any installed plugin. "
                f"Available names: {_names(records)}. Install the plugin that provides it, "
                f"or pick one of these."
            )
            return None
        if not rec.is_available():
            hint = f" Install it with: {rec.install_hint}" if rec.install_hint else ""
            problems.append(
                f"{rec.plugin}: `{kind}={name!r}` is installed but not available on this "
                f"machine.{hint}"
            )
            return None
        return rec

    def register_selected(self, kind: str, instance: Any, name: str) -> None:
        """Register the selected ``kind`` instance, checked like a plugin module and against
        its kind's declaration (:mod:`treadle.kinds`): every problem in one ``PluginError``."""
        plugin_name = f"{kind}:{name}"
        self.register(instance, name=plugin_name)
        problems = check_kind(kind, instance)
        # check_pending() ran before selection: an unknown hook name here would never be called.
        known = None
        for caller in self.get_hookcallers(instance) or []:
            if caller.has_spec():
                continue
            if known is None:
                known = [
                    n for n, c in vars(self.hook).items() if not n.startswith("_") and c.has_spec()
                ]
            for impl in caller.get_hookimpls():
                if impl.plugin is instance and not impl.optionalhook:
                    close = difflib.get_close_matches(caller.name, known, n=1)
                    hint = f" Did you mean `{close[0]}`?" if close else ""
                    problems.append(
                        f"`{type(instance).__qualname__}.{caller.name}` is marked @hookimpl, but "
                        f"`{caller.name}` is not a hook: neither treadle nor a loaded plugin "
                        f"declares it.{hint} Check the spelling against `treadle.hookspecs`."
                    )
        if problems:
            self.unregister(instance)
            record = self.providers(kind).get(name)
            origin = (
                f" (plugin `{record.plugin}` of distribution {record.distribution})"
                if record is not None and record.plugin in self.distributions
                else ""
            )
            raise PluginError(
                f"Plugin `{plugin_name}`{origin} cannot take part in the run:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )
        self.selected[kind] = instance

    # -- ordering -----------------------------------------------------------------------------

    def arrange(self, module_plugin: Any | None) -> None:
        """Re-register participants so pluggy calls them in the documented order.

        pluggy calls later registrations first; we register: core defaults stay (trylast),
        accelerator, precision, strategy, the Module, then other plugins from last to first.
        """
        core = self.get_plugin("treadle.core")
        selected = [
            (self.get_name(self.selected[k]), self.selected[k])
            for k in reversed(_SELECTED_ORDER)
            if k in self.selected
        ]
        fixed = {id(core), *(id(p) for _, p in selected)}
        if self.module_plugin is not None:
            self.unregister(self.module_plugin)
            self.module_plugin = None
        # Plugins that only provide records (or default callbacks) were consulted when the
        # Trainer was built; their place in the call order no longer matters, so they stay.
        taking_part = self._taking_part()
        others = [
            (n, p)
            for n, p in self.list_name_plugin()
            if p is not None and id(p) not in fixed and id(p) in taking_part
        ]
        # The selected plugins keep their places when they are already in order (as the
        # Trainer registers them): re-registering costs pluggy ~0.25 ms a plugin, every fit().
        registered = [id(p) for _, p in self.list_name_plugin() if id(p) in fixed - {id(core)}]
        in_place = registered == [id(p) for _, p in selected]
        for _, plugin in others if in_place else [*selected, *others]:
            self.unregister(plugin)
        for name, plugin in () if in_place else selected:
            super().register(plugin, name=name)
        if module_plugin is not None:
            super().register(module_plugin, name="module")
            self.module_plugin = module_plugin
        for name, plugin in reversed(others):
            super().register(plugin, name=name)

    def _taking_part(self) -> set:
        """ids of the plugins implementing a hook beyond construction (one pass over hooks)."""
        return {
            id(impl.plugin)
            for name, caller in vars(self.hook).items()
            if name not in _CONSTRUCTION_HOOKS and not name.startswith("_")
            for impl in caller.get_hookimpls()
        }

    # -- introspection and tracing ----------------------------------------------------------

    def implementations(self, hook_name: str) -> list[tuple]:
        """``[(plugin_name, plugin)]`` implementing ``hook_name``, in the order they run."""
        hook = getattr(self.hook, hook_name)
        return [(impl.plugin_name, impl.plugin) for impl in reversed(hook.get_hookimpls())]

    def call_order(self, hook_name: str) -> list[str]:
        """Plugin names in the order their implementations of ``hook_name`` run."""
        return [name for name, _ in self.implementations(hook_name)]

    # Replaces pluggy's enable_tracing (its own tracer writes through pm.trace): ours wraps the
    # run's callers, so it shows the path that runs.
    def enable_tracing(  # type: ignore[override]
        self, write: Callable[[str], Any] | None = None
    ) -> None:
        """Report every hook call of the loop with its implementations, in call order.

        ``TREADLE_TRACE_HOOKS=1`` turns it on (to stderr). The loop's callers are wrapped, not
        replaced: the traced run takes the same path as an untraced one.
        """
        self.tracer = Tracer(write or (lambda line: sys.stderr.write(line + "\n")))

    @property
    def tracing(self) -> bool:
        return self.tracer is not None

    def hooks(self) -> Hooks:
        """The run's hook callers, resolved against the plugins as they are now."""
        return Hooks(self, self.tracer)


def _stamp(rec: Provider, plugin: str, dist: str) -> Provider:
    if rec.plugin:
        return rec
    from dataclasses import replace

    return replace(rec, plugin=plugin, distribution=dist)


def _names(records: Iterable) -> str:
    names = sorted(records)
    return ", ".join(repr(n) for n in names) if names else "(none)"
