"""Exact resume: every path a run can be saved on resumes bit for bit (on CPU) to the run it
would have been without the interruption.

Each case runs the uninterrupted reference and the resumed run from the same seed and compares
every parameter (``torch.equal``), the optimizer state, the learning rates, ``global_step``,
``current_epoch`` and the epoch means logged after the resume point. A save from a callback
changes nothing in the run that writes it (it draws no random number), so for saves inside
``fit()`` the saving run is itself the reference; a ``max_steps`` stop needs a separate run.

Mid-epoch resume skips the consumed batches at the sampler: datasets count their
``__getitem__`` calls to show that nothing is fetched twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys

import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
)

import treadle
from treadle import checkpoint_io

N_SAMPLES, BATCH = 40, 4  # 10 batches an epoch


class Counting(Dataset):
    """A map-style dataset that counts the samples it is asked for (in this process)."""

    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(N_SAMPLES, 4, generator=g)
        self.y = torch.randn(N_SAMPLES, 1, generator=g)
        self.fetched = 0

    def __len__(self):
        return N_SAMPLES

    def __getitem__(self, i):
        self.fetched += 1
        return self.x[i], self.y[i]


class Net(treadle.Module):
    """Dropout, Adam, an epoch scheduler, optionally a plateau one and a step one; logs an epoch
    mean and records each epoch's logged mean and how often the epoch hooks ran."""

    def __init__(self, schedulers=("step_epoch",)):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
        )
        self.schedulers = schedulers
        self.epoch_means: list[float] = []
        self.epoch_ends = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x).float(), y)
        self.log("loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x).float(), y))

    def on_train_epoch_end(self):
        self.epoch_ends += 1
        self.epoch_means.append(float(self.trainer.callback_metrics["loss_epoch"]))

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.02)
        configs = []
        for kind in self.schedulers:
            if kind == "step_epoch":
                sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
                configs.append({"scheduler": sch, "interval": "epoch"})
            elif kind == "step_step":
                sch = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.9)
                configs.append({"scheduler": sch, "interval": "step"})
            else:
                sch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
                configs.append({"scheduler": sch, "interval": "epoch", "monitor": "loss_epoch"})
        return [opt], configs


class SaveAt(treadle.Callback):
    """Writes a checkpoint in ``on_train_batch_end`` at a global batch (a periodic save), or
    in ``on_train_epoch_end`` of an epoch; the run goes on."""

    def __init__(self, path, batch=None, epoch=None):
        self.path, self.batch, self.epoch, self.seen = path, batch, epoch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.batch:
            trainer.save_checkpoint(self.path)

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.save_checkpoint(self.path)


class CountEpochEnds(treadle.Callback):
    def __init__(self):
        self.calls = 0

    def on_train_epoch_end(self, trainer, pl_module):
        self.calls += 1


def _trainer(tmp_path, **kw):
    base = dict(
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
    )
    return treadle.Trainer(**{**base, **kw})


def _loader(dataset=None, **kw):
    return DataLoader(dataset or Counting(), **{"batch_size": BATCH, "shuffle": True, **kw})


def _fit(tmp_path, model_kw=None, loader=None, ckpt_path=None, val=False, **trainer_kw):
    treadle.seed_everything(0)
    model = Net(**(model_kw or {}))
    loader = loader if loader is not None else _loader()
    trainer = _trainer(tmp_path, **trainer_kw)
    val_loader = _loader(shuffle=False) if val else None
    trainer.fit(model, loader, val_loader, ckpt_path=ckpt_path)
    return model, trainer, loader


