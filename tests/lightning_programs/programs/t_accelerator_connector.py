# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py
#   (test_accelerator_invalid_choice, test_invalid_strategy_choice, test_precision_and_precision_plugin_raises,
#    test_accelerator_cpu, test_validate_precision_type,
#    test_devices_auto_choice_cpu, test_deterministic_init, test_benchmark_option,
#    test_plugin_only_one_instance_for_one_type, test_passing_zero_and_empty_list_to_devices_flag,
#    test_gpu_accelerator_misconfiguration_exception, test_accelerator_specific_checkpoint_io,
#    test_connector_auto_selection (its CPU part), test_connector_num_nodes_input_validation,
#    test_precision_selection (CPU rows), test_accelerator_cpu_with_devices (devices=1),
#    test_set_devices_if_none_cpu, test_strategy_choice_cpu_instance)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; pytest.raises/warns -> small helpers below (re.search on the message, as pytest's
#   `match`). The private `_AcceleratorConnector(...)` -> `Trainer(...)` with the same arguments
#   (the Trainer builds it from them); `_set_torch_flags(deterministic=)` with a mocked
#   `torch.use_deterministic_algorithms` -> `Trainer(deterministic=)` and torch's own
#   `are_deterministic_algorithms_enabled()`/`is_deterministic_algorithms_warn_only_enabled()`;
#   fixtures that set CUDA/MPS/TPU/HPU counts to 0 and mocks making CUDA/MPS unavailable dropped
#   (this machine has none); the private `_devices_flag` and `_accelerator_connector` asserts
#   dropped.
#   Left out: tests that fake CUDA/MPS/TPU/HPU devices (test_accelerator_choice_tpu,
#   test_accelerator_choice_multi_node_gpu, test_accelerator_invalid_type_devices,
#   test_invalid_ddp_strategy_with_mps, test_strategy_choice_gpu_str/_gpu_instance,
#   test_device_type_when_strategy_instance_gpu_passed, test_strategy_choice_ddp_cuda,
#   test_strategy_choice_ddp_slurm, test_strategy_choice_ddp_torchelastic,
#   test_torchelastic_priority_over_slurm, test_strategy_choice_ddp_kubeflow,
#   test_unsupported_tpu_choice, test_connector_with_tpu_accelerator_instance, the GPU/TPU/HPU
#   parts of test_connector_auto_selection, test_gpu_accelerator_backend_choice*,
#   test_connector_sets_num_nodes, test_bitsandbytes_precision_cuda_required,
#   test_parallel_devices_in_strategy_confilict_with_accelerator's TPU row); tests that patch
#   Lightning internals (test_custom_accelerator, test_interactive_*,
#   test_strategy_choice_ddp_fork_in_interactive, test_strategy_choice_ddp_cpu_kubeflow,
#   test_strategy_choice_ddp_cpu_slurm, test_ddp_fork_on_unsupported_platform,
#   test_connector_defaults_match_trainer_defaults, test_sync_batchnorm_set's `_layer_sync`,
#   test_sync_batchnorm_set_in_custom_strategy); GPU tests (test_accelerator_gpu,
#   test_accelerator_gpu_with_devices, test_accelerator_auto_with_devices_gpu); FSDP/DeepSpeed
#   rows of test_precision_selection (GPU). The tests that meet a documented difference (CPU
#   `devices` beyond 4 processes a core, `strategy="fsdp"` on the CPU, custom Strategy and
#   Accelerator subclasses, ModelParallelStrategy) are in
#   `t_accelerator_connector_differences.py`; test_sync_batchnorm_invalid_choice is ported in
#   tests/lightning/test_lightning_plugins.py (test_sync_batchnorm_set reads a private); the one on
#   `DDPStrategy(parallel_devices=)` (refused, migration.md 3) are left out.
#   test_strategy_choice_cpu_str, test_strategy_str_passed_being_case_insensitive and
#   test_custom_cluster_environment_in_slurm_environment are in t_accelerator_connector_2.py
#   (lprog51); test_strategy_choice_ddp_spawn_cpu/_ddp_fork_cpu read the private
#   `launcher._start_method` and are left out.
import os
import re
import warnings

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.plugins.environments import LightningEnvironment, SLURMEnvironment
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), f"{match!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{exc_type.__name__} matching {match!r} not raised")


def test_accelerator_invalid_choice():
    raises(ValueError, "You selected an invalid accelerator name: `accelerator='invalid'`", Trainer, accelerator="invalid")


def test_invalid_strategy_choice():
    for invalid_strategy in ["cocofruit", object()]:
        raises(ValueError, "You selected an invalid strategy name:", Trainer, strategy=invalid_strategy)


def test_precision_and_precision_plugin_raises():
    raises(ValueError, "both `precision=16-true` and `plugins", Trainer, precision="16-true", plugins=Precision())


def test_accelerator_cpu():
    trainer = Trainer(accelerator="cpu")
    assert isinstance(trainer.accelerator, CPUAccelerator)

    trainer = Trainer(devices=1)
    assert isinstance(trainer.accelerator, CPUAccelerator)

    raises(
        MisconfigurationException,
        "CUDAAccelerator` can not run on your system since the accelerator is not available.",
        Trainer,
        accelerator="cuda",
    )


