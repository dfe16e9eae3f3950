"""``treadle``: the command line (``treadle ...`` or ``python -m treadle ...``).

Four commands, documented in ``docs/cli.md``:

* ``treadle plugins [-v | --json]``: every entry point of group ``treadle``, its distribution
  and version, whether it is loaded, blocked or not autoloaded, and the named records it
  provides: one row each, in full with ``-v``, as JSON with ``--json``.
* ``treadle fit --config run.yaml [--trainer.KEY VALUE ...]``: build the model, the data and
  the ``Trainer`` from a YAML file, then ``trainer.fit``.
* ``treadle validate --config run.yaml``: the same set-up and every check ``fit`` makes before
  its first ``training_step``, then stop: nothing is trained.

* ``treadle new-plugin NAME [--dir PATH]``: write a plugin distribution ``treadle-NAME`` to
  start from (``treadle/_new_plugin.py``): its entry point, one hook, a README, a test.
* ``treadle plot PATH... -o curves.png``: the curves of runs' ``metrics.csv`` files
  (``treadle/plot.py``; matplotlib from the ``[plot]`` extra).

* ``treadle --version``: treadle, torch, pluggy and each plugin distribution's version.

Exit codes: 0 success, 2 a configuration problem (the YAML, an argument of the model, the data,
the ``Trainer`` or a callback, a check of any plugin: every problem is printed; also a
``ConfigurationError`` raised while training, such as a ``monitor`` never logged by the first
epoch end), 3 a plugin that fails to load or register; any other error raised while training
propagates with its traceback (exit code 1).

Start-up stays light: ``treadle plugins`` loads the plugins but not pydantic or YAML.

For a user's own script, ``treadle.cli.CLI(MyModel, MyDataModule)`` builds the same from the
classes' signatures, as ``LightningCLI`` does (``treadle/_user_cli.py``).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from treadle._user_cli import (
    CLI,  # noqa: F401  (treadle.cli.CLI; imports nothing heavy)
    ArgsType,  # noqa: F401  (treadle.cli.ArgsType, Lightning's name for `args=`)
    LRSchedulerTypeTuple,  # noqa: F401  (the schedulers `--lr_scheduler` accepts)
    Parser,  # noqa: F401  (what add_arguments_to_parser receives)
    ReduceLROnPlateau,  # noqa: F401  (a plateau scheduler with its `monitor`)
    SaveConfigCallback,  # noqa: F401  (config.yaml in the log directory)
    _fields,
    _validate_args,
    instantiate_class,  # noqa: F401  (Lightning's helper for a linked optimizer)
)

# Lightning's name for the parser ``add_arguments_to_parser(self, parser)`` receives (programs
# import it for the annotation: ``parser: LightningArgumentParser``)
LightningArgumentParser = Parser

EXIT_OK, EXIT_CONFIG, EXIT_PLUGIN = 0, 2, 3
_SECTIONS = ("model", "data", "trainer")
_TOP_KEYS = ("model", "data", "trainer", "seed_everything", "ckpt_path")


# ---------------------------------------------------------------------------------------------
# treadle plugins
# ---------------------------------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    """A table by default; ``-v`` each entry point in detail (hooks, hookspecs, settings,
    records); ``--json`` the same facts for scripts. Exit code 3 when any plugin is broken."""
    from treadle.errors import PluginError
    from treadle.plugin_manager import (
        _PROVIDER_HOOKS,
        GROUP,
        RunPluginManager,
        auto_lines,
        check_block_list,
        discover_entry_points,
        load_entry_point,
        setting_lines,
    )

    pm = RunPluginManager()
    problems: list[str] = []
    owners: dict[str, tuple] = {}
    found = discover_entry_points()
    entries: list[dict[str, Any]] = []
    records: list[tuple[dict[str, Any], Any]] = []  # (entry, Provider or error text)
    warning = check_block_list(found)
    for ep, dist, reason in found:
        entry: dict[str, Any] = {
            "name": ep.name,
            "value": ep.value,
            "distribution": dist[0],
            "version": dist[1],
            "status": "loaded",
            "reason": None,
            "hooks": [],
            "hookspecs": None,
            "settings": [],
            "provides": [],
        }
        entries.append(entry)
        if reason is not None:
            blocked = "TREADLE_BLOCK_PLUGINS" in reason
            entry.update(status="blocked" if blocked else "not loaded", reason=reason)
            continue
        if ep.name in owners and owners[ep.name] != dist:
            msg = (
                f"entry point name `{ep.name}` is also declared by {owners[ep.name][0]}; "
                f"uninstall one, or block the name with TREADLE_BLOCK_PLUGINS={ep.name}"
            )
            entry.update(status="conflict", reason=msg)
            problems.append(f"{dist[0]}: {msg}")
            continue
        owners[ep.name] = dist
        try:
            plugin = load_entry_point(ep, dist)
            if not pm.is_registered(plugin):
                pm.register(plugin, name=ep.name)
                pm.distributions[ep.name] = dist
        except PluginError as exc:
            entry.update(status="failed", reason=str(exc))
            problems.append(
                str(exc) if dist[0] in str(exc) else f"{ep.name} ({dist[0]} {dist[1]}): {exc}"
            )
            continue
        name = pm.get_name(plugin) or ep.name
        entry["hooks"] = sorted(
            c.name
            for c in pm.get_hookcallers(plugin) or []
            if c.name not in _PROVIDER_HOOKS.values()
        )
        specs = getattr(plugin, "treadle_hookspecs", None)
        if specs is not None:
            entry["hookspecs"] = sorted(
                n for n in dir(specs) if hasattr(getattr(specs, n, None), "treadle_spec")
            )
        entry["settings"] = setting_lines(plugin)
        for kind, hook_name in _PROVIDER_HOOKS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != name:
                    continue
                try:
                    provided = impl.function() or []
                except Exception as exc:  # a provider hook that fails is the plugin's bug
                    text = f"{kind}: provider hook failed: {type(exc).__name__}: {exc}"
                    records.append((entry, text))
                    problems.append(f"{ep.name}: {hook_name}() raised {type(exc).__name__}: {exc}")
                    continue
                records.extend((entry, rec) for rec in provided)

    try:
        pm.check_pending()  # a misspelled hook name, as a Trainer would report it
    except Exception as exc:
        problems.append(str(exc))
    # "available": selectable here, so a precision needs an available accelerator to run on.
    devices = _available_device_types(r for _, r in records if not isinstance(r, str))
    for entry, rec in records:
        if isinstance(rec, str):
            entry["provides"].append({"error": rec})
        else:
            entry["provides"].append(_record(rec, devices))
    selectable: dict[str, Any] = {}
    summary = []
    for kind in _PROVIDER_HOOKS:
        try:
            named = pm.providers(kind)
        except PluginError as exc:
            selectable[kind] = None
            summary.append(f"  {kind}: conflict (see below)\n")
            problems.append(str(exc))
            continue
        except Exception:  # a failing provider hook, reported above
            selectable[kind] = None
            summary.append(f"  {kind}: unknown (a provider hook failed)\n")
            continue
        selectable[kind] = {n: _unavailable(r, devices) is None for n, r in sorted(named.items())}
        names = [
            f"{n} ({'available' if ok else 'unavailable'})" for n, ok in selectable[kind].items()
        ]
        summary.append(f"  {kind}: {', '.join(names) or '(none)'}\n")
    try:
        auto = auto_lines(pm)
    except Exception:  # a conflict or a failing provider hook, reported below
        auto = []
    code = EXIT_PLUGIN if problems else EXIT_OK
    out = sys.stdout
    if getattr(args, "json", False):
        import json

        report = {
            "group": GROUP,
            "warning": warning,
            "entry_points": entries,
            "selectable": selectable,
            "auto": auto,
            "problems": problems,
        }
        out.write(json.dumps(report, indent=2) + "\n")
        return code
    verbose = getattr(args, "verbose", False)
    out.write(f"Entry points in group {GROUP!r}: {len(found)}\n")
    if warning is not None:
        out.write(f"warning: {warning}\n")
    out.write("".join(map(_detail, entries)) if verbose else _table(entries))
    out.write("\nSelectable names:\n" + "".join(summary))
    if auto:
        out.write('\n"auto" on this machine (Trainer() with its defaults):\n')
        out.write("".join(f"  {line}\n" for line in auto))
    if problems:
        out.write("\nProblems:\n" + "".join(f"  - {p}\n" for p in problems))
    if not verbose:
        out.write("\nEach entry point in detail: `treadle plugins -v`; for scripts: `--json`.\n")
    return code


def _available_device_types(records: Any) -> set[str]:
    """The device types of the accelerators that are available here."""
    return {
        str(getattr(rec.factory, "device_type", rec.name))
        for rec in records
        if rec.kind == "accelerator" and _is_available(rec)
    }


def _unavailable(rec: Any, devices: set[str]) -> str | None:
    """Why ``rec`` cannot be selected on this machine, or None when it can: its own check,
    and for a precision that declares ``device_types`` (on its class), an available
    accelerator of one of those types."""
    if not _is_available(rec):
        return "unavailable" + (f" (install with: {rec.install_hint})" if rec.install_hint else "")
    wanted = getattr(rec.factory, "device_types", None) if rec.kind == "precision" else None
    if isinstance(wanted, (list, tuple, set, frozenset)) and not devices & set(wanted):
        kinds = ", ".join(sorted(map(str, wanted))) or "none"
        return f"unavailable (runs on {kinds} devices; no accelerator of those is available)"
    return None


def _record(rec: Any, devices: set[str]) -> dict[str, Any]:
    why = _unavailable(rec, devices)
    return {
        "kind": rec.kind,
        "name": rec.name,
        "available": why is None,
        "why_unavailable": why,
        "install_hint": rec.install_hint,
        "description": rec.description,
        "priority": rec.priority,
    }


def _detail(entry: dict[str, Any]) -> str:
    """``treadle plugins -v``: one entry point, with everything known about it."""
    lines = [
        f"\n{entry['name']} = {entry['value']}",
        f"    distribution: {entry['distribution']} {entry['version']}",
    ]
    status, reason = entry["status"], entry["reason"]
    if status != "loaded":
        shown = reason if status in ("blocked", "not loaded") else f"{status}: {reason}"
        return "\n".join([*lines, f"    status: {shown}"]) + "\n"
    lines.append("    status: loaded")
    if entry["hooks"]:
        lines.append(f"    hooks: {', '.join(entry['hooks'])}")
    if entry["hookspecs"] is not None:
        lines.append(f"    adds hookspecs: {', '.join(entry['hookspecs']) or '(none)'}")
    lines += [f"    {line}" for line in entry["settings"]]
    for rec in entry["provides"]:
        if "error" in rec:
            lines.append(f"    {rec['error']}")
            continue
        text = f" -- {rec['description']}" if rec["description"] else ""
        state = "available" if rec["available"] else rec["why_unavailable"]
        lines.append(f"    {rec['kind']} {rec['name']!r}: {state}{text}")
    return "\n".join(lines) + "\n"


def _table(entries: list[dict[str, Any]]) -> str:
    """One line per entry point: name, distribution, status, and what it provides by kind
    (unavailable names marked ``(unavailable)``), or else the hooks it implements."""
    rows = [("NAME", "DISTRIBUTION", "STATUS", "PROVIDES")]
    for e in entries:
        if e["status"] != "loaded":
            what = "see Problems" if e["status"] in ("failed", "conflict") else "-"
        else:
            kinds: dict[str, list[str]] = {}
            for r in e["provides"]:
                if "error" in r:
                    kinds.setdefault(r["error"].split(":")[0], []).append("provider hook failed")
                else:
                    mark = "" if r["available"] else " (unavailable)"
                    kinds.setdefault(r["kind"], []).append(f"{r['name']}{mark}")
            what = "; ".join(f"{k}: {', '.join(_first(v, 4))}" for k, v in kinds.items())
            if not what:
                what = f"hooks: {', '.join(_first(e['hooks'], 4))}" if e["hooks"] else "-"
        rows.append((e["name"], f"{e['distribution']} {e['version']}", e["status"], what))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n" + "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths)) + f"  {r[3]}\n" for r in rows
    )


def _first(names: list[str], n: int) -> list[str]:
    return names if len(names) <= n else [*names[:n], f"+{len(names) - n} more"]


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from treadle._new_plugin import write_plugin

    root, problems = write_plugin(args.name, args.dir)
    if root is None:
        sys.stderr.write("".join(f"{p}\n" for p in problems))
        return EXIT_CONFIG
    sys.stdout.write(
        f"wrote {root}: pyproject.toml, README.md, src/, tests/\n"
        f"next: cd {root} && pip install -e . && pytest\n"
    )
    return EXIT_OK


def _is_available(rec) -> bool:
    try:
        return rec.is_available()
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# The run configuration: YAML, overrides, class paths
# ---------------------------------------------------------------------------------------------


def _yaml_loader():
    """PyYAML's safe loader that also reads ``1e-3`` as a float (YAML 1.2 does, 1.1 does not)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader


