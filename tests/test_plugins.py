"""Plugins as pip leaves them: a ``*.dist-info`` with ``entry_points.txt`` on ``sys.path``.

Every test installs its own fake distributions under ``tmp_path`` (one ``sys.path`` entry per
distribution, so the discovery order is the order of installation, latest first) and builds a
fresh ``Trainer`` -- a fresh ``PluginManager`` -- so nothing leaks from one test to the next.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.plugin_manager import RunPluginManager, _names

# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def install(treadle_install):
    """``install(dist, version, entry_points, modules)`` writes a distribution as pip would.

    ``entry_points`` maps entry-point names (group ``treadle``) to their values; ``modules``
    maps module names to source. treadle's kit (``treadle.testing``) puts each on ``sys.path``
    and takes it off again, with the modules the test imported and importlib's caches.
    """

    def install(dist: str, version: str, entry_points: dict, modules: dict):
        return treadle_install(dist, entry_points, version=version, modules=modules)

    return install


def trainer(**kwargs) -> treadle.Trainer:
    defaults = dict(
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        max_epochs=1,
        num_sanity_val_steps=0,
    )
    defaults.update(kwargs)
    return treadle.Trainer(**defaults)


def loader(n_batches: int = 2) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4 * n_batches, 3, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


class Regression(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def available(kind: str) -> str:
    """The names of ``kind`` the installed plugins provide, as error messages list them."""
    pm = RunPluginManager()
    pm.load_entry_points()
    return _names(pm.providers(kind))


# A third-party accelerator: a Provider record plus an instance whose hooks take part in the run.
MYACCEL = """
    import torch
    import treadle

    EVENTS = []

    class MyAccelerator(treadle.kinds.AcceleratorBase):
        name = "myaccel"
        device_type = "cpu"

        def __init__(self, trainer):
            self.root_device = torch.device("cpu")

        @treadle.hookimpl
        def setup_environment(self, trainer):
            EVENTS.append("setup_environment")

        @treadle.hookimpl
        def on_train_start(self, trainer):
            EVENTS.append("on_train_start")

    @treadle.hookimpl
    def provide_accelerators():
        return [treadle.Provider("accelerator", "myaccel", MyAccelerator, priority=%(priority)s,
                                 available=%(available)s,
                                 install_hint="pip install treadle-myaccel[hw]",
                                 description="An accelerator from a third party.")]
"""


def install_myaccel(install, priority=0, available=True):
    install(
        "treadle-myaccel",
        "1.2.3",
        {"myaccel": "tp_myaccel"},
        {"tp_myaccel": MYACCEL % {"priority": priority, "available": available}},
    )


# -- discovery through entry points ----------------------------------------------------------------


def test_a_third_party_accelerator_is_selectable_by_name(install):
    install_myaccel(install)
    t = trainer(accelerator="myaccel")
    plugin = sys.modules["tp_myaccel"]
    assert type(t.accelerator).__name__ == "MyAccelerator"
    assert t.plugin_manager.get_plugin("myaccel") is plugin
    assert t.plugin_manager.distributions["myaccel"] == ("treadle-myaccel", "1.2.3")
    model = Regression()
    t.fit(model, loader())
    assert model.steps == 2
    # The selected instance takes part in the run's hooks.
    assert plugin.EVENTS == ["setup_environment", "on_train_start"]


def test_auto_picks_the_available_provider_with_the_highest_priority(install):
    install_myaccel(install, priority=100)
    assert type(trainer(accelerator="auto").accelerator).__name__ == "MyAccelerator"


def test_auto_skips_an_unavailable_provider(install):
    install_myaccel(install, priority=100, available=False)
    assert trainer(accelerator="auto").accelerator.name == "cpu"


def test_treadle_own_plugins_come_through_the_same_group(install):
    pm = trainer().plugin_manager
    for name in ("cpu", "32-true", "single_device"):
        assert pm.distributions[name][0] == "treadle"
    assert {"cpu", "32-true", "single_device"} <= set(pm.distributions)


# -- autoload off, blocking ------------------------------------------------------------------------


def test_autoload_off_skips_third_party_plugins_but_not_treadles_own(install, monkeypatch):
    install_myaccel(install)
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = trainer(accelerator="cpu").plugin_manager
    assert "tp_myaccel" not in sys.modules
    assert pm.get_plugin("myaccel") is None
    assert pm.get_plugin("cpu") is not None
    assert pm.get_plugin("single_device") is not None
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Trainer: `accelerator='myaccel'`: the plugin `myaccel` (distribution "
            "treadle-myaccel 1.2.3) is not loaded: TREADLE_DISABLE_PLUGIN_AUTOLOAD is set, so what "
            "it provides is not known. Unset TREADLE_DISABLE_PLUGIN_AUTOLOAD (or pass the plugin "
            f"in `Trainer(plugins=[...])`) to select it, or pick one of: {available('accelerator')}"
        ),
    ):
        trainer(accelerator="myaccel")
    assert "tp_myaccel" not in sys.modules


def test_autoload_off_still_registers_plugins_given_explicitly(install, monkeypatch):
    install_myaccel(install)
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    import tp_myaccel

    t = trainer(accelerator="myaccel", plugins=[tp_myaccel])
    assert type(t.accelerator).__name__ == "MyAccelerator"


BOOM = """
    raise RuntimeError("boom at import")
