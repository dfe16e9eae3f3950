"""Every configuration error a user can meet, with its message pinned.

Each message names the argument or the plugin that refused it and says the fix (STYLE.md,
"Errors"); a test here fails when a message changes, so a change is a decision. Validation
problems are raised before the first ``training_step``: the tests check that nothing ran.

Third-party plugins are not autoloaded here (``TREADLE_DISABLE_PLUGIN_AUTOLOAD=1``): the
problems pinned are the core's and the first-party plugins'.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import treadle
from treadle.errors import ConfigurationTypeError
from treadle.plugin_manager import RunPluginManager, _names


@pytest.fixture(autouse=True)
def _only_treadles_own_plugins(monkeypatch):
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("TREADLE_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("TREADLE_TRACE_HOOKS", raising=False)


def trainer(**kwargs) -> treadle.Trainer:
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        max_epochs=1,
    )
    defaults.update(kwargs)
    return treadle.Trainer(**defaults)


def loader(n: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


def available(kind: str) -> str:
    pm = RunPluginManager()
    pm.load_entry_points()
    return _names(pm.providers(kind))


def sgd(module):
    return torch.optim.SGD(module.parameters(), lr=0.1)


class Recorder(treadle.Module):
    """Records the user code the loop runs; ``optimizers(module)`` makes what
    ``configure_optimizers`` returns."""

    def __init__(self, optimizers=sgd, manual=False):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.make_optimizers = optimizers
        self.automatic_optimization = not manual
        self.calls: list[str] = []

    def training_step(self, batch, batch_idx):
        self.calls.append("training_step")
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        if not self.automatic_optimization:
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
        return loss

    def validation_step(self, batch, batch_idx):
        self.calls.append("validation_step")

    def configure_optimizers(self):
        self.calls.append("configure_optimizers")
        return self.make_optimizers(self)

    def on_train_start(self):
        self.calls.append("on_train_start")


def fit_fails(
    model: Recorder, match: str, error=treadle.ConfigurationError, train=True, **trainer_kwargs
):
    """``fit`` raises ``error`` containing ``match`` and nothing was trained: no step ran, no
    weight moved. Returns the exception."""
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=re.escape(match)) as info:
        trainer(**trainer_kwargs).fit(model, loader() if train else None)
    assert "training_step" not in model.calls
    assert "on_train_start" not in model.calls
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    return info.value


# -- Trainer arguments (TrainerConfig, pydantic) ------------------------------------------------


def test_unknown_trainer_argument_suggests_the_right_name():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "1 configuration problem:\n  - TrainerConfig: `Trainer(max_epoch=...)` is not a "
            "Trainer argument. Did you mean `max_epochs`? Valid arguments: accelerator, "
            "strategy, devices, num_nodes, precision, max_epochs, max_steps,"
        ),
    ):
        treadle.Trainer(max_epoch=3)


def test_unknown_trainer_argument_without_a_close_name():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `Trainer(flux_capacitor=...)` is not a Trainer argument. Valid "
            "arguments: accelerator,"
        ),
    ) as info:
        treadle.Trainer(flux_capacitor=1.21)
    assert len(info.value.problems) == 1
    for name in treadle.TrainerConfig.model_fields:
        assert name in info.value.problems[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(max_epochs="ten"),
            "`Trainer(max_epochs='ten')`: Input should be a valid integer, unable to parse string as an "
            "integer",
        ),
        (
            dict(max_epochs=-2),
            "`Trainer(max_epochs=-2)`: `max_epochs` must be a non-negative integer or -1 (no limit). "
            "You passed in -2.",
        ),
        (
            dict(max_steps=-5),
            "`Trainer(max_steps=-5)`: `max_steps` must be a non-negative integer or -1 (no limit). "
            "You passed in -5.",
        ),
        (
            dict(accumulate_grad_batches=0),
            "`Trainer(accumulate_grad_batches=0)`: Input should be greater than or equal to 1",
        ),
        (
            dict(gradient_clip_val=-1.0),
            "`Trainer(gradient_clip_val=-1.0)`: Input should be greater than or equal to 0",
        ),
        (
            dict(gradient_clip_algorithm="l2"),
            "`Trainer(gradient_clip_algorithm='l2')`: `gradient_clip_algorithm` l2 is invalid. "
            "Allowed algorithms: ['value', 'norm'].",
        ),
        (
            dict(limit_train_batches=1.5),
            "`Trainer(limit_train_batches=1.5)`: You have passed invalid value 1.5 for "
            "limit_train_batches, it has to be in [0.0, 1.0] (a fraction of the epoch) or an int "
            "(a number of batches).",
        ),
        (
            dict(limit_val_batches=-1),
            "`Trainer(limit_val_batches=-1)`: You have passed invalid value -1 for "
            "limit_val_batches, it has to be in [0.0, 1.0] (a fraction of the epoch) or an int "
            "(a number of batches).",
        ),
        (
            dict(limit_val_batches="all"),
            "`Trainer(limit_val_batches='all')`: Input should be one of: int, float",
        ),
        (
            dict(val_check_interval=0),
            "`Trainer(val_check_interval=0)`: Input should be greater than 0",
        ),
        (
            dict(check_val_every_n_epoch=0),
            "`Trainer(check_val_every_n_epoch=0)`: Input should be greater than or equal to 1",
        ),
        (
            dict(num_nodes=0),
            "`Trainer(num_nodes=0)`: Value error, `num_nodes` must be a positive integer, but got 0.",
        ),
        (
            dict(log_every_n_steps=-1),
            "`Trainer(log_every_n_steps=-1)`: Input should be greater than or equal to 0",
        ),
        (
            dict(num_sanity_val_steps=-2),
            "`Trainer(num_sanity_val_steps=-2)`: Input should be greater than or equal to -1",
        ),
        (
            dict(enable_progress_bar="nope"),
            "`Trainer(enable_progress_bar='nope')`: Input should be a valid boolean, unable to "
            "interpret input",
        ),
        (
            dict(deterministic="maybe"),
            "`Trainer(deterministic='maybe')`: Input should be one of: bool, literal['warn']",
        ),
        (
            dict(devices=[1, "a"]),
            "`Trainer(devices=[1, 'a'])`: Input should be one of: int, list[int], str",
        ),
        (
            dict(precision=[16]),
            "`Trainer(precision=[16])`: Value error, Precision [16] is invalid.",
        ),
        (dict(accelerator=None), "`Trainer(accelerator=None)`: Input should be a valid string"),
    ],
)
def test_wrong_type_or_range(kwargs, message):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(f"1 configuration problem:\n  - TrainerConfig: {message}"),
    ):
        treadle.Trainer(**kwargs)


def test_several_wrong_arguments_are_reported_together():
    with pytest.raises(
        treadle.ConfigurationError, match=re.escape("5 configuration problems:")
    ) as info:
        treadle.Trainer(
            max_epochs="ten",
            accumulate_grad_batches=0,
            gradient_clip_algorithm="l2",
            devices=[1, "a"],
            max_epoch=3,
        )
    # In the order of TrainerConfig's fields; the unknown argument last.
    assert info.value.problems == [
        "TrainerConfig: `Trainer(devices=[1, 'a'])`: Input should be one of: int, list[int], str",
        "TrainerConfig: `Trainer(max_epochs='ten')`: Input should be a valid integer, unable to "
        "parse string as an integer",
        "TrainerConfig: `Trainer(accumulate_grad_batches=0)`: Input should be greater than or "
        "equal to 1",
        "TrainerConfig: `Trainer(gradient_clip_algorithm='l2')`: `gradient_clip_algorithm` l2 is "
        "invalid. Allowed algorithms: ['value', 'norm'].",
        info.value.problems[4],
    ]
    assert info.value.problems[4].startswith(
        "TrainerConfig: `Trainer(max_epoch=...)` is not a Trainer argument. Did you mean "
        "`max_epochs`?"
    )


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError):
        treadle.Trainer(max_epochs="ten")


def test_a_value_problem_alone_is_not_a_type_error():
    with pytest.raises(treadle.ConfigurationError) as info:
        treadle.Trainer(max_epochs=-3, gradient_clip_val=-1.0)
    assert not isinstance(info.value, TypeError)
    assert type(info.value) is treadle.ConfigurationError


def test_an_unknown_argument_is_also_pythons_type_error():
    # Python refuses an unexpected keyword with a TypeError whatever else is wrong: the error
    # is a TypeError (and a ConfigurationError, a ValueError) listing every problem, led by
    # Python's own sentence for the first unknown name.
    with pytest.raises(TypeError) as info:
        treadle.Trainer(abcdefg=1, max_epochs=-3, zzz=2)
    err = info.value
    assert isinstance(err, ConfigurationTypeError)
    assert isinstance(err, treadle.ConfigurationError) and isinstance(err, ValueError)
    assert str(err).startswith(
        "Trainer.__init__() got an unexpected keyword argument 'abcdefg'. "
        "3 configuration problems:\n  - TrainerConfig: `Trainer(max_epochs=-3)`: `max_epochs` "
        "must be a non-negative integer or -1 (no limit). You passed in -3.\n"
        "  - TrainerConfig: `Trainer(abcdefg=...)` is not a Trainer argument. Valid arguments: "
    )
    assert len(err.problems) == 3
    assert err.problems[2].startswith("TrainerConfig: `Trainer(zzz=...)` is not a Trainer")


def test_an_unknown_argument_through_a_subclass_is_a_type_error():
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::test_trainer_subclassing
    class TrainerSubclass(treadle.Trainer):
        def __init__(self, **kwargs):
            self.custom_kwarg = kwargs.pop("custom_kwarg", "test")
            super().__init__(**kwargs)

    with pytest.raises(
        TypeError, match=re.escape("__init__() got an unexpected keyword argument 'abcdefg'")
    ):
        TrainerSubclass(custom_kwarg="custom", abcdefg="unknown_arg")


def test_a_clip_value_that_is_not_a_number_is_lightnings_type_error():
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::test_invalid_gradient_clip_value
    with pytest.raises(TypeError) as info:
        treadle.Trainer(gradient_clip_val=(1, 2), max_epochs=-3)
    assert isinstance(info.value, ConfigurationTypeError)
    assert str(info.value).startswith("2 configuration problems:\n")  # no unknown name: no lead
    assert info.value.problems[-1] == (
        "TrainerConfig: `Trainer(gradient_clip_val=(1, 2))`: `gradient_clip_val` should be an "
        "int or a float. Got (1, 2)."
    )


# -- selection: accelerator, precision, strategy, logger, devices ----------------------------------


def said(kind, value):
    """Lightning's words that treadle's refusal of an unknown name starts with."""
    return {
        "accelerator": f"You selected an invalid accelerator name: `accelerator={value!r}`. ",
        "strategy": f"You selected an invalid strategy name: `strategy={value!r}`. ",
        "precision": f"Precision {value!r} is invalid. ",
    }[kind]


def test_unknown_accelerator_precision_and_strategy_together():
    with pytest.raises(
        treadle.ConfigurationError, match=re.escape("3 configuration problems")
    ) as info:
        treadle.Trainer(accelerator="gpuu", precision="17-bits", strategy="dpp")
    assert info.value.problems == [
        f"Trainer: {said(kind, value)}`{kind}={value!r}` is not provided by any installed "
        f"plugin. Available names: {available(kind)}. Install the plugin that provides it, or pick one of these."
        for kind, value in (("accelerator", "gpuu"), ("precision", "17-bits"), ("strategy", "dpp"))
    ]


def test_unknown_logger_name():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Trainer: `logger='wandb'` is not provided by any installed plugin. Available names: "
            f"{available('logger')}. Install the plugin that provides it, or pick one of these."
        ),
    ):
        treadle.Trainer(accelerator="cpu", logger="wandb")


def test_cpu_devices_must_be_a_positive_count():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Trainer: `Trainer(devices=0)` value is not a valid input using cpu accelerator. "
            "Pass a positive number of devices"
        ),
    ):
        treadle.Trainer(accelerator="cpu", devices=0)


class _FakePrecision(treadle.kinds.PrecisionBase):
    """A precision for one kind of device only (say, an NPU's 7-bit format)."""

    name = "fp7-test"
    device_types = ("fp7-npu",)

    def __init__(self, trainer):
        pass


class _OffersFp7:
    __name__ = "fp7_plugin"

    @treadle.hookimpl
    def provide_precisions(self):
        return [treadle.Provider("precision", "fp7-test", _FakePrecision)]


def test_a_precision_the_accelerator_cannot_run():
    fit_fails(
        Recorder(),
        precision="fp7-test",
        plugins=[_OffersFp7()],
        match=(
            "accelerator:cpu: `precision='fp7-test'` cannot run on `accelerator='cpu'`: it runs on "
            "devices of type 'fp7-npu' only (its `device_types`), and this accelerator's are 'cpu'. "
            "Pick an accelerator of one of those types, or another precision."
        ),
    )


# -- what fit() checks before the first training_step ------------------------------------------


def test_manual_optimization_with_trainer_gradient_clipping():
    fit_fails(
        Recorder(manual=True),
        gradient_clip_val=1.0,
        match=(
            "1 configuration problem:\n  - treadle.core: Automatic gradient clipping is not supported for manual "
            "optimization: `Trainer(gradient_clip_val=1.0)` has no "
            "effect with manual optimization (`automatic_optimization = False`). Clip in "
            "training_step with `self.clip_gradients(opt, gradient_clip_val=1.0, "
            "gradient_clip_algorithm='norm')` and remove the Trainer argument."
        ),
    )


def test_manual_optimization_with_trainer_accumulation():
    fit_fails(
        Recorder(manual=True),
        accumulate_grad_batches=4,
        match=(
            "treadle.core: Automatic gradient accumulation is not supported for manual "
            "optimization: `Trainer(accumulate_grad_batches=4)` has no effect with manual "
            "optimization (`automatic_optimization = False`). Accumulate in training_step (step "
            "every N batches, as in the guide) and remove the Trainer argument."
        ),
    )


def test_manual_optimization_with_clipping_and_accumulation_reports_both():
    error = fit_fails(
        Recorder(manual=True),
        gradient_clip_val=0.5,
        accumulate_grad_batches=2,
        match="2 configuration problems:\n  - treadle.core: ",
    )
    assert len(error.problems) == 2
    assert error.problems[0].startswith(
        "treadle.core: Automatic gradient clipping is not supported"
    )
    assert "`Trainer(gradient_clip_val=0.5)`" in error.problems[0]
    assert error.problems[1].startswith("treadle.core: Automatic gradient accumulation is not")
    assert "`Trainer(accumulate_grad_batches=2)`" in error.problems[1]


def test_two_optimizers_in_automatic_optimization():
    fit_fails(
        Recorder(optimizers=lambda m: [sgd(m), sgd(m)]),
        match=(
            "treadle.core: `configure_optimizers()` returned 2 optimizers, but training with "
            "multiple optimizers is only supported with manual optimization. Set "
            "`self.automatic_optimization = False` in `__init__` and step each optimizer in "
            "`training_step` (see the GAN example), or return a single optimizer."
        ),
    )


def test_several_optimizers_refusals_are_runtime_errors_as_lightnings():
    """Lightning raises RuntimeError for both (its tests catch that); treadle's refusal is a
    ConfigurationError and a RuntimeError."""
    error = fit_fails(
        Recorder(optimizers=lambda m: [sgd(m), sgd(m)]),
        error=RuntimeError,
        match="multiple optimizers is only supported with manual optimization",
    )
    assert isinstance(error, treadle.ConfigurationError)

    class OptimizerIdx(Recorder):
        def training_step(self, batch, batch_idx, optimizer_idx):
            raise AssertionError("never called")

    fit_fails(
        OptimizerIdx(),
        error=RuntimeError,
        match=(
            "treadle.core: `training_step` takes `optimizer_idx` (Lightning 1's form): training "
            "with multiple optimizers is only supported with manual optimization. Remove the "
            "`optimizer_idx` argument from `training_step`, set `self.automatic_optimization = "
            "False` and access your optimizers in `training_step` with `opt1, opt2, ... = "
            "self.optimizers()`."
        ),
    )


def test_two_optimizers_in_manual_optimization_are_fine():
    model = Recorder(optimizers=lambda m: [sgd(m), sgd(m)], manual=True)
    model.training_step = lambda batch, batch_idx: model.calls.append("training_step")
    trainer().fit(model, loader())
    assert model.calls.count("training_step") == 2


PLATEAU_MESSAGE = (
    "treadle.core: `configure_optimizers` must include a monitor when a `ReduceLROnPlateau` "
    "scheduler is used: return {'optimizer': opt, 'lr_scheduler': {'scheduler': sch, "
    "'monitor': 'val_loss'}}."
)


def _plateau_dict(m):
    opt = sgd(m)
    return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(opt)}


