# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_warnings.py
#   (test_disable_possible_user_warnings_from_environment)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; parametrize -> a
#   loop; mock.patch.dict(os.environ, clear=True) -> the environment emptied and restored by hand;
#   pytest.warns -> warnings.catch_warnings(record=True). The file's own `__main__` part (the
#   `lightning.pytorch` logger's handler, set when the package is imported) is in
#   t_warnings_logging.py.
import importlib
import os
import warnings

import lightning.pytorch
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from lightning_utilities.test.warning import no_warning_call


def test_disable_possible_user_warnings_from_environment(setting):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.warn("test", PossibleUserWarning)
    assert any(issubclass(w.category, PossibleUserWarning) for w in record), record
    os.environ["POSSIBLE_USER_WARNINGS"] = setting
    importlib.reload(lightning.pytorch)
    with no_warning_call(PossibleUserWarning):
        warnings.warn("test", PossibleUserWarning)
    warnings.resetwarnings()


if __name__ == "__main__":
    for setting in ("0", "off"):
        saved = dict(os.environ)
        os.environ.clear()
        try:
            test_disable_possible_user_warnings_from_environment(setting)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    print("ok")
