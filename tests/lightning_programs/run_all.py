"""Run every program in programs/ on Lightning (its own imports) and on treadle (mapped).

``python tests/lightning_programs/run_all.py [--lightning PYTHON] [--only NAME...]`` prints one
line per program: its name and the result on each side (``ok``, or the last line of its error).
``LIGHTNING_PYTHONPATH`` (when set) is the Lightning side's ``PYTHONPATH``: packages a program
needs (torch_geometric, kornia) installed with ``pip install --target`` beside a read-only venv.
Each run gets a fresh folder and a time limit. The pytest file runs the treadle side only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mapper import map_source  # noqa: E402

TIMEOUT_S = 120


def treadle_env() -> dict[str, str]:
    """The environment for a mapped program: this checkout's treadle, no TREADLE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    paths = [ROOT / "core", ROOT / "plugins"]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run(python: str, source: str, name: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``source`` as ``name`` in a fresh folder; (exit code, stdout+stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(source)
        try:
            proc = subprocess.run(
                [python, str(path)],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as e:
            return 124, f"timed out after {TIMEOUT_S}s\n{e.stdout or ''}{e.stderr or ''}"
    return proc.returncode, proc.stdout + proc.stderr


def last_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lightning", default="/work/lvenv/bin/python")
    parser.add_argument("--no-lightning", action="store_true")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("-v", action="store_true", help="print a failing run's whole output")
    args = parser.parse_args()
    programs = sorted((HERE / "programs").glob("*.py"))
    if args.only:
        programs = [p for p in programs if p.stem in args.only or p.name in args.only]
    passed = 0
    for p in programs:
        source = p.read_text()
        cols = [p.name]
        if not args.no_lightning:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            if os.environ.get("LIGHTNING_PYTHONPATH"):  # packages beside a read-only Lightning venv
                env["PYTHONPATH"] = os.environ["LIGHTNING_PYTHONPATH"]
            rc, out = run(args.lightning, source, p.name, env)
            cols.append("ok" if rc == 0 else f"FAIL {last_error(out)}")
        rc, out = run(sys.executable, map_source(source), p.name, treadle_env())
        passed += rc == 0
        cols.append("ok" if rc == 0 else f"FAIL {last_error(out)}")
        print(" | ".join(cols), flush=True)
        if rc and args.v:
            print(out[-6000:])
    print(f"treadle: {passed}/{len(programs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
