"""Per-step overhead of treadle's ``fsdp`` strategy over a plain FSDP2 (``fully_shard``) loop.

    python benchmarks/fsdp_overhead.py                  # 3 rounds x 300 steps, ~1 min here
    python benchmarks/fsdp_overhead.py --rounds 5 --steps 500

One ``torchrun --standalone --nproc_per_node 2`` launch, gloo, one thread per rank, steps
alternating one for one as in ``ddp_overhead.py``'s lockstep method (``overhead.PacedLoader``):
before treadle's loop gets each batch, the plain loop takes one timed step, in the same order in
both ranks, so the two sides' collectives pair up and meet the machine in the same state.

Both sides train the same thing: an MLP 64-256-256-1 with ``fully_shard`` on every Linear and
on the root, AdamW lr 1e-3, MSE, batch 32 per rank, a shuffled ``DistributedSampler`` over 4096
samples. Plain: ``loss = mse(net(x), y); zero_grad(); backward(); step()``. treadle:
``Trainer(strategy=FSDPStrategy(auto_wrap_policy={nn.Linear}))`` on a Module holding the same
net. The plain model is built at its first step (the process group exists only once treadle's
strategy has made it inside ``fit()``). Per round, from rank 0: ``step ratio`` = median treadle
step / median plain step (a treadle step: from the end of one plain step to the start of the
next, its own batch fetch included), after ``--warmup`` steps; ``weights`` compares the two
sides' final full weights (the same data, initial weights and updates: expected ~1e-7 or
``same``). The figure judged against the target (<= 1.05) is the median of the rounds' step
ratios; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 1.05


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    import treadle
    from overhead import PacedLoader  # this directory's single-process benchmark
    from treadle_plugins import FSDPStrategy

    torch.set_num_threads(1)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.manual_seed(args.seed)
    data = TensorDataset(torch.randn(4096, 64), torch.randn(4096, 1))
    weights_rng = torch.get_rng_state()

    def build_net() -> nn.Sequential:  # the same initial weights every time
        torch.set_rng_state(weights_rng)
        return nn.Sequential(
            nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
        )

    def build_loader(cls: type = DataLoader) -> DataLoader:
        sampler = DistributedSampler(
            data, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed
        )
        return cls(data, batch_size=32, sampler=sampler, drop_last=True)

    def plain_steps(net: nn.Module, loader: DataLoader, record: dict):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cpu", (world_size,))
        for layer in net:
            if isinstance(layer, nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(net, mesh=mesh)
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
        epoch = steps = 0
        while True:
            loader.sampler.set_epoch(epoch)
            for x, y in loader:
                loss = F.mse_loss(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps += 1
                record["loss"], record["steps"] = loss, steps
                yield
            epoch += 1

    class MLP(treadle.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = build_net()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    def full(net: nn.Module) -> list:
        return [p.full_tensor() for p in net.parameters()]

    class Compare(treadle.Callback):
        """Both sides' full weights at the end of ``fit()`` (the process group still up)."""

        def __init__(self, plain_net: nn.Module, into: dict) -> None:
            self.plain_net, self.into = plain_net, into

        def on_train_end(self, trainer, pl_module):
            self.into["plain"], self.into["treadle"] = full(self.plain_net), full(pl_module.net)

    kept = []  # plain models live until os._exit (their process group is gone after fit())
    for i in range(args.rounds + 1):
        total = args.warmup + (args.steps if i else min(args.steps, 50))
        plain_net, record = build_net(), {}
        loader = build_loader(PacedLoader)
        loader.plain = plain_steps(plain_net, build_loader(), record)
        loader.plain_s, loader.ends = [], []
        kept.append((plain_net, loader.plain))
        module = MLP()
        gathered: dict = {}
        trainer = treadle.Trainer(
            accelerator="cpu",
            strategy=FSDPStrategy(auto_wrap_policy={nn.Linear}),
            devices=world_size,
            max_steps=total,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=[Compare(plain_net, gathered)],
        )
        t1 = time.perf_counter()
        trainer.fit(module, loader)
        t2 = time.perf_counter()
        plain_s, ends = loader.plain_s, loader.ends
        between = [b - a - p for a, b, p in zip(ends, ends[1:], plain_s[1:])][args.warmup :]
        timed_plain = plain_s[args.warmup :]
        diff = max(
            (a - b).abs().max().item() for a, b in zip(gathered["plain"], gathered["treadle"])
        )
        if rank == 0:
            print(
                json.dumps(
                    {
                        "round": i,
                        "steps": total,
                        "plain_steps": record["steps"],
                        "treadle_steps": int(trainer.global_step),
                        "plain_step_us": statistics.median(timed_plain) * 1e6,
                        "treadle_step_us": statistics.median(between) * 1e6,
                        "step_ratio": statistics.median(between) / statistics.median(timed_plain),
                        "whole_ratio": ((t2 - t1) - sum(plain_s)) / sum(plain_s),
                        "params_diff": diff,
                    }
                ),
                flush=True,
            )
    sys.stdout.flush()
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(Path(__file__)), "--worker", "--rounds", str(args.rounds), "--steps",
        str(args.steps), "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("TREADLE_QUIET", "1")
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        print(out.stdout, out.stderr, sep="\n")
        return 1
    print(f"{'round':>5} {'plain us':>9} {'treadle us':>10} {'step ratio':>10} {'weights':>8}")
    for r in rows:
        same = r["plain_steps"] == r["treadle_steps"] == r["steps"]
        weights = "same" if r["params_diff"] == 0 else f"{r['params_diff']:.1e}"
        print(
            f"{r['round'] or 'warm':>5} {r['plain_step_us']:>9.1f} {r['treadle_step_us']:>10.1f} "
            f"{r['step_ratio']:>10.3f} {weights:>8}" + ("" if same else "  STEP COUNTS DIFFER")
        )
    rounds = [r for r in rows if r["round"]]
    median = statistics.median(r["step_ratio"] for r in rounds)
    verdict = "PASS" if median <= TARGET else "MISS"
    print(f"median step ratio treadle/plain over {len(rounds)} rounds: {median:.3f} "
          f"(target <= {TARGET}): {verdict}")  # fmt: skip
    print(json.dumps({"benchmark": "fsdp_overhead", "target": TARGET, "median_step_ratio": median,
                      "rounds": rounds}))  # fmt: skip
    ok = all(r["plain_steps"] == r["treadle_steps"] == r["steps"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
