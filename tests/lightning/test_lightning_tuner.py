"""``treadle.tuner.Tuner`` (``lr_find``, ``scale_batch_size``) and the callbacks
``LearningRateFinder`` and ``BatchSizeFinder``.

Behaviour ported from Lightning's ``tests/tests_pytorch/tuner/test_lr_finder.py``,
``test_scale_batch_size.py`` and ``test_tuning.py`` (Copyright The Lightning AI team,
Apache-2.0): the model and the Trainer as they were after a search, the attribute updated
(in the model or its ``hparams``, ``attr_name``), one optimizer only, accumulation, the
suggestion's parameters and its refusals, candidates between ``min_lr`` and ``max_lr``, the
same results twice, the batch size found by doubling and by bisection up to an out-of-memory
error, the dataset's length as a bound, the searches' refusals; plus treadle's own.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy

import pytest
import torch
from lightning_boring import BoringDataModule, BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import BatchSizeFinder, LearningRateFinder
from treadle.tuner import LRFinder, Tuner


class LRModel(BoringModel):
    def __init__(self, lr=1e-2, use_hparams=False):
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.use_hparams = use_hparams

    def configure_optimizers(self):
        return torch.optim.SGD(
            self.parameters(), lr=self.hparams.lr if self.use_hparams else self.lr
        )


def trainer_for(tmp_path, **kwargs):
    return treadle.Trainer(**quiet(tmp_path, **{"max_epochs": 1, **kwargs}))


# -- lr_find ------------------------------------------------------------------------------------


def test_error_with_multiple_optimizers(tmp_path):
    class TwoOptimizers(LRModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def configure_optimizers(self):
            return [torch.optim.SGD(self.parameters(), lr=0.1), torch.optim.Adam(self.parameters())]

    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner.lr_find: `configure_optimizers()` returned 2 optimizers, but the learning rate "
            "finder only works with a single optimizer."
        ),
    ):
        Tuner(trainer_for(tmp_path)).lr_find(TwoOptimizers())


def test_model_and_trainer_reset_correctly(tmp_path):
    model = LRModel(lr=0.1)
    trainer = trainer_for(tmp_path)
    before = deepcopy(model.state_dict())
    watched = (
        "callbacks",
        "checkpoint_callback",
        "current_epoch",
        "loggers",
        "global_step",
        "max_steps",
        "should_stop",
    )
    expected = {name: getattr(trainer, name) for name in watched}
    Tuner(trainer).lr_find(model, num_training=5)
    for key, value in model.state_dict().items():
        assert torch.equal(before[key], value), key
    assert {name: getattr(trainer, name) for name in watched} == expected
    # as Lightning, whose search runs on `trainer`: the model is left attached to it, not to
    # the inner Trainer that ran the search (Lightning's test_all.py::test_logger_reset_correctly)
    assert model.trainer is trainer and model.logger is trainer.logger
    assert "configure_optimizers" not in vars(model)
    assert not list(tmp_path.glob(".lr_find*"))
    trainer.fit(model)  # and the real run uses the model's own optimizer
    assert model.trainer is trainer and trainer.global_step == 8


@pytest.mark.parametrize("use_hparams", [False, True])
def test_tuner_lr_find_updates_the_attribute(tmp_path, use_hparams):
    treadle.seed_everything(1)
    model = LRModel(lr=1e-2, use_hparams=use_hparams)
    finder = Tuner(trainer_for(tmp_path, max_epochs=2)).lr_find(model, update_attr=True)
    suggestion = finder.suggestion()
    assert suggestion is not None and suggestion != 1e-2
    assert model.lr == suggestion and model.hparams.lr == suggestion


@pytest.mark.parametrize("use_hparams", [False, True])
def test_attr_name(tmp_path, use_hparams):
    class Fancy(BoringModel):
        def __init__(self, my_fancy_lr=1e-2):
            super().__init__()
            self.save_hyperparameters()
            if not use_hparams:
                self.my_fancy_lr = my_fancy_lr

        def configure_optimizers(self):
            lr = self.hparams.my_fancy_lr if use_hparams else self.my_fancy_lr
            return torch.optim.SGD(self.parameters(), lr=lr)

    model = Fancy()
    Tuner(trainer_for(tmp_path)).lr_find(model, update_attr=True, attr_name="my_fancy_lr")
    assert model.hparams.my_fancy_lr != 1e-2
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "The attribute name for the learning rate was set to nothing_here, but could not find "
            "this as a field in `model` or `model.hparams`."
        ),
    ):
        Tuner(trainer_for(tmp_path)).lr_find(model, update_attr=True, attr_name="nothing_here")


def test_lr_finder_fails_fast_without_an_lr_attribute(tmp_path):
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "When using the learning rate finder, either `model` or `model.hparams` should have one "
            "of these fields: ('lr', 'learning_rate'). If your model has a different name for the "
            "learning rate, set it with `.lr_find(attr_name=...)`."
        ),
    ):
        Tuner(trainer_for(tmp_path)).lr_find(BoringModel(), update_attr=True)


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_candidates_between_min_and_max_and_linear_steps(tmp_path, mode):
    model = LRModel()
    finder = Tuner(trainer_for(tmp_path)).lr_find(
        model, min_lr=1e-4, max_lr=1e-1, num_training=20, mode=mode, early_stop_threshold=None
    )
    lrs = finder.results["lr"]
    assert len(lrs) == len(finder.results["loss"]) == 20
    assert lrs[0] == pytest.approx(1e-4) and all(1e-4 <= lr <= 1e-1 + 1e-12 for lr in lrs)
    assert lrs == sorted(lrs)
    steps = [b - a for a, b in zip(lrs[1:], lrs[2:])]
    if mode == "linear":
        assert max(steps) == pytest.approx(min(steps))
    else:
        assert steps[-1] > 5 * steps[0]


def test_accumulation_and_early_stopping_off(tmp_path):
    treadle.seed_everything(1)
    finder = Tuner(trainer_for(tmp_path, accumulate_grad_batches=2)).lr_find(
        LRModel(), num_training=30, early_stop_threshold=None
    )
    assert len(finder.results["lr"]) == len(finder.results["loss"]) == 30
    assert finder.suggestion() != 1e-2


def test_diverging_loss_stops_the_search(tmp_path):
    finder = Tuner(trainer_for(tmp_path)).lr_find(
        LRModel(), min_lr=1e-2, max_lr=1e6, num_training=100
    )
    assert 2 < len(finder.results["loss"]) < 100


def test_suggestion_parameters_and_non_finite_values(tmp_path):
    treadle.seed_everything(1)
    finder = Tuner(trainer_for(tmp_path, max_epochs=3)).lr_find(LRModel())
    lr1, lr2 = finder.suggestion(skip_begin=10), finder.suggestion(skip_begin=70)
    assert lr1 is not None and lr2 is not None and lr1 != lr2
    finder.results["loss"][-1] = float("nan")
    assert finder.suggestion() == lr1


@pytest.mark.parametrize(
    ("skip_begin", "skip_end", "losses", "expected_error"),
    [
        (0, 0, [], True),
        (10, 1, [], True),
        (0, 2, [0, 1, 2], True),
        (0, 1, [0, 1, 2], False),
        (1, 1, [0, 1, 2], True),
        (1, 1, [0, 1, 2, 3], False),
        (
            0,
            1,
            [
                float("nan"),
                float("nan"),
                0,
                float("inf"),
                1,
                2,
                3,
                float("inf"),
                2,
                float("nan"),
                1,
            ],
            False,
        ),
        (
            4,
            1,
            [
                float("nan"),
                float("nan"),
                0,
                float("inf"),
                1,
                2,
                3,
                float("inf"),
                2,
                float("nan"),
                1,
            ],
            False,
        ),
    ],
)
def test_suggestion_not_enough_finite_points(losses, skip_begin, skip_end, expected_error, caplog):
    finder = LRFinder(mode="exponential", lr_min=1e-8, lr_max=1, num_training=100)
    finder.results = {"lr": [float(i) for i in range(len(losses))], "loss": losses}
    with caplog.at_level(logging.ERROR, logger="treadle.tuner"):
        lr = finder.suggestion(skip_begin=skip_begin, skip_end=skip_end)
    if expected_error:
        assert lr is None
        assert "Failed to compute suggestion for learning rate" in caplog.text
    else:
        assert lr is not None


def test_lr_attribute_unchanged_when_no_suggestion(tmp_path):
    model = LRModel(lr=0.123)
    finder = Tuner(trainer_for(tmp_path)).lr_find(model, update_attr=True, num_training=1)
    assert finder.suggestion() is None
    assert model.lr == 0.123


def test_multiple_lr_find_calls_give_the_same_results(tmp_path):
    model = LRModel()
    tuner = Tuner(trainer_for(tmp_path, limit_train_batches=10))
    runs = [tuner.lr_find(model, num_training=20, update_attr=False).results for _ in range(3)]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]["lr"]) == 20


def test_lr_find_with_a_datamodule_and_given_loaders(tmp_path):
    class DM(BoringDataModule):
        pass

    tuner = Tuner(trainer_for(tmp_path))
    dm = DM()
    finder = tuner.lr_find(LRModel(), datamodule=dm, num_training=10)
    assert len(finder.results["lr"]) == 10
    assert dm.trainer is tuner._trainer  # as Lightning
    loader = DataLoader(RandomDataset(32, 64), batch_size=4)
    assert (
        len(tuner.lr_find(LRModel(), train_dataloaders=loader, num_training=12).results["lr"]) == 12
    )


def test_lr_find_refusals(tmp_path):
    tuner = Tuner(trainer_for(tmp_path))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner.lr_find(method='test'): the learning-rate finder trains, so it runs only with "
            "method='fit'."
        ),
    ):
        tuner.lr_find(LRModel(), method="test")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner.lr_find(mode='cubic'): mode should be either `linear` or `exponential`: "
            "'exponential' multiplies the learning rate by a constant each step, 'linear' adds one."
        ),
    ):
        tuner.lr_find(LRModel(), mode="cubic")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "In tuner with method='fit', `dataloaders` argument should be None, please consider "
            "setting `train_dataloaders` and `val_dataloaders` instead."
        ),
    ):
        tuner.lr_find(LRModel(), dataloaders=DataLoader(RandomDataset(32, 8)))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Trainer is already configured with a `LearningRateFinder` callback. Please remove it "
            "if you want to use the Tuner."
        ),
    ):
        Tuner(trainer_for(tmp_path, callbacks=[LearningRateFinder()])).lr_find(LRModel())


def test_lr_find_skipped_under_fast_dev_run(tmp_path):
    with pytest.warns(
        UserWarning,
        match=re.escape("Skipping learning rate finder since `fast_dev_run` is enabled."),
    ):
        assert Tuner(trainer_for(tmp_path, fast_dev_run=True)).lr_find(LRModel()) is None


def test_plot_needs_matplotlib_or_draws():
    finder = LRFinder("exponential", 1e-3, 1, 10)
    finder.results = {"lr": [1e-3, 1e-2, 1e-1], "loss": [1.0, 0.5, 0.7]}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(
            treadle.ConfigurationError,
            match=re.escape(
                "LRFinder.plot() needs matplotlib, which is not installed. Install it (`pip install "
                "matplotlib`), or plot `lr_finder.results['lr']` against `lr_finder.results['loss']` "
                "yourself."
            ),
        ):
            finder.plot(suggest=True)
    else:
        assert finder.plot(suggest=True) is not None


def test_learning_rate_finder_callback_sets_the_fits_learning_rate(tmp_path):
    model = LRModel()
    callback = LearningRateFinder(num_training_steps=20)
    trainer = trainer_for(tmp_path, callbacks=[callback])
    trainer.fit(model)
    suggestion = callback.optimal_lr.suggestion()
    assert suggestion is not None and model.lr == suggestion
    assert trainer.optimizers[0].param_groups[0]["lr"] == suggestion
    assert trainer.global_step == 8 and model.trainer is trainer


def test_learning_rate_finder_at_chosen_epochs(tmp_path):
    """Lightning's documented override: search at some epochs instead of at the fit's start."""

    class AtEpochs(LearningRateFinder):
        def __init__(self, milestones, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.milestones, self.found = milestones, []

        def on_fit_start(self, *args, **kwargs):
            return

        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch in self.milestones:
                self.lr_find(trainer, pl_module)
                self.found.append((trainer.current_epoch, self.optimal_lr.suggestion()))

    model = LRModel()
    callback = AtEpochs(milestones=(1,), num_training_steps=15)
    trainer = trainer_for(tmp_path, max_epochs=2, callbacks=[callback])
    trainer.fit(model)
    assert [epoch for epoch, _ in callback.found] == [1]
    assert trainer.optimizers[0].param_groups[0]["lr"] == callback.found[0][1] == model.lr
    assert trainer.global_step == 16


# -- scale_batch_size ------------------------------------------------------------------------


class BatchModel(BoringModel):
    """Runs out of memory (a real ``RuntimeError`` with CUDA's words) above ``limit`` samples."""

    def __init__(self, batch_size=2, limit=None, in_hparams=False, length=64):
        super().__init__()
        if in_hparams:
            self.save_hyperparameters("batch_size")
        else:
            self.batch_size = batch_size
        self.limit, self.length, self.seen = limit, length, []

    def size(self):
        return self.hparams.batch_size if "batch_size" in self.hparams else self.batch_size

    def training_step(self, batch, batch_idx):
        self.seen.append(len(batch))
        if self.limit is not None and len(batch) > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().training_step(batch, batch_idx)

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, self.length), batch_size=self.size())


