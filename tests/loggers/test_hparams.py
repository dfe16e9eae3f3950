"""Hyper-parameters: ``save_hyperparameters``, ``hparams``, checkpoints, ``load_from_checkpoint``.

Tests marked "ported" follow Lightning's ``tests/tests_pytorch/models/test_hparams.py``
(Copyright The Lightning AI team, Apache-2.0), translated to treadle's names. Where Lightning
pickles what ``torch.load(weights_only=True)`` cannot read back (an ``nn.Module`` argument),
treadle refuses it in ``save_hyperparameters``; those tests pin the refusal instead.

Until the Trainer writes hyper-parameters into its checkpoints itself (the tests marked
``needs trainer integration``), :func:`save_checkpoint` adds them as the Trainer will.
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
import re
from argparse import Namespace
from dataclasses import dataclass
from enum import Enum

import pytest
import torch
import yaml
from boring import BoringModel, loader, trainer
from torch import nn

import treadle
from treadle import _hparams, checkpoint_io
from treadle.loggers import CSVLogger, save_hparams_to_yaml


def save_checkpoint(t, path):
    """``trainer.save_checkpoint(path)`` with the module's hyper-parameters, as the integrated
    Trainer writes them (``test_trainer_checkpoint_holds_hyper_parameters``)."""
    t.save_checkpoint(path)
    checkpoint = checkpoint_io.load(path)
    checkpoint.update(_hparams.checkpoint_entries(t.lightning_module))
    checkpoint_io.save_atomic(checkpoint, path)
    return str(path)


def fit_and_save(tmp_path, model, **kwargs):
    t = trainer(tmp_path, logger=False, **kwargs)
    t.fit(model, loader(n_batches=2))
    return save_checkpoint(t, tmp_path / "model.ckpt")


# -- ported from Lightning ------------------------------------------------------------------------


class SaveHparamsModel(BoringModel):
    def __init__(self, hparams):
        super().__init__()
        self.save_hyperparameters(hparams)


def decorate(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


class SaveHparamsDecoratedModel(BoringModel):
    @decorate
    @decorate
    def __init__(self, hparams, *my_args, **my_kwargs):
        super().__init__()
        self.save_hyperparameters(hparams)


def _run_standard_hparams_test(tmp_path, model, cls, try_overwrite=False):
    """The argument ``test_arg=14`` survives training, the checkpoint and loading."""
    hparam_type = type(model.hparams)
    assert model.hparams.test_arg == 14
    path = fit_and_save(tmp_path, model)
    raw_checkpoint = torch.load(path, weights_only=True)
    assert raw_checkpoint["hyper_parameters"]["test_arg"] == 14
    obj2 = cls.load_from_checkpoint(path)
    assert obj2.hparams.test_arg == 14
    assert isinstance(obj2.hparams, hparam_type)
    if try_overwrite:
        assert cls.load_from_checkpoint(path, test_arg=78).hparams.test_arg == 78
    return path


@pytest.mark.parametrize("cls", [SaveHparamsModel, SaveHparamsDecoratedModel])
def test_namespace_hparams(tmp_path, cls):  # ported
    _run_standard_hparams_test(tmp_path, cls(hparams=Namespace(test_arg=14)), cls)


@pytest.mark.parametrize("cls", [SaveHparamsModel, SaveHparamsDecoratedModel])
def test_dict_hparams(tmp_path, cls):  # ported
    _run_standard_hparams_test(tmp_path, cls(hparams={"test_arg": 14}), cls, try_overwrite=True)


def test_explicit_args_hparams(tmp_path):  # ported
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters("test_arg", "test_arg2")

    path = _run_standard_hparams_test(tmp_path, LocalModel(test_arg=14, test_arg2=90), LocalModel)
    assert LocalModel.load_from_checkpoint(path, test_arg2=120).hparams.test_arg2 == 120


def test_implicit_args_hparams(tmp_path):  # ported
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters()

    path = _run_standard_hparams_test(tmp_path, LocalModel(test_arg=14, test_arg2=90), LocalModel)
    assert LocalModel.load_from_checkpoint(path, test_arg2=120).hparams.test_arg2 == 120


def test_explicit_missing_args_hparams(tmp_path):  # ported
    class LocalModel(BoringModel):
        def __init__(self, test_arg, test_arg2):
            super().__init__()
            self.save_hyperparameters("test_arg")

    model = LocalModel(test_arg=14, test_arg2=90)
    assert model.hparams.test_arg == 14
    path = fit_and_save(tmp_path, model, max_epochs=2)
    assert torch.load(path, weights_only=True)["hyper_parameters"]["test_arg"] == 14
    model = LocalModel.load_from_checkpoint(path, test_arg2=123)
    assert model.hparams.test_arg == 14
    assert "test_arg2" not in model.hparams  # not registered by the class's save_hyperparameters


def test_class_nesting():  # ported
    class MyModule(treadle.Module):
        def forward(self): ...

    assert isinstance(MyModule(), torch.nn.Module)

    def test_outside():
        _ = MyModule().hparams

    class A:
        def test(self):
            _ = MyModule().hparams

        def test2(self):
            test_outside()

    test_outside()
    A().test2()
    A().test()


class CustomBoringModel(BoringModel):
    def __init__(self, batch_size=64):
        super().__init__()
        self.save_hyperparameters()


class SubClassBoringModel(CustomBoringModel):
    any_other_loss = torch.nn.CrossEntropyLoss()

    def __init__(self, *args, subclass_arg=1200, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()


class MixinForBoringModel:
    any_other_loss = torch.nn.CrossEntropyLoss()

    def __init__(self, *args, subclass_arg=1200, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()


class BoringModelWithMixin(MixinForBoringModel, CustomBoringModel):
    pass


class BoringModelWithMixinAndInit(MixinForBoringModel, CustomBoringModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_hyperparameters()


class NonSavingSubClassBoringModel(CustomBoringModel):
    any_other_loss = torch.nn.CrossEntropyLoss()

    def __init__(self, *args, subclass_arg=1200, **kwargs):
        super().__init__(*args, **kwargs)


class SubSubClassBoringModel(SubClassBoringModel):
    pass


class UnconventionalArgsBoringModel(CustomBoringModel):
    def __init__(obj, *more_args, other_arg=300, **more_kwargs):
        super().__init__(*more_args, **more_kwargs)
        obj.save_hyperparameters()


@pytest.mark.parametrize(
    "cls",
    [
        CustomBoringModel,
        SubClassBoringModel,
        NonSavingSubClassBoringModel,
        SubSubClassBoringModel,
        UnconventionalArgsBoringModel,
        BoringModelWithMixin,
        BoringModelWithMixinAndInit,
    ],
)
def test_collect_init_arguments(tmp_path, cls):  # ported
    assert cls().hparams.batch_size == 64
    model = cls(batch_size=179)
    assert model.hparams.batch_size == 179
    if isinstance(model, (SubClassBoringModel, NonSavingSubClassBoringModel, MixinForBoringModel)):
        assert model.hparams.subclass_arg == 1200
    if isinstance(model, UnconventionalArgsBoringModel):
        assert model.hparams.other_arg == 300
    path = fit_and_save(tmp_path, model)
    assert torch.load(path, weights_only=True)["hyper_parameters"]["batch_size"] == 179
    assert cls.load_from_checkpoint(path).hparams.batch_size == 179
    assert cls.load_from_checkpoint(path, batch_size=99).hparams.batch_size == 99


def test_save_hyperparameters_under_composition():  # ported
    class ChildInComposition(treadle.Module):
        def __init__(self, same_arg):
            super().__init__()
            self.save_hyperparameters()

    class NotPLSubclass:
        def __init__(self, same_arg="parent_default", other_arg="other"):
            self.child = ChildInComposition(same_arg="cocofruit")

    assert NotPLSubclass().child.hparams == {"same_arg": "cocofruit"}


def test_save_hyperparameters_ignore():  # ported
    class PLSubclass(treadle.Module):
        def __init__(self, learning_rate=1e-3, optimizer="adam"):
            super().__init__()
            self.save_hyperparameters(ignore=["learning_rate"])

    assert PLSubclass(learning_rate=0.01, optimizer="sgd").hparams == {"optimizer": "sgd"}


def test_save_hyperparameters_ignore_under_composition():  # ported
    class ChildModule(treadle.Module):
        def __init__(self, dropout, activation, init_method):
            super().__init__()
            self.save_hyperparameters(ignore=["dropout", "activation"])

    class ParentModule(treadle.Module):
        def __init__(self, batch_size, optimizer):
            super().__init__()
            self.child = ChildModule(dropout=0.1, activation="relu", init_method="xavier")

    class PipelineWrapper:
        def __init__(self, run_id="abc123", seed=42):
            self.parent_module = ParentModule(batch_size=64, optimizer="adam")

    assert PipelineWrapper().parent_module.child.hparams == {"init_method": "xavier"}


def test_collect_init_arguments_with_local_vars():  # ported
    class LocalVariableModelSuperFirst(BoringModel):
        def __init__(self, arg1, arg2, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.argument1 = arg1
            arg1 = "overwritten"
            local_var = 1234  # noqa: F841
            self.save_hyperparameters()

    model = LocalVariableModelSuperFirst(arg1=1, arg2=2)
    assert "local_var" not in model.hparams
    assert model.hparams["arg1"] == "overwritten"
    assert model.hparams["arg2"] == 2


class AnotherArgModel(BoringModel):
    def __init__(self, arg1):
        super().__init__()
        self.save_hyperparameters(arg1)


class OtherArgsModel(BoringModel):
    def __init__(self, arg1, arg2):
        super().__init__()
        self.save_hyperparameters(arg1, arg2)


def test_single_config_models_fail():  # ported, with the messages pinned
    with pytest.raises(
        ValueError,
        match=re.escape(
            "AnotherArgModel.save_hyperparameters(): `42` is neither an `__init__` argument name "
            "nor a dict or Namespace of hyper-parameters. Pass argument names as strings "
            "(`save_hyperparameters('lr', 'width')`), one dict, or nothing (every `__init__` "
            "argument)."
        ),
    ):
        AnotherArgModel(arg1=42)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "OtherArgsModel.save_hyperparameters(): pass argument names as strings, or one dict "
            "or Namespace; got 3.14, 'abc'."
        ),
    ):
        OtherArgsModel(arg1=3.14, arg2="abc")


def test_save_hparams_to_yaml(tmp_path):  # ported (read back with yaml.safe_load)
    class Options(str, Enum):
        option1name = "option1val"
        option3name = "option3val"

    hparams = {
        "batch_size": 32,
        "learning_rate": 0.001,
        "data_root": "./any/path/here",
        "nested": {"any_num": 123, "anystr": "abcd"},
        "switch": Options.option3name,
    }
    path = os.path.join(tmp_path, "testing-hparams.yaml")
    for form in (hparams, Namespace(**hparams), _hparams.AttributeDict(hparams)):
        save_hparams_to_yaml(path, form)
        with open(path) as f:
            loaded = yaml.safe_load(f)
        assert loaded.keys() == hparams.keys()
        assert loaded["switch"] == "option3name"  # an enum is written by name
        assert {k: v for k, v in loaded.items() if k != "switch"} == {
            k: v for k, v in hparams.items() if k != "switch"
        }


def test_save_hparams_to_yaml_warning(tmp_path):
    # Ported from tests/tests_pytorch/models/test_hparams.py::test_save_hparams_to_yaml_warning
    path = os.path.join(tmp_path, "hparams.yaml")
    with pytest.warns(UserWarning, match="Skipping 'torch_type' parameter"):
        save_hparams_to_yaml(path, {"torch_type": torch.float32})
    with open(path) as f:
        assert yaml.safe_load(f) == {}


class _Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_only_what_yaml_cannot_dump_is_skipped(tmp_path):
    # Lightning's test: `yaml.dump` fails on the value (a dtype, a generator, a dict holding a
    # dtype). What it can dump with a Python tag is kept, written plain (an object as its str).
    path = os.path.join(tmp_path, "hparams.yaml")
    hparams = {
        "dtype": torch.float32,
        "nested": {"a": 1, "dtype": torch.float16},
        "gen": (i for i in range(2)),
        "obj": _Opaque(),
        "t": torch.tensor(1.5),
        "tup": (1, 2),
        "n": 3,
    }
    with pytest.warns(UserWarning) as record:
        save_hparams_to_yaml(path, hparams)
    assert [str(w.message) for w in record] == [
        f"Skipping '{k}' parameter because it is not possible to safely dump to YAML."
        for k in ("dtype", "nested", "gen")
    ]
    with open(path) as f:
        assert yaml.safe_load(f) == {"obj": "opaque", "t": 1.5, "tup": [1, 2], "n": 3}
    assert hparams["dtype"] is torch.float32  # the caller's dict is left as it was


@pytest.mark.parametrize("kind", ["csv", "tensorboard"])
def test_loggers_hparams_yaml_skips_what_yaml_cannot_dump(tmp_path, kind):
    if kind == "csv":
        logger = CSVLogger(tmp_path)
    else:
        pytest.importorskip("tensorboard")
        logger = treadle.loggers.TensorBoardLogger(tmp_path)
    with pytest.warns(UserWarning, match=re.escape("Skipping 'torch_type' parameter because")):
        logger.log_hyperparams({"torch_type": torch.float32, "lr": 0.1})
        logger.save()
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == {"lr": 0.1}


def test_model_ignores_non_exist_kwargument(tmp_path):  # ported
    class LocalModel(BoringModel):
        def __init__(self, batch_size=15):
            super().__init__()
            self.save_hyperparameters()

    model = LocalModel()
    assert model.hparams.batch_size == 15
    path = fit_and_save(tmp_path, model)
    assert (
        "non_exist_kwarg" not in LocalModel.load_from_checkpoint(path, non_exist_kwarg=99).hparams
    )


@pytest.mark.parametrize("ignore", ["arg2", ("arg2", "arg3")])
def test_ignore_args_list_hparams(tmp_path, ignore):  # ported
    class LocalModel(BoringModel):
        def __init__(self, arg1, arg2, arg3):
            super().__init__()
            self.save_hyperparameters(ignore=ignore)

    model = LocalModel(arg1=14, arg2=90, arg3=50)
    assert model.hparams.arg1 == 14
    for arg in ignore if isinstance(ignore, tuple) else [ignore]:
        assert arg not in model.hparams
    path = fit_and_save(tmp_path, model, max_epochs=2)
    assert torch.load(path, weights_only=True)["hyper_parameters"]["arg1"] == 14
    model = LocalModel.load_from_checkpoint(path, arg2=123, arg3=100)
    assert model.hparams.arg1 == 14
    for arg in ignore if isinstance(ignore, tuple) else [ignore]:
        assert arg not in model.hparams


class IgnoreAllParametersModel(BoringModel):
    def __init__(self, arg1, arg2, arg3):
        super().__init__()
        self.save_hyperparameters(ignore=("arg1", "arg2", "arg3"))


class NoParametersModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.save_hyperparameters()


@pytest.mark.parametrize(
    "make", [lambda: IgnoreAllParametersModel(arg1=14, arg2=90, arg3=50), NoParametersModel]
)
def test_save_no_parameters(make):  # ported
    model = make()
    assert model.hparams == {}
    assert model._hparams_initial == {}
    assert _hparams.checkpoint_entries(model) == {}


class HparamsKwargsContainerModel(BoringModel):
    def __init__(self, **kwargs):
        super().__init__()
        self.save_hyperparameters(kwargs)


class HparamsNamespaceContainerModel(BoringModel):
    def __init__(self, config):
        super().__init__()
        self.save_hyperparameters(config)


def test_empty_hparams_container():  # ported
    assert not HparamsKwargsContainerModel().hparams
    assert not HparamsNamespaceContainerModel(Namespace()).hparams


def test_hparams_name_from_container(tmp_path):  # ported, plus loading by that name
    assert HparamsKwargsContainerModel(a=1, b=2)._hparams_name is None
    model = HparamsNamespaceContainerModel(Namespace(a=1, b=2))
    assert model._hparams_name == "config"
    path = fit_and_save(tmp_path, model)
    loaded = HparamsNamespaceContainerModel.load_from_checkpoint(path, b=5)
    assert loaded.hparams == {
        "a": 1,
        "b": 5,
    }  # rebuilt as HparamsNamespaceContainerModel(config={...})


@dataclass(eq=False)
class DataClassModel(BoringModel):
    mandatory: int
    optional: str = "optional"
    ignore_me: bool = False

    def __post_init__(self):
        super().__init__()
        self.save_hyperparameters(ignore=("ignore_me",))


def test_dataclass_module():  # ported
    assert DataClassModel(33, optional="cocofruit").hparams == {
        "mandatory": 33,
        "optional": "cocofruit",
    }


def test_init_arg_with_runtime_change(tmp_path):  # ported: loggers get the initial values
    class RuntimeParamChangeModelSaving(BoringModel):
        def __init__(self, **kwargs):
            super().__init__()
            self.save_hyperparameters()

    model = RuntimeParamChangeModelSaving(running_arg=123)
    assert model.hparams.running_arg == 123
    model.hparams.running_arg = -1
    assert model.hparams.running_arg == -1
    logger = CSVLogger(tmp_path)
    trainer(tmp_path, logger=logger).fit(model, loader(n_batches=2))
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == {"running_arg": 123}


def test_trainer_checkpoint_holds_hyper_parameters(tmp_path):
    """The Trainer writes ``hyper_parameters`` and ``hparams_name`` (Lightning's keys) itself."""
    model = CustomBoringModel(batch_size=7)
    t = trainer(tmp_path, logger=False)
    t.fit(model, loader(n_batches=2))
    t.save_checkpoint(tmp_path / "plain.ckpt")
    checkpoint = torch.load(tmp_path / "plain.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"] == {"batch_size": 7}
    assert checkpoint["hparams_name"] == "kwargs"
    t.save_checkpoint(tmp_path / "weights.ckpt", weights_only=True)  # kept there too, as Lightning
    assert torch.load(tmp_path / "weights.ckpt", weights_only=True)["hyper_parameters"] == {
        "batch_size": 7
    }


# -- treadle's own: what can be stored ------------------------------------------------------------


class WithBackbone(BoringModel):
    def __init__(self, backbone, lr=0.1):
        super().__init__()
        self.backbone = backbone
        self.save_hyperparameters()


class IgnoringBackbone(BoringModel):
    def __init__(self, backbone, lr=0.1):
        super().__init__()
        self.backbone = backbone
        self.save_hyperparameters(ignore=["backbone"])


def test_a_module_argument_is_kept_out_of_checkpoints_with_the_fix(tmp_path):
    """Lightning warns and pickles an ``nn.Module`` argument; a ``weights_only`` load could not
    read it back, so treadle keeps it in ``self.hparams`` but out of checkpoints, says so with
    the argument's name and the fix, and ``load_from_checkpoint`` asks for it again."""
    with pytest.warns(UserWarning) as record:
        model = WithBackbone(nn.Linear(32, 2))
    assert str(record[0].message) == (
        "WithBackbone.save_hyperparameters(): checkpoints are loaded with "
        "`torch.load(weights_only=True)`, which rebuilds only None, bool, int, float, str, "
        "bytes, tensors, torch.Size/dtype/device and plain lists, tuples and dicts of them, so "
        "these are left out of checkpoints:\n"
        "  - argument `backbone` is a `Linear` (an `nn.Module`: its weights are in the "
        "state_dict)\n"
        "`WithBackbone.load_from_checkpoint(path)` rebuilds one that was the `__init__` default "
        "from that default and asks for any other: `WithBackbone.load_from_checkpoint(path, "
        "backbone=...)`. To silence this, leave them out with "
        "`self.save_hyperparameters(ignore=['backbone'])`, or store a plain form instead (a "
        "dataclass as `dataclasses.asdict(cfg)`, an enum as its `.value`, a class as its name)."
    )
    assert model.hparams.backbone is model.backbone and model.hparams.lr == 0.1
    with pytest.warns(UserWarning, match=re.escape("Saving a checkpoint of WithBackbone: ")):
        path = fit_and_save(tmp_path, model)
    stored = torch.load(path, weights_only=True)
    assert stored["hyper_parameters"] == {"lr": 0.1}
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"WithBackbone.load_from_checkpoint({str(path)!r}): the checkpoint's "
            "hyper-parameters lack `backbone` (a `Linear` (an `nn.Module`: its weights are in "
            "the state_dict)): a value that `torch.load(weights_only=True)` cannot rebuild is "
            "left out when saving. Pass it again: "
            "`WithBackbone.load_from_checkpoint(path, backbone=...)`."
        ),
    ):
        WithBackbone.load_from_checkpoint(path)
    with pytest.warns(UserWarning):  # the reloaded model's save_hyperparameters says it again
        loaded = WithBackbone.load_from_checkpoint(path, backbone=nn.Linear(32, 2))
    assert torch.equal(loaded.backbone.weight, model.backbone.weight)  # weights from the file


