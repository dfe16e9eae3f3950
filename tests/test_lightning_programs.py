"""Real Lightning programs run on treadle with only their imports mapped (issue 10's measure).

Every ``tests/lightning_programs/programs/*.py`` is a Lightning program as published (its
imports are Lightning's; each file's header lists its source and its few edits: random data in
place of downloads, tiny sizes). Each test maps the imports with ``mapper.py``, as a user moving
the program would, and runs the result in a fresh folder in a subprocess of its own: it must
exit 0. ``tests/lightning_programs/README.md`` has the table; ``run_all.py`` also runs each
program on Lightning, where Lightning is installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "lightning_programs"
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mapper import map_source  # noqa: E402

PROGRAMS = sorted((HERE / "programs").glob("*.py"))
# (the longest, tut_trainer_flags and the 2-process DDP programs, take 40-70 s on a busy
# 2-core machine: the limit catches a hang, not a slow start)
TIMEOUT_S = 150


_LAUNCH_VARIABLES = frozenset(
    {
        "MASTER_ADDR",
        "MASTER_PORT",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "NODE_RANK",
        "GROUP_RANK",
    }
)


def _program_env() -> dict:
    # A program starts as from a user's shell: no treadle settings, and no launch variables
    # that an earlier test's in-process DDP run left in this process's environment
    # (MASTER_ADDR, ...: Lightning's SLURM test reads its address from SLURM_NODELIST only
    # when MASTER_ADDR is unset)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TREADLE_", "SLURM_", "TORCHELASTIC_")) and k not in _LAUNCH_VARIABLES
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "core"), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    env["TREADLE_QUIET"] = "1"
    return env


class _Run:
    """One mapped program started in ``folder/run`` (its fresh working folder), its output
    going to files beside that folder, so it can run before its test waits for it."""

    def __init__(self, program: Path, folder: Path) -> None:
        self.program, cwd = program, folder / "run"
        cwd.mkdir()
        mapped = cwd / program.name
        mapped.write_text(map_source(program.read_text()))
        self.out, self.err = folder / "stdout.txt", folder / "stderr.txt"
        self.started = time.monotonic()
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(mapped)],
                cwd=cwd,
                env=_program_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait(self) -> subprocess.CompletedProcess:
        """The program's exit status and output; a failure when it runs past ``TIMEOUT_S``
        (counted from its start)."""
        try:
            self.proc.wait(timeout=max(0.0, TIMEOUT_S - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"{self.program.name} ran past {TIMEOUT_S}s\n"
                f"{self.out.read_text()[-3000:]}\n{self.err.read_text()[-3000:]}"
            )
        return subprocess.CompletedProcess(
            self.proc.args, self.proc.returncode, self.out.read_text(), self.err.read_text()
        )


# Programs that run alone: several processes (DDP, DeepSpeed, spawn, launchers), clocks and
# timeouts (Timer, max_time, time-based validation), signals, torch.compile. Any other program
# starts while the one before it runs: two at a time on two cores (the 63 doc_ programs: 312 s
# one at a time, 243 s so), and each program is still a process of its own, started as from a
# shell. A program that matches by accident only loses the overlap.
_ALONE = re.compile(
    r"ddp|deepspeed|fsdp|spawn|devices=[2-9]|num_processes|num_nodes|Timer|time\.sleep|"
    r"time\.time|monotonic|signal|SIGTERM|max_time|torch\.compile|multiprocessing|subprocess|"
    r"Popen",
    re.IGNORECASE,
)


def _shares_the_machine(program: Path) -> bool:
    return not _ALONE.search(program.read_text())


class _Programs:
    """Starts each selected program, and the next one with it where both share the machine."""

    def __init__(self, session: pytest.Session, base: Path) -> None:
        self.base = base
        self.order = [
            item.callspec.params["program"]
            for item in session.items
            if item.originalname == "test_program_runs_on_treadle"
            and item.get_closest_marker("skip") is None
        ]
        self.running: dict[Path, _Run] = {}

    def _start(self, program: Path) -> _Run:
        folder = self.base / program.stem
        folder.mkdir()
        self.running[program] = run = _Run(program, folder)
        return run

    def run(self, program: Path) -> subprocess.CompletedProcess:
        run = self.running.get(program) or self._start(program)
        if program in self.order:
            nxt = self.order[self.order.index(program) + 1 :][:1]
            if (
                nxt
                and nxt[0] not in self.running
                and _shares_the_machine(program)
                and _shares_the_machine(nxt[0])
            ):
                self._start(nxt[0])
        try:
            return run.wait()
        finally:
            del self.running[program]

    def close(self) -> None:
        for run in self.running.values():
            run.kill()


@pytest.fixture(scope="module")
def programs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    runner = _Programs(request.session, tmp_path_factory.mktemp("programs"))
    yield runner
    runner.close()


# Programs that check a documented difference from Lightning (docs/migration.md): each is an
# expected failure, strict, so the day it passes the mark must go.
DIFFERENCES = {
    # With two optimizers stepped in one batch, Lightning counts 2 steps (one per
    # optimizer.step()); treadle counts one global_step per batch (API.md, migration.md).
    "t_manual_optimization": "one global_step per batch with several optimizers (API.md)",
    # Lightning's exact call order (test_hooks.py): treadle zeroes gradients before
    # training_step (Lightning: after it, before backward; kept, docs/hooks.md), and on a
    # resumed fit calls configure_optimizers before the checkpoint's on_load_checkpoint calls
    # and on_train_epoch_start again when resuming mid-epoch
    # (tests/lightning_programs/README.md, "Added by lprog7").
    "t_hooks": "zero_grad before training_step (kept) and two orders of a resumed fit (README)",
    # Lightning's call order inside the optimizer closure (step, training_step, zero_grad,
    # backward); treadle zeroes gradients before training_step (migration.md, 8). With only
    # zero_grad moved first the program passes (checked). The rest is t_trainer_3.
    "t_trainer_train_loop_system": "zero_grad before training_step (migration.md, 8)",
    # CPU `devices` beyond 4 processes a core refused, `strategy="fsdp"` run on the CPU (gloo)
    # where Lightning refuses it, no custom Strategy subclass, no ModelParallelStrategy
    # (migration.md 3 and 5, fsdp.md). The rest of test_accelerator_connector.py is
    # t_accelerator_connector, which passes.
    "t_accelerator_connector_differences": "CPU devices per core, fsdp on CPU, "
    "no Strategy subclasses or ModelParallelStrategy (migration.md 3)",
    # A fit resumed mid-epoch carries on the epoch means logged before the save (an
    # uninterrupted run's, docs/checkpoints.md); Lightning restarts them at the resumed batch
    # (migration.md, 11). The rest of test_metric_result_integration.py's public tests is
    # t_metric_result_integration, which passes.
    "t_metric_result_reload": "a mid-epoch resume keeps the logged epoch means (migration.md, 11)",
    # The Trainer calls log_metrics on global rank zero only (docs/loggers.md); Lightning calls
    # it on every rank (migration.md, 13). The rest of test_distributed_logging.py's CPU tests is
    # t_distributed_logging, which passes.
    "t_distributed_logging_all_ranks": "loggers are called on rank zero only (migration.md, 13)",
    # Outside a terminal treadle's RichProgressBar prints plain lines and makes no rich
    # Progress; on one it updates its tasks when a redraw is due, not at every batch, so the
    # counts of Progress.update and get_metrics calls are not Lightning's (migration.md, 7).
    # The rest of test_rich_progress_bar.py is t_rich_progress_bar, which passes.
    "t_rich_progress_bar_differences": "no rich Progress outside a terminal; tasks updated per "
    "redraw, not per batch (migration.md, 7)",
    # LightningCLI's own names in what it writes (`# lightning.pytorch==` atop --print_config,
    # `LightningCLI.configure_optimizers` in the warning, `lightning.pytorch.callbacks.X` for a
    # short class name): treadle writes its own (docs/migration.md 15) and accepts Lightning's
    # class paths as input. The rest of test_cli.py is t_cli, t_cli_2 and t_cli_3, which pass.
    "t_cli_differences": "treadle's names, not LightningCLI's, in what the CLI writes "
    "(migration.md, 15)",
    # In manual optimization Lightning 2.6.6's ModelCheckpoint saves the state a Module kept in
    # `saved_models` (for its `layer`) before optimizer.step(), else warns the checkpoint holds
    # the state after it; treadle saves the Module as it is, without the warning
    # (migration.md, 12).
    "t_model_checkpoint_manual_opt": "no pre-step state from `saved_models`, no warning in "
    "manual optimization (migration.md, 12)",
    # treadle's ModelCheckpoint writes to local folders only: an fsspec URL as `dirpath` is a
    # folder name there, so `save_last="link"` on "memory://..." is not refused as Lightning does.
    "t_model_checkpoint_2_differences": "local folders only, no fsspec URLs (migration.md, 12)",
    # test_warnings.py's script part reads the "lightning.pytorch" logger's handler right after
    # the import; treadle logs on "treadle" and adds its handler when it first logs
    # (migration.md, 7). The file's pytest test is t_warnings, which passes.
    "t_warnings_logging": "treadle's logger is 'treadle', its handler added at first use "
    "(migration.md, 7)",
    # test_migration.py's test_migrate_model_checkpoint_early_stopping compares the upgraded
    # checkpoint's `pytorch-lightning_version` with `pl.__version__` (treadle's own version once
    # mapped); treadle stamps the Lightning version whose layout it reached, 2.6.6
    # (migration.md, 11). The rest of the file is t_migration, which passes.
    "t_migration_version": "an upgraded checkpoint is stamped with Lightning 2.6.6's version, "
    "not treadle's __version__ (migration.md, 11)",
    # test_utils.py's test_migrate_checkpoint_too_new names `pl.__version__` in the expected
    # warning and test_migrate_checkpoint_legacy_version sets `pl.__version__` and expects it
    # stamped; treadle names and stamps Lightning 2.6.6, the layout it reads (migration.md, 11,
    # as t_migration_version). The warning's words up to the version are t_migration_utils.
    "t_migration_utils_differences": "a checkpoint is stamped and compared with Lightning "
    "2.6.6's version, not treadle's __version__ (migration.md, 11)",
    # The precision_basic page's table (16-mixed: not on the CPU): Lightning 2.6.6 runs
    # `precision="16-mixed"` on the CPU as "bf16-mixed" with a warning; treadle runs the fp16
    # autocast asked for, with a CPU gradient scaler (docs/precision.md, migration.md 3). The
    # rest of the precision pages is doc_precision, which passes.
    "doc_precision_differences": "16-mixed on the CPU is fp16, not bf16-mixed (migration.md 3)",
    # test_loops.py's test_fit_loop_save_and_restore_dataloaders with a loader that is not
    # stateful: resumed mid-epoch, Lightning reads it again from its start; treadle skips the
    # batches already run, as the uninterrupted run goes on (docs/checkpoints.md, migration.md
    # 11). The rest of the file's public tests is t_loops, which passes.
    "t_loops_differences": "a mid-epoch resume skips the batches already run of a loader that "
    "is not stateful (migration.md, 11)",
    # test_fabric_integration.py runs LightningModules with Lightning's Fabric (`fabric.setup`,
    # `fabric.backward`, `fabric.call`); treadle has no Fabric class, its import raising an
    # ImportError that names the treadle way (migration.md, 1). The file has no other test.
    "t_fabric_integration_differences": "no Fabric class (migration.md, 1)",
    # test_multiprocessing.py's test_fit_twice_raises: Lightning 2.6.6 refuses a second `fit` on
    # a Trainer under ddp_spawn (NotImplementedError, a limitation its issue 18775 means to lift);
    # treadle's ddp_spawn brings the workers' loop state back and the second fit continues
    # (migration.md, 16). The file's other public test is t_launcher_multiprocessing, which passes.
    "t_launcher_multiprocessing_differences": "a second fit under ddp_spawn continues, not "
    "NotImplementedError (migration.md, 16)",
    # test_custom_plugin.py's only test subclasses SingleDeviceStrategy to override
    # `lightning_restore_optimizer` and `load_optimizer_state_dict`; treadle's strategies are
    # plugins and a subclass of its SingleDeviceStrategy runs the `single_device` plugin without
    # those overrides (migration.md, 3: custom Strategy subclasses are not taken).
    # The hooks page's batch diagram: Lightning 2.6.6 calls on_before_zero_grad after
    # training_step (inside the closure); treadle zeroes gradients before it (migration.md, 8).
    # The rest of the page (callbacks, then the module, in every hook of fit/test/predict) is
    # doc_hooks, which passes.
    "doc_hooks_differences": "zero_grad before training_step (migration.md, 8)",
    "t_custom_plugin_differences": "Strategy subclasses' overrides are not run (migration.md 3)",
}


# Programs that import a package only the corpus needs (the dev extra installs it where its
# wheel supports the Python: torch_geometric >= 3.10, kornia >= 3.11); skipped where it is absent.
PACKAGES = {
    "uva_06_graph_neural_networks": "torch_geometric",
    "tut_augmentation_kornia": "kornia",
}


def _needs(program: Path) -> list:
    marks = []
    package = PACKAGES.get(program.stem)
    if package and importlib.util.find_spec(package) is None:
        marks.append(pytest.mark.skip(reason=f"needs {package} (pip install -e '.[dev]')"))
    why = DIFFERENCES.get(program.stem)
    return [*marks, pytest.mark.xfail(reason=why, strict=True)] if why else marks


@pytest.mark.parametrize("program", [pytest.param(p, id=p.stem, marks=_needs(p)) for p in PROGRAMS])
def test_program_runs_on_treadle(program: Path, programs: _Programs) -> None:
    proc = programs.run(program)
    assert proc.returncode == 0, (
        f"{program.name} exited with {proc.returncode}\n"
        f"stdout (end):\n{proc.stdout[-3000:]}\nstderr (end):\n{proc.stderr[-6000:]}"
    )


def test_corpus_is_there() -> None:
    assert len(PROGRAMS) >= 10, PROGRAMS


# -- the mapper ----------------------------------------------------------------------------------


def test_mapper_rewrites_only_imports_name_for_name() -> None:
    source = textwrap.dedent(
        """\
        import os
        import lightning as L
        import pytorch_lightning as pl
        from lightning.pytorch import LightningModule, Trainer as T, seed_everything
        from lightning.pytorch.callbacks.progress import TQDMProgressBar
        from pytorch_lightning.loggers.tensorboard import TensorBoardLogger
        from lightning.pytorch.cli import LightningCLI
        from lightning.pytorch.utilities import rank_zero_only
        from lightning.pytorch.core.module import LightningModule as LM
        from torch.utils.data import DataLoader
        x = "from lightning.pytorch import Trainer"
        def f():
            from lightning.pytorch import LightningDataModule
        """
    )
    assert map_source(source) == textwrap.dedent(
        """\
        import os
        import treadle as L
        import treadle as pl
        from treadle import Module as LightningModule; from treadle import Trainer as T; \
