"""The command line, run for real: ``python -m treadle ...`` in a subprocess.

The model and data live in a module written under ``tmp_path`` and found through
``PYTHONPATH``, as a user's own code would be; third-party plugins are real ``*.dist-info``
directories on that path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from treadle.testing import write_distribution

TINY = '''
    import pathlib

    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    import treadle


    class Tiny(treadle.Module):
        def __init__(self, lr=0.1, hidden=4, manual=False, marker=None):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Tanh(),
                                           torch.nn.Linear(hidden, 1))
            self.lr = lr
            self.automatic_optimization = not manual
            self.marker = marker

        def training_step(self, batch, batch_idx):
            if self.marker:
                pathlib.Path(self.marker).write_text(f"trained lr={self.lr!r}")
            x, y = batch
            loss = F.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", F.mse_loss(self.net(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)


    def make_data(n=16, batch_size=4):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 3, generator=g)
        ds = TensorDataset(x, x.sum(1, keepdim=True))
        return {"train": DataLoader(ds, batch_size=batch_size),
                "val": DataLoader(ds, batch_size=batch_size)}


    class TinyData:
        """Lightning's DataModule shape: setup(stage), train_dataloader(), val_dataloader()."""

        def __init__(self, n=8):
            self.n = n
            self.stage = None

        def setup(self, stage):
            self.stage = stage

        def train_dataloader(self):
            assert self.stage == "fit"
            return make_data(self.n)["train"]

        def val_dataloader(self):
            return None
