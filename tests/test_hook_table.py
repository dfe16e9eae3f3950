"""The hook table (``treadle.hookspecs.HOOKS``) and the lists derived from it."""

from __future__ import annotations

import inspect
import re

import pytest

import treadle
from treadle import _adapters, hookspecs, plugin_manager
from treadle._adapters import adapt_object
from treadle.module import MODULE_HOOKS, Module
from treadle.plugin_manager import Hooks, RunPluginManager

SPECS = [name for name, fn in vars(hookspecs).items() if hasattr(fn, "treadle_spec")]


def _spec_argnames():
    pm = RunPluginManager()
    return {name: tuple(getattr(pm.hook, name).spec.argnames) for name in SPECS}


def test_the_table_names_every_hookspec_in_source_order_and_nothing_else():
    missing = [n for n in SPECS if n not in hookspecs.HOOKS]
    extra = [n for n in hookspecs.HOOKS if n not in SPECS]
    assert not missing and not extra, (
        f"hookspecs._TABLE lacks rows for {missing} and has rows without a spec for {extra}"
    )
    assert list(hookspecs.HOOKS) == SPECS, "keep hookspecs._TABLE in the specs' source order"


def test_every_phase_is_known_and_used():
    used = {info.phase for info in hookspecs.HOOKS.values()}
    assert used == set(hookspecs.PHASES)


@pytest.mark.parametrize("name", hookspecs.hook_names(action=True))
def test_action_hooks_are_firstresult(name):
    """An override that returns None counts as done only where the first result wins."""
    assert getattr(hookspecs, name).treadle_spec.get("firstresult")


def test_pluggy_reads_the_argument_names_of_the_annotated_specs():
    for name, argnames in _spec_argnames().items():
        assert argnames == tuple(inspect.signature(getattr(hookspecs, name)).parameters), name


@pytest.mark.parametrize("name", [n for n, i in hookspecs.HOOKS.items() if i.module_method])
def test_every_module_hook_has_a_module_stub(name):
    method = hookspecs.HOOKS[name].module_method
    assert callable(getattr(Module, method, None)), f"Module has no `{method}` for hook {name}"


# -- the derived lists: what they were by hand, plus the test/predict hooks ------------------

NEW_MODULE_HOOKS = {
    "on_validation_model_eval",
    "on_validation_model_train",
    "on_validation_model_zero_grad",  # (added later, Lightning's hook)
    "on_test_model_eval",
    "on_test_model_train",
    "on_test_start",
    "on_test_end",
    "on_test_epoch_start",
    "on_test_epoch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_model_eval",
    "on_predict_start",
    "on_predict_end",
    "on_predict_epoch_start",
    "on_predict_epoch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
}


def test_module_hooks_derive_from_the_table():
    by_hand = {  # module.py's list before the table
        "backward",
        "optimizer_step",
        "optimizer_zero_grad",
        "configure_gradient_clipping",
        "scheduler_step",
        "transfer_batch_to_device",
        "on_before_batch_transfer",
        "on_after_batch_transfer",
        "setup",
        "teardown",
        "on_fit_start",
        "on_fit_end",
        "on_train_start",
        "on_train_end",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_train_batch_start",
        "on_train_batch_end",
        "on_validation_start",
        "on_validation_end",
        "on_validation_epoch_start",
        "on_validation_epoch_end",
        "on_validation_batch_start",
        "on_validation_batch_end",
        "on_before_backward",
        "on_after_backward",
        "on_before_optimizer_step",
        "on_before_zero_grad",
        "on_save_checkpoint",
        "on_load_checkpoint",
        "on_exception",
    }
    assert by_hand | NEW_MODULE_HOOKS == MODULE_HOOKS


def test_action_hooks_derive_from_the_table():
    by_hand = {
        "backward",
        "optimizer_step",
        "optimizer_zero_grad",
        "configure_gradient_clipping",
        "scheduler_step",
        "clip_gradients",
        "barrier",
    }
    new = {
        "on_validation_model_eval",
        "on_validation_model_train",
        "on_validation_model_zero_grad",
        "on_test_model_eval",
        "on_test_model_train",
        "on_predict_model_eval",
    }
    assert by_hand | new == _adapters.ACTION_HOOKS


def test_method_names_and_construction_hooks_derive_from_the_table():
    assert _adapters.METHOD_TO_HOOK == {"lr_scheduler_step": "scheduler_step"}
    assert {
        "provide_accelerators",
        "provide_precisions",
        "provide_strategies",
        "provide_environments",
        "provide_loggers",
        "configure_callbacks",
    } == plugin_manager._CONSTRUCTION_HOOKS


def test_per_step_hooks_cover_every_loops_batch_hooks_and_steps():
    per_step = set(hookspecs.per_step_hooks())
    for loop in ("train", "validation", "test", "predict"):
        assert {f"on_{loop}_batch_start", f"on_{loop}_batch_end"} <= per_step
    assert {
        "run_training_step",
        "run_validation_step",
        "run_test_step",
        "run_predict_step",
        "backward",
        "optimizer_step",
    } <= per_step
    assert not per_step & {"on_test_start", "on_fit_start", "setup", "on_test_model_eval"}


