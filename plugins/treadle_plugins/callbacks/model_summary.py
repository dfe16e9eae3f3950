"""``ModelSummary``: print a table of the model's layers and parameter counts when ``fit()`` starts.

The callback is on by default (``Trainer(enable_model_summary=True)``), added by this module's
``configure_callbacks`` unless the user passed a ``ModelSummary`` of their own. The table reads
like Lightning 2's::

      | Name | Type       | Params | Mode  | FLOPs
    ----------------------------------------------------
    0 | net  | Sequential | 49     | train | 0
    ----------------------------------------------------
    49        Trainable params
    0         Non-trainable params
    49        Total params
    0.000     Total estimated model params size (MB)
    4         Modules in train mode
    0         Modules in eval mode
    0         Total Flops

With ``module.example_input_array`` set, the module is run once on it (under ``no_grad``, in
eval mode, counting FLOPs with torch's ``FlopCounterMode`` as Lightning 2.6 does) and the table
gains ``In sizes`` and ``Out sizes`` columns; without it the FLOPs are 0.

``treadle.utilities.model_summary`` (Lightning's ``utilities.model_summary`` path) holds
:class:`Summary` as ``ModelSummary``, :func:`summarize`, :class:`LayerSummary` and the helpers.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.hookspecs import hookimpl
from treadle.utilities import move_data_to_device

UNKNOWN_SIZE = "?"
LEFTOVER_PARAMS_NAME = "other params"
NOT_APPLICABLE = "n/a"
_UNITS = (" ", "K", "M", "B", "T")
# Bits per parameter for the size estimate, by precision (mixed precision keeps fp32 weights).
_PRECISION_BITS = {
    "64-true": 64,
    "32-true": 32,
    "16-mixed": 32,
    "bf16-mixed": 32,
    "16-true": 16,
    "bf16-true": 16,
}


class ModelSummary(Callback):
    """Print the summary table on rank zero at ``fit()`` start.

    :param max_depth: how deep to list nested modules: 1 (the default) lists the module's
        children, -1 every module, 0 prints nothing.
    :param summarize_kwargs: passed on to :meth:`summarize` (for subclasses that override it).
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ConfigurationError(
                f"ModelSummary(max_depth={max_depth!r}): `max_depth` can be -1 "
                f"(every module), 0 (no summary) or a positive depth."
            )
        self._max_depth = max_depth
        self._summarize_kwargs = summarize_kwargs

    def on_fit_start(self, trainer, pl_module) -> None:
        if not self._max_depth:
            return
        summary = Summary(
            pl_module, max_depth=self._max_depth, precision=str(trainer.config.precision)
        )
        if trainer.is_global_zero:
            self.summarize(
                summary.summary_data(),
                summary.total_parameters,
                summary.trainable_parameters,
                summary.model_size,
                summary.total_training_modes,
                total_flops=summary.total_flops,
                **self._summarize_kwargs,
            )

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
        """Print the table (override to send it elsewhere)."""
        table = format_summary_table(
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            total_flops,
            *summary_data,
        )
        print(table, file=summarize_kwargs.get("stream") or sys.stdout, flush=True)


