# Source: https://lightning.ai/docs/pytorch/stable/common/hooks.html
#   (pytorch-lightning docs/source-pytorch/common/hooks.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's MyModel/MyCallback example run (prints captured and compared) and its
#   three hook-order diagrams (fit, test, predict) turned into one recording callback, a
#   recording BoringModel and an EarlyStopping subclass (a "monitoring" callback), each hook
#   appending its name; fit (1 epoch, 2 batches, 1 sanity batch), test and predict are run
#   and the recorded order asserted: callbacks first, in the order given, then the
#   LightningModule; `on_train_epoch_end` non-monitoring callbacks, module, then monitoring
#   callbacks. The Strategy column is left out (a strategy's own hooks are not public). Where
#   the page's diagram and Lightning 2.6.6 differ, Lightning's order is asserted: `setup` and
#   `teardown` are called on the LightningModule too (after the callbacks), `configure_model`
#   and `configure_optimizers` come between `setup` and `on_fit_start`, and validation
#   during training runs after `on_train_batch_end` of the epoch's last batch, before
#   `on_train_epoch_end`. Where `on_before_zero_grad` falls relative to `training_step` is in
#   doc_hooks_differences.py (the diagram puts it before, Lightning 2.6.6 after).
import contextlib
import io

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.demos.boring_classes import BoringModel

# --- The page's example: callbacks' hooks run before the LightningModule's. ---


class MyModel(BoringModel):
    def on_train_start(self):
        print("Model: Training is starting!")


class MyCallback(Callback):
    def on_train_start(self, trainer, pl_module):
        print("Callback: Training is starting!")


