# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_torchscript.py
#   (test_torchscript_input_output, _example_input_output_trace, _input_output_trace, _device
#   (cpu), _retain_training_state, _properties, _save_load, _save_load_custom_filesystem,
#   test_torchcript_invalid_method, _with_no_input, _script_recursively)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted (parametrize -> loops,
#   tmpdir -> tempfile, `pytest.raises` -> try/except). `BasicGAN` and `ParityModuleRNN` from
#   `tests_pytorch/helpers/advanced_models.py` written out with what the tests use (their
#   networks, `forward`, `example_input_array`; the training steps and MNIST loaders dropped).
#   Left out: the cuda/mps
#   devices of test_torchscript_device; the private `lm._jit_is_scripting` assertions.
import os
import tempfile

import fsspec
import numpy as np
import torch
import torch.nn as nn
from fsspec.implementations.local import LocalFileSystem

from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.core.module import LightningModule
from lightning.pytorch.demos.boring_classes import BoringModel


class Generator(nn.Module):
    def __init__(self, latent_dim: int, img_shape: tuple):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *self.img_shape)
        return img


class Discriminator(nn.Module):
    def __init__(self, img_shape: tuple):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        return self.model(img_flat)


class BasicGAN(LightningModule):
    """Implements a basic GAN for the purpose of illustrating multiple optimizers."""

    def __init__(self, hidden_dim: int = 128, learning_rate: float = 0.001, b1: float = 0.5, b2: float = 0.999, **kwargs):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.b1 = b1
        self.b2 = b2
        mnist_shape = (1, 28, 28)
        self.generator = Generator(latent_dim=self.hidden_dim, img_shape=mnist_shape)
        self.discriminator = Discriminator(img_shape=mnist_shape)
        self.generated_imgs = None
        self.last_imgs = None
        self.example_input_array = torch.rand(2, self.hidden_dim)

    def forward(self, z):
        return self.generator(z)

    def configure_optimizers(self):
        lr, b1, b2 = self.learning_rate, self.b1, self.b2
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return [opt_g, opt_d], []


class ParityModuleRNN(LightningModule):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(10, 20, batch_first=True)
        self.linear_out = nn.Linear(in_features=20, out_features=5)
        self.example_input_array = torch.rand(2, 3, 10)

    def forward(self, x):
        seq, last = self.rnn(x)
        return self.linear_out(seq)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)


MODELS = [BoringModel, ParityModuleRNN, BasicGAN]


def test_torchscript_input_output(modelclass):
    """Test that scripted LightningModule forward works."""
    model = modelclass()
    if isinstance(model, BoringModel):
        model.example_input_array = torch.randn(5, 32)
    script = model.to_torchscript()
    assert isinstance(script, torch.jit.ScriptModule)
    model.eval()
    with torch.no_grad():
        model_output = model(model.example_input_array)
    script_output = script(model.example_input_array)
    assert torch.allclose(script_output, model_output)


def test_torchscript_example_input_output_trace(modelclass):
    """Test that traced LightningModule forward works with example_input_array."""
    model = modelclass()
    if isinstance(model, BoringModel):
        model.example_input_array = torch.randn(5, 32)
    script = model.to_torchscript(method="trace")
    assert isinstance(script, torch.jit.ScriptModule)
    model.eval()
    with torch.no_grad():
        model_output = model(model.example_input_array)
    script_output = script(model.example_input_array)
    assert torch.allclose(script_output, model_output)


def test_torchscript_input_output_trace():
    """Test that traced LightningModule forward works with example_inputs."""
    model = BoringModel()
    example_inputs = torch.randn(1, 32)
    script = model.to_torchscript(example_inputs=example_inputs, method="trace")
    assert isinstance(script, torch.jit.ScriptModule)
    model.eval()
    with torch.no_grad():
        model_output = model(example_inputs)
    script_output = script(example_inputs)
    assert torch.allclose(script_output, model_output)


def test_torchscript_device(device_str):
    """Test that scripted module is on the correct device."""
    device = torch.device(device_str)
    model = BoringModel().to(device)
    model.example_input_array = torch.randn(5, 32)
    script = model.to_torchscript()
    assert next(script.parameters()).device == device
    script_output = script(model.example_input_array.to(device))
    assert script_output.device == device


