# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/test_cli.py
#   (test_lightning_cli_print_config, test_cli_configure_optimizers_warning,
#    test_lightning_cli_single_arg_callback, test_lightning_cli_help), with checks of
#   `--model.help CLASS` errors, `cli.config_init` and `SaveConfigCallback(multifile=True)`
#   written after Lightning 2.6.6's behaviour (lightning/pytorch/cli.py, jsonargparse's save).
# Edits: the tests turned into one __main__ program asserting what they asserted; pytest.raises
#   -> try/except SystemExit; pytest.warns/no_warning_call -> warnings.catch_warnings;
#   `mock_subclasses` left out (the classes named are the demos'); test_lightning_cli_help's check
#   of every Trainer argument left out (t_cli's and treadle's own tests cover `--help`).
#   Left out here, the names that are Lightning's own (t_cli_differences, an expected failure):
#   the `# lightning.pytorch==` header line of --print_config, the `LightningCLI` class name in
#   the configure_optimizers warning (matched up to it here) and the class path
#   `lightning.pytorch.callbacks.DeviceStatsMonitor` of a short name (its class checked here).
import os
import tempfile
import warnings
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from unittest import mock

import yaml

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import DeviceStatsMonitor, LearningRateMonitor
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel


def any_model_any_data_cli():
    LightningCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True)


def exits(fn, code=0):
    try:
        fn()
    except SystemExit as exc:
        assert (exc.code or 0) == code, (exc.code, code)
        return
    raise AssertionError("SystemExit not raised")


def test_lightning_cli_print_config():
    cli_args = [
        "any.py",
        "predict",
        "--seed_everything=1234",
        "--model=lightning.pytorch.demos.boring_classes.BoringModel",
        "--data=lightning.pytorch.demos.boring_classes.BoringDataModule",
        "--print_config",
    ]
    out = StringIO()
    with mock.patch("sys.argv", cli_args), redirect_stdout(out):
        exits(any_model_any_data_cli)

    text = out.getvalue()
    outval = yaml.safe_load(text)
    assert outval["seed_everything"] == 1234
    assert outval["model"]["class_path"] == "lightning.pytorch.demos.boring_classes.BoringModel"
    assert outval["data"]["class_path"] == "lightning.pytorch.demos.boring_classes.BoringDataModule"
    assert outval["ckpt_path"] is None
    assert text.startswith("# "), text.splitlines()[0]  # a header line (its name: t_cli_differences)


