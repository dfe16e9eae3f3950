# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_advanced.html
#   (pytorch-lightning docs/source-pytorch/cli/lightning_cli_advanced.rst; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits: main.py is `LightningCLI(DemoModel, BoringDataModule)` (`subclass_mode_model=True` for
#   `--model DemoModel`); command lines as `args=` lists with tiny limits; the page's
#   `num_epochs` (not a Trainer argument) -> `max_epochs`, its `data_dir` (BoringDataModule takes
#   none in 2.6.6) left out; MyModel's criterion config run with a MyModel of this file; the
#   LoggerSaveConfigCallback's `extra_save_config` -> `save_config` (the name Lightning 2.6.6 calls), it
#   given a CSVLogger subclass recording `log_hyperparams` (given as
#   `--trainer.logger=__main__.RecordingLogger`); `--print_config` output read back with yaml. Asserted: `--config` and an
#   override after it, `config.yaml` saved in the log folder and refitting from it, no file with
#   `save_config_callback=None`, `config_filename`, `extra_save_config`, the printed configs,
#   composed config files (the last wins) and groups of options as files. Left out: `nano`, the
#   `dict_kwargs` PyTorchProfiler example (a profiler run).
import contextlib
import io
import os
import tempfile

import torch
import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.demos.boring_classes import BoringDataModule, DemoModel
from lightning.pytorch.loggers import CSVLogger, Logger

ROOT = tempfile.mkdtemp()
os.chdir(ROOT)



def quiet():
    return ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--trainer.enable_checkpointing=false", f"--trainer.default_root_dir={tempfile.mkdtemp()}"]


def printed(args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            LightningCLI(DemoModel, BoringDataModule, args=args, **kwargs)
        except SystemExit as e:
            assert e.code in (0, None), e.code
    return yaml.safe_load(out.getvalue())


# Run using a config file; an argument overrides it.
with open("config.yaml", "w") as f:
    f.write("trainer:\n  max_epochs: 2\n  logger: false\nmodel:\n  out_dim: 4\n")
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", "--config", "config.yaml", *quiet()])
assert cli.trainer.max_epochs == 2 and cli.model.l1.out_features == 4 and cli.trainer.global_step == 4
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", "--config", "config.yaml", "--trainer.max_epochs", "1", *quiet()])
assert cli.trainer.max_epochs == 1 and cli.trainer.global_step == 2

# Automatic save of config, and a refit from it.
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", *quiet(), "--trainer.max_epochs=1", "--model.out_dim=3"])
saved = os.path.join(cli.trainer.log_dir, "config.yaml")
assert os.path.isfile(saved), os.listdir(cli.trainer.log_dir)
with open(saved) as f:
    assert yaml.safe_load(f)["model"]["out_dim"] == 3
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", "--config", saved])
assert cli.model.l1.out_features == 3 and cli.trainer.global_step == 2
cli = LightningCLI(DemoModel, BoringDataModule, save_config_callback=None, args=["fit", *quiet(), "--trainer.max_epochs=1"])
assert not os.path.exists(os.path.join(cli.trainer.log_dir, "config.yaml"))
cli = LightningCLI(DemoModel, BoringDataModule, save_config_kwargs={"config_filename": "name.yaml"},
                   args=["fit", *quiet(), "--trainer.max_epochs=1"])
assert os.path.isfile(os.path.join(cli.trainer.log_dir, "name.yaml"))
assert not os.path.exists(os.path.join(cli.trainer.log_dir, "config.yaml"))


class RecordingLogger(CSVLogger):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorded = []

    def log_hyperparams(self, params, *args, **kwargs):
        self.recorded.append(params)
        super().log_hyperparams(params, *args, **kwargs)


class LoggerSaveConfigCallback(SaveConfigCallback):
    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if isinstance(trainer.logger, Logger):
            config = self.parser.dump(self.config)  # Required for proper reproducibility
            trainer.logger.log_hyperparams({"config": config})


cli = LightningCLI(DemoModel, BoringDataModule, save_config_callback=LoggerSaveConfigCallback,
                   args=["fit", "--trainer.logger=__main__.RecordingLogger", f"--trainer.logger.save_dir={tempfile.mkdtemp()}", *quiet(), "--trainer.max_epochs=1", "--model.out_dim=5"])
logger = cli.trainer.logger
assert isinstance(logger, RecordingLogger), logger
dumped = [p["config"] for p in logger.recorded if "config" in p]
assert len(dumped) == 1 and yaml.safe_load(dumped[0])["model"]["out_dim"] == 5, logger.recorded

# Prepare a config file for the CLI.
config = printed(["fit", "--print_config"])
assert config["model"] == {"out_dim": 10, "learning_rate": 0.02}, config["model"]
assert config["ckpt_path"] is None and "seed_everything" in config
assert "trainer" in config and "max_epochs" in config["trainer"]
config = printed(["fit", "--model", "DemoModel", "--print_config"], subclass_mode_model=True)
assert config["model"]["class_path"].endswith("DemoModel"), config["model"]
assert config["model"]["init_args"] == {"out_dim": 10, "learning_rate": 0.02}, config["model"]
with open("printed.yaml", "w") as f:  # python main.py fit --print_config > config.yaml
    yaml.safe_dump(printed(["fit", "--print_config", "--model.out_dim=6"]), f)
cli = LightningCLI(DemoModel, BoringDataModule, args=["fit", "--config", "printed.yaml", *quiet(), "--trainer.max_epochs=1", "--trainer.logger=false"])
assert cli.model.l1.out_features == 6 and cli.trainer.global_step == 2


class MyModel(DemoModel):
    def __init__(self, criterion: torch.nn.Module):
        super().__init__()
        self.criterion = criterion


with open("criterion.yaml", "w") as f:
    f.write("model:\n  class_path: __main__.MyModel\n  init_args:\n    criterion:\n"
            "      class_path: torch.nn.CrossEntropyLoss\n      init_args:\n        reduction: mean\n")
cli = LightningCLI(DemoModel, BoringDataModule, subclass_mode_model=True, run=False, args=["--config", "criterion.yaml"])
assert isinstance(cli.model, MyModel) and isinstance(cli.model.criterion, torch.nn.CrossEntropyLoss)
assert cli.model.criterion.reduction == "mean"

# Compose config files: the last one wins.
with open("config_1.yaml", "w") as f:
    f.write("trainer:\n  max_epochs: 10\n")
with open("config_2.yaml", "w") as f:
    f.write("trainer:\n  max_epochs: 20\n")
cli = LightningCLI(DemoModel, BoringDataModule, run=False, args=["--config", "config_1.yaml", "--config", "config_2.yaml"])
assert cli.trainer.max_epochs == 20

# Use groups of options.
with open("trainer.yaml", "w") as f:
    f.write("max_epochs: 10\n")
with open("model.yaml", "w") as f:
    f.write("out_dim: 7\n")
cli = LightningCLI(DemoModel, BoringDataModule, run=False, args=["--trainer", "trainer.yaml", "--model", "model.yaml"])
assert cli.trainer.max_epochs == 10 and cli.model.l1.out_features == 7
print("lightning_cli_advanced: ok")