"""


def test_a_blocked_plugin_is_never_imported(install, monkeypatch):
    install("treadle-boom", "0.3", {"boom": "tp_boom"}, {"tp_boom": BOOM})
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "other, boom")
    with pytest.warns(UserWarning, match=re.escape("TREADLE_BLOCK_PLUGINS names `other`")):
        pm = trainer().plugin_manager
    assert "tp_boom" not in sys.modules
    assert pm.get_plugin("boom") is None


def test_blocking_works_for_treadles_own_plugins_too(install, monkeypatch):
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "progress_bar")
    t = trainer(enable_progress_bar=True)
    assert t.plugin_manager.get_plugin("progress_bar") is None
    assert not any(type(c).__name__ == "ProgressBar" for c in t.callbacks)


# -- failures ----------------------------------------------------------------------------------


def test_a_broken_plugin_names_entry_point_distribution_and_cause(install):
    install("treadle-boom", "0.3", {"boom": "tp_boom"}, {"tp_boom": BOOM})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Plugin entry point `boom = tp_boom` (group 'treadle') of distribution treadle-boom "
            "0.3 failed to import: RuntimeError: boom at import. To run without it, set "
            "TREADLE_BLOCK_PLUGINS=boom"
        ),
    ) as info:
        trainer()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "boom at import"


def test_an_entry_point_naming_a_missing_object_is_a_plugin_error(install):
    install("treadle-typo", "2.0", {"typo": "tp_typo_obj:nothing_here"}, {"tp_typo_obj": "x = 1\n"})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Plugin entry point `typo = tp_typo_obj:nothing_here` (group 'treadle') of "
            "distribution treadle-typo 2.0 failed to import: AttributeError:"
        ),
    ) as info:
        trainer()
    assert isinstance(info.value.__cause__, AttributeError)


TWIN = """
    import treadle

    @treadle.hookimpl
    def provide_accelerators():
        return [treadle.Provider("accelerator", "twin", lambda trainer: None)]
"""


def test_two_distributions_providing_one_accelerator_name(install):
    install("treadle-twin-a", "1.0", {"twin_a": "tp_twin_a"}, {"tp_twin_a": TWIN})
    install("treadle-twin-b", "1.0", {"twin_b": "tp_twin_b"}, {"tp_twin_b": TWIN})
    # Installed last, treadle-twin-b is first on sys.path: it is registered first and named last.
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "accelerator 'twin' is provided twice: by plugin 'twin_a' (distribution "
            "treadle-twin-a) and by plugin 'twin_b' (distribution treadle-twin-b). Uninstall one, "
            "or block one with TREADLE_BLOCK_PLUGINS=twin_b"
        ),
    ):
        trainer(accelerator="cpu")


def test_blocking_one_of_two_conflicting_providers_resolves_the_conflict(install, monkeypatch):
    install("treadle-twin-a", "1.0", {"twin_a": "tp_twin_a"}, {"tp_twin_a": TWIN})
    install("treadle-twin-b", "1.0", {"twin_b": "tp_twin_b"}, {"tp_twin_b": TWIN})
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "twin_b")
    pm = trainer(accelerator="cpu").plugin_manager
    assert pm.providers("accelerator")["twin"].distribution == "treadle-twin-a"
    assert "tp_twin_b" not in sys.modules


def test_two_distributions_declaring_one_entry_point_name(install):
    install("treadle-same-a", "1.0", {"same": "tp_same_a"}, {"tp_same_a": "x = 1\n"})
    install("treadle-same-b", "1.0", {"same": "tp_same_b"}, {"tp_same_b": "x = 2\n"})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Two distributions declare the treadle entry point `same`: treadle-same-b and "
            "treadle-same-a. Uninstall one, or block the name with TREADLE_BLOCK_PLUGINS=same"
        ),
    ):
        trainer()


TYPO = """
    import treadle

    @treadle.hookimpl
    def on_train_strat(trainer):
        pass
