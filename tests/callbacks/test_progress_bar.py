"""Progress bars (issue 13, item 1): TQDM and Rich bars on a terminal, plain lines in a pipe.

What a user sees is captured for real: a subprocess trains with its stdout on a pseudo-terminal
(``pty``) or on a pipe, and the test reads the bytes it wrote. Every subprocess has a timeout.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.callbacks import PlainProgressBar, ProgressBar, RichProgressBar, TQDMProgressBar
from treadle.errors import ConfigurationError

TIMEOUT = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

SCRIPT = """
import json, os, sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

if __name__ == "__main__":
    for name in sys.argv[2:]:  # packages to hide: as if not installed
        sys.modules[name] = None
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g))
    trainer = treadle.Trainer(
        accelerator="cpu", max_epochs=2, default_root_dir=sys.argv[1], log_every_n_steps=1,
        enable_model_summary=False, **json.loads(os.environ.get("TRAINER_EXTRA", "{}")),
    )
    trainer.fit(Net(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=8))
    bar = trainer.progress_bar_callback
    # one write, so that the two ranks' lines do not interleave on the pipe
    sys.stdout.write(f"BAR {type(bar).__name__} rank {trainer.global_rank} {bar.is_enabled}\\n")
    sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def _env(bar: str) -> dict[str, str]:
    return {**os.environ, "TREADLE_PROGRESS_BAR": bar, "TREADLE_QUIET": "1", "TERM": "xterm"}


