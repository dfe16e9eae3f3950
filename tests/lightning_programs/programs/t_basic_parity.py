# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/benchmarks/test_basic_parity.py
#   (test_pytorch_parity, with measure_loops, vanilla_loop, lightning_loop; ParityModuleRNN and
#   ParityModuleMNIST from tests/tests_pytorch/helpers/advanced_models.py, AverageDataset from
#   helpers/datasets.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted, on the CPU (the
#   test is skipped without a GPU) with small sizes: AverageDataset of 60 sequences of 20 steps,
#   MNIST -> 240 random 28x28 images with random labels (num_workers=0), 3 epochs and 3 runs
#   each; parametrize -> a loop; tqdm dropped; the `time.sleep(1)` before each run dropped.
#   The memory parity dropped: on the CPU `_hook_memory` is NaN, which no threshold passes.
#   The losses are compared to 5 decimals and the time per epoch with Lightning's thresholds
#   (first run dropped), as the test does. ParityModuleCIFAR (benchmarks only, torchvision)
#   left out. `replace_sampler_ddp=False` (Lightning 1) -> `use_distributed_sampler=False`;
#   `trainer.fit_loop.running_loss` (gone in Lightning 2) -> the last loss the module kept in
#   `_loss`, as Lightning 2's version of the helper does.
import gc
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lightning.pytorch import LightningModule, Trainer, seed_everything


class AverageDataset(Dataset):
    def __init__(self, dataset_len=60, sequence_len=20):
        self.dataset_len = dataset_len
        self.sequence_len = sequence_len
        self.input_seq = torch.randn(dataset_len, sequence_len, 10)
        top, bottom = self.input_seq.chunk(2, -1)
        self.output_seq = top + bottom.roll(shifts=1, dims=-1)

    def __len__(self):
        return self.dataset_len

    def __getitem__(self, item):
        return self.input_seq[item], self.output_seq[item]


class ParityModuleRNN(LightningModule):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(10, 20, batch_first=True)
        self.linear_out = nn.Linear(in_features=20, out_features=5)
        self.example_input_array = torch.rand(2, 3, 10)
        self._loss = []  # needed for checking if the loss is the same as vanilla torch

    def forward(self, x):
        seq, last = self.rnn(x)
        return self.linear_out(seq)

    def training_step(self, batch, batch_nb):
        x, y = batch
        y_hat = self(x)
        loss = F.mse_loss(y_hat, y)
        self._loss.append(loss.item())
        return {"loss": loss}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)

    def train_dataloader(self):
        return DataLoader(AverageDataset(), batch_size=30)


class ParityModuleMNIST(LightningModule):
    def __init__(self):
        super().__init__()
        self.c_d1 = nn.Linear(in_features=28 * 28, out_features=128)
        self.c_d1_bn = nn.BatchNorm1d(128)
        self.c_d1_drop = nn.Dropout(0.3)
        self.c_d2 = nn.Linear(in_features=128, out_features=10)
        self.example_input_array = torch.rand(2, 1, 28, 28)
        self._loss = []  # needed for checking if the loss is the same as vanilla torch

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = self.c_d1(x)
        x = torch.tanh(x)
        x = self.c_d1_bn(x)
        x = self.c_d1_drop(x)
        x = self.c_d2(x)
        return x

    def training_step(self, batch, batch_nb):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self._loss.append(loss.item())
        return {"loss": loss}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)

    def train_dataloader(self):
        images = torch.rand(240, 1, 28, 28)
        labels = torch.randint(0, 10, (240,))
        return DataLoader(TensorDataset(images, labels), batch_size=128, num_workers=0)


def assert_parity_absolute(pl_values, pt_values, norm_by: float = 1, max_diff: float = 0.55):
    # assert speeds
    diffs = np.asarray(pl_values) - np.mean(pt_values)
    # norm by event count
    diffs = diffs / norm_by
    assert np.mean(diffs) < max_diff, f"Lightning {diffs} was worse than vanilla PT (threshold {max_diff})"


def test_pytorch_parity(cls_model, max_diff_speed, num_epochs, num_runs):
    """Verify that the same pytorch and lightning models achieve the same results."""
    lightning = measure_loops(cls_model, kind="PT Lightning", num_epochs=num_epochs, num_runs=num_runs)
    vanilla = measure_loops(cls_model, kind="Vanilla PT", num_epochs=num_epochs, num_runs=num_runs)

    # make sure the losses match exactly to 5 decimal places
    print(f"Losses are for... \n vanilla: {vanilla['losses']} \n lightning: {lightning['losses']}")
    for pl_out, pt_out in zip(lightning["losses"], vanilla["losses"]):
        np.testing.assert_almost_equal(pl_out, pt_out, 5)

    # drop the first run for initialize dataset (download & filter)
    assert_parity_absolute(
        lightning["durations"][1:], vanilla["durations"][1:], norm_by=num_epochs, max_diff=max_diff_speed
    )


def measure_loops(cls_model, kind, num_runs=10, num_epochs=10):
    """Returns an array with the last loss from each epoch for each run."""
    hist_losses = []
    hist_durations = []

    device_type = "cpu"
    torch.backends.cudnn.deterministic = True
    for i in range(num_runs):
        gc.collect()
        time_start = time.perf_counter()

        _loop = lightning_loop if kind == "PT Lightning" else vanilla_loop
        final_loss = _loop(cls_model, idx=i, device_type=device_type, num_epochs=num_epochs)

        time_end = time.perf_counter()

        hist_losses.append(final_loss)
        hist_durations.append(time_end - time_start)

    return {"losses": hist_losses, "durations": hist_durations}


def vanilla_loop(cls_model, idx, device_type: str = "cuda", num_epochs=10):
    device = torch.device(device_type)
    # set seed
    seed_everything(idx)

    # init model parts
    model = cls_model()
    dl = model.train_dataloader()
    optimizer = model.configure_optimizers()

    # model to GPU
    model = model.to(device)

    epoch_losses = []
    # as the first run is skipped, no need to run it long
    for epoch in range(num_epochs if idx > 0 else 1):
        # run through full training set
        for j, batch in enumerate(dl):
            batch = [x.to(device) for x in batch]
            loss_dict = model.training_step(batch, j)
            loss = loss_dict["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        # track last epoch loss
        epoch_losses.append(loss.item())

    return epoch_losses[-1]


def lightning_loop(cls_model, idx, device_type: str = "cuda", num_epochs=10):
    seed_everything(idx)

    model = cls_model()
    # init model parts
    trainer = Trainer(
        # as the first run is skipped, no need to run it long
        max_epochs=num_epochs if idx > 0 else 1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="gpu" if device_type == "cuda" else "cpu",
        devices=1,
        use_distributed_sampler=False,
        benchmark=False,
    )
    trainer.fit(model)

    return model._loss[-1]


if __name__ == "__main__":
    for cls_model, max_diff_speed, num_epochs, num_runs in [
        (ParityModuleRNN, 0.05, 3, 3),
        (ParityModuleMNIST, 0.3, 3, 3),
    ]:
        test_pytorch_parity(cls_model, max_diff_speed, num_epochs, num_runs)
    print("ok")