@pytest.mark.parametrize("in_hparams", [False, True])
def test_power_mode_doubles_up_to_the_dataset_length(tmp_path, in_hparams):
    model = BatchModel(in_hparams=in_hparams)
    before = deepcopy(model.state_dict())
    trainer = trainer_for(tmp_path)
    found = Tuner(trainer).scale_batch_size(model, mode="power", steps_per_trial=1)
    assert found == 64 and model.size() == 64
    assert model.seen == [2, 4, 8, 16, 32, 64]
    for key, value in model.state_dict().items():
        assert torch.equal(before[key], value), key
    assert trainer.global_step == 0 and model.trainer is trainer  # as Lightning


@pytest.mark.parametrize(
    ("mode", "expected", "tried"), [("power", 16, [2, 4, 8, 16, 32]), ("binsearch", 19, None)]
)
def test_scaling_stops_at_an_out_of_memory_error(tmp_path, mode, expected, tried):
    model = BatchModel(limit=20, length=256)
    found = Tuner(trainer_for(tmp_path)).scale_batch_size(model, mode=mode, steps_per_trial=1)
    assert found == expected and model.batch_size == expected
    if tried is not None:
        assert model.seen == tried
    else:  # doubling to 32 (fails), bisecting between 16 and 32 to 20, less a 5% margin
        assert model.seen[:5] == [2, 4, 8, 16, 32] and model.seen[-1] in (20, 21)