def _assert_state_equal(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_state_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_state_equal(x, y)
    else:
        assert a == b


def _assert_same_run(full, resumed):
    (m1, t1), (m2, t2) = full, resumed
    for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        assert torch.equal(p1, p2), name
    _assert_state_equal(t1.optimizers[0].state_dict(), t2.optimizers[0].state_dict())
    assert [g["lr"] for g in t1.optimizers[0].param_groups] == [
        g["lr"] for g in t2.optimizers[0].param_groups
    ]
    for c1, c2 in zip(t1.lr_scheduler_configs, t2.lr_scheduler_configs):
        _assert_state_equal(c1.scheduler.state_dict(), c2.scheduler.state_dict())
    assert (t1.global_step, t1.current_epoch) == (t2.global_step, t2.current_epoch)


# -- max_steps stops mid-epoch, then a larger max_steps resumes ------------------------------

CONFIGS = {
    "shuffle+dropout+epoch_schedulers": dict(model_kw={"schedulers": ("step_epoch", "plateau")}),
    "step_scheduler": dict(model_kw={"schedulers": ("step_step",)}),
    "num_workers=2": dict(loader_kw={"num_workers": 2}),
    "16-mixed": dict(trainer_kw={"precision": "16-mixed"}),
    "accumulate=3": dict(trainer_kw={"accumulate_grad_batches": 3}),
    "validation": dict(trainer_kw={"val_check_interval": 3}, val=True),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_max_steps_stop_mid_epoch_then_resume(tmp_path, config):
    c = CONFIGS[config]
    model_kw, loader_kw = c.get("model_kw"), c.get("loader_kw", {})
    kw = {**c.get("trainer_kw", {}), "val": c.get("val", False)}
    acc = kw.get("accumulate_grad_batches", 1)
    # stop in epoch 1 after 3 (6 with accumulation) of its 10 batches; end in epoch 2
    stop, total = (13, 26) if acc == 1 else (6, 10)
    full = _fit(tmp_path, model_kw, _loader(**loader_kw), max_steps=total, **kw)

    first = _fit(tmp_path, model_kw, _loader(**loader_kw), max_steps=stop, **kw)
    assert first[1].global_step == stop
    first[1].save_checkpoint(tmp_path / "stop.ckpt")
    loops = torch.load(tmp_path / "stop.ckpt", weights_only=True)["loops"]["fit"]
    assert loops["epoch"] == 1 and 0 < loops["batches_done"] < 10

    resumed = _fit(
        tmp_path,
        model_kw,
        _loader(**loader_kw),
        ckpt_path=tmp_path / "stop.ckpt",
        max_steps=total,
        **kw,
    )
    _assert_same_run(full[:2], resumed[:2])
    # the epoch interrupted and the following one log the means of the uninterrupted run
    assert resumed[0].epoch_means == full[0].epoch_means[1:]
    if not loader_kw:  # counted in this process: the resumed epoch fetched only its rest
        assert resumed[2].dataset.fetched == (N_SAMPLES - loops["batches_done"] * BATCH) + (
            full[2].dataset.fetched - 2 * N_SAMPLES
        )


class StopAt(treadle.Callback):
    """Asks the run to stop after a global batch, as a preemption signal handler does."""

    def __init__(self, batch):
        self.batch, self.seen = batch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.batch:
            trainer.should_stop = True


def test_a_stop_request_mid_epoch_then_resume(tmp_path):
    """``trainer.should_stop`` after batch 13 (epoch 1): the stop still validates (as
    Lightning), which the uninterrupted run does not do there; the checkpoint written after
    ``fit`` returns resumes with the RNG from before that validation."""
    kw = dict(val=True, val_check_interval=5, max_epochs=3)
    model_kw = {"schedulers": ("step_epoch", "plateau")}
    full = _fit(tmp_path, model_kw, **kw)
    _, stopped, _ = _fit(tmp_path, model_kw, callbacks=[StopAt(13)], **kw)
    assert stopped.global_step == 13
    stopped.save_checkpoint(tmp_path / "stop.ckpt")
    resumed = _fit(tmp_path, model_kw, ckpt_path=tmp_path / "stop.ckpt", **kw)
    _assert_same_run(full[:2], resumed[:2])
    assert resumed[0].epoch_means == full[0].epoch_means[1:]


def test_max_steps_stop_runs_the_epoch_end_hooks_but_not_the_epoch_schedulers(tmp_path):
    """As Lightning: the epoch-end hooks run at a ``max_steps`` stop; an epoch-interval
    scheduler (not a plateau one) steps only when all the epoch's batches ran."""
    model, trainer, _ = _fit(tmp_path, max_steps=13)
    assert model.epoch_ends == 2
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 1  # epoch 0 only


# -- saves inside fit(): periodic (batch end), epoch end ---------------------------------------

PERIODIC = {
    "mid_epoch": dict(batch=14),
    "epoch_last_batch": dict(batch=10),
    "validation_due": dict(batch=15, trainer_kw={"val_check_interval": 5}, val=True),
    "mid_accumulation": dict(batch=14, trainer_kw={"accumulate_grad_batches": 3}),
    "num_workers=2": dict(batch=14, loader_kw={"num_workers": 2}),
    "16-mixed": dict(batch=14, trainer_kw={"precision": "16-mixed"}),
    "16-mixed+accumulation": dict(
        batch=15, trainer_kw={"precision": "16-mixed", "accumulate_grad_batches": 4}
    ),
    "plateau+step_scheduler": dict(
        batch=14, model_kw={"schedulers": ("step_step", "plateau", "step_epoch")}
    ),
    "val_check_every_n_batches_across_epochs": dict(
        batch=17,
        trainer_kw={"val_check_interval": 7, "check_val_every_n_epoch": None},
        val=True,
    ),
}


@pytest.mark.parametrize("case", list(PERIODIC))
def test_periodic_save_then_resume(tmp_path, case):
    c = PERIODIC[case]
    kw = {**c.get("trainer_kw", {}), "val": c.get("val", False), "max_epochs": 3}
    path = tmp_path / "periodic.ckpt"
    loader_kw = c.get("loader_kw", {})
    full = _fit(
        tmp_path,
        c.get("model_kw"),
        _loader(**loader_kw),
        callbacks=[SaveAt(path, c["batch"])],
        **kw,
    )
    saved = torch.load(path, weights_only=True)["loops"]["fit"]
    assert saved["batches_done"] == (c["batch"] - 1) % 10 + 1
    if case.startswith("mid_accumulation") or case == "16-mixed+accumulation":
        assert saved["grads"]  # the window's gradients so far
    resumed = _fit(tmp_path, c.get("model_kw"), _loader(**loader_kw), ckpt_path=path, **kw)
    _assert_same_run(full[:2], resumed[:2])
    epoch = (c["batch"] - 1) // 10
    assert resumed[0].epoch_means == full[0].epoch_means[epoch:]
    if not loader_kw:
        rest = 3 * N_SAMPLES - c["batch"] * BATCH
        assert resumed[2].dataset.fetched == rest


@pytest.mark.parametrize("schedulers", [("step_epoch",), ("plateau",), ("step_epoch", "plateau")])
def test_epoch_end_save_resumes_at_the_next_epoch(tmp_path, schedulers):
    path = tmp_path / "epoch.ckpt"
    model_kw = {"schedulers": schedulers}
    counter = CountEpochEnds()
    full = _fit(tmp_path, model_kw, callbacks=[SaveAt(path, epoch=1), counter], max_epochs=4)
    assert counter.calls == 4
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 1 and saved["loops"]["fit"]["epoch"] == 2
    assert saved["loops"]["fit"]["batches_done"] == 0

    counter = CountEpochEnds()
    resumed = _fit(tmp_path, model_kw, ckpt_path=path, callbacks=[counter], max_epochs=4)
    _assert_same_run(full[:2], resumed[:2])
    assert counter.calls == resumed[0].epoch_ends == 2  # epochs 2 and 3, not epoch 1 again
    assert resumed[2].dataset.fetched == 2 * N_SAMPLES  # the finished epoch is not read again
    assert resumed[0].epoch_means == full[0].epoch_means[2:]


def test_a_save_after_fit_resumes_with_more_epochs(tmp_path):
    full = _fit(tmp_path, max_epochs=3)
    _, first, _ = _fit(tmp_path, max_epochs=2)
    first.save_checkpoint(tmp_path / "end.ckpt")
    resumed = _fit(tmp_path, ckpt_path=tmp_path / "end.ckpt", max_epochs=3)
    _assert_same_run(full[:2], resumed[:2])
    assert resumed[2].dataset.fetched == N_SAMPLES


def test_the_sanity_check_leaves_the_rng_as_it_was(tmp_path):
    """As Lightning (``isolate_rng``): with or without the sanity check, the same run; so an
    epoch-boundary resume, which runs it, trains as the uninterrupted run did."""
    without = _fit(tmp_path, val=True, max_epochs=1)
    with_check = _fit(tmp_path, val=True, max_epochs=1, num_sanity_val_steps=2)
    _assert_same_run(without[:2], with_check[:2])


# -- skipping at the sampler ---------------------------------------------------------------


def _batch_sampler_loader():
    ds = Counting()
    return DataLoader(ds, batch_sampler=BatchSampler(RandomSampler(ds), BATCH, drop_last=False))


def _distributed_loader():
    ds = Counting()  # rank 0 of 2: its half of a shuffled order, set_epoch by the loop
    return DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, 2, 0, shuffle=True, seed=3))


