# Source: the behaviour of https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_spike.py
#   (test_trainer_spike_detection_integration), written as one __main__ program.
# Edits: the test turned into one program asserting what it asserted (parametrize -> loops;
#   pytest.raises -> try/except); the one-process cases only, without `strategy="ddp_spawn"`;
#   `TrainingSpikeException` caught and told by its message;
#   the skip_batches.json file it writes is read back.
import json
import tempfile
from pathlib import Path

import torch

from lightning.pytorch import LightningModule, Trainer
from lightning.fabric.utilities.spike import TrainingSpikeException
from lightning.pytorch.callbacks.spike import SpikeDetection


class IdentityModule(LightningModule):
    def __init__(self, spike_value):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1, bias=False)
        self.spike_value = spike_value

    def training_step(self, batch, batch_idx):
        # weights one: the output is the input, with gradients
        with torch.no_grad():
            self.layer.weight.data = torch.ones_like(self.layer.weight.data)
        value = 1 / (batch_idx + 1)
        if batch_idx == 4:
            value = batch_idx if self.spike_value is None else self.spike_value
        return self.layer(torch.tensor(value, device=self.device, dtype=self.dtype).view(1, 1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


class CatchingSpikeDetection(SpikeDetection):
    should_raise = False
    raised = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        except TrainingSpikeException as err:
            assert batch_idx == 4 and self.should_raise, (batch_idx, err)
            assert str(err) == "Training spike detected in batch 4", str(err)
            self.raised = True


def integration(root, spike_value, finite_only):
    cb = CatchingSpikeDetection(exclude_batches_path=root, finite_only=finite_only)
    # spike_value None: an ordinary spike; finite_only: NaN and +/-inf are spikes; inf is far
    # above the running mean: an ordinary spike too
    cb.should_raise = spike_value is None or finite_only or spike_value == float("inf")
    trainer = Trainer(
        default_root_dir=root,
        logger=False,
        callbacks=[cb],
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(IdentityModule(spike_value), torch.utils.data.DataLoader([1 for _ in range(10)]))
    assert cb.raised == cb.should_raise, (spike_value, finite_only)
    skip_file = Path(root) / "skip_batches.json"
    if cb.should_raise:
        assert json.loads(skip_file.read_text()) == [3, 4]
    else:
        assert not skip_file.exists()


if __name__ == "__main__":
    for spike_value in (None, float("inf"), float("-inf"), float("nan")):
        for finite_only in (True, False):
            with tempfile.TemporaryDirectory() as d:
                integration(d, spike_value, finite_only)
    print("OK")
