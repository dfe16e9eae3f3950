"""Lightning 2's expected hook calls for fit, validate, test and predict, as data.

Ported from PyTorch Lightning's ``tests/tests_pytorch/models/test_hooks.py``
(``HookedModel._auto_train_batch``, ``_manual_train_batch``, ``_eval_epoch``, ``_eval_batch``,
``_predict_batch``, ``test_trainer_model_hook_system_fit``, ``..._eval``, ``..._predict``),
Copyright The Lightning AI team, Apache License 2.0
(https://github.com/Lightning-AI/pytorch-lightning). Its tests record every call to a
``LightningModule`` method (as ``"name"``) and to a ``Callback`` method (as
``"Callback.name"``), with positional arguments where they pin a value; the lists below keep
that form, so a treadle test recording the same calls can compare with them. ``ANY`` stands
for a value Lightning does not pin (a batch, an optimizer); ``TRAINER``, ``MODEL`` and
``DEVICE`` for the objects of the run, replaced with :func:`bind`.

:func:`to_treadle_hooks` turns a list into the treadle hook calls it corresponds to (one hook
call serves the ``Callback`` and the ``Module`` implementations; ``training_step`` runs inside
``run_training_step``; calls of Lightning machinery without a treadle hook are dropped).
"""

from __future__ import annotations

from typing import Any


class _Placeholder:
    def __init__(self, name: str, matches_anything: bool = False) -> None:
        self.name, self.matches_anything = name, matches_anything

    def __eq__(self, other: object) -> bool:
        return self.matches_anything or other is self

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return self.name


ANY = _Placeholder("ANY", matches_anything=True)
TRAINER, MODEL, DEVICE = _Placeholder("TRAINER"), _Placeholder("MODEL"), _Placeholder("DEVICE")
Call = dict[str, Any]  # {"name": ..., "args": (...), "kwargs": {...}} as Lightning records them


def _c(name: str, *args: Any, **kwargs: Any) -> Call:
    call: Call = {"name": name}
    if args:
        call["args"] = args
    if kwargs:
        call["kwargs"] = kwargs
    return call


def _transfer() -> list[Call]:
    return [
        _c("on_before_batch_transfer", ANY, 0),
        _c("transfer_batch_to_device", ANY, DEVICE, 0),
        _c("on_after_batch_transfer", ANY, 0),
    ]


def auto_train_batch(
    batches: int, num_training_batches: int, current_epoch: int = 0, current_batch: int = 0
) -> list[Call]:
    """One automatic-optimization batch per index (Lightning zero-grads after the step)."""
    out: list[Call] = []
    for i in range(current_batch, batches):
        out += [
            *_transfer(),
            _c("Callback.on_train_batch_start", TRAINER, MODEL, ANY, i),
            _c("on_train_batch_start", ANY, i),
            _c("forward", ANY),
            _c("training_step", ANY, i),
            _c("Callback.on_before_zero_grad", TRAINER, MODEL, ANY),
            _c("on_before_zero_grad", ANY),
            _c("optimizer_zero_grad", current_epoch, i, ANY),
            _c("Callback.on_before_backward", TRAINER, MODEL, ANY),
            _c("on_before_backward", ANY),
            _c("backward", ANY),
            _c("Callback.on_after_backward", TRAINER, MODEL),
            _c("on_after_backward"),
            _c("Callback.on_before_optimizer_step", TRAINER, MODEL, ANY),
            _c("on_before_optimizer_step", ANY),
            _c("clip_gradients", ANY, gradient_clip_val=None, gradient_clip_algorithm=None),
            _c(
                "configure_gradient_clipping",
                ANY,
                gradient_clip_val=None,
                gradient_clip_algorithm=None,
            ),
            # Lightning records LightningModule.optimizer_step after the closure ran in it
            _c("optimizer_step", current_epoch, i, ANY, ANY),
            *([_c("lr_scheduler_step", ANY, None)] if i == num_training_batches - 1 else []),
            _c("Callback.on_train_batch_end", TRAINER, MODEL, {"loss": ANY}, ANY, i),
            _c("on_train_batch_end", {"loss": ANY}, ANY, i),
        ]
    return out


def manual_train_batch(batches: int) -> list[Call]:
    """``training_step`` calls ``manual_backward`` and ``opt.step(closure)`` (recorded after)."""
    out: list[Call] = []
    for i in range(batches):
        out += [
            *_transfer(),
            _c("Callback.on_train_batch_start", TRAINER, MODEL, ANY, i),
            _c("on_train_batch_start", ANY, i),
            _c("forward", ANY),
            _c("Callback.on_before_backward", TRAINER, MODEL, ANY),
            _c("on_before_backward", ANY),
            _c("backward", ANY),
            _c("Callback.on_after_backward", TRAINER, MODEL),
            _c("on_after_backward"),
            _c("manual_backward", ANY),
            _c("closure"),
            _c("Callback.on_before_optimizer_step", TRAINER, MODEL, ANY),
            _c("on_before_optimizer_step", ANY),
            _c("training_step", ANY, i),
            _c("Callback.on_train_batch_end", TRAINER, MODEL, {"loss": ANY}, ANY, i),
            _c("on_train_batch_end", {"loss": ANY}, ANY, i),
        ]
    return out


