"""ModelCheckpoint as Lightning's: triggers, save_last, versions, state; non-finite scores and
weights; ``ckpt_path="last"``/``"best"``. Real runs, real files in ``tmp_path``.

The tests marked "Lightning's" port the behaviour of tests of the same name in
``tests/tests_pytorch/checkpointing/test_model_checkpoint.py`` of Lightning-AI/pytorch-lightning
(Apache-2.0, Copyright The Lightning AI team); the others are our own.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from datetime import timedelta

import pytest
import torch
import yaml
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import ModelCheckpoint

NAN, INF = float("nan"), float("inf")


def fit(tmp_path, callback, model=None, ckpt_path=None, **kwargs):
    callbacks = [callback] if not isinstance(callback, list) else callback
    args = quiet(tmp_path, callbacks=callbacks, num_sanity_val_steps=0, **kwargs)
    trainer = treadle.Trainer(**args)
    trainer.fit(model or BoringModel(), ckpt_path=ckpt_path)
    return trainer


def names(directory):
    return sorted(os.listdir(directory))


def load(path):
    return torch.load(path, weights_only=True)


class Scores(BoringModel):
    """Logs ``score`` = ``scores[epoch]`` after each validation epoch (the last score in a
    ``validate()`` after ``fit()``: its ``current_epoch`` is the fit's end, as Lightning's)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def on_validation_epoch_end(self):
        self.log("score", self.scores[min(self.current_epoch, len(self.scores) - 1)])


class Saves(treadle.Callback):
    """Counts the checkpoints written (``on_save_checkpoint`` runs once per file)."""

    def __init__(self):
        self.count = 0

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self.count += 1


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"save_top_k": -3},
            "ModelCheckpoint(save_top_k=-3): invalid value. Must be >= -1 (-1 keeps every "
            "checkpoint, 0 none).",
        ),
        (
            {"every_n_train_steps": -1},
            "ModelCheckpoint(every_n_train_steps=-1): invalid value. Must be >= 0 (0 saves no checkpoint "
            "during the epoch).",
        ),
        (
            {"every_n_train_steps": 1, "every_n_epochs": 2},
            "ModelCheckpoint: Combination of parameters every_n_train_steps=1, every_n_epochs=2 "
            "and train_time_interval=None should be mutually exclusive. Give one; for several "
            "triggers, use one ModelCheckpoint per trigger.",
        ),
        (
            {"train_time_interval": timedelta(minutes=1), "every_n_epochs": 2},
            "ModelCheckpoint: Combination of parameters every_n_train_steps=0, every_n_epochs=2 "
            "and train_time_interval=0:01:00 should be mutually exclusive.",
        ),
        (
            {"train_time_interval": timedelta(minutes=1), "every_n_train_steps": 2},
            "Combination of parameters every_n_train_steps=2, every_n_epochs=0 and "
            "train_time_interval=0:01:00 should be mutually exclusive.",
        ),
        (
            {"save_top_k": 3},
            "ModelCheckpoint(save_top_k=3, monitor=None) is not a valid configuration: no "
            "quantity for top_k to track. Pass `monitor=` a logged metric, or save_top_k=-1 "
            "(all), 0 or 1 (the latest).",
        ),
        (
            {"save_last": "yes"},
            "ModelCheckpoint(save_last='yes'): use True (a last.ckpt file), 'link' (a symlink "
            "to the latest checkpoint) or False.",
        ),
        (
            {"mode": "unknown_option"},
            "ModelCheckpoint(mode='unknown_option'): `mode` can be 'min' or 'max' but got "
            "unknown_option.",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    """Lightning's test_invalid_top_k, test_invalid_every_n_train_steps,
    test_invalid_trigger_combination, test_none_monitor_top_k, test_model_checkpoint_mode_options."""
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelCheckpoint(**kwargs)


def test_train_time_interval_needs_a_timedelta():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "ModelCheckpoint(train_time_interval=60): needs a datetime.timedelta, e.g. "
            "timedelta(minutes=30)."
        ),
    ):
        ModelCheckpoint(train_time_interval=60)


def test_valid_trigger_combinations(tmp_path):
    """Lightning's test_invalid_trigger_combination (the ones that must not fail) and
    test_none_every_n_train_steps_val_epochs."""
    ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=0, every_n_epochs=3)
    ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=4, every_n_epochs=0)
    ModelCheckpoint(train_time_interval=timedelta(minutes=1), every_n_epochs=0)
    for top_k in (-1, 0, 1):
        ModelCheckpoint(save_top_k=top_k)
    default = ModelCheckpoint(dirpath=tmp_path)
    assert (default.every_n_epochs, default.every_n_train_steps) == (1, 0)
    steps = ModelCheckpoint(every_n_train_steps=5)
    assert (steps.every_n_epochs, steps.every_n_train_steps) == (0, 5)


def test_state_key_holds_the_real_triggers():
    assert ModelCheckpoint(monitor="val_loss", every_n_train_steps=4).state_key == (
        "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 4, "
        "'every_n_epochs': 0, 'train_time_interval': None}"
    )
    assert ModelCheckpoint(train_time_interval=timedelta(seconds=30)).state_key == (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, "
        "'every_n_epochs': 0, 'train_time_interval': datetime.timedelta(seconds=30)}"
    )
    assert ModelCheckpoint.CHECKPOINT_NAME_LAST == "last"
    assert ModelCheckpoint.STARTING_VERSION == 1


