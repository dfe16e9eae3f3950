# Source: https://github.com/Lightning-AI/tutorials/blob/main/lightning_examples/distributed-training/scripts/ddp_example_4.py
#   with its scripts/tutorial_model.py (the tutorial "Multi-GPU training"; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits (nothing else changed):
#  - `from tutorial_model import MNISTDataModule, TutorialModule` -> the two classes copied in
#    here (one file per program), below the script's imports;
#  - MNIST (a download; torchvision is not installable here) -> random 1x28x28 tensors with
#    labels, 64 train (32 per process), 16 val, 16 test samples; the transforms dropped;
#  - `Trainer(gpus=N, accelerator="ddp")` (Lightning 1.x) -> `accelerator="cpu", devices=2,
#    strategy="ddp"`: DDP on two CPU processes (gloo), Lightning launching the script again for
#    rank 1;
#  - torchmetrics' `Accuracy(num_classes=10)` gets `task="multiclass"` (torchmetrics >= 0.11);
#  - Lightning 2: `training_epoch_end(self, outputs)` (removed) -> `on_train_epoch_end(self)`
#    over the outputs that `training_step` now keeps (Lightning's migration guide's way);
#  - asserts on what each process prints (32 batches of 1 sample each on each of the 2 ranks).
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningDataModule, LightningModule, seed_everything, Trainer
from torch.utils.data import DataLoader, TensorDataset, random_split
from torchmetrics import Accuracy

N_TRAIN, N_VAL, N_TEST = 64, 16, 16

def _random_mnist(n):  # edit: stands in for torchvision's MNIST
    return TensorDataset(torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,)))


class MNISTDataModule(LightningDataModule):

    def __init__(self, data_dir: str = "./", batch_size: int = 16):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.dims = (1, 28, 28)
        self.num_classes = 10

    def prepare_data(self):
        # only downloads the data once
        pass  # edit: no download (random tensors below)

    def setup(self, stage=None):
        if stage == 'fit' or stage is None:
            mnist_full = _random_mnist(N_TRAIN + N_VAL)  # edit: MNIST(...) -> random tensors
            self.mnist_train, self.mnist_val = random_split(mnist_full, [N_TRAIN, N_VAL])
        if stage == 'test' or stage is None:
            self.mnist_test = _random_mnist(N_TEST)  # edit: MNIST(...) -> random tensors

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)


class TutorialModule(LightningModule):

    def __init__(
        self,
        hidden_dim: int = 128,
        learning_rate: float = 0.0001,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.l1 = torch.nn.Linear(28 * 28, self.hparams.hidden_dim)
        self.l2 = torch.nn.Linear(self.hparams.hidden_dim, 10)
        self.val_accuracy = Accuracy(task="multiclass", num_classes=10)  # edit: task= (torchmetrics >= 0.11)
        self.test_accuracy = Accuracy(task="multiclass", num_classes=10)  # edit: task=

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.l1(x))
        x = self.l2(x)
        return x

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        return {"loss": loss, "y_hat": y_hat.detach()}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        prob = F.softmax(self(x), dim=1)
        pred = torch.argmax(prob, dim=1)
        self.log("val_acc", self.val_accuracy(pred, y), prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        prob = F.softmax(self(x), dim=1)
        pred = torch.argmax(prob, dim=1)
        self.log("test_acc", self.test_accuracy(pred, y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


class DDPDataDemoModule(TutorialModule):

    def __init__(self, *args, **kwargs):  # edit: Lightning 2, outputs kept by the module
        super().__init__(*args, **kwargs)
        self.training_step_outputs = []

    def training_step(self, batch, batch_idx):  # edit: Lightning 2, outputs kept by the module
        out = super().training_step(batch, batch_idx)
        self.training_step_outputs.append(out)
        return out

    def on_train_epoch_end(self):  # edit: was training_epoch_end(self, outputs)
        outputs = self.training_step_outputs
        process_id = self.global_rank
        print(f"{process_id=} saw {len(outputs)} samples total")
        assert len(outputs) == N_TRAIN // self.trainer.world_size  # edit: an assert
        self.training_step_outputs.clear()

    def on_train_end(self):
        print(f"training set contains {len(self.trainer.datamodule.mnist_train)} samples")
        assert len(self.trainer.datamodule.mnist_train) == N_TRAIN  # edit: an assert


if __name__ == "__main__":
    seed_everything(1)
    model = DDPDataDemoModule()
    datamodule = MNISTDataModule(batch_size=1)

    trainer = Trainer(
        accelerator="cpu", devices=2, strategy="ddp",  # edit: was gpus=3, accelerator="ddp"
        max_epochs=1,
    )
    trainer.fit(model, datamodule=datamodule)
    assert trainer.world_size == 2  # edit: an assert
