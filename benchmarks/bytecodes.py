"""Python bytecodes per training step, treadle / plain PyTorch, counted with ``sys.settrace``.

Timing a 20 µs difference on a 330 µs step takes many interleaved processes (``step_time.py``)
and still moves by several µs from sitting to sitting. What treadle adds per step in Python is
countable exactly: this script runs the loops of ``step_time.py`` (the plain loop, and
``trainer.fit()`` in automatic and manual optimization, tiny MLP) under a trace function that
counts every bytecode executed (``frame.f_trace_opcodes``), between the ``--skip``-th and the
``--skip + --steps``-th optimizer step (stamped by a step post-hook, as ``step_time.py`` does),
and reports per step:

* the bytecodes of each side and treadle's extra ones;
* where treadle's extra ones run: by function (``file:function``), largest first -- only
  functions whose count differs from the plain loop's (torch's own code runs on both sides);
* the distinct Python functions entered per step on each side (frames cost more than their
  bytecodes: each is a call, and code the CPU caches must hold).

The counts are deterministic for a given Python, torch and treadle. They are not times: a
bytecode can cost anything from a few to a few hundred nanoseconds, and torch's C++ kernels are
not counted at all. Read them beside ``step_time.py``'s ratios.

    python benchmarks/bytecodes.py                  # ~10 s
    python benchmarks/bytecodes.py --modes manual --top 30

The last line is one JSON object with every figure. Exit status 0.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import step_time  # noqa: E402


def count(run, skip: int, steps: int) -> tuple[dict[str, float], float]:
    """Bytecodes per step by ``file:function``, and distinct functions entered per step, over
    ``steps`` optimizer steps after the first ``skip``."""
    by_function: collections.Counter = collections.Counter()
    entered: collections.Counter = collections.Counter()
    stepped = [0]
    window = [False]

    def stamp(optimizer, args, kwargs) -> None:
        stepped[0] += 1
        window[0] = skip <= stepped[0] < skip + steps

    def trace(frame, event, arg):
        frame.f_trace_opcodes = True
        if window[0]:
            code = frame.f_code
            key = f"{Path(code.co_filename).name}:{code.co_name}"
            if event == "opcode":
                by_function[key] += 1
            elif event == "call":
                entered[key] += 1
        return trace

    sys.settrace(trace)
    try:
        run(skip + steps + 1, stamp)
    finally:
        sys.settrace(None)
    return {k: v / steps for k, v in by_function.items()}, sum(entered.values()) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modes", nargs="+", choices=("auto", "manual"), default=["auto", "manual"]
    )
    parser.add_argument("--skip", type=int, default=120, help="optimizer steps before counting")
    parser.add_argument("--steps", type=int, default=100, help="steps counted")
    parser.add_argument("--top", type=int, default=12, help="functions listed per mode")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    logging.disable(logging.INFO)  # treadle's start-up lines

    def plain(total, stamp):
        step_time.plain_run("tiny", total, 0, stamp)

    base, base_calls = count(plain, args.skip, args.steps)
    result: dict = {"benchmark": "treadle.bytecodes", "python": sys.version.split()[0]}
    result["plain"] = {"bytecodes": sum(base.values()), "calls": base_calls}
    print(f"python {result['python']}, torch {torch.__version__}, tiny MLP, per optimizer step")
    print(f"plain loop: {sum(base.values()):.0f} bytecodes, {base_calls:.0f} Python calls")
    for mode in args.modes:

        def treadle(total, stamp, mode=mode):
            step_time.treadle_run("tiny", mode, total, 0, stamp)

        with contextlib.redirect_stdout(io.StringIO()):  # the model summary table
            counts, calls = count(treadle, args.skip, args.steps)
        extra = {
            k: counts.get(k, 0.0) - base.get(k, 0.0)
            for k in set(counts) | set(base)
            if abs(counts.get(k, 0.0) - base.get(k, 0.0)) >= 0.5
        }
        total = sum(counts.values())
        ratio = total / sum(base.values())
        print(
            f"\ntreadle {mode}: {total:.0f} bytecodes ({total - sum(base.values()):+.0f}, "
            f"ratio {ratio:.3f}), {calls:.0f} Python calls ({calls - base_calls:+.0f})"
        )
        for name, n in sorted(extra.items(), key=lambda kv: -abs(kv[1]))[: args.top]:
            print(f"  {n:+7.1f}  {name}")
        result[mode] = {
            "bytecodes": total,
            "extra": total - sum(base.values()),
            "ratio": ratio,
            "calls": calls,
            "extra_calls": calls - base_calls,
            "by_function": {k: round(v, 2) for k, v in extra.items()},
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
