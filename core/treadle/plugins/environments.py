"""Lightning's cluster environment classes.

treadle detects the cluster environment itself (``provide_environments`` records: ``torchrun``,
and ``slurm`` from the ``treadle-slurm`` distribution). An instance in ``Trainer(plugins=[...])``
selects treadle's environment of that kind where there is one (:func:`environment_name`), an
instance of the program's own subclass runs as :class:`ProgramEnvironment`, and Lightning's
Kubeflow, LSF and MPI classes are refused with a ``ConfigurationError``. Their ``detect()``
and the rank properties read the environment variables as Lightning's do.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
from abc import ABC, abstractmethod
from typing import Any

import torch

from treadle import _lightning_paths, _rank_zero_bridge
from treadle.errors import ConfigurationError
from treadle.kinds import EnvironmentBase

log = logging.getLogger(__name__)


class ClusterEnvironment(ABC):
    """Lightning's interface of a cluster environment."""

    @property
    @abstractmethod
    def creates_processes_externally(self) -> bool:
        """Whether the processes are started by the cluster (not by the strategy)."""

    @property
    @abstractmethod
    def main_address(self) -> str:
        """The address of rank zero's node."""

    @property
    @abstractmethod
    def main_port(self) -> int:
        """The port rank zero listens on."""

    @staticmethod
    @abstractmethod
    def detect() -> bool:
        """Whether this process runs in such an environment."""

    @abstractmethod
    def world_size(self) -> int: ...

    @abstractmethod
    def set_world_size(self, size: int) -> None: ...

    @abstractmethod
    def global_rank(self) -> int: ...

    @abstractmethod
    def set_global_rank(self, rank: int) -> None: ...

    @abstractmethod
    def local_rank(self) -> int: ...

    @abstractmethod
    def node_rank(self) -> int: ...

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:  # noqa: B027
        """Raise when ``devices``/``num_nodes`` disagree with the environment."""

    def teardown(self) -> None:  # noqa: B027 (optional to override, as Lightning's)
        """Clean up what the environment set (nothing here)."""


def _int(name: str, default: int = 0) -> int:
    return int(os.environ.get(name, default))


class _FromVariables(ClusterEnvironment):
    """An environment whose ranks are environment variables (set_* are kept, as Lightning's
    ``LightningEnvironment``, or ignored where the cluster fixes them)."""

    _WORLD, _RANK, _LOCAL, _NODE = "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK"

    def __init__(self) -> None:
        self._world_size: int | None = None
        self._global_rank: int | None = None

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @property
    def main_address(self) -> str:
        return os.environ.get("MASTER_ADDR", "127.0.0.1")

    @property
    def main_port(self) -> int:
        return _int("MASTER_PORT", 0)

    def world_size(self) -> int:
        return self._world_size if self._world_size is not None else _int(self._WORLD, 1)

    def set_world_size(self, size: int) -> None:
        self._world_size = size

    def global_rank(self) -> int:
        return self._global_rank if self._global_rank is not None else _int(self._RANK)

    def set_global_rank(self, rank: int) -> None:
        self._global_rank = rank

    def local_rank(self) -> int:
        return _int(self._LOCAL)

    def node_rank(self) -> int:
        return _int(self._NODE, _int("GROUP_RANK"))


class LightningEnvironment(_FromVariables):
    """Lightning's default: one machine, or ranks set by hand (``MASTER_ADDR``, ``NODE_RANK``,
    ...). treadle's equivalent is running with no cluster environment.

    As Lightning's: the world size and global rank are what was set (1 and 0 until then; the
    strategy sets them), the port is ``MASTER_PORT`` or a free one, found once."""

    def __init__(self) -> None:
        super().__init__()
        self._main_port = -1

    @property
    def creates_processes_externally(self) -> bool:
        return "LOCAL_RANK" in os.environ

    @property
    def main_port(self) -> int:
        if self._main_port == -1:
            self._main_port = (
                _int("MASTER_PORT") if "MASTER_PORT" in os.environ else find_free_network_port()
            )
        return self._main_port

    @staticmethod
    def detect() -> bool:
        return True

    def world_size(self) -> int:
        return 1 if self._world_size is None else self._world_size

    def global_rank(self) -> int:
        return 0 if self._global_rank is None else self._global_rank

    def set_global_rank(self, rank: int) -> None:
        self._global_rank = rank
        _rank_zero_bridge.set_rank(rank)  # as Lightning's: rank_zero_only.rank follows

    def teardown(self) -> None:
        os.environ.pop("WORLD_SIZE", None)  # as Lightning's: set for the processes it launched


