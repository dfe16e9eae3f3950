# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_hparams.py
#   (test_hparams_pickle, test_save_hparams_to_yaml, test_init_arg_with_runtime_change;
#    test_save_hparams_to_yaml_warning is t_hparams_yaml_unsafe.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; pytest.warns -> warnings.catch_warnings. test_hparams_pickle: the
#   `cloudpickle` round trip left out (cloudpickle is not installed here), `pickle` kept.
#   test_save_hparams_to_yaml: the OmegaConf case (`_OMEGACONF_AVAILABLE`) left out, omegaconf
#   not being installed here. The rest of test_hparams.py is t_hparams.py.
import os
import pickle
import tempfile
from argparse import Namespace
from enum import Enum

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.core.saving import load_hparams_from_yaml, save_hparams_to_yaml
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import AttributeDict


def test_hparams_pickle():
    ad = AttributeDict({"key1": 1, "key2": "abc"})
    pkl = pickle.dumps(ad)
    assert ad == pickle.loads(pkl)


def test_save_hparams_to_yaml(tmp_path):
    class Options(str, Enum):
        option1name = "option1val"
        option2name = "option2val"
        option3name = "option3val"

    hparams = {
        "batch_size": 32,
        "learning_rate": 0.001,
        "data_root": "./any/path/here",
        "nested": {"any_num": 123, "anystr": "abcd"},
        "switch": Options.option3name,
    }
    path_yaml = os.path.join(tmp_path, "testing-hparams.yaml")

    def _compare_params(loaded_params, default_params: dict):
        assert isinstance(loaded_params, dict)
        assert loaded_params.keys() == default_params.keys()
        for k, v in default_params.items():
            if isinstance(v, Enum):
                assert v.name == loaded_params[k], (k, loaded_params[k])
            else:
                assert v == loaded_params[k], (k, loaded_params[k])

    save_hparams_to_yaml(path_yaml, hparams)
    _compare_params(load_hparams_from_yaml(path_yaml, use_omegaconf=False), hparams)

    save_hparams_to_yaml(path_yaml, Namespace(**hparams))
    _compare_params(load_hparams_from_yaml(path_yaml, use_omegaconf=False), hparams)

    save_hparams_to_yaml(path_yaml, AttributeDict(hparams))
    _compare_params(load_hparams_from_yaml(path_yaml, use_omegaconf=False), hparams)


class RuntimeParamChangeModelSaving(BoringModel):
    def __init__(self, **kwargs):
        super().__init__()
        self.save_hyperparameters()


def test_init_arg_with_runtime_change(tmp_path, cls):
    """Test that we save/export only the initial hparams, no other runtime change allowed."""
    model = cls(running_arg=123)
    assert model.hparams.running_arg == 123
    model.hparams.running_arg = -1
    assert model.hparams.running_arg == -1

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        max_epochs=1,
        logger=TensorBoardLogger(tmp_path),
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(model)

    path_yaml = os.path.join(trainer.logger.log_dir, trainer.logger.NAME_HPARAMS_FILE)
    hparams = load_hparams_from_yaml(path_yaml)
    assert hparams.get("running_arg") == 123, hparams


if __name__ == "__main__":
    test_hparams_pickle()
    with tempfile.TemporaryDirectory() as d:
        test_save_hparams_to_yaml(d)
    with tempfile.TemporaryDirectory() as d:
        test_init_arg_with_runtime_change(d, RuntimeParamChangeModelSaving)
    print("OK")
