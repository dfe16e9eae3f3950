# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/test_cli.py
#   (test_lightning_cli_print_config, test_cli_configure_optimizers_warning,
#    test_lightning_cli_single_arg_callback)
# Edits: the tests turned into one __main__ program asserting what they asserted; pytest.raises
#   -> try/except SystemExit; pytest.warns/no_warning_call -> warnings.catch_warnings;
#   `mock_subclasses` left out (the classes named are the demos'). Only the assertions on the
#   names Lightning writes are kept here: the rest of these tests (and test_lightning_cli_help,
#   `--model.help`, `cli.config_init`, `multifile`) is t_cli_3, which passes.
# Real differences from Lightning (docs/migration.md; an expected failure in
# tests/test_lightning_programs.py): the names Lightning writes are its own
# (`# lightning.pytorch==2.6.6` atop --print_config, `LightningCLI.configure_optimizers` in the
# warning, `lightning.pytorch.callbacks.DeviceStatsMonitor` as the class path of a short name);
# treadle writes `# treadle==VERSION`, `CLI.configure_optimizers` and
# `treadle.callbacks.DeviceStatsMonitor`, and accepts Lightning's class paths as input.
import warnings
from contextlib import redirect_stdout
from io import StringIO
from unittest import mock

from lightning.pytorch import LightningDataModule, LightningModule, __version__
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringModel


def any_model_any_data_cli():
    LightningCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True)


def exits(fn):
    try:
        fn()
    except SystemExit:
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
    # test dump_header
    assert text.startswith(f"# lightning.pytorch=={__version__}"), text.splitlines()[0]


def test_cli_configure_optimizers_warning():
    match = "configure_optimizers` will be overridden by `LightningCLI"
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

    assert cli.config.trainer.callbacks.class_path == "lightning.pytorch.callbacks.DeviceStatsMonitor", (
        cli.config.trainer.callbacks
    )


if __name__ == "__main__":
    failed = []
    for test in (
        test_lightning_cli_print_config,
        test_cli_configure_optimizers_warning,
        test_lightning_cli_single_arg_callback,
    ):
        try:
            test()
        except Exception as exc:  # every difference is reported, then the program fails
            failed.append(f"{test.__name__}: {type(exc).__name__}: {exc}")
    if failed:
        raise SystemExit("\n".join(failed))
    print("ok")