# -- triggers --------------------------------------------------------------------------------


def test_ckpt_every_n_train_steps(tmp_path):
    """Lightning's test_ckpt_every_n_train_steps: 8 steps an epoch, 2 epochs, every 3 steps."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, filename="{step}", every_n_train_steps=3, save_top_k=-1
    )
    fit(tmp_path, callback, max_epochs=2)
    assert names(tmp_path) == sorted(f"step={s}.ckpt" for s in (3, 6, 9, 12, 15))
    for step in (3, 9):  # saved at that batch's end, mid-epoch
        saved = load(tmp_path / f"step={step}.ckpt")
        assert saved["global_step"] == step
        assert saved["loops"]["fit"]["batches_done"] == step % 8


@pytest.mark.parametrize("every_n_epochs", [0, 1, 2, 3])
def test_model_checkpoint_every_n_epochs(tmp_path, every_n_epochs):
    """Lightning's test_model_checkpoint_every_n_epochs."""
    callback = ModelCheckpoint(
        dirpath=tmp_path / "ck", filename="{epoch}", save_top_k=-1, every_n_epochs=every_n_epochs
    )
    fit(tmp_path, callback, max_epochs=5, limit_train_batches=1, limit_val_batches=1)
    expected = (
        [f"epoch={e}.ckpt" for e in range(5) if not (e + 1) % every_n_epochs]
        if every_n_epochs
        else []
    )
    assert (names(tmp_path / "ck") if (tmp_path / "ck").exists() else []) == sorted(expected)


class Sleepy(treadle.Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(self.seconds)


def test_train_time_interval(tmp_path):
    """Lightning's test_model_checkpoint_train_time_interval, on a real clock: 6 batches of at
    least 0.15 s, a save every 0.4 s: two or three saves (at batches 3 and 6 on an idle
    machine), each a real mid-epoch checkpoint, none at the epoch's end."""
    callback = ModelCheckpoint(
        dirpath=tmp_path / "ck",
        filename="{step}",
        train_time_interval=timedelta(seconds=0.4),
        save_top_k=-1,
    )
    # Sleepy runs before the checkpoint callback (checkpoint callbacks run last)
    fit(tmp_path, [callback, Sleepy(0.15)], max_epochs=1, limit_train_batches=6)
    saved = names(tmp_path / "ck")
    steps = sorted(int(re.match(r"step=(\d+)\.ckpt", n).group(1)) for n in saved)
    assert 1 <= len(steps) <= 3, steps
    assert steps[0] >= 2  # 0.15 s a batch: not before 0.4 s had passed
    for step in steps:
        assert load(tmp_path / "ck" / f"step={step}.ckpt")["global_step"] == step


def test_train_time_interval_not_reached_saves_nothing(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path / "ck", train_time_interval=timedelta(hours=1))
    fit(tmp_path, callback, max_epochs=2)
    assert not (tmp_path / "ck").exists()


def test_val_check_interval_checkpoint_files(tmp_path):
    """Lightning's test_val_check_interval_checkpoint_files: validation four times an epoch,
    a save after each."""
    callback = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, monitor="step", mode="max")
    fit(tmp_path, callback, max_epochs=1, val_check_interval=0.25, limit_val_batches=1)
    assert names(tmp_path) == [f"epoch=0-step={s}.ckpt" for s in (2, 4, 6, 8)]


@pytest.mark.parametrize(
    ("limit_val_batches", "val_check_interval", "save_on_train_epoch_end", "scheduler_epochs"),
    [
        # Lightning's rule (None): at the training epoch's end, unless validation runs more
        # than once an epoch (or not every epoch): then after each validation, the last one
        # before the epoch's end. Either way the epoch's scheduler has stepped (Lightning 2.6.6
        # steps it in the epoch's last batch, before that validation: last_epoch 1 in both).
        (0, None, None, 1),
        (1, None, None, 1),
        (1, 0.5, None, 1),
        (1, None, False, 1),
        (1, 0.5, True, 1),
        (0, None, False, None),  # forced to validation's end, and there is none: no save
    ],
)
def test_save_on_train_epoch_end(
    tmp_path, limit_val_batches, val_check_interval, save_on_train_epoch_end, scheduler_epochs
):
    callback = ModelCheckpoint(
        dirpath=tmp_path / "ck", save_on_train_epoch_end=save_on_train_epoch_end
    )
    fit(
        tmp_path,
        callback,
        max_epochs=1,
        limit_val_batches=limit_val_batches,
        val_check_interval=val_check_interval,
    )
    if scheduler_epochs is None:
        assert callback.best_model_path == "" and not (tmp_path / "ck").exists()
        return
    assert names(tmp_path / "ck") == ["epoch=0-step=8.ckpt"]
    saved = load(callback.best_model_path)
    assert saved["lr_schedulers"][0]["last_epoch"] == scheduler_epochs