def _plateau_lists(m):
    opt = sgd(m)
    return [opt], [torch.optim.lr_scheduler.ReduceLROnPlateau(opt)]


@pytest.mark.parametrize("optimizers", [_plateau_dict, _plateau_lists], ids=["dict", "lists"])
def test_reduce_lr_on_plateau_without_monitor(optimizers):
    assert fit_fails(Recorder(optimizers=optimizers), match=PLATEAU_MESSAGE).problems == [
        PLATEAU_MESSAGE
    ]


def test_reduce_lr_on_plateau_monitoring_a_metric_never_logged():
    def optimizers(m):
        opt = sgd(m)
        return {
            "optimizer": opt,
            "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
                "monitor": "val_loss",
            },
        }

    # Only known when the scheduler first steps (the end of the first epoch), as in Lightning.
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "ReduceLROnPlateau conditioned on metric val_loss which is not available. Available "
            "metrics are: []. Log it with `self.log('val_loss', value)`, change the `monitor` key "
            "in the lr scheduler dict, or set 'strict': False."
        ),
    ):
        trainer().fit(Recorder(optimizers=optimizers), loader())


def _step_lr(m, **config):
    opt = sgd(m)
    return {
        "optimizer": opt,
        "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(opt, 1), **config},
    }


@pytest.mark.parametrize(
    "optimizers, problems",
    [
        (
            lambda m: "adam",
            [
                "Unknown configuration for model optimizers: Module.configure_optimizers() returned "
                "str; return an optimizer, a list of optimizers, ([optimizers], [schedulers]), or a "
                "dict with 'optimizer' and 'lr_scheduler'."
            ],
        ),
        (
            lambda m: {"optim": sgd(m)},
            [
                "Module.configure_optimizers() returned a dict with keys ['optim']; expected 'optimizer' "
                "and optionally 'lr_scheduler' and 'monitor'."
            ],
        ),
        (
            lambda m: [sgd(m), "sgd"],
            [
                "Unknown configuration for model optimizers: Module.configure_optimizers() returned "
                "list of ['SGD', 'str']; that is not one of Lightning's forms."
            ],
        ),
        (
            lambda m: {"optimizer": torch.nn.Linear(1, 1)},
            [
                "Module.configure_optimizers(): optimizer #0 is a Linear, not a torch.optim.Optimizer."
            ],
        ),
        (
            lambda m: _step_lr(m, interval="batch", frequency=0),
            [
                'The "interval" key in lr scheduler dict must be "step" or "epoch" but is "batch" '
                "(Module.configure_optimizers()).",
                "Module.configure_optimizers(): lr_scheduler `frequency=0`; use an int >= 1.",
            ],
        ),
        (
            lambda m: {"optimizer": sgd(m), "lr_scheduler": {"sched": None}},
            [
                'The lr scheduler dict must have the key "scheduler" with its item being an lr '
                "scheduler: Module.configure_optimizers()'s 'lr_scheduler' dict has keys ['sched']; "
                "expected 'scheduler' and optionally ['frequency', 'interval', 'monitor', 'name', "
                "'strict']."
            ],
        ),
    ],
    ids=[
        "str",
        "dict-keys",
        "list-of-junk",
        "not-an-optimizer",
        "interval-frequency",
        "scheduler-dict-keys",
    ],
)
def test_bad_configure_optimizers_return(optimizers, problems):
    assert fit_fails(Recorder(optimizers=optimizers), match=problems[0]).problems == problems


