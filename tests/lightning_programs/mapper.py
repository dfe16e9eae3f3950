"""Map a Lightning program's imports onto treadle's names, name for name (issue 10's measure).

Only import statements change; every other line of the program stays as it is. The rules are
what a user moving a program over would do:

- ``lightning``, ``lightning.pytorch`` and ``pytorch_lightning`` become ``treadle``, so
  ``import lightning as L`` becomes ``import treadle as L`` (treadle keeps the names
  ``L.LightningModule`` and ``L.LightningDataModule`` as aliases of ``Module`` and
  ``DataModule`` for exactly this), and ``from lightning.pytorch import LightningModule``
  becomes ``from treadle import Module as LightningModule``;
- ``<lightning>.callbacks[.anything]`` becomes ``treadle.callbacks`` and ``<lightning>.loggers
  [.anything]`` becomes ``treadle.loggers`` (each keeps the class names);
- ``LightningCLI`` from ``<lightning>.cli`` becomes ``treadle.cli.CLI``;
- any other ``<lightning>.x.y`` becomes ``treadle.x.y`` (it fails to import where treadle has
  no such module: that is part of what the measure counts).

Use: ``python mapper.py program.py > mapped.py`` or ``map_source(text)``.
"""

from __future__ import annotations

import ast
import sys

# the import names of Lightning's distributions, longest first
_ROOTS = ("lightning.pytorch", "lightning", "pytorch_lightning")
# a Lightning name -> treadle's name for the same thing
_RENAMES = {
    "LightningModule": "Module",
    "LightningDataModule": "DataModule",
    "LightningCLI": "CLI",
}
# Lightning submodules whose contents treadle gathers in one module
_FLAT = ("callbacks", "loggers")
# Lightning modules whose names live in treadle's top-level package
_TOP = ("core", "core.module", "core.datamodule", "trainer", "trainer.trainer")


def map_module(name: str) -> str | None:
    """treadle's module for the Lightning module ``name``; None when it is not Lightning's."""
    for root in _ROOTS:
        if name == root:
            return "treadle"
        if name.startswith(root + "."):
            rest = name[len(root) + 1 :]
            if root == "lightning" and rest.split(".")[0] == "pytorch":
                continue  # "lightning.pytorch..." is handled by the longer root
            head = rest.split(".")[0]
            if head in _FLAT:
                return f"treadle.{head}"
            if rest in _TOP:
                return "treadle"
            return f"treadle.{rest}"
    return None


def _alias(name: str, asname: str | None) -> str:
    new = _RENAMES.get(name, name)
    bound = asname or name
    return new if new == bound else f"{new} as {bound}"


def _rewrite(node: ast.stmt) -> list[str] | None:
    """The statements that replace the import ``node``; None when it imports nothing of Lightning."""
    if isinstance(node, ast.ImportFrom):
        if node.level or node.module is None:
            return None
        target = map_module(node.module)
        if target is None:
            return None
        return [f"from {target} import {_alias(a.name, a.asname)}" for a in node.names]
    if isinstance(node, ast.Import):
        out: list[str] = []
        changed = False
        for a in node.names:
            target = map_module(a.name)
            if target is None:
                out.append(f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
            elif a.asname:
                changed = True
                out.append(f"import {target} as {a.asname}")
            else:
                # ``import lightning.pytorch`` binds ``lightning``; bind the same name to treadle
                changed = True
                out.append(f"import {target} as {a.name.split('.')[0]}")
        return out if changed else None
    return None


def map_source(source: str) -> str:
    """``source`` with every import of Lightning rewritten onto treadle; nothing else changes."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            new = _rewrite(node)
            if new is not None:
                edits.append((node.lineno, node.end_lineno or node.lineno, new))
    for start, end, new in sorted(edits, reverse=True):
        first = lines[start - 1]
        indent = first[: len(first) - len(first.lstrip())]
        tail = lines[end - 1]
        # keep a trailing comment or a `; other` statement on the last line out of it: imports
        # in the programs stand on their own lines, so the statement ends the line
        newline = "\n" if tail.endswith("\n") else ""
        lines[start - 1 : end] = [indent + "; ".join(new) + newline]
    return "".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python mapper.py PROGRAM.py  (the mapped program goes to stdout)")
        return 2
    with open(argv[0], encoding="utf-8") as f:
        sys.stdout.write(map_source(f.read()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
