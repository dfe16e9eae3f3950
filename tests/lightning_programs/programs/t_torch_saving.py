# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_torch_saving.py
#   (test_model_torch_save, test_model_torch_save_ddp_cpu)
# Edits: the tests turned into one __main__ program; tmpdir -> a tempfile dir;
#   `torch.load(temp_path)` -> `torch.load(temp_path, weights_only=False)` (a Trainer is no
#   tensor file: torch 2.6+ loads only those by default); the RunIf helper import dropped. Left
#   out, needing two GPUs: test_model_torch_save_ddp_cuda.
import os
import tempfile

import torch

from pytorch_lightning import Trainer
from pytorch_lightning.demos.boring_classes import BoringModel


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
