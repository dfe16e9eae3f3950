"""Names Lightning programs take from ``lightning.pytorch`` beyond its ``__all__``.

Every example in Lightning's ``examples/pytorch`` starts ``__main__`` with
``cli_lightning_logo()``; ``POSSIBLE_USER_WARNINGS=off`` silences Lightning's
``PossibleUserWarning``s (``lightning/pytorch/__init__.py`` in Lightning 2.6.6).
"""

from __future__ import annotations

import os
import subprocess
import sys

import treadle


def test_cli_lightning_logo_prints_a_banner(capsys):
    from treadle import cli_lightning_logo

    cli_lightning_logo()
    out = capsys.readouterr().out
    assert out.startswith("\n") and "treadle" in out and out.endswith("\n\n")


def _warns_possible_user_warning(env_value: str | None) -> bool:
    """Whether a PossibleUserWarning shows in a fresh interpreter with that environment."""
    code = (
        "import warnings\n"
        "import treadle\n"
        "from treadle.utilities import PossibleUserWarning, rank_zero_warn\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    rank_zero_warn('check', category=PossibleUserWarning)\n"
        "print(len(seen))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "POSSIBLE_USER_WARNINGS"}
    if env_value is not None:
        env["POSSIBLE_USER_WARNINGS"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()[-1] != "0"


def test_possible_user_warnings_off_in_the_environment_silences_them():
    assert _warns_possible_user_warning(None)
    assert not _warns_possible_user_warning("off")
    assert not _warns_possible_user_warning("0")
    assert (
        treadle.disable_possible_user_warnings is treadle.utilities.disable_possible_user_warnings
    )
