"""Selecting accelerators: "auto", priorities, missing hardware with its install hint, and a
precision the selected accelerator cannot run -- all before anything trains."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

import treadle
from conftest_helpers import RegressionModule, make_loader, make_trainer
from treadle_plugins.accelerators.mps import MPSAccelerator


def test_auto_picks_the_best_available_accelerator():
    trainer = treadle.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"  # this CI machine: no GPU, no torch_xla
    assert trainer.accelerator.name == expected


def test_priorities_for_auto_are_cuda_tpu_mps_cpu():
    trainer = treadle.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    records = trainer.plugin_manager.providers("accelerator")
    ranked = sorted(["cpu", "cuda", "mps", "tpu"], key=lambda n: -records[n].priority)
    assert ranked == ["cuda", "tpu", "mps", "cpu"]
    assert {records[n].plugin for n in ranked} == {"cpu", "cuda", "mps", "tpu"}
    assert all(records[n].distribution == "treadle" for n in ranked)


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.version.cuda is not None,
    reason="pins the message of a CPU-only torch build",
)
def test_cuda_on_a_cpu_only_torch_says_how_to_get_it():
    with pytest.raises(treadle.ConfigurationError) as info:
        treadle.Trainer(accelerator="cuda")
    assert info.value.problems == [
        "cuda: `CUDAAccelerator` can not run on your system since the accelerator is not "
        "available. `accelerator='cuda'` is installed but not available on this machine. Install it "
        "with: a CUDA build of torch on a machine with an NVIDIA GPU and driver, e.g. `pip install "
        "torch --index-url https://download.pytorch.org/whl/cu128` (this torch, "
        f"{torch.__version__}, is built without CUDA; see https://pytorch.org/get-started/locally/)"
    ]


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.version.cuda is None,
    reason="pins the message of a CUDA build of torch on a machine without a GPU",
)
def test_cuda_build_without_a_gpu_says_it_is_not_available():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "cuda: `CUDAAccelerator` can not run on your system since the accelerator is not "
            "available. `accelerator='cuda'` is installed but not available on this machine."
        ),
    ):
        treadle.Trainer(accelerator="cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_without_apple_silicon_says_what_it_needs():
    with pytest.raises(treadle.ConfigurationError) as info:
        treadle.Trainer(accelerator="mps")
    assert info.value.problems == [
        "mps: `MPSAccelerator` can not run on your system since the accelerator is not "
        "available. `accelerator='mps'` is installed but not available on this machine. Install it "
        "with: a Mac with Apple silicon (M1 or later), macOS 12.3+ and the standard macOS torch "
        "wheels (`pip install torch`)"
    ]


@pytest.mark.skipif(treadle.module_available("torch_xla"), reason="torch_xla is installed here")
def test_tpu_without_torch_xla_gives_the_install_command():
    with pytest.raises(treadle.ConfigurationError) as info:
        treadle.Trainer(accelerator="tpu")
    version = torch.__version__.split("+")[0]
    assert info.value.problems == [
        "tpu: `XLAAccelerator` can not run on your system since the accelerator is not "
        "available. `accelerator='tpu'` is installed but not available on this machine. Install it "
        f"with: `pip install 'torch_xla[tpu]'` (the version matching torch {version}) on a Cloud "
        "TPU VM"
    ]


# ---------------------------------------------------------------------------------------------
# A precision the accelerator cannot run
# ---------------------------------------------------------------------------------------------


class EightBitPrecision(treadle.kinds.PrecisionBase):
    """Declares float8 math, which the CPU accelerator does not compute in."""

    name = "8-mixed"
    compute_dtype = torch.float8_e4m3fn

    def __init__(self, trainer):
        pass


class OffersEightBit:
    @treadle.hookimpl
    def provide_precisions(self):
        return [treadle.Provider("precision", "8-mixed", EightBitPrecision)]


def test_cpu_refuses_a_precision_it_cannot_run_before_training(tmp_path):
    model = RegressionModule()
    trained = []
    model.training_step = lambda batch, batch_idx: trained.append(batch_idx)
    trainer = make_trainer(tmp_path, precision="8-mixed", plugins=[OffersEightBit()])
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(model, make_loader(2))
    assert info.value.problems == [
        "accelerator:cpu: `precision='8-mixed'` cannot run on `accelerator='cpu'`: it computes in "
        "float8_e4m3fn, which this accelerator does not support. `accelerator='cpu'` computes in "
        "float32, float64, float16, bfloat16; pick a precision that uses only these."
    ]
    assert trained == [] and trainer.global_step == 0


@pytest.mark.parametrize(
    "precision", ["32-true", "16-mixed", "bf16-mixed", "bf16-true", "64-true", "16-true"]
)
def test_cpu_runs_every_built_in_precision(tmp_path, precision):
    trainer = make_trainer(tmp_path, precision=precision, limit_train_batches=1)
    trainer.fit(RegressionModule(), make_loader(1))
    assert trainer.global_step == 1


def test_mps_refuses_64_true():
    """Checked through the accelerator's own ``validate`` (no Mac here to build a Trainer on),
    with the real precision plugins: the accelerator asks them for their dtypes."""
    from treadle_plugins.precision.amp import FP16MixedPrecision, MixedPrecision
    from treadle_plugins.precision.dtype import BF16TruePrecision, FP64Precision
    from treadle_plugins.precision.fp32 import FP32Precision

    stub = SimpleNamespace(
        config=SimpleNamespace(devices="auto"), precision_plugin=FP64Precision(None)
    )
    accelerator = MPSAccelerator(stub)
    assert accelerator.validate(stub) == [
        "`precision='64-true'` cannot run on `accelerator='mps'`: it computes in float64, which "
        "this accelerator does not support. `accelerator='mps'` computes in float32, float16, "
        "bfloat16; pick a precision that uses only these."
    ]
    for precision in (FP32Precision, FP16MixedPrecision, MixedPrecision, BF16TruePrecision):
        stub.precision_plugin = precision(None)
        assert accelerator.validate(stub) is None


def test_mps_refuses_several_devices():
    stub = SimpleNamespace(config=SimpleNamespace(devices=2))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("mps: `devices=2`: a Mac has one MPS device; pass devices=1 or 'auto'."),
    ):
        MPSAccelerator(stub)


@pytest.mark.skipif(
    not torch.backends.mps.is_available(), reason="needs an Apple silicon GPU (MPS)"
)
def test_mps_trains_for_real(tmp_path):
    model = RegressionModule()
    trainer = make_trainer(tmp_path, accelerator="mps", precision="16-mixed", limit_train_batches=2)
    trainer.fit(model, make_loader(2))
    assert trainer.global_step == 2 and next(model.parameters()).device.type == "mps"
