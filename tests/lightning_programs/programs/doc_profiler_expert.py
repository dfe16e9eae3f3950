# Source: https://lightning.ai/docs/pytorch/stable/tuning/profiler_expert.html
#   (pytorch-lightning docs/source-pytorch/tuning/profiler_expert.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's snippets joined into one program around a small model on random tensors
#   (`lightning_pytorch.profilers` -> `lightning.pytorch.profilers`); each Trainer is fitted for
#   one short epoch and what the page says is asserted:
#  - "Build your own profiler": the page's `ActionCountProfiler` (as published, its summary's
#    f-string slips included) passed as `Trainer(profiler=...)`: `start`/`stop` called for the
#    training actions, `summary()` called at the end of `fit` (Lightning logs it; the asserts
#    read what the profiler recorded), `teardown` called;
#  - "Profile custom actions of interest": `MyModel(profiler)` with `self.profiler =
#    profiler or PassThroughProfiler()` (after `super().__init__()`, which the page leaves
#    out), `custom_processing_step` under `self.profiler.profile("my_custom_action")` called
#    from `training_step`, and `SimpleProfiler()` shared with the Trainer: its report (written to
#    a file: `dirpath=".", filename="perf"` added) has the custom action; without a profiler, `PassThroughProfiler` records nothing.
import contextlib
import io
import time
from collections import defaultdict

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.profilers import PassThroughProfiler, Profiler, SimpleProfiler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class ActionCountProfiler(Profiler):
    def __init__(self, dirpath=None, filename=None):
        super().__init__(dirpath=dirpath, filename=filename)
        self._action_count = defaultdict(int)
        self._action_first_occurrence = {}
        self.teardowns = []  # edit: recorded for the asserts
        self.summaries = []

    def start(self, action_name):
        if action_name not in self._action_first_occurrence:
            self._action_first_occurrence[action_name] = time.strftime("%m/%d/%Y, %H:%M:%S")

    def stop(self, action_name):
        self._action_count[action_name] += 1

    def summary(self):
        res = f"\nProfile Summary: \n"
        max_len = max(len(x) for x in self._action_count)

        for action_name in self._action_count:
            # generate summary for actions called more than once
            if self._action_count[action_name] > 1:
                res += (
                    f"{action_name:<{max_len}s} \t "
                    + "self._action_first_occurrence[action_name]} \t "
                    + "{self._action_count[action_name]} \n"
                )

        self.summaries.append(dict(self._action_count))  # edit
        return res

    def teardown(self, stage):
        self.teardowns.append(stage)  # edit
        self._action_count = {}
        self._action_first_occurrence = {}
        super().teardown(stage=stage)


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


class MyModel(LightningModule):
    def __init__(self, profiler=None):
        super().__init__()  # edit: the page's snippet leaves it out
        self.profiler = profiler or PassThroughProfiler()
        self.layer = nn.Linear(8, 1)

    def custom_processing_step(self, data):
        with self.profiler.profile("my_custom_action"):
            data = data * 1.0
        return data

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self.custom_processing_step(x)
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def quiet(**kwargs):
    return Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, **kwargs)


# -- Build your own profiler --
profiler = ActionCountProfiler()
trainer = quiet(profiler=profiler)
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    trainer.fit(MyModel(), loader())
assert trainer.profiler is profiler
(counts,) = profiler.summaries
assert counts["run_training_epoch"] == 1, counts
assert counts["run_training_batch"] == 4, counts
assert counts["[Strategy]SingleDeviceStrategy.training_step"] == 4, counts
assert "fit" in profiler.teardowns, profiler.teardowns
assert profiler._action_count == {}  # the page's teardown

# -- Profile custom actions of interest --
profiler = SimpleProfiler(dirpath=".", filename="perf")
model = MyModel(profiler)
trainer = quiet(profiler=profiler)
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    trainer.fit(model, loader())
with open("fit-perf.txt") as f:
    report = f.read()
assert "FIT Profiler Report" in report, report[-2000:]
row = next(line for line in report.splitlines() if "my_custom_action" in line)
assert row.split("|")[3].strip() == "4", row  # "Num Calls": once per batch

model = MyModel()  # no profiler: PassThroughProfiler
assert isinstance(model.profiler, PassThroughProfiler)
quiet().fit(model, loader())
print("profiler expert: ok")
