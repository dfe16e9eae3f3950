"""``find_shared_parameters``/``set_shared_parameters`` (Lightning's ``utilities.parameter_tying``).

Behaviour ported from Lightning's tests/tests_pytorch/utilities/test_parameter_tying.py
(Apache-2.0, Copyright The Lightning AI team), through treadle's names; the expected lists are
what Lightning 2.6.6 returned for the same modules.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from treadle.utilities import (
    FLOAT16_EPSILON,
    FLOAT32_EPSILON,
    FLOAT64_EPSILON,
    find_shared_parameters,
    set_shared_parameters,
)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight
        self.body[2].weight = self.body[0].weight


class Untied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)


@pytest.mark.parametrize(
    "model, expected",
    [
        (Untied, []),
        (Tied, [["emb.weight", "head.weight"], ["body.0.weight", "body.2.weight"]]),
    ],
)
def test_find_shared_parameters(model, expected):
    assert find_shared_parameters(model()) == expected


def test_set_shared_parameters_ties_them_again():
    model = Tied()
    shared = find_shared_parameters(model)
    # what a device move that copies each parameter (XLA) does to tied weights
    model.head.weight = nn.Parameter(model.head.weight.detach().clone())
    model.body[2].weight = nn.Parameter(model.body[2].weight.detach().clone())
    assert find_shared_parameters(model) == []
    assert set_shared_parameters(model, shared) is model
    assert find_shared_parameters(model) == shared
    assert model.head.weight is model.emb.weight and model.body[2].weight is model.body[0].weight


def test_lightning_paths_and_epsilons():
    from treadle.utilities.parameter_tying import find_shared_parameters as by_path

    assert by_path is find_shared_parameters
    assert torch.finfo(torch.float16).eps == FLOAT16_EPSILON
    assert torch.finfo(torch.float32).eps == FLOAT32_EPSILON
    assert torch.finfo(torch.float64).eps == FLOAT64_EPSILON
