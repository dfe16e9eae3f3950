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


def test_contributing_installs_and_names_every_contrib_package_ci_installs():
    ci = (ROOT / ".ci" / "run").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    packages = sorted(
        p.name for p in (ROOT / "contrib").iterdir() if (p / "pyproject.toml").is_file()
    )
    assert packages, "no contrib package found"
    for name in packages:
        assert f"-e ./contrib/{name}" in ci, f".ci/run does not install contrib/{name}"
        assert f"-e ./contrib/{name}" in contributing, f"CONTRIBUTING.md does not install {name}"
        assert f"contrib/{name}/tests" in contributing, f"CONTRIBUTING.md does not test {name}"
