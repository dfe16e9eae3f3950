"""``treadle.plugins``: Lightning's plugin objects in ``Trainer(plugins=[...])``.

A ``CheckpointIO`` writes, reads and removes every checkpoint file of the run (real files, a
real background thread for ``AsyncCheckpointIO``); a precision plugin selects its precision by
name; a cluster environment selects treadle's environment or is refused.

Ported from Lightning's tests/tests_pytorch/plugins/test_checkpoint_io_plugin.py (Apache-2.0,
Copyright The Lightning AI team): test_checkpoint_plugin_called (both halves: `plugins=[...]` and
`SingleDeviceStrategy(checkpoint_io=...)`),
test_async_checkpoint_plugin, test_multi_wrapped_checkpoint_io_initialization, with recording
subclasses in place of `MagicMock(wraps=...)`; and from
tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py the refusals of several
plugins of one type and of `precision=` beside a precision plugin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from lightning_boring import BoringModel, quiet

import treadle
from treadle.callbacks import ModelCheckpoint
from treadle.errors import ConfigurationError
from treadle.plugins import (
    AsyncCheckpointIO,
    BitsandbytesPrecision,
    CheckpointIO,
    DeepSpeedPrecision,
    DoublePrecision,
    FSDPPrecision,
    HalfPrecision,
    LayerSync,
    MixedPrecision,
    Precision,
    TorchCheckpointIO,
    TorchSyncBatchNorm,
    TransformerEnginePrecision,
)
from treadle.plugins.environments import (
    ClusterEnvironment,
    KubeflowEnvironment,
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)


class RecordingIO(CheckpointIO):
    """Lightning's test plugin: torch.save/load and os.remove, each call recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.calls.append(("save", str(path), threading.current_thread().name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(checkpoint, path)

    def load_checkpoint(self, path, storage_options=None, weights_only=True):
        self.calls.append(("load", str(path), weights_only))
        return torch.load(path, weights_only=True)

    def remove_checkpoint(self, path):
        self.calls.append(("remove", str(path)))
        os.remove(path)

    def count(self, kind):
        return sum(1 for c in self.calls if c[0] == kind)


def one_batch(tmp_path, **kwargs):
    settings = {
        "max_epochs": 2,
        "limit_train_batches": 1,
        "limit_val_batches": 0,
        "limit_test_batches": 1,
        "enable_checkpointing": True,
        **kwargs,
    }
    return treadle.Trainer(**quiet(tmp_path, **settings))


def test_checkpoint_plugin_called(tmp_path):
    # Ported from test_checkpoint_io_plugin.py::test_checkpoint_plugin_called (plugins=[...])
    io = RecordingIO()
    ck = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = one_batch(tmp_path, plugins=[io], callbacks=ck)
    assert trainer.strategy.checkpoint_io is io
    trainer.fit(BoringModel())
    assert {p.name for p in tmp_path.glob("*.ckpt")} == {"epoch=1-step=2.ckpt", "last.ckpt"}
    assert ck.best_model_path == str(tmp_path / "epoch=1-step=2.ckpt")
    assert io.count("save") == 4 and io.count("remove") == 1
    assert ("remove", str(tmp_path / "epoch=0-step=1.ckpt")) in io.calls
    trainer.test(BoringModel(), ckpt_path=ck.last_model_path, verbose=False)
    assert io.calls[-1] == ("load", str(tmp_path / "last.ckpt"), None)  # weights_only=None


def test_checkpoint_io_reads_a_resume_and_save_checkpoint(tmp_path):
    io = RecordingIO()
    trainer = one_batch(tmp_path, plugins=[io])
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "manual.ckpt")
    assert io.calls[-1][:2] == ("save", str(tmp_path / "manual.ckpt"))
    resumed = one_batch(tmp_path, plugins=[io], max_epochs=3)
    resumed.fit(BoringModel(), ckpt_path=tmp_path / "manual.ckpt")
    assert ("load", str(tmp_path / "manual.ckpt"), None) in io.calls
    assert resumed.global_step == 3


class HoldingStrategy:
    """A strategy object as Lightning's ``SingleDeviceStrategy(device, checkpoint_io=...)``:
    treadle's ``single_device`` strategy, holding a ``CheckpointIO``."""

    name = "single_device"

    def __init__(self, checkpoint_io):
        self.checkpoint_io = checkpoint_io

    def connect(self, trainer):
        strategy = trainer.plugin_manager.providers("strategy")["single_device"].factory(trainer)
        strategy.checkpoint_io = self.checkpoint_io
        return strategy


