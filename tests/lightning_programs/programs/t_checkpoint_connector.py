# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_checkpoint_connector.py
#   (its public parts: test_hpc_restore_attempt's "file not found" case,
#   test_best_ckpt_path_no_disk_fallback_raises, test_strict_loading)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> a loop); tmp_path -> a tempfile
#   dir; pytest.raises -> try/except; in test_strict_loading `model.load_state_dict = Mock()` ->
#   a function recording its `strict` and calling the real method. Left out, as tests of
#   Lightning internals: test_preloaded_checkpoint_lifecycle, test_hpc_max_ckpt_version,
#   test_ckpt_for_fsspec, test_local_cross_device_checkpoint and test_loops_restore (the private
#   `trainer._checkpoint_connector` and its name-mangled helpers, `os.rename` mocked), the SLURM
#   case of test_hpc_restore_attempt (it mocks `SLURMEnvironment.detect`),
#   test_stateful_trainer_ckpt_path_support (a `Mock(spec=ModelCheckpoint)` answering the
#   private `_find_last_checkpoints`), test_restore_callbacks_in_non_fit_phases (calls the
#   connector's `resume_start`/`restore_callbacks`), and the best-checkpoint-from-disk tests
#   (newer than Lightning 2.6.6, which fails them).
import tempfile
from pathlib import Path

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


def test_hpc_restore_attempt_file_not_found(tmp_path):
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmp_path, max_steps=1, enable_checkpointing=False, logger=False)
    trainer.fit(model)

    # case 2: explicit resume path provided, file not found
    trainer = Trainer(default_root_dir=tmp_path, max_steps=3)
    try:
        trainer.fit(model, ckpt_path="not existing")
    except FileNotFoundError as err:
        assert "Checkpoint file not found: not existing" in str(err), err
    else:
        raise AssertionError("no FileNotFoundError")


def test_best_ckpt_path_no_disk_fallback_raises(tmp_path):
    """Test that ckpt_path="best" still raises a clear error when no checkpoint exists on disk."""
    model = BoringModel()
    checkpoint_callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=1, mode="min")
    trainer = Trainer(default_root_dir=tmp_path, logger=False, callbacks=[checkpoint_callback])
    try:
        trainer.validate(model, ckpt_path="best")
    except ValueError as err:
        assert "is not configured to save the best model" in str(err), err
    else:
        raise AssertionError("no ValueError")


def test_strict_loading(strict_loading, expected, tmp_path):
    """Test that the connector respects the `LightningModule.strict_loading` setting."""
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmp_path, barebones=True, max_steps=1)
    trainer.fit(model)
    trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")

    model = BoringModel()
    model.strict_loading = strict_loading
    calls = []  # edit: in place of Mock()
    real_load_state_dict = model.load_state_dict

    def load_state_dict(state_dict, strict=True, **kwargs):
        calls.append(strict)
        return real_load_state_dict(state_dict, strict=strict, **kwargs)

    model.load_state_dict = load_state_dict

    trainer = Trainer(default_root_dir=tmp_path, barebones=True, max_steps=2)
    trainer.fit(model, ckpt_path=(tmp_path / "checkpoint.ckpt"))
    assert calls == [expected], (calls, strict_loading, expected)
    assert isinstance(torch.load(tmp_path / "checkpoint.ckpt", weights_only=False)["state_dict"], dict)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_hpc_restore_attempt_file_not_found(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        test_best_ckpt_path_no_disk_fallback_raises(Path(tmp))
    for strict_loading, expected in [(None, True), (True, True), (False, False)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_strict_loading(strict_loading, expected, Path(tmp))
    print("OK")