class Encoder(nn.Linear):
    def __init__(self):
        super().__init__(32, 2)


class WithDefaultClass(BoringModel):
    """As the UvA course's autoencoder: ``encoder_class: object = Encoder``."""

    def __init__(self, encoder_class: object = Encoder, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.layer = encoder_class()


def test_a_default_class_argument_is_rebuilt_from_the_default(tmp_path):
    with pytest.warns(UserWarning, match="argument `encoder_class` is the class `Encoder`"):
        model = WithDefaultClass(lr=0.5)
    with pytest.warns(UserWarning, match="Saving a checkpoint of WithDefaultClass"):
        path = fit_and_save(tmp_path, model)
    assert "hyper_parameters_left_out" not in torch.load(path, weights_only=True)
    with pytest.warns(UserWarning):  # the reloaded model's save_hyperparameters says it again
        loaded = WithDefaultClass.load_from_checkpoint(path)
    assert loaded.hparams.encoder_class is Encoder and loaded.hparams.lr == 0.5
    assert torch.equal(loaded.layer.weight, model.layer.weight)


def test_an_ignored_module_argument_is_passed_again_when_loading(tmp_path):
    model = IgnoringBackbone(nn.Linear(2, 2), lr=0.5)
    assert model.hparams == {"lr": 0.5}
    path = fit_and_save(tmp_path, model)
    with pytest.raises(
        TypeError,
        match=re.escape(
            "IgnoringBackbone.load_from_checkpoint("
            + repr(path)
            + "): `IgnoringBackbone.__init__` "
            "needs 'backbone', which the checkpoint's hyper-parameters do not hold (an argument "
            "left out with `save_hyperparameters(ignore=[...])` is not saved). Pass it: "
            "`IgnoringBackbone.load_from_checkpoint(path, backbone=...)`."
        ),
    ):
        IgnoringBackbone.load_from_checkpoint(path)
    loaded = IgnoringBackbone.load_from_checkpoint(path, backbone=nn.Linear(2, 2))
    assert loaded.hparams.lr == 0.5
    assert torch.equal(loaded.backbone.weight, model.backbone.weight)  # weights from the file


@dataclass
class Config:
    width: int = 4


class Color(Enum):
    RED = 1


class Anything(BoringModel):
    def __init__(self, **kwargs):
        super().__init__()
        self.save_hyperparameters()


def test_every_unstorable_value_is_named_with_its_place():
    with pytest.warns(UserWarning) as record:
        model = Anything(
            cfg=Config(),
            opts={"color": Color.RED, "ok": [1, (2, print)]},
            cls=nn.ReLU,
            fine=(1, "a", None, torch.zeros(2), torch.float16, torch.device("cpu")),
        )
    message = str(record[0].message)
    assert "  - argument `cfg` is a `Config`\n" in message
    assert "  - argument `opts`['color'] is a `Color`\n" in message
    assert "  - argument `opts`['ok'][1][1] is a `builtin_function_or_method`\n" in message
    assert "  - argument `cls` is the class `ReLU`\n" in message
    assert "fine" not in message
    assert "`self.save_hyperparameters(ignore=['cfg', 'opts', 'cls'])`" in message
    assert "`Anything.load_from_checkpoint(path, cfg=...)`" in message
    with pytest.warns(UserWarning, match="Saving a checkpoint of Anything"):
        entries = _hparams.checkpoint_entries(model)
    assert sorted(entries["hyper_parameters"]) == ["fine"]
    assert sorted(entries["hyper_parameters_left_out"]) == ["cfg", "cls", "opts"]


def test_stored_values_load_with_weights_only(tmp_path):
    """Every kind of value that is accepted comes back from a ``weights_only=True`` load."""
    values = dict(
        none=None,
        flag=True,
        n=3,
        x=0.5,
        s="adam",
        raw=b"\x00",
        t=torch.arange(3),
        size=torch.Size([2, 3]),
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
        nested={"a": [1, (2.0, "b")], 3: {"c": None}},
    )
    model = Anything(**values)
    model.hparams.extra = _hparams.AttributeDict(k=1)  # a dict subclass is stored as a plain dict
    path = fit_and_save(tmp_path, model)
    stored = torch.load(path, weights_only=True)["hyper_parameters"]
    assert type(stored) is dict and type(stored["extra"]) is dict
    loaded = Anything.load_from_checkpoint(path)
    for key, value in values.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(loaded.hparams[key], value)
        else:
            assert loaded.hparams[key] == value, key
    assert loaded.hparams.extra == {"k": 1}


def test_a_value_set_after_saving_is_left_out_when_checkpointing(tmp_path):
    model = CustomBoringModel()
    model.hparams.loss = nn.MSELoss()
    with pytest.warns(
        UserWarning,
        match=re.escape("Saving a checkpoint of CustomBoringModel: checkpoints are loaded with "),
    ) as record:
        entries = _hparams.checkpoint_entries(model)
    assert "  - hparams['loss'] is a `MSELoss` (an `nn.Module`" in str(record[0].message)
    assert "loss" not in entries["hyper_parameters"]
    assert list(entries["hyper_parameters_left_out"]) == ["loss"]


# -- treadle's own: hparams, loading ------------------------------------------------------------


def test_hparams_attribute_and_dict_access_and_initial_copy():
    model = CustomBoringModel(batch_size=3)
    assert model.hparams.batch_size == model.hparams["batch_size"] == 3
    model.hparams.batch_size = 4
    model.hparams["new"] = "x"
    assert model.hparams == {"batch_size": 4, "new": "x"}
    initial = model.hparams_initial
    assert initial == {"batch_size": 3}
    initial["batch_size"] = 99  # a copy: the recorded values do not change
    assert model.hparams_initial == {"batch_size": 3}
    with pytest.raises(
        AttributeError, match=re.escape("hparams has no 'missing'; it holds: ['batch_size', 'new']")
    ):
        _ = model.hparams.missing
    assert copy.deepcopy(model.hparams) == model.hparams
    assert (
        pickle.loads(pickle.dumps(model.hparams)) == model.hparams
    )  # as Lightning's AttributeDict


def test_save_hyperparameters_by_unknown_name():
    class Named(BoringModel):
        def __init__(self, lr=0.1, width=3):
            super().__init__()
            self.save_hyperparameters("lr", "widht")

    with pytest.raises(
        ValueError,
        match=re.escape(
            "Named.save_hyperparameters(): 'widht' is not an argument of `Named.__init__`. "
            "Its arguments: 'lr', 'width'."
        ),
    ):
        Named()


def test_logger_false_is_recorded():
    class Quiet(BoringModel):
        def __init__(self, a=1):
            super().__init__()
            self.save_hyperparameters(logger=False)

    assert Quiet()._log_hyperparams is False and CustomBoringModel()._log_hyperparams is True


def test_load_from_checkpoint_strict_and_map_location(tmp_path):
    model = CustomBoringModel(batch_size=5)
    path = fit_and_save(tmp_path, model)
    checkpoint = checkpoint_io.load(path)
    checkpoint["state_dict"]["extra.weight"] = torch.zeros(1)
    checkpoint_io.save_atomic(checkpoint, tmp_path / "extra.ckpt")
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            f"checkpoint {str(tmp_path / 'extra.ckpt')!r}: its weights do not fit "
            f"CustomBoringModel: in the file but not in the model: 'extra.weight'."
        ),
    ):
        CustomBoringModel.load_from_checkpoint(tmp_path / "extra.ckpt")
    loaded = CustomBoringModel.load_from_checkpoint(
        tmp_path / "extra.ckpt", strict=False, map_location="cpu"
    )
    assert loaded.hparams.batch_size == 5 and loaded.layer.weight.device.type == "cpu"
    assert torch.equal(loaded.layer.weight, model.layer.weight)