def test_cli_configure_optimizers_warning():
    match = "configure_optimizers` will be overridden by `"
    with mock.patch("sys.argv", ["any.py"]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LightningCLI(BoringModel, run=False)
    assert not any(match in str(w.message) for w in caught)
    with mock.patch("sys.argv", ["any.py", "--optimizer=Adam"]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LightningCLI(BoringModel, run=False)
    assert any(match in str(w.message) and issubclass(w.category, UserWarning) for w in caught), [
        str(w.message) for w in caught
    ]


def test_lightning_cli_single_arg_callback():
    with mock.patch("sys.argv", ["any.py", "--trainer.callbacks=DeviceStatsMonitor"]):
        cli = LightningCLI(BoringModel, run=False)

    assert cli.config.trainer.callbacks.class_path.endswith(".DeviceStatsMonitor"), cli.config.trainer.callbacks
    assert not isinstance(cli.config_init.trainer, list)
    assert isinstance(cli.config_init.trainer.callbacks, DeviceStatsMonitor)
    # the class path a Lightning configuration writes is accepted as it is
    with mock.patch("sys.argv", ["any.py", "--trainer.callbacks=lightning.pytorch.callbacks.DeviceStatsMonitor"]):
        cli = LightningCLI(BoringModel, run=False)
    assert isinstance(cli.config_init.trainer.callbacks, DeviceStatsMonitor)
    assert any(isinstance(c, DeviceStatsMonitor) for c in cli.trainer.callbacks)


def test_lightning_cli_help():
    cli_args = ["any.py", "fit", "--help"]
    out = StringIO()
    with mock.patch("sys.argv", cli_args), redirect_stdout(out):
        exits(any_model_any_data_cli)
    out = out.getvalue()

    assert "--print_config" in out
    assert "--config" in out
    assert "--seed_everything" in out
    assert "--model.help" in out
    assert "--data.help" in out

    cli_args = ["any.py", "fit", "--data.help=lightning.pytorch.demos.boring_classes.BoringDataModule"]
    out = StringIO()
    with mock.patch("sys.argv", cli_args), redirect_stdout(out):
        exits(any_model_any_data_cli)
    assert "BoringDataModule" in out.getvalue()


def test_subclass_help():
    # a short name, as `--model=BoringModel` takes it; the other groups with a class to choose
    for args, shown in (
        (["--model.help", "BoringModel"], "BoringModel"),
        (["--optimizer.help=Adam"], "--optimizer.lr"),
        (["--lr_scheduler.help", "StepLR"], "--lr_scheduler.step_size"),
        (["--trainer.callbacks.help", "EarlyStopping"], "--trainer.callbacks.monitor"),
    ):
        out = StringIO()
        with mock.patch("sys.argv", ["any.py", "fit", *args]), redirect_stdout(out):
            exits(any_model_any_data_cli)
        assert shown in out.getvalue(), (args, out.getvalue())
    # not a class: an error, exit code 2
    for args in (["--model.help", "NoSuchModel"], ["--model.help", "lightning.pytorch.callbacks.EarlyStopping"]):
        with mock.patch("sys.argv", ["any.py", "fit", *args]), redirect_stdout(StringIO()), redirect_stderr(
            StringIO()
        ):
            exits(any_model_any_data_cli, code=2)


def test_config_init_namespace():
    with mock.patch("sys.argv", ["any.py", "--trainer.max_epochs=3", "--optimizer=Adam", "--seed_everything=7"]):
        cli = LightningCLI(BoringModel, BoringDataModule, run=False)
    init = cli.config_init
    assert init.model is cli.model and init["model"] is cli.model
    assert init.data is cli.datamodule
    assert init.trainer.max_epochs == 3 and init["trainer"]["max_epochs"] == 3
    assert init.seed_everything == 7
    assert init.optimizer.class_path == "torch.optim.Adam"  # not built: configure_optimizers does
    assert init.lr_scheduler is None
    assert {"seed_everything", "trainer", "model", "data", "optimizer", "lr_scheduler"} <= set(init.as_dict())

    class MyCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")

    with mock.patch("sys.argv", ["any.py", "--lr_monitor.logging_interval=epoch"]):
        cli = MyCLI(BoringModel, run=False)
    assert isinstance(cli.config_init.lr_monitor, LearningRateMonitor)
    assert cli.config_init["lr_monitor"].logging_interval == "epoch"


def test_save_config_multifile():
    os.chdir(tempfile.mkdtemp())
    os.makedirs("conf")
    with open("conf/trainer.yaml", "w") as f:
        f.write("max_epochs: 1\nlimit_train_batches: 1\nlimit_val_batches: 1\nenable_progress_bar: false\n")
    with open("conf/main.yaml", "w") as f:
        f.write("trainer: trainer.yaml\nseed_everything: 3\n")  # relative to the file naming it
    for args in (["--config", "conf/main.yaml"], ["--trainer", "conf/trainer.yaml", "--seed_everything=3"]):
        root = tempfile.mkdtemp()
        argv = ["any.py", "fit", *args, f"--trainer.default_root_dir={root}"]
        with mock.patch("sys.argv", argv):
            cli = LightningCLI(BoringModel, BoringDataModule, save_config_kwargs={"multifile": True})
        assert cli.trainer.max_epochs == 1
        log_dir = cli.trainer.log_dir
        with open(os.path.join(log_dir, "config.yaml")) as f:
            main = yaml.safe_load(f)
        assert main["trainer"] == "trainer.yaml", main
        assert main["seed_everything"] == 3
        with open(os.path.join(log_dir, "trainer.yaml")) as f:
            trainer = yaml.safe_load(f)
        # the resolved section: the file's values and the command line's
        assert trainer["max_epochs"] == 1 and trainer["limit_train_batches"] == 1
        assert trainer["default_root_dir"] == root
    # without multifile: one file, the section written in it
    root = tempfile.mkdtemp()
    with mock.patch("sys.argv", ["any.py", "fit", "--config", "conf/main.yaml", f"--trainer.default_root_dir={root}"]):
        cli = LightningCLI(BoringModel, BoringDataModule)
    with open(os.path.join(cli.trainer.log_dir, "config.yaml")) as f:
        main = yaml.safe_load(f)
    assert main["trainer"]["max_epochs"] == 1
    assert not os.path.exists(os.path.join(cli.trainer.log_dir, "trainer.yaml"))


if __name__ == "__main__":
    for test in (
        test_lightning_cli_print_config,
        test_cli_configure_optimizers_warning,
        test_lightning_cli_single_arg_callback,
        test_lightning_cli_help,
        test_subclass_help,
        test_config_init_namespace,
        test_save_config_multifile,
    ):
        test()
    print("ok")
