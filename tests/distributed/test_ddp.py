"""``strategy="ddp"`` and ``"ddp_spawn"`` for real: 2 processes, gloo, on the CPU.

Every job runs ``SCRIPT`` (written to tmp_path) in a subprocess: ``python train.py MODE OUT``
(the strategy re-runs the script for rank 1), under torchrun, or with ddp_spawn. Each rank
writes what it saw to ``OUT/rank{r}.json`` at ``on_fit_end`` (the process group still up).

Data-order equivalence with one process (``test_ddp_equals_one_process_*``): 64 samples,
``shuffle=False``, per-rank batch 4 against one process with batch 8. DistributedSampler gives
rank r the samples r, r+2, r+4, ..., so batch k of rank 0 holds samples 8k, 8k+2, 8k+4, 8k+6
and of rank 1 samples 8k+1, ..., 8k+7: together exactly the single process's batch k. Each rank
takes the mean loss over its 4 samples and DDP averages the gradients over the 2 ranks, which
is the gradient of the mean over the 8 samples: the same SGD update, up to float rounding.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
import torch

from _procs import TORCHRUN, finish, load_module, read_json, run, start, write

pytestmark = pytest.mark.slow  # multi-process

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = '''
import json, os, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle

N, ACC, LR = 64, 2, 0.1


def dataset():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 4, generator=g)
    y = x @ torch.randn(4, 1, generator=g) + 0.1 * torch.randn(N, 1, generator=g)
    return TensorDataset(x, y, torch.arange(N))


class Regression(treadle.Module):
    def __init__(self, manual=False, crash=None):
        super().__init__()
        self.automatic_optimization = not manual
        self.crash = crash
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.seen = []  # [epoch, sample indices] per training batch

    def training_step(self, batch, batch_idx):
        x, y, idx = batch
        self.seen.append([self.current_epoch, idx.tolist()])
        if self.crash is not None and batch_idx == 2 and self.global_rank == self.crash[0]:
            print(f"FAILING rank {self.global_rank} at {time.time()}", flush=True)
            if self.crash[1] == "raise":
                raise ValueError(f"rank {self.global_rank} exploded at batch 2")
            time.sleep(300)  # alive and stuck: the other rank waits in the gradient all-reduce
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("local_loss", loss, on_step=False, on_epoch=True)
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()  # the guide's manual accumulation, sync only when stepping
        stepping = (batch_idx + 1) % ACC == 0
        with self.trainer.strategy.no_backward_sync(self, enabled=not stepping):
            self.manual_backward(loss / ACC)
        if stepping:
            opt.step()
            opt.zero_grad()

    def validation_step(self, batch, batch_idx):
        x, y, idx = batch
        self.log("val_loss", F.mse_loss(self.net(x), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=LR, momentum=0.9)


class Probe(treadle.Callback):
    """Records which batches all-reduced gradients (a DDP comm hook) and the collectives."""

    def __init__(self, out):
        self.out, self.synced, self.batch = out, [], None

    def on_train_start(self, trainer, pl_module):
        ddp = getattr(trainer.strategy, "model", None)
        if ddp is None:
            return
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def counting_hook(state, bucket):
            self.synced.append(self.batch)
            return allreduce_hook(state, bucket)

        ddp.register_comm_hook(None, counting_hook)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batch = [trainer.current_epoch, batch_idx]

    def on_fit_end(self, trainer, pl_module):
        hook = trainer.plugin_manager.hook
        r = torch.tensor([float(trainer.global_rank + 1)])
        collectives = {op: hook.reduce(trainer=trainer, tensor=r, reduce_op=op).tolist()
                       for op in ("sum", "mean", "max", "min")}
        collectives["all_gather"] = hook.all_gather(trainer=trainer, tensor=r).tolist()
        collectives["module_all_gather"] = pl_module.all_gather({"r": [r]})["r"][0].tolist()
        collectives["broadcast"] = hook.broadcast(trainer=trainer, obj={"from": trainer.global_rank},
                                                  src=1)[0]
        collectives["barrier"] = hook.barrier(trainer=trainer, name="probe")
        pl_module.print(f"PRINTED by rank {trainer.global_rank}")
        env = trainer.environment
        (Path(self.out) / f"rank{trainer.global_rank}.json").write_text(json.dumps({
            "rank": trainer.global_rank, "world_size": trainer.world_size,
            "node_rank": trainer.node_rank, "local_rank": trainer.local_rank,
            "launcher": getattr(env, "launcher", None), "strategy": trainer.strategy.name,
            "params": {k: v.tolist() for k, v in pl_module.state_dict().items()},
            "seen": pl_module.seen, "synced": self.synced, "collectives": collectives,
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "global_step": trainer.global_step, "pid": os.getpid(),
        }))


class TinyGAN(treadle.Module):
    """The guide's GAN step in miniature: the discriminator's backward leaves G out."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.G, self.D = nn.Linear(2, 2), nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        x = batch[0][:, :2]
        fake = self.G(torch.randn_like(x))
        real, zero = torch.ones(len(x), 1), torch.zeros(len(x), 1)
        err_d = (F.binary_cross_entropy_with_logits(self.D(x), real)
                 + F.binary_cross_entropy_with_logits(self.D(fake.detach()), zero))
        d_opt.zero_grad()
        self.manual_backward(err_d)
        d_opt.step()
        err_g = F.binary_cross_entropy_with_logits(self.D(fake), real)
        g_opt.zero_grad()
        self.manual_backward(err_g)
        g_opt.step()

    def configure_optimizers(self):
        return (torch.optim.Adam(self.G.parameters(), lr=0.01),
                torch.optim.Adam(self.D.parameters(), lr=0.01))


