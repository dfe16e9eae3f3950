"""The Trainer and Module API as a Lightning 2 user meets it (API.md: "same meanings as in Lightning 2").

Covers every ``configure_optimizers`` return form, loop limits, the validation loop, ``self.log``
semantics, Trainer state, ``validate``, ``seed_everything``, Lightning-style callbacks and the
Module overrides written with Lightning's own signatures.
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    IN_DIM,
    RegressionModule,
    all_changed,
    assert_params_close,
    grad_norm,
    make_loader,
    make_trainer,
    max_abs_grad,
    snapshot,
    user_scheduler,
)


def _unwrap(opt):
    """The user's optimizer behind a wrapped one (or the optimizer itself)."""
    return getattr(opt, "optimizer", opt)


class Recorder(treadle.Module):
    """A linear regression that records what the loop shows it."""

    def __init__(self, lr=0.01):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.lr = lr
        self.events: list[tuple] = []

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.events.append(("train", self.current_epoch, batch_idx))
        return F.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.events.append(("val", self.current_epoch, batch_idx, self.global_step))
        loss = F.mse_loss(self(x), y)
        self.log("val_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]


# =============================================================================================
# configure_optimizers: every return form, and what optimizers() / lr_schedulers() give back
# =============================================================================================


class TwoLayer(treadle.Module):
    def __init__(self, form: str, manual: bool):
        super().__init__()
        self.automatic_optimization = not manual
        self.a = nn.Linear(IN_DIM, 1)
        self.b = nn.Linear(IN_DIM, 1)
        self.form = form
        self.opts: list = []
        self.scheds: list = []
        self.got_opts = None
        self.got_scheds = None
        self.calls = 0

    def loss(self, batch):
        x, y = batch
        return F.mse_loss(self.a(x) + self.b(x), y)

    def configure_optimizers(self):
        f = self.form
        sgd = torch.optim.SGD
        step = torch.optim.lr_scheduler.StepLR
        if f in SINGLE_FORMS:
            o = sgd(self.parameters(), lr=0.1)
            self.opts = [o]
            if f == "optimizer":
                return o
            if f == "list-one":
                return [o]
            if f == "dict-only":
                return {"optimizer": o}
            if f.startswith("dict-plateau"):
                s = torch.optim.lr_scheduler.ReduceLROnPlateau(o)
                self.scheds = [s]
                if f == "dict-plateau":
                    return {"optimizer": o, "lr_scheduler": s, "monitor": "loss"}
                return {"optimizer": o, "lr_scheduler": {"scheduler": s, "monitor": "loss"}}
            s = step(o, step_size=1, gamma=0.5)
            self.scheds = [s]
            if f == "lists":
                return [o], [s]
            if f == "dict":
                return {"optimizer": o, "lr_scheduler": s}
            if f == "dict-config-named":  # "name" and "strict" are Lightning config keys too
                return {"optimizer": o, "lr_scheduler": {"scheduler": s, "interval": "step", "name": "lr", "strict": True}}
            return {"optimizer": o, "lr_scheduler": {"scheduler": s, "interval": "step", "frequency": 1}}
        o1, o2 = sgd(self.a.parameters(), lr=0.1), sgd(self.b.parameters(), lr=0.1)
        self.opts = [o1, o2]
        if f == "tuple-two":
            return o1, o2
        if f == "list-two":
            return [o1, o2]
        s1, s2 = step(o1, step_size=1, gamma=0.5), step(o2, step_size=1, gamma=0.5)
        if f == "lists-two":
            self.scheds = [s1, s2]
            return [o1, o2], [s1, s2]
        if f == "list-of-dicts":
            self.scheds = [s1, s2]
            return [{"optimizer": o1, "lr_scheduler": s1}, {"optimizer": o2, "lr_scheduler": s2}]
        if f == "tuple-of-dicts":
            self.scheds = [s1]
            return ({"optimizer": o1, "lr_scheduler": {"scheduler": s1, "interval": "step"}}, {"optimizer": o2})
        raise AssertionError(f)

    def training_step(self, batch, batch_idx):
        self.calls += 1
        self.got_opts = self.optimizers()
        self.got_scheds = self.lr_schedulers()
        loss = self.loss(batch)
        self.log("loss", loss, on_epoch=True)
        if self.automatic_optimization:
            return loss
        opts = self.got_opts if isinstance(self.got_opts, list) else [self.got_opts]
        for o in opts:
            o.zero_grad()
        self.manual_backward(loss)
        for o in opts:
            o.step()


SINGLE_FORMS = [
    "optimizer",
    "list-one",
    "lists",
    "dict",
    "dict-config",
    "dict-config-named",
    "dict-only",
    "dict-plateau",
    "dict-plateau-config",
]
MULTI_FORMS = ["tuple-two", "list-two", "lists-two", "list-of-dicts", "tuple-of-dicts"]


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
@pytest.mark.parametrize("form", SINGLE_FORMS)
def test_configure_optimizers_single_optimizer_forms(tmp_path, form, manual):
    model = TwoLayer(form, manual)
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))

    opt = model.got_opts
    assert not isinstance(opt, (list, tuple)), "one optimizer: optimizers() returns it directly"
    assert opt.optimizer is model.opts[0]
    if model.scheds:
        assert not isinstance(model.got_scheds, (list, tuple)), "one scheduler: lr_schedulers() returns it directly"
        assert user_scheduler(model.got_scheds) is model.scheds[0]
        assert isinstance(model.got_scheds, type(model.scheds[0]))
    else:
        assert model.got_scheds is None
    assert all_changed(before, model)


