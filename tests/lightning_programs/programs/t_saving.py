# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/core/test_saving.py
#   (test_load_from_checkpoint_map_location_automatic[cpu], test_load_from_checkpoint_map_location_cpu,
#    test_load_from_checkpoint_warn_on_empty_state_dict, test_load_from_checkpoint_strict)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a tempfile dir; pytest.raises/warns -> try/except and
#   warnings.catch_warnings; `torch.load(..., weights_only=False)` (torch 2.6+ default).
#   test_load_from_checkpoint_map_location_automatic runs its "cpu" case only, without
#   `mock_cuda_count`/`mock_mps_count` (no accelerator here to pretend away).
#   test_load_from_checkpoint_strict: the `Mock()` put in place of `load_state_dict` -> a
#   recording function that calls the real one (the checkpoint matches the model, so either
#   `strict` loads it). Left out, needing a GPU: the "cuda"/"mps" cases of
#   test_load_from_checkpoint_map_location_automatic, test_load_from_checkpoint_map_location_gpu,
#   _gpu_to_cpu, _cpu_to_gpu and test_load_from_checkpoint_device_placement_with_extra_state.
import tempfile
import warnings
from pathlib import Path

import torch

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel


def create_boring_checkpoint(tmp_path, model, accelerator="cuda"):
    checkpoint_callback = ModelCheckpoint(dirpath=tmp_path, filename="checkpoint")
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        devices=1,
        accelerator=accelerator,
        max_epochs=1,
        enable_model_summary=False,
        enable_progress_bar=False,
        callbacks=[checkpoint_callback],
    )
    trainer.fit(model)


def test_load_from_checkpoint_map_location_automatic(accelerator, tmp_path):
    create_boring_checkpoint(tmp_path, BoringModel(), accelerator=accelerator)

    # The checkpoint contains tensors with storage tag on the accelerator
    checkpoint = torch.load(f"{tmp_path}/checkpoint.ckpt", weights_only=False)
    assert checkpoint["state_dict"]["layer.weight"].device.type.startswith(accelerator)

    model = BoringModel.load_from_checkpoint(f"{tmp_path}/checkpoint.ckpt")
    _ = BoringDataModule.load_from_checkpoint(f"{tmp_path}/checkpoint.ckpt")
    assert model.device.type == "cpu"
    assert model.layer.weight.device.type == "cpu"


def test_load_from_checkpoint_map_location_cpu(tmp_path, map_location):
    create_boring_checkpoint(tmp_path, BoringModel(), accelerator="cpu")
    model = BoringModel.load_from_checkpoint(f"{tmp_path}/checkpoint.ckpt", map_location=map_location)
    _ = BoringDataModule.load_from_checkpoint(f"{tmp_path}/checkpoint.ckpt", map_location=map_location)
    assert model.device.type == "cpu"


def test_load_from_checkpoint_warn_on_empty_state_dict(tmp_path):
    create_boring_checkpoint(tmp_path, BoringModel(), accelerator="cpu")
    # Now edit so the state_dict is empty
    checkpoint = torch.load(tmp_path / "checkpoint.ckpt", weights_only=False)
    checkpoint["state_dict"] = {}
    torch.save(checkpoint, tmp_path / "checkpoint.ckpt")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BoringModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=False)
    assert any(
        issubclass(w.category, UserWarning) and "contains no parameters" in str(w.message) for w in caught
    ), [str(w.message) for w in caught]
    assert model.device.type == "cpu"


def test_load_from_checkpoint_strict(strict, strict_loading, expected, tmp_path):
    calls = []

    class LoadingModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.strict_loading = strict_loading

        def load_state_dict(self, *args, **kwargs):
            calls.append((args, kwargs))
            return super().load_state_dict(*args, **kwargs)

    create_boring_checkpoint(tmp_path, LoadingModel(), accelerator="cpu")

    if expected == "error":
        try:
            LoadingModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=strict)
        except ValueError as e:
            assert "in conflict with" in str(e) and "strict_loading" in str(e), str(e)
        else:
            raise AssertionError(f"no ValueError for strict={strict}, strict_loading={strict_loading}")
    else:
        calls.clear()
        LoadingModel.load_from_checkpoint(tmp_path / "checkpoint.ckpt", strict=strict)
        assert len(calls) == 1, calls
        args, kwargs = calls[0]
        assert len(args) == 1 and kwargs == {"strict": expected}, (strict, strict_loading, kwargs)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_load_from_checkpoint_map_location_automatic("cpu", Path(d))
    for map_location in [None, "cpu", torch.device("cpu"), lambda storage, loc: storage, {"cpu": "cpu"}]:
        with tempfile.TemporaryDirectory() as d:
            test_load_from_checkpoint_map_location_cpu(Path(d), map_location)
    with tempfile.TemporaryDirectory() as d:
        test_load_from_checkpoint_warn_on_empty_state_dict(Path(d))
    for strict, strict_loading, expected in [
        (None, None, True),
        (None, True, True),
        (None, False, False),
        (True, None, True),
        (True, True, True),
        (True, False, "error"),
        (False, None, False),
        (False, True, "error"),
        (False, False, False),
    ]:
        with tempfile.TemporaryDirectory() as d:
            test_load_from_checkpoint_strict(strict, strict_loading, expected, Path(d))
    print("OK")
