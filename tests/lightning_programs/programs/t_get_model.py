# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/properties/test_get_model.py
#   (test_get_model)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program; tmpdir -> a tempfile dir; `pytorch_lightning`
#   imports -> `lightning.pytorch`. Left out: test_get_model_gpu (GPU) and
#   test_get_model_ddp_cpu (two ddp_spawn processes: it passes on treadle, but takes the program
#   past the corpus's 20 s per program on a shared 2-core machine).
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class TrainerGetModel(BoringModel):
    def on_fit_start(self):
        assert self == self.trainer.lightning_module

    def on_fit_end(self):
        assert self == self.trainer.lightning_module


def test_get_model(tmpdir):
    """Tests that `trainer.lightning_module` extracts the model correctly."""

    model = TrainerGetModel()

    limit_train_batches = 2
    trainer = Trainer(
        default_root_dir=tmpdir, limit_train_batches=limit_train_batches, limit_val_batches=2, max_epochs=1
    )
    trainer.fit(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_get_model(tmp)
    print("OK")
