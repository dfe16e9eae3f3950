"""``trainer.received_sigterm`` and a SIGTERM handler set before the run, chained as Lightning's
``_SignalConnector`` does (core/treadle/_signals.py): treadle's handler records the signal,
then calls the user's; the run stops as with no handler of the user's (``last.ckpt``,
``SIGTERMException``, ``on_exception``, exit code 143), and the user's handler is back after.
Real signals: ``os.kill`` to this process from a hook, or to a subprocess from the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.errors import Preempted
from treadle.utilities import SIGTERMException

TIMEOUT = 120  # seconds, for the subprocess


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Evaluated(Regression):
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))


class Send(treadle.Callback):
    """Sends ``signals`` to this process after training batch ``at`` (global step) or
    validation batch ``val_at``; records what the run shows of it."""

    def __init__(self, signals=(signal.SIGTERM,), at=None, val_at=None):
        self.signals, self.at, self.val_at = signals, at, val_at
        self.exceptions, self.received, self.handler_in_run = [], [], None

    def on_train_start(self, trainer, pl_module):
        self.received.append(("train_start", trainer.received_sigterm))
        self.handler_in_run = signal.getsignal(signal.SIGTERM)

    def on_validation_start(self, trainer, pl_module):
        self.received.append(("validation_start", trainer.received_sigterm))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.at:
            for signum in self.signals:
                os.kill(os.getpid(), signum)
            self.received.append(("batch_end", trainer.received_sigterm))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args):
        if batch_idx == self.val_at:
            for signum in self.signals:
                os.kill(os.getpid(), signum)

    def on_exception(self, trainer, pl_module, exception):
        self.exceptions.append((exception, trainer.received_sigterm))


def make_trainer(root, callback, **kwargs):
    return treadle.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        callbacks=[callback],
        **kwargs,
    )


def loader():
    return DataLoader(TensorDataset(torch.randn(32, 4), torch.randn(32, 1)), batch_size=8)


@pytest.fixture
def user_handler():
    """A SIGTERM handler of the user's, set before the run; the default back after the test."""
    calls = []

    def handler(signum, frame):
        calls.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield handler, calls
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_users_sigterm_handler_is_called_and_the_run_stops_with_its_checkpoint(
    tmp_path, user_handler
):
    """Ported from tests/tests_pytorch/trainer/connectors/test_signal_connector.py::
    test_sigterm_handler_can_be_added, with treadle's stop checked in full."""
    handler, calls = user_handler
    callback = Send(at=3)
    trainer = make_trainer(tmp_path, callback)
    assert not trainer.received_sigterm
    with pytest.raises(SIGTERMException) as info:
        trainer.fit(Regression(), loader())
    assert calls == [signal.SIGTERM]  # the user's handler ran, once
    assert trainer.received_sigterm
    # treadle's stop, as with no handler of the user's: after the batch, last.ckpt, 143
    path = str(tmp_path / "checkpoints" / "last.ckpt")
    assert (info.value.code, info.value.ckpt_path) == (143, path)
    assert torch.load(path, weights_only=True)["global_step"] == 3
    assert trainer.global_step == 3
    assert callback.exceptions == [(info.value, True)]
    assert callback.received == [("train_start", False), ("batch_end", True)]
    # the user's handler was replaced during the run and is back after it
    assert callback.handler_in_run is not handler
    assert signal.getsignal(signal.SIGTERM) is handler


def test_every_sigterm_reaches_the_users_handler_and_other_signals_do_not(tmp_path, user_handler):
    handler, calls = user_handler
    callback = Send(signals=(signal.SIGUSR1, signal.SIGTERM, signal.SIGTERM), at=2)
    with pytest.raises(Preempted) as info:
        make_trainer(tmp_path, callback).fit(Regression(), loader())
    assert calls == [signal.SIGTERM, signal.SIGTERM]
    # the first signal decides the stop (SIGUSR1 here); SIGTERM came too
    assert info.value.signum == signal.SIGUSR1 and not isinstance(info.value, SIGTERMException)
    assert callback.exceptions == [(info.value, True)]
    assert signal.getsignal(signal.SIGTERM) is handler


