"""``apply_to_collection`` on dataclasses and ``move_data_to_device`` on a ``to`` returning
nothing, as Lightning 2.6.6 does them (corpus program ``t_apply_func.py``).

Ported from Lightning's suite (Copyright The PyTorch Lightning team, Apache-2.0):
``tests_pytorch/utilities/test_apply_func.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar
from typing import Any, ClassVar

import pytest
import torch
from treadle.fabric.utilities.apply_func import apply_to_collection

from treadle.utilities import move_data_to_device


@dataclasses.dataclass
class _WithInitVar:
    class_var: ClassVar[int] = 0
    dummy: Any
    override: InitVar[Any] = torch.tensor(1)
    constant: int = dataclasses.field(init=False)

    def __post_init__(self, override: Any) -> None:
        self.constant = 7
        if override is not None:
            self.dummy = override


# Ported from tests/tests_pytorch/utilities/test_apply_func.py::test_recursive_application_to_collection
# (its "l" entry): the fields are set on a copy, __init__/__post_init__ are not run again (they
# would put the init-only variable's default back), init=False fields and class vars untouched
def test_apply_to_collection_sets_dataclass_fields_without_running_init():
    data = _WithInitVar(torch.tensor([1.0]), None)
    data.constant = 3
    out = apply_to_collection(data, torch.Tensor, lambda t: t * 2)
    assert isinstance(out, _WithInitVar) and out is not data
    assert torch.equal(out.dummy, torch.tensor([2.0]))
    assert out.constant == 3
    assert torch.equal(data.dummy, torch.tensor([1.0]))  # the input is left as it was
    assert _WithInitVar.class_var == 0


def test_apply_to_collection_include_none_keeps_a_dataclass_field():
    data = _WithInitVar(5, None)
    out = apply_to_collection(data, int, lambda v: None, include_none=False)
    assert out.dummy == 5


# Ported from tests/tests_pytorch/utilities/test_apply_func.py::test_apply_to_collection_frozen_dataclass
def test_apply_to_collection_refuses_a_frozen_dataclass():
    @dataclasses.dataclass(frozen=True)
    class Foo:
        input: torch.Tensor

    foo = Foo(torch.tensor(0))
    with pytest.raises(ValueError, match=r"frozen dataclass was passed \(Foo\).*allow_frozen=True"):
        apply_to_collection(foo, torch.Tensor, lambda t: t.to(torch.int))
    same = apply_to_collection(foo, torch.Tensor, lambda t: t.to(torch.int), allow_frozen=True)
    assert same == foo and same.input.dtype == torch.int64


# Ported from tests/tests_pytorch/utilities/test_apply_func.py::test_wrongly_implemented_transferable_data_type
@pytest.mark.parametrize("should_return", [False, True])
def test_move_data_to_device_keeps_an_object_whose_to_returns_none(should_return):
    class TensorObject:
        def __init__(self, tensor: torch.Tensor) -> None:
            self.tensor = tensor

        def to(self, device: torch.device) -> TensorObject | None:
            self.tensor = self.tensor.to(device)
            return self if should_return else None

    obj = TensorObject(torch.tensor(0.1))
    assert move_data_to_device(obj, torch.device("cpu")) is obj
    assert move_data_to_device([obj], torch.device("cpu"))[0] is obj
