"""Fixtures shared by every test under tests/.

``tests/`` is on ``sys.path`` for every test module (``pythonpath = ["tests"]`` in
pyproject.toml's ``[tool.pytest.ini_options]``), so modules in subfolders import the shared
helpers by name: ``from conftest_helpers import make_loader, make_trainer``. Helpers a test
calls with arguments live in ``conftest_helpers.py``; the fixtures below wrap the most common
of them for tests that only need the defaults.
"""

from __future__ import annotations

import pytest

import conftest_helpers


@pytest.fixture
def tiny_loader():
    """A fresh 4-batch regression ``DataLoader`` (8 samples of 4 features per batch)."""
    return conftest_helpers.make_loader(4)


@pytest.fixture
def trainer_factory(tmp_path):
    """``trainer_factory(**kwargs)``: a quiet CPU ``Trainer`` writing under this test's ``tmp_path``.

    Each call builds a new ``Trainer`` (and so a new ``PluginManager``); ``kwargs`` override
    the defaults of ``conftest_helpers.make_trainer``.
    """

    def factory(**kwargs):
        return conftest_helpers.make_trainer(tmp_path, **kwargs)

    return factory


@pytest.fixture(autouse=True)
def _restore_rank_zero_only_rank():
    """A ``Trainer`` that joins a launch (RANK/WORLD_SIZE or SLURM variables a test set) sets
    ``rank_zero_only.rank`` for the rest of the process, as Lightning's does; each test starts
    from the rank as it was (treadle's: not set, read from the process; lightning_utilities')."""
    import sys

    from treadle.loggers import rank_zero_only

    held = rank_zero_only._rank
    utilities = sys.modules.get("lightning_utilities.core.rank_zero")
    before = getattr(getattr(utilities, "rank_zero_only", None), "rank", None)
    yield
    rank_zero_only._rank = held
    utilities = sys.modules.get("lightning_utilities.core.rank_zero")
    if utilities is not None and before is not None:
        utilities.rank_zero_only.rank = before
