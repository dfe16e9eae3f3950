"""``treadle new-plugin NAME``: the distribution it writes installs with pip, and its test passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from treadle.cli import main

PIP_TIMEOUT = 300


def _env(**extra):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    environ.update(extra)
    return environ


def test_the_generated_plugin_installs_loads_and_passes_its_test(tmp_path):
    made = subprocess.run(
        [sys.executable, "-m", "treadle", "new-plugin", "grad-norms"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    root = tmp_path / "treadle-grad-norms"
    assert made.stdout.startswith(f"wrote {'treadle-grad-norms'}: ")
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "src/treadle_grad_norms/__init__.py",
        "src/treadle_grad_norms/plugin.py",
        "tests/test_grad_norms.py",
    ]
    assert (
        '[project.entry-points.treadle]\ngrad_norms = "treadle_grad_norms.plugin"'
        in (root / "pyproject.toml").read_text()
    )
    # Installed as pip installs it (a wheel built here, offline), into a folder of its own.
    site = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(root),
        ],
        env=_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (site / "treadle_grad_norms-0.1.0.dist-info" / "entry_points.txt").is_file()
    path = os.pathsep.join([str(site), *(p for p in sys.path if p)])
    # treadle's kit comes from its pytest11 entry point once treadle is installed; -p names it
    # for a checkout that is not (named twice, it loads once).
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "treadle.testing",
            "tests",
        ],
        cwd=root,
        env=_env(PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b3 passed\b", tests.stdout), tests.stdout
    # And the CLI lists it, loaded.
    listed = subprocess.run(
        [sys.executable, "-m", "treadle", "plugins"],
        cwd=tmp_path,
        env=_env(PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "grad_norms" in listed.stdout and "treadle-grad-norms 0.1.0" in listed.stdout, (
        listed.stdout
    )


def test_a_name_that_cannot_be_a_package_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "2fast"]) == 2
    assert capsys.readouterr().err == (
        "`treadle new-plugin 2fast`: the name must be a lowercase letter followed by lowercase "
        "letters, digits, '-' or '_' (it becomes the entry point, the distribution treadle-NAME "
        "and the package treadle_NAME), e.g. `treadle new-plugin grad-norms`.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    assert main(["new-plugin", "treadle-mine", "--dir", str(tmp_path / "mine")]) == 2
    assert capsys.readouterr().err == (
        f"`treadle new-plugin treadle-mine`: {str(tmp_path / 'mine')!r} already exists and is not "
        "an empty folder; nothing was written. Choose another folder with `--dir PATH`, or "
        "remove it.\n"
    )
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]
    # An empty folder is used.
    (tmp_path / "empty").mkdir()
    assert main(["new-plugin", "mine", "--dir", str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "src" / "treadle_mine" / "plugin.py").is_file()
