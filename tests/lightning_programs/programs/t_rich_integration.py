# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_rich_integration.py
#   (TestRichIntegration: test_no_rich_respects_user_provided_tqdm_progress_bar,
#    test_no_rich_respects_user_provided_model_summary,
#    test_no_rich_respects_user_provided_rich_model_summary,
#    test_rich_available_defaults_rich_progress_and_summary,
#    test_rich_available_respects_user_tqdm_progress_bar,
#    test_rich_available_respects_user_model_summary, test_progress_bar_disabled_no_rich,
#    test_progress_bar_disabled_with_rich, test_model_summary_disabled_no_rich,
#    test_model_summary_disabled_with_rich)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test class's methods turned into one __main__ program asserting what they asserted;
#   tmp_path -> a tempfile dir. rich is installed on both sides, so the patches of the private
#   `callback_connector._RICH_AVAILABLE` are dropped: the `True` tests run as they are, and of the
#   `False` tests those whose asserts hold whether rich is installed or not (a user's bar or
#   summary kept, nothing added when disabled). Left out: test_no_rich_defaults_tqdm_and_model_summary
#   (it needs rich hidden through the private flag), test_rich_progress_bar_tensor_metric (a
#   mock.patch of `MetricsTextColumn.update` by its Lightning module path, a string the import
#   mapping does not reach; the value it checks, the float shown for a logged tensor, is
#   `get_metrics`' and is asserted in t_rich_progress_bar.py).
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelSummary, ProgressBar, RichModelSummary, RichProgressBar, TQDMProgressBar


class TestRichIntegration:
    def test_no_rich_respects_user_provided_tqdm_progress_bar(self, tmp_path):
        user_progress_bar = TQDMProgressBar()
        trainer = Trainer(
            default_root_dir=tmp_path, callbacks=[user_progress_bar], logger=False, enable_checkpointing=False
        )
        assert user_progress_bar in trainer.callbacks
        assert sum(isinstance(cb, ProgressBar) for cb in trainer.callbacks) == 1

    def test_no_rich_respects_user_provided_model_summary(self, tmp_path):
        user_model_summary = ModelSummary()
        trainer = Trainer(
            default_root_dir=tmp_path, callbacks=[user_model_summary], logger=False, enable_checkpointing=False
        )
        assert user_model_summary in trainer.callbacks
        assert sum(isinstance(cb, ModelSummary) for cb in trainer.callbacks) == 1
        # Check that the specific instance is the one from the trainer's list of ModelSummary callbacks
        assert trainer.callbacks[trainer.callbacks.index(user_model_summary)] == user_model_summary

    def test_no_rich_respects_user_provided_rich_model_summary(self, tmp_path):
        user_model_summary = RichModelSummary()
        trainer = Trainer(
            default_root_dir=tmp_path, callbacks=[user_model_summary], logger=False, enable_checkpointing=False
        )
        assert user_model_summary in trainer.callbacks
        assert sum(isinstance(cb, ModelSummary) for cb in trainer.callbacks) == 1
        # Check that the specific instance is the one from the trainer's list of ModelSummary callbacks
        model_summary_callbacks = [cb for cb in trainer.callbacks if isinstance(cb, ModelSummary)]
        assert user_model_summary in model_summary_callbacks
        assert isinstance(model_summary_callbacks[0], RichModelSummary)

    def test_rich_available_defaults_rich_progress_and_summary(self, tmp_path):
        trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False)
        assert any(isinstance(cb, RichProgressBar) for cb in trainer.callbacks)
        assert any(isinstance(cb, RichModelSummary) for cb in trainer.callbacks)
        assert not any(isinstance(cb, TQDMProgressBar) for cb in trainer.callbacks)
        # Ensure the only ModelSummary is the RichModelSummary
        model_summaries = [cb for cb in trainer.callbacks if isinstance(cb, ModelSummary)]
        assert len(model_summaries) == 1
        assert isinstance(model_summaries[0], RichModelSummary)

    def test_rich_available_respects_user_tqdm_progress_bar(self, tmp_path):
        user_progress_bar = TQDMProgressBar()
        trainer = Trainer(
            default_root_dir=tmp_path, callbacks=[user_progress_bar], logger=False, enable_checkpointing=False
        )
        assert user_progress_bar in trainer.callbacks
        assert sum(isinstance(cb, ProgressBar) for cb in trainer.callbacks) == 1
        assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)

    def test_rich_available_respects_user_model_summary(self, tmp_path):
        user_model_summary = ModelSummary()  # Non-rich
        trainer = Trainer(
            default_root_dir=tmp_path, callbacks=[user_model_summary], logger=False, enable_checkpointing=False
        )
        assert user_model_summary in trainer.callbacks
        model_summaries = [cb for cb in trainer.callbacks if isinstance(cb, ModelSummary)]
        assert len(model_summaries) == 1
        assert isinstance(model_summaries[0], ModelSummary)
        assert not isinstance(model_summaries[0], RichModelSummary)

    def test_progress_bar_disabled_no_rich(self, tmp_path):
        trainer = Trainer(
            default_root_dir=tmp_path, enable_progress_bar=False, logger=False, enable_checkpointing=False
        )
        assert not any(isinstance(cb, ProgressBar) for cb in trainer.callbacks)

    def test_progress_bar_disabled_with_rich(self, tmp_path):
        trainer = Trainer(
            default_root_dir=tmp_path, enable_progress_bar=False, logger=False, enable_checkpointing=False
        )
        assert not any(isinstance(cb, ProgressBar) for cb in trainer.callbacks)

    def test_model_summary_disabled_no_rich(self, tmp_path):
        trainer = Trainer(
            default_root_dir=tmp_path, enable_model_summary=False, logger=False, enable_checkpointing=False
        )
        assert not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)

    def test_model_summary_disabled_with_rich(self, tmp_path):
        trainer = Trainer(
            default_root_dir=tmp_path, enable_model_summary=False, logger=False, enable_checkpointing=False
        )
        assert not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)


if __name__ == "__main__":
    suite = TestRichIntegration()
    for name in sorted(n for n in dir(suite) if n.startswith("test_")):
        with tempfile.TemporaryDirectory() as tmp:
            getattr(suite, name)(tmp)
        print(name, "ok")
    print("OK")
