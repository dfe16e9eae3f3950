"""``validate``, ``test`` and ``predict`` on 2 ranks (gloo, CPU): each sample read once, and
``sync_dist`` metrics reduced over the ranks at the epoch's end.

The data: 9 samples, batch size 2. ``DistributedSampler`` would pad rank 1 with a repeat of
sample 0 (5 samples each); the evaluation sampler gives rank 0 the samples 0, 2, 4, 6, 8
(batches of 2, 2, 1) and rank 1 the samples 1, 3, 5, 7 (batches of 2, 2): different batch
counts, so nothing may pair the ranks' batches up. A ``sync_dist`` mean is then the mean over
the 9 samples, as one process computes it over one loader of all of them.
"""

from __future__ import annotations

import sys

import pytest

from _procs import load_module, read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = '''
import json, sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from torch.multiprocessing import ProcessRaisedException
from treadle import ConfigurationError


def dataset(n=9):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    y = x.sum(1, keepdim=True) + 0.5 * torch.randn(n, 1, generator=g)
    return TensorDataset(x, y, torch.arange(n))


def loader(n=9):
    return DataLoader(dataset(n), batch_size=2)


class Scorer(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(3, 1)
        self.seen = {"validate": [], "test": []}

    def score(self, stage, batch, batch_idx):
        x, y, idx = batch
        self.seen[stage] += idx.tolist()
        loss = F.mse_loss(self.net(x), y)
        self.log(f"{stage}_loss", loss, sync_dist=True)
        self.log(f"{stage}_count", float(len(idx)), reduce_fx="sum", sync_dist=True)
        self.log(f"{stage}_max", idx.max().float(), reduce_fx="max", sync_dist=True)
        self.log(f"{stage}_min", idx.min().float(), reduce_fx="min", sync_dist=True)
        self.log(f"{stage}_local", loss)
        if batch_idx == 2:  # only rank 0 has a third batch: rank 1 must still take part
            self.log(f"{stage}_third", idx.float().mean(), sync_dist=True)

    def training_step(self, batch, batch_idx):
        x, y, idx = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.score("validate", batch, batch_idx)

    def test_step(self, batch, batch_idx):
        self.score("test", batch, batch_idx)

    def predict_step(self, batch, batch_idx):
        x, y, idx = batch
        return {"idx": idx, "out": self.net(x), "rank": self.global_rank}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(out, **kw):
    base = dict(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                enable_progress_bar=False, enable_checkpointing=False, default_root_dir=out,
                process_group_timeout=30, max_epochs=1, num_sanity_val_steps=0)
    base.update(kw)
    return treadle.Trainer(**base)


def floats(metrics):
    return {k: float(v) for k, v in metrics.items()}


def predictions(batches):
    return [{"idx": b["idx"].tolist(), "out": b["out"].flatten().tolist(), "rank": b["rank"]}
            for b in batches]


def reference():
    """One process, one loader of all 9 samples."""
    t = trainer(None, devices=1, strategy="single_device")
    model = Scorer()
    return {"test": t.test(model, loader())[0], "validate": t.validate(model, loader())[0],
            "predict": predictions(t.predict(model, loader())),
            "tiny_test": t.test(model, loader(1))[0]}


def main(mode, out):
    if mode == "spawn":
        t = trainer(out, strategy="ddp_spawn")
        model = Scorer()
        result = {"test": t.test(model, loader())[0],
                  "callback_metrics": floats(t.callback_metrics),
                  "predict": t.predict(model, loader()),
                  "no_predictions": t.predict(model, loader(), return_predictions=False)}
        try:
            t.predict(model, loader(), return_predictions=True)
        except ProcessRaisedException as exc:
            result["asked"] = [type(exc).__name__, isinstance(exc, ConfigurationError), str(exc)]
        Path(out, "spawn.json").write_text(json.dumps(result))
        return
    t = trainer(out)
    model = Scorer()
    result = {"test": t.test(model, loader())[0],
              "test_callback_metrics": floats(t.callback_metrics),
              "validate": t.validate(model, loader())[0],
              "predict": predictions(t.predict(model, loader())),
              # one sample on two ranks: rank 1 runs no batch at all
              "tiny_test": t.test(model, loader(1))[0],
              "tiny_predict": predictions(t.predict(model, loader(1)))}
    # fit with validation between the epochs: the evaluation sampler inside fit too
    fit_trainer = trainer(out, max_epochs=2)
    fit_trainer.fit(model, DataLoader(dataset(8), batch_size=2), loader())
    result["fit"] = floats(fit_trainer.callback_metrics)
    result["seen"] = model.seen
    rank = t.global_rank
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp_eval")
    script = write(tmp / "evaluate.py", SCRIPT)
    out = tmp / "out"
    out.mkdir()
    run([sys.executable, str(script), "ddp", str(out)], tmp, timeout=120)
    ref = load_module(script, f"ddp_eval_script_{id(script)}").reference()
    return read_json(out / "rank0.json"), read_json(out / "rank1.json"), ref, script, out


@pytest.mark.parametrize("stage", ["test", "validate"])
def test_sync_dist_metrics_equal_one_process_on_every_rank(job, stage):
    r0, r1, ref, _, _ = job
    for key in (f"{stage}_loss", f"{stage}_count", f"{stage}_max", f"{stage}_min"):
        assert r0[stage][key] == pytest.approx(ref[stage][key], rel=1e-6), key
        assert r1[stage][key] == pytest.approx(ref[stage][key], rel=1e-6), key
    # 9 samples counted once each (DistributedSampler would count 10: sample 0 twice)
    assert r0[stage][f"{stage}_count"] == r1[stage][f"{stage}_count"] == 9.0
    assert (r0[stage][f"{stage}_max"], r0[stage][f"{stage}_min"]) == (8.0, 0.0)
    # without sync_dist each rank keeps its own mean
    assert r0[stage][f"{stage}_local"] != pytest.approx(r1[stage][f"{stage}_local"])
    # logged on rank 0's third batch (sample 8) only: rank 1 gets rank 0's value
    assert r0[stage][f"{stage}_third"] == r1[stage][f"{stage}_third"] == 8.0


def test_test_metrics_reach_callback_metrics_on_every_rank(job):
    r0, r1, ref, _, _ = job
    for metrics in (r0["test_callback_metrics"], r1["test_callback_metrics"]):
        assert metrics["test_loss"] == pytest.approx(ref["test"]["test_loss"], rel=1e-6)


def test_each_sample_is_evaluated_once(job):
    r0, r1, _, _, _ = job
    for stage in ("test", "validate"):
        assert r0["seen"][stage][:5] == [0, 2, 4, 6, 8] and r1["seen"][stage][:4] == [1, 3, 5, 7]
    # the whole "seen" list: test, tiny test (rank 0 only), then validate and fit's 2 validations
    assert r0["seen"]["test"] == [0, 2, 4, 6, 8, 0] and r1["seen"]["test"] == [1, 3, 5, 7]
    assert r0["seen"]["validate"] == [0, 2, 4, 6, 8] * 3
    assert r1["seen"]["validate"] == [1, 3, 5, 7] * 3


def test_predict_returns_each_rank_its_own_share(job):
    r0, r1, ref, _, _ = job
    assert [b["idx"] for b in r0["predict"]] == [[0, 2], [4, 6], [8]]
    assert [b["idx"] for b in r1["predict"]] == [[1, 3], [5, 7]]
    assert {b["rank"] for b in r0["predict"]} == {0} and {b["rank"] for b in r1["predict"]} == {1}
    # together: every sample once, with the single process's outputs
    expected = {i: o for b in ref["predict"] for i, o in zip(b["idx"], b["out"])}
    got = {}
    for b in r0["predict"] + r1["predict"]:
        for i, o in zip(b["idx"], b["out"]):
            assert i not in got, f"sample {i} predicted twice"
            got[i] = o
    assert got.keys() == expected.keys() == set(range(9))
    for i in expected:
        assert got[i] == pytest.approx(expected[i], rel=1e-6)


def test_a_rank_without_batches_still_reduces(job):
    r0, r1, ref, _, _ = job
    synced = {k: v for k, v in r0["tiny_test"].items() if k != "test_local"}
    assert r1["tiny_test"] == synced  # rank 1 logged nothing of its own (no test_local)
    assert r0["tiny_test"]["test_count"] == 1.0
    assert r0["tiny_test"]["test_loss"] == pytest.approx(ref["tiny_test"]["test_loss"], rel=1e-6)
    assert r0["tiny_predict"][0]["idx"] == [0] and r1["tiny_predict"] == []


def test_validation_inside_fit_with_uneven_batches(job):
    r0, r1, ref, _, _ = job
    for key in ("validate_loss", "validate_count", "train_loss_epoch"):
        assert r0["fit"][key] == pytest.approx(r1["fit"][key], rel=1e-6), key
    assert r0["fit"]["validate_count"] == 9.0


def test_ddp_spawn_test_and_predict_return_rank_zeros_results(job):
    _, _, ref, script, out = job
    run([sys.executable, str(script), "spawn", str(out)], script.parent, timeout=120)
    spawn = read_json(out / "spawn.json")
    assert spawn["test"]["test_loss"] == pytest.approx(ref["test"]["test_loss"], rel=1e-6)
    assert spawn["test"]["test_count"] == 9.0
    assert spawn["callback_metrics"]["test_loss"] == pytest.approx(
        ref["test"]["test_loss"], rel=1e-6
    )
    # As Lightning's ddp_spawn: predict returns None, and return_predictions=True is refused
    # in the workers (a ProcessRaisedException in the caller, also a ConfigurationError here).
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::test_spawn_predict_return_predictions
    assert spawn["predict"] is None and spawn["no_predictions"] is None
    name, is_config_error, message = spawn["asked"]
    assert name == "SpawnedConfigurationError" and is_config_error
    assert "`return_predictions` should be set to `False`" in message