def test_check_val_every_n_epochs_top_k_integration(tmp_path):
    """Lightning's test_check_val_every_n_epochs_top_k_integration."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="epoch", save_top_k=-1, filename="{epoch}")
    fit(
        tmp_path,
        callback,
        max_epochs=5,
        limit_train_batches=1,
        limit_val_batches=1,
        check_val_every_n_epoch=2,
    )
    assert names(tmp_path) == ["epoch=1.ckpt", "epoch=3.ckpt"]


# -- what is kept ----------------------------------------------------------------------------


def test_model_checkpoint_save_last_none_monitor(tmp_path):
    """Lightning's test_model_checkpoint_save_last_none_monitor."""
    callback = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, save_last=True)
    fit(tmp_path, callback, max_epochs=2, limit_val_batches=1)
    assert callback.best_model_path == str(tmp_path / "epoch=1-step=16.ckpt")
    assert callback.last_model_path == str(tmp_path / "last.ckpt")
    assert callback.best_model_score is None
    assert callback.best_k_models == {}
    assert callback.kth_best_model_path == ""
    assert names(tmp_path) == ["epoch=0-step=8.ckpt", "epoch=1-step=16.ckpt", "last.ckpt"]


def test_model_checkpoint_topk_zero(tmp_path):
    """Lightning's test_model_checkpoint_topk_zero."""
    callback = ModelCheckpoint(dirpath=tmp_path, save_top_k=0, save_last=True)
    fit(tmp_path, callback, max_epochs=2)
    assert callback.best_model_path == "" and callback.best_model_score is None
    assert callback.best_k_models == {} and callback.kth_best_model_path == ""
    assert names(tmp_path) == ["last.ckpt"]
    assert callback.last_model_path == str(tmp_path / "last.ckpt")


def test_model_checkpoint_topk_all(tmp_path):
    """Lightning's test_model_checkpoint_topk_all: ``monitor="epoch"``."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, filename="{epoch}", monitor="epoch", mode="max", save_top_k=-1
    )
    fit(tmp_path, callback, max_epochs=3, limit_train_batches=2, limit_val_batches=1)
    assert callback.best_model_path == str(tmp_path / "epoch=2.ckpt")
    assert callback.best_model_score == 2
    assert isinstance(callback.best_model_score, torch.Tensor)  # as Lightning
    assert set(callback.best_k_models) == {str(tmp_path / f"epoch={i}.ckpt") for i in range(3)}
    assert callback.kth_best_model_path == str(tmp_path / "epoch=0.ckpt")
    assert len(names(tmp_path)) == 3


def test_model_checkpoint_save_last_with_a_template(tmp_path):
    """Lightning's test_model_checkpoint_save_last: ``CHECKPOINT_NAME_LAST = "last-{epoch}"``
    leaves one last file, the latest."""

    class EpochLast(ModelCheckpoint):
        CHECKPOINT_NAME_LAST = "last-{epoch}"

    callback = EpochLast(
        dirpath=tmp_path, monitor="step", mode="max", save_top_k=-1, save_last=True
    )
    fit(tmp_path, callback, max_epochs=3, limit_train_batches=2, limit_val_batches=1)
    assert callback.last_model_path == str(tmp_path / "last-epoch=2.ckpt")
    assert names(tmp_path) == sorted(
        [f"epoch={i}-step={2 * (i + 1)}.ckpt" for i in range(3)] + ["last-epoch=2.ckpt"]
    )


def test_model_checkpoint_file_extension(tmp_path):
    """Lightning's test_model_checkpoint_file_extension."""

    class Tpkc(ModelCheckpoint):
        FILE_EXTENSION = ".tpkc"

    fit(tmp_path, Tpkc(dirpath=tmp_path / "ck", save_last=True), max_steps=1)
    assert names(tmp_path / "ck") == ["epoch=0-step=1.tpkc", "last.tpkc"]


def test_save_last_link_is_a_symlink_to_the_latest_checkpoint(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, save_last="link")
    fit(tmp_path, callback, max_epochs=3, limit_train_batches=2)
    last = tmp_path / "last.ckpt"
    assert names(tmp_path) == ["epoch=2-step=6.ckpt", "last.ckpt"]
    assert last.is_symlink()
    assert os.path.realpath(last) == str(tmp_path / "epoch=2-step=6.ckpt")
    assert os.readlink(last) == "epoch=2-step=6.ckpt"  # relative: the folder can move
    assert load(last)["global_step"] == 6
    assert callback.last_model_path == str(last)


def test_save_last_link_without_top_k_saves_a_file(tmp_path):
    """As Lightning: with save_top_k=0 there is nothing to link to; last.ckpt is a file."""
    fit(tmp_path, ModelCheckpoint(dirpath=tmp_path, save_top_k=0, save_last="link"), max_epochs=1)
    assert names(tmp_path) == ["last.ckpt"] and not (tmp_path / "last.ckpt").is_symlink()


def test_save_weights_only(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, save_weights_only=True, save_last=True)
    fit(tmp_path, callback, max_epochs=1)
    for path in (callback.best_model_path, callback.last_model_path):
        saved = load(path)
        assert "state_dict" in saved
        assert "optimizer_states" not in saved and "loops" not in saved


class _SavesCool(BoringModel):
    def on_save_checkpoint(self, checkpoint):
        checkpoint["cool"] = {"epoch": self.current_epoch}


