"""Plain PyTorch DDP training loop: the baseline for treadle's DDP strategy overhead.

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        benchmarks/plain_ddp.py --steps 500

Tiny MLP (32-64-64-1), batch 32 per rank, SGD, DistributedSampler, gloo, one thread per rank.
A step is everything the training loop does per batch: fetch the batch, forward, loss, zero_grad,
backward (DDP's gradient all-reduce), optimizer step. Rank 0 prints one JSON line with the median
step time in microseconds; warm-up steps are not counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=500, help="timed steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--dataset-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # env:// variables from torchrun
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)  # same data and initial weights on every rank

    data = TensorDataset(torch.randn(args.dataset_size, 32), torch.randn(args.dataset_size, 1))
    sampler = DistributedSampler(data, shuffle=True, seed=args.seed)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    model = DDP(
        nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()

    def batches():  # endless, one epoch after another, as a trainer with max_steps does
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    times_ns = []
    it = batches()
    dist.barrier()
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter_ns()
        x, y = next(it)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times_ns.append(time.perf_counter_ns() - t0)
    dist.barrier()

    if rank == 0:
        us = sorted(t / 1000 for t in times_ns)
        print(
            json.dumps(
                {
                    "benchmark": "plain_ddp",
                    "world_size": world_size,
                    "steps": args.steps,
                    "batch_size": args.batch_size,
                    "median_step_us": round(statistics.median(us), 1),
                    "p10_step_us": round(us[len(us) // 10], 1),
                    "p90_step_us": round(us[(len(us) * 9) // 10], 1),
                    "final_loss": round(loss.item(), 6),
                }
            ),
            flush=True,
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
