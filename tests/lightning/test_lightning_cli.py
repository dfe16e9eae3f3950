"""``treadle.cli.CLI``, used as ``LightningCLI`` is: a user's script run as a subprocess, with
its exit codes, plus in-process checks through ``args=`` and ``run=False``.

Behaviour ported from Lightning's ``tests/tests_pytorch/test_cli.py`` (Apache-2.0, Copyright
The Lightning AI team): ``test_lightning_cli_args`` (config file then overrides),
``test_lightning_cli_print_config``, ``test_lightning_cli_help``, ``test_lightning_cli_run``
(``run=False``), ``test_lightning_cli_submodules`` (a ``class_path`` argument),
``test_lightning_cli_config_and_subclass_mode``, the subcommands tests and the seed tests.
Rewritten for treadle; none of Lightning's code is copied.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

import treadle
from treadle.cli import CLI

SCRIPT = textwrap.dedent('''
    import json
    import sys
    from typing import Optional

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    import treadle
    from treadle.cli import CLI


    class Model(treadle.Module):
        def __init__(self, hidden: int, lr: float = 0.1, act: str = "tanh",
                     dropout: Optional[float] = None):
            super().__init__()
            self.hidden, self.lr, self.act, self.dropout = hidden, lr, act, dropout
            self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", nn.functional.mse_loss(self(batch[0]), batch[1]))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", nn.functional.mse_loss(self(batch[0]), batch[1]))

        def predict_step(self, batch, batch_idx):
            return self(batch[0])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)


    class Wide(Model):
        def __init__(self, hidden: int = 32, lr: float = 0.05):
            super().__init__(hidden, lr)


    class Data:  # not a treadle class: any class with *_dataloader methods
        def __init__(self, batch_size: int = 8, n: int = 32):
            self.batch_size, self.n = batch_size, n
            self.calls = []

        def prepare_data(self):
            self.calls.append("prepare_data")

        def setup(self, stage):
            self.calls.append(f"setup:{stage}")

        def _loader(self):
            x = torch.randn(self.n, 4, generator=torch.Generator().manual_seed(0))
            return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=self.batch_size)

        train_dataloader = val_dataloader = test_dataloader = predict_dataloader = _loader


    class ReportingCLI(CLI):
        """Prints one JSON line after each subcommand, for the test to read."""

        def report(self, **extra):
            m, t = self.model, self.trainer
            print("REPORT " + json.dumps(dict(
                model=type(m).__name__, hidden=m.hidden, lr=m.lr, act=m.act, dropout=m.dropout,
                batch_size=self.datamodule.batch_size, data_calls=self.datamodule.calls,
                max_epochs=t.max_epochs, global_step=t.global_step,
                seed=self.config["seed_everything"], **extra)))

        def after_fit(self):
            self.report()

        def after_validate(self):
            self.report(val_loss=float(self.trainer.callback_metrics["val_loss"]))

        def after_test(self):
            self.report(test_loss=float(self.trainer.callback_metrics["test_loss"]))

        def before_predict(self):
            self.report()


    if __name__ == "__main__":
        subclass = sys.argv[1:2] == ["--subclass"]  # the test's switch, not a CLI option
        if subclass:
            del sys.argv[1]
        ReportingCLI(Model, Data, subclass_mode_model=subclass,
                     save_config_kwargs={"overwrite": True},  # several fits in one folder
                     trainer_defaults={"accelerator": "cpu", "logger": False,
                                       "enable_progress_bar": False,
                                       "enable_checkpointing": False,
                                       "enable_model_summary": False})
''')


@pytest.fixture
def script(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    return tmp_path


def run(cwd, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def report(proc):
    import json

    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0][len("REPORT ") :])


def test_fit_with_config_file_then_dotted_overrides(script):
    (script / "run.yaml").write_text(
        textwrap.dedent("""
        seed_everything: 7
        trainer: {max_epochs: 1}
        model: {hidden: 4, lr: 0.5, act: relu}
        data: {batch_size: 16}
    """)
    )
    proc = run(
        script,
        "fit",
        "--config",
        "run.yaml",
        "--model.lr",
        "0.01",
        "--trainer.max_epochs=2",
        "--data.batch_size",
        "4",
    )
    got = report(proc)
    assert got == {
        "model": "Model",
        "hidden": 4,
        "lr": 0.01,
        "act": "relu",
        "dropout": None,
        "batch_size": 4,
        "data_calls": ["prepare_data", "setup:fit"],
        "max_epochs": 2,
        "global_step": 16,
        "seed": 7,
    }
    # a value given before --config is replaced by the file's (later ones win)
    got = report(
        run(script, "fit", "--model.lr", "0.01", "--config", "run.yaml", "--trainer.max_steps", "1")
    )
    assert got["lr"] == 0.5 and got["global_step"] == 1


def test_validate_test_predict_subcommands(script):
    got = report(run(script, "validate", "--model.hidden", "3"))
    assert got["data_calls"] == ["prepare_data", "setup:validate"] and got["val_loss"] > 0
    got = report(run(script, "test", "--model.hidden", "3", "--data.n", "8"))
    assert got["data_calls"] == ["prepare_data", "setup:test"] and got["test_loss"] > 0
    got = report(run(script, "predict", "--model.hidden", "3"))
    assert got["global_step"] == 0


def test_every_problem_is_reported_at_once_with_exit_code_2(script):
    proc = run(
        script,
        "fit",
        "--model.hidden",
        "abc",
        "--model.lrr",
        "1",
        "--data.batch_size",
        "1.5",
        "--trainer.max_epochs",
        "x",
        "--seed_everything",
        "nope",
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "train.py fit: 5 configuration problems:\n"
        "  - seed_everything: must be an int, true (a random seed) or false; got 'nope'\n"
        "  - TrainerConfig: `Trainer(max_epochs='x')`: Input should be a valid integer, unable "
        "to parse string as an integer\n"
        "  - model.lrr: not an argument of Model. Did you mean `model.lr`? Arguments: hidden, "
        "lr, act, dropout\n"
        "  - model.hidden: expected int by Model, got 'abc' (Input should be a valid integer, "
        "unable to parse string as an integer)\n"
        "  - data.batch_size: expected int by Data, got 1.5 (Input should be a valid integer, "
        "got a number with a fractional part)\n"
        "See `train.py fit --help`.\n"
    )


def test_a_required_argument_missing_is_named(script):
    proc = run(script, "fit")
    assert proc.returncode == 2
    assert (
        "  - model.hidden: required by Model, it has no default; give `--model.hidden "
        "VALUE` or set it in the configuration\n" in proc.stderr
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            [],
            "train.py: got nothing where a subcommand was expected; choose one of fit, validate, "
            "test, predict (as in `train.py fit --help`).\n",
        ),
        (
            ["fitt"],
            "train.py: got `fitt` where a subcommand was expected; choose one of fit, "
            "validate, test, predict (as in `train.py fit --help`).\n",
        ),
        (
            ["fit", "--modle.lr", "1"],
            "train.py: `--modle.lr` is not an option; options start "
            "with one of --seed_everything, --trainer, --model, --data, "
            "--optimizer, --lr_scheduler, --ckpt_path (or --config)\n",
        ),
        (["fit", "--model.lr"], "train.py: `--model.lr` needs a value, as in `--model.lr VALUE`\n"),
        (
            ["fit", "--config", "missing.yaml"],
            "train.py: --config missing.yaml: cannot be read: No such file or directory\n",
        ),
    ],
)
def test_command_line_errors_exit_2(script, args, message):
    proc = run(script, *args)
    assert (proc.returncode, proc.stderr) == (2, message)


def test_print_config_is_a_valid_config_file(script):
    proc = run(script, "fit", "--model.lr", "0.2", "--trainer.max_epochs", "1", "--print_config")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert proc.stdout.startswith(f"# treadle=={treadle.__version__}\n")  # Lightning's header
    assert list(printed) == [
        *("seed_everything", "trainer", "model", "data"),
        *("optimizer", "lr_scheduler", "ckpt_path"),
    ]
    assert printed["optimizer"] is None and printed["lr_scheduler"] is None
    assert printed["model"] == {"hidden": None, "lr": 0.2, "act": "tanh", "dropout": None}
    assert printed["data"] == {"batch_size": 8, "n": 32}
    assert printed["trainer"]["max_epochs"] == 1 and printed["trainer"]["accelerator"] == "cpu"
    assert set(printed["trainer"]) == set(treadle.TrainerConfig.model_fields)
    printed["model"]["hidden"] = 2
    (script / "printed.yaml").write_text(yaml.safe_dump(printed))
    got = report(run(script, "fit", "--config", "printed.yaml"))
    assert (got["lr"], got["hidden"], got["max_epochs"]) == (0.2, 2, 1)
    assert got["seed"] is not True and isinstance(got["seed"], int), "a random seed, recorded"


def test_help_lists_every_argument(script):
    proc = run(script, "fit", "--help")
    assert proc.returncode == 0
    for option in [
        "--config",
        "--print_config",
        "--seed_everything",
        "--ckpt_path",
        "--model.hidden int  (required)",
        "--model.lr float  (default: 0.1)",
        "--model.dropout Optional[float]  (default: None)",
        "--data.batch_size int  (default: 8)",
    ]:
        assert option in proc.stdout
    for name in treadle.TrainerConfig.model_fields:
        assert f"--trainer.{name} " in proc.stdout


def test_subclass_mode_with_class_path(script):
    got = report(
        run(script, "--subclass", "fit", "--model", "__main__.Wide", "--trainer.max_steps", "1")
    )
    assert (got["model"], got["hidden"], got["lr"]) == ("Wide", 32, 0.05)
    got = report(
        run(
            script,
            "--subclass",
            "fit",
            "--model.class_path",
            "__main__.Wide",
            "--model.init_args.hidden",
            "5",
            "--model.lr",
            "0.2",
            "--trainer.max_steps",
            "1",
        )
    )
    assert (got["hidden"], got["lr"]) == (5, 0.2)
    proc = run(script, "--subclass", "fit", "--model", "__main__.Data")
    assert proc.returncode == 2
    assert "  - model.class_path: `__main__.Data` is not a subclass of Model\n" in proc.stderr
    proc = run(script, "--subclass", "fit", "--model", "__main__.Wide", "--print_config")
    assert yaml.safe_load(proc.stdout)["model"] == {
        "class_path": "__main__.Wide",
        "init_args": {"hidden": 32, "lr": 0.05},
    }


# -- in process: run=False, args=, class_path arguments ------------------------------------------


class Head(torch.nn.Module):
    def __init__(self, width: int = 2):
        super().__init__()
        self.width = width


class WithSubmodule(treadle.Module):
    def __init__(self, head: torch.nn.Module, main_param: int = 1):
        super().__init__()
        self.head, self.main_param = head, main_param


def test_run_false_builds_without_a_subcommand():
    cli = CLI(
        WithSubmodule,
        run=False,
        seed_everything_default=3,
        trainer_defaults={"logger": False},
        args=[
            "--model.head",
            "{class_path: test_lightning_cli.Head, init_args: {width: 5}}",
            "--model.main_param",
            "2",
            "--trainer.max_epochs",
            "4",
        ],
    )
    assert isinstance(cli.model.head, Head) and cli.model.head.width == 5
    assert cli.model.main_param == 2
    assert isinstance(cli.trainer, treadle.Trainer) and cli.trainer.max_epochs == 4
    assert cli.datamodule is None and cli.subcommand is None
    assert cli.config["seed_everything"] == 3


def test_args_as_a_dict():
    cli = CLI(
        WithSubmodule,
        run=False,
        seed_everything_default=False,
        args={
            "model": {"head": {"class_path": "test_lightning_cli.Head"}, "main_param": 9},
            "trainer": {"logger": False},
        },
    )
    assert cli.model.main_param == 9 and cli.model.head.width == 2


def test_a_class_path_argument_must_match_its_annotation(capsys):
    with pytest.raises(SystemExit) as exc:
        CLI(WithSubmodule, run=False, args=["--model.head", "{class_path: treadle.Trainer}"])
    assert exc.value.code == 2
    assert "  - model.head: `treadle.Trainer` is not a Module\n" in capsys.readouterr().err


def test_default_config_files_come_first(tmp_path):
    (tmp_path / "defaults.yaml").write_text("model: {main_param: 5}\ntrainer: {max_epochs: 2}\n")
    files = [str(tmp_path / "defaults.yaml"), str(tmp_path / "absent.yaml")]
    cli = CLI(
        WithSubmodule,
        run=False,
        seed_everything_default=False,
        parser_kwargs={"default_config_files": files},
        save_config_kwargs={"overwrite": True},
        args=[
            "--model.head",
            "{class_path: test_lightning_cli.Head}",
            "--trainer.max_epochs",
            "3",
            "--trainer.logger",
            "false",
        ],
    )
    assert cli.model.main_param == 5 and cli.trainer.max_epochs == 3


def test_args_type_is_lightnings_name_for_args():
    # the CLI guide's "Run from Python": `def cli_main(args: ArgsType = None)`
    import typing

    from treadle.cli import ArgsType

    assert dict[str, typing.Any] in typing.get_args(ArgsType)
    assert type(None) in typing.get_args(ArgsType)


# -- add_arguments_to_parser (LightningCLI's; behaviour as in Lightning's
# tests/tests_pytorch/test_cli.py::test_lightning_cli_link_arguments and the CLI guide's
# add_lightning_class_args / set_defaults / add_argument examples; Copyright The Lightning AI
# team, Apache-2.0) ---------------------------------------------------------------------------


class LinkedModel(treadle.Module):
    def __init__(self, batch_size: int = 1, num_classes: int = 2):
        super().__init__()
        self.batch_size, self.num_classes = batch_size, num_classes
        self.layer = torch.nn.Linear(4, num_classes)

    def training_step(self, batch, batch_idx):
        assert batch.shape[0] == self.batch_size
        loss = self.layer(batch).sum()
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class LinkedData(treadle.DataModule):
    def __init__(self, batch_size: int = 8):
        super().__init__()
        self.batch_size = batch_size
        self.num_classes = 5  # known once built, as a dataset's classes

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.randn(32, 4), batch_size=self.batch_size)


class LinkingCLI(CLI):
    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.batch_size", "model.batch_size")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(treadle.callbacks.EarlyStopping, "my_early_stopping")
        parser.set_defaults({"my_early_stopping.monitor": "loss", "my_early_stopping.patience": 5})
        parser.add_argument("--notification_email", default="will@email.com")
        parser.add_argument("--repeats", default=1, type=int)

    def before_fit(self):
        self.seen = (self.config["fit"]["notification_email"], self.config["repeats"])


def test_add_arguments_to_parser_links_adds_and_sets_defaults(tmp_path):
    args = [f"--trainer.default_root_dir={tmp_path}", "--trainer.max_steps=2"]
    args += ["--trainer.enable_progress_bar=false", "--trainer.logger=false"]
    cli = LinkingCLI(
        LinkedModel,
        LinkedData,
        args=["fit", "--data.batch_size=16", "--notification_email=a@b.c", "--repeats", "3"] + args,
    )
    assert cli.model.batch_size == cli.datamodule.batch_size == 16  # linked at parse
    assert cli.model.num_classes == 5  # linked from the built data module
    assert cli.seen == ("a@b.c", 3)
    (stopper,) = [
        c for c in cli.trainer.callbacks if isinstance(c, treadle.callbacks.EarlyStopping)
    ]
    assert stopper is cli.config_init["my_early_stopping"]
    assert (stopper.monitor, stopper.patience) == ("loss", 5)
    cli = LinkingCLI(
        LinkedModel,
        LinkedData,
        args=["fit", "--my_early_stopping.patience=1", *args],
        run=True,
        save_config_kwargs={"overwrite": True},  # the first fit saved config.yaml there
    )
    assert cli.model.batch_size == 8 and cli.config["my_early_stopping"]["patience"] == 1


def test_a_wrong_link_time_is_refused():
    from treadle._user_cli import Parser

    parser = Parser()
    with pytest.raises(
        ValueError,
        match=re.escape(
            "link_arguments('data.x', 'model.x', apply_on='later'): `apply_on` can be "
            "'parse' or 'instantiate'."
        ),
    ):
        parser.link_arguments("data.x", "model.x", apply_on="later")


# -- lprog19: what tests/lightning_programs/programs/t_cli.py needed (behaviour ported from
# Lightning's tests/tests_pytorch/test_cli.py; Copyright The Lightning AI team, Apache-2.0) ----


class Required(treadle.Module):
    def __init__(self, num_classes: int, batch_size: int = 8):
        super().__init__()
        self.num_classes, self.batch_size = num_classes, batch_size


class Untyped(treadle.Module):
    def __init__(self, foo, bar=5):
        super().__init__()
        self.foo, self.bar = foo, bar


def test_a_lightning_class_path_names_treadles_class():
    # test_lightning_cli_args_callbacks: a LightningCLI configuration names Lightning's classes
    callbacks = (
        "[{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: {monitor: x}}, "
        "{class_path: pytorch_lightning.callbacks.early_stopping.EarlyStopping, "
        "init_args: {monitor: y}}]"
    )
    cli = CLI(
        Untyped, run=False, args=["--trainer.logger=false", f"--trainer.callbacks={callbacks}"]
    )
    found = {type(c): c.monitor for c in cli.trainer.callbacks if hasattr(c, "monitor")}
    assert found == {treadle.callbacks.ModelCheckpoint: "x", treadle.callbacks.EarlyStopping: "y"}


def test_a_subclass_method_runs_in_place_of_the_trainers():
    # test_lightning_cli_trainer_fn / test_lightning_cli_configurable_callbacks
    class OwnFit(CLI):
        def fit(self, model, **kwargs):
            self.called = (model, kwargs)

    cli = OwnFit(Untyped, args=["fit", "--trainer.logger=false", "--trainer.max_epochs=1000"])
    assert cli.called == (cli.model, {"ckpt_path": None}) and cli.trainer.global_step == 0


def test_an_instantiate_link_to_init_args_in_subclass_mode():
    # test_lightning_cli_link_arguments, second half
    class Linking(CLI):
        def add_arguments_to_parser(self, parser):
            parser.link_arguments("data.batch_size", "model.init_args.batch_size")
            parser.link_arguments(
                "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
            )

    cli = Linking(
        Required,
        LinkedData,
        subclass_mode_model=True,
        run=False,
        args=["--model=test_lightning_cli.Required", "--trainer.logger=false"],
    )
    assert (cli.model.batch_size, cli.model.num_classes) == (8, 5)


def test_an_untyped_argument_without_default_is_none():
    # test_cli_auto_seeding's TestModel(foo, bar=5) built with no --model.foo, as jsonargparse
    cli = CLI(Untyped, run=False, args=["--trainer.logger=false"])
    assert cli.model.foo is None and cli.model.bar == 5
    assert CLI(Untyped, run=False, args=["--model.foo=456"]).model.foo == 456


def test_seed_everything_true_keeps_an_earlier_seed():
    treadle.seed_everything(123)
    assert CLI(Untyped, run=False, args=[]).config["seed_everything"] == 123
    assert CLI(Untyped, run=False, args=["--seed_everything=4"]).config["seed_everything"] == 4


def test_args_with_command_line_arguments_warns(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["any.py", "--model.foo=456"])
    with pytest.warns(UserWarning, match="LightningCLI's args parameter .*sys.argv"):
        cli = CLI(Untyped, run=False, args=["--model.foo=789"])
    assert cli.model.foo == 789


def test_a_config_before_the_subcommand_has_per_subcommand_sections(tmp_path, monkeypatch):
    # test_lightning_cli_config_with_subcommand and _before_subcommand (inline configurations)
    calls = []
    monkeypatch.setattr(treadle.Trainer, "test", lambda self, model, **kw: calls.append(kw))
    config = "{test: {trainer: {limit_test_batches: 1}, verbose: true, ckpt_path: foobar}}"
    cli = CLI(Untyped, args=[f"--config={config}"])  # the file names the subcommand
    assert cli.subcommand == "test" and cli.trainer.limit_test_batches == 1
    assert calls == [{"ckpt_path": "foobar", "verbose": True}]
    both = tmp_path / "both.yaml"
    both.write_text("validate: {trainer: {limit_val_batches: 2}}\ntest: {verbose: false}\n")
    cli = CLI(Untyped, args=["--config", str(both), "test", "--config={ckpt_path: x}"])
    assert (
        calls[-1] == {"ckpt_path": "x", "verbose": False} and cli.trainer.limit_val_batches == 1.0
    )


def test_default_config_files_may_have_per_subcommand_sections(tmp_path, monkeypatch):
    # test_lightning_cli_subcommands_common_default_config_files
    monkeypatch.setattr(treadle.Trainer, "fit", lambda self, model, **kw: None)
    monkeypatch.setattr(treadle.Trainer, "validate", lambda self, model, **kw: None)
    path = tmp_path / "default.yaml"
    path.write_text("{fit: {model: {foo: 123}}}")
    kwargs = {"parser_kwargs": {"default_config_files": [str(path)]}}
    assert CLI(Untyped, args=["fit"], **kwargs).model.foo == 123
    assert CLI(Untyped, args=["validate"], **kwargs).model.foo is None  # not its section


class ChosenData(treadle.DataModule):
    def __init__(self, size: int = 3):
        super().__init__()
        self.size = size


def test_without_datamodule_class_data_may_name_any_datamodule(capsys, monkeypatch):
    """As LightningCLI with no ``datamodule_class``: ``--data NAME`` (and ``--data.help NAME``)
    chooses any DataModule subclass, not required; ``data: null`` in the printed
    configuration. Ported from the lightning_cli_intermediate_2 docs page's "Multiple
    LightningDataModules" (doc_cli_intermediate_2)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    model_args = ["--model.head", "{class_path: test_lightning_cli.Head}", "--model.main_param=1"]
    cli = CLI(WithSubmodule, run=False, args=[*model_args, "--data", "ChosenData", "--data.size=7"])
    assert type(cli.datamodule) is ChosenData and cli.datamodule.size == 7
    cli = CLI(WithSubmodule, run=False, args=model_args)
    assert cli.datamodule is None
    with pytest.raises(SystemExit) as exc:
        CLI(WithSubmodule, args=["fit", *model_args, "--print_config"])
    assert exc.value.code == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"] is None
    with pytest.raises(SystemExit) as exc:
        CLI(WithSubmodule, args=["fit", "--data.help", "ChosenData"])
    assert exc.value.code == 0
    assert "--data.size int  (default: 3)" in capsys.readouterr().out


