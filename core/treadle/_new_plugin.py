"""``treadle new-plugin NAME``: write a plugin distribution that installs, loads and passes its test.

The files are templates filled with the plugin's three names: the entry-point name (``NAME``,
what ``TREADLE_BLOCK_PLUGINS`` takes), the distribution (``treadle-NAME``, what pip installs)
and the package (``treadle_NAME``). docs/cli.md documents the command; tests/test_new_plugin.py
generates one, pip-installs it and runs its test.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"[a-z][a-z0-9_]*")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A treadle plugin."
readme = "README.md"
requires-python = ">=3.9"
dependencies = ["treadle"]  # torch comes through treadle: do not pin it here

[project.optional-dependencies]
test = ["pytest>=8"]

# treadle loads this module for every Trainer where the distribution is installed;
# `TREADLE_BLOCK_PLUGINS={name}` keeps it out.
[project.entry-points.treadle]
{name} = "{package}.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

INIT = '''\
"""{dist}: a treadle plugin (its hooks are in ``{package}.plugin``)."""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""The module that the entry point `{name}` names: treadle registers it for every Trainer.

Each function marked `@treadle.hookimpl` implements the hook of its name; it declares only the
arguments it uses (the hook reference lists each hook's arguments: docs/hook-reference.md).
Keep this module cheap to import: it is imported whenever a Trainer is built.
"""

from __future__ import annotations

import logging

import treadle

log = logging.getLogger("{package}")


@treadle.hookimpl
def on_train_epoch_end(trainer):
    """After each training epoch: say where the run is (replace with your plugin's work)."""
    log.info("{name}: epoch %d ended at step %d", trainer.current_epoch, trainer.global_step)
'''

TEST = '''\
"""{dist}'s tests, with treadle's kit for plugin tests (the `treadle_*` fixtures, which pytest
loads wherever treadle is installed). Run them after `pip install -e .`: the entry point is
metadata that only an installation writes."""

import importlib.metadata
import logging


def test_the_entry_point_is_installed():
    (ep,) = [ep for ep in importlib.metadata.entry_points(group="treadle") if ep.name == "{name}"]
    assert ep.value == "{package}.plugin"
    assert ep.dist.metadata["Name"] == "{dist}"


def test_every_trainer_loads_the_plugin(treadle_trainer):
    trainer = treadle_trainer()
    assert trainer.plugin_manager.distributions["{name}"] == ("{dist}", "0.1.0")


def test_the_hook_runs_after_each_training_epoch(treadle_fit, caplog):
    with caplog.at_level(logging.INFO, logger="{package}"):
        run = treadle_fit(max_epochs=2)  # a tiny model, 2 batches an epoch
    assert run.hooks.implemented_by("{name}") == ["on_train_epoch_end", "on_train_epoch_end"]
    lines = [r.getMessage() for r in caplog.records if r.name == "{package}"]
    assert lines == ["{name}: epoch 0 ended at step 2", "{name}: epoch 1 ended at step 4"]
'''

README = """\
# {dist}

A [treadle](https://github.com/treadle/treadle) plugin. Installed, it is loaded by every
`treadle.Trainer` through its entry point `{name}` (group `treadle`); `treadle plugins` lists it,
and `TREADLE_BLOCK_PLUGINS={name}` keeps it out of a run.

```bash
pip install -e .           # writes the entry point (reinstall after changing it)
treadle plugins            # {name} = {package}.plugin ... status: loaded
pip install -e ".[test]" && pytest
```

`src/{package}/plugin.py` implements one hook, `on_train_epoch_end`. Add a function marked
`@treadle.hookimpl` for each hook the plugin needs, named after it (treadle's hook reference
lists them with their arguments), or provide an accelerator, precision, strategy, environment
or logger by name (treadle's plugin guide, docs/plugins.md).

The tests use treadle's kit for plugin tests (`treadle.testing`): `treadle_fit` runs a tiny
`fit()` and records every hook call, `treadle_trainer` builds a quiet CPU `Trainer`, and
`treadle_install` installs a fake distribution for one test.
"""


def check_name(raw: str) -> tuple[str, list[str]]:
    """``(entry-point name, problems)`` for the command's ``NAME`` (``treadle-`` is optional)."""
    name = raw.removeprefix("treadle-").removeprefix("treadle_").replace("-", "_")
    if NAME.fullmatch(name):
        return name, []
    return name, [
        f"`treadle new-plugin {raw}`: the name must be a lowercase letter followed by lowercase "
        f"letters, digits, '-' or '_' (it becomes the entry point, the distribution "
        f"treadle-NAME and the package treadle_NAME), e.g. `treadle new-plugin grad-norms`."
    ]


def write_plugin(raw_name: str, directory: str | None) -> tuple[Path | None, list[str]]:
    """Write the distribution for ``raw_name`` into ``directory`` (default ``./treadle-NAME``);
    return its folder, or the problems that stopped it (nothing is written then)."""
    name, problems = check_name(raw_name)
    if problems:
        return None, problems
    dist, package = f"treadle-{name.replace('_', '-')}", f"treadle_{name}"
    root = Path(directory) if directory is not None else Path(dist)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        return None, [
            f"`treadle new-plugin {raw_name}`: {str(root)!r} already exists and is not an empty "
            f"folder; nothing was written. Choose another folder with `--dir PATH`, or remove it."
        ]
    fields = dict(name=name, dist=dist, package=package)
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{package}/__init__.py": INIT,
        f"src/{package}/plugin.py": PLUGIN,
        f"tests/test_{name}.py": TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root, []