def test_checkpoint_io_held_by_a_strategy_object_is_used(tmp_path):
    io = RecordingIO()
    trainer = one_batch(tmp_path, strategy=HoldingStrategy(io), max_epochs=1)
    trainer.fit(BoringModel())
    assert trainer.strategy.checkpoint_io is io
    assert io.count("save") == 1


def test_checkpoint_plugin_called_through_single_device_strategy(tmp_path):
    # Ported from test_checkpoint_io_plugin.py::test_checkpoint_plugin_called (its
    # SingleDeviceStrategy(checkpoint_io=...) half)
    from treadle.strategies import DDPStrategy, SingleDeviceStrategy

    io = RecordingIO()
    ck = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    strategy = SingleDeviceStrategy("cpu", checkpoint_io=io)
    trainer = one_batch(tmp_path, strategy=strategy, callbacks=ck)
    trainer.fit(BoringModel())
    assert trainer.strategy.checkpoint_io is io
    assert {p.name for p in tmp_path.glob("*.ckpt")} == {"epoch=1-step=2.ckpt", "last.ckpt"}
    assert io.count("save") == 4 and io.count("remove") == 1
    trainer.test(BoringModel(), ckpt_path=ck.last_model_path, verbose=False)
    assert io.calls[-1] == ("load", str(tmp_path / "last.ckpt"), None)
    assert DDPStrategy(checkpoint_io=io).checkpoint_io is io
    with pytest.raises(ConfigurationError, match=r"SingleDeviceStrategy\(checkpoint_io="):
        SingleDeviceStrategy("cpu", checkpoint_io=object())


def test_torch_checkpoint_io_writes_atomically_and_reads_back(tmp_path):
    io = TorchCheckpointIO()
    path = tmp_path / "sub" / "a.ckpt"
    io.save_checkpoint({"x": torch.ones(2)}, path)
    assert torch.equal(io.load_checkpoint(path)["x"], torch.ones(2))
    assert os.listdir(path.parent) == ["a.ckpt"]  # no temporary file left
    with pytest.raises(TypeError, match=re.escape("is not supported for `TorchCheckpointIO`")):
        io.save_checkpoint({}, path, storage_options={"a": 1})
    io.remove_checkpoint(path)
    assert not path.exists()
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found"):
        io.load_checkpoint(path)


