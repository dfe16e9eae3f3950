# Source: https://github.com/ashleve/lightning-hydra-template
#   src/utils/pylogger.py (RankedLogger on lightning_utilities' rank_zero_only.rank and
#   rank_prefixed_message), src/utils/utils.py (task_wrapper, extras, get_metric_value),
#   src/utils/instantiators.py (instantiate_callbacks, instantiate_loggers),
#   src/utils/logging_utils.py (log_hyperparameters: `trainer.logger`, `trainer.loggers`,
#   `logger.log_hyperparams`, model parameter counts, lightning_utilities' rank_zero_only),
#   src/utils/rich_utils.py (print_config_tree with rich), src/train.py's train() and
#   src/eval.py's evaluate() (test of a checkpoint with ckpt_path), with the configs of
#   configs/train.yaml, eval.yaml, callbacks/default.yaml, logger/csv.yaml + tensorboard.yaml.
#   src/models/mnist_module.py and src/data/mnist_datamodule.py are as in tpl_hydra_mnist
#   (shortened: no MaxMetric, no batch-size split).
# Edits: the modules inlined into one file; hydra and omegaconf (installed in neither
#   environment) -> a DictConfig stand-in (a dict with attribute access), `OmegaConf.to_container`
#   and `OmegaConf.to_yaml` (yaml.dump) stand-ins, and an `instantiate` stand-in for
#   hydra.utils.instantiate (`_target_`, `_partial_`, nested configs); the configs' `_target_`
#   are the classes themselves, not dotted strings (the mapper maps import statements only) and
#   to_container writes them as dotted names; `HydraConfig` dropped from print_config_tree
#   (the config is printed and saved, `enforce_tags` left out: it prompts); torchvision's MNIST
#   -> random 1x28x28 tensors; sizes tiny (2 epochs); the configs given as dicts in __main__;
#   a tempfile dir as paths.output_dir (made in __main__, as hydra makes it); asserts on the metrics and files.
import functools
import logging
import os
import tempfile
import time
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import lightning as L
import rich
import rich.syntax
import rich.tree
import torch
import yaml
from lightning import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ModelSummary, RichModelSummary
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning_utilities.core.rank_zero import rank_prefixed_message, rank_zero_only
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split
from torchmetrics import MeanMetric
from torchmetrics.classification.accuracy import Accuracy


# -- stand-ins for omegaconf and hydra ---------------------------------------------------------
class DictConfig(dict):
    def __init__(self, content: Mapping[str, Any]) -> None:
        super().__init__({k: DictConfig(v) if isinstance(v, Mapping) else v for k, v in content.items()})

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as err:
            raise AttributeError(key) from err


class OmegaConf:
    @staticmethod
    def to_container(cfg: Any, resolve: bool = False) -> Any:
        if isinstance(cfg, Mapping):
            return {k: OmegaConf.to_container(v) for k, v in cfg.items()}
        if isinstance(cfg, (list, tuple)):
            return [OmegaConf.to_container(v) for v in cfg]
        if isinstance(cfg, type) or callable(cfg):
            return f"{cfg.__module__}.{cfg.__qualname__}"
        return cfg

    @staticmethod
    def to_yaml(cfg: Any, resolve: bool = False) -> str:
        return yaml.dump(OmegaConf.to_container(cfg), sort_keys=False)


def instantiate(config: Any, **kwargs: Any) -> Any:
    if isinstance(config, Mapping) and "_target_" in config:
        args = {k: instantiate(v) for k, v in config.items() if k not in ("_target_", "_partial_")}
        args.update(kwargs)
        if config.get("_partial_"):
            return functools.partial(config["_target_"], **args)
        return config["_target_"](**args)
    if isinstance(config, Mapping):
        return {k: instantiate(v) for k, v in config.items()}
    return config


