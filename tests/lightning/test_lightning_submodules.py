"""Lightning's submodules that ``import treadle`` does not load (``_lightning_paths.LAZY``).

``treadle.utilities.{types,parsing,seed,memory,data,deepspeed}``, ``treadle.core.{hooks,mixins,
saving}``, ``treadle.callbacks.progress.tqdm_progress`` and ``treadle.trainer.trainer``: each
imports as a program mapped from Lightning writes it, loads nothing at ``import treadle``, and
behaves as Lightning 2.6.6's (tests ported from Lightning's tests/tests_pytorch/utilities/,
Copyright The Lightning AI team, Apache-2.0, credited on each; values pinned by running
Lightning 2.6.6 where noted).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import random
import re
import subprocess
import sys
import warnings
from argparse import Namespace

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

import treadle

NEW_IMPORTS = [
    "from treadle.utilities.memory import garbage_collection_cuda, recursive_detach",
    "from treadle.utilities.memory import get_model_size_mb, is_oom_error",
    "from treadle.utilities.data import extract_batch_size, has_len_all_ranks, sized_len",
    "from treadle.utilities.data import has_iterable_dataset, warning_cache",
    "from treadle.utilities.types import LRSchedulerConfig, LRSchedulerTypeUnion",
    "from treadle.utilities.types import OptimizerLRSchedulerConfig, STEP_OUTPUT",
    "from treadle.utilities.seed import isolate_rng, seed_everything",
    "from treadle.utilities.parsing import save_hyperparameters, AttributeDict",
    "from treadle.utilities.parsing import lightning_hasattr, lightning_getattr",
    "from treadle.utilities.parsing import lightning_setattr, collect_init_args",
    "from treadle.utilities.parsing import get_init_args",
    "from treadle.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict",
    "from treadle.utilities import memory",
    "from treadle.core.hooks import ModelHooks, DataHooks, CheckpointHooks",
    "from treadle.core.mixins import HyperparametersMixin",
    "from treadle.core.mixins.hparams_mixin import HyperparametersMixin",
    "from treadle.core.saving import load_hparams_from_yaml, save_hparams_to_yaml",
    "from treadle.callbacks.progress.tqdm_progress import Tqdm, TQDMProgressBar",
    "from treadle.trainer.trainer import Trainer",
    "from treadle.trainer.states import TrainerFn, TrainerStatus, RunningStage",
]
LAZY_MODULES = [
    "treadle._lightning_core",
    "treadle._lightning_utilities",
    "treadle_plugins.tqdm_progress",
]


def _python(program: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120
    )


def test_each_path_imports_in_a_fresh_interpreter_and_import_treadle_loads_none():
    program = "\n".join(
        [
            "import sys, treadle",
            f"print(sorted(set({LAZY_MODULES!r}) & set(sys.modules)))",
            *(f"{line}; print('ok')" for line in NEW_IMPORTS),
        ]
    )
    done = _python(program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[]"  # none loaded by `import treadle`
    assert done.stdout.split()[1:] == ["ok"] * len(NEW_IMPORTS)


def test_an_unknown_submodule_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError, match=re.escape("treadle.utilities.nope")):
        import treadle.utilities.nope  # noqa: F401
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        from treadle.utilities import nope  # noqa: F401


def test_the_trainer_paths_are_the_modules_holding_the_names():
    import treadle.trainer.states as states
    import treadle.trainer.trainer as trainer_module

    from treadle.state import TrainerFn

    assert trainer_module.Trainer is treadle.Trainer
    assert states.TrainerFn is TrainerFn


# -- utilities.memory ---------------------------------------------------------------------------


def test_recursive_detach():
    # Ported from tests/tests_pytorch/utilities/test_memory.py::test_recursive_detach
    from treadle.utilities.memory import recursive_detach

    x = {"foo": torch.tensor(0), "bar": {"baz": torch.tensor(1.0, requires_grad=True)}}
    y = recursive_detach(x, to_cpu=True)
    assert x["bar"]["baz"].requires_grad
    assert y["foo"].device.type == "cpu" and y["bar"]["baz"].device.type == "cpu"
    assert not y["bar"]["baz"].requires_grad
    assert y["bar"]["baz"].item() == 1.0
    # lists, tuples and what is not a tensor keep their form
    z = recursive_detach([torch.ones(1, requires_grad=True), ("a", 2)])
    assert not z[0].requires_grad and z[1] == ("a", 2)


def test_oom_errors_are_recognized_by_their_message():
    from treadle.utilities.memory import (
        garbage_collection_cuda,
        get_model_size_mb,
        is_cuda_out_of_memory,
        is_oom_error,
        is_out_of_cpu_memory,
    )

    assert is_oom_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_cuda_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_oom_error(RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error"))
    assert is_out_of_cpu_memory(
        RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory")
    )
    assert not is_oom_error(RuntimeError("CUDA error: device-side assert"))
    assert not is_oom_error(ValueError("CUDA out of memory"))  # only RuntimeError
    assert not is_oom_error(RuntimeError("CUDA out of memory", "two args"))
    garbage_collection_cuda()  # collects; no CUDA: nothing to empty, no error
    model = torch.nn.Linear(1000, 250)  # 250,250 float32 values: 1.001 MB plus the file's framing
    assert 1.0 < get_model_size_mb(model) < 1.01


# -- utilities.data -----------------------------------------------------------------------------


def test_extract_batch_size():
    # Ported from tests/tests_pytorch/utilities/test_data.py::test_extract_batch_size
    from treadle.utilities.data import extract_batch_size, warning_cache

    from treadle.utilities import MisconfigurationException

    def not_warned(batch, expected):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert extract_batch_size(batch) == expected

    def warned(batch, expected):
        with pytest.warns(
            UserWarning, match=f"Trying to infer the `batch_size` .* we found is {expected}."
        ):
            assert extract_batch_size(batch) == expected
        warning_cache.clear()

    def refused(batch):
        with pytest.raises(MisconfigurationException, match="We could not infer the batch_size"):
            extract_batch_size(batch)

    @dataclasses.dataclass
    class CustomDataclass:
        a: torch.Tensor
        b: torch.Tensor

    not_warned(torch.zeros(11, 10, 9, 8), 11)
    not_warned({"test": torch.zeros(11, 10)}, 11)
    not_warned([torch.zeros(11, 10)], 11)
    not_warned(CustomDataclass(torch.zeros(11, 10), torch.zeros(11, 10)), 11)
    not_warned({"test": [{"test": [torch.zeros(11, 10)]}]}, 11)
    not_warned(torch.tensor(3.0), 1)

    warned({"a": [torch.tensor(1), torch.tensor(2)], "b": torch.tensor([1, 2, 3, 4])}, 1)
    warned(CustomDataclass(torch.zeros(11, 10), torch.zeros(1)), 11)
    warned({"test": [{"test": [torch.zeros(11, 10), torch.zeros(10, 10)]}]}, 11)
    warned({"test": [{"test": [torch.zeros(10, 10), torch.zeros(11, 10)]}]}, 10)
    warned([{"test": torch.zeros(10, 10), "test_1": torch.zeros(11, 10)}], 10)

    refused("test string")
    refused({"test": ["some text"] * 7})

    class CustomBatch:
        def __init__(self):
            self.x = torch.randn(7, 2)

    refused(CustomBatch())


class _Iterable(IterableDataset):
    def __iter__(self):
        yield torch.zeros(1)


class _SizedIterable(_Iterable):
    def __len__(self):
        return 1


def test_has_iterable_dataset_and_sized_len():
    # Ported from tests/tests_pytorch/utilities/test_data.py::test_has_iterable_dataset
    from treadle.utilities.data import has_iterable_dataset, sized_len

    assert has_iterable_dataset(DataLoader(_Iterable()))
    assert not has_iterable_dataset(DataLoader([1, 2]))
    assert sized_len(DataLoader([1, 2, 3])) == 3
    assert sized_len(DataLoader(_Iterable())) is None


def test_has_len_all_ranks():
    # Ported from tests/tests_pytorch/utilities/test_data.py::test_has_len_all_rank; messages
    # as Lightning 2.6.6 gives them
    from treadle.utilities.data import has_len_all_ranks

    trainer = treadle.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "Total length of `DataLoader` across ranks is zero. Please make sure this was your intention."
        ),
    ):
        assert has_len_all_ranks(DataLoader([]), trainer.strategy)
    assert has_len_all_ranks(DataLoader([1]), trainer.strategy)
    assert has_len_all_ranks(DataLoader([1]), trainer)  # the Trainer itself is accepted too
    assert not has_len_all_ranks(iter([1]), trainer.strategy)  # no length
    with pytest.warns(
        UserWarning, match=re.escape("Your `IterableDataset` has `__len__` defined.")
    ):
        assert has_len_all_ranks(DataLoader(_SizedIterable()), trainer.strategy)


# -- utilities.types ----------------------------------------------------------------------------


def test_lr_scheduler_config_is_what_the_trainer_holds():
    from treadle.utilities.types import (
        LRSchedulerConfig,
        LRSchedulerTypeTuple,
        LRSchedulerTypeUnion,
    )

    class M(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).sum()

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, 1)]

    trainer = treadle.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(M(), DataLoader(torch.randn(4, 2), batch_size=2))
    (config,) = trainer.lr_scheduler_configs
    assert isinstance(config, LRSchedulerConfig)
    assert isinstance(config.scheduler, LRSchedulerTypeTuple)
    assert config.interval == "epoch" and config.frequency == 1 and not config.reduce_on_plateau
    assert LRSchedulerTypeUnion.__args__ == LRSchedulerTypeTuple


# -- utilities.seed -----------------------------------------------------------------------------


def test_isolate_rng():
    # Ported from tests/tests_pytorch/utilities/test_seed.py::test_isolate_rng (the CUDA part
    # where CUDA is present)
    np = pytest.importorskip("numpy")
    from treadle.utilities.seed import isolate_rng

    torch.rand(1)
    with isolate_rng():
        generated = [torch.rand(2) for _ in range(3)]
    assert torch.equal(torch.rand(2), generated[0])

    if torch.cuda.is_available():
        torch.cuda.FloatTensor(1).normal_()
        with isolate_rng():
            generated = [torch.cuda.FloatTensor(2).normal_() for _ in range(3)]
        assert torch.equal(torch.cuda.FloatTensor(2).normal_(), generated[0])

    np.random.rand(1)
    with isolate_rng():
        generated = [np.random.rand(2) for _ in range(3)]
    assert np.equal(np.random.rand(2), generated[0]).all()

    random.random()
    with isolate_rng():
        generated = [random.random() for _ in range(3)]
    assert random.random() == generated[0]

    # restored also when the block raises
    before = torch.get_rng_state()
    with pytest.raises(KeyError), isolate_rng(include_cuda=False):
        torch.rand(3)
        raise KeyError
    assert torch.equal(torch.get_rng_state(), before)


# -- utilities.parsing --------------------------------------------------------------------------


def _model_and_trainer_cases():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::model_and_trainer_cases
    class TestHparamsNamespace(treadle.Module):
        learning_rate = 1

        def __contains__(self, item):
            return item == "learning_rate"

    hparams_dict = {"learning_rate": 2}

    class TestModel1(treadle.Module):  # the model's namespace
        learning_rate = 0

    model1 = TestModel1()

    class TestModel2(treadle.Module):  # an hparams namespace
        hparams = TestHparamsNamespace()

    model2 = TestModel2()

    class TestModel3(treadle.Module):  # an hparams dict
        hparams = hparams_dict

    model3 = TestModel3()

    class TestModel4(treadle.Module):  # not found
        batch_size = 1

    model4 = TestModel4()
    kwargs = {"logger": False, "enable_progress_bar": False, "enable_checkpointing": False}
    trainer1 = treadle.Trainer(**kwargs)
    model4.trainer = trainer1
    datamodule = treadle.DataModule()
    datamodule.batch_size = 8
    trainer1.datamodule = datamodule

    model5 = treadle.Module()
    model5.trainer = trainer1

    class TestModel6(treadle.Module):  # hparams without the attribute: the datamodule's
        hparams = hparams_dict

    model6 = TestModel6()
    model6.trainer = trainer1

    hparams_dict2 = {"batch_size": 2}

    class TestModel7(treadle.Module):  # hparams with the attribute: the datamodule's still
        hparams = hparams_dict2

    model7 = TestModel7()
    model7.trainer = trainer1

    class TestDataModule8(treadle.DataModule):  # the datamodule's hparams dict
        hparams = hparams_dict2

    model8 = TestModel1()
    trainer2 = treadle.Trainer(**kwargs)
    model8.trainer = trainer2
    trainer2.datamodule = TestDataModule8()
    return model1, model2, model3, model4, model5, model6, model7, model8


MISSING = (
    "is neither stored in the model namespace nor the `hparams` namespace/dict, nor the datamodule."
)


def test_lightning_hasattr():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_lightning_hasattr
    from treadle.utilities.parsing import lightning_hasattr

    models = _model_and_trainer_cases()
    model1, model2, model3, model4, model5, model6, model7, model8 = models
    assert lightning_hasattr(model1, "learning_rate")
    assert lightning_hasattr(model2, "learning_rate")
    assert lightning_hasattr(model3, "learning_rate")
    assert not lightning_hasattr(model4, "learning_rate")
    assert lightning_hasattr(model5, "batch_size")
    assert lightning_hasattr(model6, "batch_size")
    assert lightning_hasattr(model7, "batch_size")
    assert lightning_hasattr(model8, "batch_size")
    for m in models:
        assert not lightning_hasattr(m, "this_attr_not_exist")


def test_lightning_getattr():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_lightning_getattr
    from treadle.utilities.parsing import lightning_getattr

    models = _model_and_trainer_cases()
    *_, model5, model6, model7, model8 = models
    for i, m in enumerate(models[:3]):
        assert lightning_getattr(m, "learning_rate") == i
    assert lightning_getattr(model5, "batch_size") == 8
    assert lightning_getattr(model6, "batch_size") == 8
    assert lightning_getattr(model7, "batch_size") == 8
    assert lightning_getattr(model8, "batch_size") == 2
    for m in models:
        with pytest.raises(AttributeError, match=re.escape("this_attr_not_exist " + MISSING)):
            lightning_getattr(m, "this_attr_not_exist")


def test_lightning_setattr():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_lightning_setattr
    from treadle.utilities.parsing import lightning_getattr, lightning_setattr

    models = _model_and_trainer_cases()
    *_, model5, model6, model7, model8 = models
    for m in models[:3]:
        lightning_setattr(m, "learning_rate", 10)
        assert lightning_getattr(m, "learning_rate") == 10
    for m in (model5, model6, model7):
        lightning_setattr(m, "batch_size", 128)
    assert lightning_getattr(model5, "batch_size") == 128
    assert lightning_getattr(model6, "batch_size") == 128
    assert lightning_getattr(model7, "batch_size") == 128
    assert lightning_getattr(model8, "batch_size") == 128  # hparams_dict2 is shared with model7
    for m in models:
        with pytest.raises(AttributeError, match=re.escape(MISSING)):
            lightning_setattr(m, "this_attr_not_exist", None)


def test_get_init_args():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_get_init_args (the public
    # get_init_args: the arguments only)
    from treadle.utilities.parsing import get_init_args

    class AutomaticArgsModel:
        def __init__(self, anyarg, anykw=42, **kwargs):
            super().__init__()
            self.get_init_args_wrapper()

        def get_init_args_wrapper(self):
            self.result = get_init_args(inspect.currentframe().f_back)

    my_class = AutomaticArgsModel("test", anykw=32, otherkw=123)
    assert my_class.result == {"anyarg": "test", "anykw": 32, "otherkw": 123}
    my_class.get_init_args_wrapper()
    assert my_class.result == {}


def test_collect_init_args():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_collect_init_args
    from treadle.utilities.parsing import collect_init_args

    class AutomaticArgsParent:
        def __init__(self, anyarg, anykw=42, **kwargs):
            super().__init__()
            self.get_init_args_wrapper()

        def get_init_args_wrapper(self):
            self.result = collect_init_args(inspect.currentframe(), [])

    class AutomaticArgsChild(AutomaticArgsParent):
        def __init__(self, anyarg, childarg, anykw=42, childkw=42, **kwargs):
            super().__init__(anyarg, anykw=anykw, **kwargs)

    my_class = AutomaticArgsChild("test1", "test2", anykw=32, childkw=22, otherkw=123)
    assert my_class.result[0] == {"anyarg": "test1", "anykw": 32, "otherkw": 123}
    assert my_class.result[1] == {
        "anyarg": "test1",
        "childarg": "test2",
        "anykw": 32,
        "childkw": 22,
        "otherkw": 123,
    }


def test_parse_class_init_keys_and_clean_namespace():
    # Ported from tests/tests_pytorch/utilities/test_parsing.py::test_parse_class_init_keys,
    # ::test_clean_namespace
    from treadle.utilities.parsing import clean_namespace, parse_class_init_keys

    class Class:
        def __init__(self, hparams, *my_args, anykw=42, **my_kwargs):
            pass

    assert parse_class_init_keys(Class) == ("self", "my_args", "my_kwargs")

    class Unpicklable:
        pass

    case = {"1": None, "2": True, "3": 123, "4": lambda: None, "5": Unpicklable}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clean_namespace(case)
    assert [str(w.message) for w in caught] == [
        f"Attribute '{k}' removed from hparams because it cannot be pickled. You can suppress "
        f"this warning by setting `self.save_hyperparameters(ignore=['{k}'])`."
        for k in ("4", "5")
    ]
    assert case == {"1": None, "2": True, "3": 123}


def test_save_hyperparameters_function_on_any_mixin_object():
    from treadle.core.mixins import HyperparametersMixin
    from treadle.utilities.parsing import save_hyperparameters

    class Plain(HyperparametersMixin):
        def __init__(self, lr, width=4, **kwargs):
            super().__init__()
            save_hyperparameters(self, ignore="width")

    p = Plain(0.1, extra="x")
    assert dict(p.hparams) == {"lr": 0.1, "extra": "x"}
    assert p._hparams_name == "kwargs"

    class Given(HyperparametersMixin):
        def __init__(self):
            super().__init__()
            save_hyperparameters(self, "a", given_hparams={"a": 1, "b": 2})

    assert dict(Given().hparams) == {"a": 1}
    assert dict(Given().hparams_initial) == {"a": 1}


# -- core.mixins, core.hooks --------------------------------------------------------------------


def test_hyperparameters_mixin_as_lightning():
    # Lightning's HyperparametersMixin docstring examples (core/mixins/hparams_mixin.py)
    from treadle.core.mixins import HyperparametersMixin

    class ManuallyArgsModel(HyperparametersMixin):
        def __init__(self, arg1, arg2, arg3):
            super().__init__()
            self.save_hyperparameters("arg1", "arg3")

    model = ManuallyArgsModel(1, "abc", 3.14)
    assert dict(model.hparams) == {"arg1": 1, "arg3": 3.14}

    class AutomaticArgsModel(HyperparametersMixin):
        def __init__(self, arg1, arg2, arg3):
            super().__init__()
            self.save_hyperparameters()

    model = AutomaticArgsModel(1, "abc", 3.14)
    assert dict(model.hparams) == {"arg1": 1, "arg2": "abc", "arg3": 3.14}

    class SingleArgModel(HyperparametersMixin):
        def __init__(self, params):
            super().__init__()
            self.save_hyperparameters(params)

    model = SingleArgModel(Namespace(p1=1, p2="abc", p3=3.14))
    assert dict(model.hparams) == {"p1": 1, "p2": "abc", "p3": 3.14}
    model.hparams.p1 = 5
    assert model.hparams_initial.p1 == 1  # the recorded copy is not changed

    assert isinstance(treadle.Module(), HyperparametersMixin)
    assert issubclass(treadle.DataModule, HyperparametersMixin)


def test_hook_classes_hold_the_module_defaults():
    from treadle.core.hooks import CheckpointHooks, DataHooks, ModelHooks

    from treadle.utilities import is_overridden

    assert issubclass(treadle.Module, ModelHooks)
    assert isinstance(treadle.Module(), DataHooks) and isinstance(treadle.Module(), CheckpointHooks)
    assert issubclass(treadle.DataModule, DataHooks) and not issubclass(
        treadle.DataModule, ModelHooks
    )
    assert ModelHooks.on_train_start is treadle.Module.on_train_start
    assert DataHooks.transfer_batch_to_device is treadle.Module.transfer_batch_to_device

    class Mine(ModelHooks, CheckpointHooks):
        def on_train_start(self):
            self.started = True

    mine = Mine()
    assert is_overridden("on_train_start", mine, parent=ModelHooks)
    assert not is_overridden("on_fit_start", mine, parent=ModelHooks)
    assert mine.on_save_checkpoint({}) is None
    assert mine.configure_sharded_model() is None
    hooks = DataHooks()
    assert hooks.prepare_data_per_node is True
    assert hooks.allow_zero_length_dataloader_with_multiple_devices is False


# -- core.saving --------------------------------------------------------------------------------


def test_hparams_yaml_round_trip(tmp_path):
    # Lightning's load_hparams_from_yaml docstring example (core/saving.py); messages and the
    # missing-file result as Lightning 2.6.6 gives them
    from treadle.core.saving import load_hparams_from_yaml, save_hparams_to_yaml
    from treadle.utilities.parsing import AttributeDict

    hparams = Namespace(batch_size=32, learning_rate=0.001, data_root="./any/path/here")
    path = tmp_path / "testing-hparams.yaml"
    save_hparams_to_yaml(path, hparams)
    assert load_hparams_from_yaml(path) == vars(hparams)
    save_hparams_to_yaml(str(path), AttributeDict(a=1, n=None, d={"x": [1, 2]}))
    assert load_hparams_from_yaml(str(path)) == {"a": 1, "n": None, "d": {"x": [1, 2]}}

    with pytest.warns(RuntimeWarning, match=re.escape(f"Missing Tags: {tmp_path / 'nope.yaml'}.")):
        assert load_hparams_from_yaml(tmp_path / "nope.yaml") == {}
    with pytest.raises(RuntimeError, match=re.escape(f"Missing folder: {tmp_path / 'no'}.")):
        save_hparams_to_yaml(tmp_path / "no" / "h.yaml", {"a": 1})
    with pytest.raises(TypeError, match=re.escape("hparams must be a dict or Namespace, got list")):
        save_hparams_to_yaml(path, [1, 2])

    # Lightning writes tuples with a Python tag: read as tuples, and no other tag is obeyed
    lightning_written = tmp_path / "lightning.yaml"
    lightning_written.write_text("t: !!python/tuple\n- 1\n- 2\n")
    assert load_hparams_from_yaml(lightning_written) == {"t": (1, 2)}
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(
        ValueError, match=re.escape(f"load_hparams_from_yaml({str(hostile)!r}): not plain YAML")
    ):
        load_hparams_from_yaml(hostile)


# -- callbacks.progress.tqdm_progress -----------------------------------------------------------


def test_tqdm_pads_numbers_as_lightning():
    pytest.importorskip("tqdm")
    from treadle.callbacks.progress.tqdm_progress import Tqdm
    from treadle.callbacks.progress.tqdm_progress import TQDMProgressBar as T

    from treadle.callbacks import TQDMProgressBar

    assert T is TQDMProgressBar
    # pinned from Lightning 2.6.6's Tqdm.format_num
    values = (1.2, "abc", 1, 0.5, "12", 1e-10, 123456.0)
    assert [Tqdm.format_num(v) for v in values] == [
        "1.200",
        "abc",
        "1",
        "0.500",
        "12.00",
        "1e-10",
        "1.23e+5",
    ]
