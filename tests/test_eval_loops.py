"""``test()``, ``predict()`` and ``validate()`` against the same loops written in plain PyTorch.

Each evaluation entry point runs a model over data; the same model and data through a loop
written by hand (``net.eval()``, ``torch.inference_mode()``, the batch-size-weighted mean
Lightning reports) must give the same predictions and the same epoch metrics, bit for bit.
Then the rest of Lightning 2's contract for these entry points: batch limits, several
dataloaders (``dataloader_idx``, the ``name/dataloader_idx_N`` keys, one result dict per
loader), ``return_predictions``, ``model=None``, ``ckpt_path``, train/eval modes, inference
mode, and the errors a user can meet, each pinned.

Where a behaviour is pinned by one of Lightning's own tests, the test here says which (ported
from ``tests/tests_pytorch/trainer/logging_/test_eval_loop_logging.py``, Copyright The
Lightning AI team, Apache License 2.0).
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import treadle
from conftest_helpers import make_trainer, mlp, regression_dataset
from treadle.callbacks import ModelCheckpoint
from treadle.errors import ConfigurationError


def _loader(n=10, batch_size=4, seed=1):
    """10 samples in batches of 4, 4, 2: an uneven last batch, so means must be weighted."""
    return DataLoader(regression_dataset(n, seed=seed), batch_size=batch_size)


class Net(treadle.Module):
    """MSE and MAE logged in every evaluation step; the step returns its predictions."""

    def __init__(self):
        super().__init__()
        self.net = mlp(seed=5)
        self.steps = []  # (stage, batch_idx, dataloader_idx or None)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def _evaluate(self, prefix, batch):
        x, y = batch
        out = self(x)
        self.log(f"{prefix}_mse", F.mse_loss(out, y))
        self.log(f"{prefix}_mae", F.l1_loss(out, y))
        return out

    def validation_step(self, batch, batch_idx):
        self.steps.append(("validate", batch_idx, None))
        return self._evaluate("val", batch)

    def test_step(self, batch, batch_idx):
        self.steps.append(("test", batch_idx, None))
        return self._evaluate("test", batch)

    def predict_step(self, batch, batch_idx):
        self.steps.append(("predict", batch_idx, None))
        return self(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


# -- the same loops, by hand -----------------------------------------------------------------


def plain_metrics(net, loader, prefix, limit=None):
    """One evaluation epoch in plain PyTorch, with Lightning's batch-size-weighted means."""
    net.eval()
    totals, seen = {}, 0
    with torch.inference_mode():
        for batch_idx, (x, y) in enumerate(loader):
            if limit is not None and batch_idx >= limit:
                break
            out = net(x)
            n = x.shape[0]
            for name, value in (
                (f"{prefix}_mse", F.mse_loss(out, y)),
                (f"{prefix}_mae", F.l1_loss(out, y)),
            ):
                totals[name] = value * n if name not in totals else totals[name] + value * n
            seen += n
    return {name: float(total / seen) for name, total in totals.items()}


def plain_predictions(net, loader, limit=None):
    net.eval()
    with torch.inference_mode():
        return [
            net(x) for batch_idx, (x, _) in enumerate(loader) if limit is None or batch_idx < limit
        ]


def _trainer(tmp_path, **kwargs):
    return make_trainer(tmp_path, **kwargs)


# -- outputs and metrics equal the plain loops -------------------------------------------------


def test_test_equals_the_plain_loop(tmp_path):
    model = Net()
    kept = []

    class Keep(treadle.Callback):
        def on_test_batch_end(
            self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
        ):
            kept.append(outputs)

    trainer = _trainer(tmp_path, callbacks=[Keep()])
    results = trainer.test(model, _loader())
    expected = plain_metrics(model.net, _loader(), "test")
    assert results == [expected]
    assert {k: float(v) for k, v in trainer.callback_metrics.items()} == expected
    assert {k: float(v) for k, v in trainer.logged_metrics.items()} == expected
    assert len(kept) == 3
    for got, want in zip(kept, plain_predictions(model.net, _loader()), strict=True):
        assert torch.equal(got, want)


def test_validate_equals_the_plain_loop(tmp_path):
    model = Net()
    results = _trainer(tmp_path).validate(model, _loader())
    assert results == [plain_metrics(model.net, _loader(), "val")]


