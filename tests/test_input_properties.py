"""Property tests of wrong inputs (issue 11, item 7), with hypothesis.

Three kinds of input are drawn, wrong and right values mixed: ``Trainer`` arguments,
what ``configure_optimizers()`` returns, and what ``training_step`` returns. The property for
each example: the run either completes, or stops with an error the user can act on -- a
treadle error (``ConfigurationError``, ``PluginError``, ``NonFiniteLossError``), an error treadle
raises that names the input (``training_step``, ``configure_optimizers``), or an error torch
itself raises about the user's tensors (its frame is inside torch). Anything else -- an
``AttributeError``, ``KeyError`` or ``TypeError`` from inside treadle, a hang -- fails.

Bounded so the file runs in well under a minute on two CPU cores: few examples, a tiny model,
``max_steps`` of 1 or 2, an alarm against hangs.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import tempfile
import traceback
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import treadle

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="the hang guard needs signal.setitimer (POSIX)"
)

# CI draws the same few examples on every run (no flake from a new draw); a deeper local
# search: TREADLE_HYPOTHESIS_EXAMPLES=500 TREADLE_HYPOTHESIS_RANDOM=1 pytest this file.
SETTINGS = settings(
    max_examples=int(os.environ.get("TREADLE_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    derandomize=not os.environ.get("TREADLE_HYPOTHESIS_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 30  # one example (construct + a 1-2 step fit) takes well under a second
TREADLE_ERRORS = (treadle.ConfigurationError, treadle.PluginError, treadle.NonFiniteLossError)


class Hang(BaseException):
    """An example ran past HANG_SECONDS (BaseException: no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def hang_guard():
    def alarm(signum, frame):
        raise Hang(f"the example ran more than {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


TORCH_DIR = str(Path(torch.__file__).parent)


def raised_by_torch(exc: BaseException) -> bool:
    """The innermost frame of ``exc`` is torch's own code: torch refusing the user's tensors
    (backward of a loss that does not require grad, of a vector, ...)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(TORCH_DIR)


def check(run, names_input: str) -> None:
    """Run ``run()``; fail unless it completes or raises an acceptable error."""
    try:
        with hang_guard(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
    except TREADLE_ERRORS:
        return
    except Exception as exc:
        if raised_by_torch(exc):
            return
        if isinstance(exc, (ValueError, TypeError)) and names_input in str(exc):
            return
        raise AssertionError(
            f"an obscure {type(exc).__name__} for a wrong input: {exc}\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        ) from exc


def loader(n: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


class Tiny(treadle.Module):
    """``optimizers(module)`` makes configure_optimizers's return; ``output(loss, module)``
    makes training_step's."""

    def __init__(self, optimizers=None, output=None):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.make_optimizers, self.output = optimizers, output

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss if self.output is None else self.output(loss, self)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        if self.make_optimizers is None:
            return torch.optim.SGD(self.parameters(), lr=0.1)
        return self.make_optimizers(self)


def quiet(root: str, **kwargs):
    base = dict(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        max_steps=2,
        default_root_dir=root,
    )
    base.update(kwargs)
    return base


# -- Trainer arguments -------------------------------------------------------------------------

WRONG = [
    None,
    True,
    False,
    0,
    -1,
    0.5,
    1.5,
    -0.5,
    math.nan,
    math.inf,
    "",
    "abc",
    [],
    [1],
    {},
    object(),
]

RIGHT = {
    "accelerator": ["cpu", "gpu", "tpu", "auto"],
    "strategy": ["auto", "single_device", "ddpp"],
    "devices": ["auto", 1, "1", [0], 10**6, "0,1"],
    "precision": ["32-true", "32", 32, "64-true", "bf16-mixed", "16-true", "8-bit"],
    "max_epochs": [1, 2, -1, 1000],
    "min_epochs": [1, 3],
    "min_steps": [1, 5],
    "limit_train_batches": [1, 2, 0.5, 1.0],
    "limit_val_batches": [0, 1, 0.5],
    "val_check_interval": [1, 2, 0.5, 100],
    "check_val_every_n_epoch": [1, 2],
    "num_sanity_val_steps": [0, 1, -1],
    "accumulate_grad_batches": [1, 2],
    "gradient_clip_val": [0.5, 1, 0.0],
    "gradient_clip_algorithm": ["norm", "value", "l3"],
    "log_every_n_steps": [0, 1, 50],
    "logger": [True, "csv", "wandb", "make-csv"],
    "callbacks": [["make-checkpoint"], "make-checkpoint", ["ModelCheckpoint-class"]],
    "plugins": [["ddp"], [1]],
    "process_group_timeout": [60, 1800.0, timedelta(minutes=1), 1e12],
    "fast_dev_run": [1, 2],
    "overfit_batches": [1, 0.5],
    "deterministic": [True, "warn"],
    "benchmark": [False],
    "inference_mode": [True, False],
    "detect_anomaly": [True],
    "nonfinite_loss": ["raise", "skip", "warn"],
    "max_time": ["00:00:00:05", {"seconds": 5}, timedelta(seconds=5), "5s"],
    "reload_dataloaders_every_n_epochs": [1],
    "use_distributed_sampler": [False],
    "num_nodes": [1, 2],
    "enable_checkpointing": [True],
    "enable_progress_bar": [True],
    "enable_model_summary": [True],
    "max_steps": [1, 2],
}


def materialize(name: str, value, root: str):
    """Objects a draw names by a string (they cannot be shared between examples)."""
    from treadle.loggers import CSVLogger
    from treadle_plugins.checkpointing import ModelCheckpoint

    made = {
        "make-csv": lambda: CSVLogger(root),
        "make-checkpoint": lambda: ModelCheckpoint(dirpath=root),
        "ModelCheckpoint-class": lambda: ModelCheckpoint,
    }
    if isinstance(value, list):
        return [made[v]() if isinstance(v, str) and v in made else v for v in value]
    return made[value]() if isinstance(value, str) and value in made else value


# Mostly values of the right type (some of them wrong in meaning: "ddpp", 10**6, "wandb"),
# plus one value of any type for one argument: every argument meets every WRONG value.
right_kwargs = st.fixed_dictionaries(
    {}, optional={name: st.sampled_from(right) for name, right in RIGHT.items()}
)
trainer_kwargs = st.one_of(
    right_kwargs,
    st.tuples(right_kwargs, st.sampled_from(list(RIGHT)), st.sampled_from(WRONG)).map(
        lambda t: {**t[0], t[1]: t[2]}
    ),
)


@SETTINGS
@given(kwargs=trainer_kwargs)
def test_trainer_arguments(kwargs):
    with tempfile.TemporaryDirectory() as root:
        kwargs = {k: materialize(k, v, root) for k, v in kwargs.items()}
        if kwargs.get("max_steps") not in (1, 2):  # bounded: at most two steps
            kwargs["max_steps"] = 2
        given_kwargs = quiet(root, **kwargs)

        def run():
            trainer = treadle.Trainer(**given_kwargs)
            if trainer.world_size > 1 or trainer.root_device.type != "cpu":
                return  # one CPU process only: constructing it was the check
            trainer.fit(Tiny(), loader(), loader(4))

        check(run, "Trainer(")


# -- configure_optimizers() returns ------------------------------------------------------------

# Tokens stand for objects made with the module's parameters; anything else is returned as is.
OPT_TOKENS = ["OPT", "OPT2", "SCHED", "SCHED_OTHER", "PLATEAU", "NOT_AN_OPT"]
optim_atoms = st.sampled_from(
    [*OPT_TOKENS, None, 1, "adam", 0.1, "step", "epoch", "val_loss", "train_loss"]
)
optim_keys = st.sampled_from(
    ["optimizer", "lr_scheduler", "monitor", "scheduler", "interval", "frequency", "strict", "x"]
)
optim_junk = st.recursive(
    optim_atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(optim_keys, inner, max_size=3),
    ),
    max_leaves=6,
)
# Lightning's forms, with any value in each slot: the common shapes, nearly right.
scheduler_dicts = st.fixed_dictionaries(
    {"scheduler": optim_junk},
    optional={
        "interval": optim_atoms,
        "frequency": st.sampled_from([1, 2, 0, -1, 1.5, "1"]),
        "monitor": optim_atoms,
        "strict": st.sampled_from([True, False, None]),
        "name": optim_atoms,
    },
)
optimizer_dicts = st.fixed_dictionaries(
    {"optimizer": optim_atoms},
    optional={"lr_scheduler": st.one_of(optim_junk, scheduler_dicts), "monitor": optim_atoms},
)
optim_returns = st.one_of(
    optim_junk,
    st.tuples(st.lists(optim_atoms, max_size=2), st.lists(st.one_of(optim_junk, scheduler_dicts))),
    optimizer_dicts,
    st.lists(optimizer_dicts, max_size=2),
)


def build_optimizers(recipe, module):
    params = list(module.parameters())
    opt = torch.optim.SGD(params, lr=0.1)
    made = {
        "OPT": lambda: opt,
        "OPT2": lambda: torch.optim.Adam(params, lr=0.01),
        "SCHED": lambda: torch.optim.lr_scheduler.StepLR(opt, 1),
        "SCHED_OTHER": lambda: torch.optim.lr_scheduler.StepLR(torch.optim.SGD(params, lr=1), 1),
        "PLATEAU": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
        "NOT_AN_OPT": lambda: torch.nn.Linear(1, 1),
    }

    def walk(x):
        if isinstance(x, str) and x in made:
            return made[x]()
        if isinstance(x, list):
            return [walk(i) for i in x]
        if isinstance(x, tuple):
            return tuple(walk(i) for i in x)
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(recipe)


@SETTINGS
@given(recipe=optim_returns, manual=st.booleans())
def test_configure_optimizers_returns(recipe, manual):
    with tempfile.TemporaryDirectory() as root:

        def run():
            model = Tiny(optimizers=lambda m: build_optimizers(recipe, m))
            model.automatic_optimization = not manual
            if manual:
                model.training_step = lambda batch, batch_idx: None  # steps nothing itself
            trainer = treadle.Trainer(**quiet(root, max_epochs=2))
            trainer.fit(model, loader(), loader(4))

        check(run, "configure_optimizers")


# -- training_step returns ---------------------------------------------------------------------

STEP_TOKENS = ["LOSS", "DETACHED", "VECTOR", "INT_TENSOR", "NAN", "ITEM"]
step_atoms = st.sampled_from([*STEP_TOKENS, None, 1.0, 3, "loss", object()])
step_junk = st.recursive(
    step_atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(st.sampled_from(["loss", "log", "x"]), inner, max_size=2),
    ),
    max_leaves=4,
)
step_returns = st.one_of(
    step_atoms,
    step_junk,
    st.fixed_dictionaries({"loss": step_atoms}, optional={"extra": step_junk}),
)


def build_output(recipe, loss, module):
    made = {
        "LOSS": lambda: loss,
        "DETACHED": lambda: loss.detach(),
        "VECTOR": lambda: loss * torch.ones(3),
        "INT_TENSOR": lambda: torch.tensor(1),
        "NAN": lambda: loss * math.nan,
        "ITEM": lambda: loss.item(),
    }

    def walk(x):
        if isinstance(x, str) and x in made:
            return made[x]()
        if isinstance(x, list):
            return [walk(i) for i in x]
        if isinstance(x, tuple):
            return tuple(walk(i) for i in x)
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(recipe)


@SETTINGS
@given(recipe=step_returns, policy=st.sampled_from([None, "raise", "skip"]))
def test_training_step_returns(recipe, policy):
    with tempfile.TemporaryDirectory() as root:

        def run():
            model = Tiny(output=lambda loss, m: build_output(recipe, loss, m))
            trainer = treadle.Trainer(**quiet(root, nonfinite_loss=policy))
            trainer.fit(model, loader(), loader(4))

        check(run, "training_step")
