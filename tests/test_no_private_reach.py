"""Plugins use the Trainer's public API only: no ``trainer._x`` in ``plugins/`` or ``contrib/``.

The check walks the AST of every plugin module (tests excluded) and reports each attribute
access ``X._name`` (and ``getattr(X, "_name")``, ``hasattr``, ``setattr``, ``delattr``) where
``X`` is a chain of names and attributes that goes through a trainer: ``trainer``,
``self.trainer``, ``self._trainer``, ``pl_module.trainer.state``, ``trainer.strategy``...
Dunder names (``trainer.__class__``) are allowed. A plugin that needs something private
asks for a public name instead (see docs/plugins.md).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINER_NAMES = {"trainer", "_trainer"}
REFLECTION = {"getattr", "hasattr", "setattr", "delattr"}


def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything else (a call, a subscript...)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _through_trainer(node: ast.AST) -> bool:
    chain = _chain(node)
    return chain is not None and any(part in TRAINER_NAMES for part in chain)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(source: str, filename: str = "<string>") -> list[str]:
    """``"file:line: code"`` for each private access through a trainer in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        target = None
        if isinstance(node, ast.Attribute) and _private(node.attr):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REFLECTION
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            target = node.args[0]
        if target is not None and _through_trainer(target):
            found.append(
                (node.lineno, node.col_offset, f"{filename}:{node.lineno}: {ast.unparse(node)}")
            )
    return [line for _, _, line in sorted(found)]


def _plugin_files() -> list[Path]:
    roots = [ROOT / "plugins", *sorted((ROOT / "contrib").glob("*/src"))]
    return sorted(
        p for root in roots for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts
    )


def test_the_walk_covers_the_first_party_and_contrib_plugins():
    files = {p.relative_to(ROOT).as_posix() for p in _plugin_files()}
    assert "plugins/treadle_plugins/strategies/ddp.py" in files
    assert "contrib/treadle-ema/src/treadle_ema/callback.py" in files
    assert "contrib/treadle-slurm/src/treadle_slurm/environment.py" in files
    assert "contrib/treadle-sam/src/treadle_sam/plugin.py" in files
    assert not any("/tests/" in f for f in files)


def test_no_plugin_reaches_into_the_trainers_privates():
    problems = [
        p
        for path in _plugin_files()
        for p in private_reaches(path.read_text(), path.relative_to(ROOT).as_posix())
    ]
    assert not problems, (
        "Plugins must use the Trainer's public API; private accesses:\n" + "\n".join(problems)
    )


PLANTED = """
class Plugin:
    def on_fit_start(self, trainer, module):
        trainer._metrics.clear()                      # line 4
        self.trainer._hooks.backward()                # line 5
        self._trainer._step = None                    # line 6
        module.trainer.state._private                 # line 7
        getattr(trainer, "_fit_loop")                 # line 8
        hasattr(self._trainer, "_resume")             # line 9
        trainer.strategy._launcher                    # line 10
        # allowed:
        trainer.__class__, trainer.state.epoch, self._trainer.callbacks
        getattr(trainer, "callbacks"), getattr(trainer, name)
        self._cache._x, module._private_thing, trainer.callbacks[0]._own
"""


def test_the_checker_finds_each_planted_private_access():
    assert private_reaches(PLANTED, "plugin.py") == [
        "plugin.py:4: trainer._metrics",
        "plugin.py:5: self.trainer._hooks",
        "plugin.py:6: self._trainer._step",
        "plugin.py:7: module.trainer.state._private",
        "plugin.py:8: getattr(trainer, '_fit_loop')",
        "plugin.py:9: hasattr(self._trainer, '_resume')",
        "plugin.py:10: trainer.strategy._launcher",
    ]


def test_the_failure_message_lists_file_and_line(tmp_path, monkeypatch):
    plugin = tmp_path / "plugins" / "bad.py"
    plugin.parent.mkdir()
    plugin.write_text(PLANTED)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "contrib").mkdir()
    with pytest.raises(AssertionError, match=re.escape("plugins/bad.py:4: trainer._metrics")):
        test_no_plugin_reaches_into_the_trainers_privates()