@pytest.mark.parametrize("form", MULTI_FORMS)
def test_configure_optimizers_multiple_optimizer_forms_manual(tmp_path, form):
    model = TwoLayer(form, manual=True)
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))

    opts = model.got_opts
    assert isinstance(opts, list) and len(opts) == 2
    assert all(o.optimizer is want for o, want in zip(opts, model.opts))
    if not model.scheds:
        assert model.got_scheds is None
    elif len(model.scheds) == 1:
        assert not isinstance(model.got_scheds, (list, tuple))
        assert user_scheduler(model.got_scheds) is model.scheds[0]
    else:
        assert isinstance(model.got_scheds, list)
        assert len(model.got_scheds) == len(model.scheds)
        assert all(user_scheduler(s) is want for s, want in zip(model.got_scheds, model.scheds))
    assert all_changed(before, model)


def test_lr_schedulers_returns_reduce_lr_on_plateau_itself(tmp_path):
    model = TwoLayer("dict-plateau", manual=False)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert isinstance(model.got_scheds, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_wrapped_optimizer_exposes_param_groups(tmp_path):
    """Lightning users read ``self.optimizers().param_groups[0]["lr"]`` directly."""
    model = TwoLayer("optimizer", manual=True)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.got_opts.param_groups[0]["lr"] == 0.1
    assert model.got_opts.param_groups is model.opts[0].param_groups


def test_several_optimizers_in_automatic_mode_is_a_configuration_error(tmp_path):
    model = TwoLayer("tuple-two", manual=False)
    with pytest.raises(treadle.ConfigurationError) as info:
        make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert isinstance(info.value, ValueError)
    assert info.value.problems and all(isinstance(p, str) for p in info.value.problems)
    assert model.got_opts is None, "no training_step may run"


def test_manual_optimization_with_trainer_clipping_and_accumulation_reports_both(tmp_path):
    model = TwoLayer("optimizer", manual=True)
    trainer = make_trainer(tmp_path, max_epochs=1, gradient_clip_val=0.5, accumulate_grad_batches=2)
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(model, make_loader(2))
    problems = info.value.problems
    assert len(problems) >= 2, problems
    text = "\n".join(problems)
    assert "gradient_clip_val" in text and "accumulate_grad_batches" in text
    assert model.got_opts is None, "no training_step may run"


# =============================================================================================
# Loop limits
# =============================================================================================


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_max_steps_stops_exactly(tmp_path, manual):
    model = TwoLayer("optimizer", manual)
    trainer = make_trainer(tmp_path, max_epochs=10, max_steps=6)
    trainer.fit(model, make_loader(4))
    assert model.calls == 6
    assert trainer.global_step == 6


def test_max_steps_counts_optimizer_steps_with_accumulation(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=10, max_steps=3, accumulate_grad_batches=2)
    trainer.fit(model, make_loader(4))
    assert len(model.of("train")) == 6
    assert trainer.global_step == 3


def test_max_epochs(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_loader(4))
    assert [e[1] for e in model.of("train")] == [0] * 4 + [1] * 4 + [2] * 4
    assert [e[2] for e in model.of("train")] == [0, 1, 2, 3] * 3
    assert trainer.current_epoch == 3
    assert trainer.global_step == 12


@pytest.mark.parametrize("limit,expected", [(3, 3), (0.5, 4), (1.0, 8)])
def test_limit_train_batches(tmp_path, limit, expected):
    model = StateProbe()
    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=limit)
    trainer.fit(model, make_loader(8))
    assert [e[2] for e in model.of("train")] == list(range(expected)) * 2
    assert [s[0] for s in model.state] == ([False] * (expected - 1) + [True]) * 2
    assert trainer.global_step == 2 * expected


# =============================================================================================
# The validation loop
# =============================================================================================


@pytest.mark.parametrize(
    "interval,expected",
    [
        (4, [(0, 4), (0, 8), (1, 12), (1, 16)]),
        (0.25, [(0, 2), (0, 4), (0, 6), (0, 8), (1, 10), (1, 12), (1, 14), (1, 16)]),
        (1.0, [(0, 8), (1, 16)]),
        (3, [(0, 3), (0, 6), (1, 11), (1, 14)]),  # not a divisor: no extra run at the epoch's end
    ],
)
def test_val_check_interval(tmp_path, interval, expected):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=2, val_check_interval=interval, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(8), make_loader(2, seed=1))
    starts = [(e[1], e[3]) for e in model.of("val") if e[2] == 0]
    assert starts == expected
    assert len(model.of("val")) == 2 * len(expected)


def test_check_val_every_n_epoch(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=4, check_val_every_n_epoch=2, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(2), make_loader(2, seed=1))
    assert sorted({e[1] for e in model.of("val")}) == [1, 3]
    assert len(model.of("val")) == 4


class SanityProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.metrics_at_train_start = None

    def on_train_start(self):
        self.metrics_at_train_start = dict(self.trainer.callback_metrics)


def test_num_sanity_val_steps_runs_before_training_and_does_not_leak(tmp_path):
    model = SanityProbe()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=2)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))

    first_train = model.events.index(("train", 0, 0))
    sanity = model.events[:first_train]
    assert [e[:3] for e in sanity] == [("val", 0, 0), ("val", 0, 1)], "two sanity batches run before training"
    assert model.metrics_at_train_start is not None
    assert "val_loss" not in model.metrics_at_train_start, "sanity-check metrics must not leak"
    # the real validation at the end of the epoch runs over all 4 batches
    assert [e[2] for e in model.events[first_train:] if e[0] == "val"] == [0, 1, 2, 3]


