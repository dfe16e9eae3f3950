"""The DDP strategy's pieces that need no second process: samplers, environment detection and
the problems ``fit()`` reports before anything is launched."""

from __future__ import annotations

import re
import socket
import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    Sampler,
    TensorDataset,
)

import treadle
from _procs import SCRUB
from treadle_plugins.environments.torchrun import TorchrunEnvironment
from treadle_plugins.strategies.ddp import (
    DDPStrategy,
    UnpaddedDistributedSampler,
    distributed_loader,
)

DATA = TensorDataset(torch.arange(10.0).unsqueeze(1), torch.arange(10.0).unsqueeze(1))


@pytest.fixture(autouse=True)
def no_launch_variables(monkeypatch):
    for name in SCRUB:
        monkeypatch.delenv(name, raising=False)


def torchrun_vars(monkeypatch, rank=0, world_size=2, **extra):
    values = {
        "RANK": rank,
        "WORLD_SIZE": world_size,
        "LOCAL_RANK": rank,
        "LOCAL_WORLD_SIZE": world_size,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": 29999,
        "TORCHELASTIC_RUN_ID": "test",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))


class Tiny(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        raise AssertionError("nothing may train: fit() must refuse first")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(**kw):
    return treadle.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False, **kw
    )


# -- the DistributedSampler ---------------------------------------------------------------------


def test_loader_gets_a_distributed_sampler_keeping_its_arguments():
    def collate(samples):
        return samples

    loader = DataLoader(DATA, batch_size=3, shuffle=True, drop_last=True, collate_fn=collate)
    new = distributed_loader(loader, num_replicas=2, rank=1, seed=7)
    sampler = new.sampler
    assert isinstance(sampler, DistributedSampler)
    assert (sampler.num_replicas, sampler.rank, sampler.shuffle, sampler.seed) == (2, 1, True, 7)
    assert (new.batch_size, new.drop_last, new.collate_fn) == (3, True, collate)
    assert len(new) == 1  # 5 samples for this rank, batches of 3, the last dropped


def test_sequential_loader_interleaves_the_ranks():
    loader = DataLoader(DATA, batch_size=2)
    rank0 = [b[0].flatten().tolist() for b in distributed_loader(loader, 2, 0)]
    rank1 = [b[0].flatten().tolist() for b in distributed_loader(loader, 2, 1)]
    assert rank0 == [[0, 2], [4, 6], [8]] and rank1 == [[1, 3], [5, 7], [9]]


def test_evaluation_loaders_read_each_sample_once():
    loader = DataLoader(DATA, batch_size=2)
    ranks = [distributed_loader(loader, 3, r, pad=False) for r in range(3)]
    assert all(isinstance(new.sampler, UnpaddedDistributedSampler) for new in ranks)
    batches = [[b[0].flatten().tolist() for b in new] for new in ranks]
    # 10 samples on 3 ranks: 4, 3, 3 (DistributedSampler would pad to 4 each)
    assert batches == [[[0, 3], [6, 9]], [[1, 4], [7]], [[2, 5], [8]]]
    assert [len(new.sampler) for new in ranks] == [4, 3, 3]
    assert [len(new) for new in ranks] == [2, 2, 2]
    # more ranks than samples: the last ranks get nothing
    few = TensorDataset(torch.arange(3.0))
    assert [list(UnpaddedDistributedSampler(few, 4, r)) for r in range(4)] == [[0], [1], [2], []]


def test_shuffled_evaluation_sampler_splits_each_epochs_order():
    samplers = [UnpaddedDistributedSampler(DATA, 3, r, shuffle=True, seed=5) for r in range(3)]
    orders = []
    for epoch in (0, 1):
        for sampler in samplers:
            sampler.set_epoch(epoch)
        parts = [list(sampler) for sampler in samplers]
        assert sorted(i for part in parts for i in part) == list(range(10))
        orders.append(parts)
    assert orders[0] != orders[1]
    shuffled = DataLoader(DATA, batch_size=2, shuffle=True)
    assert distributed_loader(shuffled, 2, 0, pad=False).sampler.shuffle


def test_loaders_the_user_arranged_are_kept():
    own = DistributedSampler(DATA, num_replicas=4, rank=3, shuffle=False)

    class EveryOther(Sampler):
        def __iter__(self):
            return iter(range(0, 10, 2))

        def __len__(self):
            return 5

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    kept = [
        DataLoader(DATA, sampler=own),
        DataLoader(DATA, sampler=EveryOther()),
        DataLoader(DATA, batch_sampler=[[0, 1], [2, 3]]),
        DataLoader(DATA, batch_sampler=BatchSampler(own, 2, False)),
        DataLoader(Stream()),
        [(torch.zeros(1), torch.zeros(1))],
    ]
    for loader in kept:
        assert distributed_loader(loader, 2, 0) is None