def test_fit_without_data():
    error = fit_fails(
        Recorder(),
        train=False,
        error=TypeError,  # Lightning's type
        match=(
            "An invalid dataloader was passed to `Trainer.fit(train_dataloaders=...)`. Found "
            "None. Either pass the dataloader to the `.fit()` method OR implement "
            "`def train_dataloader(self):` in your LightningModule/LightningDataModule."
        ),
    )
    assert isinstance(error, treadle.ConfigurationError)


@pytest.mark.parametrize("error", [treadle.ConfigurationError, TypeError])
def test_validate_without_data(error):
    with pytest.raises(
        error,
        match=re.escape(
            "An invalid dataloader was passed to `Trainer.validate(dataloaders=...)`. Found None. "
            "Either pass the dataloader to the `.validate()` method OR implement "
            "`def val_dataloader(self):` in your LightningModule/LightningDataModule."
        ),
    ):
        trainer().validate(Recorder())


@pytest.mark.parametrize("fn", ["fit", "validate", "test", "predict"])
def test_a_loader_that_cannot_be_iterated_is_a_type_error(fn):
    # as Lightning's _check_dataloader_iterable: passed, or returned by the loader hook
    hook = {"fit": "train", "validate": "val"}.get(fn, fn) + "_dataloader"
    arg = "train_dataloaders" if fn == "fit" else "dataloaders"

    class Steps(Recorder):
        def test_step(self, batch, batch_idx):
            self.calls.append("test_step")

        def predict_step(self, batch, batch_idx):
            self.calls.append("predict_step")

    model = Steps()
    with pytest.raises(
        TypeError,
        match=re.escape(f"An invalid dataloader was passed to `Trainer.{fn}({arg}=...)`. Found 5."),
    ) as info:
        getattr(trainer(), fn)(model, **{arg: 5})
    assert isinstance(info.value, treadle.ConfigurationError)
    setattr(model, hook, lambda: None)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(f"An invalid dataloader was returned from `Steps.{hook}()`. Found None."),
    ) as info:
        getattr(trainer(), fn)(model)
    assert isinstance(info.value, TypeError)
    assert not {"training_step", "validation_step", "test_step", "predict_step"} & set(model.calls)


