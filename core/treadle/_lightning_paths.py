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
"""

from __future__ import annotations

import importlib
import sys

# parent module -> the Lightning submodule names whose public names it holds
SUBMODULES: dict[str, tuple[str, ...]] = {
    "treadle": ("core", "core.module", "core.datamodule", "core.hooks"),
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
        "progress.tqdm_progress",
        "pruning",
        "rich_model_summary",
        "spike",
        "stochastic_weight_avg",
        "throughput_monitor",
        "timer",
        "weight_averaging",
    ),
    "treadle.loggers": ("csv_logs", "logger", "tensorboard"),
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
    "treadle.tuner": ("batch_size_scaling", "lr_finder", "tuning"),
    "treadle.utilities": (
        "combined_loader",
        "compile",
        "data",
        "enums",
        "exceptions",
        "grads",
        "model_helpers",
        "parameter_tying",
        "parsing",
        "rank_zero",
        "seed",
        "types",
        "warnings",
    ),
}


# Lightning submodule paths whose names live in a treadle module of their own (not the parent)
ELSEWHERE: dict[str, dict[str, str]] = {
    "treadle": {"core.optimizer": "treadle.optim"},  # ``LightningOptimizer``
    "treadle.utilities": {
        "model_summary": "treadle._model_summary",
        "model_summary.model_summary": "treadle._model_summary",
    },
}


def register(parent: str) -> None:
    """Alias ``parent``'s Lightning submodule paths to ``parent`` itself (or, for those in
    ``ELSEWHERE``, to the module named there)."""
    module = sys.modules[parent]
    for sub in SUBMODULES[parent]:
        sys.modules.setdefault(f"{parent}.{sub}", module)
    for sub, target in ELSEWHERE.get(parent, {}).items():
        sys.modules.setdefault(f"{parent}.{sub}", importlib.import_module(target))
