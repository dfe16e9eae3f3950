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
    done = subprocess.run(
        [sys.executable, str(BENCH / "overhead.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["lockstep", "runs"])
def test_overhead_sides_do_the_same_work(method):
    out = _run(
        "--method",
        method,
        "--sizes",
        "tiny",
        "--repeats",
        "5",
        "--tiny-steps",
        "24",
        "--epochs",
        "2",
    )
    assert out["method"] == method
    assert [c["case"] for c in out["cases"]] == ["tiny/auto/32-true", "tiny/manual/32-true"]
    for case in out["cases"]:
        assert case["steps_match"], case
        assert case["max_weight_diff"] == 0.0, case
        assert all(t > 0 for t in case["plain_s"] + case["fit_s"]), case


def test_overhead_plain_only_lockstep_pairs_a_plain_loop_with_itself():
    out = _run(
        "--plain-only", "--sizes", "tiny", "--modes", "auto", "--repeats", "5", "--tiny-steps", "24"
    )
    (case,) = out["cases"]
    assert out["plain_only"] and case["steps_match"] and case["max_weight_diff"] == 0.0


def test_deepspeed_overhead_lockstep_sides_do_the_same_work():
    """Two ranks under torchrun, a plain deepspeed.initialize loop and treadle's deepspeed
    strategy (ZeRO 2, fp32) stepping alternately: same steps, same losses, same final weights."""
    pytest.importorskip("deepspeed")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "deepspeed_overhead.py"),
            "--stages",
            "2",
            "--precisions",
            "fp32",
            "--rounds",
            "1",
            "--steps",
            "20",
            "--warmup",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["method"] == "lockstep" and not out["plain_only"] and out["world_size"] == 2
    (config,) = out["configs"]
    assert (config["stage"], config["precision"]) == (2, "fp32")
    assert config["steps_match"] and config["same_losses"] and config["same_params"], config
    (r,) = config["rounds"]
    assert r["plain_steps"] == r["treadle_steps"] == 25, r
    assert len(r["plain_losses"]) == 2 and r["plain_losses"] == r["treadle_losses"], r
    assert r["params_diff"] == 0.0 and r["plain_s"] > 0 and r["fit_s"] > 0, r


def test_ddp_overhead_lockstep_sides_do_the_same_work():
    """Two ranks under torchrun, plain DDP and treadle's ddp steps alternating: 85 steps cross
    an epoch boundary (64 batches per rank), so a missed ``set_epoch`` shows in the weights."""
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "ddp_overhead.py"),
            "--steps",
            "80",
            "--warmup",
            "5",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["method"] == "lockstep" and not out["plain_only"]
    assert out["same_steps"] and out["same_weights"] and out["same_final_loss"], out
    for r in [out["warmup_round"], *out["rounds"]]:
        assert r["plain_steps"] == r["treadle_steps"] == 85, r
        assert r["params_diff"] == 0.0 and r["plain_loss"] == r["treadle_loss"], r
        assert r["plain_s"] > 0 and r["fit_s"] > 0, r
    assert len(out["rounds"]) == 1


def test_fsdp_overhead_lockstep_sides_do_the_same_work():
    """Two ranks under torchrun, a plain ``fully_shard`` loop and treadle's fsdp steps
    alternating: both sides take every step and end with bit-identical full weights."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "fsdp_overhead.py"), "--steps", "10", "--warmup", "3"]
        + ["--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["benchmark"] == "fsdp_overhead" and len(out["rounds"]) == 1
    (r,) = out["rounds"]
    assert r["plain_steps"] == r["treadle_steps"] == r["steps"] == 13, r
    assert r["params_diff"] == 0.0 and r["step_ratio"] > 0, r


def test_step_time_children_time_the_same_steps(tmp_path):
    """Each side in its own process, timed by a post-hook on its optimizer: every child saw its
    hook fire once per step, both sides took the same steps and ended with the same weights."""
    out_file = tmp_path / "step_time.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "step_time.py"),
            "--sizes",
            "tiny",
            "--rounds",
            "1",
            "--steps",
            "30",
            "--warmup",
            "5",
            "--json",
            str(out_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(out_file.read_text())
    assert not out["plain_only"] and out["errors"] == []
    assert [c["case"] for c in out["cases"]] == ["tiny/auto", "tiny/manual"]
    for case in out["cases"]:
        assert case["same_steps"] and case["same_weights"], case
        ((plain, treadle),) = case["rounds"]
        assert (plain["side"], treadle["side"]) == ("plain", "treadle")
        for child in (plain, treadle):
            assert child["steps"] == child["loop_steps"] == 35 and child["timed_steps"] == 30, child
            assert 0 < child["q1_ns"] <= child["median_ns"] <= child["q3_ns"] < 1e9, child
            assert child["peak_rss_kb"] > 0, child
        assert 0.2 < case["ratio"] < 5 and case["plain_us"] > 0, case


def test_bytecodes_counts_the_window_of_both_loops():
    """bytecodes.py counts the same window of steps on both sides: the plain loop's body and
    treadle's loop and step are in it, and treadle's extra bytecodes are where its loop runs."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "bytecodes.py"), "--skip", "5", "--steps", "10"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["plain"]["bytecodes"] > 1000 and out["plain"]["calls"] > 50, out["plain"]
    for mode in ("auto", "manual"):
        side = out[mode]
        assert side["extra"] == side["bytecodes"] - out["plain"]["bytecodes"]
        assert side["by_function"]["loop.py:epoch"] > 0  # treadle's epoch loop, per step
        assert side["by_function"]["step_time.py:plain_run"] < 0  # the plain loop's own body
        assert 0.5 < side["ratio"] < 2, side
