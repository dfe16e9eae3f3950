"""The training job the FSDP tests run: ``python _fsdp_job.py OUT CONFIGS_JSON`` (the strategy
re-runs it for rank 1) or under torchrun. ``CONFIGS_JSON`` is a list of runs, done one after the
other in the same processes (a 2-rank start costs seconds; a run costs a fraction of one).

Each run trains ``Net`` on the same 64 samples (global batch 16: 16 per rank on one process, 8
on two) and writes ``OUT/{tag}.rank{r}.json`` at ``on_train_end``, while the process group is
up: the full weights (gathered), the losses this rank saw, the global step and the bytes of
parameters and optimizer states this rank holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.callbacks import ModelCheckpoint

N, GLOBAL_BATCH, WIDTH = 64, 16, 15  # 15: shards of unequal size on 2 ranks


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.lin = nn.Linear(width, width)

    def forward(self, x):
        return torch.tanh(self.lin(x))


class Net(treadle.Module):
    def __init__(
        self,
        manual=False,
        acc=1,
        clip=None,
        algo="norm",
        width=WIDTH,
        blocks=2,
        meta=False,
        outputs=1,
        lbfgs=False,
    ):
        super().__init__()
        self.automatic_optimization = not manual
        self.acc, self.clip, self.algo = acc, clip, algo
        self.width, self.n_blocks, self.meta = width, blocks, meta
        self.outputs, self.lbfgs = outputs, lbfgs
        self.inp = self.blocks = self.out = None
        if not meta:
            self.configure_model()
        self.losses = []

    def configure_model(self):
        if self.inp is not None:
            return
        device = torch.device("meta") if self.meta else torch.device("cpu")
        with device:
            self.inp = nn.Linear(4, self.width)
            self.blocks = nn.Sequential(*[Block(self.width) for _ in range(self.n_blocks)])
            self.out = nn.Linear(self.width, self.outputs)

    def forward(self, x):
        return self.out(self.blocks(self.inp(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        loss = F.mse_loss(out, y.expand_as(out))
        self.losses.append(float(loss.detach()))
        self.compute_dtype = str(self.out.weight.dtype)  # FSDP's gathered copy, inside forward
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        stepping = (batch_idx + 1) % self.acc == 0
        with self.trainer.strategy.no_backward_sync(self, enabled=not stepping):
            self.manual_backward(loss / self.acc)
        if stepping:
            if self.clip:
                self.clip_gradients(opt, self.clip, self.algo)
            opt.step()
            opt.zero_grad()
        return None

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", F.mse_loss(out, y.expand_as(out)), sync_dist=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("test_loss", F.mse_loss(out, y.expand_as(out)), sync_dist=True)

    def predict_step(self, batch, batch_idx):
        return self(batch[0])

    def configure_optimizers(self):
        if self.lbfgs:  # every first dimension even: FSDP can flatten the shards
            return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=4)
        return torch.optim.AdamW(self.parameters(), lr=0.05)


def dataset():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 4, generator=g)
    y = torch.sin(x.sum(1, keepdim=True)) + 0.1 * torch.randn(N, 1, generator=g)
    return TensorDataset(x, y)


def local_bytes(tensors) -> int:
    from torch.distributed.tensor import DTensor

    total = 0
    for t in tensors:
        t = t.to_local() if isinstance(t, DTensor) else t
        total += t.numel() * t.element_size()
    return total


def full_weights(module) -> dict:
    from torch.distributed.tensor import DTensor

    return {
        n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().double().flatten().tolist()
        for n, p in module.named_parameters()
    }


class Record(treadle.Callback):
    def __init__(self, out: Path, tag: str) -> None:
        self.out, self.tag = out, tag

    def on_train_end(self, trainer, pl_module):
        opt = pl_module.optimizers()
        opt = getattr(opt, "optimizer", opt)
        state = [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        record = {
            "world_size": trainer.world_size,
            "global_step": trainer.global_step,
            "weights": full_weights(pl_module),
            "losses": pl_module.losses,
            "param_bytes": local_bytes(pl_module.parameters()),
            "optim_bytes": local_bytes(state),
            "param_types": sorted({type(p).__name__ for p in pl_module.parameters()}),
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "compute_dtype": getattr(pl_module, "compute_dtype", None),
            "device": str(pl_module.device),
            "optimizer_steps": [float(s["step"]) for s in opt.state.values() if "step" in s],
        }
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            record["scale"] = scaler.get_scale()
        path = self.out / f"{self.tag}.rank{trainer.global_rank}.json"
        path.write_text(json.dumps(record))


class SigtermAt(treadle.Callback):
    """Rank zero sends itself SIGTERM after optimizer step ``step`` (a preemption notice)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == 0 and trainer.global_step <= self.step:
            import time

            # The ranks compare their signals every ~0.5 s of batches (treadle._signals): on a
            # fast machine that window outlasts this 6-step run, and the signal would only be
            # seen when the run ends. Batches this slow make the ranks compare after each one.
            time.sleep(0.6)
        if trainer.global_rank == 0 and trainer.global_step == self.step:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)