def test_clip_algorithm_without_clip_value():
    fit_fails(
        Recorder(),
        gradient_clip_algorithm="value",
        match=(
            "treadle.core: `Trainer(gradient_clip_algorithm='value')` without `gradient_clip_val` "
            "clips nothing; set `gradient_clip_val` too."
        ),
    )


class _Checker:
    """A plugin with a ``validate`` hook: its problems come with its name, before the core's."""

    __name__ = "site_policy"

    @treadle.hookimpl
    def validate(self, trainer):
        return [
            f"`max_epochs={trainer.config.max_epochs}` exceeds this site's limit of 5; lower it."
        ]


def test_problems_from_every_plugin_are_raised_together():
    error = fit_fails(
        Recorder(manual=True),
        gradient_clip_val=1.0,
        accumulate_grad_batches=2,
        max_epochs=10,
        plugins=[_Checker()],
        match="3 configuration problems:",
    )
    assert [p.split(":")[0] for p in error.problems] == [
        "site_policy",
        "treadle.core",
        "treadle.core",
    ]
    assert error.problems[0] == (
        "site_policy: `max_epochs=10` exceeds this site's limit of 5; lower it."
    )


def test_a_fraction_val_check_interval_needs_a_sized_loader():
    class Stream(IterableDataset):
        def __iter__(self):
            g = torch.Generator().manual_seed(0)
            return iter([(torch.randn(3, generator=g), torch.randn(1, generator=g))] * 8)

    stream = DataLoader(Stream(), batch_size=4)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Trainer: `val_check_interval=0.5` is a fraction of an epoch, but the training loader "
            "has no length; pass an int number of batches."
        ),
    ):
        trainer(val_check_interval=0.5, num_sanity_val_steps=0).fit(Recorder(), stream, stream)


