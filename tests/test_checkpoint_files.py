"""Checkpoint files under faults: killed saves, concurrent saves, a full disk, corrupt and hostile
files. Every load error is a ``treadle.CheckpointError`` naming the file, raised before any
``training_step``; no pickled code in any file ever runs.

Real files and real processes: saves are killed with SIGKILL mid-write, the full disk is a tmpfs
mounted for the test (skipped, with the reason, where ``mount`` is not permitted).
"""

from __future__ import annotations

import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle import checkpoint_io

TIMEOUT = 120  # seconds, for any one subprocess


class Payload:
    """Pickles as ``exec(<write the marker file>)``: whatever unpickles it runs the code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


HOSTILE = (
    "loading it would construct or call Python objects that are not tensors or plain "
    "containers (builtins.exec), so it was not loaded: treadle reads checkpoints with "
    "`torch.load(weights_only=True)` and never runs code from a file."
)


class Net(treadle.Module):
    def __init__(self, hidden: int = 8, extra: bool = False, optimizer: str = "adam"):
        super().__init__()
        self.layer = torch.nn.Linear(4, hidden)
        self.head = torch.nn.Linear(hidden, 1)
        if extra:
            self.extra = torch.nn.Linear(1, 1)
        self.optimizer_kind = optimizer
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        x, y = batch
        return torch.nn.functional.mse_loss(self.head(self.layer(x)), y)

    def validation_step(self, batch, batch_idx):
        self.steps += 1

    def configure_optimizers(self):
        params = list(self.parameters())
        kind = self.optimizer_kind
        if kind == "sgd":
            return torch.optim.SGD(params, lr=0.1, momentum=0.9)
        if kind == "two_groups":
            return torch.optim.Adam(
                [{"params": self.layer.parameters()}, {"params": self.head.parameters()}]
            )
        if kind == "layer_only":
            return torch.optim.Adam(self.layer.parameters())
        if kind == "reversed":
            return torch.optim.Adam(params[::-1])
        return torch.optim.Adam(params, lr=0.01)


class TwoOptimizers(Net):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        self.steps += 1

    def configure_optimizers(self):
        return [
            torch.optim.SGD(self.layer.parameters(), lr=0.1),
            torch.optim.SGD(self.head.parameters(), lr=0.1),
        ]


def _loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)),
        batch_size=4,
    )


def _trainer(tmp_path, **kw):
    args = dict(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    return treadle.Trainer(**{**args, **kw})


@pytest.fixture
def good(tmp_path) -> Path:
    """A complete checkpoint of Net after 1 epoch (Adam)."""
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net(), _loader())
    path = tmp_path / "good.ckpt"
    trainer.save_checkpoint(path)
    return path


def _temps(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


# -- temporary files of killed saves ----------------------------------------------------------

SAVER = """
import sys, time, torch
from treadle import checkpoint_io

path, size = sys.argv[1], int(sys.argv[2])
weights = torch.randn(size)
n = 0
while True:
    weights[0] = n
    print(f"begin {n} {time.monotonic()}", flush=True)
    checkpoint_io.save_atomic({"epoch": 0, "global_step": n, "state_dict": {"w": weights}}, path)
    print(f"saved {n} {time.monotonic()}", flush=True)
    n += 1
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[1]
    paths = [root / "core", root / "plugins", root / "contrib/treadle-ema/src"]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    return env


