"""The scripts in ``examples/`` run as a user runs them: ``python examples/NAME.py --epochs N``.

Each runs in a subprocess of its own (a new session, so a hung run and any ranks it started are
killed on timeout); the tests read what the script prints and check that it trained.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import treadle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 180
NUMBER = r"[-+0-9.eE]+|nan|inf"


def run_example(name: str, *args: str, timeout: float = TIMEOUT_S) -> str:
    """Run ``examples/<name>`` with ``args``; its stdout, after checking it exited with 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=EXAMPLES.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name} {' '.join(args)} ran past {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, (
        f"{name} {' '.join(args)} exited with {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    )
    print(f"{name} {' '.join(args)}: {time.perf_counter() - start:.1f}s\n{out}")
    return out


def epoch_lines(out: str, pattern: str, epochs: int) -> list:
    """One dict of floats per ``epoch i/N: ...`` line, checked to be epochs 1..N in order."""
    rows = []
    for match in re.finditer(rf"^epoch (\d+)/(\d+): {pattern}", out, flags=re.M):
        rows.append({k: float(v) for k, v in match.groupdict().items()})
        assert (int(match.group(1)), int(match.group(2))) == (len(rows), epochs), out
    assert len(rows) == epochs, out
    for row in rows:
        assert all(math.isfinite(v) for v in row.values()), row
    return rows


def test_gan_learns_the_ring():
    out = run_example("gan.py", "--epochs", "10")
    rows = epoch_lines(
        out,
        rf"d_loss=(?P<d_loss>{NUMBER}) g_loss=(?P<g_loss>{NUMBER}) "
        rf"modes=(?P<modes>\d+)/8 near_mode=(?P<near>{NUMBER})",
        10,
    )
    # A GAN's losses do not decrease; neither side should win outright (ln 4 = 1.39 is the
    # discriminator's loss at equilibrium, ln 2 = 0.69 the generator's).
    for row in rows:
        assert 0.3 < row["d_loss"] < 3.0 and 0.2 < row["g_loss"] < 5.0, row
    # The samples get better: most land near a mode, and on most of the modes.
    assert rows[-1]["modes"] >= 6, out
    assert rows[-1]["near"] >= 0.2 and rows[-1]["near"] > rows[0]["near"], out
    assert "trained 10 epochs (1280 steps)" in out  # global_step: one per batch, not two


def test_lbfgs_drives_the_closure_and_converges():
    out = run_example("lbfgs.py", "--epochs", "8")
    rows = epoch_lines(
        out,
        rf"loss (?P<before>{NUMBER}) -> (?P<after>{NUMBER}) "
        rf"val_loss=(?P<val>{NUMBER}) closure_calls=(?P<calls>\d+)",
        8,
    )
    for row in rows:
        assert row["after"] <= row["before"] * (1 + 1e-6), row  # each step decreases the loss
    for prev, row in zip(rows, rows[1:]):
        assert row["before"] == pytest.approx(prev["after"], rel=1e-3, abs=2e-6)
    assert rows[0]["calls"] > 1  # LBFGS evaluated the closure several times in one step
    assert rows[-1]["val"] < 0.01 < rows[0]["before"]
    assert rows[-1]["after"] < rows[0]["before"] / 100


def test_accumulation_clipping_and_step_scheduler():
    out = run_example("accumulate_clip.py", "--epochs", "4")
    rows = epoch_lines(
        out,
        rf"loss=(?P<loss>{NUMBER}) val_loss=(?P<val>{NUMBER}) "
        rf"lr=(?P<lr>{NUMBER}) steps=(?P<steps>\d+) "
        rf"grad_norm_max=(?P<norm>{NUMBER}) clipped=(?P<clipped>\d+)",
        4,
    )
    # 32 batches per epoch, accumulate_grad_batches=4: 8 optimizer steps per epoch.
    assert [r["steps"] for r in rows] == [8, 16, 24, 32]
    assert "32 optimizer steps (8 per epoch of 32 batches)" in out
    # OneCycleLR stepped once per optimizer step (more would raise): low at the end.
    assert rows[-1]["lr"] < rows[1]["lr"]
    for prev, row in zip(rows, rows[1:]):
        assert row["loss"] < prev["loss"], out
    assert rows[-1]["val"] < rows[0]["val"] / 2
    assert rows[0]["norm"] > 10.0 and rows[0]["clipped"] > 0  # clipping had work to do


def _ddp_provided() -> bool:
    try:
        treadle.Trainer(
            accelerator="cpu",
            strategy="ddp",
            devices=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
        )
    except treadle.ConfigurationError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(
    not _ddp_provided(),
    reason="no plugin provides strategy='ddp' yet "
    "(Trainer(strategy='ddp') is a ConfigurationError)",
)
def test_ddp_two_cpu_processes():
    out = run_example("ddp.py", "--epochs", "2", "--devices", "2")
    rows = epoch_lines(
        out,
        rf"loss=(?P<loss>{NUMBER}) val_loss=(?P<val>{NUMBER}) "
        rf"steps=(?P<steps>\d+) world_size=(?P<world>\d+)",
        2,
    )
    # 2048 samples, 32 per batch, half per rank: 32 steps per epoch.
    assert [(r["steps"], r["world"]) for r in rows] == [(32, 2), (64, 2)]
    assert rows[1]["loss"] < rows[0]["loss"]
    sums = dict(re.findall(r"rank (\d)/2: weights checksum (-?[0-9.]+)", out))
    assert sorted(sums) == ["0", "1"], out
    assert sums["0"] == sums["1"], out  # the ranks stayed in sync
