"""Step time of treadle against a plain PyTorch loop, each run in its own process (issue 9).

This is how users compare frameworks: one script per framework, one process per run, and the
time per step read from the optimizer. Each child process trains one model and stamps
``time.perf_counter_ns()`` in a ``register_step_post_hook`` on the user's own optimizer, after
every real step; a step's time is the difference between two consecutive stamps (so it holds
everything between two steps: batch fetch, hooks, zero_grad, forward, backward and the step).
The first ``--warmup`` steps are dropped; the child reports the median and quartiles of the
rest, its step count, its peak RSS (``ru_maxrss``) and a checksum of its final weights as one
JSON line.

The parent runs ``--rounds`` rounds; in each, for every case, a plain child then a treadle
child (plain, treadle, plain, treadle, ...). The ratio of a case is the median over the rounds
of (treadle median step / plain median step of the same round). ``--plain-only`` runs a second
plain child in place of treadle's: the harness's own noise floor.

Cases: the ``tiny`` and ``medium`` MLPs, data and DataLoader of ``overhead.py`` (imported from
it), SGD, 32-true, ``torch.set_num_threads(1)``, epochs of ``EPOCH_BATCHES`` batches. Modes:
``auto`` and ``manual`` optimization on treadle's side; the plain loop is the same for both.

    python benchmarks/step_time.py --rounds 7
    python benchmarks/step_time.py --sizes tiny --plain-only --json out.json

Exit status: 0 when every child ran its steps and both sides ended with the same weights, else 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from overhead import LR, MODES, SIZES, build_dataset, build_loader, build_net, make_treadle_modules

EPOCH_BATCHES = 100  # batches per epoch: runs cross epoch ends, as real training does
OTHERS = ("lightning", "pytorch_lightning", "lightning_fabric", "accelerate")


# --------------------------------------------------------------------------------------------
# child: one run, one JSON line


def plain_run(size: str, total: int, seed: int, stamp) -> tuple[torch.nn.Module, int]:
    """The loop a user writes, stopped after ``total`` optimizer steps."""
    net = build_net(size, seed)
    loader = build_loader(build_dataset(size, EPOCH_BATCHES, seed), size, seed)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    opt.register_step_post_hook(stamp)
    net.train()
    steps = 0
    while steps < total:
        for x, y in loader:
            opt.zero_grad()
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
            steps += 1
            if steps == total:
                break
    return net, steps


def treadle_run(size: str, mode: str, total: int, seed: int, stamp) -> tuple[torch.nn.Module, int]:
    """``trainer.fit()`` with ``max_steps=total`` on overhead.py's module for ``mode``; the
    stamp hook goes on the optimizer that ``configure_optimizers()`` returns."""
    treadle, modules = make_treadle_modules()

    class Timed(modules[mode]):
        def configure_optimizers(self):
            opt = super().configure_optimizers()
            opt.register_step_post_hook(stamp)
            return opt

    net = build_net(size, seed)
    loader = build_loader(build_dataset(size, EPOCH_BATCHES, seed), size, seed)
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_steps=total,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Timed(net), loader)
    return net, int(trainer.global_step)


def child(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    stamps: list[int] = []
    clock = time.perf_counter_ns

    def stamp(optimizer, args, kwargs) -> None:
        stamps.append(clock())

    total = args.warmup + args.steps
    if args.child == "plain":
        net, loop_steps = plain_run(args.size, total, args.seed, stamp)
    else:
        net, loop_steps = treadle_run(args.size, args.mode, total, args.seed, stamp)
    if len(stamps) != total:
        sys.exit(
            f"step_time.py: the step post-hook fired {len(stamps)} times, expected {total} "
            f"({args.child} {args.size}/{args.mode}; the loop counted {loop_steps} steps)"
        )
    timed = [b - a for a, b in zip(stamps[args.warmup - 1 :], stamps[args.warmup :])]
    q1, median, q3 = statistics.quantiles(timed, n=4) if len(timed) > 1 else timed * 3
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.detach().numpy().tobytes())
    print(
        json.dumps(
            {
                "side": args.child,
                "size": args.size,
                "mode": args.mode,
                "steps": len(stamps),
                "loop_steps": loop_steps,
                "timed_steps": len(timed),
                "median_ns": median,
                "q1_ns": q1,
                "q3_ns": q3,
                "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "checksum": digest.hexdigest()[:16],
            }
        )
    )
    return 0


# --------------------------------------------------------------------------------------------
# parent: interleaved children, table


def child_env(inherit: bool) -> dict:
    """The children's environment: as ``startup.py``'s, bytecode is written (to a private
    prefix) and read back, as on a normal install. This machine kind sets
    ``PYTHONDONTWRITEBYTECODE=1``, and an editable install ships no ``.pyc``: inherited, every
    treadle child would compile its sources again, which adds to its peak RSS, not its steps."""
    env = dict(os.environ)
    if not inherit:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "treadle-bench-pycache")
    return env


def spawn(side: str, size: str, mode: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        side,
        "--sizes",
        size,
        "--modes",
        mode,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
    ]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            env=child_env(args.inherit_env),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{side} {size}/{mode}: no result within --timeout {args.timeout} s"}
    if done.returncode != 0:
        return {
            "error": f"{side} {size}/{mode} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(size: str, mode: str, pairs: list[tuple[dict, dict]], total: int) -> dict:
    ratios = [t["median_ns"] / p["median_ns"] for p, t in pairs]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    med = statistics.median
    return {
        "case": f"{size}/{mode}",
        "size": size,
        "mode": mode,
        "rounds": [list(pr) for pr in pairs],
        "plain_us": med(p["median_ns"] for p, _ in pairs) / 1e3,
        "treadle_us": med(t["median_ns"] for _, t in pairs) / 1e3,
        "ratio": med(ratios),
        "ratio_quartiles": [q[0], q[2]],
        "added_us": med(t["median_ns"] - p["median_ns"] for p, t in pairs) / 1e3,
        "plain_rss_mb": med(p["peak_rss_kb"] for p, _ in pairs) / 1024,
        "treadle_rss_mb": med(t["peak_rss_kb"] for _, t in pairs) / 1024,
        "rss_ratio": med(t["peak_rss_kb"] / p["peak_rss_kb"] for p, t in pairs),
        "same_steps": all(p["steps"] == t["steps"] == total for p, t in pairs),
        "same_weights": all(p["checksum"] == t["checksum"] for p, t in pairs),
    }


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def parent(args: argparse.Namespace) -> int:
    other = "plain" if args.plain_only else "treadle"
    cases = [(s, m) for s in args.sizes for m in args.modes]
    total = args.warmup + args.steps
    print(
        f"{load()}; torch {torch.__version__}, 1 thread per process; {args.rounds} rounds of "
        f"(plain, {other}) per case; {args.steps} timed steps after {args.warmup} warm-up"
    )
    missing = [n for n in OTHERS if importlib.util.find_spec(n) is None]
    present = [n for n in OTHERS if n not in missing]
    print(
        f"other frameworks: not installed, skipped: {', '.join(missing) or '-'}; "
        f"installed but no side here yet: {', '.join(present) or '-'}\n"
    )
    pairs: dict[tuple[str, str], list] = {c: [] for c in cases}
    errors: list[str] = []
    t0 = time.perf_counter()
    for size, mode in cases[:1]:  # untimed: writes the bytecode both sides then load
        spawn("plain", size, "auto", args), spawn(other, size, mode, args)
    for _ in range(args.rounds):
        for size, mode in cases:
            pair = (spawn("plain", size, "auto", args), spawn(other, size, mode, args))
            bad = [r["error"] for r in pair if "error" in r]
            errors += bad
            if not bad:
                pairs[(size, mode)].append(pair)
    rows = [summarize(s, m, pairs[(s, m)], total) for s, m in cases if pairs[(s, m)]]
    hdr = (
        f"{'case':<16}{'plain us':>10}{f'{other} us':>12}{'ratio':>8}{'p25-p75':>15}"
        f"{'added us':>10}{'RSS MB plain':>14}{other:>9}{'RSS ratio':>11}  weights"
    )
    print(hdr + "\n" + "-" * len(hdr))
    for r in rows:
        q1, q3 = r["ratio_quartiles"]
        same = ("same" if r["same_weights"] else "DIFFER") if r["same_steps"] else "STEPS!"
        print(
            f"{r['case']:<16}{r['plain_us']:>10.1f}{r['treadle_us']:>12.1f}{r['ratio']:>8.3f}"
            f"{f'{q1:.3f}-{q3:.3f}':>15}{r['added_us']:>+10.1f}{r['plain_rss_mb']:>14.1f}"
            f"{r['treadle_rss_mb']:>9.1f}{r['rss_ratio']:>11.3f}  {same}"
        )
    print(
        f"\nus = median step (between two optimizer post-hook stamps) over the rounds; ratio = "
        f"median of per-round {other}/plain ratios; RSS = peak RSS of the whole process "
        f"(import torch included)\n{time.perf_counter() - t0:.0f} s; at the end: {load()}"
    )
    for e in errors:
        print(f"ERROR: {e}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "benchmark": "treadle.step_time",
                    "plain_only": args.plain_only,
                    "torch": torch.__version__,
                    "rounds": args.rounds,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "epoch_batches": EPOCH_BATCHES,
                    "loadavg_end": os.getloadavg(),
                    "others_missing": missing,
                    "errors": errors,
                    "cases": rows,
                },
                f,
                indent=1,
            )
    ok = not errors and all(r["same_steps"] and r["same_weights"] for r in rows)
    return 0 if ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument(
        "--rounds", type=int, default=5, help="(plain, treadle) pairs per case (default 5)"
    )
    p.add_argument("--steps", type=int, default=500, help="timed steps per run (default 500)")
    p.add_argument("--warmup", type=int, default=50, help="untimed steps first (>= 1, default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300, help="seconds per child (default 300)")
    p.add_argument("--plain-only", action="store_true", help="plain against plain: the noise floor")
    p.add_argument(
        "--inherit-env",
        action="store_true",
        help="pass the environment through unchanged (default: bytecode on, as startup.py)",
    )
    p.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    p.add_argument("--child", choices=["plain", "treadle"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.rounds < 1:
        p.error("--warmup, --steps and --rounds must be >= 1")
    if args.child:
        args.size, args.mode = args.sizes[0], args.modes[0]
        return child(args)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
