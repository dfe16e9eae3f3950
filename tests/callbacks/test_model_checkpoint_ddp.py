"""ModelCheckpoint under ``strategy="ddp"``: 2 CPU processes, gloo (ours).

Each save is collective (a barrier), so the ranks must agree on every decision even when their
inputs differ: rank zero's score (rank 1 logs NaN), rank zero's clock (rank 1's interval never
passes), the weights' finiteness. A disagreement would hang: the job is bounded by a timeout.
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
import json, os, sys, time
from datetime import timedelta
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.callbacks import ModelCheckpoint


class Model(treadle.Module):
    def __init__(self, nan_epoch):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.nan_epoch = nan_epoch

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def on_train_epoch_start(self):
        if self.current_epoch == self.nan_epoch:
            with torch.no_grad():
                for p in self.parameters():
                    p.fill_(float("nan"))

    def validation_step(self, batch, batch_idx):  # validation runs (as Lightning: with a step)
        pass

    def on_validation_epoch_end(self):
        # rank 0 improves every epoch; rank 1's score is NaN: every rank follows rank 0
        self.log("abc", 10.0 - self.current_epoch if self.global_rank == 0 else float("nan"))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Sleepy(treadle.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(0.1)


def main(mode, out):
    rank = int(os.environ.get("RANK", "0"))
    ck = Path(out, "ck")
    if mode == "nan":
        callback = ModelCheckpoint(dirpath=ck, monitor="abc", filename="{epoch}", save_last=True)
        extra, nan_epoch = [], 2
    else:  # rank 0's interval passes every few batches, rank 1's never
        interval = timedelta(seconds=0.25) if rank == 0 else timedelta(days=1)
        callback = ModelCheckpoint(dirpath=ck, filename="{step}", save_top_k=-1,
                                   train_time_interval=interval)
        extra, nan_epoch = [Sleepy()], -1
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = treadle.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                              enable_progress_bar=False, enable_model_summary=False,
                              default_root_dir=out, process_group_timeout=30,
                              num_sanity_val_steps=0, max_epochs=3, callbacks=[callback, *extra])
    trainer.fit(Model(nan_epoch), DataLoader(data, batch_size=4), DataLoader(data, batch_size=8))
    Path(out, f"rank{trainer.global_rank}.json").write_text(json.dumps({
        "best_model_path": callback.best_model_path,
        "best_model_score": None if callback.best_model_score is None
        else float(callback.best_model_score),
        "last_model_path": callback.last_model_path,
        "files": sorted(os.listdir(ck)),
        "global_step": trainer.global_step}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""


def job(tmp_path, mode):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    output = run([sys.executable, str(script), mode, str(out)], cwd=tmp_path, timeout=150)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)], out, output


def test_ranks_follow_rank_zero_score_and_keep_finite_files(tmp_path):
    ranks, out, output = job(tmp_path, "nan")
    ck = out / "ck"
    assert ranks[0] == ranks[1]  # one ranking on every rank
    assert ranks[0]["best_model_path"] == str(ck / "epoch=1.ckpt")
    assert ranks[0]["best_model_score"] == 9.0
    assert ranks[0]["last_model_path"] == str(ck / "last.ckpt")
    assert ranks[0]["files"] == [
        "epoch=1.ckpt",
        "epoch=2.nonfinite.ckpt",
        "last.ckpt",
        "last.nonfinite.ckpt",
    ]
    import torch

    last = torch.load(ck / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8  # epoch 1's end: 4 steps an epoch on each rank
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    assert output.count("parameters are not finite") == 2  # rank zero warns, once a file


def test_train_time_interval_follows_rank_zero_clock(tmp_path):
    ranks, out, _ = job(tmp_path, "time")
    assert ranks[0] == ranks[1]
    assert ranks[0]["global_step"] == 12
    steps = [int(name[len("step=") : -len(".ckpt")]) for name in ranks[0]["files"]]
    assert 2 <= len(steps) <= 12 and all(2 <= s <= 12 for s in steps), steps