def _readline(proc: subprocess.Popen, deadline: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    if not ready:
        proc.kill()
        pytest.fail(f"the saving process said nothing for {TIMEOUT}s")
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        pytest.fail(f"the saving process ended (exit {proc.returncode}): {proc.stderr.read()}")
    return line


def _start_saver(tmp_path: Path, target: Path, size: int) -> subprocess.Popen:
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    return subprocess.Popen(
        [sys.executable, str(script), str(target), str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )


@pytest.mark.slow
def test_saves_killed_mid_write_leave_no_temp_files_behind(tmp_path):
    """kill -9 during a ~64 MB save, 10 times: at most the one killed save's temporary file is
    ever there (the next save sweeps it), the target always loads as the last complete save, and
    a clean save leaves no temporary file at all."""
    target = tmp_path / "x.ckpt"
    rng = random.Random(0)
    left_after_kill = []
    for _ in range(10):
        proc = _start_saver(tmp_path, target, size=16 * 1024 * 1024)
        try:
            deadline = time.monotonic() + TIMEOUT
            begin = float(_readline(proc, deadline).split()[2])  # "begin 0 t"
            saved = float(_readline(proc, deadline).split()[2])  # "saved 0 t"
            duration = saved - begin
            _readline(proc, deadline)  # "begin 1 t": the second save is being written
            time.sleep(rng.uniform(0.05, 0.9) * duration)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
            out = proc.stdout.read() if proc.stdout else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        # The target is the last save that printed "saved", or the one killed after its
        # rename and before its print: never anything else, never a partial file.
        saved_n = max(
            int(w.split()[1]) for w in ["saved 0 0", *out.splitlines()] if w[:5] == "saved"
        )
        left_after_kill.append(len(_temps(tmp_path)))
        checkpoint = checkpoint_io.load(target)
        assert saved_n <= checkpoint["global_step"] <= saved_n + 1
        assert checkpoint["state_dict"]["w"][0] == checkpoint["global_step"]
        assert checkpoint["state_dict"]["w"].numel() == 16 * 1024 * 1024
    assert max(left_after_kill) <= 1, left_after_kill  # never accumulate
    assert sum(left_after_kill) >= 1, "no kill landed during a write: the test proved nothing"
    checkpoint_io.save_atomic({"epoch": 0, "global_step": 7, "state_dict": {}}, target)
    assert _temps(tmp_path) == []
    assert checkpoint_io.load(target)["global_step"] == 7


CONCURRENT = """
import sys, torch
from treadle import checkpoint_io

target, rank = sys.argv[1], int(sys.argv[2])
for n in range(15):
    w = torch.full((2 * 1024 * 1024,), float(rank * 100 + n))
    checkpoint_io.save_atomic({"epoch": 0, "global_step": n, "state_dict": {"w": w}}, target)
print("done", flush=True)
"""


@pytest.mark.slow
def test_processes_saving_in_one_directory_never_remove_each_others_files(tmp_path):
    """Three processes save 8 MB checkpoints at once into one directory (two of them the same
    target): each save sweeps leftovers first, yet no save in progress is ever removed (each
    writer holds a lock on its temporary file), so every save succeeds and every file loads."""
    script = tmp_path / "save_many.py"
    script.write_text(CONCURRENT)
    out = tmp_path / "out"
    out.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(out / name), str(rank)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_child_env(),
        )
        for rank, name in enumerate(["a.ckpt", "b.ckpt", "a.ckpt"])
    ]
    results = []
    try:
        for proc in procs:
            results.append((proc.communicate(timeout=TIMEOUT)[0], proc.returncode))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    for text, code in results:
        assert code == 0 and "done" in text, text
    assert sorted(os.listdir(out)) == ["a.ckpt", "b.ckpt"]
    a = checkpoint_io.load(out / "a.ckpt")["state_dict"]["w"]
    assert a[0].item() in (14.0, 214.0) and torch.equal(a, torch.full_like(a, a[0].item()))
    assert checkpoint_io.load(out / "b.ckpt")["state_dict"]["w"][0].item() == 114.0


def test_a_sweep_skips_a_file_whose_save_renamed_it_meanwhile(tmp_path, monkeypatch):
    """A sweep opens a temporary file, and before it looks again, the save writing it renames it
    over its target and drops its lock (two FSDP ranks saving into one directory did this in CI:
    the sweep raised FileNotFoundError and the run failed). The sweep must pass it by."""
    leftover = tmp_path / ".w.pt.abcd1234.tmp"
    torch.save({"a": 1}, leftover)
    real_read = os.read

    def read_as_the_save_renames(fd, n):
        if leftover.exists():
            os.replace(leftover, tmp_path / "w.pt")  # the save finishes, between open and stat
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read_as_the_save_renames)
    assert checkpoint_io.sweep_temp_files(tmp_path) == []
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["w.pt"]
    assert checkpoint_io.load(tmp_path / "w.pt") == {"a": 1}


