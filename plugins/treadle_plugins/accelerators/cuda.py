"""The ``cuda`` accelerator: NVIDIA GPUs through torch's CUDA build.

* ``devices=``: an int N (GPUs 0..N-1), a list of indices (``[1, 3]``) or ``"auto"`` (one GPU,
  the current device). Several devices mean several processes: ``strategy="auto"`` picks
  ``"ddp"`` for them, and process ``local_rank`` uses ``device_ids[local_rank]``.
* ``setup_environment``: ``torch.cuda.set_device(root_device)``; with
  ``Trainer(deterministic=True)`` (or ``"warn"``), ``cudnn.deterministic = True``,
  ``cudnn.benchmark = False`` and ``CUBLAS_WORKSPACE_CONFIG`` (if unset); the previous cuDNN
  flags come back at teardown.
* ``setup_dataloader`` (wrapper): a ``DataLoader`` with worker processes gets
  ``pin_memory=True`` when the user left it off (pinning in the workers' pin thread is free;
  with ``num_workers=0`` it would be an extra copy in the loop, so those are left alone).
* ``transfer_batch_to_device``: tensors are copied with ``non_blocking=True`` (asynchronous
  from pinned memory, a plain copy otherwise); a ``Module`` override still wins.
* ``validate``: refuses a precision whose ``device_types`` leave out ``"cuda"``, and one in
  bfloat16 on a GPU without bf16 support.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from treadle import ConfigurationError, Provider, hookimpl
from treadle.kinds import FLOATING_DTYPES, AcceleratorBase
from treadle_plugins._tensors import apply_to_tensors


class CUDAAccelerator(AcceleratorBase):
    name = "cuda"
    device_type = "cuda"
    supported_dtypes = FLOATING_DTYPES  # bfloat16 checked per GPU by `precision_problems`

    def __init__(self, trainer) -> None:
        self._trainer = trainer
        self.device_ids: list[int] = parse_cuda_devices(trainer.config.devices)
        self.num_devices = len(self.device_ids)
        self._saved_flags = None

    @property
    def root_device(self) -> torch.device:
        return torch.device("cuda", self.device_ids[self._trainer.local_rank])

    def precision_problems(self, precision):
        problems = super().precision_problems(precision)
        if (
            not problems
            and torch.bfloat16 in (precision.param_dtype, precision.compute_dtype)
            and not torch.cuda.is_bf16_supported()
        ):
            gpu = torch.cuda.get_device_name(self.root_device)
            return [
                f"`precision={precision.name!r}` needs bfloat16 support, which this GPU "
                f"({gpu}) lacks. Use `precision='16-mixed'` (fp16 with gradient scaling) or "
                f"`precision='32-true'`."
            ]
        return problems

    @hookimpl
    def setup_environment(self, trainer):
        torch.cuda.set_device(self.root_device)
        cudnn = torch.backends.cudnn
        self._saved_flags = (cudnn.deterministic, cudnn.benchmark)
        if trainer.config.deterministic in (True, "warn"):
            cudnn.deterministic, cudnn.benchmark = True, False
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

    @hookimpl
    def teardown(self):
        if self._saved_flags is not None:
            cudnn = torch.backends.cudnn
            cudnn.deterministic, cudnn.benchmark = self._saved_flags
            self._saved_flags = None

    @hookimpl(wrapper=True)
    def setup_dataloader(self, dataloader):
        replaced = yield
        loader = dataloader if replaced is None else replaced
        if (
            isinstance(loader, torch.utils.data.DataLoader)
            and loader.num_workers > 0
            and not loader.pin_memory
        ):
            loader.pin_memory = True
        return replaced

    @hookimpl
    def transfer_batch_to_device(self, batch, device):
        return apply_to_tensors(
            batch,
            lambda t: t.to(device, non_blocking=True),
            other=lambda obj: _move_object(obj, device),
        )


def _move_object(obj: Any, device: torch.device) -> Any:
    to = getattr(obj, "to", None)
    return to(device) if callable(to) else obj


def parse_cuda_devices(devices: Any) -> list[int]:
    """GPU indices for ``Trainer(devices=...)``; a ``ConfigurationError`` when they do not exist."""
    count = torch.cuda.device_count()
    if devices == "auto":
        return [torch.cuda.current_device() if count else 0]
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
        if devices > count:
            raise ConfigurationError(
                [
                    f"cuda: `devices={devices}` asks for {devices} GPUs, but "
                    f"{count} are visible. Pass devices<={count}, or check "
                    f"CUDA_VISIBLE_DEVICES."
                ]
            )
        return list(range(devices))
    if isinstance(devices, list) and devices and all(isinstance(i, int) for i in devices):
        bad = [i for i in devices if not 0 <= i < count]
        if bad or len(set(devices)) != len(devices):
            raise ConfigurationError(
                [
                    f"cuda: `devices={devices!r}`: every index must be unique "
                    f"and in 0..{count - 1} ({count} GPUs visible)."
                ]
            )
        return list(devices)
    raise ConfigurationError(
        [
            f"cuda: `devices={devices!r}` is not understood. Pass a number of "
            f"GPUs (devices=2), a list of GPU indices (devices=[0, 2]) or "
            f"'auto' (one GPU)."
        ]
    )


def _install_hint() -> str | None:
    if torch.version.cuda is not None:  # a CUDA build without a visible GPU: nothing to install
        return None
    return (
        "a CUDA build of torch on a machine with an NVIDIA GPU and driver, e.g. `pip "
        "install torch --index-url https://download.pytorch.org/whl/cu128` (this torch, "
        f"{torch.__version__}, is built without CUDA; see "
        "https://pytorch.org/get-started/locally/)"
    )


@hookimpl
def provide_accelerators():
    return [
        Provider(
            "accelerator",
            "cuda",
            CUDAAccelerator,
            available=torch.cuda.is_available,
            install_hint=_install_hint(),
            priority=30,
            description="NVIDIA GPUs (torch's CUDA build).",
        )
    ]