def test_predict_equals_the_plain_loop(tmp_path):
    model = Net()
    predictions = _trainer(tmp_path).predict(model, _loader())
    expected = plain_predictions(model.net, _loader())
    assert len(predictions) == len(expected) == 3
    for got, want in zip(predictions, expected, strict=True):
        assert torch.equal(got, want)


def test_validation_in_fit_equals_the_plain_loop_on_the_trained_weights(tmp_path):
    model = Net()
    trainer = _trainer(tmp_path, num_sanity_val_steps=0)
    trainer.fit(model, _loader(seed=2), _loader())
    # validation ran after the last optimizer step: on the weights fit() ends with
    expected = plain_metrics(model.net, _loader(), "val")
    assert {k: float(trainer.callback_metrics[k]) for k in expected} == expected
    assert trainer.validate(model, _loader()) == [expected]


def test_the_means_are_weighted_by_batch_size(tmp_path):
    """Batches of 4, 4 and 2 logging 0, 1, 2: (0*4 + 1*4 + 2*2) / 10, as Lightning."""

    class Index(Net):
        def test_step(self, batch, batch_idx):
            self.log("i", float(batch_idx))

    assert _trainer(tmp_path).test(Index(), _loader()) == [{"i": pytest.approx(0.8)}]


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "batches"), [(2, 2), (1, 1), (10, 3), (0.5, 1), (0.7, 2), (1.0, 3)]
)
def test_limit_test_batches(tmp_path, limit, batches):
    model = Net()
    results = _trainer(tmp_path, limit_test_batches=limit).test(model, _loader())
    assert [s[1] for s in model.steps] == list(range(batches))
    assert results == [plain_metrics(model.net, _loader(), "test", limit=batches)]


@pytest.mark.parametrize(("limit", "batches"), [(2, 2), (0.5, 1), (1.0, 3)])
def test_limit_predict_batches(tmp_path, limit, batches):
    model = Net()
    predictions = _trainer(tmp_path, limit_predict_batches=limit).predict(model, _loader())
    expected = plain_predictions(model.net, _loader(), limit=batches)
    assert len(predictions) == batches
    assert all(torch.equal(a, b) for a, b in zip(predictions, expected, strict=True))


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_a_zero_limit_runs_no_hook_and_returns_nothing(tmp_path, fn):
    """As Lightning: with no batch to run the loop is skipped (``setup``/``teardown`` only);
    ``test()``/``validate()`` return ``[]`` and ``predict()`` returns None."""
    calls = []

    class Watch(treadle.Callback):
        def on_test_start(self, trainer, pl_module):
            calls.append("on_test_start")

        def on_validation_start(self, trainer, pl_module):
            calls.append("on_validation_start")

        def on_predict_start(self, trainer, pl_module):
            calls.append("on_predict_start")

    limit = {
        "test": "limit_test_batches",
        "validate": "limit_val_batches",
        "predict": "limit_predict_batches",
    }[fn]
    model = Net()
    trainer = _trainer(tmp_path, callbacks=[Watch()], **{limit: 0})
    result = getattr(trainer, fn)(model, _loader())
    assert result == ([] if fn != "predict" else None)
    assert calls == [] and model.steps == []


# -- several dataloaders -----------------------------------------------------------------------


class Multi(Net):
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.steps.append(("validate", batch_idx, dataloader_idx))
        return self._evaluate("val", batch)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.steps.append(("test", batch_idx, dataloader_idx))
        return self._evaluate("test", batch)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        self.steps.append(("predict", batch_idx, dataloader_idx))
        return self(batch[0])


def _two_loaders(kind):
    loaders = [_loader(seed=1), _loader(n=6, batch_size=3, seed=2)]
    return {"a": loaders[0], "b": loaders[1]} if kind == "dict" else loaders


