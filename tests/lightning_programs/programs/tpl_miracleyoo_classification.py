# Source: https://github.com/miracleyoo/pytorch-lightning-template (the classification template:
#   special/kfold/main.py's entry (load_callbacks() reading the global `args`, TensorBoardLogger
#   and callbacks set on `args`, seed_everything, load_model_path_by_args),
#   model/model_interface.py's MInterface (save_hyperparameters() of **kargs, the model class
#   loaded by name with importlib and built from `self.hparams` with inspect, loss and
#   StepLR/CosineAnnealingLR chosen from hparams), data/data_interface.py's DInterface (dataset
#   class by name, instancialize), classification/model/simple_net.py (SimpleNet with
#   model/common.py's conv3x3), classification/data/standard_data.py (StandardData), utils.py
#   (load_model_path, load_model_path_by_args)).
# Edits: the packages `model/`, `data/` and utils.py inlined into this one file; the inlined
#   model/data modules registered in sys.modules as `model.simple_net` and `data.standard_data`
#   so that `importlib.import_module('.' + name, package=...)` finds them as in the template;
#   StandardData's .npy files + label pickle (and sklearn's train_test_split, torchvision
#   transforms) -> 40 random 3x32x32 images with one-hot labels (80/20 split by index, no
#   augmentation); `inspect.getargspec` (removed in Python 3.11) -> `inspect.getfullargspec`;
#   `pathlib2` -> `pathlib`; Trainer.add_argparse_args / Trainer.from_argparse_args (removed in
#   Lightning 2) -> --max_epochs/--accelerator/--default_root_dir added to the parser and
#   `Trainer(...)` built from them; `args.ckpt_path` (ignored by from_argparse_args) -> passed to
#   `trainer.fit(ckpt_path=)`; the argument list given to parse_args (tiny sizes, 2 epochs,
#   `--lr_scheduler step`); `args.out_channel = 9` set beside the list arguments (SimpleNet's
#   default 10 does not match StandardData's 9 classes); a tempfile dir as the working folder; a second run resuming from the
#   first's last.ckpt with --load_dir, and asserts on what was written.
import importlib
import inspect
import os
import sys
import tempfile
import types
from argparse import ArgumentParser
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import pytorch_lightning.callbacks as plc
import torch
import torch.optim.lr_scheduler as lrs
import torch.utils.data as data
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader


# -- model/common.py --------------------------------------------------------------------------
def conv3x3(in_channels, out_channels, kernel_size, bias=True):
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size // 2), bias=bias)


