# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_flow_warnings.py
#   (test_no_depre_without_epoch_end)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir.
import tempfile
import warnings

from typing_extensions import override

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class TestModel(BoringModel):
    @override
    def training_step(self, batch, batch_idx):
        return self.step(batch[0])


def test_no_depre_without_epoch_end(tmp_path):
    """Tests that only training_step can be used."""
    model = TestModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=2,
        limit_val_batches=2,
        max_epochs=2,
        log_every_n_steps=1,
        enable_model_summary=False,
    )

    with warnings.catch_warnings(record=True) as w:
        trainer.fit(model)

        for msg in w:
            assert "should not return anything " not in str(msg)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_no_depre_without_epoch_end(tmp)
    print("OK")