class _CallbackSaves(treadle.Callback):
    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["callback_cool"] = 1


def test_save_weights_only_calls_the_modules_on_save_checkpoint_only(tmp_path):
    """As Lightning's dump_checkpoint(weights_only=True): the LightningModule's
    on_save_checkpoint still adds its entries, the callbacks' hooks are not called
    (checkpointing_advanced docs page, doc_checkpointing_intermediate program)."""
    callback = ModelCheckpoint(dirpath=tmp_path / "w", save_weights_only=True)
    trainer = fit(tmp_path, [callback, _CallbackSaves()], model=_SavesCool(), max_epochs=1)
    saved = load(callback.best_model_path)
    assert saved["cool"] == {"epoch": 0} and "callback_cool" not in saved
    trainer.save_checkpoint(tmp_path / "full.ckpt")
    full = load(tmp_path / "full.ckpt")
    assert full["cool"] == {"epoch": 1} and full["callback_cool"] == 1
    trainer.save_checkpoint(tmp_path / "weights.ckpt", weights_only=True)
    weights = load(tmp_path / "weights.ckpt")
    assert weights["cool"] == {"epoch": 1} and "callback_cool" not in weights


def test_ckpt_version_after_rerun_new_trainer(tmp_path):
    """Lightning's test_ckpt_version_after_rerun_new_trainer."""
    for i in range(2):
        callback = ModelCheckpoint(
            dirpath=tmp_path / "ck", save_top_k=-1, monitor="epoch", filename="{epoch}"
        )
        fit(tmp_path, callback, max_epochs=2, limit_train_batches=1, limit_val_batches=1)
        expected = {"epoch=0-v1.ckpt", "epoch=1-v1.ckpt"} if i else {"epoch=0.ckpt", "epoch=1.ckpt"}
        assert {os.path.basename(p) for p in callback.best_k_models} == expected
    assert set(names(tmp_path / "ck")) == {
        "epoch=0.ckpt",
        "epoch=1.ckpt",
        "epoch=0-v1.ckpt",
        "epoch=1-v1.ckpt",
    }


def test_without_version_counter_files_are_overwritten(tmp_path):
    for _ in range(2):
        callback = ModelCheckpoint(
            dirpath=tmp_path / "ck",
            save_top_k=-1,
            monitor="epoch",
            filename="{epoch}",
            enable_version_counter=False,
        )
        fit(tmp_path, callback, max_epochs=2, limit_train_batches=1, limit_val_batches=1)
    assert names(tmp_path / "ck") == ["epoch=0.ckpt", "epoch=1.ckpt"]


def test_missing_monitor_after_validation_is_an_error(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss")
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "`ModelCheckpoint(monitor='val_loss')` could not find the monitored key in the "
            "returned metrics: ['epoch', 'step']. HINT: Did you call `self.log('val_loss', "
            "value)` in the Module?"
        ),
    ):
        fit(tmp_path, callback, max_epochs=1, limit_val_batches=1)


