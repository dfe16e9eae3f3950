# Source: https://lightning.ai/docs/pytorch/stable/advanced/warnings.html
#   (pytorch-lightning docs/source-pytorch/advanced/warnings.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: a small model fit on 2 batches with the default `log_every_n_steps=50` (Lightning's
#   `PossibleUserWarning` "The number of training batches (2) is smaller than the logging
#   interval", given with a logger: a CSVLogger), recorded with `warnings.catch_warnings(record=True)`; the page's message
#   ("Consider increasing the value of the `num_workers` argument") -> that one in its
#   `filterwarnings` line (the num_workers warning depends on the machine: Lightning gives it
#   only with more than 2 CPUs); asserted: the warning is given, the filter silences it, `disable_possible_user_warnings()` silences every
#   `PossibleUserWarning` (the page's `lightning_pytorch.utilities` -> `lightning.pytorch.
#   utilities`, where Lightning 2.6.6 has it), and `POSSIBLE_USER_WARNINGS=off` / `=0` does at
#   import (the program runs itself again in a subprocess with the variable set, a
#   command-line flag telling it which part to run, without PYTHONWARNINGS; unset, the
#   warning is shown there).
import os
import subprocess
import sys
import tempfile
import warnings

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import disable_possible_user_warnings
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Model(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_and_record(*filters, always=True):
    """Fit on 2 batches; the PossibleUserWarnings given. ``always``: every warning
    recorded whatever filter the run had (else the filters in place decide)."""
    loader = DataLoader(TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4, num_workers=0)
    trainer = Trainer(max_epochs=1, logger=CSVLogger(tempfile.mkdtemp()), enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings(record=True) as caught:  # restores the filters afterwards
        if always:
            warnings.simplefilter("always")
        for add_filter in filters:
            add_filter()
        trainer.fit(Model(), loader)
    return [w for w in caught if issubclass(w.category, PossibleUserWarning)]


def interval_warnings(caught):
    return [w for w in caught if "is smaller than the logging interval" in str(w.message)]


if len(sys.argv) > 1 and sys.argv[1] == "--env":  # run again with POSSIBLE_USER_WARNINGS set
    caught = fit_and_record(always=False)
    assert not caught, [str(w.message) for w in caught]
    print("no PossibleUserWarning")
    sys.exit(0)

caught = fit_and_record()
assert interval_warnings(caught), [str(w.message) for w in caught]


# Suppress a single warning message
def page_filter():
    warnings.filterwarnings("ignore", ".*is smaller than the logging interval*")


caught = fit_and_record(page_filter)
assert not interval_warnings(caught), [str(w.message) for w in caught]


# Suppress all instances of PossibleUserWarning
def page_disable():
    # ignore all warnings that could be false positives
    disable_possible_user_warnings()


caught = fit_and_record(page_disable)
assert not caught, [str(w.message) for w in caught]

# or through the environment variable POSSIBLE_USER_WARNINGS
# (the runs without a PYTHONWARNINGS a harness may set, so that only the variable decides)
clean = {key: value for key, value in os.environ.items() if key not in ("POSSIBLE_USER_WARNINGS", "PYTHONWARNINGS")}
for value in ("off", "0"):
    env = {**clean, "POSSIBLE_USER_WARNINGS": value}
    proc = subprocess.run([sys.executable, __file__, "--env"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no PossibleUserWarning" in proc.stdout
proc = subprocess.run([sys.executable, __file__, "--env"], env=clean, capture_output=True, text=True)
assert proc.returncode == 1 and "logging interval" in proc.stderr, proc.stderr[-2000:]  # unset: shown
print("warnings: the num_workers warning shown, then silenced three ways")
