"""``treadle.cli.CLI``: ``--KEY.help CLASS`` (jsonargparse's help of one subclass),
``cli.config_init`` (every section, built) and sections read from files of their own with
``SaveConfigCallback(multifile=True)``, as ``LightningCLI`` 2.6.6 has them (docs/cli.md).
Behaviour ported from tests/tests_pytorch/test_cli.py (credit on each test) or read from
Lightning 2.6.6 run on the same arguments."""

from __future__ import annotations

import sys

import pytest
import yaml

import treadle
from treadle.callbacks import DeviceStatsMonitor, LearningRateMonitor
from treadle.cli import CLI, SaveConfigCallback
from treadle.demos.boring_classes import BoringDataModule, BoringModel

QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
}


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["any.py"])  # args= alone, no warning
    monkeypatch.chdir(tmp_path)


class HelpModel(BoringModel):
    """A model for the help tests.

    More text that the help leaves out."""

    def __init__(self, width: int, lr: float = 0.1) -> None:
        super().__init__()
        self.width, self.lr = width, lr


def _any_cli(args):
    return CLI(
        treadle.Module,
        treadle.DataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
    )


# -- --KEY.help CLASS -----------------------------------------------------------------------------


def test_help_of_a_subclass_by_name_or_class_path(capsys):
    # Ported from test_cli.py::test_lightning_cli_help (the `--data.help` part)
    for name in ("HelpModel", f"{__name__}.HelpModel"):
        with pytest.raises(SystemExit) as exc:
            _any_cli(["fit", "--model.help", name])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert f"Help for --model.help={__name__}.HelpModel" in out
        assert "A model for the help tests:" in out and "More text" not in out
        assert "--model.width int  (required)" in out
        assert "--model.lr float  (default: 0.1)" in out
    with pytest.raises(SystemExit):
        _any_cli(["fit", "--data.help=treadle.demos.boring_classes.BoringDataModule"])
    assert "BoringDataModule" in capsys.readouterr().out


