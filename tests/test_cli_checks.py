"""Issue 12, item 3: the command lines check everything before anything runs.

``treadle fit``/``treadle validate`` and a script's ``treadle.cli.CLI`` run as subprocesses with
their exit codes asserted (0 success, 2 a configuration problem, as ``docs/cli.md`` says); the
heuristics behind them (close suggestions, the metric names a Module logs) are tested in
process.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

import pytest
import torch

from test_cli import CONFIG, dist_info, project, treadle_cli  # noqa: F401  (project: a fixture)
from treadle._cli_checks import close_match, logged_patterns, monitor_warnings
from treadle.cli import CLI
from treadle.config import TrainerConfig

# -- types, all problems at once -------------------------------------------------------------------


def test_wrong_types_are_configuration_problems_reported_together(project):
    """`--model.lr fast` was a TypeError traceback from the optimizer (exit 1), and a Trainer
    type error hid the others; each is now one line, exit code 2, nothing built."""
    marker = project / "ran.txt"
    result = treadle_cli(
        project,
        "validate",
        "--config",
        "run.yaml",
        "--model.lr",
        "fast",
        "--model.manual",
        "maybe",
        "--trainer.max_epochs",
        "y",
        "--epochs",
        "3",
        "--model.marker",
        str(marker),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "treadle validate: 4 configuration problems:\n"
        "  - `--epochs` is not an option; overrides look like `--trainer.max_epochs 3` "
        "(sections: model, data, trainer)\n"
        "  - model.init_args.lr: expected a number by Tiny, got 'fast' (the type of its "
        "default, 0.1; annotate `lr` in Tiny.__init__ to allow other values)\n"
        "  - model.init_args.manual: expected bool by Tiny, got 'maybe' (the type of its "
        "default, False; annotate `manual` in Tiny.__init__ to allow other values)\n"
        "  - TrainerConfig: `Trainer(max_epochs='y')`: Input should be a valid integer, unable "
        "to parse string as an integer\n"
    )
    assert not marker.exists()


def test_callback_arguments_are_checked_against_their_signature(project):
    callbacks = (
        "[{class_path: treadle_plugins.checkpointing.ModelCheckpoint, "
        "init_args: {monitr: val_loss, save_top_k: x}}]"
    )
    result = treadle_cli(
        project,
        "validate",
        "-c",
        "run.yaml",
        "--trainer.callbacks",
        callbacks,
        "--trainer.max_epochs",
        "y",
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "treadle validate: 3 configuration problems:\n"
        "  - trainer.callbacks[0].init_args.monitr: not an argument of ModelCheckpoint. Did you "
        "mean `trainer.callbacks[0].init_args.monitor`? Arguments: dirpath, filename, monitor, "
        "verbose, save_last, save_top_k, save_weights_only, mode, auto_insert_metric_name, "
        "every_n_train_steps, train_time_interval, every_n_epochs, save_on_train_epoch_end, "
        "enable_version_counter, save_on_exception\n"
        "  - trainer.callbacks[0].init_args.save_top_k: expected int by ModelCheckpoint, got "
        "'x' (Input should be a valid integer, unable to parse string as an integer)\n"
        "  - TrainerConfig: `Trainer(max_epochs='y')`: Input should be a valid integer, unable "
        "to parse string as an integer\n"
    )
    # What the signature cannot say, the callback's constructor does: still exit code 2.
    callbacks = (
        "[{class_path: treadle.callbacks.EarlyStopping, init_args: {monitor: val_loss, mode: mid}}]"
    )
    result = treadle_cli(project, "validate", "-c", "run.yaml", "--trainer.callbacks", callbacks)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "treadle validate: 1 configuration problem:\n"
        "  - trainer.callbacks[0]: EarlyStopping(mode='mid'): `mode` can be 'min' or 'max'.\n"
    )


# -- files ---------------------------------------------------------------------------------------


def test_a_yaml_syntax_error_is_reported_alone(project):
    (project / "broken.yaml").write_text("model: [\n")
    result = treadle_cli(project, "fit", "-c", "broken.yaml", "--model.lrr", "1")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "treadle fit: 1 configuration problem:\n"
        "  - broken.yaml: not valid YAML: while parsing a flow node\n"
        "expected the node content, but found '<stream end>'\n"
        "  in broken.yaml, line 2, column 1:\n"
        "    \n"
        "    ^\n"
    )


# -- suggestions ---------------------------------------------------------------------------------


def test_suggestions_only_when_close():
    fields = list(TrainerConfig.model_fields)
    # Lightning's `overfit_batches` where treadle had none: `limit_val_batches` (difflib's
    # default cutoff) would mislead.
    assert close_match("overfit_batches", [f for f in fields if f != "overfit_batches"]) is None
    assert close_match("val_batches", fields) is None
    assert close_match("max_epoch", fields) == "max_epochs"  # one letter off
    assert close_match("precison", fields) == "precision"


def test_suggestions_on_the_command_line(project):
    (project / "top.yaml").write_text(CONFIG + "overfit_batches: 1\nsed_everything: 1\n")
    result = treadle_cli(project, "validate", "-c", "top.yaml", "--trainer.overfit_batchs", "1")
    assert (result.returncode, result.stdout) == (2, "")
    valid = ", ".join(TrainerConfig.model_fields)
    assert result.stderr == (
        "treadle validate: 3 configuration problems:\n"
        "  - configuration: unknown top-level key `overfit_batches`; `overfit_batches` is a "
        "Trainer argument: put it under `trainer:`; valid keys: model, data, trainer, "
        "seed_everything, ckpt_path\n"
        "  - configuration: unknown top-level key `sed_everything`; did you mean "
        "`seed_everything`? valid keys: model, data, trainer, seed_everything, ckpt_path\n"
        "  - TrainerConfig: `Trainer(overfit_batchs=...)` is not a Trainer argument. Did you "
        f"mean `overfit_batches`? Valid arguments: {valid}\n"
    )


class Net(torch.nn.Module):
    def __init__(self, limit_val_batches: int = 1, every_n_epochs: int = 1):
        super().__init__()


def test_a_far_name_gets_no_suggestion_a_near_one_does(capsys):
    with pytest.raises(SystemExit) as exc:
        CLI(
            Net,
            subclass_mode_model=False,
            run=False,
            parser_kwargs={"prog": "main.py"},
            args=["--model.overfit_batches", "2", "--model.every_n_epoch", "3"],
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "main.py: 2 configuration problems:\n"
        "  - model.overfit_batches: not an argument of Net. Arguments: limit_val_batches, "
        "every_n_epochs\n"
        "  - model.every_n_epoch: not an argument of Net. Did you mean `model.every_n_epochs`? "
        "Arguments: limit_val_batches, every_n_epochs\n"
        "See `main.py --help`.\n"
    )


# -- callbacks' monitor ----------------------------------------------------------------------------

MONITORED = CONFIG.replace(
    "  enable_checkpointing: false\n",
    "  max_epochs: 2\n"
    "  callbacks:\n"
    "    - class_path: treadle_plugins.checkpointing.ModelCheckpoint\n"
    "      init_args: {monitor: val_los, dirpath: ckpts}\n",
).replace("  max_epochs: 1\n", "")


def test_a_monitor_never_logged_warns_at_validate_and_stops_fit_with_exit_2(project):
    (project / "monitored.yaml").write_text(MONITORED)
    warning = (
        "warning: `ModelCheckpoint(monitor='val_los')`: Tiny never logs `val_los` (its "
        "`self.log` calls name `train_loss`, `val_loss`). Did you mean `val_loss`? If it is not "
        "logged by the end of the first epoch, `fit` stops there with a configuration error.\n"
    )
    result = treadle_cli(project, "validate", "-c", "monitored.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "treadle validate: " + warning
    assert result.stdout.startswith("treadle validate: configuration OK: Tiny")

    result = treadle_cli(project, "fit", "-c", "monitored.yaml")
    assert result.returncode == 2
    assert "treadle fit: done" not in result.stdout
    assert without_run_lines(result.stderr) == (
        "treadle fit: " + warning + "treadle fit: 1 configuration problem:\n"
        "  - `ModelCheckpoint(monitor='val_los')`: no metric `val_los` was logged by the end of "
        "epoch 0; logged: `train_loss`, `val_loss`. Did you mean `val_loss`? Log it with "
        "`self.log('val_los', value)` in the Module, or change `monitor`.\n"
    )
    assert not (project / "ckpts").exists()  # stopped before ModelCheckpoint saved anything

    # spelled right: no warning, and the run saves its checkpoint
    (project / "right.yaml").write_text(MONITORED.replace("val_los,", "val_loss,"))
    result = treadle_cli(project, "fit", "-c", "right.yaml")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    saved = list((project / "ckpts").iterdir())
    assert len(saved) == 1 and saved[0].name.endswith(".ckpt"), saved  # save_top_k=1


class Logs(torch.nn.Module):
    def training_step(self, batch, batch_idx):
        loss = torch.log(batch).sum()  # torch.log is not a metric
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log(f"{self.stage}_acc", loss)
        self.log_dict({"lr": 1.0, "grad/norm": 2.0})
        return loss


class LogsAnything(Logs):
    def validation_step(self, batch, batch_idx):
        self.log_dict(self.metrics)


class Monitor:
    def __init__(self, monitor):
        self.monitor = monitor


def test_logged_names_are_read_from_the_source():
    patterns = logged_patterns([Logs])
    assert patterns == ["train_loss", ".*_acc", "lr", "grad/norm"]
    model = Logs()
    for metric in ("train_loss", "train_loss_epoch", "val_acc", "grad/norm", "lr/dataloader_idx_1"):
        assert monitor_warnings(model, [Monitor(metric)]) == [], metric
    assert monitor_warnings(model, [Monitor("train_los")]) == [
        "`Monitor(monitor='train_los')`: Logs never logs `train_los` (its `self.log` calls name "
        "`grad/norm`, `lr`, `train_loss`). Did you mean `train_loss`? If it is not logged by the "
        "end of the first epoch, `fit` stops there with a configuration error."
    ]
    # `log_dict(self.metrics)`: any name may be logged, so the heuristic says nothing
    assert monitor_warnings(LogsAnything(), [Monitor("train_los")]) == []


# -- treadle --version -------------------------------------------------------------------------


def test_version_lists_treadle_torch_pluggy_and_plugin_distributions(project):
    dist_info(
        project, "treadle-cli-ver", "0.7.1", {"cliver": "cli_ver_plugin"}, {"cli_ver_plugin": ""}
    )
    result = treadle_cli(project, "--version")
    assert (result.returncode, result.stderr) == (0, "")
    from importlib.metadata import version

    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"treadle {version('treadle')}",
        f"torch {version('torch')}",
        f"pluggy {version('pluggy')}",
        "plugin distributions (entry-point group 'treadle'):",
    ]
    assert "  treadle-cli-ver 0.7.1: cliver" in lines[4:]
    assert not any(line.startswith("  treadle ") for line in lines[4:])  # treadle is line 1


# -- a script's treadle.cli.CLI ------------------------------------------------------------------


def without_run_lines(stderr: str) -> str:
    """``stderr`` less the lines a run starts with (``treadle: accelerator: 'cpu' (...)``, and
    ``Seed set to N`` from ``seed_everything``, which the CLI calls first, as LightningCLI)."""
    return "".join(
        line
        for line in stderr.splitlines(True)
        if not line.startswith(("treadle: ", "Seed set to "))
    )


def run_script(cwd, *args):
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _script_literal(source: str) -> str:
    """The string literal given to ``textwrap.dedent`` for ``SCRIPT`` in ``source``, dedented."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SCRIPT":
            return repr(textwrap.dedent(node.value.args[0].value))
    raise AssertionError("SCRIPT not found")


