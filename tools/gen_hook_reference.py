"""Write docs/hook-reference.md from treadle.hookspecs (run after changing a hookspec).

    python tools/gen_hook_reference.py

tests/test_docs.py regenerates it and fails when the committed file differs, so the docs and
the specs cannot drift.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from treadle import hookspecs

OUT = Path(__file__).resolve().parents[1] / "docs" / "hook-reference.md"


def specs():
    """``[(name, signature, opts, docstring, phase)]`` in source order."""
    source = inspect.getsource(hookspecs).splitlines()
    phase, phases = None, {}
    for i, line in enumerate(source):
        if line.startswith("# ---") and i + 1 < len(source) and source[i + 1].startswith("# ") \
                and not source[i + 1].startswith("# ---"):
            phase = source[i + 1][2:].strip()
        if line.startswith("def "):
            phases[line[4:line.index("(")]] = phase
    out = []
    for name, fn in vars(hookspecs).items():
        opts = getattr(fn, "treadle_spec", None)
        if opts is None:
            continue
        out.append((name, str(inspect.signature(fn)), opts, inspect.getdoc(fn) or "",
                    phases.get(name)))
    out.sort(key=lambda s: inspect.getsourcelines(getattr(hookspecs, s[0]))[1])
    return out


def render() -> str:
    lines = ["# Hook reference", "",
             "Generated from `treadle.hookspecs` by `tools/gen_hook_reference.py`; do not edit.",
             "The order in which hooks are called, and implementations of one hook run, is in",
             "[hooks.md](hooks.md).", ""]
    phase = None
    for name, sig, opts, doc, spec_phase in specs():
        if spec_phase != phase:
            phase = spec_phase
            lines += [f"## {phase}", ""]
        flags = ", ".join(k for k in ("firstresult", "historic") if opts.get(k))
        lines += [f"### `{name}{sig}`", ""]
        if flags:
            lines += [f"*{flags}*", ""]
        lines += [doc, ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
