# Source: https://lightning.ai/docs/pytorch/stable/common/early_stopping.html
#   (docs/source-pytorch/common/early_stopping.rst: stopping an epoch early from
#    on_train_batch_start, the EarlyStopping callback on a logged "val_loss", a customised
#    EarlyStopping, the MyEarlyStopping subclass that checks at train end)
# Edits: the page's snippets joined into one program: `loss = ...` and the model's missing parts
#   filled with a small regression model on random tensors; tiny sizes; asserts on what the page
#   says happens.
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks.early_stopping import EarlyStopping
from torch.utils.data import DataLoader, TensorDataset


class LitModel(LightningModule):
    def __init__(self, skip_after=None):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)
        self.skip_after = skip_after
        self.train_batches = 0

    def on_train_batch_start(self, batch, batch_idx):
        if self.skip_after is not None and batch_idx >= self.skip_after:
            return -1

    def training_step(self, batch, batch_idx):
        self.train_batches += 1
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("val_loss", loss)
        # a constant accuracy: no improvement after the first check
        self.log("val_accuracy", torch.tensor(0.5))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = x.sum(1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=8), DataLoader(TensorDataset(x[:16], y[:16]), batch_size=8)


class MyEarlyStopping(EarlyStopping):
    def on_validation_end(self, trainer, pl_module):
        # override this to disable early stopping at the end of val loop
        pass

    def on_train_end(self, trainer, pl_module):
        # instead, do it at the end of training loop
        self._run_early_stopping_check(trainer)


if __name__ == "__main__":
    # Stopping an epoch early: on_train_batch_start returns -1
    model = LitModel(skip_after=3)
    trainer = Trainer(max_epochs=2, enable_checkpointing=False, logger=False)
    trainer.fit(model, *loaders())
    assert model.train_batches == 2 * 3, model.train_batches

    # EarlyStopping on val_loss
    model = LitModel()
    trainer = Trainer(max_epochs=3, callbacks=[EarlyStopping(monitor="val_loss", mode="min")], enable_checkpointing=False, logger=False)
    trainer.fit(model, *loaders())
    assert trainer.current_epoch == 3

    # customised: val_accuracy never improves after the first check; patience 3 stops after 4 checks
    early_stop_callback = EarlyStopping(monitor="val_accuracy", min_delta=0.00, patience=3, verbose=False, mode="max")
    trainer = Trainer(max_epochs=20, callbacks=[early_stop_callback], enable_checkpointing=False, logger=False)
    trainer.fit(LitModel(), *loaders())
    assert trainer.current_epoch == 4, trainer.current_epoch
    assert early_stop_callback.stopped_epoch == 3
    assert trainer.should_stop

    # stopping_threshold: stops as soon as val_loss <= 1e6 (at the first check)
    es = EarlyStopping(monitor="val_loss", stopping_threshold=1e6)
    trainer = Trainer(max_epochs=20, callbacks=[es], enable_checkpointing=False, logger=False)
    trainer.fit(LitModel(), *loaders())
    assert trainer.current_epoch == 1

    # the subclass: with validation every epoch, EarlyStopping checks at train epoch end (Lightning 2's
    # default for check_on_train_epoch_end), so patience=0 still stops after the second check
    es = MyEarlyStopping(monitor="val_accuracy", patience=0, mode="max")
    trainer = Trainer(max_epochs=3, callbacks=[es], enable_checkpointing=False, logger=False)
    trainer.fit(LitModel(), *loaders())
    assert trainer.current_epoch == 2, trainer.current_epoch
    print("OK")
