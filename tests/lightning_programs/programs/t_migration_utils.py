# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/migration/test_utils.py
#   (test_migrate_checkpoint_too_new, its warning's text up to the version number)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; pytest.warns(match=)
#   -> recorded warnings and re.search, the match ending before the version number: the
#   published test compares it with `pl.__version__` (the package's own version, treadle's once
#   mapped), which t_migration_utils_differences.py checks as published.
#   Left out, being tests of Lightning's private pieces: test_patch_legacy_argparse_utils,
#   test_patch_legacy_gpus_arg_default, test_patch_legacy_fault_tolerant_mode and
#   test_test_patch_legacy_unpickler (the shims `pl_legacy_patch` installs for unpickling old
#   files: `_gpus_arg_default`, `_FaultTolerantMode`, `_RedirectingUnpickler`),
#   test_migrate_checkpoint (monkeypatches the private `_migration_index`),
#   test_migrate_checkpoint_for_pl (the private `_pl_migrate_checkpoint`); the legacy-checkpoint
#   import tests need Lightning's archive of old checkpoints (not in the package).
#   test_migrate_checkpoint_legacy_version sets `pl.__version__`: it is in
#   t_migration_utils_differences.py.
import re
import warnings

from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.utilities.migration import migrate_checkpoint


def test_migrate_checkpoint_too_new():
    """Test checkpoint migration is a no-op with a warning when attempting to migrate a checkpoint from newer version
    of Lightning than installed."""
    super_new_checkpoint = {"pytorch-lightning_version": "99.0.0", "content": 123}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new_checkpoint, migrations = migrate_checkpoint(super_new_checkpoint.copy())
    assert any(
        issubclass(w.category, PossibleUserWarning)
        and re.search("v99.0.0, which is newer than your current Lightning version: v", str(w.message))
        for w in caught
    ), [str(w.message) for w in caught]

    # no version modification
    assert not migrations
    assert new_checkpoint == super_new_checkpoint


if __name__ == "__main__":
    test_migrate_checkpoint_too_new()
    print("ok")
