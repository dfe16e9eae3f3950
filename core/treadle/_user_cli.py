"""``treadle.cli.CLI``: a command line for a user's script, as ``LightningCLI`` is used.

::

    # train.py
    from treadle.cli import CLI
    CLI(MyModel, MyDataModule)

    python train.py fit --config run.yaml --model.lr 0.01 --trainer.max_epochs 3
    python train.py test --ckpt_path best.ckpt
    python train.py fit --print_config > run.yaml

Every argument comes from a signature: the ``Trainer``'s (checked by ``TrainerConfig``), the
model's and the data module's ``__init__``. Each value is checked against its annotation by
pydantic (already a dependency; it reports every problem of a call at once), all sections
together: the problems are printed, one line each naming the argument, and the script exits
with code 2 before anything is built. ``--print_config`` prints the whole resolved
configuration as YAML (a valid ``--config`` file) and exits 0.

Neither pydantic nor YAML is imported until a ``CLI`` is built.
"""

from __future__ import annotations

import inspect
import os
import random
import sys
import typing
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch

from treadle.callback import Callback

EXIT_CONFIG = 2

# What ``args=`` takes (Lightning's ``lightning.pytorch.cli.ArgsType``): a list of command-line
# words instead of ``sys.argv[1:]``, a configuration dict, or None (``sys.argv[1:]``).
ArgsType = Optional[Union[Sequence[str], dict[str, Any]]]
_SUBCOMMANDS: dict[
    str, dict[str, Any]
] = {  # the keyword arguments of each entry point the configuration may set
    "fit": {"ckpt_path": None},
    "validate": {"ckpt_path": None, "verbose": True},
    "test": {"ckpt_path": None, "verbose": True},
    "predict": {"ckpt_path": None, "return_predictions": None},
}
_SUBCOMMAND_HELP = {  # the top-level ``--help`` lines, LightningCLI's words
    "fit": "Runs the full optimization routine.",
    "validate": "Perform one evaluation epoch over the validation set.",
    "test": "Perform one evaluation epoch over the test set.",
    "predict": "Run inference on your data.",
}
_SPEC_KEYS = ("class_path", "init_args", "dict_kwargs")
_EXTRA_TYPES = {"ckpt_path": Optional[str], "verbose": bool, "return_predictions": Optional[bool]}


