"""Lightning behaviour pinned from its ``tests_pytorch/utilities`` tests, ported as corpus
programs by helper lprog24 (``tests/lightning_programs/programs/t_model_helpers.py``,
``t_rank_zero.py``, ``t_seed.py`` and the others named below).

Ported from Lightning's suite (Copyright The Lightning AI team, Apache-2.0):
``tests_pytorch/utilities/test_model_helpers.py``, ``test_rank_zero.py``, ``test_seed.py``,
``test_warnings.py``, ``test_dtype_device_mixin.py`` (and ``tests_fabric/utilities/
test_device_dtype_mixin.py``).
"""

from __future__ import annotations

import os

import pytest
import torch

from treadle import module as treadle_module
from treadle.loggers import rank_zero_only
from treadle.utilities import is_overridden, seed_everything


# test_model_helpers.py::test_is_overridden: an instance of no Lightning class and no parent is
# refused with "Expected a parent" (Lightning's words), ours naming the fix
def test_is_overridden_without_parent_says_expected_a_parent():
    with pytest.raises(ValueError, match=r"^Expected a parent.*pass parent="):
        is_overridden("whatever", object())


# test_rank_zero.py::test_rank_zero_known_environment_variables (and test_rank_zero_priority):
# JSM_NAMESPACE_RANK counts, and LOCAL_RANK comes before SLURM_PROCID
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"JSM_NAMESPACE_RANK": "4"}, None),
        ({"JSM_NAMESPACE_RANK": "0"}, 1),
        ({"JSM_NAMESPACE_RANK": "3", "SLURM_PROCID": "2", "LOCAL_RANK": "0"}, 1),
        ({"SLURM_PROCID": "0", "LOCAL_RANK": "1"}, None),
        ({"RANK": "0", "LOCAL_RANK": "1"}, 1),
    ],
)
def test_rank_zero_only_reads_lightnings_rank_variables(monkeypatch, environ, expected):
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    @rank_zero_only
    def foo():
        return 1

    assert foo() == expected


# test_seed.py::test_reset_seed_everything: seed_everything leaves workers in PL_SEED_WORKERS
@pytest.mark.parametrize("workers", [True, False])
def test_seed_everything_sets_pl_seed_workers(monkeypatch, workers):
    for name in (
        "PL_GLOBAL_SEED",
        "PL_SEED_WORKERS",
        "TREADLE_GLOBAL_SEED",
        "TREADLE_SEED_WORKERS",
    ):
        monkeypatch.delenv(name, raising=False)
    seed_everything(123, workers, verbose=False)
    assert os.environ["PL_GLOBAL_SEED"] == "123"
    assert os.environ["PL_SEED_WORKERS"] == str(int(workers))


# test_warnings.py::test_disable_possible_user_warnings_from_environment: `import
# lightning.pytorch` becomes `import treadle as lightning`, and `lightning.pytorch` (also
# `L.pytorch` after `import lightning as L`) is then read as an attribute: the package itself
def test_pytorch_attribute_is_the_package():
    import importlib

    import treadle

    assert treadle.pytorch is treadle
    assert treadle.pytorch.Trainer is treadle.Trainer
    assert importlib.reload(treadle.pytorch) is treadle


# test_dtype_device_mixin.py (and fabric's test_device_dtype_mixin.py, CPU cases): a Module
# without parameters, nested in plain nn.Modules, follows .to()/.half()/.double()/.type()
class _Buffered(treadle_module.Module):
    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", weight)


class _Holder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.module = treadle_module.Module()


def test_module_without_parameters_follows_to_and_dtype_conversions():
    top = treadle_module.Module()
    top.layer = torch.nn.Linear(2, 2)
    top.holder = _Holder()
    assert top.holder.module.dtype is torch.float32
    top.to(device="cpu", dtype=torch.half)
    assert top.dtype is top.holder.module.dtype is torch.half
    assert top.holder.module.device == torch.device("cpu")

    module = _Buffered(torch.tensor(1))
    assert module.dtype is torch.float32
    module.double()  # skips the integer buffer, not the dtype
    assert module.weight.dtype is torch.int64 and module.dtype is torch.float64
    module.type(torch.float)
    assert module.weight.dtype is torch.float32 and module.dtype is torch.float32
    module.to("cpu", dtype=torch.half, non_blocking=True)
    assert module.dtype is torch.float16 and module.device == torch.device("cpu")
