# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_signature_utils.py
#   (test_param_in_hook_signature)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted.
import torch

from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature


def test_param_in_hook_signature():
    class LightningModule:
        def validation_step(self, dataloader_iter): ...

    model = LightningModule()
    assert is_param_in_hook_signature(model.validation_step, "dataloader_iter", explicit=True)

    class LightningModule:
        @torch.no_grad()
        def validation_step(self, dataloader_iter): ...

    model = LightningModule()
    assert is_param_in_hook_signature(model.validation_step, "dataloader_iter", explicit=True)

    class LightningModule:
        def validation_step(self, *args): ...

    model = LightningModule()
    assert not is_param_in_hook_signature(model.validation_step, "dataloader_iter", explicit=True)
    assert is_param_in_hook_signature(model.validation_step, "dataloader_iter", explicit=False)

    class LightningModule:
        def validation_step(self, a, b): ...

    model = LightningModule()
    assert not is_param_in_hook_signature(model.validation_step, "dataloader_iter", min_args=3)
    assert is_param_in_hook_signature(model.validation_step, "dataloader_iter", min_args=2)


if __name__ == "__main__":
    test_param_in_hook_signature()
    print("ok")
