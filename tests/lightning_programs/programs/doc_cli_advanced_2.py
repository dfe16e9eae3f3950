# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_advanced_2.html
#   (pytorch-lightning docs/source-pytorch/cli/lightning_cli_advanced_2.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the command lines given as `args=` lists (lightning_cli_advanced_3's "Run from
#   Python" form) to LightningCLI on DemoModel and BoringDataModule (the page's main.py), with
#   tiny limits and a temporary `default_root_dir`; the page's MyModel/MyDataModule (its
#   testsetup) filled in to train; a DemoModel with a `test_step` for `test`. Asserted: a config given before the subcommand with `fit:`
#   and `test:` sections sets `max_steps` for fit and `max_epochs` for test; raw YAML in
#   `--trainer "$TRAINER_CONFIG" --model "$MODEL_CONFIG"`; `parser_kwargs={"default_env":
#   True}` reads `PL_FIT__MODEL__LEARNING_RATE`/`PL_FIT__MODEL__OUT_DIM` from the environment
#   and `fit --help` names them; `default_config_files`, also per subcommand (the file given
#   for the whole CLI has `fit:` sections: Lightning 2.6.6 refuses `model:` before the
#   subcommand). Left out: the
#   s3:// config (no cloud here; remote_fs is doc_remote_fs) and the omegaconf interpolation
#   (omegaconf is not installed with Lightning; `parser_mode="omegaconf"` needs it).
import contextlib
import io
import os
import tempfile
from typing import List

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringDataModule, DemoModel, RandomDataset
from torch.utils.data import DataLoader

ROOT = tempfile.mkdtemp()
os.chdir(ROOT)  # the config files the page names are relative to the working folder


def limits():
    return [
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.limit_test_batches=1",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tempfile.mkdtemp()}",
    ]


# Customize arguments by subcommand: the config before the subcommand
with open("config.yaml", "w") as f:
    f.write("fit:\n    trainer:\n        max_steps: 3\ntest:\n    trainer:\n        max_epochs: 10\n")
# full routine with max_steps (the page's 100 -> 3)
cli = LightningCLI(DemoModel, BoringDataModule, args=["--config", "config.yaml", "fit", *limits(), "--trainer.limit_train_batches=10"])
assert cli.trainer.max_steps == 3 and cli.trainer.global_step == 3
# test only with max_epochs = 10
class Tested(DemoModel):  # added: DemoModel has no test_step
    def test_step(self, batch, batch_idx):
        self.log("test_loss", self(batch).sum())


cli = LightningCLI(Tested, BoringDataModule, args=["--config", "config.yaml", "test", *limits()])
assert cli.trainer.max_epochs == 10 and cli.trainer.max_steps == -1

# Use a config via environment variables: raw yaml in the arguments
TRAINER_CONFIG = "{max_epochs: 2, limit_train_batches: 2, limit_val_batches: 1, logger: false, enable_checkpointing: false, enable_progress_bar: false}"
MODEL_CONFIG = "{out_dim: 4, learning_rate: 0.05}"
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", f"--trainer.default_root_dir={tempfile.mkdtemp()}", "--trainer", TRAINER_CONFIG, "--model", MODEL_CONFIG])
assert cli.trainer.max_epochs == 2 and cli.trainer.current_epoch == 2
assert cli.model.l1.out_features == 4 and cli.model.learning_rate == 0.05

# Run from environment variables directly
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        LightningCLI(DemoModel, BoringDataModule, parser_kwargs={"default_env": True}, args=["fit", "--help"])
    except SystemExit as exc:
        assert exc.code in (0, None)
assert "PL_FIT__MODEL__OUT_DIM" in out.getvalue() and "PL_FIT__MODEL__LEARNING_RATE" in out.getvalue(), out.getvalue()[-3000:]
os.environ["PL_FIT__MODEL__LEARNING_RATE"] = "0.01"
os.environ["PL_FIT__MODEL__OUT_DIM"] = "5"
cli = LightningCLI(DemoModel, BoringDataModule, parser_kwargs={"default_env": True}, args=["fit", *limits(), "--trainer.max_epochs=1"])
assert cli.model.learning_rate == 0.01 and cli.model.l1.out_features == 5
cli = LightningCLI(DemoModel, BoringDataModule, parser_kwargs={"default_env": True}, args=["fit", *limits(), "--trainer.max_epochs=1", "--model.out_dim=6"])
assert cli.model.l1.out_features == 6  # the command line wins over the environment
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", *limits(), "--trainer.max_epochs=1"])
assert cli.model.learning_rate == 0.02 and cli.model.l1.out_features == 10  # not without default_env
del os.environ["PL_FIT__MODEL__LEARNING_RATE"], os.environ["PL_FIT__MODEL__OUT_DIM"]


# Set default config files (the page's testsetup classes, filled in to train)
class MyModel(LightningModule):
    def __init__(
        self,
        encoder_layers: int = 12,
        decoder_layers: List[int] = [2, 4],
        batch_size: int = 8,
    ):
        super().__init__()
        self.encoder_layers, self.decoder_layers, self.batch_size = encoder_layers, decoder_layers, batch_size
        self.layer = torch.nn.Linear(32, 2)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class MyDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 8):
        super().__init__()
        self.num_classes = 5
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 16), batch_size=self.batch_size)


with open("my_cli_defaults.yaml", "w") as f:
    f.write("fit:\n  model:\n    encoder_layers: 3\n  data:\n    batch_size: 4\n")
with open("my_fit_defaults.yaml", "w") as f:
    f.write("model:\n  decoder_layers: [1, 1]\n")
cli = LightningCLI(MyModel, MyDataModule, parser_kwargs={"default_config_files": ["my_cli_defaults.yaml"]}, args=["fit", *limits(), "--trainer.max_epochs=1"])
assert cli.model.encoder_layers == 3 and cli.datamodule.batch_size == 4 and cli.model.decoder_layers == [2, 4]
cli = LightningCLI(MyModel, MyDataModule, parser_kwargs={"fit": {"default_config_files": ["my_fit_defaults.yaml"]}}, args=["fit", *limits(), "--trainer.max_epochs=1"])
assert cli.model.decoder_layers == [1, 1] and cli.model.encoder_layers == 12
print("cli advanced 2: per-subcommand configs, raw YAML, environment variables, default config files")