class CLI:
    """Parse the command line, build model, data module and ``Trainer``, run the subcommand.

    Arguments as ``LightningCLI``'s: ``model_class`` and ``datamodule_class`` (any class with
    ``*_dataloader`` methods; None: the model's own loaders), ``trainer_class``,
    ``trainer_defaults`` (``Trainer`` arguments the configuration may override),
    ``seed_everything_default`` (an int, True for a random seed stored in the configuration,
    or False), ``subclass_mode_model``/``subclass_mode_data`` (the section is
    ``{class_path, init_args}`` naming a subclass), ``args`` (a list instead of
    ``sys.argv[1:]``, or a configuration dict), ``run`` (False: no subcommand; build and stop;
    use ``cli.trainer``, ``cli.model``, ``cli.datamodule``), ``parser_kwargs``
    (``prog``, ``description``, ``default_config_files``; the last also per subcommand, as
    ``{"fit": {"default_config_files": [...]}}``), ``save_config_callback`` (by default
    :class:`SaveConfigCallback`: ``config.yaml`` in the log directory; None: not saved) with
    ``save_config_kwargs`` (its arguments), ``auto_configure_optimizers`` (the ``--optimizer``
    and ``--lr_scheduler`` sections, which replace the model's ``configure_optimizers``).
    ``load_from_checkpoint_support`` is accepted and unused.

    Override ``before_fit``/``after_fit`` (and the same for ``validate``, ``test``,
    ``predict``) to run code around the subcommand.
    """

    def __init__(
        self,
        model_class: Any = None,
        datamodule_class: Any = None,
        save_config_callback: Any = "SaveConfigCallback",
        trainer_class: Any = None,
        trainer_defaults: dict[str, Any] | None = None,
        seed_everything_default: bool | int = True,
        parser_kwargs: dict[str, Any] | None = None,
        subclass_mode_model: bool = False,
        subclass_mode_data: bool = False,
        args: Sequence[str] | dict[str, Any] | None = None,
        run: bool = True,
        save_config_kwargs: dict[str, Any] | None = None,
        auto_configure_optimizers: bool = True,
        load_from_checkpoint_support: bool = True,
    ) -> None:
        import treadle

        if save_config_callback == "SaveConfigCallback":  # the default, as LightningCLI's
            save_config_callback = SaveConfigCallback
        self.save_config_callback = save_config_callback
        self.save_config_kwargs = dict(save_config_kwargs or {})
        self.auto_configure_optimizers = auto_configure_optimizers
        self.model_class, self.datamodule_class = model_class, datamodule_class
        self.trainer_class = trainer_class or treadle.Trainer
        self.trainer_defaults = dict(trainer_defaults or {})
        self.seed_everything_default = seed_everything_default
        self.subclass_mode_model = subclass_mode_model or model_class is None
        self.subclass_mode_data = subclass_mode_data
        kwargs = dict(parser_kwargs or {})
        self.prog = kwargs.get("prog") or os.path.basename(sys.argv[0] or "main.py")
        self.description = kwargs.get("description")
        self.parser_kwargs = kwargs
        self.model: Any = None
        self.datamodule: Any = None
        self.trainer: Any = None
        # every section, with what was built in its place (LightningCLI's): set when built
        self.config_init: _Config = _Config({}, None)

        self._parser = self.parser = Parser()
        self.add_arguments_to_parser(self._parser)
        if auto_configure_optimizers:  # as LightningCLI: unless added in add_arguments_to_parser
            if not self._parser._optimizers:
                self._parser.add_optimizer_args()
            if not self._parser._lr_schedulers:
                self._parser.add_lr_scheduler_args()
        self.subcommand, config, print_config = self._parse(args, run)
        self.config = _Config(config, self.subcommand)
        self._normalise_optimizers(self.config)
        if print_config:  # unchecked, so that a template can be printed (required args: null)
            sys.stdout.write(self._parser.dump(self._with_required(self.config)))
            raise SystemExit(0)
        problems: list[str] = []
        checked = self._check(self.config, problems)
        if problems:
            self._exit_with(problems)
        from treadle.errors import ConfigurationError

        try:  # the Trainer's own checks (plugin selection) and a `monitor` never logged
            self._instantiate(checked)
            if self.subcommand is not None:
                self._run_subcommand(self.subcommand)
        except ConfigurationError as exc:
            self._exit_with(exc.problems)

    def add_arguments_to_parser(self, parser: Parser) -> None:
        """Override to add to the configuration, as ``LightningCLI``'s: ``parser.add_argument``,
        ``parser.add_lightning_class_args``, ``parser.set_defaults``, ``parser.link_arguments``
        (see :class:`Parser`)."""

    def _exit_with(self, problems: list[str]) -> typing.NoReturn:
        where = " ".join(filter(None, (self.prog, self.subcommand)))
        sys.stderr.write(
            f"{where}: {len(problems)} configuration problem"
            f"{'s' if len(problems) > 1 else ''}:\n"
            + "".join(f"  - {p}\n" for p in problems)
            + f"See `{where} --help`.\n"
        )
        raise SystemExit(EXIT_CONFIG)

    # -- parsing -----------------------------------------------------------------------------

    def _defaults(self, subcommand: str | None) -> dict[str, Any]:
        from treadle.config import TrainerConfig

        trainer = {
            name: field.get_default(call_default_factory=True)
            for name, field in TrainerConfig.model_fields.items()
        }
        trainer.update(self.trainer_defaults)
        config: dict[str, Any] = {
            "seed_everything": self.seed_everything_default,
            "trainer": trainer,
        }
        config["model"] = (
            _signature_defaults(self.model_class)
            if self.model_class is not None and not self.subclass_mode_model
            else {}
        )
        if self.datamodule_class is not None:
            config["data"] = (
                {} if self.subclass_mode_data else _signature_defaults(self.datamodule_class)
            )
        else:  # as LightningCLI: `--data X` may still name any DataModule (not required)
            config["data"] = None
        parser = self._parser
        for name, (default, _) in parser.arguments.items():
            config[name] = default
        for key, cls in parser.classes.items():
            config[key] = _signature_defaults(cls)
        for key, (base, _, kind) in parser.optimizer_groups().items():
            # a tuple of classes: `--optimizer=Adam` chooses one (None: not given); one class:
            # its arguments, as LightningCLI's `parser.add_optimizer_args(torch.optim.Adam)`
            config[key] = None if isinstance(base, tuple) else _optimizer_defaults(base, kind)
        config.update(_SUBCOMMANDS.get(subcommand or "", {}))
        for dotted, value in parser.defaults.items():
            *parents, last = dotted.split(".")
            node = config
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return config

    def _parse(self, args: Any, run: bool) -> tuple[str | None, dict[str, Any], bool]:
        from treadle.cli import _load_yaml, _read_config

        problems: list[str] = []
        file_problems: list[str] = []  # a file that cannot be read or parsed: reported alone
        if args is not None and sys.argv[1:]:
            import warnings

            warnings.warn(
                "LightningCLI's args parameter is intended to run from within Python as if it "
                f"were from the command line: `{type(self).__name__}(args=...)` was given "
                f"together with command-line arguments sys.argv[1:]={sys.argv[1:]}, which are "
                f"ignored; args={args}. Give only one of them.",
                stacklevel=3,
            )
        if isinstance(args, dict):
            tokens: list[str] = []
            given = args
        else:
            tokens = list(sys.argv[1:] if args is None else args)
            given = {}
        subcommand = None
        before: dict[str, Any] = {}  # the `--config` files given before the subcommand
        before_dirs: list[str] = []
        if run:
            if tokens and tokens[0] in ("-h", "--help"):
                sys.stdout.write(self._usage(None))
                raise SystemExit(0)
            if isinstance(args, dict):
                subcommand = args.get("subcommand")
                given = {k: v for k, v in args.items() if k != "subcommand"}
            elif tokens:
                # `--config FILE` before the subcommand: a file of per-subcommand sections
                # (`{test: {trainer: ...}}`), as LightningCLI's top-level parser reads it.
                while tokens and tokens[0].split("=")[0] in ("--config", "-c"):
                    flag, has_value, value = tokens.pop(0).partition("=")
                    if not has_value and tokens:
                        value = tokens.pop(0)
                    _merge(before, _read_config_arg(value, file_problems))
                    before_dirs.append(os.path.dirname(value))
                if tokens and not tokens[0].startswith("-"):
                    subcommand = tokens.pop(0)
                elif len(set(before) & set(_SUBCOMMANDS)) == 1:  # the file names one subcommand
                    subcommand = next(k for k in before if k in _SUBCOMMANDS)
            if subcommand not in _SUBCOMMANDS:
                shown = "nothing" if subcommand is None else f"`{subcommand}`"
                sys.stderr.write(
                    f"{self.prog}: got {shown} where a subcommand was expected; "
                    f"choose one of {', '.join(_SUBCOMMANDS)} (as in "
                    f"`{self.prog} fit --help`).\n"
                )
                raise SystemExit(EXIT_CONFIG)
        self.subcommand = subcommand  # (named in the messages of what follows)
        config = self._defaults(subcommand)
        sections = {
            "model",
            "data",
            "trainer",
            *self._parser.classes,
            *self._parser.optimizer_groups(),
        }
        files = self._parser.section_files

        def read(path: str) -> dict[str, Any]:  # a file's sections given as files: read
            return _load_section_files(
                _read_config(path, file_problems),
                os.path.dirname(path),
                sections,
                files,
                file_problems,
            )

        per_command = self.parser_kwargs.get(subcommand or "", {})
        for path in self.parser_kwargs.get("default_config_files") or []:
            if os.path.isfile(path):  # as jsonargparse: a missing default file is skipped
                _merge(config, _section_of(read(path), subcommand))
        for path in per_command.get("default_config_files") or []:
            if os.path.isfile(path):
                _merge(config, read(path))
        if self.parser_kwargs.get("default_env"):  # after the default files, before the args
            whole = f"{self._env_head(subcommand)}CONFIG"  # PL_FIT__CONFIG, PL_CONFIG
            if whole in os.environ:  # the entire config (a file or YAML), before each argument's
                text = os.environ[whole]
                if os.path.isfile(text):
                    _merge(config, read(text))
                else:
                    parsed = _load_yaml(text, f"`{whole}={text}`", problems)
                    if isinstance(parsed, dict):
                        _merge(config, parsed)
                    else:
                        problems.append(
                            f"`{whole}` is neither a file nor YAML sections "
                            f"(`model:`, `trainer:`, ...); give a config file's path or its text"
                        )
            for variable, dotted in self._env_names(config, subcommand).items():
                if variable not in os.environ:
                    continue
                text = os.environ[variable]
                parsed = _load_yaml(text, f"`{variable}={text}`", problems)
                if "." not in dotted and isinstance(parsed, dict):
                    _merge(config, {dotted: parsed})
                else:
                    _set_dotted(config, dotted, parsed)
        _merge(
            config,
            _load_section_files(
                _section_of(before, subcommand),
                before_dirs[-1] if before_dirs else "",
                sections,
                files,
                file_problems,
            ),
        )
        _merge(config, given)
        print_config = False
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if token in ("-h", "--help"):
                sys.stdout.write(self._usage(subcommand))
                raise SystemExit(0)
            if token == "--print_config" or token.startswith("--print_config="):
                print_config = True
                continue
            if not token.startswith("--"):
                problems.append(
                    f"`{token}` is not an option; options look like "
                    f"`--model.lr 0.1` or `--config run.yaml`"
                )
                continue
            key, has_value, value = token[2:].partition("=")
            group = key.removesuffix(".help")
            if group != key and group in self._help_groups():  # `--model.help CLASS`
                name: str | None = value if has_value else None
                if name is None and i < len(tokens) and not tokens[i].startswith("--"):
                    name, i = tokens[i], i + 1
                sys.stdout.write(self._class_help(group, name))
                raise SystemExit(0)
            if not has_value:
                if i >= len(tokens) or tokens[i].startswith("--"):
                    problems.append(f"`--{key}` needs a value, as in `--{key} VALUE`")
                    continue
                value, i = tokens[i], i + 1
                if key in self._parser.lists:  # `--something a b c`
                    words = [value]
                    while i < len(tokens) and not tokens[i].startswith("--"):
                        words.append(tokens[i])
                        i += 1
                    config[key] = words
                    continue
            if key in ("config", "c"):
                _merge(
                    config,
                    _load_section_files(
                        _read_config_arg(value, file_problems),
                        os.path.dirname(value) if os.path.isfile(value) else "",
                        sections,
                        files,
                        file_problems,
                    ),
                )
                continue
            if key in sections and _is_section_file(value):  # `--trainer trainer.yaml`
                _merge(
                    config, _load_section_files({key: value}, "", sections, files, file_problems)
                )
                continue
            path = key.split(".")
            if path[0] not in config or not all(path):
                problems.append(
                    f"`--{key}` is not an option; options start with one of "
                    f"{', '.join('--' + k for k in config)} (or --config)"
                )
                continue
            parsed = _load_yaml(value, f"`--{key} {value}`", problems)
            if key in ("model", "data", *self._parser.optimizer_groups()) and isinstance(
                parsed, str
            ):  # `--model pkg.Model`, `--model Model`, `--optimizer Adam`, as LightningCLI
                parsed = {"class_path": self._short_class_path(key, parsed, problems)}
                if isinstance(config.get(key), dict) and "class_path" not in config[key]:
                    config[key] = {}  # the base class's defaults do not apply to another class
            if key in ("trainer.callbacks", "trainer.logger") and isinstance(parsed, str):
                parsed = _short_callback(key, parsed)  # `--trainer.callbacks=DeviceStatsMonitor`
            if key in sections and isinstance(parsed, dict):  # `--trainer "$TRAINER_CONFIG"`:
                _merge(config, {key: parsed})  # raw YAML joins what came before, as jsonargparse
                continue
            node = config
            for depth, part in enumerate(path[:-1]):
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
                if "class_path" in node and path[depth + 1] not in _SPEC_KEYS:
                    # `--trainer.logger X --trainer.logger.save_dir D`: an argument of the
                    # class given, as jsonargparse (into its `init_args`)
                    if not isinstance(node.get("init_args"), dict):
                        node["init_args"] = {}
                    node = node["init_args"]
            node[path[-1]] = parsed
        for sources, target, compute_fn in self._parser.links_on("parse"):
            values = [_get_dotted(config, src) for src in sources]
            _set_dotted(config, target, compute_fn(*values) if compute_fn else values[0])
        if file_problems or problems:
            sys.stderr.write(f"{self.prog}: " + "; ".join(file_problems or problems) + "\n")
            raise SystemExit(EXIT_CONFIG)
        return subcommand, config, print_config

    def _env_head(self, subcommand: str | None) -> str:
        """The start of ``default_env``'s variable names: ``PL_FIT__`` (``PL_`` without a
        subcommand; ``env_prefix`` in ``parser_kwargs`` replaces ``PL``)."""
        prefix = self.parser_kwargs.get("env_prefix", "PL")
        prefix = prefix if isinstance(prefix, str) else "PL"
        return f"{prefix}_{subcommand.upper()}__" if subcommand else f"{prefix}_"

    def _env_names(self, config: dict[str, Any], subcommand: str | None) -> dict[str, str]:
        """``parser_kwargs={"default_env": True}``, as jsonargparse's: each argument's variable,
        ``PL_FIT__MODEL__OUT_DIM`` for ``fit --model.out_dim`` (``PL_MODEL__OUT_DIM`` without
        a subcommand; ``env_prefix`` in ``parser_kwargs`` replaces ``PL``), and a section's
        own (``PL_FIT__MODEL``, YAML) -> the dotted key it sets."""
        head = self._env_head(subcommand)
        names: dict[str, str] = {}
        for key, value in self._with_required(config).items():  # (required ones too)
            names[f"{head}{key.upper()}"] = key
            if isinstance(value, dict) and "class_path" not in value:
                for arg in value:
                    names[f"{head}{key.upper()}__{arg.upper()}"] = f"{key}.{arg}"
        return names

    def _usage(self, subcommand: str | None) -> str:
        lines = [
            f"usage: {self.prog} {{{','.join(_SUBCOMMANDS)}}} [--config FILE] "
            f"[--print_config] [--SECTION.ARG VALUE ...]"
        ]
        if self.description:
            lines.append(self.description)
        if subcommand is None:
            lines.append(
                "subcommands: " + ", ".join(_SUBCOMMANDS) + f"; `{self.prog} fit "
                f"--help` lists the arguments"
            )
            lines += [f"    {name:<20}{_SUBCOMMAND_HELP[name]}" for name in _SUBCOMMANDS]
            return "\n".join(lines) + "\n"
        config = self._with_required(self._defaults(subcommand))
        env = (  # dotted key -> its environment variable
            {dotted: name for name, dotted in self._env_names(config, subcommand).items()}
            if self.parser_kwargs.get("default_env")
            else {}
        )
        lines.append("options (values are read as YAML; later ones win):")
        lines.append("  --config FILE            a YAML file of the sections below")
        lines.append("  --print_config           print the resolved configuration and exit")
        for key, value in config.items():
            if isinstance(value, dict):
                cls = {
                    "model": self.model_class,
                    "data": self.datamodule_class,
                    "trainer": self.trainer_class,
                }.get(key)
                types = _signature_types(cls) if cls is not None else {}
                if key == "trainer":
                    from treadle.config import TrainerConfig

                    types = {k: f.annotation for k, f in TrainerConfig.model_fields.items()}
                required = (
                    {p.name for p in _parameters(cls) if p.default is p.empty}
                    if key != "trainer" and cls is not None
                    else set()
                )
                for arg, default in value.items():
                    kind = _type_name(types.get(arg))
                    shown = "required" if arg in required else f"default: {default!r}"
                    lines.append(f"  --{key}.{arg} {kind}  ({shown})")
                    if env.get(f"{key}.{arg}"):
                        lines.append(f"      ENV: {env[f'{key}.{arg}']}")
                if key in ("model", "data") and not value:
                    lines.append(f"  --{key}.class_path NAME --{key}.init_args.ARG VALUE")
            else:
                lines.append(f"  --{key} VALUE  (default: {value!r})")
                if env.get(key):
                    lines.append(f"      ENV: {env[key]}")
        for group, base in self._help_groups().items():
            names = " or ".join(b.__name__ for b in (base if isinstance(base, tuple) else (base,)))
            lines.append(
                f"  --{group}.help CLASS_PATH_OR_NAME  show the arguments of this subclass of "
                f"{names} and exit"
            )
        return "\n".join(lines) + "\n"

    def _help_groups(self) -> dict[str, Any]:
        """The sections ``--KEY.help CLASS`` describes a class of (jsonargparse's subclass
        help), each with the class or classes it must derive from."""
        import treadle
        from treadle.loggers import Logger

        groups: dict[str, Any] = {
            "model": self.model_class or treadle.Module,
            "data": self.datamodule_class or treadle.DataModule,
        }
        groups.update({key: base for key, (base, _, _) in self._parser.optimizer_groups().items()})
        groups["trainer.callbacks"] = Callback
        groups["trainer.logger"] = Logger
        return groups

    def _class_help(self, group: str, name: str | None) -> str:
        """``--model.help BoringModel``: the ``__init__`` arguments of that class, as
        ``--model.ARG TYPE (default)`` lines; a name that is no such class exits with code 2."""
        from treadle.cli import resolve_class_path

        base = self._help_groups()[group]
        bases = base if isinstance(base, tuple) else (base,)
        names = " or ".join(b.__name__ for b in bases)
        usage = f"`--{group}.help NAME` (a class path, or the name of a subclass of {names})"
        if name is None:
            if len(bases) > 1:
                self._exit_with([f"--{group}.help: give the class to describe, as {usage}"])
            cls = bases[0]
        else:
            if group.startswith("trainer."):
                spec = _short_callback(group, name)
                path = spec["class_path"] if isinstance(spec, dict) else name
            else:
                problems: list[str] = []
                path = self._short_class_path(group, name, problems)
                if problems:
                    self._exit_with(problems)
            if "." not in path and ":" not in path:
                self._exit_with(
                    [
                        f"--{group}.help: no imported subclass of {names} is named `{name}`; "
                        f"give {usage}"
                    ]
                )
            try:
                cls = resolve_class_path(path)
            except Exception as exc:
                self._exit_with(
                    [
                        f"--{group}.help: `{name}` cannot be imported ({type(exc).__name__}: {exc}); "
                        f"give {usage}"
                    ]
                )
            if not (inspect.isclass(cls) and issubclass(cls, bases)):
                self._exit_with(
                    [f"--{group}.help: `{name}` is not a subclass of {names}; give {usage}"]
                )
        kind = self._parser.optimizer_groups().get(group, (None, None, None))[2]
        skip = {"optimizer": "params", "lr_scheduler": "optimizer"}.get(kind or "")
        types = _signature_types(cls)
        lines = [
            f"usage: {' '.join(filter(None, (self.prog, self.subcommand)))} "
            f"[--{group}.ARG VALUE ...]",
            "",
            f"Help for --{group}.help={cls.__module__}.{cls.__qualname__}",
            "",
        ]
        doc = (inspect.getdoc(cls) or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            lines.append(f"{doc.rstrip('.:')}:")
        for p in _parameters(cls):
            if p.name == skip:
                continue
            shown = "required" if p.default is p.empty else f"default: {p.default!r}"
            lines.append(f"  --{group}.{p.name} {_type_name(types.get(p.name))}  ({shown})")
        return "\n".join(lines) + "\n"

    def _with_required(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with each required model/data argument not given shown as None."""
        from treadle.cli import resolve_class_path

        out = dict(config)
        for key, cls in (("model", self.model_class), ("data", self.datamodule_class)):
            section = out.get(key)
            if not isinstance(section, dict):
                continue
            if "class_path" in section:  # {class_path, init_args} with every argument shown
                try:
                    cls = resolve_class_path(str(section["class_path"]))
                except Exception:
                    continue  # reported when the configuration is checked
                given = {k: v for k, v in section.items() if k not in ("class_path", "init_args")}
                out[key] = {
                    "class_path": section["class_path"],
                    "init_args": {
                        **{p.name: None for p in _parameters(cls)},
                        **_signature_defaults(cls),
                        **(section.get("init_args") or {}),
                        **given,
                    },
                }
            elif cls is not None:
                out[key] = {**{p.name: None for p in _parameters(cls)}, **section}
        return out

    # -- checking ----------------------------------------------------------------------------

    def _check(self, config: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        """Every problem of ``config`` into ``problems``; returns what ``_instantiate`` builds."""
        from treadle.cli import _parse_spec
        from treadle.config import TrainerConfig
        from treadle.errors import ConfigurationError

        known = self._defaults(self.subcommand)
        unknown = sorted(set(config) - set(known))
        for key in unknown:
            problems.append(
                f"`{key}`: not a key of the configuration;{_where_it_goes(key, known)} valid "
                f"keys: {', '.join(known)}"
            )
        checked: dict[str, Any] = {}
        seed = config.get("seed_everything")
        if not isinstance(seed, (bool, int)):
            problems.append(
                f"seed_everything: must be an int, true (a random seed) or false; got {seed!r}"
            )
        checked["seed_everything"] = seed
        extras = _SUBCOMMANDS.get(self.subcommand or "", {})
        if extras:
            values = {k: config.get(k) for k in extras}
            checked["extras"] = _validate_args(
                values, {k: (_EXTRA_TYPES[k], extras[k]) for k in extras}, "", problems
            )
        trainer = config.get("trainer")
        if not isinstance(trainer, dict):
            problems.append(
                f"trainer: must be a mapping of Trainer arguments; got {type(trainer).__name__}"
            )
            trainer = {}
        specs, broken = {}, set()
        for k, v in trainer.items():
            before = len(problems)
            specs[k] = _parse_spec(v, f"trainer.{k}", problems)
            if len(problems) > before:
                broken.add(k)
        # The other arguments are checked even when one of them is broken, so that every
        # problem is reported in one go.
        kwargs = {k: v for k, v in specs.items() if k not in broken}
        if (
            issubclass(self.trainer_class, _treadle_trainer())
            and self.trainer_class.__init__ is _treadle_trainer().__init__
        ):
            try:
                TrainerConfig.from_kwargs(**{k: v for k, v in kwargs.items() if not _is_call(v)})
            except ConfigurationError as exc:
                problems.extend(exc.problems)
        else:
            _validate_args(kwargs, _fields(self.trainer_class), "trainer.", problems)
        checked["trainer"] = specs
        checked["model"] = self._check_section(
            "model", config.get("model"), self.model_class, self.subclass_mode_model, problems
        )
        if self.datamodule_class is not None or config.get("data"):
            checked["data"] = self._check_section(
                "data", config.get("data"), self.datamodule_class, self.subclass_mode_data, problems
            )
        checked["classes"] = {
            key: self._check_section(key, config.get(key), cls, False, problems)
            for key, cls in self._parser.classes.items()
        }
        checked["optimizers"] = {
            key: self._check_optimizer(key, config.get(key), base, kind, problems)
            for key, (base, _, kind) in self._parser.optimizer_groups().items()
        }
        for name, (_, kind) in self._parser.arguments.items():
            value = config.get(name)
            if name in self._parser.lists and isinstance(value, list) and kind is not None:
                try:
                    config[name] = [kind(v) for v in value]
                except (TypeError, ValueError) as exc:
                    problems.append(f"{name}: {value!r} is not a list of {_type_name(kind)}: {exc}")
            elif kind is not None and value is not None and not isinstance(value, kind):
                try:
                    config[name] = kind(value)
                except (TypeError, ValueError) as exc:
                    problems.append(f"{name}: {value!r} is not a {_type_name(kind)}: {exc}")
        return checked

    def _check_section(
        self, key: str, section: Any, base: Any, subclass_mode: bool, problems: list[str]
    ) -> Any:
        from treadle.cli import _parse_spec, resolve_class_path

        if section is None:
            section = {}
        if not isinstance(section, dict):
            problems.append(f"{key}: must be a mapping of arguments; got {type(section).__name__}")
            return None
        cls = base
        args = {k: v for k, v in section.items() if k not in ("class_path", "init_args")}
        init_args = section.get("init_args") or {}
        if not isinstance(init_args, dict):
            problems.append(f"{key}.init_args: must be a mapping of arguments")
            init_args = {}
        args = {**init_args, **args}
        if "class_path" in section:
            try:
                cls = resolve_class_path(str(section["class_path"]))
            except Exception as exc:
                problems.append(
                    f"{key}.class_path: `{section['class_path']}` cannot be "
                    f"imported: {type(exc).__name__}: {exc}"
                )
                return None
            if base is not None and not (inspect.isclass(cls) and issubclass(cls, base)):
                problems.append(
                    f"{key}.class_path: `{section['class_path']}` is not a subclass "
                    f"of {base.__name__}"
                )
                return None
        elif subclass_mode or cls is None:
            if key == "data" and not args:
                return None
            problems.append(
                f"{key}: give `{key}.class_path` (a class"
                f"{' deriving from ' + base.__name__ if base else ''}) and its "
                f"`{key}.init_args`"
            )
            return None
        specs = {k: _parse_spec(v, f"{key}.{k}", problems) for k, v in args.items()}
        fields = _fields(cls)
        for p in _parameters(cls):  # as LightningCLI (jsonargparse): untyped, no default -> None
            if p.annotation is p.empty and p.default is p.empty:
                fields[p.name] = (Any, None)
                specs.setdefault(p.name, None)
        targets = [t for _, t, _ in self._parser.links_on("instantiate")]
        for target in [*targets, *(t for _, t in self._parser.optimizer_links())]:
            section, name = _link_target(target)
            if section == key and name in fields:  # given when the source is built
                fields[name] = (Any, None)
        validated = _validate_args(specs, fields, f"{key}.", problems, owner=cls)
        return cls, {**specs, **validated}

    def _normalise_optimizers(self, config: dict[str, Any]) -> None:
        """``--optimizer=Adam --optimizer.lr=0.1`` as LightningCLI stores it:
        ``{class_path: torch.optim.Adam, init_args: {lr: 0.1, betas: ..., ...}}``."""
        from treadle.cli import resolve_class_path

        for key, (_, _, kind) in self._parser.optimizer_groups().items():
            value = config.get(key)
            if not isinstance(value, dict) or "class_path" not in value:
                continue
            path = self._short_class_path(key, str(value["class_path"]))
            try:
                cls = resolve_class_path(path)
            except Exception:
                continue  # reported when the configuration is checked
            given = {k: v for k, v in value.items() if k not in ("class_path", "init_args")}
            config[key] = {
                "class_path": path,
                "init_args": {
                    **_optimizer_defaults(cls, kind),
                    **(value.get("init_args") or {}),
                    **given,
                },
            }

    def _check_optimizer(
        self, key: str, value: Any, base: Any, kind: str, problems: list[str]
    ) -> tuple[Any, dict[str, Any]] | None:
        """An optimizer or scheduler section: None (not chosen), ``{class_path, init_args}``
        (a class of ``base``) or, when ``base`` is one class, that class's arguments."""
        from treadle.cli import _parse_spec, resolve_class_path

        if value is None:
            return None
        if not isinstance(value, dict):
            problems.append(
                f"{key}: must be a class name (`--{key}=Adam`) or a mapping "
                f"{{class_path, init_args}}; got {value!r}"
            )
            return None
        bases = base if isinstance(base, tuple) else (base,)
        names = ", ".join(b.__name__ for b in bases)
        args = {k: v for k, v in value.items() if k not in ("class_path", "init_args")}
        args = {**(value.get("init_args") or {}), **args}
        if "class_path" in value:
            try:
                cls = resolve_class_path(self._short_class_path(key, str(value["class_path"])))
            except Exception as exc:
                problems.append(
                    f"{key}.class_path: `{value['class_path']}` cannot be imported: "
                    f"{type(exc).__name__}: {exc}. Give a class of torch.optim"
                    f"{'.lr_scheduler' if kind == 'lr_scheduler' else ''} by name or a class path"
                )
                return None
            if not (inspect.isclass(cls) and issubclass(cls, bases)):
                problems.append(f"{key}.class_path: `{value['class_path']}` is not a {names}")
                return None
        elif isinstance(base, tuple):
            problems.append(f"{key}: give the class, as `--{key}=NAME` (a {names})")
            return None
        else:
            cls = base
        fields = _fields(cls)
        fields.pop("params" if kind == "optimizer" else "optimizer", None)
        specs = {k: _parse_spec(v, f"{key}.{k}", problems) for k, v in args.items()}
        return cls, {**specs, **_validate_args(specs, fields, f"{key}.", problems, owner=cls)}

    def _short_class_path(self, key: str, name: str, problems: list[str] | None = None) -> str:
        """``name`` as a class path: a bare class name (``Adam``, ``StepLR``, ``BoringModel``)
        is looked up as LightningCLI does (torch.optim, torch.optim.lr_scheduler, the imported
        subclasses of the section's class); a dotted path is kept. A name several imported
        classes share is a problem (in ``problems``), as jsonargparse's."""
        if "." in name or ":" in name or not name.isidentifier():
            return name
        groups = self._parser.optimizer_groups()
        candidates: list[Any] = []
        if key in groups:
            import torch

            base, _, kind = groups[key]
            if kind == "lr_scheduler" and name == "ReduceLROnPlateau":
                return "treadle.cli.ReduceLROnPlateau"
            module = torch.optim if kind == "optimizer" else torch.optim.lr_scheduler
            if inspect.isclass(getattr(module, name, None)):
                return f"{module.__name__}.{name}"
            bases = base if isinstance(base, tuple) else (base,)
            candidates = [c for b in bases for c in (b, *_subclasses(b))]
        elif key in ("model", "data"):
            import treadle

            given = self.model_class if key == "model" else self.datamodule_class
            root = given or (treadle.Module if key == "model" else treadle.DataModule)
            candidates = [root, *_subclasses(root)]
        found = {f"{c.__module__}.{c.__qualname__}" for c in candidates if c.__name__ == name}
        if len(found) > 1 and problems is not None:
            problems.append(  # jsonargparse's words
                f"{key}: Multiple subclasses with name {name}. Give the full class path to avoid "
                f"ambiguity: {', '.join(sorted(found))}."
            )
        return found.pop() if len(found) == 1 else name

    # -- building and running ----------------------------------------------------------------

    def _instantiate(self, checked: dict[str, Any]) -> None:
        from treadle.cli import _build
        from treadle.utilities import seed_everything

        seed = checked["seed_everything"]
        if seed is True:  # as LightningCLI: a seed set before (seed_everything(123)) is kept
            earlier = os.environ.get("TREADLE_GLOBAL_SEED", os.environ.get("PL_GLOBAL_SEED"))
            seed = int(earlier) if earlier else random.randint(0, 2**32 - 1)
        if seed is not False:
            seed_everything(seed, workers=True)
            self.config["seed_everything"] = seed
        links = self._parser.links_on("instantiate")
        if links and checked.get("data") is not None:  # its attributes feed the model's arguments
            cls, kwargs = checked["data"]
            self.datamodule = cls(**{k: _build(v) for k, v in kwargs.items()})
        cls, kwargs = checked["model"]
        model_kwargs = {k: _build(v) for k, v in kwargs.items()}
        built = {"data": self.datamodule}
        for sources, target, compute_fn in links:
            values = [_get_dotted(built, src) for src in sources]
            section, name = _link_target(target)
            if section == "model":
                model_kwargs[name] = compute_fn(*values) if compute_fn else values[0]
        for key, target in self._parser.optimizer_links():  # `link_to="model.optim"`
            section, name = _link_target(target)
            spec = checked["optimizers"].get(key)
            if section == "model" and spec is not None:
                given = self.config.get(key)
                model_kwargs[name] = {
                    "class_path": given["class_path"]  # as written: `torch.optim.Adam`
                    if isinstance(given, dict) and "class_path" in given
                    else f"{spec[0].__module__}.{spec[0].__qualname__}",
                    "init_args": {k: _build(v) for k, v in spec[1].items()},
                }
        self.model = cls(**model_kwargs)
        self._add_configure_optimizers_method_to_model(checked["optimizers"])
        if checked.get("data") is not None and self.datamodule is None:
            cls, kwargs = checked["data"]
            self.datamodule = cls(**{k: _build(v) for k, v in kwargs.items()})
        trainer_kwargs = {k: _build(v) for k, v in checked["trainer"].items()}
        # LightningCLI's `config_init`: the configuration with each section built in its place
        # (the model, the data module, the Trainer's arguments with their callbacks and
        # loggers, the add_lightning_class_args objects); the optimizer sections stay as given.
        init = dict(self.config)
        init.update(model=self.model, trainer=dict(trainer_kwargs))
        if "data" in init or self.datamodule is not None:
            init["data"] = self.datamodule
        added = []
        for key, spec in checked["classes"].items():
            cls, kwargs = spec
            obj = cls(**{k: _build(v) for k, v in kwargs.items()})
            init[key] = obj
            if isinstance(obj, Callback):  # as LightningCLI: added to the Trainer's callbacks
                added.append(obj)
        if added:
            given = trainer_kwargs.get("callbacks") or []
            given = [given] if not isinstance(given, (list, tuple)) else list(given)
            trainer_kwargs["callbacks"] = [*given, *added]
        if self.save_config_callback and not trainer_kwargs.get("fast_dev_run", False):
            given = trainer_kwargs.get("callbacks") or []
            given = [given] if not isinstance(given, (list, tuple)) else list(given)
            trainer_kwargs["callbacks"] = [
                *given,
                self.save_config_callback(self._parser, self.config, **self.save_config_kwargs),
            ]
        takes_plugins = "plugins" in _fields(self.trainer_class) or issubclass(
            self.trainer_class, _treadle_trainer()
        )
        if self.subcommand == "fit" and takes_plugins:
            from treadle._cli_checks import MonitorCheck

            trainer_kwargs["plugins"] = [*(trainer_kwargs.get("plugins") or []), MonitorCheck()]
        self.config_init = _Config(init, self.subcommand)
        self.trainer = self.trainer_class(**trainer_kwargs)
        self._extras = checked.get("extras", {})
        if self.subcommand == "fit":
            from treadle._cli_checks import monitor_warnings

            for line in monitor_warnings(self.model, list(self.trainer.callbacks)):
                sys.stderr.write(f"{self.prog} fit: warning: {line}\n")

    @staticmethod
    def configure_optimizers(module: Any, optimizer: Any, lr_scheduler: Any = None) -> Any:
        """What the model's ``configure_optimizers`` returns when ``--optimizer`` is given
        (LightningCLI's): the optimizer, ``([optimizer], [lr_scheduler])``, or for a
        :class:`ReduceLROnPlateau` the dict that names its ``monitor``. Override to change."""
        if lr_scheduler is None:
            return optimizer
        if isinstance(lr_scheduler, ReduceLROnPlateau):
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": lr_scheduler, "monitor": lr_scheduler.monitor},
            }
        return [optimizer], [lr_scheduler]

    def _add_configure_optimizers_method_to_model(self, built: dict[str, Any]) -> None:
        """As LightningCLI: the optimizer (and scheduler) chosen on the command line replace
        the model's ``configure_optimizers`` (with a warning when the model has its own)."""
        if not self.auto_configure_optimizers:
            return
        import functools
        import types
        import warnings

        from treadle.cli import _build
        from treadle.utilities import MisconfigurationException, is_overridden

        groups = self._parser.optimizer_groups()
        automatic = [k for k, (_, link, kind) in groups.items() if link == "AUTOMATIC"]
        optimizers = [k for k in automatic if groups[k][2] == "optimizer"]
        schedulers = [k for k in automatic if groups[k][2] == "lr_scheduler"]
        if not optimizers:
            return
        if len(optimizers) > 1 or len(schedulers) > 1:
            raise MisconfigurationException(
                f"`{type(self).__name__}.add_configure_optimizers_method_to_model` expects at "
                f"most one optimizer and one lr_scheduler to be 'AUTOMATIC', but found "
                f"{optimizers + schedulers}. In this case the user is expected to link the "
                f"argument groups and implement `configure_optimizers`, see docs/cli.md."
            )
        spec = built.get(optimizers[0])
        if spec is None:  # registered, not chosen
            return
        if is_overridden("configure_optimizers", self.model):
            warnings.warn(
                f"`{type(self.model).__name__}.configure_optimizers` will be overridden by "
                f"`{type(self).__name__}.configure_optimizers`.",
                UserWarning,
                stacklevel=4,
            )
        cls, kwargs = spec
        optimizer = cls(self.model.parameters(), **{k: _build(v) for k, v in kwargs.items()})
        lr_scheduler = None
        scheduler_spec = built.get(schedulers[0]) if schedulers else None
        if scheduler_spec is not None:
            cls, kwargs = scheduler_spec
            lr_scheduler = cls(optimizer, **{k: _build(v) for k, v in kwargs.items()})
        fn = functools.partial(
            self.configure_optimizers, optimizer=optimizer, lr_scheduler=lr_scheduler
        )
        functools.update_wrapper(fn, self.configure_optimizers)  # is_overridden sees it
        self.model.configure_optimizers = types.MethodType(fn, self.model)

    def _run_subcommand(self, subcommand: str) -> None:
        before = getattr(self, f"before_{subcommand}", None)
        if callable(before):
            before()
        kwargs = dict(self._extras)
        if self.datamodule is not None:
            kwargs.update(_data_arguments(self.datamodule, subcommand))
        own = getattr(self, subcommand, None)
        if callable(own):  # as LightningCLI: a method of the subclass runs in the Trainer's place
            own(model=self.model, **kwargs)
        else:
            getattr(self.trainer, subcommand)(self.model, **kwargs)
        after = getattr(self, f"after_{subcommand}", None)
        if callable(after):
            after()


class Parser:
    """What ``CLI.add_arguments_to_parser(parser)`` receives: ``LightningCLI``'s parser methods
    that shape the configuration.

    - ``add_argument("--name", default=..., type=...)``: a top-level key ``name``
      (``--name VALUE``, ``name:`` in a config file), read as ``cli.config["name"]``;
    - ``add_lightning_class_args(cls, "key")``: a section ``key`` of ``cls``'s ``__init__``
      arguments; ``cls`` is built with them (``cli.config_init["key"]``) and, a ``Callback``,
      added to the Trainer's callbacks;
    - ``set_defaults({"key.arg": value, ...})``: defaults the command line and files override;
    - ``link_arguments(source, target, compute_fn=None, apply_on="parse")``: ``target`` (such
      as ``"model.batch_size"``) takes ``source``'s value (``"data.batch_size"``; a tuple of
      sources goes through ``compute_fn``) after parsing; with ``apply_on="instantiate"`` the
      source is an attribute of the built data module (``"data.num_classes"``).
    """

    def __init__(self) -> None:
        self.arguments: dict[str, tuple[Any, Any]] = {}
        self.classes: dict[str, Any] = {}
        self.defaults: dict[str, Any] = {}
        self.links: list[tuple[tuple[str, ...], str, Any, str]] = []
        self.lists: set[str] = set()  # arguments added with nargs="+" or "*"
        # the sections read from a file of their own (`trainer: trainer.yaml`): key -> path
        self.section_files: dict[str, str] = {}
        # nested key -> (class or tuple of classes, link_to): LightningArgumentParser's
        self._optimizers: dict[str, tuple[Any, str]] = {}
        self._lr_schedulers: dict[str, tuple[Any, str]] = {}

    def add_optimizer_args(
        self, optimizer_class: Any = None, nested_key: str = "optimizer", link_to: str = "AUTOMATIC"
    ) -> None:
        """A section ``nested_key`` choosing a ``torch.optim.Optimizer``: one class (its
        arguments, ``--optimizer.lr``) or a tuple (``--optimizer=Adam`` picks one by name or
        class path). ``link_to="model.ARG"`` hands ``{class_path, init_args}`` to the model;
        ``"AUTOMATIC"`` replaces the model's ``configure_optimizers`` (see ``CLI``)."""
        import torch

        optimizer_class = optimizer_class or (torch.optim.Optimizer,)
        _check_classes(optimizer_class, (torch.optim.Optimizer,), "add_optimizer_args")
        self._optimizers[nested_key] = (optimizer_class, link_to)

    def add_lr_scheduler_args(
        self,
        lr_scheduler_class: Any = None,
        nested_key: str = "lr_scheduler",
        link_to: str = "AUTOMATIC",
    ) -> None:
        """As :meth:`add_optimizer_args`, for a learning-rate scheduler
        (``torch.optim.lr_scheduler.LRScheduler`` or :class:`ReduceLROnPlateau`)."""
        lr_scheduler_class = lr_scheduler_class or LRSchedulerTypeTuple
        _check_classes(lr_scheduler_class, LRSchedulerTypeTuple, "add_lr_scheduler_args")
        self._lr_schedulers[nested_key] = (lr_scheduler_class, link_to)

    def optimizer_groups(self) -> dict[str, tuple[Any, str, str]]:
        """``nested_key -> (classes, link_to, "optimizer" or "lr_scheduler")``."""
        groups = {k: (c, link, "optimizer") for k, (c, link) in self._optimizers.items()}
        groups.update(
            {k: (c, link, "lr_scheduler") for k, (c, link) in self._lr_schedulers.items()}
        )
        return groups

    def optimizer_links(self) -> list[tuple[str, str]]:
        return [
            (k, link) for k, (_, link, _) in self.optimizer_groups().items() if link != "AUTOMATIC"
        ]

    def dump(self, config: dict[str, Any], skip_none: bool = False, **_: Any) -> str:
        """``config`` as YAML, after a ``# treadle==VERSION`` line (LightningCLI's header)."""
        import treadle

        return f"# treadle=={treadle.__version__}\n" + _dump_yaml(config)

    def save(
        self,
        config: dict[str, Any],
        path: str,
        skip_none: bool = False,
        overwrite: bool = False,
        multifile: bool = False,
        **_: Any,
    ) -> None:
        """Write :meth:`dump` to ``path``; an existing file is refused unless ``overwrite``.
        With ``multifile``, as jsonargparse's: a section that was read from a file of its own
        (``trainer: trainer.yaml`` in a ``--config`` file, ``--trainer trainer.yaml``) is
        written to a file of that name next to ``path`` (its resolved values), and ``path``
        names it (``trainer: trainer.yaml``)."""
        folder = os.path.dirname(path)
        config = dict(config)
        parts: list[tuple[str, dict[str, Any]]] = []
        if multifile:
            for key, source in self.section_files.items():
                if isinstance(config.get(key), dict):
                    name = os.path.basename(source)
                    parts.append((os.path.join(folder, name), {**config[key]}))
                    config[key] = name
        for target in [path, *(t for t, _ in parts)]:
            if os.path.exists(target) and not overwrite:
                raise ValueError(f"Refusing to overwrite existing file: {target}")
        for target, section in parts:
            with open(target, "w", encoding="utf-8") as f:
                f.write(self.dump(section, skip_none=skip_none))
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.dump(config, skip_none=skip_none))

    def add_argument(
        self, *names: str, default: Any = None, type: Any = None, nargs: Any = None, **_: Any
    ) -> None:
        flag = next((n for n in names if n.startswith("--")), names[0])
        self.arguments[flag.lstrip("-")] = (default, type)
        if nargs in ("+", "*"):  # `--name a b c`: a list (of `type` each)
            self.lists.add(flag.lstrip("-"))

    def add_lightning_class_args(
        self, lightning_class: Any, nested_key: str, subclass_mode: bool = False, **_: Any
    ) -> list[str]:
        self.classes[nested_key] = lightning_class
        return [nested_key]

    def set_defaults(self, *args: Any, **kwargs: Any) -> None:
        for mapping in (*args, kwargs):
            self.defaults.update(mapping)

    def link_arguments(
        self, source: Any, target: str, compute_fn: Any = None, apply_on: str = "parse"
    ) -> None:
        if apply_on not in ("parse", "instantiate"):
            raise ValueError(
                f"link_arguments({source!r}, {target!r}, apply_on={apply_on!r}): "
                f"`apply_on` can be 'parse' or 'instantiate'."
            )
        sources = (source,) if isinstance(source, str) else tuple(source)
        self.links.append((sources, target, compute_fn, apply_on))

    def links_on(self, apply_on: str) -> list[tuple[tuple[str, ...], str, Any]]:
        return [(s, t, f) for s, t, f, when in self.links if when == apply_on]


