"""``treadle plugins``: a table by default, ``-v`` in detail, ``--json`` for scripts; "available"
means selectable here (a precision needs an available accelerator of its device types)."""

from __future__ import annotations

import json
import re

from treadle.cli import main

PLUGIN = """
    import torch
    import treadle

    class CudaOnly(treadle.kinds.PrecisionBase):
        name = "cudaonly"
        param_dtype = torch.float32
        compute_dtype = torch.float32
        device_types = ("cuda",)

        def __init__(self, trainer):
            pass

    @treadle.hookimpl
    def provide_precisions():
        return [treadle.Provider("precision", "cudaonly", CudaOnly, description="CUDA only.")]

    @treadle.hookimpl
    def provide_accelerators():
        return [treadle.Provider("accelerator", "npu", lambda trainer: None, available=False,
                                 install_hint="pip install treadle-npu[hw]")]
"""

HOOKS_ONLY = """
    import treadle

    @treadle.hookimpl
    def on_train_start(trainer):
        pass
"""


def _install(treadle_install):
    treadle_install(
        "treadle-table", {"tabled": "tbl_plugin"}, version="0.3", modules={"tbl_plugin": PLUGIN}
    )
    treadle_install("treadle-hooky", {"hooky": "tbl_hooky"}, modules={"tbl_hooky": HOOKS_ONLY})
    treadle_install("treadle-blocked", {"blocky": "tbl_blocky"}, modules={"tbl_blocky": HOOKS_ONLY})


def _rows(out: str) -> dict:
    lines = out.split("\n\n")[1].splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "DISTRIBUTION", "STATUS", "PROVIDES"]
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}


def test_the_default_is_one_row_per_entry_point(treadle_install, monkeypatch, capsys):
    _install(treadle_install)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "blocky")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert rows["tabled"] == [
        "treadle-table 0.3",
        "loaded",
        "accelerator: npu (unavailable); precision: cudaonly (unavailable)",
    ]
    assert rows["hooky"] == ["treadle-hooky 0.1.0", "loaded", "hooks: on_train_start"]
    assert rows["blocky"] == ["treadle-blocked 0.1.0", "blocked", "-"]
    assert rows["cpu"] == ["treadle 0.1.0", "loaded", "accelerator: cpu"]
    assert rows["deepspeed"][2].endswith(", +2 more")
    assert "  precision: 16-mixed (available), 16-true (available), 32-true (available)" in out
    assert "cudaonly (unavailable)" in out.split("Selectable names:")[1]
    assert out.endswith(
        "\nEach entry point in detail: `treadle plugins -v`; for scripts: `--json`.\n"
    )
    assert "distribution:" not in out and "description" not in out


def test_verbose_says_why_a_record_is_not_selectable(treadle_install, capsys):
    _install(treadle_install)
    assert main(["plugins", "-v"]) == 0
    out = capsys.readouterr().out
    assert (
        "tabled = tbl_plugin\n"
        "    distribution: treadle-table 0.3\n"
        "    status: loaded\n"
        "    accelerator 'npu': unavailable (install with: pip install treadle-npu[hw])\n"
        "    precision 'cudaonly': unavailable (runs on cuda devices; no accelerator of those is "
        "available) -- CUDA only.\n"
    ) in out


def test_json_holds_every_fact_for_scripts(treadle_install, monkeypatch, capsys):
    _install(treadle_install)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "blocky")
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"group", "warning", "entry_points", "selectable", "auto", "problems"}
    entries = {e["name"]: e for e in report["entry_points"]}
    tabled = entries["tabled"]
    assert (tabled["value"], tabled["distribution"], tabled["version"], tabled["status"]) == (
        "tbl_plugin",
        "treadle-table",
        "0.3",
        "loaded",
    )
    (cudaonly,) = [r for r in tabled["provides"] if r["name"] == "cudaonly"]
    assert cudaonly == {
        "kind": "precision",
        "name": "cudaonly",
        "available": False,
        "why_unavailable": "unavailable (runs on cuda devices; no accelerator of those is available)",
        "install_hint": None,
        "description": "CUDA only.",
        "priority": None,
    }
    assert entries["hooky"]["hooks"] == ["on_train_start"]
    assert entries["blocky"]["status"] == "blocked"
    assert report["selectable"]["precision"]["cudaonly"] is False
    assert report["selectable"]["precision"]["32-true"] is True
    assert report["selectable"]["accelerator"] == {
        "cpu": True,
        "cuda": False,
        "mps": False,
        "npu": False,
        "tpu": False,
    }
    assert report["problems"] == [] and report["auto"][0].startswith("accelerator: 'cpu'")


def test_a_broken_plugin_is_a_row_and_a_problem(treadle_install, capsys):
    treadle_install(
        "treadle-boom", {"boom": "tbl_boom"}, modules={"tbl_boom": "raise RuntimeError('boom')\n"}
    )
    assert main(["plugins"]) == 3
    out = capsys.readouterr().out
    assert _rows(out)["boom"] == ["treadle-boom 0.1.0", "failed", "see Problems"]
    assert (
        "\nProblems:\n  - Plugin entry point `boom = tbl_boom` (group 'treadle') of distribution"
        in out
    )
