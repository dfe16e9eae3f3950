"""``treadle plot`` (issue 13, item 2): runs' metrics.csv curves in one PNG; and a TensorBoard
logger's run as TensorBoard reads it."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.cli import main
from treadle.loggers import CSVLogger
from treadle.plot import PlotError, curves, plot, quantity

pytest.importorskip("matplotlib", reason="the [plot] extra (part of [dev]) is not installed")


class Net(treadle.Module):
    def __init__(self, lr=0.1):
        super().__init__()
        self.lr = lr
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        self.log("acc", -loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(n_batches):
    g = torch.Generator().manual_seed(0)
    n = 4 * n_batches
    x, y = torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=4)


def run(root, lr, loggers=None):
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=3,
        default_root_dir=str(root),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=loggers if loggers is not None else "csv",  # what `treadle plot` reads
    )
    trainer.fit(Net(lr), loader(5), loader(2))
    return trainer


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run(root, 0.1)
    run(root, 0.01)
    return root / "lightning_logs"


def test_plot_draws_every_run_with_train_and_validation_on_shared_axes(two_runs, tmp_path):
    out, data = tmp_path / "curves.png", tmp_path / "curves.json"
    code = main(
        [
            "plot",
            str(two_runs / "version_0"),
            str(two_runs / "version_1"),
            "-o",
            str(out),
            "--data",
            str(data),
        ]
    )
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    height, width, _ = imread(out).shape
    assert (width, height) == (1280, 360)  # two panels side by side, 100 dpi

    found = json.loads(data.read_text())
    assert found["x"] == "step"
    assert [p["title"] for p in found["panels"]] == ["acc", "loss"]
    loss = found["panels"][1]["lines"]
    assert [line["label"] for line in loss] == [
        "version_0: train_loss",
        "version_0: val_loss",
        "version_1: train_loss",
        "version_1: val_loss",
    ]
    for line, version in zip(loss, ["version_0", "version_0", "version_1", "version_1"]):
        written = [r for r in rows(two_runs / version / "metrics.csv") if r[line["metric"]]]
        assert line["x"] == [float(r["step"]) for r in written]
        assert line["y"] == [float(r[line["metric"]]) for r in written]
    assert len(loss[0]["x"]) == 15 and len(loss[1]["x"]) == 3  # every step; every epoch


def test_the_figure_holds_the_same_lines_by_epoch(two_runs):
    fig = plot([str(two_runs)], x="epoch")  # a folder above the runs: every run under it
    acc, loss = fig.axes[:2]
    assert acc.get_title() == "acc" and loss.get_title() == "loss"
    assert [line.get_label() for line in loss.get_lines()] == [
        "version_0: train_loss",
        "version_0: val_loss",
        "version_1: train_loss",
        "version_1: val_loss",
    ]
    written = rows(two_runs / "version_1" / "metrics.csv")
    by_epoch = {}
    for r in written:
        if r["train_loss"]:
            by_epoch.setdefault(float(r["epoch"]), []).append(float(r["train_loss"]))
    xs, ys = loss.get_lines()[2].get_data()
    assert list(xs) == [0.0, 1.0, 2.0]
    assert list(ys) == pytest.approx([sum(v) / len(v) for v in by_epoch.values()])
    assert loss.get_lines()[1].get_linestyle() == "--"  # validation dashed, colour per run
    assert loss.get_lines()[0].get_color() == loss.get_lines()[1].get_color()


def test_quantity_groups_a_metrics_stages():
    names = ["loss", "train_loss", "val_loss", "loss_step", "loss_epoch", "train/acc", "val_acc"]
    assert [quantity(n) for n in names] == ["loss"] * 5 + ["acc", "acc"]


def test_wrong_paths_and_options_are_named(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope"), "-o", str(tmp_path / "c.png")]) == 2
    assert capsys.readouterr().err == (
        f"treadle plot: `{tmp_path / 'nope'}` does not exist: give a metrics.csv file or a "
        "folder holding one.\n"
    )
    with pytest.raises(
        PlotError, match=re.escape(f"`{tmp_path}` holds no metrics.csv: give a run's folder")
    ):
        curves([str(tmp_path)])
    (tmp_path / "metrics.csv").write_text("a,b\n1,2\n")
    with pytest.raises(
        PlotError,
        match=re.escape(
            f"`{tmp_path / 'metrics.csv'}` has no `step` column (a, b): is it a CSV logger's file?"
        ),
    ):
        curves([str(tmp_path)])


def test_unknown_metrics_are_listed(two_runs):
    with pytest.raises(
        PlotError,
        match=re.escape(
            "`--metrics lost`: not in the runs' files; they have acc, train_loss, val_loss."
        ),
    ):
        curves([str(two_runs / "version_0")], metrics=["lost", "val_loss"])


def test_a_tensorboard_run_opens_in_tensorboard_with_the_logged_scalars(tmp_path):
    pytest.importorskip("tensorboard", reason="the [tensorboard] extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from treadle.loggers import TensorBoardLogger

    tb = TensorBoardLogger(tmp_path, name="tb")
    csv_logger = CSVLogger(tmp_path, name="csv")
    run(tmp_path, 0.1, loggers=[tb, csv_logger])
    events = EventAccumulator(tb.log_dir)  # what `tensorboard --logdir` reads
    events.Reload()
    assert {"train_loss", "val_loss", "acc", "epoch"} <= set(events.Tags()["scalars"])
    written = rows(csv_logger.log_dir + "/metrics.csv")
    for tag in ("train_loss", "val_loss"):
        expected = [(int(r["step"]), float(r[tag])) for r in written if r[tag]]
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)