def eval_batch(noun: str, batches: int, key: str) -> list[Call]:
    """``noun``: ``"validation"`` or ``"test"``; ``key``: the step's output dict key."""
    out: list[Call] = []
    for i in range(batches):
        out += [
            *_transfer(),
            _c(f"Callback.on_{noun}_batch_start", TRAINER, MODEL, ANY, i),
            _c(f"on_{noun}_batch_start", ANY, i),
            _c("forward", ANY),
            _c(f"{noun}_step", ANY, i),
            _c(f"Callback.on_{noun}_batch_end", TRAINER, MODEL, {key: ANY}, ANY, i),
            _c(f"on_{noun}_batch_end", {key: ANY}, ANY, i),
        ]
    return out


def eval_epoch(noun: str, batches: int, key: str) -> list[Call]:
    return [
        _c(f"Callback.on_{noun}_epoch_start", TRAINER, MODEL),
        _c(f"on_{noun}_epoch_start"),
        *eval_batch(noun, batches, key),
        _c(f"Callback.on_{noun}_epoch_end", TRAINER, MODEL),
        _c(f"on_{noun}_epoch_end"),
    ]


def predict_batch(batches: int) -> list[Call]:
    out: list[Call] = []
    for i in range(batches):
        out += [
            *_transfer(),
            _c("Callback.on_predict_batch_start", TRAINER, MODEL, ANY, i),
            _c("on_predict_batch_start", ANY, i),
            _c("forward", ANY),
            _c("predict_step", ANY, i),
            _c("Callback.on_predict_batch_end", TRAINER, MODEL, ANY, ANY, i),
            _c("on_predict_batch_end", ANY, ANY, i),
        ]
    return out


def _validation_loop(val_batches: int, override_model_train: bool) -> list[Call]:
    return [
        _c("train", False),  # inside on_validation_model_eval: Lightning records it first
        _c("on_validation_model_eval"),
        _c("Callback.on_validation_start", TRAINER, MODEL),
        _c("on_validation_start"),
        *eval_epoch("validation", val_batches, "x"),
        _c("Callback.on_validation_end", TRAINER, MODEL),
        _c("on_validation_end"),
        *([_c("on_validation_model_train")] if override_model_train else []),
    ]


def fit_expected(
    train_batches: int = 2,
    val_batches: int = 2,
    automatic_optimization: bool = True,
    override_on_validation_model_train: bool = True,
) -> list[Call]:
    """``Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=2)``, sanity check on.

    Lightning's checkpoint callback then saves (``state_dict``/``on_save_checkpoint``: their
    ``saved_ckpt`` argument is left as ``ANY`` here).
    """
    train = (
        auto_train_batch(train_batches, train_batches)
        if automatic_optimization
        else manual_train_batch(train_batches)
    )
    return [
        _c("configure_callbacks"),
        _c("prepare_data"),
        _c("Callback.setup", TRAINER, MODEL, stage="fit"),
        _c("setup", stage="fit"),
        _c("configure_model"),
        _c("configure_optimizers"),
        _c("Callback.on_fit_start", TRAINER, MODEL),
        _c("on_fit_start"),
        _c("zero_grad"),
        _c("Callback.on_sanity_check_start", TRAINER, MODEL),
        _c("val_dataloader"),
        *_validation_loop(val_batches, override_on_validation_model_train),
        _c("Callback.on_sanity_check_end", TRAINER, MODEL),
        _c("train_dataloader"),
        _c("Callback.on_train_start", TRAINER, MODEL),
        _c("on_train_start"),
        _c("Callback.on_train_epoch_start", TRAINER, MODEL),
        _c("on_train_epoch_start"),
        *train,
        _c("zero_grad"),
        _c("on_validation_model_zero_grad"),
        *_validation_loop(val_batches, override_on_validation_model_train),
        _c("Callback.on_train_epoch_end", TRAINER, MODEL),
        _c("on_train_epoch_end"),  # before ModelCheckpoint: a "monitoring callback"
        _c("Callback.state_dict"),
        _c("Callback.on_save_checkpoint", TRAINER, MODEL, ANY),
        _c("on_save_checkpoint", ANY),
        _c("Callback.on_train_end", TRAINER, MODEL),
        _c("on_train_end"),
        _c("Callback.on_fit_end", TRAINER, MODEL),
        _c("on_fit_end"),
        _c("Callback.teardown", TRAINER, MODEL, stage="fit"),
        _c("teardown", stage="fit"),
    ]