def test_a_sweep_keeps_files_that_are_not_leftovers_of_a_save(tmp_path):
    (tmp_path / ".notes.abcdefgh.tmp").write_text("someone's text file")  # not a torch file
    (tmp_path / "x.ckpt.tmp").write_bytes(b"PK\x03\x04")  # not the temp name (no leading dot)
    (tmp_path / ".run.abcdefgh.tmp").mkdir()  # DeepSpeed's save of `run.abcdefgh` (a directory)
    (tmp_path / ".run.abcdefgh.tmp" / "shard.pt").write_bytes(b"PK\x03\x04")
    os.symlink(tmp_path / "elsewhere.pt", tmp_path / ".link.abcdefgh.tmp")
    torch.save({"a": 1}, tmp_path / ".x.ckpt.abcd1234.tmp")  # a killed save's leftover
    (tmp_path / ".y.ckpt.0123abcd.tmp").write_bytes(b"")  # killed before writing anything
    checkpoint_io.save_atomic({"epoch": 0, "global_step": 0}, tmp_path / "y.ckpt")
    assert sorted(os.listdir(tmp_path)) == [
        ".link.abcdefgh.tmp",
        ".notes.abcdefgh.tmp",
        ".run.abcdefgh.tmp",
        "x.ckpt.tmp",
        "y.ckpt",
    ]


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs at tmp_path/disk (needs the privilege to mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot make a small disk for the disk-full test")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


class Big(Net):
    def __init__(self):
        super().__init__()
        self.big = torch.nn.Parameter(torch.zeros(1500, 1500))  # 9 MB

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_save_on_a_full_disk_fails_clearly_and_keeps_the_last_checkpoint(small_disk, tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1)
    model = Big()
    trainer.fit(model, _loader())
    path = small_disk / "last.ckpt"
    trainer.save_checkpoint(path)
    before = path.read_bytes()
    free = shutil.disk_usage(small_disk).free
    with open(small_disk / "filler", "wb") as f:  # leave 4 MB: the next save cannot fit
        f.write(b"\0" * (free - 4 * 1024 * 1024))
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(f"checkpoint {str(path)!r}: the save failed (")
        + ".*"
        + re.escape(
            "bytes free there). Is the disk full? The file at this path, if any, is unchanged, "
            "and the partial temporary file was removed."
        ),
    ):
        trainer.save_checkpoint(path)
    assert sorted(os.listdir(small_disk)) == ["filler", "last.ckpt"]
    assert path.read_bytes() == before
    assert torch.equal(checkpoint_io.load(path)["state_dict"]["big"], model.big.detach())


# -- corrupt files ------------------------------------------------------------------------------


def _fit_from(tmp_path, ckpt, model=None):
    model = model or Net()
    with pytest.raises(treadle.CheckpointError) as info:
        _trainer(tmp_path).fit(model, _loader(), ckpt_path=ckpt)
    assert model.steps == 0  # raised before any training_step
    return str(info.value)


def _pinned(message: str, expected: str) -> None:
    assert re.match(re.escape(expected), message), message


def test_a_missing_file_names_the_path_and_what_is_there(tmp_path, good):
    missing = tmp_path / "nope.ckpt"
    _pinned(
        _fit_from(tmp_path, missing),
        f"Checkpoint file not found: {missing} (checkpoint files in {str(tmp_path)!r}: good.ckpt).",
    )
    deeper = tmp_path / "gone" / "x.ckpt"
    _pinned(
        _fit_from(tmp_path, deeper),
        f"Checkpoint file not found: {deeper} (its directory "
        f"{str(tmp_path / 'gone')!r} does not exist either).",
    )


def test_a_directory_is_not_a_checkpoint_file(tmp_path, good):
    folder = tmp_path / "folder"
    folder.mkdir()
    _pinned(
        _fit_from(tmp_path, folder),
        f"checkpoint {str(folder)!r}: it is a directory, not a checkpoint file (no checkpoint "
        f"files in {str(folder)!r}). Pass the path of a `.ckpt` file.",
    )
    (folder / "treadle.ckpt").write_bytes(good.read_bytes())  # as DeepSpeed writes it
    _pinned(
        _fit_from(tmp_path, folder),
        f"checkpoint {str(folder)!r}: it is a DeepSpeed checkpoint (a directory with "
        f"treadle.ckpt and DeepSpeed's shards): resume it with the DeepSpeed strategy and ZeRO "
        f"stage it was saved with",
    )


