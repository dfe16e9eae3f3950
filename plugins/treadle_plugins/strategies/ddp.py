"""``ddp``, ``ddp_spawn`` and ``ddp_fork``: ``torch.nn.parallel.DistributedDataParallel``, one
process per device.

How the ranks come to be (see ``docs/distributed.md``):

* ``strategy="ddp"`` started as ``python train.py``: ``setup_environment`` re-runs the script
  for ranks 1..N-1 (``_launcher.launch_subprocess_ranks``) and this process goes on as rank 0.
  Under ``torchrun`` or SLURM (an environment plugin that ``creates_processes_externally``) the
  process joins that launch instead.
* ``strategy="ddp_spawn"``: ``fit``/``validate``/``test``/``predict`` run in
  ``torch.multiprocessing`` workers
  (:meth:`DDPStrategy.launch_stage`); rank 0's weights, metrics and loop counters come back to
  the caller's model and Trainer.
* ``strategy="ddp_fork"`` (alias ``ddp_notebook``): as ``ddp_spawn``, with workers started by
  the ``fork`` start method (a notebook, a script without an ``if __name__ == "__main__":``
  guard: nothing is pickled or imported again). Refused where ``fork`` is not available, and
  when CUDA is initialised in the caller.

Then ``init_process_group`` (gloo on the CPU, NCCL on CUDA, the Trainer's
``process_group_timeout``), a ``DistributedSampler`` in every training loader (padded: every
rank runs the same number of batches) and an :class:`UnpaddedDistributedSampler` in every
validation, test and predict loader (each sample once: ranks may differ by a batch, and
``sync_dist`` metrics are reduced once, at the epoch's end), and ``training_step``
runs *through* the DDP wrapper (``_StepThroughDDP``), so DDP's reducer sees the forward and
all-reduces the gradients during ``backward``.

Gradient sync: automatic optimization skips it on accumulating batches (DDP's ``no_sync``);
in manual optimization each ``manual_backward`` syncs unless it runs inside
``trainer.strategy.no_backward_sync(module)``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
)

from treadle import ConfigurationError, Provider, hookimpl
from treadle._rank_zero_bridge import set_rank as set_lightning_utilities_rank
from treadle.data import with_sampler
from treadle.kinds import StrategyBase
from treadle.utilities import call_step
from treadle_plugins.strategies import _launcher

_STARTUP_TIMEOUT_S = 300  # how long the ranks wait for each other to start
_groups_made = 0  # process groups this process initialised (the prefix of their store keys)
# A group a finished stage left up for the next one (FSDP: the sharded Module's parameters live
# on it): the next stage's strategy takes it over, with its store and timeout.
_kept_group: dict[str, Any] | None = None
_BACKENDS = {"cpu": "gloo", "mps": "gloo", "cuda": "nccl"}
_REDUCE_OPS = {
    "sum": dist.ReduceOp.SUM,
    "mean": dist.ReduceOp.SUM,
    "max": dist.ReduceOp.MAX,
    "min": dist.ReduceOp.MIN,
}


class _StepThroughDDP(nn.Module):
    """What DDP wraps: its ``forward`` is the module's ``training_step``.

    DDP's reducer must see the forward that builds the loss (Lightning's forward redirection);
    the user's module is a child, so its own ``state_dict`` keys do not change.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: Any, batch_idx: int) -> Any:
        return call_step(self.module.training_step, batch, batch_idx)


