# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/test_cli.py
#   (test_lightning_cli_args_callbacks, test_lightning_cli_configurable_callbacks,
#    test_lightning_cli_submodules, test_lightning_cli_link_arguments,
#    test_lightning_cli_trainer_fn, test_lightning_cli_run, test_cli_auto_seeding,
#    test_lightning_cli_with_args_given, test_lightning_cli_args_and_sys_argv_warning,
#    test_lightning_cli_config_after_subcommand, test_lightning_cli_parse_kwargs_with_subcommands,
#    test_lightning_cli_subcommands_common_default_config_files,
#    test_lightning_cli_config_with_subcommand, test_lightning_cli_config_before_subcommand,
#    test_lightning_cli_config_before_subcommand_two_configs,
#    test_lightning_cli_config_before_and_after_subcommand)
# Edits: the tests turned into one __main__ program asserting what they asserted; the `cleandir`
#   fixture -> a tempfile dir made the working directory; parametrizations unrolled;
#   pytest.warns -> warnings.catch_warnings; `lazy_instance(CSVLogger, save_dir=".")` (a
#   jsonargparse helper) -> the `{class_path, init_args}` it stands for; `mock.patch("lightning.pytorch.Trainer.test",
#   autospec=True)` -> `mock.patch.object(Trainer, "test", autospec=True)` (the same patch, by
#   object, so that it names the Trainer the program imports); the `tests_pytorch.test_cli.`
#   class path -> `__main__.`; `assert_called_once_with(cli.trainer, cli.model, verbose=..., ckpt_path=...)`
#   -> a helper that checks the same arguments (Lightning 2.6.6 passes `model=` by keyword and
#   `weights_only=None` as well); the jsonargparse `Namespace` form of `args=` left out.
#   Left out (internals or other packages): test_add_argparse_args_redefined_error (parser.exit),
#   test_lightning_cli (SaveConfigCallback.parser.dump), test_lightning_cli_args_cluster_environments
#   (`trainer._accelerator_connector`), test_lightning_env_parse (jsonargparse's default_env),
#   the `parser.groups` part of test_lightning_cli_datamodule_short_arguments,
#   test_lightning_cli_subcommands (the exclusion sets of LightningCLI.subcommands()),
#   test_lightning_cli_custom_subcommand (docstring parsing), the logger/profiler `dict_kwargs`
#   tests (jsonargparse's resolution of third-party signatures), test_ddpstrategy_instantiation.
import json
import os
import tempfile
import warnings
from pathlib import Path
from unittest import mock

from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel


def assert_called_once_with(method_mock, trainer, model, **kwargs):
    # Lightning 2.6.6 passes `model=` by keyword and adds `weights_only=None`: the call is
    # compared by the arguments the test names.
    method_mock.assert_called_once()
    args, given = method_mock.call_args
    assert args[0] is trainer
    assert (args[1] if len(args) > 1 else given["model"]) is model
    assert {k: given[k] for k in kwargs} == kwargs, given


def cleandir():
    os.chdir(tempfile.mkdtemp())