def test_load_from_checkpoint_with_hparams_file(tmp_path):
    path = fit_and_save(tmp_path, CustomBoringModel(batch_size=5))
    (tmp_path / "hparams.yaml").write_text("batch_size: 11\n")
    loaded = CustomBoringModel.load_from_checkpoint(path, hparams_file=tmp_path / "hparams.yaml")
    assert loaded.hparams.batch_size == 11


def test_load_from_checkpoint_calls_on_load_checkpoint(tmp_path):
    seen = []

    class Hooked(CustomBoringModel):
        def on_load_checkpoint(self, checkpoint):
            seen.append(checkpoint["hyper_parameters"]["batch_size"])

    path = fit_and_save(tmp_path, Hooked(batch_size=2))
    Hooked.load_from_checkpoint(path, batch_size=6)
    assert seen == [6]


def test_load_from_a_file_that_is_not_a_module_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            "the file has no `state_dict` (keys: 'weights'); it is not a treadle or Lightning "
            "checkpoint of a whole module."
        ),
    ):
        CustomBoringModel.load_from_checkpoint(tmp_path / "other.pt")


def test_example_input_array():
    model = BoringModel()
    assert model.example_input_array is None
    model.example_input_array = torch.zeros(1, 32)
    assert model.example_input_array.shape == (1, 32)
    assert "example_input_array" not in dict(model.named_buffers())
    assert "_example_input_array" not in model.state_dict()


