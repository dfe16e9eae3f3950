"""``treadle.callbacks``: the import names, lazy loading, and ``Callback.state_key`` (ours)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from boring_model import BoringModel, quiet, unless_installed

import treadle

NAMES = [
    "BackboneFinetuning",
    "BaseFinetuning",
    "BasePredictionWriter",
    "BatchSizeFinder",
    "Callback",
    "Checkpoint",
    "DeviceStatsMonitor",
    "EMAWeightAveraging",
    "EarlyStopping",
    "EarlyStoppingReason",
    "GradientAccumulationScheduler",
    "LambdaCallback",
    "LearningRateFinder",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelPruning",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "PlainProgressBar",
    "ProgressBar",
    "RichModelSummary",
    "RichProgressBar",
    "RichProgressBarTheme",
    "SpikeDetection",
    "StochasticWeightAveraging",
    "TQDMProgressBar",
    "ThroughputMonitor",
    "Timer",
    "WeightAveraging",
]


def test_lightning_style_imports_work():
    import treadle.callbacks as callbacks
    from treadle.callbacks import (  # noqa: F401
        Callback,
        EarlyStopping,
        LambdaCallback,
        LearningRateMonitor,
        ModelCheckpoint,
        ModelSummary,
        OnExceptionCheckpoint,
        Timer,
    )

    assert callbacks.Callback is treadle.Callback
    assert sorted(callbacks.__all__) == NAMES
    for name in NAMES:
        value = getattr(callbacks, name)
        if name not in ("Callback", "EarlyStoppingReason", "RichProgressBarTheme"):
            assert issubclass(value, treadle.Callback), name
    assert treadle.callbacks is callbacks  # reachable as an attribute of the package too


def test_unknown_name_lists_the_known_ones():
    import treadle.callbacks as callbacks

    with pytest.raises(
        AttributeError,
        match=re.escape(
            "module 'treadle.callbacks' has no attribute 'ModelPrunning'; it provides "
            "BackboneFinetuning, BaseFinetuning, BasePredictionWriter, BatchSizeFinder, Callback, "
            "Checkpoint, DeviceStatsMonitor, EMAWeightAveraging"
        ),
    ):
        callbacks.ModelPrunning  # noqa: B018


def test_import_treadle_loads_no_callback_module():
    code = (
        "import sys, treadle; "
        "print(sorted(m for m in sys.modules if m == 'treadle.callbacks' "
        "or m.startswith('treadle_plugins.callbacks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = (
        "import sys; from treadle.callbacks import Timer; "
        "print(sorted(m for m in sys.modules if m.startswith('treadle_plugins')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # the Timer's module and what it imports, not the other callbacks
    assert out.stdout.strip() == (
        "['treadle_plugins', 'treadle_plugins.callbacks', "
        "'treadle_plugins.callbacks._collective', "
        "'treadle_plugins.callbacks.timer']"
    )


class Counter(treadle.Callback):
    def __init__(self, what):
        self.what, self.count = what, 0

    @property
    def state_key(self):
        return self._generate_state_key(what=self.what)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.count += 1

    def state_dict(self):
        return {"count": self.count}


def test_generate_state_key_is_lightnings_format(tmp_path):
    a, b = Counter("a"), Counter("b")
    assert a.state_key == "Counter{'what': 'a'}"
    assert treadle.Callback().state_key == "Callback"
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, callbacks=[a, b], max_epochs=1, limit_train_batches=3, limit_val_batches=0
        )
    )
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    saved = torch.load(tmp_path / "c.ckpt", weights_only=True)["callbacks"]
    assert saved["Counter{'what': 'a'}"] == saved["Counter{'what': 'b'}"] == {"count": 3}


def test_two_stateful_callbacks_with_one_state_key_are_refused(tmp_path):
    """Lightning's rule: its RuntimeError, in its words, when the Trainer is made; a
    ConfigurationError too, listing every such pair."""
    from treadle.callbacks import EarlyStopping, Timer
    from treadle.errors import StatefulCallbackError

    with pytest.raises(StatefulCallbackError) as info:
        treadle.Trainer(
            **quiet(
                tmp_path,
                callbacks=[
                    EarlyStopping("a"),
                    EarlyStopping("a", patience=5),
                    EarlyStopping("a", mode="max"),
                    Counter("x"),
                    Timer(),
                    treadle.Callback(),
                    treadle.Callback(),
                ],
            )
        )
    assert isinstance(info.value, RuntimeError) and isinstance(
        info.value, treadle.ConfigurationError
    )
    (problem,) = info.value.problems
    assert problem.startswith(
        "Found more than one stateful callback of type `EarlyStopping`. In the current "
        "configuration, this callback does not support being saved alongside other instances"
    )
    assert "(two have \"EarlyStopping{'monitor': 'a', 'mode': 'min'}\")" in problem


def test_two_stateful_callbacks_from_configure_callbacks_are_refused_at_fit(tmp_path):
    """The Module's configure_callbacks() joins the run at fit(): fit()'s validation reports a
    shared state_key there, with the run's other problems. The plugin is an entry point;
    registered explicitly until reinstalled."""
    from treadle.callbacks import EarlyStopping
    from treadle_plugins.callbacks import state_keys

    class Model(BoringModel):
        def configure_callbacks(self):
            return [EarlyStopping("a"), EarlyStopping("a", patience=5)]

    trainer = treadle.Trainer(**quiet(tmp_path, plugins=unless_installed(state_keys)))
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(Model())
    assert len(info.value.problems) == 1
    assert info.value.problems[0].endswith(
        "Found more than one stateful callback of type `EarlyStopping` with `state_key` "
        "\"EarlyStopping{'monitor': 'a', 'mode': 'min'}\": their states would overwrite each "
        "other in checkpoints. Keep one, or give them different settings where `EarlyStopping` "
        "puts them in its `state_key` (`EarlyStopping`: monitor and mode), or override "
        "`state_key` using `self._generate_state_key(...)`."
    )
