# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_memory.py
#   (test_recursive_detach) and test_enums.py (test_gradient_clip_algorithms)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the two one-test files turned into one __main__ program asserting what they asserted.
#   The device is "cuda" where it is available, as in the test. Nothing left out.
import torch

from lightning.pytorch.utilities.enums import GradClipAlgorithmType
from lightning.pytorch.utilities.memory import recursive_detach


def test_recursive_detach():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = {"foo": torch.tensor(0, device=device), "bar": {"baz": torch.tensor(1.0, device=device, requires_grad=True)}}
    y = recursive_detach(x, to_cpu=True)

    assert x["foo"].device.type == device
    assert x["bar"]["baz"].device.type == device
    assert x["bar"]["baz"].requires_grad

    assert y["foo"].device.type == "cpu"
    assert y["bar"]["baz"].device.type == "cpu"
    assert not y["bar"]["baz"].requires_grad


def test_gradient_clip_algorithms():
    assert GradClipAlgorithmType.supported_types() == ["value", "norm"]
    assert GradClipAlgorithmType.supported_type("norm")
    assert GradClipAlgorithmType.supported_type("value")
    assert not GradClipAlgorithmType.supported_type("norm2")


if __name__ == "__main__":
    test_recursive_detach()
    test_gradient_clip_algorithms()
    print("ok")
