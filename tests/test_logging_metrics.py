"""``self.log`` and ``self.log_dict`` with Lightning 2's semantics.

Where each value goes (``callback_metrics``, ``logged_metrics``, ``progress_bar_metrics``),
the ``on_step``/``on_epoch`` defaults of each hook, epoch reductions and value types.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from conftest_helpers import (
    IN_DIM,
    make_loader,
    make_trainer,
)
from trainer_api_probes import Recorder


class LogModule(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        v = torch.tensor(float(10 * self.current_epoch + batch_idx))
        self.log("default", v)
        self.log("both", v, on_epoch=True)
        self.log("epoch_only", v, on_step=False, on_epoch=True)
        self.log("pbar", v, prog_bar=True, on_epoch=True)
        self.log("py_float", float(batch_idx))
        self.log("hidden", v, logger=False)
        return loss

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("val_v", torch.tensor(float(batch_idx)))
        self.log("val_pbar", torch.tensor(float(batch_idx)), prog_bar=True)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One fit, 2 epochs x 4 batches: the last epoch logs 10, 11, 12, 13 (mean 11.5); val logs 0..3 (mean 1.5)."""
    model = LogModule()
    trainer = make_trainer(tmp_path_factory.mktemp("log"), max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(4), make_loader(4, seed=1))
    return trainer


def _f(d, k):
    return float(d[k])


def test_log_in_training_step_defaults_to_on_step(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "default") == 13.0
    assert _f(lm, "default") == 13.0
    assert _f(cm, "py_float") == 3.0
    for k in ("default_step", "default_epoch"):
        assert k not in lm and k not in cm


def test_log_on_step_and_on_epoch_forks_names(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert "both" not in lm
    assert _f(lm, "both_step") == 13.0
    assert _f(lm, "both_epoch") == pytest.approx(11.5)
    # callback_metrics keep the plain name too: the epoch value once the epoch is over
    assert _f(cm, "both") == pytest.approx(11.5)
    assert _f(cm, "both_epoch") == pytest.approx(11.5)


def test_log_on_epoch_only_is_the_epoch_mean(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "epoch_only") == pytest.approx(11.5)
    assert _f(lm, "epoch_only") == pytest.approx(11.5)
    for k in ("epoch_only_step", "epoch_only_epoch"):
        assert k not in lm and k not in cm


def test_log_prog_bar(logged):
    pb = logged.progress_bar_metrics
    assert _f(pb, "pbar_step") == 13.0
    assert _f(pb, "pbar_epoch") == pytest.approx(11.5)
    assert "pbar" not in pb
    assert "default" not in pb and "both_step" not in pb, (
        "only prog_bar=True metrics go to the progress bar"
    )
    assert _f(pb, "val_pbar") == pytest.approx(1.5)


def test_log_logger_false_stays_out_of_logged_metrics(logged):
    assert "hidden" not in logged.logged_metrics
    assert _f(logged.callback_metrics, "hidden") == 13.0


def test_log_in_validation_step_defaults_to_epoch_mean(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "val_v") == pytest.approx(1.5)
    assert _f(lm, "val_v") == pytest.approx(1.5)
    for k in ("val_v_step", "val_v_epoch"):
        assert k not in lm and k not in cm


class WeightedVal(Recorder):
    def validation_step(self, batch, batch_idx):
        self.log("v", torch.tensor(float(batch_idx)))


def test_validation_epoch_mean_is_weighted_by_batch_size(tmp_path):
    """10 samples in batches of 4, 4, 2 logging 0, 1, 2: Lightning's mean is (0*4 + 1*4 + 2*2) / 10."""
    model = WeightedVal()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(2), make_loader(batch_size=4, n=10, seed=1))
    assert float(trainer.callback_metrics["v"]) == pytest.approx(0.8)


class NodeBatch:
    """A torch_geometric ``Batch`` in miniature: no list, tuple or dict, but iterable, yielding
    ``(key, tensor)`` pairs (the node features first, as a ``Batch`` of graphs does)."""

    def __init__(self, samples):
        self.x = torch.stack([x for x, _ in samples])
        self.y = torch.stack([y for _, y in samples])

    def __iter__(self):
        yield from (("x", self.x), ("y", self.y))

    def to(self, device):
        self.x, self.y = self.x.to(device), self.y.to(device)
        return self


class WeightedNodes(Recorder):
    def validation_step(self, batch, batch_idx):
        assert isinstance(batch, NodeBatch)
        self.log("v", torch.tensor(float(batch_idx)))


def test_epoch_mean_weights_an_iterable_batch_by_its_first_tensor(tmp_path):
    """Ported from tests/tests_pytorch/utilities/test_data.py::test_extract_batch_size: the
    batch size of an object that is no list, tuple or dict (a torch_geometric ``Batch``) is the
    leading size of the first tensor it yields, as Lightning's ``extract_batch_size`` walks
    any iterable; the epoch mean of 0, 1, 2 over 4, 4, 2 samples is 0.8 (it was 1.0: each
    batch counted once)."""
    from treadle.utilities import batch_size_of

    assert batch_size_of(NodeBatch([(torch.zeros(3), torch.zeros(1))] * 7)) == 7
    assert batch_size_of(["a string", {"k": torch.zeros(5, 2)}]) == 5
    assert batch_size_of([1, "no tensor"]) == 1
    val = DataLoader(
        TensorDataset(torch.randn(10, IN_DIM), torch.randn(10, 1)),
        batch_size=4,
        collate_fn=NodeBatch,
    )
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(WeightedNodes(), make_loader(2), val)
    assert float(trainer.callback_metrics["v"]) == pytest.approx(0.8)


