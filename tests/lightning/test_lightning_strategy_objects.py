"""``treadle.strategies`` and ``treadle.accelerators``: Lightning's strategy and accelerator
classes, passed to the Trainer as objects and used in ``isinstance`` checks on the running ones.
The multi-process runs are in ``tests/distributed/test_ddp_strategy_object.py``."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import timedelta
from unittest import mock

import pytest
import torch
from lightning_boring import BoringModel
from torch import nn

import treadle
from treadle.accelerators import (
    Accelerator,
    CPUAccelerator,
    CUDAAccelerator,
    MPSAccelerator,
    XLAAccelerator,
    find_usable_cuda_devices,
)
from treadle.strategies import (
    DDPStrategy,
    DeepSpeedStrategy,
    FSDPStrategy,
    ParallelStrategy,
    SingleDeviceStrategy,
    Strategy,
    StrategyRegistry,
)

QUIET = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}


def _kinds(strategy: object) -> dict[str, bool]:
    classes = {"Strategy": Strategy, "ParallelStrategy": ParallelStrategy}
    classes |= {"SingleDeviceStrategy": SingleDeviceStrategy, "DDPStrategy": DDPStrategy}
    classes |= {"DeepSpeedStrategy": DeepSpeedStrategy, "FSDPStrategy": FSDPStrategy}
    return {name: isinstance(strategy, c) for name, c in classes.items()}


def _expect(*true: str) -> dict[str, bool]:
    names = ("Strategy", "ParallelStrategy", "SingleDeviceStrategy", "DDPStrategy")
    names += ("DeepSpeedStrategy", "FSDPStrategy")
    return {n: n in true for n in names}


# The isinstance answers are Lightning 2.6.6's (its class tree: DeepSpeedStrategy is a
# DDPStrategy, FSDPStrategy is not; SingleDeviceStrategy is no ParallelStrategy).
@pytest.mark.parametrize(
    ("strategy", "devices", "expected"),
    [
        ("auto", 1, _expect("Strategy", "SingleDeviceStrategy")),
        ("single_device", 1, _expect("Strategy", "SingleDeviceStrategy")),
        ("ddp", 2, _expect("Strategy", "ParallelStrategy", "DDPStrategy")),
        ("ddp_spawn", 2, _expect("Strategy", "ParallelStrategy", "DDPStrategy")),
        (
            "ddp_find_unused_parameters_true",
            2,
            _expect("Strategy", "ParallelStrategy", "DDPStrategy"),
        ),
        ("fsdp", 2, _expect("Strategy", "ParallelStrategy", "FSDPStrategy")),
        (
            "deepspeed_stage_2",
            2,
            _expect("Strategy", "ParallelStrategy", "DDPStrategy", "DeepSpeedStrategy"),
        ),
    ],
)
def test_isinstance_of_a_strategy_chosen_by_name(strategy, devices, expected) -> None:
    trainer = treadle.Trainer(strategy=strategy, accelerator="cpu", devices=devices, **QUIET)
    assert _kinds(trainer.strategy) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SingleDeviceStrategy(), _expect("Strategy", "SingleDeviceStrategy")),
        (DDPStrategy(), _expect("Strategy", "ParallelStrategy", "DDPStrategy")),
        (FSDPStrategy(), _expect("Strategy", "ParallelStrategy", "FSDPStrategy")),
        (
            DeepSpeedStrategy(),
            _expect("Strategy", "ParallelStrategy", "DDPStrategy", "DeepSpeedStrategy"),
        ),
    ],
)
def test_isinstance_of_a_strategy_given_as_an_object(given, expected) -> None:
    assert _kinds(given) == expected  # the object itself, as in Lightning
    devices = 1 if isinstance(given, SingleDeviceStrategy) else 2
    trainer = treadle.Trainer(strategy=given, accelerator="cpu", devices=devices, **QUIET)
    assert _kinds(trainer.strategy) == expected  # and what runs
    assert trainer.strategy.name == given.name


def test_the_object_selects_the_matching_strategy_with_its_options() -> None:
    ddp = DDPStrategy(
        find_unused_parameters=True,
        process_group_backend="gloo",
        start_method="spawn",
        timeout=timedelta(seconds=45),
        static_graph=False,
    )
    trainer = treadle.Trainer(strategy=ddp, accelerator="cpu", devices=2, **QUIET)
    strategy = trainer.strategy
    assert (strategy.name, strategy.spawn, strategy.find_unused_parameters) == (
        "ddp_spawn",
        True,
        True,
    )
    assert (strategy.process_group_backend, strategy.timeout_s) == ("gloo", 45.0)
    assert strategy.ddp_kwargs == {"static_graph": False}
    assert trainer.config.strategy == "ddp_spawn"

    popen = treadle.Trainer(strategy=DDPStrategy(), accelerator="cpu", devices=2, **QUIET)
    assert (popen.strategy.name, popen.strategy.spawn) == ("ddp", False)
    assert popen.strategy.find_unused_parameters is False
    assert popen.strategy.timeout_s is None  # the Trainer's process_group_timeout

    fork = DDPStrategy(start_method="fork")
    forked = treadle.Trainer(strategy=fork, accelerator="cpu", devices=2, **QUIET)
    assert (forked.strategy.name, forked.strategy.spawn) == ("ddp_fork", True)
    assert forked.strategy.start_method == "fork"


def test_fsdp_object_maps_lightning_arguments() -> None:
    fsdp = FSDPStrategy(
        auto_wrap_policy={nn.Linear},
        activation_checkpointing_policy={nn.Sequential},
        sharding_strategy="SHARD_GRAD_OP",
        cpu_offload=True,
        state_dict_type="sharded",
    )
    trainer = treadle.Trainer(strategy=fsdp, accelerator="cpu", devices=2, **QUIET)
    s = trainer.strategy
    assert s.auto_wrap_policy == (nn.Linear,) and s.activation_checkpointing == (nn.Sequential,)
    assert (s.reshard_after_forward, s.cpu_offload) == (False, True)
    assert FSDPStrategy(activation_checkpointing=nn.Linear).activation_checkpointing == [nn.Linear]


# Adapted from Lightning's tests/tests_pytorch/strategies/test_registry.py::
# test_strategy_registry_with_deepspeed_strategies: each registered name is Lightning's
# DeepSpeedStrategy with these init_params; here the object made with them runs that name.
@pytest.mark.parametrize(
    ("name", "init_params"),
    [
        ("deepspeed_stage_1", {"stage": 1}),
        ("deepspeed_stage_2", {"stage": 2}),
        ("deepspeed_stage_2_offload", {"stage": 2, "offload_optimizer": True}),
        ("deepspeed_stage_3", {"stage": 3}),
        (
            "deepspeed_stage_3_offload",
            {"stage": 3, "offload_parameters": True, "offload_optimizer": True},
        ),
    ],
)
def test_deepspeed_object_runs_the_registered_name(name, init_params) -> None:
    given = DeepSpeedStrategy(**init_params)
    assert given.name == name
    trainer = treadle.Trainer(strategy=given, accelerator="cpu", devices=2, **QUIET)
    assert trainer.strategy.name == name and trainer.strategy.user is None


def test_deepspeed_object_config_and_zero_arguments() -> None:
    config = {"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 2}
    trainer = treadle.Trainer(
        strategy=DeepSpeedStrategy(config=config), accelerator="cpu", devices=2, **QUIET
    )
    assert trainer.strategy.name == "deepspeed" and trainer.strategy.zero_stage == 3
    tuned = DeepSpeedStrategy(reduce_bucket_size=5_000_000, logging_batch_size_per_gpu=4)
    trainer = treadle.Trainer(strategy=tuned, accelerator="cpu", devices=2, **QUIET)
    assert trainer.strategy.user.config == {
        "zero_optimization": {"reduce_bucket_size": 5_000_000},
        "train_micro_batch_size_per_gpu": 4,
    }
    off = treadle.Trainer(
        strategy=DeepSpeedStrategy(zero_optimization=False), accelerator="cpu", devices=2, **QUIET
    )
    assert off.strategy.zero_stage == 0


# Ported from Lightning's tests/tests_pytorch/strategies/test_ddp.py::
# test_ddp_process_group_backend (the CPU cases; the public property instead of the private
# _get_process_group_backend).
@pytest.mark.parametrize(("backend", "expected"), [("foo", "foo"), (None, "gloo")])
def test_ddp_process_group_backend(backend, expected) -> None:
    trainer = treadle.Trainer(
        strategy=DDPStrategy(process_group_backend=backend), accelerator="cpu", devices=2, **QUIET
    )
    assert trainer.strategy.process_group_backend == expected


# Ported from Lightning's tests/tests_pytorch/strategies/test_ddp.py::
# test_ddp_kwargs_from_registry (treadle's names; the DDP option read publicly).
@pytest.mark.parametrize(
    ("name", "find_unused"),
    [("ddp", False), ("ddp_spawn", False), ("ddp_find_unused_parameters_true", True)],
)
def test_ddp_kwargs_from_registry(name, find_unused) -> None:
    trainer = treadle.Trainer(strategy=name, accelerator="cpu", devices=2, **QUIET)
    assert trainer.strategy.find_unused_parameters is find_unused


# Adapted from Lightning's tests/tests_pytorch/strategies/test_ddp.py::
# test_ddp_torch_dist_is_available_in_setup (on the CPU, one process, for real; treadle brings the
# group up after `setup` and validation, so the check is in `on_train_start`) and
# ::test_set_timeout (the strategy's timeout, with the group running, instead of a mock).
def test_ddp_object_process_group_is_up_with_its_backend_and_timeout(tmp_path) -> None:
    seen = {}

    class Probe(BoringModel):
        def on_train_start(self) -> None:
            seen["initialized"] = torch.distributed.is_initialized()
            seen["backend"] = torch.distributed.get_backend()
            seen["timeout"] = self.trainer.strategy.timeout_s
            raise SystemExit()

    trainer = treadle.Trainer(
        strategy=DDPStrategy(process_group_backend="gloo", timeout=timedelta(seconds=30)),
        accelerator="cpu",
        devices=1,
        fast_dev_run=True,
        default_root_dir=tmp_path,
        **QUIET,
    )
    try:  # (the rank variables the one-rank launch sets are dropped afterwards)
        with mock.patch.dict(os.environ), pytest.raises(SystemExit):
            trainer.fit(Probe())
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    assert seen == {"initialized": True, "backend": "gloo", "timeout": 30.0}


# Adapted from Lightning's tests/tests_pytorch/strategies/test_registry.py::
# test_deepspeed_strategy_registry_with_trainer, ::test_fsdp_strategy_registry and
# ::test_ddp_find_unused_parameters_strategy_registry.
@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("deepspeed", DeepSpeedStrategy),
        ("deepspeed_stage_2_offload", DeepSpeedStrategy),
        ("deepspeed_stage_3", DeepSpeedStrategy),
        ("fsdp", FSDPStrategy),
        ("ddp_find_unused_parameters_true", DDPStrategy),
    ],
)
def test_registered_names_are_the_lightning_classes(name, cls) -> None:
    trainer = treadle.Trainer(strategy=name, accelerator="cpu", devices=2, **QUIET)
    assert isinstance(trainer.strategy, cls)
    assert "test_strategy" not in StrategyRegistry


def test_trainer_runs_a_name_the_program_registered() -> None:
    # strategy_registry.rst: a DDPStrategy registered with its arguments, named to the Trainer.
    StrategyRegistry.register(
        "ddp_fork_test",
        DDPStrategy,
        start_method="fork",
        process_group_backend="gloo",
        find_unused_parameters=True,
    )
    try:
        trainer = treadle.Trainer(strategy="ddp_fork_test", accelerator="cpu", devices=2, **QUIET)
        assert trainer.strategy.name == "ddp_fork" and trainer.strategy.find_unused_parameters
        assert trainer.strategy.process_group_backend == "gloo"
        # a built-in name still runs by name; overriding it makes the program's object
        assert (
            treadle.Trainer(strategy="ddp", accelerator="cpu", devices=2, **QUIET).strategy.name
            == "ddp"
        )
        builtin = StrategyRegistry["ddp"]
        StrategyRegistry.register("ddp", DDPStrategy, override=True, start_method="spawn")
        try:
            trainer = treadle.Trainer(strategy="ddp", accelerator="cpu", devices=2, **QUIET)
            assert trainer.strategy.name == "ddp_spawn"
        finally:
            StrategyRegistry["ddp"] = builtin
        assert StrategyRegistry.registered_object("ddp") is None
    finally:
        StrategyRegistry.remove("ddp_fork_test")


def test_running_strategy_properties() -> None:
    one = treadle.Trainer(accelerator="cpu", devices=1, **QUIET).strategy
    assert (one.root_device, one.global_rank, one.local_rank, one.world_size) == (
        torch.device("cpu"),
        0,
        0,
        1,
    )
    assert one.is_global_zero is True
    ddp = treadle.Trainer(strategy="ddp", accelerator="cpu", devices=2, **QUIET).strategy
    assert (ddp.num_processes, ddp.num_nodes, ddp.world_size, ddp.is_global_zero) == (
        2,
        1,
        2,
        True,
    )
    assert ddp.process_group_backend == "gloo" and ddp.root_device == torch.device("cpu")
    ds = treadle.Trainer(strategy="deepspeed", accelerator="cpu", devices=2, **QUIET).strategy
    assert (ds.num_nodes, ds.process_group_backend, ds.is_global_zero) == (1, "gloo", True)


def test_refused_ddp_arguments_all_at_once() -> None:
    with pytest.raises(treadle.ConfigurationError) as info:
        DDPStrategy(
            parallel_devices=[torch.device("cpu")] * 2,
            cluster_environment=object(),
            model_averaging_period=4,
            start_method="forkserver",
            device_ids=[0],
            timeout=5,
        )
    problems = info.value.problems
    assert len(problems) == 6
    assert problems[0] == (
        "DDPStrategy(parallel_devices=[device(type='cpu'), device(type='cpu')]): treadle takes "
        "the devices from the Trainer; pass `Trainer(devices=N)` (or a list of device indices) "
        "instead."
    )
    assert any(p.startswith("DDPStrategy(cluster_environment=<object") for p in problems)
    assert (
        "DDPStrategy(model_averaging_period=4): post-local SGD model averaging is not built in "
        "treadle; drop the argument (plain DDP averages gradients every step)." in problems
    )
    assert (
        "DDPStrategy(start_method='forkserver'): treadle starts ranks by re-running the script "
        "('popen', strategy='ddp'), with torch.multiprocessing's spawn ('spawn', "
        "strategy='ddp_spawn') or fork ('fork', strategy='ddp_fork'); 'forkserver' is not "
        "built. Use start_method='popen', 'spawn' or 'fork'." in problems
    )
    assert (
        "DDPStrategy(device_ids=...): treadle sets this DistributedDataParallel argument "
        "itself (from the Trainer's devices); drop it." in problems
    )
    assert "DDPStrategy(timeout=5): a timeout is a positive datetime.timedelta." in problems


def test_refused_fsdp_and_deepspeed_arguments() -> None:
    with pytest.raises(treadle.ConfigurationError) as info:
        FSDPStrategy(
            mixed_precision=object(),
            state_dict_type="full",
            sharding_strategy="HYBRID_SHARD",
            auto_wrap_policy=lambda module, recurse, nonwrapped_numel: True,
            limit_all_gathers=True,
        )
    text = str(info.value)
    assert text.startswith("5 configuration problems:")
    for piece in (
        "FSDPStrategy(mixed_precision=<object",
        "FSDPStrategy(state_dict_type='full'): treadle's FSDP saves a sharded checkpoint directory",
        "FSDPStrategy(sharding_strategy='HYBRID_SHARD'): treadle's FSDP2 shards fully",
        "FSDP1's wrap policies (callables of module, recurse, nonwrapped_numel) do not apply",
        "FSDPStrategy(limit_all_gathers=...): an FSDP1 argument",
    ):
        assert piece in text
    with pytest.raises(treadle.ConfigurationError) as info:
        DeepSpeedStrategy(stage=3, offload_optimizer=True, nvme_path="/nvme", stgae=2)
    assert info.value.problems == [
        "DeepSpeedStrategy(nvme_path='/nvme'): treadle does not translate this argument; write "
        "DeepSpeed's own key for it in `DeepSpeedStrategy(config={...})` (DeepSpeed's config "
        "reference).",
        "DeepSpeedStrategy(stgae=...): not an argument of Lightning's DeepSpeedStrategy; check "
        "the spelling.",
        "DeepSpeedStrategy(stage=3, offload_optimizer=True, offload_parameters=False): treadle "
        "runs stages 1-3, optimizer offload with stage 2, and optimizer with parameter offload "
        "with stage 3; for another mix write DeepSpeed's zero_optimization section in "
        "`config={...}`.",
    ]
    with pytest.raises(treadle.ConfigurationError, match=re.escape("put them in the config")):
        DeepSpeedStrategy(config={"zero_optimization": {"stage": 1}}, stage=3)


def test_strategy_accelerator_goes_to_the_trainer_or_must_agree() -> None:
    # As Lightning's accelerators/test_cpu.py builds it: SingleDeviceStrategy(accelerator=
    # CPUAccelerator(), device=torch.device("cpu")) passed as the Trainer's strategy.
    given = SingleDeviceStrategy(device=torch.device("cpu"), accelerator=CPUAccelerator())
    trainer = treadle.Trainer(strategy=given, **QUIET)
    assert trainer.accelerator.name == "cpu" and isinstance(trainer.accelerator, CPUAccelerator)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "SingleDeviceStrategy(device='cuda:1'): the Trainer runs on 'cpu' "
            "(accelerator='cpu', devices='auto'). treadle takes the device from the Trainer: "
            "pass `Trainer(accelerator='cuda', devices=[1])`."
        ),
    ):
        treadle.Trainer(strategy=SingleDeviceStrategy(device="cuda:1"), accelerator="cpu", **QUIET)


def test_lightning_submodule_paths() -> None:
    from treadle.accelerators.cpu import CPUAccelerator as FromCpu
    from treadle.strategies.ddp import DDPStrategy as FromDdp
    from treadle.strategies.deepspeed import DeepSpeedStrategy as FromDeepspeed
    from treadle.strategies.fsdp import FSDPStrategy as FromFsdp
    from treadle.strategies.single_device import SingleDeviceStrategy as FromSingle

    assert (FromCpu, FromDdp, FromDeepspeed, FromFsdp, FromSingle) == (
        CPUAccelerator,
        DDPStrategy,
        DeepSpeedStrategy,
        FSDPStrategy,
        SingleDeviceStrategy,
    )


def test_importing_them_imports_no_plugin() -> None:
    import subprocess

    code = (
        "import sys, treadle, treadle.strategies, treadle.accelerators;"
        "print(sorted(m for m in sys.modules if m.startswith('treadle_plugins')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- accelerators ---------------------------------------------------------------------------------


# Ported from Lightning's tests/tests_pytorch/accelerators/test_cpu.py::test_availability, with
# Lightning 2.6.6's answers for the CPU's device parsing (pinned with /work/lvenv).
def test_cpu_accelerator_static_methods() -> None:
    assert CPUAccelerator.is_available()
    assert CPUAccelerator.auto_device_count() == 1
    assert CPUAccelerator.parse_devices(2) == CPUAccelerator.parse_devices("2") == 2
    assert CPUAccelerator.get_parallel_devices(2) == [torch.device("cpu")] * 2
    for bad in ("cpu", 0, -1, "0"):
        with pytest.raises(
            TypeError,
            match=re.escape("`devices` selected with `CPUAccelerator` should be an int > 0."),
        ):
            CPUAccelerator.parse_devices(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="pins the answers of a machine without CUDA")
def test_cuda_accelerator_without_cuda() -> None:
    assert (CUDAAccelerator.is_available(), CUDAAccelerator.auto_device_count()) == (False, 0)
    assert CUDAAccelerator.parse_devices(0) is None
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape("You requested gpu: [0]\n But your machine only has: []"),
    ):
        CUDAAccelerator.parse_devices([0])
    with pytest.raises(
        treadle.ConfigurationError, match=re.escape("GPUs requested but none are available.")
    ):
        CUDAAccelerator.parse_devices(-1)
    assert find_usable_cuda_devices(0) == []
    with pytest.raises(
        ValueError,
        match=re.escape(
            "You requested to find 1 devices but there are no visible CUDA devices on this machine."
        ),
    ):
        find_usable_cuda_devices(1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_accelerator_with_cuda() -> None:
    count = torch.cuda.device_count()
    assert CUDAAccelerator.is_available() and CUDAAccelerator.auto_device_count() == count
    assert CUDAAccelerator.parse_devices(-1) == list(range(count))
    assert CUDAAccelerator.get_parallel_devices([0]) == [torch.device("cuda", 0)]
    assert find_usable_cuda_devices(1) == [0]


def test_mps_and_xla_static_methods() -> None:
    assert MPSAccelerator.is_available() == torch.backends.mps.is_available()
    assert MPSAccelerator.auto_device_count() == 1
    assert XLAAccelerator.parse_devices(8) == 8 and XLAAccelerator.parse_devices([1]) == [1]
    assert XLAAccelerator.get_parallel_devices(2) == [
        torch.device("xla", 0),
        torch.device("xla", 1),
    ]


def test_accelerator_object_and_isinstance_on_the_running_one() -> None:
    trainer = treadle.Trainer(accelerator=CPUAccelerator(), devices=1, **QUIET)
    assert trainer.config.accelerator == "cpu"
    running = trainer.accelerator
    assert isinstance(running, CPUAccelerator) and isinstance(running, Accelerator)
    assert not isinstance(running, (CUDAAccelerator, MPSAccelerator, XLAAccelerator))
    assert not isinstance(object(), Accelerator)

    class Custom(Accelerator):  # Lightning's base alone: no accelerator treadle runs
        pass

    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "TrainerConfig: `accelerator=Custom()`: treadle takes an accelerator name ('cpu', "
            "'cuda', 'mps', 'tpu', 'gpu', 'auto') or one of treadle.accelerators' "
            "CPUAccelerator(), CUDAAccelerator(), MPSAccelerator(), XLAAccelerator() (or a "
            "subclass of one). A custom accelerator is a plugin that provides a new name "
            "(docs/plugins.md)."
        ),
    ):
        treadle.Trainer(accelerator=Custom(), **QUIET)


def test_a_subclass_of_an_accelerator_class_selects_what_it_extends(tmp_path) -> None:
    """The Trainer docs page's ``accelerator=MyOwnAcc()``, a ``CPUAccelerator`` subclass: the
    CPU runs, and ``trainer.accelerator`` is an instance of the subclass (as Lightning's is the
    object itself). Methods the subclass defines are never called: a warning says so when the
    class is made; one that defines nothing is not warned about."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class MyOwnAcc(CPUAccelerator): ...

    trainer = treadle.Trainer(
        accelerator=MyOwnAcc(), max_steps=2, default_root_dir=tmp_path, **QUIET
    )
    trainer.fit(BoringModel())
    assert trainer.global_step == 2 and trainer.config.accelerator == "cpu"
    assert isinstance(trainer.accelerator, MyOwnAcc)
    assert not isinstance(trainer.accelerator, type("Other", (CUDAAccelerator,), {}))

    with pytest.warns(
        UserWarning,
        match=re.escape(
            "Stats(CPUAccelerator) defines get_device_stats: treadle runs its own accelerator "
            "plugin for a CPUAccelerator and never calls them"
        ),
    ):

        class Stats(CPUAccelerator):
            def get_device_stats(self, device):
                return {}

    assert treadle.Trainer(accelerator=Stats(), **QUIET).config.accelerator == "cpu"


