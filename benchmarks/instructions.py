"""Instructions per training step, treadle / plain PyTorch, counted by valgrind (callgrind).

Wall-clock ratios on a shared 2-core machine move by a few percent from run to run, more than
the 1 % target of the medium model. Instruction counts do not: the same program executes the
same instructions. This script counts them for the loops of ``overhead.py`` -- the plain loop
and ``trainer.fit()``, automatic and manual optimization -- and reports, per case:

* ``Ir/step``: instructions of one training step, from two runs of N1 and N2 steps
  ((Ir(N2) - Ir(N1)) / (N2 - N1)), so per-run costs (``fit()``'s set-up) cancel out;
* ``ratio``: treadle's Ir/step / the plain loop's (the per-step overhead in instructions);
* ``fixed``: what one run costs besides its steps (treadle: ``Trainer()`` + ``fit()`` set-up).

Only the measured run is counted: each worker process warms up (one short run: imports, lazy
initialisation), then runs the measured loop inside ``functools.reduce``, and callgrind collects
only inside that C function (``--toggle-collect=functools_reduce``). BLAS/OpenMP threads are set
to 1 so idle worker threads do not add spin instructions.

An instruction ratio is not a time ratio: Python's interpreter runs fewer instructions per cycle
than a matmul kernel, so treadle's extra instructions cost a little more time than their share
suggests. It is the deterministic half of the evidence; ``overhead.py`` is the timed half.

``--by-function N``: also the N functions (C functions of the interpreter, libc and torch, as
callgrind sees them) whose instructions per step differ most between treadle and the plain
loop, from ``callgrind_annotate``: where the extra instructions go (the interpreter's
bytecode loop, attribute lookups, allocations) and whether torch does any extra work.

Usage (needs ``valgrind``; six processes, two at a time)::

    python benchmarks/instructions.py --steps 60 200            # tiny, 32-true, ~8 min
    python benchmarks/instructions.py --sizes medium --steps 10 30

Under valgrind a tiny step takes ~0.1 s, a medium one several seconds (its matmuls are
emulated instruction by instruction): keep medium runs to a few dozen steps.

The last line is one JSON object with every figure. Exit status 0; 2 when valgrind is missing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDES = ("plain", "auto", "manual")


def worker(side: str, size: str, steps: int, precision: str, trainer: str = "bare") -> None:
    """One counted run (what valgrind starts)."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("overhead", HERE / "overhead.py")
    overhead = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead)
    overhead.TRAINER = trainer
    torch.set_num_threads(1)

    def run(n: int) -> None:
        net = overhead.build_net(size, 0)
        loader = overhead.build_loader(overhead.build_dataset(size, n, 0), size, 0)
        if side == "plain":
            overhead.run_plain(net, loader, 1, precision)
        else:
            treadle, modules = overhead.make_treadle_modules()
            overhead.run_treadle(treadle, modules[side], net, loader, 1, precision)

    run(5)  # imports and lazy initialisation, not counted
    functools.reduce(lambda _a, _b: run(steps), [0, 1])  # counted: callgrind toggles here


