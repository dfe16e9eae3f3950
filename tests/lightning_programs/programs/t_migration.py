# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/migration/test_migration.py
#   (test_migrate_loop_global_step_to_progress_tracking,
#    test_migrate_loop_current_epoch_to_progress_tracking,
#    test_migrate_model_checkpoint_save_on_train_epoch_end_default,
#    test_migrate_model_checkpoint_save_on_train_epoch_end_default_collision,
#    test_migrate_dropped_apex_amp_state, test_migrate_loop_structure_after_tbptt_removal,
#    test_migrate_loop_structure_after_optimizer_loop_removal,
#    test_migrate_loop_structure_after_dataloader_loop_removal), in the version that matches
#   Lightning 2.6.6 (the loops' `automatic_optimization`/`manual_optimization` names)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; pytest.warns(match=) -> recorded warnings and re.search; monkeypatch.setattr(pl,
#   "__version__") -> set and restored by hand; the private `_set_version` (from
#   `migration.utils`) written out: it sets the checkpoint's `pytorch-lightning_version` key;
#   the dataloader-loop test's three equal expected dicts written as one `batch_progress`.
#   Left out: test_migrate_model_checkpoint_early_stopping, which compares the upgraded
#   checkpoint's version with `pl.__version__` (t_migration_version.py, a strict xfail on
#   treadle), and test_migrate_loop_batches_that_stepped (the private
#   `fit_loop.epoch_loop._batches_that_stepped`, in a checkpoint of Lightning's loops).
import re
import warnings
from unittest.mock import ANY, MagicMock

import lightning.pytorch as pl
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.utilities.migration import migrate_checkpoint


def _set_version(checkpoint, version):
    checkpoint["pytorch-lightning_version"] = version


def test_migrate_loop_global_step_to_progress_tracking():
    old_checkpoint = {"global_step": 15, "epoch": 2}
    _set_version(old_checkpoint, "1.5.9")  # pretend a checkpoint prior to 1.6.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint, target_version="1.6.0")
    # automatic optimization
    assert (
        updated_checkpoint["loops"]["fit_loop"]["epoch_loop.batch_loop.optimizer_loop.optim_progress"]["optimizer"][
            "step"
        ]["total"]["completed"]
        == 15
    )
    # for manual optimization
    assert (
        updated_checkpoint["loops"]["fit_loop"]["epoch_loop.batch_loop.manual_loop.optim_step_progress"]["total"][
            "completed"
        ]
        == 15
    )


def test_migrate_loop_current_epoch_to_progress_tracking():
    old_checkpoint = {"global_step": 15, "epoch": 2}
    _set_version(old_checkpoint, "1.5.9")  # pretend a checkpoint prior to 1.6.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint)
    assert updated_checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] == 2


def test_migrate_model_checkpoint_save_on_train_epoch_end_default(save_on_train_epoch_end):
    """Test that the 'save_on_train_epoch_end' part of the ModelCheckpoint state key gets removed."""
    legacy_state_key = (
        f"ModelCheckpoint{{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        f" 'train_time_interval': None, 'save_on_train_epoch_end': {save_on_train_epoch_end}}}"
    )
    new_state_key = (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        " 'train_time_interval': None}"
    )
    old_checkpoint = {"callbacks": {legacy_state_key: {"dummy": 0}}, "global_step": 0, "epoch": 1}
    _set_version(old_checkpoint, "1.8.9")  # pretend a checkpoint prior to 1.9.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint, target_version="1.9.0")
    assert updated_checkpoint["callbacks"] == {new_state_key: {"dummy": 0}}  # None -> None


def test_migrate_model_checkpoint_save_on_train_epoch_end_default_collision():
    """Test that the migration warns about collisions that would occur if the keys were modified."""
    # The two keys only differ in the `save_on_train_epoch_end` value
    state_key1 = (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        " 'train_time_interval': None, 'save_on_train_epoch_end': True}"
    )
    state_key2 = (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        " 'train_time_interval': None, 'save_on_train_epoch_end': False}"
    )
    old_checkpoint = {
        "callbacks": {state_key1: {"dummy": 0}, state_key2: {"dummy": 0}},
        "global_step": 0,
        "epoch": 1,
    }
    _set_version(old_checkpoint, "1.8.9")  # pretend a checkpoint prior to 1.9.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        updated_checkpoint, _ = migrate_checkpoint(old_checkpoint.copy(), target_version="1.9.0")
    assert any(
        issubclass(w.category, PossibleUserWarning)
        and re.search("callback states in this checkpoint.* colliding with each other", str(w.message))
        for w in caught
    ), [str(w.message) for w in caught]
    assert updated_checkpoint["callbacks"] == old_checkpoint["callbacks"]  # no migration was performed


def test_migrate_dropped_apex_amp_state():
    """Test that the migration warns about collisions that would occur if the keys were modified."""
    saved = pl.__version__
    pl.__version__ = "2.0.0"  # pretend this version of Lightning is >= 2.0.0
    try:
        old_checkpoint = {"amp_scaling_state": {"scale": 1.23}}
        _set_version(old_checkpoint, "1.9.0")  # pretend a checkpoint prior to 2.0.0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            updated_checkpoint, _ = migrate_checkpoint(old_checkpoint.copy())
        assert any(
            issubclass(w.category, UserWarning) and re.search("checkpoint contains apex AMP data", str(w.message))
            for w in caught
        ), [str(w.message) for w in caught]
        assert "amp_scaling_state" not in updated_checkpoint
    finally:
        pl.__version__ = saved


