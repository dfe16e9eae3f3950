# Source: https://lightning.ai/docs/pytorch/stable/common/console_logs.html
#   (pytorch-lightning docs/source-pytorch/common/console_logs.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the page's snippet, then a fit of a small model on random tensors; asserted: the
#   snippet's file handler makes `core.log`, and training runs as usual with the loggers set
#   up this way. The page names the loggers "lightning_pytorch" and "lightning_pytorch.core"
#   (Lightning 2.6.6's own are "lightning.pytorch..."): as written, the level and the handler
#   reach no logger Lightning writes to, so nothing is asserted of their content. (Lightning's
#   records under its real logger name are treadle's difference 7, under the `treadle` logger:
#   `t_warnings_logging` in DIFFERENCES.)
import logging
import os
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

os.chdir(tempfile.mkdtemp())

# configure logging at the root level of Lightning
logging.getLogger("lightning_pytorch").setLevel(logging.ERROR)

# configure logging on module level, redirect to file
logger = logging.getLogger("lightning_pytorch.core")
logger.addHandler(logging.FileHandler("core.log"))


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


data = DataLoader(TensorDataset(torch.randn(32, 8), torch.randn(32, 1)), batch_size=8)
trainer = Trainer(max_epochs=2, enable_progress_bar=False)
trainer.fit(LitModel(), data)
assert os.path.isfile("core.log")
assert trainer.global_step == 8 and "loss" in trainer.callback_metrics
print("doc_console_logs: ok")