def _suffixed(metrics, idx):
    return {f"{k}/dataloader_idx_{idx}": v for k, v in metrics.items()}


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("fn", ["test", "validate"])
def test_several_loaders_one_result_dict_each(tmp_path, kind, fn):
    model = Multi()
    batch_hooks = []

    class Watch(treadle.Callback):
        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            batch_hooks.append((batch_idx, dataloader_idx, trainer.state.dataloader_idx))

        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            batch_hooks.append((batch_idx, dataloader_idx, trainer.state.dataloader_idx))

    trainer = _trainer(tmp_path, callbacks=[Watch()])
    results = getattr(trainer, fn)(model, _two_loaders(kind))
    prefix = "test" if fn == "test" else "val"
    loaders = [_loader(seed=1), _loader(n=6, batch_size=3, seed=2)]
    assert results == [
        _suffixed(plain_metrics(model.net, loader, prefix), i) for i, loader in enumerate(loaders)
    ]
    assert [(s[1], s[2]) for s in model.steps] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)]
    assert batch_hooks == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1, 1), (1, 1, 1)]


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_predict_with_several_loaders_returns_a_list_per_loader(tmp_path, kind):
    model = Multi()
    predictions = _trainer(tmp_path).predict(model, _two_loaders(kind))
    loaders = [_loader(seed=1), _loader(n=6, batch_size=3, seed=2)]
    assert [len(p) for p in predictions] == [3, 2]
    for got, loader in zip(predictions, loaders, strict=True):
        assert all(
            torch.equal(a, b)
            for a, b in zip(got, plain_predictions(model.net, loader), strict=True)
        )
    assert [(s[1], s[2]) for s in model.steps] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)]


def test_a_single_loader_calls_the_step_without_dataloader_idx(tmp_path):
    model = Multi()
    _trainer(tmp_path).test(model, [_loader()])  # a list of one is one loader
    assert {s[2] for s in model.steps} == {0}  # the default: nothing was passed
    assert _trainer(tmp_path).test(model, [_loader()])[0].keys() == {"test_mse", "test_mae"}


def test_results_without_the_dataloader_idx_suffix(tmp_path):
    """Lightning's ``test_logging_results_with_no_dataloader_idx``: a name logged with
    ``add_dataloader_idx=False`` keeps no suffix and stays in its own loader's results."""

    class Model(Net):
        def test_step(self, batch, batch_idx, dataloader_idx):
            self.log_dict({"test_log_common": 789})
            self.log("test_log_common_diff_value", dataloader_idx + 1)
            self.log(
                f"test_log_no_dl_idx_{dataloader_idx}",
                321 * (dataloader_idx + 1),
                add_dataloader_idx=False,
            )
            self.log_dict(
                {"test_log_a_class": 123} if dataloader_idx == 0 else {"test_log_b_class": 456},
                add_dataloader_idx=False,
            )

    results = _trainer(tmp_path, limit_test_batches=1).test(Model(), [_loader(), _loader()])
    assert results == [
        {
            "test_log_common/dataloader_idx_0": 789.0,
            "test_log_common_diff_value/dataloader_idx_0": 1.0,
            "test_log_no_dl_idx_0": 321.0,
            "test_log_a_class": 123.0,
        },
        {
            "test_log_common/dataloader_idx_1": 789.0,
            "test_log_common_diff_value/dataloader_idx_1": 2.0,
            "test_log_no_dl_idx_1": 642.0,
            "test_log_b_class": 456.0,
        },
    ]


def test_what_the_epoch_end_logs_is_in_every_loaders_results(tmp_path):
    """Lightning's ``test_logging_multi_dataloader_on_epoch_end``."""

    class Model(Net):
        def test_step(self, batch, batch_idx, dataloader_idx):
            self.log("foo", dataloader_idx + 1)

        def on_test_epoch_end(self):
            self.log("foobar", 3)

    trainer = _trainer(tmp_path, limit_test_batches=1)
    results = trainer.test(Model(), [_loader(), _loader()])
    assert results == [
        {"foo/dataloader_idx_0": 1, "foobar": 3},
        {"foo/dataloader_idx_1": 2, "foobar": 3},
    ]
    assert set(trainer.callback_metrics) == {
        "foo/dataloader_idx_0",
        "foo/dataloader_idx_1",
        "foobar",
    }


@pytest.mark.parametrize("several", [False, True])
def test_step_and_epoch_values_get_the_suffix_after_the_fork(tmp_path, several):
    """Lightning's ``test_multi_dataloaders_add_suffix_properly``: ``test_loss_epoch/...``,
    and step values of an evaluation stage go to the loggers, not to ``callback_metrics``."""

    class Model(Multi):
        def test_step(self, batch, batch_idx, dataloader_idx=0):
            self.log("test_loss", float(batch_idx), on_step=True, on_epoch=True)

    loaders = [_loader(), _loader()] if several else _loader()
    trainer = _trainer(tmp_path, limit_test_batches=2)
    results = trainer.test(Model(), loaders)
    keys = (
        [f"test_loss_epoch/dataloader_idx_{i}" for i in range(2)]
        if several
        else ["test_loss_epoch"]
    )
    assert [set(r) for r in results] == [{k} for k in keys]
    assert all(r[k] == 0.5 for r, k in zip(results, keys))
    names = [f"test_loss/dataloader_idx_{i}" for i in range(2)] if several else ["test_loss"]
    assert set(trainer.callback_metrics) == {*names, *keys}
    steps = [k.replace("_epoch", "_step") for k in keys]
    assert set(trainer.logged_metrics) == {*keys, *steps}