def test_max_trials_and_init_val(tmp_path):
    model = BatchModel(length=1024)
    found = Tuner(trainer_for(tmp_path)).scale_batch_size(
        model, init_val=3, max_trials=2, steps_per_trial=1
    )
    assert found == 6 and model.seen == [3, 6]  # the last trial's size is kept


def test_max_val_and_margin(tmp_path):
    model = BatchModel(length=1024)
    assert Tuner(trainer_for(tmp_path)).scale_batch_size(model, max_val=8, steps_per_trial=1) == 8
    assert model.seen == [2, 4]  # as Lightning: max_val reached, the search stops (untried)
    model = BatchModel(length=1024)
    found = Tuner(trainer_for(tmp_path)).scale_batch_size(
        model, mode="binsearch", max_trials=3, margin=0.25, steps_per_trial=1
    )
    assert model.seen == [2, 4, 8] and found == model.batch_size == 6  # 8, less 25%
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("Tuner.scale_batch_size(margin=1.5): `margin` should be between 0 and 1"),
    ):
        Tuner(trainer_for(tmp_path)).scale_batch_size(BatchModel(), margin=1.5)


def test_batch_size_in_the_model_and_its_hparams_warns(tmp_path):
    class Both(BatchModel):
        def __init__(self, batch_size=2):
            super().__init__(batch_size=batch_size)
            self.save_hyperparameters()

    with pytest.warns(
        UserWarning,
        match=re.escape(
            "Field `model.batch_size` and `model.hparams.batch_size` are mutually exclusive!"
        ),
    ):
        Tuner(trainer_for(tmp_path)).scale_batch_size(Both(), max_trials=1)