def _load_yaml(text: str, where: str, problems: list[str]) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        # PyYAML names the text "<unicode string>"; the file or the override is named instead.
        problems.append(f"{where}: not valid YAML: {exc}".replace('"<unicode string>"', where))
        return None


def _read_config(path: str, problems: list[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        problems.append(f"--config {path}: cannot be read: {exc.strerror or exc}")
        return {}
    data = _load_yaml(text, path, problems)
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(
            f"{path}: the top level must be a mapping with keys "
            f"{', '.join(_TOP_KEYS)}; got {type(data).__name__}"
        )
        return {}
    return data


def _apply_overrides(config: dict[str, Any], overrides: Sequence[str], problems: list[str]) -> None:
    """``--trainer.max_epochs 3``, ``--model.init_args.lr=0.1`` (``--model.lr`` means the same)."""
    i = 0
    while i < len(overrides):
        token = overrides[i]
        i += 1
        if not token.startswith("--"):
            problems.append(
                f"`{token}` is not an option; overrides look like "
                f"`--trainer.max_epochs 3` (sections: {', '.join(_SECTIONS)})"
            )
            continue
        key, has_value, value = token[2:].partition("=")
        if not has_value:
            if i >= len(overrides) or overrides[i].startswith("--"):
                problems.append(f"`{token}` needs a value, as in `{token} 3`")
                continue
            value, i = overrides[i], i + 1
        if "." not in key:
            problems.append(
                f"`--{key}` is not an option; overrides look like "
                f"`--trainer.max_epochs 3` (sections: {', '.join(_SECTIONS)})"
            )
            continue
        path = key.split(".")
        if path[0] not in _SECTIONS or not all(path):
            problems.append(f"`--{key}`: overrides start with one of {', '.join(_SECTIONS)}")
            continue
        if path[0] in ("model", "data") and path[1] not in ("class_path", "init_args"):
            path.insert(1, "init_args")
        parsed = _load_yaml(value, f"`--{key} {value}`", problems)
        node = config
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                problems.append(f"`--{key}`: `{part}` is not a mapping in the configuration")
                break
            node = child
        else:
            node[path[-1]] = parsed


_LIGHTNING_ROOTS = ("lightning", "pytorch_lightning")
_LIGHTNING_RENAMES = {
    "LightningModule": "Module",
    "LightningDataModule": "DataModule",
    "LightningCLI": "CLI",
}


def _treadle_module(name: str) -> str | None:
    """treadle's module for Lightning's module ``name`` (``lightning.pytorch.callbacks.x`` ->
    ``treadle.callbacks``), or None when ``name`` is not Lightning's."""
    for root in ("lightning.pytorch", "pytorch_lightning", "lightning"):
        if name == root:
            return "treadle"
        if name.startswith(root + "."):
            rest = name[len(root) + 1 :]
            head = rest.split(".")[0]
            if head in ("callbacks", "loggers"):
                return f"treadle.{head}"
            if rest in ("core", "core.module", "core.datamodule", "trainer", "trainer.trainer"):
                return "treadle"
            return f"treadle.{rest}"
    return None


def resolve_class_path(path: str) -> Any:
    """``pkg.mod.Name`` or ``pkg.mod:Name`` -> the object (ImportError/AttributeError otherwise).

    Where Lightning is not installed, a Lightning class path (``lightning.pytorch.callbacks.
    ModelCheckpoint``, ``pytorch_lightning.loggers.CSVLogger``) names treadle's class of the same
    name, so that a ``LightningCLI`` configuration file runs unchanged."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"`{path}` is not a dotted path such as `package.module.Name`")
    try:
        obj = import_module(module_name)
    except ModuleNotFoundError as exc:
        # A Lightning configuration file names Lightning's classes: without Lightning
        # installed, they are treadle's same-named ones (the mapping of docs/migration.md).
        root = (exc.name or "").split(".")[0]
        mapped = _treadle_module(module_name) if root in _LIGHTNING_ROOTS else None
        if mapped is None:
            raise
        obj = import_module(mapped)
        attr = _LIGHTNING_RENAMES.get(attr, attr)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class _Call:
    """A ``{class_path, init_args}`` that has been checked and can be built."""

    __slots__ = ("target", "kwargs", "label", "where")

    def __init__(self, target: Any, kwargs: dict[str, Any], label: str, where: str = ""):
        self.target, self.kwargs, self.label, self.where = target, kwargs, label, where

    def build(self, problems: list[str] | None = None) -> Any:
        """The object; with ``problems``, an exception of the call (a callback refusing its
        arguments) is one more problem there and the result is None."""
        kwargs = {k: _build(v, problems) for k, v in self.kwargs.items()}
        if problems is None:
            return self.target(**kwargs)
        from treadle.errors import ConfigurationError

        try:
            return self.target(**kwargs)
        except ConfigurationError as exc:  # a callback refusing an argument: its own words
            problems.extend(f"{self.where or self.label}: {p}" for p in exc.problems)
            return None
        except Exception as exc:
            problems.append(f"{self.where or self.label}: `{self.label}(...)` raised {exc!r}")
            return None


def _build(value: Any, problems: list[str] | None = None) -> Any:
    if isinstance(value, _Call):
        return value.build(problems)
    if isinstance(value, list):
        return [_build(v, problems) for v in value]
    if isinstance(value, dict):
        return {k: _build(v, problems) for k, v in value.items()}
    return value


def _has_call(value: Any) -> bool:
    if isinstance(value, _Call):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_call(v) for v in value)
    if isinstance(value, dict):
        return any(_has_call(v) for v in value.values())
    return False


def _parse_spec(value: Any, where: str, problems: list[str]) -> Any:
    """Turn every ``{class_path, init_args}`` mapping in ``value`` into a checked ``_Call``."""
    if isinstance(value, list):
        return [_parse_spec(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if "class_path" not in value:
        return {k: _parse_spec(v, f"{where}.{k}", problems) for k, v in value.items()}
    path = value["class_path"]
    extra = sorted(set(value) - {"class_path", "init_args"})
    if extra:
        problems.append(
            f"{where}: unexpected keys {extra} next to `class_path`; put arguments "
            f"under `init_args`"
        )
    init_args = value.get("init_args") or {}
    if not isinstance(init_args, dict):
        problems.append(
            f"{where}.init_args: must be a mapping of argument names to values, got "
            f"{type(init_args).__name__}"
        )
        init_args = {}
    if not isinstance(path, str):
        problems.append(f"{where}.class_path: must be a string such as `package.module.Name`")
        return None
    try:
        target = resolve_class_path(path)
    except Exception as exc:
        problems.append(
            f"{where}: `class_path: {path}` cannot be imported: "
            f"{type(exc).__name__}: {exc}. Is its package installed or on PYTHONPATH?"
        )
        return None
    kwargs = {k: _parse_spec(v, f"{where}.init_args.{k}", problems) for k, v in init_args.items()}
    try:
        inspect.signature(target)
    except (TypeError, ValueError):  # no signature (a builtin): let the call decide
        return _Call(target, kwargs, path)
    # Names, required arguments and types (annotations; a number or bool default otherwise),
    # every problem reported; values converted to their annotations (`1` for a float: `1.0`).
    kwargs.update(_validate_args(kwargs, _fields(target), f"{where}.init_args.", problems, target))
    return _Call(target, kwargs, path, where)


class RunConfig:
    """What a ``--config`` file (plus overrides) describes, checked before anything is built."""

    def __init__(self, config: dict[str, Any], problems: list[str]):
        from treadle._user_cli import _where_it_goes

        for key in sorted(set(config) - set(_TOP_KEYS), key=str):
            problems.append(
                f"configuration: unknown top-level key `{key}`;{_where_it_goes(key, _TOP_KEYS)} "
                f"valid keys: {', '.join(_TOP_KEYS)}"
            )
        self.seed = config.get("seed_everything")
        if self.seed is not None and (type(self.seed) is not int):
            problems.append(f"seed_everything: must be an int, got {self.seed!r}")
        self.ckpt_path = config.get("ckpt_path")
        model = config.get("model")
        if not isinstance(model, dict) or "class_path" not in model:
            problems.append(
                "model: missing; give `model: {class_path: package.module.MyModule, "
                "init_args: {...}}`"
            )
            self.model = None
        else:
            self.model = _parse_spec(model, "model", problems)
        data = config.get("data")
        if data is not None and not (isinstance(data, dict) and "class_path" in data):
            problems.append(
                "data: give `data: {class_path: package.module.make_data, "
                "init_args: {...}}` or leave it out to use the Module's own "
                "train_dataloader()/val_dataloader()"
            )
            data = None
        self.data = _parse_spec(data, "data", problems) if data is not None else None
        trainer = config.get("trainer") or {}
        if not isinstance(trainer, dict):
            problems.append(
                f"trainer: must be a mapping of Trainer arguments, got {type(trainer).__name__}"
            )
            trainer = {}
        self.trainer = {k: _parse_spec(v, f"trainer.{k}", problems) for k, v in trainer.items()}


def _loaders(data: Any, stage: str) -> tuple:
    """``(train, val)`` from what ``data``'s class_path built (see ``docs/cli.md``)."""
    if data is None:
        return None, None
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"train", "val"})
        if unknown:
            from treadle.errors import ConfigurationError

            raise ConfigurationError(
                [f"data: returned a dict with keys {unknown}; use 'train' and 'val'"]
            )
        return data.get("train"), data.get("val")
    if hasattr(data, "train_dataloader") or hasattr(data, "val_dataloader"):
        if callable(getattr(data, "prepare_data", None)):
            data.prepare_data()
        if callable(getattr(data, "setup", None)):
            data.setup(stage)
        train = data.train_dataloader() if hasattr(data, "train_dataloader") else None
        val = data.val_dataloader() if hasattr(data, "val_dataloader") else None
        return train, val
    from treadle.errors import ConfigurationError

    raise ConfigurationError(
        [
            f"data: built a {type(data).__name__}; return "
            f"{{'train': loader, 'val': loader}} or an object with "
            f"train_dataloader() and/or val_dataloader()"
        ]
    )


