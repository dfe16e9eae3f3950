"""The documented order of hook calls and of implementations (docs/hooks.md), pinned exactly."""

from __future__ import annotations

import pluggy
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle import Provider, _callers, hookimpl
from treadle.testing import record_hooks

# One whole fit: sanity check (1 batch), 1 epoch of 2 training batches, validation (1 batch).
FIT_SEQUENCE = """
setup
setup_environment
convert_module
setup_module
on_fit_start
on_sanity_check_start
setup_dataloader
on_validation_model_eval
on_validation_start
on_validation_epoch_start
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_validation_batch_start
run_validation_step
on_validation_batch_end
on_validation_epoch_end
on_validation_end
on_validation_model_train
on_sanity_check_end
setup_dataloader
on_train_start
on_train_epoch_start
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_train_batch_start
optimizer_step
  on_before_zero_grad
  optimizer_zero_grad
  run_training_step
  on_before_backward
  scale_loss
  backward
  on_after_backward
  on_before_optimizer_step
  configure_gradient_clipping
on_train_batch_end
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_train_batch_start
optimizer_step
  on_before_zero_grad
  optimizer_zero_grad
  run_training_step
  on_before_backward
  scale_loss
  backward
  on_after_backward
  on_before_optimizer_step
  configure_gradient_clipping
on_train_batch_end
on_validation_model_zero_grad
on_validation_model_eval
on_validation_start
on_validation_epoch_start
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_validation_batch_start
run_validation_step
on_validation_batch_end
on_validation_epoch_end
on_validation_end
on_validation_model_train
on_train_epoch_end
on_train_end
on_fit_end
teardown
""".strip().splitlines()

# Manual optimization: the user's opt.step() runs the closure inside optimizer_step, clip_gradients
# is the user's call, and nothing zeroes gradients for them.
MANUAL_BATCH = """
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_train_batch_start
run_training_step
  on_before_backward
  scale_loss
  backward
  on_after_backward
  clip_gradients
  optimizer_step
    on_before_optimizer_step
on_train_batch_end
""".strip().splitlines()


# One test() and one predict(), each over one batch: as Lightning 2 orders them
# (tests/_lightning_hook_order.py; tests/test_lightning_hook_order.py checks the docs' blocks).
TEST_SEQUENCE = """
setup
setup_environment
convert_module
setup_module
setup_dataloader
on_test_model_eval
on_test_start
on_test_epoch_start
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_test_batch_start
run_test_step
on_test_batch_end
on_test_epoch_end
on_test_end
on_test_model_train
teardown
""".strip().splitlines()

PREDICT_SEQUENCE = """
setup
setup_environment
convert_module
setup_module
setup_dataloader
on_predict_model_eval
on_predict_start
on_predict_epoch_start
on_before_batch_transfer
transfer_batch_to_device
on_after_batch_transfer
on_predict_batch_start
run_predict_step
on_predict_batch_end
on_predict_epoch_end
on_predict_end
teardown
""".strip().splitlines()


def _data(n=8):
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=4
    )


