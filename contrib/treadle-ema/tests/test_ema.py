"""treadle-ema, tested as pip leaves it (``pip install -e contrib/treadle-ema``).

The averages are checked against an EMA computed by hand from the parameters recorded after
every optimizer step; validation is checked by logging from ``validation_step`` what the module's
weights were; checkpoints by comparing a resumed run with an uninterrupted one.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
import treadle_ema
import treadle_ema.plugin
from treadle_ema import EMA

IN_DIM = 3


def _loader(n_batches: int = 4, batch_size: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_batches * batch_size, IN_DIM, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(len(x), 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def _trainer(tmp_path, **kwargs) -> treadle.Trainer:
    defaults = dict(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    defaults.update(kwargs)
    return treadle.Trainer(**defaults)


def _params(module) -> dict:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


class Regressor(treadle.Module):
    """A small MLP that records its parameters after every optimizer step and in validation."""

    def __init__(self, seed: int = 0, lr: float = 0.1, fail_validation_at: int = -1):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(IN_DIM, 8), nn.Tanh(), nn.Linear(8, 1))
        self.lr = lr
        self.fail_validation_at = fail_validation_at
        self.initial = _params(self)
        self.after_step: list = []  # parameters after each batch that stepped
        self.seen_in_validation: list = []  # (global_step, parameters) per validation batch
        self.training_steps = 0
        self._last_step = 0

    def training_step(self, batch, batch_idx):
        self.training_steps += 1
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.trainer.global_step != self._last_step:
            self._last_step = self.trainer.global_step
            self.after_step.append(_params(self))

    def validation_step(self, batch, batch_idx):
        if len(self.seen_in_validation) == self.fail_validation_at:
            raise RuntimeError("validation failed on purpose")
        self.seen_in_validation.append((self.trainer.global_step, _params(self)))
        # A value that depends on the weights, logged as any user would.
        self.log("weight_sum", sum(p.sum() for p in self.parameters()))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


class TwoOptimizers(Regressor):
    """Manual optimization stepping two optimizers per batch, as the guide's GAN does."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt_a, opt_b = self.optimizers()
        for opt in (opt_a, opt_b):
            opt.zero_grad()
            self.manual_backward(F.mse_loss(self.net(x), y))
            opt.step()

    def configure_optimizers(self):
        return (
            torch.optim.SGD(self.net[0].parameters(), lr=self.lr),
            torch.optim.Adam(self.net[2].parameters(), lr=self.lr),
        )


def _hand_ema(initial: dict, snapshots: list, decay: float) -> dict:
    ema = {n: t.clone() for n, t in initial.items()}
    for snap in snapshots:
        ema = {n: decay * ema[n] + (1 - decay) * snap[n] for n in ema}
    return ema


def _assert_close(got: dict, want: dict, atol: float = 1e-6) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=atol, msg=name)


# ---------------------------------------------------------------------------------------------
# Discovery and opt-in
# ---------------------------------------------------------------------------------------------


def test_entry_point_is_declared_by_the_distribution():
    (ep,) = [ep for ep in entry_points(group="treadle") if ep.name == "ema"]
    assert ep.value == "treadle_ema.plugin"
    assert ep.dist.metadata["Name"] == "treadle-ema"
    assert ep.load() is treadle_ema.plugin


@pytest.mark.skipif(
    importlib.util.find_spec("treadle.cli") is None,
    reason="treadle has no command line (treadle.cli) yet",
)
def test_treadle_plugins_lists_it():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "treadle", "plugins", "-v"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "treadle_ema.plugin" in proc.stdout and "treadle-ema" in proc.stdout, proc.stdout


def test_trainer_loads_the_entry_point(tmp_path, monkeypatch):
    monkeypatch.delenv("TREADLE_EMA_DECAY", raising=False)
    trainer = _trainer(tmp_path)
    pm = trainer.plugin_manager
    assert pm.get_plugin("ema") is treadle_ema.plugin
    assert pm.distributions["ema"] == ("treadle-ema", treadle_ema.__version__)
    # Installed but not asked for: no EMA in the run.
    assert not any(isinstance(cb, EMA) for cb in trainer.callbacks)


