"""Lightning's precision plugin classes, as names for treadle's precisions.

treadle selects a precision by name (``Trainer(precision="16-mixed")``). An instance of these
classes in ``Trainer(plugins=[...])`` selects the precision it names, as ``precision=`` would;
what treadle has no precision for is refused with a ``ConfigurationError``
(:func:`precision_name`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch

from treadle import _lightning_paths
from treadle.errors import ConfigurationError
from treadle.kinds import PrecisionBase
from treadle.utilities import _default_dtype

_TRUE_OR_MIXED = ("16-mixed", "bf16-mixed", "16-true", "bf16-true", "32-true")
# a "-true" precision's dtype (DeepSpeedPrecision, FSDPPrecision: the mixed ones have none)
_TRUE_DTYPE = {"16-true": torch.float16, "bf16-true": torch.bfloat16, "32-true": torch.float32}


class _RunningPrecision(type):
    """``isinstance(trainer.precision_plugin, C)``: ``trainer.precision_plugin`` is treadle's
    running precision plugin; it is an instance of Lightning's class that selects its name
    (``DoublePrecision`` for ``"64-true"``, ``MixedPrecision`` for ``"16-mixed"``, ...), as
    Lightning's connector would have made it."""

    _names: frozenset[str] = frozenset()

    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        return isinstance(obj, PrecisionBase) and getattr(obj, "name", None) in cls._names


class Precision(metaclass=_RunningPrecision):
    """Full precision (``"32-true"``): Lightning's base precision plugin."""

    # Lightning's Precision is the base of every precision plugin
    _names = frozenset({"32-true", "64-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed"})
    precision: str = "32-true"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision!r})"

    # Lightning's public methods of a precision plugin, for your own code (a Trainer running
    # this precision does the same itself). The base (full precision) changes nothing.

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in this precision's dtype (the base: as it is)."""
        return module

    def tensor_init_context(self) -> contextlib.AbstractContextManager[None]:
        """Tensors made inside get this precision's dtype (the base: unchanged)."""
        return contextlib.nullcontext()

    def module_init_context(self) -> contextlib.AbstractContextManager[None]:
        """Modules made inside get this precision's dtype (the base: unchanged)."""
        return self.tensor_init_context()

    def forward_context(self) -> contextlib.AbstractContextManager[None]:
        """The context a step runs in (the base: none)."""
        return contextlib.nullcontext()

    def convert_input(self, data: Any) -> Any:
        """``data`` with its floating tensors in this precision's dtype (the base: as is)."""
        return data


class _OneDtype(Precision):
    """A precision whose weights, inputs and math are all in :attr:`dtype` (None: a mixed
    precision, where they are left as they are)."""

    dtype: torch.dtype | None = None

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module if self.dtype is None else module.to(dtype=self.dtype)

    def tensor_init_context(self) -> contextlib.AbstractContextManager[None]:
        return _default_dtype(self.dtype)

    def forward_context(self) -> contextlib.AbstractContextManager[None]:
        return self.tensor_init_context()

    def convert_input(self, data: Any) -> Any:
        dtype = self.dtype
        if dtype is None:
            return data
        from treadle._lightning_fabric import apply_to_collection  # (Lightning's, loaded here)

        return apply_to_collection(
            data, torch.Tensor, lambda t: t.to(dtype) if t.is_floating_point() else t
        )


class MixedPrecision(Precision):
    """Automatic mixed precision: ``"16-mixed"`` (with a ``torch.amp.GradScaler``) or
    ``"bf16-mixed"``. treadle's precision of that name makes its own scaler."""

    _names = frozenset({"16-mixed", "bf16-mixed"})

    def __init__(
        self,
        precision: Literal["16-mixed", "bf16-mixed"],
        device: str,
        scaler: Any | None = None,
    ) -> None:
        if precision not in ("16-mixed", "bf16-mixed"):
            raise ValueError(  # Lightning's wording
                f"`Passed `{type(self).__name__}(precision={precision!r})`."
                f" Precision must be '16-mixed' or 'bf16-mixed'."
            )
        if scaler is not None and precision == "bf16-mixed":
            raise ConfigurationError(
                [f"`precision='bf16-mixed'` does not use a scaler, found {scaler}."]
            )
        self.precision = precision
        self.device = device
        self.scaler = scaler

    def autocast_context_manager(self) -> torch.autocast:
        """Lightning's: ``torch.autocast`` on ``device`` in this precision's dtype (bfloat16
        or float16), its weight cache off."""
        dtype = torch.bfloat16 if self.precision == "bf16-mixed" else torch.half
        return torch.autocast(self.device, dtype=dtype, cache_enabled=False)

    @contextlib.contextmanager
    def forward_context(self) -> Iterator[None]:
        """Lightning's: the code inside runs under :meth:`autocast_context_manager` (a
        Trainer running this precision does this around each step itself)."""
        with self.autocast_context_manager():
            yield


class DoublePrecision(_OneDtype):
    """``"64-true"``: float64 weights, inputs and math."""

    _names = frozenset({"64-true"})

    precision = "64-true"
    dtype = torch.float64

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.double()  # as Lightning's: floating tensors only (complex ones stay)