# -- mistakes in the Module ------------------------------------------------------------------------


def test_fit_needs_a_treadle_module():
    # Ported from tests/tests_pytorch/trainer/test_trainer.py::
    # test_trainer_error_when_input_not_lightning_module: Lightning's words, treadle's class named
    with pytest.raises(
        TypeError,
        match=re.escape(
            "`trainer.fit(model)`: `model` must be a `LightningModule` (`treadle.Module`) or "
            "`torch._dynamo.OptimizedModule`, got `Linear`."
        ),
    ):
        trainer().fit(torch.nn.Linear(3, 1), loader())


class _BadHookParameter(Recorder):
    def on_train_epoch_start(self, trainer, pl_module, flavour):
        pass


def test_a_module_hook_override_with_an_unknown_parameter():
    fit_fails(
        _BadHookParameter(),
        error=treadle.PluginError,
        match=(
            "_BadHookParameter.on_train_epoch_start() takes parameter `flavour`, which hook "
            "`on_train_epoch_start` does not provide. Its arguments are: trainer, module "
            "(Lightning's `pl_module`, `optimizer_closure` and `epoch` are translated, and a "
            "parameter at the position where Lightning passes an argument gets it). Rename the "
            "parameter or give it a default value."
        ),
    )


class _NoLossKey(Recorder):
    def training_step(self, batch, batch_idx):
        return {"los": self.layer(batch[0]).sum()}