def _prepare_run(args: argparse.Namespace, overrides: Sequence[str]):
    """Read, override and check the configuration; then build model, data and Trainer."""
    from treadle.config import TrainerConfig
    from treadle.errors import ConfigurationError

    problems: list[str] = []
    config = _read_config(args.config, problems)
    if problems:  # an unreadable file or bad YAML, alone: what follows would be noise
        raise ConfigurationError(problems)
    _apply_overrides(config, overrides, problems)
    if args.seed_everything is not None:
        config["seed_everything"] = args.seed_everything
    if getattr(args, "ckpt_path", None) is not None:
        config["ckpt_path"] = args.ckpt_path
    run = RunConfig(config, problems)
    # The Trainer arguments without a class_path are checked whatever else is wrong; those
    # with one (callbacks, loggers) are built, and checked, once every spec is sound.
    plain = {k: v for k, v in run.trainer.items() if not _has_call(v)}
    try:
        TrainerConfig.from_kwargs(**plain)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    trainer_kwargs = None
    if not any(p.startswith("trainer.") for p in problems):
        before = len(problems)
        built = _build({k: v for k, v in run.trainer.items() if k not in plain}, problems)
        if len(problems) == before:  # (a spec that failed to build left a None in its place)
            try:
                TrainerConfig.from_kwargs(**built)
            except ConfigurationError as exc:
                problems.extend(exc.problems)
        trainer_kwargs = {**plain, **built}
    if problems:
        raise ConfigurationError(problems)
    # No problems: the model section and the Trainer arguments were both built.
    assert run.model is not None and trainer_kwargs is not None

    import treadle
    from treadle._cli_checks import MonitorCheck, monitor_warnings

    if run.seed is not None:
        treadle.seed_everything(run.seed, verbose=False)  # its output is the run summary
    model = run.model.build()
    if not isinstance(model, treadle.Module):
        raise ConfigurationError(
            [f"model: `{run.model.label}` built a {type(model).__name__}, not a `treadle.Module`"]
        )
    if args.command == "fit":  # a `monitor` never logged stops fit at the first epoch end
        trainer_kwargs["plugins"] = [*(trainer_kwargs.get("plugins") or []), MonitorCheck()]
    trainer = treadle.Trainer(**trainer_kwargs)
    for line in monitor_warnings(model, list(trainer.callbacks)):
        print(f"treadle {args.command}: warning: {line}", file=sys.stderr)
    data = run.data.build() if run.data is not None else None
    train, val = _loaders(data, "fit")
    return run, trainer, model, train, val


