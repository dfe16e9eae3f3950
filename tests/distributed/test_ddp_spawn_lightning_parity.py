"""``ddp_spawn`` as Lightning's, for real (2 processes, gloo, on the CPU): the Module is wrapped
in ``DistributedDataParallel`` for ``fit`` only (``trainer.model`` is the Module in
``validate``/``test``/``predict``); the caller's ``trainer.state`` is the workers' at their end
(``finished``); a failed rank is ``torch.multiprocessing``'s ``ProcessRaisedException`` (as
``torch.multiprocessing.spawn`` raises), with Lightning's words for unused parameters.

Ported from tests/tests_pytorch/strategies/test_ddp_spawn_strategy.py::test_ddp_spawn_configure_ddp
and tests/tests_pytorch/strategies/test_ddp_integration.py::test_ddp_all_dataloaders_passed_to_fit,
::test_find_unused_parameters_exception_ddp_spawn (Copyright The Lightning AI team, Apache-2.0).
"""

from __future__ import annotations

import sys

import pytest

from _procs import read_json, run, write

pytestmark = pytest.mark.slow  # multi-process

SCRIPT = """
import json, sys
from pathlib import Path

import torch
from torch.multiprocessing import ProcessRaisedException
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

import treadle


class Regression(treadle.Module):
    def __init__(self, out, unused=False):
        super().__init__()
        self.out = out
        self.net = torch.nn.Linear(4, 1)
        self.unused = torch.nn.Linear(4, 4) if unused else None

    def _seen(self, hook):  # each rank writes what trainer.model is in this hook
        kind = type(self.trainer.model).__name__
        Path(self.out, f"{hook}.{self.trainer.state.fn}.{self.global_rank}").write_text(kind)

    def on_train_start(self):
        self._seen("on_train_start")

    def on_validation_start(self):
        self._seen("on_validation_start")

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.unused is not None:
            with torch.no_grad():
                x = self.unused(x)
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


def trainer(devices=2, **kw):
    return treadle.Trainer(
        strategy="ddp_spawn", accelerator="cpu", devices=devices, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kw
    )


if __name__ == "__main__":
    out = sys.argv[1]
    t = trainer(max_epochs=1)
    model = Regression(out)
    t.fit(model, loader(), loader())
    after_fit = {"status": t.state.status, "fn": str(t.state.fn), "finished": t.state.finished}
    t.validate(model, loader(), verbose=False)
    after_validate = {"status": t.state.status, "fn": str(t.state.fn)}
    t = trainer(devices=1, max_steps=2)
    try:
        t.fit(Regression(out, unused=True), loader())
        raised = None
    except ProcessRaisedException as exc:
        raised = str(exc)
    Path(out, "parent.json").write_text(json.dumps({
        "after_fit": after_fit, "after_validate": after_validate, "raised": raised,
    }))
"""


def test_ddp_spawn_wraps_for_fit_only_and_reports_as_lightning(tmp_path):
    script = write(tmp_path / "train.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    run([sys.executable, str(script), str(out)], tmp_path, timeout=180)
    seen = {p.name: p.read_text() for p in out.iterdir() if p.name.startswith("on_")}
    ddp, module = "DistributedDataParallel", "Regression"
    assert seen == {
        "on_train_start.fit.0": ddp,
        "on_train_start.fit.1": ddp,
        "on_validation_start.fit.0": ddp,
        "on_validation_start.fit.1": ddp,
        "on_validation_start.validate.0": module,
        "on_validation_start.validate.1": module,
    }
    parent = read_json(out / "parent.json")
    assert parent["after_fit"] == {"status": "finished", "fn": "fit", "finished": True}
    assert parent["after_validate"] == {"status": "finished", "fn": "validate"}
    assert parent["raised"] is not None, "a failed ddp_spawn rank is a ProcessRaisedException"
    assert (
        "It looks like your LightningModule has parameters that were not used" in parent["raised"]
    )