LOADERS = {
    "sequential": lambda: _loader(shuffle=False),
    "random": lambda: _loader(),
    "random_with_generator": lambda: _loader(generator=torch.Generator().manual_seed(5)),
    "batch_sampler": _batch_sampler_loader,
    "distributed_sampler": _distributed_loader,
    "drop_last": lambda: DataLoader(Counting(), batch_size=6, shuffle=True, drop_last=True),
}


@pytest.mark.parametrize("kind", list(LOADERS))
def test_mid_epoch_resume_skips_at_the_sampler(tmp_path, kind):
    path = tmp_path / "mid.ckpt"
    per_epoch = len(LOADERS[kind]())
    at = per_epoch + 3  # in the second epoch: its order comes from the first one's draws
    full = _fit(tmp_path, loader=LOADERS[kind](), callbacks=[SaveAt(path, at)], max_epochs=3)
    resumed = _fit(tmp_path, loader=LOADERS[kind](), ckpt_path=path, max_epochs=3)
    _assert_same_run(full[:2], resumed[:2])
    batch = full[2].batch_size or full[2].batch_sampler.batch_size
    assert resumed[2].dataset.fetched == full[2].dataset.fetched - at * batch


class Stream(IterableDataset):
    """An iterable dataset of 40 samples; counts what it yields. With ``stateful``, it keeps its
    position (``state_dict``/``load_state_dict``) and resumes from it."""

    def __init__(self, stateful):
        self.data = Counting()
        self.fetched, self.position, self.stateful = 0, 0, stateful

    def __len__(self):
        return N_SAMPLES

    def __iter__(self):
        start = self.position if self.stateful else 0
        for i in range(start, N_SAMPLES):
            self.fetched += 1
            self.position = i + 1
            yield self.data.x[i], self.data.y[i]
        self.position = 0