def check_fit(
    trainer: Any, model: Any, train_dataloaders: Any = None, val_dataloaders: Any = None
) -> None:
    """Everything ``trainer.fit`` does before its first ``training_step``, and nothing after.

    The Module's overrides are registered, ``setup`` runs, ``configure_optimizers()`` is
    called and every plugin's ``validate`` hook reports; any problem raises one
    ``ConfigurationError``. No process is started, the model is not moved, nothing is trained.
    """
    trainer._run("fit", model, train_dataloaders, val_dataloaders, None, check_only=True)


def _summary(trainer: Any) -> str:
    names = [
        getattr(p, "name", type(p).__name__)
        for p in (trainer.accelerator, trainer.precision_plugin, trainer.strategy)
    ]
    return f"accelerator={names[0]!r}, precision={names[1]!r}, strategy={names[2]!r}"


def _cmd_fit(args: argparse.Namespace, overrides: Sequence[str]) -> int:
    run, trainer, model, train, val = _prepare_run(args, overrides)
    trainer.fit(model, train_dataloaders=train, val_dataloaders=val, ckpt_path=run.ckpt_path)
    metrics = ", ".join(f"{k}={float(v):.6g}" for k, v in sorted(trainer.callback_metrics.items()))
    print(
        f"treadle fit: done: {type(model).__name__}, {_summary(trainer)}, "
        f"epochs={trainer.current_epoch}, global_step={trainer.global_step}"
        + (f", {metrics}" if metrics else "")
    )
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, overrides: Sequence[str]) -> int:
    _, trainer, model, train, val = _prepare_run(args, overrides)
    check_fit(trainer, model, train, val)
    print(
        f"treadle validate: configuration OK: {type(model).__name__}, {_summary(trainer)}, "
        f"optimizers={len(trainer.optimizers)}, "
        f"schedulers={len(trainer.lr_scheduler_configs)}; nothing was trained"
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def versions() -> str:
    """``treadle --version``: treadle, torch and pluggy, then each distribution that declares
    entry points of group ``treadle`` (other than treadle), with its entry-point names. Read
    from the installed metadata: nothing is imported."""
    from importlib.metadata import PackageNotFoundError, version

    from treadle.plugin_manager import GROUP, OWN_DISTRIBUTION, discover_entry_points

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "(not installed)"

    lines = [f"{name} {of(name)}" for name in ("treadle", "torch", "pluggy")]
    plugins: dict[tuple, list[str]] = {}
    for ep, dist, _ in discover_entry_points():
        if dist[0].lower() != OWN_DISTRIBUTION:
            plugins.setdefault(tuple(dist), []).append(ep.name)
    lines.append(f"plugin distributions (entry-point group {GROUP!r}):")
    lines += [
        f"  {name} {ver}: {', '.join(sorted(names))}"
        for (name, ver), names in sorted(plugins.items(), key=lambda item: item[0][0].lower())
    ] or ["  (none)"]
    return "\n".join(lines) + "\n"


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the versions and exit")

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        sys.stdout.write(versions())
        parser.exit(EXIT_OK)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="treadle",
        description="treadle: train treadle.Module models from a YAML file, and "
        "list the installed plugins. See docs/cli.md.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="{fit,validate,plugins,new-plugin,plot}")
    sub.required = True
    plugins = sub.add_parser(
        "plugins", help="list every plugin of entry-point group 'treadle' and what it provides"
    )
    plugins.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="each entry point in detail: hooks, hookspecs, settings, every record",
    )
    plugins.add_argument(
        "--json", action="store_true", help="everything -v shows, as JSON (for scripts)"
    )
    new = sub.add_parser(
        "new-plugin",
        help="write a plugin distribution (pyproject.toml, a hook, a README, a test) to start from",
    )
    new.add_argument("name", help="the entry-point name; the distribution is treadle-NAME")
    new.add_argument("--dir", default=None, help="where to write it (default: ./treadle-NAME)")
    for name, text in (
        ("fit", "train: build model, data and Trainer from --config, then fit"),
        ("validate", "set up and run every check fit makes; train nothing"),
    ):
        p = sub.add_parser(
            name,
            help=text,
            description=text + ". Override any value with "
            "--trainer.KEY VALUE, --model.KEY VALUE or --data.KEY VALUE "
            "(values are read as YAML).",
        )
        p.add_argument("--config", "-c", required=True, help="the run's YAML file")
        p.add_argument(
            "--seed_everything", type=int, default=None, help="seed python, torch and numpy first"
        )
        if name == "fit":
            p.add_argument("--ckpt_path", default=None, help="resume from this checkpoint")
    plot = sub.add_parser(
        "plot",
        help="draw the curves of runs' metrics.csv files to a PNG (extra [plot])",
        description="Draw the metrics of one or more runs (CSV logger files) in one image: "
        "a panel per quantity, training and validation on shared axes. See docs/loggers.md.",
    )
    plot.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a metrics.csv, a run's folder, or a folder above runs",
    )
    plot.add_argument("-o", "--output", default="curves.png", help="the image (default curves.png)")
    plot.add_argument("--x", choices=["step", "epoch"], default="step", help="the x axis")
    plot.add_argument("--metrics", nargs="+", default=None, help="only these metrics")
    plot.add_argument("--data", default=None, help="also write the plotted points to this JSON")
    return parser


