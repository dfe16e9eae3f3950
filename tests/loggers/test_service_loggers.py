"""Lightning's loggers for outside services (``WandbLogger``, ``MLFlowLogger``, ``CometLogger``,
``LitLogger``) under treadle's names.

A Lightning program imports them at the top and often builds one only when asked to. Without
the service's package, Lightning 2.6.6 imports the name and raises ``ModuleNotFoundError``
("Requirement 'wandb>=0.12.10' not met") when it is constructed; treadle ships none of them
(they are logger plugins), so the import works and the construction always raises, saying the
treadle way.
"""

from __future__ import annotations

import pytest

import treadle
import treadle.loggers


@pytest.mark.parametrize(
    ("name", "provided"),
    [
        ("WandbLogger", "wandb"),
        ("MLFlowLogger", "mlflow"),
        ("CometLogger", "comet"),
        ("LitLogger", "litlogger"),
    ],
)
def test_the_name_imports_and_constructing_it_names_the_plugin_way(name, provided):
    cls = getattr(treadle.loggers, name)
    assert cls is getattr(treadle.loggers, name)  # one class, so isinstance checks agree
    assert issubclass(cls, treadle.loggers.Logger)
    with pytest.raises(ModuleNotFoundError, match=rf"no built-in `{name}`") as info:
        cls(save_dir=".", project="p")
    assert f"Trainer(logger={provided!r})" in str(info.value)
    assert "CSVLogger" in str(info.value)


def test_lightning_submodule_paths_and_a_program_that_only_builds_csv(tmp_path):
    from treadle.loggers.comet import CometLogger
    from treadle.loggers.mlflow import MLFlowLogger
    from treadle.loggers.wandb import WandbLogger

    assert WandbLogger is treadle.loggers.WandbLogger
    assert MLFlowLogger is treadle.loggers.MLFlowLogger
    assert CometLogger is treadle.loggers.CometLogger

    use_wandb = False  # as a program's `--wandb` flag, off
    logger = WandbLogger(project="x") if use_wandb else treadle.loggers.CSVLogger(tmp_path)
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        logger=logger,
        max_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    from treadle.demos import BoringModel

    trainer.fit(BoringModel())
    assert not isinstance(trainer.logger, WandbLogger)
    assert trainer.logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")
