"""The generated hook callers (the path every run takes) train exactly as pluggy's own callers.

``treadle._callers.fast_caller`` resolves each hook once per run into a generated function
(``docs/hooks.md``, "Cost"). Here the same training runs twice: once as usual, and once with
``fast_caller`` replaced by the identity, so that every hook goes through pluggy's
``HookCaller``. Both runs must end with bit-identical weights, the same ``on_train_batch_end``
outputs and the same step counts: automatic and manual optimization, gradient accumulation
with a step-interval scheduler, dict outputs, LBFGS's closure, ``16-mixed`` and
``bf16-mixed``, and with a pass-through plugin implementing the step hooks (which makes the
generated callers call several implementations, one of them inside a wrapper).
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import make_loader, make_trainer, mlp
from treadle import _callers, hookimpl


class Auto(treadle.Module):
    def __init__(self, with_scheduler: bool = False):
        super().__init__()
        self.net = mlp(seed=3)
        self.with_scheduler = with_scheduler

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        if not self.with_scheduler:
            return opt
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


class DictOut(Auto):
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        return {"loss": loss, "double": 2 * loss.detach()}


class Manual(Auto):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt = self.optimizers()
        opt.zero_grad()
        loss = F.mse_loss(self.net(x), y)
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
        opt.step()
        return loss


class LBFGSAuto(Auto):
    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=3)


class LBFGSManual(Manual):
    def training_step(self, batch, batch_idx):
        x, y = batch
        opt = self.optimizers()

        def closure():
            opt.zero_grad()
            loss = F.mse_loss(self.net(x), y)
            self.manual_backward(loss)
            return loss

        return opt.step(closure=closure)

    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=3)


class ClipInHook(Auto):
    """Clips in ``on_before_optimizer_step``, after the precision plugin (``tryfirst``) has
    unscaled the gradients: implementations in another order train differently."""

    def on_before_optimizer_step(self, optimizer):
        torch.nn.utils.clip_grad_value_(self.parameters(), 0.01)


class Outputs(treadle.Callback):
    """Records ``on_train_batch_end`` outputs (and the global step at each)."""

    def __init__(self, events):
        self.seen, self.events = [], events

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        kept = {k: v.clone() for k, v in outputs.items()} if isinstance(outputs, dict) else outputs
        self.seen.append((trainer.global_step, batch_idx, kept))
        self.events.append("outputs")


class Tag(treadle.Callback):
    """A second callback on the same hooks: the order of implementations shows in ``events``."""

    def __init__(self, events):
        self.events = events

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.events.append("tag")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.events.append("tag-before-step")


class PassThrough:
    """Implements the step's hooks and changes nothing: the callers must call it and go on."""

    def __init__(self):
        self.calls = 0

    @hookimpl
    def on_before_zero_grad(self, optimizer):
        self.calls += 1

    @hookimpl
    def optimizer_zero_grad(self, optimizer):
        self.calls += 1  # returns None: the core's zero_grad still runs

    @hookimpl
    def on_before_backward(self, loss):
        self.calls += 1

    @hookimpl
    def scale_loss(self, loss):
        self.calls += 1

    @hookimpl
    def backward(self, loss):
        self.calls += 1

    @hookimpl
    def on_after_backward(self):
        self.calls += 1

    @hookimpl
    def on_before_optimizer_step(self, optimizer):
        self.calls += 1

    @hookimpl
    def optimizer_step(self, optimizer, closure):
        self.calls += 1

    @hookimpl(wrapper=True)
    def run_training_step(self, batch):
        self.calls += 1
        result = yield
        self.calls += 1  # reached only when the result is sent in (not on close)
        return result

    @hookimpl
    def on_train_batch_end(self, outputs):
        self.calls += 1


CASES = {
    "automatic": (Auto, {}),
    "dict-outputs": (DictOut, {}),
    "accumulate+step-scheduler": (
        lambda: Auto(with_scheduler=True),
        {"accumulate_grad_batches": 2},
    ),
    "trainer-clipping": (Auto, {"gradient_clip_val": 0.1}),
    "manual": (Manual, {}),
    "lbfgs-automatic": (LBFGSAuto, {}),
    "lbfgs-manual": (LBFGSManual, {}),
    "16-mixed": (Auto, {"precision": "16-mixed"}),
    "bf16-mixed": (Auto, {"precision": "bf16-mixed"}),
    "manual-16-mixed": (Manual, {"precision": "16-mixed"}),
    "16-mixed+module-hook": (ClipInHook, {"precision": "16-mixed"}),
}


