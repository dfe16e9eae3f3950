"""Non-finite losses (issue 11, item 4): ``detect_anomaly`` and ``Trainer(nonfinite_loss=...)``.

A NaN is injected into the loss at one chosen batch; each policy is checked against what it
promises: the default changes nothing (the weights go NaN, as in a plain loop), ``"raise"``
stops before backward with a message naming where, ``"skip"`` ends with the weights of a run
that never saw that batch.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import make_loader, make_trainer, mlp

NAN_AT = 2  # the batch_idx whose loss is NaN


class Model(treadle.Module):
    """SGD with momentum (so a skipped step that still ran the optimizer would show);
    ``nan_at``: the batch whose loss is NaN; ``none_at``: the batch whose step returns None."""

    def __init__(self, nan_at=None, none_at=None, lr=0.1, manual=False, schedule=False):
        super().__init__()
        self.net = mlp()
        self.nan_at, self.none_at, self.lr, self.schedule = nan_at, none_at, lr, schedule
        self.automatic_optimization = not manual
        self.seen: list[int] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch_idx)
        if batch_idx == self.none_at:
            return None
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        if batch_idx == self.nan_at:
            loss = loss * float("nan")
        if not self.automatic_optimization:
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
        return loss

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        if not self.schedule:
            return opt
        return [opt], [{"scheduler": torch.optim.lr_scheduler.StepLR(opt, 1), "interval": "step"}]


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def fit(model, n_batches=5, **kwargs):
    trainer = make_trainer(None, **{"max_epochs": 1, "enable_model_summary": False, **kwargs})
    trainer.fit(model, make_loader(n_batches))
    return trainer


def test_default_adds_no_check_and_the_weights_go_nan():
    """Unchanged default (None): nothing is checked, no warning; NaN reaches the weights."""
    model = Model(nan_at=NAN_AT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about the NaN
        trainer = fit(model)
    assert trainer.config.nonfinite_loss is None
    assert trainer.global_step == 5
    assert all(torch.isnan(p).any() for p in model.parameters())


def test_raise_stops_before_backward_and_names_the_step():
    model = Model(nan_at=NAN_AT)
    before = {}

    class Keep(treadle.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            before[batch_idx] = weights(module)

    trainer = make_trainer(None, nonfinite_loss="raise", callbacks=[Keep()])
    with pytest.raises(
        treadle.NonFiniteLossError,
        match=re.escape(
            "`Trainer(nonfinite_loss='raise')`: the loss is nan at epoch 0, global_step 2, "
            "batch_idx 2; the run stopped before backward, so this batch changed no weight. "
            "Find the operation that makes it with `Trainer(detect_anomaly=True)`; lower the "
            "learning rate or clip gradients (`gradient_clip_val`); or pass "
            "`nonfinite_loss='skip'` to skip such batches and go on."
        ),
    ):
        trainer.fit(model, make_loader(5))
    assert model.seen == [0, 1, 2]
    assert trainer.global_step == NAN_AT
    assert all(torch.equal(a, b) for a, b in zip(weights(model), before[NAN_AT]))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_raise_names_an_infinite_loss_too():
    class Inf(Model):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx) * float("inf")

    with pytest.raises(treadle.NonFiniteLossError, match=re.escape("the loss is inf at epoch 0")):
        fit(Inf(), nonfinite_loss="raise")


def test_skip_equals_a_run_that_skipped_that_batch():
    """The weights after "skip" equal a run whose training_step returned None at that batch
    (SGD with momentum: a step with no gradient would still move nothing, an extra step with
    a zero gradient would move the weights through the momentum), and stay finite."""
    skipped = Model(nan_at=NAN_AT)
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "`Trainer(nonfinite_loss='skip')` skipped 1 batch whose loss was not finite (the "
            "first at epoch 0, global_step 2, batch_idx 2): no backward and no optimizer step "
            "for it. Find the cause with `Trainer(detect_anomaly=True)`."
        ),
    ):
        trainer = fit(skipped, nonfinite_loss="skip")
    reference = Model(none_at=NAN_AT)
    fit(reference)
    assert skipped.seen == [0, 1, 2, 3, 4]  # the batch counts: the epoch goes on
    assert all(torch.isfinite(p).all() for p in skipped.parameters())
    assert all(torch.equal(a, b) for a, b in zip(weights(skipped), weights(reference)))
    assert trainer.global_step == 4  # the skipped batch is not an optimizer step


def test_skip_does_not_step_the_schedulers_and_max_steps_counts_real_steps():
    model = Model(nan_at=NAN_AT, schedule=True)
    with pytest.warns(UserWarning, match=re.escape("skipped 1 batch")):
        trainer = fit(model, nonfinite_loss="skip", max_steps=3)
    assert model.seen == [0, 1, 2, 3]  # three real steps need four batches
    assert trainer.global_step == 3
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == 3


def test_skip_counts_every_skipped_batch_in_one_warning():
    class Often(Model):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return loss * float("nan") if batch_idx % 2 == 0 else loss

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(Often(), nonfinite_loss="skip", n_batches=5)
    skips = [str(w.message) for w in caught if "nonfinite_loss='skip'" in str(w.message)]
    assert skips == [
        "`Trainer(nonfinite_loss='skip')` skipped 3 batches whose loss was not finite (the "
        "first at epoch 0, global_step 0, batch_idx 0): no backward and no optimizer step for "
        "them. Find the cause with `Trainer(detect_anomaly=True)`."
    ]
    assert trainer.global_step == 2


def test_skip_stops_when_an_epochs_worth_of_batches_in_a_row_is_skipped():
    """Every loss NaN: skipping would never reach max_steps (an endless loop); it stops."""

    class Always(Model):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            return loss * float("nan") if self.current_epoch >= 1 else loss

    model = Always()
    after_epoch_0 = {}

    class Keep(treadle.Callback):
        def on_train_epoch_end(self, trainer, module):
            after_epoch_0.setdefault("w", weights(module))

    with pytest.raises(
        treadle.NonFiniteLossError,
        match=re.escape(
            "`Trainer(nonfinite_loss='skip')`: the last 3 batches in a row (up to epoch 1, "
            "global_step 3, batch_idx 2) all had a non-finite loss, so skipping cannot make "
            "progress and the run stopped; the weights are those of the last finite step. Find "
            "the operation that makes it with `Trainer(detect_anomaly=True)`, and check the "
            "data and the learning rate."
        ),
    ):
        fit(
            model,
            n_batches=3,
            nonfinite_loss="skip",
            max_epochs=None,
            max_steps=10,
            callbacks=[Keep()],
        )
    assert all(torch.equal(a, b) for a, b in zip(weights(model), after_epoch_0["w"]))


def test_skip_with_accumulation_drops_the_window_that_would_step():
    """accumulate_grad_batches=2, NaN on the second batch of the first window: that window's
    step is skipped and its gradients dropped; the next window steps normally."""
    skipped = Model(nan_at=1)
    with pytest.warns(UserWarning, match=re.escape("skipped 1 batch")):
        trainer = fit(skipped, n_batches=4, nonfinite_loss="skip", accumulate_grad_batches=2)
    assert trainer.global_step == 1
    reference = Model()
    fit(reference, n_batches=4, limit_train_batches=4, accumulate_grad_batches=2, max_steps=1)
    assert all(torch.isfinite(p).all() for p in skipped.parameters())
    # one step, from the second window only: not the reference's first window
    assert not all(torch.equal(a, b) for a, b in zip(weights(skipped), weights(reference)))


def test_manual_optimization_raise_is_checked_in_manual_backward():
    model = Model(nan_at=1, manual=True)
    with pytest.raises(
        treadle.NonFiniteLossError,
        match=re.escape("the loss is nan at epoch 0, global_step 1, batch_idx 1"),
    ):
        fit(model, nonfinite_loss="raise")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_manual_optimization_refuses_skip():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "treadle.core: `Trainer(nonfinite_loss='skip')` cannot skip steps in manual "
            "optimization (`automatic_optimization = False`): `training_step` steps the "
            "optimizers itself. Check `torch.isfinite(loss)` there and skip `manual_backward` "
            "and `opt.step()` yourself, or use `nonfinite_loss='raise'` (checked in "
            "`manual_backward`)."
        ),
    ):
        fit(Model(manual=True), nonfinite_loss="skip")


@pytest.mark.parametrize("value", ["warn", True, 0, "Skip"])
def test_the_policy_is_validated(value):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            f"TrainerConfig: `Trainer(nonfinite_loss={value!r})`: Value error, choose None (the "
            f"default: no check, no host sync), 'raise' (stop at the first non-finite loss) or "
            f"'skip' (skip that batch's backward and step)"
        ),
    ):
        treadle.Trainer(nonfinite_loss=value)


def test_detect_anomaly_runs_fit_under_torch_anomaly_mode():
    """``detect_anomaly=True``: torch's anomaly mode is on inside fit() (and only there), and
    a NaN made in backward is reported where it is made."""
    seen = []

    class Probe(Model):
        def training_step(self, batch, batch_idx):
            seen.append(torch.is_anomaly_enabled())
            return super().training_step(batch, batch_idx)

    fit(Probe(), n_batches=2, detect_anomaly=True)
    fit(Probe(), n_batches=1)
    assert seen == [True, True, False]
    assert not torch.is_anomaly_enabled()

    class NanInBackward(Model):
        def training_step(self, batch, batch_idx):
            x, _ = batch
            return (self.net(x) * 0 - 1).sqrt().sum()  # sqrt of -1: NaN, and NaN gradients

    with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
        fit(NanInBackward(), n_batches=1, detect_anomaly=True)