class StatefulStream(Stream):
    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]


@pytest.mark.parametrize("stateful", [False, True])
def test_iterable_datasets_fetch_and_drop_or_resume_their_own_state(tmp_path, stateful):
    path = tmp_path / "mid.ckpt"

    def make():
        return DataLoader(StatefulStream(True) if stateful else Stream(False), batch_size=BATCH)

    full = _fit(tmp_path, loader=make(), callbacks=[SaveAt(path, 7)], max_epochs=2)
    resumed = _fit(tmp_path, loader=make(), ckpt_path=path, max_epochs=2)
    _assert_same_run(full[:2], resumed[:2])
    skipped = 7 * BATCH
    expected = 2 * N_SAMPLES - skipped if stateful else 2 * N_SAMPLES  # fetched and dropped
    assert resumed[2].dataset.fetched == expected


class StatefulLoader:
    """A loader that keeps its own position, as torchdata's ``StatefulDataLoader`` does:
    ``state_dict()`` at a save, ``load_state_dict()`` before the resumed epoch is read."""

    def __init__(self):
        self.dataset = Counting()
        self.position = 0
        self.batch_size = BATCH

    def __len__(self):
        return N_SAMPLES // BATCH

    def __iter__(self):
        while self.position < len(self):
            i = self.position * BATCH
            self.position += 1
            samples = [self.dataset[j] for j in range(i, i + BATCH)]
            yield torch.stack([x for x, _ in samples]), torch.stack([y for _, y in samples])
        self.position = 0

    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]


def test_a_loader_with_its_own_state_resumes_from_it(tmp_path):
    path = tmp_path / "mid.ckpt"
    full = _fit(tmp_path, loader=StatefulLoader(), callbacks=[SaveAt(path, 13)], max_epochs=2)
    assert torch.load(path, weights_only=True)["loops"]["fit"]["dataloader"] == {"position": 3}
    resumed = _fit(tmp_path, loader=StatefulLoader(), ckpt_path=path, max_epochs=2)
    _assert_same_run(full[:2], resumed[:2])
    assert resumed[2].dataset.fetched == 2 * N_SAMPLES - 13 * BATCH


# -- the file ----------------------------------------------------------------------------------


