"""The core's ``run_test_step``/``run_predict_step`` call the user's step by Lightning's rule.

``batch_idx`` is passed when the step takes it (a parameter named so, ``*args``, or two
positional parameters); ``dataloader_idx`` only when the loop runs several loaders (the hook
then gets an int, else None). Cases ported from Lightning's
``tests/tests_pytorch/models/test_hooks.py`` (``test_hooks_with_different_argument_names``) and
its loops' ``_build_step_args_from_hook_kwargs`` (Apache-2.0, Copyright The Lightning AI team).
"""

from __future__ import annotations

import pytest
import torch

import treadle
from treadle import _defaults, utilities
from treadle.plugin_manager import Hooks, RunPluginManager
from treadle.utilities import dataloader_idx_problems, step_args


def _hooks(fast):
    pm = RunPluginManager()
    pm.register(_defaults, name="treadle.core")
    return Hooks(pm) if fast else pm.hook


def _run(hook_name, module, fast, batch_idx=3, dataloader_idx=None):
    hook = getattr(_hooks(fast), hook_name)
    return hook(
        trainer=None, module=module, batch="B", batch_idx=batch_idx, dataloader_idx=dataloader_idx
    )


class TwoArgs(treadle.Module):
    def test_step(self, batch, batch_idx):
        return ("test", batch, batch_idx)

    def predict_step(self, batch, batch_idx):
        return ("predict", batch, batch_idx)


class BatchOnly(treadle.Module):
    def test_step(self, batch):
        return ("test", batch)

    def predict_step(self, batch):
        return ("predict", batch)


class VarArgs(treadle.Module):
    def test_step(self, *args):
        return ("test", *args)

    def predict_step(self, *args, **kwargs):
        return ("predict", *args)


class WithDefault(treadle.Module):
    def test_step(self, batch, batch_idx, dataloader_idx=7):
        return ("test", batch, batch_idx, dataloader_idx)

    def predict_step(self, batch, batch_idx, dataloader_idx=7):
        return ("predict", batch, batch_idx, dataloader_idx)


class OtherNames(treadle.Module):
    """Lightning: argument names can be anything, except ``dataloader_idx``."""

    def test_step(self, x3, batch_nb3, dataloader_idx):
        return ("test", x3, batch_nb3, dataloader_idx)

    def predict_step(self, x4, batch_nb4, dataloader_idx):
        return ("predict", x4, batch_nb4, dataloader_idx)


CASES = [  # module, dataloader_idx passed to the hook, what the step receives after its tag
    (TwoArgs, None, ("B", 3)),
    (BatchOnly, None, ("B",)),
    (VarArgs, None, ("B", 3)),  # one loader: no dataloader_idx even for *args
    (VarArgs, 1, ("B", 3, 1)),  # several loaders
    (VarArgs, 0, ("B", 3, 0)),  # the first of several loaders still gets its index
    (WithDefault, None, ("B", 3, 7)),  # one loader: the step's own default
    (WithDefault, 1, ("B", 3, 1)),
    (OtherNames, 1, ("B", 3, 1)),
]


@pytest.mark.parametrize("fast", [False, True], ids=["pluggy", "fast-caller"])
@pytest.mark.parametrize("step", ["test", "predict"])
@pytest.mark.parametrize(
    ("cls", "dataloader_idx", "received"), CASES, ids=[f"{c.__name__}-{i}" for c, i, _ in CASES]
)
def test_the_step_receives_what_lightning_passes(cls, dataloader_idx, received, step, fast):
    result = _run(f"run_{step}_step", cls(), fast, dataloader_idx=dataloader_idx)
    assert result == ((step, *received),)


@pytest.mark.parametrize("fast", [False, True], ids=["pluggy", "fast-caller"])
def test_a_step_returning_none_still_stops_the_chain(fast):
    assert _run("run_test_step", treadle.Module(), fast) == (None,)  # the default test_step


def test_the_default_predict_step_returns_the_forward_of_the_batch():
    class Net(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.layer(x)

    net, x = Net(), torch.randn(3, 2)
    (prediction,) = _hooks(fast=False).run_predict_step(
        trainer=None, module=net, batch=x, batch_idx=0, dataloader_idx=None
    )
    assert torch.equal(prediction, net(x))
    assert torch.equal(net.predict_step(batch=x), net(x))  # Lightning's keyword form


def test_a_step_assigned_to_the_instance_is_read_without_self():
    module = treadle.Module()
    module.test_step = lambda batch: ("instance", batch)
    assert _run("run_test_step", module, fast=True) == (("instance", "B"),)


def test_the_signature_is_read_once_per_class_and_step():
    utilities._step_signature.cache_clear()
    for _ in range(3):
        step_args(TwoArgs().test_step, "B", 0, None)
        step_args(TwoArgs().predict_step, "B", 0, None)
    info = utilities._step_signature.cache_info()
    assert (info.misses, info.hits) == (2, 4)


# -- Lightning's dataloader_idx check, for the loop to raise before its first batch -------------


def test_several_loaders_need_a_step_that_takes_dataloader_idx():
    assert dataloader_idx_problems(TwoArgs(), "test_step", 2) == [
        (
            "You provided multiple `test_dataloader` (2 loaders), but no `dataloader_idx` "
            "argument in `TwoArgs.test_step()`. Add the parameter (`def test_step(self, batch, "
            "batch_idx, dataloader_idx=0)`), or pass a single loader."
        )
    ]
    assert dataloader_idx_problems(WithDefault(), "test_step", 2) == []
    assert dataloader_idx_problems(VarArgs(), "predict_step", 3) == []


def test_one_loader_and_a_required_dataloader_idx_is_a_problem():
    assert dataloader_idx_problems(OtherNames(), "predict_step", 1) == [
        (
            "You provided only a single `predict_dataloader`, but have included `dataloader_idx` "
            "in `OtherNames.predict_step()`: with one loader it is called without it (as "
            "Lightning does). Remove the argument or give it a default value: `dataloader_idx=0`."
        )
    ]
    assert dataloader_idx_problems(WithDefault(), "predict_step", 1) == []
    assert dataloader_idx_problems(BatchOnly(), "test_step", 1) == []


# -- the Module's new defaults ------------------------------------------------------------------


def test_module_defaults_for_test_and_predict():
    module = treadle.Module()
    assert module.test_step("B", 0) is None
    assert module.test_dataloader() is None and module.predict_dataloader() is None


def test_module_model_eval_and_train_stubs_switch_the_mode():
    """What ``super().on_test_model_eval()`` in an override does, as Lightning's."""
    module = treadle.Module()
    module.dropout = torch.nn.Dropout()
    for eval_hook, train_hook in [
        ("on_validation_model_eval", "on_validation_model_train"),
        ("on_test_model_eval", "on_test_model_train"),
        ("on_predict_model_eval", "train"),
    ]:
        getattr(module, eval_hook)()
        assert not module.training and not module.dropout.training
        getattr(module, train_hook)()
        assert module.training and module.dropout.training