def test_sanity_metrics_do_not_leak_when_no_real_validation_runs(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=2, check_val_every_n_epoch=2)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert len(model.of("val")) == 2, "the sanity check runs even when no validation epoch follows"
    assert "val_loss" not in trainer.callback_metrics
    assert "val_loss" not in trainer.logged_metrics
    assert "val_loss" not in trainer.progress_bar_metrics


def test_num_sanity_val_steps_zero(tmp_path):
    model = Recorder()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(model, make_loader(2), make_loader(4, seed=1))
    assert model.events[0] == ("train", 0, 0)


@pytest.mark.parametrize("limit,expected", [(2, 2), (0.5, 2), (1.0, 4)])
def test_limit_val_batches(tmp_path, limit, expected):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=2, limit_val_batches=limit, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert [e[2] for e in model.of("val")] == list(range(expected)) * 2


def test_limit_val_batches_zero_disables_validation(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(model, make_loader(2), make_loader(4, seed=1))
    assert model.of("val") == []


class ModeProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.modes = []

    def training_step(self, batch, batch_idx):
        self.modes.append(("train", self.training, torch.is_grad_enabled()))
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self.modes.append(("val", self.training, torch.is_grad_enabled()))
        return super().validation_step(batch, batch_idx)


def test_validation_runs_in_eval_mode_without_grad_and_training_resumes_in_train_mode(tmp_path):
    model = ModeProbe()
    make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0).fit(model, make_loader(2), make_loader(2, seed=1))
    assert [m for m in model.modes if m[0] == "train"] == [("train", True, True)] * 4
    assert [m for m in model.modes if m[0] == "val"] == [("val", False, False)] * 4


class DataHooks(Recorder):
    def train_dataloader(self):
        return make_loader(3)

    def val_dataloader(self):
        return make_loader(2, seed=1)


def test_dataloaders_from_the_module(tmp_path):
    model = DataHooks()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(model)
    assert len(model.of("train")) == 3
    assert len(model.of("val")) == 2


def test_fit_with_keyword_dataloaders(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=make_loader(3), val_dataloaders=make_loader(2, seed=1))
    assert len(model.of("train")) == 3
    assert len(model.of("val")) == 2
    assert "val_loss" in trainer.callback_metrics


# =============================================================================================
# self.log semantics
# =============================================================================================


class LogModule(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        v = torch.tensor(float(10 * self.current_epoch + batch_idx))
        self.log("default", v)
        self.log("both", v, on_epoch=True)
        self.log("epoch_only", v, on_step=False, on_epoch=True)
        self.log("pbar", v, prog_bar=True, on_epoch=True)
        self.log("py_float", float(batch_idx))
        self.log("hidden", v, logger=False)
        return loss

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("val_v", torch.tensor(float(batch_idx)))
        self.log("val_pbar", torch.tensor(float(batch_idx)), prog_bar=True)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One fit, 2 epochs x 4 batches: the last epoch logs 10, 11, 12, 13 (mean 11.5); val logs 0..3 (mean 1.5)."""
    model = LogModule()
    trainer = make_trainer(tmp_path_factory.mktemp("log"), max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(4), make_loader(4, seed=1))
    return trainer


def _f(d, k):
    return float(d[k])


def test_log_in_training_step_defaults_to_on_step(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "default") == 13.0
    assert _f(lm, "default") == 13.0
    assert _f(cm, "py_float") == 3.0
    for k in ("default_step", "default_epoch"):
        assert k not in lm and k not in cm


def test_log_on_step_and_on_epoch_forks_names(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert "both" not in lm
    assert _f(lm, "both_step") == 13.0
    assert _f(lm, "both_epoch") == pytest.approx(11.5)
    # callback_metrics keep the plain name too: the epoch value once the epoch is over
    assert _f(cm, "both") == pytest.approx(11.5)
    assert _f(cm, "both_epoch") == pytest.approx(11.5)


def test_log_on_epoch_only_is_the_epoch_mean(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "epoch_only") == pytest.approx(11.5)
    assert _f(lm, "epoch_only") == pytest.approx(11.5)
    for k in ("epoch_only_step", "epoch_only_epoch"):
        assert k not in lm and k not in cm


def test_log_prog_bar(logged):
    pb = logged.progress_bar_metrics
    assert _f(pb, "pbar_step") == 13.0
    assert _f(pb, "pbar_epoch") == pytest.approx(11.5)
    assert "pbar" not in pb
    assert "default" not in pb and "both_step" not in pb, "only prog_bar=True metrics go to the progress bar"
    assert _f(pb, "val_pbar") == pytest.approx(1.5)


def test_log_logger_false_stays_out_of_logged_metrics(logged):
    assert "hidden" not in logged.logged_metrics
    assert _f(logged.callback_metrics, "hidden") == 13.0


def test_log_in_validation_step_defaults_to_epoch_mean(logged):
    cm, lm = logged.callback_metrics, logged.logged_metrics
    assert _f(cm, "val_v") == pytest.approx(1.5)
    assert _f(lm, "val_v") == pytest.approx(1.5)
    for k in ("val_v_step", "val_v_epoch"):
        assert k not in lm and k not in cm


class WeightedVal(Recorder):
    def validation_step(self, batch, batch_idx):
        self.log("v", torch.tensor(float(batch_idx)))


def test_validation_epoch_mean_is_weighted_by_batch_size(tmp_path):
    """10 samples in batches of 4, 4, 2 logging 0, 1, 2: Lightning's mean is (0*4 + 1*4 + 2*2) / 10."""
    model = WeightedVal()
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(2), make_loader(batch_size=4, n=10, seed=1))
    assert float(trainer.callback_metrics["v"]) == pytest.approx(0.8)


# =============================================================================================
# Trainer state during the loop
# =============================================================================================


