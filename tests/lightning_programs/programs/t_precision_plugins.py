# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/plugins/precision/test_double.py
#   (test_double_precision, test_convert_module, test_module_init_context),
#   tests/tests_pytorch/plugins/precision/test_half.py (test_selected_dtype,
#   test_module_init_context, test_forward_context, test_convert_module),
#   tests/tests_pytorch/plugins/precision/test_all.py (test_default_dtype_is_restored)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; parametrize -> loops; test_all.py's `init_context()` (Lightning 1.x) ->
#   `module_init_context()` and its `*PrecisionPlugin` names -> Lightning 2's (`DeepSpeedPrecision`,
#   `DoublePrecision`, `HalfPrecision`, `FSDPPrecision`). test_selected_dtype keeps its public
#   half (`plugin.precision`), not the private `_desired_input_dtype`;
#   `pytest.raises(match=)` -> try/except (no pytest in the Lightning environment).
#   Left out: test_double_precision_ddp (2 CUDA GPUs); test_double_precision_pickle
#   (`plugin.connect(model, MagicMock(), MagicMock())`, Lightning's wiring of a precision plugin
#   into its strategy, with mocks for the optimizers and schedulers).
import tempfile

import torch
from torch.utils.data import DataLoader, Dataset

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.plugins import DeepSpeedPrecision, FSDPPrecision, HalfPrecision
from lightning.pytorch.plugins.precision.double import DoublePrecision


class RandomFloatIntDataset(Dataset):
    def __init__(self, size, length):
        self.len = length
        self.float_data = torch.randn(length, size)
        self.int_data = torch.randint(10, (length, 1))

    def __getitem__(self, index):
        return self.float_data[index], self.int_data[index]

    def __len__(self):
        return self.len


class DoublePrecisionBoringModel(BoringModel):
    def training_step(self, batch, batch_idx):
        float_data, _ = batch
        assert torch.tensor([0.0]).dtype == torch.float64
        assert torch.tensor([0.0], dtype=torch.float16).dtype == torch.float16
        assert float_data.dtype == torch.float64
        return super().training_step(float_data, batch_idx)

    def on_train_epoch_end(self):
        assert torch.tensor([0.0]).dtype == torch.float32

    def validation_step(self, batch, batch_idx):
        assert batch.dtype == torch.float64
        assert torch.tensor([0.0]).dtype == torch.float64
        assert torch.tensor([0.0], dtype=torch.float16).dtype == torch.float16
        return super().validation_step(batch, batch_idx)

    def test_step(self, batch, batch_idx):
        assert batch.dtype == torch.float64
        assert torch.tensor([0.0]).dtype == torch.float64
        assert torch.tensor([0.0], dtype=torch.float16).dtype == torch.float16
        return super().test_step(batch, batch_idx)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        assert batch.dtype == torch.float64
        assert torch.tensor([0.0]).dtype == torch.float64
        assert torch.tensor([0.0], dtype=torch.float16).dtype == torch.float16
        return self(batch)

    def on_fit_start(self):
        assert self.layer.weight.dtype == torch.float64

    def on_after_backward(self):
        assert self.layer.weight.grad.dtype == torch.float64

    def train_dataloader(self):
        dataset = RandomFloatIntDataset(32, 64)
        assert dataset.float_data.dtype == torch.float32  # Don't start with double data
        return DataLoader(dataset)

    def predict_dataloader(self):
        return DataLoader(RandomDataset(32, 64))


class DoublePrecisionBoringModelNoForward(BoringModel):
    def training_step(self, batch, batch_idx):
        assert batch.dtype == torch.float64
        output = self.layer(batch)
        assert output.dtype == torch.float64
        loss = self.loss(output)
        return {"loss": loss}

    def validation_step(self, batch, batch_idx):
        assert batch.dtype == torch.float64
        output = self.layer(batch)
        assert output.dtype == torch.float64
        loss = self.loss(output)
        return {"x": loss}

    def test_step(self, batch, batch_idx):
        assert batch.dtype == torch.float64
        output = self.layer(batch)
        assert output.dtype == torch.float64
        loss = self.loss(output)
        return {"y": loss}

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        assert batch.dtype == torch.float64
        output = self.layer(batch)
        assert output.dtype == torch.float64
        return output

    def predict_dataloader(self):
        return DataLoader(RandomDataset(32, 64))