class _FloatLoss(Recorder):
    def training_step(self, batch, batch_idx):
        return 3.0


def test_training_step_returning_a_dict_without_loss():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`training_step` returned a dict without a 'loss' key; automatic optimization needs "
            "{'loss': tensor, ...}."
        ),
    ):
        trainer().fit(_NoLossKey(), loader())


def test_training_step_returning_a_float():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`training_step` returned float; automatic optimization needs a loss tensor, a dict "
            "with 'loss', or None."
        ),
    ):
        trainer().fit(_FloatLoss(), loader())


# -- nothing ran -------------------------------------------------------------------------------


def test_nothing_runs_when_validation_fails():
    model = Recorder(optimizers=lambda m: [sgd(m), sgd(m)])
    error = fit_fails(model, gradient_clip_algorithm="value", match="2 configuration problems")
    assert error.problems[0].startswith("treadle.core: `configure_optimizers()` returned 2 ")
    assert error.problems[1].startswith("treadle.core: `Trainer(gradient_clip_algorithm='value')`")
    # configure_optimizers ran (its result is validated); nothing after it did.
    assert model.calls == ["configure_optimizers"]


def test_the_same_model_trains_once_the_problem_is_fixed():
    model = Recorder()
    fit_fails(model, gradient_clip_algorithm="value", match="without `gradient_clip_val`")
    trainer(gradient_clip_algorithm="value", gradient_clip_val=1.0).fit(model, loader())
    assert model.calls.count("training_step") == 2


