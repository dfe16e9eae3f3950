"""``trainer.fit(torch.compile(module))`` as Lightning runs it.

Ported from Lightning's tests/tests_pytorch/utilities/test_compile.py (test_trainer_compiled_model,
test_compile_uncompile; Apache-2.0, Copyright The Lightning AI team), run through treadle's
names. ``backend="eager"`` keeps dynamo's tracing (the graphs are captured) without compiling
C++ kernels, so the test takes seconds.
"""

from __future__ import annotations

import re

import pytest
import torch
from lightning_boring import BoringModel

import treadle
from treadle.utilities import from_compiled, to_uncompiled

STEPS = ("forward", "training_step", "validation_step", "test_step", "predict_step")


def _trainer(tmp_path):
    return treadle.Trainer(
        default_root_dir=tmp_path,
        fast_dev_run=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )


def test_trainer_compiled_model(tmp_path):
    torch._dynamo.reset()
    model = BoringModel()
    compiled = torch.compile(model, backend="eager")
    assert model._compiler_ctx is None
    assert model._compiler_ctx is compiled._compiler_ctx  # the wrapper reads the module's

    trainer = _trainer(tmp_path)
    trainer.fit(compiled)
    assert trainer.lightning_module is model
    assert trainer.model._compiler_ctx["compiler"] == "dynamo"
    # the steps ran through dynamo: it captured graphs
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
    trainer.test(compiled, verbose=False)  # every entry point takes the compiled module
    assert len(trainer.predict(compiled)) == 1
    # prepared once: the originals kept are the class's methods, not the compiled ones
    assert model._compiler_ctx["original_training_step"].__func__ is BoringModel.training_step

    uncompiled = to_uncompiled(compiled)
    assert uncompiled is model
    assert model._compiler_ctx is None and compiled._compiler_ctx is None
    for name in STEPS:  # the class's own methods again
        assert getattr(model, name).__func__ is getattr(BoringModel, name)
    # Lightning's words ("required to be a compiled LightningModule"), then the fix
    with pytest.raises(
        ValueError, match="required to be a compiled LightningModule.*use it as it is"
    ):
        to_uncompiled(uncompiled)

    trainer = _trainer(tmp_path)
    trainer.fit(model)  # the uncompiled module trains as before
    assert trainer.model._compiler_ctx is None


def test_compile_uncompile():
    model = BoringModel()
    compiled = torch.compile(model, backend="eager")
    originals = {name: getattr(model, name) for name in STEPS}

    module = from_compiled(compiled)
    assert module is model
    ctx = module._compiler_ctx
    assert ctx["compiler"] == "dynamo" and ctx["dynamo_ctx"] is compiled.dynamo_ctx
    for name in STEPS:
        assert ctx[f"original_{name}"] == originals[name]
        assert getattr(module, name) != originals[name]  # the compiled version

    assert to_uncompiled(compiled) is model
    for name in STEPS:
        assert getattr(model, name) == originals[name]

    with pytest.raises(ValueError, match=re.escape("expected what `torch.compile(module)`")):
        from_compiled(model)
    with pytest.raises(ValueError, match=re.escape("not a `treadle.Module`")):
        from_compiled(torch.compile(torch.nn.Linear(2, 2), backend="eager"))
