"""LambdaCallback.

``test_lambda_call`` is ported from Lightning's
``tests/tests_pytorch/callbacks/test_lambda_function.py`` (Apache-2.0, Copyright The Lightning
AI team), translated to treadle's names: the hooks are those of ``treadle.Callback`` and the
interruption is an exception of the test's own rather than ``KeyboardInterrupt``. Tests
marked "treadle" at the end are our own.
"""

from __future__ import annotations

import inspect
import re
from functools import partial

import pytest
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import Callback, LambdaCallback, ModelCheckpoint


def callback_hooks():
    return {
        name
        for name, member in inspect.getmembers(Callback, inspect.isfunction)
        if not name.startswith("_")
    } - {"state_dict", "load_state_dict"}


class Interrupt(Exception):
    pass


def test_lambda_call(tmp_path):
    treadle.seed_everything(42)

    class CustomModel(BoringModel):
        def on_train_epoch_start(self):
            if self.current_epoch > 1:
                raise Interrupt

    checker = set()

    def call(hook, *_, **__):
        checker.add(hook)

    hooks = callback_hooks()
    hooks_args = {h: partial(call, h) for h in hooks}
    model = CustomModel()

    # successful run
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            enable_checkpointing=True,
            callbacks=[LambdaCallback(**hooks_args)],
        )
    )
    trainer.fit(model)
    ckpt_path = trainer.checkpoint_callback.best_model_path

    # raises and loads from the checkpoint
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=3,
            limit_train_batches=1,
            limit_val_batches=1,
            callbacks=[LambdaCallback(**hooks_args)],
        )
    )
    with pytest.raises(Interrupt):
        trainer.fit(model, ckpt_path=ckpt_path)
    trainer.test(model, dataloaders=model.val_dataloader())
    trainer.predict(model, dataloaders=model.val_dataloader())
    assert checker == hooks


# -- treadle ----------------------------------------------------------------------------------


def test_functions_get_lightning_positional_arguments(tmp_path):
    seen = []
    model = BoringModel()
    callback = LambdaCallback(
        on_train_batch_end=lambda trainer, pl_module, outputs, batch, batch_idx: seen.append(
            (
                "train",
                trainer.global_step,
                pl_module is model,
                sorted(outputs),
                batch.shape[0],
                batch_idx,
            )
        ),
        on_validation_batch_end=lambda *args: seen.append(("val", len(args), args[-1])),
        setup=lambda trainer, pl_module, stage: seen.append(("setup", stage)),
    )
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=1,
            num_sanity_val_steps=0,
            callbacks=[callback],
        )
    )
    trainer.fit(model)
    assert seen == [
        ("setup", "fit"),
        ("train", 1, True, ["loss"], 8, 0),
        ("train", 2, True, ["loss"], 8, 1),
        ("val", 6, 0),
    ]


def test_functions_take_part_only_in_their_hooks(tmp_path):
    calls = []

    def on_fit_start(trainer, pl_module):
        calls.append(pl_module)

    callback = LambdaCallback(on_fit_start=on_fit_start)
    assert isinstance(callback, LambdaCallback)
    assert type(callback).__name__ == "LambdaCallback"
    assert callback.functions == {"on_fit_start": on_fit_start}
    callback.on_fit_start(None, "module")  # callable the Lightning way too
    assert calls == ["module"]
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[callback]))

    def owners(hook):
        return [
            getattr(impl.plugin, "owner", impl.plugin)
            for impl in getattr(trainer.plugin_manager.hook, hook).get_hookimpls()
        ]

    assert callback in owners("on_fit_start")
    assert callback not in owners("on_train_batch_end")
    assert type(LambdaCallback(on_fit_end=print)) is not type(callback)  # one class each


def test_unknown_hook_name_is_refused():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "LambdaCallback got `on_epoch_end`, which is not a callback hook. Hooks: setup, "
        ),
    ):
        LambdaCallback(on_epoch_end=print)


def test_test_and_predict_hooks_run(tmp_path):
    seen = []
    callback = LambdaCallback(
        on_test_start=lambda trainer, pl_module: seen.append("test"),
        on_predict_batch_end=lambda *args: seen.append(("predict", len(args))),
    )
    model = BoringModel()
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_test_batches=1, limit_predict_batches=1, callbacks=[callback])
    )
    trainer.test(model, dataloaders=model.val_dataloader())
    trainer.predict(model, dataloaders=model.val_dataloader())
    # on_predict_batch_end: trainer, pl_module, outputs, batch, batch_idx, dataloader_idx
    assert seen == ["test", ("predict", 6)]


def test_model_checkpoint_passes_through_lambda_hooks(tmp_path):
    """on_save_checkpoint gets the checkpoint dict, as Lightning's third argument."""
    saved = []
    callback = LambdaCallback(on_save_checkpoint=lambda t, m, ckpt: saved.append(ckpt["epoch"]))
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_train_batches=1,
            limit_val_batches=0,
            callbacks=[callback, ModelCheckpoint(dirpath=tmp_path)],
        )
    )
    trainer.fit(BoringModel())
    assert saved == [0, 1]