def test_missing_monitor_before_any_validation_waits_for_it(tmp_path):
    """As Lightning 2.6.6 (checked): a step save of a key not logged yet waits for validation;
    with none it saves nothing and says nothing."""
    callback = ModelCheckpoint(dirpath=tmp_path / "ck", monitor="val_loss", every_n_train_steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(tmp_path, callback, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    assert callback.best_model_path == ""
    assert not (tmp_path / "ck").exists()


def test_verbose_logs_the_ranking(tmp_path, caplog):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", verbose=True)
    with caplog.at_level("INFO", logger="treadle_plugins.checkpointing"):
        fit(tmp_path, callback, Scores([2.0, 3.0]), max_epochs=2, limit_val_batches=1)
    assert "Epoch 0, global step 8: 'score' reached 2.00000 (best 2.00000)" in caplog.text
    assert "Epoch 1, global step 16: 'score' was not in top 1" in caplog.text


# -- non-finite scores -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["min", "max"])
def test_checkpointing_with_nan_as_first(tmp_path, mode):
    """Lightning's test_checkpointing_with_nan_as_first: a NaN first score, then finite ones:
    each is saved, the best is the last."""
    scores = [NAN] + ([5.0, 7.0, 8.0] if mode == "max" else [8.0, 7.0, 5.0])
    saves = Saves()
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", mode=mode)
    fit(tmp_path, [callback, saves], Scores(scores), max_epochs=4, limit_val_batches=1)
    assert saves.count == 4
    assert callback.best_model_score == (8.0 if mode == "max" else 5.0)
    assert names(tmp_path) == ["epoch=3-step=32.ckpt"]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_current_score_when_nan(tmp_path, mode):
    """Lightning's test_current_score_when_nan."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", mode=mode)
    fit(tmp_path, callback, Scores([NAN]), max_epochs=1, limit_val_batches=1)
    expected = INF if mode == "min" else -INF
    assert callback.best_model_score == expected and callback.current_score == expected


@pytest.mark.parametrize("mode", ["min", "max"])
def test_top_1_saves_again_after_a_nan(tmp_path, mode):
    sign = 1.0 if mode == "min" else -1.0
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", mode=mode, filename="{epoch}")
    model = Scores([NAN, 3.0 * sign, NAN, 2.0 * sign, NAN, 1.0 * sign])
    fit(tmp_path, callback, model, max_epochs=6, limit_train_batches=1, limit_val_batches=1)
    assert names(tmp_path) == ["epoch=5.ckpt"]
    assert callback.best_model_score == 1.0 * sign


class ListFiles(treadle.Callback):
    """The checkpoint folder after each epoch's saves (at the next epoch's start, and the end)."""

    def __init__(self, folder):
        self.folder, self.seen = folder, []

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch:
            self.seen.append(names(self.folder))

    def on_train_end(self, trainer, pl_module):
        self.seen.append(names(self.folder))


def test_top_2_never_deletes_better_files_for_a_nan(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=2, filename="{epoch}")
    listing = ListFiles(tmp_path)
    model = Scores([NAN, 1.0, 2.0, NAN, 0.5, INF, 3.0])
    fit(
        tmp_path,
        [callback, listing],
        model,
        max_epochs=7,
        limit_train_batches=1,
        limit_val_batches=1,
    )
    assert listing.seen == [
        ["epoch=0.ckpt"],  # a free slot: kept, as the worst
        ["epoch=0.ckpt", "epoch=1.ckpt"],
        ["epoch=1.ckpt", "epoch=2.ckpt"],  # the NaN one goes first
        ["epoch=1.ckpt", "epoch=2.ckpt"],  # NaN: nothing displaced
        ["epoch=1.ckpt", "epoch=4.ckpt"],
        ["epoch=1.ckpt", "epoch=4.ckpt"],  # inf: the worst too
        ["epoch=1.ckpt", "epoch=4.ckpt"],
    ]
    assert callback.best_model_path == str(tmp_path / "epoch=4.ckpt")
    assert callback.kth_best_model_path == str(tmp_path / "epoch=1.ckpt")
    assert callback.best_model_score == 0.5 and callback.kth_value == 1.0


def test_non_finite_scores_fill_free_slots_as_the_worst(tmp_path):
    """Fewer than save_top_k kept: a NaN is kept (as Lightning), ranked worst, and is the first
    to go."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, monitor="score", mode="max", save_top_k=2, filename="{epoch}"
    )
    model = Scores([NAN, 1.0, 2.0])
    fit(tmp_path, callback, model, max_epochs=3, limit_train_batches=1, limit_val_batches=1)
    assert names(tmp_path) == ["epoch=1.ckpt", "epoch=2.ckpt"]
    assert callback.best_model_score == 2.0 and callback.kth_value == 1.0


# -- non-finite weights ----------------------------------------------------------------------


class NaNFrom(BoringModel):
    """The weights become NaN at the start of epoch ``epoch`` (as after a NaN loss under
    32-true); ``score`` keeps improving, as a metric that does not read the weights would."""

    def __init__(self, epoch):
        super().__init__()
        self.nan_epoch = epoch

    def on_train_epoch_start(self):
        if self.current_epoch == self.nan_epoch:
            with torch.no_grad():
                for p in self.parameters():
                    p.fill_(NAN)

    def on_validation_epoch_end(self):
        self.log("score", 10.0 - self.current_epoch)


def finite(path):
    return all(torch.isfinite(t).all() for t in load(path)["state_dict"].values())


def test_nan_weights_never_replace_the_only_good_checkpoint(tmp_path):
    """The default callback (latest, top 1) with save_last: the finite files stay, the NaN
    ones are written aside (only the latest kept), with a warning naming them."""
    callback = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    with pytest.warns(UserWarning) as record:
        fit(
            tmp_path, callback, NaNFrom(1), max_epochs=3, limit_train_batches=2, limit_val_batches=1
        )
    assert names(tmp_path) == [
        "epoch=0-step=2.ckpt",
        "epoch=2-step=6.nonfinite.ckpt",
        "last.ckpt",
        "last.nonfinite.ckpt",
    ]
    assert finite(tmp_path / "epoch=0-step=2.ckpt") and finite(tmp_path / "last.ckpt")
    assert not finite(tmp_path / "epoch=2-step=6.nonfinite.ckpt")
    assert load(tmp_path / "last.nonfinite.ckpt")["global_step"] == 6
    assert callback.best_model_path == str(tmp_path / "epoch=0-step=2.ckpt")
    assert callback.last_model_path == str(tmp_path / "last.ckpt")
    messages = [str(w.message) for w in record if "not finite" in str(w.message)]
    assert messages[-2] == (
        "ModelCheckpoint: the module's parameters are not finite (NaN or inf) at epoch 2, step "
        f"6. This checkpoint is {str(tmp_path / 'epoch=2-step=6.nonfinite.ckpt')!r}; it does "
        f"not replace {str(tmp_path / 'epoch=0-step=2.ckpt')!r}, which keeps finite weights. "
        "Find where the loss became non-finite (`Trainer(detect_anomaly=True)`)."
    )
    assert str(tmp_path / "last.nonfinite.ckpt") in messages[-1]


