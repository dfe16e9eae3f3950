"""The "Own your loop" guide's examples under ``16-mixed`` and ``bf16-mixed`` on this CPU.

The examples are the guide test's own classes (``tests/test_guide_examples.py``), run with
``precision=...``. Under ``16-mixed`` the LBFGS example is refused before anything runs; under
``bf16-mixed`` and ``32-true`` it is accepted and converges.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import test_guide_examples as guide
import treadle
from conftest_helpers import (
    IN_DIM,
    all_changed,
    assert_params_equal,
    make_loader,
    make_trainer,
    snapshot,
)

N_BATCHES = 4
EPOCHS = 2
MIXED = ["16-mixed", "bf16-mixed"]


def _finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def _adam_steps(optimizer) -> list[int]:
    return [
        int(optimizer.state[p]["step"])
        for g in optimizer.param_groups
        for p in g["params"]
        if p in optimizer.state
    ]


@pytest.mark.parametrize("precision", MIXED)
def test_backward_override(tmp_path, precision):
    model = guide.BackwardModel()
    before = snapshot(model)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))
    assert len(model.backward_losses) == N_BATCHES * EPOCHS
    assert all_changed(before, model) and _finite(model)
    assert trainer.global_step == N_BATCHES * EPOCHS
    if precision == "bf16-mixed":  # no scaling: the override gets the loss training_step returned
        assert all(torch.equal(a, b) for a, b in zip(model.backward_losses, model.step_losses))
    else:  # scaled: see tests/precision/test_grad_scaler.py for the exact factor
        assert all(a.abs() > b.abs() for a, b in zip(model.backward_losses, model.step_losses))


@pytest.mark.parametrize("precision", MIXED)
def test_minimal_manual_optimization(tmp_path, precision):
    model = guide.MyModel()
    before = snapshot(model)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=3)
    trainer.fit(model, make_loader(N_BATCHES))
    n = N_BATCHES * 3
    assert trainer.global_step == n
    steps = _adam_steps(model.optimizers().optimizer)
    if precision == "bf16-mixed":
        assert steps == [n, n]
    else:  # steps whose scaled gradients overflowed are skipped
        assert 0 < steps[0] <= n and steps[0] == steps[1]
    assert all_changed(before, model) and _finite(model)
    assert model.losses[-1] < model.losses[0]


@pytest.mark.parametrize("precision", MIXED)
def test_access_your_own_optimizer(tmp_path, precision):
    """``optimizer.optimizer.step()`` bypasses treadle's wrapper, yet 16-mixed still unscales
    (see test_grad_scaler.py for the bit-for-bit comparison with a plain AMP loop)."""
    model = guide.OwnOptimizerModel()
    before = snapshot(model)
    loader = make_loader(N_BATCHES)
    with torch.no_grad():
        initial = sum(F.mse_loss(model.layer(x), y).item() for x, y in loader)
    make_trainer(tmp_path, precision=precision, max_epochs=3).fit(model, loader)
    assert all(o is model.configured for o in model.seen)
    assert all_changed(before, model) and _finite(model)
    with torch.no_grad():
        assert sum(F.mse_loss(model.layer(x), y).item() for x, y in loader) < initial


@pytest.mark.parametrize("precision", MIXED)
def test_manual_gradient_accumulation_matches_plain_amp(tmp_path, precision):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    ref = copy.deepcopy(net)
    model = guide.AccumulateModel(net)
    loader = make_loader(N_BATCHES)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, loader)
    assert trainer.global_step == EPOCHS * N_BATCHES // guide.N

    dtype = torch.float16 if precision == "16-mixed" else torch.bfloat16
    scaler = torch.amp.GradScaler("cpu", enabled=dtype is torch.float16)
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for _ in range(EPOCHS):
        for i, (x, y) in enumerate(loader):
            with torch.autocast("cpu", dtype=dtype):
                loss = F.mse_loss(ref(x), y) / guide.N
            scaler.scale(loss).backward()
            if (i + 1) % guide.N == 0:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad()
    assert_params_equal(model.net, ref)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
@pytest.mark.parametrize("precision", MIXED)
def test_manual_gradient_clipping(tmp_path, precision, algorithm):
    model = guide.SimpleModel(algorithm)
    before = snapshot(model)
    # large targets: under 16-mixed the first steps overflow at the initial scale (2**16) and
    # are skipped until the scale has come down, so this runs more batches than the guide test
    n = 16
    make_trainer(tmp_path, precision=precision, max_epochs=1).fit(model, make_loader(n, scale=20.0))
    assert len(model.after_clip) == n
    finite = [v for v in model.after_clip if v == v and v != float("inf")]
    assert finite and all(v <= 0.5 + 1e-6 for v in finite), model.after_clip
    # on_before_optimizer_step (inside opt.step) sees the same, clipped, true gradients
    assert [repr(v) for v in model.at_optimizer_step] == [repr(v) for v in model.after_clip]
    assert all_changed(before, model) and _finite(model)


@pytest.mark.parametrize("precision", MIXED)
def test_simple_gan(tmp_path, precision):
    torch.manual_seed(0)
    model = guide.SimpleGAN()
    g_before, d_before = snapshot(model.G), snapshot(model.D)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))
    assert all_changed(g_before, model.G) and all_changed(d_before, model.D)
    assert _finite(model)
    n = N_BATCHES * EPOCHS
    assert trainer.global_step == n
    g_opt, d_opt = model.optimizers()
    for opt in (g_opt.optimizer, d_opt.optimizer):
        steps = _adam_steps(opt)
        assert steps == [n] * 4 if precision == "bf16-mixed" else 0 < min(steps) <= max(steps) <= n
    assert {"g_loss", "d_loss"} <= set(trainer.progress_bar_metrics)


@pytest.mark.parametrize("precision", MIXED)
def test_gan_toggle_untoggle_optimizer(tmp_path, precision):
    torch.manual_seed(0)
    model = guide.ToggledGAN()
    g_before, d_before = snapshot(model.G), snapshot(model.D)
    make_trainer(tmp_path, precision=precision, max_epochs=1).fit(model, make_loader(N_BATCHES))
    assert len(model.checks) == 3 * N_BATCHES and all(a and b for a, b in model.checks)
    assert all_changed(g_before, model.G) and all_changed(d_before, model.D) and _finite(model)


@pytest.mark.parametrize("precision", MIXED)
def test_optimizer_steps_at_different_frequencies(tmp_path, precision):
    torch.manual_seed(0)
    model = guide.AlternatingGAN()
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))
    n = N_BATCHES * EPOCHS
    g_opt, d_opt = model.optimizers()
    if precision == "bf16-mixed":
        assert _adam_steps(g_opt.optimizer) == [n] * 4
        assert _adam_steps(d_opt.optimizer) == [n // 2] * 4
    else:
        assert 0 < max(_adam_steps(g_opt.optimizer)) <= n
        assert max(_adam_steps(d_opt.optimizer) or [0]) <= n // 2
    assert trainer.global_step == n and _finite(model)


# torch warns when the first optimizer step was skipped (16-mixed, overflow at the initial
# scale) and the scheduler steps anyway: expected, see docs/precision.md
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
@pytest.mark.parametrize("precision", MIXED)
@pytest.mark.parametrize(
    "example, expected",
    [
        ("StepEveryBatch", [0.1 * 0.5**k for k in range(N_BATCHES * EPOCHS)]),
        ("StepEveryNBatches", [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]),
    ],
)
def test_manual_schedulers(tmp_path, precision, example, expected):
    """Schedulers step when the user says so, skipped fp16 steps or not."""
    model = getattr(guide, example)()
    make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS).fit(
        model, make_loader(N_BATCHES)
    )
    assert model.lrs == pytest.approx(expected)


@pytest.mark.parametrize("precision", MIXED)
def test_manual_reduce_lr_on_plateau(tmp_path, precision):
    model = guide.PlateauOnEpochEnd()
    make_trainer(tmp_path, precision=precision, max_epochs=4).fit(model, make_loader(N_BATCHES))
    assert len(model.monitored) == 4
    for got, losses in zip(model.monitored, model.epoch_losses):
        assert got == pytest.approx(sum(losses) / len(losses), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# LBFGS: refused under 16-mixed, accepted under bf16-mixed and 32-true
# ---------------------------------------------------------------------------------------------

LBFGS_REFUSAL = (
    "precision:16-mixed: `precision='16-mixed'` cannot step `LBFGS` (optimizer 0 of "
    "`configure_optimizers()`): its `step(closure)` re-evaluates the loss and gradients inside "
    "the step, where gradient scaling cannot unscale them, so it would run on scaled gradients. "
    "Use `precision='bf16-mixed'` or `precision='32-true'` with `LBFGS`, or an optimizer whose "
    "`step()` does not require a closure."
)


class CountingLBFGS(guide.LBFGSModel):
    def __init__(self):
        super().__init__()
        self.training_steps = 0

    def training_step(self, batch, batch_idx):
        self.training_steps += 1
        return super().training_step(batch, batch_idx)


def test_lbfgs_is_refused_under_16_mixed(tmp_path):
    model = CountingLBFGS()
    before = snapshot(model)
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=EPOCHS)
    with pytest.raises(treadle.ConfigurationError, match=re.escape(LBFGS_REFUSAL)) as info:
        trainer.fit(model, make_loader(N_BATCHES))
    assert info.value.problems == [LBFGS_REFUSAL]
    assert model.training_steps == 0 and model.closure_calls == 0
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert trainer.global_step == 0


def test_any_optimizer_whose_step_requires_a_closure_is_refused_under_16_mixed(tmp_path):
    class NeedsClosure(torch.optim.SGD):
        def step(self, closure):  # no default: like LBFGS
            return super().step(closure)

    class Model(guide.MyModel):
        def configure_optimizers(self):
            return [
                torch.optim.SGD(self.parameters(), lr=0.1),
                NeedsClosure(self.parameters(), lr=0.1),
            ]

    with pytest.raises(treadle.ConfigurationError) as info:
        make_trainer(tmp_path, precision="16-mixed").fit(Model(), make_loader(2))
    assert [p for p in info.value.problems if p.startswith("precision:16-mixed")] == [
        LBFGS_REFUSAL.replace("LBFGS", "NeedsClosure").replace("optimizer 0", "optimizer 1")
    ]


@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_lbfgs_is_accepted_and_converges(tmp_path, precision):
    torch.manual_seed(0)
    model = guide.LBFGSModel()
    ref = copy.deepcopy(model.layer)
    loader = make_loader(N_BATCHES)
    with torch.no_grad():
        initial = sum(F.mse_loss(model.layer(x), y).item() for x, y in loader) / N_BATCHES
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, loader)
    with torch.no_grad():
        final = sum(F.mse_loss(model.layer(x), y).item() for x, y in loader) / N_BATCHES
    assert model.closure_calls > N_BATCHES * EPOCHS
    assert final < 0.5 * initial
    assert trainer.global_step == N_BATCHES * EPOCHS

    # the same as LBFGS in plain PyTorch with autocast around the closure's forward, bit for
    # bit: every closure evaluation sees the weights LBFGS just changed (no stale autocast copy)
    opt = torch.optim.LBFGS(ref.parameters(), lr=0.5, max_iter=5)
    for _ in range(EPOCHS):
        for x, y in loader:

            def closure():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
                    loss = F.mse_loss(ref(x), y)  # noqa: B023 (opt.step calls it in this iteration)
                opt.zero_grad()
                loss.backward()
                return loss

            opt.step(closure)
    assert_params_equal(model.layer, ref)


def test_lbfgs_automatic_under_bf16_mixed_runs_the_closure_under_autocast(tmp_path):
    seen = []

    class AutoLBFGS(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(IN_DIM, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            out = self.layer(x)
            seen.append(out.dtype)
            return F.mse_loss(out, y)

        def configure_optimizers(self):
            return torch.optim.LBFGS(self.parameters(), lr=0.5, max_iter=5)

    make_trainer(tmp_path, precision="bf16-mixed", max_epochs=1).fit(AutoLBFGS(), make_loader(2))
    assert len(seen) > 2 and set(seen) == {torch.bfloat16}