def test_a_dataloader_subclass_is_rebuilt_as_itself_or_refused():
    class Plain(DataLoader):
        pass

    assert type(distributed_loader(Plain(DATA, batch_size=2), 2, 0)) is Plain

    class Custom(DataLoader):
        def __init__(self, data):
            super().__init__(data, batch_size=2)

    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "ddp: cannot add a DistributedSampler to `Custom`, a DataLoader subclass with its own "
            "__init__. Pass it `sampler=DistributedSampler(dataset, shuffle=...)` yourself (rank "
            "and world size from `trainer.global_rank` and `trainer.world_size`)."
        ),
    ):
        distributed_loader(Custom(DATA), 2, 0)


# -- environments and selection ------------------------------------------------------------------


def test_no_launch_variables_no_environment_and_ddp_launches_itself():
    t = trainer(devices=2)
    assert t.environment is None
    assert isinstance(t.strategy, DDPStrategy) and not t.strategy.joined
    assert (t.world_size, t.global_rank, t.local_rank, t.node_rank) == (2, 0, 0, 0)
    assert t.plugin_manager.providers("environment")["torchrun"].priority == 100


def test_torchrun_variables_are_joined(monkeypatch):
    torchrun_vars(monkeypatch, rank=1, world_size=2, GROUP_RANK=0)
    t = trainer()  # devices="auto", strategy="auto": the launch says 2 processes, so ddp
    assert isinstance(t.environment, TorchrunEnvironment)
    assert t.environment.launcher == "torchrun" and t.environment.main_port == 29999
    assert t.strategy.name == "ddp" and t.strategy.joined
    assert (t.world_size, t.global_rank, t.local_rank, t.is_global_zero) == (2, 1, 1, False)
    assert t.plugin_manager.selected["environment"] is t.environment


def by_hand_vars(monkeypatch, node_rank, local_rank=0, world_size=2, **extra):
    # Lightning's clouds/cluster_intermediate_1.rst: set by hand on each node, no RANK.
    values = {
        "MASTER_ADDR": "10.10.10.16",
        "MASTER_PORT": 29500,
        "WORLD_SIZE": world_size,
        "NODE_RANK": node_rank,
        "LOCAL_RANK": local_rank,
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))


def test_variables_set_by_hand_on_each_node_are_joined(monkeypatch):
    # As Lightning's LightningEnvironment: rank = NODE_RANK * processes per node + LOCAL_RANK.
    by_hand_vars(monkeypatch, node_rank=1)
    t = trainer(devices=1, num_nodes=2, strategy="ddp")
    assert isinstance(t.environment, TorchrunEnvironment) and t.environment.launcher == "env"
    assert t.strategy.joined and t.environment.main_address == "10.10.10.16"
    assert (t.world_size, t.global_rank, t.local_rank, t.node_rank) == (2, 1, 0, 1)
    by_hand_vars(monkeypatch, node_rank=1, local_rank=1, world_size=4)
    t = trainer(devices=2, num_nodes=2, strategy="ddp")
    assert (t.world_size, t.global_rank, t.local_rank, t.node_rank) == (4, 3, 1, 1)
    by_hand_vars(monkeypatch, node_rank=1, local_rank=0, world_size=6, LOCAL_WORLD_SIZE=3)
    t = trainer(devices="auto", num_nodes=2)  # strategy "auto": the launch has 6 processes
    assert t.strategy.name == "ddp" and (t.world_size, t.global_rank) == (6, 3)


def test_variables_by_hand_need_local_rank_and_master_port(monkeypatch):
    by_hand_vars(monkeypatch, node_rank=0)
    monkeypatch.delenv("LOCAL_RANK")
    assert trainer(devices=1).environment is None
    by_hand_vars(monkeypatch, node_rank=0)
    monkeypatch.delenv("MASTER_PORT")
    assert trainer(devices=1).environment is None


def test_variables_by_hand_that_do_not_fit_together_are_refused(monkeypatch):
    by_hand_vars(monkeypatch, node_rank=2)  # 2 processes in all, one per node: no node 2
    with pytest.raises(RuntimeError, match=r"NODE_RANK=2, LOCAL_RANK=0, WORLD_SIZE=2 .* rank 2"):
        trainer(devices=1, num_nodes=2, strategy="ddp")