class InfAt(treadle.Callback):
    """Rank 1 makes the first element of its shard of ``inp.weight``'s gradient inf after the
    backward that reduces the gradients of optimizer step ``step`` (rank 0's shard stays
    finite; inside an accumulation window there is no sharded gradient yet)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_after_backward(self, trainer, pl_module):
        grad = pl_module.inp.weight.grad
        if trainer.global_rank == 1 and trainer.global_step == self.step and grad is not None:
            grad.to_local().view(-1)[0] = float("inf")


class SaveAt(treadle.Callback):
    """``trainer.save_checkpoint(OUT/name)`` after batch ``batch_idx`` of epoch ``epoch``."""

    def __init__(self, out: Path, epoch: int, batch_idx: int, name: str) -> None:
        self.path, self.epoch, self.batch_idx = out / name, epoch, batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch_idx:
            trainer.save_checkpoint(self.path)


def fit(out: Path, cfg: dict) -> None:
    from treadle_plugins import FSDPStrategy

    torch.manual_seed(0)
    model = Net(**cfg.get("model", {}))
    devices = cfg.get("devices", 2)
    if cfg.get("strategy", "fsdp") == "fsdp":
        options = dict(cfg.get("fsdp", {}))
        if options.pop("checkpoint_blocks", False):
            options["activation_checkpointing"] = {Block}
        strategy = FSDPStrategy(auto_wrap_policy={Block}, **options)
    else:
        strategy = cfg["strategy"]
    callbacks = [Record(out, cfg["tag"])]
    if "inf_at" in cfg:
        callbacks.append(InfAt(cfg["inf_at"]))
    if "save_at" in cfg:  # [epoch, batch_idx, name]
        callbacks.append(SaveAt(out, *cfg["save_at"]))
    if "sigterm_at" in cfg:
        callbacks.append(SigtermAt(cfg["sigterm_at"]))
    if "save_every" in cfg:
        callbacks.append(
            ModelCheckpoint(
                dirpath=out / cfg.get("ckpt_dir", "ckpt"),
                every_n_train_steps=cfg["save_every"],
                save_top_k=-1,
                save_last=True,
                save_weights_only=cfg.get("weights_only", False),
            )
        )
    trainer = treadle.Trainer(
        strategy=strategy,
        devices=devices,
        num_nodes=cfg.get("num_nodes", 1),
        precision=cfg.get("precision", "32-true"),
        max_steps=cfg.get("max_steps", 6),
        accumulate_grad_batches=cfg.get("acc", 1),
        gradient_clip_val=cfg.get("clip"),
        gradient_clip_algorithm=cfg.get("algo"),
        limit_val_batches=cfg.get("limit_val_batches", 1.0 if cfg.get("evaluate") else 0),
        callbacks=callbacks,
        logger=False,
        enable_checkpointing="save_every" in cfg,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=out,
    )
    world = trainer.world_size
    loader = DataLoader(dataset(), batch_size=GLOBAL_BATCH // world)
    ckpt = cfg.get("ckpt")
    if ckpt is not None and ckpt != "last":
        ckpt = str(out / ckpt)
    val = loader if cfg.get("limit_val_batches") else None
    trainer.fit(model, loader, val, ckpt_path=ckpt)
    if cfg.get("evaluate"):  # then validate, test and predict on the Module fit sharded
        evaluate(out, cfg["tag"], trainer, model, DataLoader(dataset(), batch_size=8))


def evaluate(out: Path, tag: str, trainer, model, loader) -> None:
    """``OUT/{tag}.eval.rank{r}.json``: what validate, test and predict return on this rank,
    and the full weights. (Rank r of N predicts samples r, r + N, ...: DistributedSampler.)"""
    validated = trainer.validate(model, loader)
    tested = trainer.test(model, loader)
    predictions = trainer.predict(model, loader)
    record = {
        "validate": validated,
        "test": tested,
        "predict": [p.double().flatten().tolist() for p in predictions],
        "param_types": sorted({type(p).__name__ for p in model.parameters()}),
        "weights": full_weights(model),
    }
    path = out / f"{tag}.eval.rank{trainer.global_rank}.json"
    path.write_text(json.dumps(record))


def main() -> None:
    out = Path(sys.argv[1])
    for cfg in json.loads(sys.argv[2]):
        fit(out, cfg)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