def test_a_mid_epoch_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / "mid.ckpt"
    _fit(
        tmp_path,
        {"schedulers": ("step_epoch", "plateau")},
        callbacks=[SaveAt(path, 14)],
        max_epochs=2,
        accumulate_grad_batches=3,
    )
    loops = torch.load(path, weights_only=True)["loops"]["fit"]
    assert {"epoch_rng", "metrics", "grads", "total_batches", "validation_pending"} <= set(loops)
    assert loops["metrics"]["loss"]["weight"] == 4 * BATCH


@pytest.mark.parametrize("ranks", ["rank zero", [], [{}, 3]])
def test_a_damaged_ranks_entry_is_a_checkpoint_error(tmp_path, ranks):
    path = tmp_path / "mid.ckpt"
    _fit(tmp_path, callbacks=[SaveAt(path, 4)], max_epochs=1)
    ckpt = torch.load(path, weights_only=True)
    ckpt["loops"]["fit"]["ranks"] = ranks
    torch.save(ckpt, path)
    message = (
        f"checkpoint {str(path)!r}: its `loops.fit.ranks` is not a list of dicts, one a rank "
        "(what treadle writes mid-epoch on several ranks): the file is "
        "damaged or was not written by treadle. Resume from another checkpoint."
    )
    with pytest.raises(treadle.CheckpointError, match=re.escape(message)):
        _fit(tmp_path, ckpt_path=path, max_epochs=2)


def test_an_old_checkpoint_without_the_new_keys_still_resumes(tmp_path):
    """A mid-epoch checkpoint of the earlier format (epoch, batches_done, epoch_rng only)."""
    path = tmp_path / "mid.ckpt"
    full = _fit(tmp_path, callbacks=[SaveAt(path, 14)], max_epochs=2)
    ckpt = torch.load(path, weights_only=True)
    ckpt["loops"]["fit"] = {
        k: ckpt["loops"]["fit"][k] for k in ("epoch", "batches_done", "epoch_rng")
    }
    checkpoint_io.save(ckpt, tmp_path / "old.ckpt") if hasattr(
        checkpoint_io, "save"
    ) else torch.save(ckpt, tmp_path / "old.ckpt")
    resumed = _fit(tmp_path, ckpt_path=tmp_path / "old.ckpt", max_epochs=2)
    _assert_same_run(full[:2], resumed[:2])  # the metric means of that epoch are not kept


# -- several processes: DDP (2 ranks, gloo) and DeepSpeed --------------------------------------

DDP_JOB = """
import json, sys
from pathlib import Path
import torch
from torch.utils.data import DataLoader, Dataset
import treadle

MODE, OUT = sys.argv[1], Path(sys.argv[2])
STRATEGY = sys.argv[3]


class Counting(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g)
        self.fetched = 0

    def __len__(self):
        return 64

    def __getitem__(self, i):
        self.fetched += 1
        return self.x[i], self.y[i]


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self.net(batch[0]).float(), batch[1].float())
        self.log("loss", loss, on_epoch=True, sync_dist=True)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.02)
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return [opt], [{"scheduler": sch, "interval": "epoch"}]


class SaveAt(treadle.Callback):
    def __init__(self, path, batch):
        self.path, self.batch, self.seen = path, batch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.batch:
            trainer.save_checkpoint(self.path)


def params(module):
    if STRATEGY.startswith("deepspeed"):
        import deepspeed
        ps = list(module.parameters())
        with deepspeed.zero.GatheredParameters(ps, modifier_rank=None):
            return [p.detach().double().flatten().tolist() for p in ps]
    return [p.detach().double().flatten().tolist() for p in module.parameters()]


def fit(name, ckpt_path=None, callbacks=(), **kw):
    treadle.seed_everything(0)
    model, data = Net(), Counting()
    loader = DataLoader(data, batch_size=4, shuffle=True)  # 8 batches a rank and epoch
    trainer = treadle.Trainer(
        accelerator="cpu", devices=2, strategy=STRATEGY, logger=False,
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=list(callbacks), **kw)
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    lr = trainer.lr_scheduler_configs[0].scheduler.get_last_lr()
    record = {"params": params(model), "global_step": trainer.global_step,
              "epoch": trainer.current_epoch, "lr": lr, "fetched": data.fetched,
              "loss": float(trainer.callback_metrics["loss_epoch"])}
    (OUT / f"{name}{trainer.global_rank}.json").write_text(json.dumps(record))
    return trainer


if MODE == "train":
    fit("full", callbacks=[SaveAt(OUT / "periodic.ckpt", 11)], max_epochs=3)
    fit("stopped", max_steps=13).save_checkpoint(OUT / "stop.ckpt")
else:
    fit("periodic", ckpt_path=OUT / "periodic.ckpt", max_epochs=3)
    fit("resumed", ckpt_path=OUT / "stop.ckpt", max_epochs=3)
"""