def test_default_env_reads_each_argument_from_the_environment(capsys, monkeypatch):
    """``parser_kwargs={"default_env": True}``: ``PL_MODEL__MAIN_PARAM`` sets
    ``--model.main_param`` (``PL_FIT__...`` under ``fit``; the command line wins; without the option the variable is not
    read), and ``fit --help`` names each variable. Ported from the lightning_cli_advanced_2
    docs page ("Run from environment variables directly", doc_cli_advanced_2)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    env = {"default_env": True}
    # (run=False: no subcommand, so the names have no FIT__ part)
    monkeypatch.setenv("PL_MODEL__MAIN_PARAM", "5")
    monkeypatch.setenv("PL_MODEL__HEAD", "{class_path: test_lightning_cli.Head}")
    cli = CLI(WithSubmodule, parser_kwargs=env, args=[], run=False)
    assert cli.model.main_param == 5 and isinstance(cli.model.head, Head)
    cli = CLI(WithSubmodule, parser_kwargs=env, args=["--model.main_param=6"], run=False)
    assert cli.model.main_param == 6
    with pytest.raises(SystemExit):  # not read without default_env: main_param is required
        CLI(WithSubmodule, args=[], run=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        CLI(WithSubmodule, parser_kwargs=env, args=["fit", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "ENV: PL_FIT__MODEL__MAIN_PARAM" in out and "ENV: PL_FIT__TRAINER__MAX_EPOCHS" in out


def test_default_env_reads_the_entire_config_before_each_argument(monkeypatch, tmp_path):
    """``PL_CONFIG`` (``PL_FIT__CONFIG`` under ``fit``), YAML text or a file's path, comes
    after the default config files and before each argument's variable, which the command
    line overrides in turn: the lightning_cli_faq page's override order (doc_cli_faq)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text(
        "model:\n  main_param: 1\n  head: {class_path: test_lightning_cli.Head}\n"
        "trainer:\n  max_epochs: 3\n"
    )
    kwargs = {"default_config_files": [str(defaults)], "default_env": True}
    monkeypatch.setenv("PL_CONFIG", "model:\n  main_param: 2\n")
    cli = CLI(WithSubmodule, parser_kwargs=kwargs, args=[], run=False)
    assert cli.model.main_param == 2 and cli.trainer.max_epochs == 3
    monkeypatch.setenv("PL_MODEL__MAIN_PARAM", "4")
    cli = CLI(WithSubmodule, parser_kwargs=kwargs, args=[], run=False)
    assert cli.model.main_param == 4
    cli = CLI(WithSubmodule, parser_kwargs=kwargs, args=["--model.main_param=5"], run=False)
    assert cli.model.main_param == 5
    monkeypatch.delenv("PL_MODEL__MAIN_PARAM")
    whole = tmp_path / "whole.yaml"
    whole.write_text("trainer:\n  max_epochs: 6\n")
    monkeypatch.setenv("PL_CONFIG", str(whole))
    cli = CLI(WithSubmodule, parser_kwargs=kwargs, args=[], run=False)
    assert cli.model.main_param == 1 and cli.trainer.max_epochs == 6
    monkeypatch.setenv("PL_CONFIG", "[1, 2]")
    with pytest.raises(SystemExit):
        CLI(WithSubmodule, parser_kwargs=kwargs, args=[], run=False)


