"""``enable_checkpointing=False`` with a checkpoint callback given is refused, as Lightning's."""

from __future__ import annotations

import re

import pytest

import treadle
from treadle.callbacks import ModelCheckpoint


def test_configure_model_checkpoint(tmp_path):
    """Ported from tests/tests_pytorch/checkpointing/test_model_checkpoint.py::
    test_configure_model_checkpoint."""
    kwargs = {"default_root_dir": tmp_path, "logger": False}
    callback1, callback2 = ModelCheckpoint(monitor="foo"), ModelCheckpoint(monitor="bar")
    trainer = treadle.Trainer(enable_checkpointing=False, callbacks=[], **kwargs)
    assert trainer.checkpoint_callback is None
    trainer = treadle.Trainer(callbacks=[], **kwargs)
    assert isinstance(trainer.checkpoint_callback, ModelCheckpoint)
    trainer = treadle.Trainer(enable_checkpointing=True, callbacks=[callback1], **kwargs)
    assert [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)] == [callback1]
    trainer = treadle.Trainer(callbacks=[callback1, callback2], **kwargs)
    assert trainer.checkpoint_callbacks == [callback1, callback2]
    message = (
        "Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` "
        "in callbacks list (ModelCheckpoint). Leave `enable_checkpointing` at True to use it, "
        "or drop it from `callbacks`."
    )
    with pytest.raises(treadle.errors.ConfigurationError, match=re.escape(message)):
        treadle.Trainer(enable_checkpointing=False, callbacks=[callback1], **kwargs)
