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
import itertools
import logging
import os
import sys
import warnings
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


# Lightning's accelerator class for each name, as its "can not run" message names it
_LIGHTNING_ACCELERATORS = {
    "cpu": "CPUAccelerator",
    "cuda": "CUDAAccelerator",
    "mps": "MPSAccelerator",
    "tpu": "XLAAccelerator",
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


def check_block_list(found: list[tuple]) -> str | None:
    """A warning's text when ``TREADLE_BLOCK_PLUGINS`` names no installed entry point."""
    installed = sorted({ep.name for ep, _, _ in found})
    unknown = sorted(_blocked_names() - set(installed))
    if not unknown:
        return None
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, installed, n=1)
        if close:
            hints.append(f" Did you mean `{close[0]}` for `{name}`?")
    return (
        f"TREADLE_BLOCK_PLUGINS names {', '.join(f'`{n}`' for n in unknown)}, which no installed "
        f"plugin declares: nothing is blocked for {'it' if len(unknown) == 1 else 'them'}."
        + "".join(hints)
        + f" Installed entry points (group {GROUP!r}): {', '.join(installed) or '(none)'}"
    )


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


# Entry-point groups of callback factories: treadle's, and Lightning's (a package registering
# its callbacks for Lightning runs on treadle too).
CALLBACK_FACTORY_GROUPS = ("treadle.callbacks_factory", "lightning.pytorch.callbacks_factory")