# -- src/utils/pylogger.py ----------------------------------------------------------------------
class RankedLogger(logging.LoggerAdapter):
    """A multi-GPU-friendly python command line logger."""

    def __init__(self, name: str = __name__, rank_zero_only: bool = False, extra: Optional[Mapping[str, object]] = None) -> None:
        logger = logging.getLogger(name)
        super().__init__(logger=logger, extra=extra)
        self.rank_zero_only = rank_zero_only

    def log(self, level: int, msg: str, rank: Optional[int] = None, *args, **kwargs) -> None:
        if self.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            current_rank = getattr(rank_zero_only, "rank", None)
            if current_rank is None:
                raise RuntimeError("The `rank_zero_only.rank` needs to be set before use")
            msg = rank_prefixed_message(msg, current_rank)
            if self.rank_zero_only:
                if current_rank == 0:
                    self.logger.log(level, msg, *args, **kwargs)
            else:
                if rank is None:
                    self.logger.log(level, msg, *args, **kwargs)
                elif current_rank == rank:
                    self.logger.log(level, msg, *args, **kwargs)


log = RankedLogger(__name__, rank_zero_only=True)


# -- src/utils/rich_utils.py --------------------------------------------------------------------
@rank_zero_only
def print_config_tree(
    cfg: DictConfig,
    print_order: Sequence[str] = ("data", "model", "callbacks", "logger", "trainer", "paths", "extras"),
    resolve: bool = False,
    save_to_file: bool = False,
) -> None:
    style = "dim"
    tree = rich.tree.Tree("CONFIG", style=style, guide_style=style)

    queue = []

    # add fields from `print_order` to queue
    for field in print_order:
        queue.append(field) if field in cfg else log.warning(f"Field '{field}' not found in config. Skipping '{field}' config printing...")

    # add all the other fields to queue (not specified in `print_order`)
    for field in cfg:
        if field not in queue:
            queue.append(field)

    # generate config tree from queue
    for field in queue:
        branch = tree.add(field, style=style, guide_style=style)

        config_group = cfg[field]
        if isinstance(config_group, DictConfig):
            branch_content = OmegaConf.to_yaml(config_group, resolve=resolve)
        else:
            branch_content = str(config_group)

        branch.add(rich.syntax.Syntax(branch_content, "yaml"))

    # print config tree
    rich.print(tree)

    # save config tree to file
    if save_to_file:
        with open(Path(cfg.paths.output_dir, "config_tree.log"), "w") as file:
            rich.print(tree, file=file)


# -- src/utils/utils.py -------------------------------------------------------------------------
def extras(cfg: DictConfig) -> None:
    # return if no `extras` config
    if not cfg.get("extras"):
        log.warning("Extras config not found! <cfg.extras=null>")
        return

    # disable python warnings
    if cfg.extras.get("ignore_warnings"):
        log.info("Disabling python warnings! <cfg.extras.ignore_warnings=True>")
        warnings.filterwarnings("ignore")

    # pretty print config tree using Rich library
    if cfg.extras.get("print_config"):
        log.info("Printing config tree with Rich! <cfg.extras.print_config=True>")
        print_config_tree(cfg, resolve=True, save_to_file=True)


def task_wrapper(task_func: Callable) -> Callable:
    def wrap(cfg: DictConfig) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        # execute the task
        try:
            metric_dict, object_dict = task_func(cfg=cfg)

        # things to do if exception occurs
        except Exception as ex:
            # save exception to `.log` file
            log.exception("")

            # some hyperparameter combinations might be invalid or cause out-of-memory errors
            # so when using hparam search plugins like Optuna, you might want to disable
            # raising the below exception to avoid multirun failure
            raise ex

        # things to always do after either success or exception
        finally:
            # display output dir path in terminal
            log.info(f"Output dir: {cfg.paths.output_dir}")

            # always close wandb run (even if exception occurs so multirun won't fail)
            if find_spec("wandb"):  # check if wandb is installed
                import wandb

                if wandb.run:
                    log.info("Closing wandb!")
                    wandb.finish()

        return metric_dict, object_dict

    return wrap


def get_metric_value(metric_dict: Dict[str, Any], metric_name: Optional[str]) -> Optional[float]:
    if not metric_name:
        log.info("Metric name is None! Skipping metric value retrieval...")
        return None

    if metric_name not in metric_dict:
        raise Exception(
            f"Metric value not found! <metric_name={metric_name}>\n"
            "Make sure metric name logged in LightningModule is correct!\n"
            "Make sure `optimized_metric` name in `hparams_search` config is correct!"
        )

    metric_value = metric_dict[metric_name].item()
    log.info(f"Retrieved metric value! <{metric_name}={metric_value}>")

    return metric_value


