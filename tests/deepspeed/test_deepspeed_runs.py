"""DeepSpeed for real: 2 processes (gloo, CPU), ZeRO stages 1-3, fp32 and bf16, automatic and
manual optimization, accumulation, offload, checkpoints, torchrun, a crashing rank.

Every job is a script written to tmp_path and run as ``python job.py OUT`` (the strategy
re-runs it for rank 1) or under torchrun. A DeepSpeed start costs several seconds, so one job
runs many configurations one after the other (each a fresh Trainer and engine in the same two
processes). Each rank appends what it saw to ``OUT/rank{r}.jsonl`` at ``on_fit_end``.

The numerical oracle (``expected_params``) is plain PyTorch in the test process: each step, the
gradients of the two ranks' mean losses are averaged (what ZeRO's reduce computes) and fed to
``torch.optim.Adam``. ``DistributedSampler(shuffle=False)`` gives rank r the samples r, r+2, ...
"""

from __future__ import annotations

import json
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from _ds_jobs import TORCHRUN, records, run, write

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not treadle.module_available("deepspeed"),
        reason="deepspeed is not installed (pip install treadle[deepspeed])",
    ),
]

N, BS, LR, EPOCHS = 64, 4, 0.01, 3

TRAIN = f"""
import json, os, sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

OUT = sys.argv[1]
N, BS, LR, EPOCHS = {N}, {BS}, {LR}, {EPOCHS}


def dataset():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 8, generator=g)
    y = torch.tanh(x @ torch.randn(8, 1, generator=g))
    return TensorDataset(x, y, torch.arange(N))


class Regression(treadle.Module):
    def __init__(self, manual=False, crash=False, accumulate=1):
        super().__init__()
        self.automatic_optimization = not manual
        self.crash, self.accumulate = crash, accumulate
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
        self.epoch_losses, self.seen = [], []

    def on_train_epoch_start(self):
        self.epoch_losses.append([])
        self.seen.append([])

    def training_step(self, batch, batch_idx):
        x, y, idx = batch
        if self.crash and self.global_rank == 1 and batch_idx == 2:
            raise ValueError("rank 1 exploded at batch 2")
        self.seen[-1] += idx.tolist()
        loss = F.mse_loss(self.net(x).float(), y.float())
        self.epoch_losses[-1].append(loss.item())
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        stepping = (batch_idx + 1) % self.accumulate == 0
        with self.trainer.strategy.no_backward_sync(self, enabled=not stepping):  # as for ddp
            self.manual_backward(loss / self.accumulate)
        if stepping:
            opt.step()
            opt.zero_grad()

    def validation_step(self, batch, batch_idx):
        x, y, idx = batch
        self.log("val_loss", F.mse_loss(self.net(x).float(), y.float()), sync_dist=True)
        self.log("val_rank", float(self.global_rank), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=LR)

    def on_fit_end(self):
        import deepspeed
        params = list(self.parameters())
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            flat = [p.detach().double().flatten().tolist() for p in params]
            dtype = str(params[0].dtype)
        trainer = self.trainer
        engine = trainer.strategy.engine
        record = {{"name": NAME, "rank": self.global_rank, "world_size": trainer.world_size,
                  "params": flat, "dtype": dtype,
                  "epoch_losses": [sum(l) / len(l) for l in self.epoch_losses],
                  "seen": self.seen, "global_step": self.global_step,
                  "val_loss": float(trainer.callback_metrics["val_loss"]),
                  "val_rank": float(trainer.callback_metrics["val_rank"]),
                  "zero_stage": engine.zero_optimization_stage(),
                  "bf16": engine.bfloat16_enabled(), "autocast": engine.torch_autocast_enabled(),
                  "offload": engine.zero_cpu_offload(),
                  "precision_plugin_enabled": getattr(trainer.precision_plugin, "enabled", None),
                  "launcher": os.environ.get("TORCHELASTIC_RUN_ID") and "torchrun"}}
        with open(os.path.join(OUT, f"rank{{self.global_rank}}.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\\n")


CONFIGS = [
    # name, strategy, precision, manual, accumulate
    ("s1_fp32", "deepspeed_stage_1", "32-true", False, 1),
    ("s2_fp32", "deepspeed_stage_2", "32-true", False, 1),
    ("s3_fp32", "deepspeed_stage_3", "32-true", False, 1),
    ("s1_bf16", "deepspeed_stage_1", "bf16-true", False, 1),
    ("s2_bf16", "deepspeed_stage_2", "bf16-true", False, 1),
    ("s3_bf16", "deepspeed_stage_3", "bf16-true", False, 1),
    ("s2_bf16mixed", "deepspeed_stage_2", "bf16-mixed", False, 1),
    ("s3_bf16mixed", "deepspeed_stage_3", "bf16-mixed", False, 1),
    ("s2_manual", "deepspeed_stage_2", "32-true", True, 1),
    ("s3_manual", "deepspeed_stage_3", "32-true", True, 1),
    ("s3_manual_bf16", "deepspeed_stage_3", "bf16-true", True, 1),
    ("s2_acc2", "deepspeed_stage_2", "32-true", False, 2),
    ("s2_manual_acc2", "deepspeed_stage_2", "32-true", True, 2),
    ("s3_acc2", "deepspeed_stage_3", "32-true", False, 2),
    ("s2_offload", "deepspeed_stage_2_offload", "32-true", False, 1),
    ("s3_offload", "deepspeed_stage_3_offload", "32-true", False, 1),
]
only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
for NAME, strategy, precision, manual, acc in CONFIGS:
    if only and NAME not in only:
        continue
    trainer = treadle.Trainer(
        accelerator="cpu", devices=2, strategy=strategy, precision=precision, max_epochs=EPOCHS,
        accumulate_grad_batches=1 if manual else acc, logger=False, enable_progress_bar=False,
        enable_checkpointing=False)
    loader = DataLoader(dataset(), batch_size=BS)
    trainer.fit(Regression(manual=manual, crash=NAME == "crash", accumulate=acc), loader, loader)
"""

