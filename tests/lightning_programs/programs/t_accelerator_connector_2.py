# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py
#   (the tests t_accelerator_connector.py left as not ported yet: test_strategy_choice_cpu_str,
#    test_strategy_str_passed_being_case_insensitive,
#    test_custom_cluster_environment_in_slurm_environment)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a tempfile dir; the `mock.patch.dict(os.environ, ...)` decorator -> a
#   `with` block; the `cuda_count_0` fixture (CUDA counted as 0 devices) dropped: this CPU
#   machine has none. Left out: test_strategy_choice_ddp_spawn_cpu / _ddp_fork_cpu (they assert
#   the private `launcher._start_method`).
import os
import tempfile
from unittest import mock

from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.plugins.environments import LightningEnvironment
from lightning.pytorch.strategies import DDPStrategy


def test_strategy_choice_cpu_str(strategy, strategy_class):
    trainer = Trainer(strategy=strategy, accelerator="cpu", devices=2)
    assert isinstance(trainer.strategy, strategy_class)


def test_strategy_str_passed_being_case_insensitive(strategy, strategy_cls):
    trainer = Trainer(accelerator="cpu", strategy=strategy)
    assert isinstance(trainer.strategy, strategy_cls)


def test_custom_cluster_environment_in_slurm_environment(tmp_path):
    """Test that we choose the custom cluster even when SLURM or TE flags are around."""

    class CustomCluster(LightningEnvironment):
        @property
        def main_address(self):
            return "asdf"

        @property
        def creates_processes_externally(self) -> bool:
            return True

    with mock.patch.dict(
        os.environ,
        {
            "SLURM_NTASKS": "2",
            "SLURM_NTASKS_PER_NODE": "1",
            "SLURM_JOB_NAME": "SOME_NAME",
            "SLURM_NODEID": "0",
            "LOCAL_RANK": "0",
            "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0",
        },
    ):
        trainer = Trainer(
            default_root_dir=tmp_path,
            plugins=[CustomCluster()],
            fast_dev_run=True,
            accelerator="cpu",
            strategy="ddp",
            devices=2,
        )
        assert isinstance(trainer.accelerator, CPUAccelerator)
        assert isinstance(trainer.strategy, DDPStrategy)
        assert isinstance(trainer.strategy.cluster_environment, CustomCluster)


if __name__ == "__main__":
    for strategy, strategy_class in [
        ("ddp_spawn", DDPStrategy),
        ("ddp_spawn_find_unused_parameters_false", DDPStrategy),
        ("ddp", DDPStrategy),
        ("ddp_find_unused_parameters_false", DDPStrategy),
    ]:
        test_strategy_choice_cpu_str(strategy, strategy_class)
    for strategy, strategy_cls in [("DDP", DDPStrategy), ("DDP_FIND_UNUSED_PARAMETERS_FALSE", DDPStrategy)]:
        test_strategy_str_passed_being_case_insensitive(strategy, strategy_cls)
    with tempfile.TemporaryDirectory() as tmp:
        test_custom_cluster_environment_in_slurm_environment(tmp)
    print("OK")
