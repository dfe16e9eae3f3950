# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_intermediate_2.html
#   (pytorch-lightning docs/source-pytorch/cli/lightning_cli_intermediate_2.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's four main.py files joined in one program, each `LightningCLI(...)` given
#   the page's command lines as `args=` lists (lightning_cli_advanced_3's "Run from Python"
#   form) with tiny limits, a new temporary `default_root_dir` each and no logger or checkpoints;
#   stdout captured and the page's "⚡ using X ⚡" lines asserted, with the chosen class's
#   instance (`cli.model`, `cli.datamodule`, `cli.trainer.optimizers`, the schedulers, which a
#   callback added in `trainer_defaults` keeps: the Trainer drops them at the end);
#   `--optimizer=Adam` added to the scheduler lines (Lightning 2.6.6 applies `--lr_scheduler`
#   only with an `--optimizer`, else the model's own `configure_optimizers` runs, as asserted
#   once); the ReduceLROnPlateau line (`--lr_scheduler.monitor=epoch`) run with a DemoModel
#   that logs "epoch" (DemoModel logs nothing: Lightning 2.6.6 refuses a monitor never logged,
#   a logger's own "epoch" not being one of the callback metrics). The
#   first file's `BoringDataModule` imported (the page's import line lacks it). "Classes from
#   any package": a class given by its full import path (this program's `__main__.Model1`;
#   no `my_code` package here). "Help for specific classes": `--model.help Model1`,
#   `--data.help FakeDataset2`, `--optimizer.help Adagrad`, `--lr_scheduler.help StepLR` print
#   the class's own parameters and exit 0. The subclass_mode tips: a base class with
#   `subclass_mode_model=True` accepts its subclass and refuses another model.
import contextlib
import io
import tempfile

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringDataModule, DemoModel

LIMITS = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.logger=false",
    "--trainer.enable_checkpointing=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


class Schedulers(Callback):  # added: the run's schedulers (the Trainer drops them at its end)
    configs: list = []

    def on_train_end(self, trainer, pl_module):
        Schedulers.configs = list(trainer.lr_scheduler_configs)