class DDPStrategy(StrategyBase):
    """One process per device, gradients all-reduced by ``DistributedDataParallel``.

    Declared as a ``treadle.kinds.Strategy``: ``name``, ``world_size``, the ranks, the
    capabilities below, ``no_backward_sync`` and ``launch_stage`` (``ddp_spawn``). ``model``
    is the ``DistributedDataParallel`` wrapper once set up (None before, and for a module
    without trainable parameters).
    """

    owns_precision = False  # the precision plugin's autocast and scaling run inside DDP
    saves_optimizer_states = False  # every rank holds the whole optimizer state: the core saves it
    shards_parameters = False  # every rank holds the whole parameters

    def __init__(
        self,
        trainer: Any,
        name: str = "ddp",
        spawn: bool = False,
        find_unused_parameters: bool = False,
        start_method: str = "spawn",
    ) -> None:
        self._trainer = trainer
        self.name = name
        self.spawn = spawn  # the stages run in workers: start_method "spawn" or "fork"
        self.start_method = start_method
        self.find_unused_parameters = find_unused_parameters
        self.environment = env = getattr(trainer, "environment", None)
        self.num_nodes: int = trainer.config.num_nodes
        self.num_processes: int = trainer.accelerator.num_devices  # per node
        # Join ranks that exist already (torchrun, SLURM's srun, our own launcher's children).
        self.joined = bool(env is not None and env.creates_processes_externally)
        if self.joined:
            self.world_size: int = env.world_size
            self.global_rank: int = env.global_rank
            self.local_rank: int = env.local_rank
            self.node_rank: int = env.node_rank
        else:  # this process launches the others and is rank 0
            self.world_size = self.num_processes * self.num_nodes
            self.global_rank = self.local_rank = self.node_rank = 0
        self.model: DistributedDataParallel | None = None
        self._owns_group = False
        self._failed = False
        self._block_sync = False
        self._device: torch.device | None = None
        self._backend = "gloo"
        self._timeout_s: float | None = None
        self._store: Any = None  # the process group's store (a roll call after a timeout)
        # What a ``treadle.strategies.DDPStrategy(...)`` object asked for (``configure``).
        self.given: Any = None
        self.backend: str | None = None  # None: gloo on the CPU, NCCL on CUDA
        self.timeout_s: float | None = None  # None: the Trainer's process_group_timeout
        self.ddp_kwargs: dict[str, Any] = {}
        self.comm_hook: tuple[Any, Any, Any] = (None, None, None)  # state, hook, wrapper

    def configure(self, given: Any) -> None:
        """Take the options of Lightning's ``DDPStrategy``/``FSDPStrategy`` object ``given``
        (``treadle.strategies``): process-group backend and timeout, and for ``ddp`` the
        ``DistributedDataParallel`` arguments and communication hook."""
        self.given = given
        self.backend = given.process_group_backend
        self.timeout_s = given.timeout_s
        self.ddp_kwargs = {
            k: v
            for k, v in getattr(given, "ddp_kwargs", {}).items()
            if k != "find_unused_parameters"
        }
        self.comm_hook = getattr(given, "comm_hook", (None, None, None))

    @property
    def parallel_devices(self) -> list[torch.device]:
        """Lightning's ``strategy.parallel_devices``: this node's devices, one per process
        (``[torch.device("cpu")] * devices`` on the CPU, ``cuda:i`` for each GPU index)."""
        return node_devices(self._trainer)

    @property
    def process_group_backend(self) -> str:
        """Lightning's ``strategy.process_group_backend``: the backend given, else gloo on the
        CPU and NCCL on CUDA."""
        return self.backend or _BACKENDS.get(self._trainer.accelerator.device_type, "gloo")

    @property
    def _pg_timeout_s(self) -> float:
        return self.timeout_s or self._trainer.config.process_group_timeout

    def __repr__(self) -> str:
        return f"DDPStrategy({self.name!r}, rank={self.global_rank}/{self.world_size})"

    # -- validation ------------------------------------------------------------------------------

    @hookimpl
    def validate(self, trainer: Any) -> list[str]:
        cfg, problems = trainer.config, []
        accel = trainer.accelerator.name
        if trainer.accelerator.device_type not in _BACKENDS:
            problems.append(
                f"`strategy={self.name!r}` runs on the CPU (gloo) or CUDA (NCCL), "
                f"not on `accelerator={accel!r}`. Pick accelerator='cpu' or 'cuda'."
            )
        env = self.environment
        if self.joined:
            launch = f"the {env.name} launch"
            if self.spawn and env.launcher != "treadle":
                problems.append(
                    f"`strategy={self.name!r}` starts its own processes, but this process is "
                    f"already rank {env.global_rank} of {env.world_size} in {launch}. Use "
                    f"`strategy='ddp'`, which joins it."
                )
            elif cfg.devices != "auto" and self.num_processes * self.num_nodes != env.world_size:
                problems.append(
                    f"`Trainer(devices={cfg.devices!r}, num_nodes={cfg.num_nodes})` asks for "
                    f"{self.num_processes} x {self.num_nodes} = "
                    f"{self.num_processes * self.num_nodes} processes, but {launch} has "
                    f"{env.world_size} (WORLD_SIZE). Set devices to the processes per node and "
                    f"num_nodes to the number of nodes, or devices='auto'."
                )
        elif self.num_nodes > 1:
            problems.append(
                f"`Trainer(num_nodes={self.num_nodes})`: treadle starts the ranks of one machine "
                f"only; start a multi-node run with torchrun (`torchrun --nnodes "
                f"{self.num_nodes} --nproc_per_node {self.num_processes} ...` on every node) or "
                f"with SLURM's srun (pip install treadle-slurm)."
            )
        elif not self.spawn and self.world_size > 1:
            try:
                _launcher._script_command()
            except RuntimeError as exc:
                problems.append(str(exc))
        if self.spawn and self.start_method not in mp.get_all_start_methods():
            problems.append(
                f"`strategy={self.name!r}` starts its processes with the "
                f"{self.start_method!r} start method, which this platform ({sys.platform}) does "
                f"not have (it has {', '.join(map(repr, mp.get_all_start_methods()))}). Use "
                f"`strategy='ddp_spawn'` with an `if __name__ == \"__main__\":` guard, or "
                f"`strategy='ddp'`."
            )
        return problems

    def _check_fork(self, trainer: Any, stage: str) -> None:
        """``ddp_fork``: a process forked after CUDA was initialised cannot use CUDA (torch:
        "Cannot re-initialize CUDA in forked subprocess"). Checked at each launch, since CUDA
        may be initialised after the Trainer was made (Lightning's ``_check_bad_cuda_fork``)."""
        # torch's own test for a fork of a process that had initialised CUDA (private: read
        # defensively, as Lightning does).
        if getattr(torch.cuda, "_is_in_bad_fork", lambda: False)():
            where = "this process is itself a fork of one that had initialised CUDA"
        elif trainer.accelerator.device_type == "cuda" and torch.cuda.is_initialized():
            where = (
                "CUDA is already initialised in this process (a tensor or model moved to the "
                "GPU, a `torch.cuda.*` call)"
            )
        else:  # CPU ranks do not touch CUDA, whatever the caller did with it
            return
        raise ConfigurationError(
            [
                f"`strategy={self.name!r}` forks its processes, but {where}: forked processes "
                f"cannot use CUDA then. Use `strategy='ddp_spawn'` (with an `if __name__ == "
                f"\"__main__\":` guard) or `strategy='ddp'`, or leave CUDA untouched before "
                f"`trainer.{stage}(...)` (in a notebook: restart the kernel)."
            ]
        )

    # -- set-up ------------------------------------------------------------------------------------

    def launch_stage(
        self,
        trainer: Any,
        stage: str,
        model: Any,
        train_loader: Any,
        val_loader: Any,
        ckpt_path: Any,
        datamodule: Any = None,
        return_predictions: bool | None = None,
    ) -> tuple | None:
        """``ddp_spawn``/``ddp_fork``: run the stage in spawned (forked) workers and bring rank
        0's outcome back; returns a one-tuple holding what the stage returns, or None to run it
        here (a worker, or plain ``ddp``). Called by the Trainer before anything else of the
        stage. ``predict(return_predictions=True)`` is refused in the workers, as Lightning's
        spawning strategies do (a ``ProcessRaisedException`` here)."""
        if not self.spawn or self.joined:
            return None
        if self.start_method == "fork":
            self._check_fork(trainer, stage)
        config = trainer.config
        config = (
            config.as_dict()
            if hasattr(config, "as_dict")
            else {name: getattr(config, name) for name in type(config).model_fields}
        )
        if self.given is not None:  # the workers take the same options
            config["strategy"] = self.given
        previous, model._trainer = model._trainer, None  # the parent's Trainer is not picklable
        dm_previous = datamodule.trainer if datamodule is not None else None
        if datamodule is not None:  # pickled to the workers, which set it up (prepare_data on
            datamodule.trainer = None  # each node's local rank 0, as in Lightning)
        try:
            out = _launcher.spawn(
                _spawn_worker,
                self.world_size,
                args=(
                    config,
                    stage,
                    model,
                    train_loader,
                    val_loader,
                    ckpt_path,
                    datamodule,
                    bool(return_predictions),
                ),
                start_method=self.start_method,
                timeout_s=self._pg_timeout_s,
            )
        finally:
            model._trainer = previous
            if datamodule is not None:
                datamodule.trainer = dm_previous
        if "error" in out:  # a ConfigurationError found by the workers' validation
            error = out["error"]  # (a plain one comes back as Lightning's spawn raises it too)
            if type(error) is ConfigurationError:
                raise _launcher.SpawnedConfigurationError(error)
            raise error
        model.load_state_dict(out["state_dict"])
        model.trainer, trainer.module = trainer, model
        if stage == "fit":  # (a worker's validate/test/predict starts from 0: the caller's stand)
            trainer.global_step, trainer.current_epoch = out["global_step"], out["current_epoch"]
        for name in ("callback_metrics", "logged_metrics", "progress_bar_metrics"):
            getattr(trainer, name).update(out[name])
        for callback in trainer.callbacks:
            state = out["callbacks"].get(
                getattr(callback, "state_key", type(callback).__qualname__)
            )
            if state is not None and hasattr(callback, "load_state_dict"):
                callback.load_state_dict(state)
        return (out["result"],)

    @hookimpl
    def setup_environment(self, trainer: Any) -> None:
        env = self.environment
        if not self.joined:
            _launcher.launch_subprocess_ranks(self.world_size)  # rank 0 goes on from here
        elif env.main_port is not None:  # init_method="env://" reads these
            os.environ["MASTER_ADDR"] = str(env.main_address)
            os.environ["MASTER_PORT"] = str(env.main_port)
        device = trainer.accelerator.root_device
        self._device = device
        self._backend = self.backend or _BACKENDS.get(device.type, "gloo")
        if self._backend == "nccl":
            torch.cuda.set_device(device)
        if dist.is_initialized():  # set up by the user or an earlier stage that kept it
            self._adopt_kept_group()
            return
        self._timeout_s = self._pg_timeout_s
        timeout = timedelta(seconds=self._timeout_s)
        # The ranks wait for each other up to _STARTUP_TIMEOUT_S however short the process-group
        # timeout (meant for a rank stuck outside a collective): our rank 0 starts the others,
        # which first import torch (seconds; minutes on a slow file system). A rank that dies
        # while starting ends the job anyway (the launcher's watcher, torchrun's agent).
        store, _, _ = next(
            dist.rendezvous(
                "env://",
                self.global_rank,
                self.world_size,
                timeout=max(timeout, timedelta(seconds=_STARTUP_TIMEOUT_S)),
            )
        )
        store.set_timeout(timeout)
        # A second stage in the same processes (fit, then validate) makes a new group on the
        # same store (torchrun's agent keeps it): fresh keys, or a rank could read the old
        # group's addresses (pytorch/pytorch#55967).
        global _groups_made
        store = dist.PrefixStore(f"treadle_pg_{_groups_made}", store)
        _groups_made += 1
        self._store = store
        dist.init_process_group(
            self._backend,
            store=store,
            rank=self.global_rank,
            world_size=self.world_size,
            timeout=timeout,
        )
        self._owns_group = True
        self._failed = False
        # As Lightning's DDPStrategy: lightning_utilities' rank_zero_only.rank is this rank.
        set_lightning_utilities_rank(self.global_rank)

    @hookimpl
    def setup_module(self, trainer: Any, module: nn.Module) -> None:
        if trainer.state.fn != "fit" or not any(p.requires_grad for p in module.parameters()):
            # As Lightning: validate/test/predict run the Module itself (``trainer.model`` is
            # the Module; no gradients to all-reduce), and DDP refuses a module with nothing to
            # train.
            self.model = None
            return
        device = self._device
        wrapper = _StepThroughDDP(module)
        self.model = DistributedDataParallel(
            wrapper,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
            **self.ddp_kwargs,
        )
        state, hook, wrapper = self.comm_hook
        if hook is not None:  # as Lightning's _register_ddp_hooks
            self.model.register_comm_hook(state, wrapper(hook) if wrapper is not None else hook)

    @hookimpl
    def setup_dataloader(self, trainer: Any, dataloader: Any, stage: str) -> Any:
        if self.world_size == 1 or not trainer.config.use_distributed_sampler:
            return None  # use_distributed_sampler=False: the loaders as the user made them
        # Training pads (equal batch counts: DDP's all-reduce pairs up every backward);
        # evaluation reads each sample once (no collective runs per evaluation batch).
        return distributed_loader(
            dataloader,
            self.world_size,
            self.global_rank,
            seed=int(os.environ.get("TREADLE_GLOBAL_SEED", 0)),
            pad=stage == "fit",
        )

    # -- the step ----------------------------------------------------------------------------------

    @hookimpl
    def run_training_step(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> Any:
        ddp = self.model
        if ddp is None:
            return None
        if module.automatic_optimization:  # noqa: SIM108 (each branch has its reason)
            # Sync only on the batch whose closure steps the optimizer (DDP's no_sync): the
            # forward decides whether DDP's reducer all-reduces in the following backward.
            sync = trainer.state.stepping and not self._block_sync
        else:
            # Manual optimization: backward runs inside training_step, i.e. inside this forward,
            # before DDP would prepare its reducer; on_before_backward prepares it per backward.
            sync = False
        if not sync:  # (nn.Module.__setattr__ costs microseconds: only when it changes)
            ddp.require_backward_grad_sync = False
        try:
            return (ddp(batch, batch_idx),)
        except RuntimeError as exc:
            self._explain(exc)
            raise
        finally:
            if not sync:
                ddp.require_backward_grad_sync = True

    @hookimpl
    def on_before_backward(self, trainer: Any, module: Any, loss: torch.Tensor) -> None:
        ddp = self.model
        if ddp is None or module.automatic_optimization or not torch.is_grad_enabled():
            return
        if self._block_sync:
            ddp.require_forward_param_sync = False
            return
        # What DDP's forward does at its end (and Lightning's ``prepare_for_backward``): arm the
        # reducer so that this backward all-reduces the gradients.
        ddp.require_forward_param_sync = True
        reducer = ddp.reducer
        find_unused = ddp.find_unused_parameters and not ddp.static_graph
        try:
            reducer._rebuild_buckets()
            reducer.prepare_for_backward(list(_find_tensors(loss)) if find_unused else [])
        except RuntimeError as exc:
            self._explain(exc)
            raise

    def _explain(self, exc: RuntimeError) -> None:
        """Raise DDP's error for parameters that got no gradient again, with treadle's fix."""
        message = str(exc)
        if (
            not self.find_unused_parameters
            and "finished reduction in the prior" in message
            and "ddp_find_unused_parameters_true" not in message
        ):
            # (the first sentence is Lightning's, which programs match on)
            raise RuntimeError(
                f"{message}\n{self.name}: It looks like your LightningModule has parameters that "
                f"were not used in producing the loss returned by training_step: a backward pass "
                f"left some parameters without a gradient (a GAN's discriminator step leaves out "
                f"the generator, say). If this is intentional, use "
                f"`Trainer(strategy='ddp_find_unused_parameters_true')`."
            ) from exc

    @contextlib.contextmanager
    def no_backward_sync(self, module: Any = None, enabled: bool = True) -> Iterator[None]:
        """Backward passes inside this block accumulate local gradients without all-reducing
        them (manual optimization; Fabric's ``no_backward_sync``). The first backward outside
        it syncs the accumulated sum::

            with self.trainer.strategy.no_backward_sync(self, enabled=not stepping):
                self.manual_backward(loss)
        """
        if not enabled:
            yield
            return
        previous, self._block_sync = self._block_sync, True
        try:
            yield
        finally:
            self._block_sync = previous

    def block_backward_sync(self) -> contextlib.AbstractContextManager:
        """Lightning's name for :meth:`no_backward_sync`."""
        return self.no_backward_sync()

    # -- collectives -------------------------------------------------------------------------------

    def _active(self) -> bool:
        return self._owns_group and dist.is_initialized()

    def _on_device(self, tensor: torch.Tensor) -> torch.Tensor:
        if self._backend == "nccl" and tensor.device != self._device:
            return tensor.to(self._device)
        return tensor

    @hookimpl
    def reduce(self, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor | None:
        if not self._active():
            return None
        op = _REDUCE_OPS.get(reduce_op)
        if op is None:
            raise ValueError(f"reduce_op={reduce_op!r}: choose one of {', '.join(_REDUCE_OPS)}.")
        out = self._on_device(tensor.detach()).clone()
        if reduce_op == "mean" and not out.is_floating_point():
            out = out.float()
        dist.all_reduce(out, op=op)
        if reduce_op == "mean":
            out /= self.world_size
        return out

    @hookimpl
    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor | None:
        if not self._active():
            return None
        local = self._on_device(tensor.detach()).contiguous()
        gathered = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(gathered, local)
        return torch.stack(gathered)

    @hookimpl
    def broadcast(self, obj: Any, src: int) -> tuple | None:
        if not self._active():
            return None
        box = [obj]
        dist.broadcast_object_list(
            box, src=src, device=self._device if self._backend == "nccl" else None
        )
        return (box[0],)

    @hookimpl
    def barrier(self, name: str) -> bool | None:
        if not self._active():
            return None
        if self._backend == "nccl":
            dist.barrier(device_ids=[self._device.index])
        else:
            dist.barrier()
        return True

    # -- the end -------------------------------------------------------------------------------

    def on_exception(self, exception: BaseException) -> None:
        # Lightning's Strategy.on_exception: the Trainer calls it after the callbacks' and the
        # DataModule's on_exception (it may raise the job's error).
        # Every rank records its exception (TORCHELASTIC_ERROR_FILE: our launch's or torchrun's).
        # Rank 0 of our own launch ends the job: it collects the other ranks' records, stops
        # those left (they would only fail at their next collective, or after the
        # process-group timeout if they are busy elsewhere), and raises the report when
        # another rank failed first.
        self._failed = True
        error = _launcher.handle_failure(
            exception, self.global_rank, self._timeout_s, self._store, self.world_size
        )
        if error is not None:
            raise error from None

    def keep_group(self) -> None:
        """Leave the process group up at this stage's end, for the next stage in these
        processes (which takes it over: :meth:`_adopt_kept_group`)."""
        global _kept_group
        if self._active():
            _kept_group = {
                "group": dist.group.WORLD,
                "store": self._store,
                "timeout_s": self._timeout_s,
            }
            self._owns_group = False

    def _adopt_kept_group(self) -> None:
        global _kept_group
        kept, _kept_group = _kept_group, None
        if kept is not None and kept["group"] is dist.group.WORLD:
            self._owns_group, self._failed = True, False
            self._store, self._timeout_s = kept["store"], kept["timeout_s"]

    @hookimpl
    def teardown(self) -> None:
        self.model = None
        if not self._active():
            return
        if not self._failed:
            dist.barrier()  # no rank leaves while another still finishes its last collective
        dist.destroy_process_group()
        self._owns_group = False


# -- data ------------------------------------------------------------------------------------------


class UnpaddedDistributedSampler(DistributedSampler):
    """A ``DistributedSampler`` that reads every sample exactly once: rank r gets samples
    r, r+N, r+2N, ... of the order, without the repetitions ``DistributedSampler`` pads with.

    Ranks may get one sample (hence one batch) fewer than rank 0, or none at all when the
    dataset is smaller than the number of ranks; for evaluation, where nothing pairs the
    ranks' batches up (Lightning's ``UnrepeatedDistributedSampler`` idea).
    """

    def __init__(
        self, dataset: Any, num_replicas: int, rank: int, shuffle: bool = False, seed: int = 0
    ) -> None:
        super().__init__(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
        )
        self.total_size = len(dataset)
        self.num_samples = len(range(rank, self.total_size, num_replicas))

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.total_size, generator=generator).tolist()
        else:
            order = list(range(self.total_size))
        return iter(order[self.rank :: self.num_replicas])


def node_devices(trainer: Any) -> list[torch.device]:
    """This node's devices, one per process (``strategy.parallel_devices`` of the DDP-family
    and DeepSpeed strategies): ``cpu`` once per process, ``cuda:i`` for each GPU index."""
    kind = trainer.accelerator.device_type
    return [
        torch.device(kind) if kind == "cpu" else torch.device(kind, i) for i in trainer.device_ids
    ]


def distributed_loader(
    loader: Any, num_replicas: int, rank: int, seed: int = 0, pad: bool = True
) -> Any:
    """``loader`` with a ``DistributedSampler`` for this rank, or None to keep it as it is.

    Kept: a loader that is not a ``DataLoader``, an ``IterableDataset`` (it must split itself),
    a loader whose sampler is already a ``DistributedSampler``, or a custom sampler or batch
    sampler (the user's choice). Otherwise the loader is rebuilt with the same arguments and
    ``DistributedSampler(shuffle=<RandomSampler?>, seed=seed)``: rank r reads samples r, r+N,
    r+2N, ... of each epoch's order (padded by repetition to a multiple of N), and the Trainer
    calls ``set_epoch`` every epoch. ``pad=False`` (evaluation): an
    :class:`UnpaddedDistributedSampler` instead, every sample exactly once.
    """
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return None
    batch_sampler = loader.batch_sampler
    if batch_sampler is not None and type(batch_sampler) is not BatchSampler:
        return None  # a custom batch sampler
    sampler = batch_sampler.sampler if batch_sampler is not None else loader.sampler
    if type(sampler) not in (RandomSampler, SequentialSampler):
        return None  # a DistributedSampler already, or a sampler of the user's own
    if type(loader).__init__ is not DataLoader.__init__:
        raise ConfigurationError(
            [
                f"ddp: cannot add a DistributedSampler to `{type(loader).__name__}`, a DataLoader "
                f"subclass with its own __init__. Pass it `sampler=DistributedSampler(dataset, "
                f"shuffle=...)` yourself (rank and world size from `trainer.global_rank` and "
                f"`trainer.world_size`)."
            ]
        )
    kind = DistributedSampler if pad else UnpaddedDistributedSampler
    distributed: DistributedSampler = kind(
        loader.dataset,
        num_replicas=num_replicas,
        rank=rank,
        shuffle=isinstance(sampler, RandomSampler),
        seed=seed,
    )
    return with_sampler(loader, distributed)


def _find_tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _find_tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _find_tensors(x)


# -- ddp_spawn's worker ------------------------------------------------------------------------------


def _spawn_worker(
    rank: int,
    config: dict[str, Any],
    stage: str,
    model: Any,
    train_loader: Any,
    val_loader: Any,
    ckpt_path: Any,
    datamodule: Any = None,
    refuse_predictions: bool = False,
) -> dict[str, Any]:
    """One ``ddp_spawn``/``ddp_fork`` rank: a Trainer with the caller's arguments runs the stage
    (joining the rank variables the launcher set); rank 0's outcome goes back to the caller."""
    from treadle import Trainer

    # torch.multiprocessing hands tensors to the workers in shared memory: without copies, every
    # rank would update the same parameters (Lightning's _disable_module_memory_sharing). A
    # forked worker's tensors are copy-on-write, except those already in shared memory.
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            tensor.data = tensor.data.clone()
    trainer = Trainer(**config)
    try:
        if refuse_predictions:  # Lightning's words (its prediction loop, in each worker)
            raise ConfigurationError(
                "`return_predictions` should be set to `False` when using the strategies that "
                f"spawn or fork. Found True with strategy {config.get('strategy')!r}: "
                "predict under ddp_spawn/ddp_fork returns None; write the predictions from each "
                "rank (a BasePredictionWriter callback), or use strategy='ddp'."
            )
        if stage == "fit":
            result = trainer.fit(
                model, train_loader, val_loader, ckpt_path=ckpt_path, datamodule=datamodule
            )
        else:  # validate, test, predict: one signature
            result = getattr(trainer, stage)(
                model, val_loader, ckpt_path=ckpt_path, datamodule=datamodule
            )
    except ConfigurationError as exc:  # every rank finds it, before any collective
        return {"error": exc}
    if rank != 0:
        return {}
    return {
        "result": result,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "callback_metrics": _to_cpu(trainer.callback_metrics),
        "logged_metrics": _to_cpu(trainer.logged_metrics),
        "progress_bar_metrics": _to_cpu(trainer.progress_bar_metrics),
        "callbacks": {
            getattr(cb, "state_key", type(cb).__qualname__): cb.state_dict()
            for cb in trainer.callbacks
            if hasattr(cb, "state_dict")
        },
    }


def _to_cpu(metrics: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in metrics.items()}


@hookimpl
def provide_strategies():
    return [
        Provider(
            "strategy",
            "ddp",
            DDPStrategy,
            description="DistributedDataParallel; launches its ranks or joins torchrun/SLURM.",
        ),
        Provider(
            "strategy",
            "ddp_spawn",
            lambda t: DDPStrategy(t, "ddp_spawn", spawn=True),
            description="DistributedDataParallel in torch.multiprocessing workers.",
        ),
        Provider(
            "strategy",
            "ddp_find_unused_parameters_true",
            lambda t: DDPStrategy(
                t, "ddp_find_unused_parameters_true", find_unused_parameters=True
            ),
            description="ddp for steps that leave some parameters unused (GANs).",
        ),
        Provider(  # Lightning's registry names; "_false" is the default
            "strategy",
            "ddp_find_unused_parameters_false",
            lambda t: DDPStrategy(t, "ddp_find_unused_parameters_false"),
            description="ddp (Lightning's name: find_unused_parameters=False).",
        ),
        Provider(
            "strategy",
            "ddp_spawn_find_unused_parameters_true",
            lambda t: DDPStrategy(
                t, "ddp_spawn_find_unused_parameters_true", spawn=True, find_unused_parameters=True
            ),
            description="ddp_spawn for steps that leave some parameters unused.",
        ),
        Provider(
            "strategy",
            "ddp_spawn_find_unused_parameters_false",
            lambda t: DDPStrategy(t, "ddp_spawn_find_unused_parameters_false", spawn=True),
            description="ddp_spawn (Lightning's name: find_unused_parameters=False).",
        ),
        *(
            Provider(
                "strategy",
                f"{name}{suffix}",
                _fork_factory(f"{name}{suffix}", suffix == "_find_unused_parameters_true"),
                description=description,
            )
            for name in ("ddp_fork", "ddp_notebook")
            for suffix, description in (
                ("", "DistributedDataParallel in forked workers (notebooks, no __main__ guard)."),
                (
                    "_find_unused_parameters_true",
                    f"{name} for steps that leave some parameters unused.",
                ),
                (
                    "_find_unused_parameters_false",
                    f"{name} (Lightning's name: find_unused_parameters=False).",
                ),
            )
        ),
    ]


def _fork_factory(name: str, find_unused: bool) -> Any:
    return lambda t: DDPStrategy(
        t, name, spawn=True, find_unused_parameters=find_unused, start_method="fork"
    )
