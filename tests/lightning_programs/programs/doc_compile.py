# Source: https://lightning.ai/docs/pytorch/stable/advanced/compile.html
#   (pytorch-lightning docs/source-pytorch/advanced/compile.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: MyLightningModule a small MLP on random tensors (the benchmark's InceptionV3 and
#   512x512 images -> the MLP on 32 samples of 8 features); `accelerator="cuda"` -> "cpu" and the
#   benchmark's CUDA events -> `time.perf_counter` (no speedup asserted: a tiny model on a busy
#   CPU); tiny limits, no logger/checkpoints. The first example compiles with inductor (the
#   default backend; C++ kernels built on this CPU); the later ones pass `backend="eager"` so that
#   dynamo traces the same code without building kernels again (the corpus runs a program in
#   150 s). Asserted: the Trainer runs the compiled model and trains the original module
#   (`trainer.lightning_module`), the `*_step` methods run compiled (`torch.compiler.
#   is_compiling()` seen inside `training_step`), the compiled model's outputs match eager's,
#   `fullgraph=True` fits a model with no graph break, `dynamic=True` fits a last batch of
#   another size, `options={"shape_padding": True}` is taken (inductor's option; the eager backend leaves
#   it unused), `configure_model` may compile a
#   submodule, and compiling a submodule lets `self.log` run in `training_step`. Left out: the
#   ModelParallelStrategy/FSDP2 and torchao float8 `configure_model` examples (GPU, sharding;
#   the hook's compile kept without them), CUDA graphs (`mode="reduce-overhead"`, GPU), the DDP
#   limitation (distributed).
import statistics
import time

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n=32, batch_size=4):
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 8, generator=g), torch.randn(n, 1, generator=g)),
                      batch_size=batch_size)


class MyLightningModule(LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.compiling = []

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch):
        x, y = batch
        self.step_compiled = torch.compiler.is_compiling()  # an attribute set: no guard, no recompile
        return nn.functional.mse_loss(self(x), y)

    def train_dataloader(self):
        return loader()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Benchmark(Callback):
    """A callback that measures the median execution time between the start and end of a batch."""

    def __init__(self):
        self.start = None
        self.times = []

    def median_time(self):
        return statistics.median(self.times)

    def on_train_batch_start(self, trainer, *args, **kwargs):
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, *args, **kwargs):
        # Exclude the first iteration to let the model warm up
        if trainer.global_step > 1:
            self.times.append(time.perf_counter() - self.start)


class SeeCompiled(Callback):
    """Appends each training_step's ``step_compiled`` to the module's ``compiling`` list."""

    def on_train_batch_end(self, trainer, pl_module, *args, **kwargs):
        if hasattr(pl_module, "compiling"):
            pl_module.compiling.append(pl_module.step_compiled)


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), SeeCompiled()]
    return Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, **kwargs)


def apply_compile():
    # Define the model
    model = MyLightningModule()
    eager_out = model(torch.ones(2, 8))

    # Compile the model
    compiled = torch.compile(model)
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule)
    # 1st execution compiles the model (slow); later ones reuse it
    output = compiled(torch.ones(2, 8))
    assert torch.allclose(output, eager_out, atol=1e-6)
    assert torch.allclose(compiled(torch.ones(2, 8)), output)

    # Run with the Trainer
    t = trainer()
    t.fit(compiled)
    assert t.lightning_module is model
    assert t.global_step == 8
    assert model.compiling == [True] * 8, model.compiling  # the *_step methods run compiled
    assert not torch.allclose(model(torch.ones(2, 8)), eager_out)  # trained


def benchmark():
    model = MyLightningModule()
    compiled_model = torch.compile(model, backend="eager")

    bench = Benchmark()
    trainer(max_steps=10, max_epochs=-1, callbacks=[bench]).fit(model)
    eager_time = bench.median_time()
    assert len(bench.times) == 9 and model.compiling == [False] * 10, model.compiling

    model.compiling.clear()
    bench = Benchmark()
    trainer(max_steps=10, max_epochs=-1, callbacks=[bench]).fit(compiled_model)
    compile_time = bench.median_time()
    assert len(bench.times) == 9 and model.compiling == [True] * 10, model.compiling
    print(f"Eager median time: {eager_time:.4f} seconds")
    print(f"Compile median time: {compile_time:.4f} seconds")
    print(f"Speedup: {eager_time / compile_time:.1f}x")


class ConfigureModelCompile(MyLightningModule):
    def __init__(self):
        super().__init__()
        self.model = None

    def configure_model(self):
        if self.model is not None:
            return
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.model = torch.compile(model, backend="eager")


class LogsWithCompiledSubmodule(LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.model = torch.compile(self.model, backend="eager")
        self.losses = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.model(x), y)
        self.log("train_loss", loss)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def main():
    apply_compile()
    benchmark()

    # configure_model
    model = ConfigureModelCompile()
    t = trainer()
    t.fit(model)
    assert isinstance(model.model, torch._dynamo.eval_frame.OptimizedModule)
    assert t.global_step == 8

    # Avoid graph breaks: force an error if there is a graph break in the model
    model = MyLightningModule()
    t = trainer()
    t.fit(torch.compile(model, fullgraph=True, backend="eager"))
    assert t.global_step == 8 and model.compiling == [True] * 8

    # Avoid recompilation: 30 samples in batches of 4, the last batch of 2
    model = MyLightningModule()
    model.train_dataloader = lambda: loader(n=30)
    t = trainer()
    t.fit(torch.compile(model, dynamic=True, backend="eager"))
    assert t.global_step == 8 and model.compiling == [True] * 8

    # Shape padding
    model = MyLightningModule()
    t = trainer()
    t.fit(torch.compile(model, options={"shape_padding": True}, backend="eager"))
    assert t.global_step == 8 and model.compiling == [True] * 8

    # Limitations: self.log with the submodule compiled
    model = LogsWithCompiledSubmodule()
    t = trainer()
    t.fit(model, loader())
    assert len(model.losses) == 8
    assert torch.isclose(t.callback_metrics["train_loss"], torch.tensor(model.losses[-1]))
    print("compile: ok")


if __name__ == "__main__":
    main()
