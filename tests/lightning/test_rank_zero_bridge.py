"""lightning_utilities' ``rank_zero_only.rank`` set by ``import treadle``, as Lightning's import
sets it (lightning-hydra-template's RankedLogger and log_hyperparameters raise "The
`rank_zero_only.rank` needs to be set before use" otherwise: tpl_hydra_utils_eval).

Each case runs in a fresh interpreter: which of treadle and lightning_utilities is imported
first is the point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("lightning_utilities")

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> str:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    }
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT / "plugins")])
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_set_when_imported_after_treadle_and_import_treadle_does_not_load_it() -> None:
    out = run(
        """
        import sys
        import treadle
        assert "lightning_utilities" not in sys.modules
        from lightning_utilities.core.rank_zero import rank_zero_only

        @rank_zero_only
        def f():
            return "ran"

        print(rank_zero_only.rank, f())
        """
    )
    assert out == "0 ran"


def test_set_when_imported_before_treadle() -> None:
    out = run(
        """
        import lightning_utilities.core.rank_zero as rz
        assert getattr(rz.rank_zero_only, "rank", None) is None
        import treadle
        print(rz.rank_zero_only.rank)
        """
    )
    assert out == "0"


@pytest.mark.parametrize("var", ["RANK", "LOCAL_RANK", "SLURM_PROCID"])
def test_the_launchers_rank_as_lightning_reads_it(var: str) -> None:
    out = run(
        """
        import treadle
        from lightning_utilities.core.rank_zero import rank_zero_only, rank_zero_info

        print(rank_zero_only.rank, rank_zero_only(lambda: "ran")())
        """,
        **{var: "2"},
    )
    assert out == "2 None"


def test_a_rank_set_before_is_kept_and_set_rank_changes_it() -> None:
    out = run(
        """
        from lightning_utilities.core.rank_zero import rank_zero_only
        rank_zero_only.rank = 5
        import treadle
        from treadle._rank_zero_bridge import set_rank
        a = rank_zero_only.rank
        set_rank(1)
        print(a, rank_zero_only.rank)
        """
    )
    assert out == "5 1"


def test_tracebacks_still_show_the_modules_source() -> None:
    out = run(
        """
        import inspect
        import treadle
        import lightning_utilities.core.rank_zero as rz
        print("def rank_zero_only" in inspect.getsource(rz), rz.__file__.endswith("rank_zero.py"))
        """
    )
    assert out == "True True"