def test_one_name_from_two_loaders_without_the_suffix_is_refused(tmp_path):
    class Model(Multi):
        def test_step(self, batch, batch_idx, dataloader_idx=0):
            self.log("acc", 1.0, add_dataloader_idx=False)

    with pytest.raises(
        ValueError,
        match=re.escape(
            "`self.log('acc', ..., add_dataloader_idx=False)` in dataloader 1: 'acc' was "
            "already logged in dataloader 0 this epoch, and without the index the two would "
            "be one metric (Lightning refuses this too). Log a name per dataloader (e.g. "
            'f"acc_{dataloader_idx}") or leave `add_dataloader_idx=True`.'
        ),
    ):
        _trainer(tmp_path, limit_test_batches=1).test(Model(), [_loader(), _loader()])


def test_validation_with_several_loaders_during_fit(tmp_path):
    model = Multi()
    trainer = _trainer(tmp_path, num_sanity_val_steps=0)
    trainer.fit(model, _loader(seed=3), _two_loaders("list"))
    loaders = [_loader(seed=1), _loader(n=6, batch_size=3, seed=2)]
    for i, loader in enumerate(loaders):
        for k, v in _suffixed(plain_metrics(model.net, loader, "val"), i).items():
            assert float(trainer.callback_metrics[k]) == v


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_a_step_without_dataloader_idx_is_refused_before_any_batch(tmp_path, fn):
    model = Net()
    step = {"test": "test_step", "validate": "validation_step", "predict": "predict_step"}[fn]
    prefix = {"test": "test", "validate": "val", "predict": "predict"}[fn]
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            f"You provided multiple `{prefix}_dataloader` (2 loaders), but no `dataloader_idx` "
            f"argument in `Net.{step}()`. Add the parameter (`def {step}(self, batch, "
            f"batch_idx, dataloader_idx=0)`), or pass a single loader."
        ),
    ):
        getattr(_trainer(tmp_path), fn)(model, [_loader(), _loader()])
    assert model.steps == []


def test_a_required_dataloader_idx_with_one_loader_is_refused(tmp_path):
    class Model(Net):
        def test_step(self, batch, batch_idx, dataloader_idx):
            pass

    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "You provided only a single `test_dataloader`, but have included `dataloader_idx` in "
            "`Model.test_step()`: with one loader it is called without it (as Lightning does). "
            "Remove the argument or give it a default value: `dataloader_idx=0`."
        ),
    ):
        _trainer(tmp_path).test(Model(), _loader())


def test_fit_checks_the_validation_step_against_its_loaders(tmp_path):
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "You provided multiple `val_dataloader` (2 loaders), but no `dataloader_idx` "
            "argument in `Net.validation_step()`."
        ),
    ):
        _trainer(tmp_path).fit(Net(), _loader(), [_loader(), _loader()])
    # no validation batch to run (as Lightning, which checks when the loop starts): no check
    _trainer(tmp_path, limit_val_batches=0).fit(Net(), _loader(), [_loader(), _loader()])


# -- return values, model=None, ckpt_path -----------------------------------------------------


def test_return_predictions_false_returns_none_and_still_predicts(tmp_path):
    model = Net()
    seen = []

    class Keep(treadle.Callback):
        def on_predict_batch_end(
            self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
        ):
            seen.append(outputs)

    trainer = _trainer(tmp_path, callbacks=[Keep()])
    assert trainer.predict(model, _loader(), return_predictions=False) is None
    assert len(seen) == 3 and torch.equal(seen[0], plain_predictions(model.net, _loader())[0])


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_model_none_after_fit_reuses_the_fitted_module(tmp_path, fn):
    model = Net()
    trainer = _trainer(tmp_path, num_sanity_val_steps=0)
    trainer.fit(model, _loader(seed=3))
    model.steps.clear()
    out = getattr(trainer, fn)(dataloaders=_loader())
    assert trainer.lightning_module is model and model.steps and model.steps[0][0] == fn
    if fn == "predict":
        assert torch.equal(out[0], plain_predictions(model.net, _loader())[0])
    else:
        assert out == [plain_metrics(model.net, _loader(), "test" if fn == "test" else "val")]


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_model_none_without_fit_is_an_error(tmp_path, fn):
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"`Trainer.{fn}()` requires a `LightningModule` when it hasn't been passed in a "
            f"previous run: pass `trainer.{fn}(model, ...)` (or call it after `fit()`, which it "
            "then reuses)."
        ),
    ):
        getattr(_trainer(tmp_path), fn)(dataloaders=_loader())