def eval_expected(
    verb: str, batches: int = 2, override_on_x_model_train: bool = True
) -> list[Call]:
    """``trainer.validate(model)`` (``verb="validate"``) or ``trainer.test(model)``."""
    noun, loader, key = {"validate": ("validation", "val", "x"), "test": ("test", "test", "y")}[
        verb
    ]
    loop = [
        _c(f"{loader}_dataloader"),
        _c("train", False),
        _c(f"on_{noun}_model_eval"),
        _c(f"Callback.on_{noun}_start", TRAINER, MODEL),
        _c(f"on_{noun}_start"),
        *eval_epoch(noun, batches, key),
        _c(f"Callback.on_{noun}_end", TRAINER, MODEL),
        _c(f"on_{noun}_end"),
        *([_c(f"on_{noun}_model_train")] if override_on_x_model_train else []),
    ]
    return [
        _c("configure_callbacks"),
        _c("prepare_data"),
        _c("Callback.setup", TRAINER, MODEL, stage=verb),
        _c("setup", stage=verb),
        _c("configure_model"),
        _c("zero_grad"),
        *(loop if batches else []),
        _c("Callback.teardown", TRAINER, MODEL, stage=verb),
        _c("teardown", stage=verb),
    ]


def predict_expected(batches: int = 2) -> list[Call]:
    """``trainer.predict(model)``: no ``on_predict_model_train`` (the loop restores modes)."""
    return [
        _c("configure_callbacks"),
        _c("prepare_data"),
        _c("Callback.setup", TRAINER, MODEL, stage="predict"),
        _c("setup", stage="predict"),
        _c("configure_model"),
        _c("zero_grad"),
        _c("predict_dataloader"),
        _c("train", False),
        _c("on_predict_model_eval"),
        _c("Callback.on_predict_start", TRAINER, MODEL),
        _c("on_predict_start"),
        _c("Callback.on_predict_epoch_start", TRAINER, MODEL),
        _c("on_predict_epoch_start"),
        *predict_batch(batches),
        _c("Callback.on_predict_epoch_end", TRAINER, MODEL),
        _c("on_predict_epoch_end"),
        _c("Callback.on_predict_end", TRAINER, MODEL),
        _c("on_predict_end"),
        _c("Callback.teardown", TRAINER, MODEL, stage="predict"),
        _c("teardown", stage="predict"),
    ]


def bind(calls: list[Call], trainer: Any, model: Any, device: Any) -> list[Call]:
    """The list with the run's objects in place of ``TRAINER``, ``MODEL`` and ``DEVICE``."""
    swap = {id(TRAINER): trainer, id(MODEL): model, id(DEVICE): device}

    def one(value: Any) -> Any:
        return swap.get(id(value), value)

    return [
        {**c, **({"args": tuple(one(a) for a in c["args"])} if "args" in c else {})} for c in calls
    ]


# Lightning calls without a treadle hook of their own: methods treadle calls directly
# (``configure_callbacks``, the loaders), Lightning machinery (``configure_model``,
# ``zero_grad``, ``on_validation_model_zero_grad``, checkpoint state), and calls made inside
# a hook (``train(False)`` inside ``on_*_model_eval``, ``forward`` inside the step, the closure
# and ``manual_backward`` inside ``run_training_step``).
LIGHTNING_ONLY = frozenset(
    {
        "configure_callbacks",
        "prepare_data",
        "configure_model",
        "configure_optimizers",
        "zero_grad",
        "on_validation_model_zero_grad",
        "train",
        "forward",
        "closure",
        "manual_backward",
        "state_dict",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
    }
)
STEP_HOOKS = {
    "training_step": "run_training_step",
    "validation_step": "run_validation_step",
    "test_step": "run_test_step",
    "predict_step": "run_predict_step",
}


def to_treadle_hooks(calls: list[Call]) -> list[str]:
    """The treadle hook calls a Lightning call list corresponds to, in order.

    ``Callback.x`` followed by ``x`` is one call of hook ``x`` (callbacks run first, then the
    Module); Lightning's method names become treadle's hook names.
    """
    from treadle.hookspecs import HOOKS

    method_to_hook = {i.module_method: n for n, i in HOOKS.items() if i.module_method}
    out: list[str] = []
    previous_callback = None
    for call in calls:
        name = call["name"]
        if name.startswith("Callback."):
            hook = name[len("Callback.") :]
            if hook not in LIGHTNING_ONLY:
                previous_callback = hook
                out.append(method_to_hook.get(hook, hook))
            continue
        if name in LIGHTNING_ONLY:
            continue
        hook = STEP_HOOKS.get(name) or method_to_hook.get(name, name)
        if name != previous_callback:
            out.append(hook)
        previous_callback = None
    return out
