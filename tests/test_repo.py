"""The README's commands and CI stay the same commands."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "examples/gan.py" in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [part.strip() for part in _readme_commands()[1].split("&&")]
    # The venv creation and activation are spelled on their own lines in .ci/run.
    for step in steps[2:]:
        assert any(line.strip().startswith(step) for line in ci), step
    assert any("torch==2.13.0" in line for line in ci)
