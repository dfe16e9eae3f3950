"""What is installed is visible and predictable (issue 12, items 1 and 2).

Third-party accelerators, precisions and settings are installed as real distributions (a
``*.dist-info`` with ``entry_points.txt`` on ``sys.path``, see ``tests/test_plugins.py``):
``"auto"`` ignores a third-party record without a priority, treadle's own records win ties, a
run says on rank zero what it selected and why, which third-party plugins take part and which
of their settings are set; blocked names are reported as blocked.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

import treadle
from test_plugins import (  # noqa: F401 (install: a fixture)
    Regression,
    install,
    install_myaccel,
    loader,
    trainer,
)
from treadle.plugin_manager import RunPluginManager, _names

# A third-party precision that reads a setting of its own, and declares it.
MYPREC = """
    import os
    import treadle

    treadle_settings = [
        treadle.Setting("TREADLE_MYPREC_SCALE", "scales nothing; a test setting", default="1"),
    ]

    class MyPrecision(treadle.kinds.PrecisionBase):
        name = "myprec"

        def __init__(self, trainer):
            self.scale = float(os.environ.get("TREADLE_MYPREC_SCALE", "1"))

    @treadle.hookimpl
    def provide_precisions():
        return [treadle.Provider("precision", "myprec", MyPrecision, description="a test one")]
"""


def install_myprec(install):
    install("treadle-myprec", "0.2", {"myprec": "tp_myprec"}, {"tp_myprec": MYPREC})


def run_lines(caplog, t) -> list[str]:
    """The lines a fit logs at its start (logger ``treadle``), without the ``treadle: ``."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="treadle"):
        t.fit(Regression(), loader())
    lines = [r.getMessage() for r in caplog.records if r.name == "treadle"]
    return [x for x in lines if not x.startswith("treadle: fit ")]  # the end's summary: its own


# -- 1. "auto" is predictable ------------------------------------------------------------------


def test_a_third_party_accelerator_without_a_priority_stays_out_of_auto(install):
    install_myaccel(install, priority=None)
    assert trainer().accelerator.name == "cpu"
    assert trainer(accelerator="auto").accelerator.name == "cpu"
    assert type(trainer(accelerator="myaccel").accelerator).__name__ == "MyAccelerator"


def test_a_tie_with_cpu_goes_to_treadles_own_record(install):
    install_myaccel(install, priority=0)  # cpu has 0 too
    t = trainer()
    assert t.accelerator.name == "cpu"
    name, why = t.plugin_manager.reasons["accelerator"]
    assert name == "cpu"
    assert why.startswith(
        '"auto" picked it: the available accelerator with the highest priority (a tie, won by '
        "treadle's own record); available: cpu=0, myaccel=0"
    )


def test_a_third_party_accelerator_with_a_higher_priority_wins_auto_and_says_so(install, caplog):
    install_myaccel(install, priority=100)
    t = trainer()
    assert type(t.accelerator).__name__ == "MyAccelerator"
    lines = run_lines(caplog, t)
    assert lines[0] == (
        "treadle: accelerator: 'myaccel' (\"auto\" picked it: the available accelerator with "
        "the highest priority; available: myaccel=100, cpu=0)"
    )


def test_auto_names_the_records_that_are_selected_by_name_only(install):
    install_myaccel(install, priority=None)
    _, why = trainer().plugin_manager.reasons["accelerator"]
    assert why.endswith("; by name only (no priority): myaccel")


def test_auto_with_nothing_available_says_what_there_is():
    from treadle.plugin_manager import pick_auto
    from treadle.providers import Provider

    records = {
        "a": Provider("accelerator", "a", None, available=False, priority=3),
        "b": Provider("accelerator", "b", None),
    }
    assert pick_auto("accelerator", records) == (
        None,
        '"auto" found none available (priorities: a=3; by name only (no priority): b)',
    )


