# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_model_helpers.py
#   (test_is_overridden)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; pytest.raises(match=)
#   -> try/except with re.search; the import line keeps only the public `is_overridden`. Left out,
#   being tests of Lightning's private helpers: test_restricted_classmethod
#   (`_restricted_classmethod`), test_module_mode, test_module_mode_restore_missing_module,
#   test_module_mode_restore_new_module, test_module_mode_clear (`_ModuleMode`), and
#   test_mixed_imports_unified (`_maybe_unwrap_optimized`, both the `lightning` and
#   `pytorch_lightning` packages in one process).
import re

from lightning.pytorch import LightningDataModule
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from lightning.pytorch.utilities.model_helpers import is_overridden


def test_is_overridden():
    # edge cases
    assert not is_overridden("whatever", None)
    try:
        is_overridden("whatever", object())
    except ValueError as e:
        assert re.search("Expected a parent", str(e)), str(e)
    else:
        raise AssertionError("ValueError not raised")
    model = BoringModel()
    assert not is_overridden("whatever", model)
    assert not is_overridden("whatever", model, parent=LightningDataModule)
    # normal usage
    assert is_overridden("training_step", model)
    datamodule = BoringDataModule()
    assert is_overridden("train_dataloader", datamodule)


if __name__ == "__main__":
    test_is_overridden()
    print("ok")