def lightning_environment(
    world_size: int, global_rank: int, env: LightningEnvironment | None = None
) -> LightningEnvironment:
    """A ``LightningEnvironment`` (``env``, or a new one) holding a strategy's ranks
    (``strategy.cluster_environment`` with no cluster environment), set without setting
    ``rank_zero_only.rank``."""
    env = LightningEnvironment() if env is None else env
    env._world_size, env._global_rank = world_size, global_rank
    return env


def find_free_network_port() -> int:
    """A free port on localhost (``STANDALONE_PORT`` where it is set), as Lightning's."""
    if "STANDALONE_PORT" in os.environ:
        return _int("STANDALONE_PORT")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class _FixedByTheCluster(_FromVariables):
    """An environment whose launcher fixes the ranks: they are read from its variables (a
    ``KeyError`` when one is missing, as Lightning's), and ``set_world_size``/``set_global_rank``
    change nothing."""

    _DEFAULT_PORT = 12910

    @property
    def main_address(self) -> str:  # as Lightning's: the default is kept for the run
        return os.environ.setdefault("MASTER_ADDR", "127.0.0.1")

    @property
    def main_port(self) -> int:
        return int(os.environ.setdefault("MASTER_PORT", str(self._DEFAULT_PORT)))

    def world_size(self) -> int:
        return int(os.environ[self._WORLD])

    def set_world_size(self, size: int) -> None:
        log.debug(f"{type(self).__name__}: setting world size is not allowed. Ignored.")

    def global_rank(self) -> int:
        return int(os.environ[self._RANK])

    def set_global_rank(self, rank: int) -> None:
        log.debug(f"{type(self).__name__}: setting global rank is not allowed. Ignored.")

    def local_rank(self) -> int:
        return int(os.environ[self._LOCAL])

    def node_rank(self) -> int:
        return int(os.environ[self._NODE])


class TorchElasticEnvironment(_FixedByTheCluster):
    """``torchrun``: treadle's ``torchrun`` environment."""

    @staticmethod
    def detect() -> bool:
        return torch.distributed.is_available() and torch.distributed.is_torchelastic_launched()

    def node_rank(self) -> int:
        return _int("GROUP_RANK")

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if num_devices * num_nodes != self.world_size():
            raise ValueError(  # Lightning's wording
                f"You set `devices={num_devices}` and `num_nodes={num_nodes}` in Lightning, but "
                f"the product ({num_devices} * {num_nodes}) does not match the world size "
                f"({self.world_size()})."
            )


