"""Checks the two command lines (``treadle fit``, ``treadle.cli.CLI``) make beyond the types.

* :func:`close_match`: the one "Did you mean" rule of the command lines: a suggestion only
  when it is close (issue 12: ``overfit_batches`` was answered with ``limit_val_batches``).
* :func:`monitor_warnings`: before anything runs, a callback's ``monitor`` (``ModelCheckpoint``,
  ``EarlyStopping``, any callback with a ``monitor`` string) that the Module never logs. It is a
  heuristic: the ``.log``/``.log_dict`` calls in the source of the Module's classes and of the
  callbacks are read; an f-string name matches any text in its ``{...}`` parts, and a name that
  is not written out (a variable, ``log_dict(metrics)``) makes the check give up: no warning.
* :class:`MonitorCheck`: the check made for real at the first training epoch end: a monitored
  metric that was not logged by then stops the run with a ``ConfigurationError`` (exit code 2).
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import textwrap
from typing import Any

from treadle.hookspecs import hookimpl

# difflib's ratio for a one-letter slip in a name of 8+ letters is above 0.85;
# `overfit_batches` vs `limit_val_batches` is 0.62 (difflib's default cutoff, 0.6, lets it in).
CUTOFF = 0.8


def close_match(name: str, choices: Any) -> str | None:
    """The choice closest to ``name`` when it is close enough to be the intended one."""
    found = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=CUTOFF)
    return found[0] if found else None


def did_you_mean(name: str, choices: Any, show: str = "`{}`") -> str:
    """``" Did you mean `x`?"`` or ``""``."""
    match = close_match(name, choices)
    return f" Did you mean {show.format(match)}?" if match else ""


# -- what a Module logs, read from its source ----------------------------------------------------

_ANY = ".*"  # a name that cannot be read: it may be anything
_RECEIVERS = {
    "self",
    "pl_module",
    "module",
}  # `self.log` in a Module, `pl_module.log` in a callback


def _name_pattern(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):  # f"{stage}_loss": any text where the braces are
        return "".join(
            re.escape(part.value)
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
            else ".*"
            for part in node.values
        )
    return _ANY


def _logged_in(source: str) -> list[str]:
    patterns = []
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in _RECEIVERS
        ):
            continue  # `torch.log(x)` is not a metric
        first = node.args[0] if node.args else None
        if node.func.attr == "log":
            name = first or next((k.value for k in node.keywords if k.arg == "name"), None)
            if name is not None:
                patterns.append(_name_pattern(name))
        elif node.func.attr == "log_dict":
            given = first or next((k.value for k in node.keywords if k.arg == "dictionary"), None)
            if isinstance(given, ast.Dict) and all(k is not None for k in given.keys):
                patterns.extend(_name_pattern(k) for k in given.keys if k is not None)
            else:
                patterns.append(_ANY)
    return patterns


def logged_patterns(classes: list[type]) -> list[str] | None:
    """Regular expressions of the metric names ``classes`` log; None when a source is unknown."""
    import treadle

    patterns: list[str] = []
    for cls in classes:
        for klass in cls.__mro__:
            module = getattr(klass, "__module__", "") or ""
            if klass is object or module == "builtins" or module.startswith("treadle."):
                continue
            if module.startswith("torch.") or klass is treadle.Module:
                continue
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                return None  # defined where its source cannot be read (a notebook, `-c`)
            try:
                patterns.extend(_logged_in(source))
            except SyntaxError:
                return None
    return patterns


def _monitored(callbacks: list[Any]) -> list[tuple[Any, str]]:
    return [(cb, cb.monitor) for cb in callbacks if isinstance(getattr(cb, "monitor", None), str)]


def _matches(pattern: str, metric: str) -> bool:
    # `self.log("loss", on_step=True, on_epoch=True)` is also `loss_step` and `loss_epoch`;
    # several validation loaders add `/dataloader_idx_N`.
    suffix = r"(?:_step|_epoch)?(?:/dataloader_idx_\d+)?"
    return re.fullmatch(f"(?:{pattern}){suffix}", metric) is not None


def monitor_warnings(model: Any, callbacks: list[Any]) -> list[str]:
    """One line for each callback ``monitor`` that ``model`` (and the callbacks) never log."""
    monitored = _monitored(callbacks)
    if not monitored:
        return []
    patterns = logged_patterns([type(model), *{type(cb) for cb in callbacks}])
    if patterns is None or _ANY in patterns:
        return []
    literal = sorted({re.sub(r"\\(.)", r"\1", p) for p in patterns if ".*" not in p})
    shown = ", ".join(f"`{n}`" for n in literal) or "nothing"
    warnings = []
    for cb, metric in monitored:
        if any(_matches(p, metric) for p in patterns):
            continue
        warnings.append(
            f"`{type(cb).__name__}(monitor={metric!r})`: {type(model).__name__} never logs "
            f"`{metric}` (its `self.log` calls name {shown}).{did_you_mean(metric, literal)} "
            f"If it is not logged by the end of the first epoch, `fit` stops there with a "
            f"configuration error."
        )
    return warnings


# -- the same, for real, at the first epoch end --------------------------------------------------


class MonitorCheck:
    """A plugin: at the end of the first training epoch after a validation (or of the first
    one when there is no validation), every callback's ``monitor`` must be a logged metric.

    It runs before the callbacks (``tryfirst``), so a missing metric is this
    ``ConfigurationError`` rather than the callback's own error.
    """

    def __init__(self) -> None:
        self.validated = False
        self.done = False

    @hookimpl
    def on_validation_end(self, trainer: Any) -> None:
        if not trainer.sanity_checking:
            self.validated = True

    @hookimpl(tryfirst=True)
    def on_train_epoch_end(self, trainer: Any) -> None:
        if self.done or trainer.fast_dev_run:
            return
        metrics = trainer.callback_metrics
        missing = [(cb, m) for cb, m in _monitored(trainer.callbacks) if m not in metrics]
        if missing and not self.validated and sum(trainer.num_val_batches):
            return  # a validation metric may come with the first validation
        self.done = True
        if not missing:
            return
        from treadle.errors import ConfigurationError

        logged = sorted(metrics)
        shown = ", ".join(f"`{n}`" for n in logged) or "nothing"
        raise ConfigurationError(
            [
                f"`{type(cb).__name__}(monitor={m!r})`: no metric `{m}` was logged by the end "
                f"of epoch {trainer.current_epoch}; logged: {shown}."
                f"{did_you_mean(m, logged)} Log it with `self.log({m!r}, value)` in the "
                f"Module, or change `monitor`."
                for cb, m in missing
            ]
        )