NAMES = [
    "s1_fp32",
    "s2_fp32",
    "s3_fp32",
    "s1_bf16",
    "s2_bf16",
    "s3_bf16",
    "s2_bf16mixed",
    "s3_bf16mixed",
    "s2_manual",
    "s3_manual",
    "s3_manual_bf16",
    "s2_acc2",
    "s2_manual_acc2",
    "s3_acc2",
    "s2_offload",
    "s3_offload",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 2-process job, every configuration: ``{name: (rank 0 record, rank 1 record)}``."""
    tmp = tmp_path_factory.mktemp("ds_train")
    write(tmp / "job.py", TRAIN)
    (tmp / "out").mkdir()
    run([sys.executable, "job.py", "out"], cwd=tmp, timeout=300)
    r0, r1 = records(tmp / "out", 0), records(tmp / "out", 1)
    assert [r["name"] for r in r0] == NAMES == [r["name"] for r in r1]
    return {a["name"]: (a, b) for a, b in zip(r0, r1)}


def flat(record) -> torch.Tensor:
    return torch.tensor([v for p in record["params"] for v in p], dtype=torch.float64)


def expected_params(accumulate: int) -> torch.Tensor:
    """Plain PyTorch: two ranks' gradients averaged, Adam, the job's data and initial weights."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 8, generator=g)
    y = torch.tanh(x @ torch.randn(8, 1, generator=g))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    shards = [torch.arange(rank, N, 2) for rank in (0, 1)]
    batches = len(shards[0]) // BS
    for _ in range(EPOCHS):
        summed = None
        for b in range(batches):
            per_rank = []
            for shard in shards:
                net.zero_grad()
                i = shard[b * BS : (b + 1) * BS]
                (F.mse_loss(net(x[i]), y[i]) / accumulate).backward()
                per_rank.append([p.grad.clone() for p in net.parameters()])
            mean = [(g0 + g1) / 2 for g0, g1 in zip(*per_rank)]
            summed = mean if summed is None else [s + m for s, m in zip(summed, mean)]
            if (b + 1) % accumulate == 0 or b == batches - 1:
                for p, grad in zip(net.parameters(), summed):
                    p.grad = grad
                opt.step()
                summed = None
    return torch.cat([p.detach().double().flatten() for p in net.parameters()])


@pytest.mark.parametrize("name", NAMES)
def test_trains_and_the_ranks_agree(trained, name):
    r0, r1 = trained[name]
    assert r0["world_size"] == r1["world_size"] == 2
    assert torch.equal(flat(r0), flat(r1)), "the two ranks ended with different parameters"
    for r in (r0, r1):
        first, *_, last = r["epoch_losses"]
        assert last < 0.5 * first, r["epoch_losses"]
        assert r["global_step"] == EPOCHS * (N // 2 // BS) // (2 if "acc2" in name else 1)
    # each rank sees its own half of the data, every epoch
    for e0, e1 in zip(r0["seen"], r1["seen"]):
        assert not set(e0) & set(e1) and sorted(e0 + e1) == list(range(N))
    # self.log(sync_dist=True) reduces across ranks: the same value on both, the mean of ranks
    assert r0["val_loss"] == r1["val_loss"] and r0["val_rank"] == r1["val_rank"] == 0.5


@pytest.mark.parametrize(
    "name, stage",
    [("s1_fp32", 1), ("s2_fp32", 2), ("s3_fp32", 3), ("s2_bf16", 2), ("s3_bf16mixed", 3)],
)
def test_the_stage_is_the_one_selected(trained, name, stage):
    assert trained[name][0]["zero_stage"] == stage


@pytest.mark.parametrize(
    "name, accumulate",
    [("s1_fp32", 1), ("s2_fp32", 1), ("s3_fp32", 1), ("s2_acc2", 2), ("s3_acc2", 2)],
)
def test_fp32_equals_plain_pytorch(trained, name, accumulate):
    """Treadle divides by accumulate_grad_batches and steps the engine on stepping batches
    (managed_gradient_accumulation=False); the result is the averaged-gradient Adam update."""
    torch.testing.assert_close(
        flat(trained[name][0]), expected_params(accumulate), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "manual, auto",
    [
        ("s2_manual", "s2_fp32"),
        ("s3_manual", "s3_fp32"),
        ("s3_manual_bf16", "s3_bf16"),
        ("s2_manual_acc2", "s2_acc2"),
    ],
)
def test_manual_optimization_goes_through_the_engine(trained, manual, auto):
    """manual_backward -> engine.backward, opt.step() -> engine.step(): the same numbers
    (accumulating by hand, with ddp's ``no_backward_sync``, too)."""
    assert torch.equal(flat(trained[manual][0]), flat(trained[auto][0]))


@pytest.mark.parametrize("name", ["s2_offload", "s3_offload"])
def test_offload_trains_like_the_stage_without_it(trained, name):
    assert trained[name][0]["offload"] is True
    torch.testing.assert_close(
        flat(trained[name][0]), flat(trained["s2_fp32"][0]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "name, dtype, bf16, autocast",
    [
        ("s2_fp32", "torch.float32", False, False),
        ("s1_bf16", "torch.bfloat16", True, False),
        ("s3_bf16", "torch.bfloat16", True, False),
        ("s2_bf16mixed", "torch.float32", False, True),
        ("s3_bf16mixed", "torch.float32", False, True),
    ],
)
def test_deepspeed_owns_precision(trained, name, dtype, bf16, autocast):
    r = trained[name][0]
    assert (r["dtype"], r["bf16"], r["autocast"]) == (dtype, bf16, autocast)
    if name != "s2_fp32":
        assert r["precision_plugin_enabled"] is False  # the precision plugin stood aside
    torch.testing.assert_close(flat(r), flat(trained["s2_fp32"][0]), rtol=0, atol=0.02)


def test_torchrun_launch_is_joined(trained, tmp_path):
    write(tmp_path / "job.py", TRAIN)
    (tmp_path / "out").mkdir()
    run([*TORCHRUN, "job.py", "out", "s2_fp32"], cwd=tmp_path, timeout=180)
    r0, r1 = records(tmp_path / "out", 0), records(tmp_path / "out", 1)
    assert r0[0]["launcher"] == r1[0]["launcher"] == "torchrun"
    assert torch.equal(flat(r0[0]), flat(trained["s2_fp32"][0]))


def test_a_crashing_rank_ends_the_job_with_its_error(tmp_path):
    crash = (
        '("crash", "deepspeed_stage_2", "32-true", False, 1),\n    ("s1_fp32", "deepspeed_stage_1"'
    )
    write(tmp_path / "job.py", TRAIN.replace('("s1_fp32", "deepspeed_stage_1"', crash))
    (tmp_path / "out").mkdir()
    start = time.monotonic()
    out = run([sys.executable, "job.py", "out", "crash"], cwd=tmp_path, timeout=120, ok=False)
    assert out.returncode != 0
    assert "ValueError: rank 1 exploded at batch 2" in out.stdout
    # rank 0 reports rank 1 as the root cause, its traceback first (docs/distributed.md)
    report = out.stdout.split("RankFailedError: ", 1)[1]
    assert report.startswith("rank 1 (pid "), out.stdout
    first, rest = report.split("\n", 1)
    assert first.endswith(") failed first (root cause): ValueError: rank 1 exploded at batch 2")
    assert 'raise ValueError("rank 1 exploded at batch 2")' in rest.split("Other ranks:")[0]
    assert time.monotonic() - start < 90


ONE_PROCESS = """
import json, sys
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle
from treadle_plugins.strategies.deepspeed import DeepSpeedConfig

OUT = sys.argv[1]
results = {}


def data(n=64, bs=8, big=1.0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return DataLoader(TensorDataset(x, (x @ torch.randn(8, 1, generator=g)) * big), batch_size=bs)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


class Regression(treadle.Module):
    def __init__(self, opt="adam", lr=0.01, manual=False, clip=None, scheduler=False):
        super().__init__()
        self.net = net()
        self.opt, self.lr, self.clip, self.scheduler = opt, lr, clip, scheduler
        self.automatic_optimization = not manual
        self.lrs = []

    def training_step(self, batch, batch_idx):
        loss = F.mse_loss(self.net(batch[0]), batch[1])
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        self.manual_backward(loss)
        if self.clip is not None:
            self.clip_gradients(opt, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
        opt.step()

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.mse_loss(self.net(batch[0]), batch[1]))

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.scheduler:
            self.lrs.append([self.trainer.strategy.engine.get_lr()[0],
                             self.lr_schedulers().get_last_lr()[0]])

    def configure_optimizers(self):
        cls = torch.optim.Adam if self.opt == "adam" else torch.optim.SGD
        opt = cls(self.parameters(), lr=self.lr)
        if not self.scheduler:
            return opt
        sch = torch.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


def trainer(**kw):
    args = dict(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_progress_bar=False,
                enable_checkpointing=False, num_sanity_val_steps=0)
    args.update(kw)
    return treadle.Trainer(**args)


def flat(module):
    return torch.cat([p.detach().double().flatten() for p in module.parameters()])


# treadle against a plain deepspeed.initialize loop, accumulating 2 batches
import deepspeed
for stage in (0, 2):
    model = Regression()
    trainer(strategy="deepspeed", plugins=[DeepSpeedConfig(stage=stage)],
            accumulate_grad_batches=2).fit(model, data())
    plain = net()
    engine, *_ = deepspeed.initialize(
        model=plain, optimizer=torch.optim.Adam(plain.parameters(), lr=0.01),
        config={"train_micro_batch_size_per_gpu": 8, "gradient_accumulation_steps": 2,
                "gradient_clipping": 0.0, "zero_optimization": {"stage": stage},
                "steps_per_print": 10**9})
    for x, y in data():
        engine.backward(F.mse_loss(engine(x), y))
        engine.step()
    results[f"plain_stage{stage}"] = float((flat(model) - flat(plain)).abs().max())

# clipping: the Trainer's value, and no clipping at all without one (DeepSpeed's default is 1.0)
for clip in (None, 0.5):
    model = Regression(opt="sgd", lr=1.0)
    before = flat(model)
    trainer(strategy="deepspeed_stage_2", gradient_clip_val=clip, limit_train_batches=1).fit(
        model, data(big=100.0))
    results[f"update_norm_clip_{clip}"] = float((flat(model) - before).norm())

# manual clipping: the configured value is accepted (DeepSpeed clips in step), another refused
model = Regression(opt="sgd", lr=1.0, manual=True, clip=0.5)
before = flat(model)
trainer(strategy="deepspeed_stage_2", plugins=[DeepSpeedConfig({"gradient_clipping": 0.5})],
        limit_train_batches=1).fit(model, data(big=100.0))
results["manual_update_norm_clip_0.5"] = float((flat(model) - before).norm())
try:
    trainer(strategy="deepspeed_stage_2", limit_train_batches=1).fit(
        Regression(manual=True, clip=0.25), data())
except ValueError as exc:
    results["manual_clip_error"] = str(exc)

# the user's scheduler, stepped by treadle, sets the engine's learning rate
model = Regression(scheduler=True, lr=0.1)
trainer(strategy="deepspeed_stage_2").fit(model, data())
results["lrs"] = model.lrs

# fit, then validate with the same engine
model = Regression()
t = trainer(strategy="deepspeed_stage_3")
t.fit(model, data(), data())
engine = t.strategy.engine
results["validate"] = t.validate(model, data())[0]["val_loss"]
results["fit_val_loss"] = float(t.callback_metrics["val_loss"])
results["same_engine"] = t.strategy.engine is engine

# checkpoints that cannot be resumed here
t = trainer(strategy="deepspeed_stage_2")
t.fit(Regression(), data())
t.save_checkpoint("s2.ckpt")
t.save_checkpoint("weights.ckpt", weights_only=True)
for case, strategy, path in (("file", "deepspeed_stage_2", "weights.ckpt"),
                             ("stage", "deepspeed_stage_3", "s2.ckpt")):
    try:
        trainer(strategy=strategy).fit(Regression(), data(), ckpt_path=path)
    except treadle.CheckpointError as exc:
        results[f"load_error_{case}"] = str(exc)

# a save inside an accumulation window: ZeRO 2 with bf16 parameters told to accumulate in fp32
# keeps the window's gradients in a buffer of its engine that no checkpoint carries
import warnings
from treadle_plugins.strategies.deepspeed import DeepSpeedConfig
class SaveMidWindow(treadle.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 0:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer.save_checkpoint("window.ckpt")
            results["window_warnings"] = [str(w.message) for w in caught]
fp32_accumulation = DeepSpeedConfig(config={"data_types": {"grad_accum_dtype": "fp32"}})
trainer(strategy="deepspeed_stage_2", precision="bf16-true", accumulate_grad_batches=2,
        limit_train_batches=2, callbacks=[SaveMidWindow()],
        plugins=[fp32_accumulation]).fit(Regression(), data())

with open(OUT, "w") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_one")
    write(tmp / "job.py", ONE_PROCESS)
    run([sys.executable, "job.py", "out.json"], cwd=tmp, timeout=240)
    return json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("stage", [0, 2])
def test_one_process_equals_plain_deepspeed(one_process, stage):
    assert one_process[f"plain_stage{stage}"] == 0.0


def test_a_save_inside_a_window_with_fp32_accumulation_of_bf16_parameters_warns(one_process):
    # ZeRO 2's window gradients are saved when they accumulate in the parameters' dtype
    # (tests/deepspeed/test_deepspeed_window.py, bf16-true included); a float32
    # `grad_accum_dtype` for bf16 parameters moves them to a buffer that is not saved: such a
    # save cannot resume exactly, and says so.
    assert [w for w in one_process["window_warnings"] if "accumulation window" in w] == [
        "A checkpoint saved inside a gradient-accumulation window (batch 0, "
        "accumulate_grad_batches=2) under strategy='deepspeed_stage_2': the window's gradients "
        "are in the strategy's engine, not in `param.grad`, and are not saved; a run resumed "
        "from it steps this window without the batches before the save. Save after a batch that "
        "steps the optimizer for an exact resume."
    ]


def test_clipping_is_always_written(one_process):
    assert one_process["update_norm_clip_None"] > 100  # DeepSpeed alone would clip at 1.0
    assert one_process["update_norm_clip_0.5"] == pytest.approx(0.5, rel=1e-6)


def test_manual_clipping(one_process):
    assert one_process["manual_update_norm_clip_0.5"] == pytest.approx(0.5, rel=1e-6)
    assert one_process["manual_clip_error"] == (
        "`clip_gradients(..., gradient_clip_val=0.25)` under `strategy='deepspeed_stage_2'`: "
        "DeepSpeed clips by norm inside `engine.step()`, at the value fixed by "
        "`deepspeed.initialize` (gradient_clipping=0.0 here). Set it once: "
        "`Trainer(gradient_clip_val=0.25)` in automatic optimization, or "
        "`DeepSpeedConfig(config={'gradient_clipping': 0.25})` in `plugins=[...]` in manual "
        "optimization."
    )


def test_the_scheduler_reaches_the_engine(one_process):
    engine_lr, scheduler_lr = zip(*one_process["lrs"])
    assert engine_lr == scheduler_lr == (0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625)


def test_fit_then_validate_reuses_the_engine(one_process):
    assert one_process["same_engine"]
    assert one_process["validate"] == pytest.approx(one_process["fit_val_loss"])


def test_checkpoints_that_cannot_be_resumed_say_why(one_process):
    assert one_process["load_error_file"] == (
        "checkpoint 'weights.ckpt': it is a file, not a DeepSpeed checkpoint: under "
        "`strategy='deepspeed_stage_2'` `trainer.save_checkpoint(path)` writes a directory "
        "(DeepSpeed's shards and treadle.ckpt). To start from the weights of a one-file "
        "checkpoint, load them before fit: `model.load_state_dict(torch.load(path, "
        "weights_only=True)['state_dict'])`, without ckpt_path."
    )
    assert one_process["load_error_stage"] == (
        "checkpoint 's2.ckpt': it was saved with ZeRO stage 2 on 1 processes; this run is "
        "stage 3 on 1. Resume with the same stage and number of processes (the optimizer "
        "states are sharded by both), or start from full weights (deepspeed.utils.zero_to_fp32) "
        "without ckpt_path."
    )