class SLURMEnvironment(_FixedByTheCluster):
    """SLURM: treadle's ``slurm`` environment (the ``treadle-slurm`` distribution)."""

    _WORLD, _RANK, _LOCAL, _NODE = "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID"

    def __init__(
        self, auto_requeue: bool = True, requeue_signal: signal.Signals | None = None
    ) -> None:
        super().__init__()
        self.auto_requeue = auto_requeue
        if requeue_signal is None and hasattr(signal, "SIGUSR1"):
            requeue_signal = signal.SIGUSR1
        self.requeue_signal = requeue_signal
        ntasks = _int("SLURM_NTASKS", 1)
        if ntasks > 1 and "SLURM_NTASKS_PER_NODE" not in os.environ:
            raise RuntimeError(  # Lightning's wording
                f"You set `--ntasks={ntasks}` in your SLURM bash script, but this variable is "
                f"not supported. HINT: Use `--ntasks-per-node={ntasks}` instead."
            )

    @property
    def main_address(self) -> str:
        if "MASTER_ADDR" not in os.environ:  # the first node of the job, as Lightning's
            nodes = os.environ.get("SLURM_NODELIST", "127.0.0.1")
            os.environ["MASTER_ADDR"] = self.resolve_root_node_address(nodes)
        return os.environ["MASTER_ADDR"]

    @property
    def main_port(self) -> int:
        job_id = os.environ.get("SLURM_JOB_ID")  # the job's port: 15000 + its last 4 digits
        default = 12910 if job_id is None else int(job_id[-4:]) + 15000
        return int(os.environ.setdefault("MASTER_PORT", str(default)))

    @staticmethod
    def detect() -> bool:
        return "SLURM_NTASKS" in os.environ and SLURMEnvironment.job_name() not in (
            "bash",
            "interactive",
        )

    @staticmethod
    def job_name() -> str | None:
        return os.environ.get("SLURM_JOB_NAME")

    @staticmethod
    def job_id() -> int | None:
        job_id = os.environ.get("SLURM_JOB_ID")
        if job_id is None or SLURMEnvironment.job_name() in ("bash", "interactive"):
            return None
        try:
            return int(job_id)
        except ValueError:
            return None

    @staticmethod
    def resolve_root_node_address(nodes: str) -> str:
        """The first host of a SLURM node list (``"a,b"``, ``"a b"``, ``"host[5-9]"``)."""
        nodes = re.sub(r"\[(.*?)[,-].*\]", "\\1", nodes)  # the first node of every range
        nodes = re.sub(r"\[(.*?)\]", "\\1", nodes)  # a range of one number
        return nodes.split(" ")[0].split(",")[0]

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if self.job_name() in ("bash", "interactive"):
            return
        per_node = os.environ.get("SLURM_NTASKS_PER_NODE")
        if per_node is not None and int(per_node) != num_devices:
            raise ValueError(  # Lightning's wording
                f"You set `devices={num_devices}` in Lightning, but the number of tasks per node "
                f"configured in SLURM `--ntasks-per-node={per_node}` does not match. HINT: Set "
                f"`devices={per_node}`."
            )
        nnodes = os.environ.get("SLURM_NNODES")
        if nnodes is not None and int(nnodes) != num_nodes:
            raise ValueError(
                f"You set `num_nodes={num_nodes}` in Lightning, but the number of nodes "
                f"configured in SLURM `--nodes={nnodes}` does not match. HINT: Set "
                f"`num_nodes={nnodes}`."
            )


class KubeflowEnvironment(_FixedByTheCluster):
    """Kubeflow's PyTorchJob: no treadle environment (refused in ``plugins=[...]``). As
    Lightning's: ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK`` are required (a
    ``KeyError`` names the one missing), the local rank is 0 and the node rank the global rank."""

    @property
    def main_address(self) -> str:
        return os.environ["MASTER_ADDR"]

    @property
    def main_port(self) -> int:
        return int(os.environ["MASTER_PORT"])

    @staticmethod
    def detect() -> bool:
        raise NotImplementedError("The Kubeflow environment can't be detected automatically.")

    def local_rank(self) -> int:
        return 0

    def node_rank(self) -> int:
        return self.global_rank()