# -- what the Trainer hands to its loggers (treadle.loggers.log_hyperparams) --------------------


class DataHparams(treadle.Module):  # stands in for a DataModule: the same save_hyperparameters
    def __init__(self, batch_size=32, root="data"):
        super().__init__()
        self.save_hyperparameters()


def run_start(tmp_path, module, datamodule):
    from types import SimpleNamespace

    from treadle.loggers import log_hyperparams

    logger = CSVLogger(tmp_path)
    log_hyperparams(
        SimpleNamespace(
            loggers=[logger], is_global_zero=True, lightning_module=module, datamodule=datamodule
        )
    )
    return logger


def test_module_and_datamodule_hparams_are_logged_together(tmp_path):
    logger = run_start(tmp_path, CustomBoringModel(batch_size=32), DataHparams())
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == {"batch_size": 32, "root": "data"}


def test_clashing_module_and_datamodule_hparams(tmp_path):
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "Error while merging hparams: the keys ['batch_size'] are present in both the "
            "LightningModule's and LightningDataModule's hparams but have different values. "
            "Rename one, or keep one from the loggers with `save_hyperparameters(logger=False)`."
        ),
    ):
        run_start(tmp_path, CustomBoringModel(batch_size=8), DataHparams())


class MixedKeys(treadle.Module):
    def __init__(self, params):
        super().__init__()
        self.save_hyperparameters(params)


