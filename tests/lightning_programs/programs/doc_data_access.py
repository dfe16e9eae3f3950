# Source: https://lightning.ai/docs/pytorch/stable/data/access.html
#   (pytorch-lightning docs/source-pytorch/data/access.rst; Apache-2.0, Copyright The Lightning
#   AI team)
# Edits: the page's snippets joined into one program with a small model whose `*_dataloader`
#   hooks return loaders over random tensors (a dict of two for training, a list of two for
#   validation, one for test and predict); what the page says is asserted:
#  - `trainer.train_dataloader`/`val_dataloaders`/`test_dataloaders`/`predict_dataloaders`
#    "match exactly what was returned in your *_dataloader hooks" (a dict, a list of the same
#    loader objects; for predict, a loader of the same dataset: Lightning 2.6.6 rebuilds it
#    around its own sampler), read in a callback while each stage runs and after it (the train and val ones after
#    `fit`, before `test`, which clears them in Lightning 2.6.6);
#  - `CombinedLoader(iterables)`: `.iterables is iterables`, `.flattened == [dl1, dl2]` and
#    `flattened = updated` replacing them (`apply_some_transformation_to` -> a new DataLoader
#    with another batch size);
#  - `Trainer(reload_dataloaders_every_n_epochs=...)` (5 -> 2, over 4 short epochs): the
#    train hook called at epochs 0 and 2.
#   Left out: `trainer.reload_dataloaders()` (the page's "Manual reload"): newer than Lightning
#   2.6.6, which has no such method.
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, TensorDataset


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g))


class Model(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.returned = {}
        self.train_hook_epochs = []

    def _step(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def training_step(self, batch, batch_idx):
        return self._step(batch["a"]) + self._step(batch["b"])

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self._step(batch)

    def test_step(self, batch, batch_idx):
        self._step(batch)

    def predict_step(self, batch, batch_idx):
        return self.layer(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        self.train_hook_epochs.append(self.trainer.current_epoch)
        self.returned["train"] = {"a": DataLoader(data(8, 0), batch_size=4), "b": DataLoader(data(8, 1), batch_size=2)}
        return self.returned["train"]

    def val_dataloader(self):
        self.returned["val"] = [DataLoader(data(4, 2), batch_size=2), DataLoader(data(4, 3), batch_size=4)]
        return self.returned["val"]

    def test_dataloader(self):
        self.returned["test"] = DataLoader(data(4, 4), batch_size=2)
        return self.returned["test"]

    def predict_dataloader(self):
        self.returned["predict"] = DataLoader(data(4, 5), batch_size=2)
        return self.returned["predict"]


class Reader(Callback):
    def __init__(self):
        self.seen = {}

    def on_train_epoch_start(self, trainer, pl_module):
        self.seen["train"] = trainer.train_dataloader

    def on_validation_epoch_start(self, trainer, pl_module):
        self.seen["val"] = trainer.val_dataloaders

    def on_test_epoch_start(self, trainer, pl_module):
        self.seen["test"] = trainer.test_dataloaders

    def on_predict_epoch_start(self, trainer, pl_module):
        self.seen["predict"] = trainer.predict_dataloaders


model, reader = Model(), Reader()
trainer = Trainer(
    max_epochs=1, callbacks=[reader], logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
)
trainer.fit(model)
dataloaders = trainer.train_dataloader
assert isinstance(dataloaders, dict) and dataloaders == model.returned["train"]
dataloaders = trainer.val_dataloaders
assert isinstance(dataloaders, list) and dataloaders == model.returned["val"]
trainer.test(model, verbose=False)
dataloaders = trainer.test_dataloaders
assert dataloaders is model.returned["test"]
trainer.predict(model)
dataloaders = trainer.predict_dataloaders
assert isinstance(dataloaders, DataLoader) and dataloaders.dataset is model.returned["predict"].dataset
for stage in ("train", "val", "test"):
    assert reader.seen[stage] == model.returned[stage], (stage, reader.seen[stage])
# (Lightning 2.6.6 rebuilds the predict loader around a batch-index sampler: the same dataset)
assert reader.seen["predict"].dataset is model.returned["predict"].dataset

# Replacing DataLoaders
dl1, dl2 = DataLoader(data(6, 6), batch_size=3), DataLoader(data(4, 7), batch_size=2)


def apply_some_transformation_to(dl):
    return DataLoader(dl.dataset, batch_size=1)


iterables = {"dl1": dl1, "dl2": dl2}
combined_loader = CombinedLoader(iterables)
# access the original iterables
assert combined_loader.iterables is iterables
# the `.flattened` property can be convenient
assert combined_loader.flattened == [dl1, dl2]
# for example, to do a simple loop
updated = []
for dl in combined_loader.flattened:
    new_dl = apply_some_transformation_to(dl)
    updated.append(new_dl)
# it also allows you to easily replace the dataloaders
combined_loader.flattened = updated
assert combined_loader.flattened == updated
assert combined_loader.iterables["dl1"] is updated[0] and combined_loader.iterables["dl2"] is updated[1]
batch, _, _ = next(iter(combined_loader))
assert batch["dl1"][0].shape == (1, 4), batch["dl1"][0].shape

# Reloading DataLoaders During Training
model = Model()
trainer = Trainer(
    reload_dataloaders_every_n_epochs=2, max_epochs=4, limit_val_batches=0, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
)
trainer.fit(model)
assert model.train_hook_epochs == [0, 2], model.train_hook_epochs
print("data access page: ok")
