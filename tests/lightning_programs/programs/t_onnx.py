# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_onnx.py
#   (test_model_saves_with_input_sample, test_model_saves_with_example_input_array,
#    test_error_if_no_input, test_if_inference_output_is_valid (dynamo=None),
#    test_model_onnx_export_missing_onnxscript)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a tempfile dir; pytest.raises -> try/except. `onnx`, `onnxscript` and
#   `onnxruntime` are not installed with the reference Lightning here (nor in treadle's dev
#   environment), so each test runs as published only where `onnx` (and `onnxruntime`, for the
#   inference check) can be imported; without it, each test asserts what Lightning 2.6.6 does
#   then: its `to_onnx` call raises ModuleNotFoundError "`BoringModel.to_onnx()` requires `onnx`
#   to be installed." (checked before the input). `UnorderedModel` (tests_pytorch's
#   test_model_summary) written in the file. Left out: test_model_saves_on_gpu and
#   test_model_saves_on_multi_gpu (a GPU), test_verbose_param (torch < 2.6 only, patches
#   `torch.onnx.log`), the dynamo=True/False cases of test_if_inference_output_is_valid,
#   test_model_return_type (onnxscript) and test_model_onnx_export_wrong_torch_version
#   (torch < 2.5).
import importlib.util
import os
import re
import tempfile
from io import BytesIO
from pathlib import Path

import torch
import torch.nn as nn

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

ONNX = importlib.util.find_spec("onnx") is not None
ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None
ONNXSCRIPT = importlib.util.find_spec("onnxscript") is not None


class UnorderedModel(LightningModule):
    """A model in which the layers not defined in order of execution."""

    def __init__(self):
        super().__init__()
        # note: the definition order is intentionally scrambled for this test
        self.layer2 = nn.Linear(10, 2)
        self.combine = nn.Linear(7, 9)
        self.layer1 = nn.Linear(3, 5)
        self.relu = nn.ReLU()
        # this layer is unused, therefore input-/output shapes are unknown
        self.unused = nn.Conv2d(1, 1, 1)

        self.example_input_array = (torch.rand(2, 3), torch.rand(2, 10))

    def forward(self, x, y):
        out1 = self.layer1(x)
        out2 = self.layer2(y)
        out = self.relu(torch.cat((out1, out2), 1))
        return self.combine(out)


def needs_onnx(fn, *args, **kwargs):
    """Run an export; without onnx, Lightning's ModuleNotFoundError is what the test sees."""
    if ONNX:
        return fn(*args, **kwargs)
    try:
        fn(*args, **kwargs)
    except ModuleNotFoundError as e:
        assert re.search(r"`\w+\.to_onnx\(\)` requires `onnx` to be installed", str(e)), str(e)
        return None
    raise AssertionError("to_onnx ran without onnx installed")


def test_model_saves_with_input_sample(tmp_path):
    """Test that ONNX model saves with input sample and size is greater than 3 MB."""
    model = BoringModel()
    input_sample = torch.randn((1, 32))

    file_path = os.path.join(tmp_path, "os.path.onnx")
    needs_onnx(model.to_onnx, file_path, input_sample)
    if ONNX:
        assert os.path.isfile(file_path)
        assert os.path.getsize(file_path) > 4e2

    file_path = Path(tmp_path) / "pathlib.onnx"
    needs_onnx(model.to_onnx, file_path, input_sample)
    if ONNX:
        assert os.path.isfile(file_path)
        assert os.path.getsize(file_path) > 4e2

    file_path = BytesIO()
    needs_onnx(model.to_onnx, file_path=file_path, input_sample=input_sample)
    if ONNX:
        assert len(file_path.getvalue()) > 4e2


def test_model_saves_with_example_input_array(tmp_path, modelclass, input_sample):
    """Test that ONNX model saves with example_input_array and size is greater than 3 MB."""
    model = modelclass()
    model.example_input_array = input_sample

    file_path = os.path.join(tmp_path, "model.onnx")
    needs_onnx(model.to_onnx, file_path)
    if ONNX:
        assert os.path.exists(file_path) is True
        assert os.path.getsize(file_path) > 4e2


def test_error_if_no_input(tmp_path):
    """Test that an error is thrown when there is no input tensor."""
    model = BoringModel()
    model.example_input_array = None
    file_path = os.path.join(tmp_path, "model.onnx")
    if not ONNX:
        needs_onnx(model.to_onnx, file_path)
        return
    try:
        model.to_onnx(file_path)
    except ValueError as e:
        assert re.search(
            r"Could not export to ONNX since neither `input_sample` nor"
            r" `model.example_input_array` attribute is set.",
            str(e),
        ), str(e)
    else:
        raise AssertionError("ValueError not raised")


def test_if_inference_output_is_valid(tmp_path):
    """Test that the output inferred from ONNX model is same as from PyTorch."""
    model = BoringModel()
    model.example_input_array = torch.randn(5, 32)

    trainer = Trainer(fast_dev_run=True)
    trainer.fit(model)

    model.eval()
    with torch.no_grad():
        torch_out = model(model.example_input_array)

    file_path = os.path.join(tmp_path, "model.onnx")
    needs_onnx(model.to_onnx, file_path, model.example_input_array, export_params=True)
    if not (ONNX and ONNXRUNTIME):
        return
    import numpy as np
    import onnxruntime

    ort_session = onnxruntime.InferenceSession(file_path, providers=["CPUExecutionProvider"])

    def to_numpy(tensor):
        return tensor.detach().cpu().numpy() if tensor.requires_grad else tensor.cpu().numpy()

    # compute ONNX Runtime output prediction
    ort_inputs = {ort_session.get_inputs()[0].name: to_numpy(model.example_input_array)}
    ort_outs = ort_session.run(None, ort_inputs)

    # compare ONNX Runtime and PyTorch results
    assert np.allclose(to_numpy(torch_out), ort_outs[0], rtol=1e-03, atol=1e-05)


def test_model_onnx_export_missing_onnxscript():
    """Test that an error is raised if onnxscript is not available."""
    if ONNXSCRIPT:
        return  # the test runs only where onnxscript is not installed
    model = BoringModel()
    model.example_input_array = torch.randn(5, 32)
    try:
        model.to_onnx(dynamo=True)
    except ModuleNotFoundError as e:
        expected = (
            f"`{type(model).__name__}.to_onnx(dynamo=True)` requires `onnxscript` and `torch>=2.5.0` to be installed."
            if ONNX
            else f"`{type(model).__name__}.to_onnx()` requires `onnx` to be installed."
        )
        assert re.search(re.escape(expected), str(e)), str(e)
    else:
        raise AssertionError("ModuleNotFoundError not raised")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_model_saves_with_input_sample(tmp)
        for modelclass, input_sample in [
            (BoringModel, torch.randn(1, 32)),
            (UnorderedModel, (torch.rand(2, 3), torch.rand(2, 10))),
        ]:
            test_model_saves_with_example_input_array(tmp, modelclass, input_sample)
        test_error_if_no_input(tmp)
        test_if_inference_output_is_valid(tmp)
    test_model_onnx_export_missing_onnxscript()
    print(f"t_onnx: all passed (onnx installed: {ONNX})")