@pytest.fixture
def script(tmp_path):
    # the script of tests/lightning/test_lightning_cli.py: a Model, a Data class, a CLI subclass
    source = (pathlib.Path(__file__).parent / "lightning" / "test_lightning_cli.py").read_text()
    (tmp_path / "train.py").write_text(ast.literal_eval(_script_literal(source)))
    return tmp_path


def test_the_user_cli_maps_trainer_and_monitor_errors_to_exit_2(script):
    result = run_script(script, "fit", "--model.hidden", "3", "--trainer.accelerator", "gpuu")
    assert (result.returncode, result.stdout) == (2, "")
    said = without_run_lines(result.stderr)
    assert said.startswith(
        "train.py fit: 1 configuration problem:\n  - Trainer: You selected an invalid "
        "accelerator name: `accelerator='gpuu'`."
    )
    assert "`accelerator='gpuu'` is not provided by any installed plugin." in said
    assert "Traceback" not in result.stderr
    callbacks = (
        "[{class_path: treadle_plugins.checkpointing.ModelCheckpoint, init_args: "
        "{monitor: val_los, dirpath: ckpts}}]"
    )
    result = run_script(
        script,
        "fit",
        "--model.hidden",
        "3",
        "--trainer.max_epochs",
        "2",
        "--trainer.callbacks",
        callbacks,
        "--trainer.enable_checkpointing",  # (the script turns it off; a ModelCheckpoint needs it)
        "true",
    )
    assert result.returncode == 2
    assert without_run_lines(result.stderr) == (
        "train.py fit: warning: `ModelCheckpoint(monitor='val_los')`: Model never logs "
        "`val_los` (its `self.log` calls name `test_loss`, `train_loss`, `val_loss`). Did you "
        "mean `val_loss`? If it is not logged by the end of the first epoch, `fit` stops there "
        "with a configuration error.\n"
        "train.py fit: 1 configuration problem:\n"
        "  - `ModelCheckpoint(monitor='val_los')`: no metric `val_los` was logged by the end of "
        "epoch 0; logged: `train_loss`, `val_loss`. Did you mean `val_loss`? Log it with "
        "`self.log('val_los', value)` in the Module, or change `monitor`.\n"
        "See `train.py fit --help`.\n"
    )