# -- Lightning's configure_optimizers rules (ported from Lightning's
# tests/tests_pytorch/trainer/optimization/test_optimizers.py) ---------------------------------


def test_unknown_keys_in_optimizer_and_scheduler_dicts_warn_and_are_ignored():
    def optimizers(m):
        opt = sgd(m)
        sch = torch.optim.lr_scheduler.StepLR(opt, 1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "foo": 1}, "bar": 2}

    with pytest.warns(RuntimeWarning) as record:
        trainer().fit(Recorder(optimizers=optimizers), loader())
    messages = [str(w.message) for w in record]
    assert any(
        m.startswith("Found unsupported keys in the optimizer configuration: {'bar'}.")
        for m in messages
    )
    assert any(
        m.startswith("Found unsupported keys in the lr scheduler dict: {'foo'}. HINT: remove them")
        for m in messages
    )


def test_a_scheduler_of_an_optimizer_not_returned_is_refused():
    def optimizers(m):
        returned, other = sgd(m), sgd(m)
        return [returned], [torch.optim.lr_scheduler.StepLR(other, 1)]

    fit_fails(
        Recorder(optimizers=optimizers),
        match=(
            "Some schedulers are attached with an optimizer that wasn't returned from "
            "`configure_optimizers`: Module.configure_optimizers()'s `StepLR` steps an optimizer "
            "it did not return. Return that optimizer too, or build the scheduler on one of "
            "those returned."
        ),
    )


