"""Behaviour the Lightning documentation pages in ``tests/lightning_programs/programs/doc_*.py``
(lprog10: debugging, deploy, accelerator preparation, training tricks, extensions, iterables,
transfer learning) rely on, where treadle differed from Lightning 2.6.6: one test per fix."""

from __future__ import annotations

import re

import pytest
from lightning_boring import BoringModel, quiet

from treadle import Trainer
from treadle.utilities import MisconfigurationException


# Ported from tests/tests_pytorch/trainer/flags/test_limit_batches.py behaviour (Lightning's
# _parse_num_batches refusal), as debug/debugging_basic.rst's `limit_val_batches=0.01` meets it
@pytest.mark.parametrize(
    ("fn", "stage", "count"),
    [
        ("fit", "train", 8),
        ("fit", "val", 4),
        ("validate", "val", 4),
        ("test", "test", 4),
        ("predict", "predict", 2),
    ],
)
def test_a_fraction_leaving_no_batch_is_refused(tmp_path, fn, stage, count) -> None:
    trainer = Trainer(**quiet(tmp_path, **{f"limit_{stage}_batches": 0.01}, max_epochs=1))
    with pytest.raises(MisconfigurationException) as info:
        getattr(trainer, fn)(BoringModel())
    message = str(info.value)
    assert (
        f"You requested to check 0.01 of the `{stage}_dataloader` but 0.01 * {count} < 1" in message
    )
    assert re.search(rf"Try at least `limit_{stage}_batches={1.0 / count}`", message), message


def test_a_fraction_leaving_one_batch_runs(tmp_path) -> None:
    trainer = Trainer(
        **quiet(tmp_path, limit_train_batches=0.2, limit_val_batches=0.25, max_epochs=1)
    )
    trainer.fit(BoringModel())
    assert trainer.num_training_batches == 1 and trainer.num_val_batches == [1]