def _weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


def _with_weights(state_dict):
    model = Net()
    model.load_state_dict(state_dict)
    return model


class Scored(Net):
    """``val_score`` is the epoch number: the best checkpoint (mode="min") is epoch 0's."""

    def validation_step(self, batch, batch_idx):
        self.log("val_score", float(self.current_epoch))
        return super().validation_step(batch, batch_idx)


def _fit_with_checkpoints(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_score", save_last=True)
    trainer = make_trainer(
        tmp_path,
        max_epochs=3,
        num_sanity_val_steps=0,
        enable_checkpointing=True,
        callbacks=[checkpoint],
    )
    model = Scored()
    trainer.fit(model, _loader(seed=3), _loader())
    return trainer, model, checkpoint


@pytest.mark.parametrize("which", ["best", "last", "path"])
def test_ckpt_path_loads_the_weights_before_testing(tmp_path, which):
    trainer, model, checkpoint = _fit_with_checkpoints(tmp_path)
    path = {
        "best": checkpoint.best_model_path,
        "last": checkpoint.last_model_path,
        "path": checkpoint.best_model_path,
    }[which]
    assert path.endswith("last.ckpt") == (which == "last")
    saved = _with_weights(_weights(path))
    assert (
        not all(torch.equal(a, b) for a, b in zip(saved.parameters(), model.parameters()))
        or which == "last"
    )
    results = trainer.test(model, _loader(), ckpt_path=path if which == "path" else which)
    assert results == [plain_metrics(saved.net, _loader(), "test")]
    for a, b in zip(saved.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_ckpt_path_works_for_every_entry_point(tmp_path, fn):
    trainer, model, checkpoint = _fit_with_checkpoints(tmp_path)
    saved = _with_weights(_weights(checkpoint.best_model_path))
    out = getattr(trainer, fn)(model, _loader(), ckpt_path="best")
    if fn == "predict":
        assert torch.equal(out[0], plain_predictions(saved.net, _loader())[0])
    elif fn == "test":
        assert out == [plain_metrics(saved.net, _loader(), "test")]
    else:  # Scored also logs val_score: the fit's current_epoch (3), not the checkpoint's (0)
        assert out == [{"val_score": 3.0, **plain_metrics(saved.net, _loader(), "val")}]


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_ckpt_path_leaves_current_epoch_and_global_step(tmp_path, fn):
    # As Lightning 2.6.6 (checked there): an evaluation from a checkpoint loads the weights and
    # restores the loop's progress for fit only, so `current_epoch`/`global_step` stay the fit's
    # (3, 9) after fit and the checkpoint's epoch and step (0, 3) are not read, during the run
    # or after; a fresh Trainer stays at (0, 0).
    seen = []

    def record(self, *args):
        seen.append((self.current_epoch, self.global_step))

    trainer, model, checkpoint = _fit_with_checkpoints(tmp_path)
    assert (trainer.current_epoch, trainer.global_step) == (3, 9)
    hook = {"test": "on_test_batch_start", "validate": "on_validation_batch_start"}
    name = hook.get(fn, "on_predict_batch_start")
    Recorded = type("Recorded", (Scored,), {name: record})
    model = Recorded()
    getattr(trainer, fn)(model, _loader(), ckpt_path="best")
    assert seen and set(seen) == {(3, 9)}
    assert (trainer.current_epoch, trainer.global_step) == (3, 9)
    fresh = make_trainer(tmp_path / "fresh")
    seen.clear()
    getattr(fresh, fn)(Recorded(), _loader(), ckpt_path=checkpoint.best_model_path)
    assert seen and set(seen) == {(0, 0)}
    assert (fresh.current_epoch, fresh.global_step) == (0, 0)


def test_ckpt_path_best_without_a_checkpoint_callback(tmp_path):
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            'Trainer: `.test(ckpt_path="best")` is set but `ModelCheckpoint` is not configured: '
            "no checkpoint callback is configured. Pass a path, or fit with checkpointing first."
        ),
    ):
        _trainer(tmp_path).test(Net(), _loader(), ckpt_path="best")