def test_lightning_cli_args_callbacks():
    callbacks = [
        {
            "class_path": "lightning.pytorch.callbacks.LearningRateMonitor",
            "init_args": {"logging_interval": "epoch", "log_momentum": True},
        },
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "NAME"}},
    ]

    class TestModel(BoringModel):
        def on_fit_start(self):
            callback = [c for c in self.trainer.callbacks if isinstance(c, LearningRateMonitor)]
            assert len(callback) == 1
            assert callback[0].logging_interval == "epoch"
            assert callback[0].log_momentum is True
            callback = [c for c in self.trainer.callbacks if isinstance(c, ModelCheckpoint)]
            assert len(callback) == 1
            assert callback[0].monitor == "NAME"
            self.trainer.ran_asserts = True

    with mock.patch("sys.argv", ["any.py", "fit", f"--trainer.callbacks={json.dumps(callbacks)}"]):
        cli = LightningCLI(TestModel, trainer_defaults={"fast_dev_run": True, "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "."}}})

    assert cli.trainer.ran_asserts


def test_lightning_cli_configurable_callbacks(run):
    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_lightning_class_args(LearningRateMonitor, "learning_rate_monitor")

        def fit(self, **_):
            pass

    cli_args = ["fit"] if run else []
    cli_args += ["--learning_rate_monitor.logging_interval=epoch"]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(BoringModel, run=run)

    callback = [c for c in cli.trainer.callbacks if isinstance(c, LearningRateMonitor)]
    assert len(callback) == 1
    assert callback[0].logging_interval == "epoch"


def test_lightning_cli_submodules():
    class MainModule(BoringModel):
        def __init__(self, submodule1: LightningModule, submodule2: LightningModule, main_param: int = 1):
            super().__init__()
            self.submodule1 = submodule1
            self.submodule2 = submodule2

    config = """model:
        main_param: 2
        submodule1:
            class_path: lightning.pytorch.demos.boring_classes.BoringModel
        submodule2:
            class_path: lightning.pytorch.demos.boring_classes.BoringModel
    """
    config_path = Path("config.yaml")
    config_path.write_text(config)

    cli_args = [f"--config={config_path}"]
    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = LightningCLI(MainModule, run=False)

    assert cli.config["model"]["main_param"] == 2
    assert isinstance(cli.model.submodule1, BoringModel)
    assert isinstance(cli.model.submodule2, BoringModel)
    config_path.unlink()


class BoringModelRequiredClasses(BoringModel):
    def __init__(self, num_classes: int, batch_size: int = 8):
        super().__init__()
        self.num_classes = num_classes
        self.batch_size = batch_size


class BoringDataModuleBatchSizeAndClasses(BoringDataModule):
    def __init__(self, batch_size: int = 8):
        super().__init__()
        self.batch_size = batch_size
        self.num_classes = 5  # only available after instantiation


def test_lightning_cli_link_arguments():
    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.link_arguments("data.batch_size", "model.batch_size")
            parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")

    cli_args = ["--data.batch_size=12"]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(BoringModelRequiredClasses, BoringDataModuleBatchSizeAndClasses, run=False)

    assert cli.model.batch_size == 12
    assert cli.model.num_classes == 5

    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.link_arguments("data.batch_size", "model.init_args.batch_size")
            parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    cli_args[-1] = "--model=__main__.BoringModelRequiredClasses"

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(
            BoringModelRequiredClasses, BoringDataModuleBatchSizeAndClasses, subclass_mode_model=True, run=False
        )

    assert cli.model.batch_size == 8
    assert cli.model.num_classes == 5


def test_lightning_cli_trainer_fn(fn):
    class TestCLI(LightningCLI):
        def __init__(self, *args, **kwargs):
            self.called = []
            super().__init__(*args, **kwargs)

        def before_fit(self):
            self.called.append("before_fit")

        def fit(self, **_):
            self.called.append("fit")

        def after_fit(self):
            self.called.append("after_fit")

        def before_validate(self):
            self.called.append("before_validate")

        def validate(self, **_):
            self.called.append("validate")

        def after_validate(self):
            self.called.append("after_validate")

        def before_test(self):
            self.called.append("before_test")

        def test(self, **_):
            self.called.append("test")

        def after_test(self):
            self.called.append("after_test")

        def before_predict(self):
            self.called.append("before_predict")

        def predict(self, **_):
            self.called.append("predict")

        def after_predict(self):
            self.called.append("after_predict")

    with mock.patch("sys.argv", ["any.py", fn]):
        cli = TestCLI(BoringModel)
    assert cli.called == [f"before_{fn}", fn, f"after_{fn}"]


def test_lightning_cli_run():
    with mock.patch("sys.argv", ["any.py"]):
        cli = LightningCLI(BoringModel, run=False)
    assert cli.trainer.global_step == 0
    assert isinstance(cli.trainer, Trainer)
    assert isinstance(cli.model, LightningModule)

    with mock.patch("sys.argv", ["any.py", "fit"]):
        cli = LightningCLI(BoringModel, trainer_defaults={"max_steps": 1, "max_epochs": 1})
    assert cli.trainer.global_step == 1
    assert isinstance(cli.trainer, Trainer)
    assert isinstance(cli.model, LightningModule)


class TestModel(BoringModel):
    def __init__(self, foo, bar=5):
        super().__init__()
        self.foo = foo
        self.bar = bar


def test_cli_auto_seeding():
    with mock.patch("sys.argv", ["any.py"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=False)
    assert cli.seed_everything_default is False
    assert cli.config["seed_everything"] is False

    with mock.patch("sys.argv", ["any.py"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=True)
    assert cli.seed_everything_default is True
    assert isinstance(cli.config["seed_everything"], int)

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "3"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=False)
    assert cli.seed_everything_default is False
    assert cli.config["seed_everything"] == 3

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "3"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=True)
    assert cli.seed_everything_default is True
    assert cli.config["seed_everything"] == 3

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "3"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=10)
    assert cli.seed_everything_default == 10
    assert cli.config["seed_everything"] == 3

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "false"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=10)
    assert cli.seed_everything_default == 10
    assert cli.config["seed_everything"] is False

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "false"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=True)
    assert cli.seed_everything_default is True
    assert cli.config["seed_everything"] is False

    with mock.patch("sys.argv", ["any.py", "--seed_everything", "true"]):
        cli = LightningCLI(TestModel, run=False, seed_everything_default=False)
    assert cli.seed_everything_default is False
    assert isinstance(cli.config["seed_everything"], int)

    seed_everything(123)
    with mock.patch("sys.argv", ["any.py"]):
        cli = LightningCLI(TestModel, run=False)
    assert cli.seed_everything_default is True
    assert cli.config["seed_everything"] == 123  # the original seed is kept


