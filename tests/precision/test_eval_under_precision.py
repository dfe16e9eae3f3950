"""``test()`` and ``predict()`` under the precision plugins: ``bf16-mixed`` runs the steps under
autocast, ``bf16-true`` (and the other ``*-true``) runs them on the converted module and inputs
with the precision's default dtype, as training and validation do."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import make_loader, make_trainer, mlp

TRUE = {"bf16-true": torch.bfloat16, "16-true": torch.float16, "64-true": torch.float64}


class Probe(treadle.Module):
    """Records the dtypes each step sees: input, output, a tensor made in the step, autocast."""

    def __init__(self):
        super().__init__()
        self.net = mlp()
        self.seen: list[tuple] = []

    def record(self, stage, x):
        out = self.net(x)
        self.seen.append(
            (stage, x.dtype, out.dtype, torch.zeros(1).dtype, torch.is_autocast_enabled("cpu"))
        )
        return out

    def test_step(self, batch, batch_idx):
        x, y = batch
        out = self.record("test", x)
        self.log("test_loss", F.mse_loss(out.float(), y.float()))

    def predict_step(self, batch, batch_idx):
        return self.record("predict", batch[0])


def run_both(tmp_path, precision):
    model = Probe()
    trainer = make_trainer(tmp_path, precision=precision)
    result = trainer.test(model, make_loader(2))
    predictions = trainer.predict(model, make_loader(2))
    return model, result, predictions


def test_bf16_mixed_runs_test_and_predict_under_autocast(tmp_path):
    model, result, predictions = run_both(tmp_path, "bf16-mixed")
    # float32 inputs and weights, bf16 outputs of the autocast linear layers
    assert (
        model.seen
        == [("test", torch.float32, torch.bfloat16, torch.float32, True)] * 2
        + [("predict", torch.float32, torch.bfloat16, torch.float32, True)] * 2
    )
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert [p.dtype for p in predictions] == [torch.bfloat16] * 2
    assert "test_loss" in result[0]
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("precision", list(TRUE))
def test_true_precision_runs_test_and_predict_in_its_dtype(tmp_path, precision):
    dtype = TRUE[precision]
    model, result, predictions = run_both(tmp_path, precision)
    assert {p.dtype for p in model.parameters()} == {dtype}
    assert (
        model.seen
        == [("test", dtype, dtype, dtype, False)] * 2
        + [("predict", dtype, dtype, dtype, False)] * 2
    )
    assert [p.dtype for p in predictions] == [dtype] * 2
    assert "test_loss" in result[0]
    assert torch.get_default_dtype() is torch.float32, "the default dtype must be restored"


def test_bf16_mixed_predictions_match_autocast_by_hand(tmp_path):
    model, _, predictions = run_both(tmp_path, "bf16-mixed")
    x = make_loader(2).dataset.tensors[0]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model.net(x)
    torch.testing.assert_close(torch.cat(predictions), expected, rtol=0, atol=0)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_plugin_names_its_device(tmp_path, precision):
    """Lightning's ``trainer.precision_plugin.device`` ("cpu" here), read inside the steps as
    Lightning's test_amp.py does to choose ``torch.is_autocast_cpu_enabled()``."""
    seen = []

    class Reader(Probe):
        def test_step(self, batch, batch_idx):
            seen.append(self.trainer.precision_plugin.device)
            return super().test_step(batch, batch_idx)

    trainer = make_trainer(tmp_path, precision=precision)
    assert trainer.precision_plugin.device is None  # not on a device yet
    trainer.test(Reader(), make_loader(2))
    assert seen and set(seen) == {"cpu"}


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "bf16-true", "32-true"])
def test_precision_plugin_precision_is_its_name(tmp_path, precision):
    """Lightning's ``trainer.precision_plugin.precision``: the name the Trainer was given."""
    assert make_trainer(tmp_path, precision=precision).precision_plugin.precision == precision