class StateProbe(Recorder):
    def __init__(self):
        super().__init__()
        self.state = []

    def training_step(self, batch, batch_idx):
        t = self.trainer
        self.state.append((bool(t.is_last_batch), t.current_epoch, t.global_step))
        return super().training_step(batch, batch_idx)


def test_is_last_batch_current_epoch_and_global_step_with_accumulation(tmp_path):
    model = StateProbe()
    trainer = make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=2)
    trainer.fit(model, make_loader(5))
    assert [s[0] for s in model.state] == [False, False, False, False, True] * 2
    assert [s[1] for s in model.state] == [0] * 5 + [1] * 5
    # steps after batches 2, 4 and 5 (the partial window) of each epoch
    assert [s[2] for s in model.state] == [0, 0, 1, 1, 2, 3, 3, 4, 4, 5]
    assert trainer.global_step == 6
    assert trainer.current_epoch == 2


class Props(Recorder):
    def __init__(self):
        super().__init__()
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(
            dict(
                device=self.device,
                global_step=self.global_step,
                trainer_global_step=self.trainer.global_step,
                current_epoch=self.current_epoch,
                trainer_current_epoch=self.trainer.current_epoch,
                trainer=self.trainer,
                global_rank=self.global_rank,
                local_rank=self.local_rank,
            )
        )
        return super().training_step(batch, batch_idx)


def test_module_properties(tmp_path):
    model = Props()
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_loader(2))
    assert len(model.seen) == 4
    for i, s in enumerate(model.seen):
        assert s["device"] == torch.device("cpu")
        assert s["global_step"] == s["trainer_global_step"] == i
        assert s["current_epoch"] == s["trainer_current_epoch"] == i // 2
        assert s["trainer"] is trainer
        assert s["global_rank"] == 0 and s["local_rank"] == 0
    assert model.trainer is trainer
    assert model.global_step == 4


def test_trainer_rank_properties(tmp_path):
    trainer = make_trainer(tmp_path)
    assert trainer.world_size == 1
    assert trainer.global_rank == 0
    assert trainer.local_rank == 0
    assert trainer.is_global_zero is True


# =============================================================================================
# trainer.validate and seed_everything
# =============================================================================================


