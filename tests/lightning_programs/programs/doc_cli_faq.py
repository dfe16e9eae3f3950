# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_faq.html
#   (pytorch-lightning docs/source-pytorch/cli/lightning_cli_faq.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: main.py is `LightningCLI(DemoModel, BoringDataModule)` (a DemoModel with a test_step);
#   command lines given as `args=` lists, with tiny limits; the page's YAML example read back
#   with `yaml.safe_load` (its `max_speed:100` lines, no space after the colon, are plain strings).
#   Asserted: `--help` lists the four subcommands with the page's descriptions; `fit` and `test`
#   run; `--option value` and `--option=value` both parse and the rightmost repetition wins; the
#   override order (source defaults < `default_config_files` < `PL_FIT__CONFIG` <
#   `PL_FIT__SEED_EVERYTHING` < the command line, with `parser_kwargs={"default_env": True}`),
#   each layer overriding the one before; a failing CLI exits non-zero with a short message.
#   Left out: `JSONARGPARSE_DEBUG` (what it prints is jsonargparse's stack trace).
import contextlib
import io
import os
import tempfile

import yaml
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringDataModule, DemoModel

ROOT = tempfile.mkdtemp()
os.chdir(ROOT)


class Model(DemoModel):
    def test_step(self, batch, batch_idx):
        self.log("test_loss", self(batch).sum())


def limits():
    return [
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.limit_test_batches=1",
        "--trainer.max_epochs=1",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tempfile.mkdtemp()}",
    ]


def exits(args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            LightningCLI(Model, BoringDataModule, args=args, **kwargs)
        except SystemExit as e:
            return e.code, out.getvalue(), err.getvalue()
    raise AssertionError(f"{args} did not exit")


# What is a yaml config file?
with open("file.yaml", "w") as f:
    f.write("car:\n    max_speed:100\n    max_passengers:2\nplane:\n    fuel_capacity: 50\n"
            "class_3:\n    option_1: 'x'\n    option_2: 'y'\n")
with open("file.yaml") as f:
    assert yaml.safe_load(f) == {"car": "max_speed:100 max_passengers:2", "plane": {"fuel_capacity": 50},
                                 "class_3": {"option_1": "x", "option_2": "y"}}

# What is a subcommand? `python main.py --help`
code, out, _ = exits(["--help"])
assert code == 0
for line in ("fit                 Runs the full optimization routine.",
             "validate            Perform one evaluation epoch over the validation set.",
             "test                Perform one evaluation epoch over the test set.",
             "predict             Run inference on your data."):
    assert line in out, out
cli = LightningCLI(Model, BoringDataModule, args=["fit", *limits()])
assert cli.trainer.global_step == 2
cli = LightningCLI(Model, BoringDataModule, args=["test", *limits()])
assert "test_loss" in cli.trainer.callback_metrics

# The relation with argparse: `--option value` or `--option=value`, the rightmost wins.
cli = LightningCLI(Model, BoringDataModule, args=["fit", *limits(), "--model.out_dim", "4", "--trainer.max_steps=1"])
assert cli.model.l1.out_features == 4 and cli.trainer.max_steps == 1
cli = LightningCLI(Model, BoringDataModule, args=["fit", *limits(), "--model.out_dim=4", "--model.out_dim", "6"])
assert cli.model.l1.out_features == 6

# The override order.
defaults = os.path.join(ROOT, "defaults.yaml")
with open(defaults, "w") as f:
    f.write("fit:\n  seed_everything: 1\n  model:\n    out_dim: 3\n    learning_rate: 0.5\n  trainer:\n    max_steps: 1\n")


def order(env, *args):
    for name, value in env.items():
        os.environ[name] = value
    try:
        return LightningCLI(Model, BoringDataModule, parser_kwargs={"default_config_files": [defaults], "default_env": True},
                            args=["fit", *limits(), *args])
    finally:
        for name in env:
            del os.environ[name]


cli = LightningCLI(Model, BoringDataModule, args=["fit", *limits()])  # 1. defaults in the source
assert cli.model.l1.out_features == 10 and cli.model.learning_rate == 0.02 and cli.trainer.max_steps == -1
cli = order({})  # 2. default config files
assert cli.model.l1.out_features == 3 and cli.model.learning_rate == 0.5 and cli.trainer.max_steps == 1
assert cli.config["fit"]["seed_everything"] == 1
whole = "model:\n  out_dim: 5\nseed_everything: 2\n"
cli = order({"PL_FIT__CONFIG": whole})  # 3. the entire config variable
assert cli.model.l1.out_features == 5 and cli.model.learning_rate == 0.5 and cli.config["fit"]["seed_everything"] == 2
cli = order({"PL_FIT__CONFIG": whole, "PL_FIT__SEED_EVERYTHING": "7"})  # 4. one argument's variable
assert cli.config["fit"]["seed_everything"] == 7 and cli.model.l1.out_features == 5
cli = order({"PL_FIT__CONFIG": whole, "PL_FIT__SEED_EVERYTHING": "7"}, "--seed_everything=9", "--model.out_dim=8")  # 5.
assert cli.config["fit"]["seed_everything"] == 9 and cli.model.l1.out_features == 8 and cli.trainer.max_steps == 1

# How do I troubleshoot a CLI? A failing CLI ends with a non-zero code and a short message.
code, out, err = exits(["fit", "--model.out_dim=notanumber"])
assert code not in (0, None), code
assert "out_dim" in err and "Traceback" not in err, err[-2000:]
print("cli faq: ok")
