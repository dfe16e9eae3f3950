# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_compile.py
#   (test_trainer_compiled_model, test_compile_uncompile, test_trainer_compiled_model_test)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; pytest.raises(match=) -> try/except with re.search. `torch.compile(model)` ->
#   `torch.compile(model, backend="eager")`: dynamo captures the same graphs (the `_torchdynamo`
#   attributes and `_compiler_ctx` the tests check) without inductor building C++ kernels, which
#   takes 10 s and more a graph on a busy CPU (the corpus runs each program within 150 s).
#   test_trainer_compiled_model patches Lightning's private `trainer.call._call_and_handle_interrupt`
#   so that its fits do nothing; here they run (fast_dev_run: one batch each), the same asserts
#   after them. Its deepspeed leg (`mock_cuda_count` and `accelerator="cuda"`, a CUDA machine
#   faked) is left out: this is the CPU. Left out: test_trainer_compiled_model_that_logs, which
#   fails on Lightning 2.6.6 with torch 2.13 (dynamo cannot trace `self.log`'s
#   `inspect.getfullargspec(self.training_step)`: "'method' object has no attribute '__dict__'",
#   with inductor as with the eager backend; checked).
import re
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.compile import from_compiled, to_uncompiled


def raises(kind, pattern, fn, *args):
    try:
        fn(*args)
    except kind as e:
        assert re.search(pattern, str(e)), str(e)
    else:
        raise AssertionError(f"{kind.__name__} not raised")


def test_trainer_compiled_model(tmp_path):
    trainer_kwargs = {
        "default_root_dir": tmp_path,
        "fast_dev_run": True,
        "logger": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "enable_progress_bar": False,
    }

    model = BoringModel()
    compiled_model = torch.compile(model, backend="eager")
    assert model._compiler_ctx is compiled_model._compiler_ctx  # shared reference

    # can train with compiled model
    trainer = Trainer(**trainer_kwargs, accelerator="cpu")
    trainer.fit(compiled_model)
    assert trainer.model._compiler_ctx["compiler"] == "dynamo"

    # the compiled model can be uncompiled
    to_uncompiled_model = to_uncompiled(compiled_model)
    assert model._compiler_ctx is None
    assert compiled_model._compiler_ctx is None
    assert to_uncompiled_model._compiler_ctx is None

    # the compiled model needs to be passed
    raises(ValueError, "required to be a compiled LightningModule", to_uncompiled, to_uncompiled_model)

    # the uncompiled model can be fitted
    trainer = Trainer(**trainer_kwargs, accelerator="cpu")
    trainer.fit(model)
    assert trainer.model._compiler_ctx is None

    compiled_model = torch.compile(model, backend="eager")

    # ddp does
    trainer = Trainer(strategy="ddp", **trainer_kwargs, accelerator="cpu")
    trainer.fit(compiled_model)

    # an exception is raised
    trainer = Trainer(**trainer_kwargs, accelerator="cpu")
    raises(TypeError, "must be a `Light", trainer.fit, object())


def test_compile_uncompile():
    model = BoringModel()
    compiled_model = torch.compile(model, backend="eager")

    def has_dynamo(fn):
        return any(el for el in dir(fn) if el.startswith("_torchdynamo"))

    from_compiled_model = from_compiled(compiled_model)
    assert isinstance(from_compiled_model, LightningModule)
    assert from_compiled_model._compiler_ctx is not None
    assert has_dynamo(from_compiled_model.forward)
    assert has_dynamo(from_compiled_model.training_step)
    assert has_dynamo(from_compiled_model.validation_step)
    assert has_dynamo(from_compiled_model.test_step)
    assert has_dynamo(from_compiled_model.predict_step)

    to_uncompiled_model = to_uncompiled(model)
    assert to_uncompiled_model._compiler_ctx is None
    assert to_uncompiled_model.forward == model.forward
    assert to_uncompiled_model.training_step == model.training_step
    assert to_uncompiled_model.validation_step == model.validation_step
    assert to_uncompiled_model.test_step == model.test_step
    assert to_uncompiled_model.predict_step == model.predict_step
    assert not has_dynamo(to_uncompiled_model.forward)
    assert not has_dynamo(to_uncompiled_model.training_step)
    assert not has_dynamo(to_uncompiled_model.validation_step)
    assert not has_dynamo(to_uncompiled_model.test_step)
    assert not has_dynamo(to_uncompiled_model.predict_step)


def test_trainer_compiled_model_test(tmp_path):
    model = BoringModel()
    compiled_model = torch.compile(model, backend="eager")

    trainer = Trainer(
        default_root_dir=tmp_path,
        fast_dev_run=True,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )
    trainer.test(compiled_model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_trainer_compiled_model(d)
    test_compile_uncompile()
    with tempfile.TemporaryDirectory() as d:
        test_trainer_compiled_model_test(d)
    print("ok")
