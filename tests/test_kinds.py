"""Plugin kinds (``treadle.kinds``): every first-party plugin conforms, a third-party precision
composes with the first-party accelerators through its declarations, selected instances are
checked at construction, and capabilities (not names) decide refusals."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import torch

import treadle
from test_plugins import Regression, install, loader, trainer  # noqa: F401 (install: a fixture)
from treadle import kinds
from treadle.plugin_manager import RunPluginManager

ROOT = Path(__file__).resolve().parents[1]

# Every record the `treadle` distributions provide (treadle-slurm: contrib, installed editable).
FIRST_PARTY = {
    "accelerator": {"cpu", "cuda", "mps", "tpu"},
    "precision": {"32-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true"},
    "strategy": {
        "single_device",
        "ddp",
        "ddp_spawn",
        "ddp_find_unused_parameters_true",
        "ddp_find_unused_parameters_false",
        "ddp_spawn_find_unused_parameters_true",
        "ddp_spawn_find_unused_parameters_false",
        "ddp_fork",
        "ddp_fork_find_unused_parameters_true",
        "ddp_fork_find_unused_parameters_false",
        "ddp_notebook",
        "ddp_notebook_find_unused_parameters_true",
        "ddp_notebook_find_unused_parameters_false",
        "deepspeed",
        "deepspeed_stage_1",
        "deepspeed_stage_2",
        "deepspeed_stage_3",
        "deepspeed_stage_2_offload",
        "deepspeed_stage_3_offload",
        "fsdp",
    },
    "environment": {"torchrun", "slurm"},
    "logger": {"csv", "tensorboard"},
}
FIRST_PARTY_DISTRIBUTIONS = {"treadle", "treadle-slurm"}
CASES = [(kind, name) for kind in FIRST_PARTY for name in sorted(FIRST_PARTY[kind])]


def _records(kind):
    pm = RunPluginManager()
    pm.load_entry_points()
    return {
        n: r for n, r in pm.providers(kind).items() if r.distribution in FIRST_PARTY_DISTRIBUTIONS
    }


@pytest.mark.parametrize("kind", list(FIRST_PARTY))
def test_the_first_party_list_is_complete(kind, monkeypatch):
    for var in ("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "TREADLE_BLOCK_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    assert set(_records(kind)) == FIRST_PARTY[kind]


# -- (a) conformance -------------------------------------------------------------------------------


@pytest.fixture
def launched(monkeypatch):
    """Rank variables of torchrun and of a SLURM step, so that both environments can be made."""
    for var, value in {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_PORT": "29511",
        "SLURM_NTASKS": "2",
        "SLURM_PROCID": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "node[01-02]",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.mark.parametrize("kind, name", CASES)
def test_every_first_party_plugin_declares_its_kind(kind, name, tmp_path, launched):
    record = _records(kind)[name]
    host = trainer(accelerator="cpu", default_root_dir=tmp_path)
    if name == "tpu" and not treadle.module_available("torch_xla"):
        # Its factory imports torch_xla; the declarations are on the class (root_device is a
        # property that starts the XLA runtime, which check_kind never evaluates).
        from treadle_plugins.accelerators.xla import XLAAccelerator

        instance = XLAAccelerator.__new__(XLAAccelerator)
    else:
        instance = record.factory(host)  # as the Trainer makes it when `name` is selected
    assert kinds.check_kind(kind, instance) == []
    if kind != "logger":  # `name` is the selection name (a logger's is its directory's)
        assert instance.name == name


def test_a_selected_trainer_holds_conforming_instances(tmp_path):
    t = trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        strategy="ddp",
        devices=1,
        logger=True,
        default_root_dir=tmp_path,
    )
    assert isinstance(t.accelerator, kinds.Accelerator)
    assert isinstance(t.precision_plugin, kinds.Precision)
    assert isinstance(t.strategy, kinds.Strategy)
    assert isinstance(t.logger, kinds.Logger)
    assert (t.precision_plugin.param_dtype, t.precision_plugin.compute_dtype) == (
        torch.float32,
        torch.bfloat16,
    )


class Half:
    name = "half"
    param_dtype = "float16"  # not a torch.dtype


def test_check_kind_names_the_plugin_each_missing_member_and_the_fix():
    assert kinds.check_kind("precision", Half()) == [
        "precision 'half' (test_kinds.Half): `param_dtype` must be a torch.dtype (the dtype of "
        "the module's floating parameters (`float32` for the mixed precisions)), not 'float16'.",
        "precision 'half' (test_kinds.Half) does not declare `compute_dtype` (torch.dtype: the "
        "dtype the forward's math runs in (the autocast dtype for the mixed precisions)). "
        "Declare it, or subclass `treadle.kinds.PrecisionBase` for its default (torch.float32).",
        "precision 'half' (test_kinds.Half) does not declare `device_types` "
        '(Optional[Collection[str]]: the device types (`torch.device.type`: `"cpu"`, '
        '`"cuda"`, ...) it can run on, or None for every device whose accelerator computes in '
        "its dtypes). Declare it, or subclass `treadle.kinds.PrecisionBase` for its default "
        "(None).",
    ]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "check_kind(kind='optimizer'): kinds are accelerator, precision, strategy, "
            "environment, logger."
        ),
    ):
        kinds.check_kind("optimizer", Half())


def test_check_kind_does_not_evaluate_properties():
    class Lazy(kinds.AcceleratorBase):
        name, device_type = "lazy", "cpu"

        @property
        def root_device(self):
            raise AssertionError("check_kind started the device")

    assert kinds.check_kind("accelerator", Lazy()) == []


# -- (b) a third-party precision from another distribution ------------------------------------------


MINE = """
    import torch
    import treadle


    class MinePrecision(treadle.kinds.PrecisionBase):
        '''bfloat16 autocast around the training step; float32 weights.'''

        name = "mine"
        compute_dtype = torch.bfloat16

        def __init__(self, trainer):
            pass

        @treadle.hookimpl(wrapper=True)
        def run_training_step(self, trainer):
            with torch.autocast(trainer.root_device.type, dtype=self.compute_dtype):
                return (yield)


    @treadle.hookimpl
    def provide_precisions():
        return [treadle.Provider("precision", "mine", MinePrecision,
                                 description="bf16 autocast, from treadle-mine.")]