def test_help_of_the_other_groups(capsys):
    for args, shown, hidden in (
        (["--optimizer.help=Adam"], "--optimizer.lr", "--optimizer.params"),
        (
            ["--lr_scheduler.help", "StepLR"],
            "--lr_scheduler.step_size",
            "--lr_scheduler.optimizer ",
        ),
        (["--trainer.callbacks.help", "EarlyStopping"], "--trainer.callbacks.monitor str", None),
        (
            ["--trainer.callbacks.help", "lightning.pytorch.callbacks.EarlyStopping"],
            "--trainer.callbacks.patience int",
            None,
        ),
        (["--trainer.logger.help", "CSVLogger"], "--trainer.logger.save_dir", None),
        (["--model.help"], "Help for --model.help=treadle", None),  # no class: the base's
    ):
        with pytest.raises(SystemExit) as exc:
            _any_cli(["fit", *args])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert shown in out, (args, out)
        assert hidden is None or hidden not in out, (args, out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model.help", "NoSuchModel"], "no imported subclass of Module is named `NoSuchModel`"),
        (["--model.help", "treadle.callbacks.EarlyStopping"], "is not a subclass of Module"),
        (["--model.help", "no_such_package.Model"], "`no_such_package.Model` cannot be imported"),
        (["--lr_scheduler.help"], "give the class to describe"),
    ],
)
def test_help_of_what_is_no_such_class_exits_2(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        _any_cli(["fit", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert (
        message in err
        and "(a class path, or the name of a subclass of" in err
        or ("give the class" in err)
    ), err


def test_fit_help_lists_the_help_groups(capsys):
    with pytest.raises(SystemExit):
        _any_cli(["fit", "--help"])
    out = capsys.readouterr().out
    for group in ("model", "data", "optimizer", "lr_scheduler", "trainer.callbacks"):
        assert f"--{group}.help CLASS_PATH_OR_NAME" in out, group
    with pytest.raises(SystemExit):
        CLI(BoringModel, args=["fit", "--help"])
    # without a datamodule_class, as LightningCLI 2.6.6: `--data` may name any DataModule
    assert "--data.help CLASS_PATH_OR_NAME" in capsys.readouterr().out


# -- cli.config_init --------------------------------------------------------------------------


def test_config_init_has_every_section_built():
    # Ported from test_cli.py::test_lightning_cli_single_arg_callback (config_init.trainer), the
    # rest as LightningCLI 2.6.6's `parser.instantiate_classes(config)` gives it
    with pytest.warns(UserWarning, match="configure_optimizers` will be overridden"):
        cli = CLI(
            BoringModel,
            BoringDataModule,
            args=[
                "--trainer.callbacks=DeviceStatsMonitor",
                "--optimizer=Adam",
                "--seed_everything=5",
            ],
            run=False,
        )
    init = cli.config_init
    assert init.model is cli.model and init.data is cli.datamodule
    assert not isinstance(init.trainer, list)
    assert isinstance(init.trainer.callbacks, DeviceStatsMonitor)
    assert init.trainer["max_epochs"] == cli.config.trainer.max_epochs
    assert init.seed_everything == 5
    assert init.optimizer.class_path == "torch.optim.Adam" and init.lr_scheduler is None
    assert set(init) == set(cli.config)


def test_config_init_per_subcommand_and_class_args(tmp_path):
    class MyCLI(CLI):
        def add_arguments_to_parser(self, parser):
            parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")

    seen = {}

    class Recording(MyCLI):
        def before_fit(self):
            seen["model"] = self.config_init["fit"]["model"]

    cli = Recording(
        BoringModel,
        trainer_defaults={
            "enable_progress_bar": False,
            "max_steps": 1,
            "default_root_dir": str(tmp_path),
        },
        args=["fit", "--lr_monitor.logging_interval=epoch"],
        save_config_callback=None,
    )
    assert seen["model"] is cli.model
    assert cli.config_init.fit.lr_monitor.logging_interval == "epoch"
    assert cli.config_init.lr_monitor in cli.trainer.callbacks


def test_a_lightning_callback_class_path_on_the_command_line():
    cli = CLI(
        BoringModel,
        args=["--trainer.callbacks=lightning.pytorch.callbacks.DeviceStatsMonitor"],
        run=False,
    )
    assert cli.config.trainer.callbacks == {
        "class_path": "lightning.pytorch.callbacks.DeviceStatsMonitor"
    }  # as written
    assert isinstance(cli.config_init.trainer.callbacks, DeviceStatsMonitor)


# -- sections in files of their own, multifile ----------------------------------------------------


def _files(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "trainer.yaml").write_text("max_steps: 1\nlimit_val_batches: 1\nlogger: false\n")
    (conf / "main.yaml").write_text("trainer: trainer.yaml\nseed_everything: 3\n")
    return conf


def test_a_section_read_from_a_file_of_its_own(tmp_path):
    conf = _files(tmp_path)
    for args in (["--config", str(conf / "main.yaml")], ["--trainer", "conf/trainer.yaml"]):
        cli = CLI(BoringModel, args=args, run=False, save_config_callback=None)
        assert cli.trainer.max_steps == 1 and cli.config.trainer.limit_val_batches == 1
    # a file of per-subcommand sections, before the subcommand
    (conf / "per.yaml").write_text("fit:\n  trainer: trainer.yaml\n")
    cli = CLI(
        BoringModel,
        args=["--config", str(conf / "per.yaml"), "fit", "--trainer.max_steps=2"],
        trainer_defaults=QUIET,
        save_config_callback=None,
    )
    assert cli.trainer.global_step == 2 and cli.config.trainer.limit_val_batches == 1


def test_multifile_saves_each_section_file_next_to_the_config(tmp_path):
    # As LightningCLI 2.6.6 (jsonargparse's save with multifile=True): config.yaml names the
    # section's file, which holds the resolved section (the command line's values too)
    conf = _files(tmp_path)
    out = tmp_path / "out"
    args = ["fit", "--config", str(conf / "main.yaml"), f"--trainer.default_root_dir={out}"]
    cli = CLI(
        BoringModel, args=args, trainer_defaults=QUIET, save_config_kwargs={"multifile": True}
    )
    main = yaml.safe_load((out / "config.yaml").read_text())
    assert main["trainer"] == "trainer.yaml" and main["seed_everything"] == 3
    text = (out / "trainer.yaml").read_text()
    assert text.startswith(f"# treadle=={treadle.__version__}\n")
    section = yaml.safe_load(text)
    assert section["max_steps"] == 1 and section["default_root_dir"] == str(out)
    assert cli.trainer.global_step == 1
    # the saved pair runs again as it is
    again = CLI(
        BoringModel,
        args=["fit", "--config", str(out / "config.yaml")],
        trainer_defaults=QUIET,
        save_config_callback=None,
    )
    assert again.trainer.max_steps == 1 and again.config.seed_everything == 3
    # an existing section file is refused, as the config file
    (out / "config.yaml").unlink()
    parser = cli.parser
    with pytest.raises(ValueError, match="Refusing to overwrite existing file: .*trainer.yaml"):
        parser.save(cli.config, str(out / "config.yaml"), multifile=True)
    assert not (out / "config.yaml").exists()


def test_without_multifile_one_file_is_written(tmp_path):
    conf = _files(tmp_path)
    out = tmp_path / "out"
    args = ["fit", "--config", str(conf / "main.yaml"), f"--trainer.default_root_dir={out}"]
    CLI(BoringModel, args=args, trainer_defaults=QUIET)
    assert yaml.safe_load((out / "config.yaml").read_text())["trainer"]["max_steps"] == 1
    assert not (out / "trainer.yaml").exists()
    assert SaveConfigCallback  # (the class CLI adds)