model = MyModel()
callback = MyCallback()
trainer = Trainer(callbacks=[callback], logger=False, max_epochs=1, limit_train_batches=2, limit_val_batches=1, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    trainer.fit(model)
lines = [line for line in out.getvalue().splitlines() if "Training is starting" in line]
assert lines == ["Callback: Training is starting!", "Model: Training is starting!"], lines

# --- The diagrams: every hook records "<who>:<hook>". ---

CALLS: list = []

HOOKS = [
    "setup", "teardown", "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end",
    "on_train_start", "on_train_end", "on_train_epoch_start", "on_train_epoch_end",
    "on_train_batch_start", "on_train_batch_end", "on_validation_start", "on_validation_end",
    "on_validation_epoch_start", "on_validation_epoch_end", "on_validation_batch_start",
    "on_validation_batch_end", "on_test_start", "on_test_end", "on_test_epoch_start",
    "on_test_epoch_end", "on_test_batch_start", "on_test_batch_end", "on_predict_start",
    "on_predict_end", "on_predict_epoch_start", "on_predict_epoch_end", "on_predict_batch_start",
    "on_predict_batch_end", "on_before_zero_grad", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step",
]  # fmt: skip


def recorder(who, name, base):
    def hook(self, *args, **kwargs):
        CALLS.append(f"{who}:{name}")
        return getattr(base, name)(self, *args, **kwargs)

    return hook


class RecordingModel(BoringModel):
    def configure_model(self):
        CALLS.append("model:configure_model")

    def configure_optimizers(self):
        CALLS.append("model:configure_optimizers")
        return super().configure_optimizers()

    def training_step(self, batch, batch_idx):
        CALLS.append("model:training_step")
        return super().training_step(batch, batch_idx)

    def optimizer_step(self, *args, **kwargs):
        CALLS.append("model:optimizer_step")
        return super().optimizer_step(*args, **kwargs)


class First(Callback):
    pass


class Second(Callback):
    pass


class Monitoring(EarlyStopping):
    pass


for name in HOOKS:
    setattr(RecordingModel, name, recorder("model", name, BoringModel))
    setattr(First, name, recorder("first", name, Callback))
    setattr(Second, name, recorder("second", name, Callback))
setattr(Monitoring, "on_train_epoch_end", recorder("monitor", "on_train_epoch_end", EarlyStopping))
setattr(Monitoring, "on_validation_end", recorder("monitor", "on_validation_end", EarlyStopping))

model = RecordingModel()
trainer = Trainer(
    callbacks=[First(), Monitoring(monitor="train_loss_never_logged", check_on_train_epoch_end=False, strict=False), Second()],
    logger=False,
    max_epochs=1,
    limit_train_batches=2,
    limit_val_batches=1,
    limit_test_batches=1,
    limit_predict_batches=1,
    num_sanity_val_steps=1,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
)


def diff(got, want):
    i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"first difference at {i}: got {got[i : i + 4]}, expected {want[i : i + 4]}"


def each(hook, *whos):
    return [f"{who}:{hook}" for who in whos]


CBM = ("first", "second", "model")  # callbacks in the order given, then the LightningModule


def validation():
    calls = each("on_validation_start", *CBM) + each("on_validation_epoch_start", *CBM)
    calls += each("on_validation_batch_start", *CBM) + each("on_validation_batch_end", *CBM)
    calls += each("on_validation_epoch_end", *CBM)
    # every callback's hook is called, the monitoring one included (in the sanity check too)
    return calls + each("on_validation_end", "first", "monitor", "second", "model")


def train_batch():
    calls = each("on_train_batch_start", *CBM) + ["model:optimizer_step", "model:training_step"]
    calls += each("on_before_zero_grad", *CBM) + each("on_before_backward", *CBM)
    calls += each("on_after_backward", *CBM) + each("on_before_optimizer_step", *CBM)
    return calls + each("on_train_batch_end", *CBM)


CALLS.clear()
trainer.fit(model)
expected_fit = (
    each("setup", *CBM)
    + ["model:configure_model", "model:configure_optimizers"]
    + each("on_fit_start", *CBM)
    + each("on_sanity_check_start", *CBM[:2])
    + validation()  # the sanity check
    + each("on_sanity_check_end", *CBM[:2])
    + each("on_train_start", *CBM)
    + each("on_train_epoch_start", *CBM)
    + train_batch()
    + train_batch()
    + validation()  # validation during training, after the last batch
    + each("on_train_epoch_end", "first", "second", "model", "monitor")  # the special case
    + each("on_train_end", *CBM)
    + each("on_fit_end", *CBM)
    + each("teardown", *CBM)
)
# The optimizer closure: optimizer_step runs training_step, zero_grad and backward inside it.
# Where on_before_zero_grad falls is doc_hooks_differences.py; here only the others' order.
fit_calls = [c for c in CALLS if not c.endswith("on_before_zero_grad")]
fit_expected = [c for c in expected_fit if not c.endswith("on_before_zero_grad")]
assert fit_calls == fit_expected, diff(fit_calls, fit_expected)
assert CALLS.count("first:on_before_zero_grad") == 2
assert CALLS.count("model:on_before_zero_grad") == 2
zero = [c for c in CALLS if c.endswith("on_before_zero_grad")]
assert zero == each("on_before_zero_grad", *CBM) * 2, zero  # callbacks first there too

# Sanity check: on_sanity_check_* go to callbacks only (the LightningModule has no such hook).
assert not hasattr(BoringModel, "on_sanity_check_start")

CALLS.clear()
trainer.test(model, verbose=False)
expected_test = (
    each("setup", *CBM)
    + ["model:configure_model"]
    + each("on_test_start", *CBM)
    + each("on_test_epoch_start", *CBM)
    + each("on_test_batch_start", *CBM)
    + each("on_test_batch_end", *CBM)
    + each("on_test_epoch_end", *CBM)
    + each("on_test_end", *CBM)
    + each("teardown", *CBM)
)
assert CALLS == expected_test, diff(CALLS, expected_test)

CALLS.clear()
trainer.predict(model)
expected_predict = (
    each("setup", *CBM)
    + ["model:configure_model"]
    + each("on_predict_start", *CBM)
    + each("on_predict_epoch_start", *CBM)
    + each("on_predict_batch_start", *CBM)
    + each("on_predict_batch_end", *CBM)
    + each("on_predict_epoch_end", *CBM)
    + each("on_predict_end", *CBM)
    + each("teardown", *CBM)
)
assert CALLS == expected_predict, diff(CALLS, expected_predict)
print("hooks: the fit, test and predict orders are the page's (with Lightning's corrections)")
