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


@pytest.mark.parametrize("compute_groups", [True, False])
def test_log_dict_of_a_metric_collection_copies_states_unless_grouped(tmp_path, compute_groups):
    import torch
    from torchmetrics import MetricCollection
    from torchmetrics.classification import MulticlassAccuracy, MulticlassPrecision

    calls = []

    class Collection(MetricCollection):
        def items(self, keep_base=False, copy_state=True):
            if getattr(self, "logging", False):
                calls.append((keep_base, copy_state))
            return super().items(keep_base=keep_base, copy_state=copy_state)

    class Model(BoringModel):
        def __init__(self):
            super().__init__()
            self.metrics = Collection(
                [MulticlassAccuracy(num_classes=3), MulticlassPrecision(num_classes=3)],
                compute_groups=compute_groups,
            )

        def training_step(self, batch, batch_idx):
            self.metrics(torch.rand(4, 3).softmax(-1), torch.randint(0, 3, (4,)))
            self.metrics.logging = True
            self.log_dict(self.metrics, on_step=True, on_epoch=True)
            self.metrics.logging = False
            return super().training_step(batch, batch_idx)

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    )
    trainer.fit(Model())
    assert calls == [(False, not compute_groups)] * 2


@pytest.mark.parametrize("logger", [False, True])
def test_logging_epoch_by_hand_and_logger_true_without_a_logger(tmp_path, logger):
    import warnings

    from treadle.loggers import CSVLogger

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("epoch", -batch_idx, logger=True)
            return super().training_step(batch, batch_idx)

    args = quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    args["logger"] = CSVLogger(tmp_path) if logger else False
    trainer = treadle.Trainer(**args)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(Model())
    warned = [
        w for w in record if "log('epoch', ..., logger=True)` but have no logger" in str(w.message)
    ]
    assert bool(warned) is not logger
    # a logged "epoch" is not replaced by the trainer's
    assert trainer.logged_metrics == {"epoch": -1}