def _run_job(script, args, cwd, timeout):
    """Run a multi-process job in its own session; all of it is killed on a timeout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
        and not k.startswith(("SLURM_", "TORCHELASTIC", "TREADLE_LAUNCHED"))
    }
    env.update(PYTHONUNBUFFERED="1", DS_ACCELERATOR="cpu")
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"job still running after {timeout}s:\n{out}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out


def _records(out, name):
    return [json.loads((out / f"{name}{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy",
    [
        "ddp",
        pytest.param(
            "deepspeed_stage_2",
            marks=pytest.mark.skipif(
                not treadle.module_available("deepspeed"), reason="deepspeed is not installed"
            ),
        ),
    ],
)
def test_two_ranks_resume_exactly(tmp_path, strategy):
    """A periodic save in epoch 1 and a ``max_steps`` stop mid-epoch, on 2 ranks with a
    shuffled ``DistributedSampler``: each rank resumes to its uninterrupted parameters and
    fetches only the batches it had not run."""
    script = tmp_path / "job.py"
    script.write_text(DDP_JOB)
    out = tmp_path / "out"
    out.mkdir()
    _run_job(script, ["train", str(out), strategy], tmp_path, timeout=240)
    _run_job(script, ["resume", str(out), strategy], tmp_path, timeout=240)
    full = _records(out, "full")
    for name, done in (("periodic", 11), ("resumed", 13)):
        for rank, (a, b) in enumerate(zip(full, _records(out, name))):
            assert a["params"] == b["params"], (name, rank)
            assert (a["global_step"], a["epoch"], a["lr"]) == (
                b["global_step"],
                b["epoch"],
                b["lr"],
            )
            assert a["loss"] == b["loss"], (name, rank)  # the last epoch's synced mean
            assert b["fetched"] == a["fetched"] - done * 4, (name, rank)
    stopped = _records(out, "stopped")
    assert stopped[0]["params"] != full[0]["params"]


# -- several ranks: each rank's own gradients and epoch values ---------------------------------

# Every rank reads its own share of the data (a shuffled ``DistributedSampler``) and draws its
# own dropout, so the ranks' local gradients inside an accumulation window (DDP's ``no_sync``)
# and their epoch accumulators differ. Each rank records the epoch values it sees at every epoch
# end: ``sync`` (``sync_dist=True``: the mean over both ranks) and ``local`` (its own mean).
RANKS_JOB = (
    DDP_JOB.split("class Net")[0]
    + """
class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        self.means = []

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self.net(batch[0]).float(), batch[1].float())
        self.log("sync", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("local", loss * (1 + self.global_rank), on_step=False, on_epoch=True)
        return loss

    def on_train_epoch_end(self):
        metrics = self.trainer.callback_metrics
        self.means.append([float(metrics["sync"]), float(metrics["local"])])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)


class SaveAt(treadle.Callback):
    def __init__(self, path, batch):
        self.path, self.batch, self.seen = path, batch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen += 1
        if self.seen == self.batch:
            trainer.save_checkpoint(self.path)


def fit(name, ckpt_path=None, callbacks=(), **kw):
    treadle.seed_everything(0)
    model = Net()
    loader = DataLoader(Counting(), batch_size=4, shuffle=True)  # 8 batches a rank and epoch
    trainer = treadle.Trainer(
        accelerator="cpu", devices=2, strategy=STRATEGY, logger=False, max_epochs=3,
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=list(callbacks), **kw)
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    record = {"params": [p.detach().double().flatten().tolist() for p in model.parameters()],
              "global_step": trainer.global_step, "means": model.means}
    (OUT / f"{name}{trainer.global_rank}.json").write_text(json.dumps(record))


# window: epoch 1, batch 4 (batches 3 and 4 of the window 3-5 accumulated); epoch: epoch 1,
# batch 3, no accumulation
if MODE == "train":
    fit("window", callbacks=[SaveAt(OUT / "window.ckpt", 13)], accumulate_grad_batches=3)
    fit("epoch", callbacks=[SaveAt(OUT / "epoch.ckpt", 11)])
