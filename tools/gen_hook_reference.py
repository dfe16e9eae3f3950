"""Write docs/hook-reference.md from treadle.hookspecs (run after changing a hookspec).

    python tools/gen_hook_reference.py

tests/test_docs.py regenerates it and fails when the committed file differs, so the docs and
the specs cannot drift. Sections and facts come from the table ``treadle.hookspecs.HOOKS``.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from treadle import hookspecs

OUT = Path(__file__).resolve().parents[1] / "docs" / "hook-reference.md"


def signature(fn) -> str:
    """The spec's signature as written (``from __future__ import annotations`` keeps them
    strings; the quotes ``inspect`` would print are left out)."""
    return str(inspect.signature(fn)).replace("'", "")


def specs():
    """``[(name, signature, opts, docstring, info)]`` in source order."""
    out = []
    for name, fn in vars(hookspecs).items():
        opts = getattr(fn, "treadle_spec", None)
        if opts is None:
            continue
        out.append((name, signature(fn), opts, inspect.getdoc(fn) or "", hookspecs.HOOKS[name]))
    out.sort(key=lambda s: inspect.getsourcelines(getattr(hookspecs, s[0]))[1])
    return out


def facts(name: str, opts: dict, info: hookspecs.HookInfo) -> list:
    found = [k for k in ("firstresult", "historic") if opts.get(k)]
    if info.per_step:
        found.append("called per step")
    if info.module_method:
        found.append(f"`Module.{info.module_method}` implements it")
    if info.action:
        found.append("an override that returns None still counts as done")
    if info.construction_only:
        found.append("consulted while the `Trainer` is built")
    return found


ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj):`~?([^`]+)`")
FIELD = re.compile(r":(param (?P<name>\w+)|return|returns|raises? (?P<exc>[\w.]+)):\s*(?P<text>.*)")


def markdown(doc: str) -> str:
    """A hookspec's docstring (reST fields and roles, as editors show them) as Markdown.

    ``:class:`x``` and ````x```` become `` `x` ``; the ``:param name:`` fields become a list of the
    parameters, ``:return:`` a "Returns" line, each field's indented continuation lines
    joined to it.
    """
    text = ROLE.sub(lambda m: f"`{m.group(1)}`", doc)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)  # reST literals: Markdown code, as elsewhere
    body: list[str] = []
    params: list[str] = []
    tail: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        field = FIELD.fullmatch(line)
        if field:
            if field.group("name"):
                current = params
                current.append(f"* `{field.group('name')}`: {field.group('text')}")
            elif field.group("exc"):
                current = tail
                current.append(f"**Raises** `{field.group('exc')}`: {field.group('text')}")
            else:
                current = tail
                current.append(f"**Returns:** {field.group('text')}")
        elif current is not None and line.startswith(" ") and line.strip():
            current[-1] += " " + line.strip()
        else:
            current = None
            body.append(line)
    out = "\n".join(body).rstrip()
    if params:
        out += "\n\n**Parameters**\n\n" + "\n".join(params)
    if tail:
        out += "\n\n" + "\n\n".join(tail)
    return out.strip()


def render() -> str:
    lines = [
        "# Hook reference",
        "",
        "Generated from `treadle.hookspecs` by `tools/gen_hook_reference.py`; do not edit.",
        "The order in which hooks are called, and implementations of one hook run, is in",
        "[hooks.md](hooks.md).",
        "",
    ]
    phase = None
    for name, sig, opts, doc, info in specs():
        if info.phase != phase:
            phase = info.phase
            lines += [f"## {hookspecs.PHASES[phase]}", ""]
        lines += [f"### `{name}{sig}`", ""]
        found = facts(name, opts, info)
        if found:
            lines += [f"*{'; '.join(found)}*", ""]
        lines += [markdown(doc), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
