"""Every DeepSpeed refusal, pinned: raised by ``fit`` before anything starts.

These run in the pytest process: validation happens before ``setup_environment``, so no rank is
launched, no process group is made and ``deepspeed`` is not even imported. Each test also checks
that ``training_step`` never ran.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import re
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle_plugins.strategies import deepspeed as ds
from treadle_plugins.strategies.deepspeed import DeepSpeedConfig

needs_deepspeed = pytest.mark.skipif(
    not treadle.module_available("deepspeed"),
    reason="deepspeed is not installed (pip install treadle[deepspeed])",
)


@pytest.fixture(autouse=True)
def _only_treadles_own_plugins(monkeypatch):
    monkeypatch.setenv("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in (
        "TREADLE_BLOCK_PLUGINS",
        "TREADLE_TRACE_HOOKS",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "TREADLE_LAUNCHED",
        "TORCHELASTIC_RUN_ID",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _never_set_up(monkeypatch):
    """A refusal that fails to happen must not go on to launch a rank (it would re-run pytest)."""

    def refuse(self, trainer):
        raise AssertionError("validation passed: setup_environment was reached")

    monkeypatch.setattr(ds.DeepSpeedStrategy, "setup_environment", refuse)


def trainer(**kwargs) -> treadle.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=2,
        strategy="deepspeed_stage_2",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        max_epochs=1,
    )
    defaults.update(kwargs)
    return treadle.Trainer(**defaults)


def loader() -> DataLoader:
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


class Model(treadle.Module):
    def __init__(self, optimizers=lambda m: torch.optim.Adam(m.parameters()), manual=False):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.make = optimizers
        self.automatic_optimization = not manual
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return F.mse_loss(self.layer(batch[0]), batch[1])

    def configure_optimizers(self):
        return self.make(self)


def problems_of(model=None, **kwargs) -> list:
    model = model or Model()
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer(**kwargs).fit(model, loader())
    assert model.steps == 0
    return info.value.problems


def only(problems, prefix="strategy:deepspeed_stage_2: ") -> str:
    mine = [p for p in problems if p.startswith(prefix)]
    assert len(mine) == 1, problems
    return mine[0][len(prefix) :]


# -- availability --------------------------------------------------------------------------------


class _HideDeepSpeed(importlib.abc.MetaPathFinder):
    """What an environment without deepspeed looks like to ``find_spec`` and ``import``."""

    def find_spec(self, name, path=None, target=None):
        if name == "deepspeed" or name.startswith("deepspeed."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_deepspeed_not_installed_names_the_install_command(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [_HideDeepSpeed(), *sys.meta_path])
    for name in [m for m in sys.modules if m == "deepspeed" or m.startswith("deepspeed.")]:
        monkeypatch.delitem(sys.modules, name)
    assert not treadle.module_available("deepspeed")
    for name in ds.NAMES:
        with pytest.raises(treadle.ConfigurationError) as info:
            trainer(strategy=name)
        assert info.value.problems == [
            f"deepspeed: `strategy={name!r}` is installed but not available on this machine. "
            f"Install it with: pip install treadle[deepspeed]"
        ]


def test_every_name_is_listed_even_without_deepspeed(monkeypatch):
    monkeypatch.setattr(ds, "_deepspeed_available", lambda: False)
    from treadle.plugin_manager import RunPluginManager

    pm = RunPluginManager()
    pm.load_entry_points()
    records = pm.providers("strategy")
    for name in (
        "deepspeed",
        "deepspeed_stage_1",
        "deepspeed_stage_2",
        "deepspeed_stage_3",
        "deepspeed_stage_2_offload",
        "deepspeed_stage_3_offload",
    ):
        assert records[name].install_hint == "pip install treadle[deepspeed]"
        assert records[name].plugin == "deepspeed"


def test_selecting_a_strategy_does_not_import_deepspeed():
    code = (
        "import sys, treadle; treadle.Trainer(accelerator='cpu', strategy='deepspeed_stage_3', "
        "devices=2, logger=False); print('deepspeed' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# -- refusals ----------------------------------------------------------------------------------


@needs_deepspeed
def test_an_optimizer_that_requires_a_closure_is_refused():
    problem = only(problems_of(Model(lambda m: torch.optim.LBFGS(m.parameters()))))
    assert problem == (
        "`strategy='deepspeed_stage_2'` cannot step `LBFGS` (optimizer 0 of "
        "`configure_optimizers()`): its `step(closure)` re-evaluates the loss, but DeepSpeed's "
        "`engine.step()` calls `step()` without a closure (DeepSpeed fails at the first step "
        "with `TypeError: LBFGS.step() missing 1 required positional argument: 'closure'`). "
        "Use an optimizer whose `step()` needs no closure (SGD, Adam, AdamW, ...), or "
        "`strategy='ddp'` with `LBFGS`."
    )


@needs_deepspeed
@pytest.mark.parametrize("manual", [False, True])
def test_several_optimizers_are_refused(manual):
    def two(m):
        return [torch.optim.SGD(m.parameters(), lr=0.1), torch.optim.Adam(m.parameters())]

    problem = only(problems_of(Model(two, manual=manual)))
    assert problem == (
        "`strategy='deepspeed_stage_2'`: `configure_optimizers()` returned 2 optimizers, but "
        "DeepSpeed's engine steps exactly one. Return one optimizer (param groups can give "
        "parts of the model their own settings), or use `strategy='ddp'` for several (a GAN)."
    )


@needs_deepspeed
def test_no_optimizer_is_refused():
    problem = only(problems_of(Model(lambda m: None)))
    assert problem == (
        "`strategy='deepspeed_stage_2'`: `configure_optimizers()` returned no optimizer; "
        "DeepSpeed's engine steps exactly one. Return one optimizer (a DeepSpeed config "
        "'optimizer' section is not used by treadle)."
    )


@needs_deepspeed
def test_clipping_by_value_is_refused():
    problem = only(problems_of(gradient_clip_val=0.5, gradient_clip_algorithm="value"))
    assert problem == (
        "`Trainer(gradient_clip_algorithm='value')`: DeepSpeed clips gradients by norm only "
        "(inside `engine.step()`). Use `gradient_clip_algorithm='norm'` (or leave it out), or a "
        "strategy other than DeepSpeed to clip by value."
    )


@needs_deepspeed
def test_fp16_on_the_cpu_is_refused():
    problem = only(problems_of(precision="16-mixed"))
    assert problem == (
        "`precision='16-mixed'` with `strategy='deepspeed_stage_2'` on `accelerator='cpu'`: "
        "fp16 needs a CUDA device; DeepSpeed says 'Type fp16 is not supported on your "
        "device.'; use `precision='bf16-mixed'` (or 'bf16-true', '32-true')."
    )


@needs_deepspeed
@pytest.mark.parametrize("precision", ["64-true", "16-true"])
def test_precisions_deepspeed_cannot_run_are_refused(precision):
    problem = only(problems_of(precision=precision))
    assert problem == (
        f"`precision={precision!r}` is not available with `strategy='deepspeed_stage_2'`; "
        f"DeepSpeed runs: '32-true', 'bf16-true', 'bf16-mixed', '16-mixed'."
    )


class OwnBackward(Model):
    def backward(self, loss, *args, **kwargs):
        loss.backward()


class OwnStep(Model):
    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        optimizer.step(closure=optimizer_closure)


@needs_deepspeed
def test_a_module_backward_override_is_refused():
    assert only(problems_of(OwnBackward())) == (
        "`OwnBackward.backward` is overridden, but under `strategy='deepspeed_stage_2'` "
        "DeepSpeed's `engine.backward(loss)` must run the backward pass (it scales the loss and "
        "reduces ZeRO's gradient partitions); the override would replace it. Remove the "
        "override; use `on_before_backward` / `on_after_backward` for work around it."
    )


@needs_deepspeed
def test_a_module_optimizer_step_override_is_refused():
    assert only(problems_of(OwnStep())) == (
        "`OwnStep.optimizer_step` is overridden, but under `strategy='deepspeed_stage_2'` "
        "DeepSpeed's `engine.step()` steps the optimizer (clipping, ZeRO's partitioned update, "
        "zeroing the gradients). Remove the override; use `on_before_optimizer_step` / "
        "`on_train_batch_end` for work around the step, or a learning-rate scheduler."
    )


@needs_deepspeed
def test_all_problems_come_together():
    problems = problems_of(
        OwnStep(lambda m: torch.optim.LBFGS(m.parameters())),
        precision="16-mixed",
        gradient_clip_val=1.0,
        gradient_clip_algorithm="value",
    )
    mine = [p for p in problems if p.startswith("strategy:deepspeed_stage_2: ")]
    assert len(mine) == 4, problems


@needs_deepspeed
def test_multi_node_without_a_launcher_is_refused():
    assert only(problems_of(num_nodes=2)) == (
        "`Trainer(num_nodes=2)`: treadle starts the processes of one machine only; start every "
        "node with torchrun (`torchrun --nnodes 2 --nproc_per_node N ...`) or SLURM's srun."
    )


# -- the user's DeepSpeed config -----------------------------------------------------------------


@needs_deepspeed
@pytest.mark.parametrize(
    "config, kwargs, expected",
    [
        (
            {"optimizer": {"type": "Adam"}},
            {},
            "`DeepSpeedConfig(config={...})` has an 'optimizer' section, but treadle steps the "
            "optimizer returned by `configure_optimizers()` (DeepSpeed would silently ignore one of "
            "the two). Remove the section and return the optimizer from `configure_optimizers()`.",
        ),
        (
            {"gradient_accumulation_steps": 4},
            {},
            "`DeepSpeedConfig(config={...})` says gradient_accumulation_steps=4, but "
            "`Trainer(accumulate_grad_batches=1)`. Set `Trainer(accumulate_grad_batches=4)` and "
            "remove the key.",
        ),
        (
            {"gradient_clipping": 1.0},
            {"gradient_clip_val": 0.5},
            "`DeepSpeedConfig(config={...})` says gradient_clipping=1.0, but "
            "`Trainer(gradient_clip_val=0.5)`; give one of them.",
        ),
        (
            {"bf16": {"enabled": True}},
            {},
            "`DeepSpeedConfig(config={...})` has a 'bf16' section (enabled=True) that contradicts "
            "`Trainer(precision='32-true')`; treadle writes the precision sections from the Trainer "
            "(precision='bf16-true'). Remove the section and set the Trainer's precision.",
        ),
        (
            {"zero_optimization": {"stage": 3}},
            {},
            "`strategy='deepspeed_stage_2'` is ZeRO stage 2, but `DeepSpeedConfig(config={...})` "
            "says zero_optimization.stage=3. Use `strategy='deepspeed'` to take the stage from the "
            "config, or remove it from the config.",
        ),
        (
            {"managed_gradient_accumulation": True},
            {},
            "`DeepSpeedConfig(config={...})` sets managed_gradient_accumulation=true; treadle's loop "
            "decides when to step (`Trainer(accumulate_grad_batches=N)`), so it must be false. Remove "
            "the key.",
        ),
        (
            {"train_batch_size": 6, "train_micro_batch_size_per_gpu": 4},
            {},
            "`DeepSpeedConfig(config={...})` says train_batch_size=6, which must equal "
            "train_micro_batch_size_per_gpu x accumulate_grad_batches (1) x processes (2). Give "
            "train_micro_batch_size_per_gpu only.",
        ),
    ],
)
def test_a_config_that_contradicts_the_trainer_is_refused(config, kwargs, expected):
    assert only(problems_of(plugins=[DeepSpeedConfig(config)], **kwargs)) == expected


@needs_deepspeed
def test_overlap_comm_needs_stage_2():
    config = DeepSpeedConfig({"zero_optimization": {"overlap_comm": True}})
    assert only(
        problems_of(plugins=[config], strategy="deepspeed_stage_1"), "strategy:deepspeed_stage_1: "
    ) == (
        "`DeepSpeedConfig(config={...})`: zero_optimization.overlap_comm=true needs ZeRO stage "
        "2 or 3 here (treadle sets managed_gradient_accumulation=false, which DeepSpeed allows "
        "with overlap_comm only from stage 2). Remove overlap_comm or use stage 2 or 3."
    )


@needs_deepspeed
def test_a_config_without_a_deepspeed_strategy_is_refused():
    problems = problems_of(plugins=[DeepSpeedConfig({})], strategy="single_device", devices=1)
    mine = [p.split(": ", 1)[1] for p in problems if "DeepSpeedConfig" in p]
    assert mine == [
        "`DeepSpeedConfig(config={...})` is in `plugins=[...]` but `strategy='single_device'` "
        "does not use it; select a DeepSpeed strategy ('deepspeed', 'deepspeed_stage_1', "
        "'deepspeed_stage_2', 'deepspeed_stage_3', 'deepspeed_stage_2_offload', "
        "'deepspeed_stage_3_offload') or remove it."
    ]


def test_deepspeed_config_arguments(tmp_path):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "DeepSpeedConfig(stage=3) contradicts the config's zero_optimization.stage=2; give "
            "one of them."
        ),
    ):
        DeepSpeedConfig({"zero_optimization": {"stage": 2}}, stage=3)
    with pytest.raises(
        ValueError, match=re.escape("DeepSpeedConfig(stage=4): ZeRO stages are 0, 1, 2 and 3.")
    ):
        DeepSpeedConfig(stage=4)
    with pytest.raises(
        FileNotFoundError, match=re.escape("DeepSpeedConfig(config='nope.json'): no such file.")
    ):
        DeepSpeedConfig("nope.json")
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 1}}))
    assert DeepSpeedConfig(path).config == {"zero_optimization": {"stage": 1}}
    yaml_path = tmp_path / "ds.yaml"
    yaml_path.write_text("zero_optimization:\n  stage: 3\n")
    assert DeepSpeedConfig(str(yaml_path)).config == {"zero_optimization": {"stage": 3}}


@needs_deepspeed
def test_two_configs_are_refused():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("deepspeed: `plugins=[...]` holds 2 DeepSpeedConfig objects"),
    ):
        trainer(plugins=[DeepSpeedConfig({}), DeepSpeedConfig(stage=1)])


# -- the config treadle builds -------------------------------------------------------------------


@needs_deepspeed
@pytest.mark.parametrize(
    "name, precision, kwargs, plugins, expected",
    [
        (
            "deepspeed_stage_2",
            "32-true",
            {},
            [],
            {
                "zero_optimization": {"stage": 2},
                "gradient_clipping": 0.0,
                "gradient_accumulation_steps": 1,
                "train_micro_batch_size_per_gpu": 1,
            },
        ),
        (
            "deepspeed",
            "bf16-true",
            {"accumulate_grad_batches": 3, "gradient_clip_val": 0.5},
            [],
            {
                "zero_optimization": {"stage": 2},
                "bf16": {"enabled": True},
                "gradient_clipping": 0.5,
                "gradient_accumulation_steps": 3,
            },
        ),
        (
            "deepspeed",
            "bf16-mixed",
            {},
            [DeepSpeedConfig(stage=0)],
            {
                "zero_optimization": {"stage": 0},
                "torch_autocast": {"enabled": True, "dtype": "bfloat16"},
            },
        ),
        (
            "deepspeed",
            "32-true",
            {},
            [
                DeepSpeedConfig(
                    {
                        "zero_optimization": {"stage": 3},
                        "gradient_clipping": 2.0,
                        "train_micro_batch_size_per_gpu": 8,
                    }
                )
            ],
            {
                "zero_optimization": {"stage": 3},
                "gradient_clipping": 2.0,
                "train_micro_batch_size_per_gpu": 8,
            },
        ),
        (
            "deepspeed_stage_3_offload",
            "32-true",
            {},
            [],
            {
                "zero_optimization": {
                    "stage": 3,
                    "offload_optimizer": {"device": "cpu"},
                    "offload_param": {"device": "cpu"},
                },
                "zero_force_ds_cpu_optimizer": False,
            },
        ),
    ],
)
def test_the_config_is_built_from_the_trainer(name, precision, kwargs, plugins, expected):
    t = trainer(strategy=name, precision=precision, plugins=plugins, **kwargs)
    config = t.strategy.build_config(t)
    for key, value in expected.items():
        assert config[key] == value, key
    assert config["managed_gradient_accumulation"] is False
    assert config["zero_allow_untested_optimizer"] is True
    assert t.strategy.owns_precision


def test_owning_precision_keeps_the_precision_plugin_out():
    """The precision plugins read ``owns_precision`` in their ``validate``."""
    from types import SimpleNamespace

    from treadle_plugins.precision.amp import FP16MixedPrecision, MixedPrecision
    from treadle_plugins.precision.dtype import BF16TruePrecision

    fake = SimpleNamespace(strategy=ds.DeepSpeedStrategy, optimizers=[])
    for cls in (MixedPrecision, FP16MixedPrecision, BF16TruePrecision):
        plugin = cls(None)
        plugin.validate(fake)
        assert plugin.enabled is False, cls


@needs_deepspeed
def test_a_command_that_cannot_be_re_run_is_refused():
    """`python -c`: the other rank cannot re-run it (torchrun can start it instead)."""
    import subprocess

    code = """
import torch, treadle
class M(treadle.Module):
    def __init__(self):
        super().__init__(); self.layer = torch.nn.Linear(2, 1)
    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)))
try:
    treadle.Trainer(accelerator="cpu", strategy="deepspeed_stage_2", devices=2, logger=False,
                    enable_checkpointing=False).fit(M(), data)
except treadle.ConfigurationError as exc:
    print(exc.problems)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TREADLE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert out.stdout.strip() == str(
        [
            "strategy:deepspeed_stage_2: `strategy='deepspeed_stage_2'` with 2 processes re-runs the "
            "script for the other ranks, but this process was not started from a script file. Run "
            "a script (`python train.py`), or launch with torchrun."
        ]
    ), out.stderr
