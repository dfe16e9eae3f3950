"""The pydantic-free fast path of Trainer arguments agrees with TrainerConfig."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from treadle._fastconfig import FIELDS, fast_validate
from treadle.config import TrainerConfig
from treadle.errors import ConfigurationError

# Values on both sides of every constraint, of every type the fields meet.
BATTERY = [
    None,
    True,
    False,
    0,
    1,
    2,
    -1,
    -2,
    3,
    0.0,
    0.5,
    1.0,
    1.5,
    -0.5,
    2.0,
    "auto",
    "cpu",
    "norm",
    "value",
    "warn",
    "16",
    "bf16",
    "16-mixed",
    "32-true",
    [],
    [0, 1],
    [0, "a"],
    (1, 2),
    "2",
    Path("/tmp/x"),
    object(),
    # durations (val_check_interval, max_time), good and bad
    "00:00:05:00",
    "01:02:03",
    "00:00:00:00",
    {"minutes": 5},
    {"mins": 5},
    {"minutes": -1},
    timedelta(minutes=5),
    timedelta(0),
]


def test_same_fields_and_defaults():
    assert list(FIELDS) == list(TrainerConfig.model_fields)
    model = TrainerConfig()
    fast = fast_validate({})
    assert fast == {name: getattr(model, name) for name in FIELDS}


@pytest.mark.parametrize("name", list(FIELDS))
def test_fast_path_accepts_only_what_pydantic_accepts_and_agrees(name):
    for value in BATTERY:
        fast = fast_validate({name: value})
        try:
            slow = TrainerConfig.from_kwargs(**{name: value})
        except ConfigurationError:
            assert fast is None, f"{name}={value!r}: the fast path accepts what pydantic refuses"
            continue
        if fast is not None:
            got, want = fast[name], getattr(slow, name)
            assert got == want and type(got) is type(want), (name, value, got, want)


def test_unknown_argument_goes_to_pydantic():
    assert fast_validate({"max_epoch": 3}) is None


def test_a_plain_trainer_does_not_import_pydantic():
    code = (
        "import sys, treadle; treadle.Trainer(max_epochs=2, gradient_clip_val=1, logger=False);"
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
