# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_prediction_loop.py
#   (test_prediction_loop_stores_predictions, test_prediction_loop_with_iterable_dataset,
#   test_invalid_dataloader_idx_raises_step, _batch_start, _batch_end,
#   test_prediction_loop_when_batch_idx_argument_is_not_given)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; pytest.raises(match=) -> try/except with re.search. Left out: the asserts on
#   the private loop's `trainer.predict_loop.predictions` (loop internals) and
#   test_prediction_loop_batch_sampler_set_epoch_called (it sets the private
#   `fit_loop.epoch_progress` and checks Lightning's `_IndexBatchSamplerWrapper`).
import itertools
import re
import tempfile

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class raises:
    def __init__(self, exc, match):
        self.exc, self.match = exc, match

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        assert typ is not None, f"DID NOT RAISE {self.exc}"
        assert issubclass(typ, self.exc), (typ, value)
        assert re.search(self.match, str(value)), (self.match, str(value))
        return True


def test_prediction_loop_stores_predictions(tmp_path):
    class MyModel(BoringModel):
        def predict_step(self, batch, batch_idx):
            return batch_idx

    model = MyModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_predict_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    predictions = trainer.predict(model, return_predictions=True)
    assert predictions == [0, 1]

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_predict_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    predictions = trainer.predict(model, return_predictions=False)
    assert predictions is None


def test_prediction_loop_with_iterable_dataset(tmp_path):
    class MyModel(BoringModel):
        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return (batch, batch_idx, dataloader_idx)

    model = MyModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_predict_batches=3,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        devices=1,
    )
    preds = trainer.predict(model, itertools.count())
    assert preds == [(0, 0, 0), (1, 1, 0), (2, 2, 0)]

    preds = trainer.predict(model, [itertools.count(), itertools.count()])
    assert preds == [[(0, 0, 0), (1, 1, 0), (2, 2, 0)], [(0, 0, 1), (1, 1, 1), (2, 2, 1)]]

    preds = trainer.predict(model, {"a": [0, 1], "b": [2, 3]})
    assert preds == [[(0, 0, 0), (1, 1, 0)], [(2, 0, 1), (3, 1, 1)]]

    preds = trainer.predict(model, [[0, 1], [2, 3]])
    assert preds == [[(0, 0, 0), (1, 1, 0)], [(2, 0, 1), (3, 1, 1)]]

    class MyModel(LightningModule):
        batch_start_ins = []
        step_outs = []
        batch_end_ins = []

        def on_predict_batch_start(self, batch, batch_idx, dataloader_idx):
            self.batch_start_ins.append((batch, batch_idx, dataloader_idx))

        def predict_step(self, dataloader_iter):
            self.step_outs.append(next(dataloader_iter))

        def on_predict_batch_end(self, outputs, batch, batch_idx, dataloader_idx):
            self.batch_end_ins.append((batch, batch_idx, dataloader_idx))

    model = MyModel()
    trainer.predict(model, {"a": [0, 1], "b": [2, 3]})

    assert model.batch_start_ins == [(None, 0, 0)] + model.step_outs[:-1]
    assert model.step_outs == [(0, 0, 0), (1, 1, 0), (2, 0, 1), (3, 1, 1)]
    assert model.batch_end_ins == model.step_outs


def _check_dataloader_idx(tmp_path, hook, signatures):
    """test_invalid_dataloader_idx_raises_{step,batch_start,batch_end}: one body, the hook named."""
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True)

    def model_class(name, method, two_loaders=False):
        namespace = {hook: method}
        if two_loaders:

            def predict_dataloader(self):
                return [BoringModel.predict_dataloader(self), BoringModel.predict_dataloader(self)]

            namespace["predict_dataloader"] = predict_dataloader
        return type(name, (BoringModel,), namespace)

    extra, good, other_name, multiple, ignoring, ignoring2 = signatures

    with raises(RuntimeError, f"have included `dataloader_idx` in `ExtraDataloaderIdx.{hook}"):
        trainer.predict(model_class("ExtraDataloaderIdx", extra)())
    trainer.predict(model_class("GoodDefault", good)())
    # different names are not supported
    with raises(TypeError, "missing 1 required positional argument: 'dl_idx"):
        trainer.predict(model_class("ExtraDlIdxOtherName", other_name)())
    with raises(RuntimeError, f"no `dataloader_idx` argument in `MultipleDataloader.{hook}"):
        trainer.predict(model_class("MultipleDataloader", multiple, True)())
    trainer.predict(model_class("IgnoringModel", ignoring, True)())
    with raises(RuntimeError, f"no `dataloader_idx` argument in `IgnoringModel2.{hook}"):
        trainer.predict(model_class("IgnoringModel2", ignoring2, True)())


def test_invalid_dataloader_idx_raises_step(tmp_path):
    def extra(self, batch, batch_idx, dataloader_idx): ...
    def good(self, batch, batch_idx, dataloader_idx=0): ...
    def other_name(self, batch, batch_idx, dl_idx): ...
    def multiple(self, batch, batch_idx): ...
    def ignoring(self, batch, batch_idx, *_): ...
    def ignoring2(self, batch, batch_idx, **_): ...

    _check_dataloader_idx(
        tmp_path, "predict_step", (extra, good, other_name, multiple, ignoring, ignoring2)
    )


def test_invalid_dataloader_idx_raises_batch_start(tmp_path):
    def extra(self, batch, batch_idx, dataloader_idx): ...
    def good(self, batch, batch_idx, dataloader_idx=0): ...
    def other_name(self, batch, batch_idx, dl_idx): ...
    def multiple(self, batch, batch_idx): ...
    def ignoring(self, batch, batch_idx, *_): ...
    def ignoring2(self, batch, batch_idx, **_): ...

    _check_dataloader_idx(
        tmp_path, "on_predict_batch_start", (extra, good, other_name, multiple, ignoring, ignoring2)
    )


def test_invalid_dataloader_idx_raises_batch_end(tmp_path):
    def extra(self, outputs, batch, batch_idx, dataloader_idx): ...
    def good(self, outputs, batch, batch_idx, dataloader_idx=0): ...
    def other_name(self, outputs, batch, batch_idx, dl_idx): ...
    def multiple(self, outputs, batch, batch_idx): ...
    def ignoring(self, outputs, batch, batch_idx, *_): ...
    def ignoring2(self, outputs, batch, batch_idx, **_): ...

    _check_dataloader_idx(
        tmp_path, "on_predict_batch_end", (extra, good, other_name, multiple, ignoring, ignoring2)
    )


def test_prediction_loop_when_batch_idx_argument_is_not_given(tmpdir):
    class TestModel(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.predict_step_called = False

        def predict_step(self, batch):
            self.predict_step_called = True
            return self.step(batch)

    trainer = Trainer(
        default_root_dir=tmpdir,
        fast_dev_run=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    model = TestModel()

    trainer.predict(model)
    assert model.predict_step_called


if __name__ == "__main__":
    for test in (
        test_prediction_loop_stores_predictions,
        test_prediction_loop_with_iterable_dataset,
        test_invalid_dataloader_idx_raises_step,
        test_invalid_dataloader_idx_raises_batch_start,
        test_invalid_dataloader_idx_raises_batch_end,
        test_prediction_loop_when_batch_idx_argument_is_not_given,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            test(tmp)
    print("OK")
