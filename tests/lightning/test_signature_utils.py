"""``treadle.utilities.signature_utils.is_param_in_hook_signature`` (Lightning's
``lightning.pytorch.utilities.signature_utils``, mapped; corpus program
``t_signature_utils.py``).

Ported from Lightning's suite (Copyright The Lightning AI team, Apache-2.0):
``tests_pytorch/utilities/test_signature_utils.py``.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import torch


# Ported from tests/tests_pytorch/utilities/test_signature_utils.py::test_param_in_hook_signature
def test_param_in_hook_signature():
    from treadle.utilities.signature_utils import is_param_in_hook_signature

    class Named:
        def validation_step(self, dataloader_iter): ...

    class Decorated:
        @torch.no_grad()
        def validation_step(self, dataloader_iter): ...

    class VarArgs:
        def validation_step(self, *args): ...

    class TwoArgs:
        def validation_step(self, a, b): ...

    assert is_param_in_hook_signature(Named().validation_step, "dataloader_iter", explicit=True)
    assert is_param_in_hook_signature(Decorated().validation_step, "dataloader_iter", explicit=True)
    step = VarArgs().validation_step
    assert not is_param_in_hook_signature(step, "dataloader_iter", explicit=True)
    assert is_param_in_hook_signature(step, "dataloader_iter", explicit=False)
    step = TwoArgs().validation_step
    assert not is_param_in_hook_signature(step, "dataloader_iter", min_args=3)
    assert is_param_in_hook_signature(step, "dataloader_iter", min_args=2)


def test_param_in_hook_signature_sees_through_nested_wraps_and_unbound_methods():
    from treadle.utilities.signature_utils import is_param_in_hook_signature

    def passthrough(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)

        return wrapper

    class Twice:
        @passthrough
        @passthrough
        def training_step(self, batch, batch_idx, dataloader_idx=0): ...

    assert is_param_in_hook_signature(Twice().training_step, "dataloader_idx", explicit=True)
    assert is_param_in_hook_signature(Twice.training_step, "dataloader_idx", explicit=True)
    assert not is_param_in_hook_signature(Twice.training_step, "self", explicit=True)


def test_signature_utils_path_is_not_loaded_by_import_treadle():
    code = (
        "import sys, treadle; "
        "assert 'treadle.utilities.signature_utils' not in sys.modules; "
        "from treadle.utilities.signature_utils import is_param_in_hook_signature; "
        "print(callable(is_param_in_hook_signature))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