class _Namespace(dict):
    """A section of ``cli.config``: a dict whose keys are attributes too
    (``cli.config.trainer.max_epochs``, as jsonargparse's ``Namespace``)."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        super().__init__({k: _namespaced(v) for k, v in mapping.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"the configuration has no `{name}`; its keys: {', '.join(self)}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = _namespaced(value)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _namespaced(value))

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts all the way down (jsonargparse's ``Namespace.as_dict``)."""
        return {k: v.as_dict() if isinstance(v, _Namespace) else v for k, v in self.items()}


def _namespaced(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, _Namespace):
        return _Namespace(value)
    return value


class _Config(_Namespace):
    """``cli.config``: the resolved configuration; ``config[subcommand]`` is the configuration
    too, as ``LightningCLI``'s (``self.config["fit"]["trainer"]`` in a ``before_fit``)."""

    def __init__(self, config: dict[str, Any], subcommand: str | None) -> None:
        super().__init__(config)
        object.__setattr__(self, "subcommand", subcommand)

    def __missing__(self, key: str) -> Any:
        if key == self.subcommand:
            return self
        raise KeyError(key)

    def __getattr__(self, name: str) -> Any:
        if name == object.__getattribute__(self, "subcommand"):
            return self
        return super().__getattr__(name)


class ReduceLROnPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau`` with the ``monitor`` it steps on
    (LightningCLI's ``lightning.pytorch.cli.ReduceLROnPlateau``): ``--lr_scheduler=
    ReduceLROnPlateau --lr_scheduler.monitor=val_loss``."""

    def __init__(self, optimizer: Any, monitor: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, *args, **kwargs)
        self.monitor = monitor


# the schedulers `--lr_scheduler` accepts (LightningCLI's, which refuses torch's plateau
# scheduler for lack of a `monitor`)
LRSchedulerTypeTuple = (torch.optim.lr_scheduler.LRScheduler, ReduceLROnPlateau)


class SaveConfigCallback(Callback):
    """Saves the ``CLI``'s configuration as ``config.yaml`` in ``trainer.log_dir`` when the
    run is set up (rank zero), as Lightning's ``SaveConfigCallback``; ``CLI`` adds it unless
    ``save_config_callback=None`` or ``fast_dev_run``. Arguments as Lightning's, given through
    ``CLI(save_config_kwargs={...})``: ``config_filename``, ``overwrite`` (an existing file is
    a ``RuntimeError`` otherwise), ``multifile`` (a section read from a file
    of its own is saved to one of the same name, see :meth:`Parser.save`),
    ``save_to_log_dir`` (False: only a subclass's :meth:`save_config` runs)."""

    def __init__(
        self,
        parser: Parser,
        config: dict[str, Any],
        config_filename: str = "config.yaml",
        overwrite: bool = False,
        multifile: bool = False,
        save_to_log_dir: bool = True,
    ) -> None:
        from treadle.utilities import is_overridden

        self.parser, self.config = parser, config
        self.config_filename, self.overwrite, self.multifile = config_filename, overwrite, multifile
        self.save_to_log_dir = save_to_log_dir
        self.already_saved = False
        if not save_to_log_dir and not is_overridden("save_config", self, SaveConfigCallback):
            raise ValueError(
                "`save_to_log_dir=False` only makes sense when subclassing SaveConfigCallback to "
                "implement `save_config` and it is desired to disable the standard behavior of "
                "saving to log_dir."
            )

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.already_saved:
            return
        if self.save_to_log_dir:
            log_dir = trainer.log_dir
            config_path = os.path.join(log_dir, self.config_filename)
            if not self.overwrite:
                exists = os.path.isfile(config_path) if trainer.is_global_zero else False
                if trainer.broadcast(exists):
                    raise RuntimeError(
                        f"{type(self).__name__} expected {config_path} to NOT exist. Aborting "
                        "to avoid overwriting results of a previous run. You can delete the "
                        "previous config file, set `LightningCLI(save_config_callback=None)` to "
                        "disable config saving, or set `LightningCLI(save_config_kwargs="
                        '{"overwrite": True})` to overwrite the config file.'
                    )
            if trainer.is_global_zero:  # one writer; the logger has not made the folder yet
                os.makedirs(log_dir, exist_ok=True)
                self.parser.save(
                    self.config, config_path, overwrite=self.overwrite, multifile=self.multifile
                )
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.broadcast(self.already_saved)

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Override to save the configuration somewhere else too (a logger's hyper-parameters:
        ``self.parser.dump(self.config)``); runs on rank zero only."""


def instantiate_class(args: Any, init: dict[str, Any]) -> Any:
    """``init`` (``{class_path, init_args}``) built with ``args`` first (a tuple: several), as
    Lightning's ``instantiate_class``: ``instantiate_class(model.parameters(), optim_config)``."""
    from treadle.cli import resolve_class_path

    kwargs = init.get("init_args", {})
    if not isinstance(args, tuple):
        args = (args,)
    return resolve_class_path(init["class_path"])(*args, **kwargs)


def _optimizer_defaults(cls: Any, kind: str) -> dict[str, Any]:
    defaults = _signature_defaults(cls)
    defaults.pop("params" if kind == "optimizer" else "optimizer", None)
    return defaults


def _check_classes(given: Any, bases: tuple[Any, ...], method: str) -> None:
    for cls in given if isinstance(given, tuple) else (given,):
        if not (inspect.isclass(cls) and issubclass(cls, bases)):
            raise ValueError(
                f"parser.{method}({cls!r}): expected a subclass of "
                f"{' or '.join(b.__name__ for b in bases)}, or a tuple of them."
            )


def _subclasses(cls: Any) -> list[Any]:
    found, todo = [], list(cls.__subclasses__())
    while todo:
        sub = todo.pop()
        found.append(sub)
        todo.extend(sub.__subclasses__())
    return found


def _short_callback(key: str, value: str) -> Any:
    """``--trainer.callbacks=DeviceStatsMonitor``: a treadle callback (logger) named alone is
    ``{class_path: treadle.callbacks.DeviceStatsMonitor}``, and a class path
    (``lightning.pytorch.callbacks.DeviceStatsMonitor``, as LightningCLI takes it) is
    ``{class_path: <as written>}``; anything else is kept."""
    from importlib import import_module

    if "." in value and all(part.isidentifier() for part in value.split(".")):
        from treadle.cli import resolve_class_path

        try:
            found = resolve_class_path(value)
        except Exception:  # not a class path: the value is checked as it is
            return value
        return {"class_path": value} if inspect.isclass(found) else value
    if not value.isidentifier():
        return value
    module = "treadle.callbacks" if key == "trainer.callbacks" else "treadle.loggers"
    if inspect.isclass(getattr(import_module(module), value, None)):
        return {"class_path": f"{module}.{value}"}
    return value


def _read_config_arg(value: str, problems: list[str]) -> dict[str, Any]:
    """What ``--config VALUE`` gives: the file ``VALUE``, or, as ``LightningCLI`` accepts it,
    the configuration itself written inline (``--config="{trainer: {max_epochs: 1}}"``)."""
    from treadle.cli import _load_yaml, _read_config

    if not os.path.exists(value) and value.lstrip().startswith("{"):
        inline: list[str] = []
        data = _load_yaml(value, f"--config {value}", inline)
        if isinstance(data, dict):
            return data
    return _read_config(value, problems)


def _is_section_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith((".yaml", ".yml", ".json"))


def _load_section_files(
    config: dict[str, Any],
    base_dir: str,
    sections: set[str],
    files: dict[str, str],
    problems: list[str],
) -> dict[str, Any]:
    """``config`` with each section given as a file (``trainer: trainer.yaml``, relative to
    ``base_dir``, the folder of the file that names it) replaced by that file's mapping, as
    jsonargparse reads it; ``files`` records the file of each (``multifile`` saving)."""
    from treadle.cli import _read_config

    out = dict(config)
    for key, value in config.items():
        if key in _SUBCOMMANDS and isinstance(value, dict):  # a file of per-subcommand sections
            out[key] = _load_section_files(value, base_dir, sections, files, problems)
        elif key in sections and _is_section_file(value):
            path = os.path.join(base_dir, value)
            out[key] = _read_config(path, problems)
            files[key] = path
    return out


def _section_of(config: dict[str, Any], subcommand: str | None) -> dict[str, Any]:
    """``config``'s section for ``subcommand`` when ``config`` is made of per-subcommand
    sections (``{fit: {...}, test: {...}}``), else ``config`` itself."""
    if subcommand and config and set(config) <= set(_SUBCOMMANDS):
        return config.get(subcommand) or {}
    return config


def _link_target(target: str) -> tuple[str, str]:
    """``"model.init_args.x"`` or ``"model.x"`` -> ``("model", "x")``."""
    section, _, name = target.partition(".")
    return section, name.removeprefix("init_args.")


def _get_dotted(root: Any, dotted: str) -> Any:
    node = root
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def _set_dotted(root: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = root
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


# -- helpers ---------------------------------------------------------------------------------


def _where_it_goes(key: str, known: Any) -> str:
    """A hint for an unknown top-level key: a ``Trainer`` argument at the wrong level, or a
    misspelled key (``" Did you mean `seed_everything`?"``); ``""`` when nothing is close."""
    from treadle.config import TrainerConfig

    if key in TrainerConfig.model_fields:
        return f" `{key}` is a Trainer argument: put it under `trainer:`;"
    from treadle._cli_checks import close_match

    match = close_match(key, known)
    return f" did you mean `{match}`?" if match else ""


def _treadle_trainer() -> Any:
    import treadle

    return treadle.Trainer


def _is_call(value: Any) -> bool:
    from treadle.cli import _Call

    return isinstance(value, _Call)


_LOADERS: dict[str, tuple[tuple[str, str], ...]] = {
    "fit": (("train_dataloaders", "train_dataloader"), ("val_dataloaders", "val_dataloader")),
    "validate": (("dataloaders", "val_dataloader"),),
    "test": (("dataloaders", "test_dataloader"),),
    "predict": (("dataloaders", "predict_dataloader"),),
}


def _data_arguments(data: Any, subcommand: str) -> dict[str, Any]:
    """How the Trainer gets ``data``: a ``treadle.DataModule`` as ``datamodule=``; any other
    class with ``*_dataloader`` methods through its loaders, after ``prepare_data()`` and
    ``setup(stage)`` as Lightning calls them."""
    import treadle

    if isinstance(data, treadle.DataModule):
        return {"datamodule": data}
    for name in ("prepare_data", "setup"):
        method = getattr(data, name, None)
        if callable(method):
            method(subcommand) if name == "setup" else method()
    return {
        arg: getattr(data, method)()
        for arg, method in _LOADERS[subcommand]
        if callable(getattr(data, method, None))
    }


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Deep-merge ``new`` into ``into``; a ``class_path`` that changes drops old init_args."""
    for key, value in new.items():
        old = into.get(key)
        if (
            isinstance(old, dict)
            and isinstance(value, dict)
            and old.get("class_path", value.get("class_path"))
            == value.get("class_path", old.get("class_path"))
        ):
            _merge(old, value)
        else:
            into[key] = value


def _parameters(cls: Any) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _signature_defaults(cls: Any) -> dict[str, Any]:
    """The ``__init__`` arguments that have a default, with it."""
    return {p.name: p.default for p in _parameters(cls) if p.default is not p.empty}


def _signature_types(cls: Any) -> dict[str, Any]:
    function = cls.__init__ if inspect.isclass(cls) else cls
    params = _parameters(cls)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # one annotation that cannot be resolved: the others still count
        hints = {}
        namespace = getattr(function, "__globals__", {})
        for p in params:
            try:
                hints[p.name] = (
                    eval(p.annotation, namespace)  # what get_type_hints does, one at a time
                    if isinstance(p.annotation, str)
                    else p.annotation
                )
            except Exception:  # this one is checked as Any
                continue
    return {p.name: Any if hints.get(p.name, p.empty) is p.empty else hints[p.name] for p in params}


class _Inferred:
    """The type of an argument without annotation, read from its default (``lr=0.1``: a
    number), so that ``--model.lr fast`` is a configuration error, not a traceback in the
    optimizer. Only numbers and booleans are inferred; the value is checked, not converted."""

    __slots__ = ("default", "annotation", "name")
    annotation: Any

    def __init__(self, default: Any) -> None:
        from pydantic import StrictBool, StrictFloat, StrictInt

        self.default = default
        if isinstance(default, bool):
            self.annotation, self.name = StrictBool, "bool"
        else:
            self.annotation, self.name = typing.Union[StrictInt, StrictFloat], "a number"


def _fields(cls: Any) -> dict[str, tuple[Any, Any]]:
    """``name -> (annotation, default or inspect.Parameter.empty)`` of ``cls.__init__`` (of
    ``cls`` itself for a function); an argument without annotation whose default is a number or
    a bool gets an :class:`_Inferred` type."""
    types = _signature_types(cls)
    fields = {}
    for p in _parameters(cls):
        annotation = types[p.name]
        if (
            p.annotation is p.empty
            and isinstance(p.default, (bool, int, float))
            and annotation is Any
        ):
            annotation = _Inferred(p.default)
        fields[p.name] = (annotation, p.default)
    return fields


def _takes_any_keyword(cls: Any) -> bool:
    """Whether the signature of ``cls`` has ``**kwargs`` (so any argument name is accepted)."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in params)


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is Any:
        return "VALUE"
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _validate_args(
    values: dict[str, Any],
    fields: dict[str, tuple[Any, Any]],
    prefix: str,
    problems: list[str],
    owner: Any = None,
) -> dict[str, Any]:
    """Check ``values`` against ``fields`` with pydantic; every problem into ``problems``.

    Returns the values converted to their annotations (``1`` for a ``float`` is ``1.0``).
    A ``class_path`` spec is checked to build a subclass of its annotation, not converted.
    """
    from pydantic import ConfigDict, ValidationError, create_model

    from treadle._cli_checks import did_you_mean

    where = f" by {owner.__name__}" if owner is not None else ""
    extra_ok = owner is not None and _takes_any_keyword(owner)
    for name in values:
        if name not in fields and not extra_ok:
            hint = did_you_mean(name, fields, f"`{prefix}{{}}`")
            problems.append(
                f"{prefix}{name}: not an argument of "
                f"{owner.__name__ if owner is not None else 'this section'}.{hint} "
                f"Arguments: "
                f"{', '.join(fields) or '(none)'}"
            )
    spec: dict[str, Any] = {}
    for name, (annotation, default) in fields.items():
        value = values.get(name, default)
        if value is inspect.Parameter.empty:
            problems.append(
                f"{prefix}{name}: required{where}, it has no default; give "
                f"`--{prefix}{name} VALUE` or set it in the configuration"
            )
            continue
        if name not in values:
            continue
        if _is_call(value) or value is None and isinstance(annotation, _Inferred):
            target = getattr(value, "target", None)
            if (
                inspect.isclass(annotation)
                and inspect.isclass(target)
                and not issubclass(target, annotation)
            ):
                problems.append(f"{prefix}{name}: `{value.label}` is not a {annotation.__name__}")
            continue
        if name not in fields:  # accepted by **kwargs
            continue
        spec[name] = (annotation, ...)
    if not spec:
        return {}
    config = ConfigDict(arbitrary_types_allowed=True)
    checked: dict[str, Any] = {}
    for name, (annotation, _) in spec.items():  # one model per argument: each fails alone
        pydantic_type = annotation.annotation if isinstance(annotation, _Inferred) else annotation
        field: dict[str, Any] = {name: (pydantic_type, ...)}
        try:
            checked[name] = getattr(
                create_model("Argument", __config__=config, **field)(**{name: values[name]}), name
            )
        except ValidationError as exc:
            err = exc.errors()[0]  # a Union fails once per member: one line per argument
            if isinstance(annotation, _Inferred):
                signature = "its signature"
                if owner is not None:
                    init = ".__init__" if inspect.isclass(owner) else ""
                    signature = f"{owner.__name__}{init}"
                problems.append(
                    f"{prefix}{name}: expected {annotation.name}{where}, got "
                    f"{values.get(name)!r} (the type of its default, {annotation.default!r}; "
                    f"annotate `{name}` in {signature} to allow other values)"
                )
            else:
                problems.append(
                    f"{prefix}{name}: expected {_type_name(annotation)}{where}, "
                    f"got {values.get(name)!r} ({err.get('msg', 'invalid')})"
                )
        except Exception:  # pydantic cannot use the annotation (`Callable[[int], 'Undefined']`)
            checked[name] = values[name]
        else:
            if isinstance(annotation, _Inferred):  # checked, not converted
                checked[name] = values[name]
    return checked


def _plain(value: Any) -> Any:
    """``value`` as YAML can write it (tuples as lists, other objects as their ``str``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _dump_yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)