def test_single_device_strategy_object_root_device_and_pickle() -> None:
    # Ported from tests/tests_pytorch/strategies/test_single_device.py::test_strategy_pickle
    # (its public part: `optimizers` kept across a pickle round trip)
    import pickle

    strategy = SingleDeviceStrategy("cpu")
    assert strategy.root_device == torch.device("cpu")  # before any Trainer, as Lightning's
    strategy.optimizers = [torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)]
    reloaded = pickle.loads(pickle.dumps(strategy))
    assert isinstance(reloaded.optimizers[0], torch.optim.SGD)
    assert reloaded.root_device == torch.device("cpu")
    # the Trainer's running strategy is its own, on the Trainer's device
    trainer = treadle.Trainer(strategy=strategy, accelerator="cpu", **QUIET)
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.strategy.root_device == torch.device("cpu")


def test_deepspeed_strategy_object_config_file(tmp_path, monkeypatch) -> None:
    # Ported from tests/tests_pytorch/strategies/test_deepspeed_strategy.py::test_deepspeed_with_invalid_config_path
    # and ::test_deepspeed_with_env_path
    from treadle.utilities import MisconfigurationException

    with pytest.raises(MisconfigurationException, match="the path does not exist"):
        DeepSpeedStrategy(config="invalid_path.json")
    config = {"optimizer": {"type": "SGD", "params": {"lr": 3e-5}}}
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(config))
    assert DeepSpeedStrategy(config=str(path)).config == config  # read when made
    monkeypatch.setenv("PL_DEEPSPEED_CONFIG_PATH", str(path))
    assert DeepSpeedStrategy().config == config
    assert DeepSpeedStrategy(config={"a": 1}).config == {"a": 1}  # a config given wins


