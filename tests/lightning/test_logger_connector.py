"""What ``self.log``/``log_dict`` and the hooks around them see, as Lightning's.

Ported from Lightning's tests/tests_pytorch/trainer/logging_/test_logger_connector.py
(Apache-2.0, Copyright The Lightning AI team): test_metrics_reset (``setup(stage)`` with
``stage.value``, ``trainer.state.stage`` in ``setup``), test_metriccollection_compute_groups,
test_logged_metrics_has_logged_epoch_value.
"""

from __future__ import annotations

import pytest
from lightning_boring import BoringModel, quiet

import treadle


def test_setup_gets_the_entry_points_stage_and_state(tmp_path):
    seen = []

    class Model(BoringModel):
        def setup(self, stage):
            seen.append((stage.value, stage, self.trainer.state.stage.value))

        def teardown(self, stage):
            seen.append(("teardown", stage.value))

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_train_batches=1))
    model = Model()
    trainer.fit(model)
    trainer.validate(model, verbose=False)
    trainer.test(model, verbose=False)
    trainer.predict(model)
    assert seen == [
        ("fit", "fit", "train"),
        ("teardown", "fit"),
        ("validate", "validate", "validate"),
        ("teardown", "validate"),
        ("test", "test", "test"),
        ("teardown", "test"),
        ("predict", "predict", "predict"),
        ("teardown", "predict"),
    ]
