"""The table ``trainer.validate()`` and ``trainer.test()`` print (``verbose=True``), as Lightning's.

One row per metric (sorted by name, the ``/dataloader_idx_N`` suffix dropped), one column per
dataloader; a metric a dataloader did not log is blank there. Plain text, as Lightning prints it
where rich is not installed; rank zero only (the caller checks).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch


def _text(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    return f"{value}"


def results_table(results: Sequence[Mapping[str, Any]], stage: str, width: int) -> str:
    """The table for ``results`` (one dict per dataloader) of ``stage`` ("validate", "test");
    ``""`` when nothing was logged. ``width``: the terminal's columns."""
    results = [{k.split("/dataloader_idx_")[0]: v for k, v in r.items()} for r in results]
    names = sorted({k for r in results for k in r})
    if not names:
        return ""
    headers = [f"DataLoader {i}" for i in range(len(results))]
    cell = int(min(max(len(max(names, key=len)), len(max(headers, key=len)), 25), width / 2))
    per_table = max(1, int((width - cell) / cell))  # dataloader columns beside the names
    try:
        bar_char = "─"
        bar_char.encode(sys.stdout.encoding or "utf-8")
    except UnicodeEncodeError:
        bar_char = "-"
    bar = bar_char * width
    lines: list[str] = []
    for start in range(0, len(headers), per_table):
        columns = range(start, min(start + per_table, len(headers)))
        row_format = f"{{:^{cell}}}" * (len(columns) + 1)
        title = [f"{stage} metric".capitalize()] + [headers[i] for i in columns]
        lines += [bar, row_format.format(*title).rstrip(), bar]
        for name in names:
            cells = [_text(results[i][name]) if name in results[i] else " " for i in columns]
            lines.append(row_format.format(name, *cells).rstrip())
        lines.append(bar)
    return "\n".join(lines)


def print_results(results: Sequence[Mapping[str, Any]], stage: str) -> None:
    width = shutil.get_terminal_size(fallback=(120, 30)).columns or 120
    table = results_table(results, stage, width)
    if table:
        print(table, flush=True)