def test_ckpt_path_last_without_a_checkpoint_warns_and_loads_nothing(tmp_path):
    """As Lightning: "last" with no last checkpoint is not an error (tests/callbacks/
    test_model_checkpoint_complete.py covers fit)."""
    model = Net()
    before = [p.clone() for p in model.parameters()]
    with pytest.warns(
        UserWarning,
        match=re.escape(
            '.test(ckpt_path="last") is set, but there is no last checkpoint available. No '
            "checkpoint will be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)`"
        ),
    ):
        _trainer(tmp_path).test(model, _loader(), ckpt_path="last")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_ckpt_path_best_before_any_checkpoint_was_saved(tmp_path):
    trainer = make_trainer(tmp_path, callbacks=[ModelCheckpoint(dirpath=tmp_path)])
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            'Trainer: `.test(ckpt_path="best")` is set but `ModelCheckpoint` is not configured '
            "to save the best model: ModelCheckpoint has saved none yet. Pass a path, or fit "
            "with checkpointing first."
        ),
    ):
        trainer.test(Net(), _loader(), ckpt_path="best")


# -- modes, grad, inference mode ---------------------------------------------------------------


class Frozen(Net):
    """A frozen submodule kept in eval mode (say, a pretrained encoder with batch norm)."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
        self.encoder.eval()
        self.seen_modes = []

    def forward(self, x):
        return self.net(self.encoder(x))

    def _evaluate(self, prefix, batch):
        self.seen_modes.append({n: m.training for n, m in self.named_modules()})
        return super()._evaluate(prefix, batch)

    def predict_step(self, batch, batch_idx):
        self.seen_modes.append({n: m.training for n, m in self.named_modules()})
        return self(batch[0])


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_each_submodule_gets_its_own_mode_back(tmp_path, fn):
    model = Frozen()
    before = {n: m.training for n, m in model.named_modules()}
    assert before[""] and not before["encoder"] and not before["encoder.1"] and before["net"]
    getattr(_trainer(tmp_path), fn)(model, _loader())
    assert {n: m.training for n, m in model.named_modules()} == before
    assert model.seen_modes and all(not any(modes.values()) for modes in model.seen_modes)


def test_a_module_in_eval_mode_stays_in_eval_mode(tmp_path):
    model = Net()
    model.eval()
    _trainer(tmp_path).test(model, _loader())
    assert not any(m.training for m in model.modules())


def test_an_override_of_on_test_model_train_replaces_the_restore(tmp_path):
    class Model(Frozen):
        def on_test_model_train(self):
            self.train()  # everything, the frozen encoder included

    model = Model()
    _trainer(tmp_path).test(model, _loader())
    assert all(m.training for m in model.modules())


class GradModes(Net):
    def __init__(self):
        super().__init__()
        self.modes = []

    def _record(self, stage):
        self.modes.append((stage, torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    def training_step(self, batch, batch_idx):
        self._record("train")
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        self._record("validate")

    def test_step(self, batch, batch_idx):
        self._record("test")

    def predict_step(self, batch, batch_idx):
        self._record("predict")
        return self(batch[0])


@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_evaluation_entry_points_run_in_inference_mode(tmp_path, fn):
    model = GradModes()
    getattr(
        _trainer(tmp_path, limit_test_batches=1, limit_val_batches=1, limit_predict_batches=1), fn
    )(model, _loader())
    assert model.modes == [(fn, False, True)]
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("inference_mode", [True, False])
@pytest.mark.parametrize("fn", ["test", "validate", "predict"])
def test_the_stages_start_and_end_hooks_run_in_its_grad_mode(tmp_path, fn, inference_mode):
    """As Lightning (its test_inference_mode.py): the whole stage runs under inference mode
    (no_grad with ``inference_mode=False``), ``on_{stage}_start``/``_end`` included."""
    stage = {"validate": "validation"}.get(fn, fn)

    class Model(GradModes):
        pass

    for when in ("start", "end", "epoch_start", "epoch_end"):
        setattr(Model, f"on_{stage}_{when}", lambda self, when=when: self._record(when))
    model = Model()
    trainer = _trainer(
        tmp_path,
        limit_test_batches=1,
        limit_val_batches=1,
        limit_predict_batches=1,
        inference_mode=inference_mode,
    )
    getattr(trainer, fn)(model, _loader())
    expected = [(w, False, inference_mode) for w in ("start", "epoch_start")]
    expected += [(fn, False, inference_mode)]
    expected += [(w, False, inference_mode) for w in ("epoch_end", "end")]
    assert model.modes == expected


def test_validation_inside_fit_runs_without_grad_but_not_in_inference_mode(tmp_path):
    """As Lightning's fit loop: ``no_grad`` (tensors made in validation may meet training)."""
    model = GradModes()
    _trainer(tmp_path, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=1).fit(
        model, _loader(), _loader()
    )
    assert model.modes == [
        ("validate", False, False),
        ("train", True, False),
        ("validate", False, False),
    ]


