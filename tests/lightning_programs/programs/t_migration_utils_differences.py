# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/migration/test_utils.py
#   (test_migrate_checkpoint_too_new, test_migrate_checkpoint_legacy_version)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into a __main__ program asserting what they asserted; pytest.warns(match=)
#   -> recorded warnings and re.search; monkeypatch.setattr(pl, "__version__") -> set and
#   restored by hand. Split out of t_migration_utils.py: both compare with `pl.__version__`, the
#   package's own version (treadle's once mapped), where treadle stamps and names the Lightning
#   version whose checkpoint layout it reads, 2.6.6, whatever `__version__` says
#   (docs/migration.md, 11).
import re
import warnings

import lightning.pytorch as pl
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.utilities.migration import migrate_checkpoint


def test_migrate_checkpoint_too_new():
    super_new_checkpoint = {"pytorch-lightning_version": "99.0.0", "content": 123}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new_checkpoint, migrations = migrate_checkpoint(super_new_checkpoint.copy())
    match = f"v99.0.0, which is newer than your current Lightning version: v{pl.__version__}"
    assert any(
        issubclass(w.category, PossibleUserWarning) and re.search(match, str(w.message)) for w in caught
    ), [str(w.message) for w in caught]

    # no version modification
    assert not migrations
    assert new_checkpoint == super_new_checkpoint


def test_migrate_checkpoint_legacy_version():
    """Test that the legacy version gets set and does not change if migration is applied multiple times."""
    loaded_checkpoint = {"pytorch-lightning_version": "0.0.1", "global_step": 2, "epoch": 0}

    version = pl.__version__
    try:
        # pretend the current pl version is 2.0
        pl.__version__ = "2.0.0"
        new_checkpoint, _ = migrate_checkpoint(loaded_checkpoint)
        assert new_checkpoint["pytorch-lightning_version"] == "2.0.0"
        assert new_checkpoint["legacy_pytorch-lightning_version"] == "0.0.1"

        # pretend the current pl version is even newer, we are migrating a second time
        pl.__version__ = "3.0.0"
        new_new_checkpoint, _ = migrate_checkpoint(new_checkpoint)
        assert new_new_checkpoint["pytorch-lightning_version"] == "3.0.0"
        assert new_new_checkpoint["legacy_pytorch-lightning_version"] == "0.0.1"  # remains the same
    finally:
        pl.__version__ = version


if __name__ == "__main__":
    test_migrate_checkpoint_too_new()
    test_migrate_checkpoint_legacy_version()
    print("ok")
