"""Lightning programs run on treadle after changing only their imports (issue 10).

Each script in ``examples/lightning/`` is a Lightning example or tutorial rewritten with
treadle's names (see the credit header of each). Each runs here as a user runs it, in fast
mode, in a subprocess of its own in a fresh folder; the tests check the files it wrote
(checkpoints, TensorBoard events) and that it learned something.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "lightning"
TIMEOUT_S = 240


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/lightning/<name> args`` in ``cwd``; its stdout, after checking exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    root = Path(__file__).resolve().parents[1]
    # this checkout's treadle, whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root / "core"), str(root / "plugins"), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name} ran past {TIMEOUT_S}s\nstdout:\n{out}\nstderr:\n{err}")
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{out}\n{err}"
    return out


def metric_column(root: Path, name: str) -> list:
    """The values logged as ``name`` in the TensorBoard event files of the one run under ``root`` (Trainer's
    default logger, as Lightning's, is TensorBoard where it is installed)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # one folder (a fit and a test each open a file there); the accumulator reads them all
    events = EventAccumulator(str(only({p.parent for p in root.rglob("events.out.tfevents.*")})))
    events.Reload()
    return [e.value for e in events.Scalars(name)] if name in events.Tags()["scalars"] else []


def only(paths) -> Path:
    paths = list(paths)
    assert len(paths) == 1, paths
    return paths[0]


def test_bug_report_model(tmp_path):
    run_example("bug_report_model.py", cwd=tmp_path)
    ckpt = only(tmp_path.rglob("*.ckpt"))
    assert ckpt.name == "epoch=0-step=1.ckpt"
    metrics = tmp_path
    # one training batch, fewer than log_every_n_steps (50): as Lightning (which warns so), the
    # step value reaches no logger, and the epoch row holds only epoch values
    assert metric_column(metrics, "train_loss") == []
    assert len(metric_column(metrics, "valid_loss")) == 1  # limit_val_batches=1, one epoch
    assert len(metric_column(metrics, "test_loss")) == 1


def test_lightning_module_tutorial(tmp_path):
    out = run_example("lightning_module_tutorial.py", "--fast", cwd=tmp_path)
    metrics = tmp_path
    assert metric_column(metrics, "train_loss")  # every log_every_n_steps=50 steps
    val = metric_column(metrics, "val_loss")
    assert len(val) == 3 and val[-1] < val[0]  # one per epoch
    # the best checkpoint (lowest val_loss) reloads, with the modules passed again, and
    # reconstructs the test images better than their mean image does
    assert f"val_loss={min(val):.5f}" in out
    reloaded = float(out.split("test reconstruction mse=")[1].split()[0])
    baseline = float(out.split("the mean image: mse=")[1].split(")")[0])
    assert reloaded < 0.75 * baseline, out
    assert "lr=0.001" in out
    assert (only(tmp_path.rglob("hparams.yaml"))).read_text().strip() == "lr: 0.001"


def test_uva_resnet_cifar(tmp_path):
    out = run_example("uva_resnet_cifar.py", "--fast", cwd=tmp_path)
    root = tmp_path / "saved_models" / "tutorial5" / "ResNet"
    assert only(root.rglob("*.ckpt")).suffix == ".ckpt"
    metrics = root
    assert len(metric_column(metrics, "val_acc")) == 3
    assert metric_column(metrics, "lr-SGD")[0] == pytest.approx(0.1)  # LearningRateMonitor
    import json

    result = json.loads(out.split("ResNet results ")[1].splitlines()[0])
    # ten classes: chance is 0.1; the reloaded best checkpoint does better on both sets
    assert result["val"] > 0.2 and result["test"] > 0.2, result


def test_generative_adversarial_net(tmp_path):
    out = run_example("generative_adversarial_net.py", "--fast", cwd=tmp_path)
    # 640 images, batch 32: one global_step per batch although two optimizers step
    assert "trained 2 epochs, global_step=40" in out
    losses = dict(part.split("=") for part in out.split("global_step=40, ")[1].split())
    assert all(0.05 < float(v) < 5.0 for v in losses.values()), losses
    assert only(tmp_path.rglob("events.out.tfevents.*")).stat().st_size > 0
    assert only(tmp_path.rglob("*.ckpt")).name == "epoch=1-step=40.ckpt"


def test_autoencoder_cli(tmp_path):
    out = run_example(
        "autoencoder.py",
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_train_batches",
        "10",
        "--data.num_samples",
        "1000",
        "--trainer.log_every_n_steps",  # 20 steps: under the default 50 nothing would be logged
        "5",
        cwd=tmp_path,
    )
    assert "predicted 166 images of 784 pixels" in out
    # the ImageSampler callback read trainer.datamodule at each epoch's end
    assert sorted(p.name for p in tmp_path.glob("grid_*.pt")) == [
        "grid_generated_0.pt",
        "grid_generated_1.pt",
        "grid_ori_0.pt",
    ]
    metrics = tmp_path
    train = metric_column(metrics, "train_loss")  # on_step in training: no suffix
    assert train[-1] < train[0]
    assert metric_column(metrics, "test_loss_epoch")


def test_backbone_image_classifier_cli(tmp_path):
    out = run_example(
        "backbone_image_classifier.py",
        "--trainer.max_epochs",
        "2",
        "--data.num_samples",
        "1200",
        "--model.learning_rate",
        "0.001",
        cwd=tmp_path,
    )
    accuracy = float(out.split("predict accuracy=")[1].split()[0])
    assert accuracy > 0.5  # ten classes: chance is 0.1
    assert only(tmp_path.rglob("*.ckpt")).name == "epoch=1-step=58.ckpt"


def test_every_example_is_credited_listed_and_run():
    """Each script names its source, appears in docs/migration.md and has a test here."""
    migration = (Path(__file__).resolve().parents[1] / "docs" / "migration.md").read_text()
    tests = Path(__file__).read_text()
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert len(scripts) == 6, scripts
    for name in scripts:
        head = (EXAMPLES / name).read_text().split('"""')[0]
        assert "port of" in head and ("Apache-2.0" in head or "MIT" in head), name
        assert f"| `{name}` |" in migration, name
        assert f'"{name}"' in tests, name


def test_from_treadle_import_callbacks_and_loggers():
    """``from treadle import callbacks`` (Lightning's ``from lightning.pytorch import
    callbacks``, as in its autoencoder example) works in a fresh interpreter."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "core"), str(root / "plugins")]))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from treadle import callbacks, loggers; "
            "print(callbacks.ModelCheckpoint.__name__, loggers.CSVLogger.__name__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ModelCheckpoint", "CSVLogger"]