def external_callbacks() -> list[Any]:
    """The callbacks made by the factories installed packages register under
    :data:`CALLBACK_FACTORY_GROUPS`, as Lightning's ``_load_external_callbacks``: each factory
    is a function returning a callback or a list of them. Asked once per ``Trainer``."""
    installed = entry_points()
    found: list[Any] = []
    for group in CALLBACK_FACTORY_GROUPS:
        for ep in installed.select(group=group):
            made = ep.load()()
            made = made if isinstance(made, list) else [made]
            if made:
                logging.getLogger("treadle").info(
                    "Adding %d callbacks from entry point %r: %s",
                    len(made),
                    ep.name,
                    ", ".join(type(c).__name__ for c in made),
                )
            found.extend(made)
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
        # kind -> (name, why): how each selected record was chosen, for the run's first lines
        self.reasons: dict[str, tuple] = {}
        self.skipped: list[tuple] = []  # (entry_point, dist, reason): blocked or not autoloaded
        self._announced = False
        self.module_plugin: Any | None = None
        self._spec_ids: set = set()  # ids of the plugins' ``treadle_hookspecs`` already added
        # id(plugin) -> when it was last registered by ``register``: the order ``arrange``
        # keeps (its own re-registrations, which reverse pluggy's list, do not change it)
        self._rank: dict[int, int] = {}
        self._ranks = itertools.count()
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
        self._rank[id(plugin)] = next(self._ranks)
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
        found = discover_entry_points()
        unknown = check_block_list(found)
        if unknown is not None:
            warnings.warn(unknown, UserWarning, stacklevel=3)
        for ep, dist, reason in found:
            if reason is not None:
                self.skipped.append((ep, dist, reason))
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
        """Resolve ``name`` among the ``kind`` providers; append a problem when it cannot be.

        Why the record was chosen is kept in ``reasons[kind]`` for the run's first lines.
        """
        records = self.providers(kind)
        if name == "auto":
            rec, why = pick_auto(kind, records)
            if rec is not None:
                self.reasons[kind] = (rec.name, why)
                return rec
            problems.append(f"Trainer: `{kind}='auto'` found no available {kind}. {why}")
            return None
        rec = records.get(name)
        if rec is None:
            problems.append(self._not_provided(kind, name, records))
            return None
        if not rec.is_available():
            hint = f" Install it with: {rec.install_hint}" if rec.install_hint else ""
            lightning = _LIGHTNING_ACCELERATORS.get(name) if kind == "accelerator" else None
            said = (  # Lightning's words first, for programs that match them
                f"`{lightning}` can not run on your system since the accelerator is not available. "
                if lightning
                else ""
            )
            problems.append(
                f"{rec.plugin}: {said}`{kind}={name!r}` is installed but not available on this "
                f"machine.{hint}"
            )
            return None
        self.reasons[kind] = (rec.name, f"selected by name: {kind}={name!r}")
        return rec

    def detect(self, kind: str) -> Provider | None:
        """``"auto"`` without a problem when nothing is found (environments are detected)."""
        rec, why = pick_auto(kind, self.providers(kind))
        self.reasons[kind] = (rec.name if rec is not None else None, why)
        return rec

    def _not_provided(self, kind: str, name: str, records: dict) -> str:
        """The problem for a name no loaded plugin provides: blocked, not loaded, or unknown."""
        for ep, dist, reason in self.skipped:
            if ep.name == name:
                fix = (
                    f"Remove `{ep.name}` from TREADLE_BLOCK_PLUGINS"
                    if reason.startswith("blocked")
                    else "Unset TREADLE_DISABLE_PLUGIN_AUTOLOAD (or pass the plugin in "
                    "`Trainer(plugins=[...])`)"
                )
                return (
                    f"Trainer: `{kind}={name!r}`: the plugin `{ep.name}` (distribution {dist[0]} "
                    f"{dist[1]}) is {reason}, so what it provides is not known. {fix} to "
                    f"select it, or pick one of: {_names(records)}"
                )
        # Entry points an admin blocked may provide it (not those autoload-off skipped: every
        # other distribution's, listed by `treadle plugins`).
        blocked = [(ep, dist) for ep, dist, reason in self.skipped if reason.startswith("blocked")]
        skipped = (
            " Blocked by TREADLE_BLOCK_PLUGINS, and so not searched: "
            + ", ".join(f"`{ep.name}` ({dist[0]})" for ep, dist in blocked)
            + "."
            if blocked
            else ""
        )
        said = {  # Lightning's words first, for programs that match them
            "accelerator": f"You selected an invalid accelerator name: `accelerator={name!r}`. ",
            "strategy": f"You selected an invalid strategy name: `strategy={name!r}`. ",
            "precision": f"Precision {name!r} is invalid. ",
        }.get(kind, "")
        return (
            f"Trainer: {said}`{kind}={name!r}` is not provided by any installed plugin. "
            f"Available names: {_names(records)}.{skipped} Install the plugin that provides it, "
            f"or pick one of these."
        )

    # -- what a run says about itself --------------------------------------------------------

    def third_party(self) -> list[tuple]:
        """``[(entry_point_name, (distribution, version), plugin)]``: the plugins of other
        distributions than treadle that take part in the run (one of their records was
        selected, or they implement a hook beyond ``provide_*``), in load order."""
        chosen = set()
        for kind, (name, _) in self.reasons.items():
            record = self.providers(kind).get(name) if name is not None else None
            if record is not None:
                chosen.add(record.plugin)
        providing = set(_PROVIDER_HOOKS.values())
        found = []
        for name, dist in self.distributions.items():
            plugin = self.get_plugin(name)
            if dist[0].lower() == OWN_DISTRIBUTION or plugin is None:
                continue
            hooks = {c.name for c in self.get_hookcallers(plugin) or []} - providing
            if name in chosen or hooks:
                found.append((name, dist, plugin))
        return found

    def run_lines(self) -> list[str]:
        """The run's first lines: each selected kind and why, then the third-party plugins
        taking part and the settings they read."""
        lines = []
        for kind in ("accelerator", "precision", "strategy", "environment"):
            if kind not in self.reasons:
                continue
            name, why = self.reasons[kind]
            shown = f"{name!r}" if name is not None else "none"
            lines.append(f"{kind}: {shown} ({why})")
        for ep_name, dist, plugin in self.third_party():
            set_ = [
                f"{s.name}={os.environ[s.name]}"
                for s in settings_of(plugin)
                if s.name in os.environ
            ]
            reads = f"; set: {', '.join(set_)}" if set_ else ""
            lines.append(f"plugin: {ep_name} ({dist[0]} {dist[1]}){reads}")
        return lines

    def announce(self, trainer: Any) -> None:
        """Log :meth:`run_lines` once per ``Trainer``, on rank zero (logger ``treadle``, level
        INFO; quiet with ``TREADLE_QUIET=1`` or by raising the logger's level)."""
        if self._announced or _env_flag("TREADLE_QUIET") or not trainer.is_global_zero:
            return
        self._announced = True
        log = run_logger()
        for line in self.run_lines():
            log.info("treadle: %s", line)

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
        # in the order ``register`` saw them: pluggy's list is in the order of the last
        # re-registration, the reverse of it after each ``arrange`` (reading it made every
        # second run call the callbacks last to first)
        others = sorted(
            (
                (n, p)
                for n, p in self.list_name_plugin()
                if p is not None and id(p) not in fixed and id(p) in taking_part
            ),
            key=lambda item: self._rank.get(id(item[1]), 0),
        )
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

    def hooks(self, profiling: Any = None) -> Hooks:
        """The run's hook callers, resolved against the plugins as they are now (each
        implementation timed by ``profiling``, a ``treadle._profiling.HookProfiling``)."""
        return Hooks(self, self.tracer, profiling)


