"""Docs and hookspecs cannot drift."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from treadle import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_hook_reference", ROOT / "tools" / "gen_hook_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPECS = [name for name, fn in vars(hookspecs).items() if hasattr(fn, "treadle_spec")]


def test_hook_reference_is_generated_from_the_current_specs():
    committed = (ROOT / "docs" / "hook-reference.md").read_text()
    assert committed == _generator().render(), (
        "docs/hook-reference.md is stale: run `python tools/gen_hook_reference.py`"
    )


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_is_documented_with_its_signature(name):
    reference = (ROOT / "docs" / "hook-reference.md").read_text()
    # annotations stay strings (``from __future__ import annotations``): shown without quotes
    signature = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    assert f"### `{name}{signature}`" in reference


def test_the_reference_is_markdown_without_sphinx_roles_or_fields():
    """It renders as the rest of the docs: no ``:class:`x``` role, ``:param x:`` field or reST
    ````literal```` left in the text."""
    reference = (ROOT / "docs" / "hook-reference.md").read_text()
    assert not re.findall(r":[a-z]+:`[^`]*`", reference)
    assert not re.findall(r"^:(?:param \w+|returns?|raises? [\w.]+):", reference, re.M)
    assert "``" not in reference


def test_docstring_fields_become_a_parameter_list_and_a_returns_line():
    doc = (
        "Called with ``x``, see :class:`treadle.Trainer` and :data:`~treadle.X`.\n\n"
        ":param trainer: the :class:`treadle.Trainer`.\n"
        ":param batch: the batch,\n    moved to the device.\n"
        ":return: non-None when done. Stops at the first non-None result."
    )
    assert _generator().markdown(doc) == (
        "Called with `x`, see `treadle.Trainer` and `treadle.X`.\n\n"
        "**Parameters**\n\n"
        "* `trainer`: the `treadle.Trainer`.\n"
        "* `batch`: the batch, moved to the device.\n\n"
        "**Returns:** non-None when done. Stops at the first non-None result."
    )


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_is_annotated(name):
    """Editors help plugin authors: every parameter and the result carry a type."""
    sig = inspect.signature(getattr(hookspecs, name))
    missing = [p for p, param in sig.parameters.items() if param.annotation is param.empty]
    assert not missing, f"hookspec {name}: parameters without annotation: {missing}"
    assert sig.return_annotation is not sig.empty, f"hookspec {name} has no return annotation"


def test_each_phase_is_one_section_of_the_reference():
    """The table's phases follow the source's grouping: each heading appears once."""
    reference = (ROOT / "docs" / "hook-reference.md").read_text()
    headings = [line for line in reference.splitlines() if line.startswith("## ")]
    assert headings == [f"## {title}" for title in hookspecs.PHASES.values()]


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_docstring_is_complete(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert doc, f"hookspec {name} has no docstring"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"hookspec {name} does not document `{param}`"
    if fn.treadle_spec.get("firstresult"):
        assert "Stops at the first non-None result." in doc, name


# -- every ```python block of docs/ runs ------------------------------------------------------
#
# Each block runs alone, as a reader would paste it, in a fresh interpreter in an empty
# directory: a script (``python snippet.py``), or, when it defines ``test_*`` functions, a test
# file run by pytest. A block that cannot run here carries, on the line before its fence, the
# marker ``<!-- doc-test: skip: <why> -->`` (invisible when the markdown is rendered).

SKIP = re.compile(r"<!-- doc-test: skip: (?P<why>.*\S) -->")
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.S | re.M)


def _blocks() -> list:
    found = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        text = md.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.fullmatch(before.strip())
            code = match.group("code")
            # A script that starts processes (the ranks re-run it under a __main__ guard) is slow.
            marks = [pytest.mark.slow] if "__main__" in code and not skip else []
            found.append(
                pytest.param(
                    md.name, code, skip and skip.group("why"), id=f"{md.name}:{line}", marks=marks
                )
            )
    return found


@pytest.mark.parametrize(("doc", "code", "skip"), _blocks())
def test_every_python_block_in_the_docs_runs(doc, code, skip, tmp_path):
    if skip:
        pytest.skip(f"{doc}: {skip}")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if re.search(r"^def test_", code, re.M):
        (tmp_path / "test_snippet.py").write_text(code)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # treadle's kit, which its pytest11 entry point loads once treadle is reinstalled
            # (named twice, it loads once).
            "-p",
            "treadle.testing",
            "test_snippet.py",
        ]
    else:
        (tmp_path / "snippet.py").write_text(code)
        command = [sys.executable, "snippet.py"]
    result = subprocess.run(
        command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{doc}:\n{code}\n{result.stdout}\n{result.stderr}"
    assert "Failed to initialize NumPy" not in result.stderr


def test_every_skip_marker_names_its_reason_and_precedes_a_python_block():
    for md in sorted((ROOT / "docs").glob("*.md")):
        lines = md.read_text().splitlines()
        for i, line in enumerate(lines):
            if "doc-test" not in line:
                continue
            assert SKIP.fullmatch(line.strip()), f"{md.name}:{i + 1}: malformed marker {line!r}"
            assert i + 1 < len(lines) and lines[i + 1] == "```python", (
                f"{md.name}:{i + 1}: the marker must be the line right before a ```python fence"
            )