"""


class Observing(Regression):
    def training_step(self, batch, batch_idx):
        self.seen = getattr(self, "seen", []) + [
            (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
        ]
        return super().training_step(batch, batch_idx)


def test_a_third_party_precision_runs_on_the_cpu_accelerator(install, capsys):
    install("treadle-mine", "0.2", {"mine": "tp_mine"}, {"tp_mine": MINE})
    from treadle.cli import main

    main(["plugins", "-v"])
    out = capsys.readouterr().out
    assert "precision 'mine': available -- bf16 autocast, from treadle-mine." in out
    t = trainer(accelerator="cpu", precision="mine")
    assert t.plugin_manager.distributions["mine"] == ("treadle-mine", "0.2")
    model = Observing()
    t.fit(model, loader())
    assert model.steps == 2 and model.seen == [(True, torch.bfloat16)] * 2
    assert all(p.dtype is torch.float32 for p in model.parameters())


# -- (c) a misspelled hook method on a selected instance -------------------------------------------


class _Typo:
    @treadle.hookimpl
    def on_train_strat(self, trainer):
        pass

    @treadle.hookimpl(optionalhook=True)
    def on_metric_from_an_absent_plugin(self, trainer):  # allowed: another plugin's hook
        pass


class TypoAccelerator(_Typo, kinds.AcceleratorBase):
    name, device_type, root_device = "typo", "cpu", torch.device("cpu")

    def __init__(self, trainer):
        pass


class TypoPrecision(_Typo, kinds.PrecisionBase):
    name = "typo"

    def __init__(self, trainer):
        pass


class TypoStrategy(_Typo, kinds.StrategyBase):
    name = "typo"

    def __init__(self, trainer):
        pass


class OffersTypos:
    @treadle.hookimpl
    def provide_accelerators(self):
        return [treadle.Provider("accelerator", "typo", TypoAccelerator)]

    @treadle.hookimpl
    def provide_precisions(self):
        return [treadle.Provider("precision", "typo", TypoPrecision)]

    @treadle.hookimpl
    def provide_strategies(self):
        return [treadle.Provider("strategy", "typo", TypoStrategy)]


@pytest.mark.parametrize("kind", ["accelerator", "precision", "strategy"])
def test_a_misspelled_hook_on_a_selected_instance_fails_at_construction(kind):
    cls = {"accelerator": TypoAccelerator, "precision": TypoPrecision, "strategy": TypoStrategy}[
        kind
    ]
    with pytest.raises(
        treadle.PluginError,
        match=re.escape(
            f"Plugin `{kind}:typo` cannot take part in the run:\n"
            f"  - `{cls.__qualname__}.on_train_strat` is marked @hookimpl, but `on_train_strat` "
            f"is not a hook: neither treadle nor a loaded plugin declares it. Did you mean "
            f"`on_train_start`? Check the spelling against `treadle.hookspecs`."
        ),
    ):
        trainer(**{"accelerator": "cpu", kind: "typo", "plugins": [OffersTypos()]})


TYPO_DIST = """
    import treadle


    class Sloppy:
        name = "sloppy"

        def __init__(self, trainer):
            pass

        @treadle.hookimpl
        def on_fit_strat(self, trainer):
            pass


    @treadle.hookimpl
    def provide_precisions():
        return [treadle.Provider("precision", "sloppy", Sloppy)]
