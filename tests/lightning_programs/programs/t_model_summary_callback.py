# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_model_summary.py
#   (test_model_summary_callback_present_trainer,
#    test_model_summary_callback_with_enable_model_summary_false,
#    test_model_summary_callback_with_enable_model_summary_true,
#    test_custom_model_summary_callback_summarize)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir. Left out: the assert on the private `model_summary_callback._max_depth`. In
#   the custom summarize, `training_modes == [True]` (master's) -> Lightning 2.6.6's
#   `total_training_modes` dict, `{"train": 1, "eval": 0}`, and the `total_flops` 2.6.6 passes
#   is taken by name.
import tempfile
from typing import Any, List, Tuple

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.demos.boring_classes import BoringModel


def test_model_summary_callback_present_trainer():
    trainer = Trainer()
    assert any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)

    trainer = Trainer(callbacks=ModelSummary())
    assert any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)


def test_model_summary_callback_with_enable_model_summary_false():
    trainer = Trainer(enable_model_summary=False)
    assert not any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)


def test_model_summary_callback_with_enable_model_summary_true():
    trainer = Trainer(enable_model_summary=True)
    assert any(isinstance(cb, ModelSummary) for cb in trainer.callbacks)


def test_custom_model_summary_callback_summarize(tmp_path):
    calls = []

    class CustomModelSummary(ModelSummary):
        @staticmethod
        def summarize(
            summary_data: List[Tuple[str, List[str]]],
            total_parameters: int,
            trainable_parameters: int,
            model_size: float,
            training_modes,
            total_flops: int = 0,
            **summarize_kwargs: Any,
        ) -> None:
            assert summary_data[1][0] == "Name"
            assert summary_data[1][1][0] == "layer"

            assert summary_data[2][0] == "Type"
            assert summary_data[2][1][0] == "Linear"

            assert summary_data[3][0] == "Params"
            assert total_parameters == 66
            assert trainable_parameters == 66

            assert summary_data[4][0] == "Mode"
            assert summary_data[4][1][0] == "train"

            assert training_modes == {"train": 1, "eval": 0}
            calls.append(1)

    model = BoringModel()
    trainer = Trainer(default_root_dir=tmp_path, callbacks=CustomModelSummary(), max_steps=1)

    trainer.fit(model)
    assert calls == [1]


if __name__ == "__main__":
    test_model_summary_callback_present_trainer()
    test_model_summary_callback_with_enable_model_summary_false()
    test_model_summary_callback_with_enable_model_summary_true()
    with tempfile.TemporaryDirectory() as d:
        test_custom_model_summary_callback_summarize(d)
    print("OK")