@pytest.mark.parametrize("keyword", [True, False], ids=["dataloaders=", "positional"])
def test_validate_returns_one_dict_of_metrics(tmp_path, keyword):
    model = Recorder()
    before = snapshot(model)
    loader = make_loader(3, seed=1)
    with torch.no_grad():
        expected = sum(F.mse_loss(model(x), y).item() for x, y in loader) / 3
    trainer = make_trainer(tmp_path)
    result = trainer.validate(model, dataloaders=loader) if keyword else trainer.validate(model, loader)

    assert isinstance(result, list) and len(result) == 1
    assert isinstance(result[0], dict)
    assert set(result[0]) == {"val_loss"}
    assert float(result[0]["val_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(expected, rel=1e-5)
    assert len(model.of("val")) == 3 and model.of("train") == []
    for b, p in zip(before, model.parameters()):
        assert torch.equal(b, p)


def test_seed_everything_seeds_python_torch_and_numpy():
    np = pytest.importorskip("numpy")

    def draw():
        return random.random(), torch.rand(3), np.random.rand()

    treadle.seed_everything(1234)
    a = draw()
    draw()
    treadle.seed_everything(1234)
    b = draw()
    assert a[0] == b[0]
    assert torch.equal(a[1], b[1])
    assert a[2] == b[2]
    treadle.seed_everything(4321)
    c = draw()
    assert c[0] != a[0] and not torch.equal(c[1], a[1]) and c[2] != a[2]


def test_seed_everything_returns_the_seed():
    assert treadle.seed_everything(7) == 7


# =============================================================================================
# A Lightning callback, ported by changing its base class
# =============================================================================================


class LightningStyleCallback(treadle.Callback):
    def __init__(self):
        self.calls: list[tuple] = []

    def on_fit_start(self, trainer, pl_module):
        self.calls.append(("on_fit_start", trainer, pl_module))

    def on_train_start(self, trainer, pl_module):
        self.calls.append(("on_train_start", trainer, pl_module))

    def on_train_epoch_start(self, trainer, pl_module):
        self.calls.append(("on_train_epoch_start", trainer, pl_module, trainer.current_epoch))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.calls.append(("on_train_batch_start", trainer, pl_module, batch, batch_idx))

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        self.calls.append(("on_before_zero_grad", trainer, pl_module, optimizer))

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls.append(("on_before_backward", trainer, pl_module, loss.detach().clone()))

    def on_after_backward(self, trainer, pl_module):
        grads = [p.grad is not None for p in pl_module.parameters()]
        self.calls.append(("on_after_backward", trainer, pl_module, all(grads)))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls.append(("on_before_optimizer_step", trainer, pl_module, optimizer))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.calls.append(("on_train_batch_end", trainer, pl_module, outputs, batch, batch_idx))

    def on_train_epoch_end(self, trainer, pl_module):
        self.calls.append(("on_train_epoch_end", trainer, pl_module, trainer.current_epoch))

    def on_validation_epoch_start(self, trainer, pl_module):
        self.calls.append(("on_validation_epoch_start", trainer, pl_module))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.calls.append(("on_validation_batch_end", trainer, pl_module, outputs, batch, batch_idx, dataloader_idx))

    def on_validation_epoch_end(self, trainer, pl_module):
        self.calls.append(("on_validation_epoch_end", trainer, pl_module))

    def on_train_end(self, trainer, pl_module):
        self.calls.append(("on_train_end", trainer, pl_module))

    def on_fit_end(self, trainer, pl_module):
        self.calls.append(("on_fit_end", trainer, pl_module))

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


class LossRecorder(Recorder):
    def __init__(self):
        super().__init__()
        self.train_losses = []
        self.val_losses = []
        self.configured = None

    def configure_optimizers(self):
        self.configured = super().configure_optimizers()
        return self.configured

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.train_losses.append(loss.detach().clone())
        return loss

    def validation_step(self, batch, batch_idx):
        loss = super().validation_step(batch, batch_idx)
        self.val_losses.append(loss.detach().clone())
        return loss


def test_lightning_style_callback_receives_the_right_values(tmp_path):
    cb = LightningStyleCallback()
    model = LossRecorder()
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[cb], num_sanity_val_steps=0)
    train, val = make_loader(3), make_loader(2, seed=1)
    trainer.fit(model, train, val)

    for c in cb.calls:
        assert c[1] is trainer, c[0]
        assert c[2] is model, c[0]
    names = [c[0] for c in cb.calls]
    assert names[0] == "on_fit_start" and names[-1] == "on_fit_end"
    assert names.index("on_train_start") < names.index("on_train_batch_start")
    assert names.index("on_train_end") < names.index("on_fit_end")

    assert [c[3] for c in cb.named("on_train_epoch_start")] == [0, 1]
    assert [c[3] for c in cb.named("on_train_epoch_end")] == [0, 1]

    starts = cb.named("on_train_batch_start")
    ends = cb.named("on_train_batch_end")
    assert [c[4] for c in starts] == [0, 1, 2] * 2
    assert [c[5] for c in ends] == [0, 1, 2] * 2
    batches = list(train) * 2
    for c, (x, y) in zip(ends, batches):
        assert torch.equal(c[4][0], x) and torch.equal(c[4][1], y)
    for c, loss in zip(ends, model.train_losses):
        assert torch.allclose(c[3]["loss"], loss), "outputs['loss'] is the loss training_step returned"

    backward = cb.named("on_before_backward")
    assert len(backward) == 6
    for c, loss in zip(backward, model.train_losses):
        assert torch.allclose(c[3], loss)
    assert [c[3] for c in cb.named("on_after_backward")] == [True] * 6
    for name in ("on_before_optimizer_step", "on_before_zero_grad"):
        got = cb.named(name)
        assert len(got) == 6, name
        assert all(_unwrap(c[3]) is model.configured for c in got), name

    vends = cb.named("on_validation_batch_end")
    assert [c[5] for c in vends] == [0, 1] * 2
    assert all(c[6] == 0 for c in vends)
    for c, loss in zip(vends, model.val_losses):
        assert torch.allclose(c[3], loss), "outputs is what validation_step returned"
    assert len(cb.named("on_validation_epoch_start")) == len(cb.named("on_validation_epoch_end")) == 2


class ModuleBatchEnd(Recorder):
    def __init__(self):
        super().__init__()
        self.losses = []
        self.outputs = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.losses.append(loss.detach().clone())
        return {"loss": loss, "n": batch[0].shape[0]}

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.outputs.append((outputs, batch_idx))


def test_module_on_train_batch_end_gets_training_step_outputs(tmp_path):
    model = ModuleBatchEnd()
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert [b for _, b in model.outputs] == [0, 1, 2]
    for (out, _), loss in zip(model.outputs, model.losses):
        assert torch.allclose(out["loss"], loss)
        assert out["n"] == 8, "extra keys returned by training_step reach on_train_batch_end"
    assert all_changed(before, model)


# =============================================================================================
# Module overrides written with Lightning's signatures
# =============================================================================================


def _plain_sgd(net, loader, epochs, lr=0.1, accumulate=1, zero_grad=True):
    net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    n = len(loader)
    for _ in range(epochs):
        for i, (x, y) in enumerate(loader):
            loss = F.mse_loss(net(x), y) / accumulate
            if zero_grad and i % accumulate == 0:
                opt.zero_grad()
            loss.backward()
            if (i + 1) % accumulate == 0 or i + 1 == n:
                opt.step()
    return net


class OptimizerStepOverride(RegressionModule):
    def __init__(self, net):
        super().__init__(net)
        self.calls = []
        self.steps = 0
        self.configured = None

    def configure_optimizers(self):
        self.configured = super().configure_optimizers()
        return self.configured

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return super().training_step(batch, batch_idx)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        self.calls.append((epoch, batch_idx, optimizer_closure is not None, _unwrap(optimizer) is self.configured))
        optimizer.step(closure=optimizer_closure)


@pytest.mark.parametrize("accumulate,stepping", [(1, [0, 1, 2, 3]), (2, [1, 3])])
def test_optimizer_step_override_with_lightning_signature(tmp_path, accumulate, stepping):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = OptimizerStepOverride(net)
    trainer = make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=accumulate)
    trainer.fit(model, make_loader(4))

    assert model.calls == [(e, b, True, True) for e in (0, 1) for b in stepping]
    assert model.steps == 8, "the closure runs training_step on every batch"
    assert trainer.global_step == 2 * len(stepping)
    assert_params_close(model.net, _plain_sgd(net, make_loader(4), 2, accumulate=accumulate), atol=1e-6)


class ClipOverride(RegressionModule):
    def __init__(self, own_clip=None):
        super().__init__(lr=0.001)
        self.own_clip = own_clip
        self.received = []
        self.before = []
        self.after = []

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.received.append((gradient_clip_val, gradient_clip_algorithm))
        if self.own_clip is None:
            self.before.append(max_abs_grad(self.parameters()))
            self.clip_gradients(
                optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm
            )
            self.after.append(max_abs_grad(self.parameters()))
        else:
            self.before.append(grad_norm(self.parameters()))
            self.clip_gradients(optimizer, gradient_clip_val=self.own_clip, gradient_clip_algorithm="norm")
            self.after.append(grad_norm(self.parameters()))


