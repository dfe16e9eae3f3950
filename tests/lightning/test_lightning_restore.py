"""Behaviour Lightning's ``tests/tests_pytorch/models/test_restore.py`` relies on (ported,
Copyright The Lightning AI team, Apache-2.0): checkpoint callbacks last in ``trainer.callbacks``
(``test_callbacks_references_fit_ckpt_path``), ``copy.deepcopy(trainer.callbacks)`` in a hook
(``test_callbacks_state_fit_ckpt_path``), ``hparams.yaml`` written by ``TensorBoardLogger`` for
a module without hyper-parameters (``test_model_saving_loading``), and torch's wording of
missing/unexpected keys under ``strict=True`` (``test_strict_model_load_more_params``,
``_less_params``)."""

from __future__ import annotations

import copy
import os
import re

import pytest
import torch
from lightning_boring import BoringModel, quiet

import treadle
from treadle.callbacks import EarlyStopping, ModelCheckpoint
from treadle.loggers import TensorBoardLogger


def test_checkpoint_callbacks_come_last(tmp_path) -> None:
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_last=True)
    early = EarlyStopping(monitor="val_loss")
    trainer = treadle.Trainer(
        default_root_dir=tmp_path, logger=False, callbacks=[checkpoint, early]
    )
    assert checkpoint is trainer.callbacks[-1] is trainer.checkpoint_callback
    assert trainer.callbacks.index(early) < trainer.callbacks.index(checkpoint)


def test_callbacks_deep_copied_in_a_hook_keep_the_trainer(tmp_path) -> None:
    copied = []

    class Capture(treadle.Callback):
        def on_fit_start(self, trainer, pl_module):
            copied.extend(copy.deepcopy(trainer.callbacks))

    trainer = treadle.Trainer(
        **quiet(tmp_path, enable_progress_bar=True, max_steps=1, callbacks=[Capture()])
    )
    trainer.fit(BoringModel())
    bars = [c for c in copied if isinstance(c, treadle.callbacks.ProgressBar)]
    assert len(copied) == len(trainer.callbacks) and len(bars) == 1
    assert bars[0] is not trainer.progress_bar_callback and bars[0].trainer is trainer


def test_tensorboard_writes_hparams_yaml_without_hyperparameters(tmp_path) -> None:
    logger = TensorBoardLogger(tmp_path)
    trainer = treadle.Trainer(**quiet(tmp_path, logger=logger, max_steps=1))
    trainer.fit(BoringModel())
    assert os.path.isfile(os.path.join(logger.log_dir, "hparams.yaml"))
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    BoringModel.load_from_checkpoint(
        path, hparams_file=os.path.join(logger.log_dir, "hparams.yaml")
    )


def test_strict_load_names_the_keys_in_torchs_words(tmp_path) -> None:
    model = BoringModel()
    model.c_d3 = torch.nn.Linear(2, 2)
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(model)
    path = tmp_path / "more.ckpt"
    trainer.save_checkpoint(path)
    BoringModel.load_from_checkpoint(path, strict=False)
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            '(in torch\'s words: Unexpected key(s) in state_dict: "c_d3.weight", "c_d3.bias".)'
        ),
    ):
        BoringModel.load_from_checkpoint(path, strict=True)

    class Bigger(BoringModel):
        def __init__(self):
            super().__init__()
            self.c_d3 = torch.nn.Linear(7, 7)

    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "less.ckpt")
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape('Missing key(s) in state_dict: "c_d3.weight", "c_d3.bias".'),
    ):
        Bigger.load_from_checkpoint(tmp_path / "less.ckpt", strict=True)


def test_save_checkpoint_takes_lightnings_positional_arguments(tmp_path) -> None:
    """Ported from ``checkpointing/test_trainer_checkpoint.py::
    test_trainer_save_checkpoint_storage_options``: ``save_checkpoint(path, weights_only,
    storage_options)``; the default writer refuses ``storage_options`` in Lightning's words."""
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=True))
    trainer.fit(BoringModel())
    path = tmp_path / "path.ckpt"
    trainer.save_checkpoint(path, True)
    assert "optimizer_states" not in torch.load(path, weights_only=False)
    trainer.save_checkpoint(path, False, None)
    assert "optimizer_states" in torch.load(path, weights_only=False)
    path.unlink()
    with pytest.raises(TypeError, match=re.escape("is not supported for `TorchCheckpointIO`")):
        trainer.save_checkpoint(path, False, "my instance storage options")
    assert not path.exists()


