"""Plain DeepSpeed training loop (no treadle): the baseline for treadle's DeepSpeed strategy.

Trains a tiny MLP (32-64-64-1, micro-batch 32) on CPU with gloo for each ZeRO stage and
precision asked for, and prints the time per training step (forward + engine.backward +
engine.step) on rank 0, plus whether all ranks ended with identical parameters.

    python benchmarks/plain_deepspeed.py                       # stages 0-3, fp32 and bf16, 2 ranks
    python benchmarks/plain_deepspeed.py --stages 2 --precisions bf16 --steps 500 --json out.json

Started as a plain ``python`` command it launches its ranks itself (one subprocess per rank,
re-running this script with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK set:
without those variables deepspeed.initialize tries MPI discovery through mpi4py). Under
``torchrun`` or the ``deepspeed`` launcher, whose variables are already set, it just runs.

By default the shared-memory comm op is disabled before deepspeed.initialize (``--shm-op off``):
otherwise the first initialize on a machine JIT-compiles it (~40 s on 2 cores) although
training never uses it (it only backs deepspeed.comm.inference_all_reduce). See notes/deepspeed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

RANK_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", default="0,1,2,3", help="comma-separated ZeRO stages (0-3)")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--steps", type=int, default=200, help="timed optimizer steps per configuration")
    p.add_argument("--warmup", type=int, default=20, help="untimed optimizer steps first")
    p.add_argument("--accumulate", type=int, default=1, help="gradient_accumulation_steps")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--world-size", type=int, default=2, help="ranks to launch when not under a launcher"
    )
    p.add_argument(
        "--shm-op",
        choices=("off", "on"),
        default="off",
        help="off: mark deepspeed's shm comm op incompatible so it is never JIT-compiled",
    )
    p.add_argument(
        "--stage3-threshold",
        type=int,
        default=None,
        help="stage3_param_persistence_threshold (DeepSpeed default 1e5 keeps every param of this "
        "tiny MLP unpartitioned after the first forward; 0 partitions them all)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads per rank")
    p.add_argument("--json", default=None, help="rank 0 writes the results here")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- launching
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world_size: int) -> int:
    """Re-run this script once per rank with the rank variables set; fail fast if one fails."""
    port = _free_port()
    procs = []
    for rank in range(world_size):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            LOCAL_WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        procs.append(
            subprocess.Popen([sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env=env)
        )
    rc = 0
    try:
        while procs:
            for p in list(procs):
                code = p.poll()
                if code is None:
                    continue
                procs.remove(p)
                if code != 0 and rc == 0:
                    rc = code
                    for q in procs:  # a dead rank would leave its peers blocked in a collective
                        q.terminate()
            time.sleep(0.05)
    except KeyboardInterrupt:
        for q in procs:
            q.terminate()
        raise
    return rc


# ----------------------------------------------------------------------------- one rank
def disable_shm_comm_op() -> None:
    """Make deepspeed skip its shared-memory comm op (so no JIT build): build_shm_op() returns
    None when deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] is False. The dict is
    probed once and cached in the module, so the edit persists. Call before initialize."""
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def ds_config(
    stage: int,
    precision: str,
    accumulate: int,
    world_size: int,
    stage3_threshold: int | None = None,
) -> dict:
    micro = 32
    zero = {"stage": stage}
    if stage == 3 and stage3_threshold is not None:
        zero["stage3_param_persistence_threshold"] = stage3_threshold
    return {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accumulate,
        "train_batch_size": micro * accumulate * world_size,
        "gradient_clipping": 0.0,  # missing key means DeepSpeed clips at 1.0
        "zero_optimization": zero,
        "bf16": {"enabled": precision == "bf16"},
        "zero_allow_untested_optimizer": True,  # ZeRO 1-3 assert on SGD otherwise
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def params_checksum(engine, stage: int):
    import deepspeed
    import torch

    params = list(engine.module.parameters())
    if stage == 3:
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            return torch.cat([p.detach().double().flatten() for p in params]).clone()
    return torch.cat([p.detach().double().flatten() for p in params])


def run_one(args, stage: int, precision: str) -> dict:
    import deepspeed
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.manual_seed(0)  # same initial weights on every rank
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    )
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    t0 = time.perf_counter()
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=opt,
        config=ds_config(stage, precision, args.accumulate, world, args.stage3_threshold),
    )
    init_s = time.perf_counter() - t0

    # each rank its own shard of a fixed synthetic regression problem
    micro_batches = (args.warmup + args.steps) * args.accumulate
    g = torch.Generator().manual_seed(1000 + rank)
    xs = torch.randn(micro_batches, 32, 32, generator=g)
    w = torch.randn(32, 1, generator=torch.Generator().manual_seed(7)) / 32**0.5
    ys = torch.tanh(xs @ w)
    in_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    xs = xs.to(in_dtype)

    engine.train()
    step_times, losses = [], []
    i = 0
    for step in range(args.warmup + args.steps):
        t = time.perf_counter()
        for _ in range(args.accumulate):
            out = engine(xs[i])
            loss = F.mse_loss(out.float(), ys[i])
            engine.backward(loss)
            engine.step()  # only updates at the accumulation boundary
            i += 1
        if step >= args.warmup:
            step_times.append(time.perf_counter() - t)
            losses.append(loss.item())

    sums = params_checksum(engine, stage)
    gathered = [torch.empty_like(sums) for _ in range(world)]
    dist.all_gather(gathered, sums)
    agree = all(torch.equal(gathered[0], s) for s in gathered[1:])
    return {
        "stage": stage,
        "precision": precision,
        "optimizer": args.optimizer,
        "stage3_threshold": args.stage3_threshold if stage == 3 else None,
        "accumulate": args.accumulate,
        "world_size": world,
        "init_s": round(init_s, 3),
        "step_ms_median": round(1e3 * statistics.median(step_times), 4),
        "step_ms_mean": round(1e3 * statistics.fmean(step_times), 4),
        "step_ms_min": round(1e3 * min(step_times), 4),
        "step_ms_p10": round(1e3 * sorted(step_times)[len(step_times) // 10], 4),
        "first_loss": round(losses[0], 5),
        "last_loss": round(losses[-1], 5),
        "ranks_agree": agree,
        "global_steps": engine.global_steps,
    }


def worker(args) -> int:
    import warnings

    import torch

    # deepspeed 0.19.8 calls all_gather_into_tensor / reduce_scatter_tensor, deprecated in torch 2.13
    warnings.filterwarnings(
        "ignore", message=r".*torch\.distributed\..* is deprecated", category=FutureWarning
    )
    torch.set_num_threads(args.threads)
    # this loop is CPU/gloo; also skips the "Setting accelerator" warning
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if args.shm_op == "off":
        disable_shm_comm_op()
    import logging

    import deepspeed

    deepspeed.utils.logger.setLevel(
        logging.ERROR
    )  # e.g. the per-initialize "untested optimizer" warning for SGD
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    results = []
    for stage in (int(s) for s in args.stages.split(",")):
        for precision in args.precisions.split(","):
            r = run_one(args, stage, precision)
            results.append(r)
            if rank == 0:
                print(
                    f"[plain_deepspeed] stage={r['stage']} precision={r['precision']:<4} "
                    f"opt={r['optimizer']} gas={r['accumulate']} init={r['init_s']:.2f}s "
                    f"step median={r['step_ms_median']:.3f} ms mean={r['step_ms_mean']:.3f} ms "
                    f"loss {r['first_loss']:.4f}->{r['last_loss']:.4f} ranks_agree={r['ranks_agree']}",
                    flush=True,
                )
    if rank == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    del deepspeed
    return 0 if all(r["ranks_agree"] for r in results) else 1


def main(argv=None) -> int:
    args = parse_args(argv)
    if all(v in os.environ for v in RANK_VARS):
        return worker(args)
    return launch(args.world_size)


if __name__ == "__main__":
    sys.exit(main())
