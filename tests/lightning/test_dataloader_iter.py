"""``*_step(self, dataloader_iter)``: the step fetches its own batches, as Lightning 2.6.6 runs it.

The first three tests port the behaviour of Lightning's tests/tests_pytorch/loops/test_fetchers.py
(test_fetching_dataloader_iter_opt, test_fetching_dataloader_iter_running_stages,
test_done_dataloader_iter; Apache-2.0, Copyright The Lightning AI team) through treadle's names;
the values in the comments are those Lightning 2.6.6 printed for the same programs.
"""

from __future__ import annotations

import pytest
import torch
from lightning_boring import BoringModel
from torch.utils.data import DataLoader, IterableDataset

import treadle


def _data(n, offset=0):
    return [torch.full((2,), float(i + offset)) for i in range(n)]


class _Iterable(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(_data(self.n))


def _trainer(tmp_path, **kwargs):
    kwargs.setdefault("max_epochs", 1)
    return treadle.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kwargs,
    )


class Recorder(treadle.Module):
    """Fetches ``per`` batches per call; records the batch hooks' arguments and the fetches."""

    def __init__(self, per=1, n=6, iterable=False):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.per, self.n, self.iterable, self.calls = per, n, iterable, []

    def training_step(self, dataloader_iter):
        got = []
        for _ in range(self.per):
            batch, batch_idx, dataloader_idx = next(dataloader_iter)
            got.append((batch[0, 0].item(), batch_idx, dataloader_idx))
        self.calls.append(("step", got))
        return self.layer(batch).sum()

    def on_train_batch_start(self, batch, batch_idx):
        self.calls.append(("start", None if batch is None else batch[0, 0].item(), batch_idx))

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.calls.append(("end", batch[0, 0].item(), batch_idx))

    def on_validation_start(self):
        self.calls.append(("validation",))

    def validation_step(self, batch, batch_idx):
        pass

    def train_dataloader(self):
        return DataLoader(_Iterable(self.n) if self.iterable else _data(self.n), batch_size=1)

    def val_dataloader(self):
        return DataLoader(_data(2), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("automatic_optimization", [False, True])
def test_fetching_dataloader_iter_opt(automatic_optimization, tmp_path):
    """Two batches per call: the step's calls are the steps (Lightning: global_step 32 of 64
    batches with automatic optimization; the count of fetched batches is 64 either way)."""

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = automatic_optimization
            self.count = 0

        def training_step(self, dataloader_iter):
            first, _, _ = next(dataloader_iter)
            second, batch_idx, _ = next(dataloader_iter)
            self.count = batch_idx + 1
            loss = super().training_step(first, 0)["loss"] + 0 * second.sum()
            if self.automatic_optimization:
                return loss
            opt = self.optimizers()
            self.manual_backward(loss)
            opt.step()
            opt.zero_grad()
            return None

        def train_dataloader(self):
            return DataLoader(torch.randn(64, 32), batch_size=1)

    model = TestModel()
    trainer = _trainer(tmp_path, limit_val_batches=0)
    trainer.fit(model)
    assert model.count == 64
    assert trainer.global_step == 32


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_fetching_dataloader_iter_running_stages(fn, tmp_path):
    """Every stage's step can take the iterator; the batches it fetched are all there."""
    seen = []

    class TestModel(BoringModel):
        def _fetch(self, dataloader_iter):
            batch, batch_idx, dataloader_idx = next(dataloader_iter)
            seen.append((batch_idx, dataloader_idx))
            return self.layer(batch).sum()

        def validation_step(self, dataloader_iter):
            return self._fetch(dataloader_iter)

        def test_step(self, dataloader_iter):
            return self._fetch(dataloader_iter)

        def predict_step(self, dataloader_iter):
            return self._fetch(dataloader_iter)

    trainer = _trainer(tmp_path, limit_val_batches=3, limit_test_batches=3, limit_predict_batches=3)
    if fn == "predict":
        assert len(trainer.predict(TestModel(), DataLoader(torch.randn(8, 32), batch_size=1))) == 3
    else:
        getattr(trainer, fn)(TestModel(), verbose=False)
    assert seen == [(0, 0), (1, 0), (2, 0)]


@pytest.mark.parametrize("iterable", [False, True])
def test_done_dataloader_iter(iterable, tmp_path):
    """The hooks get the latest batch fetched: ``on_train_batch_start`` the one before the
    call (None and 0 at an epoch's first), ``on_train_batch_end`` the step's; a loader without
    a length ends at the call whose ``next()`` raises, which neither steps nor validates."""
    model = Recorder(n=3, iterable=iterable)
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    calls = [
        ("start", None, 0),
        ("step", [(0.0, 0, 0)]),
        ("end", 0.0, 0),
        ("start", 0.0, 0),
        ("step", [(1.0, 1, 0)]),
        ("end", 1.0, 1),
        ("start", 1.0, 1),
        ("step", [(2.0, 2, 0)]),
        ("end", 2.0, 2),
    ]
    # Lightning 2.6.6: with a length, validation after the third call; without one, a fourth
    # call starts (("start", 2.0, 2)), its next() raises, and the epoch ends unvalidated
    calls += [("start", 2.0, 2)] if iterable else [("validation",)]
    assert model.calls == calls
    assert trainer.global_step == 3


def test_two_batches_per_call_hooks_and_steps(tmp_path):
    # Lightning 2.6.6, 6 batches, 2 per call, max_epochs=1: global_step 3, validation once
    model = Recorder(per=2)
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    assert model.calls == [
        ("start", None, 0),
        ("step", [(0.0, 0, 0), (1.0, 1, 0)]),
        ("end", 1.0, 1),
        ("start", 1.0, 1),
        ("step", [(2.0, 2, 0), (3.0, 3, 0)]),
        ("end", 3.0, 3),
        ("start", 3.0, 3),
        ("step", [(4.0, 4, 0), (5.0, 5, 0)]),
        ("end", 5.0, 5),
        ("validation",),
    ]
    assert trainer.global_step == 3


def test_step_reading_past_the_end(tmp_path):
    # Lightning 2.6.6, 5 batches, 3 per call: the second call's third next() raises; that
    # call takes no optimizer step and has no batch end nor validation (global_step 1)
    model = Recorder(per=3, n=5)
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    assert model.calls == [
        ("start", None, 0),
        ("step", [(0.0, 0, 0), (1.0, 1, 0), (2.0, 2, 0)]),
        ("end", 2.0, 2),
        ("start", 2.0, 2),
    ]
    assert trainer.global_step == 1


def test_manual_optimization_swallows_the_end(tmp_path):
    # Lightning 2.6.6 (manual optimization suppresses StopIteration): 5 batches, 4 per call;
    # the second call ends with the fifth batch and its batch end, then validation
    model = Recorder(per=4, n=5)
    model.automatic_optimization = False
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    assert model.calls == [
        ("start", None, 0),
        ("step", [(0.0, 0, 0), (1.0, 1, 0), (2.0, 2, 0), (3.0, 3, 0)]),
        ("end", 3.0, 3),
        ("start", 3.0, 3),
        ("end", 4.0, 4),
        ("validation",),
    ]


@pytest.mark.parametrize(
    ("kwargs", "global_step", "starts"),
    [
        ({"limit_train_batches": 3}, 3, 3),  # Lightning 2.6.6: 3 calls, global_step 3
        ({"max_steps": 4}, 4, 4),  # 4 calls, global_step 4
        ({"accumulate_grad_batches": 4}, 2, 6),  # 6 calls, steps at calls 4 and 6
    ],
)
def test_limits_apply(tmp_path, kwargs, global_step, starts):
    model = Recorder()
    trainer = _trainer(tmp_path, **kwargs)
    trainer.fit(model)
    assert trainer.global_step == global_step
    assert sum(c[0] == "start" for c in model.calls) == starts


def test_val_check_interval_counts_calls(tmp_path):
    # Lightning 2.6.6, val_check_interval=2, 6 batches one per call: validation after calls
    # 2, 4 and 6
    model = Recorder()
    trainer = _trainer(tmp_path, val_check_interval=2)
    trainer.fit(model)
    ends = [c for c in model.calls if c[0] in ("end", "validation")]
    assert [c[0] for c in ends] == ["end", "end", "validation"] * 3


def test_evaluation_spans_loaders(tmp_path):
    # Lightning 2.6.6: one iterator over both test loaders (limit_test_batches=3, 2 per call);
    # the hooks get the latest batch fetched and its loader
    calls = []

    class TestModel(treadle.Module):
        def test_step(self, dataloader_iter):
            got = [next(dataloader_iter)[1:] for _ in range(2)]
            calls.append(("step", got))

        def on_test_batch_start(self, batch, batch_idx, dataloader_idx=0):
            calls.append(("start", None if batch is None else batch[0, 0].item(), batch_idx))

        def on_test_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0):
            calls.append(("end", batch[0, 0].item(), batch_idx, dataloader_idx))

    loaders = [DataLoader(_data(4), batch_size=1), DataLoader(_data(3, 10), batch_size=1)]
    _trainer(tmp_path, limit_test_batches=3).test(TestModel(), loaders, verbose=False)
    assert calls == [
        ("start", None, 0),
        ("step", [(0, 0), (1, 0)]),
        ("end", 1.0, 1, 0),
        ("start", 1.0, 1),
        ("step", [(2, 0), (0, 1)]),
        ("end", 10.0, 0, 1),
        ("start", 10.0, 0),
        ("step", [(1, 1), (2, 1)]),
        ("end", 12.0, 2, 1),
    ]


