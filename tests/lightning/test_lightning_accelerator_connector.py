"""Lightning's Trainer-construction checks and torch flags, in Lightning's words (issue 10).

Ported from tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py
(test_accelerator_invalid_choice, test_invalid_strategy_choice, test_accelerator_cpu,
test_validate_precision_type, test_passing_zero_and_empty_list_to_devices_flag,
test_gpu_accelerator_misconfiguration_exception, test_connector_num_nodes_input_validation,
test_deterministic_init, test_benchmark_option, test_precision_selection).
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch

import treadle
from treadle.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision

NO_GPU = not torch.cuda.is_available() and not torch.backends.mps.is_available()


def _refusal(**kwargs) -> str:
    with pytest.raises(treadle.ConfigurationError) as err:
        treadle.Trainer(**kwargs)
    return str(err.value)


def test_unknown_names_in_lightnings_words() -> None:
    said = _refusal(accelerator="invalid")
    assert "You selected an invalid accelerator name: `accelerator='invalid'`" in said
    assert "'cpu'" in said  # treadle's list of names stays
    assert "You selected an invalid strategy name: `strategy='cocofruit'`" in _refusal(
        strategy="cocofruit"
    )
    assert "You selected an invalid strategy name:" in _refusal(strategy=object())
    assert "Precision 'invalid' is invalid" in _refusal(precision="invalid")
    for bad in (1, 12):
        assert f"Precision {bad} is invalid. Allowed precision values" in _refusal(precision=bad)
    assert "`num_nodes` must be a positive integer, but got 0." in _refusal(num_nodes=0)
    assert "`num_nodes` must be a positive integer, but got -1." in _refusal(num_nodes=-1)


@pytest.mark.parametrize("accelerator", ["cpu", "cuda", "mps", "tpu"])
@pytest.mark.parametrize("devices", ["0", 0, []])
def test_no_devices_refused_before_availability(accelerator, devices) -> None:
    said = _refusal(accelerator=accelerator, devices=devices)
    assert f"`Trainer(devices={devices!r})` value is not a valid input using {accelerator}" in said


@pytest.mark.skipif(not NO_GPU, reason="needs a machine without CUDA and MPS")
def test_unavailable_accelerators_in_lightnings_words() -> None:
    said = _refusal(accelerator="cuda")
    assert "`CUDAAccelerator` can not run on your system since the accelerator is not" in said
    assert "Install it with:" in said  # treadle's hint stays
    assert "No supported gpu backend found!" in _refusal(accelerator="gpu")


@pytest.fixture
def torch_flags():
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark = saved[2]
    if saved[3] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[3]


@pytest.mark.parametrize("deterministic", [None, True, False, "warn"])
def test_deterministic_set_when_the_trainer_is_made(torch_flags, deterministic) -> None:
    torch.use_deterministic_algorithms(False)
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    treadle.Trainer(deterministic=deterministic)
    assert torch.are_deterministic_algorithms_enabled() == bool(deterministic)
    assert torch.is_deterministic_algorithms_warn_only_enabled() == (deterministic == "warn")
    expected = ":4096:8" if deterministic else None
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == expected


@pytest.mark.parametrize(
    ("benchmark", "deterministic", "expected"),
    [(None, True, False), (None, None, None), (True, True, True), (False, None, False)],
)
@pytest.mark.parametrize("before", [False, True])
def test_benchmark_with_deterministic(torch_flags, before, benchmark, deterministic, expected):
    torch.backends.cudnn.benchmark = before
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        treadle.Trainer(benchmark=benchmark, deterministic=deterministic)
    warned = any("`deterministic=True` and `benchmark=True`" in str(w.message) for w in record)
    assert warned == bool(benchmark and deterministic)
    assert torch.backends.cudnn.benchmark == (before if expected is None else expected)


@pytest.mark.parametrize(
    ("precision", "cls"),
    [
        ("64-true", DoublePrecision),
        ("32-true", Precision),
        ("16-true", HalfPrecision),
        ("bf16-true", HalfPrecision),
        ("bf16-mixed", MixedPrecision),
    ],
)
def test_precision_plugin_is_lightnings_class(precision, cls) -> None:
    plugin = treadle.Trainer(precision=precision).precision_plugin
    assert isinstance(plugin, cls)
    assert isinstance(plugin, Precision)
    others = {DoublePrecision, HalfPrecision, MixedPrecision} - {cls}
    assert not any(isinstance(plugin, other) for other in others)


@pytest.mark.parametrize(
    ("name", "spawn", "find_unused", "start_method"),
    [
        ("ddp", False, False, "spawn"),
        ("ddp_spawn", True, False, "spawn"),
        ("ddp_find_unused_parameters_false", False, False, "spawn"),
        ("ddp_find_unused_parameters_true", False, True, "spawn"),
        ("ddp_spawn_find_unused_parameters_false", True, False, "spawn"),
        ("ddp_spawn_find_unused_parameters_true", True, True, "spawn"),
        ("ddp_fork", True, False, "fork"),
        ("ddp_fork_find_unused_parameters_false", True, False, "fork"),
        ("ddp_fork_find_unused_parameters_true", True, True, "fork"),
        ("ddp_notebook", True, False, "fork"),
        ("ddp_notebook_find_unused_parameters_false", True, False, "fork"),
        ("ddp_notebook_find_unused_parameters_true", True, True, "fork"),
        ("DDP", False, False, "spawn"),
        ("DDP_Spawn", True, False, "spawn"),
        ("DDP_Fork", True, False, "fork"),
    ],
)
def test_strategy_choice_cpu_str(name, spawn, find_unused, start_method) -> None:
    # Ported from test_accelerator_connector.py::test_strategy_choice_cpu_str,
    # ::test_strategy_str_passed_being_case_insensitive and ::test_strategy_choice_ddp_fork_cpu
    # (its `launcher._start_method`: here the strategy's `start_method`, used when `spawn`):
    # Lightning's registry names, in any case
    from treadle.strategies import DDPStrategy

    trainer = treadle.Trainer(
        strategy=name, accelerator="cpu", devices=2, logger=False, enable_checkpointing=False
    )
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy.name == name.lower()
    assert trainer.strategy.spawn is spawn
    assert trainer.strategy.find_unused_parameters is find_unused
    assert trainer.strategy.start_method == start_method
