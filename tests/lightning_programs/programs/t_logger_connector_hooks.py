# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_logger_connector.py
#   (test_fx_validator_integration; the file's other public tests are in t_logger_connector.py)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir; pytest.raises/warns -> try/except and warnings.catch_warnings; `get_members`
#   (from tests_pytorch/models/test_hooks.py) copied in.
import tempfile
import warnings
from functools import partial
from inspect import getmembers, isfunction

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks.callback import Callback
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.trainer import Trainer
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def get_members(cls):
    return {h for h, _ in getmembers(cls, predicate=isfunction) if not h.startswith("_")}


def raises(exc_type, match, fn, *args):
    try:
        fn(*args)
    except exc_type as err:
        assert match in str(err), (match, str(err))
    else:
        raise AssertionError(f"{fn} did not raise {exc_type.__name__} ({match!r})")


class HookedCallback(Callback):
    def __init__(self, not_supported):
        def call(hook, trainer=None, model=None, *_, **__):
            if trainer is None:
                # `state_dict`, `load_state_dict` do not have the `Trainer` available
                assert hook in ("state_dict", "load_state_dict")
                return None

            lightning_module = trainer.lightning_module or model

            if hook in not_supported:
                raises(
                    MisconfigurationException,
                    not_supported[hook],
                    lightning_module.log,
                    "anything",
                    1,
                )
            else:
                lightning_module.log(hook, 1)
            return None

        for h in get_members(Callback):
            setattr(self, h, partial(call, h))


class HookedModel(BoringModel):
    def __init__(self, not_supported):
        super().__init__()
        pl_module_hooks = get_members(LightningModule)
        pl_module_hooks.difference_update({"log", "log_dict"})
        pl_module_hooks.discard("configure_sharded_model")
        # remove `nn.Module` hooks
        module_hooks = get_members(torch.nn.Module)
        pl_module_hooks.difference_update(module_hooks)

        def call(hook, fn, *args, **kwargs):
            out = fn(*args, **kwargs)

            if hook in not_supported:
                raises(MisconfigurationException, not_supported[hook], self.log, "anything", 1)
            else:
                self.log(hook, 1)
            return out

        for h in pl_module_hooks:
            attr = getattr(self, h)
            setattr(self, h, partial(call, h, attr))


def test_fx_validator_integration(tmp_path):
    """Tries to log inside all `LightningModule` and `Callback` hooks to check any expected errors."""
    not_supported = {
        None: "`self.trainer` reference is not registered",
        "setup": "You can't",
        "configure_model": "You can't",
        "configure_optimizers": "You can't",
        "on_fit_start": "You can't",
        "train_dataloader": "You can't",
        "val_dataloader": "You can't",
        "on_before_batch_transfer": "You can't",
        "transfer_batch_to_device": "You can't",
        "on_after_batch_transfer": "You can't",
        "on_validation_end": "You can't",
        "on_train_end": "You can't",
        "on_fit_end": "You can't",
        "teardown": "You can't",
        "on_sanity_check_start": "You can't",
        "on_sanity_check_end": "You can't",
        "prepare_data": "You can't",
        "configure_callbacks": "You can't",
        "on_validation_model_zero_grad": "You can't",
        "on_validation_model_eval": "You can't",
        "on_validation_model_train": "You can't",
        "lr_scheduler_step": "You can't",
        "on_save_checkpoint": "You can't",
        "on_load_checkpoint": "You can't",
        "on_exception": "You can't",
    }
    model = HookedModel(not_supported)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.log("foo", 1)
    assert any(
        issubclass(w.category, UserWarning) and not_supported[None] in str(w.message)
        for w in record
    ), [str(w.message) for w in record]

    callback = HookedCallback(not_supported)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        callbacks=callback,
    )
    trainer.fit(model)

    not_supported.update(
        {
            # `lightning_module` ref is now present from the `fit` call
            "test_dataloader": "You can't",
            "on_test_model_eval": "You can't",
            "on_test_model_train": "You can't",
            "on_test_end": "You can't",
        }
    )
    trainer.test(model, verbose=False)

    not_supported.update({k: "result collection is not registered yet" for k in not_supported})
    not_supported.update(
        {
            "predict_dataloader": "result collection is not registered yet",
            "on_predict_model_eval": "result collection is not registered yet",
            "on_predict_start": "result collection is not registered yet",
            "on_predict_epoch_start": "result collection is not registered yet",
            "on_predict_batch_start": "result collection is not registered yet",
            "predict_step": "result collection is not registered yet",
            "on_predict_batch_end": "result collection is not registered yet",
            "on_predict_epoch_end": "result collection is not registered yet",
            "on_predict_end": "result collection is not registered yet",
        }
    )
    trainer.predict(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_fx_validator_integration(d)
    print("OK")