def run_in_terminal(script, out, bar: str, hide=()) -> str:
    """Run the script with stdout and stderr on a 120x40 pseudo-terminal; what it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), *hide],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(bar),
        close_fds=True,
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def run_in_pipe(script, out, bar: str, hide=(), env=None) -> str:
    proc = subprocess.run(
        [sys.executable, str(script), str(out), *hide],
        env={**_env(bar), **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_tqdm_in_a_terminal_redraws_in_place_with_rate_eta_and_metrics(script, tmp_path):
    text = run_in_terminal(script, tmp_path, "tqdm")
    assert "BAR TQDMProgressBar rank 0 True" in text
    frames = text.split("\r")  # each redraw starts at the line's beginning
    assert len(frames) > 6, text
    # the epoch bars, finished, with the rate, the time left and the prog_bar metrics
    for epoch in (0, 1):
        done = [f for f in frames if f.startswith(f"Epoch {epoch}: 100%") and "16/16" in f]
        assert done, text
        assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+it/s, v_num=0, loss=[\d.]+", done[-1])
    assert any(f.startswith("Validation (epoch 1): 100%") and "8/8" in f for f in frames), text
    assert any("Sanity Checking" in f and "2/2" in f for f in frames), text
    assert any("val_loss=" in f for f in frames)


def test_rich_in_a_terminal_draws_live_bars(script, tmp_path):
    text = run_in_terminal(script, tmp_path, "rich")
    assert "BAR RichProgressBar rank 0 True" in text
    assert "\x1b[" in text  # Rich moves the cursor and colours
    plain = ANSI.sub("", text)
    frames = [f for f in re.split(r"[\r\n]", plain) if f.strip()]
    last = [f for f in frames if f.startswith("Epoch 1/1 ") and "16/16" in f]  # Lightning's label
    assert last, plain
    assert re.search(r"[\d.]+it/s", last[-1]) and "loss: " in last[-1] and "val_loss: " in last[-1]
    assert any(f.startswith("Validation ") and "8/8" in f for f in frames), plain


def test_in_a_pipe_the_bar_prints_plain_lines(script, tmp_path):
    text = run_in_pipe(script, tmp_path, "auto")  # Rich: installed with the extras
    assert "\r" not in text and "\x1b" not in text, text
    lines = text.splitlines()
    for epoch in (0, 1):
        line = next(x for x in lines if x.startswith(f"Epoch {epoch}: 16/16 (100%)"))
        assert re.fullmatch(
            rf"Epoch {epoch}: 16/16 \(100%\), [\d.]+ it/s, \d+:\d\d elapsed \| v_num=0, "
            r"loss=[-\d.e]+, val_loss=[-\d.e]+",
            line,
        ), line
        assert any(x.startswith(f"Validation (epoch {epoch}): 8/8 (100%)") for x in lines)
    assert not any(x.startswith("Sanity") for x in lines)  # quiet in a log file
    assert lines[-1] == "BAR RichProgressBar rank 0 True"


@pytest.mark.slow  # two processes
def test_under_ddp_only_rank_zero_prints(script, tmp_path):
    extra = {"strategy": "ddp", "devices": 2, "process_group_timeout": 60}
    env = {"TRAINER_EXTRA": json.dumps(extra), "OMP_NUM_THREADS": "1"}
    text = run_in_pipe(script, tmp_path, "tqdm", env=env)
    lines = text.splitlines()
    # each rank runs 8 of the 16 batches; one line per epoch end and validation end, rank 0's
    assert [x.split(":")[0] for x in lines if not x.startswith("BAR")] == [
        "Validation (epoch 0)",
        "Epoch 0",
        "Validation (epoch 1)",
        "Epoch 1",
    ], text
    assert lines[0].startswith("Validation (epoch 0): 4/4 (100%)"), text
    assert (
        "BAR TQDMProgressBar rank 0 True" in lines and "BAR TQDMProgressBar rank 1 False" in lines
    )


def test_without_rich_or_tqdm_the_default_bar_prints_lines_even_on_a_terminal(script, tmp_path):
    text = run_in_terminal(script, tmp_path, "auto", hide=("rich", "tqdm"))
    assert "BAR PlainProgressBar rank 0 True" in text
    assert "Epoch 1: 16/16 (100%)" in text and "\x1b" not in text
    assert "\r" not in text.replace("\r\n", "\n")  # the terminal's own line ends only


# -- in this process --------------------------------------------------------------------------


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(n_batches: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(4 * n_batches, 4, generator=g), torch.randn(4 * n_batches, 1)),
        batch_size=4,
    )


def fit(tmp_path, bar, n_batches=20, **kwargs):
    kwargs = {"logger": False, **kwargs}
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=1,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[bar],
        **kwargs,
    )
    trainer.fit(Net(), loader(n_batches))
    return trainer


class Counting(PlainProgressBar):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reads = 0

    def get_metrics(self, trainer, pl_module):
        self.reads += 1
        return super().get_metrics(trainer, pl_module)


def test_plain_lines_come_every_tenth_of_an_epoch_and_metrics_are_read_only_then(tmp_path, capsys):
    bar = Counting()
    bar.LINE_MIN_S = 0.0  # no rate limit: the tenths alone decide
    trainer = fit(tmp_path, bar, n_batches=20)
    lines = capsys.readouterr().out.splitlines()
    counts = [int(re.match(r"Epoch 0: (\d+)/20", x).group(1)) for x in lines]
    assert counts == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 20], lines  # + the epoch's end
    assert "left" in lines[0] and "left" not in lines[-1]
    assert bar.reads == len(lines)  # the metrics (a device sync on GPUs) only when printed
    assert trainer.progress_bar_callback is bar


def test_lines_are_rate_limited(tmp_path, capsys):
    bar = Counting()  # LINE_MIN_S = 5 s: a 20-batch epoch prints its end only
    fit(tmp_path, bar, n_batches=20)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Epoch 0: 20/20 (100%)"), lines
    assert bar.reads == 1


def test_refresh_rate_0_disables_the_bar(tmp_path, capsys):
    bar = TQDMProgressBar(refresh_rate=0)
    fit(tmp_path, bar)
    assert capsys.readouterr().out == ""
    assert bar.is_disabled and bar.refresh_rate == 0


def test_get_metrics_has_v_num_and_the_prog_bar_metrics(tmp_path):
    from treadle.loggers import CSVLogger

    bar = PlainProgressBar()
    trainer = fit(tmp_path, bar, logger=CSVLogger(tmp_path, version="run_12345"))
    metrics = bar.get_metrics(trainer, trainer.lightning_module)
    assert list(metrics) == ["v_num", "loss"]
    assert metrics["v_num"] == "2345"  # as Lightning: a string version's last 4 characters
    assert metrics["loss"] == trainer.progress_bar_metrics["loss"]
    assert bar.total_train_batches == 20 and bar.trainer is trainer


def test_the_default_bar_is_named_by_treadle_progress_bar(tmp_path, monkeypatch):
    for name, cls in [
        ("plain", PlainProgressBar),
        ("tqdm", TQDMProgressBar),
        ("rich", RichProgressBar),
        ("auto", RichProgressBar),
    ]:
        monkeypatch.setenv("TREADLE_PROGRESS_BAR", name)
        trainer = treadle.Trainer(accelerator="cpu", default_root_dir=str(tmp_path))
        assert type(trainer.progress_bar_callback) is cls, name
        bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]
        assert bars == [trainer.progress_bar_callback]
    mine = TQDMProgressBar(leave=True)
    trainer = treadle.Trainer(accelerator="cpu", callbacks=[mine], default_root_dir=str(tmp_path))
    assert trainer.progress_bar_callback is mine  # a bar in callbacks replaces the default
    assert treadle.Trainer(enable_progress_bar=False).progress_bar_callback is None


def test_auto_falls_back_to_tqdm_then_to_lines(monkeypatch, tmp_path):
    monkeypatch.delenv("TREADLE_PROGRESS_BAR", raising=False)
    monkeypatch.setitem(sys.modules, "rich", None)  # as if not installed
    assert type(treadle.Trainer().progress_bar_callback) is TQDMProgressBar
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert type(treadle.Trainer().progress_bar_callback) is PlainProgressBar


def test_a_wrong_or_missing_choice_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", "fancy")
    with pytest.raises(ConfigurationError) as info:
        treadle.Trainer()
    assert info.value.problems == [
        "progress_bar: `TREADLE_PROGRESS_BAR=fancy` names no progress bar; choose one of auto, "
        "rich, tqdm, plain (or unset it: auto)."
    ]
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", "rich")
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ConfigurationError) as info:
        treadle.Trainer()
    assert info.value.problems == [
        "progress_bar: `TREADLE_PROGRESS_BAR=rich` needs the `rich` package, which is not "
        "installed. Install it with: pip install 'treadle[rich]'; or choose plain."
    ]


def test_a_live_bar_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = TQDMProgressBar()
    monkeypatch.setattr(bar, "_stream", lambda: open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setattr("treadle_plugins.progress._interactive", lambda stream: True)
    with pytest.raises(
        ModuleNotFoundError,
        match=re.escape(
            "`TQDMProgressBar` needs the `tqdm` package, which is not installed. Install it "
            "with: pip install 'treadle[tqdm]' (or use `PlainProgressBar`)."
        ),
    ):
        bar._terminal()


def test_refresh_rate_must_be_a_whole_number():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`RichProgressBar(refresh_rate=-1)`: give a whole number >= 0 (redraws per second, "
            "at most; 0 disables the bar)."
        ),
    ):
        RichProgressBar(refresh_rate=-1)


def test_total_val_batches_is_zero_in_an_epoch_that_does_not_validate(tmp_path):
    """Lightning's ``ProgressBar.total_val_batches``: 0 when ``check_val_every_n_epoch`` skips
    this epoch's validation (Lightning's test_check_val_every_n_epoch reads it)."""
    seen = []

    class Net(treadle.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            return self.net(batch[0]).pow(2).mean()

        def validation_step(self, batch, batch_idx):
            return None

        def on_train_epoch_end(self):
            seen.append(self.trainer.progress_bar_callback.total_val_batches)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(4, 4)), batch_size=2)
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        max_epochs=4,
        check_val_every_n_epoch=2,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        callbacks=[ProgressBar()],
    )
    trainer.fit(Net(), data, data)
    assert seen == [0, 2, 0, 2]


# Ported from Lightning's tests/tests_pytorch/callbacks/progress/test_tqdm_progress_bar.py
# (Apache-2.0, Copyright The Lightning AI team): test_tqdm_progress_bar_misconfiguration,
# test_tqdm_progress_bar_fast_dev_run, test_tqdm_progress_bar_progress_refresh,
# test_tqdm_progress_bar_refresh_rate_via_env_variable, test_tqdm_progress_bar_can_be_pickled.


def test_two_bars_or_a_bar_with_enable_progress_bar_false_are_refused():
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "You added multiple progress bar callbacks to the Trainer, but currently only one "
            "progress bar is supported (got TQDMProgressBar, PlainProgressBar). Pass one."
        ),
    ):
        treadle.Trainer(callbacks=[TQDMProgressBar(), PlainProgressBar()])
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "Trainer was configured with `enable_progress_bar=False` but found `TQDMProgressBar` "
            "in callbacks list. Remove it or set `enable_progress_bar=True`."
        ),
    ):
        treadle.Trainer(callbacks=TQDMProgressBar(), enable_progress_bar=False)


@pytest.mark.parametrize("refresh_rate", [0, 1])
def test_each_stage_bar_keeps_its_count_and_total_even_disabled(tmp_path, refresh_rate):
    bar = TQDMProgressBar(refresh_rate=refresh_rate)
    with pytest.raises(TypeError, match=re.escape("`TQDMProgressBar._train_progress_bar`")):
        bar.train_progress_bar  # noqa: B018  # nothing ran yet
    trainer = fit(tmp_path, bar, n_batches=3)
    assert (bar.train_progress_bar.n, bar.train_progress_bar.total) == (3, 3)

    class Evaluated(Net):  # validate() and test() need their steps, as in Lightning
        def validation_step(self, batch, batch_idx):
            pass

        def test_step(self, batch, batch_idx):
            pass

    trainer.validate(Evaluated(), loader(2), verbose=False)
    assert (bar.val_progress_bar.n, bar.val_progress_bar.total) == (2, 2)
    trainer.test(Evaluated(), loader(1), verbose=False)
    assert (bar.test_progress_bar.n, bar.test_progress_bar.total) == (1, 1)


def test_tqdm_miniters_raises_the_refresh_rate(monkeypatch):
    monkeypatch.setenv("TQDM_MINITERS", "2")
    assert TQDMProgressBar(refresh_rate=1).refresh_rate == 2
    assert TQDMProgressBar(refresh_rate=3).refresh_rate == 3
    monkeypatch.delenv("TQDM_MINITERS")
    monkeypatch.setenv("COLAB_GPU", "1")
    assert TQDMProgressBar().refresh_rate == 20
    assert TQDMProgressBar(refresh_rate=19).refresh_rate == 19


def test_a_bar_pickles_after_a_run(tmp_path):
    import pickle

    bar = TQDMProgressBar()
    fit(tmp_path, bar, n_batches=2)
    copy = pickle.loads(pickle.dumps(bar))
    assert copy.refresh_rate == 1 and copy.is_enabled


class _LabelledBars(TQDMProgressBar):
    """The progress_bar docs page's ``LitProgressBar``: Lightning's bar factories overridden."""

    def init_train_tqdm(self):
        bar = super().init_train_tqdm()
        bar.set_description("training...")
        return bar

    def init_validation_tqdm(self):
        bar = super().init_validation_tqdm()
        bar.set_description("running validation...")
        return bar


class _ValidatingNet(Net):
    def validation_step(self, batch, batch_idx):
        pass


def test_tqdm_bar_factories_label_the_plain_lines(tmp_path, capsys):
    # Lightning's TQDMProgressBar.init_*_tqdm: overriding one customises that bar; outside a
    # terminal the description set there labels the plain lines (doc_progress_bar program).
    bar = _LabelledBars()
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[bar],
    )
    trainer.fit(_ValidatingNet(), loader(4), loader(2))
    lines = capsys.readouterr().out.splitlines()
    assert any(x.startswith("training...: 4/4") for x in lines), lines
    assert any(x.startswith("running validation...: 2/2") for x in lines), lines
    assert not any(x.startswith("Epoch 0") for x in lines), lines
    made = bar.init_test_tqdm()
    assert made.disable  # not a terminal: not drawn
    made.close()
