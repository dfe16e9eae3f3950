"""The ``tpu`` accelerator.

No TPU here. What can be checked for real on any machine is checked with a stand-in
``torch_xla`` served by an import hook: that ``torch_xla`` is imported only when ``tpu`` is
selected, and that the optimizer step goes through ``xm.optimizer_step`` (and, for LBFGS,
``xm.reduce_gradients`` after every closure evaluation) through the ``optimizer_step`` hook.
The stand-in's "XLA device" is the CPU and its ``optimizer_step`` does what torch_xla's does on
one replica (reduce, ``optimizer.step``, ``mark_step`` when ``barrier=True``), so the weights
can be compared with a plain loop. The real thing runs in ``test_tpu_trains_for_real`` on a TPU VM.
"""

from __future__ import annotations

import copy
import importlib.abc
import importlib.machinery
import os
import re
import sys

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import RegressionModule, assert_params_equal, make_loader, make_trainer, mlp

REAL_TPU = (
    treadle.module_available("torch_xla") and os.environ.get("PJRT_DEVICE", "").upper() == "TPU"
)


class StandInXLA(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``torch_xla`` and ``torch_xla.core.xla_model``; records imports and calls."""

    NAMES = ("torch_xla", "torch_xla.core", "torch_xla.core.xla_model")

    def __init__(self):
        self.imported: list[str] = []
        self.calls: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name in self.NAMES:
            return importlib.machinery.ModuleSpec(name, self, is_package=name != self.NAMES[-1])
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self.imported.append(module.__name__)
        calls = self.calls
        if module.__name__ == "torch_xla":
            module.device = lambda: torch.device("cpu")
        elif module.__name__ == "torch_xla.core.xla_model":

            def reduce_gradients(optimizer, groups=None, pin_layout=True):
                calls.append("reduce_gradients")

            def mark_step():
                calls.append("mark_step")

            # torch_xla's own signature (its default dict is never mutated)
            def optimizer_step(
                optimizer,
                barrier=False,
                optimizer_args={},  # noqa: B006 (torch_xla's own signature)
                groups=None,
                pin_layout=True,
            ):
                calls.append(f"optimizer_step(barrier={barrier})")
                reduce_gradients(optimizer)
                loss = optimizer.step(**optimizer_args)
                if barrier:
                    mark_step()
                return loss

            module.reduce_gradients, module.mark_step = reduce_gradients, mark_step
            module.optimizer_step = optimizer_step
            module.xla_device = lambda: torch.device("cpu")


@pytest.fixture
def xla(monkeypatch):
    if treadle.module_available("torch_xla"):
        pytest.skip("a real torch_xla is installed here")
    finder = StandInXLA()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    monkeypatch.setenv("PJRT_DEVICE", "TPU")
    yield finder
    for name in StandInXLA.NAMES:
        sys.modules.pop(name, None)


def test_torch_xla_is_imported_only_when_tpu_is_selected(xla, monkeypatch):
    treadle.Trainer(accelerator="cpu", logger=False)
    monkeypatch.delenv("PJRT_DEVICE")
    auto = treadle.Trainer(logger=False)  # torch_xla "installed", but this is no TPU VM
    assert auto.accelerator.name != "tpu"
    assert xla.imported == []

    monkeypatch.setenv("PJRT_DEVICE", "TPU")
    trainer = treadle.Trainer(accelerator="tpu", logger=False)
    assert xla.imported == ["torch_xla", "torch_xla.core", "torch_xla.core.xla_model"]
    assert trainer.accelerator.root_device == torch.device("cpu")  # the stand-in's device


def test_auto_picks_tpu_over_cpu(xla):
    if torch.cuda.is_available():
        pytest.skip("cuda outranks tpu")
    assert treadle.Trainer(logger=False).accelerator.name == "tpu"


def test_torch_xla_installed_but_no_tpu(xla, monkeypatch):
    monkeypatch.delenv("PJRT_DEVICE")
    monkeypatch.setattr("treadle_plugins.accelerators.xla._looks_like_tpu_vm", lambda: False)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "(torch_xla is installed here, but no TPU was found; on a TPU VM set PJRT_DEVICE=TPU)"
        ),
    ):
        treadle.Trainer(accelerator="tpu")


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_optimizer_step_goes_through_xm_optimizer_step(xla, tmp_path, precision):
    net = mlp()
    loader = make_loader(3)
    model = RegressionModule(net, lr=0.1)
    trainer = make_trainer(tmp_path, accelerator="tpu", precision=precision, max_epochs=2)
    trainer.fit(model, loader)
    assert xla.calls == ["optimizer_step(barrier=True)", "reduce_gradients", "mark_step"] * 6
    assert trainer.global_step == 6

    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):
        for x, y in loader:
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
                loss = F.mse_loss(ref(x), y)
            loss.backward()
            opt.step()
    assert_params_equal(model.net, ref)


def test_lbfgs_reduces_gradients_after_every_closure_evaluation(xla, tmp_path):
    evaluations = []

    class LBFGS(RegressionModule):
        def training_step(self, batch, batch_idx):
            evaluations.append(batch_idx)
            return super().training_step(batch, batch_idx)

        def configure_optimizers(self):
            return torch.optim.LBFGS(self.parameters(), max_iter=3)

    trainer = make_trainer(tmp_path, accelerator="tpu", max_epochs=1)
    trainer.fit(LBFGS(), make_loader(2))
    assert xla.calls == ["reduce_gradients"] * evaluations.count(0) + ["mark_step"] + [
        "reduce_gradients"
    ] * evaluations.count(1) + ["mark_step"]
    assert evaluations.count(0) > 1


@pytest.mark.parametrize(
    "precision, dtype", [("16-mixed", "float16"), ("64-true", "float64"), ("16-true", "float16")]
)
def test_tpu_refuses_precisions_it_cannot_run(xla, tmp_path, precision, dtype):
    """Asked of the precision's dtypes; float16 gets the hint towards bf16-mixed."""
    hint = (
        " (Use 'bf16-mixed' where you would use '16-mixed' on a GPU.)" if dtype == "float16" else ""
    )
    trainer = make_trainer(tmp_path, accelerator="tpu", precision=precision)
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(RegressionModule(), make_loader(1))
    assert info.value.problems == [
        f"accelerator:tpu: `precision={precision!r}` cannot run on `accelerator='tpu'`: it "
        f"computes in {dtype}, which this accelerator does not support. `accelerator='tpu'` "
        f"computes in float32, bfloat16; pick a precision that uses only these.{hint}"
    ]
    assert xla.calls == []


def test_tpu_refuses_several_devices(xla):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "tpu: `devices=8`: treadle runs one TPU core per process; multi-core TPU training "
            "needs an XLA strategy, which is not available yet. Pass devices=1."
        ),
    ):
        treadle.Trainer(accelerator="tpu", devices=8, strategy="single_device")


@pytest.mark.skipif(not REAL_TPU, reason="needs a TPU VM with torch_xla (PJRT_DEVICE=TPU)")
def test_tpu_trains_for_real(tmp_path):
    model = RegressionModule(mlp())
    trainer = make_trainer(tmp_path, accelerator="tpu", precision="bf16-mixed", max_epochs=1)
    trainer.fit(model, make_loader(4))
    assert trainer.global_step == 4 and next(model.parameters()).device.type == "xla"