def test_nan_weights_never_displace_a_top_k_checkpoint(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", filename="{epoch}")
    with pytest.warns(UserWarning, match=re.escape("epoch=1.nonfinite.ckpt")):
        fit(
            tmp_path, callback, NaNFrom(1), max_epochs=2, limit_train_batches=1, limit_val_batches=1
        )
    assert names(tmp_path) == ["epoch=0.ckpt", "epoch=1.nonfinite.ckpt"]
    assert callback.best_model_path == str(tmp_path / "epoch=0.ckpt")
    assert callback.best_model_score == 10.0 and finite(callback.best_model_path)


def test_nan_weights_with_nothing_to_replace_are_saved_as_usual(tmp_path):
    """Only replacing or deleting is refused: with room in the top k, the file is written."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=-1, filename="{epoch}")
    fit(tmp_path, callback, NaNFrom(1), max_epochs=2, limit_train_batches=1, limit_val_batches=1)
    assert names(tmp_path) == ["epoch=0.ckpt", "epoch=1.ckpt"]
    assert not finite(tmp_path / "epoch=1.ckpt")


def test_nan_weights_keep_the_last_link(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=-1, save_last="link")
    with pytest.warns(UserWarning, match="not finite"):
        fit(
            tmp_path, callback, NaNFrom(1), max_epochs=2, limit_train_batches=1, limit_val_batches=1
        )
    assert os.readlink(tmp_path / "last.ckpt") == "epoch=0-step=1.ckpt"


# -- state -----------------------------------------------------------------------------------


def test_state_dict_round_trip(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=2, save_last=True)
    fit(
        tmp_path,
        callback,
        Scores([3.0, 1.0, 2.0]),
        max_epochs=3,
        limit_train_batches=1,
        limit_val_batches=1,
    )
    state = callback.state_dict()
    assert set(state) == {
        "monitor",
        "best_model_score",
        "best_model_path",
        "current_score",
        "dirpath",
        "best_k_models",
        "kth_best_model_path",
        "kth_value",
        "last_model_path",
    }
    assert state["dirpath"] == str(tmp_path) and state["monitor"] == "score"
    saved = load(callback.last_model_path)["callbacks"][callback.state_key]  # weights_only load
    assert saved["best_model_path"] == callback.best_model_path

    same = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=2)
    same.load_state_dict(state)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        assert getattr(same, key) == state[key]
    assert same.best_model_score == 1.0 and same.kth_value == 2.0
    assert same.best_k_models == state["best_k_models"]

    moved = ModelCheckpoint(dirpath=tmp_path / "elsewhere", monitor="score", save_top_k=2)
    with pytest.warns(
        UserWarning,
        match=re.escape(
            f"The dirpath has changed from {str(tmp_path)!r} to "
            f"{str(tmp_path / 'elsewhere')!r}, therefore `best_model_score`, "
            "`kth_best_model_path`, `kth_value`, `last_model_path` and `best_k_models` won't be "
            "reloaded. Only `best_model_path` will be reloaded."
        ),
    ):
        moved.load_state_dict(state)
    assert moved.best_model_path == state["best_model_path"]
    assert moved.best_k_models == {} and moved.best_model_score is None


def test_resumed_run_keeps_ranking(tmp_path):
    """The state restored from a checkpoint goes on ranking: a worse score after the resume
    does not displace the better file saved before it."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, monitor="score", filename="{epoch}", save_last=True
    )
    fit(
        tmp_path,
        callback,
        Scores([2.0, 1.0, 5.0]),
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=1,
    )
    resumed = ModelCheckpoint(dirpath=tmp_path, monitor="score", filename="{epoch}", save_last=True)
    fit(
        tmp_path,
        resumed,
        Scores([2.0, 1.0, 5.0]),
        ckpt_path="last",
        max_epochs=3,
        limit_train_batches=1,
        limit_val_batches=1,
    )
    assert resumed.best_model_path == str(tmp_path / "epoch=1.ckpt")
    assert names(tmp_path) == ["epoch=1.ckpt", "last.ckpt"]