def test_a_plateau_scheduler_not_strict_warns_and_an_unfinished_epoch_steps_none():
    def optimizers(m, strict):
        opt = sgd(m)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": plateau, "monitor": "giraffe", "strict": strict},
        }

    with pytest.warns(
        RuntimeWarning,
        match=re.escape(
            "ReduceLROnPlateau conditioned on metric giraffe which is not available but strict is "
            "set to `False`. Skipping learning rate update."
        ),
    ):
        trainer().fit(Recorder(optimizers=lambda m: optimizers(m, False)), loader())
    # as Lightning: an epoch cut short by max_steps steps no epoch scheduler (so no refusal)
    trainer(max_epochs=None, max_steps=1).fit(
        Recorder(optimizers=lambda m: optimizers(m, True)), loader()
    )


class _NeedsAnArgument:
    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.steps = 0

    def step(self, foobar):
        self.steps += 1

    def state_dict(self):
        return {}

    def load_state_dict(self, state_dict):
        pass


def test_a_scheduler_outside_torchs_api_is_fine_with_lr_scheduler_step_set_on_the_instance():
    def optimizers(m):
        opt = sgd(m)
        return {"optimizer": opt, "lr_scheduler": _NeedsAnArgument(opt)}

    refused = Recorder(optimizers=optimizers)
    fit_fails(
        refused,
        match="treadle.core: The provided lr scheduler `_NeedsAnArgument` doesn't follow PyTorch's "
        "LRScheduler API: its `step()` needs `foobar`",
    )
    model = Recorder(optimizers=optimizers)
    model.lr_scheduler_step = lambda scheduler, metric: scheduler.step(foobar=1)
    trainer(max_epochs=2).fit(model, loader())
    assert model.lr_schedulers().steps == 2


def test_a_mock_scheduler_is_stepped_through_lr_scheduler_step():
    from unittest.mock import Mock

    scheduler = Mock(spec=torch.optim.lr_scheduler.StepLR)

    class StepsItsMock(Recorder):
        def lr_scheduler_step(self, scheduler, metric):
            scheduler.step()

    def optimizers(m):
        opt = sgd(m)
        scheduler.optimizer = opt
        return [opt], [scheduler]

    trainer(max_epochs=3).fit(StepsItsMock(optimizers=optimizers), loader())
    assert scheduler.step.call_count == 3