'''

CONFIG = """\
seed_everything: 0
model:
  class_path: cli_tiny.Tiny
  init_args:
    lr: 0.05
data:
  class_path: cli_tiny.make_data
  init_args: {n: 16, batch_size: 4}
trainer:
  accelerator: cpu
  max_epochs: 1
  logger: false
  enable_progress_bar: false
  enable_checkpointing: false
"""

ACCEL_PLUGIN = """
    import treadle

    @treadle.hookimpl
    def provide_accelerators():
        return [treadle.Provider("accelerator", "cliaccel", lambda trainer: None, available=False,
                                 install_hint="pip install treadle-cli-accel[hw]",
                                 description="A test accelerator.")]
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "cli_tiny.py").write_text(textwrap.dedent(TINY))
    (tmp_path / "run.yaml").write_text(CONFIG)
    return tmp_path


def dist_info(root, dist, version, entry_points, modules):
    """A distribution as pip leaves it, in ``root`` (treadle's kit writes it)."""
    write_distribution(root, dist, entry_points, version=version, modules=modules)


def treadle_cli(cwd, *args, command=(sys.executable, "-m", "treadle"), **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))
    environ.update(env)
    return subprocess.run(
        [*command, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=240
    )


# -- treadle plugins -------------------------------------------------------------------------------


def test_plugins_lists_distributions_versions_and_providers(project):
    dist_info(
        project,
        "treadle-cli-accel",
        "0.9",
        {"cliaccel": "cli_accel_plugin"},
        {"cli_accel_plugin": ACCEL_PLUGIN},
    )
    dist_info(
        project,
        "treadle-cli-boom",
        "0.1",
        {"cliboom": "cli_boom_plugin"},
        {"cli_boom_plugin": "raise RuntimeError('boom at import')\n"},
    )
    result = treadle_cli(project, "plugins", "-v")
    assert result.returncode == 3, result.stderr  # a plugin failed to import
    out = result.stdout
    assert (
        textwrap.dedent("""\
        cpu = treadle_plugins.accelerators.cpu
            distribution: treadle 0.1.0
            status: loaded
            accelerator 'cpu': available -- The CPU: always available.
        """)
        in out
    )
    assert (
        textwrap.dedent("""\
        cliaccel = cli_accel_plugin
            distribution: treadle-cli-accel 0.9
            status: loaded
            accelerator 'cliaccel': unavailable (install with: pip install treadle-cli-accel[hw]) \
-- A test accelerator.
        """)
        in out
    )
    assert (
        "cliboom = cli_boom_plugin\n    distribution: treadle-cli-boom 0.1\n    status: "
        "failed: Plugin entry point `cliboom = cli_boom_plugin` (group 'treadle') of "
        "distribution treadle-cli-boom 0.1 failed to import: RuntimeError: boom at import. "
        "To run without it, set TREADLE_BLOCK_PLUGINS=cliboom\n" in out
    )
    for line in (
        "  accelerator: ",
        "  precision: ",
        "  strategy: ",
        "  environment: ",
        "  logger: ",
    ):
        assert "\n" + line in out
    assert "cliaccel (unavailable)" in out and "cpu (available)" in out
    assert "32-true (available)" in out
    assert "\nProblems:\n  - Plugin entry point `cliboom = cli_boom_plugin`" in out


def test_plugins_shows_blocked_and_not_autoloaded_entry_points(project):
    dist_info(
        project,
        "treadle-cli-accel",
        "0.9",
        {"cliaccel": "cli_accel_plugin"},
        {"cli_accel_plugin": ACCEL_PLUGIN},
    )
    dist_info(
        project,
        "treadle-cli-boom",
        "0.1",
        {"cliboom": "cli_boom_plugin"},
        {"cli_boom_plugin": "raise RuntimeError('boom at import')\n"},
    )
    result = treadle_cli(
        project,
        "plugins",
        "-v",
        TREADLE_DISABLE_PLUGIN_AUTOLOAD="1",
        TREADLE_BLOCK_PLUGINS="cliboom",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert (
        "cliaccel = cli_accel_plugin\n    distribution: treadle-cli-accel 0.9\n"
        "    status: not loaded: TREADLE_DISABLE_PLUGIN_AUTOLOAD is set\n"
    ) in out
    assert (
        "cliboom = cli_boom_plugin\n    distribution: treadle-cli-boom 0.1\n"
        "    status: blocked by TREADLE_BLOCK_PLUGINS\n"
    ) in out
    assert (
        "cpu = treadle_plugins.accelerators.cpu\n    distribution: treadle 0.1.0\n"
        "    status: loaded\n" in out
    )
    assert "cliaccel (" not in out  # never imported, so its records are unknown


# -- treadle fit -----------------------------------------------------------------------------------


def test_fit_trains_with_overrides(project):
    marker = project / "ran.txt"
    result = treadle_cli(
        project,
        "fit",
        "--config",
        "run.yaml",
        "--trainer.max_epochs",
        "2",
        "--model.init_args.lr=1e-2",
        "--model.marker",
        str(marker),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith(
        "treadle fit: done: Tiny, accelerator='cpu', precision='32-true', "
        "strategy='single_device', epochs=2, global_step=8, train_loss="
    )
    assert ", val_loss=" in lines[-1]
    assert marker.read_text() == "trained lr=0.01"  # "1e-2" was read as a number


def test_fit_with_a_datamodule_object(project):
    (project / "dm.yaml").write_text(
        CONFIG.replace(
            "  class_path: cli_tiny.make_data\n  init_args: {n: 16, batch_size: 4}",
            "  class_path: cli_tiny.TinyData\n  init_args: {n: 8}",
        )
    )
    result = treadle_cli(project, "fit", "-c", "dm.yaml")
    assert result.returncode == 0, result.stderr
    assert "epochs=1, global_step=2, train_loss=" in result.stdout
    assert "val_loss" not in result.stdout  # val_dataloader() returned None


# -- treadle validate ------------------------------------------------------------------------------


def test_validate_checks_and_trains_nothing(project):
    marker = project / "ran.txt"
    result = treadle_cli(project, "validate", "--config", "run.yaml", "--model.marker", str(marker))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "treadle validate: configuration OK: Tiny, accelerator='cpu', precision='32-true', "
        "strategy='single_device', optimizers=1, schedulers=0; nothing was trained\n"
    )
    assert not marker.exists()


def test_validate_prints_every_problem_and_exits_2(project):
    marker = project / "ran.txt"
    result = treadle_cli(
        project,
        "validate",
        "--config",
        "run.yaml",
        "--model.manual",
        "true",
        "--trainer.gradient_clip_val",
        "1.0",
        "--trainer.accumulate_grad_batches",
        "2",
        "--model.marker",
        str(marker),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "treadle validate: 2 configuration problems:\n"
        "  - treadle.core: Automatic gradient clipping is not supported for manual "
        "optimization: `Trainer(gradient_clip_val=1.0)` has no effect with manual "
        "optimization (`automatic_optimization = False`). Clip in training_step with "
        "`self.clip_gradients(opt, gradient_clip_val=1.0, gradient_clip_algorithm='norm')` and "
        "remove the Trainer argument.\n"
        "  - treadle.core: Automatic gradient accumulation is not supported for manual "
        "optimization: `Trainer(accumulate_grad_batches=2)` has no effect with manual "
        "optimization (`automatic_optimization = False`). Accumulate in training_step (step "
        "every N batches, as in the guide) and remove the Trainer argument.\n"
    )
    assert not marker.exists()


def test_problems_in_the_file_and_the_trainer_arguments_are_printed_together(project):
    (project / "bad.yaml").write_text(
        CONFIG.replace("    lr: 0.05", "    lr: 0.05\n    bogus: 1").replace(
            "cli_tiny.make_data", "cli_tiny.no_such_function"
        )
        + "  max_epoch: 3\nsed_everything: 1\n"
    )
    result = treadle_cli(project, "validate", "--config", "bad.yaml", "--trainer.max_steps", "-7")
    assert result.returncode == 2
    err = result.stderr
    assert err.startswith("treadle validate: 5 configuration problems:\n")
    for problem in (
        "  - configuration: unknown top-level key `sed_everything`; did you mean "
        "`seed_everything`? valid keys: model, data, trainer, seed_everything, ckpt_path\n",
        "  - model.init_args.bogus: not an argument of Tiny. Arguments: lr, hidden, manual, "
        "marker\n",
        "  - data: `class_path: cli_tiny.no_such_function` cannot be imported: AttributeError: "
        "module 'cli_tiny' has no attribute 'no_such_function'. Is its package installed or on "
        "PYTHONPATH?\n",
        "  - TrainerConfig: `Trainer(max_steps=-7)`: `max_steps` must be a non-negative integer "
        "or -1 (no limit). You passed in -7.\n",
        "  - TrainerConfig: `Trainer(max_epoch=...)` is not a Trainer argument. Did you mean "
        "`max_epochs`?",
    ):
        assert problem in err


def test_a_selection_problem_exits_2(project):
    result = treadle_cli(project, "fit", "--config", "run.yaml", "--trainer.accelerator", "gpuu")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "treadle fit: 1 configuration problem:\n  - Trainer: You selected an invalid "
        "accelerator name: `accelerator='gpuu'`. "
    )
    assert "is not provided by any installed plugin. Available names: " in result.stderr


def test_a_missing_file_is_reported_alone(project):
    """No false "model: missing" and no override problems behind a file that cannot be read."""
    result = treadle_cli(project, "fit", "--config", "missing.yaml", "--epochs", "3")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "treadle fit: 1 configuration problem:\n"
        "  - --config missing.yaml: cannot be read: No such file or directory\n"
    )


@pytest.mark.skipif(shutil.which("treadle") is None, reason="the `treadle` script is not on PATH")
def test_the_console_script(project):
    result = treadle_cli(project, "validate", "--config", "run.yaml", command=("treadle",))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("treadle validate: configuration OK: Tiny")


def test_plugins_starts_light(project):
    """`treadle plugins` loads the plugins (and torch) but neither pydantic nor YAML."""
    code = (
        "import sys; from treadle.cli import main; rc = main(['plugins']); "
        "print('heavy:', sorted(m for m in ('pydantic', 'yaml') if m in sys.modules), rc)"
    )
    result = treadle_cli(project, "-c", code, command=(sys.executable,))
    assert result.stdout.splitlines()[-1] == "heavy: [] 0", result.stderr