def test_other_errors_are_raised(tmp_path):
    class Broken(BatchModel):
        def training_step(self, batch, batch_idx):
            raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        Tuner(trainer_for(tmp_path)).scale_batch_size(Broken())


def test_scale_batch_size_for_evaluation_and_datamodule(tmp_path):
    class DM(BoringDataModule):
        def __init__(self):
            super().__init__()
            self.batch_size = 2

        def test_dataloader(self):
            return DataLoader(RandomDataset(32, 24), batch_size=self.batch_size)

    dm = DM()
    found = Tuner(trainer_for(tmp_path)).scale_batch_size(
        BoringModel(), datamodule=dm, method="test"
    )
    assert found == dm.batch_size == 32  # 2 .. 16 ran, 32 >= the 24 samples: the bound


def test_scale_batch_size_refusals(tmp_path):
    tuner = Tuner(trainer_for(tmp_path))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner.scale_batch_size: field `batch_size` not found in `model`, `datamodule`, nor "
            "their `hparams` attributes."
        ),
    ):
        tuner.scale_batch_size(BoringModel())
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner: the batch size finder cannot be used with dataloaders passed directly to "
            "`.fit()`: it makes them again with each batch size it tries."
        ),
    ):
        tuner.scale_batch_size(BatchModel(), train_dataloaders=DataLoader(RandomDataset(32, 8)))
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner.scale_batch_size(mode='linear'): `mode` should be either of ('power', "
            "'binsearch'): 'power' doubles until out of memory, 'binsearch' then bisects between "
            "the last success and the failure."
        ),
    ):
        tuner.scale_batch_size(BatchModel(), mode="linear")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "method 'tune' is invalid. Should be one of ('fit', 'validate', 'test', 'predict')."
        ),
    ):
        tuner.scale_batch_size(BatchModel(), method="tune")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "In tuner with `method`='test', `train_dataloaders` and `val_dataloaders` arguments "
            "should be None, please consider setting `dataloaders` instead."
        ),
    ):
        tuner.scale_batch_size(
            BatchModel(), method="test", train_dataloaders=DataLoader(RandomDataset(32, 8))
        )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Trainer is already configured with a `BatchSizeFinder` callback. Please remove it if "
            "you want to use the Tuner."
        ),
    ):
        Tuner(trainer_for(tmp_path, callbacks=[BatchSizeFinder()])).scale_batch_size(BatchModel())


def test_batch_size_finder_callback_runs_before_the_loaders_are_made(tmp_path):
    model = BatchModel(limit=16)
    callback = BatchSizeFinder(steps_per_trial=1)
    trainer = trainer_for(tmp_path, callbacks=[callback])
    trainer.fit(model)
    assert callback.optimal_batch_size == model.batch_size == 16
    assert model.seen[-4:] == [16, 16, 16, 16]  # the fit itself: 64 samples in batches of 16
    assert trainer.global_step == 4


def test_batch_size_finder_callback_refuses_given_loaders(tmp_path):
    trainer = trainer_for(tmp_path, callbacks=[BatchSizeFinder()])
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Tuner: the batch size finder cannot be used with dataloaders passed directly to `.fit()`"
        ),
    ):
        trainer.fit(BatchModel(), DataLoader(RandomDataset(32, 8)))


def test_lightning_import_paths():
    from treadle.callbacks.batch_size_finder import BatchSizeFinder as B
    from treadle.callbacks.lr_finder import LearningRateFinder as L
    from treadle.tuner.lr_finder import LRFinder as F
    from treadle.tuner.tuning import Tuner as T

    assert (BatchSizeFinder, LearningRateFinder, LRFinder, Tuner) == (B, L, F, T)
