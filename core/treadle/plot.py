"""``treadle plot``: the curves of one or more runs' ``metrics.csv`` in one PNG (extra ``[plot]``).

``treadle plot lightning_logs/version_0 lightning_logs/version_1 -o curves.png`` reads each
run's ``metrics.csv`` (a CSV logger's file: a ``step`` and an ``epoch`` column, one column per
metric) and draws one panel per quantity, where a metric's training and validation series share
the axes: ``train_loss``, ``loss``, ``loss_step``, ``loss_epoch`` and ``val_loss`` are all
"loss". The x axis is the global step (``--x step``, the default) or the epoch (``--x epoch``:
each metric's mean over the epoch's rows). Several runs are drawn on the same panels, labelled
by their folder. ``--data curves.json`` also writes every line's points, for scripts and tests.

matplotlib is imported by :func:`draw` only, never by ``import treadle``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"
INSTALL_HINT = "pip install 'treadle[plot]'"
_STAGE_PREFIXES = ("train_", "training_", "val_", "validation_", "valid_", "test_")
_STAGE_SUFFIXES = ("_step", "_epoch")


class PlotError(ValueError):
    """A path or option ``treadle plot`` cannot use (names it and the fix)."""


def find_metrics(path: str | os.PathLike) -> list[Path]:
    """The ``metrics.csv`` files ``path`` names: the file itself, or every one under a folder."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(p.rglob(METRICS_FILE))
        if found:
            return found
        raise PlotError(
            f"`{path}` holds no {METRICS_FILE}: give a run's folder (a CSV logger's "
            f"`lightning_logs/version_N`), a folder above several, or the file."
        )
    raise PlotError(f"`{path}` does not exist: give a {METRICS_FILE} file or a folder holding one.")


def quantity(metric: str) -> str:
    """The panel a metric goes to: its name without a stage prefix or a step/epoch suffix
    (``val_loss`` -> ``loss``, ``train/acc_epoch`` -> ``acc``)."""
    name = (
        metric.split("/", 1)[1] if metric.split("/", 1)[0] in ("train", "val", "test") else metric
    )
    for prefix in _STAGE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    for suffix in _STAGE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name


def read_run(path: Path, x: str = "step") -> dict[str, tuple[list[float], list[float]]]:
    """Each metric of one ``metrics.csv`` as (x values, y values), rows without it skipped;
    ``x="epoch"``: one point per epoch, the mean of that epoch's rows."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or x not in rows[0]:
        columns = ", ".join(rows[0]) if rows else "no rows"
        raise PlotError(f"`{path}` has no `{x}` column ({columns}): is it a CSV logger's file?")
    series: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        at = row.get(x, "")
        if at == "":
            continue
        for key, value in row.items():
            if key in ("step", "epoch") or value in ("", None):
                continue
            try:
                number = float(value)
            except ValueError:
                continue
            series.setdefault(key, {}).setdefault(float(at), []).append(number)
    out = {}
    for key, points in series.items():
        xs = sorted(points)
        if x == "epoch":
            ys = [sum(points[e]) / len(points[e]) for e in xs]
        else:  # several rows at one step (a training and a validation row): keep them in order
            xs, ys = [a for a in xs for _ in points[a]], [v for a in xs for v in points[a]]
        out[key] = (xs, ys)
    return out


def curves(paths: list[str], x: str = "step", metrics: list[str] | None = None) -> dict[str, Any]:
    """The panels to draw: ``{"x": x, "panels": [{"title", "lines": [{"label", "run",
    "metric", "x", "y"}]}]}``, panels sorted by title, lines by run then metric."""
    if x not in ("step", "epoch"):
        raise PlotError(f"`--x {x}`: choose step or epoch.")
    files = [f for p in paths for f in find_metrics(p)]
    names = _run_names(files)
    panels: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for file, run in zip(files, names):
        for metric, (xs, ys) in sorted(read_run(file, x).items()):
            seen.add(metric)
            if metrics and metric not in metrics:
                continue
            label = metric if len(files) == 1 else f"{run}: {metric}"
            panels.setdefault(quantity(metric), []).append(
                {"label": label, "run": run, "metric": metric, "x": xs, "y": ys}
            )
    missing = sorted(set(metrics or ()) - seen)
    if missing:
        raise PlotError(
            f"`--metrics {' '.join(missing)}`: not in the runs' files; they have "
            f"{', '.join(sorted(seen)) or 'no metric'}."
        )
    return {"x": x, "panels": [{"title": t, "lines": panels[t]} for t in sorted(panels)]}


def _is_eval(metric: str) -> bool:
    return metric.startswith(("val", "valid", "test"))


def _run_names(files: list[Path]) -> list[str]:
    """Each file's run: its folder, as short as keeps the runs apart (``version_0``)."""
    folders = [f.parent.resolve() for f in files]
    for depth in range(1, 8):
        names = ["/".join(d.parts[-depth:]) for d in folders]
        if len(set(names)) == len(names):
            return names
    return [str(d) for d in folders]


def draw(data: dict[str, Any], output: str | os.PathLike | None = None) -> Any:
    """A matplotlib ``Figure`` of :func:`curves`' panels (a grid, two columns), saved to
    ``output`` when given (the format from its suffix: ``.png``, ``.pdf``, ``.svg``)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"`treadle plot` needs matplotlib, which is not installed. Install it with: "
            f"{INSTALL_HINT}"
        ) from exc
    panels = data["panels"]
    if not panels:
        raise PlotError("nothing to plot: the runs' files have no metric values.")
    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(6.4 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    runs = list(dict.fromkeys(line["run"] for panel in panels for line in panel["lines"]))
    for ax, panel in zip(axes, panels):
        for line in panel["lines"]:
            few = len(line["x"]) <= 30  # sparse series (validation, epochs) get markers
            ax.plot(
                line["x"],
                line["y"],
                label=line["label"],
                marker="o" if few else None,
                color=f"C{runs.index(line['run']) % 10}",  # one colour per run
                linestyle="--" if _is_eval(line["metric"]) else "-",  # validation dashed
            )
        ax.set_title(panel["title"])
        ax.set_xlabel(data["x"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if output is not None:
        fig.savefig(output, dpi=100)
    return fig


def plot(
    paths: list[str],
    output: str | os.PathLike | None = None,
    x: str = "step",
    metrics: list[str] | None = None,
    data: str | os.PathLike | None = None,
) -> Any:
    """Draw the runs' curves (:func:`curves`, :func:`draw`); write the points to ``data`` as
    JSON when given. Returns the ``Figure``."""
    found = curves(paths, x, metrics)
    fig = draw(found, output)
    if data is not None:
        Path(data).write_text(json.dumps(found, indent=1))
    return fig
