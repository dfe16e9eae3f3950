# Source: https://lightning.ai/docs/pytorch/stable/data/iterables.html (pytorch-lightning
#   docs/source-pytorch/data/iterables.rst; Apache-2.0, Copyright The Lightning AI team).
# Edits: the page's snippets joined into one program with loaders over random tensors of
#   different lengths; what the page says is asserted:
#  - `fit` with a plain list (`list(range(1000))` -> `list(range(10))`), a DataLoader, a dict, a
#    list and a dict of lists of loaders: batches combined in "max_size_cycle" for training;
#    validation/test/predict with several loaders run "sequential", with `dataloader_idx`;
#  - `CombinedLoader(iterables, mode=...)` for each mode ("min_size", "max_size_cycle",
#    "max_size", "sequential") iterated directly and passed to `fit`; "sequential" refused by
#    `fit`; `predict` with a non-sequential mode refused;
#  - the DataModule with one train, two val, a test and a predict loader; the same hooks on the
#    LightningModule; the same iterables passed to `fit`/`validate`/`test`/`predict`;
#  - a `validation_step` without `dataloader_idx` under several loaders refused.
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.utilities import CombinedLoader
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n, start=0, batch_size=2):
    return DataLoader(TensorDataset(torch.arange(start, start + n, dtype=torch.float32).unsqueeze(1)), batch_size=batch_size)


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kwargs)


