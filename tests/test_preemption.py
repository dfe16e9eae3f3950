"""Preemption (issue 11, item 3): SIGTERM, SIGUSR1 and SIGINT during ``fit()`` finish the
current step, save ``last.ckpt``, call ``on_exception`` with ``treadle.errors.Preempted`` and
exit with 128 + the signal number. Real processes, real signals: a subprocess trains, the test
waits for a marker file written at a given step, signals the process, and lets it go on.
Every subprocess has a timeout."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.errors import Preempted

TIMEOUT = 120  # seconds, for any one subprocess

SCRIPT = """
import json, os, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

out = sys.argv[1]
signal_at = int(sys.argv[2])  # global step after which the test signals us (-1: never)
ckpt_path = sys.argv[3] if sys.argv[3] != "-" else None


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        time.sleep(float(os.environ.get("STEP_SLEEP", 0)))
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]


class WaitForSignal(treadle.Callback):
    # At step `signal_at`: write the marker, wait until the test has signalled us (the handler
    # runs during the sleep) and says go: the run must stop after this very batch.
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == signal_at and trainer.global_rank == int(os.environ.get("SIGNALLED_RANK", 0)):
            # Written whole, then renamed: the test reads the pid as soon as the name exists.
            with open(os.path.join(out, "marker.part"), "w") as f:
                f.write(str(os.getpid()))
            os.replace(os.path.join(out, "marker.part"), os.path.join(out, "marker"))
            go = os.path.join(out, "go")
            deadline = time.monotonic() + 60
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.01)

    def on_exception(self, trainer, pl_module, exception):
        record = {
            "type": type(exception).__name__,
            "signum": getattr(exception, "signum", None),
            "ckpt_path": getattr(exception, "ckpt_path", None),
            "global_step": trainer.global_step,
            "exists": os.path.exists(getattr(exception, "ckpt_path", "") or ""),
        }
        with open(os.path.join(out, f"on_exception.{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)


if __name__ == "__main__":
    treadle.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(80, 4, generator=g), torch.randn(80, 1, generator=g))
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=3,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=out,
        callbacks=[WaitForSignal()],
        **json.loads(os.environ.get("TRAINER_EXTRA", "{}")),
    )
    model = Net()
    trainer.fit(model, DataLoader(data, batch_size=8, shuffle=True), ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        torch.save(model.state_dict(), os.path.join(out, "final.pt"))
    print("FINISHED", trainer.global_rank, trainer.global_step, flush=True)
"""


@pytest.fixture(scope="module")
def script_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("preemption")


@pytest.fixture(scope="module")
def script(script_dir):
    path = script_dir / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


@pytest.fixture(scope="module")
def reference(script, script_dir):
    """The final weights of the run never signalled (one process), made once."""
    out = script_dir / "reference"
    proc = start(script, out)
    output = finish(proc)
    assert proc.returncode == 0 and f"FINISHED 0 {STEPS}" in output, output
    assert not (out / "checkpoints").exists() and not list(out.glob("on_exception*"))
    return final_weights(out)


def start(script, out, signal_at=-1, ckpt_path=None, env=None):
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(signal_at), str(ckpt_path or "-")],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc):
    try:
        output = proc.communicate(timeout=TIMEOUT)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return output


def wait_for(path, proc, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the process ended before {path.name}:\n{proc.communicate()[0]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {path.name} within {timeout} s:\n{proc.communicate()[0]}")
        time.sleep(0.02)


def final_weights(out):
    return torch.load(out / "final.pt", weights_only=True)


# 80 samples, batch 8: 10 steps per epoch, 30 in all; the signal comes at step 13 (mid-epoch 1).
STEPS, SIGNAL_AT = 30, 13


@pytest.mark.slow  # three processes, ~25 s
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_a_signal_saves_last_ckpt_calls_on_exception_exits_and_the_run_resumes(
    tmp_path, script, reference, signum
):
    out = tmp_path / "preempted"
    proc = start(script, out, signal_at=SIGNAL_AT)
    wait_for(out / "marker", proc)
    os.kill(proc.pid, signum)
    time.sleep(0.2)  # the handler runs in the callback's sleep
    (out / "go").touch()
    output = finish(proc)

    assert proc.returncode == 128 + signum, output
    ckpt = out / "checkpoints" / "last.ckpt"
    assert ckpt.is_file(), output
    assert "FINISHED" not in output
    name = signal.Signals(signum).name
    assert (
        f"treadle: {name} received: the run was saved to {ckpt} (epoch 1, 3 batches done, "
        f"global step {SIGNAL_AT}); exiting with code {128 + signum}." in output
    ), output
    record = json.loads((out / "on_exception.0.json").read_text())
    assert record == {
        # Lightning's SIGTERMException (a Preempted) for SIGTERM
        "type": "SIGTERMException" if signum == signal.SIGTERM else "Preempted",
        "signum": int(signum),
        "ckpt_path": str(ckpt),
        "global_step": SIGNAL_AT,  # the step that was running finished, no other began
        "exists": True,  # saved before on_exception
    }
    saved = torch.load(ckpt, weights_only=True)
    assert saved["global_step"] == SIGNAL_AT
    assert saved["loops"]["fit"]["epoch"] == 1 and saved["loops"]["fit"]["batches_done"] == 3

    # The requeued job: the same script from that file ends where an uninterrupted run ends.
    resumed = tmp_path / "resumed"
    proc = start(script, resumed, ckpt_path=ckpt)
    output = finish(proc)
    assert proc.returncode == 0 and f"FINISHED 0 {STEPS}" in output, output
    for key, value in reference.items():  # bit for bit
        torch.testing.assert_close(final_weights(resumed)[key], value, rtol=0, atol=0)


def test_a_second_ctrl_c_interrupts_at_once(tmp_path, script):
    out = tmp_path / "run"
    proc = start(script, out, signal_at=SIGNAL_AT)
    wait_for(out / "marker", proc)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)  # the previous handler is back: KeyboardInterrupt
    output = finish(proc)
    # fit() ends a KeyboardInterrupt with one line and exit code 130, no traceback (issue 13)
    assert proc.returncode == 130, output
    assert "treadle: Detected KeyboardInterrupt, attempting graceful shutdown" in output, output
    assert "Traceback" not in output, output
    record = json.loads((out / "on_exception.0.json").read_text())
    assert record["type"] == "KeyboardInterrupt" and record["global_step"] == SIGNAL_AT
    assert not (out / "checkpoints" / "last.ckpt").exists()  # interrupted before the save


def test_without_a_signal_the_run_finishes_with_code_0(reference):
    assert reference  # the fixture ran it: code 0, FINISHED, no checkpoint, no on_exception


# -- in this process: handlers, threads, late signals ------------------------------------------


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Recorder(treadle.Callback):
    def __init__(self, send=None, at=None):
        self.send, self.at = send, at  # (hook name, step) at which this process signals itself
        self.handlers, self.exceptions = {}, []

    def on_train_start(self, trainer, pl_module):
        self.handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.at == ("batch", trainer.global_step):
            os.kill(os.getpid(), self.send)

    def on_train_end(self, trainer, pl_module):
        if self.at == ("train_end", None):
            os.kill(os.getpid(), self.send)

    def on_exception(self, trainer, pl_module, exception):
        self.exceptions.append(exception)


def fit(root, recorder, **kwargs):
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        callbacks=[recorder],
        **kwargs,
    )
    trainer.fit(Regression(), DataLoader(data, batch_size=8))
    return trainer


def test_handlers_are_installed_during_fit_only(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    recorder = Recorder()
    trainer = fit(tmp_path, recorder)
    assert trainer.global_step == 8 and not recorder.exceptions
    assert all(h not in (signal.SIG_DFL, None) for h in recorder.handlers.values())
    assert {s: signal.getsignal(s) for s in before} == before


def test_in_process_preempted_is_a_system_exit_with_the_signal_code(tmp_path):
    recorder = Recorder(send=signal.SIGUSR1, at=("batch", 3))
    with pytest.raises(Preempted) as info:
        fit(tmp_path, recorder)
    assert isinstance(info.value, SystemExit) and not isinstance(info.value, Exception)
    assert (info.value.code, info.value.signum) == (138, signal.SIGUSR1)
    path = str(tmp_path / "checkpoints" / "last.ckpt")  # enable_checkpointing=True: its dirpath
    assert info.value.ckpt_path == path and os.path.isfile(path)
    assert str(info.value) == f"SIGUSR1 received: the run was saved to {path}"
    assert recorder.exceptions == [info.value]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_sigterm_raises_lightnings_sigterm_exception_a_preempted(tmp_path):
    """Lightning's loops raise ``SIGTERMException`` (a ``SystemExit``) on SIGTERM, built with no
    arguments (Ported from tests/tests_pytorch/trainer/connectors/test_signal_connector.py::
    test_sigterm_exception_exit_code, its 143); treadle's stop on SIGTERM is that class, a
    ``Preempted``; other signals stay plain ``Preempted``."""
    from treadle.utilities.exceptions import SIGTERMException as by_lightnings_path

    from treadle.utilities import SIGTERMException

    assert by_lightnings_path is SIGTERMException
    bare = SIGTERMException()
    assert isinstance(bare, Preempted) and isinstance(bare, SystemExit)
    assert (bare.code, bare.signum, bare.ckpt_path) == (143, 15, None)
    assert str(bare) == "SIGTERM received: the run stopped"

    recorder = Recorder(send=signal.SIGTERM, at=("batch", 3))
    with pytest.raises(SIGTERMException) as info:
        fit(tmp_path / "term", recorder)
    path = str(tmp_path / "term" / "checkpoints" / "last.ckpt")
    assert (info.value.code, info.value.ckpt_path) == (143, path) and os.path.isfile(path)
    assert recorder.exceptions == [info.value]

    with pytest.raises(Preempted) as info:
        fit(tmp_path / "usr1", Recorder(send=signal.SIGUSR1, at=("batch", 3)))
    assert not isinstance(info.value, SIGTERMException)


class SignalMidStep(Regression):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if self.trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in the step
        return loss


def test_a_signal_in_the_middle_of_a_step_lets_the_step_finish(tmp_path):
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    model = SignalMidStep()
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(Preempted):
        trainer.fit(model, DataLoader(data, batch_size=8))
    assert trainer.global_step == 3  # the optimizer stepped: the step finished, none began
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 3
    for key, value in model.state_dict().items():  # saved after the step, as it ended
        assert torch.equal(saved["state_dict"][key], value)


def test_the_checkpoint_goes_to_the_checkpoint_callbacks_dirpath(tmp_path):
    from treadle.callbacks import ModelCheckpoint

    recorder = Recorder(send=signal.SIGTERM, at=("batch", 5))
    with pytest.raises(Preempted) as info:
        data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
        trainer = treadle.Trainer(
            accelerator="cpu",
            max_epochs=2,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            callbacks=[recorder, ModelCheckpoint(dirpath=tmp_path / "mine")],
        )
        trainer.fit(Regression(), DataLoader(data, batch_size=8))
    assert info.value.ckpt_path == str(tmp_path / "mine" / "last.ckpt")
    assert torch.load(info.value.ckpt_path, weights_only=True)["global_step"] == 5


def test_a_signal_after_the_last_batch_still_saves_and_exits(tmp_path):
    # SIGTERM during on_train_end: no batch is left to check after; fit() saves as it ended.
    recorder = Recorder(send=signal.SIGTERM, at=("train_end", None))
    with pytest.raises(Preempted) as info:
        fit(tmp_path, recorder, enable_checkpointing=False)
    assert info.value.code == 143 and recorder.exceptions == [info.value]
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert (saved["global_step"], saved["epoch"]) == (8, 2)  # the finished run


def test_a_handler_already_set_is_left_alone(tmp_path):
    got = []
    previous = signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        recorder = Recorder(send=signal.SIGUSR1, at=("batch", 3))
        trainer = fit(tmp_path, recorder, enable_checkpointing=False)
        os.kill(os.getpid(), signal.SIGTERM)  # ignored, as before fit
    finally:
        signal.signal(signal.SIGUSR1, previous)
        signal.signal(signal.SIGTERM, previous_term)
    assert got == [signal.SIGUSR1] and trainer.global_step == 8 and not recorder.exceptions
    assert recorder.handlers[signal.SIGTERM] is signal.SIG_IGN
    assert not (tmp_path / "checkpoints").exists()


def test_fit_in_another_thread_installs_nothing(tmp_path):
    seen = {}

    def target():
        recorder = Recorder()
        seen["trainer"] = fit(tmp_path, recorder, enable_checkpointing=False)
        seen["handlers"] = recorder.handlers

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=TIMEOUT)
    assert seen["trainer"].global_step == 8
    assert seen["handlers"] == {signal.SIGTERM: signal.SIG_DFL, signal.SIGUSR1: signal.SIG_DFL}


# -- two ranks: one gets the signal, both stop at the same step -----------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(script, out, signal_at=-1, ckpt_path=None, signalled_rank=1):
    port = free_port()
    extra = json.dumps({"strategy": "ddp", "devices": 2, "process_group_timeout": 60})
    procs = []
    for rank in (0, 1):  # what torchrun --nproc_per_node 2 starts
        env = {
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "TRAINER_EXTRA": extra,
            "SIGNALLED_RANK": str(signalled_rank),
            "OMP_NUM_THREADS": "1",
            # 0.2 s a step: the ranks compare every 2 batches (0.5 s), within these 15 steps
            "STEP_SLEEP": "0.2",
        }
        procs.append(start(script, out, signal_at, ckpt_path, env))
    return procs


def finish_all(procs):
    try:
        return [finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


@pytest.mark.slow
def test_two_ranks_stop_at_the_same_step_when_one_gets_the_signal(tmp_path, script):
    out = tmp_path / "preempted"
    procs = start_ranks(script, out, signal_at=7)
    try:
        wait_for(out / "marker", procs[1])
        assert int((out / "marker").read_text()) == procs[1].pid
        os.kill(procs[1].pid, signal.SIGTERM)  # rank 1 only
        time.sleep(0.2)
        (out / "go").touch()
    finally:
        outputs = finish_all(procs)
    log = "\n".join(outputs)
    assert [p.returncode for p in procs] == [143, 143], log
    ckpt = out / "checkpoints" / "last.ckpt"
    records = [json.loads((out / f"on_exception.{rank}.json").read_text()) for rank in (0, 1)]
    assert records[0] == records[1], log  # the same step on both ranks
    step = records[0]["global_step"]
    assert records[0] == {
        "type": "SIGTERMException",  # the Preempted for SIGTERM
        "signum": int(signal.SIGTERM),
        "ckpt_path": str(ckpt),
        "global_step": step,
        "exists": True,
    }, log
    # Signalled after step 7; the ranks compare about every 2 batches: they stop at step 7 to 9
    # (of 15; 80 samples over 2 ranks, batch 8: 5 steps an epoch, so in epoch 1).
    assert step in (7, 8, 9), log
    saved = torch.load(ckpt, weights_only=True)
    assert saved["global_step"] == step and saved["loops"]["fit"]["batches_done"] == step - 5

    resumed, reference = tmp_path / "resumed", tmp_path / "reference"
    outputs = finish_all(start_ranks(script, resumed, ckpt_path=ckpt))
    assert all("FINISHED" in o and " 15" in o for o in outputs), "\n".join(outputs)
    outputs = finish_all(start_ranks(script, reference))
    assert all("FINISHED" in o and " 15" in o for o in outputs), "\n".join(outputs)
    for key, value in final_weights(reference).items():
        torch.testing.assert_close(final_weights(resumed)[key], value, rtol=0, atol=0)


def test_preempted_names_the_signal_and_the_file():
    error = Preempted(signal.SIGTERM, "/ckpts/last.ckpt")
    assert (error.code, error.signum, error.ckpt_path) == (143, 15, "/ckpts/last.ckpt")
    assert str(error) == "SIGTERM received: the run was saved to /ckpts/last.ckpt"
    assert re.fullmatch(r"signal 99 received: .*", str(Preempted(99, "x")))


# -- OnExceptionCheckpoint ------------------------------------------------------------------------


class Boom(treadle.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 3:
            raise RuntimeError("boom")


def test_on_exception_checkpoint_saves_when_the_run_raises(tmp_path):
    from treadle.callbacks import OnExceptionCheckpoint

    callback = OnExceptionCheckpoint(tmp_path / "crash")
    assert callback.ckpt_path == str(tmp_path / "crash" / "on_exception.ckpt")
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[Boom(), callback],
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Regression(), DataLoader(data, batch_size=8))
    saved = torch.load(callback.ckpt_path, weights_only=True)
    assert saved["global_step"] == 3  # kept: the run raised

    # A later fit() that ends without an exception removes it, as Lightning's teardown does.
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[callback],
    )
    trainer.fit(Regression(), DataLoader(data, batch_size=8))
    assert not os.path.exists(callback.ckpt_path)


def test_on_exception_checkpoint_saves_on_a_signal_too(tmp_path):
    from treadle.callbacks import OnExceptionCheckpoint

    callback = OnExceptionCheckpoint(tmp_path, filename="preempted")
    recorder = Recorder(send=signal.SIGTERM, at=("batch", 2))
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        callbacks=[recorder, callback],
    )
    with pytest.raises(Preempted):
        trainer.fit(Regression(), DataLoader(data, batch_size=8))
    ours = torch.load(tmp_path / "preempted.ckpt", weights_only=True)
    core = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ours["global_step"] == core["global_step"] == 2
    for key, value in core["state_dict"].items():
        assert torch.equal(ours["state_dict"][key], value)


def test_on_exception_checkpoint_needs_a_filename():
    from treadle.callbacks import OnExceptionCheckpoint

    with pytest.raises(
        ValueError,
        match=re.escape(
            "OnExceptionCheckpoint: `filename=''` is empty. Pass a file name without the "
            'extension, e.g. `filename="on_exception"`.'
        ),
    ):
        OnExceptionCheckpoint(".", filename="")


@pytest.mark.slow
def test_treadles_own_ddp_launch_stops_on_a_signal_to_the_main_process(tmp_path, script):
    # `Trainer(strategy="ddp", devices=2)` started without torchrun: the script is rank 0 and
    # starts rank 1 itself. A cluster's SIGTERM reaches the process it started (rank 0): the ranks
    # agree, rank 0 saves, both exit 143, and the launcher reports no failure for rank 1's 143.
    out = tmp_path / "launched"
    env = {
        "TRAINER_EXTRA": json.dumps({"strategy": "ddp", "devices": 2, "process_group_timeout": 60}),
        "SIGNALLED_RANK": "0",
        "OMP_NUM_THREADS": "1",
        "STEP_SLEEP": "0.2",
    }
    proc = start(script, out, signal_at=7, env=env)
    try:
        wait_for(out / "marker", proc)
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.2)
        (out / "go").touch()
    finally:
        log = finish(proc)
    assert proc.returncode == 143, log
    assert "failed first" not in log and "exited with code" not in log, log
    records = [json.loads((out / f"on_exception.{rank}.json").read_text()) for rank in (0, 1)]
    assert records[0] == records[1], log
    assert records[0]["type"] == "SIGTERMException" and records[0]["exists"], log
    saved = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == records[0]["global_step"] in (7, 8, 9)
