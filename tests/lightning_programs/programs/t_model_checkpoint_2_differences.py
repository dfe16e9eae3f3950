# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_model_checkpoint.py
#   (test_model_checkpoint_save_last_as_link_not_local)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; pytest.raises ->
#   try/except with re.search.
# On treadle a strict xfail (tests/test_lightning_programs.py DIFFERENCES, docs/migration.md 12):
#   treadle's ModelCheckpoint writes to local folders only (no fsspec URLs), so
#   "memory://not-a-filesystem-path" is a local folder name there and `save_last="link"` is not
#   refused; Lightning 2.6.6 keeps the URL and refuses a link on a non-local file system.
import re

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


def test_model_checkpoint_save_last_as_link_not_local():
    callback = ModelCheckpoint(dirpath="memory://not-a-filesystem-path", save_last="link")
    try:
        callback.setup(trainer=Trainer(), pl_module=BoringModel(), stage="fit")
    except ValueError as err:
        assert re.search("save_last='link'.* is only supported for local file paths", str(err))
    else:
        raise AssertionError("ValueError not raised")


if __name__ == "__main__":
    test_model_checkpoint_save_last_as_link_not_local()
    print("ok")
