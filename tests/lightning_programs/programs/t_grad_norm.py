# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_grads.py
#   (test_grad_norm, test_grad_norm_invalid_norm_type, test_grad_norm_with_double_dtype)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize ->
#   loops; pytest.approx -> math.isclose; pytest.raises(match=) -> try/except with re.search.
import math
import re
from unittest.mock import Mock

import torch
import torch.nn as nn

from lightning.pytorch.utilities import grad_norm


def test_grad_norm(norm_type, expected):
    """Test utility function for computing the p-norm of individual parameter groups and norm in total."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.param0 = nn.Parameter(torch.rand(3))
            self.param1 = nn.Parameter(torch.rand(2, 1))
            self.param0.grad = torch.tensor([-1.0, 2.0, -3.0])
            self.param1.grad = torch.tensor([[-4.0], [5.0]])
            # param without grad should not contribute to norm
            self.param2 = nn.Parameter(torch.rand(1))

    model = Model()
    norms = grad_norm(model, norm_type)

    assert norms.keys() == expected.keys()
    for k in norms:
        assert math.isclose(norms[k], expected[k], rel_tol=1e-6), (k, norms[k], expected[k])


def test_grad_norm_invalid_norm_type(norm_type):
    try:
        grad_norm(Mock(), norm_type)
    except ValueError as e:
        assert re.search("`norm_type` must be a positive number or 'inf'", str(e)), str(e)
    else:
        raise AssertionError("ValueError not raised")


def test_grad_norm_with_double_dtype():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            dtype = torch.double
            self.param = nn.Parameter(torch.tensor(1.0, dtype=dtype))
            # grad norm of this would become infinite
            self.param.grad = torch.tensor(1e23, dtype=dtype)

    model = Model()
    norms = grad_norm(model, 2)
    assert all(torch.isfinite(torch.tensor(v)) for v in norms.values()), norms


if __name__ == "__main__":
    cases = [
        (
            1,
            {"grad_1.0_norm/param0": 1 + 2 + 3, "grad_1.0_norm/param1": 4 + 5, "grad_1.0_norm_total": 15.0},
        ),
        (
            2,
            {
                "grad_2.0_norm/param0": pow(1 + 4 + 9, 0.5),
                "grad_2.0_norm/param1": pow(16 + 25, 0.5),
                "grad_2.0_norm_total": pow(1 + 4 + 9 + 16 + 25, 0.5),
            },
        ),
        (
            3.14,
            {
                "grad_3.14_norm/param0": pow(1 + 2**3.14 + 3**3.14, 1 / 3.14),
                "grad_3.14_norm/param1": pow(4**3.14 + 5**3.14, 1 / 3.14),
                "grad_3.14_norm_total": pow(1 + 2**3.14 + 3**3.14 + 4**3.14 + 5**3.14, 1 / 3.14),
            },
        ),
        (
            "inf",
            {
                "grad_inf_norm/param0": max(1, 2, 3),
                "grad_inf_norm/param1": max(4, 5),
                "grad_inf_norm_total": max(1, 2, 3, 4, 5),
            },
        ),
    ]
    for norm_type, expected in cases:
        test_grad_norm(norm_type, expected)
    for norm_type in (-1, 0):
        test_grad_norm_invalid_norm_type(norm_type)
    test_grad_norm_with_double_dtype()
    print("OK")
