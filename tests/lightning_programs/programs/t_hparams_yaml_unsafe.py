# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_hparams.py
#   (test_save_hparams_to_yaml_warning)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test as a __main__ program; tmp_path -> a tempfile dir; pytest.warns ->
#   warnings.catch_warnings. Split out of t_hparams_yaml.py.
import os
import tempfile
import warnings

import torch

from lightning.pytorch.core.saving import save_hparams_to_yaml


def test_save_hparams_to_yaml_warning(tmp_path):
    """Test that we warn about unserializable parameters that need to be dropped."""
    path_yaml = os.path.join(tmp_path, "hparams.yaml")
    hparams = {"torch_type": torch.float32}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_hparams_to_yaml(path_yaml, hparams)
    assert any(
        issubclass(w.category, UserWarning) and "Skipping 'torch_type' parameter" in str(w.message) for w in caught
    ), [str(w.message) for w in caught]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_save_hparams_to_yaml_warning(d)
    print("OK")