"""


def test_every_problem_of_a_selected_instance_is_raised_together(install):
    install("treadle-sloppy", "1.0", {"sloppy": "tp_sloppy"}, {"tp_sloppy": TYPO_DIST})
    with pytest.raises(treadle.PluginError) as info:
        trainer(accelerator="cpu", precision="sloppy")
    message = str(info.value)
    assert message.startswith(
        "Plugin `precision:sloppy` (plugin `sloppy` of distribution treadle-sloppy) cannot take "
        "part in the run:\n"
        "  - precision 'sloppy' (tp_sloppy.Sloppy) does not declare `param_dtype` (torch.dtype: "
        "the dtype of the module's floating parameters (`float32` for the mixed precisions)). "
        "Declare it, or subclass `treadle.kinds.PrecisionBase` for its default "
        "(torch.float32).\n"
    )
    assert message.count("\n  - ") == 4  # param_dtype, compute_dtype, device_types, the typo
    assert message.endswith(
        "  - `Sloppy.on_fit_strat` is marked @hookimpl, but `on_fit_strat` is not a hook: "
        "neither treadle nor a loaded plugin declares it. Did you mean `on_fit_start`? Check "
        "the spelling against `treadle.hookspecs`."
    )


# -- (d) capabilities decide, not names ------------------------------------------------------------


class CudaOnly(kinds.PrecisionBase):
    name = "cuda-only"
    compute_dtype = torch.float16
    device_types = ("cuda",)

    def __init__(self, trainer):
        pass


class OffersCudaOnly:
    @treadle.hookimpl
    def provide_precisions(self):
        return [treadle.Provider("precision", "cuda-only", CudaOnly)]


def test_a_precision_for_other_devices_is_refused_before_training():
    model = Regression()
    t = trainer(accelerator="cpu", precision="cuda-only", plugins=[OffersCudaOnly()])
    with pytest.raises(treadle.ConfigurationError) as info:
        t.fit(model, loader())
    assert info.value.problems == [
        "accelerator:cpu: `precision='cuda-only'` cannot run on `accelerator='cpu'`: it runs on "
        "devices of type 'cuda' only (its `device_types`), and this accelerator's are 'cpu'. "
        "Pick an accelerator of one of those types, or another precision."
    ]
    assert model.steps == 0


@pytest.mark.parametrize(
    "name, plugins, shards",
    [
        ("deepspeed_stage_2", [], False),
        ("deepspeed_stage_3", [], True),
        ("deepspeed_stage_3_offload", [], True),
        ("deepspeed", [], False),
        ("deepspeed", [{"stage": 3}], True),
        ("deepspeed", [{"config": {"zero_optimization": {"stage": 3}}}], True),
        ("deepspeed", [{"config": {"zero_optimization": {"stage": 1}}}], False),
    ],
)
def test_deepspeed_declares_whether_it_shards_parameters(name, plugins, shards):
    from treadle_plugins.strategies.deepspeed import DeepSpeedConfig

    t = trainer(accelerator="cpu", strategy=name, plugins=[DeepSpeedConfig(**kw) for kw in plugins])
    assert t.strategy.shards_parameters is shards
    assert (t.strategy.owns_precision, t.strategy.saves_optimizer_states) == (True, True)


@pytest.mark.parametrize("name", ["single_device", "ddp", "ddp_spawn", "ddp_fork"])
def test_single_process_and_ddp_strategies_declare_what_they_leave_to_others(name):
    strategy = trainer(accelerator="cpu", strategy=name, devices=1).strategy
    assert (
        strategy.owns_precision,
        strategy.saves_optimizer_states,
        strategy.shards_parameters,
    ) == (False, False, False)
    assert isinstance(
        strategy.no_backward_sync(None, enabled=True), contextlib.AbstractContextManager
    )


class NamedAccelerator(kinds.AcceleratorBase):
    """A third-party accelerator on the CPU, under a name of its own."""

    root_device = torch.device("cpu")

    def __init__(self, trainer, name, device_type):
        self.name, self.device_type = name, device_type


class OffersNamedAccelerators:
    @treadle.hookimpl
    def provide_accelerators(self):
        return [
            treadle.Provider("accelerator", "mycpu", lambda t: NamedAccelerator(t, "mycpu", "cpu")),
            treadle.Provider("accelerator", "npu", lambda t: NamedAccelerator(t, "npu", "npu")),
        ]


def test_ddp_asks_the_accelerator_for_its_device_type(tmp_path):
    ok = trainer(
        accelerator="mycpu", strategy="ddp", devices=1, plugins=[OffersNamedAccelerators()]
    )
    assert ok.strategy.validate(ok) == []
    refused = trainer(
        accelerator="npu", strategy="ddp", devices=1, plugins=[OffersNamedAccelerators()]
    )
    assert refused.strategy.validate(refused) == [
        "`strategy='ddp'` runs on the CPU (gloo) or CUDA (NCCL), not on `accelerator='npu'`. "
        "Pick accelerator='cpu' or 'cuda'."
    ]


def test_a_third_party_accelerator_runs_the_first_party_precisions(tmp_path):
    t = trainer(accelerator="mycpu", precision="bf16-true", plugins=[OffersNamedAccelerators()])
    model = Regression()
    t.fit(model, loader())
    assert model.steps == 2 and model.layer.weight.dtype is torch.bfloat16


# -- the docs list every member ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(kinds.KINDS))
def test_every_member_is_documented(kind):
    doc = (ROOT / "docs" / "plugins.md").read_text()
    start = doc.index(f"\n### {kind.capitalize()}\n")
    section = doc[start : doc.find("\n#", start + 1)]
    for member, (_hint, is_method) in kinds.members(kind).items():
        row = f"| `{member}(" if is_method else f"| `{member}` |"
        assert row in section, f"docs/plugins.md does not document {kind}.{member}"
    rows = re.findall(r"^\| `(\w+)", section, flags=re.MULTILINE)
    assert rows == list(kinds.members(kind))  # every member, in declared order, nothing else
    assert f"`treadle.kinds.{kinds._BASES[kind].__name__}`" in section