def test_configure_gradient_clipping_override_receives_trainer_values(tmp_path):
    model = ClipOverride()
    trainer = make_trainer(tmp_path, max_epochs=1, gradient_clip_val=0.3, gradient_clip_algorithm="value")
    trainer.fit(model, make_loader(4, scale=20.0))
    assert len(model.received) == 4
    for val, algo in model.received:
        assert val == 0.3
        assert algo == "value"
    assert max(model.before) > 0.3
    assert all(a <= 0.3 + 1e-6 for a in model.after)


def test_configure_gradient_clipping_override_called_without_trainer_clipping(tmp_path):
    """Lightning calls the hook on every optimizer step, so a module can clip on its own terms."""
    model = ClipOverride(own_clip=0.2)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(4, scale=20.0))
    assert len(model.received) == 4
    assert all(val is None for val, _ in model.received)
    assert max(model.before) > 0.2
    assert all(a <= 0.2 + 1e-6 for a in model.after)


def test_configure_gradient_clipping_gets_none_algorithm_when_trainer_sets_none(tmp_path):
    """Lightning passes ``Trainer.gradient_clip_algorithm`` as given: ``None`` when left out."""
    model = ClipOverride(own_clip=0.2)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.received == [(None, None)] * 2


class ZeroGradOverride(RegressionModule):
    def __init__(self, net, really=True):
        super().__init__(net)
        self.really = really
        self.calls = []

    def optimizer_zero_grad(self, epoch, batch_idx, optimizer):
        self.calls.append((epoch, batch_idx))
        if self.really:
            optimizer.zero_grad()


@pytest.mark.parametrize("accumulate,zeroing", [(1, [0, 1, 2, 3]), (2, [0, 2])])
def test_optimizer_zero_grad_override(tmp_path, accumulate, zeroing):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = ZeroGradOverride(net)
    make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=accumulate).fit(model, make_loader(4))
    assert model.calls == [(e, b) for e in (0, 1) for b in zeroing]
    assert_params_close(model.net, _plain_sgd(net, make_loader(4), 2, accumulate=accumulate), atol=1e-6)


def test_optimizer_zero_grad_override_replaces_the_default(tmp_path):
    """An override that never zeroes lets gradients pile up, exactly as a plain loop without zero_grad."""
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = ZeroGradOverride(net, really=False)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(4))
    assert len(model.calls) == 4
    expected = _plain_sgd(net, make_loader(4), 1, zero_grad=False)
    usual = _plain_sgd(net, make_loader(4), 1)
    assert max((a - b).abs().max().item() for a, b in zip(expected.parameters(), usual.parameters())) > 1e-4
    assert_params_close(model.net, expected, atol=1e-6)


class SkipRest(Recorder):
    def on_train_batch_start(self, batch, batch_idx):
        if self.current_epoch == 0 and batch_idx == 2:
            return -1


def test_on_train_batch_start_returning_minus_one_skips_rest_of_epoch(tmp_path):
    model = SkipRest()
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(model, make_loader(4))
    assert [e[1:] for e in model.of("train")] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert trainer.global_step == 6
    assert trainer.current_epoch == 2


# =============================================================================================
# More of what Lightning users write every day
# =============================================================================================


class OrderProbeCallback(treadle.Callback):
    def __init__(self, log):
        self.events = log

    def on_fit_start(self, trainer, pl_module):
        self.events.append(("cb", "on_fit_start"))

    def on_train_start(self, trainer, pl_module):
        self.events.append(("cb", "on_train_start"))

    def on_train_epoch_start(self, trainer, pl_module):
        self.events.append(("cb", "on_train_epoch_start"))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.events.append(("cb", "on_train_batch_start"))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.events.append(("cb", "on_train_batch_end"))

    def on_train_epoch_end(self, trainer, pl_module):
        self.events.append(("cb", "on_train_epoch_end"))

    def on_train_end(self, trainer, pl_module):
        self.events.append(("cb", "on_train_end"))


class OrderProbeModule(Recorder):
    def __init__(self, log):
        super().__init__()
        self.log_ = log

    def on_fit_start(self):
        self.log_.append(("module", "on_fit_start"))

    def on_train_start(self):
        self.log_.append(("module", "on_train_start"))

    def on_train_epoch_start(self):
        self.log_.append(("module", "on_train_epoch_start"))

    def on_train_batch_start(self, batch, batch_idx):
        self.log_.append(("module", "on_train_batch_start"))

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.log_.append(("module", "on_train_batch_end"))

    def on_train_epoch_end(self):
        self.log_.append(("module", "on_train_epoch_end"))

    def on_train_end(self):
        self.log_.append(("module", "on_train_end"))


def test_callback_hooks_run_before_the_module_hooks(tmp_path):
    log = []
    model = OrderProbeModule(log)
    make_trainer(tmp_path, max_epochs=1, callbacks=[OrderProbeCallback(log)]).fit(model, make_loader(1))
    hooks = [
        "on_fit_start",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_start",
        "on_train_batch_end",
        "on_train_epoch_end",
        "on_train_end",
    ]
    assert log == [(who, h) for h in hooks for who in ("cb", "module")]


class EpochEndLogger(Recorder):
    def on_train_epoch_end(self):
        self.log("epoch_marker", torch.tensor(float(self.current_epoch) + 0.5))

    def on_validation_epoch_end(self):
        self.log("val_marker", torch.tensor(float(self.current_epoch) + 0.25))


