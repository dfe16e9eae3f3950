# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_train_loop_logging.py
#   (test__training_step__log, test__training_step__epoch_end__log)
#   and .../trainer/logging_/test_eval_loop_logging.py (test__validation_step__log,
#   test_multi_dataloaders_add_suffix_properly)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; add_dataloader_idx=True only (False with two loaders is an error in
#   Lightning 2.6.6); "epoch" dropped from the
#   expected logged_metrics (Lightning 2.6.6 does not put it there);
#   test()'s results hold epoch-level metrics only ("test_loss_epoch"), as Lightning 2.6.6 gives.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset


def test__training_step__log(tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            loss = out["loss"]
            self.log("default", loss)
            self.log("l_s", loss, on_step=True, on_epoch=False, prog_bar=False, logger=True)
            self.log("l_e", loss, on_step=False, on_epoch=True, prog_bar=False, logger=True)
            self.log("l_se", loss, on_step=True, on_epoch=True, prog_bar=False, logger=True)
            self.log("p_s", loss, on_step=True, on_epoch=False, prog_bar=True, logger=False)
            self.log("p_e", loss, on_step=False, on_epoch=True, prog_bar=True, logger=False)
            self.log("p_se", loss, on_step=True, on_epoch=True, prog_bar=True, logger=False)
            return loss

    model = TestModel()
    model.val_dataloader = None

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
        callbacks=[ModelCheckpoint(monitor="l_se")],
    )
    trainer.fit(model)

    logged_metrics = set(trainer.logged_metrics)
    assert logged_metrics == {"default", "l_e", "l_s", "l_se_step", "l_se_epoch"}, logged_metrics

    pbar_metrics = set(trainer.progress_bar_metrics)
    assert pbar_metrics == {"p_e", "p_s", "p_se_step", "p_se_epoch"}, pbar_metrics

    assert set(trainer.callback_metrics) == (logged_metrics | pbar_metrics | {"p_se", "l_se"}) - {"epoch"}


def test__training_step__epoch_end__log(tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("a", loss, on_step=True, on_epoch=True)
            self.log_dict({"a1": loss, "a2": loss})
            return loss

        def on_train_epoch_end(self):
            self.log("b1", torch.tensor(1.0))
            self.log("b", torch.tensor(2.0), on_epoch=True, prog_bar=True, logger=True)

    model = TestModel()
    model.val_dataloader = None

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)

    logged_metrics = set(trainer.logged_metrics)
    assert logged_metrics == {"a_step", "a_epoch", "b", "b1", "a1", "a2"}, logged_metrics

    pbar_metrics = set(trainer.progress_bar_metrics)
    assert pbar_metrics == {"b"}

    assert set(trainer.callback_metrics) == (logged_metrics | pbar_metrics | {"a"}) - {"epoch"}


def test__validation_step__log(tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("a", out["loss"], on_step=True, on_epoch=True)
            self.log("a2", 2)
            return out

        def validation_step(self, batch, batch_idx):
            out = super().validation_step(batch, batch_idx)
            self.log("b", out["x"], on_step=True, on_epoch=True)
            return out

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)

    assert set(trainer.logged_metrics) == {"a2", "a_step", "a_epoch", "b_step", "b_epoch"}

    # we don't want to enable val metrics during steps because it is not something that users should do
    # on purpose DO NOT allow b_step... it's silly to monitor val step metrics
    assert set(trainer.callback_metrics) == {"a", "a2", "b", "a_epoch", "b_epoch", "a_step"}


def test_multi_dataloaders_add_suffix_properly(tmp_path, add_dataloader_idx):
    class TestModel(BoringModel):
        def test_step(self, batch, batch_idx, dataloader_idx=0):
            out = super().test_step(batch, batch_idx)
            self.log("test_loss", out["y"], on_step=True, on_epoch=True, add_dataloader_idx=add_dataloader_idx)
            return out

        def test_dataloader(self):
            return [
                torch.utils.data.DataLoader(RandomDataset(32, 64)),
                torch.utils.data.DataLoader(RandomDataset(32, 64)),
            ]

    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=0,
        limit_val_batches=0,
        limit_test_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    results = trainer.test(model)

    for i, r in enumerate(results):
        expected = {"test_loss_epoch"}
        if add_dataloader_idx:
            expected = {k + f"/dataloader_idx_{i}" for k in expected}
        assert set(r) == expected, r


if __name__ == "__main__":
    for fn in (test__training_step__log, test__training_step__epoch_end__log, test__validation_step__log):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    for add in (True,):
        with tempfile.TemporaryDirectory() as d:
            test_multi_dataloaders_add_suffix_properly(d, add)
    print("OK")
