# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loggers/test_tensorboard.py
#   (test_tensorboard_automatic_versioning, test_tensorboard_named_version,
#    test_tensorboard_no_name, test_tensorboard_log_metrics, test_tensorboard_log_hyperparams,
#    test_tensorboard_log_graph, test_tensorboard_with_accummulated_gradients-style fit)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; logger._experiment = Mock() dropped (the real SummaryWriter is used).
import os
import tempfile
from pathlib import Path

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import TensorBoardLogger


def test_tensorboard_automatic_versioning(tmp_path):
    root_dir = tmp_path / "tb_versioning"
    root_dir.mkdir()
    (root_dir / "version_0").mkdir()
    (root_dir / "version_1").mkdir()
    (root_dir / "version_nonumber").mkdir()
    (root_dir / "other").mkdir()
    logger = TensorBoardLogger(save_dir=tmp_path, name="tb_versioning")
    assert logger.version == 2


def test_tensorboard_named_version(tmp_path):
    name = "tb_versioning"
    (tmp_path / name).mkdir()
    expected_version = "2020-02-05-162402"
    logger = TensorBoardLogger(save_dir=tmp_path, name=name, version=expected_version)
    logger.log_hyperparams({"a": 1, "b": 2, 123: 3, 3.5: 4, 5j: 5})
    assert logger.version == expected_version
    assert os.listdir(tmp_path / name) == [expected_version]
    assert os.listdir(tmp_path / name / expected_version)


def test_tensorboard_no_name(tmp_path, name):
    logger = TensorBoardLogger(save_dir=tmp_path, name=name)
    logger.log_hyperparams({"a": 1, "b": 2, 123: 3, 3.5: 4, 5j: 5})
    assert os.path.normpath(logger.root_dir) == str(tmp_path)
    assert os.listdir(tmp_path / "version_0")


def test_tensorboard_log_metrics(tmp_path, step_idx):
    logger = TensorBoardLogger(tmp_path)
    metrics = {"float": 0.3, "int": 1, "FloatTensor": torch.tensor(0.1), "IntTensor": torch.tensor(1)}
    logger.log_metrics(metrics, step_idx)


def test_tensorboard_log_hyperparams(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    hparams = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "dict": {"a": {"b": "c"}},
        "list": [1, 2, 3],
        "layer": torch.nn.BatchNorm1d,
        "tensor": torch.empty(2, 2, 2),
    }
    logger.log_hyperparams(hparams)


def test_tensorboard_log_graph(tmp_path):
    model = BoringModel()
    logger = TensorBoardLogger(tmp_path)
    logger.log_graph(model, torch.rand(10, 32))
    model.example_input_array = torch.rand(10, 32)
    logger.log_graph(model)


def test_tensorboard_fit(tmp_path):
    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("train_loss", out["loss"])
            self.logger.experiment.add_histogram("weights", self.layer.weight, self.global_step)
            return out

    logger = TensorBoardLogger(save_dir=tmp_path, name="tb")
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=4, limit_val_batches=2, logger=logger)
    trainer.fit(TestModel())
    assert trainer.logger is logger
    assert trainer.log_dir == logger.log_dir == os.path.join(str(tmp_path), "tb", "version_0")
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(logger.log_dir))


if __name__ == "__main__":
    for fn in (
        test_tensorboard_automatic_versioning,
        test_tensorboard_named_version,
        test_tensorboard_log_hyperparams,
        test_tensorboard_log_graph,
        test_tensorboard_fit,
    ):
        with tempfile.TemporaryDirectory() as d:
            fn(Path(d))
    for name in ("", None):
        with tempfile.TemporaryDirectory() as d:
            test_tensorboard_no_name(Path(d), name)
    for step_idx in (10, None):
        with tempfile.TemporaryDirectory() as d:
            test_tensorboard_log_metrics(Path(d), step_idx)
    print("OK")