def test_truncated_empty_and_random_files(tmp_path, good):
    data = good.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    _pinned(
        _fit_from(tmp_path, cut),
        f"checkpoint {str(cut)!r}: it is truncated or corrupt: {len(data) // 2} bytes that "
        f"`torch.load` cannot read (OSError: [Errno 22] Invalid argument). Resume from an "
        f"earlier checkpoint.",
    )
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    _pinned(
        _fit_from(tmp_path, empty),
        f"checkpoint {str(empty)!r}: the file is empty (0 bytes): it is not a complete "
        f"checkpoint (an interrupted copy or a full disk?). Resume from an earlier checkpoint.",
    )
    noise = tmp_path / "noise.ckpt"
    junk = random.Random(0).randbytes(1000)
    noise.write_bytes(junk)
    _pinned(
        _fit_from(tmp_path, noise),
        f"checkpoint {str(noise)!r}: it is not a torch file (1000 bytes starting with "
        f"{junk[:4]!r}; `torch.save` writes a zip archive). Resume from a checkpoint treadle "
        f"wrote.",
    )


def test_files_that_are_not_treadle_checkpoints(tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(Net().state_dict(), bare)
    _pinned(
        _fit_from(tmp_path, bare),
        f"checkpoint {str(bare)!r}: it is a bare state_dict (4 tensors: 'layer.weight', "
        f"'layer.bias', 'head.weight', 'head.bias'), not a treadle checkpoint: it holds weights "
        f"only, no training state to resume. To start from these weights, load them into the "
        f"model before fit: `model.load_state_dict(torch.load(path, weights_only=True))`, "
        f"without ckpt_path.",
    )
    other = tmp_path / "other.pt"
    torch.save({"model": Net().state_dict(), "iteration": 3}, other)
    _pinned(
        _fit_from(tmp_path, other),
        f"checkpoint {str(other)!r}: it is not a treadle checkpoint: it holds 'model', "
        f"'iteration', and a checkpoint holds 'epoch', 'global_step', 'state_dict'. If it holds "
        f"weights, load them with `Module.load_state_dict(...)` before fit, without ckpt_path.",
    )
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listed)
    _pinned(
        _fit_from(tmp_path, listed),
        f"checkpoint {str(listed)!r}: it holds a list, not a checkpoint (a dict with "
        f"`state_dict`, `global_step`, ...).",
    )


def test_missing_keys_are_named(tmp_path, good):
    checkpoint = torch.load(good, weights_only=True)
    del checkpoint["global_step"]
    path = tmp_path / "no_step.ckpt"
    torch.save(checkpoint, path)
    _pinned(
        _fit_from(tmp_path, path),
        f"checkpoint {str(path)!r}: it has no 'global_step' (it holds 'treadle_version', "
        f"'epoch', 'state_dict',",
    )
    assert "it is not a complete treadle checkpoint." in _fit_from(tmp_path, path)
    checkpoint = torch.load(good, weights_only=True)
    del checkpoint["state_dict"]
    torch.save(checkpoint, path)
    _pinned(_fit_from(tmp_path, path), f"checkpoint {str(path)!r}: it has no 'state_dict' (")
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["global_step"] = "3"
    torch.save(checkpoint, path)
    _pinned(
        _fit_from(tmp_path, path),
        f"checkpoint {str(path)!r}: its 'global_step' is '3'; a checkpoint's 'global_step' is "
        f"an int >= 0.",
    )