def test_hook_names_selects_by_any_field_in_table_order():
    assert hookspecs.hook_names(phase="predict", per_step=True) == (
        "on_predict_batch_start",
        "on_predict_batch_end",
    )
    assert hookspecs.hook_names(identity_default=True, per_step=True) == (
        "transfer_batch_to_device",
        "scale_loss",
        "configure_gradient_clipping",
    )
    assert [n for n, i in hookspecs.HOOKS.items() if i.collective] == [
        "reduce",
        "all_gather",
        "broadcast",
        "barrier",
    ]


def test_hook_names_refuses_an_unknown_field():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "hook_names() got unknown field(s) perstep; HookInfo's fields are: phase, "
            "per_step, module_method, action, construction_only, identity_default, logs."
        ),
    ):
        hookspecs.hook_names(perstep=True)


def test_every_hook_says_what_self_log_may_record_in_it():
    """``HookInfo.logs`` (Lightning's ``_FxValidator``, which ``self.log`` applies): a known
    value for every hook, and set for every hook a ``Module`` or ``Callback`` overrides."""
    values = {info.logs for info in hookspecs.HOOKS.values()}
    assert values == {None, "refused", "epoch", "step_or_epoch"}
    for name, info in hookspecs.HOOKS.items():
        if info.module_method is not None or name.startswith("on_"):
            assert info.logs is not None, name
    assert hookspecs.HOOKS["on_train_epoch_end"].logs == "epoch"
    assert hookspecs.HOOKS["on_train_end"].logs == "refused"
    assert hookspecs.HOOKS["on_validation_batch_end"].logs == "step_or_epoch"


# -- Module and Callback overrides of the new hooks, through a real plugin manager ------------


class _Model(treadle.Module):
    def __init__(self, log):
        super().__init__()
        self.log_ = log

    # Lightning's signatures
    def on_test_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0):
        self.log_.append(("module.on_test_batch_end", outputs, batch, batch_idx, dataloader_idx))

    def on_predict_batch_start(self, batch, batch_idx):  # dataloader_idx left out
        self.log_.append(("module.on_predict_batch_start", batch, batch_idx))

    def on_test_model_eval(self):  # returns None, as Lightning's does: still "done"
        self.log_.append("module.on_test_model_eval")

    def lr_scheduler_step(self, scheduler, metric):
        self.log_.append("module.lr_scheduler_step")

    def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        raise AssertionError("Module.clip_gradients calls the hook; it never implements it")

    def configure_callbacks(self):
        return []


class _Lower:
    """A plugin behind the Module (as the strategy would be): must not run after 'done'."""

    def __init__(self, log):
        self.log = log

    @treadle.hookimpl
    def on_test_model_eval(self, module):
        self.log.append("lower.on_test_model_eval")
        return True


def _pm_with(module_plugin, *lower):
    pm = RunPluginManager()
    for i, plugin in enumerate(lower):
        pm.register(plugin, name=f"lower{i}")
    pm.register(module_plugin, name="module")
    return pm


def test_a_module_implements_exactly_its_overridden_module_hooks():
    plugin = adapt_object(_Model([]), Module, _spec_argnames(), MODULE_HOOKS)
    implemented = {n for n in vars(plugin) if n != "owner"}
    assert implemented == {
        "on_test_batch_end",
        "on_predict_batch_start",
        "on_test_model_eval",
        "scheduler_step",
    }


@pytest.mark.parametrize("fast", [False, True], ids=["pluggy", "fast-caller"])
def test_lightning_signatures_of_the_new_module_hooks_get_their_arguments(fast):
    log = []
    pm = _pm_with(adapt_object(_Model(log), Module, _spec_argnames(), MODULE_HOOKS), _Lower(log))
    hook = Hooks(pm) if fast else pm.hook
    hook.on_test_batch_end(
        trainer=None, module=None, outputs={"x": 1}, batch="b", batch_idx=3, dataloader_idx=1
    )
    hook.on_predict_batch_start(trainer=None, module=None, batch="p", batch_idx=4, dataloader_idx=2)
    done = hook.on_test_model_eval(trainer=None, module=None)
    assert done is True
    assert log == [
        ("module.on_test_batch_end", {"x": 1}, "b", 3, 1),
        ("module.on_predict_batch_start", "p", 4),
        "module.on_test_model_eval",
    ]  # the lower implementation did not run


def test_a_callback_with_lightnings_test_and_predict_signatures_works():
    log = []

    class CB(treadle.Callback):
        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            log.append(("test", trainer, pl_module, batch, batch_idx, dataloader_idx))

        def on_predict_batch_end(
            self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
        ):
            log.append(("predict", outputs, batch, batch_idx, dataloader_idx))

        def on_predict_epoch_end(self, trainer, pl_module):
            log.append(("predict_epoch_end", trainer, pl_module))

    pm = RunPluginManager()
    pm.register(adapt_object(CB(), treadle.Callback, _spec_argnames()), name="cb")
    pm.hook.on_test_batch_start(trainer="T", module="M", batch="b", batch_idx=0, dataloader_idx=0)
    pm.hook.on_predict_batch_end(
        trainer="T", module="M", outputs="o", batch="b", batch_idx=1, dataloader_idx=1
    )
    pm.hook.on_predict_epoch_end(trainer="T", module="M")
    assert log == [
        ("test", "T", "M", "b", 0, 0),
        ("predict", "o", "b", 1, 1),
        ("predict_epoch_end", "T", "M"),
    ]