class LSFEnvironment(_FixedByTheCluster):
    """IBM LSF (``jsrun``): no treadle environment (refused in ``plugins=[...]``). As
    Lightning's: made from ``LSB_DJOB_RANKFILE`` (its hosts after the launch node's first line:
    the first is the main address, this host's place among them the node rank) and
    ``LSB_JOBID`` (the port, ``10000 + id % 1000``, unless ``MASTER_PORT`` is set), which it
    writes to ``MASTER_ADDR``/``MASTER_PORT``; the ranks are ``JSM_NAMESPACE_SIZE``,
    ``JSM_NAMESPACE_RANK`` and ``JSM_NAMESPACE_LOCAL_RANK``."""

    _WORLD, _RANK, _LOCAL = "JSM_NAMESPACE_SIZE", "JSM_NAMESPACE_RANK", "JSM_NAMESPACE_LOCAL_RANK"

    def __init__(self) -> None:
        super().__init__()
        hosts = self._read_hosts()
        self._main_address = hosts[0]
        self._main_port = self._find_main_port()
        places: dict[str, int] = {}
        for host in hosts:
            places.setdefault(host, len(places))
        self._node_rank = places[socket.gethostname()]
        os.environ["MASTER_ADDR"] = str(self._main_address)
        os.environ["MASTER_PORT"] = str(self._main_port)

    @staticmethod
    def _read_hosts() -> list[str]:
        rankfile = os.environ.get("LSB_DJOB_RANKFILE")
        if rankfile is None:
            raise ValueError("Did not find the environment variable `LSB_DJOB_RANKFILE`")
        if not rankfile:
            raise ValueError("The environment variable `LSB_DJOB_RANKFILE` is empty")
        with open(rankfile) as f:
            return [line.strip() for line in f][1:]  # the first line is the launch node

    @staticmethod
    def _find_main_port() -> int:
        if "MASTER_PORT" in os.environ:
            return int(os.environ["MASTER_PORT"])
        if "LSB_JOBID" in os.environ:
            return int(os.environ["LSB_JOBID"]) % 1000 + 10000
        raise ValueError("Could not find job id in environment variable LSB_JOBID")

    @property
    def main_address(self) -> str:
        return self._main_address

    @property
    def main_port(self) -> int:
        return self._main_port

    @staticmethod
    def detect() -> bool:
        required = {
            "LSB_JOBID",
            "LSB_DJOB_RANKFILE",
            "JSM_NAMESPACE_LOCAL_RANK",
            "JSM_NAMESPACE_SIZE",
        }
        return required.issubset(os.environ.keys())

    def _rank(self, name: str, what: str) -> int:
        value = os.environ.get(name)
        if value is None:
            raise ValueError(
                f"Cannot determine {what}. Environment variable `{name}` not found."
                " Make sure you run your executable with `jsrun`."
            )
        return int(value)

    def world_size(self) -> int:
        return self._rank(self._WORLD, "world size")

    def global_rank(self) -> int:
        return self._rank(self._RANK, "global rank")

    def local_rank(self) -> int:
        return self._rank(self._LOCAL, "local rank")

    def node_rank(self) -> int:
        return self._node_rank


class MPIEnvironment(_FromVariables):
    """MPI (``mpirun``, through ``mpi4py``): no treadle environment (refused in
    ``plugins=[...]``)."""

    _WORLD, _RANK, _LOCAL = (
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_RANK",
    )

    @staticmethod
    def detect() -> bool:
        try:  # mpi4py may be installed without MPI being present
            from mpi4py import MPI  # type: ignore[import-not-found]
        except ImportError:
            return False
        return bool(MPI.COMM_WORLD.Get_size() > 1)


# class -> (treadle's environment name, or None: no cluster environment)
_TREADLE_NAME: dict[type, str | None] = {
    LightningEnvironment: None,
    TorchElasticEnvironment: "torchrun",
    SLURMEnvironment: "slurm",
}


#: :func:`environment_name` of a program's own ``ClusterEnvironment`` class
PROGRAM = "program"
# Lightning's environment classes treadle has no environment for
_LIGHTNING_ONLY = ("KubeflowEnvironment", "LSFEnvironment", "MPIEnvironment")


