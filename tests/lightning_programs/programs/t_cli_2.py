# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/test_cli.py
#   (test_lightning_cli_save_config_cases, test_lightning_cli_save_config_only_once,
#    test_cli_config_overwrite, test_lightning_cli_args (the config.yaml part),
#    test_lightning_cli_optimizer, test_lightning_cli_optimizer_and_lr_scheduler,
#    test_cli_no_need_configure_optimizers, test_lightning_cli_optimizer_and_lr_scheduler_subclasses,
#    test_lightning_cli_optimizers_and_lr_scheduler_with_link_to,
#    test_optimizers_and_lr_schedulers_reload,
#    test_optimizers_and_lr_schedulers_add_arguments_to_parser_implemented_reload,
#    test_cli_reducelronplateau,
#    test_cli_configureoptimizers_can_be_overridden)
# Edits: the tests turned into one __main__ program asserting what they asserted; `tmp_path` /
#   `cleandir` -> a tempfile dir made the working directory; parametrizations unrolled;
#   pytest.raises/pytest.warns -> try/except and warnings.catch_warnings; `no_warning_call` -> no
#   such warning recorded; test_cli_no_need_configure_optimizers runs the fit (2 steps) instead of
#   patching `Trainer._run_stage` and the configuration validator; in test_lightning_cli_args the
#   `"model" not in loaded_config` check left out (treadle writes `model: {}` for a model without
#   arguments), `--data.data_dir` dropped (2.6.6's BoringDataModule has no arguments) and the data
#   section compared with .get, the file compared by its data, seed and max_epochs.
#   Left out: test_lightning_cli (SaveConfigCallback.parser.dump compared line by line with
#   jsonargparse's dump), test_cli_distributed_save_config_callback (ddp processes),
#   test_lightning_cli_save_hyperparameters* (hparams from the configuration), the `+=` append
#   syntax of test_callbacks_append; test_cli_configure_optimizers_warning, the print_config header and
#   the other real differences are t_cli_differences.
import json
import os
import tempfile
import warnings
from io import StringIO
from contextlib import redirect_stdout
from unittest import mock

import torch
import yaml
from torch.optim import SGD
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR

from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningCLI, LRSchedulerTypeTuple, SaveConfigCallback, instantiate_class
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel


def cleandir():
    path = tempfile.mkdtemp()
    os.chdir(path)
    return path


def raises(exc_type, match, fn):
    try:
        fn()
    except exc_type as exc:
        assert match in str(exc), str(exc)
        return
    raise AssertionError(f"{exc_type.__name__} not raised")


def test_lightning_cli_args():
    tmpdir = cleandir()
    cli_args = [
        "fit",
        f"--trainer.default_root_dir={tmpdir}",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.enable_model_summary=False",
        "--seed_everything=1234",
    ]
    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = LightningCLI(BoringModel, BoringDataModule, trainer_defaults={"callbacks": [LearningRateMonitor()]})

    config_path = os.path.join(tmpdir, "lightning_logs", "version_0", "config.yaml")
    assert os.path.isfile(config_path)
    with open(config_path) as f:
        loaded_config = yaml.safe_load(f.read())

    cli_config = cli.config["fit"].as_dict()
    assert cli_config["seed_everything"] == 1234
    assert loaded_config["seed_everything"] == 1234
    assert loaded_config.get("data") == cli_config.get("data")
    assert loaded_config["trainer"]["max_epochs"] == cli_config["trainer"]["max_epochs"] == 1


def test_lightning_cli_save_config_cases():
    tmpdir = cleandir()
    config_path = os.path.join(tmpdir, "config.yaml")
    cli_args = ["fit", f"--trainer.default_root_dir={tmpdir}", "--trainer.logger=False", "--trainer.fast_dev_run=1"]

    # With fast_dev_run!=False config should not be saved
    with mock.patch("sys.argv", ["any.py"] + cli_args):
        LightningCLI(BoringModel)
    assert not os.path.isfile(config_path)

    # With fast_dev_run==False config should be saved
    cli_args[-1] = "--trainer.max_epochs=1"
    cli_args += ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
    with mock.patch("sys.argv", ["any.py"] + cli_args):
        LightningCLI(BoringModel)
    assert os.path.isfile(config_path)

    # If run again on same directory exception should be raised since config file already exists
    with mock.patch("sys.argv", ["any.py"] + cli_args):
        raises(RuntimeError, "Aborting to avoid overwriting", lambda: LightningCLI(BoringModel))


