# Source: https://github.com/Lightning-AI/tutorials/blob/main/lightning_examples/trainer-flags-gpu/flags.py
#   (Lightning-AI tutorials, "Introduction to Pytorch Lightning Trainer flags"; Apache-2.0,
#   Copyright The Lightning AI team). Its code cells in order; markdown cells left out.
# Edits (nothing else changed):
#  - MNIST (a download; torchvision is not installable here) -> random 1x28x28 tensors with
#    labels (512 train -> the tutorial's `[::4]` subset of 128 -> split 96/32; 64 test); the
#    transforms dropped; BATCH_SIZE 64 -> 16 (6 train batches); NUM_WORKERS -> 0;
#    MAX_EPOCHS 3 -> 1; `random_split(..., [12000, 3000])` -> [96, 32]; `overfit_batches=0.01`
#    -> 0.5 and `val_check_interval=1000` -> 3 (Lightning refuses both with 6 batches);
#  - the tutorial is written for Lightning 1.x; each flag Lightning 2 removed -> its Lightning
#    2 form, as Lightning's migration guide gives it:
#    `gpus=N`/`gpus=[..]`/`auto_select_gpus` -> `accelerator="cpu", devices=1` (no GPU here);
#    `accelerator="dp"`, `amp_backend`/`amp_level`, `truncated_bptt_steps`, `weights_save_path`,
#    `flush_logs_every_n_steps`, `prepare_data_per_node` (a DataModule attribute now) and
#    `auto_lr_find=False` dropped; `track_grad_norm` dropped (a module hook in Lightning 2);
#    the `accelerator="ddp_cpu", num_processes=2` cell moved to tut_trainer_flags_ddp.py;
#    `log_gpu_memory` -> `callbacks=[DeviceStatsMonitor()]`; `precision=16` on the CPU ->
#    "bf16-mixed" (Lightning 2 refuses fp16 AMP on a CPU); `accumulate_grad_batches={5: 3, 10:
#    20}` -> `GradientAccumulationScheduler(scheduling={5: 3, 10: 20})`;
#    `auto_scale_batch_size=...` + `trainer.tune` -> `Tuner(trainer).scale_batch_size(mode=)`;
#    `auto_lr_find=True` + `trainer.tune` -> `Tuner(trainer).lr_find(update_attr=True)`
#    (`auto_lr_find='0.01'`, an attribute name no model has -> `attr_name="learning_rate"`);
#    `reload_dataloaders_every_epoch=True` -> `reload_dataloaders_every_n_epochs=1`;
#    `ModelCheckpoint(filepath=, prefix=)` -> `dirpath=`; `checkpoint_callback=False` ->
#    `enable_checkpointing=False`; `resume_from_checkpoint=` -> `fit(ckpt_path=)`;
#    `train_dataloader=` -> `train_dataloaders=`; `weights_summary='full'/None` ->
#    `ModelSummary(max_depth=-1)`/`enable_model_summary=False`; `process_position=0` and
#    `progress_bar_refresh_rate=N` -> `TQDMProgressBar(...)`, `=0` -> `enable_progress_bar=False`;
#    `profiler=True` -> `profiler="simple"`; `pytorch_lightning.profiler` ->
#    `pytorch_lightning.profilers`; `TestTubeLogger` (removed) dropped from the logger list;
#  - cells that fail as published in any Lightning version: `DistributedSampler` outside a
#    process group gets `num_replicas=1, rank=0`; `trainer.fit(model)` (no loaders) gets
#    `datamodule=mnist`; `EarlyStopping(monitor='val_accuracy')` (never logged) ->
#    'val_loss', mode 'min'; the second `class LitAutoEncoder(in_dim, out_dim)` ->
#    `LitAutoEncoderWithHparams` (same body) so that the cells after it, which call
#    `LitAutoEncoder()` with no argument, run, and its two `load_from_checkpoint("example.ckpt")`
#    cells dropped (example.ckpt holds the first model: no in_dim/out_dim, other weights);
#  - asserts at a few places on the run.
import os

import torch
from pytorch_lightning import LightningDataModule, LightningModule, seed_everything, Trainer
from pytorch_lightning.callbacks import (  # edit: the Lightning 2 forms of removed flags
    DeviceStatsMonitor,
    GradientAccumulationScheduler,
    ModelSummary,
    TQDMProgressBar,
)
from pytorch_lightning.tuner import Tuner  # edit: Lightning 2's tuner
from torch import nn
from torch.nn import functional as F
from torch.optim import Adam
from torch.utils.data import DataLoader, random_split, Subset, TensorDataset