class MixedKeysData(treadle.DataModule):
    def __init__(self, params):
        super().__init__()
        self.save_hyperparameters(params)


def test_clashing_hparams_with_keys_of_several_types(tmp_path):
    # ported from Lightning's loggers/test_logger.py::test_log_hyperparams_key_collision: keys
    # 1 and "4" clash (1 vs 0; a number vs a tensor), "2" agrees
    with pytest.raises(RuntimeError, match=re.escape("the keys ['4', 1] are present in both")):
        run_start(
            tmp_path,
            MixedKeys({1: 1, "2": 2, "4": 4}),
            MixedKeysData({1: 0, "2": 2, "4": torch.tensor(4)}),
        )


# -- a DataModule's hyper-parameters in checkpoints (Lightning's datamodule_hyper_parameters) ----


class HparamsDataModule(treadle.DataModule):
    def __init__(self, batch_size=4, root="data"):
        super().__init__()
        self.save_hyperparameters()
        self.loads = 0

    def train_dataloader(self):
        return loader(n_batches=self.hparams.batch_size)

    def state_dict(self):
        return {"loads": self.loads + 1}

    def load_state_dict(self, state_dict):
        self.loads = state_dict["loads"]


def test_datamodule_hparams_are_saved_and_load_back(tmp_path):
    """As Lightning's checkpoint connector and ``LightningDataModule.load_from_checkpoint``:
    the keys ``datamodule_hyper_parameters``/``datamodule_hparams_name`` beside the module's,
    and the DataModule rebuilt from them with its ``state_dict`` loaded back."""
    t = trainer(tmp_path, logger=False)
    t.fit(CustomBoringModel(batch_size=3), datamodule=HparamsDataModule(batch_size=2))
    t.save_checkpoint(path := tmp_path / "dm.ckpt")
    stored = torch.load(path, weights_only=True)
    assert stored["hyper_parameters"] == {"batch_size": 3}
    assert stored["datamodule_hyper_parameters"] == {"batch_size": 2, "root": "data"}
    assert stored["datamodule_hparams_name"] == "kwargs"
    dm = HparamsDataModule.load_from_checkpoint(path, root="elsewhere")
    assert dict(dm.hparams) == {"batch_size": 2, "root": "elsewhere"}
    assert dm.loads == 1  # its state_dict came back
    assert CustomBoringModel.load_from_checkpoint(path).hparams.batch_size == 3