class SlowIO(TorchCheckpointIO):
    """Writes after a pause, on whatever thread calls it (recorded)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.threads: list[str] = []
        self.fail_on = fail_on

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.threads.append(threading.current_thread().name)
        time.sleep(0.2)
        if self.fail_on is not None and str(path).endswith(self.fail_on):
            raise OSError(f"disk full writing {path}")
        super().save_checkpoint(checkpoint, path, storage_options)


def test_async_saves_in_a_thread_and_waits_for_the_path(tmp_path):
    base = SlowIO()
    io = AsyncCheckpointIO(base)
    weights = torch.zeros(3)
    path = tmp_path / "a.ckpt"
    io.save_checkpoint({"w": weights}, path)
    weights += 1  # changed after the call: the saved copy was taken on the caller's thread
    assert not path.exists()  # still being written
    loaded = io.load_checkpoint(path)  # waits for the pending save of this path
    assert torch.equal(loaded["w"], torch.zeros(3))
    assert base.threads and base.threads[0] != threading.current_thread().name
    io.save_checkpoint({"w": weights}, tmp_path / "b.ckpt")
    io.remove_checkpoint(tmp_path / "b.ckpt")  # waits, then removes
    assert not (tmp_path / "b.ckpt").exists()
    io.teardown()


def test_async_error_surfaces_at_teardown_and_next_save(tmp_path):
    io = AsyncCheckpointIO(SlowIO(fail_on="bad.ckpt"))
    io.save_checkpoint({"a": torch.ones(1)}, tmp_path / "bad.ckpt")
    with pytest.raises(OSError, match="disk full writing"):
        io.teardown()
    with pytest.raises(OSError, match="disk full writing"):  # as Lightning's: it stays failed
        io.teardown()
    io = AsyncCheckpointIO(SlowIO(fail_on="bad.ckpt"))
    io.save_checkpoint({"a": torch.ones(1)}, tmp_path / "bad.ckpt")
    time.sleep(0.5)  # the save fails in its thread; the next save raises it, as Lightning's
    with pytest.raises(OSError, match="disk full writing"):
        io.save_checkpoint({"a": torch.ones(1)}, tmp_path / "good.ckpt")
    with pytest.raises(OSError, match="disk full writing"):
        io.teardown()  # the later save was still written
    assert (tmp_path / "good.ckpt").exists()


def test_async_error_fails_fit(tmp_path):
    io = AsyncCheckpointIO(SlowIO(fail_on="step=1.ckpt"))
    ck = ModelCheckpoint(dirpath=tmp_path)
    trainer = one_batch(tmp_path, plugins=[io], callbacks=ck, max_epochs=1)
    with pytest.raises(OSError, match="disk full writing"):
        trainer.fit(BoringModel())


def test_async_checkpoint_plugin(tmp_path):
    # Ported from test_checkpoint_io_plugin.py::test_async_checkpoint_plugin
    base = SlowIO()
    io = AsyncCheckpointIO(base)
    ck = ModelCheckpoint(dirpath=tmp_path, save_top_k=2, monitor="step", mode="max")

    trainer = one_batch(tmp_path, plugins=[io], callbacks=ck, max_epochs=3)
    trainer.validate(BoringModel(), verbose=False)  # the executor is made again after teardown
    trainer.fit(BoringModel())
    assert trainer.strategy.checkpoint_io is io and io.checkpoint_io is base
    assert len(base.threads) == 3  # three saves, each on the executor's thread
    assert all(name.startswith("treadle-ckpt") for name in base.threads)
    # save_top_k=2 on "step": the first one was removed once the third was written
    assert {p.name for p in tmp_path.glob("*.ckpt")} == {
        "epoch=1-step=2.ckpt",
        "epoch=2-step=3.ckpt",
    }


def test_multi_wrapped_checkpoint_io_initialization(tmp_path):
    # Ported from test_checkpoint_io_plugin.py::test_multi_wrapped_checkpoint_io_initialization
    base = TorchCheckpointIO()
    wrap = AsyncCheckpointIO(base)
    io = AsyncCheckpointIO(wrap)
    assert io.checkpoint_io is wrap and io.checkpoint_io.checkpoint_io is base
    wrap = AsyncCheckpointIO()
    io = AsyncCheckpointIO(wrap)
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[io]))
    assert trainer.strategy.checkpoint_io is io and io.checkpoint_io is wrap
    assert isinstance(wrap.checkpoint_io, TorchCheckpointIO)


def test_checkpoint_io_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        CheckpointIO()  # type: ignore[abstract]


# -- precision ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin", "name"),
    [
        (Precision(), "32-true"),
        (DoublePrecision(), "64-true"),
        (HalfPrecision("bf16-true"), "bf16-true"),
        (MixedPrecision("bf16-mixed", "cpu"), "bf16-mixed"),
    ],
)
def test_precision_plugin_selects_by_name(tmp_path, plugin, name):
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[plugin]))
    assert trainer.precision_plugin.name == name
    assert trainer.precision == name


# Ported from plugins/precision/test_amp.py::test_amp_with_no_grad,
# test_amp_autocast_context_manager_disables_cache
@pytest.mark.parametrize(
    ("name", "dtype"), [("bf16-mixed", torch.bfloat16), ("16-mixed", torch.half)]
)
def test_mixed_precision_plugin_autocast_contexts(name, dtype):
    amp = MixedPrecision(name, "cpu")
    layer, x = torch.nn.Linear(2, 1), torch.randn(1, 2)
    with amp.autocast_context_manager():
        assert torch.is_autocast_enabled("cpu") and not torch.is_autocast_cache_enabled()
        assert torch.get_autocast_dtype("cpu") == dtype
    assert not torch.is_autocast_enabled("cpu")
    with amp.forward_context():
        with torch.no_grad():  # with the weight cache off, no_grad does not leak out
            layer(x)
        out = layer(x)
        assert out.dtype == dtype
        out.float().mean().backward()
    assert layer.weight.grad is not None


def test_double_precision_plugin_trains(tmp_path):
    seen = []

    class Model(BoringModel):
        def training_step(self, batch, batch_idx):
            seen.append(self.layer.weight.dtype)
            return super().training_step(batch, batch_idx)

    one_batch(tmp_path, plugins=[DoublePrecision()], max_epochs=1).fit(Model())
    assert seen == [torch.float64]


# Ported from plugins/precision/test_double.py::test_double_precision
# (DoublePrecisionBoringModelComplexBuffer)
def test_double_precision_keeps_complex_buffers_and_builds_configure_model_in_float64(tmp_path):
    seen = {}

    class Model(BoringModel):
        def __init__(self):
            super().__init__()
            self.register_buffer("made_in_init", torch.complex(torch.rand(3), torch.rand(3)))

        def configure_model(self):
            self.register_buffer("made_in_hook", torch.complex(torch.rand(3), torch.rand(3)))

        def on_fit_start(self):
            seen["init"], seen["hook"] = self.made_in_init.dtype, self.made_in_hook.dtype
            seen["weight"] = self.layer.weight.dtype

    one_batch(tmp_path, precision="64-true", max_epochs=1).fit(Model())
    # `module.double()` leaves a complex buffer as it is (`.to(float64)` made it real); one
    # made in configure_model is complex128, the default dtype being float64 there
    assert seen == {"init": torch.complex64, "hook": torch.complex128, "weight": torch.float64}
    assert torch.get_default_dtype() == torch.float32


# Ported from plugins/precision/test_double.py::test_convert_module, test_module_init_context;
# test_half.py::test_module_init_context, test_forward_context, test_convert_module;
# test_all.py::test_default_dtype_is_restored
@pytest.mark.parametrize(
    ("plugin", "dtype"),
    [
        (DoublePrecision(), torch.float64),
        (HalfPrecision("bf16-true"), torch.bfloat16),
        (HalfPrecision("16-true"), torch.half),
        (DeepSpeedPrecision("16-true"), torch.half),
        (FSDPPrecision("bf16-true"), torch.bfloat16),
    ],
)
def test_precision_plugin_contexts_and_convert_module(plugin, dtype):
    layer = torch.nn.Linear(2, 2)
    assert plugin.convert_module(layer) is layer and layer.weight.dtype == dtype
    for context in (plugin.module_init_context, plugin.tensor_init_context, plugin.forward_context):
        with context():
            made = torch.nn.Linear(2, 2)
            assert torch.get_default_dtype() == dtype
        assert made.weight.dtype == dtype and torch.get_default_dtype() == torch.float32
    with pytest.raises(RuntimeError, match="foo"), plugin.module_init_context():
        raise RuntimeError("foo")
    assert torch.get_default_dtype() == torch.float32
    batch = {"x": [torch.zeros(2)], "y": torch.zeros(2, dtype=torch.long)}
    converted = plugin.convert_input(batch)
    assert converted["x"][0].dtype == dtype and converted["y"].dtype == torch.long


def test_full_and_mixed_precision_plugins_change_nothing():
    layer = torch.nn.Linear(2, 2)
    for plugin in (Precision(), MixedPrecision("bf16-mixed", "cpu"), FSDPPrecision("16-mixed")):
        assert plugin.convert_module(layer).weight.dtype == torch.float32
        with plugin.module_init_context():
            assert torch.get_default_dtype() == torch.float32
        assert plugin.convert_input(torch.zeros(1)).dtype == torch.float32


def test_precision_plugin_and_precision_flag_refused(tmp_path):
    with pytest.raises(ValueError, match=re.escape("Received both `precision=64-true` and")):
        treadle.Trainer(**quiet(tmp_path, precision="64-true", plugins=[DoublePrecision()]))


def test_two_plugins_of_one_type_refused(tmp_path):
    with pytest.raises(
        ConfigurationError,
        match=re.escape("Received multiple values for Precision, CheckpointIO flags in `plugins`."),
    ):
        treadle.Trainer(
            **quiet(
                tmp_path,
                plugins=[Precision(), DoublePrecision(), TorchCheckpointIO(), RecordingIO()],
            )
        )


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (BitsandbytesPrecision("nf4"), "has no precision that runs bitsandbytes' quantized layers"),
        (
            TransformerEnginePrecision(weights_dtype=torch.float32),
            "has no precision that runs Transformer Engine's FP8 layers",
        ),
        (
            MixedPrecision("16-mixed", "cuda", scaler=torch.amp.GradScaler("cpu")),
            "makes and checkpoints its own grad scaler",
        ),
        (type("MyPrecision", (Precision,), {})(), "a subclass of Lightning's `Precision`"),
    ],
)
def test_precision_plugins_treadle_cannot_run_are_refused(tmp_path, plugin, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        treadle.Trainer(**quiet(tmp_path, plugins=[plugin]))


def test_mixed_precision_checks_its_name():
    with pytest.raises(ValueError, match=re.escape("Precision must be '16-mixed' or 'bf16-mixed'")):
        MixedPrecision("32-true", "cpu")  # type: ignore[arg-type]


# -- environments ------------------------------------------------------------------------------


def _lsf_variables(monkeypatch, tmp_path):
    """An LSF job's variables (``jsrun``'s), this host the rank file's second node."""
    rankfile = tmp_path / "lsb_djob_rankfile"
    rankfile.write_text("batch\n10.10.10.0\n10.10.10.1\n10.10.10.2\n10.10.10.3")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    for name, value in {"LSB_DJOB_RANKFILE": str(rankfile), "LSB_JOBID": "1234",
                        "JSM_NAMESPACE_SIZE": "4", "JSM_NAMESPACE_RANK": "3",
                        "JSM_NAMESPACE_LOCAL_RANK": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("socket.gethostname", lambda: "10.10.10.1")


@pytest.mark.parametrize("env_class", [KubeflowEnvironment, LSFEnvironment, MPIEnvironment])
def test_environments_treadle_lacks_are_refused(tmp_path, monkeypatch, env_class):
    if env_class is LSFEnvironment:  # (made from the job's variables, as Lightning's)
        _lsf_variables(monkeypatch, tmp_path)
    env = env_class()
    name = type(env).__name__
    with pytest.raises(
        ConfigurationError, match=re.escape(f"`plugins=[{name}(...)]`: treadle has no {name}")
    ):
        treadle.Trainer(**quiet(tmp_path, plugins=[env]))


def test_a_subclass_of_an_environment_treadle_lacks_is_refused(tmp_path):
    class MyKubeflow(KubeflowEnvironment):
        pass

    with pytest.raises(
        ConfigurationError,
        match=re.escape("`plugins=[MyKubeflow(...)]`: treadle has no KubeflowEnvironment"),
    ):
        treadle.Trainer(**quiet(tmp_path, plugins=[MyKubeflow()]))


class _DocsCluster(ClusterEnvironment):
    """The Trainer docs page's ``MyCluster``: ``main_address``/``main_port``/``world_size``
    written as methods, the other abstract methods filled in for one process."""

    def main_address(self):  # type: ignore[override]
        return "127.0.0.1"

    def main_port(self):  # type: ignore[override]
        return 12910

    def world_size(self):
        return 1

    @property
    def creates_processes_externally(self):
        return False

    @staticmethod
    def detect():
        return True

    def set_world_size(self, size):
        pass

    def global_rank(self):
        return 0

    def set_global_rank(self, rank):
        pass

    def local_rank(self):
        return 0

    def node_rank(self):
        return 0


def test_a_program_cluster_environment_that_creates_no_processes(tmp_path):
    """The docs page's ``plugins=[MyCluster()]`` on one process: treadle starts whatever
    processes there are, as without a cluster environment, and the run goes on."""
    given = _DocsCluster()
    trainer = treadle.Trainer(
        **quiet(tmp_path, plugins=[given], accelerator="cpu", devices=1, max_steps=2)
    )
    assert trainer.environment is None and trainer.world_size == 1
    assert trainer.strategy.cluster_environment is given  # as Lightning's: the object given
    trainer.fit(BoringModel())
    assert trainer.global_step == 2


def test_a_program_cluster_environment_that_creates_no_processes_is_told_the_ranks(tmp_path):
    """As Lightning's: such an environment's ranks are not read (they may be unset) and
    ``trainer.strategy.cluster_environment`` is the object, told the strategy's ranks."""

    class Unset(_DocsCluster):
        def __init__(self):
            self.size = self.rank = None

        def world_size(self):
            return self.size

        def set_world_size(self, size):
            self.size = size

        def global_rank(self):
            return self.rank

        def set_global_rank(self, rank):
            self.rank = rank

    cluster = Unset()
    trainer = treadle.Trainer(
        **quiet(tmp_path, plugins=[cluster], accelerator="cpu", devices=2, strategy="ddp_spawn")
    )
    assert trainer.strategy.cluster_environment is cluster
    assert (cluster.size, cluster.rank) == (2, 0)


def test_a_program_cluster_environment_that_creates_the_processes_is_read(tmp_path):
    class Joined(_DocsCluster):
        @property
        def creates_processes_externally(self):
            return True

    given = Joined()
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[given], devices=1))
    assert trainer.strategy.cluster_environment is given
    env = trainer.environment
    assert (env.name, env.world_size, env.global_rank, env.node_rank) == ("Joined", 1, 0, 0)
    assert (env.main_address, env.main_port) == ("127.0.0.1", 12910)  # methods, called