def _cmd_plot(args: argparse.Namespace) -> int:
    from treadle.plot import PlotError, plot

    try:
        plot(args.paths, args.output, x=args.x, metrics=args.metrics, data=args.data)
    except (PlotError, ModuleNotFoundError) as exc:
        print(f"treadle plot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"treadle plot: wrote {args.output}" + (f" and {args.data}" if args.data else ""))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = _parser()
    args, overrides = parser.parse_known_args(argv)
    if args.command in ("plugins", "new-plugin", "plot") and overrides:
        parser.error(f"unrecognized arguments: {' '.join(overrides)}")
    if os.getcwd() not in sys.path:  # `python -m` puts the working directory first; so do we
        sys.path.insert(0, os.getcwd())
    from treadle.errors import ConfigurationError, PluginError

    try:
        if args.command == "plugins":
            return _cmd_plugins(args)
        if args.command == "new-plugin":
            return _cmd_new_plugin(args)
        if args.command == "plot":
            return _cmd_plot(args)
        if args.command == "fit":
            return _cmd_fit(args, overrides)
        return _cmd_validate(args, overrides)
    except ConfigurationError as exc:
        print(f"treadle {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except PluginError as exc:
        print(f"treadle {args.command}: plugin error: {exc}", file=sys.stderr)
        return EXIT_PLUGIN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
