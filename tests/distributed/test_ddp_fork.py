"""``strategy="ddp_fork"`` (alias ``ddp_notebook``), for real: 2 forked processes, gloo, on the CPU.

What a notebook or a script without an ``if __name__ == "__main__":`` guard runs: the stages
run in workers started by the ``fork`` start method, so nothing is pickled on the way in and the
script is not run again; rank 0's weights, counters and results come back to the caller as under
``ddp_spawn``. A failing rank is reported as under ``ddp_spawn`` (``test_faults.py`` runs its
``ddp_spawn`` fault tests under ``ddp_fork`` too). The refusals (no ``fork`` on the platform,
CUDA initialised before the fork) are pinned at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import treadle
from _procs import read_json, run, write
from conftest_helpers import RegressionModule, make_loader, make_trainer, mlp

# A script with no __main__ guard: every line runs at import, once. The Module class is made in
# a function (not picklable, so ddp_spawn could not send it). Before the fork the parent uses
# two intra-op threads: the forked ranks must still run (one thread each).
SCRIPT = """
import json, os, sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle

out = Path(sys.argv[1])
print(f"top of the script in pid {os.getpid()}", flush=True)
torch.set_num_threads(2)
a = torch.randn(512, 512)
for _ in range(3):
    a = torch.tanh(a @ a)


def make_model():
    class Regression(treadle.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y), sync_dist=True)

        def test_step(self, batch, batch_idx):
            x, y = batch
            self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y), sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Regression()


class SaveEachRank(treadle.Callback):
    def on_fit_end(self, trainer, pl_module):
        rank = trainer.global_rank
        torch.save(pl_module.state_dict(), out / f"rank{rank}.pt")
        (out / f"rank{rank}.json").write_text(json.dumps({
            "pid": os.getpid(),
            "parent": os.getppid(),
            "threads": torch.get_num_threads(),
            "omp": os.environ.get("OMP_NUM_THREADS"),
            "world_size": trainer.world_size,
        }))


g = torch.Generator().manual_seed(0)
data = TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))
loader = DataLoader(data, batch_size=4)
treadle.seed_everything(0)
trainer = treadle.Trainer(
    strategy=sys.argv[2], accelerator="cpu", devices=2, max_epochs=2, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    callbacks=[SaveEachRank()],
)
model = make_model()
before = {k: v.clone() for k, v in model.state_dict().items()}
trainer.fit(model, loader, loader)
torch.save(model.state_dict(), out / "caller.pt")
torch.save(before, out / "before.pt")
validated = trainer.validate(model, loader, verbose=False)
tested = trainer.test(model, loader, verbose=False)
with torch.no_grad():
    x, y = data.tensors
    expected = torch.nn.functional.mse_loss(model.net(x), y).item()
