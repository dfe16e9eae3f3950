# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/profilers/test_profiler.py
#   (test_simple_profiler_value_errors, test_simple_profiler_dirpath,
#    test_simple_profiler_with_nonexisting_dirpath, test_advanced_profiler_describe,
#    test_pytorch_profiler_trainer, test_trainer_profiler_correct_args)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmp_path ->
#   a tempfile dir (a pathlib.Path); pytest.raises -> try/except; the parametrizations unrolled;
#   the Kineto-only trace checks dropped (test_setup_train_dataloader_profiled_actions is newer
#   than Lightning 2.6.6, which fails it: left out).
import tempfile
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.profilers import AdvancedProfiler, PassThroughProfiler, PyTorchProfiler, SimpleProfiler


def test_simple_profiler_value_errors():
    simple_profiler = SimpleProfiler()
    action = "test"
    try:
        simple_profiler.stop(action)
        raise AssertionError("no error")
    except ValueError as err:
        assert str(err).startswith("Attempting to stop recording an action")
    simple_profiler.start(action)
    try:
        simple_profiler.start(action)
        raise AssertionError("no error")
    except ValueError as err:
        assert str(err).startswith("Attempted to start test")
    simple_profiler.stop(action)


def test_simple_profiler_dirpath(tmp_path):
    profiler = SimpleProfiler(filename="profiler")
    assert profiler.dirpath is None
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, profiler=profiler, logger=False)
    trainer.fit(model)
    assert trainer.log_dir == str(tmp_path)
    assert profiler.dirpath == str(trainer.log_dir)
    assert (tmp_path / "fit-profiler.txt").exists()


def test_simple_profiler_with_nonexisting_dirpath(tmp_path):
    nonexisting_tmp_path = tmp_path / "nonexisting"
    profiler = SimpleProfiler(dirpath=nonexisting_tmp_path, filename="profiler")
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1, profiler=profiler
    )
    trainer.fit(model)
    assert nonexisting_tmp_path.exists()
    assert (nonexisting_tmp_path / "fit-profiler.txt").exists()


def test_advanced_profiler_describe(tmp_path):
    advanced_profiler = AdvancedProfiler(dirpath=tmp_path, filename="profiler")
    with advanced_profiler.profile("test"):
        pass
    advanced_profiler.describe()
    path = advanced_profiler.dirpath / f"{advanced_profiler.filename}.txt"
    data = path.read_text("utf-8")
    assert len(data) > 0


def test_pytorch_profiler_trainer(fn, step_name, tmp_path):
    pytorch_profiler = PyTorchProfiler(dirpath=tmp_path, filename="profile", schedule=None)
    model = BoringModel()
    model.predict_dataloader = model.train_dataloader
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_test_batches=2, profiler=pytorch_profiler)
    getattr(trainer, fn)(model)
    assert sum(e.name.endswith(f"{step_name}_step") for e in pytorch_profiler.function_events)
    path = pytorch_profiler.dirpath / f"{fn}-{pytorch_profiler.filename}.txt"
    assert path.read_text("utf-8")


def test_trainer_profiler_correct_args(profiler, expected):
    kwargs = {"profiler": profiler} if profiler is not None else {}
    trainer = Trainer(**kwargs)
    assert isinstance(trainer.profiler, expected)


if __name__ == "__main__":
    test_simple_profiler_value_errors()
    for test in (
        test_simple_profiler_dirpath,
        test_simple_profiler_with_nonexisting_dirpath,
        test_advanced_profiler_describe,
    ):
        with tempfile.TemporaryDirectory() as d:
            test(Path(d))
    for fn, step_name in (("test", "test"), ("validate", "validation"), ("predict", "predict")):
        with tempfile.TemporaryDirectory() as d:
            test_pytorch_profiler_trainer(fn, step_name, Path(d))
    for profiler, expected in (
        (None, PassThroughProfiler),
        (SimpleProfiler(), SimpleProfiler),
        (AdvancedProfiler(), AdvancedProfiler),
        ("simple", SimpleProfiler),
        ("Simple", SimpleProfiler),
        ("advanced", AdvancedProfiler),
        ("pytorch", PyTorchProfiler),
    ):
        test_trainer_profiler_correct_args(profiler, expected)
    print("OK")
