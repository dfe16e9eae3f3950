# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (part 4: what parts 1-3 left) test_num_sanity_val_steps, test_num_sanity_val_steps_neg_one,
#   test_exception_when_lightning_module_is_not_set_on_trainer,
#   test_trainer_config_strategy, test_trainer_config_device_ids (their CPU rows),
#   test_trainer_calls_strategy_on_exception, test_trainer_calls_datamodule_on_exception,
#   test_expand_home_trainer
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted, parametrized
#   tests as loops (every CPU value kept); tmpdir -> a tempfile dir; pytest.raises -> try/except;
#   the num_sanity_val_steps tests count `validation_step` calls where they wrapped the val
#   loop's private `_evaluation_step` with `patch.object` (the count is the same);
#   `mock.patch("lightning.pytorch.strategies.strategy.Strategy.on_exception")` ->
#   `mock.patch.object(Strategy, "on_exception")` on the public class (a patch target string is
#   not an import, so a mapped program could not name it); `datamodule.on_exception = Mock()`
#   -> a recording function; $HOME set to a tempfile dir so that `~` expands there; the
#   config rows that fake CUDA counts (`mock_cuda_count`) left out, and the rows that name no
#   accelerator are run only where CUDA is absent (as Lightning's rows assume); the
#   `trainer.fit_loop`-less checks kept as they are.
# Left out: test_dataloaders_are_not_loaded_if_disabled_through_limit_batches (calls the private
#   `trainer._data_connector` and the loops' `setup_data`), test_init_module_context (replaces
#   the private `_accelerator_connector.strategy`); the rest as t_trainer_1.py's header says.
import os
import re
import tempfile
from contextlib import suppress
from pathlib import Path
from unittest import mock

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel, RandomDataset
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy, Strategy
from torch.utils.data import DataLoader

NO_CUDA = not torch.cuda.is_available()


def raises(exc, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as err:
        assert match is None or re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


def test_num_sanity_val_steps(tmpdir, limit_val_batches):
    """Test that the number of sanity check batches is clipped to `limit_val_batches`."""
    num_sanity_val_steps = 4
    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=num_sanity_val_steps,
        limit_val_batches=limit_val_batches,
        max_steps=1,
    )
    assert trainer.num_sanity_val_steps == num_sanity_val_steps

    class CustomModelMixedVal(BoringModel):
        calls = 0

        def validation_step(self, batch, batch_idx, dataloader_idx):
            self.calls += 1
            return super().validation_step(batch, batch_idx)

        def val_dataloader(self):
            return [
                DataLoader(RandomDataset(32, 64), batch_size=8),
                DataLoader(RandomDataset(32, 64)),
            ]

    model = CustomModelMixedVal()
    trainer.fit(model)
    assert model.calls == sum(trainer.num_sanity_val_batches), (
        model.calls,
        trainer.num_sanity_val_batches,
    )


def test_num_sanity_val_steps_neg_one(tmpdir, limit_val_batches):
    """Test that `num_sanity_val_steps=-1` runs through all validation data once, and as many batches as limited by
    `limit_val_batches` Trainer argument."""

    class CustomModel(BoringModel):
        calls = 0

        def validation_step(self, batch, batch_idx, dataloader_idx):
            self.calls += 1
            return super().validation_step(batch, batch_idx)

        def val_dataloader(self):
            return [DataLoader(RandomDataset(32, 64)), DataLoader(RandomDataset(32, 64))]

    model = CustomModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=-1,
        limit_val_batches=limit_val_batches,
        max_steps=1,
    )
    assert trainer.num_sanity_val_steps == float("inf")

    val_dataloaders = model.val_dataloader()
    trainer.fit(model, val_dataloaders=val_dataloaders)

    assert model.calls == sum(trainer.num_val_batches), (model.calls, trainer.num_val_batches)


def test_exception_when_lightning_module_is_not_set_on_trainer(fn):
    trainer = Trainer()
    trainer_fn = getattr(trainer, fn)
    raises(TypeError, rf"{fn}\(\)` requires a `LightningModule", trainer_fn)


def test_trainer_config_strategy(trainer_kwargs, strategy_cls, accelerator_cls, devices):
    trainer = Trainer(**trainer_kwargs)

    assert isinstance(trainer.strategy, strategy_cls), (trainer_kwargs, trainer.strategy)
    assert isinstance(trainer.accelerator, accelerator_cls), (trainer_kwargs, trainer.accelerator)
    assert trainer.num_devices == devices, (trainer_kwargs, trainer.num_devices)
    assert trainer.num_nodes == trainer_kwargs.get("num_nodes", 1)

    trainer_kwargs.pop("accelerator", None)
    trainer_kwargs.pop("devices", None)

    assert isinstance(trainer.strategy, strategy_cls)
    assert isinstance(trainer.accelerator, accelerator_cls)
    assert trainer.num_devices == devices
    assert trainer.num_nodes == trainer_kwargs.get("num_nodes", 1)