def MNIST(data_dir, train=True, download=False, transform=None):  # edit: stand-in, random data
    n = 512 if train else 64
    return TensorDataset(torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,)))


# ------------
# data
# ------------
seed_everything(1234)
PATH_DATASETS = os.environ.get('PATH_DATASETS', '.')
AVAIL_GPUS = min(1, torch.cuda.device_count())
BATCH_SIZE = 16  # edit: was 256 if AVAIL_GPUS else 64
NUM_WORKERS = 0  # edit: was int(os.cpu_count() / 2)
MAX_EPOCHS = 1  # edit: was 3

# Init DataLoader from MNIST Dataset


class MNISTDataModule(LightningDataModule):

    def __init__(self, data_dir: str = PATH_DATASETS, batch_size: int = BATCH_SIZE, num_workers: int = NUM_WORKERS):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers

    def prepare_data(self):
        # download
        MNIST(self.data_dir, train=True, download=True)
        MNIST(self.data_dir, train=False, download=True)

    def setup(self, stage=None):
        # Assign train/val datasets for use in dataloaders
        mnist_full = MNIST(self.data_dir, train=True)
        subset_idxs = list(range(len(mnist_full)))[::4]
        mnist_subset = Subset(mnist_full, subset_idxs)
        self.mnist_train, self.mnist_val = random_split(mnist_subset, [96, 32])  # edit: sizes
        # Assign test dataset for use in dataloader(s)
        self.mnist_test = MNIST(self.data_dir, train=False)

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size, num_workers=self.num_workers)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size, num_workers=self.num_workers)


mnist = MNISTDataModule()


class LitAutoEncoder(LightningModule):

    def __init__(self, batch_size=32, lr=1e-3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))
        self.batch_size = batch_size
        self.learning_rate = lr

    def forward(self, x):
        # in lightning, forward defines the prediction/inference actions
        embedding = self.encoder(x)
        return embedding

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('train_loss', loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('val_loss', loss)

    def test_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('test_loss', loss)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


#####################
# 1. Init Model
#####################

model = LitAutoEncoder()

#####################
# 2. Init Trainer
#####################

# these 2 flags are explained in the later sections...but for short explanation:
# - progress_bar_refresh_rate: limits refresh rate of tqdm progress bar so Colab doesn't freak out
# - max_epochs: only run 2 epochs instead of default of 1000
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[TQDMProgressBar(refresh_rate=20)])  # edit: Lightning 2

#####################
# 3. Train
#####################
trainer.fit(model, datamodule=mnist)
assert trainer.global_step == 6 and "val_loss" in trainer.callback_metrics  # edit: an assert

# run val loop every 10 training epochs
trainer = Trainer(max_epochs=MAX_EPOCHS, check_val_every_n_epoch=10)

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert "val_loss" not in trainer.callback_metrics  # edit: an assert

# check validation set 4 times during a training epoch
trainer = Trainer(max_epochs=MAX_EPOCHS, val_check_interval=0.25)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# check validation set every 1000 training batches
# use this when using iterableDataset and your dataset has no length
# (ie: production cases with streaming data)
trainer = Trainer(max_epochs=MAX_EPOCHS, val_check_interval=3)  # edit: 1000 -> 3 (6 batches)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# turn it off
trainer = Trainer(max_epochs=MAX_EPOCHS, num_sanity_val_steps=0)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# check all validation data
trainer = Trainer(max_epochs=MAX_EPOCHS, num_sanity_val_steps=-1)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, num_sanity_val_steps=10)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# run for only 10 batches
trainer = Trainer(max_epochs=MAX_EPOCHS, limit_test_batches=10)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, limit_val_batches=10)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# run through only 25% of the test set each epoch
trainer = Trainer(max_epochs=MAX_EPOCHS, limit_test_batches=0.25)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=1

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=2

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# list: train on GPUs 1, 4 (by bus ordering)
# trainer = Trainer(gpus='0, 1') # equivalent
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=[0, 1]

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=list(range(2))

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# trainer = Trainer(gpus='-1') - equivalent
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=-1

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# enable auto selection (will find two available gpus on system)
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=2, auto_select_gpus=True

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# log all the GPUs (on master node only)
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[DeviceStatsMonitor()])  # edit: was log_gpu_memory='all'

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# log only the min and max memory on the master node
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[DeviceStatsMonitor()])  # edit: was log_gpu_memory='min_max'

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# dp = DataParallel
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=2, accelerator='dp'

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# Simulate DDP for debugging on your GPU-less laptop
# edit: this cell (`accelerator="ddp_cpu", num_processes=2`) is in tut_trainer_flags_ddp.py

