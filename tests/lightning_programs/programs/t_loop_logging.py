# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_loop_logging.py
#   (test_default_level_for_hooks_that_support_logging; Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted. The test sets the
#   private `model._current_fx_name` and mocks the private `_ResultCollection.log` to read the
#   `on_step`/`on_epoch` defaults each hook gets; here each hook of Lightning 2.6.6's list (the
#   `*_step_end` hooks are gone from Lightning 2) logs its own name with `self.log(name, 1.0)`
#   and nothing else, during real fit/validate/test runs (2 batches, `log_every_n_steps=1`), and
#   a recording logger shows the default: a step-level value reaches `log_metrics` once per
#   step, an epoch-level one once per epoch (once per run for validate/test) and is in
#   `callback_metrics` with its epoch value.
#   The private `_FxValidator.functions` count at the end -> the hook lists below.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import Logger

TRAIN_STEP_HOOKS = [
    "on_before_backward",
    "backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "optimizer_step",
    "configure_gradient_clipping",
    "clip_gradients",
    "on_before_zero_grad",
    "optimizer_zero_grad",
    "training_step",
    "on_train_batch_start",
    "on_train_batch_end",
]
TRAIN_EPOCH_HOOKS = ["on_train_start", "on_train_epoch_start", "on_train_epoch_end"]
VAL_HOOKS = [
    "on_validation_start",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "validation_step",
]
TEST_HOOKS = [h.replace("validation", "test") for h in VAL_HOOKS]


class RecordingLogger(Logger):
    def __init__(self):
        super().__init__()
        self.calls = []

    @property
    def name(self):
        return "recording"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.calls.append(dict(metrics))

    def count(self, key):
        return sum(key in call for call in self.calls)


class LoggingModel(BoringModel):
    def _log_hook(self, hook):
        self.log(hook, 1.0)

    def training_step(self, batch, batch_idx):
        self._log_hook("training_step")
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self._log_hook("validation_step")
        return super().validation_step(batch, batch_idx)

    def test_step(self, batch, batch_idx):
        self._log_hook("test_step")
        return super().test_step(batch, batch_idx)

    def backward(self, loss, *args, **kwargs):
        self._log_hook("backward")
        return super().backward(loss, *args, **kwargs)

    def optimizer_step(self, *args, **kwargs):
        self._log_hook("optimizer_step")
        return super().optimizer_step(*args, **kwargs)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self._log_hook("configure_gradient_clipping")
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self._log_hook("clip_gradients")
        return super().clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def optimizer_zero_grad(self, *args, **kwargs):
        self._log_hook("optimizer_zero_grad")
        return super().optimizer_zero_grad(*args, **kwargs)


def _hook_method(hook):
    def method(self, *args, **kwargs):
        self._log_hook(hook)

    return method


for _hook in TRAIN_STEP_HOOKS + TRAIN_EPOCH_HOOKS + VAL_HOOKS + TEST_HOOKS:
    if _hook not in vars(LoggingModel):
        setattr(LoggingModel, _hook, _hook_method(_hook))


def test_default_level_for_hooks_that_support_logging(tmp_path):
    model = LoggingModel()
    logger = RecordingLogger()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=2,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model)
    # on_step=True, on_epoch=False: once per training step, not an epoch value
    for hook in TRAIN_STEP_HOOKS:
        assert logger.count(hook) == 2, (hook, logger.calls)
    # on_step=False, on_epoch=True: once, at the epoch's end
    for hook in TRAIN_EPOCH_HOOKS + VAL_HOOKS:
        assert logger.count(hook) == 1, (hook, logger.calls)
        assert hook in trainer.callback_metrics, hook
        assert torch.equal(trainer.callback_metrics[hook], torch.tensor(1.0)), hook

    logger.calls.clear()
    trainer.validate(model, verbose=False)
    for hook in VAL_HOOKS:
        assert logger.count(hook) == 1, (hook, logger.calls)
        assert hook in trainer.callback_metrics, hook

    logger.calls.clear()
    results = trainer.test(model, verbose=False)
    for hook in TEST_HOOKS:
        assert logger.count(hook) == 1, (hook, logger.calls)
        assert results[0][hook] == 1.0, hook

    # just to ensure we checked all possible logging hooks here
    assert len(TRAIN_STEP_HOOKS + TRAIN_EPOCH_HOOKS + VAL_HOOKS + TEST_HOOKS) == 27


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_default_level_for_hooks_that_support_logging(tmp)
    print("ok")