def test_lightning_warnings_once_per_run(tmp_path):
    """Lightning 2.6.6's two warnings: the step flavor's limits (PossibleUserWarning, at each
    entry point) and the loop's "experimental" note (once per run, not per epoch)."""
    import warnings

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _trainer(tmp_path, max_epochs=2).fit(Recorder())
    messages = [str(w.message) for w in record]
    dragons = [m for m in messages if m.endswith("Here be dragons.")]
    found = [m for m in messages if m.startswith("Found `dataloader_iter` argument")]
    assert len(dragons) == 1 and "`dataloader_iter` step flavor" in dragons[0], messages
    assert found == [
        "Found `dataloader_iter` argument in the `training_step`. Note that the support for "
        "this signature is experimental and the behavior is subject to change."
    ], messages
    assert any(
        w.category is treadle.utilities.PossibleUserWarning and w.filename == __file__
        for w in record
        if str(w.message).endswith("Here be dragons.")
    ), [(w.category, w.filename) for w in record]


def test_log_in_a_dataloader_iter_training_step_needs_batch_size(tmp_path):
    """Ported from ``test_fetchers.py::test_fetching_dataloader_iter_opt`` (automatic
    optimization): the batch is fetched by the step, so ``self.log`` without ``batch_size``
    is refused there (Lightning's MisconfigurationException), and with it logs."""
    from treadle.utilities import MisconfigurationException

    class Logging(Recorder):
        def training_step(self, dataloader_iter):
            loss = super().training_step(dataloader_iter)
            with pytest.raises(MisconfigurationException, match=r"self.log\(\.\.\., batch_size"):
                self.log("train_loss", loss)
            self.log("train_loss", loss, batch_size=1)
            return loss

    model = Logging()
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    assert len([c for c in model.calls if c[0] == "step"]) == model.n
    assert "train_loss" in trainer.callback_metrics
