# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_hparams.py
#   (_run_standard_hparams_test with test_namespace_hparams, test_dict_hparams,
#    test_explicit_args_hparams, test_implicit_args_hparams, test_explicit_missing_args_hparams,
#    test_hparams_pickle-free datamodule case, test_save_hyperparameters_ignore)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; the parametrized classes listed in a loop.
import os
import tempfile
from argparse import Namespace

import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel


class SaveHparamsModel(BoringModel):
    def __init__(self, hparams):
        super().__init__()
        self.save_hyperparameters(hparams)


class SaveHparamsDataModule(BoringDataModule):
    def __init__(self, hparams):
        super().__init__()
        self.save_hyperparameters(hparams)


def _raw_checkpoint_path(trainer) -> str:
    raw_checkpoint_paths = os.listdir(trainer.checkpoint_callback.dirpath)
    raw_checkpoint_paths = [x for x in raw_checkpoint_paths if ".ckpt" in x]
    assert raw_checkpoint_paths
    raw_checkpoint_path = raw_checkpoint_paths[0]
    return os.path.join(trainer.checkpoint_callback.dirpath, raw_checkpoint_path)


def _run_standard_hparams_test(tmp_path, model, cls, datamodule=None, try_overwrite=False):
    """Tests for the existence of an arg 'test_arg=14'."""
    obj = datamodule if issubclass(cls, LightningDataModule) else model
    hparam_type = type(obj.hparams)
    # test proper property assignments
    assert obj.hparams.test_arg == 14

    # verify we can train
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, overfit_batches=2)
    trainer.fit(model, datamodule=datamodule if issubclass(cls, LightningDataModule) else None)

    # make sure the raw checkpoint saved the properties
    raw_checkpoint_path = _raw_checkpoint_path(trainer)
    raw_checkpoint = torch.load(raw_checkpoint_path, weights_only=False)
    assert cls.CHECKPOINT_HYPER_PARAMS_KEY in raw_checkpoint
    assert raw_checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY]["test_arg"] == 14

    # verify that model loads correctly
    obj2 = cls.load_from_checkpoint(raw_checkpoint_path)
    assert obj2.hparams.test_arg == 14

    assert isinstance(obj2.hparams, hparam_type)

    if try_overwrite:
        # verify that we can overwrite the property
        obj3 = cls.load_from_checkpoint(raw_checkpoint_path, test_arg=78)
        assert obj3.hparams.test_arg == 78

    return raw_checkpoint_path


def test_namespace_hparams(tmp_path, cls):
    hparams = Namespace(test_arg=14)
    if issubclass(cls, LightningDataModule):
        model = BoringModel()
        datamodule = cls(hparams=hparams)
    else:
        model = cls(hparams=hparams)
        datamodule = None
    _run_standard_hparams_test(tmp_path, model, cls, datamodule=datamodule)


def test_dict_hparams(tmp_path, cls):
    hparams = {"test_arg": 14}
    if issubclass(cls, LightningDataModule):
        model = BoringModel()
        datamodule = cls(hparams=hparams)
    else:
        model = cls(hparams=hparams)
        datamodule = None
    _run_standard_hparams_test(tmp_path, model, cls, datamodule=datamodule)


def test_explicit_args_hparams(tmp_path):
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters("test_arg", "test_arg2")

    model = LocalModel(test_arg=14, test_arg2=90)
    raw_checkpoint_path = _run_standard_hparams_test(tmp_path, model, LocalModel)
    model = LocalModel.load_from_checkpoint(raw_checkpoint_path, test_arg2=120)
    assert model.hparams.test_arg2 == 120


def test_implicit_args_hparams(tmp_path):
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters()

    model = LocalModel(test_arg=14, test_arg2=90)
    raw_checkpoint_path = _run_standard_hparams_test(tmp_path, model, LocalModel)
    model = LocalModel.load_from_checkpoint(raw_checkpoint_path, test_arg2=120)
    assert model.hparams.test_arg2 == 120


def test_explicit_missing_args_hparams(tmp_path):
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters("test_arg")

    model = LocalModel(test_arg=14, test_arg2=90)

    # test proper property assignments
    assert model.hparams.test_arg == 14

    # verify we can train
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=2, overfit_batches=0.5)
    trainer.fit(model)

    # make sure the raw checkpoint saved the properties
    raw_checkpoint_path = _raw_checkpoint_path(trainer)
    raw_checkpoint = torch.load(raw_checkpoint_path, weights_only=False)
    assert LightningModule.CHECKPOINT_HYPER_PARAMS_KEY in raw_checkpoint
    assert raw_checkpoint[LightningModule.CHECKPOINT_HYPER_PARAMS_KEY]["test_arg"] == 14

    # verify that model loads correctly
    model = LocalModel.load_from_checkpoint(raw_checkpoint_path, test_arg2=123)
    assert model.hparams.test_arg == 14
    assert "test_arg2" not in model.hparams  # test_arg2 is not registered in class init


def test_save_hyperparameters_ignore():
    class LocalModel(LightningModule):
        def __init__(self, arg1, arg2, net):
            super().__init__()
            self.save_hyperparameters(ignore="net")
            self.net = net

    model = LocalModel(1, "x", torch.nn.Linear(2, 2))
    assert dict(model.hparams) == {"arg1": 1, "arg2": "x"}
    assert model.hparams["arg1"] == 1


if __name__ == "__main__":
    for cls in (SaveHparamsModel, SaveHparamsDataModule):
        for fn in (test_namespace_hparams, test_dict_hparams):
            with tempfile.TemporaryDirectory() as d:
                fn(d, cls)
    for fn in (test_explicit_args_hparams, test_implicit_args_hparams, test_explicit_missing_args_hparams):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    test_save_hyperparameters_ignore()
    print("OK")
