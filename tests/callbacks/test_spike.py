"""SpikeDetection.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_spike.py`` (Apache-2.0, Copyright
The Lightning AI team): the behaviour each test checks is Lightning's (which values are spikes,
with and without ``finite_only``, and that a spike on one rank stops every rank); the code is
translated to treadle's names. Lightning runs every case under ``ddp_spawn``; here the
one-process cases run in this process and one two-process case runs under ``strategy="ddp"``
in a subprocess. Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path

import pytest
import torch
from boring_model import quiet
from torch.utils.data import DataLoader

import treadle
from treadle import TrainingSpikeException
from treadle.callbacks import SpikeDetection
from treadle.utilities import MisconfigurationException

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from _procs import run, write  # noqa: E402


class IdentityModule(treadle.Module):
    """Loss 1 / (batch_idx + 1), except ``spike_value`` (None: batch_idx) at batch 4."""

    def __init__(self, spike_value):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1, bias=False)
        self.spike_value = spike_value

    def training_step(self, batch, batch_idx):
        with torch.no_grad():  # weight one: the loss is the input, with gradients
            self.layer.weight.data = torch.ones_like(self.layer.weight.data)
        value = 1 / (batch_idx + 1)
        if batch_idx == 4:
            value = batch_idx if self.spike_value is None else self.spike_value
        return self.layer(torch.tensor(value, dtype=torch.float32).view(1, 1)).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


class CatchingSpikeDetection(SpikeDetection):
    """Expects the spike at batch 4 (or none) and lets training go on."""

    should_raise = False
    raised = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        expect = batch_idx == 4 and self.should_raise
        context = pytest.raises(TrainingSpikeException) if expect else contextlib.nullcontext()
        with context:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self.raised = self.raised or expect


@pytest.mark.parametrize("finite_only", [True, False])
@pytest.mark.parametrize("spike_value", [None, float("inf"), float("-inf"), float("nan")])
def test_trainer_spike_detection_integration(tmp_path, spike_value, finite_only):
    cb = CatchingSpikeDetection(exclude_batches_path=tmp_path, finite_only=finite_only)
    # None: an ordinary spike; finite_only: any non-finite value is one; inf is far above
    # the mean, an ordinary spike too; -inf and NaN otherwise are not
    cb.should_raise = spike_value is None or finite_only or spike_value == float("inf")
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[cb])
    trainer.fit(IdentityModule(spike_value), DataLoader([1 for _ in range(10)]))
    assert cb.raised == cb.should_raise
    skip_file = tmp_path / "skip_batches.json"
    if cb.should_raise:
        assert json.loads(skip_file.read_text()) == [3, 4]
        assert cb.bad_batches == [3, 4]
    else:
        assert not skip_file.exists()


SCRIPT = """
import json, sys
import torch
from torch.utils.data import DataLoader
import treadle
from treadle.callbacks import SpikeDetection


class Model(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1, bias=False)

    def training_step(self, batch, batch_idx):
        with torch.no_grad():
            self.layer.weight.data = torch.ones_like(self.layer.weight.data)
        value = 1 / (batch_idx + 1)
        if self.global_rank == 1 and batch_idx == 4:  # rank 1's spike
            value = 4.0
        return self.layer(torch.tensor(value).view(1, 1)).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


def main(out):
    trainer = treadle.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                              enable_progress_bar=False, enable_checkpointing=False,
                              enable_model_summary=False, default_root_dir=out,
                              process_group_timeout=30, max_epochs=1,
                              callbacks=[SpikeDetection()])
    try:
        trainer.fit(Model(), DataLoader([1.0] * 20))
    except treadle.TrainingSpikeException as exc:
        with open(f"{out}/rank{trainer.global_rank}.txt", "w") as f:
            f.write(str(exc))


if __name__ == "__main__":
    main(sys.argv[1])
"""


@pytest.mark.slow  # two processes
def test_spike_on_one_rank_stops_every_rank(tmp_path):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), str(out)], cwd=tmp_path, timeout=120)
    # rank 0's own losses have no spike: it stops because rank 1's has one (the strategy's
    # failure path then ends rank 1, which raised the same exception)
    assert (out / "rank0.txt").read_text() == "Training spike detected in batch 4"
    assert json.loads((out / "skip_batches.json").read_text()) == [3, 4]  # rank zero writes


# -- treadle ------------------------------------------------------------------------------------


def test_spike_ends_the_run_with_the_batch_index(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[SpikeDetection()])
    with pytest.raises(
        TrainingSpikeException, match=re.escape("Training spike detected in batch 4")
    ):
        trainer.fit(IdentityModule(None), DataLoader([1 for _ in range(10)]))
    # the default path: <default_root_dir>/skip_batches.json
    assert json.loads((tmp_path / "skip_batches.json").read_text()) == [3, 4]


def test_tolerances_and_warmup(tmp_path):
    """atol: a jump smaller than it is no spike; warmup: batches before it are not checked."""
    loader = DataLoader([1 for _ in range(10)])
    for callback in (SpikeDetection(atol=10.0), SpikeDetection(warmup=5)):
        trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[callback])
        trainer.fit(IdentityModule(None), loader)
        assert callback.bad_batches == []
    # mode="max": a drop is the spike
    drop = SpikeDetection(mode="max", rtol=0.5)
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[drop])

    class Rising(IdentityModule):
        def training_step(self, batch, batch_idx):
            with torch.no_grad():
                self.layer.weight.data = torch.ones_like(self.layer.weight.data)
            value = 0.0 if batch_idx == 6 else float(batch_idx + 1)
            return self.layer(torch.tensor(value).view(1, 1)).sum()

    with pytest.raises(TrainingSpikeException, match=re.escape("in batch 6")):
        trainer.fit(Rising(None), loader)


def test_state_round_trips_and_mode_is_checked():
    cb = SpikeDetection(window=3)
    for value in (4.0, 3.0, 2.0, 1.0):
        cb._update(torch.tensor(value))
    assert cb.running_mean == 2.0  # the last 3
    other = SpikeDetection(window=3)
    other.load_state_dict(cb.state_dict())
    assert other.running_mean == 2.0
    assert other.last_val == 1.0
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "SpikeDetection(mode='avg'): Invalid mode. Has to be min or max, found avg"
        ),
    ):
        SpikeDetection(mode="avg")  # type: ignore[arg-type]
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "SpikeDetection(window=0): the running mean needs a window of at least 1 loss (an int)."
        ),
    ):
        SpikeDetection(window=0)


def test_outputs_without_a_loss_are_refused(tmp_path):
    cb = SpikeDetection()
    with pytest.raises(
        TypeError,
        match=re.escape(
            "SpikeDetection: outputs have to be of type torch.Tensor or Mapping, got NoneType "
            "(training_step returns the loss, or a dict with 'loss')"
        ),
    ):
        cb.on_train_batch_end(None, None, None, None, 0)
