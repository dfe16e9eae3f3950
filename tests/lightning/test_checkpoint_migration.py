"""Lightning's checkpoint upgrades under treadle's names: ``treadle.utilities.migration`` and
``treadle.utilities.upgrade_checkpoint`` (``treadle._lightning_migration``).

Ported from Lightning's tests/tests_pytorch/utilities/migration/test_migration.py
(test_migrate_model_checkpoint_early_stopping), tests/tests_pytorch/utilities/migration/
test_utils.py (test_migrate_checkpoint_too_new) and tests/tests_pytorch/utilities/
test_upgrade_checkpoint.py (Apache-2.0, Copyright The Lightning AI team), with real files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from treadle.callbacks import EarlyStopping, ModelCheckpoint
from treadle.utilities import PossibleUserWarning

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("old", "moved"),
    [
        ({"checkpoint_callback_best": 0.34}, {ModelCheckpoint: {"best_model_score": 0.34}}),
        (
            {"checkpoint_callback_best_model_score": 0.99},
            {ModelCheckpoint: {"best_model_score": 0.99}},
        ),
        (
            {"checkpoint_callback_best_model_path": "path"},
            {ModelCheckpoint: {"best_model_path": "path"}},
        ),
        (
            {"early_stop_callback_wait": 2, "early_stop_callback_patience": 4},
            {EarlyStopping: {"wait_count": 2, "patience": 4}},
        ),
    ],
)
def test_callback_keys_of_0_9_move_into_callbacks(old, moved):
    from treadle.utilities.migration import migrate_checkpoint

    checkpoint = {"epoch": 1, "global_step": 23, "pytorch-lightning_version": "0.9.0", **old}
    updated, applied = migrate_checkpoint(checkpoint, target_version="1.0.0")
    assert updated is checkpoint  # in place, as Lightning's
    assert updated == {
        "epoch": 1,
        "global_step": 23,
        "callbacks": moved,
        "legacy_pytorch-lightning_version": "0.9.0",
        "pytorch-lightning_version": "2.6.6",  # the layout reached, not treadle's version
    }
    assert applied == {"0.10.0": ["_callback_keys_of_0_10"]}


def test_a_checkpoint_of_the_layout_is_left_as_it_is_and_a_newer_one_warned():
    from treadle.utilities.migration import migrate_checkpoint

    current = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.6.6"}
    assert migrate_checkpoint(dict(current)) == (current, {})
    # a second upgrade changes nothing: the stamp is a Lightning version
    once, _ = migrate_checkpoint(
        {"epoch": 2, "global_step": 5, "pytorch-lightning_version": "1.5.0"}
    )
    again, applied = migrate_checkpoint(dict(once))
    assert again == once and applied == {}

    newer = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "3.0.0"}
    with pytest.warns(PossibleUserWarning, match=re.escape("produced with Lightning v3.0.0")):
        assert migrate_checkpoint(newer) == (newer, {})


# Ported from tests/tests_pytorch/utilities/migration/test_utils.py::test_migrate_checkpoint_too_new:
# Lightning's words, the version named being the Lightning release whose layout treadle reads
def test_a_newer_checkpoint_is_warned_in_lightnings_words():
    from treadle.utilities.migration import migrate_checkpoint

    newer = {"pytorch-lightning_version": "99.0.0", "content": 123}
    expected = "v99.0.0, which is newer than your current Lightning version: v2.6.6 ("
    with pytest.warns(PossibleUserWarning, match=re.escape(expected)):
        upgraded, applied = migrate_checkpoint(dict(newer))
    assert not applied and upgraded == newer


def test_a_checkpoint_without_a_lightning_version_is_refused_by_name():
    from treadle.utilities.migration import migrate_checkpoint

    with pytest.raises(KeyError, match=re.escape("no 'pytorch-lightning_version' key")):
        migrate_checkpoint({"epoch": 0, "global_step": 0, "treadle_version": "0.1.0"})


def test_an_old_lightning_checkpoint_upgraded_resumes_on_treadle(tmp_path, monkeypatch):
    """``python -m treadle.utilities.upgrade_checkpoint PATH`` rewrites the file (a ``.bak`` of
    the original beside it), and ``fit(ckpt_path=)`` resumes from it at its step."""
    from lightning_boring import BoringModel

    import treadle

    model = BoringModel()
    [optimizer], [scheduler] = model.configure_optimizers()
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "epoch": 0,
            "global_step": 3,
            "pytorch-lightning_version": "1.5.9",
            "state_dict": model.state_dict(),
            "optimizer_states": [optimizer.state_dict()],
            "lr_schedulers": [scheduler.state_dict()],
        },
        path,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "plugins")])}
    proc = subprocess.run(
        [sys.executable, "-m", "treadle.utilities.upgrade_checkpoint", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Done." in proc.stderr
    upgraded = torch.load(path)
    assert upgraded["legacy_pytorch-lightning_version"] == "1.5.9"
    fit_loop = upgraded["loops"]["fit_loop"]  # 1.6's progress from global_step, 2.0's names
    automatic = fit_loop["epoch_loop.automatic_optimization.optim_progress"]
    assert automatic == {"optimizer": automatic["optimizer"]}  # no optimizer_position
    assert automatic["optimizer"]["step"]["total"]["completed"] == 3
    assert "loops" not in torch.load(path.with_suffix(".bak"))

    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        max_steps=5,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel(), ckpt_path=path)
    assert trainer.global_step == 5


def test_upgrade_checkpoint_errors_name_the_path(tmp_path, monkeypatch, caplog):
    from treadle.utilities.upgrade_checkpoint import main

    missing = tmp_path / "missing.ckpt"
    monkeypatch.setattr(sys, "argv", ["upgrade_checkpoint", str(missing)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    assert f"The path {missing} does not exist" in caplog.text

    (tmp_path / "a.ckpt").touch()
    monkeypatch.setattr(sys, "argv", ["upgrade_checkpoint", str(tmp_path), "-e", "pt"])
    with pytest.raises(SystemExit):
        main()
    assert "No checkpoint files with extension .pt were found" in caplog.text


def test_python_dash_m_runs_only_the_runnable_paths():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "core")}
    proc = subprocess.run(
        [sys.executable, "-m", "treadle.utilities.migration"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0
    assert "No code object available for treadle.utilities.migration" in proc.stderr


def test_python_dash_m_by_the_imported_modules_name(tmp_path):
    """``python -m {upgrade_checkpoint.__name__} PATH``: the name the imported module reports
    (Lightning's is its own path; treadle's is the module behind the alias) runs it too."""
    from treadle.utilities import upgrade_checkpoint

    path = tmp_path / "old.ckpt"
    torch.save({"epoch": 1, "global_step": 4, "pytorch-lightning_version": "1.5.9"}, path)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "core")}
    proc = subprocess.run(
        [sys.executable, "-m", upgrade_checkpoint.__name__, str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert torch.load(path)["legacy_pytorch-lightning_version"] == "1.5.9"
    assert path.with_suffix(".bak").exists()
