"""Plain PyTorch only: what the position of ``zero_grad()`` in the loop costs.

treadle's automatic optimization zeroes gradients before ``training_step`` (as a plain loop
does); Lightning zeroes them after ``training_step``, right before ``backward``. This script
times both orders on the same model, data and optimizer, without treadle, to show that the
difference is PyTorch's own (``docs/hooks.md``, "Zero grad before training_step"):

* ``zero-first``:  ``opt.zero_grad(); loss = f(net(x), y); loss.backward(); opt.step()``
* ``zero-after``:  ``loss = f(net(x), y); opt.zero_grad(); loss.backward(); opt.step()``

Both train to bit-identical weights (checked). Runs alternate which order goes first; the
reported figure is the median over the repeats of (zero-after time - zero-first time) / steps,
in microseconds, and the median ratio zero-after / zero-first. Model: the tiny MLP of
``overhead.py`` (32-64-64-1, batch 32, SGD, one thread) or ``--size medium``.

Usage::

    python benchmarks/zero_grad_order.py               # ~1 min on 2 cores
    python benchmarks/zero_grad_order.py --repeats 21 --steps 2000 --size medium

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

SIZES = {"tiny": ((32, 64, 64, 1), 32), "medium": ((256, 512, 512, 1), 128)}


def build_net(widths, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def train(order: str, widths, batches, seed: int):
    net = build_net(widths, seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    gc.collect()
    start = time.perf_counter()
    if order == "zero-first":
        for x, y in batches:
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
    else:
        for x, y in batches:
            loss = F.mse_loss(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start, net


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    widths, batch = SIZES[args.size]
    gen = torch.Generator().manual_seed(args.seed)
    batches = [
        (
            torch.randn(batch, widths[0], generator=gen),
            torch.randn(batch, widths[-1], generator=gen),
        )
        for _ in range(args.steps)
    ]

    orders = ("zero-first", "zero-after")
    for order in orders:  # warm-up
        train(order, widths, batches[:100], args.seed)
    times = {o: [] for o in orders}
    same = True
    for rep in range(args.repeats):
        results = {}
        for order in orders if rep % 2 == 0 else orders[::-1]:
            results[order] = train(order, widths, batches, args.seed)
            times[order].append(results[order][0])
        a, b = (results[o][1] for o in orders)
        same = same and all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    deltas = [
        (after - first) / args.steps * 1e6
        for first, after in zip(times["zero-first"], times["zero-after"])
    ]
    ratios = [after / first for first, after in zip(times["zero-first"], times["zero-after"])]
    first_us = statistics.median(times["zero-first"]) / args.steps * 1e6
    print(
        f"{args.size} MLP {'-'.join(map(str, widths))}, batch {batch}, {args.steps} steps, "
        f"{args.repeats} interleaved repeats, {args.threads} thread(s)"
    )
    print(f"zero-first: {first_us:.1f} us/step (median)")
    print(
        f"zero-after - zero-first: median {statistics.median(deltas):+.1f} us/step; "
        f"ratio zero-after / zero-first: median {statistics.median(ratios):.3f}"
    )
    print(f"final weights identical: {same}")
    print(
        json.dumps(
            {
                "benchmark": "treadle.zero_grad_order",
                "size": args.size,
                "steps": args.steps,
                "repeats": args.repeats,
                "threads": args.threads,
                "torch": torch.__version__,
                "zero_first_s": times["zero-first"],
                "zero_after_s": times["zero-after"],
                "delta_us_per_step_median": statistics.median(deltas),
                "ratio_median": statistics.median(ratios),
                "weights_identical": same,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