def test_environment_variable_turns_ema_on_for_every_trainer(tmp_path, monkeypatch):
    monkeypatch.setenv("TREADLE_EMA_DECAY", "0.9")
    (ema,) = [cb for cb in _trainer(tmp_path).callbacks if isinstance(cb, EMA)]
    assert ema.decay == 0.9
    # The run's own EMA wins; it is not doubled.
    mine = EMA(decay=0.5)
    emas = [cb for cb in _trainer(tmp_path, callbacks=[mine]).callbacks if isinstance(cb, EMA)]
    assert emas == [mine]


def test_environment_ema_trains(treadle_fit, monkeypatch):
    # treadle_fit: a quiet CPU fit() from treadle's kit for plugin tests (treadle.testing).
    monkeypatch.setenv("TREADLE_EMA_DECAY", "0.8")
    run = treadle_fit(model=Regressor(), train_dataloaders=_loader(), max_epochs=2)
    (ema,) = [cb for cb in run.trainer.callbacks if isinstance(cb, EMA)]
    _assert_close(ema.shadow, _hand_ema(run.model.initial, run.model.after_step, 0.8))


def test_ema_swaps_the_weights_around_each_validation_and_updates_after_each_batch(treadle_fit):
    ema = EMA(decay=0.5)
    run = treadle_fit(
        callbacks=[ema],
        model=Regressor(),
        train_dataloaders=_loader(n_batches=2),
        val_dataloaders=_loader(n_batches=1, seed=1),
        max_epochs=2,
    )
    name = run.name_of(ema)
    per_epoch = ["on_train_batch_end"] * 2 + ["on_validation_start", "on_validation_end"]
    assert run.hooks.implemented_by(name) == ["on_fit_start", *per_epoch, *per_epoch]
    # The averaged weights were in the module during validation only.
    _, seen = run.model.seen_in_validation[-1]
    _assert_close(seen, ema.shadow)
    assert not torch.equal(run.model.net[0].weight, ema.shadow["net.0.weight"])


@pytest.mark.parametrize(
    "env", [{"TREADLE_BLOCK_PLUGINS": "ema"}, {"TREADLE_DISABLE_PLUGIN_AUTOLOAD": "1"}]
)
def test_blocking_the_plugin_ignores_the_environment_variable(tmp_path, monkeypatch, env):
    monkeypatch.setenv("TREADLE_EMA_DECAY", "0.9")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    trainer = _trainer(tmp_path)
    assert trainer.plugin_manager.get_plugin("ema") is None
    assert not any(isinstance(cb, EMA) for cb in trainer.callbacks)


