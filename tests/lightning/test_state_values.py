"""``trainer.state.fn`` reads as Lightning's ``TrainerFn``: a string that answers ``.value``
(Lightning's test_eval_loop_logging.py::test_eval_step_logging logs under
``self.trainer.state.fn.value``)."""

from __future__ import annotations

import torch
from torch import nn

import treadle
from conftest_helpers import IN_DIM, make_loader, make_trainer


class RecordsFn(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def on_fit_start(self):
        self.seen.append((self.trainer.state.fn.value, self.trainer.state.fn == "fit"))

    def on_validation_start(self):
        self.seen.append((self.trainer.state.fn.value, self.trainer.state.fn))


def test_state_fn_is_a_string_with_value(tmp_path):
    model = RecordsFn()
    trainer = make_trainer(tmp_path, limit_train_batches=1, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(1), make_loader(1))
    trainer.validate(model, make_loader(1))
    assert model.seen == [("fit", True), ("fit", "fit"), ("validate", "validate")]
    assert isinstance(trainer.state.fn, str) and f"{trainer.state.fn}" == "validate"


class RecordsStage(RecordsFn):
    """Lightning's ``trainer.state.stage.value`` (``RunningStage``) in each stage."""

    def _record(self):
        stage = self.trainer.state.stage
        self.seen.append((str(stage), stage.value))

    def training_step(self, batch, batch_idx):
        self._record()
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self._record()

    def test_step(self, batch, batch_idx):
        self._record()

    def predict_step(self, batch, batch_idx):
        self._record()
        return batch[0]

    def on_fit_start(self):
        pass

    def on_validation_start(self):
        pass


def test_state_stage_is_a_string_with_lightnings_value(tmp_path):
    from treadle.trainer.states import RunningStage

    model = RecordsStage()
    trainer = make_trainer(tmp_path, limit_train_batches=1, num_sanity_val_steps=1)
    trainer.fit(model, make_loader(1), make_loader(1))
    trainer.validate(model, make_loader(1))
    trainer.test(model, make_loader(1))
    trainer.predict(model, make_loader(1))
    assert model.seen == [
        ("sanity", "sanity_check"),
        ("fit", "train"),
        ("validate", "validate"),
        ("validate", "validate"),
        ("test", "test"),
        ("predict", "predict"),
    ]
    assert trainer.state.stage is None  # between runs, as Lightning
    assert RunningStage.TRAINING == "fit" and RunningStage.TRAINING.value == "train"


def test_state_stage_equals_lightnings_name_too():
    # The Trainer docs page: "stage in ("train", "sanity_check", "validate", "test", "predict")"
    from treadle.state import STAGE

    assert STAGE["fit"] == "train" and STAGE["fit"] == "fit" and "train" == STAGE["fit"]  # noqa: SIM300 (the reflected ==)
    assert STAGE["sanity"] == "sanity_check" and STAGE["sanity"] in ("train", "sanity_check")
    assert STAGE["fit"] != "sanity_check" and STAGE["validate"] != "train"
    assert ("fit", "running", STAGE["fit"]) == ("fit", "running", "train")