def test_the_run_says_what_it_selected_and_why_once_on_rank_zero(install, caplog):
    install_myprec(install)
    t = trainer(accelerator="cpu", precision="myprec")
    assert run_lines(caplog, t) == [
        "treadle: accelerator: 'cpu' (selected by name: accelerator='cpu')",
        "treadle: precision: 'myprec' (selected by name: precision='myprec')",
        "treadle: strategy: 'single_device' (\"auto\" picked it: one device, one node, one "
        "process)",
        "treadle: environment: none (no cluster environment detected)",
        *_third_party_lines(t),
    ]
    assert "treadle: plugin: myprec (treadle-myprec 0.2)" in _third_party_lines(t)
    assert run_lines(caplog, t) == []  # once per Trainer


def _third_party_lines(t) -> list[str]:
    """Lines of the third-party plugins taking part (myprec; treadle-ema where installed)."""
    return [
        f"treadle: plugin: {name} ({dist[0]} {dist[1]})"
        for name, dist, _ in t.plugin_manager.third_party()
    ]


def test_a_third_party_plugin_that_only_provides_unselected_records_is_not_listed(install):
    install_myaccel(install, priority=None)
    install_myprec(install)
    t = trainer()
    assert "myaccel" in t.plugin_manager.distributions
    assert [name for name, _, _ in t.plugin_manager.third_party() if "my" in name] == []
    t = trainer(accelerator="myaccel", precision="myprec")
    assert [name for name, _, _ in t.plugin_manager.third_party() if "my" in name] == [
        "myprec",
        "myaccel",
    ]


def test_treadle_quiet_silences_the_run_lines(caplog, monkeypatch):
    monkeypatch.setenv("TREADLE_QUIET", "1")
    assert run_lines(caplog, trainer()) == []


def test_the_run_names_the_settings_a_plugin_declares_when_they_are_set(
    install, caplog, monkeypatch
):
    install_myprec(install)
    monkeypatch.setenv("TREADLE_MYPREC_SCALE", "2.5")
    lines = run_lines(caplog, trainer(precision="myprec"))
    assert "treadle: plugin: myprec (treadle-myprec 0.2); set: TREADLE_MYPREC_SCALE=2.5" in lines


def test_treadle_ema_declares_its_decay_and_a_run_names_it(caplog, monkeypatch):
    from treadle_ema import plugin

    assert [s.name for s in plugin.treadle_settings] == ["TREADLE_EMA_DECAY"]
    t = trainer()
    assert t.plugin_manager.get_plugin("ema") is plugin  # contrib/treadle-ema is installed
    monkeypatch.setenv("TREADLE_EMA_DECAY", "0.9")
    lines = run_lines(caplog, t)
    assert any(
        line.startswith("treadle: plugin: ema (treadle-ema ")
        and line.endswith("; set: TREADLE_EMA_DECAY=0.9")
        for line in lines
    ), lines


# -- 2. blocking is visible --------------------------------------------------------------------


def test_a_blocked_name_is_reported_as_blocked(install, monkeypatch):
    install_myaccel(install)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "myaccel")
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer(accelerator="myaccel")
    pm = RunPluginManager()
    pm.load_entry_points()
    assert info.value.problems == [
        "Trainer: `accelerator='myaccel'`: the plugin `myaccel` (distribution treadle-myaccel "
        "1.2.3) is blocked by TREADLE_BLOCK_PLUGINS, so what it provides is not known. Remove "
        "`myaccel` from TREADLE_BLOCK_PLUGINS to select it, or pick one of: "
        f"{_names(pm.providers('accelerator'))}"
    ]


def test_an_unknown_name_lists_what_was_not_loaded(install, monkeypatch):
    install_myaccel(install)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "myaccel")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Blocked by TREADLE_BLOCK_PLUGINS, and so not searched: `myaccel` (treadle-myaccel). "
            "Install the plugin that provides it, or pick one of these."
        ),
    ):
        trainer(accelerator="other")


