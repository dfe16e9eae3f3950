# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/optimization/test_optimizers.py
#   (test_optimizer_with_scheduling, test_reducelronplateau_with_no_monitor_raises,
#    test_reducelronplateau_with_no_monitor_in_lr_scheduler_dict_raises, test_none_optimizer,
#    test_configure_optimizer_from_dict, test_init_optimizers_during_evaluation_and_prediction,
#    test_lr_scheduler_strict, test_lr_scheduler_with_unknown_interval_raises,
#    test_lr_scheduler_with_extra_keys_warns, test_lr_scheduler_with_no_actual_scheduler_raises,
#    test_invalid_optimizer_in_scheduler, test_invalid_optimizer_dict_raises,
#    test_lr_scheduler_epoch_step_frequency, test_lr_scheduler_step_hook,
#    test_invalid_lr_scheduler_with_custom_step_method, test_invalid_scheduler_missing_state_dict)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   tmpdir -> a tempfile dir; pytest.raises/warns(match=) -> try/except and
#   warnings.catch_warnings with re.search; the patches of torch's schedulers kept (torch's
#   classes); the private `_init_optimizers_and_lr_schedulers(model)` of the last two tests ->
#   `trainer.fit(model)` (the same check, reached by the public road). Left out: the tests of
#   private helpers (`_configure_optimizers`, `_configure_schedulers_automatic_opt`,
#   `_init_optimizers_and_lr_schedulers` return values: test_onecyclelr_with_epoch_interval_warns,
#   test_scheduler_initialized_with_custom_reduceonplateau, test_optimizer_return_options,
#   test_*_config_dict*_with_extra_keys_warns), test_reducelronplateau_scheduling and
#   test_unknown_configure_optimizers_raises (in t_schedulers.py), GPU tests, and the two
#   scheduler-state-at-save tests (the epoch scheduler's step order: documented difference);
#   test_invalid_scheduler_missing_state_dict: the private `_init_optimizers_and_lr_schedulers`
#   -> `trainer.fit(model)` (the same check by the public road, as above);
#   test_lr_scheduler_step_hook gives its Mock scheduler an `optimizer` (Lightning 2.6.6 reads
#   it) and expects one step per epoch (2.6.6's count).
import re
import tempfile
import warnings
from unittest import mock
from unittest.mock import Mock

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import optim


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


def _warns(category, match, fn):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn()
    assert any(
        issubclass(w.category, category) and re.search(match, str(w.message)) for w in record
    ), [str(w.message) for w in record]


def test_optimizer_with_scheduling(tmpdir):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        limit_val_batches=0.1,
        limit_train_batches=0.2,
        val_check_interval=0.5,
    )
    trainer.fit(model)

    init_lr = 0.1
    adjusted_lr = [pg["lr"] for pg in trainer.optimizers[0].param_groups]

    assert len(trainer.lr_scheduler_configs) == 1
    assert all(a == adjusted_lr[0] for a in adjusted_lr)
    assert init_lr * 0.1 == adjusted_lr[0]


def test_reducelronplateau_with_no_monitor_raises(tmpdir):
    model = BoringModel()
    optimizer = optim.Adam(model.parameters())
    model.configure_optimizers = lambda: (
        [optimizer],
        [optim.lr_scheduler.ReduceLROnPlateau(optimizer)],
    )
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        "`configure_optimizers` must include a monitor when a `ReduceLROnPlateau`",
        lambda: trainer.fit(model),
    )


def test_reducelronplateau_with_no_monitor_in_lr_scheduler_dict_raises(tmpdir):
    model = BoringModel()
    optimizer = optim.Adam(model.parameters())
    model.configure_optimizers = lambda: {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": optim.lr_scheduler.ReduceLROnPlateau(optimizer)},
    }
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        "must include a monitor when a `ReduceLROnPlateau`",
        lambda: trainer.fit(model),
    )


def test_none_optimizer(tmpdir):
    model = BoringModel()
    model.configure_optimizers = lambda: None
    trainer = Trainer(
        default_root_dir=tmpdir, max_epochs=1, limit_val_batches=0.1, limit_train_batches=0.2
    )
    _warns(UserWarning, "will run with no optimizer", lambda: trainer.fit(model))


def test_configure_optimizer_from_dict(tmpdir):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            config = {"optimizer": optim.SGD(params=self.parameters(), lr=1e-03)}
            return config

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    trainer.fit(model)