def test_received_sigterm_is_false_for_other_signals_and_again_at_the_next_run(tmp_path):
    callback = Send(signals=(signal.SIGUSR1,), at=2)
    trainer = make_trainer(tmp_path, callback)
    with pytest.raises(Preempted):
        trainer.fit(Regression(), loader())
    assert not trainer.received_sigterm and callback.exceptions[0][1] is False

    callback = Send(at=2)
    trainer = make_trainer(tmp_path / "term", callback)
    with pytest.raises(SIGTERMException):
        trainer.fit(Regression(), loader())
    assert trainer.received_sigterm
    # as Lightning: False again from the next run's start, and after it when no SIGTERM came
    callback.at = None
    trainer.validate(Evaluated(), loader())
    assert callback.received[-1] == ("validation_start", False)
    assert not trainer.received_sigterm


def test_a_users_sigterm_handler_is_chained_in_validate_too(tmp_path, user_handler):
    handler, calls = user_handler
    callback = Send(val_at=1)
    trainer = make_trainer(tmp_path, callback, enable_checkpointing=False)
    with pytest.raises(SIGTERMException) as info:
        trainer.validate(Evaluated(), loader())
    assert calls == [signal.SIGTERM]
    assert trainer.received_sigterm and trainer.state.batch_idx == 1
    assert (info.value.code, info.value.ckpt_path) == (143, None)
    assert callback.exceptions == [(info.value, True)]
    assert signal.getsignal(signal.SIGTERM) is handler


def test_an_exception_from_the_users_handler_ends_the_run_as_any_exception(tmp_path):
    class Refused(RuntimeError):
        pass

    def handler(signum, frame):
        raise Refused("the user's handler refuses")

    previous = signal.signal(signal.SIGTERM, handler)
    callback = Send(at=2)
    trainer = make_trainer(tmp_path, callback)
    try:
        with pytest.raises(Refused):
            trainer.fit(Regression(), loader())
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    # recorded before the user's handler ran; no preemption save (the run did not get there)
    assert trainer.received_sigterm
    assert [type(e) for e, _ in callback.exceptions] == [Refused]
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_a_run_inside_a_run_leaves_the_outer_runs_handler_alone(tmp_path):
    """A ``validate()`` from a callback of a running ``fit()``: the outer run's handler is not
    chained by the inner run, so a SIGTERM there is the outer run's stop (with its save)."""
    inner_callback = Send(val_at=1)

    class ValidateInside(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 2:
                inner = make_trainer(tmp_path / "inner", inner_callback)
                inner.validate(Evaluated(), loader())  # SIGTERM during its batch 1
                self.inner = inner

    outer_callback = ValidateInside()
    trainer = make_trainer(tmp_path, outer_callback, enable_checkpointing=False)
    with pytest.raises(SIGTERMException) as info:
        trainer.fit(Regression(), loader())
    assert not inner_callback.exceptions and not outer_callback.inner.received_sigterm
    assert trainer.received_sigterm and trainer.global_step == 2
    assert info.value.ckpt_path == str(tmp_path / "checkpoints" / "last.ckpt")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


CHILD = """
import json, os, signal, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

out = sys.argv[1]


def handler(signum, frame):  # the user's, set before fit()
    with open(os.path.join(out, "handler"), "a") as f:
        f.write(f"{signum}\\n")


signal.signal(signal.SIGTERM, handler)


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class WaitForSignal(treadle.Callback):
    # After step 3: write the marker, wait for the test's "go" (the signal comes meanwhile).
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 3:
            open(os.path.join(out, "marker"), "w").close()
            while not os.path.exists(os.path.join(out, "go")):
                time.sleep(0.01)

    def on_exception(self, trainer, pl_module, exception):
        with open(os.path.join(out, "on_exception.json"), "w") as f:
            json.dump({"type": type(exception).__name__, "received": trainer.received_sigterm,
                       "step": trainer.global_step}, f)


data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
trainer = treadle.Trainer(accelerator="cpu", max_epochs=4, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir=out,
                          callbacks=[WaitForSignal()])
trainer.fit(Net(), DataLoader(data, batch_size=8))
"""


def test_a_sigterm_from_outside_calls_the_users_handler_saves_and_exits_143(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "marker").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no marker"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.2)  # the handlers run in the child's sleep loop
        (out / "go").touch()
        output = proc.communicate(timeout=TIMEOUT)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, output
    assert (out / "handler").read_text() == f"{int(signal.SIGTERM)}\n", output

    record = json.loads((out / "on_exception.json").read_text())
    assert record == {"type": "SIGTERMException", "received": True, "step": 3}, output
    saved = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 3
    assert "treadle: SIGTERM received: the run was saved to" in output, output