class Summary:
    """The layers of ``module`` down to ``max_depth``; ``str(summary)`` is the table.

    :param precision: the Trainer's precision name, for the size estimate (32 bits otherwise).
    """

    def __init__(self, module: nn.Module, max_depth: int = 1, precision: str = "32-true") -> None:
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"`max_depth` can be -1, 0 or > 0, got {max_depth}.")
        self._module, self._max_depth = module, max_depth
        self._bytes_per_param = _PRECISION_BITS.get(precision, 32) / 8
        self._example = getattr(module, "example_input_array", None)
        self._layers: dict[str, nn.Module] = dict(self._named_modules())
        self._sizes: dict[str, tuple[Any, Any]] = {}
        self._flop_counter: FlopCounterMode | None = None
        if self._example is not None:
            self._forward_example_input()

    def _named_modules(self) -> list[tuple[str, nn.Module]]:
        if self._max_depth == 0:
            return []
        if self._max_depth == 1:
            return list(self._module.named_children())
        named = list(self._module.named_modules())[1:]  # not the root
        if self._max_depth > 1:
            named = [(n, m) for n, m in named if n.count(".") < self._max_depth]
        return named

    def _forward_example_input(self) -> None:
        module = self._module
        handles = []
        for name, layer in self._layers.items():

            def record(_layer, args, kwargs, out, name=name):
                if name not in self._sizes:  # a layer called twice keeps its first shapes
                    inp = (*args, *kwargs.values())
                    self._sizes[name] = (
                        parse_batch_shape(inp[0] if len(inp) == 1 else inp) or UNKNOWN_SIZE,
                        parse_batch_shape(out) or UNKNOWN_SIZE,
                    )

            if not isinstance(layer, torch.jit.ScriptModule):  # no hooks there: sizes "?"
                handles.append(layer.register_forward_hook(record, with_kwargs=True))
        modes = [(m, m.training) for m in module.modules()]
        # On the module's device, and floating inputs in its dtype (a "64-true" run's module is
        # double; the example the user wrote is usually float32).
        param = next((p for p in module.parameters() if p.is_floating_point()), None)
        example = self._example
        if param is not None:
            example = _cast_floats(move_data_to_device(example, param.device), param.dtype)
        self._flop_counter = FlopCounterMode(display=False, depth=self._max_depth + 1)
        try:
            module.eval()
            with torch.no_grad(), self._flop_counter:
                if isinstance(example, (list, tuple)):
                    module(*example)
                elif isinstance(example, dict):
                    module(**example)
                else:
                    module(example)
        finally:
            for handle in handles:
                handle.remove()
            for m, training in modes:
                m.training = training

    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    @property
    def layer_types(self) -> list[str]:
        return [type(m).__name__ for m in self._layers.values()]

    @property
    def param_nums(self) -> list[int]:
        return [_count(m.parameters()) for m in self._layers.values()]

    @property
    def training_modes(self) -> list[bool]:
        return [m.training for m in self._layers.values()]

    @property
    def in_sizes(self) -> list[Any]:
        return [self._sizes.get(n, (UNKNOWN_SIZE, UNKNOWN_SIZE))[0] for n in self._layers]

    @property
    def out_sizes(self) -> list[Any]:
        return [self._sizes.get(n, (UNKNOWN_SIZE, UNKNOWN_SIZE))[1] for n in self._layers]

    @property
    def total_training_modes(self) -> dict[str, int]:
        modes = [m.training for m in self._module.modules()][1:]  # not the root
        return {"train": modes.count(True), "eval": modes.count(False)}

    @property
    def total_flops(self) -> int:
        """FLOPs of one forward pass on ``example_input_array`` (0 without one)."""
        return 0 if self._flop_counter is None else self._flop_counter.get_total_flops()

    @property
    def flop_counts(self) -> dict[str, dict[Any, int]]:
        """Each listed layer's FLOPs by operator (empty without ``example_input_array``)."""
        counts = {} if self._flop_counter is None else self._flop_counter.get_flop_counts()
        root = type(self._module).__name__
        return {name: dict(counts.get(f"{root}.{name}", {})) for name in self._layers}

    @property
    def total_parameters(self) -> int:
        return _count(self._module.parameters())

    @property
    def trainable_parameters(self) -> int:
        return _count(p for p in self._module.parameters() if p.requires_grad)

    @property
    def model_size(self) -> float:
        """Megabytes (10**6 bytes) of the parameters at the run's precision."""
        return self.total_parameters * self._bytes_per_param * 1e-6

    def _get_summary_data(self) -> list[tuple[str, list[str]]]:
        """Lightning's name for :meth:`summary_data` (scripts that print summaries call it)."""
        return self.summary_data()

    def summary_data(self) -> list[tuple[str, list[str]]]:
        """The table's columns: (header, one string per row)."""
        columns = [
            (" ", [str(i) for i in range(len(self._layers))]),
            ("Name", self.layer_names),
            ("Type", self.layer_types),
            ("Params", [get_human_readable_count(n) for n in self.param_nums]),
            ("Mode", ["train" if t else "eval" for t in self.training_modes]),
            (
                "FLOPs",
                [get_human_readable_count(sum(c.values())) for c in self.flop_counts.values()],
            ),
        ]
        if self._example is not None:
            columns.append(("In sizes", [str(s) for s in self.in_sizes]))
            columns.append(("Out sizes", [str(s) for s in self.out_sizes]))
        leftover = self.total_parameters - sum(self.param_nums)
        if leftover > 0:  # parameters that belong to no listed layer (the root's own)
            for header, values in columns:
                values.append(
                    {
                        " ": " ",
                        "Name": LEFTOVER_PARAMS_NAME,
                        "Params": get_human_readable_count(leftover),
                    }.get(header, NOT_APPLICABLE)
                )
        return columns

    def __str__(self) -> str:
        return format_summary_table(
            self.total_parameters,
            self.trainable_parameters,
            self.model_size,
            self.total_training_modes,
            self.total_flops,
            *self.summary_data(),
        )

    __repr__ = __str__


class LayerSummary:
    """One layer's type, parameter count, mode and (after a forward pass) input and output
    sizes, as Lightning's ``utilities.model_summary.LayerSummary``.

    The sizes are recorded by a forward hook on the first call, which then removes itself
    (none on a ``torch.jit.ScriptModule``: its sizes stay ``"?"``).
    """

    def __init__(self, module: nn.Module) -> None:
        self._module = module
        self._in_size: Any = None
        self._out_size: Any = None
        self._hook_handle = None
        if not isinstance(module, torch.jit.ScriptModule):
            self._hook_handle = module.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, _module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        inp = (*args, *kwargs.values())
        self._in_size = parse_batch_shape(inp[0] if len(inp) == 1 else inp)
        self._out_size = parse_batch_shape(out)
        self.detach_hook()

    def __del__(self) -> None:
        self.detach_hook()

    def detach_hook(self) -> None:
        """Remove the forward hook (when no forward pass did)."""
        if self._hook_handle is not None:
            self._hook_handle.remove()
            self._hook_handle = None

    @property
    def in_size(self) -> Any:
        return self._in_size or UNKNOWN_SIZE

    @property
    def out_size(self) -> Any:
        return self._out_size or UNKNOWN_SIZE

    @property
    def layer_type(self) -> str:
        return type(self._module).__name__

    @property
    def num_parameters(self) -> int:
        return _count(self._module.parameters())

    @property
    def training(self) -> bool:
        return self._module.training