def test_lightning_cli_save_config_only_once():
    tmpdir = cleandir()
    config_path = os.path.join(tmpdir, "config.yaml")
    cli_args = [f"--trainer.default_root_dir={tmpdir}", "--trainer.logger=False", "--trainer.max_epochs=1"]
    cli_args += ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1", "--trainer.limit_test_batches=1"]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = LightningCLI(BoringModel, run=False)

    save_config_callback = next(c for c in cli.trainer.callbacks if isinstance(c, SaveConfigCallback))
    assert not save_config_callback.overwrite
    assert not save_config_callback.already_saved
    cli.trainer.fit(cli.model)
    assert os.path.isfile(config_path)
    assert save_config_callback.already_saved
    cli.trainer.test(cli.model)  # Should not fail because config already saved


def test_cli_config_overwrite():
    tmpdir = cleandir()
    trainer_defaults = {"default_root_dir": str(tmpdir), "logger": False, "max_steps": 1, "max_epochs": 1}

    argv = ["any.py", "fit"]
    with mock.patch("sys.argv", argv):
        LightningCLI(BoringModel, trainer_defaults=trainer_defaults)
    with mock.patch("sys.argv", argv):
        raises(
            RuntimeError,
            "Aborting to avoid overwriting",
            lambda: LightningCLI(BoringModel, trainer_defaults=trainer_defaults),
        )
    with mock.patch("sys.argv", argv):
        LightningCLI(BoringModel, save_config_kwargs={"overwrite": True}, trainer_defaults=trainer_defaults)


def test_lightning_cli_optimizer(run):
    tmpdir = cleandir()

    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(torch.optim.Adam)

    match = "BoringModel.configure_optimizers` will be overridden by `MyLightningCLI.configure_optimizers`"
    argv = ["fit", "--trainer.fast_dev_run=1"] if run else []
    with mock.patch("sys.argv", ["any.py"] + argv), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = MyLightningCLI(BoringModel, run=run, trainer_defaults={"default_root_dir": tmpdir})
    assert any(match in str(w.message) and issubclass(w.category, UserWarning) for w in caught)

    assert cli.model.configure_optimizers is not BoringModel.configure_optimizers

    if not run:
        optimizer = cli.model.configure_optimizers()
        assert isinstance(optimizer, torch.optim.Adam)
    else:
        assert len(cli.trainer.optimizers) == 1
        assert isinstance(cli.trainer.optimizers[0], torch.optim.Adam)
        assert len(cli.trainer.lr_scheduler_configs) == 0


def test_lightning_cli_optimizer_and_lr_scheduler():
    tmpdir = cleandir()

    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(torch.optim.Adam)
            parser.add_lr_scheduler_args(torch.optim.lr_scheduler.ExponentialLR)

    cli_args = ["fit", f"--trainer.default_root_dir={tmpdir}", "--trainer.fast_dev_run=1", "--lr_scheduler.gamma=0.8"]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(BoringModel)

    assert cli.model.configure_optimizers is not BoringModel.configure_optimizers
    assert len(cli.trainer.optimizers) == 1
    assert isinstance(cli.trainer.optimizers[0], torch.optim.Adam)
    assert len(cli.trainer.lr_scheduler_configs) == 1
    assert isinstance(cli.trainer.lr_scheduler_configs[0].scheduler, torch.optim.lr_scheduler.ExponentialLR)
    assert cli.trainer.lr_scheduler_configs[0].scheduler.gamma == 0.8


def test_cli_no_need_configure_optimizers():
    tmpdir = cleandir()

    class BoringModel(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(32, 2)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).sum()

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.randn(8, 32), batch_size=4)

        # did not define `configure_optimizers`

    argv = ["any.py", "fit", "--optimizer=Adam", "--trainer.max_steps=2", f"--trainer.default_root_dir={tmpdir}"]
    with mock.patch("sys.argv", argv):
        cli = LightningCLI(BoringModel)
    assert cli.trainer.global_step == 2
    assert isinstance(cli.trainer.optimizers[0], torch.optim.Adam)


def test_lightning_cli_optimizer_and_lr_scheduler_subclasses():
    tmpdir = cleandir()

    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args((torch.optim.SGD, torch.optim.Adam))
            parser.add_lr_scheduler_args((torch.optim.lr_scheduler.StepLR, torch.optim.lr_scheduler.ExponentialLR))

    optimizer_arg = {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}
    lr_scheduler_arg = {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 50}}
    cli_args = [
        "fit",
        f"--trainer.default_root_dir={tmpdir}",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        f"--optimizer={json.dumps(optimizer_arg)}",
        f"--lr_scheduler={json.dumps(lr_scheduler_arg)}",
    ]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(BoringModel)

    assert len(cli.trainer.optimizers) == 1
    assert isinstance(cli.trainer.optimizers[0], torch.optim.Adam)
    assert len(cli.trainer.lr_scheduler_configs) == 1
    assert isinstance(cli.trainer.lr_scheduler_configs[0].scheduler, torch.optim.lr_scheduler.StepLR)
    assert cli.trainer.lr_scheduler_configs[0].scheduler.step_size == 50


