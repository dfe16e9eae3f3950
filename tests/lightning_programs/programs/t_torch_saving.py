# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_torch_saving.py
#   (test_model_torch_save, test_model_torch_save_ddp_cpu)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; `torch.load(temp_path)` -> `torch.load(temp_path, weights_only=False)` (torch
#   2.6 and later load only tensors by default; a pickled Trainer needs the full unpickler, as
#   Lightning 2.6.6's own copy of the test passes); RunIf(skip_windows) dropped. Left out, as it
#   needs two GPUs: test_model_torch_save_ddp_cuda.
import os
import tempfile

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_model_torch_save(tmpdir):
    """Test to ensure torch save does not fail for model and trainer."""
    model = BoringModel()
    num_epochs = 1
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=num_epochs)
    temp_path = os.path.join(tmpdir, "temp.pt")
    trainer.fit(model)

    # Ensure these do not fail
    torch.save(trainer.model, temp_path)
    torch.save(trainer, temp_path)
    trainer = torch.load(temp_path, weights_only=False)


def test_model_torch_save_ddp_cpu(tmpdir):
    """Test to ensure torch save does not fail for model and trainer using cpu ddp."""
    model = BoringModel()
    num_epochs = 1
    trainer = Trainer(
        default_root_dir=tmpdir, max_epochs=num_epochs, strategy="ddp_spawn", accelerator="cpu", devices=2
    )
    temp_path = os.path.join(tmpdir, "temp.pt")
    trainer.fit(model)

    # Ensure these do not fail
    torch.save(trainer.model, temp_path)
    torch.save(trainer, temp_path)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_model_torch_save(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_model_torch_save_ddp_cpu(tmp)
    print("t_torch_saving: all passed")