# -- src/utils/instantiators.py -----------------------------------------------------------------
def instantiate_callbacks(callbacks_cfg: DictConfig) -> List[Callback]:
    callbacks: List[Callback] = []

    if not callbacks_cfg:
        log.warning("No callback configs found! Skipping..")
        return callbacks

    if not isinstance(callbacks_cfg, DictConfig):
        raise TypeError("Callbacks config must be a DictConfig!")

    for _, cb_conf in callbacks_cfg.items():
        if isinstance(cb_conf, DictConfig) and "_target_" in cb_conf:
            log.info(f"Instantiating callback <{cb_conf._target_}>")
            callbacks.append(instantiate(cb_conf))

    return callbacks


def instantiate_loggers(logger_cfg: DictConfig) -> List[Logger]:
    logger: List[Logger] = []

    if not logger_cfg:
        log.warning("No logger configs found! Skipping...")
        return logger

    if not isinstance(logger_cfg, DictConfig):
        raise TypeError("Logger config must be a DictConfig!")

    for _, lg_conf in logger_cfg.items():
        if isinstance(lg_conf, DictConfig) and "_target_" in lg_conf:
            log.info(f"Instantiating logger <{lg_conf._target_}>")
            logger.append(instantiate(lg_conf))

    return logger


# -- src/utils/logging_utils.py -----------------------------------------------------------------
@rank_zero_only
def log_hyperparameters(object_dict: Dict[str, Any]) -> None:
    hparams = {}

    cfg = OmegaConf.to_container(object_dict["cfg"])
    model = object_dict["model"]
    trainer = object_dict["trainer"]

    if not trainer.logger:
        log.warning("Logger not found! Skipping hyperparameter logging...")
        return

    hparams["model"] = cfg["model"]

    # save number of model parameters
    hparams["model/params/total"] = sum(p.numel() for p in model.parameters())
    hparams["model/params/trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    hparams["model/params/non_trainable"] = sum(p.numel() for p in model.parameters() if not p.requires_grad)

    hparams["data"] = cfg["data"]
    hparams["trainer"] = cfg["trainer"]

    hparams["callbacks"] = cfg.get("callbacks")
    hparams["extras"] = cfg.get("extras")

    hparams["task_name"] = cfg.get("task_name")
    hparams["tags"] = cfg.get("tags")
    hparams["ckpt_path"] = cfg.get("ckpt_path")
    hparams["seed"] = cfg.get("seed")

    # send hparams to all loggers
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)


# -- src/models/components/simple_dense_net.py, src/models/mnist_module.py ---------------------
class SimpleDenseNet(nn.Module):
    def __init__(self, input_size: int = 784, lin1_size: int = 256, lin2_size: int = 256, lin3_size: int = 256, output_size: int = 10) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, lin1_size),
            nn.BatchNorm1d(lin1_size),
            nn.ReLU(),
            nn.Linear(lin1_size, lin2_size),
            nn.BatchNorm1d(lin2_size),
            nn.ReLU(),
            nn.Linear(lin2_size, lin3_size),
            nn.BatchNorm1d(lin3_size),
            nn.ReLU(),
            nn.Linear(lin3_size, output_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_size, channels, width, height = x.size()
        x = x.view(batch_size, -1)
        return self.model(x)


class MNISTLitModule(LightningModule):
    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler, compile: bool) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.net = net
        self.criterion = torch.nn.CrossEntropyLoss()
        self.train_acc = Accuracy(task="multiclass", num_classes=10)
        self.val_acc = Accuracy(task="multiclass", num_classes=10)
        self.test_acc = Accuracy(task="multiclass", num_classes=10)
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def model_step(self, batch):
        x, y = batch
        logits = self.forward(x)
        loss = self.criterion(logits, y)
        preds = torch.argmax(logits, dim=1)
        return loss, preds, y

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, preds, targets = self.model_step(batch)
        self.train_loss(loss)
        self.train_acc(preds, targets)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)
        self.val_loss(loss)
        self.val_acc(preds, targets)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch, batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)
        self.test_loss(loss)
        self.test_acc(preds, targets)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net = torch.compile(self.net)

    def configure_optimizers(self) -> Dict[str, Any]:
        optimizer = self.hparams.optimizer(params=self.trainer.model.parameters())
        if self.hparams.scheduler is not None:
            scheduler = self.hparams.scheduler(optimizer=optimizer)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch", "frequency": 1},
            }
        return {"optimizer": optimizer}