def run(*args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # (a folder of its own: each run's SaveConfigCallback writes config.yaml there)
        cli = LightningCLI(args=[args[0], *LIMITS, f"--trainer.default_root_dir={tempfile.mkdtemp()}", *args[1:]], trainer_defaults={"callbacks": [Schedulers()]}, **kwargs)
    return cli, out.getvalue()


# Multiple LightningModules
class Model1(DemoModel):
    def configure_optimizers(self):
        print("⚡", "using Model1", "⚡")
        return super().configure_optimizers()


class Model2(DemoModel):
    def configure_optimizers(self):
        print("⚡", "using Model2", "⚡")
        return super().configure_optimizers()


# use Model1 / use Model2
cli, out = run("fit", "--model", "Model1", datamodule_class=BoringDataModule)
assert "⚡ using Model1 ⚡" in out and type(cli.model) is Model1, out
cli, out = run("fit", "--model", "Model2", datamodule_class=BoringDataModule)
assert "⚡ using Model2 ⚡" in out and type(cli.model) is Model2, out
assert cli.trainer.global_step == 2

# a base class and subclass_mode_model=True: only its subclasses are accepted
cli, out = run("fit", "--model", "Model2", model_class=DemoModel, datamodule_class=BoringDataModule, subclass_mode_model=True)
assert type(cli.model) is Model2
err = io.StringIO()
with contextlib.redirect_stderr(err):
    try:
        run("fit", "--model", "Model2", model_class=Model1, datamodule_class=BoringDataModule, subclass_mode_model=True)
        raise AssertionError("Model2 is no subclass of Model1")
    except SystemExit as exc:
        assert exc.code != 0


# Multiple LightningDataModules
class FakeDataset1(BoringDataModule):
    def train_dataloader(self):
        print("⚡", "using FakeDataset1", "⚡")
        return torch.utils.data.DataLoader(self.random_train)


class FakeDataset2(BoringDataModule):
    def train_dataloader(self):
        print("⚡", "using FakeDataset2", "⚡")
        return torch.utils.data.DataLoader(self.random_train)


cli, out = run("fit", "--data", "FakeDataset1", model_class=DemoModel)
assert "⚡ using FakeDataset1 ⚡" in out and type(cli.datamodule) is FakeDataset1, out
cli, out = run("fit", "--data", "FakeDataset2", model_class=DemoModel)
assert "⚡ using FakeDataset2 ⚡" in out and type(cli.datamodule) is FakeDataset2, out
# subclass_mode_data=True with a base class
cli, out = run("fit", "--data", "FakeDataset2", model_class=DemoModel, datamodule_class=BoringDataModule, subclass_mode_data=True)
assert type(cli.datamodule) is FakeDataset2

# Multiple optimizers: standard ones from torch.optim, with their arguments
cli, out = run("fit", "--optimizer", "AdamW", model_class=DemoModel, datamodule_class=BoringDataModule)
assert type(cli.trainer.optimizers[0]) is torch.optim.AdamW
cli, out = run("fit", "--optimizer", "SGD", "--optimizer.lr=0.01", model_class=DemoModel, datamodule_class=BoringDataModule)
[optimizer] = cli.trainer.optimizers
assert type(optimizer) is torch.optim.SGD and optimizer.param_groups[0]["lr"] == 0.01


class LitAdam(torch.optim.Adam):
    def step(self, closure):
        print("⚡", "using LitAdam", "⚡")
        super().step(closure)


class FancyAdam(torch.optim.Adam):
    def step(self, closure):
        print("⚡", "using FancyAdam", "⚡")
        super().step(closure)


cli, out = run("fit", "--optimizer", "LitAdam", model_class=DemoModel, datamodule_class=BoringDataModule)
assert out.count("⚡ using LitAdam ⚡") == 2 and type(cli.trainer.optimizers[0]) is LitAdam, out
cli, out = run("fit", "--optimizer", "FancyAdam", model_class=DemoModel, datamodule_class=BoringDataModule)
assert out.count("⚡ using FancyAdam ⚡") == 2 and type(cli.trainer.optimizers[0]) is FancyAdam, out

# Multiple schedulers
class EpochLogged(DemoModel):  # added: the metric `--lr_scheduler.monitor=epoch` reads
    def training_step(self, batch, batch_idx):
        self.log("epoch", float(self.current_epoch))
        return super().training_step(batch, batch_idx)


cli, out = run("fit", "--lr_scheduler", "CosineAnnealingLR", "--lr_scheduler.T_max=10", model_class=DemoModel, datamodule_class=BoringDataModule)
assert Schedulers.configs == []  # without --optimizer: the model's own configure_optimizers
cli, out = run("fit", "--optimizer=Adam", "--lr_scheduler", "CosineAnnealingLR", "--lr_scheduler.T_max=10", model_class=DemoModel, datamodule_class=BoringDataModule)
[config] = Schedulers.configs
assert type(config.scheduler) is torch.optim.lr_scheduler.CosineAnnealingLR and config.scheduler.T_max == 10
cli, out = run("fit", "--optimizer=Adam", "--lr_scheduler=ReduceLROnPlateau", "--lr_scheduler.monitor=epoch", model_class=EpochLogged, datamodule_class=BoringDataModule)
[config] = Schedulers.configs
assert isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and config.monitor == "epoch"  # (the CLI's own subclass)


class LitLRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR):
    def step(self):
        print("⚡", "using LitLRScheduler", "⚡")
        super().step()


cli, out = run("fit", "--optimizer=Adam", "--lr_scheduler", "LitLRScheduler", "--lr_scheduler.T_max=10", model_class=DemoModel, datamodule_class=BoringDataModule)
assert "⚡ using LitLRScheduler ⚡" in out and type(Schedulers.configs[0].scheduler) is LitLRScheduler, out

# Classes from any package: all four chosen by name, then one by its full import path
cli, out = run("fit", "--model", "Model1", "--data", "FakeDataset1", "--optimizer", "LitAdam", "--lr_scheduler", "LitLRScheduler", "--lr_scheduler.T_max=10")
for name in ("FakeDataset1", "LitAdam", "LitLRScheduler"):
    assert f"⚡ using {name} ⚡" in out, (name, out)
# (Model1's own configure_optimizers, which prints, is replaced by the --optimizer one)
assert type(cli.model) is Model1 and "using Model1" not in out
cli, out = run("fit", "--model", "__main__.Model1", datamodule_class=BoringDataModule)
assert type(cli.model) is Model1

# Help for specific classes
for args, words in (
    (["--model.help", "Model1"], ["out_dim", "learning_rate"]),
    (["--data.help", "FakeDataset2"], ["FakeDataset2"]),  # (no arguments of its own)
    (["--optimizer.help", "Adagrad"], ["lr_decay"]),
    (["--lr_scheduler.help", "StepLR"], ["step_size"]),
):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            LightningCLI(args=["fit", *args])
            raise AssertionError(f"{args} did not exit")
        except SystemExit as exc:
            assert exc.code in (0, None), (args, exc.code)
    for word in words:
        assert word in out.getvalue(), (args, word, out.getvalue()[-2000:])
print("cli intermediate 2: models, data modules, optimizers and schedulers chosen from the command line")
