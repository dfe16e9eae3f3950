"""docs/hooks.md's test() and predict() orders are Lightning's (tests/_lightning_hook_order.py).

The loops themselves are pinned by the hook-order tests of the core; this checks the documented
contract against Lightning's own expected call lists, translated into treadle's hooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _lightning_hook_order import (
    ANY,
    DEVICE,
    MODEL,
    TRAINER,
    bind,
    eval_expected,
    fit_expected,
    predict_expected,
    to_treadle_hooks,
)

DOC = (Path(__file__).resolve().parents[1] / "docs" / "hooks.md").read_text()
# treadle's own set-up hooks, which Lightning does not have
TREADLE_SETUP = {"setup_environment", "convert_module", "setup_module", "setup_dataloader"}


def _block_after(marker: str) -> list:
    start = DOC.index("```\n", DOC.index(marker)) + 4
    return DOC[start : DOC.index("```", start)].strip().splitlines()


@pytest.mark.parametrize(
    ("marker", "lightning"),
    [
        ("`test()` with one test batch:", eval_expected("test", batches=1)),
        ("`predict()` with one batch:", predict_expected(batches=1)),
    ],
    ids=["test", "predict"],
)
def test_documented_order_is_lightnings(marker, lightning):
    documented = _block_after(marker)
    assert [h for h in documented if h not in TREADLE_SETUP] == to_treadle_hooks(lightning)


def test_the_translation_keeps_one_call_per_hook_and_drops_lightning_machinery():
    assert to_treadle_hooks(eval_expected("validate", batches=1)) == [
        "setup",
        "on_validation_model_eval",
        "on_validation_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "on_validation_batch_start",
        "run_validation_step",
        "on_validation_batch_end",
        "on_validation_epoch_end",
        "on_validation_end",
        "on_validation_model_train",
        "teardown",
    ]
    assert to_treadle_hooks(eval_expected("test", batches=0)) == ["setup", "teardown"]
    fit = to_treadle_hooks(fit_expected(train_batches=1, val_batches=1))
    assert fit.count("on_validation_model_eval") == 2  # the sanity check and the epoch's
    assert "scheduler_step" in fit and "lr_scheduler_step" not in fit
    assert "on_sanity_check_start" in fit and "state_dict" not in fit


def test_bind_puts_the_runs_objects_in_place_of_the_placeholders():
    trainer, model, device = object(), object(), "cpu"
    calls = bind(predict_expected(batches=1), trainer, model, device)
    assert calls[2] == {
        "name": "Callback.setup",
        "args": (trainer, model),
        "kwargs": {"stage": "predict"},
    }
    transfer = next(c for c in calls if c["name"] == "transfer_batch_to_device")
    assert transfer["args"] == ("any batch", "cpu", 0)  # ANY matches the batch
    assert TRAINER not in calls[2]["args"] and object() == ANY and DEVICE != "cpu"
    assert model != MODEL