sampler = torch.utils.data.distributed.DistributedSampler(mnist.mnist_train, shuffle=False, num_replicas=1, rank=0)  # edit
train_dataloader = DataLoader(mnist.mnist_train, batch_size=32, sampler=sampler)
sampler = torch.utils.data.distributed.DistributedSampler(mnist.mnist_val, shuffle=False, num_replicas=1, rank=0)  # edit
val_dataloader = DataLoader(mnist.mnist_val, batch_size=32, sampler=sampler)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1)  # edit: was gpus=2, prepare_data_per_node=False

trainer.fit(LitAutoEncoder(), train_dataloaders=train_dataloader, val_dataloaders=val_dataloader)  # edit: train_dataloaders=
assert trainer.global_step == 3  # edit: an assert

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, sync_batchnorm=True)  # edit: was gpus=2

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, fast_dev_run=True)

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.global_step == 1  # edit: an assert

# use only 1% of the train set (and use the train set for val and test)
trainer = Trainer(max_epochs=MAX_EPOCHS, overfit_batches=0.5)  # edit: 0.01 (of 6 batches: none)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# overfit on 10 of the same batches
trainer = Trainer(max_epochs=MAX_EPOCHS, overfit_batches=10)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# run through only 25% of the test set each epoch
trainer = Trainer(max_epochs=MAX_EPOCHS, limit_test_batches=0.25)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# accumulate every 4 batches (effective batch size is batch*4)
trainer = Trainer(max_epochs=MAX_EPOCHS, accumulate_grad_batches=4)

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.global_step == 2  # edit: an assert (6 batches: a step at 4 and at the last)

# no accumulation for epochs 1-4. accumulate 3 for epochs 5-10. accumulate 20 after that
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[GradientAccumulationScheduler(scheduling={5: 3, 10: 20})])  # edit

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# 16-bit precision
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, precision="bf16-mixed")  # edit: gpus=1, precision=16

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, precision="bf16-mixed")  # edit: apex

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# default used by the Trainer
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, precision="bf16-mixed")  # edit: apex O2

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_scale_batch_size=True

Tuner(trainer).scale_batch_size(LitAutoEncoder(), datamodule=mnist)  # edit: was trainer.tune(...)

trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_scale_batch_size='power'

Tuner(trainer).scale_batch_size(LitAutoEncoder(), datamodule=mnist, mode='power')  # edit: trainer.tune

# run batch size scaling, result overrides hparams.batch_size
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_scale_batch_size='binsearch'

Tuner(trainer).scale_batch_size(LitAutoEncoder(), datamodule=mnist, mode='binsearch')  # edit: trainer.tune
mnist.batch_size = BATCH_SIZE  # edit: back to the cells' batch size, for the asserts below

# default used by the Trainer (no learning rate finder)
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_lr_find=False


class LitModel(LightningModule):

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def configure_optimizers(self):
        return Adam(self.parameters(), lr=(self.lr or self.learning_rate))


# finds learning rate automatically
# sets hparams.lr or hparams.learning_rate to that learning rate
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_lr_find=True

Tuner(trainer).lr_find(LitAutoEncoder(), datamodule=mnist, update_attr=True)  # edit: trainer.tune

trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: auto_lr_find='0.01'

Tuner(trainer).lr_find(LitAutoEncoder(), datamodule=mnist, update_attr=True, attr_name="learning_rate")  # edit

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, benchmark=True)  # edit: was gpus=1

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=1, deterministic=True)  # edit: was gpus=1

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# track the 2-norm
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: track_grad_norm=2 (removed)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: track_grad_norm='inf' (removed)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, gradient_clip_val=0.1)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# backprop every 5 steps in a batch
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: truncated_bptt_steps=5 (removed)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, reload_dataloaders_every_n_epochs=1)  # edit: ..._every_epoch=True

trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.callbacks import Callback


class PrintCallback(Callback):

    def on_train_start(self, trainer, pl_module):
        print("Training is started!")

    def on_train_end(self, trainer, pl_module):
        print("Training is done.")


# a list of callbacks
callbacks = [PrintCallback()]
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=callbacks)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# default used by the Trainer
trainer = Trainer(max_epochs=MAX_EPOCHS, default_root_dir=os.getcwd())

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, default_root_dir='.')

trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.callbacks import ModelCheckpoint

trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[ModelCheckpoint(monitor='val_loss')])

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.checkpoint_callback.best_model_path.endswith(".ckpt")  # edit: an assert