class DoublePrecisionBoringModelComplexBuffer(BoringModel):
    def __init__(self):
        super().__init__()
        self.register_buffer("complex_buffer_wrong", torch.complex(torch.rand(10), torch.rand(10)), persistent=False)

    def configure_model(self) -> None:
        self.register_buffer("complex_buffer_right", torch.complex(torch.rand(10), torch.rand(10)), persistent=False)

    def on_fit_start(self):
        # when the default floating point type is float64 the default complex type is complex128, as long as it is
        # initialized under the precision context manager, because `model.to(double)` will not convert properly
        assert self.complex_buffer_wrong.dtype == torch.complex64
        assert self.complex_buffer_right.dtype == torch.complex128
        # this hook is not wrapped
        assert torch.tensor([1.2, 3.4j]).dtype == torch.complex64

    def training_step(self, batch, batch_idx):
        assert torch.tensor([1.2, 3.4j]).dtype == torch.complex128
        return super().training_step(batch, batch_idx)


def test_double_precision(tmpdir, boring_model):
    model = boring_model()

    trainer = Trainer(max_epochs=2, default_root_dir=tmpdir, fast_dev_run=2, precision="64-true", log_every_n_steps=1)
    trainer.fit(model)
    trainer.test(model)
    trainer.predict(model)


def test_double_convert_module():
    plugin = DoublePrecision()
    model = BoringModel()
    assert model.layer.weight.dtype == model.layer.bias.dtype == torch.float32
    model = plugin.convert_module(model)
    assert model.layer.weight.dtype == model.layer.bias.dtype == torch.float64


def test_double_module_init_context():
    plugin = DoublePrecision()
    with plugin.module_init_context():
        model = torch.nn.Linear(2, 2)
        assert torch.get_default_dtype() == torch.double
    assert model.weight.dtype == torch.double


HALF = [("bf16-true", torch.bfloat16), ("16-true", torch.half)]


def test_half_selected_dtype(precision, expected_dtype):
    plugin = HalfPrecision(precision=precision)
    assert plugin.precision == precision


def test_half_module_init_context(precision, expected_dtype):
    plugin = HalfPrecision(precision=precision)
    with plugin.module_init_context():
        model = torch.nn.Linear(2, 2)
        assert torch.get_default_dtype() == expected_dtype
    assert model.weight.dtype == expected_dtype


def test_half_forward_context(precision, expected_dtype):
    precision = HalfPrecision(precision=precision)
    assert torch.get_default_dtype() == torch.float32
    with precision.forward_context():
        assert torch.get_default_dtype() == expected_dtype
    assert torch.get_default_dtype() == torch.float32


def test_half_convert_module(precision, expected_dtype):
    precision = HalfPrecision(precision=precision)
    module = torch.nn.Linear(2, 2)
    assert module.weight.dtype == module.bias.dtype == torch.float32
    module = precision.convert_module(module)
    assert module.weight.dtype == module.bias.dtype == expected_dtype


def test_default_dtype_is_restored(precision):
    assert torch.get_default_dtype() is torch.float32
    try:
        with precision.module_init_context():
            assert torch.get_default_dtype() is not torch.float32
            raise RuntimeError("foo")
    except RuntimeError as err:
        assert "foo" in str(err)
    else:
        raise AssertionError("no RuntimeError")
    assert torch.get_default_dtype() is torch.float32


if __name__ == "__main__":
    for boring_model in (
        DoublePrecisionBoringModel,
        DoublePrecisionBoringModelNoForward,
        DoublePrecisionBoringModelComplexBuffer,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            test_double_precision(tmp, boring_model)
    test_double_convert_module()
    test_double_module_init_context()
    for precision, expected_dtype in HALF:
        test_half_selected_dtype(precision, expected_dtype)
        test_half_module_init_context(precision, expected_dtype)
        test_half_forward_context(precision, expected_dtype)
        test_half_convert_module(precision, expected_dtype)
    for plugin in (DeepSpeedPrecision("16-true"), DoublePrecision(), HalfPrecision(), FSDPPrecision("16-true")):
        test_default_dtype_is_restored(plugin)
    print("ok")
