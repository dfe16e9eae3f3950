"""``treadle.cli.CLI``: ``SaveConfigCallback`` (config.yaml in the log directory), the
``--optimizer``/``--lr_scheduler`` arguments and ``cli.config``'s attribute access, as
``LightningCLI`` 2.6.6 has them (docs/cli.md). Behaviour ported from
tests/tests_pytorch/test_cli.py (credit on each test)."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
import torch
import yaml

import treadle
from treadle.callbacks import DeviceStatsMonitor, LearningRateMonitor
from treadle.cli import CLI, ReduceLROnPlateau, SaveConfigCallback, instantiate_class
from treadle.demos.boring_classes import BoringModel

QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["any.py"])  # args= alone, no warning
    monkeypatch.chdir(tmp_path)


class NoOptimizers(BoringModel):
    configure_optimizers = None  # type: ignore[assignment]


# -- SaveConfigCallback -------------------------------------------------------------------------


def test_fit_saves_the_configuration_once_and_refuses_to_overwrite_it(tmp_path):
    # Ported from tests/tests_pytorch/test_cli.py::test_lightning_cli_save_config_cases
    args = ["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=False"]
    CLI(BoringModel, args=[*args, "--trainer.fast_dev_run=1"], trainer_defaults=QUIET)
    assert not (tmp_path / "config.yaml").exists()  # not with fast_dev_run
    cli = CLI(BoringModel, args=[*args, "--trainer.max_steps=1"], trainer_defaults=QUIET)
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith(f"# treadle=={treadle.__version__}\n")
    saved = yaml.safe_load(text)
    assert saved["trainer"]["max_steps"] == 1
    assert saved["seed_everything"] == cli.config["seed_everything"]  # the seed drawn
    assert saved["optimizer"] is None and saved["ckpt_path"] is None
    message = (
        f"SaveConfigCallback expected {tmp_path / 'config.yaml'} to NOT exist. Aborting to "
        "avoid overwriting results of a previous run. You can delete the previous config file, "
        "set `LightningCLI(save_config_callback=None)` to disable config saving, or set "
        '`LightningCLI(save_config_kwargs={"overwrite": True})` to overwrite the config file.'
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        CLI(BoringModel, args=[*args, "--trainer.max_steps=1"], trainer_defaults=QUIET)
    # Ported from test_cli.py::test_cli_config_overwrite
    CLI(
        BoringModel,
        args=[*args, "--trainer.max_steps=2"],
        trainer_defaults=QUIET,
        save_config_kwargs={"overwrite": True},
    )
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["trainer"]["max_steps"] == 2


def test_the_configuration_goes_to_the_loggers_directory_and_can_be_run_again(tmp_path):
    args = ["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.max_steps=1"]
    args += ["--optimizer=Adam", "--optimizer.lr=0.5"]
    cli = CLI(BoringModel, args=args, trainer_defaults=QUIET)
    path = os.path.join(cli.trainer.log_dir, "config.yaml")
    assert cli.trainer.log_dir != str(tmp_path) and os.path.isfile(path)
    with open(path) as f:
        saved = yaml.safe_load(f)
    assert saved["optimizer"]["class_path"] == "torch.optim.Adam"
    assert saved["optimizer"]["init_args"]["lr"] == 0.5
    again = CLI(BoringModel, args=["fit", f"--config={path}"], save_config_callback=None)
    assert isinstance(again.trainer.optimizers[0], torch.optim.Adam)
    assert again.trainer.optimizers[0].param_groups[0]["lr"] == 0.5


def test_none_turns_saving_off_and_kwargs_choose_the_file(tmp_path):
    args = ["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=False"]
    args.append("--trainer.max_steps=1")
    cli = CLI(BoringModel, args=args, trainer_defaults=QUIET, save_config_callback=None)
    assert not any(isinstance(c, SaveConfigCallback) for c in cli.trainer.callbacks)
    assert not (tmp_path / "config.yaml").exists()
    CLI(
        BoringModel,
        args=args,
        trainer_defaults=QUIET,
        save_config_kwargs={"config_filename": "run.yaml", "multifile": True},
    )
    assert (tmp_path / "run.yaml").is_file() and not (tmp_path / "config.yaml").exists()


def test_saved_once_then_not_again(tmp_path):
    # Ported from test_cli.py::test_lightning_cli_save_config_only_once
    args = [f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=False"]
    cli = CLI(BoringModel, args=[*args, "--trainer.max_epochs=1"], run=False)
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, SaveConfigCallback)]
    assert not callback.overwrite and not callback.already_saved
    cli.trainer.fit(cli.model)
    assert (tmp_path / "config.yaml").is_file() and callback.already_saved
    cli.trainer.test(cli.model)  # does not fail: already saved


def test_a_subclass_saves_elsewhere(tmp_path):
    class ToLogger(SaveConfigCallback):
        def save_config(self, trainer, pl_module, stage):
            trainer.saved_elsewhere = (self.parser.dump(self.config), stage)

    with pytest.raises(ValueError, match="`save_to_log_dir=False` only makes sense"):
        CLI(BoringModel, args=[], run=False, save_config_kwargs={"save_to_log_dir": False})
    cli = CLI(
        BoringModel,
        args=["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.max_steps=1"],
        trainer_defaults={**QUIET, "logger": False},
        save_config_callback=ToLogger,
        save_config_kwargs={"save_to_log_dir": False},
    )
    dumped, stage = cli.trainer.saved_elsewhere
    assert stage == "fit" and yaml.safe_load(dumped)["trainer"]["max_steps"] == 1
    assert not (tmp_path / "config.yaml").exists()


# -- optimizers and schedulers -------------------------------------------------------------------


def test_optimizer_and_scheduler_from_the_command_line_replace_configure_optimizers(recwarn):
    # Ported from test_cli.py::test_callbacks_append (the optimizer part) and
    # ::test_cli_configure_optimizers_warning
    CLI(BoringModel, args=[], run=False)
    assert not [w for w in recwarn if "will be overridden" in str(w.message)]
    args = ["--optimizer", "Adam", "--optimizer.lr", "0.0001", "--lr_scheduler", "StepLR"]
    with pytest.warns(
        UserWarning,
        match=re.escape("`BoringModel.configure_optimizers` will be overridden by "),
    ):
        cli = CLI(BoringModel, args=[*args, "--lr_scheduler.step_size=50"], run=False)
    (optimizer,), (scheduler,) = cli.model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == 0.0001
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 50
    assert cli.config.optimizer.class_path == "torch.optim.Adam"


def test_a_model_without_configure_optimizers_trains_with_optimizer(tmp_path):
    # Ported from test_cli.py::test_cli_no_need_configure_optimizers
    cli = CLI(
        NoOptimizers,
        args=["fit", "--optimizer=SGD", "--optimizer.lr=0.1", "--trainer.max_steps=2"],
        trainer_defaults={**QUIET, "logger": False, "default_root_dir": str(tmp_path)},
    )
    assert cli.trainer.global_step == 2
    assert isinstance(cli.trainer.optimizers[0], torch.optim.SGD)


def test_reduce_lr_on_plateau_names_its_monitor():
    # Ported from test_cli.py::test_cli_reducelronplateau
    args = ["--optimizer=Adam", "--lr_scheduler=ReduceLROnPlateau", "--lr_scheduler.monitor=foo"]
    config = CLI(BoringModel, args=args, run=False).model.configure_optimizers()
    assert isinstance(config["lr_scheduler"]["scheduler"], ReduceLROnPlateau)
    assert config["lr_scheduler"]["monitor"] == "foo"


def test_configure_optimizers_of_the_cli_can_be_overridden():
    # Ported from test_cli.py::test_cli_configureoptimizers_can_be_overridden
    class MyCLI(CLI):
        @staticmethod
        def configure_optimizers(module, optimizer, lr_scheduler=None):
            assert isinstance(module, BoringModel) and lr_scheduler is None
            return 123

    assert (
        MyCLI(BoringModel, args=["--optimizer=Adam"], run=False).model.configure_optimizers() == 123
    )
    (optimizer,), (scheduler,) = MyCLI(BoringModel, args=[], run=False).model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)  # BoringModel's own: nothing chosen
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR)


def test_parser_optimizer_args_one_class_a_tuple_and_links(capsys):
    # Ported from test_cli.py::test_lightning_cli_optimizer_and_lr_scheduler and
    # ::test_lightning_cli_optimizers_and_lr_scheduler_with_link_to
    class OneClass(CLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(torch.optim.Adam)
            parser.add_lr_scheduler_args(torch.optim.lr_scheduler.ExponentialLR)

    cli = OneClass(BoringModel, args=["--lr_scheduler.gamma=0.8", "--optimizer.lr=0.2"], run=False)
    (optimizer,), (scheduler,) = cli.model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 0.2
    assert scheduler.gamma == 0.8

    class Linked(CLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(
                (torch.optim.SGD, torch.optim.Adam), nested_key="optim1", link_to="model.optim1"
            )
            parser.add_lr_scheduler_args(link_to="model.scheduler")

    class TestModel(BoringModel):
        def __init__(self, optim1: dict, scheduler: dict):
            super().__init__()
            self.optim1 = instantiate_class(self.parameters(), optim1)
            self.scheduler = instantiate_class(self.optim1, scheduler)

    optim = json.dumps({"class_path": "torch.optim.SGD", "init_args": {"lr": 0.01}})
    args = [f"--optim1={optim}", "--lr_scheduler=ExponentialLR", "--lr_scheduler.gamma=0.2"]
    cli = Linked(TestModel, args=args, run=False)
    assert isinstance(cli.model.optim1, torch.optim.SGD)
    assert cli.model.optim1.param_groups[0]["lr"] == 0.01
    assert cli.model.scheduler.gamma == 0.2
    assert cli.model.configure_optimizers.__func__ is TestModel.configure_optimizers  # linked

    class TwoAutomatic(CLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(torch.optim.Adam, nested_key="a")
            parser.add_optimizer_args(torch.optim.SGD, nested_key="b")

    # Lightning raises its MisconfigurationException (treadle's ConfigurationError); the
    # CLI reports a ConfigurationError as every configuration problem: exit code 2
    with pytest.raises(SystemExit) as exc:
        TwoAutomatic(BoringModel, args=[], run=False)
    assert exc.value.code == 2
    assert (
        "`TwoAutomatic.add_configure_optimizers_method_to_model` expects at most one optimizer "
        "and one lr_scheduler to be 'AUTOMATIC', but found ['a', 'b', 'lr_scheduler']"
    ) in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"add_optimizer_args\(.*expected a subclass of"):
        treadle.cli.Parser().add_optimizer_args(torch.nn.Linear)


def test_a_wrong_optimizer_is_a_configuration_problem(capsys):
    with pytest.raises(SystemExit) as exc:
        CLI(BoringModel, args=["--optimizer=Adamm", "--lr_scheduler=Linear"], run=False)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "optimizer.class_path: `Adamm` cannot be imported" in err
    assert "lr_scheduler.class_path: `Linear` cannot be imported" in err
    with pytest.raises(SystemExit):
        CLI(BoringModel, args=["--optimizer=torch.nn.Linear"], run=False)
    assert "optimizer.class_path: `torch.nn.Linear` is not a Optimizer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        CLI(BoringModel, args=["--optimizer=Adam", "--optimizer.lrr=1"], run=False)
    assert "optimizer.lrr: not an argument of Adam" in capsys.readouterr().err


def test_auto_configure_optimizers_false_adds_no_arguments():
    cli = CLI(BoringModel, args=[], run=False, auto_configure_optimizers=False)
    assert "optimizer" not in cli.config and "lr_scheduler" not in cli.config


# -- short names and cli.config ------------------------------------------------------------------


class ShortNamedModel(BoringModel):
    pass


class _Twin1:
    class SharedName(BoringModel):
        pass


class _Twin2:
    class SharedName(BoringModel):
        pass


def test_a_short_model_name_several_classes_share_is_refused(capsys):
    with pytest.raises(SystemExit):
        CLI(args=["--model=SharedName"], run=False)
    assert "Multiple subclasses with name SharedName" in capsys.readouterr().err


def test_short_class_names_and_attribute_access():
    # Ported from test_cli.py::test_lightning_cli_single_arg_callback (treadle's class path)
    cli = CLI(BoringModel, args=["--trainer.callbacks=DeviceStatsMonitor"], run=False)
    assert cli.config.trainer.callbacks.class_path == "treadle.callbacks.DeviceStatsMonitor"
    assert any(isinstance(c, DeviceStatsMonitor) for c in cli.trainer.callbacks)
    # (a name of its own: the suite imports several classes named BoringModel, and a shared
    # name is refused, as jsonargparse refuses it)
    cli = CLI(args=["--model=ShortNamedModel"], run=False)
    assert type(cli.model) is ShortNamedModel
    assert cli.config.as_dict()["model"] == {"class_path": f"{__name__}.ShortNamedModel"}
    assert type(cli.config.as_dict()["trainer"]) is dict
    with pytest.raises(AttributeError, match="the configuration has no `nothing`"):
        cli.config.nothing  # noqa: B018
    cli = CLI(BoringModel, args=["--trainer.callbacks=LearningRateMonitor"], run=False)
    assert any(isinstance(c, LearningRateMonitor) for c in cli.trainer.callbacks)
