"""Start-up cost of treadle against plain PyTorch, in fresh processes.

(a) Cold import. A fresh ``python -c`` process times ``import torch`` or ``import treadle``
    with ``time.perf_counter()`` around the import statement and prints it; the parent also
    times the whole process (start to exit). Judged: median treadle import / median torch
    import (target <= 1.10). "Cold" means a fresh interpreter, not a cold file-system cache.

(b) Process start to first optimizer step. ``_first_step_plain.py`` (a plain PyTorch loop) and
    ``_first_step_treadle.py`` (the same training through ``treadle.Trainer.fit``): the tiny
    MLP 32-64-64-1, batch 32, SGD, shuffled DataLoader over a TensorDataset, one thread. The
    parent takes ``time.time()`` just before ``subprocess.Popen`` and passes it in the
    environment (``TREADLE_BENCH_LAUNCH_TIME``); the child prints ``time.time() - launch`` at
    the moment its first ``optimizer.step()`` returns and exits at once.
    The marker is symmetric: both children register the same global optimizer step post-hook
    (``torch.optim.optimizer.register_optimizer_step_post_hook``), which torch fires when the
    wrapped ``Optimizer.step`` returns -- whether the user's loop or treadle's
    ``optimizer_step`` hook (closure included, in automatic mode) called it. It depends on no
    treadle hook, so it measures the same instant on both sides. Judged: median treadle /
    median plain (target <= 1.03), automatic optimization; manual is shown too.

Each child also reports its process CPU time (``time.process_time()``: around the import in (a),
since process start in (b)); the CPU ratios are printed next to the wall-clock ones and can be
judged instead with ``--judge cpu`` -- steadier when other work shares the machine.

Runs are interleaved (plain/torch first on even runs, treadle first on odd ones) after one
untimed warm-up of each script. By default the children get ``PYTHONDONTWRITEBYTECODE``
removed and ``PYTHONPYCACHEPREFIX`` set to a private directory, so every module -- torch's
and treadle's (an editable install has no pre-compiled bytecode) -- is compiled once during
the warm-up and then loaded from bytecode, as on a normal machine. ``--inherit-env`` passes
the environment through unchanged.

Usage::

    python benchmarks/startup.py                 # both parts, 7 runs each (~1-2 min)
    python benchmarks/startup.py --runs 11 --part import
    python benchmarks/startup.py --importtime    # also: what treadle imports beyond plain torch
    python benchmarks/startup.py --judge cpu     # judge on the children's CPU time (busy machine)

The last line of the output is one JSON object with every figure. Exit status is 0 whether or
not targets are met (PASS/MISS is printed); 1 if a child failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMPORT_TARGET = 1.10
FIRST_STEP_TARGET = 1.03
IMPORT_CODE = (
    "import time, json; c = time.process_time(); t = time.perf_counter(); import {mod}; "
    "t, c = time.perf_counter() - t, time.process_time() - c; "
    "print(json.dumps({{'import_s': t, 'import_cpu_s': c}}))"
)


class ChildFailed(RuntimeError):
    pass


def child_env(inherit: bool) -> dict:
    env = dict(os.environ)
    if not inherit:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "treadle-bench-pycache")
    return env


def run_child(
    argv: list[str], env: dict, extra_env: dict | None = None, timeout: float = 300
) -> dict:
    env = dict(env)
    env.update(extra_env or {})
    launch = time.time()
    env["TREADLE_BENCH_LAUNCH_TIME"] = repr(launch)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(HERE),
    )
    out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise ChildFailed(
            f"{' '.join(argv)} exited {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
        )
    rec = json.loads(lines[-1])
    rec["process_s"] = wall
    return rec


def interleaved(a, b, runs: int):
    """Run a() and b() ``runs`` times each, alternating which goes first; one warm-up each."""
    a(), b()
    ra, rb = [], []
    for i in range(runs):
        if i % 2 == 0:
            ra.append(a())
            rb.append(b())
        else:
            rb.append(b())
            ra.append(a())
    return ra, rb


def med(rs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "MISS"


def _importtime(argv: list[str], env: dict) -> dict[str, int]:
    """Modules a child imports (``-X importtime``), name -> self time in us."""
    env = dict(env, TREADLE_BENCH_LAUNCH_TIME=repr(time.time()))
    p = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(HERE),
    )
    found = {}
    for ln in p.stderr.splitlines():
        if ln.startswith("import time:") and "self [us]" not in ln:
            self_us, _cum, name = ln[len("import time:") :].split("|")
            found[name.strip()] = int(self_us)
    return found


def _print_extra(title: str, base: dict[str, int], other: dict[str, int]) -> None:
    extra = {n: us for n, us in other.items() if n not in base}
    by_pkg: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for name, us in extra.items():
        by_pkg[name.split(".")[0]] += us
        count[name.split(".")[0]] += 1
    print(
        f"\n{title}: {sum(extra.values()) / 1e3:.1f} ms self time in {len(extra)} modules (one run)"
    )
    for pkg, us in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {pkg:<28}{us / 1e3:>8.1f} ms  ({count[pkg]} modules)")
    slow = sorted(extra.items(), key=lambda kv: -kv[1])[:8]
    print("  slowest modules (self ms): " + ", ".join(f"{n} {us / 1e3:.1f}" for n, us in slow))


def import_profile(env: dict) -> None:
    """Print, by package, what treadle imports that plain torch does not (-X importtime)."""
    pairs = [
        ("import treadle beyond import torch", ["-c", "import torch"], ["-c", "import treadle"]),
        (
            "treadle script beyond plain script, up to the first optimizer step",
            ["_first_step_plain.py"],
            ["_first_step_treadle.py"],
        ),
    ]
    for title, base_argv, other_argv in pairs:
        _importtime(base_argv, env), _importtime(other_argv, env)  # warm the bytecode cache
        _print_extra(title, _importtime(base_argv, env), _importtime(other_argv, env))


def load_note() -> str:
    """The 1-minute load average against the CPU count: these ratios need a quiet machine."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    warn = "  WARNING: busy machine, ratios are unreliable" if load > 0.5 * cpus + 0.5 else ""
    return f"load average {load:.2f} on {cpus} CPUs{warn}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7, help="timed runs per script (>= 5; default 7)")
    p.add_argument("--part", choices=["import", "first-step", "both"], default="both")
    p.add_argument(
        "--no-manual", action="store_true", help="skip the manual-optimization first-step run"
    )
    p.add_argument(
        "--inherit-env",
        action="store_true",
        help="pass the environment through unchanged (no private bytecode cache)",
    )
    p.add_argument(
        "--judge",
        choices=["wall", "cpu"],
        default="wall",
        help="ratio judged against the targets: wall-clock (default) or the children's CPU time",
    )
    p.add_argument(
        "--importtime",
        action="store_true",
        help="also list, by package, what import treadle loads beyond import torch",
    )
    args = p.parse_args(argv)
    if args.runs < 5:
        p.error("--runs must be >= 5")
    env = child_env(args.inherit_env)

    print(load_note())
    print(
        f"python {platform.python_version()} ({sys.executable}), runs {args.runs} (+1 warm-up each), "
        f"interleaved"
    )
    print(
        "children env: "
        + (
            "inherited unchanged"
            if args.inherit_env
            else f"PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX={env['PYTHONPYCACHEPREFIX']}"
        )
    )
    summary: dict = {
        "benchmark": "treadle.startup",
        "python": platform.python_version(),
        "runs": args.runs,
        "inherit_env": args.inherit_env,
    }
    failed = False

    if args.part in ("import", "both"):
        try:
            rt, rd = interleaved(
                lambda: run_child(["-c", IMPORT_CODE.format(mod="torch")], env),
                lambda: run_child(["-c", IMPORT_CODE.format(mod="treadle")], env),
                args.runs,
            )
        except ChildFailed as e:
            print(f"\nimport: a child failed:\n{e}", file=sys.stderr)
            failed = True
        else:
            wratio = med(rd, "import_s") / med(rt, "import_s")
            cratio = med(rd, "import_cpu_s") / med(rt, "import_cpu_s")
            pratio = med(rd, "process_s") / med(rt, "process_s")
            ratio = cratio if args.judge == "cpu" else wratio
            print(f"\n(a) cold import, median of {args.runs} fresh processes")
            print(f"{'':<18}{'import ms':>11}{'import CPU ms':>15}{'process ms':>12}")
            for label, rs in (("import torch", rt), ("import treadle", rd)):
                print(
                    f"{label:<18}{med(rs, 'import_s') * 1e3:>11.1f}{med(rs, 'import_cpu_s') * 1e3:>15.1f}"
                    f"{med(rs, 'process_s') * 1e3:>12.1f}"
                )
            print(f"{'ratio':<18}{wratio:>11.3f}{cratio:>15.3f}{pratio:>12.3f}")
            print(
                f"judged ({args.judge}): {ratio:.3f}, target <= {IMPORT_TARGET:.2f}: {verdict(ratio, IMPORT_TARGET)}"
            )
            summary["import"] = {
                "torch_import_s": [r["import_s"] for r in rt],
                "treadle_import_s": [r["import_s"] for r in rd],
                "torch_process_s": [r["process_s"] for r in rt],
                "treadle_process_s": [r["process_s"] for r in rd],
                "torch_import_cpu_s": [r["import_cpu_s"] for r in rt],
                "treadle_import_cpu_s": [r["import_cpu_s"] for r in rd],
                "ratio": wratio,
                "cpu_ratio": cratio,
                "process_ratio": pratio,
                "judged_on": args.judge,
                "target": IMPORT_TARGET,
                "pass": ratio <= IMPORT_TARGET,
            }

    if args.part in ("first-step", "both"):
        print(
            f"\n(b) process start to first optimizer step returning, median of {args.runs} fresh processes"
        )
        print(
            f"{'':<22}{'to import done ms':>18}{'to first step ms':>18}{'CPU ms':>8}"
            f"{'ratio':>8}{'CPU ratio':>10}{'target':>8}  result"
        )
        summary["first_step"] = {}
        modes = ["auto"] if args.no_manual else ["auto", "manual"]
        for mode in modes:
            try:
                rp, rd = interleaved(
                    lambda: run_child(["_first_step_plain.py"], env),
                    # interleaved() calls both within this iteration, with this mode
                    lambda: run_child(
                        ["_first_step_treadle.py"],
                        env,
                        {"TREADLE_BENCH_MODE": mode},  # noqa: B023
                    ),
                    args.runs,
                )
            except ChildFailed as e:
                print(f"first step ({mode}): a child failed:\n{e}", file=sys.stderr)
                failed = True
                continue
            wratio = med(rd, "first_step_s") / med(rp, "first_step_s")
            cratio = med(rd, "first_step_cpu_s") / med(rp, "first_step_cpu_s")
            ratio = cratio if args.judge == "cpu" else wratio
            judged = mode == "auto"
            tgt = f"<={FIRST_STEP_TARGET:.2f}" if judged else "-"
            res = verdict(ratio, FIRST_STEP_TARGET) if judged else "(info)"
            print(
                f"{'plain (' + mode + ' pair)':<22}{med(rp, 'import_s') * 1e3:>18.1f}"
                f"{med(rp, 'first_step_s') * 1e3:>18.1f}{med(rp, 'first_step_cpu_s') * 1e3:>8.0f}"
            )
            print(
                f"{'treadle ' + mode:<22}{med(rd, 'import_s') * 1e3:>18.1f}"
                f"{med(rd, 'first_step_s') * 1e3:>18.1f}{med(rd, 'first_step_cpu_s') * 1e3:>8.0f}"
                f"{wratio:>8.3f}{cratio:>10.3f}{tgt:>8}  {res}"
            )
            summary["first_step"][mode] = {
                "plain_first_step_s": [r["first_step_s"] for r in rp],
                "treadle_first_step_s": [r["first_step_s"] for r in rd],
                "plain_import_s": [r["import_s"] for r in rp],
                "treadle_import_s": [r["import_s"] for r in rd],
                "plain_first_step_cpu_s": [r["first_step_cpu_s"] for r in rp],
                "treadle_first_step_cpu_s": [r["first_step_cpu_s"] for r in rd],
                "ratio": wratio,
                "cpu_ratio": cratio,
                "judged_on": args.judge,
                "target": FIRST_STEP_TARGET if judged else None,
                "pass": (ratio <= FIRST_STEP_TARGET) if judged else None,
            }
        print(
            "to import done = launch -> imports finished (plain: torch; treadle: treadle+torch); "
            "CPU = the child's process CPU time up to the marker"
        )

    if args.importtime:
        import_profile(env)

    print(f"\nat the end: {load_note()}")
    summary["loadavg_end"], summary["cpus"] = os.getloadavg()[0], os.cpu_count()
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
