# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/plugins/precision/test_amp.py
#   (test_amp_with_no_grad, test_amp_with_inference_mode,
#    test_amp_autocast_context_manager_disables_cache,
#    test_optimizer_amp_scaling_support_in_step_method)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; pytest.raises -> try/except. test_optimizer_amp_scaling_support_in_step_method runs a
#   `fit()` on the CPU with `precision="16-mixed"`, `gradient_clip_val=1.0` and a fused Adam (an
#   optimizer that unscales in its own step) instead of calling `MixedPrecision.clip_gradients`
#   on a `Mock(_step_supports_amp_scaling=True)` with a Mock scaler on "cuda:0". Left out:
#   test_clip_gradients (the plugin's own `clip_grad_by_value`/`clip_grad_by_norm` replaced by
#   Mocks), test_torch_autocast_cache_behavior_with_no_grad (torch alone, no Lightning; its
#   `cache_enabled=True` case no longer holds on torch 2.13), the CUDA tests (test_torch_autocast_cache_behavior_with_no_grad_cuda,
#   test_amp_with_no_grad_cuda), and two tests of master that Lightning 2.6.6 fails:
#   test_amp_forward_context_restores_grad_mode_context_managers and
#   test_amp_forward_context_keeps_cache_enabled (2.6.6's `forward_context` is
#   `autocast_context_manager()`, its cache off, and leaves `torch.no_grad` alone).
import re

import torch
from torch import nn

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.plugins import MixedPrecision


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{exc_type.__name__} not raised")


def test_optimizer_amp_scaling_support_in_step_method(tmp_path):
    """Test that the plugin checks if the optimizer takes over unscaling in its step, making it incompatible with
    gradient clipping (example: fused Adam)."""

    class FusedAdamModel(BoringModel):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.1, fused=True)

    trainer = Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        precision="16-mixed",
        gradient_clip_val=1.0,
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    raises(
        RuntimeError,
        "The current optimizer.*does not allow for gradient clipping",
        trainer.fit,
        FusedAdamModel(),
    )


def test_amp_with_no_grad():
    """Test that asserts using `no_grad` context wrapper with a persistent AMP context wrapper does not break gradient
    tracking."""
    layer = nn.Linear(2, 1)
    x = torch.randn(1, 2)
    amp = MixedPrecision(precision="bf16-mixed", device="cpu")

    with amp.forward_context():
        with torch.no_grad():
            _ = layer(x)

        loss = layer(x).mean()
        loss.backward()
        assert loss.grad_fn is not None


def test_amp_with_inference_mode():
    """Test that nested `inference_mode` also clears the autocast cache on exit."""
    layer = nn.Linear(2, 1)
    x = torch.randn(1, 2)
    amp = MixedPrecision(precision="bf16-mixed", device="cpu")

    with amp.forward_context():
        with torch.inference_mode():
            _ = layer(x)

        loss = layer(x).mean()
        loss.backward()
        assert loss.grad_fn is not None


def test_amp_autocast_context_manager_disables_cache():
    """Test that the public autocast context manager preserves the existing no-cache workaround."""
    amp = MixedPrecision(precision="bf16-mixed", device="cpu")

    with amp.autocast_context_manager():
        assert not torch.is_autocast_cache_enabled()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        test_optimizer_amp_scaling_support_in_step_method(tmp)
    test_amp_with_no_grad()
    test_amp_with_inference_mode()
    test_amp_autocast_context_manager_disables_cache()
    print("t_precision_amp_plugin: all passed")