def test_devices_that_disagree_with_the_launch_are_refused(monkeypatch):
    torchrun_vars(monkeypatch, world_size=4)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`Trainer(devices=2, num_nodes=1)` asks for 2 x 1 = 2 processes, but the torchrun "
            "launch has 4 (WORLD_SIZE). Set devices to the processes per node and num_nodes to "
            "the number of nodes, or devices='auto'."
        ),
    ):
        trainer(devices=2, strategy="ddp").fit(Tiny(), DataLoader(DATA))


def test_ddp_spawn_inside_a_torchrun_launch_is_refused(monkeypatch):
    torchrun_vars(monkeypatch)
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`strategy='ddp_spawn'` starts its own processes, but this process is already rank 0 "
            "of 2 in the torchrun launch. Use `strategy='ddp'`, which joins it."
        ),
    ):
        trainer(devices=2, strategy="ddp_spawn").fit(Tiny(), DataLoader(DATA))


def test_several_nodes_without_a_launcher_are_refused():
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`Trainer(num_nodes=2)`: treadle starts the ranks of one machine only; start a "
            "multi-node run with torchrun (`torchrun --nnodes 2 --nproc_per_node 2 ...` on every "
            "node) or with SLURM's srun (pip install treadle-slurm)."
        ),
    ):
        trainer(devices=2, num_nodes=2, strategy="ddp").fit(Tiny(), DataLoader(DATA))


def test_ddp_outside_a_script_file_is_refused_before_launching(monkeypatch):
    # What `python -c` and the REPL look like: a __main__ without a file or a module spec.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "strategy 'ddp' launches the other ranks by re-running the script, but this process "
            "was not started from a script file (sys.argv[0]='-c'). Run a script, launch with "
            "torchrun, or use strategy 'ddp_fork' (the REPL, a notebook: nothing is re-run) or "
            "'ddp_spawn'."
        ),
    ):
        trainer(devices=2, strategy="ddp").fit(Tiny(), DataLoader(DATA))


def test_collectives_fall_back_to_one_process_before_the_group_exists():
    t = trainer(devices=2, strategy="ddp")
    hook = t.plugin_manager.hook
    x = torch.tensor([2.0])
    assert hook.reduce(trainer=t, tensor=x, reduce_op="sum") is x
    assert hook.all_gather(trainer=t, tensor=x).tolist() == [[2.0]]
    assert hook.broadcast(trainer=t, obj="o", src=0) == ("o",)


def test_no_backward_sync_exists_on_one_device_too():
    t = trainer(devices=1)
    with t.strategy.no_backward_sync(Tiny(), enabled=True):
        pass
    with t.strategy.block_backward_sync():
        pass


class UnusedInTheFirstBackward(treadle.Module):
    """A GAN's pattern: the first backward of the step reaches only ``b``."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.a, self.b = nn.Linear(1, 1), nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        x = batch[0]
        self.manual_backward(self.b(x).sum())
        self.manual_backward(self.b(self.a(x)).sum())
        self.optimizers().step()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("strategy", ["ddp", "ddp_find_unused_parameters_true"])
def test_parameters_without_gradient_name_the_strategy_that_allows_them(monkeypatch, strategy):
    # One rank in this process (RANK/WORLD_SIZE set: joined, nothing launched); DDP's reducer
    # checks the unused parameters on one rank as on many.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun_vars(monkeypatch, world_size=1, MASTER_PORT=port)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    t = trainer(strategy=strategy, max_steps=3)

    def fit():
        return t.fit(UnusedInTheFirstBackward(), DataLoader(DATA, batch_size=2))

    if strategy == "ddp_find_unused_parameters_true":
        fit()
        assert t.global_step == 3
        return
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "ddp: It looks like your LightningModule has parameters that were not used in "
            "producing the loss returned by training_step: a backward pass left some parameters "
            "without a gradient (a GAN's discriminator step leaves out the generator, say). If "
            "this is intentional, use `Trainer(strategy='ddp_find_unused_parameters_true')`."
        ),
    ) as info:
        fit()
    assert "Expected to have finished reduction in the prior iteration" in str(info.value)


@pytest.mark.parametrize("use", [True, False])
def test_use_distributed_sampler(use):
    """Lightning's ``Trainer(use_distributed_sampler=False)``: the loaders are left alone."""
    t = trainer(devices=2, use_distributed_sampler=use)
    loader = DataLoader(DATA, batch_size=2, shuffle=True)
    out = t.strategy.setup_dataloader(trainer=t, dataloader=loader, stage="fit")
    if use:
        assert isinstance(out.sampler, DistributedSampler) and out.sampler.shuffle
    else:
        assert out is None  # kept as the user made it