def test_migrate_loop_structure_after_tbptt_removal():
    """Test the loop state migration after truncated backpropagation support was removed in 2.0.0, and with it the
    training batch loop."""
    # automatic- and manual optimization state are combined into a single checkpoint to simplify testing
    state_automatic = MagicMock()
    state_manual = MagicMock()
    optim_progress_automatic = MagicMock()
    optim_progress_manual = MagicMock()
    old_batch_loop_state = MagicMock()
    old_checkpoint = {
        "loops": {
            "fit_loop": {
                "epoch_loop.state_dict": {"any": "state"},
                "epoch_loop.batch_loop.state_dict": old_batch_loop_state,
                "epoch_loop.batch_loop.optimizer_loop.state_dict": state_automatic,
                "epoch_loop.batch_loop.optimizer_loop.optim_progress": optim_progress_automatic,
                "epoch_loop.batch_loop.manual_loop.state_dict": state_manual,
                "epoch_loop.batch_loop.manual_loop.optim_step_progress": optim_progress_manual,
            }
        }
    }
    _set_version(old_checkpoint, "1.8.0")  # pretend a checkpoint prior to 2.0.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint.copy(), target_version="2.0.0")
    assert updated_checkpoint["loops"] == {
        "fit_loop": {
            "epoch_loop.state_dict": {"any": "state", "old_batch_loop_state_dict": old_batch_loop_state},
            "epoch_loop.automatic_optimization.state_dict": state_automatic,
            "epoch_loop.automatic_optimization.optim_progress": optim_progress_automatic,
            "epoch_loop.manual_optimization.state_dict": state_manual,
            "epoch_loop.manual_optimization.optim_step_progress": optim_progress_manual,
        }
    }


def test_migrate_loop_structure_after_optimizer_loop_removal():
    """Test the loop state migration after multiple optimizer support in automatic optimization was removed in
    2.0.0."""
    state_automatic = MagicMock()
    state_manual = MagicMock()
    optim_progress_automatic = {
        "optimizer": MagicMock(),
        "optimizer_position": 33,
    }
    optim_progress_manual = MagicMock()
    old_checkpoint = {
        "loops": {
            "fit_loop": {
                "epoch_loop.state_dict": {"any": "state"},
                "epoch_loop.batch_loop.state_dict": MagicMock(),
                "epoch_loop.batch_loop.optimizer_loop.state_dict": state_automatic,
                "epoch_loop.batch_loop.optimizer_loop.optim_progress": optim_progress_automatic,
                "epoch_loop.batch_loop.manual_loop.state_dict": state_manual,
                "epoch_loop.batch_loop.manual_loop.optim_step_progress": optim_progress_manual,
            }
        }
    }
    _set_version(old_checkpoint, "1.9.0")  # pretend a checkpoint prior to 2.0.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint.copy(), target_version="2.0.0")
    assert updated_checkpoint["loops"] == {
        "fit_loop": {
            "epoch_loop.state_dict": ANY,
            "epoch_loop.automatic_optimization.state_dict": state_automatic,
            "epoch_loop.automatic_optimization.optim_progress": {"optimizer": ANY},  # optimizer_position gets dropped
            "epoch_loop.manual_optimization.state_dict": state_manual,
            "epoch_loop.manual_optimization.optim_step_progress": optim_progress_manual,
        }
    }


def test_migrate_loop_structure_after_dataloader_loop_removal():
    """Test the loop state migration after the dataloader loops were removed in 2.0.0."""
    old_dataloader_loop_state_dict = {
        "state_dict": {},
        "dataloader_progress": {"total": {"ready": 0, "completed": 0}, "current": {"ready": 0, "completed": 0}},
        "epoch_loop.state_dict": {},
        "epoch_loop.batch_progress": {
            "total": {"ready": 123, "started": 0, "processed": 0, "completed": 0},
            "current": {"ready": 0, "started": 0, "processed": 0, "completed": 0},
            "is_last_batch": False,
        },
    }
    old_checkpoint = {
        "loops": {
            "predict_loop": old_dataloader_loop_state_dict,
            "validate_loop": dict(old_dataloader_loop_state_dict),  # copy
            "test_loop": dict(old_dataloader_loop_state_dict),  # copy
        }
    }
    _set_version(old_checkpoint, "1.9.0")  # pretend a checkpoint prior to 2.0.0
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint.copy(), target_version="2.0.0")
    batch_progress = {
        "current": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
        "is_last_batch": False,
        "total": {"completed": 0, "processed": 0, "ready": 123, "started": 0},
    }
    assert updated_checkpoint["loops"] == {
        "predict_loop": {"batch_progress": batch_progress, "state_dict": {}},
        "test_loop": {"batch_progress": batch_progress, "state_dict": {}},
        "validate_loop": {"batch_progress": batch_progress, "state_dict": {}},
    }


if __name__ == "__main__":
    test_migrate_loop_global_step_to_progress_tracking()
    test_migrate_loop_current_epoch_to_progress_tracking()
    for value in (None, True, False):
        test_migrate_model_checkpoint_save_on_train_epoch_end_default(value)
    test_migrate_model_checkpoint_save_on_train_epoch_end_default_collision()
    test_migrate_dropped_apex_amp_state()
    test_migrate_loop_structure_after_tbptt_removal()
    test_migrate_loop_structure_after_optimizer_loop_removal()
    test_migrate_loop_structure_after_dataloader_loop_removal()
    print("ok")