def gan(out, strategy="ddp_find_unused_parameters_true"):
    """A second Trainer in the same processes: it joins the ranks launched for the first."""
    model = TinyGAN()
    trainer = treadle.Trainer(accelerator="cpu", devices=2, strategy=strategy, max_steps=6,
                              logger=False, enable_progress_bar=False, enable_checkpointing=False,
                              default_root_dir=out, process_group_timeout=30)
    trainer.fit(model, DataLoader(dataset(), batch_size=4, shuffle=True))
    Path(out, f"gan{trainer.global_rank}.json").write_text(json.dumps({
        "strategy": trainer.strategy.name, "global_step": trainer.global_step,
        "params": {k: v.tolist() for k, v in model.state_dict().items()}}))


def trainer_kwargs(out, **kw):
    base = dict(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
                enable_progress_bar=False, num_sanity_val_steps=0, default_root_dir=out,
                process_group_timeout=30, callbacks=[Probe(out)])
    base.update(kw)
    return base


def reference(out, manual=False, shuffle=False):
    """One process, batch 8: the DDP run's equal (see the test module's docstring)."""
    treadle.seed_everything(0)
    model = Regression(manual=manual)
    trainer = treadle.Trainer(**trainer_kwargs(out, devices=1, strategy="single_device",
                                               accumulate_grad_batches=1 if manual else ACC))
    trainer.fit(model, DataLoader(dataset(), batch_size=8, shuffle=shuffle),
                DataLoader(dataset(), batch_size=8))
    return read(out, 0)


def read(out, rank):
    return json.loads((Path(out) / f"rank{rank}.json").read_text())