def _run(tmp_path, make_model, kwargs, plugins=()):
    events = []
    outputs = Outputs(events)
    model = make_model()
    trainer = make_trainer(
        tmp_path, max_epochs=2, callbacks=[Tag(events), outputs], plugins=list(plugins), **kwargs
    )
    trainer.fit(model, make_loader(5, shuffle=True, shuffle_seed=7))
    return trainer, model, outputs.seen, events


def _assert_same(fast, slow):
    (t1, m1, seen1, events1), (t2, m2, seen2, events2) = fast, slow
    assert events1 == events2
    assert t1.global_step == t2.global_step > 0
    assert t1.current_epoch == t2.current_epoch
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    assert len(seen1) == len(seen2) == 10
    for (step1, idx1, out1), (step2, idx2, out2) in zip(seen1, seen2):
        assert (step1, idx1) == (step2, idx2)
        if isinstance(out1, dict):
            assert out1.keys() == out2.keys()
            assert all(torch.equal(out1[k], out2[k]) for k in out1)
        else:
            assert out1 is out2 is None


def _pluggy_callers(monkeypatch):
    """Every hook through pluggy's own ``HookCaller``, for the rest of the test."""
    monkeypatch.setattr(_callers, "fast_caller", lambda hook_caller: hook_caller)


@pytest.mark.parametrize("case", list(CASES))
def test_generated_callers_train_as_pluggys(tmp_path, monkeypatch, case):
    make_model, kwargs = CASES[case]
    fast = _run(tmp_path, make_model, kwargs)
    _pluggy_callers(monkeypatch)
    slow = _run(tmp_path, make_model, kwargs)
    _assert_same(fast, slow)
    # and training did happen
    assert not all(
        torch.equal(p, q) for p, q in zip(fast[1].parameters(), make_model().parameters())
    )


@pytest.mark.parametrize(
    "case", ["automatic", "accumulate+step-scheduler", "manual", "lbfgs-automatic", "16-mixed"]
)
def test_with_a_pass_through_plugin_on_every_step_hook(tmp_path, monkeypatch, case):
    make_model, kwargs = CASES[case]
    plugin_fast, plugin_slow = PassThrough(), PassThrough()
    fast = _run(tmp_path, make_model, kwargs, [plugin_fast])
    _pluggy_callers(monkeypatch)
    slow = _run(tmp_path, make_model, kwargs, [plugin_slow])
    _assert_same(fast, slow)
    assert plugin_fast.calls == plugin_slow.calls > 0
    # the plugin changed nothing: the same as a run without it
    monkeypatch.undo()
    _assert_same(fast, _run(tmp_path, make_model, kwargs))


def test_the_comparison_notices_a_caller_that_differs(tmp_path, monkeypatch):
    """A caller that drops the last implementation of ``optimizer_step`` (the core's step)
    must not pass for pluggy's: the weights then stay put."""
    fast = _run(tmp_path, Auto, {})
    real = _callers.fast_caller

    def broken(hook_caller):
        if hook_caller.name != "optimizer_step":
            return real(hook_caller)

        def closure_only(closure, **kwargs):
            closure()
            return True

        return closure_only

    monkeypatch.setattr(_callers, "fast_caller", broken)
    with pytest.raises(AssertionError):
        _assert_same(fast, _run(tmp_path, Auto, {}))


def test_tracing_reports_every_hook_and_trains_the_same(tmp_path, monkeypatch, capfd):
    untraced = _run(tmp_path, Auto, {})
    monkeypatch.setenv("TREADLE_TRACE_HOOKS", "1")
    traced = _run(tmp_path, Auto, {})
    _assert_same(untraced, traced)
    err = capfd.readouterr().err
    assert "treadle hook optimizer_zero_grad -> [treadle.core]" in err
    assert "treadle hook run_training_step -> [treadle.core]" in err
    assert "treadle hook on_before_zero_grad -> [-]" in err


class WatchLosses(Auto):
    """Keeps weak references to every loss, to see how long the loop keeps them."""

    def __init__(self):
        super().__init__()
        self.refs = []
        self.alive_at_start = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.refs.append(weakref.ref(loss))
        return loss

    def on_train_batch_start(self, batch, batch_idx):
        gc.collect()
        self.alive_at_start.append([r() is not None for r in self.refs])


@pytest.mark.parametrize("callers", ["generated", "pluggy"])
def test_a_batch_loss_lives_until_the_next_batch_has_run(tmp_path, monkeypatch, callers):
    if callers == "pluggy":
        _pluggy_callers(monkeypatch)
    model = WatchLosses()
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_loader(4))
    # at the start of batch k, only batch k-1's loss is still referenced by the loop
    assert model.alive_at_start == [[], [True], [False, True], [False, False, True]]
    gc.collect()
    assert not any(r() is not None for r in model.refs)  # nothing kept after fit
