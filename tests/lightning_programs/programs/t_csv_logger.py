# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loggers/test_csv.py
#   (test_file_logger_automatic_versioning, test_file_logger_manual_versioning,
#    test_file_logger_named_version, test_file_logger_log_metrics, test_file_logger_log_hyperparams,
#    test_fit_csv_logger)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a tempfile
#   dir; ExperimentWriter.NAME_METRICS_FILE / NAME_HPARAMS_FILE -> their values ("metrics.csv",
#   "hparams.yaml"); load_hparams_from_yaml -> yaml.safe_load; the hparams item holding a class
#   dropped; ClassifDataModule/ClassificationModel (test helpers) -> BoringModel logging its
#   training loss.
import os
import tempfile
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger


def test_file_logger_automatic_versioning(tmp_path):
    root_dir = tmp_path / "exp"
    (root_dir / "version_0").mkdir(parents=True)
    (root_dir / "version_1").mkdir()
    logger = CSVLogger(save_dir=tmp_path, name="exp")
    assert logger.version == 2


def test_file_logger_manual_versioning(tmp_path):
    root_dir = tmp_path / "exp"
    root_dir.mkdir()
    (root_dir / "version_0").mkdir()
    (root_dir / "version_1").mkdir()
    (root_dir / "version_2").mkdir()
    logger = CSVLogger(save_dir=tmp_path, name="exp", version=1)
    assert logger.version == 1


def test_file_logger_named_version(tmp_path):
    exp_name = "exp"
    (tmp_path / exp_name).mkdir()
    expected_version = "2020-02-05-162402"
    logger = CSVLogger(save_dir=tmp_path, name=exp_name, version=expected_version)
    logger.log_hyperparams({"a": 1, "b": 2})
    logger.save()
    assert logger.version == expected_version
    assert os.listdir(tmp_path / exp_name) == [expected_version]
    assert os.listdir(tmp_path / exp_name / expected_version)


def test_file_logger_log_metrics(tmp_path, step_idx):
    logger = CSVLogger(tmp_path)
    metrics = {"float": 0.3, "int": 1, "FloatTensor": torch.tensor(0.1), "IntTensor": torch.tensor(1)}
    logger.log_metrics(metrics, step_idx)
    logger.save()
    path_csv = os.path.join(logger.log_dir, "metrics.csv")
    with open(path_csv) as fp:
        lines = fp.readlines()
    assert len(lines) == 2
    assert all(n in lines[0] for n in metrics)


def test_file_logger_log_hyperparams(tmp_path):
    logger = CSVLogger(tmp_path)
    hparams = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "dict": {"a": {"b": "c"}},
        "list": [1, 2, 3],
    }
    logger.log_hyperparams(hparams)
    logger.save()
    path_yaml = os.path.join(logger.log_dir, "hparams.yaml")
    with open(path_yaml) as fp:
        params = yaml.safe_load(fp)
    assert all(n in params for n in hparams)


def test_fit_csv_logger(tmp_path):
    class LoggingModel(BoringModel):
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("train_loss", out["loss"])
            return out

    model = LoggingModel()
    logger = CSVLogger(save_dir=tmp_path)
    trainer = Trainer(default_root_dir=tmp_path, max_steps=10, logger=logger, log_every_n_steps=1)
    trainer.fit(model)
    metrics_file = os.path.join(logger.log_dir, "metrics.csv")
    assert os.path.isfile(metrics_file)
    assert logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")


if __name__ == "__main__":
    for fn in (
        test_file_logger_automatic_versioning,
        test_file_logger_manual_versioning,
        test_file_logger_named_version,
        test_file_logger_log_hyperparams,
        test_fit_csv_logger,
    ):
        with tempfile.TemporaryDirectory() as d:
            fn(Path(d))
    for step_idx in (10, None):
        with tempfile.TemporaryDirectory() as d:
            test_file_logger_log_metrics(Path(d), step_idx)
    print("OK")
