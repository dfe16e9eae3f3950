"""Hooks are called as Lightning calls them (found by Lightning's ``test_hooks.py``, run mapped).

Lightning's tests record each call with the arguments it got (``{"name": ..., "args": (...),
"kwargs": {...}}``), with the hooks wrapped on the *instance* (``setattr(model, hook,
partial(...))``). So: a hook set on the instance is an override, as Python's attribute lookup
has it; arguments go positionally, except ``stage=`` and the clipping values; an evaluation
batch hook gets ``dataloader_idx`` only with several dataloaders; ``trainer.strategy.root_device``
exists.
"""

from __future__ import annotations

import functools
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from conftest_helpers import RegressionModule, make_loader, make_trainer


def _recording(called: list, name: str, fn):
    """``fn`` wrapped to append ``{"name", "args", "kwargs"}`` after each call (Lightning's
    ``HookedModel``/``HookedCallback`` form)."""

    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        entry = {"name": name}
        if args:
            entry["args"] = args
        if kwargs:
            entry["kwargs"] = kwargs
        called.append(entry)
        return out

    wrapper = functools.partial(call)
    functools.update_wrapper(wrapper, fn)
    return wrapper


class ValModule(RegressionModule):
    def __init__(self, n_val_loaders: int = 1):
        super().__init__()
        self.n_val_loaders = n_val_loaders

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        return self.compute_loss(batch)

    def val_dataloader(self):
        loaders = [make_loader(n_batches=1) for _ in range(self.n_val_loaders)]
        return loaders[0] if self.n_val_loaders == 1 else loaders


def test_a_hook_set_on_the_instance_is_called_and_none_is_not(tmp_path):
    called: list = []
    model = RegressionModule()
    model.on_train_start = lambda: called.append("module.on_train_start")
    model.on_train_end = None  # not callable: nothing to call
    callback = treadle.Callback()
    callback.on_fit_end = lambda trainer, pl_module: called.append(("callback.on_fit_end", trainer))
    trainer = make_trainer(tmp_path, max_steps=1, callbacks=[callback])
    trainer.fit(model, make_loader(n_batches=1))
    assert called == ["module.on_train_start", ("callback.on_fit_end", trainer)]


def test_arguments_are_lightnings_positional_ones(tmp_path):
    called: list = []
    model = ValModule()
    for hook in ("setup", "on_validation_batch_end", "on_train_batch_end", "optimizer_step"):
        setattr(model, hook, _recording(called, hook, getattr(model, hook)))
    callback = treadle.Callback()
    for hook in ("setup", "on_validation_batch_start", "on_save_checkpoint"):
        setattr(callback, hook, _recording(called, f"Callback.{hook}", getattr(callback, hook)))
    trainer = make_trainer(
        tmp_path, max_steps=1, num_sanity_val_steps=0, limit_val_batches=1, callbacks=[callback]
    )
    trainer.fit(model, make_loader(n_batches=1))
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    by_name = {c["name"]: c for c in called}
    assert by_name["Callback.setup"] == {
        "name": "Callback.setup",
        "args": (trainer, model),
        "kwargs": {"stage": "fit"},
    }
    assert by_name["setup"] == {"name": "setup", "kwargs": {"stage": "fit"}}
    epoch, batch_idx, optimizer, closure = by_name["optimizer_step"]["args"]
    assert (epoch, batch_idx, callable(closure)) == (0, 0, True)
    outputs, batch, batch_idx = by_name["on_train_batch_end"]["args"]
    assert set(outputs) == {"loss"} and batch_idx == 0
    # one validation loader: no dataloader_idx, as Lightning's loops pass it
    assert [len(by_name[n]["args"]) for n in ("Callback.on_validation_batch_start",)] == [4]
    assert len(by_name["on_validation_batch_end"]["args"]) == 3
    assert by_name["Callback.on_save_checkpoint"]["args"][:2] == (trainer, model)
    assert "kwargs" not in by_name["Callback.on_save_checkpoint"]


def test_dataloader_idx_is_passed_with_several_loaders(tmp_path):
    called: list = []
    model = ValModule(n_val_loaders=2)
    model.on_validation_batch_start = _recording(
        called, "on_validation_batch_start", model.on_validation_batch_start
    )
    trainer = make_trainer(tmp_path)
    trainer.validate(model, verbose=False)
    assert [c["args"][1:] for c in called] == [(0, 0), (0, 1)]


def test_clipping_values_go_by_keyword(tmp_path):
    called: list = []
    model = RegressionModule()
    for hook in ("configure_gradient_clipping", "clip_gradients"):
        setattr(model, hook, _recording(called, hook, getattr(model, hook)))
    trainer = make_trainer(tmp_path, max_steps=1, gradient_clip_val=0.5)
    trainer.fit(model, make_loader(n_batches=1))
    assert [(c["name"], len(c["args"]), c["kwargs"]) for c in called] == [
        ("clip_gradients", 1, {"gradient_clip_val": 0.5, "gradient_clip_algorithm": None}),
        (
            "configure_gradient_clipping",
            1,
            {"gradient_clip_val": 0.5, "gradient_clip_algorithm": None},
        ),
    ]


def test_a_wrapper_of_the_default_model_train_hook_is_not_an_override(tmp_path):
    """Lightning calls ``on_validation_model_train`` only when overridden (else it restores each
    submodule's mode): a wrapper of the base method is not an override there, nor here."""
    called: list = []
    model = ValModule()
    model.frozen = torch.nn.Linear(2, 2).eval()
    model.on_validation_model_train = _recording(
        called, "on_validation_model_train", model.on_validation_model_train
    )
    model.on_validation_model_eval = _recording(
        called, "on_validation_model_eval", model.on_validation_model_eval
    )
    trainer = make_trainer(tmp_path)
    trainer.validate(model, verbose=False)
    assert [c["name"] for c in called] == ["on_validation_model_eval"]
    assert model.training and not model.frozen.training  # each submodule's own mode back


def test_strategy_root_device(tmp_path):
    trainer = make_trainer(tmp_path)
    assert trainer.strategy.root_device == torch.device("cpu")
    from treadle.kinds import StrategyBase

    with pytest.raises(
        AttributeError,
        match=re.escape(
            "StrategyBase.root_device: this strategy is not bound to a Trainer yet; read it "
            "from `trainer.strategy` once the Trainer is built."
        ),
    ):
        StrategyBase().root_device  # noqa: B018


def test_instance_hooks_see_the_batch(tmp_path):
    """A hook set on the instance replaces the class's for that instance only."""
    seen: list = []

    class Model(RegressionModule):
        def on_train_batch_start(self, batch, batch_idx):
            seen.append("class")

    one, two = Model(), Model()
    one.on_train_batch_start = lambda batch, batch_idx: seen.append(("instance", batch_idx))
    x = torch.zeros(2, 4)
    loader = DataLoader(TensorDataset(x, torch.zeros(2, 1)), batch_size=2)
    make_trainer(tmp_path, max_steps=1).fit(one, loader)
    make_trainer(tmp_path, max_steps=1).fit(two, loader)
    assert seen == [("instance", 0), "class"]
