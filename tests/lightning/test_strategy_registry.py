"""``treadle.strategies.StrategyRegistry``: Lightning's registry of strategy names, and
``Trainer(strategy=name)`` for a name the program registers."""

from __future__ import annotations

import pytest

import treadle
from treadle.plugins import CheckpointIO
from treadle.strategies import (
    DDPStrategy,
    DeepSpeedStrategy,
    FSDPStrategy,
    SingleDeviceStrategy,
    StrategyRegistry,
)

QUIET = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}


@pytest.mark.parametrize(
    ("name", "init_params"),
    [
        ("deepspeed", {}),
        ("deepspeed_stage_1", {"stage": 1}),
        ("deepspeed_stage_2", {"stage": 2}),
        ("deepspeed_stage_2_offload", {"stage": 2, "offload_optimizer": True}),
        ("deepspeed_stage_3", {"stage": 3}),
        (
            "deepspeed_stage_3_offload",
            {"stage": 3, "offload_parameters": True, "offload_optimizer": True},
        ),
    ],
)
def test_deepspeed_names(name: str, init_params: dict) -> None:
    # Ported from tests/tests_pytorch/strategies/test_registry.py::test_strategy_registry_with_deepspeed_strategies
    assert name in StrategyRegistry
    assert StrategyRegistry[name]["init_params"] == init_params
    assert StrategyRegistry[name]["strategy"] == DeepSpeedStrategy
    assert StrategyRegistry[name]["strategy_name"] == name


@pytest.mark.parametrize("fork", ["ddp_fork", "ddp_notebook"])
@pytest.mark.parametrize("flag", [False, True])
def test_ddp_names_run_by_name(tmp_path, fork: str, flag: bool) -> None:
    # Ported from tests/tests_pytorch/strategies/test_registry.py::test_ddp_find_unused_parameters_strategy_registry
    for base, start in (("ddp", "popen"), ("ddp_spawn", "spawn"), (fork, "fork")):
        name = f"{base}_find_unused_parameters_{str(flag).lower()}"
        trainer = treadle.Trainer(default_root_dir=tmp_path, strategy=name, **QUIET)
        assert isinstance(trainer.strategy, DDPStrategy)
        assert trainer.strategy.name == name  # treadle's own strategy of that name
        assert StrategyRegistry[name]["init_params"] == {
            "find_unused_parameters": flag,
            "start_method": start,
        }
        assert StrategyRegistry[name]["strategy"] == DDPStrategy


# Ported from Lightning's tests/tests_fabric/strategies/test_registry.py::
# test_strategy_registry_with_new_strategy and tests/tests_pytorch/strategies/test_registry.py
# (the registered names), with docs/source-pytorch/advanced/strategy_registry.rst.
def test_strategy_registry_names_get_register_and_remove() -> None:
    names = StrategyRegistry.available_strategies()
    for name in (
        "ddp",
        "ddp_spawn",
        "ddp_notebook",
        "ddp_fork_find_unused_parameters_true",
        "deepspeed_stage_3_offload",
        "fsdp",
        "fsdp_cpu_offload",
        "single_device",
    ):
        assert name in names
    assert str(StrategyRegistry).startswith("Registered Strategies: ddp, ddp_spawn, ddp_fork, ")
    assert StrategyRegistry["fsdp"]["strategy"] == FSDPStrategy
    assert StrategyRegistry["single_device"]["strategy"] == SingleDeviceStrategy
    assert StrategyRegistry["ddp_spawn"]["init_params"] == {"start_method": "spawn"}
    spawn = StrategyRegistry.get("ddp_spawn")
    assert isinstance(spawn, DDPStrategy) and spawn.name == "ddp_spawn"
    assert StrategyRegistry.get("deepspeed_stage_3_offload").name == "deepspeed_stage_3_offload"
    assert StrategyRegistry.get("nope", "fallback") == "fallback"
    with pytest.raises(KeyError, match="'nope' not found in registry. Available names: ddp"):
        StrategyRegistry.get("nope")
    with pytest.raises(ValueError, match="'ddp' is already present in the registry"):
        StrategyRegistry.register("ddp", DDPStrategy)
    with pytest.raises(TypeError, match="`name` must be a str"):
        StrategyRegistry.register(1, DDPStrategy)  # type: ignore[arg-type]

    @StrategyRegistry.register("test_strategy", description="Test Strategy", start_method="fork")
    class TestStrategy(DDPStrategy):
        pass

    try:
        assert StrategyRegistry["test_strategy"] == {
            "strategy": TestStrategy,
            "strategy_name": "test_strategy",
            "description": "Test Strategy",
            "init_params": {"start_method": "fork"},
        }
        made = StrategyRegistry.get("test_strategy")
        assert isinstance(made, TestStrategy) and made.start_method == "fork"
    finally:
        StrategyRegistry.remove("test_strategy")


def test_fsdp_cpu_offload_is_fsdp_with_cpu_offload() -> None:
    trainer = treadle.Trainer(strategy="fsdp_cpu_offload", accelerator="cpu", devices=2, **QUIET)
    assert isinstance(trainer.strategy, FSDPStrategy)


def test_registered_name_runs_its_object() -> None:
    # Ported from tests/tests_pytorch/strategies/test_registry.py::test_custom_registered_strategy_to_strategy_flag
    class CustomCheckpointIO(CheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            pass

        def load_checkpoint(self, path, map_location=None):
            pass

        def remove_checkpoint(self, path):
            pass

    custom = CustomCheckpointIO()
    StrategyRegistry.register(
        "ddp_custom_checkpoint_io_t", DDPStrategy, description="d", checkpoint_io=custom
    )
    try:
        assert StrategyRegistry["ddp_custom_checkpoint_io_t"]["description"] == "d"
        trainer = treadle.Trainer(
            strategy="ddp_custom_checkpoint_io_t", accelerator="cpu", devices=2, **QUIET
        )
        assert isinstance(trainer.strategy, DDPStrategy)
        assert trainer.strategy.checkpoint_io is custom
        # the decorator form, replacing the entry (override=True)
        StrategyRegistry.register("ddp_custom_checkpoint_io_t", description="e", override=True)(
            DDPStrategy
        )
        assert StrategyRegistry["ddp_custom_checkpoint_io_t"]["init_params"] == {}
    finally:
        StrategyRegistry.remove("ddp_custom_checkpoint_io_t")
    assert "ddp_custom_checkpoint_io_t" not in StrategyRegistry
