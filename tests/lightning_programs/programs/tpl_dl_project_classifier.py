# Source: https://github.com/Lightning-AI/deep-learning-project-template/blob/master/project/lit_image_classifier.py
#   (Backbone, LitClassifier, cli_main)
# Edits: torchvision's MNIST -> random 1x28x28 images with labels; tiny sizes (55000/5000 split ->
#   448/64); Trainer.add_argparse_args / Trainer.from_argparse_args (removed in Lightning 2) ->
#   a --max_epochs argument passed to Trainer; `trainer.test(test_dataloaders=...)` (Lightning 1)
#   -> `trainer.test(dataloaders=...)`; the argument list given to parse_args; a tempfile dir as
#   default_root_dir; asserts on the printed result; `save_hyperparameters(learning_rate)` (a value:
#   Lightning 2 refuses primitives) -> `save_hyperparameters("learning_rate")` (its name).
import tempfile
from argparse import ArgumentParser

import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split


class Backbone(torch.nn.Module):
    def __init__(self, hidden_dim=128):
        super().__init__()
        self.l1 = torch.nn.Linear(28 * 28, hidden_dim)
        self.l2 = torch.nn.Linear(hidden_dim, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.l1(x))
        x = torch.relu(self.l2(x))
        return x


class LitClassifier(pl.LightningModule):
    def __init__(self, backbone, learning_rate=1e-3):
        super().__init__()
        # It's recomended to specify hyperparameters when using a backbone model.
        # Specifically, avoid saving backbone model
        self.save_hyperparameters("learning_rate")
        self.backbone = backbone

    def forward(self, x):
        # use forward for inference/predictions
        embedding = self.backbone(x)
        return embedding

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.backbone(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.backbone(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("valid_loss", loss, on_step=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.backbone(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("test_loss", loss)

    def configure_optimizers(self):
        # self.hparams available because we called self.save_hyperparameters()
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    @staticmethod
    def add_model_specific_args(parent_parser):
        parser = ArgumentParser(parents=[parent_parser], add_help=False)
        parser.add_argument("--learning_rate", type=float, default=0.0001)
        return parser


def MNIST(train):
    g = torch.Generator().manual_seed(0 if train else 1)
    n = 512 if train else 64
    return TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def cli_main(argv, root):
    pl.seed_everything(1234)

    # ------------
    # args
    # ------------
    parser = ArgumentParser()
    parser.add_argument("--batch_size", default=32, type=int)
    parser.add_argument("--hidden_dim", type=int, default=128)
    parser.add_argument("--max_epochs", type=int, default=None)
    parser = LitClassifier.add_model_specific_args(parser)
    args = parser.parse_args(argv)

    # ------------
    # data
    # ------------
    dataset = MNIST(train=True)
    mnist_test = MNIST(train=False)
    mnist_train, mnist_val = random_split(dataset, [448, 64])

    train_loader = DataLoader(mnist_train, batch_size=args.batch_size)
    val_loader = DataLoader(mnist_val, batch_size=args.batch_size)
    test_loader = DataLoader(mnist_test, batch_size=args.batch_size)

    # ------------
    # model
    # ------------
    model = LitClassifier(Backbone(hidden_dim=args.hidden_dim), args.learning_rate)

    # ------------
    # training
    # ------------
    trainer = pl.Trainer(max_epochs=args.max_epochs, default_root_dir=root)
    trainer.fit(model, train_loader, val_loader)

    # ------------
    # testing
    # ------------
    result = trainer.test(dataloaders=test_loader)
    print(result)
    return result


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as root:
        result = cli_main(["--max_epochs", "2", "--hidden_dim", "32", "--learning_rate", "0.001"], root)
    assert len(result) == 1 and set(result[0]) == {"test_loss"}, result
    print("OK")
