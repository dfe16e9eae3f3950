# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_device_stats_monitor.py
#   (test_device_stats_cpu, test_device_stats_monitor_no_logger,
#    test_device_stats_monitor_logs_for_different_stages)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   a loop; tmp_path -> a tempfile dir; pytest.raises -> try/except. The private constants
#   `_CPU_VM_PERCENT`, `_CPU_SWAP_PERCENT`, `_CPU_PERCENT` of `accelerators.cpu` -> their values
#   ("cpu_vm_percent", ...); the mock of `lightning.pytorch.accelerators.cpu.get_cpu_stats`
#   (a Lightning internal) and its call count left out: the DebugLogger's asserts on the logged
#   keys are kept, with a count of its calls so that they cannot pass by not running. Left out:
#   the GPU and TPU tests, test_prefix_metric_keys (the private `_prefix_metric_keys`) and
#   test_device_stats_monitor_warning_when_psutil_not_available (monkeypatches the private
#   `_PSUTIL_AVAILABLE`).
import csv
import re
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import DeviceStatsMonitor
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

_CPU_VM_PERCENT = "cpu_vm_percent"
_CPU_PERCENT = "cpu_percent"
_CPU_SWAP_PERCENT = "cpu_swap_percent"


def test_device_stats_cpu(tmp_path, cpu_stats):
    """Test CPU stats are logged when no accelerator is used."""
    model = BoringModel()
    CPU_METRIC_KEYS = (_CPU_VM_PERCENT, _CPU_SWAP_PERCENT, _CPU_PERCENT)
    calls = []

    class DebugLogger(CSVLogger):
        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            calls.append(metrics)
            enabled = cpu_stats is not False
            for f in CPU_METRIC_KEYS:
                has_cpu_metrics = any(f in h for h in metrics)
                assert has_cpu_metrics if enabled else not has_cpu_metrics

    device_stats = DeviceStatsMonitor(cpu_stats=cpu_stats)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        log_every_n_steps=1,
        callbacks=device_stats,
        logger=DebugLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        accelerator="cpu",
    )
    trainer.fit(model)
    assert calls or cpu_stats is False  # (added: the asserts above ran)


def test_device_stats_monitor_no_logger(tmp_path):
    """Test DeviceStatsMonitor with no logger in Trainer."""
    model = BoringModel()
    device_stats = DeviceStatsMonitor()

    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[device_stats],
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )

    try:
        trainer.fit(model)
    except MisconfigurationException as e:
        assert re.search("Cannot use `DeviceStatsMonitor` callback.", str(e)), str(e)
    else:
        raise AssertionError("MisconfigurationException not raised")


def test_device_stats_monitor_logs_for_different_stages(tmp_path):
    """Test that metrics are logged for all stages that is training, testing and validation."""
    model = BoringModel()
    device_stats = DeviceStatsMonitor()

    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=4,
        limit_val_batches=4,
        limit_test_batches=1,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        callbacks=[device_stats],
        logger=CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
    )

    # training and validation stages will run
    trainer.fit(model)

    with open(f"{tmp_path}/lightning_logs/version_0/metrics.csv") as csvfile:
        content = csv.reader(csvfile, delimiter=",")
        it = iter(content).__next__()

    # searching for training stage logs
    train_stage_results = [re.match(r".+on_train_batch", i) for i in it]
    train = any(train_stage_results)
    assert train, "training stage logs not found"

    # searching for validation stage logs
    validation_stage_results = [re.match(r".+on_validation_batch", i) for i in it]
    valid = any(validation_stage_results)
    assert valid, "validation stage logs not found"

    # testing stage will run
    trainer.test(model)

    with open(f"{tmp_path}/lightning_logs/version_0/metrics.csv") as csvfile:
        content = csv.reader(csvfile, delimiter=",")
        it = iter(content).__next__()

    # searching for testing stage logs
    test_stage_results = [re.match(r".+on_test_batch", i) for i in it]
    test = any(test_stage_results)

    assert test, "testing stage logs not found"


if __name__ == "__main__":
    for cpu_stats in (None, True, False):
        with tempfile.TemporaryDirectory() as d:
            test_device_stats_cpu(d, cpu_stats)
    with tempfile.TemporaryDirectory() as d:
        test_device_stats_monitor_no_logger(d)
    with tempfile.TemporaryDirectory() as d:
        test_device_stats_monitor_logs_for_different_stages(d)
    print("OK")