def test_weights_that_do_not_fit_the_model_are_named(tmp_path, good):
    _pinned(
        _fit_from(tmp_path, good, Net(hidden=16)),
        f"checkpoint {str(good)!r}: its weights do not fit Net: other shapes: 'layer.weight' "
        f"(file (8, 4), model (16, 4)); 'layer.bias' (file (8,), model (16,)); 'head.weight' "
        f"(file (1, 8), model (1, 16)). Was it saved from another model, or with other "
        f"hyper-parameters?",
    )
    _pinned(
        _fit_from(tmp_path, good, Net(extra=True)),
        f"checkpoint {str(good)!r}: its weights do not fit Net: missing from the file: "
        f"'extra.weight', 'extra.bias'.",
    )
    model = Net(extra=True)
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            f"checkpoint {str(good)!r}: its weights do not fit Net: missing from the file: "
            f"'extra.weight', 'extra.bias'."
        ),
    ):
        _trainer(tmp_path).validate(model, _loader(), ckpt_path=good)
    assert model.steps == 0


@pytest.mark.parametrize(
    "kind, expected",
    [
        (
            "sgd",
            "the state of optimizer 0 (SGD) has no 'dampening', 'momentum' (its parameter group "
            "0 holds 'betas', 'eps', 'lr', 'weight_decay'): it was saved from another optimizer "
            "class. Resume with the optimizer it was saved with.",
        ),
        (
            "two_groups",
            "the state of optimizer 0 (Adam) has 1 parameter group(s); the optimizer has 2. "
            "Resume with the parameter groups it was saved with.",
        ),
        (
            "layer_only",
            "parameter group 0 of optimizer 0 (Adam) has 2 parameters; the file's has 4. Resume "
            "with the parameter groups it was saved with.",
        ),
        (
            "reversed",
            "the state of optimizer 0 (Adam) does not fit its parameters: 'exp_avg' of parameter "
            "0 (file (8, 4), parameter (1,)); 'exp_avg_sq' of parameter 0 (file (8, 4), "
            "parameter (1,));",
        ),
    ],
)
def test_optimizer_states_that_do_not_fit_the_optimizers_are_named(tmp_path, good, kind, expected):
    _pinned(_fit_from(tmp_path, good, Net(optimizer=kind)), f"checkpoint {str(good)!r}: {expected}")


def test_another_number_of_optimizers(tmp_path, good):
    _pinned(
        _fit_from(tmp_path, good, TwoOptimizers()),
        f"checkpoint {str(good)!r}: it holds the states of 1 optimizer(s); "
        f"`configure_optimizers()` returned 2. Resume with the optimizers it was saved with.",
    )


def test_a_weights_only_checkpoint_cannot_resume_fit(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(Net(), _loader())
    path = tmp_path / "weights.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    _pinned(
        _fit_from(tmp_path, path),
        f"checkpoint {str(path)!r}: it holds the weights only (saved with `weights_only=True`, "
        f"e.g. `ModelCheckpoint(save_weights_only=True)`), so `fit()` cannot resume the "
        f"optimizers from it.",
    )
    results = _trainer(tmp_path).validate(Net(), _loader(), ckpt_path=path)  # weights suffice
    assert results == [{}]


def test_a_good_checkpoint_still_resumes(tmp_path, good):
    model = Net()
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(model, _loader(), ckpt_path=good)
    assert trainer.global_step == 8 and model.steps == 4


def test_load_from_checkpoint_names_the_file(tmp_path, good):
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(f"checkpoint {str(cut)!r}: it is truncated or corrupt: 100 bytes"),
    ):
        Net.load_from_checkpoint(cut)
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(f"Checkpoint file not found: {tmp_path / 'none.ckpt'}"),
    ):
        Net.load_from_checkpoint(tmp_path / "none.ckpt")
    bare = tmp_path / "bare.pt"
    torch.save(Net().state_dict(), bare)
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            f"checkpoint {str(bare)!r}: Net.load_from_checkpoint({str(bare)!r}): the file has no "
            f"`state_dict` (keys: 'layer.weight', 'layer.bias', 'head.weight', 'head.bias'); it "
            f"is not a treadle or Lightning checkpoint of a whole module. It is a bare "
            f"state_dict: build the model and load it with "
            f"`model.load_state_dict(torch.load(path, weights_only=True))`."
        ),
    ):
        Net.load_from_checkpoint(bare)


