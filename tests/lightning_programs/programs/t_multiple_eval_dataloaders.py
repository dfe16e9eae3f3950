# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/dynamic_args/test_multiple_eval_dataloaders.py
#   (test_multiple_eval_dataloaders_seq)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program; parametrize -> a loop; tmp_path -> a tempfile
#   dir; `lightning_pytorch` (the standalone package's name in the source) -> `lightning.pytorch`.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from torch.utils.data import Dataset


class RandomDatasetA(Dataset):
    def __init__(self, size, length):
        self.len = length
        self.data = torch.randn(length, size)

    def __getitem__(self, index):
        return torch.zeros(1)

    def __len__(self):
        return self.len


class RandomDatasetB(Dataset):
    def __init__(self, size, length):
        self.len = length
        self.data = torch.randn(length, size)

    def __getitem__(self, index):
        return torch.ones(1)

    def __len__(self):
        return self.len


def test_multiple_eval_dataloaders_seq(tmp_path, seq_type):
    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx, dataloader_idx):
            if dataloader_idx == 0:
                assert batch.sum() == 0
            elif dataloader_idx == 1:
                assert batch.sum() == 11
            else:
                raise Exception("should only have two dataloaders")

        def val_dataloader(self):
            dl1 = torch.utils.data.DataLoader(RandomDatasetA(32, 64), batch_size=11)
            dl2 = torch.utils.data.DataLoader(RandomDatasetB(32, 64), batch_size=11)
            return seq_type((dl1, dl2))

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
    )

    trainer.fit(model)


if __name__ == "__main__":
    for seq_type in (tuple, list):
        with tempfile.TemporaryDirectory() as tmp:
            test_multiple_eval_dataloaders_seq(tmp, seq_type)
    print("OK")
