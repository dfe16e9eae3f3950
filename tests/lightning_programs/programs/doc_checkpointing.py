# Source: https://lightning.ai/docs/pytorch/stable/common/checkpointing_basic.html and
#   https://lightning.ai/docs/pytorch/stable/common/checkpointing_intermediate.html
#   (docs/source-pytorch/common/checkpointing_basic.rst, checkpointing_intermediate.rst)
# Edits: the pages' snippets joined into one program with a small autoencoder on random tensors
#   (the pages' `LitModel`/`MyLightningModule` bodies filled in); paths "some/path/",
#   "my/path/" -> a tempfile dir; asserts on what the pages say happens.
import os
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Encoder(nn.Module):
    def __init__(self, in_dim, hidden):
        super().__init__()
        self.l1 = nn.Linear(in_dim, hidden)

    def forward(self, x):
        return torch.relu(self.l1(x))


class MyLightningModule(LightningModule):
    def __init__(self, learning_rate, another_parameter, in_dim=16, out_dim=4, *args, **kwargs):
        super().__init__()
        self.save_hyperparameters()
        self.learning_rate = learning_rate
        self.encoder = Encoder(in_dim, 8)
        self.decoder = nn.Linear(8, out_dim)

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate)


def loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=g)
    y = x[:, :4] * 2
    return DataLoader(TensorDataset(x, y), batch_size=16), DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as root:
        # saves checkpoints to 'some/path/' at every epoch end
        trainer = Trainer(default_root_dir=root, max_epochs=2)
        model = MyLightningModule(learning_rate=0.05, another_parameter="abc")
        trainer.fit(model, *loaders())
        ckpt_dir = os.path.join(root, "lightning_logs", "version_0", "checkpoints")
        assert os.listdir(ckpt_dir) == ["epoch=1-step=8.ckpt"], os.listdir(ckpt_dir)
        path = os.path.join(ckpt_dir, "epoch=1-step=8.ckpt")

        # LightningModule from checkpoint
        model = MyLightningModule.load_from_checkpoint(path)
        # disable randomness, dropout, etc...
        model.eval()
        # predict with the model
        x = torch.randn(2, 16)
        y_hat = model(x)
        assert y_hat.shape == (2, 4)

        # Save hyperparameters
        checkpoint = torch.load(path, map_location=lambda storage, loc: storage)
        print(checkpoint["hyper_parameters"])
        assert checkpoint["hyper_parameters"]["learning_rate"] == 0.05
        assert checkpoint["hyper_parameters"]["another_parameter"] == "abc"
        model = MyLightningModule.load_from_checkpoint(path)
        print(model.learning_rate)
        assert model.learning_rate == 0.05

        # Initialize with other parameters
        model = MyLightningModule.load_from_checkpoint(path, learning_rate=0.5)
        assert model.learning_rate == 0.5 and model.hparams.learning_rate == 0.5

        # nn.Module from checkpoint
        checkpoint = torch.load(path)
        encoder_weights = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
        encoder_weights = {k.replace("encoder.", ""): v for k, v in encoder_weights.items()}
        encoder = Encoder(16, 8)
        encoder.load_state_dict(encoder_weights)

        # disable checkpointing
        trainer = Trainer(default_root_dir=os.path.join(root, "off"), enable_checkpointing=False, max_epochs=1)
        trainer.fit(MyLightningModule(0.05, "x"), *loaders())
        assert not os.path.exists(os.path.join(root, "off", "lightning_logs", "version_0", "checkpoints"))

        # resume training state
        model = MyLightningModule(learning_rate=0.05, another_parameter="abc")
        trainer = Trainer(default_root_dir=root, max_epochs=3)
        trainer.fit(model, *loaders(), ckpt_path=path)
        assert trainer.global_step == 12

        # intermediate: ModelCheckpoint on a logged metric
        checkpoint_callback = ModelCheckpoint(
            dirpath=os.path.join(root, "my/path/"),
            filename="sample-mnist-{epoch:02d}-{val_loss:.2f}",
            save_top_k=2,
            monitor="val_loss",
        )
        trainer = Trainer(callbacks=[checkpoint_callback], max_epochs=3, default_root_dir=root)
        trainer.fit(MyLightningModule(0.05, "abc"), *loaders())
        files = sorted(os.listdir(os.path.join(root, "my/path/")))
        assert len(files) == 2 and all(f.startswith("sample-mnist-epoch=") for f in files), files
        assert checkpoint_callback.best_model_path.endswith(".ckpt")
        assert checkpoint_callback.best_model_score is not None

        # save manually
        trainer.save_checkpoint(os.path.join(root, "example.ckpt"))
        new_model = MyLightningModule.load_from_checkpoint(checkpoint_path=os.path.join(root, "example.ckpt"))
        assert new_model.hparams.another_parameter == "abc"
    print("OK")
