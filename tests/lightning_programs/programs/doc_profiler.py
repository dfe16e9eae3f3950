# Source: https://lightning.ai/docs/pytorch/stable/tuning/profiler_basic.html and
#   https://lightning.ai/docs/pytorch/stable/tuning/profiler_intermediate.html
#   (pytorch-lightning docs/source-pytorch/tuning/profiler_basic.rst, profiler_intermediate.rst;
#   Apache-2.0, Copyright The Lightning AI team)
# Edits: the pages' snippets joined into one program with a small model on random tensors, each
#   Trainer fitted for one short epoch on the CPU and what the pages say is asserted:
#   `profiler="simple"` prints the "FIT Profiler Report" with the training actions,
#   `profiler="advanced"` and `AdvancedProfiler(dirpath=".", filename="perf_logs")` (the report
#   streamed to `fit-perf_logs.txt`), `DeviceStatsMonitor()` with CPU stats and
#   `cpu_stats=False`, `PyTorchProfiler()` and `PyTorchProfiler(filename="perf-logs")` (the
#   pages' `lightning_pytorch` imports are `lightning.pytorch`'s). `emit_nvtx=True` (nvprof, a
#   CUDA tool) is left out. The page's `[LightningModule]BoringModel.optimizer_step` row (a hook
#   the model does not override) is checked in `doc_profiler_differences.py`.
import contextlib
import io
import os

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import DeviceStatsMonitor
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.profilers import AdvancedProfiler, PyTorchProfiler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(32, 8, generator=g), torch.randn(32, 1, generator=g)), batch_size=8)


class BoringModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(**kwargs):
    kwargs.setdefault("logger", False)
    trainer = Trainer(max_epochs=1, enable_checkpointing=False, enable_progress_bar=False, **kwargs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        trainer.fit(BoringModel(), loader(), loader())
    return trainer, out.getvalue()


if __name__ == "__main__":
    # Find training loop bottlenecks
    trainer, _ = fit(profiler="simple")
    # the report goes to the console through logging: read it from the profiler
    out = trainer.profiler.summary()
    print(out)
    assert "Profiler Report" in out, out
    for action in ("run_training_epoch", "run_training_batch", "[Strategy]SingleDeviceStrategy.training_step"):
        assert action in out, action

    # Profile the time within every function
    trainer, _ = fit(profiler="advanced")
    assert isinstance(trainer.profiler, AdvancedProfiler)
    profiler = AdvancedProfiler(dirpath=".", filename="perf_logs")
    trainer, out = fit(profiler=profiler)
    with open("fit-perf_logs.txt") as f:
        report = f.read()
    assert "Profile stats for: run_training_batch" in report and "function calls" in report

    # Measure accelerator usage
    logger = CSVLogger("stats")
    trainer, _ = fit(callbacks=[DeviceStatsMonitor()], logger=logger, log_every_n_steps=1)
    with open(os.path.join(logger.log_dir, "metrics.csv")) as f:
        header = f.readline()
    assert "cpu_percent" in header, header
    logger = CSVLogger("nostats")
    trainer, _ = fit(callbacks=[DeviceStatsMonitor(cpu_stats=False)], logger=logger, log_every_n_steps=1)
    with open(os.path.join(logger.log_dir, "metrics.csv")) as f:
        header = f.readline()
    assert "cpu_percent" not in header, header

    # Profile pytorch operations
    profiler = PyTorchProfiler()
    trainer, _ = fit(profiler=profiler)

    # Profile a distributed model (one process here): a report file
    profiler = PyTorchProfiler(filename="perf-logs")
    trainer, out = fit(profiler=profiler, default_root_dir="dist")
    print(sorted(os.listdir("dist")))
    assert "fit-perf-logs.txt" in os.listdir("dist"), os.listdir("dist")
    print("OK")