@pytest.mark.parametrize("raw", ["0.999x", "1.0", "-0.1", "nan"])
def test_invalid_environment_decay_is_a_configuration_error(tmp_path, monkeypatch, raw):
    monkeypatch.setenv("TREADLE_EMA_DECAY", raw)
    model = Regressor()
    with pytest.raises(treadle.ConfigurationError) as info:
        _trainer(tmp_path).fit(model, _loader())
    assert model.training_steps == 0
    assert info.value.problems == [
        f"ema: `TREADLE_EMA_DECAY={raw}` is not a decay in [0, 1). Set it to a value such as "
        f"`TREADLE_EMA_DECAY=0.999`, or unset it to train without EMA."
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"decay": 1.0},
            "EMA(decay=1.0): decay must be a number in [0, 1), e.g. EMA(decay=0.999).",
        ),
        (
            {"decay": "0.9"},
            "EMA(decay='0.9'): decay must be a number in [0, 1), e.g. EMA(decay=0.999).",
        ),
        ({"every_n_steps": 0}, "EMA(every_n_steps=0): must be an int >= 1."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EMA(**kwargs)


def _deepspeed_config(**kwargs):
    from treadle_plugins.strategies.deepspeed import DeepSpeedConfig

    return DeepSpeedConfig(**kwargs)


SHARDED = {  # ZeRO stage 3, however it is asked for
    "deepspeed_stage_3": lambda: dict(strategy="deepspeed_stage_3"),
    "deepspeed_stage_3_offload": lambda: dict(strategy="deepspeed_stage_3_offload"),
    "DeepSpeedConfig(stage=3)": lambda: dict(
        strategy="deepspeed", plugins=[_deepspeed_config(stage=3)]
    ),
    "config stage 3": lambda: dict(
        strategy="deepspeed",
        plugins=[_deepspeed_config(config={"zero_optimization": {"stage": 3}})],
    ),
}


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs deepspeed")
@pytest.mark.parametrize("how", list(SHARDED))
def test_a_strategy_that_shards_parameters_is_refused_before_training(tmp_path, how):
    """The EMA asks `trainer.strategy.shards_parameters`; it used to match the name
    'deepspeed_stage_3' only, and let the offload variant and a stage-3 config through."""
    model, ema = Regressor(), EMA(decay=0.9)
    trainer = _trainer(tmp_path, accelerator="cpu", callbacks=[ema], **SHARDED[how]())
    assert trainer.strategy.shards_parameters is True
    name = trainer.strategy.name
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            f"EMA(decay=0.9, every_n_steps=1, validate_with_ema=True) cannot average parameters "
            f"that `strategy={name!r}` shards across ranks (a local average would be of "
            f"shards). Use a strategy that keeps whole parameters on every rank (e.g. "
            f"'deepspeed_stage_2' or 'ddp'), or remove the EMA callback (and unset "
            f"TREADLE_EMA_DECAY)."
        ),
    ):
        trainer.fit(model, _loader())
    assert model.after_step == [] and ema.shadow is None


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs deepspeed")
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(strategy="deepspeed_stage_2"),
        dict(strategy="deepspeed_stage_2_offload"),
        dict(strategy="single_device"),
    ],
    ids=lambda kw: kw["strategy"],
)
def test_a_strategy_that_keeps_whole_parameters_is_accepted(tmp_path, kwargs):
    trainer = _trainer(tmp_path, accelerator="cpu", **kwargs)
    assert trainer.strategy.shards_parameters is False
    assert EMA(decay=0.9).validate(trainer, None) == []


# ---------------------------------------------------------------------------------------------
# The average
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["callbacks", "plugins"])
def test_ema_equals_hand_computed_average(tmp_path, how):
    model, ema = Regressor(), EMA(decay=0.9)
    _trainer(tmp_path, max_epochs=3, **{how: [ema]}).fit(model, _loader())
    assert len(model.after_step) == 12 and ema.num_updates == 12
    _assert_close(ema.shadow, _hand_ema(model.initial, model.after_step, 0.9))
    # The average really lags behind the trained weights.
    assert not torch.allclose(ema.shadow["net.0.weight"], model.net[0].weight)


def test_ema_updates_only_when_an_optimizer_stepped(tmp_path):
    model, ema = Regressor(), EMA(decay=0.7)
    _trainer(tmp_path, max_epochs=2, accumulate_grad_batches=2, callbacks=[ema]).fit(
        model, _loader(n_batches=4)
    )
    assert len(model.after_step) == 4 and ema.num_updates == 4  # 8 batches, 4 steps
    _assert_close(ema.shadow, _hand_ema(model.initial, model.after_step, 0.7))


def test_every_n_steps(tmp_path):
    model, ema = Regressor(), EMA(decay=0.7, every_n_steps=3)
    _trainer(tmp_path, max_epochs=2, callbacks=[ema]).fit(model, _loader(n_batches=4))
    assert ema.num_updates == 2  # steps 3 and 6 of 8
    _assert_close(ema.shadow, _hand_ema(model.initial, model.after_step[2::3], 0.7))