def first_party(rec: Provider) -> bool:
    return rec.distribution.lower() == OWN_DISTRIBUTION


def pick_auto(kind: str, records: dict[str, Provider]) -> tuple[Provider | None, str]:
    """``"auto"``: ``(record, why)``, or ``(None, why not)``.

    Only records with a ``priority`` take part; the available one with the highest priority
    wins; on a tie treadle's own records win, then the first name in alphabetical order.
    """
    ranked = sorted(
        (r for r in records.values() if r.priority is not None),
        key=lambda r: (-r.priority, not first_party(r), r.name),  # type: ignore[operator]
    )
    usable = [r for r in ranked if _is_available(r)]
    by_name = sorted(n for n, r in records.items() if r.priority is None)
    outside = f"; by name only (no priority): {', '.join(by_name)}" if by_name else ""
    if not usable:
        shown = ", ".join(f"{r.name}={r.priority}" for r in ranked) or "none"
        return None, f'"auto" found none available (priorities: {shown}{outside})'
    best = usable[0]
    shown = ", ".join(f"{r.name}={r.priority}" for r in usable)
    tie = [r for r in usable[1:] if r.priority == best.priority]
    rule = (
        " (a tie, won by "
        + (
            "treadle's own record"
            if first_party(best) and not all(first_party(r) for r in tie)
            else "the first name in alphabetical order"
        )
        + ")"
        if tie
        else ""
    )
    return best, (
        f'"auto" picked it: the available {kind} with the highest priority{rule}; '
        f"available: {shown}{outside}"
    )


def _is_available(rec: Provider) -> bool:
    try:
        return rec.is_available()
    except Exception:
        return False


def settings_of(plugin: Any) -> list:
    """The :class:`treadle.Setting` records a plugin declares in ``treadle_settings``."""
    return list(getattr(plugin, "treadle_settings", None) or ())


def auto_strategy(devices: Any, num_nodes: int, env_world_size: int) -> tuple[str, str]:
    """``strategy="auto"``: ``(name, why)`` from the devices, nodes and detected environment."""
    if isinstance(devices, int) and devices > 1 or isinstance(devices, list) and len(devices) > 1:
        return "ddp", f'"auto" picked it: devices={devices!r}, more than one'
    if num_nodes > 1:
        return "ddp", f'"auto" picked it: num_nodes={num_nodes}'
    if env_world_size > 1:
        return "ddp", f'"auto" picked it: the environment has world_size={env_world_size}'
    return "single_device", '"auto" picked it: one device, one node, one process'


def auto_lines(pm: RunPluginManager) -> list[str]:
    """What ``Trainer()`` with its defaults would pick on this machine, and why (for
    ``treadle plugins``): the accelerator, strategy and environment "auto" choose."""
    lines = []
    env, env_why = pick_auto("environment", pm.providers("environment"))
    accel, accel_why = pick_auto("accelerator", pm.providers("accelerator"))
    lines.append(f"accelerator: {accel.name if accel else None!r} ({accel_why})")
    world = 1
    if env is not None:
        try:
            world = int(env.factory(None).world_size)
        except Exception:  # an environment that needs a Trainer: one process is assumed
            world = 1
    strategy, why = auto_strategy(1, 1, world)
    lines.append(f"strategy: {strategy!r} ({why})")
    if env is None:
        lines.append("environment: none (no cluster environment detected)")
    else:
        lines.append(f"environment: {env.name!r} ({env_why})")
    return lines


def setting_lines(plugin: Any) -> list[str]:
    """One line per declared :class:`treadle.Setting`, with its value now."""
    lines = []
    for setting in settings_of(plugin):
        now = os.environ.get(setting.name)
        value = f"set to {now!r}" if now is not None else "unset"
        default = f"; default: {setting.default}" if setting.default is not None else ""
        text = f": {setting.description}" if setting.description else ""
        lines.append(f"setting {setting.name}{text} ({value}{default})")
    return lines


class _Stderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (pytest and users replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def run_logger() -> logging.Logger:
    """The ``treadle`` logger; as Lightning's, it prints INFO to stderr unless the application
    configured logging (a handler on the root logger), in which case records go there."""
    log = logging.getLogger("treadle")
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        log.addHandler(_Stderr())
        log.propagate = False
    return log


def _stamp(rec: Provider, plugin: str, dist: str) -> Provider:
    if rec.plugin:
        return rec
    from dataclasses import replace

    return replace(rec, plugin=plugin, distribution=dist)


def _names(records: Iterable) -> str:
    names = sorted(records)
    return ", ".join(repr(n) for n in names) if names else "(none)"
