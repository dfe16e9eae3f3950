"""Lightning's submodule paths under treadle's names.

A program moving from Lightning changes its imports name for name (``lightning.pytorch.X``
becomes ``treadle.X``), and Lightning's users import from submodules as often as from the
packages: ``lightning.pytorch.callbacks.early_stopping``, ``...loggers.tensorboard``,
``...utilities.exceptions``, ``...core.module``. treadle keeps those names in fewer modules,
so each such path is registered in ``sys.modules`` as an alias of the treadle module that holds
its names: ``from treadle.callbacks.early_stopping import EarlyStopping`` finds
``treadle.callbacks.EarlyStopping``. A parent module registers its aliases when it is imported;
Python looks an aliased name up in ``sys.modules`` right after importing the parent, so the
aliases work before anything else has imported the parent.

Paths in ``LAZY`` name modules that ``import treadle`` must not load (they import more than the
names they alias, or hold code only a migrated program asks for): a finder on ``sys.meta_path``
imports the target module when the path itself is first imported, and only then.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

# parent module -> the Lightning submodule names whose public names it holds
SUBMODULES: dict[str, tuple[str, ...]] = {
    "treadle": ("core", "core.module", "core.datamodule"),
    "treadle.callbacks": (
        "batch_size_finder",
        "callback",
        "checkpoint",
        "device_stats_monitor",
        "early_stopping",
        "finetuning",
        "gradient_accumulation_scheduler",
        "lambda_function",
        "lr_finder",
        "lr_monitor",
        "model_checkpoint",
        "model_summary",
        "on_exception_checkpoint",
        "prediction_writer",
        "progress",
        "progress.progress_bar",
        "progress.rich_progress",
        "pruning",
        "rich_model_summary",
        "spike",
        "stochastic_weight_avg",
        "throughput_monitor",
        "timer",
        "weight_averaging",
    ),
    "treadle.accelerators": ("accelerator", "cpu", "cuda", "mps", "xla"),
    "treadle.loggers": (
        "comet",
        "csv_logs",
        "litlogger",
        "logger",
        "mlflow",
        "neptune",
        "tensorboard",
        "wandb",
    ),
    "treadle.serve": ("servable_module", "servable_module_validator"),
    # treadle.plugins (imported only by programs that name it): Lightning's pytorch and fabric
    # submodule paths
    "treadle.plugins.io": (
        "async_plugin",
        "checkpoint_io",
        "checkpoint_plugin",
        "torch_io",
        "torch_plugin",
        "wrapper",
    ),
    "treadle.plugins.environments": (
        "cluster_environment",
        "kubeflow",
        "lightning",
        "lsf",
        "mpi",
        "slurm",
        "torchelastic",
    ),
    "treadle.plugins.precision": (
        "amp",
        "bitsandbytes",
        "deepspeed",
        "double",
        "fsdp",
        "half",
        "precision",
        "transformer_engine",
    ),
    "treadle.profilers": ("advanced", "base", "profiler", "pytorch", "simple"),
    "treadle.strategies": ("ddp", "deepspeed", "fsdp", "parallel", "single_device", "strategy"),
    "treadle.tuner": ("batch_size_scaling", "lr_finder", "tuning"),
    "treadle.utilities": (
        "combined_loader",
        "compile",
        "enums",
        "exceptions",
        "grads",
        "model_helpers",
        "parameter_tying",
        "rank_zero",
        "warnings",
    ),
    "treadle.trainer": ("trainer",),
}


# Lightning submodule paths whose names live in a treadle module of their own (not the parent)
ELSEWHERE: dict[str, dict[str, str]] = {
    "treadle": {"core.optimizer": "treadle.optim"},  # ``LightningOptimizer``
    "treadle.utilities": {
        "model_summary": "treadle._model_summary",
        "model_summary.model_summary": "treadle._model_summary",
    },
}


# Lightning submodule paths -> the treadle module holding their names, imported on first use of
# the path (never by ``import treadle``).
LAZY: dict[str, str] = {
    "treadle.callbacks.progress.tqdm_progress": "treadle_plugins.tqdm_progress",  # needs tqdm
    # lightning.fabric: its utility paths (treadle has no Fabric class; see _lightning_fabric)
    "treadle.fabric": "treadle._lightning_fabric",
    "treadle.fabric.utilities": "treadle._lightning_fabric",
    "treadle.fabric.utilities.apply_func": "treadle._lightning_fabric",
    "treadle.fabric.utilities.cloud_io": "treadle._lightning_fabric",
    "treadle.fabric.utilities.data": "treadle._lightning_fabric",
    "treadle.fabric.utilities.distributed": "treadle._lightning_fabric",
    "treadle.fabric.utilities.exceptions": "treadle._lightning_fabric",
    "treadle.fabric.utilities.imports": "treadle._lightning_fabric",  # _IS_WINDOWS, _TORCH_*
    "treadle.fabric.utilities.rank_zero": "treadle._lightning_fabric",
    "treadle.fabric.utilities.seed": "treadle._lightning_fabric",
    "treadle.fabric.utilities.spike": "treadle._lightning_fabric",
    "treadle.fabric.utilities.throughput": "treadle._lightning_fabric",  # measure_flops
    "treadle.fabric.utilities.types": "treadle._lightning_fabric",
    "treadle.fabric.utilities.warnings": "treadle._lightning_fabric",
    "treadle.fabric.accelerators": "treadle.accelerators",
    "treadle.fabric.loggers": "treadle.loggers",
    "treadle.fabric.plugins": "treadle.plugins",
    "treadle.fabric.plugins.environments": "treadle.plugins.environments",
    "treadle.fabric.plugins.io": "treadle.plugins.io",
    "treadle.fabric.plugins.precision": "treadle.plugins.precision",
    "treadle.core.hooks": "treadle._lightning_core",
    "treadle.core.mixins": "treadle._lightning_core",
    "treadle.core.mixins.hparams_mixin": "treadle._lightning_core",
    "treadle.core.saving": "treadle._lightning_core",
    "treadle.utilities.data": "treadle._lightning_utilities",
    "treadle.utilities.deepspeed": "treadle._lightning_utilities",
    "treadle.utilities.imports": "treadle._lightning_utilities",
    "treadle.utilities.memory": "treadle._lightning_utilities",
    "treadle.utilities.migration": "treadle._lightning_migration",
    "treadle.utilities.migration.migration": "treadle._lightning_migration",
    "treadle.utilities.migration.utils": "treadle._lightning_migration",
    "treadle.utilities.upgrade_checkpoint": "treadle._lightning_migration",
    "treadle.utilities.parsing": "treadle._lightning_utilities",
    "treadle.utilities.seed": "treadle._lightning_utilities",
    "treadle.utilities.signature_utils": "treadle._lightning_utilities",
    "treadle.utilities.types": "treadle._lightning_utilities",
}

# Lazy paths that ``python -m PATH`` runs: the target module's ``main()``
# (``python -m lightning.pytorch.utilities.upgrade_checkpoint x.ckpt``, mapped)
RUNNABLE = frozenset({"treadle.utilities.upgrade_checkpoint"})

# ... and Fabric's submodule paths of those (``lightning.fabric.loggers.csv_logs``, ...)
for _parent in (
    "accelerators",
    "loggers",
    "plugins.environments",
    "plugins.io",
    "plugins.precision",
):
    for _sub in SUBMODULES[f"treadle.{_parent}"]:
        LAZY[f"treadle.fabric.{_parent}.{_sub}"] = f"treadle.{_parent}"


class _LazyAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the paths in ``LAZY``; loading one puts the target module in ``sys.modules`` under
    the path's name (the target keeps its own ``__name__`` and ``__spec__``)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY:
            return None
        # an origin for ``python -m PATH``: runpy makes it ``sys.argv[0]``
        origin = fullname if fullname in RUNNABLE else None
        return importlib.machinery.ModuleSpec(fullname, self, origin=origin)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a blank module, replaced in ``exec_module``

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns whatever ``sys.modules`` holds under the name afterwards.
        name = module.__name__
        sys.modules[name] = importlib.import_module(LAZY[name])
        nested = [path for path in LAZY if path.startswith(f"{name}.")]
        for path in nested:  # ``core.mixins.hparams_mixin`` under ``core.mixins``
            sys.modules.setdefault(path, importlib.import_module(LAZY[path]))
        for path in nested:  # ``from treadle.fabric.utilities import seed``: an attribute
            parent, child = path.rsplit(".", 1)  # (the parent's ``__name__`` is its target's)
            if not hasattr(sys.modules[parent], child):
                setattr(sys.modules[parent], child, sys.modules[path])

    def get_code(self, fullname: str) -> object:
        """What ``python -m PATH`` runs (runpy asks the loader): the target's ``main()`` for the
        paths in ``RUNNABLE``; None (runpy: "No code object available") for the others."""
        if fullname not in RUNNABLE:
            return None
        source = f"import importlib\nimportlib.import_module({LAZY[fullname]!r}).main()\n"
        return compile(source, f"<{fullname}>", "exec")


if not any(isinstance(f, _LazyAliases) for f in sys.meta_path):
    sys.meta_path.append(_LazyAliases())


def register(parent: str) -> None:
    """Alias ``parent``'s Lightning submodule paths to ``parent`` itself (or, for those in
    ``ELSEWHERE``, to the module named there)."""
    module = sys.modules[parent]
    for sub in SUBMODULES[parent]:
        sys.modules.setdefault(f"{parent}.{sub}", module)
    for sub, target in ELSEWHERE.get(parent, {}).items():
        sys.modules.setdefault(f"{parent}.{sub}", importlib.import_module(target))
    if not hasattr(module, "__path__") and any(p.startswith(f"{parent}.") for p in LAZY):
        # Python looks for a submodule only under a parent with a ``__path__`` (a package); an
        # empty one finds no files, so only the ``LAZY`` finder answers.
        module.__path__ = []