def environment_name(env: ClusterEnvironment) -> str | None:
    """treadle's environment name for ``env`` (None: no cluster environment; :data:`PROGRAM`: a
    class of the program's own, run through :class:`ProgramEnvironment`); a
    ``ConfigurationError`` when treadle has none, or for settings treadle takes elsewhere."""
    kind = type(env).__name__
    lightning_only = [
        c.__name__
        for c in type(env).__mro__
        if c.__module__ == __name__ and c.__name__ in _LIGHTNING_ONLY
    ]
    if lightning_only:
        raise ConfigurationError(
            [
                f"Trainer: `plugins=[{kind}(...)]`: treadle has no {lightning_only[0]} (its "
                f"cluster environments are `torchrun` and `slurm`, from the treadle-slurm "
                f"distribution). Start the processes with `torchrun` (TorchElasticEnvironment), "
                f"or provide an environment plugin of your own (`provide_environments`, "
                f"docs/plugins.md)."
            ]
        )
    if type(env) not in _TREADLE_NAME:
        return PROGRAM
    if isinstance(env, SLURMEnvironment):
        problems = []
        if not env.auto_requeue:
            problems.append(
                "Trainer: `plugins=[SLURMEnvironment(auto_requeue=False)]`: treadle-slurm "
                "takes this setting from the job's environment. Set "
                "`TREADLE_SLURM_AUTO_REQUEUE=0` in the job script and pass "
                "`SLURMEnvironment()`, or leave it out (SLURM is detected)."
            )
        usr1 = getattr(signal, "SIGUSR1", None)
        if env.requeue_signal != usr1:
            problems.append(
                f"Trainer: `plugins=[SLURMEnvironment(requeue_signal={env.requeue_signal!r})]`: "
                f"treadle requeues on SIGUSR1 only. Ask SLURM for it (`#SBATCH "
                f"--signal=USR1@90`) and leave `requeue_signal` out."
            )
        if problems:
            raise ConfigurationError(problems)
    return _TREADLE_NAME[type(env)]


def _read(value: Any) -> Any:
    """A ``ClusterEnvironment`` attribute's value: Lightning's are properties, but its docs
    write ``main_address`` and ``main_port`` as methods."""
    return value() if callable(value) else value


class ProgramEnvironment(EnvironmentBase):
    """A program's own ``ClusterEnvironment`` class (Lightning's ``plugins=[MyCluster()]``) that
    creates the processes (:meth:`joins`), as treadle's environment, read once when the Trainer
    is made: the ranks exist already and the DDP strategies join them. As Lightning's DDP
    strategy, the object is told the rank its node and local rank give
    (``set_global_rank(node_rank * devices + local_rank)``, ``set_world_size(num_nodes *
    devices)``, when ``devices`` is a number), then its ``global_rank()``, ``world_size()``,
    ``main_address`` and ``main_port`` are read. A class that does not create the processes is
    no environment: treadle starts them as without one, and
    ``trainer.strategy.cluster_environment`` is the object, told the strategy's ranks."""

    launcher = "env"

    @staticmethod
    def joins(env: ClusterEnvironment) -> bool:
        """Whether ``env``'s class creates the processes (the run joins them)."""
        return bool(_read(env.creates_processes_externally))

    def __init__(self, env: ClusterEnvironment, trainer: Any) -> None:
        self.env = env
        self.name = type(env).__name__
        self.creates_processes_externally = True
        self.local_rank = int(env.local_rank())
        self.node_rank = int(env.node_rank())
        config = getattr(trainer, "config", None)
        devices, num_nodes = getattr(config, "devices", None), getattr(config, "num_nodes", 1)
        if type(devices) is int:
            env.set_global_rank(self.node_rank * devices + self.local_rank)
            env.set_world_size(num_nodes * devices)
        self.world_size = int(env.world_size())
        self.global_rank = int(env.global_rank())
        self.main_address = str(_read(env.main_address))
        port = _read(env.main_port)
        self.main_port = int(port) if port else None

    def __repr__(self) -> str:
        return f"ProgramEnvironment({self.name}, rank={self.global_rank}/{self.world_size})"


__all__ = [
    "ClusterEnvironment",
    "KubeflowEnvironment",
    "LSFEnvironment",
    "LightningEnvironment",
    "MPIEnvironment",
    "SLURMEnvironment",
    "TorchElasticEnvironment",
]

_lightning_paths.register(__name__)
