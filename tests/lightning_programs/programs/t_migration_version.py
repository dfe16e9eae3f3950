# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/migration/test_migration.py
#   (test_migrate_model_checkpoint_early_stopping)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; parametrize -> a
#   loop; the private `_set_version`, `_set_legacy_version` and `_get_version` (from
#   `migration.utils`) written out: they set and read the checkpoint's
#   `pytorch-lightning_version` and `legacy_pytorch-lightning_version` keys. Split out of
#   t_migration.py: the upgraded checkpoint's version is compared with `pl.__version__`, the
#   package's own version (treadle writes the Lightning version whose layout it reached:
#   docs/migration.md).
import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities.migration import migrate_checkpoint


def _set_version(checkpoint, version):
    checkpoint["pytorch-lightning_version"] = version


def _set_legacy_version(checkpoint, version):
    checkpoint.setdefault("legacy_pytorch-lightning_version", version)


def _get_version(checkpoint):
    return checkpoint["pytorch-lightning_version"]


CASES = [
    (
        {"epoch": 1, "global_step": 23, "checkpoint_callback_best": 0.34},
        {"epoch": 1, "global_step": 23, "callbacks": {ModelCheckpoint: {"best_model_score": 0.34}}},
    ),
    (
        {"epoch": 1, "global_step": 23, "checkpoint_callback_best_model_score": 0.99},
        {"epoch": 1, "global_step": 23, "callbacks": {ModelCheckpoint: {"best_model_score": 0.99}}},
    ),
    (
        {"epoch": 1, "global_step": 23, "checkpoint_callback_best_model_path": "path"},
        {"epoch": 1, "global_step": 23, "callbacks": {ModelCheckpoint: {"best_model_path": "path"}}},
    ),
    (
        {"epoch": 1, "global_step": 23, "early_stop_callback_wait": 2, "early_stop_callback_patience": 4},
        {
            "epoch": 1,
            "global_step": 23,
            "callbacks": {EarlyStopping: {"wait_count": 2, "patience": 4}},
        },
    ),
]


def test_migrate_model_checkpoint_early_stopping(old_checkpoint, new_checkpoint):
    _set_version(old_checkpoint, "0.9.0")
    _set_legacy_version(new_checkpoint, "0.9.0")
    _set_version(new_checkpoint, pl.__version__)
    updated_checkpoint, _ = migrate_checkpoint(old_checkpoint, target_version="1.0.0")
    assert updated_checkpoint == old_checkpoint == new_checkpoint, (updated_checkpoint, new_checkpoint)
    assert _get_version(updated_checkpoint) == pl.__version__


if __name__ == "__main__":
    for old, new in CASES:
        test_migrate_model_checkpoint_early_stopping(old, new)
    print("ok")
