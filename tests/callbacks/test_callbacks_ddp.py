"""EarlyStopping, Timer and ModelSummary under ``strategy="ddp"``: 2 CPU processes, gloo (ours).

Lightning's ``test_multiple_early_stopping_callbacks`` has a ``ddp_spawn`` case where only rank
0's metric diverges: every rank must stop at the same epoch, or the others would wait forever
in the next gradient all-reduce. The job runs a script in a subprocess (a ddp Trainer started
inside pytest would re-run pytest for its other rank), bounded by a timeout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from _procs import run, write  # noqa: E402

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, sys
from datetime import timedelta
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.callbacks import EarlyStopping, ModelSummary, Timer


class Model(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):  # validation runs (as Lightning: with a step)
        pass

    def on_validation_epoch_end(self):
        # rank 0 stops improving after epoch 1; rank 1 improves every epoch
        value = [3.0, 2.0][min(self.current_epoch, 1)] if self.global_rank == 0 \\
            else 3.0 - self.current_epoch
        self.log("abc", value)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def main(mode, out):
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    if mode == "early_stopping":
        callback = EarlyStopping("abc", patience=1)
        kw = dict(max_epochs=10)
    else:  # rank 0's clock runs out at once, rank 1's never: every rank follows rank 0
        callback = Timer(duration=timedelta(0) if rank() == 0 else timedelta(days=1))
        kw = dict(max_epochs=10)
    trainer = treadle.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                              enable_progress_bar=False, enable_checkpointing=False,
                              default_root_dir=out, process_group_timeout=30,
                              num_sanity_val_steps=0, callbacks=[callback, ModelSummary()], **kw)
    trainer.fit(Model(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=8))
    Path(out, f"rank{trainer.global_rank}.json").write_text(json.dumps({
        "current_epoch": trainer.current_epoch, "global_step": trainer.global_step,
        "stopped_epoch": getattr(callback, "stopped_epoch", None),
        "should_stop": trainer.should_stop,
        "duration": getattr(callback, "_duration", None)}))


def rank():  # before the Trainer exists: the launcher's variable (unset in the first process)
    import os
    return int(os.environ.get("RANK", "0"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


def job(tmp_path, mode):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    output = run([sys.executable, str(script), mode, str(out)], cwd=tmp_path, timeout=120)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks, output


def test_early_stopping_stops_every_rank_when_one_says_so(tmp_path):
    ranks, output = job(tmp_path, "early_stopping")
    assert (
        ranks[0]
        == ranks[1]
        == {
            "current_epoch": 3,
            "global_step": 12,
            "stopped_epoch": 2,
            "should_stop": True,
            "duration": None,
        }
    )
    assert output.count("Total params") == 1  # the summary is printed by rank zero only


def test_timer_follows_rank_zero(tmp_path):
    ranks, _ = job(tmp_path, "timer")
    assert [r.pop("duration") for r in ranks] == [0.0, 86400.0]
    assert ranks[0] == ranks[1]
    assert ranks[0]["should_stop"]
    assert ranks[0]["current_epoch"] == 0  # stopped before the first epoch, as in Lightning
