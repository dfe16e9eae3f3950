# Source: https://lightning.ai/docs/pytorch/stable/common/trainer.html
#   (pytorch-lightning docs/source-pytorch/common/trainer.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's code examples joined into one program around a small model on random
#   tensors; each flag's Trainer is built with the page's values where they are CPU values
#   (`accelerator="cpu"`, `devices="auto"`, `precision="32"`/`"bf16-mixed"`/`"64-true"`,
#   `num_nodes=1`, `strategy="auto"`), and GPU/TPU/multi-node ones are left out; a few are run
#   (small `max_epochs`/`limit_*` added) and what the page says happens is asserted: the
#   `PrintCallback`, `limit_*_batches`, `fast_dev_run`, `overfit_batches`, `max_time`,
#   `min_steps`/`min_epochs` with `trainer.should_stop`, `val_check_interval`,
#   `reload_dataloaders_every_n_epochs`, `inference_mode=False` with `torch.enable_grad()`,
#   `enable_autolog_hparams=False` with the page's own loop over `trainer.loggers`, and the
#   properties (callback_metrics, logged_metrics, progress_bar_metrics, log_dir,
#   estimated_stepping_batches with OneCycleLR, state, sanity_checking, num_*_batches,
#   *_dataloaders). The page's `main(hparams)` with ArgumentParser is run with `--accelerator
#   cpu`. `sync_batchnorm=True` is run on one CPU process. A `CPUAccelerator` subclass and a
#   `ClusterEnvironment` subclass are in `doc_trainer_2.py`.
import os
from argparse import ArgumentParser

import lightning.pytorch
import torch
from lightning.pytorch import LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ModelSummary
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.profilers import AdvancedProfiler, SimpleProfiler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def dataset(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randn(n, 1, generator=g))


def loader(n=64, batch_size=8, shuffle=False):
    return DataLoader(dataset(n), batch_size=batch_size, shuffle=shuffle)