def test_strategy_cluster_environment_is_the_programs_object(tmp_path, monkeypatch):
    """Ported from tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py::
    test_custom_cluster_environment_in_slurm_environment: a ``LightningEnvironment`` subclass
    that creates the processes is chosen over SLURM's variables, and
    ``trainer.strategy.cluster_environment`` is the program's own object."""

    class CustomCluster(LightningEnvironment):
        @property
        def main_address(self):
            return "asdf"

        @property
        def creates_processes_externally(self) -> bool:
            return True

    for name, value in {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "1",
                        "SLURM_JOB_NAME": "SOME_NAME", "SLURM_NODEID": "0", "LOCAL_RANK": "0",
                        "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    cluster = CustomCluster()
    trainer = treadle.Trainer(
        **quiet(tmp_path, plugins=[cluster], accelerator="cpu", strategy="ddp", devices=2)
    )
    assert trainer.strategy.cluster_environment is cluster
    assert trainer.environment.main_address == "asdf"


def test_lightning_environment_is_no_cluster_environment(tmp_path):
    given = LightningEnvironment()
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[given]))
    assert trainer.environment is None
    env = trainer.strategy.cluster_environment  # the object given, holding the ranks
    assert env is given and (env.world_size(), env.global_rank()) == (1, 0)


def test_torchelastic_environment_selects_torchrun(tmp_path, monkeypatch):
    for name, value in {"TORCHELASTIC_RUN_ID": "1", "WORLD_SIZE": "1", "RANK": "0",
                        "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "29500", "GROUP_RANK": "0"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert TorchElasticEnvironment.detect()
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[TorchElasticEnvironment()]))
    assert trainer.plugin_manager.reasons["environment"][0] == "torchrun"
    with pytest.raises(
        ConfigurationError, match=re.escape("but this process runs under 'torchrun'")
    ):
        treadle.Trainer(**quiet(tmp_path, plugins=[LightningEnvironment()]))