class HalfPrecision(_OneDtype):
    """``"16-true"`` or ``"bf16-true"``: the whole module in half precision."""

    _names = frozenset({"16-true", "bf16-true"})

    def __init__(self, precision: Literal["bf16-true", "16-true"] = "16-true") -> None:
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16-true" else torch.float16


class DeepSpeedPrecision(_OneDtype):
    """The precision DeepSpeed's engine runs in (treadle's ``deepspeed`` strategy reads the
    selected precision's name)."""

    _names: frozenset[str] = frozenset()  # treadle runs no precision of this class

    def __init__(self, precision: str) -> None:
        if precision not in _TRUE_OR_MIXED:
            raise ValueError(  # Lightning's wording
                f"`Trainer(strategy='deepspeed', precision={precision!r})` is not supported."
                f" `precision` must be one of: {_TRUE_OR_MIXED}."
            )
        self.precision = precision
        self.dtype = _TRUE_DTYPE.get(precision)


class FSDPPrecision(_OneDtype):
    """The precision of an FSDP run (treadle's ``fsdp`` strategy reads the selected precision's
    name). treadle makes the sharded grad scaler of ``"16-mixed"`` itself."""

    _names: frozenset[str] = frozenset()  # treadle runs no precision of this class

    def __init__(self, precision: str, scaler: Any | None = None) -> None:
        if precision not in _TRUE_OR_MIXED:
            raise ValueError(  # Lightning's wording
                f"`precision={precision!r})` is not supported in FSDP."
                f" `precision` must be one of: {_TRUE_OR_MIXED}."
            )
        if scaler is not None and precision != "16-mixed":
            raise ValueError(f"`precision={precision!r}` does not use a scaler, found {scaler}.")
        self.precision = precision
        self.dtype = _TRUE_DTYPE.get(precision)
        self.scaler = scaler


class BitsandbytesPrecision(Precision):
    """bitsandbytes' quantized linear layers: no treadle precision runs them (refused in
    ``plugins=[...]``)."""

    _names: frozenset[str] = frozenset()  # treadle runs no precision of this class

    def __init__(
        self,
        mode: str,
        dtype: torch.dtype | None = None,
        ignore_modules: Any | None = None,
    ) -> None:
        self.mode, self.dtype, self.ignore_modules = mode, dtype, ignore_modules
        self.precision = f"bitsandbytes-{mode}"


class TransformerEnginePrecision(Precision):
    """NVIDIA Transformer Engine's FP8: no treadle precision runs it (refused in
    ``plugins=[...]``)."""

    _names: frozenset[str] = frozenset()  # treadle runs no precision of this class

    def __init__(
        self,
        *,
        weights_dtype: torch.dtype,
        recipe: Any | None = None,
        replace_layers: bool | None = None,
        fallback_compute_dtype: torch.dtype | None = None,
    ) -> None:
        self.weights_dtype, self.recipe, self.replace_layers = weights_dtype, recipe, replace_layers
        self.fallback_compute_dtype = fallback_compute_dtype
        self.precision = "transformer-engine"


def precision_name(plugin: Precision) -> str:
    """The ``precision=`` name ``plugin`` stands for; a ``ConfigurationError`` when treadle runs
    no such precision, or when the plugin carries what a name cannot say (its own scaler)."""
    kind = type(plugin).__name__
    if isinstance(plugin, (BitsandbytesPrecision, TransformerEnginePrecision)):
        what = (
            "bitsandbytes' quantized layers"
            if isinstance(plugin, BitsandbytesPrecision)
            else "Transformer Engine's FP8 layers"
        )
        raise ConfigurationError(
            [
                f"Trainer: `plugins=[{kind}(...)]`: treadle has no precision that runs {what}. "
                f"Pick one of treadle's precisions by name (`precision='bf16-mixed'`, "
                f"'16-mixed', '16-true', 'bf16-true', '32-true', '64-true'; `treadle plugins` "
                f"lists them), or provide a precision plugin of your own (docs/precision.md)."
            ]
        )
    scaler = getattr(plugin, "scaler", None)
    if scaler is not None:
        raise ConfigurationError(
            [
                f"Trainer: `plugins=[{kind}({plugin.precision!r}, ..., scaler={scaler!r})]`: "
                f"treadle's '16-mixed' precision makes and checkpoints its own grad scaler, and "
                f"takes none from outside. Leave `scaler` out (or pass "
                f"`precision='16-mixed'`)."
            ]
        )
    if type(plugin) not in _KNOWN:
        raise ConfigurationError(
            [
                f"Trainer: `plugins=[{kind}(...)]`: a subclass of Lightning's `Precision` cannot "
                f"change how treadle runs a precision. Select a precision by name "
                f"(`precision='{plugin.precision}'`), or write a precision plugin "
                f"(docs/precision.md, 'For plugin authors')."
            ]
        )
    return plugin.precision


_KNOWN = (
    Precision,
    MixedPrecision,
    DoublePrecision,
    HalfPrecision,
    DeepSpeedPrecision,
    FSDPPrecision,
)

__all__ = [
    "BitsandbytesPrecision",
    "DeepSpeedPrecision",
    "DoublePrecision",
    "FSDPPrecision",
    "HalfPrecision",
    "MixedPrecision",
    "Precision",
    "TransformerEnginePrecision",
]

_lightning_paths.register(__name__)
