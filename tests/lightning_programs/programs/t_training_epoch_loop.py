# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_training_epoch_loop.py
#   (test_should_stop_triggers_validation_once, test_no_batch_idx_gradient_accumulation,
#   test_resume_mid_epoch_warning left out: see below)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; tmp_path -> a tempfile dir (a pathlib.Path); `trainer.fit_loop.epoch_loop.val_loop.run
#   = Mock()` -> validation runs counted in `on_validation_start` (the Mock also kept validation
#   from running; nothing here depends on it). Left out: test_no_val_on_train_epoch_loop_restart and
#   test_should_stop_early_stopping_conditions_not_met (patches and progress counters of
#   Lightning's private loop objects), test_training_loop_dataloader_iter_multiple_dataloaders
#   (a `training_step(self, dataloader_iter)`: treadle has no `dataloader_iter` steps), and
#   test_resume_mid_epoch_warning (Lightning warns that a mid-epoch resume with a loader
#   without `state_dict` is unreliable; treadle resumes such a loader exactly, replaying the
#   epoch's batches up to the saved position, and does not warn).
import tempfile

from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.trainer.trainer import Trainer


def test_should_stop_triggers_validation_once(min_epochs, min_steps, val_count, tmp_path):
    """Regression test for issue #15708.

    Test that the request for `should_stop=True` only triggers validation when Trainer is allowed to stop
    (min_epochs/steps is satisfied).

    """

    class NewBoring(BoringModel):
        val_runs = 0

        def training_step(self, batch, batch_idx):
            self.log("loss", self.step(batch))
            return {"loss": self.step(batch)}

        def on_validation_start(self):
            self.val_runs += 1

    model = NewBoring()
    # create a stopping condition with a high threshold so it triggers immediately
    # check the condition before validation so the count is unaffected
    stopping = EarlyStopping(monitor="loss", check_on_train_epoch_end=True, stopping_threshold=100)
    trainer = Trainer(
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
        limit_val_batches=2,
        limit_train_batches=2,
        max_epochs=3,
        min_epochs=min_epochs,
        min_steps=min_steps,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[stopping],
    )
    trainer.fit(model)
    assert model.val_runs == val_count, model.val_runs


def test_no_batch_idx_gradient_accumulation():
    """Regression test for an issue where excluding the batch_idx from training_step would disable gradient
    accumulation."""

    class MyModel(BoringModel):
        last_batch_idx = -1

        def training_step(self, batch):  # no batch_idx
            return self.step(batch)

        def optimizer_step(self, epoch, batch_idx, *args, **kwargs):
            assert batch_idx in (1, 3)
            self.last_batch_idx = batch_idx
            return super().optimizer_step(epoch, batch_idx, *args, **kwargs)

    trainer = Trainer(fast_dev_run=4, accumulate_grad_batches=2, limit_val_batches=0)
    model = MyModel()
    trainer.fit(model)
    assert model.last_batch_idx == 3


if __name__ == "__main__":
    for min_epochs, min_steps, val_count in [(3, None, 3), (None, 3, 2)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_should_stop_triggers_validation_once(min_epochs, min_steps, val_count, tmp)
    test_no_batch_idx_gradient_accumulation()
    print("OK")