def test_lightning_cli_optimizers_and_lr_scheduler_with_link_to(use_generic_base_class):
    tmpdir = cleandir()

    class MyLightningCLI(LightningCLI):
        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(
                (torch.optim.Optimizer,) if use_generic_base_class else torch.optim.Adam,
                nested_key="optim1",
                link_to="model.optim1",
            )
            parser.add_optimizer_args((torch.optim.ASGD, torch.optim.SGD), nested_key="optim2", link_to="model.optim2")
            parser.add_lr_scheduler_args(
                LRSchedulerTypeTuple if use_generic_base_class else torch.optim.lr_scheduler.ExponentialLR,
                link_to="model.scheduler",
            )

    class TestModel(BoringModel):
        def __init__(self, optim1: dict, optim2: dict, scheduler: dict):
            super().__init__()
            self.optim1 = instantiate_class(self.parameters(), optim1)
            self.optim2 = instantiate_class(self.parameters(), optim2)
            self.scheduler = instantiate_class(self.optim1, scheduler)

    cli_args = ["fit", f"--trainer.default_root_dir={tmpdir}", "--trainer.max_epochs=1"]
    cli_args += ["--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
    if use_generic_base_class:
        cli_args += [
            "--optim1",
            "Adam",
            "--optim1.weight_decay",
            "0.001",
            "--optim2=SGD",
            "--optim2.lr=0.01",
            "--lr_scheduler=ExponentialLR",
        ]
    else:
        cli_args += ["--optim2=SGD", "--optim2.lr=0.01"]
    cli_args += ["--lr_scheduler.gamma=0.2"]

    with mock.patch("sys.argv", ["any.py"] + cli_args):
        cli = MyLightningCLI(TestModel)

    assert isinstance(cli.model.optim1, torch.optim.Adam)
    assert isinstance(cli.model.optim2, torch.optim.SGD)
    assert cli.model.optim2.param_groups[0]["lr"] == 0.01
    assert isinstance(cli.model.scheduler, torch.optim.lr_scheduler.ExponentialLR)


def test_optimizers_and_lr_schedulers_reload():
    tmpdir = cleandir()
    base = ["any.py", "--trainer.max_epochs=1"]
    input = base + [
        "--lr_scheduler",
        "OneCycleLR",
        "--lr_scheduler.total_steps=10",
        "--lr_scheduler.max_lr=1",
        "--optimizer",
        "Adam",
        "--optimizer.lr=0.1",
    ]

    # save config
    out = StringIO()
    with mock.patch("sys.argv", input + ["--print_config"]), redirect_stdout(out):
        raises(SystemExit, "0", lambda: LightningCLI(BoringModel, run=False))

    # validate yaml
    yaml_config = out.getvalue()
    dict_config = yaml.safe_load(yaml_config)
    assert dict_config["optimizer"]["class_path"] == "torch.optim.Adam"
    assert dict_config["optimizer"]["init_args"]["lr"] == 0.1
    assert dict_config["lr_scheduler"]["class_path"] == "torch.optim.lr_scheduler.OneCycleLR"

    # reload config
    yaml_config_file = os.path.join(tmpdir, "config.yaml")
    with open(yaml_config_file, "w") as f:
        f.write(yaml_config)
    with mock.patch("sys.argv", base + [f"--config={yaml_config_file}"]):
        LightningCLI(BoringModel, run=False)


def test_optimizers_and_lr_schedulers_add_arguments_to_parser_implemented_reload():
    tmpdir = cleandir()

    class TestLightningCLI(LightningCLI):
        def __init__(self, *args):
            super().__init__(*args, run=False)

        def add_arguments_to_parser(self, parser):
            parser.add_optimizer_args(nested_key="opt1", link_to="model.opt1_config")
            parser.add_optimizer_args((torch.optim.ASGD, torch.optim.SGD), nested_key="opt2", link_to="model.opt2_config")
            parser.add_lr_scheduler_args(link_to="model.sch_config")
            parser.add_argument("--something", type=str, nargs="+")

    class TestModel(BoringModel):
        def __init__(self, opt1_config: dict, opt2_config: dict, sch_config: dict):
            super().__init__()
            self.opt1_config = opt1_config
            self.opt2_config = opt2_config
            self.sch_config = sch_config
            opt1 = instantiate_class(self.parameters(), opt1_config)
            assert isinstance(opt1, torch.optim.Adam)
            opt2 = instantiate_class(self.parameters(), opt2_config)
            assert isinstance(opt2, torch.optim.ASGD)
            sch = instantiate_class(opt1, sch_config)
            assert isinstance(sch, torch.optim.lr_scheduler.OneCycleLR)

    base = ["any.py", "--trainer.max_epochs=1"]
    input = base + [
        "--lr_scheduler",
        "OneCycleLR",
        "--lr_scheduler.total_steps=10",
        "--lr_scheduler.max_lr=1",
        "--opt1",
        "Adam",
        "--opt2=ASGD",
        "--opt2.lr=0.1",
        "--lr_scheduler.anneal_strategy=linear",
        "--something",
        "a",
        "b",
        "c",
    ]

    # save config
    out = StringIO()
    with mock.patch("sys.argv", input + ["--print_config"]), redirect_stdout(out):
        raises(SystemExit, "0", lambda: TestLightningCLI(TestModel))

    # validate yaml
    yaml_config = out.getvalue()
    dict_config = yaml.safe_load(yaml_config)
    assert dict_config["opt1"]["class_path"] == "torch.optim.Adam"
    assert dict_config["opt2"]["class_path"] == "torch.optim.ASGD"
    assert dict_config["opt2"]["init_args"]["lr"] == 0.1
    assert dict_config["lr_scheduler"]["class_path"] == "torch.optim.lr_scheduler.OneCycleLR"
    assert dict_config["lr_scheduler"]["init_args"]["anneal_strategy"] == "linear"
    assert dict_config["something"] == ["a", "b", "c"]

    # reload config
    yaml_config_file = os.path.join(tmpdir, "config.yaml")
    with open(yaml_config_file, "w") as f:
        f.write(yaml_config)
    with mock.patch("sys.argv", base + [f"--config={yaml_config_file}"]):
        cli = TestLightningCLI(TestModel)

    assert cli.model.opt1_config["class_path"] == "torch.optim.Adam"
    assert cli.model.opt2_config["class_path"] == "torch.optim.ASGD"
    assert cli.model.opt2_config["init_args"]["lr"] == 0.1
    assert cli.model.sch_config["class_path"] == "torch.optim.lr_scheduler.OneCycleLR"
    assert cli.model.sch_config["init_args"]["anneal_strategy"] == "linear"


def test_cli_reducelronplateau():
    with mock.patch(
        "sys.argv", ["any.py", "--optimizer=Adam", "--lr_scheduler=ReduceLROnPlateau", "--lr_scheduler.monitor=foo"]
    ):
        cli = LightningCLI(BoringModel, run=False)
    config = cli.model.configure_optimizers()
    assert isinstance(config["lr_scheduler"]["scheduler"], ReduceLROnPlateau)
    assert config["lr_scheduler"]["scheduler"].monitor == "foo"


def test_cli_configureoptimizers_can_be_overridden():
    class MyCLI(LightningCLI):
        def __init__(self):
            super().__init__(BoringModel, run=False)

        @staticmethod
        def configure_optimizers(self, optimizer, lr_scheduler=None):
            assert isinstance(self, BoringModel)
            assert lr_scheduler is None
            return 123

    with mock.patch("sys.argv", ["any.py", "--optimizer=Adam"]):
        cli = MyCLI()
    assert cli.model.configure_optimizers() == 123

    # with no optimization config, we don't override
    with mock.patch("sys.argv", ["any.py"]):
        cli = MyCLI()
    [optimizer], [scheduler] = cli.model.configure_optimizers()
    assert isinstance(optimizer, SGD)
    assert isinstance(scheduler, StepLR)
    with mock.patch("sys.argv", ["any.py", "--lr_scheduler=StepLR", "--lr_scheduler.step_size=50"]):
        cli = MyCLI()
    [optimizer], [scheduler] = cli.model.configure_optimizers()
    assert isinstance(optimizer, SGD)
    assert isinstance(scheduler, StepLR)


if __name__ == "__main__":
    test_lightning_cli_args()
    test_lightning_cli_save_config_cases()
    test_lightning_cli_save_config_only_once()
    test_cli_config_overwrite()
    for run in (False, True):
        test_lightning_cli_optimizer(run)
    test_lightning_cli_optimizer_and_lr_scheduler()
    test_cli_no_need_configure_optimizers()
    test_lightning_cli_optimizer_and_lr_scheduler_subclasses()
    for use_generic_base_class in (False, True):
        test_lightning_cli_optimizers_and_lr_scheduler_with_link_to(use_generic_base_class)
    test_optimizers_and_lr_schedulers_reload()
    test_optimizers_and_lr_schedulers_add_arguments_to_parser_implemented_reload()
    cleandir()
    test_cli_reducelronplateau()
    test_cli_configureoptimizers_can_be_overridden()
    print("ok")