class Auto(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def forward(self, batch):
        return self.layer(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Manual(Auto):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss = super().training_step(batch, batch_idx)
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=1.0, gradient_clip_algorithm="norm")
        opt.step()


def _trainer(**kw):
    defaults = dict(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    return treadle.Trainer(**{**defaults, **kw})


def _traced(trainer, run):
    """The hook calls of ``run()``, recorded by treadle's kit on the callers the run uses (the
    normal path); two spaces of indent per nesting level."""
    recorder = record_hooks(trainer)
    run()
    return ["  " * call.depth + call.name for call in recorder.calls]


def _traced_fit(trainer, model, val=True):
    return _traced(trainer, lambda: trainer.fit(model, _data(), _data() if val else None))


def test_fit_calls_hooks_in_the_documented_order():
    assert _traced_fit(_trainer(), Auto()) == FIT_SEQUENCE


def test_test_calls_hooks_in_the_documented_order():
    trainer = _trainer(limit_test_batches=1)
    assert _traced(trainer, lambda: trainer.test(Auto(), _data())) == TEST_SEQUENCE


def test_predict_calls_hooks_in_the_documented_order():
    trainer = _trainer(limit_predict_batches=1)
    assert _traced(trainer, lambda: trainer.predict(Auto(), _data())) == PREDICT_SEQUENCE


@pytest.mark.parametrize("fn", ["fit", "test", "predict"])
def test_the_traced_order_is_the_order_of_the_generated_callers(fn, monkeypatch):
    """Tracing wraps the callers the untraced run uses (``treadle._callers.fast_caller``'s
    generated functions), so the sequences above are those of the path that normally runs,
    not of pluggy's own ``HookCaller``."""
    resolved = {}
    real = _callers.fast_caller

    def spy(hook_caller):
        caller = real(hook_caller)
        resolved[hook_caller.name] = caller
        return caller

    monkeypatch.setattr(_callers, "fast_caller", spy)
    trainer = _trainer(limit_test_batches=1, limit_predict_batches=1)
    runs = {
        "fit": lambda: trainer.fit(Auto(), _data(), _data()),
        "test": lambda: trainer.test(Auto(), _data()),
        "predict": lambda: trainer.predict(Auto(), _data()),
    }
    calls = {name.strip() for name in _traced(trainer, runs[fn])}
    expected = {"fit": FIT_SEQUENCE, "test": TEST_SEQUENCE, "predict": PREDICT_SEQUENCE}[fn]
    assert calls == {name.strip() for name in expected}
    assert calls <= set(resolved)
    assert not [n for n in calls if isinstance(resolved[n], pluggy.HookCaller)]


def test_manual_optimization_batch_order():
    calls = _traced_fit(
        _trainer(limit_train_batches=1, num_sanity_val_steps=0), Manual(), val=False
    )
    start = calls.index("on_train_epoch_start") + 1
    assert calls[start : start + len(MANUAL_BATCH)] == MANUAL_BATCH


def test_hook_order_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "hooks.md").read_text()
    assert "\n".join(FIT_SEQUENCE) in doc
    assert "\n".join(MANUAL_BATCH) in doc
    assert f"```\n{chr(10).join(TEST_SEQUENCE)}\n```" in doc
    assert f"```\n{chr(10).join(PREDICT_SEQUENCE)}\n```" in doc


# -- order of implementations within one hook --------------------------------------------------


_BASES = {
    "accelerator": treadle.kinds.AcceleratorBase,
    "precision": treadle.kinds.PrecisionBase,
    "strategy": treadle.kinds.StrategyBase,
}


def _recording_kind(kind, name, log):
    class Recorder(_BASES[kind]):
        device_type = "cpu"

        def __init__(self, trainer):
            self.name = name
            self.root_device = torch.device("cpu")
            self.world_size, self.global_rank, self.local_rank = 1, 0, 0

        @hookimpl
        def on_train_start(self):
            log.append(kind)

        @hookimpl
        def backward(self, loss):
            log.append(f"{kind}.backward")
            loss.backward()
            return True

    return Recorder


def _providers(log):
    class Providers:
        @hookimpl
        def provide_accelerators(self):
            return [Provider("accelerator", "rec", _recording_kind("accelerator", "rec", log))]

        @hookimpl
        def provide_precisions(self):
            return [Provider("precision", "rec", _recording_kind("precision", "rec", log))]

        @hookimpl
        def provide_strategies(self):
            return [Provider("strategy", "rec", _recording_kind("strategy", "rec", log))]

    return Providers()


def test_implementations_run_callbacks_plugins_module_strategy_precision_accelerator():
    log = []

    class CB(treadle.Callback):
        def __init__(self, tag):
            self.tag = tag

        def on_train_start(self, trainer, pl_module):
            log.append(self.tag)

    class Plugin:
        @hookimpl
        def on_train_start(self, trainer):
            log.append("plugin")

    class Model(Auto):
        def on_train_start(self):
            log.append("module")

    trainer = _trainer(
        accelerator="rec",
        precision="rec",
        strategy="rec",
        num_sanity_val_steps=0,
        callbacks=[CB("callback1"), CB("callback2")],
        plugins=[_providers(log), Plugin()],
    )
    trainer.fit(Model(), _data())
    # plugins=[...] are registered before callbacks=[...] (DESIGN.md, step 2)
    assert log[:7] == [
        "plugin",
        "callback1",
        "callback2",
        "module",
        "strategy",
        "precision",
        "accelerator",
    ]


def test_callbacks_and_plugins_keep_their_order_in_every_run_of_a_trainer():
    """fit, then validate and test on the same Trainer: each run calls the callbacks in the
    order given, after the plugins (arrange once flipped them at every second run)."""
    log = []

    class CB(treadle.Callback):
        def __init__(self, tag):
            self.tag = tag

        def setup(self, trainer, pl_module, stage):
            log.append((stage, self.tag))

    class Plugin:
        @hookimpl
        def setup(self, trainer, module, stage):
            log.append((stage, "plugin"))

    trainer = _trainer(
        num_sanity_val_steps=0,
        callbacks=[CB("first"), CB("second"), CB("third")],
        plugins=[Plugin()],
    )
    model = Auto()
    trainer.fit(model, _data())
    trainer.validate(model, _data(), verbose=False)
    trainer.test(model, _data(), verbose=False)
    trainer.validate(model, _data(), verbose=False)
    order = ["plugin", "first", "second", "third"]
    stages = ["fit", "validate", "test", "validate"]
    assert log == [(stage, tag) for stage in stages for tag in order]


def test_order_holds_when_the_selected_plugins_were_registered_out_of_order():
    """fit() leaves the selected plugins in place only when they already are in order."""
    log = []

    class Model(Auto):
        def on_train_start(self):
            log.append("module")

    trainer = _trainer(
        accelerator="rec",
        precision="rec",
        strategy="rec",
        num_sanity_val_steps=0,
        limit_train_batches=1,
        plugins=[_providers(log)],
    )
    pm = trainer.plugin_manager
    accelerator = pm.selected["accelerator"]
    name = pm.get_name(accelerator)
    pm.unregister(accelerator)
    pm.register(accelerator, name=name)  # now registered after the strategy: called first
    trainer.fit(Model(), _data())
    assert log[:4] == ["module", "strategy", "precision", "accelerator"]
    log.clear()
    # A second fit on the same Trainer: the same order. Its epochs are done (as in Lightning, a
    # finished Trainer trains no more and calls no on_train_start), so rewind them first.
    trainer.current_epoch = 0
    trainer.fit(Model(), _data())
    assert log[:4] == ["module", "strategy", "precision", "accelerator"]


def test_module_backward_beats_the_strategy_and_the_core():
    log = []

    class Model(Auto):
        def backward(self, loss):
            log.append("module.backward")
            loss.backward()

    trainer = _trainer(
        accelerator="rec",
        precision="rec",
        strategy="rec",
        num_sanity_val_steps=0,
        limit_train_batches=1,
        plugins=[_providers(log)],
    )
    trainer.fit(Model(), _data())
    assert [x for x in log if x.endswith("backward")] == ["module.backward"]
    # Without the override, the strategy's implementation is first.
    log.clear()
    trainer = _trainer(
        accelerator="rec",
        precision="rec",
        strategy="rec",
        num_sanity_val_steps=0,
        limit_train_batches=1,
        plugins=[_providers(log)],
    )
    trainer.fit(Auto(), _data())
    assert [x for x in log if x.endswith("backward")] == ["strategy.backward"]


def test_fast_calls_match_pluggy_calls(monkeypatch):
    """The generated callers and pluggy's own produce the same calls and the same weights
    (whole runs of every kind: tests/test_fast_path_parity.py)."""

    def run(pluggy_callers):
        torch.manual_seed(0)
        seen = []

        class Model(Auto):
            def on_train_batch_end(self, outputs, batch, batch_idx):
                seen.append((batch_idx, float(outputs["loss"])))

            def on_before_optimizer_step(self, optimizer):
                seen.append("pre-step")

        if pluggy_callers:
            monkeypatch.setattr(_callers, "fast_caller", lambda hook_caller: hook_caller)
        trainer = _trainer(num_sanity_val_steps=0)
        model = Model()
        trainer.fit(model, _data())
        return seen, [p.detach().clone() for p in model.parameters()]

    fast, pluggy_path = run(False), run(True)
    assert fast[0] == pluggy_path[0]
    assert all(torch.equal(a, b) for a, b in zip(fast[1], pluggy_path[1]))
