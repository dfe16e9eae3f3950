# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_inference_mode.py
#   (test_eval_inference_mode)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; parametrize -> a
#   loop; tmp_path -> a tempfile dir (also the working directory of the second Trainer, which has
#   no default_root_dir). Left out: test_no_grad_context (Lightning's private `_Loop` and
#   `_no_grad_context`).
import os
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_eval_inference_mode(tmp_path, trainer_fn):
    class BoringModelNoGrad(BoringModel):
        def assert_not_enabled(self):
            assert not torch.is_grad_enabled()
            assert not torch.is_inference_mode_enabled()

        on_test_start = assert_not_enabled
        on_validation_start = assert_not_enabled
        on_predict_start = assert_not_enabled

    class BoringModelForInferenceMode(BoringModel):
        def assert_enabled(self):
            assert not torch.is_grad_enabled()
            assert torch.is_inference_mode_enabled()

        on_test_start = assert_enabled
        on_validation_start = assert_enabled
        on_predict_start = assert_enabled

    trainer = Trainer(default_root_dir=tmp_path, logger=False, inference_mode=False, fast_dev_run=True)
    getattr(trainer, trainer_fn)(BoringModelNoGrad())
    trainer = Trainer(logger=False, inference_mode=True, fast_dev_run=True)
    getattr(trainer, trainer_fn)(BoringModelForInferenceMode())


if __name__ == "__main__":
    for trainer_fn in ("validate", "test", "predict"):
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            test_eval_inference_mode(tmp, trainer_fn)
            os.chdir("/")
    print("OK")
