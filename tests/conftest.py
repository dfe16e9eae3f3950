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
