"""Child of startup.py: a plain PyTorch script, from process start to its first optimizer step.

Reports ``time.time() - TREADLE_BENCH_LAUNCH_TIME`` (the parent's ``time.time()`` just before
it started this process) at the moment the first ``optimizer.step()`` returns, detected with
torch's global optimizer step post-hook, then exits at once. Keep it line-for-line parallel to
``_first_step_treadle.py``: the two differ only in the import and in how training is driven.
"""

import json
import os
import sys
import time

_LAUNCH = float(os.environ["TREADLE_BENCH_LAUNCH_TIME"])

import torch  # noqa: E402

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

optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
net.train()
for _epoch in range(1):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
sys.exit("no optimizer step happened")