@pytest.mark.parametrize("save_top_k", [-1, 0, 1, 2])
def test_model_checkpoint_to_yaml(tmp_path, save_top_k):
    """Lightning's test_model_checkpoint_to_yaml."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_top_k=save_top_k)
    fit(
        tmp_path,
        callback,
        Scores([3.0, 1.0]),
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=1,
    )
    path = tmp_path / "best_k_models.yaml"
    callback.to_yaml(path)
    with open(path) as f:
        assert yaml.safe_load(f) == {k: float(v) for k, v in callback.best_k_models.items()}


# -- ckpt_path="last" / "best" ---------------------------------------------------------------


class CountBatches(treadle.Callback):
    def __init__(self):
        self.batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches += 1


def test_ckpt_path_last_without_a_checkpoint_warns_and_trains_fresh(tmp_path):
    counter = CountBatches()
    callback = ModelCheckpoint(save_last=True)
    with pytest.warns(
        UserWarning,
        match=re.escape(
            '.fit(ckpt_path="last") is set, but there is no last checkpoint available. No '
            "checkpoint will be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)`"
        ),
    ):
        trainer = fit(tmp_path, [callback, counter], ckpt_path="last", max_epochs=1)
    assert trainer.ckpt_path is None
    assert counter.batches == 8 and trainer.global_step == 8
    assert callback.last_model_path == str(tmp_path / "checkpoints" / "last.ckpt")


def test_ckpt_path_last_resumes_the_same_job_script(tmp_path):
    """One script, run twice: the first run trains fresh, the second resumes its last.ckpt."""

    def job(max_epochs):
        counter = CountBatches()
        trainer = fit(
            tmp_path,
            [ModelCheckpoint(save_last=True), counter],
            ckpt_path="last",
            max_epochs=max_epochs,
        )
        return trainer, counter

    with pytest.warns(UserWarning, match="no last checkpoint available"):
        job(1)
    trainer, counter = job(2)
    assert trainer.ckpt_path == str(tmp_path / "checkpoints" / "last.ckpt")
    assert counter.batches == 8 and trainer.global_step == 16


def test_ckpt_path_last_after_a_requeue_with_a_new_logger_version(tmp_path):
    """A requeued job logs to version_1; "last" finds version_0's last.ckpt."""

    def job(max_epochs):
        counter = CountBatches()
        trainer = fit(
            tmp_path,
            [ModelCheckpoint(save_last=True), counter],
            ckpt_path="last",
            max_epochs=max_epochs,
            logger=True,
        )
        return trainer, counter

    with pytest.warns(UserWarning, match="no last checkpoint available"):
        first, _ = job(1)
    first_last = first.checkpoint_callback.last_model_path
    assert "version_0" in first_last
    second, counter = job(2)
    assert second.checkpoint_callback.dirpath.endswith(os.path.join("version_1", "checkpoints"))
    assert second.ckpt_path == first_last
    assert counter.batches == 8 and second.global_step == 16
    third, counter = job(3)  # version_2 resumes version_1's, the newest
    assert third.ckpt_path == second.checkpoint_callback.last_model_path
    assert counter.batches == 8 and third.global_step == 24


def test_ckpt_path_last_finds_a_save_checkpoint_file_without_a_callback(tmp_path):
    """The preemption contract: ``<default_root_dir>/checkpoints/last.ckpt`` written by
    ``trainer.save_checkpoint`` is found with no checkpoint callback."""
    trainer = fit(tmp_path, [], max_epochs=1)
    trainer.save_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    counter = CountBatches()
    resumed = fit(tmp_path, [counter], ckpt_path="last", max_epochs=2)
    assert resumed.ckpt_path == str(tmp_path / "checkpoints" / "last.ckpt")
    assert counter.batches == 8


def test_ckpt_path_last_takes_the_newest_and_skips_files_written_aside(tmp_path):
    folder = tmp_path / "checkpoints"
    trainer = fit(tmp_path, [], max_epochs=1)
    for name in ("last.ckpt", "last-v1.ckpt", "last.nonfinite.ckpt"):
        trainer.save_checkpoint(folder / name)
    now = time.time()
    os.utime(folder / "last.ckpt", (now - 20, now - 20))
    os.utime(folder / "last-v1.ckpt", (now - 10, now - 10))
    os.utime(folder / "last.nonfinite.ckpt", (now, now))
    resumed = fit(tmp_path, [], ckpt_path="last", max_epochs=1)
    assert resumed.ckpt_path == str(folder / "last-v1.ckpt")


def test_ckpt_path_best_loads_the_best(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path / "ck", monitor="score", save_top_k=2)
    model = Scores([3.0, 1.0, 2.0])
    trainer = fit(
        tmp_path, callback, model, max_epochs=3, limit_train_batches=1, limit_val_batches=1
    )
    trainer.validate(model, ckpt_path="best")
    assert trainer.ckpt_path == str(tmp_path / "ck" / "epoch=1-step=2.ckpt")
    best = load(trainer.ckpt_path)["state_dict"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, best[name])


def test_checkpoint_loads_without_executing_code(tmp_path):
    """Every file this callback writes (tensors as scores) loads with weights_only=True."""
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="score", save_last=True)
    fit(tmp_path, callback, Scores([1.0]), max_epochs=1, limit_val_batches=1)
    state = load(callback.best_model_path)["callbacks"][callback.state_key]
    assert math.isclose(float(state["best_model_score"]), 1.0)


def test_nan_weights_written_aside_keep_the_last_link(tmp_path):
    """Latest-only with a link: the NaN checkpoint goes aside (one warning) and last.ckpt
    still points at the finite one."""
    callback = ModelCheckpoint(dirpath=tmp_path, save_last="link")
    with pytest.warns(UserWarning) as record:
        fit(
            tmp_path, callback, NaNFrom(1), max_epochs=2, limit_train_batches=1, limit_val_batches=1
        )
    assert names(tmp_path) == ["epoch=0-step=1.ckpt", "epoch=1-step=2.nonfinite.ckpt", "last.ckpt"]
    assert os.readlink(tmp_path / "last.ckpt") == "epoch=0-step=1.ckpt"
    assert len([w for w in record if "not finite" in str(w.message)]) == 1


