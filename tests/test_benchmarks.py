"""The benchmark scripts still run and still compare like with like (a few steps, no timing
judged): both sides take the same number of steps and end with bit-identical weights."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*args: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / "overhead.py"), *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["lockstep", "runs"])
def test_overhead_sides_do_the_same_work(method):
    out = _run("--method", method, "--sizes", "tiny", "--repeats", "5", "--tiny-steps", "24",
               "--epochs", "2")
    assert out["method"] == method
    assert [c["case"] for c in out["cases"]] == ["tiny/auto/32-true", "tiny/manual/32-true"]
    for case in out["cases"]:
        assert case["steps_match"], case
        assert case["max_weight_diff"] == 0.0, case
        assert all(t > 0 for t in case["plain_s"] + case["fit_s"]), case


def test_overhead_plain_only_lockstep_pairs_a_plain_loop_with_itself():
    out = _run("--plain-only", "--sizes", "tiny", "--modes", "auto", "--repeats", "5",
               "--tiny-steps", "24")
    (case,) = out["cases"]
    assert out["plain_only"] and case["steps_match"] and case["max_weight_diff"] == 0.0
