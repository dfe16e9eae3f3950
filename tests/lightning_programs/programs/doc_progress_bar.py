# Source: https://lightning.ai/docs/pytorch/stable/common/progress_bar.html
#   (pytorch-lightning docs/source-pytorch/common/progress_bar.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's snippets joined into one program; each Trainer it builds fits a small model
#   on random tensors for one epoch with validation (and one tests), and what the page says is
#   asserted: `TQDMProgressBar(refresh_rate=10)`, the `LitProgressBar` whose validation bar gets
#   the description "running validation..." (recorded when made), `RichProgressBar()` with the
#   page's `RichProgressBarTheme`, the `CustomRichProgressBar` with one `TextColumn`,
#   `RichProgressBar(leave=True)`, `enable_progress_bar=False`. The page's
#   `pytorch_lightning` imports are Lightning 2's `lightning.pytorch` (the page's current text).
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import RichProgressBarTheme
from rich.progress import TextColumn
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n=40):
    g = torch.Generator().manual_seed(n)
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=4)


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y), prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(**kwargs):
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False, **kwargs)
    model = LitModel()
    trainer.fit(model, loader(), loader(8))
    assert trainer.global_step == 10
    return trainer, model


class LitProgressBar(TQDMProgressBar):
    descriptions = []

    def init_validation_tqdm(self):
        bar = super().init_validation_tqdm()
        bar.set_description("running validation...")
        self.descriptions.append(bar.desc)
        return bar


custom_column = TextColumn("[progress.description]Custom Rich Progress Bar!")


class CustomRichProgressBar(RichProgressBar):
    def configure_columns(self, trainer):
        return [custom_column]


if __name__ == "__main__":
    # TQDMProgressBar
    bar = TQDMProgressBar(refresh_rate=10)
    trainer, _ = fit(callbacks=[bar])
    assert trainer.progress_bar_callback is bar and bar.refresh_rate == 10
    assert bar.total_train_batches == 10 and bar.train_progress_bar.n == 10, bar.train_progress_bar.n
    assert "loss" in bar.get_metrics(trainer, None) and "val_loss" in trainer.progress_bar_metrics

    trainer, _ = fit(callbacks=[LitProgressBar()])
    assert isinstance(trainer.progress_bar_callback, LitProgressBar)
    # the epoch's validation bar (the sanity check has a bar of its own); tqdm adds ": "
    assert LitProgressBar.descriptions == ["running validation...: "], LitProgressBar.descriptions

    # RichProgressBar
    trainer, _ = fit(callbacks=[RichProgressBar()])
    assert isinstance(trainer.progress_bar_callback, RichProgressBar)

    # create your own theme!
    progress_bar = RichProgressBar(
        theme=RichProgressBarTheme(
            description="green_yellow",
            progress_bar="green1",
            progress_bar_finished="green1",
            progress_bar_pulse="#6206E0",
            batch_progress="green_yellow",
            time="grey82",
            processing_speed="grey82",
            metrics="grey82",
        )
    )
    trainer, model = fit(callbacks=progress_bar)
    assert trainer.progress_bar_callback is progress_bar and progress_bar.theme.description == "green_yellow"
    trainer.test(model, loader(8), verbose=False)

    progress_bar = CustomRichProgressBar()
    trainer, _ = fit(callbacks=[progress_bar])
    assert progress_bar.configure_columns(trainer) == [custom_column]

    progress_bar = RichProgressBar(leave=True)
    trainer, _ = fit(callbacks=[progress_bar])

    # Progress bar is automatically enabled with the Trainer, and to disable it:
    trainer = Trainer(logger=False)
    assert trainer.progress_bar_callback is not None
    trainer, _ = fit(enable_progress_bar=False)
    assert trainer.progress_bar_callback is None
    print("OK")
