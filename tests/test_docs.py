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
# file run by pytest. An HTML comment on the lines right before the fence (invisible when the
# markdown is rendered) changes that:
#
# * ``<!-- doc-test: setup`` ... ``-->``: the code between the two lines runs first, in the
#   same file: it makes what the block takes from the reader (their model, a finished run's
#   ``trainer``, a checkpoint file on disk, a package to import);
# * ``<!-- doc-test: treadle column`` ... ``-->``: the block is two columns side by side
#   (Lightning | treadle); the treadle column (from where ``# treadle`` starts on the first
#   line) runs, after the setup code the comment holds;
# * ``<!-- doc-test: skip: <why> -->``: the block does not run here, for the reason given.

SKIP = re.compile(r"<!-- doc-test: skip: (?P<why>.*\S) -->")
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.S | re.M)
PRELUDE = re.compile(
    r"<!-- doc-test: (?P<mode>setup|treadle column)\n(?P<code>.*?)^-->\n*\Z", re.S | re.M
)


def _treadle_column(code: str) -> str:
    """The right-hand column of a side-by-side block, dedented as one program."""
    lines = code.splitlines()
    start = lines[0].index("# treadle")
    return "\n".join(line[start:].rstrip() for line in lines) + "\n"


def _blocks_of(text: str) -> list:
    """(line, code to run, reason to skip or None) for each ```python block of a page."""
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        head = text[: match.start()]
        skip = SKIP.fullmatch(head.rstrip("\n").rsplit("\n", 1)[-1].strip())
        code = match.group("code")
        comment_at = head.rfind("<!-- doc-test:")
        prelude = PRELUDE.fullmatch(head[comment_at:]) if comment_at >= 0 else None
        if prelude:
            if prelude.group("mode") == "treadle column":
                code = _treadle_column(code)
            code = prelude.group("code") + code
        found.append((line, code, skip and skip.group("why")))
    return found


def _blocks() -> list:
    found = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        for line, code, skip in _blocks_of(md.read_text()):
            # A script that starts processes (the ranks re-run it under a __main__ guard) is slow.
            marks = [pytest.mark.slow] if "__main__" in code and not skip else []
            found.append(pytest.param(md.name, code, skip, id=f"{md.name}:{line}", marks=marks))
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


def test_every_marker_is_well_formed_and_precedes_a_python_block():
    openers = ("<!-- doc-test: setup", "<!-- doc-test: treadle column")
    for md in sorted((ROOT / "docs").glob("*.md")):
        lines = md.read_text().splitlines()
        for i, line in enumerate(lines):
            if "doc-test" not in line:
                continue
            where = f"{md.name}:{i + 1}"
            if line in openers:
                assert "-->" in lines[i + 1 :], f"{where}: the comment is never closed"
                end = lines.index("-->", i + 1)
                assert not any("<!--" in body for body in lines[i + 1 : end]), where
                after = end + 1
            else:
                assert SKIP.fullmatch(line.strip()), f"{where}: malformed marker {line!r}"
                after = i + 1
            assert after < len(lines) and lines[after] == "```python", (
                f"{where}: the marker must end on the line right before a ```python fence"
            )


def test_a_comment_before_a_block_changes_what_runs():
    page = (
        "<!-- doc-test: setup\nx = 1\n-->\n```python\nprint(x)\n```\n\n"
        "<!-- doc-test: treadle column\nimport os\n-->\n```python\n"
        "# Lightning   # treadle\nimport a      import b\n```\n\n"
        "```python\nprint(2)\n```\n"
    )
    assert _blocks_of(page) == [
        (4, "x = 1\nprint(x)\n", None),
        (11, "import os\n# treadle\nimport b\n", None),
        (16, "print(2)\n", None),
    ]
