# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_parameter_tying.py
#   (test_find_shared_parameters, test_set_shared_parameters)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a loop.
#   Nothing left out.
import torch
from torch import nn

from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities import find_shared_parameters, set_shared_parameters


class ParameterSharingModule(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear(32, 10, bias=False)
        self.layer_2 = nn.Linear(10, 32, bias=False)
        self.layer_3 = nn.Linear(32, 10, bias=False)
        self.layer_3.weight = self.layer_1.weight

    def forward(self, x):
        x = self.layer_1(x)
        x = self.layer_2(x)
        x = self.layer_3(x)
        return x


def test_find_shared_parameters(model, expected_shared_params):
    assert expected_shared_params == find_shared_parameters(model())


def test_set_shared_parameters():
    model = ParameterSharingModule()
    set_shared_parameters(model, [["layer_1.weight", "layer_3.weight"]])

    assert torch.all(torch.eq(model.layer_1.weight, model.layer_3.weight))

    class SubModule(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)

    class NestedModule(BoringModel):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(32, 10, bias=False)
            self.net_a = SubModule(self.layer)
            self.layer_2 = nn.Linear(10, 32, bias=False)
            self.net_b = SubModule(self.layer)

        def forward(self, x):
            x = self.net_a(x)
            x = self.layer_2(x)
            x = self.net_b(x)
            return x

    model = NestedModule()
    set_shared_parameters(model, [["layer.weight", "net_a.layer.weight", "net_b.layer.weight"]])

    assert torch.all(torch.eq(model.net_a.layer.weight, model.net_b.layer.weight))


if __name__ == "__main__":
    for model, expected in [(BoringModel, []), (ParameterSharingModule, [["layer_1.weight", "layer_3.weight"]])]:
        test_find_shared_parameters(model, expected)
    test_set_shared_parameters()
    print("ok")