def test_init_optimizers_during_evaluation_and_prediction(tmpdir, fn):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer1 = optim.Adam(self.parameters(), lr=0.1)
            optimizer2 = optim.Adam(self.parameters(), lr=0.1)
            lr_scheduler1 = optim.lr_scheduler.StepLR(optimizer1, step_size=1)
            lr_scheduler2 = optim.lr_scheduler.StepLR(optimizer2, step_size=1)
            return [optimizer1, optimizer2], [lr_scheduler1, lr_scheduler2]

    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=2)
    train_fn = getattr(trainer, fn)
    train_fn(TestModel(), datamodule=BoringDataModule(), ckpt_path=None)

    assert len(trainer.lr_scheduler_configs) == 0
    assert len(trainer.optimizers) == 0


def test_lr_scheduler_strict(tmpdir, complete_epoch):
    with mock.patch("torch.optim.lr_scheduler.ReduceLROnPlateau.step") as step_mock:
        model = BoringModel()
        optimizer = optim.Adam(model.parameters())
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        max_epochs = 1 if complete_epoch else None
        max_steps = -1 if complete_epoch else 1
        trainer = Trainer(default_root_dir=tmpdir, max_epochs=max_epochs, max_steps=max_steps)

        model.configure_optimizers = lambda: {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "giraffe", "strict": True},
        }

        if complete_epoch:
            _raises(
                MisconfigurationException,
                r"ReduceLROnPlateau conditioned on metric .* which is not available\. Available metrics are:",
                lambda: trainer.fit(model),
            )
        else:
            trainer.fit(model)

        step_mock.assert_not_called()

        model.configure_optimizers = lambda: {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "giraffe", "strict": False},
        }

        if complete_epoch:
            trainer = Trainer(default_root_dir=tmpdir, max_epochs=max_epochs, max_steps=max_steps)
            _warns(
                RuntimeWarning,
                r"ReduceLROnPlateau conditioned on metric .* which is not available but strict",
                lambda: trainer.fit(model),
            )

        step_mock.assert_not_called()


def test_lr_scheduler_with_unknown_interval_raises(tmpdir):
    model = BoringModel()
    optimizer = optim.Adam(model.parameters())
    model.configure_optimizers = lambda: {
        "optimizer": optimizer,
        "lr_scheduler": {
            "scheduler": optim.lr_scheduler.StepLR(optimizer, 1),
            "interval": "incorrect_unknown_value",
        },
    }
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        r'The "interval" key in lr scheduler dict must be',
        lambda: trainer.fit(model),
    )


def test_lr_scheduler_with_extra_keys_warns(tmpdir):
    model = BoringModel()
    optimizer = optim.Adam(model.parameters())
    model.configure_optimizers = lambda: {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": optim.lr_scheduler.StepLR(optimizer, 1), "foo": 1, "bar": 2},
    }
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _warns(
        RuntimeWarning,
        r"Found unsupported keys in the lr scheduler dict: \{.+\}",
        lambda: trainer.fit(model),
    )


def test_lr_scheduler_with_no_actual_scheduler_raises(tmpdir):
    model = BoringModel()
    model.configure_optimizers = lambda: {
        "optimizer": optim.Adam(model.parameters()),
        "lr_scheduler": {},
    }
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        'The lr scheduler dict must have the key "scheduler"',
        lambda: trainer.fit(model),
    )


def test_invalid_optimizer_in_scheduler(tmpdir):
    class InvalidOptimizerModel(BoringModel):
        def configure_optimizers(self):
            opt1 = optim.SGD(self.layer.parameters(), lr=0.1)
            opt2 = optim.SGD(self.layer.parameters(), lr=0.1)
            lr_scheduler = optim.lr_scheduler.StepLR(opt2, step_size=1)
            return [opt1], [lr_scheduler]

    model = InvalidOptimizerModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        "attached with an optimizer that wasn't returned",
        lambda: trainer.fit(model),
    )


def test_invalid_optimizer_dict_raises(tmpdir):
    class DummyModel(BoringModel):
        def configure_optimizers(self):
            return [{"optimizer": optim.Adam(self.parameters())}, optim.Adam(self.parameters())]

    model = DummyModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        MisconfigurationException,
        "Unknown configuration for model optimizers",
        lambda: trainer.fit(model),
    )