def test_trainer_config_device_ids(trainer_kwargs, expected_device_ids):
    trainer = Trainer(**trainer_kwargs)
    assert trainer.device_ids == expected_device_ids, (trainer_kwargs, trainer.device_ids)
    assert trainer.num_devices == len(expected_device_ids)


def test_trainer_calls_strategy_on_exception(exception_type, tmp_path):
    """Test that when an exception occurs, the Trainer lets the strategy process it."""
    exception = exception_type("Test exception")

    class ExceptionModel(BoringModel):
        def on_fit_start(self):
            raise exception

    trainer = Trainer(default_root_dir=tmp_path)
    with (
        mock.patch.object(Strategy, "on_exception") as on_exception_mock,
        suppress(Exception, SystemExit),
    ):
        trainer.fit(ExceptionModel())
    on_exception_mock.assert_called_once_with(exception)


def test_trainer_calls_datamodule_on_exception(exception_type, tmp_path):
    """Test that when an exception occurs, the Trainer lets the data module process it."""
    exception = exception_type("Test exception")

    class ExceptionModel(BoringModel):
        def on_fit_start(self):
            raise exception

    calls = []
    datamodule = BoringDataModule()
    datamodule.on_exception = lambda *args, **kwargs: calls.append((args, kwargs))
    trainer = Trainer(default_root_dir=tmp_path)

    with suppress(Exception, SystemExit):
        trainer.fit(ExceptionModel(), datamodule=datamodule)
    assert calls == [((exception,), {})], calls


def test_expand_home_trainer():
    """Test that the dirpath gets expanded if it contains `~`."""
    home_root = Path.home()

    trainer = Trainer(default_root_dir="~/trainer")
    assert trainer.default_root_dir == str(home_root / "trainer")
    trainer = Trainer(default_root_dir=Path("~/trainer"))
    assert trainer.default_root_dir == str(home_root / "trainer")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        os.environ["HOME"] = home
        for limit in [0.0, 1, 1.0, 0.5, 5]:
            with tempfile.TemporaryDirectory() as tmp:
                test_num_sanity_val_steps(tmp, limit)
        for limit in [0.0, 1, 1.0, 0.3]:
            with tempfile.TemporaryDirectory() as tmp:
                test_num_sanity_val_steps_neg_one(tmp, limit)
        for fn in ["validate", "test", "predict"]:
            test_exception_when_lightning_module_is_not_set_on_trainer(fn)
        strategy_rows = [
            (
                {"strategy": "ddp", "accelerator": "cpu", "devices": 2},
                DDPStrategy,
                CPUAccelerator,
                2,
            ),
            (
                {"strategy": "ddp_spawn", "accelerator": "cpu", "devices": 2},
                DDPStrategy,
                CPUAccelerator,
                2,
            ),
            (
                {"strategy": "ddp_spawn", "accelerator": "cpu", "devices": 1},
                DDPStrategy,
                CPUAccelerator,
                1,
            ),
            (
                {"strategy": DDPStrategy(), "accelerator": "cpu", "devices": 2},
                DDPStrategy,
                CPUAccelerator,
                2,
            ),
        ]
        if NO_CUDA:
            strategy_rows += [
                ({"strategy": "auto"}, SingleDeviceStrategy, CPUAccelerator, 1),
                ({"strategy": "ddp"}, DDPStrategy, CPUAccelerator, 1),
                ({"strategy": "ddp", "num_nodes": 2}, DDPStrategy, CPUAccelerator, 1),
                ({"strategy": DDPStrategy()}, DDPStrategy, CPUAccelerator, 1),
            ]
        for row in strategy_rows:
            test_trainer_config_strategy(*row)
        if NO_CUDA:
            for kwargs, ids in [
                ({}, [0]),
                ({"devices": 1}, [0]),
                ({"devices": "1"}, [0]),
                ({"devices": 2}, [0, 1]),
            ]:
                test_trainer_config_device_ids(kwargs, ids)
        for kwargs, ids in [
            ({"accelerator": "cpu", "devices": 1}, [0]),
            ({"accelerator": "cpu", "devices": 2}, [0, 1]),
        ]:
            test_trainer_config_device_ids(kwargs, ids)
        for exception_type in [KeyboardInterrupt, RuntimeError]:
            with tempfile.TemporaryDirectory() as tmp:
                test_trainer_calls_strategy_on_exception(exception_type, tmp)
            with tempfile.TemporaryDirectory() as tmp:
                test_trainer_calls_datamodule_on_exception(exception_type, tmp)
        test_expand_home_trainer()
    print("ok")