def test_manual_optimization_with_two_optimizers_updates_once_per_batch(tmp_path):
    model, ema = TwoOptimizers(), EMA(decay=0.8)
    _trainer(tmp_path, max_epochs=2, callbacks=[ema]).fit(model, _loader())
    assert len(model.after_step) == 8 and ema.num_updates == 8
    _assert_close(ema.shadow, _hand_ema(model.initial, model.after_step, 0.8))


def test_low_precision_parameters_are_averaged_in_float32(tmp_path):
    model, ema = Regressor(), EMA(decay=0.9)
    model.to(torch.bfloat16)
    model.initial = _params(model)
    loader = DataLoader(
        TensorDataset(*(t.to(torch.bfloat16) for t in _loader().dataset.tensors)), batch_size=8
    )
    _trainer(tmp_path, callbacks=[ema]).fit(model, loader)
    assert {t.dtype for t in ema.shadow.values()} == {torch.float32}
    want = _hand_ema(
        {n: t.float() for n, t in model.initial.items()},
        [{n: t.float() for n, t in s.items()} for s in model.after_step],
        0.9,
    )
    _assert_close(ema.shadow, want, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def test_validation_sees_ema_weights_and_training_resumes_with_its_own(tmp_path):
    model, ema = Regressor(), EMA(decay=0.9)
    trainer = _trainer(
        tmp_path, max_epochs=3, num_sanity_val_steps=1, val_check_interval=2, callbacks=[ema]
    )
    trainer.fit(model, _loader(), _loader(n_batches=2, seed=1))

    # sanity check at step 0, then every 2 batches: steps 2, 4, ..., 12, two batches each
    steps = [step for step, _ in model.seen_in_validation]
    assert steps == [0] + [s for s in range(2, 13, 2) for _ in range(2)]
    for step, seen in model.seen_in_validation:
        _assert_close(seen, _hand_ema(model.initial, model.after_step[:step], 0.9))
    # what validation_step logged is computed from the averaged weights
    want = sum(t.sum() for t in _hand_ema(model.initial, model.after_step, 0.9).values())
    assert math.isclose(float(trainer.callback_metrics["weight_sum"]), float(want), abs_tol=1e-5)
    # after fit the module holds the trained weights, not the average
    _assert_close(_params(model), model.after_step[-1], atol=0)


def test_ema_does_not_change_training(tmp_path):
    """Swapping in and out must leave training bit for bit as without the callback."""
    results = []
    for callbacks in ([], [EMA(decay=0.9)]):
        model = Regressor()
        _trainer(tmp_path, max_epochs=3, val_check_interval=1, callbacks=callbacks).fit(
            model, _loader(), _loader(n_batches=1, seed=1)
        )
        results.append(_params(model))
    for name in results[0]:
        assert torch.equal(results[0][name], results[1][name]), name


def test_validate_with_ema_false_keeps_the_average_only(tmp_path):
    model, ema = Regressor(), EMA(decay=0.9, validate_with_ema=False)
    _trainer(tmp_path, callbacks=[ema]).fit(model, _loader(), _loader(n_batches=1, seed=1))
    step, seen = model.seen_in_validation[-1]
    _assert_close(seen, model.after_step[-1], atol=0)
    _assert_close(ema.shadow, _hand_ema(model.initial, model.after_step, 0.9))


def test_training_weights_restored_when_validation_fails(tmp_path):
    model, ema = Regressor(fail_validation_at=1), EMA(decay=0.9)
    with pytest.raises(RuntimeError, match="validation failed on purpose"):
        _trainer(tmp_path, callbacks=[ema]).fit(model, _loader(), _loader(n_batches=2, seed=1))
    _assert_close(_params(model), model.after_step[-1], atol=0)


def test_copy_to_writes_the_average_into_a_module(tmp_path):
    model, ema = Regressor(), EMA(decay=0.9)
    _trainer(tmp_path, callbacks=[ema]).fit(model, _loader())
    export = Regressor(seed=1)
    ema.copy_to(export)
    _assert_close(_params(export), ema.shadow, atol=0)
    with pytest.raises(RuntimeError, match=re.escape("EMA.copy_to(): no average yet")):
        EMA().copy_to(export)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def test_state_survives_a_checkpoint_round_trip(tmp_path):
    val = _loader(n_batches=1, seed=1)
    # Uninterrupted: 4 epochs.
    full_model, full_ema = Regressor(), EMA(decay=0.9)
    _trainer(tmp_path, max_epochs=4, callbacks=[full_ema]).fit(full_model, _loader(), val)

    # Interrupted after 2 epochs, then resumed by a new Trainer, EMA and module.
    first_model, first_ema = Regressor(), EMA(decay=0.9)
    first = _trainer(tmp_path, max_epochs=2, callbacks=[first_ema])
    first.fit(first_model, _loader(), val)
    path = tmp_path / "half.ckpt"
    first.save_checkpoint(path)

    saved = torch.load(path, weights_only=True)
    assert saved[treadle_ema.CHECKPOINT_KEY]["num_updates"] == 8
    assert saved[treadle_ema.CHECKPOINT_KEY]["decay"] == 0.9
    _assert_close(saved[treadle_ema.CHECKPOINT_KEY]["shadow"], first_ema.shadow, atol=0)
    _assert_close(saved["state_dict"], first_model.after_step[-1], atol=0)

    resumed_model, resumed_ema = Regressor(seed=123), EMA(decay=0.9)
    _trainer(tmp_path, max_epochs=4, callbacks=[resumed_ema]).fit(
        resumed_model, _loader(), val, ckpt_path=path
    )
    assert resumed_ema.num_updates == full_ema.num_updates == 16
    _assert_close(resumed_ema.shadow, full_ema.shadow)
    # and the resumed run validated with the same average as the uninterrupted one
    _assert_close(resumed_model.seen_in_validation[-1][1], full_model.seen_in_validation[-1][1])


def test_validate_from_checkpoint_uses_the_saved_average(tmp_path):
    model, ema = Regressor(), EMA(decay=0.9)
    trainer = _trainer(tmp_path, callbacks=[ema])
    trainer.fit(model, _loader())
    path = tmp_path / "done.ckpt"
    trainer.save_checkpoint(path)

    fresh = Regressor(seed=7)
    _trainer(tmp_path, callbacks=[EMA(decay=0.9)]).validate(
        fresh, _loader(n_batches=1, seed=1), ckpt_path=path
    )
    _assert_close(fresh.seen_in_validation[0][1], ema.shadow)
    _assert_close(_params(fresh), _params(model), atol=0)  # the training weights are back


def test_checkpoint_written_during_validation_holds_the_training_weights(tmp_path):
    path = tmp_path / "mid.ckpt"

    class SavesInValidation(Regressor):
        def validation_step(self, batch, batch_idx):
            super().validation_step(batch, batch_idx)
            self.trainer.save_checkpoint(path)

    model, ema = SavesInValidation(), EMA(decay=0.9)
    _trainer(tmp_path, max_epochs=1, callbacks=[ema]).fit(
        model, _loader(), _loader(n_batches=1, seed=1)
    )
    saved = torch.load(path, weights_only=True)
    _assert_close(saved["state_dict"], model.after_step[-1], atol=0)
    _assert_close(saved[treadle_ema.CHECKPOINT_KEY]["shadow"], ema.shadow, atol=0)


def test_checkpoint_without_ema_starts_the_average_from_its_weights(tmp_path):
    model = Regressor()
    plain = _trainer(tmp_path, max_epochs=1)
    plain.fit(model, _loader())
    path = tmp_path / "plain.ckpt"
    plain.save_checkpoint(path)

    resumed, ema = Regressor(seed=5), EMA(decay=0.9)
    resumed.initial = None
    _trainer(tmp_path, max_epochs=2, callbacks=[ema]).fit(resumed, _loader(), ckpt_path=path)
    assert ema.num_updates == 4
    _assert_close(ema.shadow, _hand_ema(_params(model), resumed.after_step, 0.9))