def main(mode, out):
    treadle.seed_everything(0)
    manual = mode == "manual"
    crash = {"crash": (1, "raise"), "stuck": (1, "sleep")}.get(mode)
    kw = {}
    if not manual:
        kw["accumulate_grad_batches"] = ACC
    if mode == "spawn":
        kw["strategy"] = "ddp_spawn"
    if mode == "stuck":
        kw["process_group_timeout"] = 3
    if mode == "nodes":  # one process on each of two "nodes" (variables set by hand)
        kw.update(devices=1, num_nodes=2)
    trainer = treadle.Trainer(**trainer_kwargs(out, **kw))
    model = Regression(manual=manual, crash=crash)
    train = DataLoader(dataset(), batch_size=4, shuffle=mode == "shuffle")
    val = DataLoader(dataset(), batch_size=4)
    trainer.fit(model, train, val)
    if mode == "spawn":  # the caller's model holds rank 0's trained weights
        Path(out, "parent.json").write_text(json.dumps({
            "params": {k: v.tolist() for k, v in model.state_dict().items()},
            "global_step": trainer.global_step, "current_epoch": trainer.current_epoch,
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "best_model_path": trainer.checkpoint_callback.best_model_path}))
        return
    # A second stage in the same script: the process group comes back, nothing relaunches.
    result = trainer.validate(model, val)
    Path(out, f"validate{trainer.global_rank}.json").write_text(json.dumps(result))
    if manual:
        gan(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''


@pytest.fixture
def job(tmp_path):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    return script, out


def _reference(script: Path, out: Path, **kw) -> dict:
    """The single-process run, in this process (one rank: nothing is launched)."""
    ref_dir = out.parent / "ref"
    ref_dir.mkdir(exist_ok=True)
    return load_module(script, f"ddp_script_{id(script)}").reference(str(ref_dir), **kw)


def _assert_same_params(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(
            torch.tensor(a[key]),
            torch.tensor(b[key]),
            atol=atol,
            rtol=1e-5,
            msg=lambda m: f"{key}: {m}",  # noqa: B023 (called in this iteration)
        )


def _seen(rank: dict, epoch: int) -> list:
    return [i for e, idx in rank["seen"] if e == epoch for i in idx]


def test_ddp_equals_one_process_with_accumulation_and_no_sync(job):
    script, out = job
    log = run([sys.executable, str(script), "fit", str(out)], script.parent)
    r0, r1 = read_json(out / "rank0.json"), read_json(out / "rank1.json")
    assert (r0["world_size"], r0["launcher"], r1["launcher"]) == (2, None, "treadle")

    # Parameters identical on both ranks, and equal to one process with the same global batch.
    _assert_same_params(r0["params"], r1["params"], atol=0)
    ref = _reference(script, out)
    _assert_same_params(r0["params"], ref["params"])
    assert r0["global_step"] == r1["global_step"] == ref["global_step"] == 8  # 2 x 8 batches / 2

    # Each rank sees half the data: DistributedSampler's interleaving, disjoint, all of it.
    for epoch in (0, 1):
        s0, s1 = _seen(r0, epoch), _seen(r1, epoch)
        assert s0 == list(range(0, 64, 2)) and s1 == list(range(1, 64, 2))

    # no_sync: gradients were all-reduced only on the batches that step (odd batch_idx).
    stepping = [[e, b] for e in (0, 1) for b in range(8) if b % 2 == 1]
    assert r0["synced"] == r1["synced"] == stepping

    # sync_dist: the reduced epoch loss is the same on both ranks and equals one process's;
    # without sync_dist each rank keeps its own mean.
    for key in ("train_loss", "val_loss"):
        assert r0["metrics"][key] == pytest.approx(r1["metrics"][key], abs=1e-7)
        assert r0["metrics"][key] == pytest.approx(ref["metrics"][key], rel=1e-5)
    assert r0["metrics"]["local_loss"] != pytest.approx(r1["metrics"]["local_loss"])

    # Collectives through the strategy's hooks.
    assert (
        r0["collectives"]
        == r1["collectives"]
        == {
            "sum": [3.0],
            "mean": [1.5],
            "max": [2.0],
            "min": [1.0],
            "all_gather": [[1.0], [2.0]],
            "module_all_gather": [[1.0], [2.0]],
            "broadcast": {"from": 1},
            "barrier": True,
        }
    )

    # Rank-zero-only printing; a second stage (validate) in the same script works.
    assert log.count("PRINTED by rank") == 1 and "PRINTED by rank 0" in log, log
    v0, v1 = read_json(out / "validate0.json"), read_json(out / "validate1.json")
    assert v0 == v1 and v0[0]["val_loss"] == pytest.approx(ref["metrics"]["val_loss"], rel=1e-5)


def test_ddp_manual_optimization_with_no_backward_sync(job):
    script, out = job
    run([sys.executable, str(script), "manual", str(out)], script.parent)
    r0, r1 = read_json(out / "rank0.json"), read_json(out / "rank1.json")
    _assert_same_params(r0["params"], r1["params"], atol=0)
    ref = _reference(script, out, manual=True)
    _assert_same_params(r0["params"], ref["params"])
    # Each manual_backward syncs, except inside no_backward_sync (the accumulating batches).
    stepping = [[e, b] for e in (0, 1) for b in range(8) if b % 2 == 1]
    assert r0["synced"] == r1["synced"] == stepping
    # Two optimizers whose backward passes leave parameters out (a GAN), with random latents
    # and a shuffled loader: ddp_find_unused_parameters_true keeps the ranks equal.
    g0, g1 = read_json(out / "gan0.json"), read_json(out / "gan1.json")
    assert g0["strategy"] == "ddp_find_unused_parameters_true" and g0["global_step"] == 6
    _assert_same_params(g0["params"], g1["params"], atol=0)


def test_torchrun_launch_is_joined_and_shuffles_per_epoch(job):
    script, out = job
    log = run([*TORCHRUN, str(script), "shuffle", str(out)], script.parent)
    r0, r1 = read_json(out / "rank0.json"), read_json(out / "rank1.json")
    assert (r0["launcher"], r1["launcher"], r0["world_size"]) == ("torchrun", "torchrun", 2)
    _assert_same_params(r0["params"], r1["params"], atol=0)
    for epoch in (0, 1):  # disjoint halves of a shuffled epoch
        s0, s1 = _seen(r0, epoch), _seen(r1, epoch)
        assert len(s0) == len(s1) == 32 and sorted(s0 + s1) == list(range(64))
    assert _seen(r0, 0) != _seen(r0, 1)  # set_epoch: a new order each epoch
    assert _seen(r0, 0) != sorted(_seen(r0, 0))
    assert log.count("PRINTED by rank") == 1, log


def test_variables_set_by_hand_on_each_node_are_joined(job):
    # Lightning's clouds/cluster_intermediate_1.rst: MASTER_ADDR, MASTER_PORT, WORLD_SIZE,
    # NODE_RANK (and each process's LOCAL_RANK, no RANK) set by hand on every node; here two
    # "nodes" of one process each on this machine, as Lightning's LightningEnvironment reads them
    # (rank = NODE_RANK * processes per node + LOCAL_RANK).
    script, out = job
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        start(
            [sys.executable, str(script), "nodes", str(out)],
            script.parent,
            dict(
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                WORLD_SIZE="2",
                NODE_RANK=str(node),
                LOCAL_RANK="0",
            ),
        )
        for node in (0, 1)
    ]
    logs = [finish(p) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    r0, r1 = read_json(out / "rank0.json"), read_json(out / "rank1.json")
    assert (r0["launcher"], r1["launcher"], r0["world_size"]) == ("env", "env", 2)
    assert (r0["node_rank"], r1["node_rank"], r0["local_rank"], r1["local_rank"]) == (0, 1, 0, 0)
    _assert_same_params(r0["params"], r1["params"], atol=0)
    s0, s1 = _seen(r0, 0), _seen(r1, 0)
    assert len(s0) == len(s1) == 32 and sorted(s0 + s1) == list(range(64))


def test_ddp_spawn_returns_the_trained_weights_to_the_caller(job):
    script, out = job
    run([sys.executable, str(script), "spawn", str(out)], script.parent)
    parent, r0, r1 = (read_json(out / name) for name in ("parent.json", "rank0.json", "rank1.json"))
    assert r0["strategy"] == "ddp_spawn" and r0["launcher"] == "treadle"
    _assert_same_params(parent["params"], r0["params"], atol=0)
    _assert_same_params(r0["params"], r1["params"], atol=0)
    _assert_same_params(parent["params"], _reference(script, out)["params"])
    assert (parent["global_step"], parent["current_epoch"]) == (8, 2)
    assert parent["metrics"]["train_loss"] == pytest.approx(r0["metrics"]["train_loss"])
    # The parent's ModelCheckpoint got rank 0's state: the file rank 0 wrote.
    assert parent["best_model_path"].endswith("epoch=1-step=8.ckpt")
    assert Path(parent["best_model_path"]).is_file()


def test_a_raising_rank_ends_the_job_within_seconds(job):
    script, out = job
    proc = start([sys.executable, str(script), "crash", str(out)], script.parent)
    log = finish(proc)
    ended = time.time()
    assert proc.returncode != 0, log
    assert "ValueError: rank 1 exploded at batch 2" in log, log  # the rank's own traceback
    failed_at = float(log.split("FAILING rank 1 at ")[1].split()[0])
    assert ended - failed_at < 10, log  # ~1-2 s measured; rank 0 was in the all-reduce


def test_a_stuck_rank_is_bounded_by_process_group_timeout(job):
    script, out = job
    proc = start([sys.executable, str(script), "stuck", str(out)], script.parent)
    log = finish(proc)
    ended = time.time()
    assert proc.returncode != 0, log
    failed_at = float(log.split("FAILING rank 1 at ")[1].split()[0])
    # Rank 0 times out in the all-reduce after process_group_timeout=3 s, raises, and its
    # on_exception terminates the stuck rank 1 (finish() would time out otherwise).
    assert "Timed out" in log or "timed out" in log, log
    assert 3 <= ended - failed_at < 15, log


@pytest.mark.skipif(
    not (ROOT / "examples" / "ddp.py").exists(), reason="examples/ddp.py not written yet"
)
def test_the_ddp_example_runs(tmp_path):
    run([sys.executable, str(ROOT / "examples" / "ddp.py")], tmp_path, timeout=120)
