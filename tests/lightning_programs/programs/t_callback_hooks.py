# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_callback_hooks.py
#   (test_train_step_no_return, both values of single_cb)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; the parametrize ->
#   a loop; tmp_path -> a tempfile dir; a list of the hooks that ran, checked after fit (so that
#   the asserts in the hooks cannot be skipped unseen). Left out:
#   test_on_before_optimizer_setup_is_called_in_correct_order (the `on_before_optimizer_setup`
#   hook is newer than Lightning 2.6.6, which never calls it).
import tempfile

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_train_step_no_return(tmp_path, single_cb: bool):
    """Tests that only training_step can be used."""
    seen = []

    class CB(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, *_):
            assert "loss" in outputs
            seen.append("cb_train")

        def on_validation_batch_end(self, trainer, pl_module, outputs, *_):
            assert "x" in outputs
            seen.append("cb_val")

        def on_test_batch_end(self, trainer, pl_module, outputs, *_):
            assert "x" in outputs

    class TestModel(BoringModel):
        def on_train_batch_end(self, outputs, *_):
            assert "loss" in outputs
            seen.append("model_train")

        def on_validation_batch_end(self, outputs, *_):
            assert "x" in outputs
            seen.append("model_val")

        def on_test_batch_end(self, outputs, *_):
            assert "x" in outputs

    model = TestModel()

    trainer = Trainer(
        callbacks=CB() if single_cb else [CB()],
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
    )

    assert any(isinstance(c, CB) for c in trainer.callbacks)

    trainer.fit(model)
    # the hooks above ran (their asserts were not skipped)
    assert {"cb_train", "cb_val", "model_train", "model_val"} <= set(seen), seen


if __name__ == "__main__":
    for single_cb in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            test_train_step_no_return(tmp, single_cb)
    print("ok")
