"""``bf16-true``, ``16-true`` and ``64-true``: weights, inputs and math in one dtype.

* ``convert_module``: the module's floating parameters and buffers are converted in place
  (``module.to(dtype)``; ``module.double()`` for ``64-true``, which leaves complex tensors
  as they are, as Lightning's), after the move to the device; the optimizers built by
  ``configure_optimizers()`` keep pointing at the same ``Parameter`` objects.
* ``transfer_batch_to_device`` (wrapper): floating tensors of every batch are converted after
  the move, whoever moved them (the core, the accelerator or a ``Module`` override);
  integer and bool tensors are left alone.
* ``run_training_step`` / ``run_validation_step`` / ``run_test_step`` / ``run_predict_step``
  (wrappers): the default dtype is ``dtype`` while the step runs, so ``torch.zeros(...)`` in
  ``training_step`` matches the weights (Lightning does the same).

No gradient scaling: ``16-true`` trains fp16 weights with fp16 gradients, which underflow
easily -- prefer ``16-mixed`` unless you know you want it. A strategy that owns precision
(``owns_precision = True``) makes these plugins stand aside.
"""

from __future__ import annotations

import contextlib

import torch

from treadle import Provider, hookimpl
from treadle.kinds import PrecisionBase
from treadle_plugins._tensors import apply_to_tensors
from treadle_plugins.precision._offer import Offer


class TruePrecision(PrecisionBase):
    """Base of the ``*-true`` precisions other than ``32-true``; subclasses set name and dtype."""

    name = ""
    dtype = torch.float32
    device_types = None  # every device that computes in `dtype`

    @property
    def param_dtype(self) -> torch.dtype:
        return self.dtype

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.dtype

    def __init__(self, trainer) -> None:
        self.enabled = True  # False when the strategy owns precision (set by `validate`)

    @hookimpl
    def validate(self, trainer):
        self.enabled = not trainer.strategy.owns_precision
        return None

    @hookimpl
    def convert_module(self, module):
        if self.enabled:
            module.to(self.dtype)

    def convert_input(self, data):
        """Floating tensors inside ``data`` in this precision's dtype; everything else as is."""
        dtype = self.dtype
        return apply_to_tensors(data, lambda t: t.to(dtype) if t.is_floating_point() else t)

    @hookimpl(wrapper=True)
    def transfer_batch_to_device(self):
        batch = yield
        return self.convert_input(batch) if self.enabled else batch

    @contextlib.contextmanager
    def _default_dtype(self):
        """Tensors created in the step (``torch.zeros``, ...) get the precision's dtype."""
        if not self.enabled:
            yield
            return
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            yield
        finally:
            torch.set_default_dtype(previous)

    @hookimpl(wrapper=True)
    def run_training_step(self):
        with self._default_dtype():
            return (yield)

    @hookimpl(wrapper=True)
    def run_validation_step(self):
        with self._default_dtype():
            return (yield)

    @hookimpl(wrapper=True)
    def run_test_step(self):
        with self._default_dtype():
            return (yield)

    @hookimpl(wrapper=True)
    def run_predict_step(self):
        with self._default_dtype():
            return (yield)


class BF16TruePrecision(TruePrecision):
    """``bf16-true``: bfloat16 weights, inputs and math."""

    name = "bf16-true"
    dtype = torch.bfloat16


class FP16TruePrecision(TruePrecision):
    """``16-true``: float16 weights, inputs and math (no gradient scaling)."""

    name = "16-true"
    dtype = torch.float16


class FP64Precision(TruePrecision):
    """``64-true``: float64 weights, inputs and math. Complex parameters and buffers keep
    their dtype, as under Lightning's ``module.double()``."""

    name = "64-true"
    dtype = torch.float64

    @hookimpl
    def convert_module(self, module):
        if self.enabled:
            module.double()  # floating tensors only (`.to(float64)` would make complex real)


bf16_true = Offer(
    Provider(
        "precision",
        "bf16-true",
        BF16TruePrecision,
        description="bfloat16 weights, inputs and math.",
    )
)
fp16_true = Offer(
    Provider(
        "precision",
        "16-true",
        FP16TruePrecision,
        description="float16 weights, inputs and math; no gradient scaling.",
    )
)
fp64_true = Offer(
    Provider("precision", "64-true", FP64Precision, description="float64 weights, inputs and math.")
)