def test_an_argument_of_a_class_given_on_the_command_line_goes_to_its_init_args(
    monkeypatch, tmp_path
):
    """``--trainer.logger=pkg.Logger --trainer.logger.save_dir=D``, as jsonargparse: ``save_dir``
    is the logger's argument (lightning_cli_advanced, doc_lightning_cli_advanced)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    cli = CLI(
        WithSubmodule,
        run=False,
        args=[
            "--model.head={class_path: test_lightning_cli.Head}",
            "--model.main_param=1",
            "--trainer.logger=treadle.loggers.CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}",
            "--trainer.logger.name=run",
        ],
    )
    assert isinstance(cli.trainer.logger, treadle.loggers.CSVLogger)
    assert cli.trainer.logger.save_dir == str(tmp_path) and cli.trainer.logger.name == "run"


def test_top_level_help_describes_each_subcommand(capsys, monkeypatch):
    """``main.py --help`` lists fit/validate/test/predict with LightningCLI's descriptions
    (the lightning_cli_faq page, doc_cli_faq)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    with pytest.raises(SystemExit) as exc:
        CLI(WithSubmodule, args=["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "fit                 Runs the full optimization routine." in out
    assert "predict             Run inference on your data." in out


def test_raw_yaml_for_a_section_joins_what_came_before(monkeypatch):
    """``--trainer "$TRAINER_CONFIG"`` (YAML) merges into the section, as jsonargparse: an
    argument given before it stays (lightning_cli_advanced_2, doc_cli_advanced_2)."""
    monkeypatch.setattr(sys, "argv", ["main.py"])
    cli = CLI(
        WithSubmodule,
        run=False,
        args=[
            "--model.head={class_path: test_lightning_cli.Head}",
            "--trainer.max_epochs=4",
            "--trainer",
            "{logger: false, min_epochs: 2}",
            "--model",
            "{main_param: 8}",
        ],
    )
    assert cli.trainer.max_epochs == 4 and cli.trainer.min_epochs == 2
    assert cli.model.main_param == 8 and isinstance(cli.model.head, Head)
