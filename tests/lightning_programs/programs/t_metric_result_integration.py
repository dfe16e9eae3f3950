# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/core/test_metric_result_integration.py
#   (test_metric_collections, test_compute_not_a_tensor_raises; test_result_collection_reload[cpu]
#    is t_metric_result_reload.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted through public
#   names; tmp_path -> a tempfile dir; pytest.raises -> try/except.
#   test_metric_collections: the asserts on the private `results[...].meta.metric_attribute`
#   -> the logged values in `trainer.callback_metrics` (each metric logged from its nested
#   ModuleList/ModuleDict/MetricCollection place).
#   Left out, as tests of Lightning internals (the private `_ResultCollection`, `_ResultMetric`,
#   `_Metadata`, `_Sync`): test_result_metric_integration, test_result_collection_simple_loop,
#   test_result_collection_restoration, test_metric_result_computed_check,
#   test_metric_result_respects_dtype, test_metric_result_dtype_promotion,
#   test_metric_result_precision_no_lower_than_float32, test_result_metric_max_min,
#   test_logger_sync_dist; and test_result_reduce_ddp (2 GPUs).
import tempfile

from torch import Tensor, tensor
from torch.nn import ModuleDict, ModuleList
from torchmetrics import Metric, MetricCollection

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class DummyMetric(Metric):
    x: Tensor

    def __init__(self):
        super().__init__()
        self.add_state("x", tensor(0), dist_reduce_fx="sum")

    def update(self, x):
        self.x += x

    def compute(self):
        return self.x


def test_metric_collections(tmp_path):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.metrics_list = ModuleList([DummyMetric() for _ in range(2)])
            self.metrics_dict = ModuleDict({"a": DummyMetric(), "b": DummyMetric()})
            self.metrics_collection_dict = MetricCollection({"a": DummyMetric(), "b": DummyMetric()})
            self.metrics_collection_dict_nested = ModuleDict({
                "a": ModuleList([ModuleDict({"b": DummyMetric()}), DummyMetric()])
            })

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.metrics_list[0](batch_idx)
            self.metrics_list[1](batch_idx)

            self.metrics_dict["a"](batch_idx)
            self.metrics_dict["b"](batch_idx)

            self.metrics_collection_dict["a"](batch_idx)
            self.metrics_collection_dict["b"](batch_idx)

            self.metrics_collection_dict_nested["a"][0]["b"](batch_idx)
            self.metrics_collection_dict_nested["a"][1](batch_idx)

            self.log("a", self.metrics_list[0])
            self.log("b", self.metrics_list[1])

            self.log("c", self.metrics_dict["a"])
            self.log("d", self.metrics_dict["b"])

            self.log("e", self.metrics_collection_dict["a"])
            self.log("f", self.metrics_collection_dict["b"])

            self.log("g", self.metrics_collection_dict_nested["a"][0]["b"])
            self.log("h", self.metrics_collection_dict_nested["a"][1])

            return loss

    model = TestModel()

    trainer = Trainer(default_root_dir=tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(model)
    # each logged from its own place: the last step's value (batch_idx 1) of each
    metrics = trainer.callback_metrics
    for key in "abcdefgh":
        assert metrics[key] == 1, (key, dict(metrics))


def test_compute_not_a_tensor_raises():
    class RandomMetric(Metric):
        def update(self):
            pass

        def compute(self):
            return tensor(1.0), tensor(2.0)

    class MyModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.metric = RandomMetric()

        def on_train_start(self):
            self.log("foo", self.metric)

    model = MyModel()
    trainer = Trainer(
        limit_train_batches=1,
        limit_val_batches=0,
        max_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        logger=False,
        enable_model_summary=False,
    )
    try:
        trainer.fit(model)
    except ValueError as e:
        import re

        assert re.search(r"compute\(\)` return of.*foo' must be a tensor", str(e)), str(e)
    else:
        raise AssertionError("no ValueError for a Metric whose compute() returns a tuple")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_metric_collections(d)
    test_compute_not_a_tensor_raises()
    print("OK")
