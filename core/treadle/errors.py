"""The two exceptions users and plugin authors meet."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """Raised before the first ``training_step`` when the run cannot work as configured.

    ``problems`` holds one string per problem, each naming the plugin (or ``Trainer``
    argument) that found it and the fix.
    """

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        head = "1 configuration problem" if n == 1 else f"{n} configuration problems"
        super().__init__(f"{head}:\n" + "\n".join(f"  - {p}" for p in self.problems))


class PluginError(RuntimeError):
    """A plugin failed to load or to register (names the entry point and its distribution)."""


class NonFiniteLossError(RuntimeError):
    """``Trainer(nonfinite_loss="raise")`` met a NaN or infinite loss (names where and the fixes)."""
