# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_callbacks.py
#   (test_callbacks_configured_in_model, test_configure_callbacks_hook_multiple_calls,
#    test_resume_incomplete_callbacks_list_warning)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; pytest.warns and lightning_utilities' `no_warning_call` ->
#   warnings.catch_warnings; the patch of the private
#   `callback_connector._RICH_AVAILABLE` (to keep rich's progress bar out) left out. Left out:
#   test_resume_callback_state_saved_by_type_stateful, which fails on Lightning 2.6.6 with
#   torch 2.13 (its `state_key` is a class, which `torch.load(weights_only=True)` refuses to
#   load back; treadle refuses it the same way).
import tempfile
import warnings
from re import escape, search
from unittest.mock import Mock

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


def test_callbacks_configured_in_model(tmp_path):
    """Test the callback system with callbacks added through the model hook."""
    model_callback_mock = Mock(spec=Callback, model=Callback())
    trainer_callback_mock = Mock(spec=Callback, model=Callback())

    class TestModel(BoringModel):
        def configure_callbacks(self):
            return [model_callback_mock]

    model = TestModel()
    trainer_options = {
        "default_root_dir": tmp_path,
        "enable_checkpointing": False,
        "fast_dev_run": True,
        "enable_progress_bar": False,
    }

    def assert_expected_calls(_trainer, model_callback, trainer_callback):
        # assert that the rest of calls are the same as for trainer callbacks
        expected_calls = [m for m in trainer_callback.method_calls if m]
        assert expected_calls
        assert model_callback.method_calls == expected_calls

    # .fit()
    trainer_options.update(callbacks=[trainer_callback_mock])
    trainer = Trainer(**trainer_options)

    assert trainer_callback_mock in trainer.callbacks
    assert model_callback_mock not in trainer.callbacks
    trainer.fit(model)

    assert model_callback_mock in trainer.callbacks
    assert trainer.callbacks[-1] == model_callback_mock
    assert_expected_calls(trainer, model_callback_mock, trainer_callback_mock)

    # .test()
    for fn in ("test", "validate"):
        model_callback_mock.reset_mock()
        trainer_callback_mock.reset_mock()

        trainer_options.update(callbacks=[trainer_callback_mock])
        trainer = Trainer(**trainer_options)

        trainer_fn = getattr(trainer, fn)
        trainer_fn(model)

        assert model_callback_mock in trainer.callbacks
        assert trainer.callbacks[-1] == model_callback_mock
        assert_expected_calls(trainer, model_callback_mock, trainer_callback_mock)


def test_configure_callbacks_hook_multiple_calls(tmp_path):
    """Test that subsequent calls to `configure_callbacks` do not change the callbacks list."""
    model_callback_mock = Mock(spec=Callback, model=Callback())

    class TestModel(BoringModel):
        def configure_callbacks(self):
            return model_callback_mock

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True, enable_checkpointing=False)

    callbacks_before_fit = trainer.callbacks.copy()
    assert callbacks_before_fit

    trainer.fit(model)
    callbacks_after_fit = trainer.callbacks.copy()
    assert callbacks_after_fit == callbacks_before_fit + [model_callback_mock]

    for fn in ("test", "validate"):
        trainer_fn = getattr(trainer, fn)
        trainer_fn(model)

        callbacks_after = trainer.callbacks.copy()
        assert callbacks_after == callbacks_after_fit

        trainer_fn(model)
        callbacks_after = trainer.callbacks.copy()
        assert callbacks_after == callbacks_after_fit


def test_resume_incomplete_callbacks_list_warning(tmp_path):
    model = BoringModel()
    callback0 = ModelCheckpoint(monitor="epoch")
    callback1 = ModelCheckpoint(monitor="global_step")
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        callbacks=[callback0, callback1],
    )
    trainer.fit(model)
    ckpt_path = trainer.checkpoint_callback.best_model_path

    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        callbacks=[callback1],  # one callback is missing!
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(model, ckpt_path=ckpt_path)
    match = escape(f"Please add the following callbacks: [{repr(callback0.state_key)}]")
    assert any(issubclass(w.category, UserWarning) and search(match, str(w.message)) for w in record), [
        str(w.message) for w in record
    ]

    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        callbacks=[callback1, callback0],  # all callbacks here, order switched
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(model, ckpt_path=ckpt_path)
    assert not any("Please add the following callbacks:" in str(w.message) for w in record)


if __name__ == "__main__":
    for test in (
        test_callbacks_configured_in_model,
        test_configure_callbacks_hook_multiple_calls,
        test_resume_incomplete_callbacks_list_warning,
    ):
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("OK")