def test_deepspeed_strategy_by_name_takes_the_env_config_and_has_parallel_devices(
    tmp_path, monkeypatch
) -> None:
    # Ported from tests/tests_pytorch/strategies/test_deepspeed_strategy.py::test_deepspeed_strategy_string
    # and ::test_deepspeed_strategy_env
    for given in ("deepspeed", DeepSpeedStrategy()):
        strategy = treadle.Trainer(strategy=given, accelerator="cpu", **QUIET).strategy
        assert isinstance(strategy, DeepSpeedStrategy)
        assert strategy.parallel_devices == [torch.device("cpu")]
        assert strategy.config is None  # no config given; the built one once the engine is made
    ddp = treadle.Trainer(strategy="ddp", accelerator="cpu", devices=2, **QUIET).strategy
    assert ddp.parallel_devices == [torch.device("cpu")] * 2
    config = {"zero_optimization": {"stage": 1}, "steps_per_print": 7}
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("PL_DEEPSPEED_CONFIG_PATH", str(path))
    for name in ("deepspeed", "deepspeed_stage_3_offload"):  # the file's ZeRO settings win
        strategy = treadle.Trainer(strategy=name, accelerator="cpu", **QUIET).strategy
        assert isinstance(strategy, DeepSpeedStrategy)
        assert strategy.config == config and strategy.zero_stage == 1
    path.unlink()  # a missing file is refused when the Trainer is made, as Lightning does
    with pytest.raises(treadle.ConfigurationError, match="the path does not exist"):
        treadle.Trainer(strategy="deepspeed_stage_2", accelerator="cpu", **QUIET)


def test_a_strategy_subclass_defining_methods_is_warned_they_are_never_called():
    """treadle runs its plugin for a subclass of Lightning's strategy classes, so methods the
    subclass defines (Lightning's ``test_custom_plugin.py`` overrides
    ``lightning_restore_optimizer``) are never called: said when the class is defined. A
    subclass that defines nothing, or only ``__init__``/``connect``, is not warned about."""
    import warnings

    from treadle.strategies import DDPStrategy, FSDPStrategy, SingleDeviceStrategy

    with pytest.warns(
        UserWarning,
        match=r"Mine\(SingleDeviceStrategy\) defines "
        r"lightning_restore_optimizer, load_optimizer_state_dict: treadle runs",
    ):

        class Mine(SingleDeviceStrategy):
            def lightning_restore_optimizer(self) -> bool:
                return False

            def load_optimizer_state_dict(self, checkpoint) -> None:
                pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Quiet(FSDPStrategy):
            pass

        class Connecting(DDPStrategy):
            def __init__(self, **kwargs) -> None:
                super().__init__(**kwargs)

            def connect(self, trainer):
                return super().connect(trainer)

    assert Quiet and Connecting and Mine
