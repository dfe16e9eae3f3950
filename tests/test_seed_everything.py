"""``treadle.seed_everything``, as Lightning's: it seeds Python, torch and numpy and returns the seed."""

from __future__ import annotations

import random

import pytest
import torch

import treadle


def test_seed_everything_seeds_python_torch_and_numpy():
    np = pytest.importorskip("numpy")

    def draw():
        return random.random(), torch.rand(3), np.random.rand()

    treadle.seed_everything(1234)
    a = draw()
    draw()
    treadle.seed_everything(1234)
    b = draw()
    assert a[0] == b[0]
    assert torch.equal(a[1], b[1])
    assert a[2] == b[2]
    treadle.seed_everything(4321)
    c = draw()
    assert c[0] != a[0] and not torch.equal(c[1], a[1]) and c[2] != a[2]


def test_seed_everything_returns_the_seed():
    assert treadle.seed_everything(7) == 7


def test_seed_everything_accepts_workers():
    assert treadle.seed_everything(3, workers=True) == 3
    a = torch.rand(2)
    treadle.seed_everything(3, workers=True)
    assert torch.equal(a, torch.rand(2))
