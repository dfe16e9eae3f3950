"""Docs and hookspecs cannot drift."""

from __future__ import annotations

import importlib.util
import inspect
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