def test_torchelastic_environment_outside_torchrun_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert not TorchElasticEnvironment.detect()
    with pytest.raises(ConfigurationError, match="torchrun"):
        treadle.Trainer(**quiet(tmp_path, plugins=[TorchElasticEnvironment()]))


def test_slurm_environment_settings_treadle_takes_elsewhere(tmp_path):
    with pytest.raises(ConfigurationError, match=re.escape("TREADLE_SLURM_AUTO_REQUEUE=0")):
        treadle.Trainer(**quiet(tmp_path, plugins=[SLURMEnvironment(auto_requeue=False)]))
    import signal

    with pytest.raises(ConfigurationError, match=re.escape("treadle requeues on SIGUSR1 only")):
        treadle.Trainer(**quiet(tmp_path, plugins=[SLURMEnvironment(requeue_signal=signal.SIGHUP)]))


def test_slurm_environment_selects_treadle_slurm(tmp_path, monkeypatch):
    pytest.importorskip("treadle_slurm", reason="treadle-slurm (contrib/) is not installed")
    for name, value in {"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                        "SLURM_NODEID": "0", "SLURM_JOB_ID": "1234", "SLURM_JOB_NAME": "train",
                        "SLURM_JOB_NODELIST": "node1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert SLURMEnvironment.detect() and SLURMEnvironment().global_rank() == 0
    trainer = treadle.Trainer(**quiet(tmp_path, plugins=[SLURMEnvironment()]))
    assert trainer.plugin_manager.reasons["environment"][0] == "slurm"
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")
    assert not SLURMEnvironment.detect()


def test_detect_reads_the_environment(monkeypatch):
    assert LightningEnvironment.detect() is True
    with pytest.raises(NotImplementedError, match="can't be detected automatically"):
        KubeflowEnvironment.detect()
    monkeypatch.delenv("LSB_JOBID", raising=False)
    assert LSFEnvironment.detect() is False
    for name in (
        "LSB_JOBID",
        "LSB_DJOB_RANKFILE",
        "JSM_NAMESPACE_LOCAL_RANK",
        "JSM_NAMESPACE_SIZE",
    ):
        monkeypatch.setenv(name, "1")
    assert LSFEnvironment.detect() is True
    assert MPIEnvironment.detect() is False  # no mpi4py, or one process


# Ported from plugins/environments/test_kubeflow_environment.py::test_default_attributes,
# test_attributes_from_environment_variables
def test_kubeflow_environment_reads_its_variables_as_lightning(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    env = KubeflowEnvironment()
    assert env.creates_processes_externally
    for name, read in (
        ("MASTER_ADDR", lambda: env.main_address),
        ("MASTER_PORT", lambda: env.main_port),
        ("WORLD_SIZE", env.world_size),
        ("RANK", env.global_rank),
    ):
        with pytest.raises(KeyError, match=name):
            read()
    assert env.local_rank() == 0
    for name, value in {"MASTER_ADDR": "1.2.3.4", "MASTER_PORT": "500", "WORLD_SIZE": "20",
                        "RANK": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert (env.main_address, env.main_port, env.world_size(), env.global_rank()) == (
        "1.2.3.4", 500, 20, 1,
    )  # fmt: skip
    assert (env.local_rank(), env.node_rank()) == (0, 1)
    env.set_global_rank(100)
    env.set_world_size(100)
    assert (env.global_rank(), env.world_size()) == (1, 20)  # the setters change nothing


# Ported from plugins/environments/test_lsf_environment.py::test_missing_lsb_djob_rankfile,
# test_empty_lsb_djob_rankfile, test_missing_lsb_job_id, test_manual_main_port_and_address,
# test_attributes_from_environment_variables, test_node_rank
def test_lsf_environment_reads_its_job_as_lightning(monkeypatch, tmp_path):
    _lsf_variables(monkeypatch, tmp_path)
    env = LSFEnvironment()
    assert env.creates_processes_externally
    assert (env.main_address, env.main_port) == ("10.10.10.0", 10234)  # 10000 + 1234 % 1000
    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("10.10.10.0", "10234")
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (4, 3, 1, 1)
    env.set_global_rank(100)
    env.set_world_size(100)
    assert (env.global_rank(), env.world_size()) == (3, 4)
    assert LSFEnvironment.detect()
    monkeypatch.setenv("MASTER_PORT", "777")
    assert LSFEnvironment().main_port == 777
    monkeypatch.delenv("MASTER_PORT")
    monkeypatch.delenv("LSB_JOBID")
    with pytest.raises(ValueError, match="Could not find job id in environment variable LSB_JOBID"):
        LSFEnvironment()
    monkeypatch.setenv("LSB_DJOB_RANKFILE", "")
    with pytest.raises(ValueError, match="The environment variable `LSB_DJOB_RANKFILE` is empty"):
        LSFEnvironment()
    monkeypatch.delenv("LSB_DJOB_RANKFILE")
    with pytest.raises(
        ValueError, match="Did not find the environment variable `LSB_DJOB_RANKFILE`"
    ):
        LSFEnvironment()
    monkeypatch.delenv("JSM_NAMESPACE_RANK")
    with pytest.raises(ValueError, match="Environment variable `JSM_NAMESPACE_RANK` not found"):
        env.global_rank()


# Ported from plugins/environments/test_slurm_environment.py::test_default_attributes,
# test_attributes_from_environment_variables, test_main_address_from_slurm_node_list
def test_slurm_environment_reads_slurm_as_lightning(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SLURM_") or name in ("MASTER_ADDR", "MASTER_PORT"):
            monkeypatch.delenv(name)
    env = SLURMEnvironment()
    assert env.main_address == "127.0.0.1" and env.main_port == 12910
    assert env.job_name() is None and env.job_id() is None
    for read in (env.world_size, env.local_rank, env.node_rank):
        with pytest.raises(KeyError):
            read()
    for name in ("MASTER_ADDR", "MASTER_PORT"):  # (set for the run, as Lightning does)
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLURM_NTASKS", "20")
    with pytest.raises(RuntimeError, match="--ntasks-per-node=20"):
        SLURMEnvironment()
    variables = {
        "SLURM_NODELIST": "1.2.3.[100-110]",
        "SLURM_JOB_ID": "0001234",
        "SLURM_NTASKS_PER_NODE": "10",
        "SLURM_LOCALID": "2",
        "SLURM_PROCID": "1",
        "SLURM_NODEID": "3",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    env = SLURMEnvironment()
    assert env.main_address == "1.2.3.100" and env.main_port == 15000 + 1234
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (20, 1, 2, 3)
    env.set_global_rank(100)  # the cluster fixes the ranks: no-ops
    env.set_world_size(100)
    assert (env.world_size(), env.global_rank()) == (20, 1)
    with pytest.raises(ValueError, match="HINT: Set `devices=10`"):
        env.validate_settings(num_devices=2, num_nodes=2)


# Ported from plugins/environments/test_torchelastic_environment.py::test_default_attributes,
# test_attributes_from_environment_variables; test_lightning_environment.py::
# test_attributes_from_environment_variables, test_random_main_port, test_teardown
def test_torchelastic_and_lightning_environments_as_lightning(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "GROUP_RANK"):
        monkeypatch.delenv(name, raising=False)
    elastic = TorchElasticEnvironment()
    assert elastic.main_address == "127.0.0.1" and elastic.main_port == 12910
    assert elastic.node_rank() == 0
    with pytest.raises(KeyError):
        elastic.world_size()
    monkeypatch.setenv("WORLD_SIZE", "20")
    monkeypatch.setenv("RANK", "1")
    elastic.set_global_rank(100)
    assert (elastic.world_size(), elastic.global_rank()) == (20, 1)

    monkeypatch.delenv("MASTER_PORT")
    env = LightningEnvironment()
    port = env.main_port
    assert isinstance(port, int) and port > 0 and env.main_port == port  # found once
    # the world size and rank are the strategy's (not WORLD_SIZE/RANK): 1 and 0 until set
    assert (env.world_size(), env.global_rank()) == (1, 0)
    env.set_world_size(4)
    assert env.world_size() == 4
    env.teardown()
    assert "WORLD_SIZE" not in os.environ


# Ported from plugins/test_cluster_integration.py::test_ranks_available_automatic_strategy_selection
def test_cluster_environment_and_rank_zero_only_rank_after_trainer_init(tmp_path, monkeypatch):
    from treadle.utilities import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "_rank", 100)  # (restored to "not set" at the end)
    utilities = pytest.importorskip("lightning_utilities.core.rank_zero")
    monkeypatch.setattr(utilities.rank_zero_only, "rank", 0, raising=False)  # (set below)
    trainer = treadle.Trainer(default_root_dir=tmp_path, accelerator="cpu", devices=1)
    assert type(trainer.strategy.cluster_environment) is LightningEnvironment
    assert trainer.strategy.cluster_environment.world_size() == 1
    assert rank_zero_only.rank == 100  # one process: left as it was, as Lightning's
    variables = {
        "SLURM_JOB_NAME": "job",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "3",
        "SLURM_NTASKS": "4",
        "SLURM_NTASKS_PER_NODE": "2",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    trainer = treadle.Trainer(
        default_root_dir=tmp_path, strategy="ddp", accelerator="cpu", devices=2, num_nodes=2
    )
    assert type(trainer.strategy.cluster_environment) is SLURMEnvironment
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank) == (3, 1, 1)
    assert rank_zero_only.rank == utilities.rank_zero_only.rank == 3  # as Lightning's DDP sets it

    calls = []
    rank_zero_only(calls.append)(1)  # rank 3: the decorated function does not run
    rank_zero_only.rank = 0
    rank_zero_only(calls.append)(2)
    assert calls == [2]


# -- layer sync ----------------------------------------------------------------------------------


def test_sync_batchnorm_plugin_accepted_and_usable_by_hand(tmp_path):
    # (a fit on several processes applies it: tests/distributed/test_sync_batchnorm.py); one
    # process leaves the layers as they are, as Lightning's single-device strategy
    from treadle.demos import BoringModel

    class WithNorm(BoringModel):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(32)

        def forward(self, x):
            return self.layer(self.norm(x))

    for arguments in (dict(sync_batchnorm=True), dict(plugins=[TorchSyncBatchNorm()])):
        model = WithNorm()
        trainer = treadle.Trainer(**quiet(tmp_path, max_steps=2, **arguments))
        trainer.fit(model, torch.utils.data.DataLoader(torch.randn(8, 32), batch_size=4))
        assert trainer.global_step == 2 and type(model.norm) is torch.nn.BatchNorm1d

    class OwnSync(LayerSync):  # Ported from tests/tests_pytorch/trainer/connectors/
        def apply(self, model):  # test_accelerator_connector.py::test_sync_batchnorm_invalid_choice
            return model

        def revert(self, model):
            return model

    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "You set `Trainer(sync_batchnorm=True)` and provided a `OwnSync` plugin, but this "
            "is not allowed. Choose one or the other."
        ),
    ):
        treadle.Trainer(**quiet(tmp_path, sync_batchnorm=True, plugins=[OwnSync()]))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    synced = TorchSyncBatchNorm().apply(model)
    assert isinstance(synced[1], torch.nn.SyncBatchNorm) and isinstance(
        TorchSyncBatchNorm(), LayerSync
    )
    reverted = TorchSyncBatchNorm().revert(synced)
    assert not isinstance(reverted[1], torch.nn.SyncBatchNorm)
    assert reverted(torch.randn(4, 2)).shape == (4, 2)


# -- import paths --------------------------------------------------------------------------------

PATHS = [
    "from treadle.plugins.io.checkpoint_plugin import CheckpointIO",
    "from treadle.plugins.io.torch_plugin import TorchCheckpointIO",
    "from treadle.plugins.io.async_plugin import AsyncCheckpointIO",
    "from treadle.plugins.io.wrapper import _WrappingCheckpointIO",
    "from treadle.plugins.environments.slurm import SLURMEnvironment",
    "from treadle.plugins.environments.torchelastic import TorchElasticEnvironment",
    "from treadle.plugins.precision.amp import MixedPrecision",
    "from treadle.plugins.precision.double import DoublePrecision",
    "from treadle.plugins.precision.half import HalfPrecision",
    "from treadle.plugins.layer_sync import LayerSync, TorchSyncBatchNorm",
    "from treadle.plugins import CheckpointIO, AsyncCheckpointIO, MixedPrecision",
]


@pytest.mark.parametrize("statement", PATHS)
def test_lightning_plugin_paths_import(statement):
    subprocess.run([sys.executable, "-c", statement], check=True, cwd=Path(__file__).parent)


def test_import_treadle_does_not_import_treadle_plugins():
    code = "import sys, treadle; t = treadle.Trainer(logger=False); print('treadle.plugins' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "False"
