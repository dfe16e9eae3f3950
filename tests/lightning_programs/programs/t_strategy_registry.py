# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_registry.py
#   (test_strategy_registry_with_deepspeed_strategies, test_fsdp_strategy_registry's registry
#    part, test_ddp_find_unused_parameters_strategy_registry,
#    test_custom_registered_strategy_to_strategy_flag)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; parametrize -> loops. test_fsdp_strategy_registry: the
#   `Trainer(accelerator="cuda", strategy="fsdp")` part left out (a mocked CUDA device count).
#   Left out: test_deepspeed_strategy_registry_with_trainer (deepspeed is not installed beside
#   the reference Lightning), test_xla_debug_strategy_registry (TPU, a mocked private method).
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.plugins import CheckpointIO
from lightning.pytorch.strategies import (
    DDPStrategy,
    DeepSpeedStrategy,
    FSDPStrategy,
    StrategyRegistry,
)


def test_strategy_registry_with_deepspeed_strategies():
    for strategy_name, init_params in [
        ("deepspeed", {}),
        ("deepspeed_stage_1", {"stage": 1}),
        ("deepspeed_stage_2", {"stage": 2}),
        ("deepspeed_stage_2_offload", {"stage": 2, "offload_optimizer": True}),
        ("deepspeed_stage_3", {"stage": 3}),
        (
            "deepspeed_stage_3_offload",
            {"stage": 3, "offload_parameters": True, "offload_optimizer": True},
        ),
    ]:
        assert strategy_name in StrategyRegistry
        assert StrategyRegistry[strategy_name]["init_params"] == init_params
        assert StrategyRegistry[strategy_name]["strategy"] == DeepSpeedStrategy


def test_fsdp_strategy_registry():
    strategy = "fsdp"
    assert strategy in StrategyRegistry
    assert StrategyRegistry[strategy]["strategy"] == FSDPStrategy


def test_ddp_find_unused_parameters_strategy_registry(tmpdir):
    for strategy_name, strategy, expected_init_params in [
        (
            "ddp_find_unused_parameters_false",
            DDPStrategy,
            {"find_unused_parameters": False, "start_method": "popen"},
        ),
        (
            "ddp_find_unused_parameters_true",
            DDPStrategy,
            {"find_unused_parameters": True, "start_method": "popen"},
        ),
        (
            "ddp_spawn_find_unused_parameters_false",
            DDPStrategy,
            {"find_unused_parameters": False, "start_method": "spawn"},
        ),
        (
            "ddp_spawn_find_unused_parameters_true",
            DDPStrategy,
            {"find_unused_parameters": True, "start_method": "spawn"},
        ),
        (
            "ddp_fork_find_unused_parameters_false",
            DDPStrategy,
            {"find_unused_parameters": False, "start_method": "fork"},
        ),
        (
            "ddp_fork_find_unused_parameters_true",
            DDPStrategy,
            {"find_unused_parameters": True, "start_method": "fork"},
        ),
        (
            "ddp_notebook_find_unused_parameters_false",
            DDPStrategy,
            {"find_unused_parameters": False, "start_method": "fork"},
        ),
        (
            "ddp_notebook_find_unused_parameters_true",
            DDPStrategy,
            {"find_unused_parameters": True, "start_method": "fork"},
        ),
    ]:
        trainer = Trainer(default_root_dir=tmpdir, strategy=strategy_name)
        assert isinstance(trainer.strategy, strategy)
        assert strategy_name in StrategyRegistry
        assert StrategyRegistry[strategy_name]["init_params"] == expected_init_params
        assert StrategyRegistry[strategy_name]["strategy"] == strategy


def test_custom_registered_strategy_to_strategy_flag():
    class CustomCheckpointIO(CheckpointIO):
        def save_checkpoint(self, checkpoint, path):
            pass

        def load_checkpoint(self, path):
            pass

        def remove_checkpoint(self, path):
            pass

    custom_checkpoint_io = CustomCheckpointIO()

    # Register the DDP Strategy with your custom CheckpointIO plugin
    StrategyRegistry.register(
        "ddp_custom_checkpoint_io",
        DDPStrategy,
        description="DDP Strategy with custom checkpoint io plugin",
        checkpoint_io=custom_checkpoint_io,
    )
    trainer = Trainer(strategy="ddp_custom_checkpoint_io", accelerator="cpu", devices=2)

    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy.checkpoint_io == custom_checkpoint_io


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_strategy_registry_with_deepspeed_strategies()
        test_fsdp_strategy_registry()
        test_ddp_find_unused_parameters_strategy_registry(tmp)
        test_custom_registered_strategy_to_strategy_flag()
    print("ok")