def test_the_file_resumed_from_is_never_removed(tmp_path):
    """As Lightning: the latest-only callback keeps the checkpoint the run resumed from."""
    first = ModelCheckpoint(dirpath=tmp_path)
    fit(tmp_path, first, max_epochs=1, limit_train_batches=2)
    resumed = ModelCheckpoint(dirpath=tmp_path)
    with pytest.warns(UserWarning, match="exists and is not empty"):
        trainer = fit(
            tmp_path, resumed, ckpt_path=first.best_model_path, max_epochs=2, limit_train_batches=2
        )
    assert trainer.ckpt_path == first.best_model_path
    assert names(tmp_path) == ["epoch=0-step=2.ckpt", "epoch=1-step=4.ckpt"]
    assert resumed.best_model_path == str(tmp_path / "epoch=1-step=4.ckpt")


def test_missing_monitor_is_a_configuration_error_with_a_close_suggestion(tmp_path):
    # A treadle.ConfigurationError (the command line exits 2 on it) and, as Lightning's, a
    # RuntimeError; a close name is suggested.
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_los")
    with pytest.raises(treadle.errors.MetricNotFoundError) as info:
        fit(tmp_path, callback, Scores([0.5]), max_epochs=1, limit_val_batches=1)
    assert isinstance(info.value, treadle.ConfigurationError)
    assert isinstance(info.value, RuntimeError)
    assert "Did you mean" not in str(info.value)  # 'val_los' is not close to 'score'/'epoch'/'step'
    callback = ModelCheckpoint(dirpath=tmp_path / "b", monitor="scor")
    with pytest.raises(
        treadle.errors.MetricNotFoundError, match=re.escape("Did you mean 'score'?")
    ):
        fit(tmp_path, callback, Scores([0.5]), max_epochs=1, limit_val_batches=1)


# -- step and time saves of a validation metric wait for validation ---------------------------


@pytest.mark.parametrize(
    "trigger", [{"every_n_train_steps": 2}, {"train_time_interval": timedelta(seconds=0)}]
)
def test_step_or_time_save_of_a_val_metric_waits_for_validation(tmp_path, trigger):
    """As Lightning (test_model_checkpoint_step_interval_val_metric.py): at the epoch's last
    batch the monitored value is the previous validation's (or not logged yet), so the save
    waits for the validation that follows and uses its fresh value."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, monitor="score", mode="max", every_n_epochs=0,
        save_on_train_epoch_end=False, **trigger,
    )  # fmt: skip
    fit(tmp_path, callback, Scores([0.1, 0.5, 1.0]), max_epochs=3, limit_train_batches=2,
        limit_val_batches=1)  # fmt: skip
    assert float(callback.best_model_score) == 1.0
    assert names(tmp_path) == ["epoch=2-step=6.ckpt"]


def test_deferred_save_carries_over_epochs_without_validation(tmp_path):
    """With validation every second epoch, the first epoch's step save waits for the first
    validation (the key is not logged before it); the third epoch's, with no validation after
    it, saves at once with the value it has: Lightning 2.6.6's files, checked."""
    callback = ModelCheckpoint(
        dirpath=tmp_path, monitor="score", mode="max", every_n_train_steps=2, every_n_epochs=0,
        save_top_k=-1,
    )  # fmt: skip
    fit(tmp_path, callback, Scores([0.3, 0.6, 0.1, 0.9]), max_epochs=4, limit_train_batches=2,
        limit_val_batches=1, check_val_every_n_epoch=2)  # fmt: skip
    assert names(tmp_path) == ["epoch=1-step=4.ckpt", "epoch=2-step=6.ckpt", "epoch=3-step=8.ckpt"]
    assert callback.best_model_score.item() == pytest.approx(0.9)


def test_step_save_of_a_train_metric_is_not_deferred(tmp_path):
    class TrainScore(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("train_score", float(self.global_step))
            return super().training_step(batch, batch_idx)

    callback = ModelCheckpoint(
        dirpath=tmp_path, monitor="train_score", mode="max", every_n_train_steps=1,
        every_n_epochs=0, save_top_k=-1,
    )  # fmt: skip
    fit(tmp_path, callback, TrainScore(), max_epochs=1, limit_train_batches=3, limit_val_batches=0)
    assert names(tmp_path) == [f"epoch=0-step={i}.ckpt" for i in (1, 2, 3)]


def test_default_checkpoint_behavior_calls_save_checkpoint_as_lightning(tmp_path):
    """Ported from tests/tests_pytorch/checkpointing/test_model_checkpoint.py::
    test_default_checkpoint_behavior: the default callback calls
    ``trainer.save_checkpoint(path, save_weights_only)`` with both arguments positional, so a
    program's ``patch.object(trainer, "save_checkpoint", wraps=...)`` sees Lightning's calls."""
    from unittest.mock import call, patch

    args = quiet(
        tmp_path,
        enable_checkpointing=True,
        max_epochs=3,
        limit_train_batches=5,
        limit_val_batches=5,
    )
    trainer = treadle.Trainer(**args)
    with patch.object(trainer, "save_checkpoint", wraps=trainer.save_checkpoint) as save_mock:
        trainer.fit(BoringModel())
    save_dir = tmp_path / "checkpoints"
    save_mock.assert_has_calls(
        [call(str(save_dir / f"epoch={e}-step={s}.ckpt"), False) for e, s in enumerate((5, 10, 15))]
    )
    assert names(save_dir) == ["epoch=2-step=15.ckpt"]
