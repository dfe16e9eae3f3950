# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_ddp_spawn_strategy.py
#   (test_ddp_spawn_configure_ddp; the file's other CPU tests are t_ddp_spawn_strategy.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmpdir -> a
#   tempfile dir. Split in two to stay within the corpus's 90 s on one shared core (each
#   ddp_spawn stage starts two interpreters): `test` and `predict` here (without the `fit` before
#   them: the hooks they check need none), `fit` and `validate` in t_ddp_spawn_configure.py.
import tempfile

from torch.nn.parallel.distributed import DistributedDataParallel

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.trainer.states import TrainerFn


class BoringModelDDP(BoringModel):
    def on_train_start(self) -> None:
        """Check if trainer module is wrapped as DistributedDataParallel during training stage."""
        assert isinstance(self.trainer.model, DistributedDataParallel)

    def on_validation_start(self) -> None:
        """Check if trainer module remains as LightningModule during test stage."""
        if self.trainer.state.fn == TrainerFn.FITTING:
            assert isinstance(self.trainer.model, DistributedDataParallel)
        else:
            assert isinstance(self.trainer.model, LightningModule)

    def on_test_start(self) -> None:
        """Check if trainer module remains as LightningModule during test stage."""
        assert isinstance(self.trainer.model, LightningModule)

    def on_predict_start(self) -> None:
        """Check if trainer module remains as LightningModule during prediction stage."""
        assert isinstance(self.trainer.model, LightningModule)


def test_ddp_spawn_configure_ddp(tmpdir):
    """Tests with ddp spawn strategy."""
    trainer = Trainer(default_root_dir=tmpdir, accelerator="cpu", devices=2, strategy="ddp_spawn", fast_dev_run=True)

    model = BoringModelDDP()

    trainer.test(model, dataloaders=model.test_dataloader())
    trainer.predict(model, dataloaders=model.predict_dataloader())


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_ddp_spawn_configure_ddp(tmp)
    print("ok")