(out / "caller.json").write_text(json.dumps({
    "pid": os.getpid(),
    "global_step": trainer.global_step,
    "current_epoch": trainer.current_epoch,
    "world_size": trainer.world_size,
    "validated": validated,
    "tested": tested,
    "expected": expected,
    "val_loss": float(trainer.callback_metrics["val_loss"]),
    "threads": torch.get_num_threads(),
}))
"""


@pytest.mark.slow  # multi-process
@pytest.mark.parametrize("strategy", ["ddp_fork", "ddp_notebook"])
def test_fit_validate_test_in_a_script_without_a_main_guard(tmp_path, strategy):
    script = write(tmp_path / "notebook.py", SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    log = run([sys.executable, str(script), str(out), strategy], tmp_path, timeout=150)
    # forked, not re-run: the top of the script ran once, in the caller
    assert log.count("top of the script in pid ") == 1, log
    caller = read_json(out / "caller.json")
    ranks = [read_json(out / f"rank{r}.json") for r in (0, 1)]
    # the ranks are children of the caller, one intra-op thread each (torchrun's default)
    assert [r["parent"] for r in ranks] == [caller["pid"]] * 2
    assert len({caller["pid"], ranks[0]["pid"], ranks[1]["pid"]}) == 3
    assert [(r["threads"], r["omp"], r["world_size"]) for r in ranks] == [(1, "1", 2)] * 2
    assert caller["threads"] == 2  # the caller's own setting is left alone
    # the weights: trained, equal on both ranks (DDP all-reduced the gradients), and the
    # caller's model holds them after fit
    before = torch.load(out / "before.pt", weights_only=True)
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    mine = torch.load(out / "caller.pt", weights_only=True)
    assert rank0.keys() == rank1.keys() == mine.keys() == before.keys()
    for k in before:
        assert not torch.equal(rank0[k], before[k]), k
        assert torch.equal(rank0[k], rank1[k]), k
        assert torch.equal(rank0[k], mine[k]), k
    # 32 samples, 2 ranks, batch 4: 4 steps an epoch, 2 epochs
    assert (caller["global_step"], caller["current_epoch"], caller["world_size"]) == (8, 2, 2)
    # validate/test ran the caller's trained weights over every sample once (8 equal batches:
    # the mean of the ranks' means is the mean over the data)
    assert list(caller["validated"][0]) == ["val_loss"]
    assert list(caller["tested"][0]) == ["test_loss"]
    assert caller["validated"][0]["val_loss"] == pytest.approx(caller["expected"], rel=1e-5)
    assert caller["tested"][0]["test_loss"] == pytest.approx(caller["expected"], rel=1e-5)
    assert caller["val_loss"] == pytest.approx(caller["expected"], rel=1e-5)


# -- refusals ---------------------------------------------------------------------------------


def test_refused_where_the_platform_cannot_fork(tmp_path, monkeypatch):
    # Ported from tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py::
    # test_ddp_fork_on_unsupported_platform (Copyright The Lightning AI team, Apache-2.0): the
    # platform (Windows has spawn only) is what is patched, as there.
    # Refused with the other configuration problems, at fit, before any process starts.
    monkeypatch.setattr(torch.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    trainer = make_trainer(tmp_path, strategy="ddp_notebook", accelerator="cpu", devices=2)
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(RegressionModule(mlp()), make_loader(2))
    assert info.value.problems == [
        f"strategy:ddp_notebook: `strategy='ddp_notebook'` starts its processes with the 'fork' "
        f"start method, which this platform ({sys.platform}) does not have (it has 'spawn'). Use "
        f"`strategy='ddp_spawn'` with an `if __name__ == \"__main__\":` guard, or "
        f"`strategy='ddp'`."
    ]


CUDA_SCRIPT = """
import os, sys

import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from conftest_helpers import RegressionModule, mlp

loader = DataLoader(TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4)
torch.zeros(1, device="cuda")  # CUDA initialised in the caller
trainer = treadle.Trainer(
    strategy="ddp_fork", accelerator="cuda", devices=1, max_epochs=1, logger=False
)
try:
    trainer.fit(RegressionModule(mlp()), loader)
except treadle.ConfigurationError as exc:
    print("CUDA:", exc.problems[0], flush=True)
pid = os.fork()
if pid == 0:  # a fork of a process with CUDA: even CPU ranks are refused (Lightning's check)
    trainer = treadle.Trainer(
        strategy="ddp_fork", accelerator="cpu", devices=2, max_epochs=1, logger=False
    )
    try:
        trainer.fit(RegressionModule(mlp()), loader)
    except treadle.ConfigurationError as exc:
        print("FORK:", exc.problems[0], flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_refused_when_cuda_is_initialised_before_the_fork(tmp_path):
    script = write(tmp_path / "cuda_fork.py", CUDA_SCRIPT)
    tests = str(Path(__file__).resolve().parents[1])  # conftest_helpers
    log = run([sys.executable, str(script)], tmp_path, timeout=120, extra_env={"PYTHONPATH": tests})
    fix = (
        ": forked processes cannot use CUDA then. Use `strategy='ddp_spawn'` (with an `if "
        "__name__ == \"__main__\":` guard) or `strategy='ddp'`, or leave CUDA untouched before "
        "`trainer.fit(...)` (in a notebook: restart the kernel)."
    )
    assert (
        "CUDA: `strategy='ddp_fork'` forks its processes, but CUDA is already initialised in "
        "this process (a tensor or model moved to the GPU, a `torch.cuda.*` call)" + fix
    ) in log, log
    assert (
        "FORK: `strategy='ddp_fork'` forks its processes, but this process is itself a fork of "
        "one that had initialised CUDA" + fix
    ) in log, log
    assert "Traceback" not in log, log