class MNISTDataModule(LightningDataModule):
    def __init__(self, data_dir: str = "data/", train_val_test_split: Tuple[int, int, int] = (55_000, 5_000, 10_000), batch_size: int = 64, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.data_train: Optional[Dataset] = None
        self.data_val: Optional[Dataset] = None
        self.data_test: Optional[Dataset] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.data_train and not self.data_val and not self.data_test:
            # (random images in place of torchvision's MNIST train + test sets)
            g = torch.Generator().manual_seed(0)
            n = sum(self.hparams.train_val_test_split)
            dataset = TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))
            self.data_train, self.data_val, self.data_test = random_split(dataset=dataset, lengths=self.hparams.train_val_test_split, generator=torch.Generator().manual_seed(42))

    def train_dataloader(self):
        return DataLoader(dataset=self.data_train, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=True)

    def val_dataloader(self):
        return DataLoader(dataset=self.data_val, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=False)

    def test_dataloader(self):
        return DataLoader(dataset=self.data_test, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=False)


# -- src/train.py -------------------------------------------------------------------------------
@task_wrapper
def train(cfg: DictConfig) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    # set seed for random number generators in pytorch, numpy and python.random
    if cfg.get("seed"):
        L.seed_everything(cfg.seed, workers=True)

    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule: LightningDataModule = instantiate(cfg.data)

    log.info(f"Instantiating model <{cfg.model._target_}>")
    model: LightningModule = instantiate(cfg.model)

    log.info("Instantiating callbacks...")
    callbacks: List[Callback] = instantiate_callbacks(cfg.get("callbacks"))

    log.info("Instantiating loggers...")
    logger: List[Logger] = instantiate_loggers(cfg.get("logger"))

    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer: Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)

    object_dict = {"cfg": cfg, "datamodule": datamodule, "model": model, "callbacks": callbacks, "logger": logger, "trainer": trainer}

    if logger:
        log.info("Logging hyperparameters!")
        log_hyperparameters(object_dict)

    if cfg.get("train"):
        log.info("Starting training!")
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    train_metrics = trainer.callback_metrics

    if cfg.get("test"):
        log.info("Starting testing!")
        ckpt_path = trainer.checkpoint_callback.best_model_path
        if ckpt_path == "":
            log.warning("Best ckpt not found! Using current weights for testing...")
            ckpt_path = None
        trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        log.info(f"Best ckpt path: {ckpt_path}")

    test_metrics = trainer.callback_metrics

    # merge train and test metrics
    metric_dict = {**train_metrics, **test_metrics}

    return metric_dict, object_dict


# -- src/eval.py --------------------------------------------------------------------------------
@task_wrapper
def evaluate(cfg: DictConfig) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    assert cfg.ckpt_path

    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule: LightningDataModule = instantiate(cfg.data)

    log.info(f"Instantiating model <{cfg.model._target_}>")
    model: LightningModule = instantiate(cfg.model)

    log.info("Instantiating loggers...")
    logger: List[Logger] = instantiate_loggers(cfg.get("logger"))

    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer: Trainer = instantiate(cfg.trainer, logger=logger)

    object_dict = {"cfg": cfg, "datamodule": datamodule, "model": model, "logger": logger, "trainer": trainer}

    if logger:
        log.info("Logging hyperparameters!")
        log_hyperparameters(object_dict)

    log.info("Starting testing!")
    trainer.test(model=model, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=False)

    # for predictions use trainer.predict(...)
    # predictions = trainer.predict(model=model, dataloaders=dataloaders, ckpt_path=cfg.ckpt_path)

    metric_dict = trainer.callback_metrics

    return metric_dict, object_dict