def test_lr_scheduler_epoch_step_frequency(check_val_every_n_epoch, tmpdir):
    with mock.patch("torch.optim.lr_scheduler.StepLR.step") as mocked_sched:
        epochs = 4
        expected_steps = epochs + 1  # every LRScheduler gets called once at init

        model = BoringModel()
        trainer = Trainer(
            default_root_dir=tmpdir,
            limit_train_batches=2,
            limit_val_batches=2,
            check_val_every_n_epoch=check_val_every_n_epoch,
            max_epochs=epochs,
        )
        trainer.fit(model)
        assert mocked_sched.call_count == expected_steps


def test_lr_scheduler_step_hook(tmpdir):
    lr_scheduler = Mock(spec=torch.optim.lr_scheduler.StepLR)

    class CustomBoringModel(BoringModel):
        def lr_scheduler_step(self, scheduler, metric):
            scheduler.step()

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.layer.parameters(), lr=1e-2)
            lr_scheduler.optimizer = opt  # (a bare Mock has none: Lightning 2.6.6 reads it)
            return [opt], [lr_scheduler]

    model = CustomBoringModel()
    max_epochs = 3
    limit_train_batches = 2
    trainer = Trainer(
        default_root_dir=tmpdir,
        enable_checkpointing=False,
        logger=False,
        max_epochs=max_epochs,
        limit_train_batches=limit_train_batches,
        limit_val_batches=0,
    )
    trainer.fit(model)
    assert lr_scheduler.step.call_count == max_epochs, lr_scheduler.step.call_count


def test_invalid_lr_scheduler_with_custom_step_method(tmpdir, override):
    class CustomScheduler:
        def __init__(self, optimizer):
            self.optimizer = optimizer

        def step(self, foobar):  # breaks the API, forces user to override `lr_scheduler_step`
            ...

        def state_dict(self): ...

        def load_state_dict(self, state_dict): ...

    class CustomBoringModel(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=1e-2)
            lr_scheduler = CustomScheduler(opt)
            return {"optimizer": opt, "lr_scheduler": lr_scheduler}

    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    if override:

        def lr_scheduler_step(*_): ...

        # the user did override the hook, no error
        model.lr_scheduler_step = lr_scheduler_step
        trainer.fit(model)
    else:
        _raises(
            MisconfigurationException, "CustomScheduler` doesn't follow", lambda: trainer.fit(model)
        )


def test_invalid_scheduler_missing_state_dict(tmpdir):
    """Test that custom lr scheduler raises an error if it's missing the state dict."""

    class CustomScheduler:
        def __init__(self, optimizer):
            self.optimizer = optimizer

        def step(self): ...

    class CustomBoringModel(BoringModel):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=1e-2)
            lr_scheduler = CustomScheduler(opt)
            return {"optimizer": opt, "lr_scheduler": lr_scheduler}

    model = CustomBoringModel()
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True)
    _raises(
        TypeError, "provided lr scheduler `CustomScheduler` is invalid", lambda: trainer.fit(model)
    )


if __name__ == "__main__":
    tests = [
        test_optimizer_with_scheduling,
        test_reducelronplateau_with_no_monitor_raises,
        test_reducelronplateau_with_no_monitor_in_lr_scheduler_dict_raises,
        test_none_optimizer,
        test_configure_optimizer_from_dict,
        test_lr_scheduler_with_unknown_interval_raises,
        test_lr_scheduler_with_extra_keys_warns,
        test_lr_scheduler_with_no_actual_scheduler_raises,
        test_invalid_optimizer_in_scheduler,
        test_invalid_optimizer_dict_raises,
        test_lr_scheduler_step_hook,
    ]
    for fn in ("validate", "test", "predict"):
        tests.append(lambda d, fn=fn: test_init_optimizers_during_evaluation_and_prediction(d, fn))
    for complete_epoch in (True, False):
        tests.append(lambda d, c=complete_epoch: test_lr_scheduler_strict(d, c))
    for every in (1, 2):
        tests.append(lambda d, every=every: test_lr_scheduler_epoch_step_frequency(every, d))
    for override in (False, True):
        tests.append(lambda d, o=override: test_invalid_lr_scheduler_with_custom_step_method(d, o))
    tests.append(test_invalid_scheduler_missing_state_dict)
    for test in tests:
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("ok")