# -- model/simple_net.py ----------------------------------------------------------------------
class SimpleNet(nn.Module):
    def __init__(self, in_channel=3, out_channel=10, hid=128, layer_num=5):
        super().__init__()
        body = [conv3x3(in_channel, hid, 3), nn.ReLU()]
        for _ in range(layer_num - 1):
            body.append(conv3x3(hid, hid, 3))
            body.append(nn.ReLU())

        self.body = nn.Sequential(*body)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(hid * 6 * 6, 64),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(64, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, out_channel),
            nn.Sigmoid(),
        )

    def forward(self, x):
        x = self.body(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


# -- data/standard_data.py --------------------------------------------------------------------
class StandardData(data.Dataset):
    def __init__(
        self,
        data_dir=r"data/ref",
        class_num=9,
        train=True,
        no_augment=True,
        aug_prob=0.5,
        img_mean=(0.485, 0.456, 0.406),
        img_std=(0.229, 0.224, 0.225),
    ):
        # Set all input args as attributes
        self.__dict__.update(locals())
        self.aug = train and not no_augment

        self.check_files()

    def check_files(self):
        # (random images in place of the template's .npy files and label pickle)
        g = torch.Generator().manual_seed(2333)
        images = torch.rand(40, 3, 32, 32, generator=g)
        labels = torch.randint(0, self.class_num, (40,), generator=g)
        self.items = [(images[i], int(labels[i]), f"cls{int(labels[i])}_{i}") for i in range(40)]
        self.path_list = self.items[:32] if self.train else self.items[32:]

    def __len__(self):
        return len(self.path_list)

    def to_one_hot(self, idx):
        out = np.zeros(self.class_num, dtype=float)
        out[idx] = 1
        return out

    def __getitem__(self, idx):
        img, label, filename = self.path_list[idx]
        labels = self.to_one_hot(label)
        labels = torch.from_numpy(labels).float()
        mean = torch.tensor(self.img_mean).view(3, 1, 1)
        std = torch.tensor(self.img_std).view(3, 1, 1)
        img_tensor = (img - mean) / std
        return img_tensor, labels, filename


# the template's packages: `model` holds simple_net, `data` holds standard_data
for _pkg, _mod, _obj in (("model", "simple_net", SimpleNet), ("data", "standard_data", StandardData)):
    sys.modules.setdefault(_pkg, types.ModuleType(_pkg)).__path__ = []
    _m = types.ModuleType(f"{_pkg}.{_mod}")
    setattr(_m, _obj.__name__, _obj)
    sys.modules[f"{_pkg}.{_mod}"] = _m


# -- model/model_interface.py -----------------------------------------------------------------
class MInterface(pl.LightningModule):
    def __init__(self, model_name, loss, lr, **kargs):
        super().__init__()
        self.save_hyperparameters()
        self.load_model()
        self.configure_loss()

    def forward(self, img):
        return self.model(img)

    def training_step(self, batch, batch_idx):
        img, labels, filename = batch
        out = self(img)
        loss = self.loss_function(out, labels)
        self.log("loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        img, labels, filename = batch
        out = self(img)
        loss = self.loss_function(out, labels)
        label_digit = labels.argmax(axis=1)
        out_digit = out.argmax(axis=1)

        correct_num = sum(label_digit == out_digit).cpu().item()

        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val_acc", correct_num / len(out_digit), on_step=False, on_epoch=True, prog_bar=True)

        return (correct_num, len(out_digit))

    def test_step(self, batch, batch_idx):
        # Here we just reuse the validation_step for testing
        return self.validation_step(batch, batch_idx)

    def on_validation_epoch_end(self):
        # Make the Progress Bar leave there
        self.print("")

    def configure_optimizers(self):
        if hasattr(self.hparams, "weight_decay"):
            weight_decay = self.hparams.weight_decay
        else:
            weight_decay = 0
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=weight_decay)

        if self.hparams.lr_scheduler is None:
            return optimizer
        else:
            if self.hparams.lr_scheduler == "step":
                scheduler = lrs.StepLR(optimizer, step_size=self.hparams.lr_decay_steps, gamma=self.hparams.lr_decay_rate)
            elif self.hparams.lr_scheduler == "cosine":
                scheduler = lrs.CosineAnnealingLR(optimizer, T_max=self.hparams.lr_decay_steps, eta_min=self.hparams.lr_decay_min_lr)
            else:
                raise ValueError("Invalid lr_scheduler type!")
            return [optimizer], [scheduler]

    def configure_loss(self):
        loss = self.hparams.loss.lower()
        if loss == "mse":
            self.loss_function = F.mse_loss
        elif loss == "l1":
            self.loss_function = F.l1_loss
        elif loss == "bce":
            self.loss_function = F.binary_cross_entropy
        else:
            raise ValueError("Invalid Loss Type!")

    def load_model(self):
        name = self.hparams.model_name
        # Change the `snake_case.py` file name to `CamelCase` class name.
        # Please always name your model file name as `snake_case.py` and
        # class name corresponding `CamelCase`.
        camel_name = "".join([i.capitalize() for i in name.split("_")])
        try:
            Model = getattr(importlib.import_module("." + name, package="model"), camel_name)
        except:  # noqa: E722
            raise ValueError(f"Invalid Module File Name or Invalid Class Name {name}.{camel_name}!")
        self.model = self.instancialize(Model)

    def instancialize(self, Model, **other_args):
        """Instancialize a model using the corresponding parameters
        from self.hparams dictionary. You can also input any args
        to overwrite the corresponding value in self.hparams.
        """
        class_args = inspect.getfullargspec(Model.__init__).args[1:]
        inkeys = self.hparams.keys()
        args1 = {}
        for arg in class_args:
            if arg in inkeys:
                args1[arg] = getattr(self.hparams, arg)
        args1.update(other_args)
        return Model(**args1)


# -- data/data_interface.py -------------------------------------------------------------------
class DInterface(pl.LightningDataModule):
    def __init__(self, num_workers=8, dataset="", **kwargs):
        super().__init__()
        self.num_workers = num_workers
        self.dataset = dataset
        self.kwargs = kwargs
        self.batch_size = kwargs["batch_size"]
        self.load_data_module()

    def setup(self, stage=None):
        # Assign train/val datasets for use in dataloaders
        if stage == "fit" or stage is None:
            self.trainset = self.instancialize(train=True)
            self.valset = self.instancialize(train=False)

        # Assign test dataset for use in dataloader(s)
        if stage == "test" or stage is None:
            self.testset = self.instancialize(train=False)

    def train_dataloader(self):
        return DataLoader(self.trainset, batch_size=self.batch_size, num_workers=self.num_workers, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.valset, batch_size=self.batch_size, num_workers=self.num_workers, shuffle=False)

    def test_dataloader(self):
        return DataLoader(self.testset, batch_size=self.batch_size, num_workers=self.num_workers, shuffle=False)

    def load_data_module(self):
        name = self.dataset
        # Change the `snake_case.py` file name to `CamelCase` class name.
        # Please always name your model file name as `snake_case.py` and
        # class name corresponding `CamelCase`.
        camel_name = "".join([i.capitalize() for i in name.split("_")])
        try:
            self.data_module = getattr(importlib.import_module("." + name, package="data"), camel_name)
        except:  # noqa: E722
            raise ValueError(f"Invalid Dataset File Name or Invalid Class Name data.{name}.{camel_name}")

    def instancialize(self, **other_args):
        """Instancialize a model using the corresponding parameters
        from self.hparams dictionary. You can also input any args
        to overwrite the corresponding value in self.kwargs.
        """
        class_args = inspect.getfullargspec(self.data_module.__init__).args[1:]
        inkeys = self.kwargs.keys()
        args1 = {}
        for arg in class_args:
            if arg in inkeys:
                args1[arg] = self.kwargs[arg]
        args1.update(other_args)
        return self.data_module(**args1)


# -- utils.py ---------------------------------------------------------------------------------
def load_model_path(root=None, version=None, v_num=None, best=False):
    """When best = True, return the best model's path in a directory
    by selecting the best model with largest epoch. If not, return
    the last model saved. You must provide at least one of the
    first three args.
    """

    def sort_by_epoch(path):
        name = path.stem
        epoch = int(name.split("-")[1].split("=")[1])
        return epoch

    def generate_root():
        if root is not None:
            return root
        elif version is not None:
            return str(Path("lightning_logs", version, "checkpoints"))
        else:
            return str(Path("lightning_logs", f"version_{v_num}", "checkpoints"))

    if root == version == v_num == None:  # noqa: E711
        return None

    root = generate_root()
    if Path(root).is_file():
        return root
    if best:
        files = [i for i in list(Path(root).iterdir()) if i.stem.startswith("best")]
        files.sort(key=sort_by_epoch, reverse=True)
        res = str(files[0])
    else:
        res = str(Path(root) / "last.ckpt")
    return res


def load_model_path_by_args(args):
    return load_model_path(root=args.load_dir, version=args.load_ver, v_num=args.load_v_num)


# -- main.py ----------------------------------------------------------------------------------
def load_callbacks():
    callbacks = []
    callbacks.append(plc.EarlyStopping(monitor="val_acc", mode="max", patience=10, min_delta=0.001))

    callbacks.append(
        plc.ModelCheckpoint(
            monitor="val_acc",
            filename="best-{epoch:02d}-{val_acc:.3f}",
            save_top_k=1,
            mode="max",
            save_last=True,
        )
    )

    if args.lr_scheduler:
        callbacks.append(plc.LearningRateMonitor(logging_interval="epoch"))
    return callbacks


def main(args):
    pl.seed_everything(args.seed)
    load_path = load_model_path_by_args(args)
    data_module = DInterface(**vars(args))

    if load_path is None:
        model = MInterface(**vars(args))
    else:
        model = MInterface(**vars(args))
        args.ckpt_path = load_path

    # If you want to change the logger's saving folder
    logger = TensorBoardLogger(save_dir="kfold_log", name=args.log_dir)
    args.callbacks = load_callbacks()
    args.logger = logger

    trainer = Trainer(
        max_epochs=args.max_epochs,
        accelerator=args.accelerator,
        default_root_dir=args.default_root_dir,
        callbacks=args.callbacks,
        logger=args.logger,
    )
    trainer.fit(model, data_module, ckpt_path=getattr(args, "ckpt_path", None))
    return trainer, model


def make_parser():
    parser = ArgumentParser()
    # Basic Training Control
    parser.add_argument("--batch_size", default=32, type=int)
    parser.add_argument("--num_workers", default=8, type=int)
    parser.add_argument("--seed", default=1234, type=int)
    parser.add_argument("--lr", default=1e-3, type=float)

    # LR Scheduler
    parser.add_argument("--lr_scheduler", choices=["step", "cosine"], type=str)
    parser.add_argument("--lr_decay_steps", default=20, type=int)
    parser.add_argument("--lr_decay_rate", default=0.5, type=float)
    parser.add_argument("--lr_decay_min_lr", default=1e-5, type=float)

    # Restart Control
    parser.add_argument("--load_best", action="store_true")
    parser.add_argument("--load_dir", default=None, type=str)
    parser.add_argument("--load_ver", default=None, type=str)
    parser.add_argument("--load_v_num", default=None, type=int)

    # Training Info
    parser.add_argument("--dataset", default="standard_data", type=str)
    parser.add_argument("--data_dir", default="ref/data", type=str)
    parser.add_argument("--model_name", default="standard_net", type=str)
    parser.add_argument("--loss", default="bce", type=str)
    parser.add_argument("--weight_decay", default=1e-5, type=float)
    parser.add_argument("--no_augment", action="store_true")
    parser.add_argument("--log_dir", default="lightning_logs", type=str)

    # Model Hyperparameters
    parser.add_argument("--hid", default=64, type=int)
    parser.add_argument("--block_num", default=8, type=int)
    parser.add_argument("--in_channel", default=3, type=int)
    parser.add_argument("--layer_num", default=5, type=int)

    # Other
    parser.add_argument("--aug_prob", default=0.5, type=float)

    # (in place of Trainer.add_argparse_args)
    parser.add_argument("--max_epochs", default=None, type=int)
    parser.add_argument("--accelerator", default="auto", type=str)
    parser.add_argument("--default_root_dir", default=None, type=str)

    # Reset Some Default Trainer Arguments' Default Values
    parser.set_defaults(max_epochs=100)
    return parser


if __name__ == "__main__":
    os.chdir(tempfile.mkdtemp())
    argv = ["--batch_size", "8", "--num_workers", "0", "--lr_scheduler", "step", "--model_name", "simple_net", "--hid", "8", "--layer_num", "2", "--max_epochs", "2", "--accelerator", "cpu"]
    args = make_parser().parse_args(argv)

    # List Arguments
    args.mean_sen = [0.485, 0.456, 0.406]
    args.std_sen = [0.229, 0.224, 0.225]
    args.out_channel = 9  # StandardData's class_num (SimpleNet's default is 10)

    trainer, model = main(args)
    # what the template's hparams and files hold
    assert model.hparams.model_name == "simple_net" and model.hparams.hid == 8
    assert model.hparams.mean_sen == [0.485, 0.456, 0.406]
    assert isinstance(model.model, SimpleNet) and model.model.body[0].out_channels == 8
    assert trainer.current_epoch == 2 and trainer.global_step == 8
    assert "val_acc" in trainer.callback_metrics and "loss_epoch" in trainer.callback_metrics
    assert "lr-Adam" in trainer.callback_metrics or any(isinstance(c, plc.LearningRateMonitor) for c in trainer.callbacks)
    ckpt_dir = Path("kfold_log", "lightning_logs", "version_0", "checkpoints")
    names = sorted(p.name for p in ckpt_dir.iterdir())
    assert "last.ckpt" in names and len(names) == 2 and names[0].startswith("best-epoch="), names
    assert Path(trainer.checkpoint_callback.best_model_path).name == names[0]
    assert Path("kfold_log", "lightning_logs", "version_0", "hparams.yaml").is_file()
    print("first run:", names)

    # the restart control: --load_dir points at the checkpoints, fit resumes from last.ckpt
    args = make_parser().parse_args(argv[:-4] + ["--max_epochs", "3", "--accelerator", "cpu", "--load_dir", str(ckpt_dir)])
    args.mean_sen = [0.485, 0.456, 0.406]
    args.std_sen = [0.229, 0.224, 0.225]
    args.out_channel = 9  # StandardData's class_num (SimpleNet's default is 10)
    assert load_model_path_by_args(args) == str(ckpt_dir / "last.ckpt")
    trainer, model = main(args)
    assert trainer.current_epoch == 3 and trainer.global_step == 12, (trainer.current_epoch, trainer.global_step)
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 3
    assert Path("kfold_log", "lightning_logs", "version_1", "checkpoints", "last.ckpt").is_file()
    best = load_model_path(root=str(Path("kfold_log", "lightning_logs", "version_1", "checkpoints")), best=True)
    assert Path(best).name.startswith("best-epoch="), best
    print("OK")
