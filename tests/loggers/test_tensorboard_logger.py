"""``treadle.loggers.TensorBoardLogger`` (extra ``[tensorboard]``, installed by ``[dev]``).

Tests marked "ported" follow Lightning's ``tests/tests_pytorch/loggers/test_tensorboard.py``
(Copyright The Lightning AI team, Apache-2.0), translated to treadle's names; where Lightning
mocks the ``SummaryWriter``, these read the event files back with tensorboard's own reader.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from argparse import Namespace

import pytest
import torch
import yaml
from boring import BoringModel, loader, trainer

import treadle
from treadle.loggers import TensorBoardLogger

pytest.importorskip(
    "tensorboard", reason="the [tensorboard] extra (part of [dev]) is not installed"
)

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(log_dir):
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def tensorboard_module():
    import treadle_plugins.loggers.tensorboard as module

    return module


# -- ported from Lightning ------------------------------------------------------------------------


def test_tensorboard_hparams_reload(tmp_path):  # ported
    class CustomModel(BoringModel):
        def __init__(self, b1=0.5, b2=0.999):
            super().__init__()
            self.save_hyperparameters()

    logger = TensorBoardLogger(tmp_path)
    t = trainer(tmp_path, max_steps=1, logger=logger)
    assert t.log_dir == t.logger.log_dir
    t.fit(CustomModel(), loader())
    assert t.log_dir == t.logger.log_dir
    with open(os.path.join(t.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == {"b1": 0.5, "b2": 0.999}


def test_tensorboard_automatic_versioning(tmp_path):  # ported
    (tmp_path / "tb_versioning" / "version_0").mkdir(parents=True)
    (tmp_path / "tb_versioning" / "version_1").mkdir()
    assert TensorBoardLogger(save_dir=tmp_path, name="tb_versioning").version == 2


def test_tensorboard_manual_versioning(tmp_path):  # ported
    for v in range(3):
        (tmp_path / "tb_versioning" / f"version_{v}").mkdir(parents=True)
    assert TensorBoardLogger(save_dir=tmp_path, name="tb_versioning", version=1).version == 1


def test_tensorboard_named_version(tmp_path):  # ported
    (tmp_path / "tb_versioning").mkdir()
    logger = TensorBoardLogger(save_dir=tmp_path, name="tb_versioning", version="2020-02-05-162402")
    logger.log_hyperparams({"a": 1, "b": 2, 123: 3, 3.5: 4, 5j: 5})  # forces data to be written
    assert logger.version == "2020-02-05-162402"
    assert os.listdir(tmp_path / "tb_versioning") == ["2020-02-05-162402"]
    assert os.listdir(tmp_path / "tb_versioning" / "2020-02-05-162402")


@pytest.mark.parametrize("name", ["", None])
def test_tensorboard_no_name(tmp_path, name):  # ported
    logger = TensorBoardLogger(save_dir=tmp_path, name=name)
    logger.log_hyperparams({"a": 1, "b": 2, 123: 3, 3.5: 4, 5j: 5})
    assert os.path.normpath(logger.root_dir) == str(tmp_path)
    assert os.listdir(tmp_path / "version_0")


def test_tensorboard_log_sub_dir(tmp_path, monkeypatch):  # ported
    class TestLogger(TensorBoardLogger):
        @property
        def version(self):
            return "version"

        @property
        def name(self):
            return "name"

    save_dir = tmp_path / "logs"
    t = trainer(tmp_path, max_steps=1, logger=TestLogger(save_dir, name="name"))
    assert t.logger.log_dir == os.path.join(save_dir, "name", "version")
    t = trainer(tmp_path, max_steps=1, logger=TestLogger(save_dir, name="name", sub_dir="sub_dir"))
    assert t.logger.log_dir == os.path.join(save_dir, "name", "version", "sub_dir")
    logger = TestLogger("~/tmp", name="name", sub_dir="sub_dir")  # `~` is expanded
    assert logger.log_dir == os.path.join(os.path.expanduser("~/tmp"), "name", "version", "sub_dir")
    monkeypatch.setenv("test_env_dir", "some_directory")  # so are environment variables
    logger = TestLogger("$test_env_dir/tmp", name="name", sub_dir="sub_dir")
    assert logger.log_dir == os.path.join("some_directory/tmp", "name", "version", "sub_dir")


@pytest.mark.parametrize("step_idx", [10, None])
def test_tensorboard_log_metrics(tmp_path, step_idx):  # ported
    logger = TensorBoardLogger(tmp_path)
    metrics = {
        "float": 0.3,
        "int": 1,
        "FloatTensor": torch.tensor(0.1),
        "IntTensor": torch.tensor(1),
    }
    logger.log_metrics(metrics, step_idx)
    logger.finalize("success")
    found = scalars(logger.log_dir)
    assert set(found) == set(metrics)
    step, value = found["FloatTensor"][0]
    assert value == pytest.approx(0.1) and step == (step_idx or 0)


def test_tensorboard_log_hyperparams(tmp_path):  # ported
    logger = TensorBoardLogger(tmp_path)
    hparams = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "dict": {"a": {"b": "c"}},
        "list": [1, 2, 3],
        "namespace": Namespace(foo=Namespace(bar="buzz")),
        "layer": torch.nn.BatchNorm1d,
        "tensor": torch.zeros(2, 2, 2),
    }
    logger.log_hyperparams(hparams)
    logger.finalize("success")
    assert scalars(logger.log_dir)["hp_metric"] == [(0, -1.0)]  # default_hp_metric
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        saved = yaml.safe_load(f)
    assert saved["dict"] == {"a": {"b": "c"}} and saved["namespace"] == {"foo": {"bar": "buzz"}}
    assert saved["tensor"] == torch.zeros(2, 2, 2).tolist()
    assert saved["layer"] == str(torch.nn.BatchNorm1d)  # no Python tags: safe_load reads it


def test_tensorboard_log_hparams_and_metrics(tmp_path):  # ported
    logger = TensorBoardLogger(tmp_path, default_hp_metric=False)
    hparams = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "dict": {"a": {"b": "c"}},
        "list": [1, 2, 3],
        "namespace": Namespace(foo=Namespace(bar="buzz")),
        "layer": torch.nn.BatchNorm1d,
        "tensor": torch.empty(2, 2, 2),
    }
    logger.log_hyperparams(hparams, {"abc": torch.tensor([0.54])})
    logger.finalize("success")
    found = scalars(logger.log_dir)
    assert "hp_metric" not in found and found["abc"][0][1] == pytest.approx(0.54)


@pytest.mark.parametrize("example_input_array", [None, torch.rand(2, 32)])
def test_tensorboard_log_graph(tmp_path, example_input_array):  # ported
    model = BoringModel()
    model.example_input_array = torch.rand(2, 32) if example_input_array is None else None
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    logger.log_graph(model, example_input_array)
    logger.finalize("success")
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert events.Tags()["graph"]


def test_tensorboard_log_graph_warning_no_example_input_array(tmp_path):  # ported
    model = BoringModel()
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    with pytest.warns(
        UserWarning,
        match="Could not log computational graph to TensorBoard: The "
        "`model.example_input_array` .* was not given",
    ):
        logger.log_graph(model)
    model.example_input_array = dict(x=1, y=2)
    with pytest.warns(
        UserWarning,
        match="Could not log computational graph to TensorBoard: .* can't be traced by TensorBoard",
    ):
        logger.log_graph(model)


def test_tensorboard_finalize(tmp_path):  # ported (a real writer instead of a mocked one)
    logger = TensorBoardLogger(save_dir=tmp_path)
    logger.finalize("any")
    assert logger._experiment is None and not (tmp_path / "lightning_logs").exists()
    logger = TensorBoardLogger(save_dir=tmp_path, flush_secs=3600, max_queue=1000)
    logger.log_metrics({"flush_me": 11.1})
    logger.finalize("any")
    assert scalars(logger.log_dir)["flush_me"][0][1] == pytest.approx(11.1)  # flushed
    assert logger.experiment.all_writers is None  # closed


def test_tensorboard_save_hparams_to_yaml_once(tmp_path):  # ported
    logger = TensorBoardLogger(save_dir=tmp_path, default_hp_metric=False)
    t = trainer(tmp_path, max_steps=1, logger=logger)
    assert str(t.log_dir) == t.logger.log_dir  # Lightning's trainer.log_dir is a str: see below
    t.fit(BoringModel(), loader())
    assert os.path.isfile(os.path.join(t.log_dir, "hparams.yaml"))
    assert not os.path.isfile(os.path.join(tmp_path, "hparams.yaml"))


# -- treadle's own ------------------------------------------------------------------------------


def test_trainer_log_dir_is_the_first_loggers_log_dir_as_a_str(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    assert trainer(tmp_path, logger=logger).log_dir == logger.log_dir


class _OwnLogger(treadle.loggers.Logger):
    def __init__(self, save_dir=None):
        super().__init__()
        self._save_dir = save_dir

    name = "own"
    version = 0

    @property
    def save_dir(self):
        return self._save_dir

    @property
    def log_dir(self):
        return "not/used/by/the/trainer"

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        pass


def test_trainer_log_dir_of_another_logger_is_its_save_dir(tmp_path):
    """Lightning's Trainer.log_dir: a logger other than CSVLogger/TensorBoardLogger gives its
    ``save_dir`` (None by default), not its ``log_dir`` (logging_advanced docs page)."""
    assert trainer(tmp_path, logger=_OwnLogger()).log_dir is None
    assert trainer(tmp_path, logger=_OwnLogger(tmp_path / "s")).log_dir == str(tmp_path / "s")
    assert trainer(tmp_path, logger=False).log_dir == str(tmp_path)


def test_log_graph_of_a_model_attached_to_a_trainer(tmp_path):
    """``log_graph=True`` draws ``example_input_array``'s graph (moved to the model's device)."""
    model = BoringModel()
    model.example_input_array = torch.rand(2, 32)
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    trainer(tmp_path, logger=logger).fit(model, loader(n_batches=1))
    logger.log_graph(model)
    logger.finalize("success")
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert events.Tags()["graph"]
    without = TensorBoardLogger(tmp_path, name="off")  # log_graph=False: nothing drawn
    without.log_graph(model)
    assert without._experiment is None


def test_experiment_is_a_summary_writer_and_fit_writes_scalars(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    logger = TensorBoardLogger(tmp_path)
    assert isinstance(logger.experiment, SummaryWriter)
    trainer(tmp_path, max_epochs=2, logger=logger).fit(BoringModel(), loader(n_batches=2))
    found = scalars(logger.log_dir)
    # as Lightning: at the index of the latest optimizer step (global_step - 1)
    assert [s for s, _ in found["train_loss_step"]] == [0, 1, 2, 3]
    assert [s for s, _ in found["train_loss_epoch"]] == [1, 3]
    assert [v for _, v in found["epoch"]] == [0, 0, 0, 1, 1, 1]
    assert logger.log_dir == os.path.join(tmp_path, "lightning_logs", "version_0")


def test_tensorboard_and_csv_at_once(tmp_path):
    from treadle.loggers import CSVLogger

    tb, csv_logger = TensorBoardLogger(tmp_path, name="tb"), CSVLogger(tmp_path, name="csv")
    t = trainer(tmp_path, logger=[tb, csv_logger])
    t.fit(BoringModel(), loader(n_batches=2))
    assert t.loggers == [tb, csv_logger]
    assert [s for s, _ in scalars(tb.log_dir)["train_loss_step"]] == [0, 1]
    assert os.path.isfile(os.path.join(csv_logger.log_dir, "metrics.csv"))


def test_import_treadle_does_not_import_tensorboard():
    code = (
        "import sys, treadle, treadle.loggers\n"
        "from treadle.loggers import TensorBoardLogger\n"
        "import treadle_plugins.loggers.tensorboard\n"
        "assert 'tensorboard' not in sys.modules and 'torch.utils.tensorboard' not in sys.modules\n"
        "logger = TensorBoardLogger(sys.argv[1])\n"
        "assert 'tensorboard' not in sys.modules\n"
        "logger.experiment\n"
        "assert 'torch.utils.tensorboard' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, os.devnull + "-unused"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_missing_tensorboard_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed: not importable
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(
        ModuleNotFoundError,
        match=re.escape(
            "`TensorBoardLogger` needs the `tensorboard` package, which is not installed. "
            "Install it with: pip install 'treadle[tensorboard]'"
        ),
    ):
        TensorBoardLogger(tmp_path)
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "tensorboard_logger")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`logger='tensorboard'` is installed but not available on this machine. Install it "
            "with: pip install 'treadle[tensorboard]'"
        ),
    ):
        trainer(tmp_path, logger="tensorboard", plugins=[tensorboard_module()])


def test_selected_by_name_when_registered(tmp_path, monkeypatch):
    """``Trainer(logger="tensorboard")`` (the entry point is blocked here so that registering the
    plugin module explicitly works whether or not the installed metadata declares it)."""
    monkeypatch.setenv("TREADLE_BLOCK_PLUGINS", "tensorboard_logger")
    t = trainer(tmp_path, logger="tensorboard", plugins=[tensorboard_module()])
    assert isinstance(t.logger, TensorBoardLogger)
    assert t.logger.log_dir == os.path.join(tmp_path, "lightning_logs", "version_0")


def test_selected_by_name_through_the_entry_point(tmp_path):
    assert isinstance(trainer(tmp_path, logger="tensorboard").logger, TensorBoardLogger)


def test_log_hyperparams_logs_hp_metric_at_the_step_given(tmp_path):
    # as Lightning 2.6.6: `log_hyperparams(params, metrics=None, step=None)` logs the metrics at
    # `step` (None: TensorBoard's default), not at a fixed 0
    calls = []

    class Recording(TensorBoardLogger):
        def log_metrics(self, metrics, step=None):
            calls.append((dict(metrics), step))

    logger = Recording(str(tmp_path))
    logger.log_hyperparams({"lr": 0.1})
    logger.log_hyperparams({"lr": 0.1}, {"hp_metric": 0.5}, step=3)
    assert calls == [({"hp_metric": -1}, None), ({"hp_metric": 0.5}, 3)]