def test_lightning_cli_with_args_given(args):
    with mock.patch("sys.argv", [""]):
        cli = LightningCLI(TestModel, run=False, args=args)
    assert isinstance(cli.model, TestModel)
    assert cli.config["trainer"]["logger"] is False
    assert cli.model.foo == 456


def test_lightning_cli_args_and_sys_argv_warning():
    with mock.patch("sys.argv", ["", "--model.foo=456"]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LightningCLI(TestModel, run=False, args=["--model.foo=789"])
    assert any("LightningCLI's args parameter " in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_lightning_cli_config_with_subcommand():
    config = {"test": {"trainer": {"limit_test_batches": 1}, "verbose": True, "ckpt_path": "foobar"}}
    with (
        mock.patch("sys.argv", ["any.py", f"--config={config}"]),
        mock.patch.object(Trainer, "test", autospec=True) as test_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(test_mock, cli.trainer, cli.model, verbose=True, ckpt_path="foobar")
    assert cli.trainer.limit_test_batches == 1


def test_lightning_cli_config_before_subcommand():
    config = {
        "validate": {"trainer": {"limit_val_batches": 1}, "verbose": False, "ckpt_path": "barfoo"},
        "test": {"trainer": {"limit_test_batches": 1}, "verbose": True, "ckpt_path": "foobar"},
    }

    with (
        mock.patch("sys.argv", ["any.py", f"--config={config}", "test"]),
        mock.patch.object(Trainer, "test", autospec=True) as test_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(test_mock, cli.trainer, cli.model, verbose=True, ckpt_path="foobar")
    assert cli.trainer.limit_test_batches == 1

    with (
        mock.patch("sys.argv", ["any.py", f"--config={config}", "validate"]),
        mock.patch.object(Trainer, "validate", autospec=True) as validate_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(validate_mock, cli.trainer, cli.model, verbose=False, ckpt_path="barfoo")
    assert cli.trainer.limit_val_batches == 1


def test_lightning_cli_config_before_subcommand_two_configs():
    config1 = {"validate": {"trainer": {"limit_val_batches": 1}, "verbose": False, "ckpt_path": "barfoo"}}
    config2 = {"test": {"trainer": {"limit_test_batches": 1}, "verbose": True, "ckpt_path": "foobar"}}

    with (
        mock.patch("sys.argv", ["any.py", f"--config={config1}", f"--config={config2}", "test"]),
        mock.patch.object(Trainer, "test", autospec=True) as test_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(test_mock, cli.trainer, cli.model, verbose=True, ckpt_path="foobar")
    assert cli.trainer.limit_test_batches == 1

    with (
        mock.patch("sys.argv", ["any.py", f"--config={config1}", f"--config={config2}", "validate"]),
        mock.patch.object(Trainer, "validate", autospec=True) as validate_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(validate_mock, cli.trainer, cli.model, verbose=False, ckpt_path="barfoo")
    assert cli.trainer.limit_val_batches == 1


def test_lightning_cli_config_after_subcommand():
    config = {"trainer": {"limit_test_batches": 1}, "verbose": True, "ckpt_path": "foobar"}
    with (
        mock.patch("sys.argv", ["any.py", "test", f"--config={config}"]),
        mock.patch.object(Trainer, "test", autospec=True) as test_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(test_mock, cli.trainer, cli.model, verbose=True, ckpt_path="foobar")
    assert cli.trainer.limit_test_batches == 1


def test_lightning_cli_config_before_and_after_subcommand():
    config1 = {"test": {"trainer": {"limit_test_batches": 1}, "verbose": True, "ckpt_path": "foobar"}}
    config2 = {"trainer": {"fast_dev_run": 1}, "verbose": False, "ckpt_path": "foobar"}
    with (
        mock.patch("sys.argv", ["any.py", f"--config={config1}", "test", f"--config={config2}"]),
        mock.patch.object(Trainer, "test", autospec=True) as test_mock,
    ):
        cli = LightningCLI(BoringModel)

    assert_called_once_with(test_mock, cli.trainer, cli.model, verbose=False, ckpt_path="foobar")
    assert cli.trainer.limit_test_batches == 1
    assert cli.trainer.fast_dev_run == 1


def test_lightning_cli_parse_kwargs_with_subcommands():
    fit_config = {"trainer": {"limit_train_batches": 2}}
    fit_config_path = Path("fit.yaml")
    fit_config_path.write_text(str(fit_config))

    validate_config = {"trainer": {"limit_val_batches": 3}}
    validate_config_path = Path("validate.yaml")
    validate_config_path.write_text(str(validate_config))

    parser_kwargs = {
        "fit": {"default_config_files": [str(fit_config_path)]},
        "validate": {"default_config_files": [str(validate_config_path)]},
    }

    with (
        mock.patch("sys.argv", ["any.py", "fit"]),
        mock.patch.object(Trainer, "fit", autospec=True) as fit_mock,
    ):
        cli = LightningCLI(BoringModel, parser_kwargs=parser_kwargs)
    fit_mock.assert_called()
    assert cli.trainer.limit_train_batches == 2
    assert cli.trainer.limit_val_batches == 1.0

    with (
        mock.patch("sys.argv", ["any.py", "validate"]),
        mock.patch.object(Trainer, "validate", autospec=True) as validate_mock,
    ):
        cli = LightningCLI(BoringModel, parser_kwargs=parser_kwargs)
    validate_mock.assert_called()
    assert cli.trainer.limit_train_batches == 1.0
    assert cli.trainer.limit_val_batches == 3


def test_lightning_cli_subcommands_common_default_config_files():
    class Model(BoringModel):
        def __init__(self, foo: int, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.foo = foo

    config = {"fit": {"model": {"foo": 123}}}
    config_path = Path("default.yaml")
    config_path.write_text(str(config))
    parser_kwargs = {"default_config_files": [str(config_path)]}

    with (
        mock.patch("sys.argv", ["any.py", "fit"]),
        mock.patch.object(Trainer, "fit", autospec=True) as fit_mock,
    ):
        cli = LightningCLI(Model, parser_kwargs=parser_kwargs)
    fit_mock.assert_called()
    assert cli.model.foo == 123


if __name__ == "__main__":
    cleandir()
    test_lightning_cli_args_callbacks()
    for run in (False, True):
        cleandir()
        test_lightning_cli_configurable_callbacks(run)
    cleandir()
    test_lightning_cli_submodules()
    test_lightning_cli_link_arguments()
    for fn in ("fit", "validate", "test", "predict"):
        test_lightning_cli_trainer_fn(fn)
    cleandir()
    test_lightning_cli_run()
    test_cli_auto_seeding()
    for args in (["--trainer.logger=False", "--model.foo=456"], {"trainer": {"logger": False}, "model": {"foo": 456}}):
        test_lightning_cli_with_args_given(args)
    test_lightning_cli_args_and_sys_argv_warning()
    test_lightning_cli_config_with_subcommand()
    test_lightning_cli_config_before_subcommand()
    test_lightning_cli_config_before_subcommand_two_configs()
    test_lightning_cli_config_after_subcommand()
    test_lightning_cli_config_before_and_after_subcommand()
    cleandir()
    test_lightning_cli_parse_kwargs_with_subcommands()
    cleandir()
    test_lightning_cli_subcommands_common_default_config_files()
    print("ok")