"""


def test_a_misspelled_hook_name_is_a_plugin_error(install):
    install("treadle-typo", "0.1", {"typo": "tp_typo"}, {"tp_typo": TYPO})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Plugin `typo` (distribution treadle-typo 0.1) implements `on_train_strat`, which "
            "is not a hook: neither treadle nor a loaded plugin declares it. Did you mean "
            "`on_train_start`? Check the spelling against `treadle.hookspecs`."
        ),
    ):
        trainer()


WRONG_ARG = """
    import treadle

    @treadle.hookimpl
    def on_train_start(trainer, modul):
        pass
"""


def test_an_implementation_asking_for_an_unknown_argument_is_a_plugin_error(install):
    install("treadle-badarg", "0.1", {"badarg": "tp_badarg"}, {"tp_badarg": WRONG_ARG})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Plugin entry point `badarg = tp_badarg` of distribution treadle-badarg 0.1 cannot "
            "be registered: Plugin 'badarg' for hook 'on_train_start'\nhookimpl definition: "
            "on_train_start(trainer, modul)\nArgument(s) {'modul'} are declared in the hookimpl "
            "but can not be found in the hookspec"
        ),
    ) as info:
        trainer()
    assert str(info.value).endswith("To run without it, set TREADLE_BLOCK_PLUGINS=badarg")
    assert type(info.value.__cause__).__name__ == "PluginValidationError"


# -- tracing ---------------------------------------------------------------------------------------


TRACER = """
    import treadle

    @treadle.hookimpl
    def on_train_start(trainer):
        pass

    @treadle.hookimpl
    def on_before_backward(loss):
        pass
"""


class TracedModule(Regression):
    def on_train_start(self):
        pass

    def backward(self, loss):
        loss.backward()


def test_trace_hooks_prints_every_hook_call_in_call_order(install, monkeypatch, capsys):
    install("treadle-tracer", "0.1", {"tracer": "tp_tracer"}, {"tp_tracer": TRACER})
    monkeypatch.setenv("TREADLE_TRACE_HOOKS", "1")
    t = trainer(accelerator="cpu")
    capsys.readouterr()  # construction (configure_callbacks) is traced too; pin the fit
    t.fit(TracedModule(), loader(n_batches=1))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "treadle hook setup -> [-]",
        "treadle hook setup_environment -> [-]",
        "treadle hook convert_module -> [-]",
        "treadle hook setup_module -> [-]",
        "treadle hook on_fit_start -> [-]",
        "treadle hook setup_dataloader -> [-]",  # asked for after on_fit_start, as Lightning
        "treadle hook on_train_start -> [tracer, module]",
        "treadle hook on_train_epoch_start -> [-]",
        "treadle hook on_before_batch_transfer -> [-]",
        "treadle hook transfer_batch_to_device -> [treadle.core]",
        "treadle hook on_after_batch_transfer -> [-]",
        "treadle hook on_train_batch_start -> [-]",
        "treadle hook optimizer_step -> [treadle.core]",
        "  treadle hook on_before_zero_grad -> [-]",
        "  treadle hook optimizer_zero_grad -> [treadle.core]",
        "  treadle hook run_training_step -> [treadle.core]",
        "  treadle hook on_before_backward -> [tracer]",
        "  treadle hook scale_loss -> [treadle.core]",
        "  treadle hook backward -> [module, treadle.core]",
        "  treadle hook on_after_backward -> [-]",
        "  treadle hook on_before_optimizer_step -> [-]",
        "  treadle hook configure_gradient_clipping -> [treadle.core]",
        "treadle hook on_train_batch_end -> [-]",
        "treadle hook on_train_epoch_end -> [-]",
        "treadle hook on_train_end -> [-]",
        "treadle hook on_fit_end -> [-]",
        "treadle hook teardown -> [-]",
    ]


def test_without_the_variable_nothing_is_traced(install, capsys):
    trainer(accelerator="cpu").fit(Regression(), loader(n_batches=1))
    assert "treadle hook" not in capsys.readouterr().err


# -- hookspecs from plugins ------------------------------------------------------------------------


SPEC_OWNER = """
    import treadle

    class Specs:
        @treadle.hookspec
        def on_tp_metric(self, trainer, name, value):
            '''Called with each value this plugin measures; the results are collected.'''

    treadle_hookspecs = Specs

    @treadle.hookimpl
    def on_train_epoch_end(trainer):
        trainer.plugin_manager.hook.on_tp_metric(trainer=trainer, name="epoch",
                                                 value=trainer.current_epoch)
