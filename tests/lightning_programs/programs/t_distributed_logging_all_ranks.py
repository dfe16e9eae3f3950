# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/logging_/test_distributed_logging.py
#   (test_all_rank_logging_ddp_cpu)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test as a __main__ program; tmp_path -> a tempfile dir. Split out of
#   t_distributed_logging.py: Lightning calls a logger's `log_metrics` on every rank (its own
#   loggers guard themselves with `rank_zero_only`), treadle's Trainer calls it on global rank
#   zero only (docs/loggers.md, "What the Trainer sends"; docs/migration.md 13), so rank 1's
#   `on_train_end` finds nothing logged.
import tempfile
from typing import Any, Dict, Optional, Union

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers.logger import Logger


class AllRankLogger(Logger):
    """Logger to test all-rank logging (i.e. not just rank 0).

    Logs are saved to local variable `logs`.

    """

    def __init__(self):
        super().__init__()
        self.logs = {}
        self.exp = object()

    def experiment(self) -> Any:
        return self.exp

    def log_metrics(self, metrics: Dict[str, float], step: Optional[int] = None):
        self.logs.update(metrics)

    def version(self) -> Union[int, str]:
        return 1

    def name(self) -> str:
        return "AllRank"

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


class TestModel(BoringModel):
    log_name = "rank-{rank}"

    def on_train_start(self):
        self.log(self.log_name.format(rank=self.local_rank), 0)

    def on_train_end(self):
        assert self.log_name.format(rank=self.local_rank) in self.logger.logs, "Expected rank to be logged"


def test_all_rank_logging_ddp_cpu(tmp_path):
    """Check that all ranks can be logged from."""
    model = TestModel()
    all_rank_logger = AllRankLogger()
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=1,
        enable_model_summary=False,
        logger=all_rank_logger,
        log_every_n_steps=1,
    )
    trainer.fit(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_all_rank_logging_ddp_cpu(d)
    print("OK")