def firsts(batch):
    """The first value of each loader's batch, in the batch's structure (None for a finished one)."""
    if batch is None:
        return None
    if isinstance(batch, dict):
        return {k: firsts(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and not isinstance(batch[0], torch.Tensor):
        return [firsts(b) for b in batch]
    if isinstance(batch, (list, tuple)):
        return int(batch[0][0, 0])
    if isinstance(batch, torch.Tensor):
        return int(batch.flatten()[0])
    return batch


class Model(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.seen = {"train": [], "val": [], "test": [], "predict": []}

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(firsts(batch))
        return self.layer(torch.ones(1, 1)).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen["val"].append((dataloader_idx, firsts(batch)))

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen["test"].append((dataloader_idx, firsts(batch)))

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen["predict"].append((dataloader_idx, firsts(batch)))
        return firsts(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# -- Multiple Iterables: any iterable, or a collection of them --
model = Model()
trainer().fit(model, list(range(10)))
assert model.seen["train"] == list(range(10)), model.seen["train"]

model = Model()
trainer().fit(model, loader(6))
assert model.seen["train"] == [0, 2, 4], model.seen["train"]

# {'a': batch_from_loader_a, 'b': batch_from_loader_b}, "max_size_cycle": the shorter cycles
model = Model()
trainer().fit(model, {"a": loader(6), "b": loader(4, 100)})
assert model.seen["train"] == [{"a": 0, "b": 100}, {"a": 2, "b": 102}, {"a": 4, "b": 100}], model.seen["train"]

# [batch_from_dl_1, batch_from_dl_2]
model = Model()
trainer().fit(model, [loader(4), loader(6, 100)])
assert model.seen["train"] == [[0, 100], [2, 102], [0, 104]], model.seen["train"]

# {'a': [batch_from_dl_1, batch_from_dl_2], 'b': [batch_from_dl_3, batch_from_dl_4]}
dl1, dl2, dl3, dl4 = loader(2), loader(4, 10), loader(2, 20), loader(2, 30)
model = Model()
trainer().fit(model, {"a": [dl1, dl2], "b": [dl3, dl4]})
assert model.seen["train"] == [{"a": [0, 10], "b": [20, 30]}, {"a": [0, 12], "b": [20, 30]}], model.seen["train"]

# -- CombinedLoader with a mode of choice --
iterables = {"a": loader(6), "b": loader(4, 100)}
expected = {
    "min_size": [{"a": 0, "b": 100}, {"a": 2, "b": 102}],
    "max_size_cycle": [{"a": 0, "b": 100}, {"a": 2, "b": 102}, {"a": 4, "b": 100}],
    "max_size": [{"a": 0, "b": 100}, {"a": 2, "b": 102}, {"a": 4, "b": None}],
}
for mode, batches in expected.items():
    combined_loader = CombinedLoader(iterables, mode=mode)
    direct = [firsts(batch) for batch, _, _ in combined_loader]
    assert direct == batches, (mode, direct)
    assert len(combined_loader) == len(batches), (mode, len(combined_loader))
    model = Model()
    trainer().fit(model, combined_loader)
    assert model.seen["train"] == batches, (mode, model.seen["train"])

combined_loader = CombinedLoader(iterables, mode="sequential")
direct = [(firsts(batch), batch_idx, dataloader_idx) for batch, batch_idx, dataloader_idx in combined_loader]
assert direct == [(0, 0, 0), (2, 1, 0), (4, 2, 0), (100, 0, 1), (102, 1, 1)], direct
try:
    trainer().fit(Model(), combined_loader)
except ValueError as e:
    assert "sequential" in str(e), e
else:
    raise AssertionError("fit took a sequential CombinedLoader")
try:
    trainer().predict(Model(), CombinedLoader(iterables, mode="max_size_cycle"))
except ValueError as e:
    assert "sequential" in str(e), e
else:
    raise AssertionError("predict took a max_size_cycle CombinedLoader")

# evaluation: "sequential" by default
model = Model()
trainer().validate(model, [loader(4), loader(2, 100)], verbose=False)
assert model.seen["val"] == [(0, 0), (0, 2), (1, 100)], model.seen["val"]
model = Model()
predictions = trainer().predict(model, {"a": loader(2), "b": loader(4, 100)})
assert predictions == [[0], [100, 102]], predictions


# -- Using LightningDataModule --
def add_datasets(obj):
    obj.train_dataset = TensorDataset(torch.arange(4.0).unsqueeze(1))
    obj.val_dataset_1 = TensorDataset(torch.arange(10.0, 12.0).unsqueeze(1))
    obj.val_dataset_2 = TensorDataset(torch.arange(20.0, 23.0).unsqueeze(1))
    obj.test_dataset = TensorDataset(torch.arange(30.0, 32.0).unsqueeze(1))
    obj.predict_dataset = TensorDataset(torch.arange(40.0, 42.0).unsqueeze(1))


class DataModule(LightningDataModule):
    def __init__(self):
        super().__init__()
        add_datasets(self)

    def train_dataloader(self):
        # any iterable or collection of iterables
        return DataLoader(self.train_dataset)

    def val_dataloader(self):
        # any iterable or collection of iterables
        return [DataLoader(self.val_dataset_1), DataLoader(self.val_dataset_2)]

    def test_dataloader(self):
        # any iterable or collection of iterables
        return DataLoader(self.test_dataset)

    def predict_dataloader(self):
        # any iterable or collection of iterables
        return DataLoader(self.predict_dataset)


model = Model()
t = trainer(num_sanity_val_steps=0)
t.fit(model, datamodule=DataModule())
assert model.seen["train"] == [0, 1, 2, 3], model.seen["train"]
assert model.seen["val"] == [(0, 10), (0, 11), (1, 20), (1, 21), (1, 22)], model.seen["val"]
t.test(model, datamodule=DataModule(), verbose=False)
assert model.seen["test"] == [(0, 30), (0, 31)], model.seen["test"]
assert t.predict(model, datamodule=DataModule()) == [40, 41]


# -- Using LightningModule Hooks: the exact same code --
class HookModel(Model):
    train_dataloader = DataModule.train_dataloader
    val_dataloader = DataModule.val_dataloader

    def __init__(self):
        super().__init__()
        add_datasets(self)


model = HookModel()
trainer(num_sanity_val_steps=0).fit(model)
assert model.seen["val"] == [(0, 10), (0, 11), (1, 20), (1, 21), (1, 22)], model.seen["val"]


# "sequential" evaluation needs `dataloader_idx` in the step
class NoIdx(Model):
    def validation_step(self, batch, batch_idx):
        pass


try:
    trainer().validate(NoIdx(), [loader(2), loader(2)], verbose=False)
except RuntimeError as e:
    assert "dataloader_idx" in str(e), e
else:
    raise AssertionError("a validation_step without dataloader_idx ran with two loaders")
print("iterables page: ok")
