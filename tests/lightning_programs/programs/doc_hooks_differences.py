# Source: https://lightning.ai/docs/pytorch/stable/common/hooks.html
#   (pytorch-lightning docs/source-pytorch/common/hooks.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the "Training Loop Hook Order" diagram's batch part, recorded by a BoringModel whose
#   hooks append their names over one training batch; asserted: Lightning 2.6.6's order,
#   where `on_before_zero_grad` runs after `training_step` (inside the optimizer closure,
#   before `on_before_backward`; the page's diagram puts it before the forward pass). treadle
#   zeroes gradients before `training_step` (docs/migration.md, 8), so this part fails there
#   by design; the rest of the page is doc_hooks.py, which passes.
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel

CALLS = []


class Model(BoringModel):
    def training_step(self, batch, batch_idx):
        CALLS.append("training_step")
        return super().training_step(batch, batch_idx)

    def on_before_zero_grad(self, optimizer):
        CALLS.append("on_before_zero_grad")

    def on_before_backward(self, loss):
        CALLS.append("on_before_backward")

    def on_after_backward(self):
        CALLS.append("on_after_backward")

    def on_before_optimizer_step(self, optimizer):
        CALLS.append("on_before_optimizer_step")


trainer = Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Model())
assert CALLS == ["training_step", "on_before_zero_grad", "on_before_backward", "on_after_backward", "on_before_optimizer_step"], CALLS
