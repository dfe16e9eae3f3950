"""treadle.testing, the kit for plugin authors: its fixtures as a plugin's test uses them."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import treadle
from treadle.testing import HookCall, TinyModule, tiny_loader

pytest_plugins = ["pytester"]

COUNTER = """
    import treadle

    calls = []

    @treadle.hookimpl
    def on_train_batch_end(trainer, outputs, batch, batch_idx):
        calls.append(batch_idx)
"""


class Counter:
    def __init__(self):
        self.batches = []

    @treadle.hookimpl
    def on_train_batch_end(self, trainer, batch_idx):
        self.batches.append((trainer.global_step, batch_idx))


def test_treadle_fit_runs_the_plugin_and_records_every_hook_call_in_order(treadle_fit):
    counter = Counter()
    run = treadle_fit(plugins=[counter], max_epochs=2)
    assert counter.batches == [(1, 0), (2, 1), (3, 0), (4, 1)]
    assert run.trainer.global_step == 4 and isinstance(run.model, TinyModule)
    names = run.hooks.names()
    assert names[:2] == ["setup", "setup_environment"] and names[-1] == "teardown"
    assert run.hooks.count("on_train_epoch_start") == 2
    assert run.hooks.count("optimizer_step") == 4
    # Named by the plugin manager (an object registered from plugins=[...]), in every batch.
    assert run.hooks.implemented_by(run.name_of(counter)) == ["on_train_batch_end"] * 4
    # The step's hooks run inside optimizer_step: one level deeper.
    step = names.index("optimizer_step")
    assert run.hooks.calls[step + 1 : step + 3] == [
        HookCall("on_before_zero_grad", 1, ()),
        HookCall("optimizer_zero_grad", 1, ("treadle.core",)),
    ]


def test_treadle_fit_takes_a_model_data_and_trainer_arguments(treadle_fit):
    class Validated(TinyModule):
        pass

    run = treadle_fit(
        model=Validated(),
        train_dataloaders=tiny_loader(3),
        val_dataloaders=tiny_loader(1, seed=1),
    )
    assert run.trainer.global_step == 3
    assert run.hooks.count("run_validation_step") == 1
    assert "val_loss" in run.trainer.callback_metrics


def test_treadle_install_makes_an_entry_point_visible_as_pip_would(
    treadle_install, treadle_trainer
):
    root = treadle_install(
        "treadle-counter",
        {"counter": "tk_counter.plugin"},
        version="1.2",
        modules={"tk_counter.plugin": COUNTER},
    )
    (ep,) = [ep for ep in importlib.metadata.entry_points(group="treadle") if ep.name == "counter"]
    assert ep.value == "tk_counter.plugin" and ep.dist.version == "1.2"
    assert importlib.metadata.version("treadle-counter") == "1.2"
    trainer = treadle_trainer()
    assert trainer.plugin_manager.distributions["counter"] == ("treadle-counter", "1.2")
    trainer.fit(TinyModule(), tiny_loader(3))
    assert sys.modules["tk_counter.plugin"].calls == [0, 1, 2]
    assert (root / "treadle_counter-1.2.dist-info" / "entry_points.txt").is_file()


def test_treadle_install_is_undone(tmp_path):
    from treadle.testing import Distributions

    installed = Distributions(tmp_path)
    root = installed("treadle-gone", {"gone": "tk_gone"}, modules={"tk_gone": "X = 1\n"})
    import tk_gone  # noqa: F401

    assert importlib.metadata.version("treadle-gone") == "0.1.0"
    installed.remove()
    assert str(root) not in sys.path and "tk_gone" not in sys.modules and not root.exists()
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("treadle-gone")
    assert "gone" not in {ep.name for ep in importlib.metadata.entry_points(group="treadle")}
    assert "gone" not in treadle.Trainer(logger=False).plugin_manager.distributions


def test_the_plugin_as_pytest_loads_it_and_cleans_up_between_tests(pytester):
    """A plugin author's test file, run by pytest with the kit loaded by name (as its
    ``pytest11`` entry point does): the install of one test is gone in the next."""
    pytester.makepyfile(
        test_mine="""
        import importlib.metadata

        def test_installed(treadle_install, treadle_fit):
            treadle_install("treadle-mine", {"mine": "mine_plugin"}, modules={"mine_plugin": '''
                import treadle
                seen = []
                @treadle.hookimpl
                def on_train_start(trainer):
                    seen.append(trainer.global_step)
            '''})
            run = treadle_fit()
            assert run.hooks.implemented_by("mine") == ["on_train_start"]

        def test_gone_in_the_next_test(treadle_trainer):
            names = {ep.name for ep in importlib.metadata.entry_points(group="treadle")}
            assert "mine" not in names
            assert "mine" not in treadle_trainer().plugin_manager.distributions
        """
    )
    result = pytester.runpytest_inprocess("-p", "treadle.testing", "-q")
    result.assert_outcomes(passed=2)


def test_name_of_names_callbacks_and_refuses_a_stranger(treadle_fit):
    class Seen(treadle.Callback):
        def on_train_start(self, trainer, pl_module):
            pass

    seen, stranger = Seen(), Counter()
    run = treadle_fit(callbacks=[seen])
    assert run.hooks.implemented_by(run.name_of(seen)) == ["on_train_start"]
    with pytest.raises(
        ValueError, match=re.escape(f"{stranger!r} is not a plugin or callback of this trainer")
    ):
        run.name_of(stranger)


def test_pytest_loads_the_kit_by_its_entry_point():
    """pytest11 entry point ``treadle.testing`` names the module itself: ``-p treadle.testing``
    (pyproject's addopts, a checkout not yet reinstalled) then finds it loaded, not loaded twice."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\n"treadle.testing" = "treadle.testing"\n' in pyproject
    declared = [
        ep
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.value == "treadle.testing"
    ]
    assert all(ep.name == "treadle.testing" for ep in declared)  # once treadle is reinstalled
