"""Without numpy installed, treadle prints no NumPy warning (issue 12, item 5).

torch warns "Failed to initialize NumPy" when it is imported without numpy. treadle imports
torch first, under a filter that drops that warning only when numpy is not installed; it uses
numpy only where it is (RNG state in checkpoints, seeding). The environment without numpy is
real: a directory linking every entry of torch's site-packages except numpy's, run with
``python -S`` (no site-packages of its own).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import treadle
import treadle_plugins

SITE = Path(torch.__file__).resolve().parents[1]

# treadle first: a script that imports torch before treadle gets torch's warning from torch.
# The module of the scripts below.
MODEL = """
import treadle
import torch
from torch.utils.data import DataLoader, TensorDataset

class M(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
"""

RUN = (
    MODEL
    + """
treadle.seed_everything(1)
data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
trainer = treadle.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir="out")
trainer.fit(M(), data)
trainer.save_checkpoint("out/m.ckpt")
treadle.Trainer(max_epochs=2, logger=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir="out").fit(M(), data,
                                                                        ckpt_path="out/m.ckpt")
print("done")
"""
)


@pytest.fixture(scope="module")
def without_numpy(tmp_path_factory) -> dict:
    """The environment of a ``python -S`` that finds everything installed here but numpy."""
    site = tmp_path_factory.mktemp("site-without-numpy")
    for entry in SITE.iterdir():
        if entry.name == "numpy" or entry.name.startswith(("numpy-", "numpy.")):
            continue
        (site / entry.name).symlink_to(entry)
    ours = [Path(treadle.__file__).parents[1], Path(treadle_plugins.__file__).parents[1]]
    for name in ("treadle_ema", "treadle_slurm"):
        module = __import__(name)
        ours.append(Path(module.__file__).parents[1])
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TREADLE_", "PYTHON"))}
    environ["PYTHONPATH"] = os.pathsep.join(map(str, [*ours, site]))
    check = subprocess.run(
        [sys.executable, "-S", "-c", "import importlib.util as u; print(u.find_spec('numpy'))"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "None", check  # numpy really is missing there
    return environ


def test_treadle_plugins_prints_no_numpy_warning(without_numpy, tmp_path):
    result = subprocess.run(
        [sys.executable, "-S", "-m", "treadle", "plugins"],
        env=without_numpy,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "NumPy" not in result.stderr


def test_a_run_with_a_checkpoint_and_a_resume_prints_no_numpy_warning(without_numpy, tmp_path):
    result = subprocess.run(
        [sys.executable, "-S", "-c", RUN],
        env=without_numpy,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("done")
    assert "NumPy" not in result.stderr


def test_torch_alone_does_warn_there(without_numpy, tmp_path):
    """The warning is torch's own: the filter is what keeps it out of treadle's runs. When a
    torch stops warning, this fails: remove the filter in ``treadle/__init__.py`` then."""
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import torch"],
        env=without_numpy,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "UserWarning: Failed to initialize NumPy: No module named 'numpy'" in result.stderr


RESUME = (
    MODEL
    + """
data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
trainer = treadle.Trainer(max_epochs=2, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir="out")
trainer.fit(M(), data, ckpt_path="saved.ckpt")
print("resumed", trainer.global_step)
"""
)


def test_a_checkpoint_saved_with_numpy_resumes_without_it(without_numpy, tmp_path):
    # Saved here (numpy installed: its RNG state is in the file), resumed where numpy is not:
    # nothing there can draw from NumPy's RNG, so its state is skipped, not an ImportError.
    import numpy  # noqa: F401  (this side has it)

    namespace: dict = {}
    exec(MODEL, namespace)  # noqa: S102  (the scripts' module, in this process)
    M = namespace["M"]

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4
    )
    trainer = treadle.Trainer(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(M(), data)
    trainer.save_checkpoint(tmp_path / "saved.ckpt")
    assert "numpy" in torch.load(tmp_path / "saved.ckpt", weights_only=True)["rng_states"]
    result = subprocess.run(
        [sys.executable, "-S", "-c", RESUME],
        env=without_numpy,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("resumed 4"), result.stdout
