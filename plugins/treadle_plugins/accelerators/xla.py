"""The ``tpu`` accelerator: Google TPUs through ``torch_xla``.

``torch_xla`` is imported only when ``accelerator="tpu"`` is selected; availability is read
without importing it (the package is installed, and the machine looks like a TPU VM:
``PJRT_DEVICE=TPU``, ``TPU_ACCELERATOR_TYPE``/``TPU_NAME`` or ``/dev/accel*``/``/dev/vfio/N``).

* One TPU core per process (``devices=1`` or ``"auto"``): multi-core TPU training needs an XLA
  strategy that treadle does not have yet, so ``devices>1`` is refused.
* ``optimizer_step``: the closure (forward, backward, pre-step hooks) runs, then
  ``xm.optimizer_step(optimizer, barrier=True)`` reduces gradients across replicas, steps and
  cuts the lazy graph (``mark_step``). An optimizer that needs its closure inside ``step``
  (LBFGS) gets one that reduces gradients after every evaluation, then ``mark_step``.
* Precisions: those in float32 and bfloat16 (``32-true``, ``bf16-mixed`` -- autocast on
  ``xla`` -- and ``bf16-true``); a precision in float16 or float64 is refused at validation.
"""

from __future__ import annotations

import glob
import os

import torch

from treadle import ConfigurationError, Provider, hookimpl, module_available
from treadle.kinds import AcceleratorBase
from treadle.utilities import requires_closure


class XLAAccelerator(AcceleratorBase):
    name = "tpu"
    device_type = "xla"
    supported_dtypes = (torch.float32, torch.bfloat16)

    def __init__(self, trainer) -> None:
        devices = trainer.config.devices
        if devices not in ("auto", 1, "1"):
            raise ConfigurationError(
                [
                    f"tpu: `devices={devices!r}`: treadle runs one TPU core per process; "
                    f"multi-core TPU training needs an XLA strategy, which is not available yet. "
                    f"Pass devices=1."
                ]
            )
        import torch_xla
        import torch_xla.core.xla_model as xm

        self._torch_xla, self._xm = torch_xla, xm
        self.num_devices = 1
        self._device = None

    @property
    def root_device(self) -> torch.device:
        if self._device is None:  # the runtime starts on first use, not at Trainer()
            new_api = getattr(self._torch_xla, "device", None)
            self._device = new_api() if callable(new_api) else self._xm.xla_device()
        return self._device

    def precision_problems(self, precision):
        problems = super().precision_problems(precision)
        if problems and precision.compute_dtype == torch.float16:
            problems = [
                f"{problems[0]} (Use 'bf16-mixed' where you would use '16-mixed' on a GPU.)"
            ]
        return problems

    @hookimpl
    def optimizer_step(self, optimizer, closure):
        xm = self._xm
        raw = getattr(optimizer, "optimizer", optimizer)
        if requires_closure(raw):

            def reduced_closure():
                loss = closure()
                xm.reduce_gradients(raw)
                return loss

            result = raw.step(closure=reduced_closure)
            xm.mark_step()
        else:
            closure()
            result = xm.optimizer_step(raw, barrier=True)
        return True if result is None else result


def _looks_like_tpu_vm() -> bool:
    env = os.environ
    if (
        env.get("PJRT_DEVICE", "").upper() == "TPU"
        or env.get("TPU_ACCELERATOR_TYPE")
        or env.get("TPU_NAME")
    ):
        return True
    return bool(glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*"))


def _available() -> bool:
    return module_available("torch_xla") and _looks_like_tpu_vm()


def _install_hint() -> str:
    hint = (
        "`pip install 'torch_xla[tpu]'` (the version matching torch "
        f"{torch.__version__.split('+')[0]}) on a Cloud TPU VM"
    )
    if module_available("torch_xla"):
        hint += (
            " (torch_xla is installed here, but no TPU was found; on a TPU VM set PJRT_DEVICE=TPU)"
        )
    return hint


@hookimpl
def provide_accelerators():
    return [
        Provider(
            "accelerator",
            "tpu",
            XLAAccelerator,
            available=_available,
            priority=20,
            install_hint=_install_hint(),
            description="Google TPUs through torch_xla (imported only when selected).",
        )
    ]
