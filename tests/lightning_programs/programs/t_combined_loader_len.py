# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_combined_loader.py
#   (test_combined_loader_length_must_call_iter_first)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test as a __main__ program; pytest.raises -> try/except. Split out of
#   t_combined_loader.py.
import re

from lightning.pytorch.utilities.combined_loader import CombinedLoader


def test_combined_loader_length_must_call_iter_first():
    loader = CombinedLoader([1, 2, 3])
    try:
        len(loader)
    except RuntimeError as e:
        assert re.search("Please call `iter.*` first", str(e)), str(e)
    else:
        raise AssertionError("len() before iter() gave a length")


if __name__ == "__main__":
    test_combined_loader_length_must_call_iter_first()
    print("OK")