"""

SPEC_USER = """
    import treadle

    SEEN = []

    @treadle.hookimpl
    def on_tp_metric(name, value):
        SEEN.append((name, value))
"""


@pytest.mark.parametrize("user_first", [False, True], ids=["spec-first", "implementer-first"])
def test_a_plugin_defined_hookspec_is_implemented_by_another_plugin(install, user_first):
    owner = ("treadle-metrics", "1.0", {"metrics": "tp_spec_owner"}, {"tp_spec_owner": SPEC_OWNER})
    user = ("treadle-metrics-sink", "1.0", {"sink": "tp_spec_user"}, {"tp_spec_user": SPEC_USER})
    # The distribution installed last is discovered first.
    for args in (owner, user) if user_first else (user, owner):
        install(*args)
    t = trainer(accelerator="cpu", max_epochs=2)
    t.fit(Regression(), loader())
    assert sys.modules["tp_spec_user"].SEEN == [("epoch", 0), ("epoch", 1)]
    assert t.plugin_manager.hook.on_tp_metric.spec is not None


def test_a_hookspec_from_a_plugin_given_explicitly(install, monkeypatch):
    install("treadle-metrics", "1.0", {"metrics": "tp_spec_owner"}, {"tp_spec_owner": SPEC_OWNER})
    install("treadle-metrics-sink", "1.0", {"sink": "tp_spec_user"}, {"tp_spec_user": SPEC_USER})
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    import tp_spec_owner
    import tp_spec_user

    trainer(accelerator="cpu", plugins=[tp_spec_user, tp_spec_owner]).fit(Regression(), loader())
    assert tp_spec_user.SEEN == [("epoch", 0)]


def test_implementing_a_plugin_hook_whose_owner_is_absent_is_a_plugin_error(install, monkeypatch):
    install("treadle-metrics-sink", "1.0", {"sink": "tp_spec_user"}, {"tp_spec_user": SPEC_USER})
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            "Plugin `sink` (distribution treadle-metrics-sink 1.0) implements `on_tp_metric`, "
            "which is not a hook: neither treadle nor a loaded plugin declares it. Check the "
            "spelling against `treadle.hookspecs`."
        ),
    ):
        trainer()


# -- selection errors ----------------------------------------------------------------------------


def said(kind, value):
    """Lightning's words that treadle's refusal of an unknown name starts with."""
    return {
        "accelerator": f"You selected an invalid accelerator name: `accelerator={value!r}`. ",
        "strategy": f"You selected an invalid strategy name: `strategy={value!r}`. ",
        "precision": f"Precision {value!r} is invalid. ",
    }[kind]


def test_unknown_names_list_the_available_ones_all_three_at_once(install):
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer(accelerator="gpuu", precision="17-bits", strategy="dpp")
    assert info.value.problems == [
        "Trainer: You selected an invalid accelerator name: `accelerator='gpuu'`. "
        "`accelerator='gpuu'` is not provided by any installed plugin. Available "
        f"names: {available('accelerator')}. Install the plugin that provides it, or pick one "
        "of these.",
        "Trainer: Precision '17-bits' is invalid. `precision='17-bits'` is not provided "
        "by any installed plugin. Available "
        f"names: {available('precision')}. Install the plugin that provides it, or pick one "
        "of these.",
        "Trainer: You selected an invalid strategy name: `strategy='dpp'`. "
        "`strategy='dpp'` is not provided by any installed plugin. Available names: "
        f"{available('strategy')}. Install the plugin that provides it, or pick one of these.",
    ]
    assert "'cpu'" in available("accelerator")


@pytest.mark.parametrize(
    "kind, value", [("accelerator", "tpuu"), ("precision", "8-true"), ("strategy", "fsdpp")]
)
def test_one_unknown_name(install, kind, value):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            f"1 configuration problem:\n  - Trainer: {said(kind, value)}`{kind}={value!r}` is not "
            "provided by any "
            f"installed plugin. Available names: {available(kind)}."
        ),
    ):
        trainer(**{kind: value})


def test_a_third_party_name_is_listed_among_the_available_ones(install):
    install_myaccel(install)
    with pytest.raises(treadle.ConfigurationError, match=re.escape("'myaccel'")):
        trainer(accelerator="myaccell")


def test_an_unavailable_provider_gives_its_install_hint(install):
    install_myaccel(install, available=False)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "myaccel: `accelerator='myaccel'` is installed but not available on this machine. "
            "Install it with: pip install treadle-myaccel[hw]"
        ),
    ):
        trainer(accelerator="myaccel")
