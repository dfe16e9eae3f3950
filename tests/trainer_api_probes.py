"""Probe modules shared by the Trainer-API tests (test_optimizers.py, test_training_loop.py,
test_validation_loop.py, test_logging_metrics.py, test_callbacks_api.py,
test_module_overrides.py): each records what the loop shows it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import IN_DIM


class Recorder(treadle.Module):
    """A linear regression that records what the loop shows it."""

    def __init__(self, lr=0.01):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.lr = lr
        self.events: list[tuple] = []

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.events.append(("train", self.current_epoch, batch_idx))
        return F.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.events.append(("val", self.current_epoch, batch_idx, self.global_step))
        loss = F.mse_loss(self(x), y)
        self.log("val_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]


class TwoLayer(treadle.Module):
    def __init__(self, form: str, manual: bool):
        super().__init__()
        self.automatic_optimization = not manual
        self.a = nn.Linear(IN_DIM, 1)
        self.b = nn.Linear(IN_DIM, 1)
        self.form = form
        self.opts: list = []
        self.scheds: list = []
        self.got_opts = None
        self.got_scheds = None
        self.calls = 0

    def loss(self, batch):
        x, y = batch
        return F.mse_loss(self.a(x) + self.b(x), y)

    def configure_optimizers(self):
        f = self.form
        sgd = torch.optim.SGD
        step = torch.optim.lr_scheduler.StepLR
        if f in SINGLE_FORMS:
            o = sgd(self.parameters(), lr=0.1)
            self.opts = [o]
            if f == "optimizer":
                return o
            if f == "list-one":
                return [o]
            if f == "dict-only":
                return {"optimizer": o}
            if f.startswith("dict-plateau"):
                s = torch.optim.lr_scheduler.ReduceLROnPlateau(o)
                self.scheds = [s]
                if f == "dict-plateau":
                    return {"optimizer": o, "lr_scheduler": s, "monitor": "loss"}
                return {"optimizer": o, "lr_scheduler": {"scheduler": s, "monitor": "loss"}}
            s = step(o, step_size=1, gamma=0.5)
            self.scheds = [s]
            if f == "lists":
                return [o], [s]
            if f == "dict":
                return {"optimizer": o, "lr_scheduler": s}
            if f == "dict-config-named":  # "name" and "strict" are Lightning config keys too
                config = {"scheduler": s, "interval": "step", "name": "lr", "strict": True}
                return {"optimizer": o, "lr_scheduler": config}
            return {
                "optimizer": o,
                "lr_scheduler": {"scheduler": s, "interval": "step", "frequency": 1},
            }
        o1, o2 = sgd(self.a.parameters(), lr=0.1), sgd(self.b.parameters(), lr=0.1)
        self.opts = [o1, o2]
        if f == "tuple-two":
            return o1, o2
        if f == "list-two":
            return [o1, o2]
        s1, s2 = step(o1, step_size=1, gamma=0.5), step(o2, step_size=1, gamma=0.5)
        if f == "lists-two":
            self.scheds = [s1, s2]
            return [o1, o2], [s1, s2]
        if f == "list-of-dicts":
            self.scheds = [s1, s2]
            return [{"optimizer": o1, "lr_scheduler": s1}, {"optimizer": o2, "lr_scheduler": s2}]
        if f == "tuple-of-dicts":
            self.scheds = [s1]
            return (
                {"optimizer": o1, "lr_scheduler": {"scheduler": s1, "interval": "step"}},
                {"optimizer": o2},
            )
        raise AssertionError(f)

    def training_step(self, batch, batch_idx):
        self.calls += 1
        self.got_opts = self.optimizers()
        self.got_scheds = self.lr_schedulers()
        loss = self.loss(batch)
        self.log("loss", loss, on_epoch=True)
        if self.automatic_optimization:
            return loss
        opts = self.got_opts if isinstance(self.got_opts, list) else [self.got_opts]
        for o in opts:
            o.zero_grad()
        self.manual_backward(loss)
        for o in opts:
            o.step()


SINGLE_FORMS = [
    "optimizer",
    "list-one",
    "lists",
    "dict",
    "dict-config",
    "dict-config-named",
    "dict-only",
    "dict-plateau",
    "dict-plateau-config",
]


MULTI_FORMS = ["tuple-two", "list-two", "lists-two", "list-of-dicts", "tuple-of-dicts"]