else:
    fit("window_resumed", ckpt_path=OUT / "window.ckpt", accumulate_grad_batches=3)
    fit("epoch_resumed", ckpt_path=OUT / "epoch.ckpt")
"""
)


@pytest.fixture(scope="module")
def ranks_job(request, tmp_path_factory):
    """The two 2-rank runs (a save inside an accumulation window, a save mid-epoch) and their
    resumed runs, under ``ddp`` unless parametrized with another strategy; the output folder."""
    strategy = getattr(request, "param", "ddp")
    tmp = tmp_path_factory.mktemp(f"ranks_{strategy}")
    script = tmp / "job.py"
    script.write_text(RANKS_JOB)
    out = tmp / "out"
    out.mkdir()
    _run_job(script, ["train", str(out), strategy], tmp, timeout=300)
    _run_job(script, ["resume", str(out), strategy], tmp, timeout=300)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "ranks_job",
    [
        "ddp",
        # ZeRO stage 1 leaves the window's local gradients in ``param.grad`` until the step;
        # stage 2 and 3 keep them in the engine, and the strategy saves them
        # (tests/deepspeed/test_deepspeed_window.py)
        pytest.param(
            "deepspeed_stage_1",
            marks=pytest.mark.skipif(
                not treadle.module_available("deepspeed"), reason="deepspeed is not installed"
            ),
        ),
    ],
    indirect=True,
)
@pytest.mark.parametrize("case", ["window", "epoch"])
def test_two_ranks_resume_their_own_gradients_and_epoch_values(ranks_job, case):
    """A save inside an accumulation window (``accumulate_grad_batches=3``) and one mid-epoch:
    each rank resumes with its own partial gradients and epoch accumulators, so its parameters
    and the epoch values logged from the resumed epoch on (synced and its own) are those of the
    uninterrupted run."""
    full, resumed = _records(ranks_job, case), _records(ranks_job, f"{case}_resumed")
    assert full[0]["means"][1][1] != full[1]["means"][1][1]  # the ranks' own means differ
    for rank, (a, b) in enumerate(zip(full, resumed)):
        assert a["params"] == b["params"], (case, rank)
        assert a["global_step"] == b["global_step"]
        assert a["means"][1:] == b["means"], (case, rank)  # epochs 1 (resumed in) and 2
    if (ranks_job / f"{case}.ckpt").is_dir():  # DeepSpeed's checkpoint folder
        return
    ckpt = torch.load(ranks_job / f"{case}.ckpt", weights_only=True)
    fit = ckpt["loops"]["fit"]
    assert [("grads" in r) for r in fit["ranks"]] == [case == "window"] * 2
    assert "metrics" not in fit and "grads" not in fit


@pytest.mark.slow
def test_a_save_inside_a_window_on_two_ranks_refuses_another_world_size(ranks_job, tmp_path):
    path = ranks_job / "window.ckpt"
    with pytest.raises(treadle.CheckpointError) as err:
        _fit(tmp_path, ckpt_path=path, accumulate_grad_batches=3, max_epochs=3)
    assert str(err.value) == (
        f"checkpoint {str(path)!r}: it was saved on 2 ranks inside a gradient accumulation "
        "window (each rank's partial gradients are in it) and this run has 1. Resume it on 2 "
        "ranks, or resume from a checkpoint saved outside an accumulation window (after a "
        "batch that steps the optimizer)."
    )


@pytest.mark.slow
def test_a_mid_epoch_save_on_two_ranks_resumes_on_one_with_rank_zeros_epoch_values(
    ranks_job, tmp_path
):
    path = ranks_job / "epoch.ckpt"
    message = (
        f"checkpoint {str(path)!r} was saved mid-epoch on 2 ranks and this run has 1: every "
        "rank continues the epoch's `on_epoch=True` values from rank zero's"
    )
    with pytest.warns(UserWarning, match=re.escape(message)):
        model, trainer, _ = _fit(tmp_path, ckpt_path=path, max_epochs=2)
    assert trainer.global_step == 11 + 7  # the 7 batches left of this loader's epoch 1
    saved = torch.load(path, weights_only=True)["loops"]["fit"]["ranks"][0]["metrics"]["local"]
    assert trainer.callback_metrics["local"] == saved["total"] / saved["weight"]  # rank zero's


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