# -- data sources and errors -------------------------------------------------------------------


def test_the_modules_dataloaders_are_used_when_none_are_given(tmp_path):
    class Model(Net):
        def test_dataloader(self):
            return _loader(seed=7)

        def predict_dataloader(self):
            return _loader(seed=8)

    model = Model()
    trainer = _trainer(tmp_path)
    assert trainer.test(model) == [plain_metrics(model.net, _loader(seed=7), "test")]
    got = trainer.predict(model)
    want = plain_predictions(model.net, _loader(seed=8))
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_given_dataloaders_win_over_the_modules(tmp_path):
    class Model(Net):
        def test_dataloader(self):
            raise AssertionError("not asked for when dataloaders are given")

    model = Model()
    assert _trainer(tmp_path).test(model, _loader()) == [
        plain_metrics(model.net, _loader(), "test")
    ]


@pytest.mark.parametrize(
    ("fn", "noun", "hook"),
    [
        ("test", "test", "test_dataloader"),
        ("validate", "validation", "val_dataloader"),
        ("predict", "prediction", "predict_dataloader"),
    ],
)
def test_no_data_is_a_configuration_error(tmp_path, fn, noun, hook):
    # and a TypeError, as Lightning's
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            f"An invalid dataloader was passed to `Trainer.{fn}(dataloaders=...)`. Found None. "
            f"Either pass the dataloader to the `.{fn}()` method OR implement "
            f"`def {hook}(self):` in your LightningModule/LightningDataModule."
        ),
    ) as info:
        getattr(_trainer(tmp_path), fn)(Net())
    assert isinstance(info.value, TypeError)


def test_self_log_in_predict_step_is_an_error(tmp_path):
    class Model(Net):
        def predict_step(self, batch, batch_idx):
            self.log("p", 1.0)

    with pytest.raises(
        ValueError,  # (a ConfigurationError) Lightning's words, then the call and the fix
        match=re.escape(
            "the loop's result collection is not registered yet. This is most likely because "
            "you are trying to log in a `predict` hook, but it doesn't support logging. "
            "(`self.log('p', ...)` in predict: return the values from `predict_step` instead.)"
        ),
    ):
        _trainer(tmp_path).predict(Model(), _loader())


def test_a_model_that_is_not_a_module_is_an_error(tmp_path):
    with pytest.raises(
        TypeError,
        match=re.escape(
            "`trainer.test(model)`: `model` must be a `LightningModule` (`treadle.Module`) or "
            "`torch._dynamo.OptimizedModule`, got `Sequential`."
        ),
    ):
        _trainer(tmp_path).test(mlp(), _loader())


def test_test_leaves_the_weights_alone(tmp_path):
    model = Net()
    before = copy.deepcopy(model.state_dict())
    trainer = _trainer(tmp_path)
    trainer.test(model, _loader())
    trainer.validate(model, _loader())
    trainer.predict(model, _loader())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_the_loop_state_during_and_after_test(tmp_path):
    seen = []

    class Watch(treadle.Callback):
        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            state = trainer.state
            seen.append(
                (state.fn, state.stage, trainer.testing, state.batch_idx, state.num_dataloaders)
            )

    trainer = _trainer(tmp_path, callbacks=[Watch()], limit_test_batches=2)
    trainer.test(Multi(), [_loader(), _loader()])
    assert seen == [
        ("test", "test", True, 0, 2),
        ("test", "test", True, 1, 2),
        ("test", "test", True, 0, 2),
        ("test", "test", True, 1, 2),
    ]
    assert trainer.state.stage is None and not trainer.testing