def summarize(module: nn.Module, max_depth: int = 1) -> Summary:
    """The :class:`Summary` of ``module`` (Lightning's ``utilities.model_summary.summarize``)."""
    return Summary(module, max_depth=max_depth)


def format_summary_table(
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_training_modes: dict[str, int],
    total_flops: int,
    *columns: tuple[str, list[str]],
) -> str:
    """Lightning's table: columns joined by `` | ``, dashed rules, then the totals."""
    n_rows = len(columns[0][1]) if columns else 0
    widths = [max([len(header), *(len(str(v)) for v in values)]) for header, values in columns]
    rule = "-" * (sum(widths) + 3 * (1 + len(columns)))
    lines = [" | ".join(f"{header:<{w}}" for (header, _), w in zip(columns, widths)), rule]
    for i in range(n_rows):
        lines.append(
            " | ".join(f"{str(values[i]):<{w}}" for (_, values), w in zip(columns, widths))
        )
    lines.append(rule)
    totals = [
        (get_human_readable_count(trainable_parameters), "Trainable params"),
        (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
        (get_human_readable_count(total_parameters), "Total params"),
        (get_formatted_model_size(model_size), "Total estimated model params size (MB)"),
        (total_training_modes["train"], "Modules in train mode"),
        (total_training_modes["eval"], "Modules in eval mode"),
        (get_human_readable_count(total_flops), "Total Flops"),
    ]
    lines.extend(f"{str(value):<10}{label}" for value, label in totals)
    return "\n".join(lines)


def get_formatted_model_size(total_model_size: float) -> str:
    """``0.5301`` -> ``'0.530'``: megabytes as the table prints them."""
    return f"{total_model_size:,.3f}"


def get_human_readable_count(number: float) -> str:
    """``123`` -> ``'123  '``, ``1234`` -> ``'1.2 K'``, ``2e6`` -> ``'2.0 M'``, ``4e14`` ->
    ``'400 T'`` (Lightning's abbreviations)."""
    if number < 0:
        raise ValueError(f"get_human_readable_count({number!r}): needs a count >= 0.")
    digits = int(math.floor(math.log10(number)) + 1) if number > 0 else 1
    groups = min(int(math.ceil(digits / 3)), len(_UNITS))
    value = number * 10 ** (-3 * (groups - 1))
    if groups == 1 or value >= 100:
        return f"{int(value):,d} {_UNITS[groups - 1]}"
    return f"{value:,.1f} {_UNITS[groups - 1]}"


def _count(params) -> int:
    total, lazy = 0, False
    for p in params:
        if isinstance(p, nn.parameter.UninitializedParameter):
            lazy = True  # no size until the first forward pass; counted as 0, as Lightning does
        else:
            total += p.numel()
    if lazy:
        warnings.warn(
            "The total number of parameters detected may be inaccurate because the "
            "model contains an instance of `UninitializedParameter`. To get an "
            "accurate number, set `self.example_input_array` in your Module.",
            UserWarning,
            stacklevel=3,
        )
    return total


def _cast_floats(x: Any, dtype: torch.dtype) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        items = [_cast_floats(e, dtype) for e in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)  # namedtuple
    if isinstance(x, dict):
        return {k: _cast_floats(v, dtype) for k, v in x.items()}
    return x


def parse_batch_shape(x: Any) -> Any:
    """A tensor's shape as a list, nested for lists and tuples, ``"?"`` for anything else."""
    if hasattr(x, "shape"):
        return list(x.shape)
    if isinstance(x, (list, tuple)):
        return [parse_batch_shape(e) for e in x]
    return UNKNOWN_SIZE


@hookimpl
def configure_callbacks(trainer) -> list[ModelSummary] | None:
    """The default ``ModelSummary`` (``enable_model_summary=True``), unless one was passed; a
    ``RichModelSummary`` when rich draws the default progress bar (rich installed,
    ``TREADLE_PROGRESS_BAR`` unset, ``auto`` or ``rich``: Lightning 2.6.6 takes it whenever rich
    is installed) or the user passed a ``RichProgressBar``."""
    if trainer.config.enable_model_summary and not any(
        isinstance(c, ModelSummary) for c in trainer.callbacks
    ):
        from treadle_plugins.progress import RichProgressBar, rich_is_the_default

        if rich_is_the_default() or any(isinstance(c, RichProgressBar) for c in trainer.callbacks):
            from treadle_plugins.callbacks.rich_model_summary import RichModelSummary

            return [RichModelSummary()]
        return [ModelSummary()]
    return None