def test_missing_checkpoint_named_as_lightning_does(tmp_path) -> None:
    """Ported from ``trainer/connectors/test_checkpoint_connector.py::test_hpc_restore_attempt``
    (its last case): the path as given, unquoted, after "Checkpoint file not found: "."""
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=3))
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: not existing"):
        trainer.fit(BoringModel(), ckpt_path="not existing")


def test_best_with_no_best_checkpoint_says_so_as_lightning(tmp_path) -> None:
    """Ported from ``trainer/connectors/test_checkpoint_connector.py::
    test_best_ckpt_path_no_disk_fallback_raises``: a ``ValueError`` in Lightning's words."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=1, mode="min")
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[callback]))
    with pytest.raises(ValueError, match="is not configured to save the best model"):
        trainer.validate(BoringModel(), ckpt_path="best")
    with pytest.raises(ValueError, match=re.escape('`.test(ckpt_path="best")` is set but')):
        treadle.Trainer(**quiet(tmp_path, enable_checkpointing=False)).test(
            BoringModel(), ckpt_path="best"
        )


@pytest.mark.parametrize(
    ("strict_loading", "expected"), [(None, True), (True, True), (False, False)]
)
def test_strict_loading_none_is_the_default(tmp_path, strict_loading, expected) -> None:
    """Ported from ``trainer/connectors/test_checkpoint_connector.py::test_strict_loading``:
    ``strict_loading = None`` is Lightning's unset value, loading strictly."""
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")
    model = BoringModel()
    model.strict_loading = strict_loading
    assert model.strict_loading is expected
    calls = []
    real = model.load_state_dict

    def load_state_dict(state_dict, strict=True, **kwargs):
        calls.append(strict)
        return real(state_dict, strict=strict, **kwargs)

    model.load_state_dict = load_state_dict
    treadle.Trainer(**quiet(tmp_path, max_steps=2)).fit(
        model, ckpt_path=tmp_path / "checkpoint.ckpt"
    )
    assert calls == [expected]


@pytest.mark.parametrize(
    ("strict", "strict_loading", "expected"),
    [
        (None, None, True),
        (None, False, False),
        (True, None, True),
        (True, False, "error"),
        (False, None, False),
        (False, True, "error"),
        (False, False, False),
    ],
)
def test_load_from_checkpoint_strict_against_strict_loading(
    tmp_path, strict, strict_loading, expected
) -> None:
    """Ported from ``core/test_saving.py::test_load_from_checkpoint_strict``: ``strict`` that
    contradicts a ``strict_loading`` the model's ``__init__`` set is refused, in Lightning's
    words; otherwise whichever is set decides."""
    calls = []

    class LoadingModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.strict_loading = strict_loading

        def load_state_dict(self, state_dict, strict=True, **kwargs):
            calls.append(strict)
            return super().load_state_dict(state_dict, strict=strict, **kwargs)

    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(LoadingModel())
    trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")
    calls.clear()
    if expected == "error":
        with pytest.raises(ValueError, match=r"in conflict with .*LoadingModel\.strict_loading"):
            LoadingModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=strict)
        assert calls == []
    else:
        LoadingModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=strict)
        assert calls == [expected]


def test_load_from_checkpoint_warns_on_an_empty_state_dict(tmp_path) -> None:
    """Ported from ``core/test_saving.py::test_load_from_checkpoint_warn_on_empty_state_dict``:
    a checkpoint whose ``state_dict`` is empty loads (``strict=False``) with a warning."""
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")
    checkpoint = torch.load(tmp_path / "checkpoint.ckpt", weights_only=False)
    checkpoint["state_dict"] = {}
    torch.save(checkpoint, tmp_path / "checkpoint.ckpt")
    with pytest.warns(UserWarning, match="checkpoint.ckpt' contains no parameters"):
        model = BoringModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=False)
    assert model.device.type == "cpu"