def test_an_unknown_name_in_the_block_list_is_a_warning_naming_the_installed_ones(
    install, monkeypatch
):
    install_myaccel(install)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "myacel")
    with pytest.warns(UserWarning) as record:
        t = trainer()
    assert t.plugin_manager.get_plugin("myaccel") is not None  # nothing was blocked
    (message,) = [str(w.message) for w in record if "TREADLE_BLOCK_PLUGINS" in str(w.message)]
    assert message.startswith(
        "TREADLE_BLOCK_PLUGINS names `myacel`, which no installed plugin declares: nothing is "
        "blocked for it. Did you mean `myaccel` for `myacel`? Installed entry points (group "
        "'treadle'): "
    )
    assert ", myaccel, " in message and ", cpu, " in message


# -- treadle plugins: "auto" on this machine, settings with -v ------------------------------------


def cli(tmp_path, *args, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    paths = [str(p) for p in sorted(tmp_path.glob("site-*"))]
    environ["PYTHONPATH"] = os.pathsep.join([*paths, *sys.path])
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "treadle", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )


def test_plugins_shows_what_auto_picks_and_with_v_the_settings(install, tmp_path):
    install_myaccel(install, priority=None)
    install_myprec(install)
    result = cli(tmp_path, "plugins", "-v", TREADLE_MYPREC_SCALE="3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        '"auto" on this machine (Trainer() with its defaults):\n'
        "  accelerator: 'cpu' (\"auto\" picked it: the available accelerator with the highest "
        "priority; available: cpu=0; by name only (no priority): myaccel)\n"
        "  strategy: 'single_device' (\"auto\" picked it: one device, one node, one process)\n"
        "  environment: none (no cluster environment detected)\n"
    ) in out
    assert (
        "    setting TREADLE_MYPREC_SCALE: scales nothing; a test setting (set to '3'; "
        "default: 1)\n"
    ) in out
    quiet = cli(tmp_path, "plugins")
    assert "setting TREADLE_MYPREC_SCALE" not in quiet.stdout


def test_plugins_warns_about_an_unknown_block_entry(install, tmp_path):
    install_myaccel(install)
    result = cli(tmp_path, "plugins", TREADLE_BLOCK_PLUGINS="myacel")
    assert result.returncode == 0, result.stderr
    assert (
        "warning: TREADLE_BLOCK_PLUGINS names `myacel`, which no installed plugin declares: "
        "nothing is blocked for it. Did you mean `myaccel` for `myacel`?"
    ) in result.stdout


def test_a_run_of_the_cli_prints_the_selection_on_stderr(install, tmp_path):
    """Outside pytest nothing configured logging: the lines go to stderr, as Lightning's."""
    script = tmp_path / "run.py"
    script.write_text(
        "import torch, treadle\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "class M(treadle.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.l = torch.nn.Linear(1, 1)\n"
        "    def training_step(self, b, i):\n"
        "        return self.l(b[0]).sum()\n"
        "    def configure_optimizers(self):\n"
        "        return torch.optim.SGD(self.parameters(), lr=0.1)\n"
        "t = treadle.Trainer(max_steps=1, logger=False, enable_progress_bar=False,\n"
        "                    enable_checkpointing=False, enable_model_summary=False)\n"
        "t.fit(M(), DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=1))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TREADLE_")}
    environ["PYTHONPATH"] = os.pathsep.join(sys.path)
    loud = subprocess.run(
        [sys.executable, str(script)], env=environ, capture_output=True, text=True, timeout=240
    )
    assert loud.returncode == 0, loud.stderr
    assert "treadle: accelerator: 'cpu' (\"auto\" picked it" in loud.stderr
    assert loud.stdout == ""
    quiet = subprocess.run(
        [sys.executable, str(script)],
        env={**environ, "TREADLE_QUIET": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert quiet.returncode == 0 and "treadle:" not in quiet.stderr