def test_the_user_cli_reports_a_file_problem_alone(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text("model: {lr: [\n")
    with pytest.raises(SystemExit) as exc:
        CLI(
            Net,
            run=False,
            parser_kwargs={"prog": "main.py"},
            args=["--config", str(tmp_path / "broken.yaml"), "--modle.x", "1"],
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"main.py: {tmp_path / 'broken.yaml'}: not valid YAML: ")
    assert "--modle.x" not in err


def test_arguments_without_annotation():
    """A number or bool default gives the type; `**kwargs` takes any name; None is accepted."""
    from treadle._user_cli import _fields, _validate_args

    def make(n=4, scale=1.0, flag=False, name="x", **rest):
        return n

    problems: list[str] = []
    checked = _validate_args(
        {"n": 2.5, "scale": 2, "flag": True, "name": 3, "other": "ok"},
        _fields(make),
        "data.",
        problems,
        make,
    )
    assert problems == []
    assert checked == {"n": 2.5, "scale": 2, "flag": True, "name": 3}  # checked, not converted
    _validate_args({"flag": 1, "n": None}, _fields(make), "data.", problems, make)
    assert problems == [
        "data.flag: expected bool by make, got 1 (the type of its default, False; annotate "
        "`flag` in make to allow other values)"
    ]


def test_an_annotation_pydantic_cannot_use_leaves_the_others_checked():
    """`get_type_hints` fails on the whole signature for one unresolvable name; pydantic
    fails on a forward reference: each such argument is unchecked, the others are not."""
    from collections.abc import Callable

    from treadle._user_cli import _fields, _validate_args

    source = (
        "def make(a: 'Undefined' = None, b: 'int' = 1, c: Callable[[int], 'Undefined'] = None):\n"
        "    return b\n"
    )
    namespace: dict = {"Callable": Callable}  # compiled without this module's __future__ import
    exec(compile(source, "<make>", "exec", dont_inherit=True), namespace)
    make = namespace["make"]
    assert not isinstance(make.__annotations__["c"], str)

    problems: list[str] = []
    checked = _validate_args({"a": 1, "b": "x", "c": len}, _fields(make), "data.", problems, make)
    assert problems == [
        "data.b: expected int by make, got 'x' (Input should be a valid integer, unable to "
        "parse string as an integer)"
    ]
    assert checked == {"a": 1, "c": len}
