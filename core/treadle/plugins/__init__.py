"""Lightning's ``lightning.pytorch.plugins`` under treadle's name.

treadle's ``Trainer(plugins=[...])`` takes pluggy plugins (docs/plugins.md). So that a program
moved from Lightning keeps its plugin objects, an instance of these classes given there stands
for what treadle does its own way (:func:`lightning_arguments`, called by the ``Trainer``
only when this package was imported):

* a ``CheckpointIO`` (``TorchCheckpointIO``, ``AsyncCheckpointIO``, a subclass) writes, reads
  and removes the run's checkpoint files (``treadle.plugins.io``);
* a precision plugin selects the precision it names, as ``precision=`` would
  (``treadle.plugins.precision``);
* a cluster environment selects treadle's environment of that kind
  (``treadle.plugins.environments``).

What treadle cannot run is refused with a ``ConfigurationError`` that says the treadle way.
Nothing here is imported by ``import treadle``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from treadle.errors import ConfigurationError
from treadle.plugins.environments import ClusterEnvironment, environment_name
from treadle.plugins.io import AsyncCheckpointIO, CheckpointIO, TorchCheckpointIO, as_plugin
from treadle.plugins.layer_sync import LayerSync, TorchSyncBatchNorm
from treadle.plugins.precision import (
    BitsandbytesPrecision,
    DeepSpeedPrecision,
    DoublePrecision,
    FSDPPrecision,
    HalfPrecision,
    MixedPrecision,
    Precision,
    TransformerEnginePrecision,
    precision_name,
)

__all__ = [
    "AsyncCheckpointIO",
    "BitsandbytesPrecision",
    "CheckpointIO",
    "ClusterEnvironment",
    "DeepSpeedPrecision",
    "DoublePrecision",
    "FSDPPrecision",
    "HalfPrecision",
    "LayerSync",
    "MixedPrecision",
    "Precision",
    "TorchCheckpointIO",
    "TorchSyncBatchNorm",
    "TransformerEnginePrecision",
]

_NO_ENVIRONMENT = "none"  # LightningEnvironment: no cluster environment


@dataclass
class LightningPlugins:
    """What the Lightning plugin objects of one ``Trainer(plugins=[...])`` stand for."""

    checkpoint_io: CheckpointIO | None = None
    # treadle's environment name, "none" for no cluster environment, "program" for a class of
    # the program's own (environment_object), None: detect as usual
    environment: str | None = None
    environment_object: ClusterEnvironment | None = None
    # what turns the model's layers into synchronized ones for a multi-process fit()
    layer_sync: LayerSync | None = None
    objects: list[Any] = field(default_factory=list)

    def connect(self, trainer: Any) -> None:
        """After selection: refuse a ``CheckpointIO`` beside a strategy that writes its own
        checkpoints; show the ``CheckpointIO`` as ``trainer.strategy.checkpoint_io``. A
        strategy object holding a ``CheckpointIO`` of this package as ``checkpoint_io``
        (Lightning's ``SingleDeviceStrategy(device, checkpoint_io=...)``) has it used when
        ``plugins=[...]`` holds none."""
        if self.checkpoint_io is None:
            held = getattr(trainer.strategy, "checkpoint_io", None)
            if not isinstance(held, CheckpointIO):
                return
            self.checkpoint_io = held
            trainer.plugin_manager.register(as_plugin(held))
        own = [
            name
            for name, plugin in trainer.plugin_manager.implementations("save_checkpoint")
            if plugin is trainer.strategy
        ]
        if own:
            raise ConfigurationError(
                [
                    f"Trainer: `plugins=[{type(self.checkpoint_io).__name__}(...)]` with "
                    f"`strategy={getattr(trainer.strategy, 'name', '?')!r}`: that strategy writes its checkpoints "
                    f"itself (a directory of shards), so a `CheckpointIO` would not be used. "
                    f"Leave the `CheckpointIO` out, or use a strategy that writes one file."
                ]
            )
        with contextlib.suppress(AttributeError):  # a strategy that fixes its own
            trainer.strategy.checkpoint_io = self.checkpoint_io


def lightning_arguments(kwargs: dict[str, Any]) -> tuple[dict[str, Any], LightningPlugins]:
    """``Trainer(**kwargs)`` with Lightning's plugin objects in ``plugins=`` taken out: a
    precision plugin becomes ``precision=``, a ``CheckpointIO`` becomes a treadle plugin; the
    environment to select is returned. Problems are raised together, as Lightning's wording
    where Lightning refuses the same."""
    given = kwargs.get("plugins")
    plugins = [] if given is None else list(given) if isinstance(given, (list, tuple)) else [given]
    found = LightningPlugins()
    problems: list[str] = []
    counts: Counter = Counter()
    kept: list[Any] = []
    precision: Precision | None = None
    for plugin in plugins:
        if isinstance(plugin, Precision):
            counts["Precision"] += 1
            precision = plugin
        elif isinstance(plugin, CheckpointIO):
            counts["CheckpointIO"] += 1
            found.checkpoint_io = plugin
            kept.append(as_plugin(plugin))
        elif isinstance(plugin, ClusterEnvironment):
            counts["ClusterEnvironment"] += 1
            try:
                found.environment = environment_name(plugin) or _NO_ENVIRONMENT
                found.environment_object = plugin
            except ConfigurationError as exc:
                problems += exc.problems
        elif isinstance(plugin, LayerSync):
            counts["TorchSyncBatchNorm"] += 1
            if kwargs.get("sync_batchnorm") and not isinstance(plugin, TorchSyncBatchNorm):
                problems.append(  # Lightning's wording
                    f"You set `Trainer(sync_batchnorm=True)` and provided a "
                    f"`{type(plugin).__name__}` plugin, but this is not allowed. Choose one or "
                    f"the other."
                )
            found.layer_sync = plugin
        else:
            kept.append(plugin)
            continue
        found.objects.append(plugin)
    duplicated = [k for k, v in counts.items() if v > 1]
    if duplicated:
        problems.append(  # Lightning's wording
            f"Received multiple values for {', '.join(duplicated)} flags in `plugins`."
            " Expected one value for each type at most."
        )
    if precision is not None:
        if kwargs.get("precision") is not None:
            problems.append(  # Lightning's wording
                f"Received both `precision={kwargs['precision']}` and `plugins={precision}`. "
                f"Choose one."
            )
        else:
            try:
                kwargs = {**kwargs, "precision": precision_name(precision)}
            except ConfigurationError as exc:
                problems += exc.problems
    if problems:
        raise ConfigurationError(problems)
    return {**kwargs, "plugins": kept}, found
