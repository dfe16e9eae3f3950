"""``ModelCheckpoint``: save checkpoints at epoch ends, the best ``save_top_k`` by a metric."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from treadle import Callback, hookimpl


class ModelCheckpoint(Callback):
    """As Lightning's: ``monitor=None`` keeps the latest; with a metric, the best ``save_top_k``.

    Files are written atomically by ``trainer.save_checkpoint`` (directories under a strategy
    that writes its own format, DeepSpeed).
    """

    def __init__(self, dirpath: Any = None, filename: str = "epoch={epoch}-step={step}",
                 monitor: Optional[str] = None, mode: str = "min", save_top_k: int = 1,
                 save_last: bool = False, every_n_epochs: int = 1) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ModelCheckpoint(mode={mode!r}): use 'min' or 'max'.")
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.filename, self.monitor, self.mode = filename, monitor, mode
        self.save_top_k, self.save_last, self.every_n_epochs = save_top_k, save_last, every_n_epochs
        self.best_k_models: Dict[str, float] = {}
        self.best_model_path = ""
        self.best_model_score: Optional[float] = None
        self.last_model_path = ""

    def setup(self, trainer, pl_module, stage) -> None:
        if self.dirpath is None:
            self.dirpath = trainer.default_root_dir / "checkpoints"

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.save_top_k == 0 and not self.save_last:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        name = self.filename.format(epoch=trainer.current_epoch, step=trainer.global_step)
        path = str(self.dirpath / f"{name}.ckpt")
        score = None
        if self.monitor is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint(monitor={self.monitor!r}) found no such metric; "
                               f"logged: {sorted(trainer.callback_metrics)}")
            # Every rank follows rank zero's score: the save below is collective (a barrier, or
            # DeepSpeed's sharded save), so ranks that disagree about saving would hang.
            score = trainer.broadcast(float(value), src=0)
        if self.save_top_k != 0 and self._keeps(score):
            trainer.save_checkpoint(path)
            self.best_k_models[path] = score if score is not None else float(trainer.global_step)
            self._drop_worst(trainer)
        if self.save_last:
            self.last_model_path = str(self.dirpath / "last.ckpt")
            trainer.save_checkpoint(self.last_model_path)

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def _keeps(self, score: Optional[float]) -> bool:
        if score is None or self.save_top_k < 0 or len(self.best_k_models) < self.save_top_k:
            return True
        worst = max(self.best_k_models.values()) if self.mode == "min" else \
            min(self.best_k_models.values())
        return self._better(score, worst)

    def _drop_worst(self, trainer) -> None:
        if self.monitor is None:  # keep the latest save_top_k by step
            ranked = sorted(self.best_k_models, key=self.best_k_models.get, reverse=True)
        else:
            ranked = sorted(self.best_k_models, key=self.best_k_models.get,
                            reverse=self.mode == "max")
        keep = ranked if self.save_top_k < 0 else ranked[:self.save_top_k]
        for path in set(self.best_k_models) - set(keep):
            del self.best_k_models[path]
            if trainer.is_global_zero and os.path.isdir(path):
                shutil.rmtree(path)  # a strategy's checkpoint directory (DeepSpeed)
            elif trainer.is_global_zero and os.path.exists(path):
                os.remove(path)
        self.best_model_path = keep[0] if keep else ""
        best = self.best_k_models.get(self.best_model_path)
        self.best_model_score = best if self.monitor is not None else None

    def state_dict(self) -> Dict[str, Any]:
        return {"best_model_path": self.best_model_path, "best_model_score": self.best_model_score,
                "best_k_models": dict(self.best_k_models), "last_model_path": self.last_model_path}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.best_model_path = state_dict.get("best_model_path", "")
        self.best_model_score = state_dict.get("best_model_score")
        self.best_k_models = dict(state_dict.get("best_k_models", {}))
        self.last_model_path = state_dict.get("last_model_path", "")


@hookimpl
def configure_callbacks(trainer):
    if trainer.config.enable_checkpointing and not any(isinstance(c, ModelCheckpoint)
                                                       for c in trainer.callbacks):
        return [ModelCheckpoint()]
    return None