def make_cfg(output_dir: str, task_name: str, **extra: Any) -> DictConfig:
    cfg = {
        "task_name": task_name,
        "tags": ["dev"],
        "train": True,
        "test": True,
        "ckpt_path": None,
        "seed": 12345,
        "data": {"_target_": MNISTDataModule, "data_dir": os.path.join(output_dir, "data"), "batch_size": 32, "train_val_test_split": (128, 64, 64), "num_workers": 0, "pin_memory": False},
        "model": {
            "_target_": MNISTLitModule,
            "optimizer": {"_target_": torch.optim.Adam, "_partial_": True, "lr": 0.001, "weight_decay": 0.0},
            "scheduler": {"_target_": torch.optim.lr_scheduler.ReduceLROnPlateau, "_partial_": True, "mode": "min", "factor": 0.1, "patience": 10},
            "net": {"_target_": SimpleDenseNet, "input_size": 784, "lin1_size": 32, "lin2_size": 32, "lin3_size": 16, "output_size": 10},
            "compile": False,
        },
        "callbacks": {
            "model_checkpoint": {"_target_": ModelCheckpoint, "dirpath": os.path.join(output_dir, "checkpoints"), "filename": "epoch_{epoch:03d}", "monitor": "val/acc", "verbose": False, "save_last": True, "save_top_k": 1, "mode": "max", "auto_insert_metric_name": False},
            "early_stopping": {"_target_": EarlyStopping, "monitor": "val/acc", "min_delta": 0.0, "patience": 100, "mode": "max"},
            "model_summary": {"_target_": RichModelSummary, "max_depth": -1},
        },
        "logger": {
            "csv": {"_target_": CSVLogger, "save_dir": output_dir, "name": "csv/", "prefix": ""},
            "tensorboard": {"_target_": TensorBoardLogger, "save_dir": os.path.join(output_dir, "tensorboard/"), "name": None, "log_graph": False, "default_hp_metric": True, "prefix": ""},
        },
        "trainer": {"_target_": Trainer, "default_root_dir": output_dir, "min_epochs": 1, "max_epochs": 2, "accelerator": "cpu", "devices": 1, "check_val_every_n_epoch": 1, "deterministic": False},
        "paths": {"output_dir": output_dir, "log_dir": output_dir},
        "extras": {"ignore_warnings": False, "enforce_tags": True, "print_config": True},
    }
    cfg.update(extra)
    return DictConfig(cfg)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with tempfile.TemporaryDirectory() as d:
        train_dir = os.path.join(d, "train")
        cfg = make_cfg(train_dir, "train")
        os.makedirs(train_dir)  # (hydra makes the run's output dir)
        extras(cfg)
        assert os.path.isfile(os.path.join(train_dir, "config_tree.log"))
        metric_dict, object_dict = train(cfg)
        for key in ("train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc"):
            assert key in metric_dict, (key, sorted(metric_dict))
        value = get_metric_value(metric_dict=metric_dict, metric_name="val/acc")
        assert isinstance(value, float) and 0.0 <= value <= 1.0
        test_acc = float(metric_dict["test/acc"])
        trainer = object_dict["trainer"]
        assert len(trainer.loggers) == 2 and trainer.logger is trainer.loggers[0]
        best = trainer.checkpoint_callback.best_model_path
        assert os.path.basename(best).startswith("epoch_"), best
        # log_hyperparameters wrote the config and the parameter counts through each logger
        with open(os.path.join(train_dir, "csv", "version_0", "hparams.yaml")) as f:
            hparams = yaml.safe_load(f)
        model = object_dict["model"]
        assert hparams["model/params/total"] == sum(p.numel() for p in model.parameters())
        assert hparams["trainer"]["max_epochs"] == 2 and hparams["seed"] == 12345
        assert hparams["model"]["net"]["lin1_size"] == 32
        assert any(f.startswith("events.out.tfevents") for f in os.listdir(trainer.loggers[1].log_dir))

        # src/eval.py on the best checkpoint
        eval_dir = os.path.join(d, "eval")
        cfg = make_cfg(eval_dir, "eval", ckpt_path=best)
        os.makedirs(eval_dir)
        del cfg["callbacks"]
        metric_dict, _ = evaluate(cfg)
        assert "test/acc" in metric_dict and "train/loss" not in metric_dict, sorted(metric_dict)
        # the same checkpoint on the same test split: the same accuracy as train()'s test
        assert float(metric_dict["test/acc"]) == test_acc, (float(metric_dict["test/acc"]), test_acc)
    print("OK")
