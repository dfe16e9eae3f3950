"""How the Trainer's callbacks and ``Module.configure_callbacks()`` merge, as Lightning's.

Ported from Lightning's tests/tests_pytorch/trainer/connectors/test_callback_connector.py
(Apache-2.0, Copyright The Lightning AI team): test_checkpoint_callbacks_are_last,
test_attach_model_callbacks, test_attach_model_callbacks_override_info. The merged list is read
in ``prepare_data`` (called before any ``setup``), in place of the private connector call.
"""

from __future__ import annotations

import contextlib
import logging

from lightning_boring import BoringModel, quiet

import treadle
from treadle.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from treadle.tuner import BatchSizeFinder


class _Seen(Exception):
    pass


def merged(tmp_path, trainer_callbacks, model_callbacks):
    seen = []

    class Model(BoringModel):
        def configure_callbacks(self):
            return model_callbacks

        def prepare_data(self):
            seen.append(list(self.trainer.callbacks))
            raise _Seen

    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=trainer_callbacks))
    with contextlib.suppress(_Seen):
        trainer.validate(Model(), verbose=False)
    return seen[0]


def test_model_callbacks_replace_their_classes_and_checkpoints_go_last(tmp_path):
    ckpt1 = ModelCheckpoint(tmp_path / "a", monitor="a")
    ckpt2 = ModelCheckpoint(tmp_path / "b", monitor="b")
    stop, lr = EarlyStopping(monitor="foo"), LearningRateMonitor()
    finder = BatchSizeFinder()
    # two checkpoints from the model both stay (each replaced only the Trainer's), after the rest
    got = merged(tmp_path, [lr, stop], [ckpt1, EarlyStopping(monitor="x"), ckpt2])
    assert got[:2] == [lr, got[1]] and got[1] is not stop and got[2:] == [ckpt1, ckpt2]
    # a tuner callback goes first
    got = merged(tmp_path, [lr], [ckpt2, stop, finder, ckpt1])
    assert got == [finder, lr, stop, ckpt2, ckpt1]


def test_a_subclass_replaces_its_parent_and_a_bare_callback_stays(tmp_path):
    class CustomStop(EarlyStopping):
        pass

    bare, custom = treadle.Callback(), CustomStop(monitor="x")
    assert merged(tmp_path, [EarlyStopping(monitor="y"), bare], [custom]) == [bare, custom]
    # several of one class in the Trainer all go
    got = merged(
        tmp_path,
        [EarlyStopping(monitor="a"), LearningRateMonitor(), EarlyStopping(monitor="b")],
        [custom],
    )
    assert [type(c) for c in got] == [LearningRateMonitor, CustomStop]


def test_the_replaced_classes_are_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="treadle"):
        merged(
            tmp_path,
            [EarlyStopping(monitor="foo"), LearningRateMonitor()],
            [LearningRateMonitor(), EarlyStopping(monitor="foo")],
        )
    assert "existing callbacks passed to Trainer: EarlyStopping, LearningRateMonitor" in caplog.text


# Ported from the same file: test_configure_external_callbacks (with a real distribution on
# sys.path in place of the mocked `entry_points`), test_validate_unique_callback_state_key.


class External(treadle.Callback):
    pass


def one():
    return External()


def two():
    return [External(), External()]


def none():
    return []


def _distribution(tmp_path, group, factory):
    info = tmp_path / f"ext_{factory}" / "ext_callbacks-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-callbacks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nmine = {__name__}:{factory}\n")
    return str(info.parent)


def test_callback_factories_registered_by_entry_points(tmp_path, monkeypatch, caplog):
    import sys

    plain = {"enable_checkpointing": False, "enable_progress_bar": False}
    for group in ("treadle.callbacks_factory", "lightning.pytorch.callbacks_factory"):
        for factory, count in (("none", 0), ("one", 1), ("two", 2)):
            with monkeypatch.context() as m:
                m.syspath_prepend(_distribution(tmp_path / group, group, factory))
                with caplog.at_level(logging.INFO, logger="treadle"):
                    trainer = treadle.Trainer(**quiet(tmp_path, **plain))
            made = [c for c in trainer.callbacks if isinstance(c, External)]
            assert len(made) == count, (group, factory)
    assert "Adding 2 callbacks from entry point 'mine': External, External" in caplog.text
    assert not any("ext_" in p for p in sys.path)


def test_two_stateful_callbacks_with_one_state_key_are_refused(tmp_path):
    import pytest

    class Same(treadle.Callback):
        @property
        def state_key(self):
            return "same_key"

        def state_dict(self):
            return {"state": 1}

    with pytest.raises(RuntimeError, match="Found more than one stateful callback of type `Same`"):
        treadle.Trainer(**quiet(tmp_path, callbacks=[Same(), Same()]))
    # stateless ones may share a key
    treadle.Trainer(**quiet(tmp_path, callbacks=[treadle.Callback(), treadle.Callback()]))