class ReadsEpochValues(Recorder):
    """Reads the metric dicts in the epoch-end hooks, as a callback or the module may."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def validation_step(self, batch, batch_idx):
        self.log("val_log", torch.tensor(float(batch_idx)))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.seen.append(
                (float(self.trainer.logged_metrics["val_log"]),
                 float(self.trainer.callback_metrics["val_log"]))
            )  # fmt: skip


def test_validation_epoch_values_are_there_in_on_validation_epoch_end(tmp_path):
    """Ported from tests/tests_pytorch/checkpointing/test_model_checkpoint.py::
    test_model_checkpoint_score_and_ckpt: ``trainer.logged_metrics[name]`` in
    ``on_validation_epoch_end`` is the epoch mean of what ``validation_step`` logged, in fit()
    and in validate()."""
    model = ReadsEpochValues()
    trainer = make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=2)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    # batches log 0, 1, 2, 3: the mean is 1.5, at each of the two validation runs
    assert model.seen == [(1.5, 1.5), (1.5, 1.5)]
    trainer.validate(model, make_loader(2, seed=1), verbose=False)
    assert model.seen[-1] == (0.5, 0.5)


class EpochEndLogger(Recorder):
    def on_train_epoch_end(self):
        self.log("epoch_marker", torch.tensor(float(self.current_epoch) + 0.5))

    def on_validation_epoch_end(self):
        self.log("val_marker", torch.tensor(float(self.current_epoch) + 0.25))


def test_log_in_epoch_end_hooks_defaults_to_on_epoch(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(EpochEndLogger(), make_loader(2), make_loader(2, seed=1))
    cm, lm = trainer.callback_metrics, trainer.logged_metrics
    assert float(cm["epoch_marker"]) == 1.5
    assert float(lm["epoch_marker"]) == 1.5
    assert float(cm["val_marker"]) == 1.25
    assert "epoch_marker_epoch" not in lm and "epoch_marker_step" not in lm


class ReduceFx(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        v = torch.tensor(float(batch_idx + 1))
        self.log("mx", v, on_step=False, on_epoch=True, reduce_fx="max")
        self.log("sm", v, on_step=False, on_epoch=True, reduce_fx="sum")
        self.log(
            "synced", v, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch[0].shape[0]
        )
        self.log_dict({"d1": v, "d2": 2 * v}, on_step=False, on_epoch=True)
        return loss


def test_log_reduce_fx_sync_dist_batch_size_and_log_dict_options(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(ReduceFx(), make_loader(4))  # logs 1, 2, 3, 4
    cm = trainer.callback_metrics
    assert float(cm["mx"]) == 4.0
    assert float(cm["sm"]) == 10.0
    assert float(cm["synced"]) == pytest.approx(2.5)
    assert float(cm["d1"]) == pytest.approx(2.5)
    assert float(cm["d2"]) == pytest.approx(5.0)


class GradLogger(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("loss", loss, prog_bar=True)  # a tensor with a graph
        return loss


def test_metric_value_types(tmp_path):
    """As in Lightning: callback/logged metrics are detached tensors, the progress bar holds numbers."""
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(GradLogger(), make_loader(2), make_loader(2, seed=1))
    for d in (trainer.callback_metrics, trainer.logged_metrics):
        for k in ("loss", "val_loss"):
            assert isinstance(d[k], torch.Tensor), (k, type(d[k]))
            assert not d[k].requires_grad
            assert d[k].numel() == 1
            d[k].item()
    assert isinstance(trainer.progress_bar_metrics["loss"], (int, float))


def test_log_every_n_steps_zero_logs_no_step_only_epochs_as_lightning(tmp_path):
    """``Trainer(log_every_n_steps=0)``: no step-level row (not even ``self.log`` of a step,
    ``LearningRateMonitor``'s per-step values or ``DeviceStatsMonitor``'s), epoch rows as
    usual. The expected file is Lightning 2.6.6's for the same program."""
    import treadle
    from treadle.callbacks import DeviceStatsMonitor, LearningRateMonitor
    from treadle.demos import BoringModel
    from treadle.loggers import CSVLogger

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("l", out["loss"])
            self.log("e", 1.0, on_step=False, on_epoch=True)
            return out

    trainer = treadle.Trainer(
        logger=CSVLogger(tmp_path),
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=0,
        log_every_n_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[LearningRateMonitor(), DeviceStatsMonitor(cpu_stats=False)],
    )
    trainer.fit(Model())
    assert trainer.log_every_n_steps == 0 and trainer.global_step == 6
    rows = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    assert rows == [
        "e,epoch,lr-SGD,step",
        ",,0.1,0",  # LearningRateMonitor's on_train_start value
        "1.0,0,,2",
        ",,0.010000000000000002,3",  # its epoch-interval value after the scheduler stepped
        "1.0,1,,5",
    ]
