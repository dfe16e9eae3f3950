# Source: https://lightning.ai/docs/pytorch/stable/visualize/logging_expert.html
#   (pytorch-lightning docs/source-pytorch/visualize/logging_expert.rst; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits: the page's snippets joined into one program; each Trainer it builds fits a small model
#   on random tensors (one epoch of 4 batches, 2 validation batches) and what the page says is
#   asserted:
#  - `Trainer(callbacks=[TQDMProgressBar()])`, `[RichProgressBar()]` and a `RichProgressBar`
#    with the page's `RichProgressBarTheme` (passed as `callbacks=progress_bar`, not a list):
#    `trainer.progress_bar_callback` is that bar, the theme kept;
#  - the `LitProgressBar(TQDMProgressBar)` whose validation bar says "running validation..."
#    (recorded when made, a line added: the bar is renamed per loader once batches run);
#  - the `LitProgressBar(ProgressBar)` that writes "<percent> percent complete": the last line
#    100.0 percent (stdout captured); its `on_train_batch_end` given the `batch` argument the
#    hook has had since Lightning 1.x and `self.train_batch_idx` (Lightning 1.x's) -> `batch_idx
#    + 1` (as published it fails on 2.6.6: a TypeError, then an AttributeError);
#  - the `LitLogger(Logger)` whose `log_metrics`/`log_hyperparams` print: its `name`/`version`,
#    the hyperparameters (`save_hyperparameters`) and the metrics logged (`train_loss`, per
#    step with `log_every_n_steps=1`) reach it (stdout captured).
import contextlib
import io
import sys

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import RichProgressBarTheme
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader, TensorDataset


class Model(LightningModule):
    def __init__(self, lr=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(seed):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


def run(**kwargs):
    kwargs.setdefault("logger", False)
    trainer = Trainer(
        max_epochs=1, limit_val_batches=2, num_sanity_val_steps=0, enable_checkpointing=False,
        enable_model_summary=False, **kwargs,
    )
    trainer.fit(Model(), loader(0), loader(1))
    return trainer


# Use the TQDMProgressBar
bar = TQDMProgressBar()
trainer = run(callbacks=[bar])
assert trainer.progress_bar_callback is bar

# Use the RichProgressBar
bar = RichProgressBar()
trainer = run(callbacks=[bar])
assert trainer.progress_bar_callback is bar

# create your own theme!
theme = RichProgressBarTheme(description="green_yellow", progress_bar="green1")

# init as normal
progress_bar = RichProgressBar(theme=theme)
trainer = run(callbacks=progress_bar)
assert trainer.progress_bar_callback is progress_bar
assert progress_bar.theme.description == "green_yellow" and progress_bar.theme.progress_bar == "green1"


# Customize a progress bar
class LitProgressBar(TQDMProgressBar):
    def init_validation_tqdm(self):
        bar = super().init_validation_tqdm()
        bar.set_description("running validation...")
        descriptions.append(bar.desc)  # edit: recorded when made (each loader's batches rename it)
        return bar


descriptions = []
bar = LitProgressBar()
trainer = run(callbacks=[bar])
assert trainer.progress_bar_callback is bar
assert descriptions == ["running validation...: "], descriptions  # (tqdm adds ": ")


# Build your own progress bar
class LitProgressBar(ProgressBar):
    def __init__(self):
        super().__init__()  # don't forget this :)
        self.enable = True

    def disable(self):
        self.enable = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # edit: + batch
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # don't forget this :)
        percent = ((batch_idx + 1) / self.total_train_batches) * 100  # edit: self.train_batch_idx
        sys.stdout.flush()
        sys.stdout.write(f"{percent:.01f} percent complete \r")


bar = LitProgressBar()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    trainer = run(callbacks=[bar])
assert trainer.progress_bar_callback is bar
lines = [line.strip() for line in out.getvalue().split("\r") if "percent complete" in line]
assert lines == ["25.0 percent complete", "50.0 percent complete", "75.0 percent complete", "100.0 percent complete"], lines


# Integrate an experiment manager
class LitLogger(Logger):
    @property
    def name(self) -> str:
        return "my-experiment"

    @property
    def version(self):
        return "version_0"

    def log_metrics(self, metrics, step=None):
        print("my logged metrics", metrics)

    def log_hyperparams(self, params, *args, **kwargs):
        print("my logged hyperparameters", params)


logger = LitLogger()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    trainer = run(logger=logger, log_every_n_steps=1, enable_progress_bar=False)
assert trainer.logger is logger and trainer.logger.name == "my-experiment" and trainer.logger.version == "version_0"
printed = out.getvalue().splitlines()
hparams = [line for line in printed if line.startswith("my logged hyperparameters")]
assert hparams and "'lr': 0.01" in hparams[0], printed
metrics = [line for line in printed if line.startswith("my logged metrics")]
assert sum("train_loss" in line for line in metrics) == 4, metrics
assert any("val_loss" in line for line in metrics), metrics
print("logging expert page: ok")