from pytorch_lightning.callbacks import ModelCheckpoint

# DEFAULTS used by the Trainer
checkpoint_callback = ModelCheckpoint(
    dirpath=os.getcwd(),  # edit: was filepath=
    save_top_k=3,
    verbose=True,
    monitor='val_loss',
    mode='min',
)  # edit: prefix='' (removed)

trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[checkpoint_callback])

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, enable_checkpointing=False)  # edit: checkpoint_callback=False

trainer.fit(model, datamodule=mnist)  # edit: datamodule=mnist
trainer.save_checkpoint("example.ckpt")
new_model = LitAutoEncoder.load_from_checkpoint(checkpoint_path="example.ckpt")

model = LitAutoEncoder.load_from_checkpoint("example.ckpt")

print(model.learning_rate)
assert model.learning_rate == 1e-3  # edit: an assert

# prints the learning_rate you used in this checkpoint


class LitAutoEncoderWithHparams(LightningModule):  # edit: renamed (was a second LitAutoEncoder)

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.save_hyperparameters()
        self.l1 = nn.Linear(self.hparams.in_dim, self.hparams.out_dim)


# if you train and save the model like this it will use these values when loading
# the weights. But you can overwrite this
LitAutoEncoderWithHparams(in_dim=32, out_dim=10)  # edit: renamed; the two loads after it dropped

model = LitAutoEncoder()
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: resume_from_checkpoint="example.ckpt" -> ckpt_path=

# automatically restores model, epoch, step, LR schedulers, apex, etc...
trainer.fit(model, datamodule=mnist, ckpt_path="example.ckpt")  # edit: datamodule, ckpt_path

# save to your custom path
trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: weights_save_path='.' (removed)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# if checkpoint callback used, then overrides the weights path
# **NOTE: this saves weights to some/path NOT my/path
checkpoint = ModelCheckpoint(dirpath='.')  # edit: was filepath=
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[checkpoint])  # edit: weights_save_path (removed)
trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.callbacks.early_stopping import EarlyStopping

trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[EarlyStopping('val_loss')])

trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.callbacks.early_stopping import EarlyStopping

early_stop_callback = EarlyStopping(monitor='val_loss', min_delta=0.00, patience=3, verbose=False, mode='min')  # edit
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[early_stop_callback])

trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.loggers import TensorBoardLogger

# default logger used by trainer
logger = TensorBoardLogger(save_dir=os.getcwd(), version=1, name='lightning_logs')
trainer = Trainer(max_epochs=MAX_EPOCHS, logger=logger)

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.log_dir == os.path.join(os.getcwd(), "lightning_logs", "version_1")  # edit: an assert

from pytorch_lightning.loggers import TensorBoardLogger  # edit: TestTubeLogger (removed)

logger1 = TensorBoardLogger('tb_logs', name='my_model')
trainer = Trainer(max_epochs=MAX_EPOCHS, logger=[logger1])  # edit: logger2 (TestTubeLogger) dropped

trainer = Trainer(max_epochs=MAX_EPOCHS)  # edit: flush_logs_every_n_steps=100 (removed)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

trainer = Trainer(max_epochs=MAX_EPOCHS, log_every_n_steps=1000)

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# print full summary of all modules and submodules
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[ModelSummary(max_depth=-1)])  # edit: weights_summary='full'

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# don't print a summary
trainer = Trainer(max_epochs=MAX_EPOCHS, enable_model_summary=False)  # edit: weights_summary=None

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# default used by the Trainer
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[TQDMProgressBar(process_position=0)])  # edit: process_position=0

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# default used by the Trainer
trainer = Trainer(max_epochs=MAX_EPOCHS, callbacks=[TQDMProgressBar(refresh_rate=1)])  # edit: progress_bar_refresh_rate=1

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# disable progress bar
trainer = Trainer(max_epochs=MAX_EPOCHS, enable_progress_bar=False)  # edit: progress_bar_refresh_rate=0

trainer.fit(LitAutoEncoder(), datamodule=mnist)

# to profile standard training events
trainer = Trainer(max_epochs=MAX_EPOCHS, profiler="simple")  # edit: profiler=True

trainer.fit(LitAutoEncoder(), datamodule=mnist)

from pytorch_lightning.profilers import AdvancedProfiler  # edit: was pytorch_lightning.profiler

trainer = Trainer(max_epochs=MAX_EPOCHS, profiler=AdvancedProfiler())

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.global_step == 6  # edit: an assert