# -- hostile files: a __reduce__ payload never runs ---------------------------------------------


def _with_payload(src: Path, dst: Path, marker: Path, where=lambda c: c) -> Path:
    checkpoint = torch.load(src, weights_only=True)
    where(checkpoint)["payload"] = Payload(marker)
    torch.save(checkpoint, dst)
    return dst


def test_the_payload_runs_when_unpickled_unsafely(tmp_path, good):
    """The control: the payload used below does run code when a file is loaded unsafely."""
    marker = tmp_path / "ran"
    path = _with_payload(good, tmp_path / "hostile.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "ran"


def test_a_hostile_ckpt_never_runs_in_fit(tmp_path, good):
    marker = tmp_path / "ran"
    path = _with_payload(good, tmp_path / "hostile.ckpt", marker)
    _pinned(_fit_from(tmp_path, path), f"checkpoint {str(path)!r}: {HOSTILE}")
    assert not marker.exists()


def test_a_hostile_ckpt_never_runs_in_validate_or_load_from_checkpoint(tmp_path, good):
    marker = tmp_path / "ran"
    path = _with_payload(good, tmp_path / "hostile.ckpt", marker, lambda c: c["state_dict"])
    with pytest.raises(
        treadle.CheckpointError, match=re.escape(f"checkpoint {str(path)!r}: {HOSTILE}")
    ):
        _trainer(tmp_path).validate(Net(), _loader(), ckpt_path=path)
    with pytest.raises(
        treadle.CheckpointError, match=re.escape(f"checkpoint {str(path)!r}: {HOSTILE}")
    ):
        Net.load_from_checkpoint(path)
    assert not marker.exists()


def test_a_hostile_ema_state_never_runs(tmp_path):
    """treadle-ema keeps its average inside the checkpoint (no file of its own): a payload
    there is refused with the rest of the file."""
    from treadle_ema import EMA

    trainer = _trainer(tmp_path, max_epochs=1, callbacks=[EMA(decay=0.9)])
    trainer.fit(Net(), _loader())
    good = tmp_path / "ema.ckpt"
    trainer.save_checkpoint(good)
    marker = tmp_path / "ran"
    assert "shadow" in torch.load(good, weights_only=True)["treadle_ema"]
    path = _with_payload(
        good, tmp_path / "hostile.ckpt", marker, lambda c: c["treadle_ema"]["shadow"]
    )
    model = Net()
    with pytest.raises(
        treadle.CheckpointError, match=re.escape(f"checkpoint {str(path)!r}: {HOSTILE}")
    ):
        _trainer(tmp_path, callbacks=[EMA(decay=0.9)]).fit(model, _loader(), ckpt_path=path)
    assert not marker.exists() and model.steps == 0


def test_checkpoint_io_load_reads_no_code(tmp_path, good):
    marker = tmp_path / "ran"
    path = _with_payload(good, tmp_path / "hostile.ckpt", marker)
    with pytest.raises(
        treadle.CheckpointError, match=re.escape(f"checkpoint {str(path)!r}: {HOSTILE}")
    ):
        checkpoint_io.load(path)
    assert not marker.exists()


def test_a_missing_file_is_also_a_file_not_found_error_as_in_lightning(tmp_path) -> None:
    """Ported from Lightning's ``tests/tests_pytorch/models/test_restore.py``
    (``test_try_resume_from_non_existing_checkpoint``; Copyright The Lightning AI team,
    Apache-2.0): ``fit(ckpt_path=<missing>)`` raises ``FileNotFoundError`` "Checkpoint file not
    found"; in treadle it is a ``CheckpointError`` too."""
    missing = tmp_path / "non_existing.ckpt"
    model = Net()
    with pytest.raises(FileNotFoundError, match=re.escape("Checkpoint file not found")) as info:
        _trainer(tmp_path).fit(model, _loader(), ckpt_path=str(missing))
    assert isinstance(info.value, treadle.CheckpointError) and info.value.path == str(missing)
    assert model.steps == 0
    assert str(info.value) == (
        f"Checkpoint file not found: {missing} (no checkpoint files in {str(tmp_path)!r})."
    )