def test_torchscript_retain_training_state():
    """Test that torchscript export does not alter the training mode of original model."""
    model = BoringModel()
    model.train(True)
    script = model.to_torchscript()
    assert model.training
    assert not script.training
    model.train(False)
    _ = model.to_torchscript()
    assert not model.training
    assert not script.training


def test_torchscript_properties(modelclass):
    """Test that scripted LightningModule has unnecessary methods removed."""
    model = modelclass()
    script = model.to_torchscript()
    assert not hasattr(model, "batch_size") or hasattr(script, "batch_size")
    assert not hasattr(model, "learning_rate") or hasattr(script, "learning_rate")
    assert not callable(getattr(script, "training_step", None))


def test_torchscript_save_load(tmpdir, modelclass):
    """Test that scripted LightningModule is correctly saved and can be loaded."""
    model = modelclass()
    output_file = os.path.join(tmpdir, "model.pt")
    script = model.to_torchscript(file_path=output_file)
    loaded_script = torch.jit.load(output_file)
    assert torch.allclose(next(script.parameters()), next(loaded_script.parameters()))


def test_torchscript_save_load_custom_filesystem(tmpdir, modelclass):
    """Test that scripted LightningModule is correctly saved and can be loaded with custom filesystems."""
    _DUMMY_PRFEIX = "dummy"
    _PREFIX_SEPARATOR = "://"

    class DummyFileSystem(LocalFileSystem): ...

    fsspec.register_implementation(_DUMMY_PRFEIX, DummyFileSystem, clobber=True)

    model = modelclass()
    output_file = os.path.join(_DUMMY_PRFEIX, _PREFIX_SEPARATOR, tmpdir, "model.pt")
    script = model.to_torchscript(file_path=output_file)

    fs = get_filesystem(output_file)
    with fs.open(output_file, "rb") as f:
        loaded_script = torch.jit.load(f)

    assert torch.allclose(next(script.parameters()), next(loaded_script.parameters()))


def test_torchcript_invalid_method():
    """Test that an error is thrown with invalid torchscript method."""
    model = BoringModel()
    model.train(True)
    try:
        model.to_torchscript(method="temp")
    except ValueError as e:
        assert "only supports 'script' or 'trace'" in str(e), str(e)
    else:
        raise AssertionError("no ValueError")


def test_torchscript_with_no_input():
    """Test that an error is thrown when there is no input tensor."""
    model = BoringModel()
    model.example_input_array = None
    try:
        model.to_torchscript(method="trace")
    except ValueError as e:
        assert "requires either `example_inputs` or `model.example_input_array`" in str(e), str(e)
    else:
        raise AssertionError("no ValueError")


def test_torchscript_script_recursively():
    class GrandChild(LightningModule):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Linear(1, 1)

        def forward(self, inputs):
            return self.model(inputs)

    class Child(LightningModule):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(GrandChild(), GrandChild())

        def forward(self, inputs):
            return self.model(inputs)

    class Parent(LightningModule):
        def __init__(self):
            super().__init__()
            self.model = Child()

        def forward(self, inputs):
            return self.model(inputs)

    lm = Parent()
    script = lm.to_torchscript(method="script")
    assert isinstance(script, torch.jit.RecursiveScriptModule)


if __name__ == "__main__":
    for modelclass in MODELS:
        test_torchscript_input_output(modelclass)
        test_torchscript_example_input_output_trace(modelclass)
    test_torchscript_input_output_trace()
    test_torchscript_device("cpu")
    test_torchscript_retain_training_state()
    for modelclass in MODELS:
        test_torchscript_properties(modelclass)
        with tempfile.TemporaryDirectory() as tmpdir:
            test_torchscript_save_load(tmpdir, modelclass)
        with tempfile.TemporaryDirectory() as tmpdir:
            test_torchscript_save_load_custom_filesystem(tmpdir, modelclass)
    test_torchcript_invalid_method()
    test_torchscript_with_no_input()
    test_torchscript_script_recursively()
    print("OK")