def test_log_in_epoch_end_hooks_defaults_to_on_epoch(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(EpochEndLogger(), make_loader(2), make_loader(2, seed=1))
    cm, lm = trainer.callback_metrics, trainer.logged_metrics
    assert float(cm["epoch_marker"]) == 1.5
    assert float(lm["epoch_marker"]) == 1.5
    assert float(cm["val_marker"]) == 1.25
    assert "epoch_marker_epoch" not in lm and "epoch_marker_step" not in lm


class ReduceFx(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        v = torch.tensor(float(batch_idx + 1))
        self.log("mx", v, on_step=False, on_epoch=True, reduce_fx="max")
        self.log("sm", v, on_step=False, on_epoch=True, reduce_fx="sum")
        self.log("synced", v, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch[0].shape[0])
        self.log_dict({"d1": v, "d2": 2 * v}, on_step=False, on_epoch=True)
        return loss


def test_log_reduce_fx_sync_dist_batch_size_and_log_dict_options(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(ReduceFx(), make_loader(4))  # logs 1, 2, 3, 4
    cm = trainer.callback_metrics
    assert float(cm["mx"]) == 4.0
    assert float(cm["sm"]) == 10.0
    assert float(cm["synced"]) == pytest.approx(2.5)
    assert float(cm["d1"]) == pytest.approx(2.5)
    assert float(cm["d2"]) == pytest.approx(5.0)


class GradLogger(Recorder):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("loss", loss, prog_bar=True)  # a tensor with a graph
        return loss


def test_metric_value_types(tmp_path):
    """As in Lightning: callback/logged metrics are detached tensors, the progress bar holds numbers."""
    trainer = make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(GradLogger(), make_loader(2), make_loader(2, seed=1))
    for d in (trainer.callback_metrics, trainer.logged_metrics):
        for k in ("loss", "val_loss"):
            assert isinstance(d[k], torch.Tensor), (k, type(d[k]))
            assert not d[k].requires_grad
            assert d[k].numel() == 1
            d[k].item()
    assert isinstance(trainer.progress_bar_metrics["loss"], (int, float))


class ManualOutputs(treadle.Module):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.losses = []
        self.outputs = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        opt.zero_grad()
        # Lightning forwards extra arguments to backward
        self.manual_backward(loss, retain_graph=True)
        self.manual_backward(loss)  # the graph was kept: a second backward works
        opt.step()
        self.losses.append(loss.detach().clone())
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.outputs.append(outputs)


def test_manual_backward_forwards_arguments_and_outputs_reach_batch_end(tmp_path):
    model = ManualOutputs()
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert len(model.outputs) == 3
    for out, loss in zip(model.outputs, model.losses):
        assert torch.allclose(out["loss"], loss)
    assert all_changed(before, model)


class RawOptimizers(TwoLayer):
    def __init__(self):
        super().__init__("tuple-two", manual=True)
        self.raw = None

    def training_step(self, batch, batch_idx):
        self.raw = self.optimizers(use_pl_optimizer=False)
        return super().training_step(batch, batch_idx)


def test_optimizers_use_pl_optimizer_false_returns_the_users_optimizers(tmp_path):
    model = RawOptimizers()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(1))
    assert isinstance(model.raw, list) and len(model.raw) == 2
    assert all(r is o for r, o in zip(model.raw, model.opts))


def test_seed_everything_accepts_workers():
    assert treadle.seed_everything(3, workers=True) == 3
    a = torch.rand(2)
    treadle.seed_everything(3, workers=True)
    assert torch.equal(a, torch.rand(2))


class SchedStepOverride(Recorder):
    def __init__(self, plateau):
        super().__init__()
        self.plateau = plateau
        self.calls = []
        self.sched = None

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.plateau:
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": self.sched, "monitor": "mon"}}
        self.sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.sched, "interval": "step"}}

    def training_step(self, batch, batch_idx):
        self.log("mon", torch.tensor(float(self.current_epoch) + 1.0), on_step=False, on_epoch=True)
        return super().training_step(batch, batch_idx)

    def lr_scheduler_step(self, scheduler, metric):
        self.calls.append((user_scheduler(scheduler) is self.sched, None if metric is None else float(metric)))
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)


@pytest.mark.parametrize("plateau", [False, True], ids=["StepLR-step", "ReduceLROnPlateau-epoch"])
def test_lr_scheduler_step_override(tmp_path, plateau):
    model = SchedStepOverride(plateau)
    make_trainer(tmp_path, max_epochs=2).fit(model, make_loader(3))
    if plateau:
        assert model.calls == [(True, 1.0), (True, 2.0)]
    else:
        assert model.calls == [(True, None)] * 6
        assert model.sched.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)


def test_validate_uses_the_modules_val_dataloader(tmp_path):
    model = DataHooks()
    result = make_trainer(tmp_path).validate(model)
    assert len(result) == 1 and "val_loss" in result[0]
    assert len(model.of("val")) == 2


def test_val_check_interval_counts_across_epochs_when_check_val_every_n_epoch_is_none(tmp_path):
    model = Recorder()
    trainer = make_trainer(
        tmp_path, max_epochs=2, val_check_interval=3, check_val_every_n_epoch=None, num_sanity_val_steps=0
    )
    trainer.fit(model, make_loader(4), make_loader(2, seed=1))
    # every 3 training batches in total: after batches 3 and 6 of the run
    assert [(e[1], e[3]) for e in model.of("val") if e[2] == 0] == [(0, 3), (1, 6)]