def by_function(path: str) -> dict[str, int]:
    """Instructions per function in one callgrind file (``callgrind_annotate``'s flat list),
    keyed by the function's name alone: the same function may be listed under a different file
    or object from one run to another (inlined code), and recursion levels (``'2``) merge."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True
    ).stdout
    totals: dict[str, int] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line or ":" not in m.group(2):
            continue
        name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2)).split(":", 1)[1]
        name = re.sub(r"'\d+$", "", name)
        totals[name] = totals.get(name, 0) + int(m.group(1).replace(",", ""))
    return totals


def count(
    side: str, size: str, steps: int, precision: str, workdir: str, trainer: str = "bare"
) -> int:
    out = os.path.join(workdir, f"cg.{side}.{size}.{steps}")
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--toggle-collect=functools_reduce",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--worker",
        side,
        size,
        str(steps),
        precision,
        "--trainer",
        trainer,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    with open(out) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    raise RuntimeError(f"no instruction total in {out}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny"], choices=["tiny", "medium"])
    parser.add_argument("--steps", nargs=2, type=int, default=[60, 200], metavar=("N1", "N2"))
    parser.add_argument(
        "--precision", default="32-true", choices=["32-true", "16-mixed", "bf16-mixed"]
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--trainer",
        choices=["bare", "default"],
        default="bare",
        help="treadle's Trainer: bare (default; no logger, progress bar or checkpointing) or "
        "default (all three on, as a user runs it); see overhead.py",
    )
    parser.add_argument(
        "--modes", nargs="+", default=["auto", "manual"], choices=["auto", "manual"]
    )
    parser.add_argument(
        "--by-function",
        type=int,
        default=0,
        metavar="N",
        help="also list the N functions whose instructions per step differ most from plain",
    )
    parser.add_argument(
        "--worker", nargs=4, metavar=("SIDE", "SIZE", "STEPS", "PRECISION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        side, size, steps, precision = args.worker
        worker(side, size, int(steps), precision, args.trainer)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind); nothing measured.")
        return 2
    n1, n2 = sorted(args.steps)
    sides = ["plain", *args.modes]
    jobs = [(side, size, n) for size in args.sizes for side in sides for n in (n1, n2)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool,
    ):
        futures = {
            job: pool.submit(count, *job[:2], job[2], args.precision, tmp, args.trainer)
            for job in jobs
        }
        totals = {job: f.result() for job, f in futures.items()}
        functions = {
            job: by_function(os.path.join(tmp, f"cg.{job[0]}.{job[1]}.{job[2]}"))
            for job in jobs
            if args.by_function
        }
    cases = []
    print(f"precision {args.precision}; runs of {n1} and {n2} steps; Ir = instructions executed")
    print(f"{'case':18s} {'Ir/step':>12s} {'ratio':>8s} {'extra Ir/step':>14s} {'fixed Ir':>14s}")
    for size in args.sizes:
        per_step = {
            side: (totals[(side, size, n2)] - totals[(side, size, n1)]) / (n2 - n1)
            for side in sides
        }
        for side in sides:
            fixed = totals[(side, size, n1)] - per_step[side] * n1
            ratio = per_step[side] / per_step["plain"]
            extra = per_step[side] - per_step["plain"]
            print(
                f"{size + '/' + side:18s} {per_step[side]:12,.0f} {ratio:8.4f} {extra:14,.0f} "
                f"{fixed:14,.0f}"
            )
            cases.append(
                {
                    "size": size,
                    "side": side,
                    "ir_per_step": per_step[side],
                    "ratio_to_plain": ratio,
                    "extra_ir_per_step": extra,
                    "fixed_ir": fixed,
                    "ir_n1": totals[(side, size, n1)],
                    "ir_n2": totals[(side, size, n2)],
                }
            )
    if args.by_function:
        for size in args.sizes:
            per_fn = {
                side: {
                    name: (
                        functions[(side, size, n2)].get(name, 0)
                        - functions[(side, size, n1)].get(name, 0)
                    )
                    / (n2 - n1)
                    for name in set(functions[(side, size, n1)]) | set(functions[(side, size, n2)])
                }
                for side in sides
            }
            for side in args.modes:
                extra = {
                    name: per_fn[side].get(name, 0) - per_fn["plain"].get(name, 0)
                    for name in set(per_fn[side]) | set(per_fn["plain"])
                }
                print(f"\n{size}/{side}: extra instructions per step, by function (plain's)")
                top = sorted(extra.items(), key=lambda kv: -abs(kv[1]))[: args.by_function]
                for name, value in top:
                    print(
                        f"  {value:+10,.0f}  ({per_fn['plain'].get(name, 0):10,.0f})  {name[:90]}"
                    )
    print(
        json.dumps(
            {
                "benchmark": "treadle.instructions",
                "precision": args.precision,
                "steps": [n1, n2],
                "trainer": args.trainer,
                "cases": cases,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
