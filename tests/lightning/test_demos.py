"""``treadle.demos.boring_classes``: Lightning's demo classes (``lightning.pytorch.demos``).

Behaviour as Lightning's ``BoringModel``/``BoringDataModule`` (Copyright The Lightning AI team,
Apache-2.0): the sizes, what each step returns, and the stage split of the data module, which
Lightning's own tests and the CLI guide rely on.
"""

from __future__ import annotations

import torch

import treadle
from treadle.demos import BoringDataModule, BoringModel, DemoModel
from treadle.demos.boring_classes import ManualOptimBoringModel, RandomDataset, RandomDictDataset


def _trainer(tmp_path, **kw):
    kw.setdefault("enable_progress_bar", False)
    kw.setdefault("enable_model_summary", False)
    kw.setdefault("logger", False)
    kw.setdefault("enable_checkpointing", False)
    return treadle.Trainer(default_root_dir=str(tmp_path), **kw)


def test_boring_model_fits_with_its_own_loaders_one_sample_a_batch(tmp_path):
    model = BoringModel()
    before = model.layer.weight.detach().clone()
    trainer = _trainer(tmp_path, max_epochs=1, limit_val_batches=2)
    trainer.fit(model)
    assert trainer.global_step == 64  # 64 samples, batch size 1
    assert not torch.equal(before, model.layer.weight)
    assert model.validation_step(torch.ones(1, 32), 0).keys() == {"x"}
    assert model.test_step(torch.ones(1, 32), 0).keys() == {"y"}
    assert len(model.predict_dataloader()) == 64


def test_boring_data_module_gives_each_stage_its_own_64_samples(tmp_path):
    dm = BoringDataModule()
    dm.setup("fit")
    assert len(dm.train_dataloader()) == len(dm.val_dataloader()) == 64
    assert not hasattr(dm, "random_test")
    dm.setup("test")
    first_test = next(iter(dm.test_dataloader()))
    assert torch.equal(first_test[0], dm.random_full[128])
    trainer = _trainer(tmp_path, max_steps=3, limit_val_batches=1, limit_test_batches=2)
    trainer.fit(BoringModel(), datamodule=BoringDataModule())
    assert trainer.global_step == 3


def test_manual_optim_and_demo_model_train(tmp_path):
    trainer = _trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(ManualOptimBoringModel())
    assert trainer.global_step == 2
    model = DemoModel(out_dim=3, learning_rate=0.1)
    assert model.l1.out_features == 3 and model.learning_rate == 0.1
    _trainer(tmp_path, max_steps=2).fit(model, datamodule=BoringDataModule())


def test_random_datasets():
    assert RandomDataset(4, 5)[0].shape == (4,) and len(RandomDataset(4, 5)) == 5
    item = RandomDictDataset(4, 5)[1]
    assert torch.equal(item["b"], item["a"] + 2)
