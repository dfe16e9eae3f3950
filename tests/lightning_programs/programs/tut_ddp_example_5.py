# Source: https://github.com/Lightning-AI/tutorials/blob/main/lightning_examples/distributed-training/scripts/ddp_example_5.py
#   with its scripts/tutorial_model.py (the tutorial "Multi-GPU training"; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits (nothing else changed):
#  - `from tutorial_model import MNISTDataModule, TutorialModule` -> the two classes copied in
#    here (one file per program), below the script's imports;
#  - MNIST (a download; torchvision is not installable here) -> random 1x28x28 tensors with
#    labels, 64 test (32 per process), 16 train, 16 val samples; the transforms dropped;
#  - `Trainer(gpus=N, accelerator="ddp")` (Lightning 1.x) -> `accelerator="cpu", devices=2,
#    strategy="ddp"`: DDP on two CPU processes (gloo), Lightning launching the script again for
#    rank 1;
#  - torchmetrics' `Accuracy(num_classes=10)` gets `task="multiclass"` (torchmetrics >= 0.11);
#  - Lightning 2: `test_epoch_end(self, outputs)` (removed) -> `on_test_epoch_end(self)` over
#    the predictions that `test_step` now keeps (Lightning's migration guide's way);
#  - asserts on what each process prints (2 test batches of 16 on each of the 2 ranks).
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningDataModule, LightningModule, seed_everything, Trainer
from torch.utils.data import DataLoader, TensorDataset, random_split
from torchmetrics import Accuracy

N_TRAIN, N_VAL, N_TEST = 16, 16, 64

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


class DDPAllGatherDemoModule(TutorialModule):

    def __init__(self, *args, **kwargs):  # edit: Lightning 2, outputs kept by the module
        super().__init__(*args, **kwargs)
        self.test_step_outputs = []

    def test_step(self, batch, batch_idx):
        x, y = batch
        prob = F.softmax(self(x), dim=1)
        pred = torch.argmax(prob, dim=1)
        self.test_step_outputs.append(pred)  # edit: Lightning 2, outputs kept by the module
        return pred

    def on_test_epoch_end(self):  # edit: was test_epoch_end(self, outputs)
        outputs = self.test_step_outputs
        process_id = self.global_rank
        preds = torch.cat(outputs)
        print(f"{process_id=} saw {len(outputs)} test_step outputs, made {len(preds)} predictions")

        # gather all predictions into all processes
        all_preds = self.all_gather(preds)
        print(f"{process_id=} all-gathered {all_preds.shape[0]} x {all_preds.shape[1]} predictions")
        assert len(outputs) == 2 and len(preds) == 32  # edit: asserts
        assert tuple(all_preds.shape) == (2, 32)
        assert torch.equal(all_preds[self.global_rank], preds)

        # do something will all outputs
        # ...


if __name__ == "__main__":
    seed_everything(1)
    model = DDPAllGatherDemoModule()
    datamodule = MNISTDataModule()

    trainer = Trainer(
        accelerator="cpu", devices=2, strategy="ddp",  # edit: was gpus=4, accelerator="ddp"
        max_epochs=1,
    )
    trainer.test(model, datamodule=datamodule)