def test_accelerator_cpu_with_devices():
    trainer = Trainer(accelerator="cpu", devices=1)
    assert trainer.num_devices == 1
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert isinstance(trainer.accelerator, CPUAccelerator)


def test_set_devices_if_none_cpu():
    trainer = Trainer(accelerator="cpu", devices=3)
    assert trainer.num_devices == 3


def test_strategy_choice_cpu_instance():
    trainer = Trainer(strategy=DDPStrategy(), accelerator="cpu", devices=2)
    assert isinstance(trainer.strategy, DDPStrategy)


def test_validate_precision_type():
    for precision in [1, 12, "invalid"]:
        raises(ValueError, f"Precision {re.escape(repr(precision))} is invalid", Trainer, precision=precision)


def test_devices_auto_choice_cpu():
    trainer = Trainer(accelerator="auto", devices="auto")
    assert trainer.num_devices == 1


def test_deterministic_init():
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        for deterministic in [None, True, False, "warn"]:
            torch.use_deterministic_algorithms(False)
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
            Trainer(deterministic=deterministic)
            if deterministic == "warn":
                assert torch.are_deterministic_algorithms_enabled()
                assert torch.is_deterministic_algorithms_warn_only_enabled()
            elif deterministic is None:
                assert not torch.are_deterministic_algorithms_enabled()
            else:
                assert torch.are_deterministic_algorithms_enabled() == deterministic
                assert not torch.is_deterministic_algorithms_warn_only_enabled()
            if deterministic:
                assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def test_benchmark_option():
    """Verify benchmark option."""
    original_val = torch.backends.cudnn.benchmark
    rows = [
        (None, False, None),
        (None, True, False),
        (None, None, None),
        (True, False, True),
        (True, True, True),
        (True, None, True),
        (False, False, False),
        (False, True, False),
        (False, None, False),
    ]
    for cudnn_benchmark in [False, True]:
        for benchmark_, deterministic, expected in rows:
            torch.backends.cudnn.benchmark = cudnn_benchmark
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                Trainer(benchmark=benchmark_, deterministic=deterministic)
            warned = [w for w in record if "You passed `deterministic=True` and `benchmark=True`" in str(w.message)]
            if benchmark_ and deterministic:
                assert warned and issubclass(warned[0].category, UserWarning), [str(w.message) for w in record]
            expected = cudnn_benchmark if expected is None else expected
            assert torch.backends.cudnn.benchmark == expected, (cudnn_benchmark, benchmark_, deterministic)
    torch.backends.cudnn.benchmark = original_val
    torch.use_deterministic_algorithms(False)


def test_plugin_only_one_instance_for_one_type():
    for plugins, expected in [
        ([LightningEnvironment(), SLURMEnvironment()], "ClusterEnvironment"),
        ([TorchCheckpointIO(), TorchCheckpointIO()], "CheckpointIO"),
        ([Precision(), DoublePrecision(), LightningEnvironment(), SLURMEnvironment()], "Precision, ClusterEnvironment"),
    ]:
        raises(MisconfigurationException, f"Received multiple values for {expected}", Trainer, plugins=plugins)


def test_passing_zero_and_empty_list_to_devices_flag():
    for accelerator in ["cpu", "cuda", "mps", "tpu"]:
        for devices in ["0", 0, []]:
            raises(
                MisconfigurationException,
                "value is not a valid input using",
                Trainer,
                accelerator=accelerator,
                devices=devices,
            )


def test_gpu_accelerator_misconfiguration_exception():
    raises(MisconfigurationException, "No supported gpu backend found!", Trainer, accelerator="gpu")


def test_accelerator_specific_checkpoint_io():
    ckpt_plugin = TorchCheckpointIO()
    trainer = Trainer(accelerator="cpu", strategy=DDPStrategy(), plugins=[ckpt_plugin])
    assert trainer.strategy.checkpoint_io is ckpt_plugin


def test_connector_auto_selection():
    trainer = Trainer()
    assert isinstance(trainer.accelerator, CPUAccelerator)
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.num_devices == 1


def test_connector_num_nodes_input_validation():
    raises(ValueError, "`num_nodes` must be a positive integer", Trainer, num_nodes=0)
    raises(ValueError, "`num_nodes` must be a positive integer", Trainer, num_nodes=-1)


def test_precision_selection():
    for precision_str, expected_precision_cls in [
        ("64-true", DoublePrecision),
        ("32-true", Precision),
        ("16-true", HalfPrecision),
        ("bf16-true", HalfPrecision),
        ("16-mixed", MixedPrecision),
        ("bf16-mixed", MixedPrecision),
    ]:
        trainer = Trainer(precision=precision_str, strategy="auto")
        assert isinstance(trainer.precision_plugin, expected_precision_cls), (precision_str, trainer.precision_plugin)


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*(GPU|TPU|HPU) available.*")
    tests = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]
    for test in tests:
        test()
        print("ok", test.__name__)
    print(f"{len(tests)} tests passed")