def test_no_extra_validation_when_max_steps_stops_mid_epoch(tmp_path):
    model = Recorder()
    trainer = make_trainer(tmp_path, max_epochs=5, max_steps=6, num_sanity_val_steps=0)
    trainer.fit(model, make_loader(4), make_loader(2, seed=1))
    assert len(model.of("train")) == 6
    assert [(e[1], e[3]) for e in model.of("val") if e[2] == 0] == [(0, 4)]


class EpochEndLR(Recorder):
    def __init__(self):
        super().__init__(lr=0.1)
        self.lrs = []

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]

    def on_train_epoch_end(self):
        self.lrs.append(self.optimizers().param_groups[0]["lr"])


def test_epoch_interval_scheduler_has_stepped_when_on_train_epoch_end_runs(tmp_path):
    """Lightning steps epoch-interval (non-plateau) schedulers on the epoch's last batch, before
    ``on_train_epoch_end``: a learning-rate logger there sees the next epoch's rate."""
    model = EpochEndLR()
    make_trainer(tmp_path, max_epochs=2).fit(model, make_loader(2))
    assert model.lrs == pytest.approx([0.05, 0.025])


class FrozenPart(Recorder):
    def __init__(self):
        super().__init__()
        self.frozen = nn.BatchNorm1d(IN_DIM)
        self.frozen.eval()  # e.g. a pretrained backbone kept in eval mode while fine-tuning
        self.modes = []

    def training_step(self, batch, batch_idx):
        self.modes.append((self.training, self.frozen.training))
        x, y = batch
        return F.mse_loss(self(self.frozen(x)), y)


def test_submodule_modes_are_preserved_around_validation(tmp_path):
    """Lightning 2 restores each submodule's own mode after validation and never forces .train()
    on a submodule the user put in eval mode."""
    model = FrozenPart()
    make_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=1).fit(model, make_loader(2), make_loader(2, seed=1))
    assert model.modes == [(True, False)] * 4


class SetupModule(treadle.Module):
    def __init__(self):
        super().__init__()
        self.stages = []
        self.torn_down = []

    def setup(self, stage):
        self.stages.append(stage)
        self.layer = nn.Linear(IN_DIM, 1)  # built late, as Lightning allows

    def teardown(self, stage):
        self.torn_down.append(stage)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_setup_runs_before_configure_optimizers_and_teardown_after(tmp_path):
    model = SetupModule()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.stages == ["fit"]
    assert model.torn_down == ["fit"]
    assert model.layer.weight.grad is not None


class TransferHooks(Recorder):
    def __init__(self, which):
        super().__init__()
        self.which = which
        self.seen = []
        self.targets = []

    def on_before_batch_transfer(self, batch, dataloader_idx):
        if self.which != "before":
            return batch
        x, y = batch
        return [x, torch.full_like(y, 7.0)]

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        self.seen.append((device, dataloader_idx))
        return [t.to(device) for t in batch]

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.which != "after":
            return batch
        x, y = batch
        return [x, torch.full_like(y, 3.0)]

    def training_step(self, batch, batch_idx):
        self.targets.append(batch[1].clone())
        return super().training_step(batch, batch_idx)


def test_transfer_batch_to_device_override(tmp_path):
    model = TransferHooks("none")
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.seen == [(torch.device("cpu"), 0)] * 2


@pytest.mark.parametrize("which,value", [("before", 7.0), ("after", 3.0)])
def test_on_before_and_after_batch_transfer(tmp_path, which, value):
    model = TransferHooks(which)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert len(model.targets) == 2
    assert all(torch.all(t == value) for t in model.targets), f"on_{which}_batch_transfer's batch must be used"


class WithCallbacks(Recorder):
    def __init__(self):
        super().__init__()
        self.cb = LightningStyleCallback()

    def configure_callbacks(self):
        return [self.cb]


def test_module_configure_callbacks(tmp_path):
    model = WithCallbacks()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert len(model.cb.named("on_train_batch_end")) == 2


class OneCycle(Recorder):
    def __init__(self):
        super().__init__()
        self.total = None

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        self.total = self.trainer.estimated_stepping_batches
        sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=self.total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


def test_estimated_stepping_batches_for_one_cycle_lr(tmp_path):
    """Beyond API.md, but how Lightning users size OneCycleLR."""
    model = OneCycle()
    make_trainer(tmp_path, max_epochs=3, accumulate_grad_batches=2).fit(model, make_loader(5))
    assert model.total == 9


class NoBatchIdx(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.calls = []

    def training_step(self, batch):
        self.calls.append("train")
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def validation_step(self, batch):
        self.calls.append("val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_steps_without_batch_idx_argument(tmp_path):
    model = NoBatchIdx()
    make_trainer(tmp_path, max_epochs=1, num_sanity_val_steps=0).fit(model, make_loader(2), make_loader(1, seed=1))
    assert model.calls == ["train", "train", "val"]


class SkipsOneBatch(Recorder):
    def __init__(self):
        super().__init__(lr=0.1)
        self.after = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return None if batch_idx == 1 else loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.after.append(snapshot(self))


def test_training_step_returning_none_skips_the_update(tmp_path):
    model = SkipsOneBatch()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert len(model.after) == 3
    assert all(torch.equal(a, b) for a, b in zip(model.after[0], model.after[1])), "batch 1 returned None"
    assert not all(torch.equal(a, b) for a, b in zip(model.after[1], model.after[2]))


class StopsEarly(Recorder):
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if batch_idx == 1:
            self.trainer.should_stop = True


def test_should_stop_ends_training_after_the_current_batch(tmp_path):
    model = StopsEarly()
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_loader(4))
    assert [e[1:] for e in model.of("train")] == [(0, 0), (0, 1)]
    assert trainer.global_step == 2