class LitModel(LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.layer1 = nn.Linear(8, 8)
        self.layer2 = nn.Linear(8, 1)
        self.train_batches = []
        self.val_batches = 0
        self.grad_in_val = None
        self.stop_at_step = None
        self.train_loader_calls = 0

    def forward(self, x):
        return self.layer2(torch.relu(self.layer1(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.train_batches.append((self.current_epoch, batch_idx))
        loss = nn.functional.mse_loss(self(x), y)
        self.log("a_val", 2.0)
        self.log("train_loss", loss, prog_bar=True)
        if self.stop_at_step is not None and self.global_step == self.stop_at_step:
            self.trainer.should_stop = True
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.val_batches += 1
        preds = self.layer1(x)
        if not torch.is_inference_mode_enabled():
            with torch.enable_grad():
                grad_preds = preds.requires_grad_()
                preds2 = self.layer2(grad_preds)
                self.grad_in_val = preds2.requires_grad
        if not self.trainer.sanity_checking:
            self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self(x), y))

    def predict_step(self, batch, batch_idx):
        return self(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class PrintCallback(Callback):
    def __init__(self):
        self.events = []

    def on_train_start(self, trainer, pl_module):
        print("Training is started!")
        self.events.append("start")

    def on_train_end(self, trainer, pl_module):
        print("Training is done.")
        self.events.append("end")


class ReloadModel(LitModel):
    def train_dataloader(self):
        self.train_loader_calls += 1
        return loader()

    def val_dataloader(self):
        return loader(16)


class OneCycleModel(LitModel):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=1e-3)
        stepping_batches = self.trainer.estimated_stepping_batches
        self.stepping_batches = stepping_batches
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=stepping_batches)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class StateModel(LitModel):
    def on_train_start(self):
        self.seen_state = (self.trainer.state.fn, self.trainer.state.status, self.trainer.state.stage)


def main(hparams):
    model = LitModel()
    trainer = Trainer(accelerator=hparams.accelerator, devices=hparams.devices, max_epochs=1, logger=False)
    trainer.fit(model, loader())
    return trainer


if __name__ == "__main__":
    # Trainer in Python scripts
    parser = ArgumentParser()
    parser.add_argument("--accelerator", default=None)
    parser.add_argument("--devices", default=None)
    args = parser.parse_args(["--accelerator", "cpu", "--devices", "1"])
    trainer = main(args)
    assert trainer.global_step == 8

    # Basic use, validation, testing
    model = LitModel()
    trainer = Trainer(max_epochs=1)
    trainer.fit(model, loader(), loader(16))
    assert os.path.isdir(os.path.join(os.getcwd(), "lightning_logs", "version_0"))
    trainer.validate(model=model, dataloaders=loader(16))
    (res,) = trainer.test(dataloaders=loader(16))
    assert "test_loss" in res

    # Reproducibility
    seed_everything(42, workers=True)
    trainer = Trainer(deterministic=True)

    # accelerator, devices
    trainer = Trainer(accelerator="cpu")
    trainer = Trainer(devices="auto", accelerator="auto")
    trainer = Trainer(devices="auto", accelerator="cpu")
    assert trainer.num_devices == 1

    # accumulate_grad_batches
    trainer = Trainer(accumulate_grad_batches=1)
    trainer = Trainer(accumulate_grad_batches=4, max_epochs=1, logger=False, enable_checkpointing=False)
    trainer.fit(LitModel(), loader())
    assert trainer.global_step == 2, trainer.global_step

    # benchmark
    trainer = Trainer(benchmark=None)  # default
    trainer = Trainer(benchmark=True)
    trainer = Trainer(deterministic=False)

    # callbacks
    trainer = Trainer(callbacks=PrintCallback())
    cb = PrintCallback()
    trainer = Trainer(callbacks=[cb], max_epochs=1, logger=False, enable_checkpointing=False)
    trainer.fit(LitModel(), loader())
    assert cb.events == ["start", "end"]

    # check_val_every_n_epoch
    trainer = Trainer(check_val_every_n_epoch=1)
    model = LitModel()
    trainer = Trainer(check_val_every_n_epoch=2, max_epochs=3, num_sanity_val_steps=0, logger=False)
    trainer.fit(model, loader(), loader(16))
    assert model.val_batches == 2, model.val_batches

    # default_root_dir
    trainer = Trainer(default_root_dir=os.getcwd())
    assert trainer.default_root_dir == os.getcwd()

    # enable_checkpointing
    trainer = Trainer(enable_checkpointing=True)
    assert isinstance(trainer.checkpoint_callback, ModelCheckpoint)
    trainer = Trainer(enable_checkpointing=False)
    assert trainer.checkpoint_callback is None
    checkpoint_callback = ModelCheckpoint(monitor="val_loss")
    trainer = Trainer(callbacks=[checkpoint_callback])
    assert trainer.checkpoint_callback is checkpoint_callback

    # fast_dev_run
    trainer = Trainer(fast_dev_run=False)
    model = LitModel()
    trainer = Trainer(fast_dev_run=True)
    trainer.fit(model, loader(), loader(16))
    assert model.train_batches == [(0, 0)] and model.val_batches == 1
    trainer = Trainer(fast_dev_run=7)
    preds = trainer.predict(LitModel(), loader(128))
    assert len(preds) == 7

    # gradient_clip_val
    trainer = Trainer(gradient_clip_val=None)

    # limit_train_batches / limit_test_batches / limit_val_batches
    trainer = Trainer(limit_train_batches=1.0)
    for limit, expected in ((0.25, 2), (10, 8)):
        model = LitModel()
        trainer = Trainer(limit_train_batches=limit, max_epochs=1, logger=False, enable_checkpointing=False)
        trainer.fit(model, loader())
        assert len(model.train_batches) == expected, (limit, model.train_batches)
    trainer = Trainer(limit_test_batches=1.0)
    for limit, expected in ((0.25, 2), (10, 8)):
        trainer = Trainer(limit_test_batches=limit, logger=False)
        trainer.test(LitModel(), loader(), verbose=False)
        assert trainer.num_test_batches == [expected], trainer.num_test_batches
    trainer = Trainer(limit_val_batches=1.0)
    for limit, expected in ((0.25, 2), (10, 8), (0, 0)):
        model = LitModel()
        trainer = Trainer(limit_val_batches=limit, max_epochs=1, num_sanity_val_steps=0, logger=False)
        trainer.fit(model, loader(16), loader())
        assert model.val_batches == expected, (limit, model.val_batches)

    # log_every_n_steps
    trainer = Trainer(log_every_n_steps=50)
    assert trainer.log_every_n_steps == 50

    # logger
    logger = TensorBoardLogger(save_dir=os.getcwd(), version=1, name="lightning_logs")
    trainer = Trainer(logger=logger)
    assert trainer.log_dir == os.path.join(os.getcwd(), "lightning_logs", "version_1")

    # max_epochs, min_epochs, max_steps, min_steps
    trainer = Trainer(max_epochs=1000)
    trainer = Trainer(min_epochs=1)
    trainer = Trainer(max_steps=-1)
    trainer = Trainer(max_steps=100)
    assert trainer.max_steps == 100
    trainer = Trainer(min_steps=None)
    trainer = Trainer(min_steps=100, min_epochs=0)
    model = LitModel()
    trainer = Trainer(max_steps=3, logger=False, enable_checkpointing=False)
    trainer.fit(model, loader())
    assert trainer.global_step == 3

    # max_time
    trainer = Trainer(max_time=None)
    trainer = Trainer(max_time="00:12:00:00", max_epochs=10)
    trainer = Trainer(max_time={"days": 1, "hours": 5})
    trainer = Trainer(max_time={"seconds": 0}, max_epochs=10, logger=False, enable_checkpointing=False)
    trainer.fit(LitModel(), loader())
    assert trainer.current_epoch == 0 and trainer.global_step == 0, (trainer.current_epoch, trainer.global_step)

    # num_nodes
    trainer = Trainer(num_nodes=1)
    assert trainer.num_nodes == 1

    # num_sanity_val_steps
    for steps, expected in ((2, 2), (0, 0), (-1, 2)):
        model = LitModel()
        trainer = Trainer(num_sanity_val_steps=steps, max_steps=1, limit_val_batches=0, logger=False)
        trainer.fit(model, loader(), loader(16))
        assert model.val_batches == 0
    model = LitModel()
    trainer = Trainer(num_sanity_val_steps=-1, max_steps=1, logger=False, enable_checkpointing=False)
    trainer.fit(model, loader(), loader(16))
    assert trainer.num_sanity_val_batches == [2] and model.val_batches == 2, (
        trainer.num_sanity_val_batches,
        model.val_batches,
    )

    # overfit_batches
    trainer = Trainer(overfit_batches=0.0)
    trainer = Trainer(overfit_batches=0.01)
    for overfit, expected in ((1, 1), (10, 8)):
        model = LitModel()
        trainer = Trainer(overfit_batches=overfit, max_epochs=2, logger=False, enable_checkpointing=False)
        trainer.fit(model, loader(shuffle=True))
        assert len(model.train_batches) == 2 * expected, (overfit, model.train_batches)

    # precision
    trainer = Trainer(precision="32", devices=1)
    trainer = Trainer(precision="bf16-mixed", devices=1)
    trainer = Trainer(precision="64-true", devices=1, max_steps=1, logger=False, enable_checkpointing=False)
    model = LitModel()
    trainer.fit(model, loader())
    assert model.layer1.weight.dtype == torch.float64

    # profiler
    trainer = Trainer(profiler=None)
    trainer = Trainer(profiler="simple")
    assert isinstance(trainer.profiler, SimpleProfiler)
    trainer = Trainer(profiler="advanced")
    assert isinstance(trainer.profiler, AdvancedProfiler)

    # enable_progress_bar
    trainer = Trainer(enable_progress_bar=True)
    assert trainer.progress_bar_callback is not None
    trainer = Trainer(enable_progress_bar=False)
    assert trainer.progress_bar_callback is None

    # reload_dataloaders_every_n_epochs
    model = ReloadModel()
    trainer = Trainer(reload_dataloaders_every_n_epochs=2, max_epochs=4, logger=False, enable_checkpointing=False)
    trainer.fit(model)
    assert model.train_loader_calls == 2, model.train_loader_calls
    model = ReloadModel()
    trainer = Trainer(max_epochs=3, logger=False, enable_checkpointing=False)
    trainer.fit(model)
    assert model.train_loader_calls == 1, model.train_loader_calls

    # use_distributed_sampler
    trainer = Trainer(use_distributed_sampler=True)

    # strategy
    trainer = Trainer(strategy="auto", accelerator="cpu", devices=1)

    # val_check_interval
    trainer = Trainer(val_check_interval=1.0)
    for interval, check_every, expected in ((0.25, 1, 4), (2, 1, 4), (4, None, 2)):
        model = LitModel()
        trainer = Trainer(
            val_check_interval=interval,
            check_val_every_n_epoch=check_every,
            max_epochs=1,
            num_sanity_val_steps=0,
            limit_val_batches=1,
            logger=False,
            enable_checkpointing=False,
        )
        trainer.fit(model, loader(), loader(16))
        assert model.val_batches == expected, (interval, model.val_batches)

    # enable_model_summary
    trainer = Trainer(enable_model_summary=True)
    trainer = Trainer(enable_model_summary=False)
    trainer = Trainer(enable_model_summary=True, callbacks=[ModelSummary(max_depth=-1)])
    assert [c.__class__.__name__ for c in trainer.callbacks].count("ModelSummary") == 1

    # inference_mode
    trainer = Trainer(inference_mode=True)
    model = LitModel()
    trainer = Trainer(inference_mode=False, logger=False)
    trainer.validate(model, loader(16), verbose=False)
    assert model.grad_in_val is True

    # enable_autolog_hparams
    trainer = Trainer(enable_autolog_hparams=True)
    model = LitModel()
    hparams_dict_1 = {"lr": 0.05, "logger": "csv"}
    hparams_dict_2 = {"lr": 0.05, "logger": "tensorboard"}
    trainer = Trainer(
        enable_autolog_hparams=False,
        logger=[CSVLogger("csv_logs"), TensorBoardLogger("tb_logs")],
        max_epochs=1,
        enable_checkpointing=False,
    )
    for logger in trainer.loggers:
        if isinstance(logger, lightning.pytorch.loggers.CSVLogger):
            logger.log_hyperparams(hparams_dict_1)
        else:
            logger.log_hyperparams(hparams_dict_2)
    trainer.fit(model, loader())
    with open(os.path.join(trainer.loggers[0].log_dir, "hparams.yaml")) as f:
        text = f.read()
    assert "csv" in text, text

    # Properties
    model = StateModel()
    trainer = Trainer(max_epochs=1, logger=CSVLogger("props"), enable_checkpointing=False)
    trainer.fit(model, loader(), loader(16))
    callback_metrics = trainer.callback_metrics
    assert callback_metrics["a_val"] == 2.0
    assert "a_val" in trainer.logged_metrics and "train_loss" in trainer.progress_bar_metrics
    assert "a_val" not in trainer.progress_bar_metrics
    assert model.seen_state == ("fit", "running", "train"), model.seen_state
    assert (trainer.state.fn, trainer.state.status, trainer.state.stage) == ("fit", "finished", None)
    assert trainer.current_epoch == 1 and trainer.global_step == 8
    assert trainer.datamodule is None and trainer.is_global_zero and not trainer.sanity_checking
    assert trainer.logger is trainer.loggers[0]
    for logger in trainer.loggers:
        logger.log_metrics({"foo": 1.0})
    assert trainer.log_dir == os.path.join("props", "lightning_logs", "version_0"), trainer.log_dir
    assert trainer.num_training_batches == 8 and trainer.num_val_batches == [2]
    assert trainer.num_sanity_val_batches == [2]
    assert isinstance(trainer.train_dataloader, DataLoader) and isinstance(trainer.val_dataloaders, DataLoader)
    trainer.predict(model, loader(16))
    assert trainer.num_predict_batches == [2] and isinstance(trainer.predict_dataloaders, DataLoader)
    trainer.test(model, loader(16), verbose=False)
    assert trainer.num_test_batches == [2] and isinstance(trainer.test_dataloaders, DataLoader)

    model = OneCycleModel()
    trainer = Trainer(max_epochs=2, accumulate_grad_batches=2, logger=False, enable_checkpointing=False)
    trainer.fit(model, loader())
    assert model.stepping_batches == 8 == trainer.global_step, model.stepping_batches

    # should_stop
    for kwargs, stop_at, epochs, steps in (
        ({}, 0, 1, 1),
        ({"min_epochs": 5, "max_epochs": 100}, 16, 5, 40),
        ({"min_steps": 5, "max_epochs": 100}, 2, 1, 8),
        ({"min_steps": 5, "min_epochs": 5, "max_epochs": 100}, 7, 5, 40),
    ):
        model = LitModel()
        model.stop_at_step = stop_at
        trainer = Trainer(logger=False, enable_checkpointing=False, **kwargs)
        trainer.fit(model, loader())
        assert (trainer.current_epoch, trainer.global_step) == (epochs, steps), (
            kwargs,
            trainer.current_epoch,
            trainer.global_step,
        )

    # sync_batchnorm: one CPU process (the batch norms stay as they are)
    trainer = Trainer(sync_batchnorm=True, accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False)
    trainer.fit(LitModel(), loader())
    print("OK")