from treadle import seed_everything
        from treadle.callbacks import TQDMProgressBar
        from treadle.loggers import TensorBoardLogger
        from treadle.cli import CLI as LightningCLI
        from treadle.utilities import rank_zero_only
        from treadle import Module as LM
        from torch.utils.data import DataLoader
        x = "from lightning.pytorch import Trainer"
        def f():
            from treadle import DataModule as LightningDataModule
        """
    )


def test_mapper_keeps_line_numbers_of_multiline_imports() -> None:
    source = "from lightning.pytorch import (\n    LightningModule,\n    Trainer,\n)\nx = 1\n"
    mapped = map_source(source)
    assert mapped.splitlines()[-1] == "x = 1"
    assert "Module as LightningModule" in mapped and "lightning" not in mapped.replace(
        "LightningModule", ""
    )


# -- the names the mapping relies on ---------------------------------------------------------------


def test_lightning_names_are_aliases_of_treadles() -> None:
    """``import lightning as L`` -> ``import treadle as L`` keeps ``L.LightningModule`` working."""
    import treadle
    import treadle.utilities
    from treadle.loggers import rank_zero_only

    assert treadle.LightningModule is treadle.Module
    assert treadle.LightningDataModule is treadle.DataModule
    assert treadle.utilities.rank_zero_only is rank_zero_only


def test_import_lightning_pytorch_mapped_keeps_dotted_names() -> None:
    """``import lightning.pytorch`` is mapped to ``import treadle as lightning``: the Trainer
    docs page's ``lightning.pytorch.loggers.CSVLogger`` (doc_trainer) reads treadle's."""
    namespace: dict[str, object] = {}
    exec(map_source("import lightning.pytorch\n"), namespace)
    lightning = namespace["lightning"]
    from treadle.loggers import CSVLogger

    assert lightning.pytorch.loggers.CSVLogger is CSVLogger  # type: ignore[attr-defined]
    assert lightning.pytorch.Trainer is lightning.Trainer  # type: ignore[attr-defined]


def test_rank_zero_helpers_where_lightning_has_them(caplog) -> None:
    """``lightning.pytorch.utilities.rank_zero_info``/``rank_zero_warn`` map to
    ``treadle.utilities``: a log record and a warning on rank zero."""
    import logging

    from treadle.utilities import rank_zero_info, rank_zero_warn

    with caplog.at_level(logging.INFO, logger="treadle"):
        rank_zero_info("only %d trainable", 3)
    assert [r.getMessage() for r in caplog.records] == ["only 3 trainable"]
    with pytest.warns(UserWarning, match=re.escape("look out")):
        rank_zero_warn("look out")


def test_unknown_top_level_name_still_says_so() -> None:
    import treadle

    with pytest.raises(AttributeError, match=re.escape("has no attribute 'LightningCLI'")):
        treadle.LightningCLI  # noqa: B018
