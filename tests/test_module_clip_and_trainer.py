"""``Module.clip_gradients`` and ``Module.trainer`` as Lightning's (found by Lightning's
``test_lightning_module.py``, run mapped: tests/lightning_programs/programs/t_lightning_module.py)."""

from __future__ import annotations

import re

import pytest
import torch

import treadle
from conftest_helpers import RegressionModule, make_loader, make_trainer


class ClipsItself(RegressionModule):
    def __init__(self, **clip):
        super().__init__()
        self.clip, self.seen = clip, []

    def configure_gradient_clipping(self, optimizer, gradient_clip_val, gradient_clip_algorithm):
        self.seen.append((gradient_clip_val, gradient_clip_algorithm))
        self.clip_gradients(optimizer, **self.clip)


def test_clip_gradients_refuses_a_value_other_than_the_trainers(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1, gradient_clip_val=1e-4)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "You have set `Trainer(gradient_clip_val=0.0001)` and have passed "
            "`clip_gradients(gradient_clip_val=0.01)`. Please use only one of them."
        ),
    ):
        trainer.fit(ClipsItself(gradient_clip_val=0.01), make_loader(n_batches=1))


def test_clip_gradients_refuses_an_algorithm_other_than_the_trainers(tmp_path):
    """The Trainer's algorithm without a value is accepted when the Module clips itself (its
    ``configure_gradient_clipping`` gets it); a contradicting one is refused."""
    trainer = make_trainer(tmp_path, max_steps=1, gradient_clip_algorithm="norm")
    model = ClipsItself(gradient_clip_algorithm="value")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "You have set `Trainer(gradient_clip_algorithm='norm')` and have passed "
            "`clip_gradients(gradient_clip_algorithm='value')`. Please use only one of them."
        ),
    ):
        trainer.fit(model, make_loader(n_batches=1))
    assert model.seen == [(None, "norm")]


def test_clip_gradients_takes_the_trainers_values_when_left_out(tmp_path):
    model = ClipsItself()  # clip_gradients(optimizer): the Trainer's value and algorithm
    trainer = make_trainer(tmp_path, max_steps=1, gradient_clip_val=1e-6)
    trainer.fit(model, make_loader(n_batches=1))
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert model.seen == [(1e-6, None)]
    assert torch.stack([g.norm() for g in grads]).norm().item() <= 1e-6 * 1.01


def test_setting_the_trainer_sets_it_on_inner_modules():
    ensemble, inner = treadle.Module(), treadle.Module()
    ensemble.inner = inner
    with pytest.raises(RuntimeError, match=re.escape("is not attached to a `Trainer`")):
        inner.trainer  # noqa: B018
    marker = object()
    ensemble.trainer = marker
    assert inner.trainer is marker and ensemble.trainer is marker
