"""Child of startup.py: a treadle script, from process start to its first optimizer step.

Reports ``time.time() - TREADLE_BENCH_LAUNCH_TIME`` (the parent's ``time.time()`` just before
it started this process) at the moment the first ``optimizer.step()`` returns, detected with
torch's global optimizer step post-hook (the same marker as ``_first_step_plain.py``; it fires
inside whatever wrapper treadle puts around the step), then exits at once.
Set ``TREADLE_BENCH_MODE=manual`` for manual optimization (default: automatic).
"""

import json
import os
import sys
import time

_LAUNCH = float(os.environ["TREADLE_BENCH_LAUNCH_TIME"])

import torch  # noqa: E402

import treadle  # noqa: E402

_IMPORTED = time.time()


def _first_step_done(optimizer, args, kwargs):
    now, cpu = time.time(), time.process_time()
    sys.stdout.write(
        json.dumps(
            {
                "import_s": _IMPORTED - _LAUNCH,
                "first_step_s": now - _LAUNCH,
                "first_step_cpu_s": cpu,
            }
        )
        + "\n"
    )
    sys.stdout.flush()
    os._exit(0)


from torch.optim.optimizer import register_optimizer_step_post_hook  # noqa: E402

register_optimizer_step_post_hook(_first_step_done)

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)
dataset = TensorDataset(torch.randn(1024, 32), torch.randn(1024, 1))
loader = DataLoader(dataset, batch_size=32, shuffle=True)
net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


class Model(treadle.Module):
    def __init__(self, net, manual):
        super().__init__()
        self.net = net
        self.automatic_optimization = not manual

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


trainer = treadle.Trainer(
    accelerator="cpu",
    max_epochs=1,
    logger=False,
    enable_progress_bar=False,
    enable_checkpointing=False,
    num_sanity_val_steps=0,
)
trainer.fit(Model(net, os.environ.get("TREADLE_BENCH_MODE") == "manual"), loader)
sys.exit("no optimizer step happened")
