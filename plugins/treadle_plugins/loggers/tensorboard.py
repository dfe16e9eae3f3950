"""``TensorBoardLogger`` (extra ``[tensorboard]``): event files under ``save_dir/name/version_N``.

``experiment`` is a ``torch.utils.tensorboard.SummaryWriter`` (``tensorboardX``'s when only that
is installed), created on first use; tensorboard is imported then, never by ``import treadle``.
``log_hyperparams`` writes TensorBoard's HPARAMS view (with the placeholder metric
``hp_metric`` unless ``default_hp_metric=False``) and ``hparams.yaml`` beside the events;
``log_graph`` traces ``model.example_input_array`` when ``log_graph=True``.
"""

from __future__ import annotations

import os
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from treadle import Provider, hookimpl, module_available
from treadle.loggers import (
    FileLogger,
    params_dict,
    rank_zero_experiment,
    rank_zero_only,
    save_hparams_to_yaml,
)
from treadle.utilities import local_folder

DEFAULT_NAME = "lightning_logs"
INSTALL_HINT = "pip install 'treadle[tensorboard]'"


def available() -> bool:
    return module_available("tensorboard") or module_available("tensorboardX")


class TensorBoardLogger(FileLogger):
    """Lightning's ``TensorBoardLogger``.

    :param save_dir: the folder that holds the experiments.
    :param name: the experiment's folder under ``save_dir`` (``None`` or ``""``: none).
    :param version: an int (folder ``version_N``) or a string (the folder's name); by default
        one more than the highest ``version_N`` already there.
    :param log_graph: draw the model's graph from ``example_input_array`` when the run starts.
    :param default_hp_metric: log ``hp_metric = -1`` with the hyper-parameters, so that
        TensorBoard's HPARAMS view lists the run (log ``hp_metric`` yourself to fill it).
    :param prefix: put before every metric name, joined with ``-``.
    :param sub_dir: a folder under ``version_N`` for the event files.
    :param kwargs: passed to ``SummaryWriter`` (``max_queue``, ``flush_secs``, ...).
    """

    NAME_HPARAMS_FILE = "hparams.yaml"
    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike,
        name: str | None = DEFAULT_NAME,
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        if not available():
            raise ModuleNotFoundError(
                f"`TensorBoardLogger` needs the `tensorboard` package, which "
                f"is not installed. Install it with: {INSTALL_HINT}"
            )
        self._save_dir = os.fspath(local_folder(save_dir, f"{type(self).__name__}(save_dir=...)"))
        self._name = name or ""
        self._version = version
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._kwargs = kwargs
        self._experiment: Any = None
        self.hparams: dict[str, Any] = {}

    @property
    def sub_dir(self) -> str | None:
        return self._sub_dir

    @property
    def log_dir(self) -> str:
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        log_dir = os.path.join(self.root_dir, version)
        if self._sub_dir is not None:
            log_dir = os.path.join(log_dir, self._sub_dir)
        return os.path.expanduser(os.path.expandvars(log_dir))

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``SummaryWriter`` (created, and tensorboard imported, on first use)."""
        if self._experiment is None:
            if module_available("tensorboard"):
                from torch.utils.tensorboard import SummaryWriter
            else:
                from tensorboardX import SummaryWriter
            os.makedirs(self.root_dir or ".", exist_ok=True)
            self._experiment = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        for name, given in metrics.items():
            key = f"{self._prefix}{self.LOGGER_JOIN_CHAR}{name}" if self._prefix else name
            value = given.item() if hasattr(given, "item") else given
            if isinstance(value, dict):
                self.experiment.add_scalars(key, value, step)
                continue
            try:
                self.experiment.add_scalar(key, value, step)
            except Exception as exc:
                raise ValueError(
                    f"TensorBoardLogger: metric `{key}` = {value!r} is not a number; "
                    f"log a number, a one-element tensor, or a dict of them."
                ) from exc
        self._written()

    def _written(self) -> None:
        """Wait until the writer's thread has written what was logged. It opens the event file
        by name for every record, so a record written after the program removed the folder
        (a temporary directory, right after logging) would make it again, half-way through
        the removal; once per ``log_metrics``/``log_hyperparams`` call (every
        ``log_every_n_steps`` steps in a run), not per value."""
        if self._experiment is not None:
            self._experiment.flush()

    @rank_zero_only
    def log_hyperparams(
        self,
        params: dict[str, Any] | Namespace | None = None,
        metrics: Any | None = None,
        step: int | None = None,
    ) -> None:
        """Record ``params`` (and ``hparams.yaml``); ``metrics`` fill the HPARAMS view, logged at
        ``step`` (as Lightning: None unless given)."""
        params = params_dict(params)
        self.hparams.update(params)
        if metrics is None:
            metrics = {"hp_metric": -1} if self._default_hp_metric else None
        elif not isinstance(metrics, dict):
            metrics = {"hp_metric": metrics}
        if not metrics:
            return
        self.log_metrics(metrics, step)
        if module_available("tensorboard"):
            from torch.utils.tensorboard.summary import hparams
        else:
            from tensorboardX.summary import hparams
        metrics = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        writer = self.experiment._get_file_writer()
        for summary in hparams(_tensorboard_params(params), metrics):
            writer.add_summary(summary, step)
        self._written()

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        if not self._log_graph:
            return
        import torch

        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            warnings.warn(
                "Could not log computational graph to TensorBoard: The "
                "`model.example_input_array` attribute is not set or `input_array` was "
                "not given.",
                UserWarning,
                stacklevel=2,
            )
            return
        if not isinstance(input_array, (torch.Tensor, tuple)):
            warnings.warn(
                f"Could not log computational graph to TensorBoard: The `input_array` or "
                f"`model.example_input_array` has type {type(input_array)} which can't "
                f"be traced by TensorBoard. Make the input array a tuple representing "
                f"the positional arguments to the model's `forward()` implementation.",
                UserWarning,
                stacklevel=2,
            )
            return
        from treadle import Module
        from treadle.utilities import move_data_to_device

        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        scripting, Module._jit_is_scripting = Module._jit_is_scripting, True
        try:  # tracing reads every attribute; an unattached module's `trainer` must not raise
            self.experiment.add_graph(model, move_data_to_device(input_array, device))
        finally:
            Module._jit_is_scripting = scripting
        self._written()

    @rank_zero_only
    def save(self) -> None:
        # As Lightning's: the writer is made here if nothing made it yet (the run's first
        # save, when its stage starts), so log_dir and hparams.yaml exist for every run.
        self.experiment.flush()
        hparams_file = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if os.path.isdir(self.log_dir) and not os.path.isfile(hparams_file):
            save_hparams_to_yaml(hparams_file, self.hparams)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
        if status == "success":
            self.save()

    def __getstate__(self) -> dict[str, Any]:  # a SummaryWriter holds a thread: not copied
        state = self.__dict__.copy()
        state["_experiment"] = None
        return state


def _tensorboard_params(params: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts flattened to ``a/b`` keys; values TensorBoard's HPARAMS view cannot show
    (lists, classes, tensors of more than one element) as their ``str``."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Namespace):
            value = vars(value)
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
            return
        if hasattr(value, "numel") and value.numel() == 1:
            value = value.item()
        flat[prefix] = value if isinstance(value, (bool, int, float, str)) else str(value)

    walk("", params)
    return flat


def _make(trainer) -> TensorBoardLogger:
    return TensorBoardLogger(save_dir=trainer.default_root_dir)


@hookimpl
def provide_loggers():
    return [
        Provider(
            "logger",
            "tensorboard",
            _make,
            available=available,
            install_hint=INSTALL_HINT,
            priority=1,
            description="TensorBoard event files under lightning_logs/version_N.",
        )
    ]
