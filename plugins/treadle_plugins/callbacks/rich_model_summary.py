"""``RichModelSummary``: the model summary drawn as a rich table (as Lightning 2's)."""

from __future__ import annotations

import importlib.util
from typing import Any

from treadle_plugins.callbacks.model_summary import (
    ModelSummary,
    get_formatted_model_size,
    get_human_readable_count,
)


class RichModelSummary(ModelSummary):
    """:class:`ModelSummary`'s table, drawn with `rich <https://github.com/Textualize/rich>`_
    (``pip install rich``, or treadle's ``[rich]`` extra).

    :param max_depth: as :class:`ModelSummary`'s.
    :param summarize_kwargs: ``header_style`` (``"bold magenta"``) for the table's header.
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if importlib.util.find_spec("rich") is None:
            raise ModuleNotFoundError(
                "`RichModelSummary` requires `rich` to be installed. Install it by running "
                "`pip install -U rich`, or use `ModelSummary` (plain text)."
            )
        super().__init__(max_depth, **summarize_kwargs)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        from rich import get_console
        from rich.table import Table

        console = get_console()
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        justify = {"Params": "right", "FLOPs": "right", "In sizes": "right", "Out sizes": "right"}
        for name, _ in summary_data:  # the first column (" ": row numbers) dimmed
            style = "dim" if name == " " else None
            table.add_column(name, justify=justify.get(name, "left"), style=style)  # type: ignore[arg-type]
        for row in zip(*(values for _, values in summary_data)):
            table.add_row(*(str(v) for v in row))
        console.print(table)
        counts = [
            trainable_parameters,
            total_parameters - trainable_parameters,
            total_parameters,
        ]
        # as Lightning's: each figure padded to 10 characters
        trainable, frozen, total = (f"{get_human_readable_count(int(n)):<10}" for n in counts)
        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_column()
        grid.add_row(f"[bold]Trainable params[/]: {trainable}")
        grid.add_row(f"[bold]Non-trainable params[/]: {frozen}")
        grid.add_row(f"[bold]Total params[/]: {total}")
        size = f"{get_formatted_model_size(model_size):<10}"
        grid.add_row(f"[bold]Total estimated model params size (MB)[/]: {size}")
        grid.add_row(f"[bold]Modules in train mode[/]: {total_training_modes['train']}")
        grid.add_row(f"[bold]Modules in eval mode[/]: {total_training_modes['eval']}")
        grid.add_row(f"[bold]Total FLOPs[/]: {get_human_readable_count(total_flops)}")
        console.print(grid)
